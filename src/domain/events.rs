//! The kinds of ledger event, and the label the patient reads for each in their activity
//! history (in French, the users' language). The kinds and their stored names are in
//! `entity::values`, as the chain hashes them.

pub use entity::values::EventKind;

use entity::values::ProfileStatus;

/// The profile status an event of this kind leaves behind, for the kinds that change it.
/// `ledger verify --deep` re-derives each profile's status from its events with this; a new
/// kind answers here (the match is exhaustive on purpose).
pub fn status_after(kind: EventKind) -> Option<ProfileStatus> {
    match kind {
        EventKind::BeneficiaryEnrolled => Some(ProfileStatus::Announced),
        EventKind::OppositionRecorded => Some(ProfileStatus::Opposed),
        EventKind::OppositionWithdrawn | EventKind::ProfileCreated => Some(ProfileStatus::Created),
        EventKind::ProfileActivated => Some(ProfileStatus::Activated),
        EventKind::ProfileClosed => Some(ProfileStatus::Closed),
        EventKind::ActivationFailed
        | EventKind::ActivationRefusedLocked
        | EventKind::DocumentFed
        | EventKind::DocumentAdded
        | EventKind::RecordConsulted
        | EventKind::DocumentConsulted
        | EventKind::FirstAccess
        | EventKind::AccessRefusedBlocked
        | EventKind::DocumentMasked
        | EventKind::DocumentUnmasked
        | EventKind::PractitionerBlocked
        | EventKind::PractitionerUnblocked
        | EventKind::MedicalProfileUpdated
        | EventKind::MessageReceived
        | EventKind::ThreadRead
        | EventKind::MessageReplied
        | EventKind::FeedRefused
        | EventKind::MedecinTraitantDesignated
        | EventKind::MedecinTraitantRemoved
        | EventKind::EmergencyAccessOpened
        | EventKind::EmergencyAccessRefused
        | EventKind::EmergencyAccessTurnedOn
        | EventKind::EmergencyAccessTurnedOff
        | EventKind::ProfilePurged
        | EventKind::RecordExported
        | EventKind::DocumentReleased
        | EventKind::MedicalProfileConsulted
        | EventKind::MailboxConsulted => None,
        // The status these leave is in their payload (`statusAfter`): what the profile was
        // before its closure, or CREATED when a young adult's representatives had activated it.
        EventKind::ProfileReopened | EventKind::RepresentationEnded => None,
    }
}

/// What the patient reads in the activity history for an event of this kind.
pub fn label(kind: EventKind) -> &'static str {
    match kind {
        EventKind::BeneficiaryEnrolled => "Inscription par l'Assurance Maladie",
        EventKind::OppositionRecorded => "Opposition à la création du profil",
        EventKind::OppositionWithdrawn => "Retrait de l'opposition",
        EventKind::ProfileCreated => "Création du profil Mon espace santé",
        EventKind::ActivationFailed => "Tentative d'activation refusée",
        EventKind::ActivationRefusedLocked => "Tentative d'activation pendant le blocage",
        EventKind::ProfileActivated => "Activation du profil",
        EventKind::ProfileClosed => "Fermeture du profil",
        EventKind::DocumentFed => "Ajout d'un document par un professionnel de santé",
        EventKind::DocumentAdded => "Ajout d'un document par vous-même",
        EventKind::RecordConsulted => "Consultation de la liste de vos documents",
        EventKind::DocumentConsulted => "Consultation d'un document",
        EventKind::FirstAccess => "Premier accès d'un professionnel de santé à votre dossier",
        EventKind::AccessRefusedBlocked => "Accès refusé à un professionnel que vous avez bloqué",
        EventKind::DocumentMasked => "Masquage d'un document",
        EventKind::DocumentUnmasked => "Fin du masquage d'un document",
        EventKind::PractitionerBlocked => "Blocage d'un professionnel de santé",
        EventKind::PractitionerUnblocked => "Fin du blocage d'un professionnel de santé",
        EventKind::MedicalProfileUpdated => "Mise à jour de votre profil médical",
        EventKind::MessageReceived => "Réception d'un message d'un professionnel de santé",
        EventKind::ThreadRead => "Lecture d'une conversation",
        EventKind::MessageReplied => "Réponse à un professionnel de santé",
        EventKind::FeedRefused => {
            "Dépôt refusé : type de document non autorisé pour ce professionnel"
        }
        EventKind::MedecinTraitantDesignated => "Désignation de votre médecin traitant",
        EventKind::MedecinTraitantRemoved => "Fin de la désignation de votre médecin traitant",
        EventKind::EmergencyAccessOpened => "Accès en urgence à votre dossier (bris de glace)",
        EventKind::EmergencyAccessRefused => "Accès en urgence refusé : vous l'avez désactivé",
        EventKind::EmergencyAccessTurnedOn => "Autorisation de l'accès en urgence à votre dossier",
        EventKind::EmergencyAccessTurnedOff => {
            "Désactivation de l'accès en urgence à votre dossier"
        }
        EventKind::ProfileReopened => "Réouverture du profil",
        EventKind::ProfilePurged => "Suppression des contenus à la fin de la conservation",
        EventKind::RecordExported => "Téléchargement de votre dossier complet",
        EventKind::RepresentationEnded => "Fin de l'accès de vos représentants légaux (majorité)",
        EventKind::DocumentReleased => {
            "Mise à disposition d'un document après une consultation d'annonce"
        }
        EventKind::MedicalProfileConsulted => "Consultation de votre profil médical",
        EventKind::MailboxConsulted => "Consultation de la liste de vos conversations",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_label() {
        for &kind in EventKind::ALL {
            assert!(!label(kind).is_empty(), "{kind}");
        }
    }
}
