//! The DMP: practitioners feed (`feed`) and consult (`access`) documents, each consultation
//! traced before any data leaves and the first access of each practitioner notified; the
//! activated patient reads, adds and masks (`patient`), blocks practitioners (`blocks`) and
//! keeps a medical profile (`medical`). Shared here: the document's validation, its storage
//! and the traced reading of its bytes.

mod access;
mod blocks;
mod care;
mod feed;
pub use feed::FeedOptions;
mod medical;
mod patient;
pub(crate) mod visibility;

pub use care::{EmergencyAudit, REASON_CHARS};

use bytes::Bytes;
use chrono::NaiveDate;
use entity::{document, ledger_event, practitioner_access};
use sea_orm::sea_query::{
    Alias, Asterisk, CommonTableExpression, Expr, OnConflict, Order, Query, WithClause,
};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, TryInsertResult,
};

use super::ServiceError;
use super::idempotency::{self, RequestHash};
use super::patient_tx::{FirstAccessBy, PatientTx, Receipt};
use super::views::Document;
use super::{Services, Traced};
use crate::domain::content::{ChunkedDigest, ContentDigest, TitleDigest, title_digest};
use crate::domain::documents::{
    ContentError, DocumentType, FormatCheck, IdempotencyKey, MedicalCategory, MimeType,
    decode_content, short_text,
};
use crate::domain::events::{DocumentConsulted, FirstAccess, RecordConsulted};
use crate::domain::visibility::{Reader, SpaceFacts, Viewer};
use crate::domain::{ActorRef, Event, Ins, Practitioner};

/// A document as sent by its author, before validation.
#[derive(Debug)]
pub struct DocumentInput {
    pub type_system: String,
    pub type_code: String,
    pub title: String,
    pub mime_type: String,
    pub content: SentContent,
    pub act_date: NaiveDate,
    pub idempotency_key: String,
}

/// A document's bytes as sent.
#[derive(Debug)]
pub enum SentContent {
    /// Base64 in the JSON body: small documents.
    Base64(String),
    /// A file of a multipart request (the GraphQL multipart request specification), received
    /// to disk within the size limit: never held whole in memory.
    Upload(std::fs::File),
}

/// Validated bytes (a document's, an attachment's), to keep in the content store
/// ([`Services::keep`]).
#[derive(Debug)]
pub(crate) enum ValidContent {
    Bytes(Bytes),
    File(tokio::fs::File),
}

/// A validated document.
#[derive(Debug)]
struct ValidDocument {
    doc_type: DocumentType,
    title: String,
    mime: MimeType,
    content: ValidContent,
    sha256: String,
    size: i64,
    /// The digest that binds the title into the chain (it takes the bytes in).
    title_digest: ContentDigest,
    act_date: NaiveDate,
    key: IdempotencyKey,
}

/// Filters and page of a document list, newest first.
#[derive(Debug, Default, Clone)]
pub struct DocumentQuery {
    pub type_code: Option<String>,
    pub acted_from: Option<NaiveDate>,
    pub acted_to: Option<NaiveDate>,
    /// Only documents with an id below this one (the cursor of the previous page).
    pub before_id: Option<i64>,
    pub limit: u64,
}

impl DocumentQuery {
    /// What the ledger records of a list's reading: its filters.
    fn traced(&self, emergency: bool) -> Event {
        Event::RecordConsulted(RecordConsulted {
            type_code: self.type_code.clone(),
            acted_from: self.acted_from,
            acted_to: self.acted_to,
            emergency,
        })
    }
}

/// A document with its bytes.
#[derive(Debug)]
pub struct DocumentWithContent {
    pub document: Document,
    pub content: Vec<u8>,
}

/// Whether a practitioner can feed a patient's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmpStatus {
    Exists,
    NotFound,
}

/// A medical profile entry as typed by the patient.
#[derive(Debug, Clone)]
pub struct MedicalEntryInput {
    pub category: MedicalCategory,
    pub label: String,
    pub details: Option<String>,
    pub since: Option<NaiveDate>,
}

