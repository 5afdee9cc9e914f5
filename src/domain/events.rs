//! The kinds of ledger event: what happened to a patient's profile, as stored and as the
//! patient reads it.

/// What happened. The stored name is hashed into the chain: never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    BeneficiaryEnrolled,
    OppositionRecorded,
    OppositionWithdrawn,
    ProfileCreated,
    ActivationFailed,
    ActivationRefusedLocked,
    ProfileActivated,
    ProfileClosed,
    DocumentFed,
    DocumentAdded,
    RecordConsulted,
    DocumentConsulted,
    FirstAccess,
    AccessRefusedBlocked,
    DocumentMasked,
    DocumentUnmasked,
    PractitionerBlocked,
    PractitionerUnblocked,
    MedicalProfileUpdated,
    MessageReceived,
    ThreadRead,
    MessageReplied,
}

impl EventKind {
    /// Every kind (for parsing stored names).
    pub const ALL: [Self; 22] = [
        Self::BeneficiaryEnrolled,
        Self::OppositionRecorded,
        Self::OppositionWithdrawn,
        Self::ProfileCreated,
        Self::ActivationFailed,
        Self::ActivationRefusedLocked,
        Self::ProfileActivated,
        Self::ProfileClosed,
        Self::DocumentFed,
        Self::DocumentAdded,
        Self::RecordConsulted,
        Self::DocumentConsulted,
        Self::FirstAccess,
        Self::AccessRefusedBlocked,
        Self::DocumentMasked,
        Self::DocumentUnmasked,
        Self::PractitionerBlocked,
        Self::PractitionerUnblocked,
        Self::MedicalProfileUpdated,
        Self::MessageReceived,
        Self::ThreadRead,
        Self::MessageReplied,
    ];

    /// The stored name and the label the patient reads (in French, the users' language).
    fn describe(self) -> (&'static str, &'static str) {
        match self {
            Self::BeneficiaryEnrolled => (
                "BENEFICIARY_ENROLLED",
                "Inscription par l'Assurance Maladie",
            ),
            Self::OppositionRecorded => {
                ("OPPOSITION_RECORDED", "Opposition à la création du profil")
            }
            Self::OppositionWithdrawn => ("OPPOSITION_WITHDRAWN", "Retrait de l'opposition"),
            Self::ProfileCreated => ("PROFILE_CREATED", "Création du profil Mon espace santé"),
            Self::ActivationFailed => ("ACTIVATION_FAILED", "Tentative d'activation refusée"),
            Self::ActivationRefusedLocked => (
                "ACTIVATION_REFUSED_LOCKED",
                "Tentative d'activation pendant le blocage",
            ),
            Self::ProfileActivated => ("PROFILE_ACTIVATED", "Activation du profil"),
            Self::ProfileClosed => ("PROFILE_CLOSED", "Fermeture du profil"),
            Self::DocumentFed => (
                "DOCUMENT_FED",
                "Ajout d'un document par un professionnel de santé",
            ),
            Self::DocumentAdded => ("DOCUMENT_ADDED", "Ajout d'un document par vous-même"),
            Self::RecordConsulted => (
                "RECORD_CONSULTED",
                "Consultation de la liste de vos documents",
            ),
            Self::DocumentConsulted => ("DOCUMENT_CONSULTED", "Consultation d'un document"),
            Self::FirstAccess => (
                "FIRST_ACCESS",
                "Premier accès d'un professionnel de santé à votre dossier",
            ),
            Self::AccessRefusedBlocked => (
                "ACCESS_REFUSED_BLOCKED",
                "Accès refusé à un professionnel que vous avez bloqué",
            ),
            Self::DocumentMasked => ("DOCUMENT_MASKED", "Masquage d'un document"),
            Self::DocumentUnmasked => ("DOCUMENT_UNMASKED", "Fin du masquage d'un document"),
            Self::PractitionerBlocked => (
                "PRACTITIONER_BLOCKED",
                "Blocage d'un professionnel de santé",
            ),
            Self::PractitionerUnblocked => (
                "PRACTITIONER_UNBLOCKED",
                "Fin du blocage d'un professionnel de santé",
            ),
            Self::MedicalProfileUpdated => (
                "MEDICAL_PROFILE_UPDATED",
                "Mise à jour de votre profil médical",
            ),
            Self::MessageReceived => (
                "MESSAGE_RECEIVED",
                "Réception d'un message d'un professionnel de santé",
            ),
            Self::ThreadRead => ("THREAD_READ", "Lecture d'une conversation"),
            Self::MessageReplied => ("MESSAGE_REPLIED", "Réponse à un professionnel de santé"),
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        self.describe().0
    }

    /// What the patient reads in the activity history.
    pub fn label(self) -> &'static str {
        self.describe().1
    }

    /// Parses a stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_stored_name_and_a_label() {
        let mut names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len(), "stored names are unique");
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_stored(kind.as_str()), Some(kind));
            assert!(!kind.label().is_empty());
        }
    }
}
