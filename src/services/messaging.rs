//! Secure messaging, as MSSanté works for patients: a practitioner starts a conversation, the
//! patient answers within it. A message to someone without a profile is accepted, then bounced
//! back to the practitioner's inbox; the patient learns nothing of it.

use chrono::{DateTime, Utc};
use entity::{message, message_attachment, thread};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, TransactionTrait,
    sea_query::{Expr, OnConflict, Query},
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::profiles::{lock_profile, status_of};
use super::{ServiceError, Services, outbox};
use crate::auth::{ActorRef, ActorRole};
use crate::domain::documents::{
    ContentError, IdempotencyKey, MimeType, decode_content, short_text,
};
use crate::domain::{Ins, ProfileStatus, notices};
use crate::ledger::{self, EventKind, NewEvent};
use crate::notify::live::{self, Recipient};

/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 10;

/// What the system answers when a message cannot be delivered. The same for an unknown INS and
/// for an opposition: a practitioner cannot tell them apart.
pub const BOUNCE_BODY: &str = "Message non distribué : le destinataire n'a pas de profil Mon espace santé. \
Aucune donnée n'a été transmise au patient. / Undeliverable: the recipient has no Mon espace santé profile.";

/// An attachment as sent.
#[derive(Debug, Clone)]
pub struct AttachmentInput {
    pub title: String,
    pub mime_type: String,
    pub content_base64: String,
}

/// A message as sent by a practitioner.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub subject: String,
    pub body: String,
    pub attachments: Vec<AttachmentInput>,
    pub idempotency_key: String,
}

/// A message with its attachments.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub message: message::Model,
    pub attachments: Vec<message_attachment::Model>,
}

/// The result of a send: the message and its thread.
#[derive(Debug)]
pub struct Sent {
    pub message: MessageView,
    pub thread: thread::Model,
}

/// A thread with its messages, oldest first.
#[derive(Debug)]
pub struct Conversation {
    pub thread: thread::Model,
    pub messages: Vec<MessageView>,
}

/// Validated attachments: (title, mime, content, sha256).
type Files = Vec<(String, MimeType, Vec<u8>, String)>;

fn validate_attachments(
    inputs: &[AttachmentInput],
    max_total: usize,
) -> Result<Files, ServiceError> {
    if inputs.len() > MAX_ATTACHMENTS {
        return Err(ServiceError::bad_input(
            "attachments",
            format!("at most {MAX_ATTACHMENTS} attachments"),
        ));
    }
    let mut remaining = max_total;
    let mut files = Vec::with_capacity(inputs.len());
    for input in inputs {
        let bad =
            |e: crate::domain::ParseError| ServiceError::bad_input("attachments", e.to_string());
        let title = short_text(&input.title, "an attachment's title", 200).map_err(bad)?;
        let mime = MimeType::parse(&input.mime_type).map_err(bad)?;
        // Attachments share one limit: each is checked against what the others left.
        let content =
            decode_content(&input.content_base64, mime, remaining).map_err(|e| match e {
                ContentError::TooLarge { .. } => ServiceError::PayloadTooLarge {
                    max_bytes: max_total,
                },
                ContentError::Invalid(message) => ServiceError::bad_input("attachments", message),
            })?;
        remaining -= content.len();
        let sha256 = format!("{:x}", Sha256::digest(&content));
        files.push((title, mime, content, sha256));
    }
    Ok(files)
}

fn request_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

fn thread_not_found() -> ServiceError {
    ServiceError::NotFound("no such conversation in your mailbox".to_owned())
}