/// The earliest date a document or a medical-profile entry may bear.
fn earliest_date() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// Checks a document's fields and its content (size checked before decoding; an upload read
/// once from disk, in chunks, for its size, format and digests).
async fn validate(
    input: &DocumentInput,
    max_bytes: usize,
    today: NaiveDate,
) -> Result<ValidDocument, ServiceError> {
    let bad = |field: &'static str| {
        move |e: crate::domain::ParseError| ServiceError::bad_input(field, e.to_string())
    };
    let mime = MimeType::parse(&input.mime_type).map_err(bad("mimeType"))?;
    // The cheap checks first; the content last, as it is the costly one.
    let doc_type =
        DocumentType::parse(&input.type_system, &input.type_code).map_err(bad("type"))?;
    let title = short_text(&input.title, "the title", 200).map_err(bad("title"))?;
    let key = IdempotencyKey::parse(&input.idempotency_key).map_err(bad("idempotencyKey"))?;
    if !(earliest_date()..=today).contains(&input.act_date) {
        return Err(ServiceError::bad_input(
            "actDate",
            "the date of the act must be between 1900 and today",
        ));
    }
    let (content, digest, title_digest) = match &input.content {
        SentContent::Base64(base64) => {
            let content = decode_content(base64, mime, max_bytes).map_err(|e| match e {
                ContentError::TooLarge { max_bytes } => ServiceError::PayloadTooLarge { max_bytes },
                ContentError::Invalid(message) => ServiceError::bad_input("contentBase64", message),
            })?;
            let digest = ContentDigest::of(&content);
            let title_digest = title_digest(&title, &content);
            (
                ValidContent::Bytes(Bytes::from(content)),
                digest,
                title_digest,
            )
        }
        SentContent::Upload(file) => read_upload(file, mime, &title, max_bytes).await?,
    };
    Ok(ValidDocument {
        doc_type,
        title,
        mime,
        content,
        sha256: digest.sha256,
        size: digest.size,
        title_digest,
        act_date: input.act_date,
        key,
    })
}

impl ValidDocument {
    /// Its bytes, to keep once its row is stored, and their digest.
    fn take_content(&mut self) -> (ContentDigest, ValidContent) {
        let content = std::mem::replace(&mut self.content, ValidContent::Bytes(Bytes::new()));
        (ContentDigest::known(&self.sha256, self.size), content)
    }
}

/// Reads an uploaded file once, in chunks: its size against the limit, its format, its digest
/// and its title's; then rewinds it for the store.
pub(crate) async fn read_upload(
    file: &std::fs::File,
    mime: MimeType,
    title: &str,
    max_bytes: usize,
) -> Result<(ValidContent, ContentDigest, ContentDigest), ServiceError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let unreadable = |err: std::io::Error| ServiceError::internal_from("reading an upload", err);
    let mut file = tokio::fs::File::from_std(file.try_clone().map_err(unreadable)?);
    file.seek(std::io::SeekFrom::Start(0))
        .await
        .map_err(unreadable)?;
    let (mut digest, mut title_digest) = (ChunkedDigest::default(), TitleDigest::new(title));
    let mut format = FormatCheck::new(mime);
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let read = file.read(&mut chunk).await.map_err(unreadable)?;
        if read == 0 {
            break;
        }
        digest.update(&chunk[..read]);
        title_digest.update(&chunk[..read]);
        format.update(&chunk[..read]);
    }
    let digest = digest.finish();
    if usize::try_from(digest.size).unwrap_or(usize::MAX) > max_bytes {
        return Err(ServiceError::PayloadTooLarge { max_bytes });
    }
    if digest.size == 0 {
        return Err(ServiceError::bad_input("content", "the content is empty"));
    }
    if !format.finish() {
        return Err(ServiceError::bad_input(
            "content",
            format!("the content is not a {} document", mime.as_str()),
        ));
    }
    file.seek(std::io::SeekFrom::Start(0))
        .await
        .map_err(unreadable)?;
    Ok((ValidContent::File(file), digest, title_digest.finish()))
}

/// Identifies a request for idempotency: the same key with another payload is a conflict.
fn request_hash(ins: &Ins, doc: &ValidDocument) -> RequestHash {
    RequestHash::of([
        ins.as_str(),
        doc.doc_type.code,
        &doc.title,
        doc.mime.as_str(),
        &doc.sha256,
        &doc.act_date.to_string(),
    ])
}

/// A document stored by [`store_document`].
enum Stored {
    /// Stored now: the caller traces it.
    Now(document::Model),
    /// Stored by an earlier try of the same request: nothing to store or trace again.
    Before(document::Model),
}

/// Who stores a document, for what [`store_document`] learns of the record on the way.
#[derive(Debug, Clone, Copy)]
enum Storer<'a> {
    /// The patient, in their own space.
    Patient,
    /// A practitioner's feed, open or hidden (held back, or secret from the representatives):
    /// it may be their first access to the record ([`PatientTx::first_access_event`]).
    Practitioner(&'a Practitioner, bool),
}

