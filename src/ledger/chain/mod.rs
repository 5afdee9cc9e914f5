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
    ActiveValue::{NotSet, Set},
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
    /// The chain's head when the caller already knows it (read after taking the lock, or the
    /// event it appended last in the same transaction): [`append`] then skips its own read.
    pub head: Option<ChainHead>,
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
            head: None,
        }
    }

    /// The event attaches after `head` (`None`: after whatever the chain's head is, read by
    /// [`append`]). A wrong head cannot fork the chain: the unique `(patient_ins, seq)`
    /// refuses it, and the transaction fails.
    pub fn after(mut self, head: Option<ChainHead>) -> Self {
        self.head = head;
        self
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

/// Appends one event at the end of the patient's chain, on `conn` (the caller's transaction).
///
/// The caller holds the lock on the patient's profile row, which serialises appends per patient;
/// the unique `(patient_ins, seq)` constraint is the backstop that refuses a fork.
pub async fn append(
    conn: &impl ConnectionTrait,
    event: NewEvent<'_>,
) -> Result<ledger_event::Model, DbErr> {
    let head = match event.head {
        Some(head) => Some(head),
        None => head(conn, event.patient).await?,
    };
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
    let active = ledger_event::ActiveModel {
        id: NotSet,
        patient_ins: Set(row.patient_ins.clone()),
        seq: Set(row.seq),
        occurred_at: Set(row.occurred_at),
        kind: Set(row.kind),
        actor_role: Set(row.actor_role),
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
