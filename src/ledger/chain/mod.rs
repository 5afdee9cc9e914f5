//! The chain itself: each patient's events, appended in the patient's unit of work and
//! hash-chained by the canonical encoding; its verification, event by event.

mod canonical;
#[cfg(test)]
mod golden;
mod verify;

pub use canonical::{
    CURRENT_VERSION, EventFields, GENESIS_HASH, canonical_bytes, canonical_time, encode,
    encoding_version, event_hash, fields_hash, hex, versioned_payload,
};
pub use verify::{
    ChainChecker, ChainReport, verify_all, verify_all_in_pages, verify_chain, verify_rows,
};

use chrono::{DateTime, Utc};
use entity::ledger_event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::domain::{ActorRef, Event, Ins};

/// An event to append, before the chain gives it its place.
#[derive(Debug)]
pub struct NewEvent<'a> {
    pub patient: &'a Ins,
    pub at: DateTime<Utc>,
    pub actor: &'a ActorRef,
    /// What happened, typed; its payload never holds medical content.
    pub event: &'a Event,
}

/// The last event of a patient's chain: where the next one attaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: i64,
    pub hash: String,
}

impl<'a> NewEvent<'a> {
    /// `event` about `patient`, done by `actor` at `at`.
    pub fn new(patient: &'a Ins, at: DateTime<Utc>, actor: &'a ActorRef, event: &'a Event) -> Self {
        Self {
            patient,
            at,
            actor,
            event,
        }
    }
}

/// The head of `patient`'s chain, `None` for an empty chain. Read it after taking the
/// patient's lock, or another transaction may append behind it.
pub async fn head(conn: &impl ConnectionTrait, patient: &Ins) -> Result<Option<ChainHead>, DbErr> {
    Ok(ledger_event::Entity::find()
        .filter(ledger_event::Column::PatientIns.eq(patient.as_str()))
        .order_by_desc(ledger_event::Column::Seq)
        .limit(1)
        .one(conn)
        .await?
        .map(|e| ChainHead {
            seq: e.seq,
            hash: e.hash,
        }))
}

/// The event chained after `head` (`None`: it opens the chain): its sequence, the previous
/// hash and its own. Its id is 0 until the database gives one. Compute it under the patient's
/// lock, with the head read under it; the unique `(patient_ins, seq)` constraint is the
/// backstop that refuses a fork.
pub fn chained(event: NewEvent<'_>, head: Option<ChainHead>) -> ledger_event::Model {
    let (seq, prev_hash) = match head {
        Some(head) => (head.seq + 1, head.hash),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let mut row = ledger_event::Model {
        id: 0,
        patient_ins: event.patient.clone(),
        seq,
        occurred_at: crate::clock::to_micros(event.at),
        kind: event.event.kind(),
        actor_role: event.actor.role,
        actor_id: event.actor.id.clone(),
        actor_name: event.actor.name.clone(),
        actor_profession: event.actor.profession.clone().unwrap_or_default(),
        payload: versioned_payload(&event.event.payload()),
        prev_hash,
        hash: String::new(),
    };
    row.hash = event_hash(&row);
    row
}