/// Stores a document by `author` in the patient's record, once per idempotency key; for a
/// practitioner's feed, also gives the first-access event the feed is, if it is one.
///
/// Its bytes are already in the content store ([`Services::keep`]). On PostgreSQL that is one
/// statement after the lock (data-modifying `WITH`): the document, the practitioner's first access (recorded unless the feed is hidden) and the
/// chain's head, which the events recorded next then do not read again. The lock was taken
/// before, so the statement's snapshot sees every event committed before it. On SQLite (no
/// data-modifying `WITH`), a statement each.
async fn store_document(
    tx: &mut PatientTx<'_>,
    author: &ActorRef,
    doc: ValidDocument,
    options: FeedOptions,
    storer: Storer<'_>,
) -> Result<(Stored, Option<Event>), ServiceError> {
    let mut hash = request_hash(tx.ins(), &doc);
    // A feed restricted to fewer readers is another request than the same document fed openly.
    if options.held_back {
        hash = RequestHash::of([hash.as_str(), "held-back"]);
    }
    if options.secret_from_representatives {
        hash = RequestHash::of([hash.as_str(), "secret-from-representatives"]);
    }
    let lock = crate::contents::lock_key(&doc.sha256);
    let row = document::ActiveModel {
        id: NotSet,
        patient_ins: Set(tx.ins().clone()),
        author_role: Set(author.role),
        author_id: Set(author.id.clone()),
        author_name: Set(author.name.clone()),
        author_profession: Set(author.profession.clone()),
        type_code: Set(doc.doc_type.code.to_owned()),
        title: Set(doc.title),
        mime_type: Set(doc.mime.as_str().to_owned()),
        size_bytes: Set(doc.size),
        sha256: Set(doc.sha256.clone()),
        act_date: Set(doc.act_date),
        created_at: Set(tx.now()),
        masked: Set(false),
        held_back: Set(options.held_back),
        released_at: Set(None),
        secret_from_representatives: Set(options.secret_from_representatives),
        idempotency_key: Set(doc.key.as_str().to_owned()),
        request_hash: Set(hash.as_str().to_owned()),
    };
    // Insert first, look for the earlier document only when the key is taken: a new feed (the
    // common case) costs no look-up (docs/src/performance.md). A concurrent feed with the same
    // key is waited for by the insert, then read back here and replayed or refused like any
    // earlier one.
    let stored = if tx.conn().get_database_backend() == DbBackend::Postgres {
        let Some((stored, first)) = store_in_one_statement(tx, row, lock, storer).await? else {
            return replay(tx, author, &doc.key, &hash).await;
        };
        let first = match storer {
            Storer::Practitioner(_, hidden) if first => Some(first_access(hidden, stored.id)),
            _ => None,
        };
        return Ok((Stored::Now(stored), first));
    } else {
        // SQLite's idempotency key is still the author's across patients (its constraint
        // stays: the migration keys_by_patient), stricter than PostgreSQL's.
        let inserted = document::Entity::insert(row)
            .on_conflict_do_nothing_on([
                document::Column::AuthorId,
                document::Column::IdempotencyKey,
            ])
            .exec_with_returning(tx.conn())
            .await;
        match inserted {
            Ok(TryInsertResult::Inserted(stored)) => stored,
            Ok(TryInsertResult::Conflicted | TryInsertResult::Empty)
            | Err(DbErr::RecordNotFound(_)) => return replay(tx, author, &doc.key, &hash).await,
            Err(err) => return Err(err.into()),
        }
    };
    let first = match storer {
        Storer::Patient => None,
        Storer::Practitioner(practitioner, hidden) => {
            let by = if hidden {
                FirstAccessBy::HiddenFeed(stored.id)
            } else {
                FirstAccessBy::Open
            };
            tx.first_access_event(practitioner, by).await?
        }
    };
    Ok((Stored::Now(stored), first))
}

/// The first-access event of a feed (hidden like the feed: see [`FirstAccessBy`]).
fn first_access(hidden: bool, document_id: i64) -> Event {
    Event::FirstAccess(FirstAccess {
        hidden_feed: hidden.then_some(document_id),
    })
}

/// The document stored earlier under the same key: replayed if it is the same request,
/// refused if another.
async fn replay(
    tx: &PatientTx<'_>,
    author: &ActorRef,
    key: &IdempotencyKey,
    hash: &RequestHash,
) -> Result<(Stored, Option<Event>), ServiceError> {
    let earlier = document::Entity::find()
        .filter(document::Column::PatientIns.eq(tx.ins().as_str()))
        .filter(document::Column::AuthorId.eq(author.id.as_str()))
        .filter(document::Column::IdempotencyKey.eq(key.as_str()))
        .one(tx.conn())
        .await?;
    match idempotency::replay(earlier, |d| Some(&d.request_hash), hash, "document")? {
        Some(earlier) => Ok((Stored::Before(earlier), None)),
        // SQLite's key is still the author's across patients (the migration keys_by_patient):
        // the key is taken by a document of another patient, so this is another request.
        None => Err(ServiceError::Conflict(
            "this idempotency key was already used for a different document".to_owned(),
        )),
    }
}

