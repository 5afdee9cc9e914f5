//! The patient unit of work: the one way a use case touches a patient's data.
//!
//! [`PatientTx`] opens the transaction, locks the patient's profile row (which serialises the
//! appends to their chain), applies the gate of the operation ([`domain::access::admit`]),
//! records ledger events, queues the notices they call for, commits, and only then rings live
//! subscribers. Record data leaves a use case as a [`Traced`] value, which only a committed unit
//! of work can build from a [`Receipt`]: a use case that returns record data without its trace
//! does not compile.
//!
//! [`domain::access::admit`]: crate::domain::access::admit

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use entity::{
    ledger_event, legal_representative, practitioner_access, practitioner_block, profile,
};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QueryTrait, Statement, TransactionTrait, sea_query::OnConflict,
};

use super::live::{Announcement, Recipient};
use super::profiles::lock_profile;
use super::{ServiceError, Services, journal, outbox};
use crate::domain::access::{Access, admit};
use crate::domain::events::FirstAccess;
use crate::domain::notices::{self, Notice};
use crate::domain::{
    ActivationCode, ActorRef, ActorRole, Channel, Event, EventKind, Ins, NoticeAudience,
    Practitioner, ProfileStatus, Reach, Rpps,
};
use crate::ledger::{self, ChainHead, NewEvent};

/// An open unit of work on one patient, holding the lock on their profile row.
#[derive(Debug)]
pub(crate) struct PatientTx<'s> {
    services: &'s Services,
    txn: DatabaseTransaction,
    ins: Ins,
    access: Access,
    now: DateTime<Utc>,
    profile: Option<profile::Model>,
    /// Subscribers to ring once the transaction has committed, here and on the other replicas.
    ring: AfterCommit,
    /// For a unit of work inside a [`Batch`]: where its rings wait for the batch's commit.
    batch_ring: Option<Arc<Mutex<AfterCommit>>>,
    /// The chain's head once known in this unit of work (read under the lock, or the event it
    /// appended last), so that an append does not read it again: a round trip saved per
    /// event. `None`: the next append reads it.
    head: Option<ChainHead>,
    /// Whether the consulting practitioner holds an unexpired emergency access, when the
    /// consultation's admission read it (PostgreSQL); `None`: not read yet.
    emergency_holder: Option<bool>,
}

/// One transaction over several patients' units of work (an enrolment batch: all or nothing).
/// Each unit is a savepoint; subscribers are rung when the batch commits.
#[derive(Debug)]
pub(crate) struct Batch<'s> {
    services: &'s Services,
    txn: DatabaseTransaction,
    ring: Arc<Mutex<AfterCommit>>,
}

/// The doorbells a unit of work rings once committed: this process's subscribers, and the
/// other replicas', told outside the transaction (see [`crate::ports::live`]).
#[derive(Debug, Default)]
pub(crate) struct AfterCommit {
    recipients: Vec<Recipient>,
    announcements: Vec<Announcement>,
}

impl AfterCommit {
    fn extend(&mut self, other: Self) {
        for recipient in other.recipients {
            if !self.recipients.contains(&recipient) {
                self.recipients.push(recipient);
            }
        }
        self.announcements.extend(other.announcements);
    }

    /// Rings this process's subscribers, and queues the announcements for the other
    /// replicas (told by the announcing task, outside the request: see `ports::live`).
    fn ring(self, services: &Services) {
        for recipient in &self.recipients {
            services.live.wake(recipient);
        }
        services.live.announce(self.announcements);
    }
}

/// What brought a practitioner into a record for the first time ([`PatientTx::first_access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FirstAccessBy {
    /// A consultation, an emergency access or an open feed: traced and notified now.
    Open,
    /// The feed of this document, hidden from the patient's space (held back, or secret from
    /// the representatives): the first access is as hidden as the feed.
    HiddenFeed(i64),
}

/// Proof that a reading was traced in this unit of work (or is the owner's own view).
#[derive(Debug)]
pub(crate) struct Receipt(Trace);

