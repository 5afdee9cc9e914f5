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
//! other replica's by a PostgreSQL `NOTIFY`, which `notify::live` listens to. Not inside the
//! writing transaction: a transaction that has notified takes, at its commit, a lock on the
//! whole PostgreSQL instance (so that queue entries appear in commit order), and every write
//! would wait on every other there. Not in the request either: a committed unit of work queues
//! its [`Announcement`]s ([`LiveHub::announce`]), and one task of the process tells them, all
//! that queued while it told the last ones in one `NOTIFY` ([`payloads`]): under load, one
//! statement for many writes. Its payload is this process's replica number and ids only
//! (`<replica>:n<notification id>,m<message id>`); a replica skips its own, whose subscribers
//! were rung at the commit. A process that dies between its commit and its `NOTIFY` leaves the
//! other replicas' subscribers unrung for that event; the outbox still holds it, and they read
//! it at their next ring or reconnection.

use std::any::Any;
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

type Doorbells = HashMap<Recipient, Bell>;

/// One recipient's subscribers in this process.
#[derive(Default)]
struct Bell {
    /// How many times the recipient was rung: a read begun after ring `g` was seen holds
    /// everything committed before it.
    rings: u64,
    subscribers: Vec<(u64, Arc<Notify>)>,
    /// The latest reads of the recipient's feed, shared by its subscribers
    /// ([`Doorbell::share`]): their cursor and ring, and the read (of the feed's own type). A
    /// few, of the latest ring only: after a ring, a fast subscriber's second read (at the new
    /// cursor) must not push out the first read that a slow one has yet to take.
    last_reads: Vec<((i64, u64), Arc<dyn Any + Send + Sync>)>,
}

/// Reads kept per recipient for its subscribers to share.
const SHARED_READS: usize = 4;

impl std::fmt::Debug for Bell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bell")
            .field("rings", &self.rings)
            .field("subscribers", &self.subscribers.len())
            .finish_non_exhaustive()
    }
}

/// The doorbells of this process's subscribers, and the announcements it has yet to tell the
/// other replicas.
#[derive(Debug, Clone)]
pub struct LiveHub {
    doorbells: Arc<Mutex<Doorbells>>,
    next_id: Arc<AtomicU64>,
    /// This process among the replicas (random): what it announces bears it.
    replica: u64,
    outgoing: Arc<Outgoing>,
}

impl Default for LiveHub {
    fn default() -> Self {
        Self {
            doorbells: Arc::default(),
            next_id: Arc::default(),
            replica: rand::random(),
            outgoing: Arc::default(),
        }
    }
}

/// Announcements queued for the other replicas.
#[derive(Debug, Default)]
struct Outgoing {
    queued: Mutex<Queued>,
    ready: Notify,
}

/// What waits to be told.
#[derive(Debug, Default)]
struct Queued {
    announcements: Vec<Announcement>,
    /// More than [`MAX_QUEUED`] waited (the database was unreachable for long): the other
    /// replicas are told to wake everyone, who catch up from the database.
    overflowed: bool,
}

/// The most announcements kept while the database cannot be told; beyond, one "wake all"
/// replaces them.
const MAX_QUEUED: usize = 100_000;

