//! Secure messaging, as MSSanté works for patients: a practitioner starts a conversation, the
//! patient answers within it (`send`); each reads their threads (`mailbox`). A message to
//! someone without a profile is accepted, then bounced back to the practitioner's inbox; the
//! patient learns nothing of it. Shared here: validation and the storage of threads and
//! messages.

mod mailbox;
mod send;

use chrono::{DateTime, Utc};
use entity::{message, message_attachment, thread};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{OnConflict, Query},
};
use serde::{Deserialize, Serialize};

pub use mailbox::PractitionerThread;

use super::ServiceError;
use super::documents::{SentContent, ValidContent, read_upload};
use super::idempotency::{self, RequestHash};
use super::views::{Attachment, Message, Thread};
use crate::domain::content::ContentDigest;
use crate::domain::documents::{
    ContentError, IdempotencyKey, MimeType, decode_content, short_text,
};
use crate::domain::{ActorRef, ActorRole, Ins, Practitioner};

/// Longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 20_000;
/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 10;

/// What the system answers when a message cannot be delivered. The same for an unknown INS and
/// for an opposition: a practitioner cannot tell them apart.
pub const BOUNCE_BODY: &str = "Message non distribué : le destinataire n'a pas de profil Mon espace santé. \
Aucune donnée n'a été transmise au patient. / Undeliverable: the recipient has no Mon espace santé profile.";

/// An attachment as sent: its bytes as base64 or as a file of a multipart request, as a
/// document's.
#[derive(Debug)]
pub struct AttachmentInput {
    pub title: String,
    pub mime_type: String,
    pub content: SentContent,
}

/// A message as sent by a practitioner.
#[derive(Debug)]
pub struct NewMessage {
    pub subject: String,
    pub body: String,
    pub attachments: Vec<AttachmentInput>,
    pub idempotency_key: String,
}

/// A message with its attachments.
#[derive(Debug, Clone)]
pub struct MessageView {
    pub message: Message,
    pub attachments: Vec<Attachment>,
}

impl MessageView {
    fn of(message: message::Model, attachments: Vec<message_attachment::Model>) -> Self {
        Self {
            message: message.into(),
            attachments: attachments.into_iter().map(Into::into).collect(),
        }
    }
}

/// The result of a send: the message and its thread.
#[derive(Debug)]
pub struct Sent {
    pub message: MessageView,
    pub thread: Thread,
}

/// A thread with its messages, oldest first.
#[derive(Debug)]
pub struct Conversation {
    pub thread: Thread,
    pub messages: Vec<MessageView>,
}

/// A validated attachment: its bytes, to keep in the content store, and their digest.
#[derive(Debug)]
struct ValidFile {
    title: String,
    mime: MimeType,
    content: ValidContent,
    digest: ContentDigest,
}

/// Validated attachments.
type Files = Vec<ValidFile>;

async fn validate_attachments(
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
        let too_large = ServiceError::PayloadTooLarge {
            max_bytes: max_total,
        };
        let (content, digest) = match &input.content {
            SentContent::Base64(base64) => {
                let content = decode_content(base64, mime, remaining).map_err(|e| match e {
                    ContentError::TooLarge { .. } => too_large,
                    ContentError::Invalid(message) => {
                        ServiceError::bad_input("attachments", message)
                    }
                })?;
                let digest = ContentDigest::of(&content);
                (ValidContent::Bytes(bytes::Bytes::from(content)), digest)
            }
            SentContent::Upload(file) => {
                let (content, digest, _) = read_upload(file, mime, &title, remaining)
                    .await
                    .map_err(|e| match e {
                        ServiceError::PayloadTooLarge { .. } => too_large,
                        ServiceError::BadInput { message, .. } => {
                            ServiceError::bad_input("attachments", message)
                        }
                        other => other,
                    })?;
                (content, digest)
            }
        };
        remaining -= usize::try_from(digest.size).unwrap_or(remaining);
        files.push(ValidFile {
            title,
            mime,
            content,
            digest,
        });
    }
    Ok(files)
}

fn thread_not_found() -> ServiceError {
    ServiceError::NotFound("no such conversation in your mailbox".to_owned())
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
        .ok_or_else(|| ServiceError::internal(format!("message of a missing thread {id}")))
}

/// The earlier send of this request (the message and its thread), or `Conflict` when the key
/// was used for another message.
async fn replay(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    sender: &str,
    key: &IdempotencyKey,
    hash: &RequestHash,
) -> Result<Option<Sent>, ServiceError> {
    // The key is the sender's for this patient (PostgreSQL's unique key names the patient; on
    // SQLite a key taken for another patient fails the insert with `CONFLICT`).
    let earlier = message::Entity::find()
        .filter(message::Column::PatientIns.eq(ins.as_str()))
        .filter(message::Column::SenderId.eq(sender))
        .filter(message::Column::IdempotencyKey.eq(key.as_str()))
        .one(conn)
        .await?;
    let Some(message) =
        idempotency::replay(earlier, |m| m.request_hash.as_deref(), hash, "message")?
    else {
        return Ok(None);
    };
    let attachments = attachments_of(conn, &[message.id]).await?;
    let thread = find_thread(conn, message.thread_id).await?;
    Ok(Some(Sent {
        message: MessageView::of(message, attachments),
        thread: thread.into(),
    }))
}

