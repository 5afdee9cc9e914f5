//! Secure messaging in GraphQL: the practitioner sends and reads its inbox; the activated
//! patient lists, reads and replies.

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, ID, InputObject, Object, SimpleObject, Upload};
use chrono::{DateTime, Utc};

use super::documents::sent_content;
use super::guard::RoleGuard;
use super::pagination::{self, SortKey};
use super::scalars::InsScalar;
use super::types::{Actor, ActorRole};
use super::{id_of, patient, practitioner, services};
use crate::domain::ActorRole as Role;
use crate::domain::documents::encode_content;
use crate::services::messaging::{
    AttachmentInput as ServiceAttachment, Conversation, InboxKey, ListedThread, MessageView,
    NewMessage, PractitionerThread, Sent, ThreadKey,
};
use crate::services::views;

/// Who reads a thread: the unread count is theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    Patient,
    Practitioner,
}

/// A file sent along with a message.
#[derive(SimpleObject, Debug)]
#[graphql(complex)]
pub struct Attachment {
    /// Attachment id.
    pub id: ID,
    /// Title.
    pub title: String,
    /// MIME type.
    pub mime_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// SHA-256 of the content.
    pub sha256: String,
    #[graphql(skip)]
    view: views::Attachment,
}

#[ComplexObject]
impl Attachment {
    /// The content, base64-encoded, read from the content store when asked for. For large
    /// files, `contentUrl` streams the same bytes without base64.
    async fn content_base64(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        let content = services(ctx).attachment_content(&self.view).await?;
        Ok(encode_content(&content))
    }

    /// Where to download the content (`GET`, with the same bearer token): streamed, with its
    /// type, size and digest as headers.
    async fn content_url(&self) -> String {
        format!("/attachments/{}/content", self.view.id)
    }
}

impl From<views::Attachment> for Attachment {
    fn from(a: views::Attachment) -> Self {
        Self {
            id: ID(a.id.to_string()),
            title: a.title.clone(),
            mime_type: a.mime_type.clone(),
            size_bytes: a.size_bytes,
            sha256: a.sha256.clone(),
            view: a,
        }
    }
}

/// A message of a conversation.
#[derive(Debug)]
pub struct Message {
    model: views::Message,
    attachments: Vec<views::Attachment>,
}

impl From<MessageView> for Message {
    fn from(view: MessageView) -> Self {
        Self {
            model: view.message,
            attachments: view.attachments,
        }
    }
}

impl From<views::Message> for Message {
    fn from(model: views::Message) -> Self {
        Self {
            model,
            attachments: Vec::new(),
        }
    }
}

/// A message of a conversation: from the practitioner, the patient's reply, or the system's
/// bounce.
#[Object]
impl Message {
    /// Message id.
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// The conversation it belongs to.
    async fn thread_id(&self) -> ID {
        ID(self.model.thread_id.to_string())
    }
    /// Who sent it.
    async fn sender(&self) -> Actor {
        let role = self.model.sender_role.into();
        Actor {
            role,
            id: self.model.sender_id.clone(),
            name: self.model.sender_name.clone(),
            profession: None,
        }
    }
    /// Subject.
    async fn subject(&self) -> &str {
        &self.model.subject
    }
    /// Plain-text body. Null for a patient's message in what a practitioner receives without
    /// a trace — the `inbox` list's `lastMessage` and the `inbox` subscription —: reading the
    /// thread (`inboxThread`), which is in the patient's ledger, gives it.
    async fn body(&self) -> Option<&str> {
        self.model.body.as_deref()
    }
    /// Whether this is the system's answer that a message could not be delivered.
    async fn is_bounce(&self) -> bool {
        self.model.bounce
    }
    /// When it was sent.
    async fn sent_at(&self) -> DateTime<Utc> {
        self.model.sent_at
    }
    /// Attachments, with their content (empty in thread lists).
    async fn attachments(&self) -> Vec<Attachment> {
        self.attachments.iter().cloned().map(Into::into).collect()
    }
}

/// A conversation between one practitioner and one patient.
#[derive(Debug)]
pub struct Thread {
    model: views::Thread,
    reader: Reader,
    last: Option<views::Message>,
    messages: Vec<MessageView>,
}