impl Services {
    /// A practitioner sends a message to a patient. Delivered and notified when the patient has a
    /// profile (created or activated); otherwise accepted and bounced back into the
    /// practitioner's inbox, with nothing stored for the patient.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.id))]
    pub async fn send_message(
        &self,
        practitioner: &ActorRef,
        ins: &Ins,
        input: &NewMessage,
    ) -> Result<Sent, ServiceError> {
        let subject = short_text(&input.subject, "the subject", 200)
            .map_err(|e| ServiceError::bad_input("subject", e.to_string()))?;
        let body = message_body(&input.body)?;
        let key = IdempotencyKey::parse(&input.idempotency_key)
            .map_err(|e| ServiceError::bad_input("idempotencyKey", e.to_string()))?;
        let files = validate_attachments(&input.attachments, self.policy.max_document_bytes)?;
        let mut parts = vec![ins.as_str(), subject.as_str(), body.as_str()];
        parts.extend(files.iter().map(|(_, _, _, sha)| sha.as_str()));
        let hash = request_hash(&parts);

        let now = self.clock.now();
        let txn = self.db.begin().await?;
        // Locks in a fixed order, the patient's then the sender's inbox (as replies do): the
        // replay check below is then safe from a concurrent retry, and a bounce's id commits in
        // the order of the inbox feed.
        let profile = lock_profile(&txn, ins).await?;
        live::lock_inbox(&txn, &practitioner.id).await?;
        if let Some(earlier) = replay(&txn, &practitioner.id, &key, &hash).await? {
            let thread = find_thread(&txn, earlier.message.thread_id).await?;
            return Ok(Sent {
                message: earlier,
                thread,
            });
        }
        let status = profile.as_ref().map(status_of).transpose()?;
        let delivered = status.is_some_and(ProfileStatus::has_dmp);
        let thread = open_thread(&txn, practitioner, ins, &subject, delivered, now).await?;
        let sent = insert_message(
            &txn,
            &thread,
            practitioner,
            &subject,
            &body,
            false,
            Some((&key, &hash)),
            files,
            now,
        )
        .await?;
        let thread = if let (Some(profile), Some(status), true) = (&profile, status, delivered) {
            let received = ledger::append(
                &txn,
                NewEvent::new(
                    ins,
                    now,
                    practitioner,
                    EventKind::MessageReceived,
                    json!({ "threadId": thread.id, "messageId": sent.message.id }),
                ),
            )
            .await?;
            let notice = notices::new_message(
                &practitioner.name,
                practitioner.profession.as_deref(),
                status == ProfileStatus::Activated,
            );
            outbox::enqueue(&txn, &received, status, profile, &notice, now).await?;
            bump(&txn, thread, now, ActorRole::Patient).await?
        } else {
            // Not in any patient's ledger; logged for operations without the INS.
            tracing::info!(
                "message undeliverable: no Mon espace santé profile; bounced to the sender"
            );
            let system = ActorRef::system();
            let bounce = insert_message(
                &txn,
                &thread,
                &system,
                &format!("Non distribué : {subject}"),
                BOUNCE_BODY,
                true,
                None,
                Vec::new(),
                now,
            )
            .await?;
            live::notify_in_transaction(&txn, 'm', bounce.message.id).await?;
            bump(&txn, thread, now, ActorRole::Practitioner).await?
        };
        txn.commit().await?;
        self.live.wake(&if delivered {
            Recipient::Patient(ins.to_string())
        } else {
            Recipient::Practitioner(practitioner.id.clone())
        });
        Ok(Sent {
            message: sent,
            thread,
        })
    }

    /// The activated patient's threads, most recent first, `limit` of them after `after`
    /// (`ActivationRequired` before activation).
    pub async fn patient_threads(
        &self,
        ins: &Ins,
        after: Option<ThreadKey>,
        limit: u64,
    ) -> Result<Vec<ListedThread>, ServiceError> {
        let txn = self.db.begin().await?;
        require_activated(&txn, ins).await?;
        let threads = thread::Entity::find()
            .filter(thread::Column::PatientIns.eq(ins.as_str()))
            .filter(thread::Column::Delivered.eq(true))
            .apply_if(after, |query, after| query.filter(after.rows_after()))
            .order_by_desc(thread::Column::LastMessageAt)
            .order_by_desc(thread::Column::Id)
            .limit(limit)
            .all(&txn)
            .await?;
        let with_last = with_last_messages(&txn, threads).await?;
        txn.commit().await?;
        Ok(with_last)
    }