/// How a value that left the service layer was traced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trace {
    /// By this event of the patient's ledger, committed before the value was returned.
    Event { seq: i64, hash: String },
    /// The patient's own view of their record: SPEC traces the actions of health actors, not
    /// the owner looking at their own space.
    OwnerView,
}

/// Record data that may leave the service layer: its reading is already traced and committed.
#[derive(Debug)]
pub struct Traced<T> {
    value: T,
    trace: Trace,
}

impl<T> Traced<T> {
    /// The data.
    pub fn into_inner(self) -> T {
        self.value
    }

    /// How its reading was traced.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The data, still traced.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The same trace, for `f` of the data (what is handed out of what was read).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Traced<U> {
        Traced {
            value: f(self.value),
            trace: self.trace,
        }
    }
}

impl Services {
    /// Opens a unit of work on `ins` for an operation needing `access`: begins, locks the
    /// profile row (SQLite has no row locks; its single writer serialises transactions), and
    /// refuses as the access table says.
    pub(crate) async fn patient_tx(
        &self,
        ins: &Ins,
        access: Access,
    ) -> Result<PatientTx<'_>, ServiceError> {
        PatientTx::open(self, self.db.begin().await?, ins, access, None).await
    }

    /// Opens a batch: one transaction for several patients' units of work.
    pub(crate) async fn batch(&self) -> Result<Batch<'_>, ServiceError> {
        Ok(Batch {
            services: self,
            txn: self.db.begin().await?,
            ring: Arc::default(),
        })
    }

    /// Opens a practitioner's consultation of a DMP: it exists, the practitioner is not
    /// blocked (a refused attempt is traced and committed), and their first access is traced
    /// and notified. Performance (docs/src/performance.md): what [`Self::unblocked`] and
    /// [`PatientTx::first_access`] do in two statements, and the chain's head a third would
    /// read, is one statement here on PostgreSQL ([`PatientTx::admit_practitioner`]).
    pub(crate) async fn consultation(
        &self,
        practitioner: &Practitioner,
        ins: &Ins,
    ) -> Result<PatientTx<'_>, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::Dmp).await?;
        let Admission { blocked, first } = tx.admit_practitioner(&practitioner.rpps).await?;
        if blocked {
            return Err(refuse_blocked(tx, practitioner).await);
        }
        if first {
            tx.record(
                &practitioner.to_ref(),
                Event::FirstAccess(FirstAccess::default()),
            )
            .await?;
        }
        Ok(tx)
    }

    /// Opens a unit of work on a DMP for a practitioner the patient did not block: a blocked
    /// practitioner's attempt is traced, committed and refused.
    pub(crate) async fn unblocked(
        &self,
        practitioner: &Practitioner,
        ins: &Ins,
    ) -> Result<PatientTx<'_>, ServiceError> {
        let tx = self.patient_tx(ins, Access::Dmp).await?;
        let blocked =
            practitioner_block::Entity::find_by_id((ins.clone(), practitioner.rpps.clone()))
                .one(tx.conn())
                .await?
                .is_some();
        if blocked {
            return Err(refuse_blocked(tx, practitioner).await);
        }
        Ok(tx)
    }
}

/// Traces a blocked practitioner's attempt, commits it, and gives back the refusal.
async fn refuse_blocked(mut tx: PatientTx<'_>, practitioner: &Practitioner) -> ServiceError {
    if let Err(err) = tx
        .record(&practitioner.to_ref(), Event::AccessRefusedBlocked)
        .await
    {
        return err;
    }
    tx.refuse(ServiceError::Forbidden(
        "the patient has blocked your access to their record".to_owned(),
    ))
    .await
}