/// A conversation between one practitioner and one patient.
#[Object]
impl Thread {
    /// Thread id.
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// Subject of the first message.
    async fn subject(&self) -> &str {
        &self.model.subject
    }
    /// The practitioner of the conversation.
    async fn practitioner(&self) -> Actor {
        Actor {
            role: ActorRole::Practitioner,
            id: self.model.practitioner_rpps.to_string(),
            name: self.model.practitioner_name.clone(),
            profession: self.model.practitioner_profession.clone(),
        }
    }
    /// The patient's INS.
    async fn patient_ins(&self) -> String {
        self.model.patient_ins.to_string()
    }
    /// False when the recipient has no profile: the messages bounced, and only the practitioner
    /// sees this thread.
    async fn delivered(&self) -> bool {
        self.model.delivered
    }
    /// Messages the reader has not read yet.
    async fn unread_count(&self) -> i32 {
        match self.reader {
            Reader::Patient => self.model.patient_unread,
            Reader::Practitioner => self.model.practitioner_unread,
        }
    }
    /// When the last message was sent.
    async fn last_message_at(&self) -> DateTime<Utc> {
        self.model.last_message_at
    }
    /// The last message (in lists).
    async fn last_message(&self) -> Option<Message> {
        self.last
            .clone()
            .map(Into::into)
            .or_else(|| self.messages.last().cloned().map(Into::into))
    }
    /// Every message, oldest first (when one thread is read).
    async fn messages(&self) -> Vec<Message> {
        self.messages.iter().cloned().map(Into::into).collect()
    }
}

impl Thread {
    fn listed(reader: Reader, (model, last): ListedThread) -> Self {
        Self {
            model,
            reader,
            last,
            messages: Vec::new(),
        }
    }

    fn read(reader: Reader, conversation: Conversation) -> Self {
        Self {
            model: conversation.thread,
            reader,
            last: None,
            messages: conversation.messages,
        }
    }
}

/// A message sent, with its thread.
#[derive(SimpleObject, Debug)]
pub struct SentMessage {
    /// The message.
    pub message: Message,
    /// Its thread.
    pub thread: Thread,
}

impl SentMessage {
    fn new(sent: Sent, reader: Reader) -> Self {
        Self {
            message: sent.message.into(),
            thread: Thread {
                model: sent.thread,
                reader,
                last: None,
                messages: Vec::new(),
            },
        }
    }
}

/// A file to send along.
#[derive(InputObject, Debug)]
pub struct AttachmentInput {
    /// Title, 1 to 200 characters.
    pub title: String,
    /// application/pdf, text/plain, text/xml (CDA), image/jpeg or image/png.
    pub mime_type: String,
    /// Content, base64-encoded: for small files. All attachments of a message together stay
    /// within the document size limit. Give this or `content`, not both.
    pub content_base64: Option<String>,
    /// The content as a file of a multipart request (the GraphQL multipart request
    /// specification; send the header `Apollo-Require-Preflight: true`), as a document's:
    /// streamed to disk, never held whole in memory. Give this or `contentBase64`, not both.
    pub content: Option<Upload>,
}

impl AttachmentInput {
    /// The services' input, with the uploaded file of the request if the content is one.
    fn into_input(self, ctx: &Context<'_>) -> async_graphql::Result<ServiceAttachment> {
        Ok(ServiceAttachment {
            content: sent_content(
                self.content_base64,
                self.content,
                ctx,
                "each attachment's content",
            )?,
            title: self.title,
            mime_type: self.mime_type,
        })
    }
}

/// A message to send.
#[derive(InputObject, Debug)]
pub struct MessageInput {
    /// Subject, 1 to 200 characters.
    pub subject: String,
    /// Plain-text body, 1 to 20 000 characters.
    pub body: String,
    /// Files sent along (at most 10).
    #[graphql(default)]
    pub attachments: Vec<AttachmentInput>,
    /// A key unique to this message for its sender: a retry returns the first result and sends
    /// nothing twice.
    pub idempotency_key: String,
}

impl SortKey for ThreadKey {
    const LIST: &'static str = "threads";
}

impl SortKey for InboxKey {
    const LIST: &'static str = "inbox";
}

/// Messaging reads.
#[derive(Debug, Default)]
pub struct MessagingQuery;