    /// The activated patient reads a thread: it is marked read, and the reading is traced.
    #[tracing::instrument(skip_all)]
    pub async fn patient_read_thread(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        thread_id: i64,
    ) -> Result<Conversation, ServiceError> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        require_activated(&txn, ins).await?;
        let thread = patient_thread(&txn, ins, thread_id).await?;
        let mut row = thread.into_active_model();
        row.patient_unread = Set(0);
        let thread = row.update(&txn).await?;
        ledger::append(
            &txn,
            NewEvent::new(
                ins,
                now,
                patient,
                EventKind::ThreadRead,
                json!({ "threadId": thread_id }),
            ),
        )
        .await?;
        let messages = thread_messages(&txn, thread_id).await?;
        txn.commit().await?;
        Ok(Conversation { thread, messages })
    }

    /// The activated patient replies within one of their threads (never starts one).
    #[tracing::instrument(skip_all)]
    pub async fn reply(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        thread_id: i64,
        body: &str,
        key: &str,
    ) -> Result<Sent, ServiceError> {
        let body = message_body(body)?;
        let key = IdempotencyKey::parse(key)
            .map_err(|e| ServiceError::bad_input("idempotencyKey", e.to_string()))?;
        let hash = request_hash(&[ins.as_str(), &thread_id.to_string(), &body]);
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        require_activated(&txn, ins).await?;
        if let Some(earlier) = replay(&txn, &patient.id, &key, &hash).await? {
            let thread = find_thread(&txn, earlier.message.thread_id).await?;
            return Ok(Sent {
                message: earlier,
                thread,
            });
        }
        let thread = patient_thread(&txn, ins, thread_id).await?;
        live::lock_inbox(&txn, &thread.practitioner_rpps).await?;
        let subject = format!("Re : {}", thread.subject);
        let sent = insert_message(
            &txn,
            &thread,
            patient,
            &subject,
            &body,
            false,
            Some((&key, &hash)),
            Vec::new(),
            now,
        )
        .await?;
        let thread = bump(&txn, thread, now, ActorRole::Practitioner).await?;
        ledger::append(
            &txn,
            NewEvent::new(
                ins,
                now,
                patient,
                EventKind::MessageReplied,
                json!({ "threadId": thread_id, "messageId": sent.message.id }),
            ),
        )
        .await?;
        live::notify_in_transaction(&txn, 'm', sent.message.id).await?;
        txn.commit().await?;
        self.live
            .wake(&Recipient::Practitioner(thread.practitioner_rpps.clone()));
        Ok(Sent {
            message: sent,
            thread,
        })
    }

    /// A practitioner's threads: those with unread messages first, then most recent; `limit`
    /// of them after `after`.
    pub async fn inbox(
        &self,
        rpps: &str,
        after: Option<InboxKey>,
        limit: u64,
    ) -> Result<Vec<ListedThread>, ServiceError> {
        let unread_first: Expr = Expr::case(thread::Column::PractitionerUnread.gt(0), 1)
            .finally(0)
            .into();
        let threads = thread::Entity::find()
            .filter(thread::Column::PractitionerRpps.eq(rpps))
            .apply_if(after, |query, after| query.filter(after.rows_after()))
            .order_by_desc(unread_first)
            .order_by_desc(thread::Column::LastMessageAt)
            .order_by_desc(thread::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        with_last_messages(&self.db, threads).await
    }

    /// A practitioner reads one of their threads, which marks it read.
    pub async fn practitioner_read_thread(
        &self,
        practitioner: &ActorRef,
        thread_id: i64,
    ) -> Result<Conversation, ServiceError> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let thread = thread::Entity::find_by_id(thread_id)
            .filter(thread::Column::PractitionerRpps.eq(practitioner.id.as_str()))
            .one(&txn)
            .await?
            .ok_or_else(thread_not_found)?;
        // A practitioner reading what a patient wrote is in the patient's ledger, like any
        // reading of their data (an undelivered thread holds nothing of a patient's).
        if thread.delivered {
            let ins = Ins::parse(&thread.patient_ins)
                .map_err(|e| ServiceError::Internal(format!("stored INS is invalid: {e}")))?;
            if lock_profile(&txn, &ins).await?.is_some() {
                ledger::append(
                    &txn,
                    NewEvent::new(
                        &ins,
                        now,
                        practitioner,
                        EventKind::ThreadRead,
                        json!({ "threadId": thread_id }),
                    ),
                )
                .await?;
            }
        }
        let mut row = thread.into_active_model();
        row.practitioner_unread = Set(0);
        let thread = row.update(&txn).await?;
        let messages = thread_messages(&txn, thread_id).await?;
        txn.commit().await?;
        Ok(Conversation { thread, messages })
    }
}

fn message_body(body: &str) -> Result<String, ServiceError> {
    let body = body.trim();
    if body.is_empty() || body.chars().count() > MAX_BODY_CHARS {
        return Err(ServiceError::bad_input(
            "body",
            format!("a message has 1 to {MAX_BODY_CHARS} characters"),
        ));
    }
    if body
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ServiceError::bad_input(
            "body",
            "a message is plain text, without control characters",
        ));
    }
    Ok(body.to_owned())
}

/// The patient's profile must be activated to read and reply.
async fn require_activated(txn: &DatabaseTransaction, ins: &Ins) -> Result<(), ServiceError> {
    let Some(profile) = lock_profile(txn, ins).await? else {
        return Err(ServiceError::NotFound(
            "no Mon espace santé profile for this INS".to_owned(),
        ));
    };
    match status_of(&profile)? {
        ProfileStatus::Activated => Ok(()),
        ProfileStatus::Created => Err(ServiceError::ActivationRequired),
        status => Err(ServiceError::InvalidTransition {
            message: format!("a profile that is {status} has no mailbox"),
            status,
        }),
    }
}