impl<'s> Batch<'s> {
    /// Opens the unit of work of one patient of the batch, as [`Services::patient_tx`] does.
    pub async fn patient_tx(
        &self,
        ins: &Ins,
        access: Access,
    ) -> Result<PatientTx<'s>, ServiceError> {
        let savepoint = self.txn.begin().await?;
        PatientTx::open(
            self.services,
            savepoint,
            ins,
            access,
            Some(self.ring.clone()),
        )
        .await
    }

    /// Commits the batch, then rings the live subscribers of its units.
    pub async fn commit(self) -> Result<(), ServiceError> {
        self.txn.commit().await?;
        let ring = std::mem::take(&mut *self.ring.lock().unwrap_or_else(PoisonError::into_inner));
        ring.ring(self.services);
        Ok(())
    }
}

/// What a consultation learns under the lock, before it reads.
#[derive(Debug)]
struct Admission {
    /// The patient blocked this practitioner.
    blocked: bool,
    /// This is the practitioner's first access to the record (now recorded, unless blocked).
    first: bool,
}

/// The checks of a consultation after the lock, in one round trip (PostgreSQL): the block,
/// the first access (recorded unless blocked), an unexpired emergency access (which
/// `documents::visibility` then does not read again) and the chain's head (which the traced
/// read's append then does not read again). The statement starts after the lock was granted, so its
/// snapshot sees every event committed before: the head is current. (In the lock statement
/// itself it would not be: a `SELECT … FOR UPDATE` that waited keeps the snapshot it began with.)
/// The benchmark measured a consultation at 10 round trips before, 7 after
/// (docs/src/performance.md).
const ADMIT_PRACTITIONER: &str = r"
WITH blocked AS (
    SELECT EXISTS (SELECT 1 FROM practitioner_blocks
                    WHERE patient_ins = $1 AND practitioner_rpps = $2) AS blocked
), first AS (
    INSERT INTO practitioner_accesses (patient_ins, practitioner_rpps, first_access_at)
    SELECT $1, $2, $3 FROM blocked WHERE NOT blocked.blocked
    ON CONFLICT (patient_ins, practitioner_rpps) DO NOTHING
    RETURNING 1
), head AS (
    SELECT seq, hash FROM ledger_events WHERE patient_ins = $1 ORDER BY seq DESC LIMIT 1
)
SELECT (SELECT blocked FROM blocked) AS blocked,
       EXISTS (SELECT 1 FROM first) AS first,
       EXISTS (SELECT 1 FROM emergency_accesses
                WHERE patient_ins = $1 AND practitioner_rpps = $2 AND expires_at > $3)
           AS emergency_holder,
       (SELECT seq FROM head) AS head_seq,
       (SELECT hash FROM head) AS head_hash";