#[Object]
impl MessagingQuery {
    /// Your conversations with patients, unread first, then most recent (practitioners).
    /// Replies and bounces land here.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last thread of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Thread>> {
        let rpps = &practitioner(ctx)?.rpps;
        let services = services(ctx);
        pagination::page(
            first,
            after,
            |after, limit| services.inbox(rpps, after, limit),
            |(thread, _)| InboxKey::of(thread),
            |row| Ok(Thread::listed(Reader::Practitioner, row)),
        )
        .await
    }

    /// One of your conversations, with every message; reading marks it read (practitioners).
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn inbox_thread(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The thread's id.")] id: ID,
    ) -> async_graphql::Result<Thread> {
        let me = practitioner(ctx)?;
        let conversation = match services(ctx)
            .practitioner_read_thread(me, id_of(&id, "conversation")?)
            .await?
        {
            PractitionerThread::Delivered(traced) => traced.into_inner(),
            PractitionerThread::Undelivered(conversation) => conversation,
        };
        Ok(Thread::read(Reader::Practitioner, conversation))
    }
}

/// The patient's mailbox, in [`super::Me`].
#[derive(Debug, Default)]
pub struct MeMessages;

#[Object]
impl MeMessages {
    /// Your conversations with practitioners, most recent first. A legal representative's
    /// reading is in the minor's history (`MAILBOX_CONSULTED`).
    /// Null, with an `ACTIVATION_REQUIRED` error on this field, until the profile is activated;
    /// the other fields of `me` still answer.
    async fn threads(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last thread of the previous page.")] after: Option<String>,
    ) -> async_graphql::Result<Option<Connection<String, Thread>>> {
        let (ins, me) = patient(ctx)?;
        let services = services(ctx);
        let me = &me;
        pagination::page(
            first,
            after,
            |after, limit| async move {
                Ok(services
                    .patient_threads(me, ins, after, limit)
                    .await?
                    .into_inner())
            },
            |(thread, _)| ThreadKey::of(thread),
            |row| Ok(Thread::listed(Reader::Patient, row)),
        )
        .await
        .map(Some)
    }

    /// One of your conversations, with every message; reading marks it read (and is in your
    /// history).
    /// Null, with an error on this field, when it cannot answer: `NOT_FOUND`, or
    /// `ACTIVATION_REQUIRED` until the profile is activated; the other fields of `me` still
    /// answer.
    async fn thread(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The thread's id.")] id: ID,
    ) -> async_graphql::Result<Option<Thread>> {
        let (ins, me) = patient(ctx)?;
        let conversation = services(ctx)
            .patient_read_thread(&me, ins, id_of(&id, "conversation")?)
            .await?
            .into_inner();
        Ok(Some(Thread::read(Reader::Patient, conversation)))
    }
}

/// Messaging writes.
#[derive(Debug, Default)]
pub struct MessagingMutation;

#[Object]
impl MessagingMutation {
    /// Sends a message to a patient (practitioners). Always accepted: to a patient without a
    /// profile, a bounce comes back into your inbox, in the same thread, and nothing reaches
    /// the patient.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's INS.")] patient_ins: InsScalar,
        #[graphql(desc = "The message.")] input: MessageInput,
    ) -> async_graphql::Result<SentMessage> {
        let me = practitioner(ctx)?;
        let message = NewMessage {
            subject: input.subject,
            body: input.body,
            attachments: input
                .attachments
                .into_iter()
                .map(|a| a.into_input(ctx))
                .collect::<async_graphql::Result<_>>()?,
            idempotency_key: input.idempotency_key,
        };
        let sent = services(ctx)
            .send_message(me, &patient_ins, &message)
            .await?;
        Ok(SentMessage::new(sent, Reader::Practitioner))
    }

    /// Replies within one of your conversations (activated patients; a patient cannot start
    /// one).
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn reply_to_thread(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The thread's id.")] thread_id: ID,
        #[graphql(desc = "Plain-text body, 1 to 20 000 characters.")] body: String,
        #[graphql(desc = "A key unique to this reply: a retry sends nothing twice.")]
        idempotency_key: String,
    ) -> async_graphql::Result<SentMessage> {
        let (ins, me) = patient(ctx)?;
        let sent = services(ctx)
            .reply(
                &me,
                ins,
                id_of(&thread_id, "conversation")?,
                &body,
                &idempotency_key,
            )
            .await?;
        Ok(SentMessage::new(sent, Reader::Patient))
    }
}