/// The largest `NOTIFY` payload PostgreSQL takes is 8000 bytes; a batch is cut below it.
const MAX_PAYLOAD: usize = 7_900;

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

    /// How many times this recipient was rung so far.
    pub fn rings(&self) -> u64 {
        self.hub
            .doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&self.recipient)
            .map_or(0, |bell| bell.rings)
    }

    /// The recipient's read after `after`, begun once the recipient had been rung `rings`
    /// times: the one another of its subscribers began for the same cursor and ring, or `read`,
    /// kept for the others. Subscribers woken by one ring at one cursor read the database once.
    /// A read begun after ring `g` holds everything committed before it; anything committed
    /// after it rings again, and a subscriber that saw ring `g` then reads anew.
    pub fn share<R>(&self, after: i64, rings: u64, read: impl FnOnce() -> R) -> R
    where
        R: Clone + Send + Sync + 'static,
    {
        let mut doorbells = self
            .hub
            .doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(bell) = doorbells.get_mut(&self.recipient) else {
            return read();
        };
        if let Some(shared) = bell
            .last_reads
            .iter()
            .find(|(key, _)| *key == (after, rings))
            .and_then(|(_, shared)| shared.downcast_ref::<R>())
        {
            return shared.clone();
        }
        let fresh = read();
        bell.last_reads.retain(|((_, ring), _)| *ring >= rings);
        if bell.last_reads.len() >= SHARED_READS {
            bell.last_reads.remove(0);
        }
        bell.last_reads
            .push(((after, rings), Arc::new(fresh.clone())));
        fresh
    }

    /// Forgets the shared read after `after` at `rings` (it failed): the next subscriber to
    /// read tries again rather than taking the failure.
    pub fn unshare(&self, after: i64, rings: u64) {
        let mut doorbells = self
            .hub
            .doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(bell) = doorbells.get_mut(&self.recipient) {
            bell.last_reads.retain(|(key, _)| *key != (after, rings));
        }
    }
}

