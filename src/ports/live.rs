//! Live events, routed per recipient: the port through which services tell subscribers that
//! something was committed for them.
//!
//! The database is the source of truth: a live notification is an outbox row on the LIVE
//! channel (patients), or a reply or bounce in a practitioner's thread. A subscriber replays
//! rows after its cursor, then waits on its own doorbell ([`Notify`]) and re-reads after its
//! cursor when rung. A wake-up carries no data, so a missed or duplicated ring costs a query,
//! never a gap or a duplicate.
//!
//! Doorbells are rung after the writing transaction commits: this process's at once, and every
//! replica's by a PostgreSQL `NOTIFY` sent after the commit ([`announce`]), which
//! `notify::live` listens to. Not inside the writing transaction: a transaction that has
//! notified takes, at its commit, a lock on the whole PostgreSQL instance (so that queue
//! entries appear in commit order), and every write would wait on every other there. Its
//! payload is ids only (`n:<notification id>`, `m:<message id>`). A process that dies between
//! its commit and its `NOTIFY` leaves the other replicas' subscribers unrung for that event;
//! the outbox still holds it, and they read it at their next ring or reconnection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use crate::domain::{Ins, Rpps};
use tokio::sync::Notify;

/// The PostgreSQL channel of live events.
pub const CHANNEL: &str = "espace_sante_live";

/// Who a live event is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// A patient, by INS.
    Patient(Ins),
    /// A practitioner, by RPPS number.
    Practitioner(Rpps),
}

type Doorbells = HashMap<Recipient, Vec<(u64, Arc<Notify>)>>;

/// The doorbells of this process's subscribers.
#[derive(Debug, Clone, Default)]
pub struct LiveHub {
    doorbells: Arc<Mutex<Doorbells>>,
    next_id: Arc<AtomicU64>,
}

/// A registered subscriber; unregisters on drop.
#[derive(Debug)]
pub struct Doorbell {
    hub: LiveHub,
    recipient: Recipient,
    id: u64,
    notify: Arc<Notify>,
}

impl Doorbell {
    /// Waits until rung (returns at once if rung since the last wait).
    pub async fn rung(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        let mut doorbells = self
            .hub
            .doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = doorbells.get_mut(&self.recipient) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                doorbells.remove(&self.recipient);
            }
        }
    }
}

impl LiveHub {
    /// Registers a subscriber for `recipient`. Register before the first read, so that nothing
    /// committed in between is missed.
    pub fn subscribe(&self, recipient: Recipient) -> Doorbell {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let notify = Arc::new(Notify::new());
        self.doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(recipient.clone())
            .or_default()
            .push((id, notify.clone()));
        Doorbell {
            hub: self.clone(),
            recipient,
            id,
            notify,
        }
    }

    /// Rings the doorbells of `recipient` (after a commit).
    pub fn wake(&self, recipient: &Recipient) {
        let doorbells = self
            .doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, notify) in doorbells.get(recipient).into_iter().flatten() {
            notify.notify_one();
        }
    }

    /// How many subscribers this process holds (the `live_subscribers` gauge).
    pub fn subscriber_count(&self) -> usize {
        self.doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(Vec::len)
            .sum()
    }

    /// Rings every doorbell: after the listener lost notifications, everyone re-reads.
    pub fn wake_all(&self) {
        let doorbells = self
            .doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, notify) in doorbells.values().flatten() {
            notify.notify_one();
        }
    }
}

/// Serialises, per practitioner, the transactions that add to its inbox, until they commit:
/// message ids then commit in the order they were given, which the inbox feed's cursor relies
/// on (a later id committing first would make a subscriber skip the earlier one). PostgreSQL
/// only: SQLite has a single writer.
pub async fn lock_inbox(conn: &impl ConnectionTrait, rpps: &Rpps) -> Result<(), DbErr> {
    if conn.get_database_backend() == DbBackend::Postgres {
        conn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            [format!("espace-sante/inbox/{rpps}").into()],
        ))
        .await?;
    }
    Ok(())
}

/// What a committed write tells the other replicas (the row to read, whose recipient to ring).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announcement {
    /// A LIVE notification row, for a patient.
    Notification(i64),
    /// A message in a practitioner's inbox (a reply, a bounce).
    Message(i64),
}

impl Announcement {
    fn payload(self) -> String {
        match self {
            Self::Notification(id) => format!("n:{id}"),
            Self::Message(id) => format!("m:{id}"),
        }
    }
}

/// Tells the other replicas what was committed: one statement on its own (autocommit), after
/// the writing transaction. Nothing to do on SQLite, which has one process.
pub async fn announce(
    db: &sea_orm::DatabaseConnection,
    announcements: &[Announcement],
) -> Result<(), DbErr> {
    if announcements.is_empty() || db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    // PostgreSQL's simple protocol: one round trip, and nothing left in the connection's
    // cache of prepared statements (a statement text per payload would fill it). The payloads
    // are a letter and an integer: nothing to quote.
    let calls: Vec<String> = announcements
        .iter()
        .map(|a| format!("pg_notify('{CHANNEL}', '{}')", a.payload()))
        .collect();
    let sql = format!("SELECT {}", calls.join(", "));
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(db.get_postgres_connection_pool())
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    Ok(())
}