async fn patient_thread(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    thread_id: i64,
) -> Result<thread::Model, ServiceError> {
    thread::Entity::find_by_id(thread_id)
        .filter(thread::Column::PatientIns.eq(ins.as_str()))
        .filter(thread::Column::Delivered.eq(true))
        .one(conn)
        .await?
        .ok_or_else(thread_not_found)
}

async fn find_thread(conn: &impl ConnectionTrait, id: i64) -> Result<thread::Model, ServiceError> {
    thread::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::Internal(format!("message of a missing thread {id}")))
}

/// The earlier message sent with this key, or `Conflict` when the key was used for another.
async fn replay(
    conn: &impl ConnectionTrait,
    sender: &str,
    key: &IdempotencyKey,
    hash: &str,
) -> Result<Option<MessageView>, ServiceError> {
    let earlier = message::Entity::find()
        .filter(message::Column::SenderId.eq(sender))
        .filter(message::Column::IdempotencyKey.eq(key.as_str()))
        .one(conn)
        .await?;
    match earlier {
        Some(message) if message.request_hash.as_deref() == Some(hash) => {
            let attachments = attachments_of(conn, &[message.id]).await?;
            Ok(Some(MessageView {
                message,
                attachments,
            }))
        }
        Some(_) => Err(ServiceError::Conflict(
            "this idempotency key was already used for a different message".to_owned(),
        )),
        None => Ok(None),
    }
}