impl Drop for Doorbell {
    fn drop(&mut self) {
        let mut doorbells = self
            .hub
            .doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(bell) = doorbells.get_mut(&self.recipient) {
            bell.subscribers.retain(|(id, _)| *id != self.id);
            if bell.subscribers.is_empty() {
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
            .subscribers
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
        let mut doorbells = self
            .doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(bell) = doorbells.get_mut(recipient) {
            bell.rings += 1;
            for (_, notify) in &bell.subscribers {
                notify.notify_one();
            }
        }
    }

    /// How many subscribers this process holds (the `live_subscribers` gauge).
    pub fn subscriber_count(&self) -> usize {
        self.doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|bell| bell.subscribers.len())
            .sum()
    }

    /// This process's replica number, which its announcements bear.
    pub fn replica(&self) -> u64 {
        self.replica
    }

    /// Queues `announcements` for the other replicas (after a commit); the announcing task
    /// tells them.
    pub fn announce(&self, announcements: impl IntoIterator<Item = Announcement>) {
        let mut queued = self
            .outgoing
            .queued
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queued.announcements.extend(announcements);
        if queued.announcements.len() > MAX_QUEUED {
            queued.announcements.clear();
            queued.overflowed = true;
        }
        drop(queued);
        self.outgoing.ready.notify_one();
    }

    /// The payloads of everything queued, emptying the queue (none if nothing waits).
    pub fn take_payloads(&self) -> Vec<String> {
        let queued = std::mem::take(
            &mut *self
                .outgoing
                .queued
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        payloads(self.replica, &queued.announcements, queued.overflowed)
    }

    /// Waits until something is queued.
    pub async fn announced(&self) {
        self.outgoing.ready.notified().await;
    }

    /// Rings every doorbell: after the listener lost notifications, everyone re-reads.
    pub fn wake_all(&self) {
        let mut doorbells = self
            .doorbells
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for bell in doorbells.values_mut() {
            bell.rings += 1;
            for (_, notify) in &bell.subscribers {
                notify.notify_one();
            }
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
            Self::Notification(id) => format!("n{id}"),
            Self::Message(id) => format!("m{id}"),
        }
    }
}

/// The `NOTIFY` payloads of `announcements` by `replica`: `<replica>:` then the ids, comma
/// separated, each payload under PostgreSQL's limit; `<replica>:*` asks every replica to wake
/// all its subscribers (`overflowed`).
pub fn payloads(replica: u64, announcements: &[Announcement], overflowed: bool) -> Vec<String> {
    let prefix = format!("{replica}:");
    if overflowed {
        return vec![format!("{prefix}*")];
    }
    let mut payloads = Vec::new();
    let mut current = prefix.clone();
    for announcement in announcements {
        let id = announcement.payload();
        if current.len() + 1 + id.len() > MAX_PAYLOAD {
            payloads.push(std::mem::replace(&mut current, prefix.clone()));
        }
        if current.len() > prefix.len() {
            current.push(',');
        }
        current.push_str(&id);
    }
    if current.len() > prefix.len() {
        payloads.push(current);
    }
    payloads
}

/// What a payload of another replica says.
#[derive(Debug, PartialEq, Eq)]
pub enum Heard {
    /// From this very process: its subscribers were rung at the commit.
    Own,
    /// Wake every subscriber.
    All,
    /// These rows were committed.
    Rows(Vec<Announcement>),
}

/// Reads a payload (see [`payloads`]); `None` for one that is not ours to read.
pub fn hear(replica: u64, payload: &str) -> Option<Heard> {
    let (from, ids) = payload.split_once(':')?;
    if from.parse::<u64>().ok()? == replica {
        return Some(Heard::Own);
    }
    if ids == "*" {
        return Some(Heard::All);
    }
    let rows = ids
        .split(',')
        .map(|id| match id.split_at_checked(1)? {
            ("n", id) => Some(Announcement::Notification(id.parse().ok()?)),
            ("m", id) => Some(Announcement::Message(id.parse().ok()?)),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Heard::Rows(rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_cut_under_postgres_payload_limit_and_read_back_whole() {
        let announcements: Vec<Announcement> = (0..2_000)
            .map(|i| {
                if i % 3 == 0 {
                    Announcement::Message(i)
                } else {
                    Announcement::Notification(1_000_000_000 + i)
                }
            })
            .collect();
        let payloads = payloads(7, &announcements, false);
        assert!(payloads.len() > 1);
        let mut heard = Vec::new();
        for payload in &payloads {
            assert!(payload.len() <= MAX_PAYLOAD, "{} bytes", payload.len());
            assert_eq!(hear(7, payload), Some(Heard::Own));
            match hear(8, payload) {
                Some(Heard::Rows(rows)) => heard.extend(rows),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(heard, announcements);
    }

    #[test]
    fn subscribers_rung_once_at_one_cursor_share_a_read_and_a_failed_one_is_forgotten() {
        let hub = LiveHub::default();
        let patient = Recipient::Patient(Ins::parse("185057800608491").unwrap());
        let (phone, laptop) = (
            hub.subscribe(patient.clone()),
            hub.subscribe(patient.clone()),
        );
        let reads = std::cell::Cell::new(0);
        let read = || {
            reads.set(reads.get() + 1);
            Arc::new(reads.get())
        };
        let rings = phone.rings();
        assert_eq!(phone.share(7, rings, read), laptop.share(7, rings, read));
        assert_eq!(reads.get(), 1, "one read for both");
        // Another cursor, or a ring since, is another read.
        laptop.share(8, rings, read);
        hub.wake(&patient);
        assert_eq!(phone.rings(), rings + 1);
        phone.share(8, phone.rings(), read);
        assert_eq!(reads.get(), 3);
        // A failed read is not handed to the next subscriber.
        laptop.unshare(8, laptop.rings());
        laptop.share(8, laptop.rings(), read);
        assert_eq!(reads.get(), 4);
        // A fast subscriber's next read (at its new cursor) leaves the first read of the ring
        // for a slow one; a new ring forgets the reads of the former.
        let rings = phone.rings();
        phone.share(9, rings, read);
        assert_eq!(reads.get(), 5);
        laptop.share(8, rings, read);
        assert_eq!(reads.get(), 5, "the slow subscriber shares the first read");
        hub.wake(&patient);
        laptop.share(8, laptop.rings(), read);
        assert_eq!(reads.get(), 6);
    }

    #[test]
    fn an_overflow_is_heard_as_wake_all_and_garbage_as_nothing() {
        assert_eq!(payloads(7, &[], false), Vec::<String>::new());
        assert_eq!(hear(8, &payloads(7, &[], true)[0]), Some(Heard::All));
        assert_eq!(hear(8, "7:x1"), None);
        assert_eq!(hear(8, "n:12"), None);
    }
}