/// PostgreSQL's store ([`store_document`]): the stored document and whether the feed is the
/// practitioner's first access; `None` when the key was taken.
async fn store_in_one_statement(
    tx: &mut PatientTx<'_>,
    row: document::ActiveModel,
    lock: i64,
    storer: Storer<'_>,
) -> Result<Option<(document::Model, bool)>, ServiceError> {
    let stored = Alias::new("doc");
    let mut insert = document::Entity::insert(row).into_query();
    insert
        .on_conflict(
            // PostgreSQL's idempotency key names the patient (docs/src/scale.md).
            OnConflict::columns([
                document::Column::PatientIns,
                document::Column::AuthorId,
                document::Column::IdempotencyKey,
            ])
            .do_nothing()
            .to_owned(),
        )
        .returning_all();
    let mut with = WithClause::new();
    with.cte(
        CommonTableExpression::new()
            .query(insert)
            .table_name(stored.clone())
            .to_owned(),
    );
    let (ins, now) = (tx.ins().clone(), tx.now());
    let first = match storer {
        Storer::Patient => Expr::val(false),
        // An open feed records the first access (if it is one) with the document.
        Storer::Practitioner(practitioner, false) => {
            let mut access = Query::insert();
            access
                .into_table(practitioner_access::Entity)
                .columns([
                    practitioner_access::Column::PatientIns,
                    practitioner_access::Column::PractitionerRpps,
                    practitioner_access::Column::FirstAccessAt,
                ])
                .select_from(
                    Query::select()
                        .expr(Expr::val(ins.as_str()))
                        .expr(Expr::val(practitioner.rpps.as_str()))
                        .expr(Expr::val(now))
                        .from(stored.clone())
                        .to_owned(),
                )
                .map_err(|err| ServiceError::internal(format!("the access insert: {err}")))?
                .on_conflict(
                    OnConflict::columns([
                        practitioner_access::Column::PatientIns,
                        practitioner_access::Column::PractitionerRpps,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                .returning_col(practitioner_access::Column::PatientIns);
            with.cte(
                CommonTableExpression::new()
                    .query(access)
                    .table_name(Alias::new("access"))
                    .to_owned(),
            );
            Expr::exists(
                Query::select()
                    .expr(Expr::val(1))
                    .from(Alias::new("access"))
                    .to_owned(),
            )
        }
        // A hidden one does not record it yet: it only asks whether there is one.
        Storer::Practitioner(practitioner, true) => Expr::not_exists(
            Query::select()
                .expr(Expr::val(1))
                .from(practitioner_access::Entity)
                .and_where(practitioner_access::Column::PatientIns.eq(ins.as_str()))
                .and_where(
                    practitioner_access::Column::PractitionerRpps.eq(practitioner.rpps.as_str()),
                )
                .to_owned(),
        ),
    };
    let head = |column: ledger_event::Column| {
        Expr::SubQuery(
            None,
            Box::new(
                Query::select()
                    .column(column)
                    .from(ledger_event::Entity)
                    .and_where(ledger_event::Column::PatientIns.eq(ins.as_str()))
                    .order_by(ledger_event::Column::Seq, Order::Desc)
                    .limit(1)
                    .to_owned()
                    .into(),
            ),
        )
    };
    // The content's lock, shared, before its bytes are written (crate::services::retention).
    let held = Expr::cust_with_values("(SELECT 1 FROM pg_advisory_xact_lock_shared($1))", [lock]);
    let select = Query::select()
        .column(Asterisk)
        .expr_as(held, Alias::new("content_held"))
        .expr_as(first, Alias::new("first_access"))
        .expr_as(head(ledger_event::Column::Seq), Alias::new("head_seq"))
        .expr_as(head(ledger_event::Column::Hash), Alias::new("head_hash"))
        .from(stored)
        .to_owned();
    let Some(row) = tx
        .conn()
        .query_one_raw(DbBackend::Postgres.build(&select.with(with)))
        .await?
    else {
        return Ok(None);
    };
    let head_seq: Option<i64> = row.try_get("", "head_seq")?;
    let head_hash: Option<String> = row.try_get("", "head_hash")?;
    tx.knows_head(head_seq.zip(head_hash));
    let first: bool = row.try_get("", "first_access")?;
    Ok(Some((document::Model::from_query_result(&row, "")?, first)))
}

fn document_not_found() -> ServiceError {
    ServiceError::NotFound("no such document in this record".to_owned())
}

/// What the rules of the patient's space read of a stored document.
fn space_facts(document: &document::Model) -> SpaceFacts<'_> {
    SpaceFacts {
        author_id: &document.author_id,
        held_back: document.held_back,
        secret_from_representatives: document.secret_from_representatives,
    }
}

/// Who a document list is for.
#[derive(Debug, Clone, Copy)]
enum Audience<'a> {
    /// A practitioner ([`visibility::visible_to`]).
    Practitioner(&'a Reader),
    /// The patient's own space, read by the patient or a representative
    /// ([`visibility::visible_in_space`]).
    Space(Viewer),
}

/// Lists the documents of a record that `audience` may see, newest first.
async fn list_documents(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    audience: Audience<'_>,
    query: &DocumentQuery,
) -> Result<Vec<Document>, ServiceError> {
    let rows = documents_page(ins, audience, query).all(conn).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The select of the page of a record's documents that `audience` may see, newest first.
fn documents_page(
    ins: &Ins,
    audience: Audience<'_>,
    query: &DocumentQuery,
) -> sea_orm::Select<document::Entity> {
    let mut select = document::Entity::find()
        .filter(document::Column::PatientIns.eq(ins.as_str()))
        .order_by_desc(document::Column::Id);
    select = select.filter(match audience {
        Audience::Practitioner(reader) => visibility::visible_to(reader),
        Audience::Space(viewer) => visibility::visible_in_space(viewer),
    });
    if let Some(code) = &query.type_code {
        select = select.filter(document::Column::TypeCode.eq(code.as_str()));
    }
    if let Some(from) = query.acted_from {
        select = select.filter(document::Column::ActDate.gte(from));
    }
    if let Some(to) = query.acted_to {
        select = select.filter(document::Column::ActDate.lte(to));
    }
    if let Some(before) = query.before_id {
        select = select.filter(document::Column::Id.lt(before));
    }
    select.limit(query.limit)
}

/// A document of the patient's space that `viewer` (the patient or a representative) may see;
/// `NotFound` for any other (another record's, or one hidden from them: the same answer).
async fn find_visible_document(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    id: i64,
    viewer: Viewer,
) -> Result<document::Model, ServiceError> {
    document::Entity::find_by_id(id)
        .filter(document::Column::PatientIns.eq(ins.as_str()))
        .one(conn)
        .await?
        .filter(|d| crate::domain::visibility::may_see(viewer, space_facts(d)))
        .ok_or_else(document_not_found)
}

/// Traces the reading of a document by `reader`, with `emergency: true` when a practitioner
/// reads it under an emergency access. Its bytes are loaded once the trace is committed
/// ([`Services::with_content`]).
async fn trace_reading(
    tx: &mut PatientTx<'_>,
    reader: &ActorRef,
    document: &document::Model,
    emergency: bool,
) -> Result<Receipt, ServiceError> {
    let consulted = DocumentConsulted {
        document_id: document.id,
        emergency,
    };
    tx.record(reader, Event::DocumentConsulted(consulted)).await
}

impl Services {
    /// Keeps a validated document's bytes in the content store, in the transaction that stores
    /// its row, once its checks passed (a refused request stores nothing) and before it commits
    /// (see [`crate::contents`]); on PostgreSQL the store's statement took the content's lock
    /// first (see `delete_unreferenced`). An upload goes from disk in parts.
    pub(crate) async fn keep(
        &self,
        digest: &ContentDigest,
        content: &ValidContent,
    ) -> Result<(), ServiceError> {
        match content {
            ValidContent::Bytes(bytes) => self.contents.put(digest, bytes.clone()).await?,
            ValidContent::File(file) => {
                let file = file
                    .try_clone()
                    .await
                    .map_err(|err| ServiceError::internal_from("reading an upload", err))?;
                self.contents.put_file(digest, file).await?;
            }
        }
        Ok(())
    }

    /// A document whose reading is traced and committed, with its bytes from the store.
    pub(crate) async fn with_content(
        &self,
        read: Traced<Document>,
    ) -> Result<Traced<DocumentWithContent>, ServiceError> {
        let content = self.contents.get(&read.value().sha256).await?;
        Ok(read.map(|document| DocumentWithContent { document, content }))
    }
}
