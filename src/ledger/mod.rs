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

/// What happened. The stored name is the SCREAMING_SNAKE_CASE form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The insurer enrolled the person: a profile will be created unless they oppose.
    BeneficiaryEnrolled,
    /// The person opposed the creation of their profile (online or through the insurer).
    OppositionRecorded,
    /// The person withdrew their opposition.
    OppositionWithdrawn,
    /// The profile was created and an activation code issued.
    ProfileCreated,
    /// An activation attempt with a wrong code or Carte Vitale serial.
    ActivationFailed,
    /// An activation attempt refused because activation is locked after too many failures.
    ActivationRefusedLocked,
    /// The patient activated the profile.
    ProfileActivated,
    /// The owner closed the profile.
    ProfileClosed,
}

impl EventKind {
    /// Every kind, for parsing stored names.
    pub const ALL: [Self; 8] = [
        Self::BeneficiaryEnrolled,
        Self::OppositionRecorded,
        Self::OppositionWithdrawn,
        Self::ProfileCreated,
        Self::ActivationFailed,
        Self::ActivationRefusedLocked,
        Self::ProfileActivated,
        Self::ProfileClosed,
    ];

    /// The stored name (hashed into the chain: never rename one).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BeneficiaryEnrolled => "BENEFICIARY_ENROLLED",
            Self::OppositionRecorded => "OPPOSITION_RECORDED",
            Self::OppositionWithdrawn => "OPPOSITION_WITHDRAWN",
            Self::ProfileCreated => "PROFILE_CREATED",
            Self::ActivationFailed => "ACTIVATION_FAILED",
            Self::ActivationRefusedLocked => "ACTIVATION_REFUSED_LOCKED",
            Self::ProfileActivated => "PROFILE_ACTIVATED",
            Self::ProfileClosed => "PROFILE_CLOSED",
        }
    }

    /// Parses a stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What the patient reads in the activity history (in French, the users' language).
    pub fn label(self) -> &'static str {
        match self {
            Self::BeneficiaryEnrolled => "Inscription par l'Assurance Maladie",
            Self::OppositionRecorded => "Opposition à la création du profil",
            Self::OppositionWithdrawn => "Retrait de l'opposition",
            Self::ProfileCreated => "Création du profil Mon espace santé",
            Self::ActivationFailed => "Tentative d'activation refusée",
            Self::ActivationRefusedLocked => "Tentative d'activation pendant le blocage",
            Self::ProfileActivated => "Activation du profil",
            Self::ProfileClosed => "Fermeture du profil",
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
        payload: Set(row.payload.clone()),
        prev_hash: Set(row.prev_hash.clone()),
        hash: Set(row.hash.clone()),
    };
    let inserted = ledger_event::Entity::insert(active).exec(conn).await?;
    row.id = inserted.last_insert_id;
    Ok(row)
}