impl<'s> PatientTx<'s> {
    /// A practitioner's consultation, after the lock: is the practitioner blocked, and is this
    /// their first access (recorded, unless blocked)? On PostgreSQL one statement, which also
    /// reads the chain's head ([`ADMIT_PRACTITIONER`]); on SQLite (no data-modifying `WITH`) a
    /// statement each, as the single writer makes round trips cheap there.
    async fn admit_practitioner(&mut self, rpps: &Rpps) -> Result<Admission, ServiceError> {
        if self.txn.get_database_backend() == DbBackend::Postgres {
            let row = self
                .txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    ADMIT_PRACTITIONER,
                    [
                        self.ins.as_str().into(),
                        rpps.as_str().into(),
                        self.now.into(),
                    ],
                ))
                .await?
                .ok_or_else(|| ServiceError::internal("the admission query returned no row"))?;
            let head_seq: Option<i64> = row.try_get("", "head_seq")?;
            let head_hash: Option<String> = row.try_get("", "head_hash")?;
            self.knows_head(head_seq.zip(head_hash));
            self.emergency_holder = Some(row.try_get("", "emergency_holder")?);
            return Ok(Admission {
                blocked: row.try_get("", "blocked")?,
                first: row.try_get("", "first")?,
            });
        }
        let blocked = practitioner_block::Entity::find_by_id((self.ins.clone(), rpps.clone()))
            .one(&self.txn)
            .await?
            .is_some();
        let first = !blocked && self.insert_first_access(rpps).await?;
        Ok(Admission { blocked, first })
    }

    /// Locks the profile row on `txn` and applies the gate of `access`.
    async fn open(
        services: &'s Services,
        txn: DatabaseTransaction,
        ins: &Ins,
        access: Access,
        batch_ring: Option<Arc<Mutex<AfterCommit>>>,
    ) -> Result<Self, ServiceError> {
        let profile = lock_profile(&txn, ins).await?;
        let status = profile.as_ref().map(|p| p.status);
        admit(access, status)?;
        Ok(Self {
            services,
            txn,
            ins: ins.clone(),
            access,
            now: services.clock.now(),
            profile,
            ring: AfterCommit::default(),
            batch_ring,
            head: None,
            emergency_holder: None,
        })
    }

    /// Whether the consulting practitioner holds an unexpired emergency access, if this unit
    /// of work already read it (see [`ADMIT_PRACTITIONER`]).
    pub fn known_emergency_holder(&self) -> Option<bool> {
        self.emergency_holder
    }

    /// The time of this unit of work: every event it records bears it.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// The patient.
    pub fn ins(&self) -> &Ins {
        &self.ins
    }

    /// The transaction, for the projection reads and writes of the use case.
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// The locked profile row, which every access but [`Access::Any`] guarantees.
    pub fn enrolled(&self) -> Result<&profile::Model, ServiceError> {
        self.profile
            .as_ref()
            .ok_or_else(|| ServiceError::internal("the gate let a missing profile through"))
    }

    /// The profile's status, as it stands in this unit of work.
    pub fn status(&self) -> Option<ProfileStatus> {
        self.profile.as_ref().map(|p| p.status)
    }

    /// Takes note of the profile row as the use case just updated it: notices recorded after
    /// this are routed by its new status.
    pub fn updated(&mut self, profile: profile::Model) -> Result<&profile::Model, ServiceError> {
        Ok(self.profile.insert(profile))
    }

    /// Traces the practitioner's first access to this record — their first feed or
    /// consultation — once per practitioner and record (notified as its event says: not when
    /// `by` is hidden); does nothing after that.
    pub async fn first_access(
        &mut self,
        practitioner: &Practitioner,
        by: FirstAccessBy,
    ) -> Result<(), ServiceError> {
        if let Some(event) = self.first_access_event(practitioner, by).await? {
            self.record(&practitioner.to_ref(), event).await?;
        }
        Ok(())
    }

    /// The first-access event `by` is, if it is the practitioner's first access to this
    /// record (an open one is recorded as such now); for the caller to record.
    pub async fn first_access_event(
        &mut self,
        practitioner: &Practitioner,
        by: FirstAccessBy,
    ) -> Result<Option<Event>, ServiceError> {
        let hidden_feed = match by {
            FirstAccessBy::Open => {
                if !self.insert_first_access(&practitioner.rpps).await? {
                    return Ok(None);
                }
                None
            }
            // A hidden first access is not the practitioner's first access yet: the patient
            // learns of it at the document's release, or at the practitioner's first open act,
            // whichever comes first (each records the access then).
            FirstAccessBy::HiddenFeed(document_id) => {
                if self.has_first_access(&practitioner.rpps).await? {
                    return Ok(None);
                }
                Some(document_id)
            }
        };
        Ok(Some(Event::FirstAccess(FirstAccess { hidden_feed })))
    }

    /// Takes note of the chain's head, read under the lock by the caller's statement: the
    /// next event recorded does not read it again.
    pub fn knows_head(&mut self, head: Option<(i64, String)>) {
        self.head = head.map(|(seq, hash)| ChainHead { seq, hash });
    }

    /// Whether the patient has legal representatives whose access has not ended.
    pub async fn has_representatives(&self) -> Result<bool, ServiceError> {
        Ok(legal_representative::Entity::find()
            .filter(legal_representative::Column::ChildIns.eq(self.ins.as_str()))
            .filter(legal_representative::Column::EndedAt.is_null())
            .one(&self.txn)
            .await?
            .is_some())
    }

    /// Whether the practitioner's first access to this record is recorded (and was told).
    async fn has_first_access(&self, rpps: &Rpps) -> Result<bool, ServiceError> {
        Ok(
            practitioner_access::Entity::find_by_id((self.ins.clone(), rpps.clone()))
                .one(&self.txn)
                .await?
                .is_some(),
        )
    }

    /// At the release of a held-back document: if its feed was its author's first access, and
    /// no open act of theirs has told it since, the first access is recorded now and its
    /// notice sent (withheld until now, like the feed).
    pub async fn notify_withheld_first_access(
        &mut self,
        author: &Rpps,
        document_id: i64,
    ) -> Result<(), ServiceError> {
        let candidates = ledger_event::Entity::find()
            .filter(ledger_event::Column::PatientIns.eq(self.ins.as_str()))
            .filter(ledger_event::Column::Kind.eq(EventKind::FirstAccess))
            .filter(ledger_event::Column::ActorId.eq(author.as_str()))
            .all(&self.txn)
            .await?;
        let Some(row) = candidates.into_iter().find(|row| {
            Event::read(row.kind, &row.payload).is_ok_and(|event| {
                matches!(event, Event::FirstAccess(first) if first.hidden_feed == Some(document_id))
            })
        }) else {
            return Ok(());
        };
        if !self.insert_first_access(author).await? {
            return Ok(());
        }
        // The notice the first access would have had, had it not been hidden.
        let actor = ActorRef {
            role: row.actor_role,
            id: row.actor_id.clone(),
            name: row.actor_name.clone(),
            profession: Some(row.actor_profession.clone()).filter(|p| !p.is_empty()),
        };
        let open = Event::FirstAccess(FirstAccess::default());
        let notice = self.notice_of(&open, &actor, None)?;
        let outbox = self.outbox(&notice, Reach::Status).await?;
        self.write(vec![journal::Entry {
            event: row,
            written: true,
            outbox,
        }])
        .await
    }

    /// Records the practitioner's first access to this record; `false` if they had one.
    async fn insert_first_access(&self, rpps: &Rpps) -> Result<bool, ServiceError> {
        Ok(
            practitioner_access::Entity::insert(practitioner_access::ActiveModel {
                patient_ins: Set(self.ins.clone()),
                practitioner_rpps: Set(rpps.clone()),
                first_access_at: Set(self.now),
            })
            .on_conflict(
                OnConflict::columns([
                    practitioner_access::Column::PatientIns,
                    practitioner_access::Column::PractitionerRpps,
                ])
                .do_nothing()
                .to_owned(),
            )
            .exec_without_returning(&self.txn)
            .await?
                == 1,
        )
    }

    /// Appends `event` by `actor` to the patient's chain, and queues the notice the event calls
    /// for ([`Event::notice`]) on the channels the patient's status routes it to; live
    /// subscribers are rung after the commit.
    pub async fn record(
        &mut self,
        actor: &ActorRef,
        event: Event,
    ) -> Result<Receipt, ServiceError> {
        self.record_with(actor, event, None).await
    }

    /// [`Self::record`], for an event whose notice carries a new activation code (a creation,
    /// a reopening of a created profile, the end of a representation).
    pub async fn record_with_code(
        &mut self,
        actor: &ActorRef,
        event: Event,
        code: &ActivationCode,
    ) -> Result<Receipt, ServiceError> {
        self.record_with(actor, event, Some(&code.display())).await
    }

    async fn record_with(
        &mut self,
        actor: &ActorRef,
        event: Event,
        code: Option<&str>,
    ) -> Result<Receipt, ServiceError> {
        let entry = self.entry(actor, &event, code).await?;
        let receipt = Receipt::of(&entry.event);
        self.write(vec![entry]).await?;
        Ok(receipt)
    }

    /// Records `event` by `actor` (a reading, which queues no notice) and runs `read`, the
    /// reading it traces: on PostgreSQL, in one statement ([`journal::write_and_read`]).
    pub async fn record_and_read<E>(
        &mut self,
        actor: &ActorRef,
        event: Event,
        read: sea_orm::Select<E>,
    ) -> Result<(Receipt, Vec<E::Model>), ServiceError>
    where
        E: EntityTrait,
        E::Model: sea_orm::FromQueryResult,
    {
        let entry = self.entry(actor, &event, None).await?;
        let receipt = Receipt::of(&entry.event);
        if !entry.outbox.is_empty() {
            self.write(vec![entry]).await?;
            return Ok((receipt, read.all(&self.txn).await?));
        }
        let rows = journal::write_and_read(&self.txn, vec![entry], read.into_query()).await?;
        let models = rows
            .iter()
            .map(|row| <E::Model as sea_orm::FromQueryResult>::from_query_result(row, ""))
            .collect::<Result<_, _>>()?;
        Ok((receipt, models))
    }

    /// Records each of `events` by `actor`, in order, as [`Self::record`] does one: chained
    /// one after the other and written together (one statement on PostgreSQL).
    pub async fn record_all(
        &mut self,
        actor: &ActorRef,
        events: Vec<Event>,
    ) -> Result<Vec<Receipt>, ServiceError> {
        let mut entries = Vec::with_capacity(events.len());
        for event in &events {
            entries.push(self.entry(actor, event, None).await?);
        }
        let receipts = entries.iter().map(|e| Receipt::of(&e.event)).collect();
        self.write(entries).await?;
        Ok(receipts)
    }

    /// `event` by `actor`, chained after the head, with the outbox rows of the notice it calls
    /// for ([`Event::notice`]) on the channels the patient's status routes it to.
    async fn entry(
        &mut self,
        actor: &ActorRef,
        event: &Event,
        code: Option<&str>,
    ) -> Result<journal::Entry, ServiceError> {
        let head = match self.head.take() {
            Some(head) => Some(head),
            None => ledger::head(&self.txn, &self.ins).await?,
        };
        let row = ledger::chained(NewEvent::new(&self.ins, self.now, actor, event), head);
        self.head = Some(ChainHead {
            seq: row.seq,
            hash: row.hash.clone(),
        });
        let outbox = match event.notice() {
            NoticeAudience::Patient(reach) => {
                let notice = self.notice_of(event, actor, code)?;
                self.outbox(&notice, reach).await?
            }
            NoticeAudience::Nobody => Vec::new(),
        };
        Ok(journal::Entry {
            event: row,
            written: false,
            outbox,
        })
    }

    /// Writes `entries`; live subscribers are rung after the commit.
    async fn write(&mut self, entries: Vec<journal::Entry>) -> Result<(), ServiceError> {
        for queued in journal::write(&self.txn, entries).await? {
            if queued.channel == Channel::Live {
                self.announce_after_commit(Announcement::Notification(queued.id));
                self.ring_after_commit(Recipient::Patient(self.ins.clone()));
            }
        }
        Ok(())
    }

    /// The text of `event`'s notice, addressed to this profile as it stands.
    fn notice_of(
        &self,
        event: &Event,
        actor: &ActorRef,
        code: Option<&str>,
    ) -> Result<Notice, ServiceError> {
        let profile = self.enrolled()?;
        let to = notices::Addressee {
            first_names: &profile.first_names,
            birth_name: &profile.birth_name,
            activated: profile.status == ProfileStatus::Activated,
            activation_code: code,
        };
        notices::for_event(event, actor, to).map_err(|err| {
            ServiceError::internal(format!(
                "the notice of a {} event: {err:?}",
                event.kind().as_str()
            ))
        })
    }

    /// The outbox rows of `notice` on the channels of `reach`.
    async fn outbox(
        &self,
        notice: &Notice,
        reach: Reach,
    ) -> Result<Vec<entity::notification::ActiveModel>, ServiceError> {
        let profile = self
            .profile
            .as_ref()
            .ok_or_else(|| ServiceError::internal("a notice for a patient without profile"))?;
        let representatives = representatives_emails(&self.txn, profile, self.now).await?;
        let routing = outbox::Routing {
            status: profile.status,
            reach,
            representatives: &representatives,
        };
        Ok(outbox::rows(routing, profile, notice, self.now))
    }

    /// The receipt of `reader`'s reading of a list of the patient's own space: untraced when
    /// the reader is the patient themselves (SPEC traces what others do to the record, not the
    /// owner looking at their own space); for anyone else let in (a minor's legal
    /// representative), `event` by them, like any reading of someone else's record.
    /// Only a unit of work opened for the owner's access ([`Access::OwnRecord`],
    /// [`Access::OwnMailbox`]), or for what a profile shows in any status or none
    /// ([`Access::Enrolment`], [`Access::Any`]: the history), gives one, and an owner's receipt
    /// only to the owner.
    pub async fn space_read(
        &mut self,
        reader: &ActorRef,
        event: Event,
    ) -> Result<Receipt, ServiceError> {
        if !matches!(
            self.access,
            Access::OwnRecord | Access::OwnMailbox | Access::Enrolment | Access::Any
        ) {
            return Err(ServiceError::internal(
                "a reading of the patient's space outside the patient's own access",
            ));
        }
        if reader.role == ActorRole::Patient && reader.id == self.ins.as_str() {
            return Ok(Receipt(Trace::OwnerView));
        }
        self.record(reader, event).await
    }

    /// Rings `recipient`'s live subscribers in this process once committed.
    pub fn ring_after_commit(&mut self, recipient: Recipient) {
        if !self.ring.recipients.contains(&recipient) {
            self.ring.recipients.push(recipient);
        }
    }

    /// Tells the other replicas of `announcement` once committed (never inside the
    /// transaction: see [`crate::ports::live`]).
    pub fn announce_after_commit(&mut self, announcement: Announcement) {
        self.ring.announcements.push(announcement);
    }

    /// Commits, then rings the live subscribers (inside a batch: once the batch commits).
    pub async fn commit(self) -> Result<(), ServiceError> {
        self.txn.commit().await?;
        match &self.batch_ring {
            Some(batch) => batch
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(self.ring),
            None => self.ring.ring(self.services),
        }
        Ok(())
    }

    /// Commits, then hands out `value` with the trace of its reading.
    pub async fn commit_traced<T>(
        self,
        receipt: Receipt,
        value: T,
    ) -> Result<Traced<T>, ServiceError> {
        self.commit().await?;
        Ok(Traced {
            value,
            trace: receipt.0,
        })
    }

    /// Commits what was recorded — a refused attempt is traced too — and gives back the
    /// refusal (or the commit's failure, which is then what the client must learn).
    pub async fn refuse(self, refusal: ServiceError) -> ServiceError {
        match self.commit().await {
            Ok(()) => refusal,
            Err(failure) => failure,
        }
    }
}

/// The emails of a minor's current legal representatives (none for an adult): where their
/// notices go.
async fn representatives_emails(
    conn: &DatabaseTransaction,
    profile: &profile::Model,
    now: DateTime<Utc>,
) -> Result<Vec<String>, ServiceError> {
    if !crate::domain::minors::is_minor(profile.birth_date, now.date_naive()) {
        return Ok(Vec::new());
    }
    Ok(legal_representative::Entity::find()
        .filter(legal_representative::Column::ChildIns.eq(profile.ins.as_str()))
        .filter(legal_representative::Column::EndedAt.is_null())
        .order_by_asc(legal_representative::Column::Id)
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|r| r.email)
        .collect())
}

impl Receipt {
    fn of(event: &ledger_event::Model) -> Self {
        Self(Trace::Event {
            seq: event.seq,
            hash: event.hash.clone(),
        })
    }
}