/// The thread of this practitioner and this INS (delivered or not), created if needed.
async fn open_thread(
    txn: &impl ConnectionTrait,
    practitioner: &Practitioner,
    ins: &Ins,
    subject: &str,
    delivered: bool,
    now: DateTime<Utc>,
) -> Result<thread::Model, ServiceError> {
    thread::Entity::insert(thread::ActiveModel {
        id: NotSet,
        patient_ins: Set(ins.clone()),
        practitioner_rpps: Set(practitioner.rpps.clone()),
        practitioner_name: Set(practitioner.name.clone()),
        practitioner_profession: Set(Some(practitioner.profession.clone())),
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
        .filter(thread::Column::PractitionerRpps.eq(practitioner.rpps.clone()))
        .filter(thread::Column::PatientIns.eq(ins.as_str()))
        .filter(thread::Column::Delivered.eq(delivered))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or_else(|| ServiceError::internal("thread vanished after its insertion".to_owned()))
}

/// Records a new message in `thread` for the unread count of `reader`.
async fn bump(
    txn: &impl ConnectionTrait,
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
    txn: &impl ConnectionTrait,
    thread: &thread::Model,
    sender: &ActorRef,
    subject: &str,
    body: &str,
    bounce: bool,
    idempotency: Option<(&IdempotencyKey, &RequestHash)>,
    files: Files,
    now: DateTime<Utc>,
) -> Result<MessageView, ServiceError> {
    let message = message::Entity::insert(message::ActiveModel {
        id: NotSet,
        patient_ins: Set(thread.patient_ins.clone()),
        thread_id: Set(thread.id),
        sender_role: Set(sender.role),
        sender_id: Set(sender.id.clone()),
        sender_name: Set(sender.name.clone()),
        subject: Set(subject.to_owned()),
        body: Set(body.to_owned()),
        bounce: Set(bounce),
        sent_at: Set(now),
        idempotency_key: Set(idempotency.map(|(key, _)| key.as_str().to_owned())),
        request_hash: Set(idempotency.map(|(_, hash)| hash.as_str().to_owned())),
    })
    .exec_with_returning(txn)
    .await?;
    let mut attachments = Vec::with_capacity(files.len());
    for file in files {
        let row = message_attachment::ActiveModel {
            id: NotSet,
            patient_ins: Set(thread.patient_ins.clone()),
            message_id: Set(message.id),
            title: Set(file.title),
            mime_type: Set(file.mime.as_str().to_owned()),
            size_bytes: Set(file.digest.size),
            sha256: Set(file.digest.sha256),
            // The bytes are in the content store (Services::keep_files); the column holds only
            // what `espace-sante content migrate` has not moved yet.
            legacy_content: Set(Vec::new()),
        };
        attachments.push(
            message_attachment::Entity::insert(row)
                .exec_with_returning(txn)
                .await?,
        );
    }
    Ok(MessageView::of(message, attachments))
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
            MessageView::of(message, mine)
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
            (thread.into(), message.map(Into::into))
        })
        .collect())
}

/// A thread with its last message, as thread lists show it.
pub type ListedThread = (Thread, Option<Message>);

/// The sort key of the patient's thread list (most recent first): a page resumes after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadKey {
    last_message_at: DateTime<Utc>,
    id: i64,
}

impl ThreadKey {
    /// The key of `thread` in the patient's list.
    pub fn of(thread: &Thread) -> Self {
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
    pub fn of(thread: &Thread) -> Self {
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

impl super::Services {
    /// Keeps validated attachments' bytes in the content store, before the rows that reference
    /// them (see [`crate::contents`] for why in that order).
    async fn keep_files(
        &self,
        conn: &impl ConnectionTrait,
        files: &Files,
    ) -> Result<(), ServiceError> {
        for file in files {
            // The content's lock, shared, before its bytes are written (see the purge's
            // `delete_unreferenced`).
            if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
                conn.execute_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "SELECT 1 FROM pg_advisory_xact_lock_shared($1)",
                    [crate::contents::lock_key(&file.digest.sha256).into()],
                ))
                .await?;
            }
            self.keep(&file.digest, &file.content).await?;
        }
        Ok(())
    }

    /// An attachment's bytes, from the content store. Only for an attachment handed out by a
    /// traced reading of its conversation (a [`MessageView`] of a [`Conversation`] or [`Sent`]).
    pub async fn attachment_content(
        &self,
        attachment: &Attachment,
    ) -> Result<Vec<u8>, ServiceError> {
        Ok(self.contents.get(&attachment.sha256).await?)
    }
}