/// The thread of this practitioner and this INS (delivered or not), created if needed.
async fn open_thread(
    txn: &DatabaseTransaction,
    practitioner: &ActorRef,
    ins: &Ins,
    subject: &str,
    delivered: bool,
    now: DateTime<Utc>,
) -> Result<thread::Model, ServiceError> {
    thread::Entity::insert(thread::ActiveModel {
        id: NotSet,
        patient_ins: Set(ins.to_string()),
        practitioner_rpps: Set(practitioner.id.clone()),
        practitioner_name: Set(practitioner.name.clone()),
        practitioner_profession: Set(practitioner.profession.clone()),
        subject: Set(subject.to_owned()),
        delivered: Set(delivered),
        created_at: Set(now),
        last_message_at: Set(now),
        patient_unread: Set(0),
        practitioner_unread: Set(0),
    })
    .on_conflict(
        OnConflict::columns([
            thread::Column::PractitionerRpps,
            thread::Column::PatientIns,
            thread::Column::Delivered,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    thread::Entity::find()
        .filter(thread::Column::PractitionerRpps.eq(practitioner.id.as_str()))
        .filter(thread::Column::PatientIns.eq(ins.as_str()))
        .filter(thread::Column::Delivered.eq(delivered))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| ServiceError::Internal("thread vanished after its insertion".to_owned()))
}

/// Records a new message in `thread` for the unread count of `reader`.
async fn bump(
    txn: &DatabaseTransaction,
    thread: thread::Model,
    now: DateTime<Utc>,
    reader: ActorRole,
) -> Result<thread::Model, ServiceError> {
    let (patient_unread, practitioner_unread) = (thread.patient_unread, thread.practitioner_unread);
    let mut row = thread.into_active_model();
    row.last_message_at = Set(now);
    match reader {
        ActorRole::Patient => row.patient_unread = Set(patient_unread + 1),
        _ => row.practitioner_unread = Set(practitioner_unread + 1),
    }
    Ok(row.update(txn).await?)
}

#[expect(clippy::too_many_arguments, reason = "a message has that many parts")]
async fn insert_message(
    txn: &DatabaseTransaction,
    thread: &thread::Model,
    sender: &ActorRef,
    subject: &str,
    body: &str,
    bounce: bool,
    idempotency: Option<(&IdempotencyKey, &str)>,
    files: Files,
    now: DateTime<Utc>,
) -> Result<MessageView, ServiceError> {
    let message = message::Entity::insert(message::ActiveModel {
        id: NotSet,
        thread_id: Set(thread.id),
        sender_role: Set(sender.role.as_str().to_owned()),
        sender_id: Set(sender.id.clone()),
        sender_name: Set(sender.name.clone()),
        subject: Set(subject.to_owned()),
        body: Set(body.to_owned()),
        bounce: Set(bounce),
        sent_at: Set(now),
        idempotency_key: Set(idempotency.map(|(key, _)| key.as_str().to_owned())),
        request_hash: Set(idempotency.map(|(_, hash)| hash.to_owned())),
    })
    .exec_with_returning(txn)
    .await?;
    let mut attachments = Vec::with_capacity(files.len());
    for (title, mime, content, sha256) in files {
        let row = message_attachment::ActiveModel {
            id: NotSet,
            message_id: Set(message.id),
            title: Set(title),
            mime_type: Set(mime.as_str().to_owned()),
            size_bytes: Set(content.len() as i64),
            sha256: Set(sha256),
            content: Set(content),
        };
        attachments.push(
            message_attachment::Entity::insert(row)
                .exec_with_returning(txn)
                .await?,
        );
    }
    Ok(MessageView {
        message,
        attachments,
    })
}

async fn attachments_of(
    conn: &impl ConnectionTrait,
    message_ids: &[i64],
) -> Result<Vec<message_attachment::Model>, ServiceError> {
    Ok(message_attachment::Entity::find()
        .filter(message_attachment::Column::MessageId.is_in(message_ids.iter().copied()))
        .order_by_asc(message_attachment::Column::Id)
        .all(conn)
        .await?)
}

async fn thread_messages(
    conn: &impl ConnectionTrait,
    thread_id: i64,
) -> Result<Vec<MessageView>, ServiceError> {
    let messages = message::Entity::find()
        .filter(message::Column::ThreadId.eq(thread_id))
        .order_by_asc(message::Column::Id)
        .all(conn)
        .await?;
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    let mut attachments = attachments_of(conn, &ids).await?;
    Ok(messages
        .into_iter()
        .map(|message| {
            let mine = attachments
                .extract_if(.., |a| a.message_id == message.id)
                .collect();
            MessageView {
                message,
                attachments: mine,
            }
        })
        .collect())
}

/// Pairs each thread with its last message, read in one query: the messages whose id is the
/// largest of their thread.
async fn with_last_messages(
    conn: &impl ConnectionTrait,
    threads: Vec<thread::Model>,
) -> Result<Vec<ListedThread>, ServiceError> {
    if threads.is_empty() {
        return Ok(Vec::new());
    }
    let last_ids = Query::select()
        .expr(message::Column::Id.max())
        .from(message::Entity)
        .and_where(message::Column::ThreadId.is_in(threads.iter().map(|t| t.id)))
        .group_by_col(message::Column::ThreadId)
        .to_owned();
    let mut last = message::Entity::find()
        .filter(message::Column::Id.in_subquery(last_ids))
        .all(conn)
        .await?;
    Ok(threads
        .into_iter()
        .map(|thread| {
            let message = last
                .iter()
                .position(|m| m.thread_id == thread.id)
                .map(|i| last.swap_remove(i));
            (thread, message)
        })
        .collect())
}

/// A thread with its last message, as thread lists show it.
pub type ListedThread = (thread::Model, Option<message::Model>);

/// The sort key of the patient's thread list (most recent first): a page resumes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadKey {
    last_message_at: DateTime<Utc>,
    id: i64,
}

impl ThreadKey {
    /// The key of `thread` in the patient's list.
    pub fn of(thread: &thread::Model) -> Self {
        Self {
            last_message_at: thread.last_message_at,
            id: thread.id,
        }
    }

    /// The threads after this one, in `last_message_at` then `id` descending order.
    fn rows_after(self) -> Condition {
        Condition::any()
            .add(thread::Column::LastMessageAt.lt(self.last_message_at))
            .add(
                Condition::all()
                    .add(thread::Column::LastMessageAt.eq(self.last_message_at))
                    .add(thread::Column::Id.lt(self.id)),
            )
    }
}

/// The sort key of a practitioner's inbox (threads with unread messages first, then most
/// recent): a page resumes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxKey {
    unread: bool,
    #[serde(flatten)]
    thread: ThreadKey,
}

impl InboxKey {
    /// The key of `thread` in its practitioner's inbox.
    pub fn of(thread: &thread::Model) -> Self {
        Self {
            unread: thread.practitioner_unread > 0,
            thread: ThreadKey::of(thread),
        }
    }

    /// The threads after this one in the inbox's order.
    fn rows_after(self) -> Condition {
        let read = thread::Column::PractitionerUnread.eq(0);
        if self.unread {
            Condition::any().add(read).add(self.thread.rows_after())
        } else {
            Condition::all().add(read).add(self.thread.rows_after())
        }
    }
}
