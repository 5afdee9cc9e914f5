//! The audit-first ledger: one append-only, hash-chained sequence of events per patient.
//!
//! [`append`] is called by services inside their transaction, after they locked the patient's
//! profile row, so that the event and the projection it explains commit together or not at all.

mod canonical;
mod verify;

pub use canonical::{GENESIS_HASH, canonical_bytes, event_hash};
pub use verify::{ChainReport, verify_all, verify_chain};

use chrono::{DateTime, Utc};
use entity::ledger_event;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::auth::ActorRef;
use crate::domain::Ins;

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

/// An event to append, before the chain gives it its place.
#[derive(Debug)]
pub struct NewEvent<'a> {
    pub patient: &'a Ins,
    pub at: DateTime<Utc>,
    pub actor: &'a ActorRef,
    pub kind: EventKind,
    /// Kind-specific details; never medical content.
    pub payload: serde_json::Value,
}

impl<'a> NewEvent<'a> {
    /// An event about `patient`, done by `actor` at `at`.
    pub fn new(
        patient: &'a Ins,
        at: DateTime<Utc>,
        actor: &'a ActorRef,
        kind: EventKind,
        payload: serde_json::Value,
    ) -> Self {
        Self {
            patient,
            at,
            actor,
            kind,
            payload,
        }
    }
}

/// Appends one event at the end of the patient's chain, on `conn` (the caller's transaction).
///
/// The caller holds the lock on the patient's profile row, which serialises appends per patient;
/// the unique `(patient_ins, seq)` constraint is the backstop that refuses a fork.
pub async fn append(
    conn: &impl ConnectionTrait,
    event: NewEvent<'_>,
) -> Result<ledger_event::Model, DbErr> {
    let head = ledger_event::Entity::find()
        .filter(ledger_event::Column::PatientIns.eq(event.patient.as_str()))
        .order_by_desc(ledger_event::Column::Seq)
        .limit(1)
        .one(conn)
        .await?;
    let (seq, prev_hash) = match head {
        Some(head) => (head.seq + 1, head.hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let mut row = ledger_event::Model {
        id: 0,
        patient_ins: event.patient.as_str().to_owned(),
        seq,
        occurred_at: crate::clock::to_micros(event.at),
        kind: event.kind.as_str().to_owned(),
        actor_role: event.actor.role.as_str().to_owned(),
        actor_id: event.actor.id.clone(),
        actor_name: event.actor.name.clone(),
        actor_profession: event.actor.profession.clone().unwrap_or_default(),
        payload: event.payload.to_string(),
        prev_hash,
        hash: String::new(),
    };
    row.hash = event_hash(&row);
    let active = ledger_event::ActiveModel {
        id: NotSet,
        patient_ins: Set(row.patient_ins.clone()),
        seq: Set(row.seq),
        occurred_at: Set(row.occurred_at),
        kind: Set(row.kind.clone()),
        actor_role: Set(row.actor_role.clone()),
        actor_id: Set(row.actor_id.clone()),
        actor_name: Set(row.actor_name.clone()),
        actor_profession: Set(row.actor_profession.clone()),
        payload: Set(row.payload.clone()),
        prev_hash: Set(row.prev_hash.clone()),
        hash: Set(row.hash.clone()),
    };
    let inserted = ledger_event::Entity::insert(active).exec(conn).await?;
    row.id = inserted.last_insert_id;
    Ok(row)
}
