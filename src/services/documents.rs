//! The DMP: practitioners feed and consult documents (each consultation traced before any data
//! leaves, the first access of each practitioner notified); the activated patient reads, adds,
//! masks, blocks, and keeps a medical profile.

use chrono::{DateTime, NaiveDate, Utc};
use entity::{
    document, document_content, medical_profile_entry, practitioner_access, practitioner_block,
    profile,
};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, ModelTrait,
    QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::OnConflict,
};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::live::Recipient;
use super::profiles::{lock_profile, status_of};
use super::{ServiceError, Services, outbox};
use crate::domain::ActorRef;
use crate::domain::documents::{
    ContentError, DocumentType, IdempotencyKey, MedicalCategory, MimeType, decode_content,
    short_text,
};
use crate::domain::{Ins, ProfileStatus, Rpps, notices};
use crate::ledger::{self, EventKind, NewEvent};

/// A document as sent by its author, before validation.
#[derive(Debug, Clone)]
pub struct DocumentInput {
    pub type_system: String,
    pub type_code: String,
    pub title: String,
    pub mime_type: String,
    pub content_base64: String,
    pub act_date: NaiveDate,
    pub idempotency_key: String,
}

/// A validated document.
#[derive(Debug)]
struct ValidDocument {
    doc_type: DocumentType,
    title: String,
    mime: MimeType,
    content: Vec<u8>,
    sha256: String,
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

/// A document with its bytes.
#[derive(Debug)]
pub struct DocumentWithContent {
    pub document: document::Model,
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

/// Checks a document's fields and decodes its content (size checked before decoding).
fn validate(
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
    let content = decode_content(&input.content_base64, mime, max_bytes).map_err(|e| match e {
        ContentError::TooLarge { max_bytes } => ServiceError::PayloadTooLarge { max_bytes },
        ContentError::Invalid(message) => ServiceError::bad_input("contentBase64", message),
    })?;
    let sha256 = format!("{:x}", Sha256::digest(&content));
    Ok(ValidDocument {
        doc_type,
        title,
        mime,
        content,
        sha256,
        act_date: input.act_date,
        key,
    })
}

/// Identifies a request for idempotency: the same key with another payload is a conflict.
fn request_hash(ins: &str, doc: &ValidDocument) -> String {
    let mut hasher = Sha256::new();
    for part in [
        ins,
        doc.doc_type.code,
        &doc.title,
        doc.mime.as_str(),
        &doc.sha256,
        &doc.act_date.to_string(),
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// Inserts a document and its content.
async fn insert_document(
    txn: &DatabaseTransaction,
    ins: &Ins,
    author: &ActorRef,
    doc: ValidDocument,
    request_hash: String,
    now: DateTime<Utc>,
) -> Result<document::Model, ServiceError> {
    let row = document::ActiveModel {
        id: NotSet,
        patient_ins: Set(ins.to_string()),
        author_role: Set(author.role.as_str().to_owned()),
        author_id: Set(author.id.clone()),
        author_name: Set(author.name.clone()),
        author_profession: Set(author.profession.clone()),
        type_code: Set(doc.doc_type.code.to_owned()),
        title: Set(doc.title),
        mime_type: Set(doc.mime.as_str().to_owned()),
        size_bytes: Set(doc.content.len() as i64),
        sha256: Set(doc.sha256),
        act_date: Set(doc.act_date),
        created_at: Set(now),
        masked: Set(false),
        idempotency_key: Set(doc.key.as_str().to_owned()),
        request_hash: Set(request_hash),
    };
    let stored = document::Entity::insert(row)
        .exec_with_returning(txn)
        .await?;
    document_content::Entity::insert(document_content::ActiveModel {
        document_id: Set(stored.id),
        content: Set(doc.content),
    })
    .exec_without_returning(txn)
    .await?;
    Ok(stored)
}

/// The earlier result of the same request, or `Conflict` when the key was used for another.
async fn replay(
    conn: &impl ConnectionTrait,
    author_id: &str,
    key: &IdempotencyKey,
    request_hash: &str,
) -> Result<Option<document::Model>, ServiceError> {
    let earlier = document::Entity::find()
        .filter(document::Column::AuthorId.eq(author_id))
        .filter(document::Column::IdempotencyKey.eq(key.as_str()))
        .one(conn)
        .await?;
    match earlier {
        Some(doc) if doc.request_hash == request_hash => Ok(Some(doc)),
        Some(_) => Err(ServiceError::Conflict(
            "this idempotency key was already used for a different document".to_owned(),
        )),
        None => Ok(None),
    }
}

/// The profile, locked, if the patient has a DMP; `DmpNotFound` otherwise, whatever the reason.
async fn lock_dmp(
    txn: &DatabaseTransaction,
    ins: &Ins,
) -> Result<(profile::Model, ProfileStatus), ServiceError> {
    let Some(profile) = lock_profile(txn, ins).await? else {
        return Err(ServiceError::DmpNotFound);
    };
    let status = status_of(&profile)?;
    if !status.has_dmp() {
        return Err(ServiceError::DmpNotFound);
    }
    Ok((profile, status))
}

/// The profile of an activated patient, locked; `ActivationRequired` while only created.
async fn lock_activated(
    txn: &DatabaseTransaction,
    ins: &Ins,
) -> Result<profile::Model, ServiceError> {
    let (profile, status) = lock_dmp(txn, ins).await?;
    match status {
        ProfileStatus::Activated => Ok(profile),
        _ => Err(ServiceError::ActivationRequired),
    }
}

fn document_not_found() -> ServiceError {
    ServiceError::NotFound("no such document in this record".to_owned())
}

impl Services {
    /// Feeds a document into a patient's DMP (practitioners). Stored, traced and notified when
    /// the patient has a DMP; `DmpNotFound` otherwise, with nothing stored and nobody notified.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.id))]
    pub async fn feed_document(
        &self,
        practitioner: &ActorRef,
        ins: &Ins,
        input: &DocumentInput,
    ) -> Result<document::Model, ServiceError> {
        let now = self.clock.now();
        let doc = validate(input, self.policy.max_document_bytes, now.date_naive())?;
        let hash = request_hash(ins.as_str(), &doc);
        let txn = self.db.begin().await?;
        let (profile, status) = match lock_dmp(&txn, ins).await {
            Ok(found) => found,
            Err(ServiceError::DmpNotFound) => {
                // For operations, not for any patient's ledger; the INS is not logged.
                tracing::info!("document feed refused: DMP inexistant");
                return Err(ServiceError::DmpNotFound);
            }
            Err(other) => return Err(other),
        };
        // Under the patient's lock, so that two retries of the same request cannot both pass.
        if let Some(earlier) = replay(&txn, &practitioner.id, &doc.key, &hash).await? {
            return Ok(earlier);
        }
        let type_code = doc.doc_type.code;
        let stored = insert_document(&txn, ins, practitioner, doc, hash, now).await?;
        let fed = ledger::append(
            &txn,
            NewEvent::new(
                ins,
                now,
                practitioner,
                EventKind::DocumentFed,
                json!({ "documentId": stored.id, "typeCode": type_code }),
            ),
        )
        .await?;
        let notice = notices::new_document(
            &practitioner.name,
            practitioner.profession.as_deref(),
            status == ProfileStatus::Activated,
        );
        outbox::enqueue(&txn, &fed, status, &profile, &notice, now).await?;
        txn.commit().await?;
        self.live.wake(&Recipient::Patient(ins.to_string()));
        Ok(stored)
    }

    /// Whether a practitioner may feed this INS: the same answer for unknown and opposed.
    pub async fn dmp_status(&self, ins: &Ins) -> Result<DmpStatus, ServiceError> {
        let profile = profile::Entity::find_by_id(ins.as_str())
            .one(&self.db)
            .await?;
        let exists = match profile {
            Some(profile) => status_of(&profile)?.has_dmp(),
            None => false,
        };
        Ok(if exists {
            DmpStatus::Exists
        } else {
            DmpStatus::NotFound
        })
    }

    /// The checks and traces before a practitioner reads anything of a record: the DMP exists,
    /// the practitioner is not blocked (a refused attempt is traced and committed), and the
    /// first access is traced and notified.
    async fn open_record_for(
        &self,
        practitioner: &ActorRef,
        ins: &Ins,
        now: DateTime<Utc>,
    ) -> Result<DatabaseTransaction, ServiceError> {
        let txn = self.db.begin().await?;
        let (profile, status) = lock_dmp(&txn, ins).await?;
        let blocked =
            practitioner_block::Entity::find_by_id((ins.to_string(), practitioner.id.clone()))
                .one(&txn)
                .await?
                .is_some();
        if blocked {
            ledger::append(
                &txn,
                NewEvent::new(
                    ins,
                    now,
                    practitioner,
                    EventKind::AccessRefusedBlocked,
                    json!({}),
                ),
            )
            .await?;
            txn.commit().await?;
            return Err(ServiceError::Forbidden(
                "the patient has blocked your access to their record".to_owned(),
            ));
        }
        let first = practitioner_access::Entity::insert(practitioner_access::ActiveModel {
            patient_ins: Set(ins.to_string()),
            practitioner_rpps: Set(practitioner.id.clone()),
            first_access_at: Set(now),
        })
        .on_conflict(
            OnConflict::columns([
                practitioner_access::Column::PatientIns,
                practitioner_access::Column::PractitionerRpps,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?
            == 1;
        if first {
            let access = ledger::append(
                &txn,
                NewEvent::new(ins, now, practitioner, EventKind::FirstAccess, json!({})),
            )
            .await?;
            let notice = notices::first_access(
                &practitioner.name,
                practitioner.profession.as_deref(),
                status == ProfileStatus::Activated,
            );
            outbox::enqueue(&txn, &access, status, &profile, &notice, now).await?;
        }
        Ok(txn)
    }

    /// A practitioner consults the list of a record's documents. The consultation is in the
    /// ledger, committed, before the list is returned.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.id))]
    pub async fn consult_record(
        &self,
        practitioner: &ActorRef,
        ins: &Ins,
        query: &DocumentQuery,
    ) -> Result<Vec<document::Model>, ServiceError> {
        let now = self.clock.now();
        let txn = self.open_record_for(practitioner, ins, now).await?;
        ledger::append(
            &txn,
            NewEvent::new(
                ins,
                now,
                practitioner,
                EventKind::RecordConsulted,
                json!({
                    "typeCode": query.type_code,
                    "actedFrom": query.acted_from.map(|d| d.to_string()),
                    "actedTo": query.acted_to.map(|d| d.to_string()),
                }),
            ),
        )
        .await?;
        let documents = list_documents(&txn, ins, Some(&practitioner.id), query).await?;
        txn.commit().await?;
        self.live.wake(&Recipient::Patient(ins.to_string()));
        Ok(documents)
    }

    /// A practitioner reads one document of a record. An id of another record, or of a document
    /// the patient masked, is `NotFound`.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.id))]
    pub async fn consult_document(
        &self,
        practitioner: &ActorRef,
        ins: &Ins,
        document_id: i64,
    ) -> Result<DocumentWithContent, ServiceError> {
        let now = self.clock.now();
        let txn = self.open_record_for(practitioner, ins, now).await?;
        let document = document::Entity::find_by_id(document_id)
            .filter(document::Column::PatientIns.eq(ins.as_str()))
            .one(&txn)
            .await?
            .filter(|d| !d.masked || d.author_id == practitioner.id)
            .ok_or_else(document_not_found)?;
        let read = read_document(&txn, ins, now, practitioner, document).await?;
        txn.commit().await?;
        self.live.wake(&Recipient::Patient(ins.to_string()));
        Ok(read)
    }

    /// The activated patient's documents, masked ones included.
    pub async fn patient_documents(
        &self,
        ins: &Ins,
        query: &DocumentQuery,
    ) -> Result<Vec<document::Model>, ServiceError> {
        let txn = self.db.begin().await?;
        lock_activated(&txn, ins).await?;
        let documents = list_documents(&txn, ins, None, query).await?;
        txn.commit().await?;
        Ok(documents)
    }

    /// The activated patient reads one of their documents (traced like any reading).
    pub async fn patient_document(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        document_id: i64,
    ) -> Result<DocumentWithContent, ServiceError> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        lock_activated(&txn, ins).await?;
        let document = find_own_document(&txn, ins, document_id).await?;
        let read = read_document(&txn, ins, now, patient, document).await?;
        txn.commit().await?;
        Ok(read)
    }

    /// The activated patient adds a document of their own.
    #[tracing::instrument(skip_all)]
    pub async fn add_own_document(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        input: &DocumentInput,
    ) -> Result<document::Model, ServiceError> {
        let now = self.clock.now();
        let doc = validate(input, self.policy.max_document_bytes, now.date_naive())?;
        let hash = request_hash(ins.as_str(), &doc);
        let txn = self.db.begin().await?;
        lock_activated(&txn, ins).await?;
        if let Some(earlier) = replay(&txn, &patient.id, &doc.key, &hash).await? {
            return Ok(earlier);
        }
        let type_code = doc.doc_type.code;
        let stored = insert_document(&txn, ins, patient, doc, hash, now).await?;
        ledger::append(
            &txn,
            NewEvent::new(
                ins,
                now,
                patient,
                EventKind::DocumentAdded,
                json!({ "documentId": stored.id, "typeCode": type_code }),
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(stored)
    }

    /// Masks (or unmasks) a document from practitioners other than its author. Setting the
    /// state it already has changes nothing and traces nothing.
    #[tracing::instrument(skip_all)]
    pub async fn set_masked(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        document_id: i64,
        masked: bool,
    ) -> Result<document::Model, ServiceError> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        lock_activated(&txn, ins).await?;
        let document = find_own_document(&txn, ins, document_id).await?;
        if document.masked == masked {
            return Ok(document);
        }
        let mut row = document.into_active_model();
        row.masked = Set(masked);
        let updated = row.update(&txn).await?;
        let kind = if masked {
            EventKind::DocumentMasked
        } else {
            EventKind::DocumentUnmasked
        };
        ledger::append(
            &txn,
            NewEvent::new(
                ins,
                now,
                patient,
                kind,
                json!({ "documentId": document_id }),
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(updated)
    }

    /// Blocks (or unblocks) a practitioner from consulting the record.
    #[tracing::instrument(skip_all)]
    pub async fn set_blocked(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        rpps: &Rpps,
        blocked: bool,
    ) -> Result<bool, ServiceError> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        lock_activated(&txn, ins).await?;
        let key = (ins.to_string(), rpps.to_string());
        let existing = practitioner_block::Entity::find_by_id(key)
            .one(&txn)
            .await?;
        let kind = match (existing, blocked) {
            (None, true) => {
                practitioner_block::Entity::insert(practitioner_block::ActiveModel {
                    patient_ins: Set(ins.to_string()),
                    practitioner_rpps: Set(rpps.to_string()),
                    blocked_at: Set(now),
                })
                .exec_without_returning(&txn)
                .await?;
                EventKind::PractitionerBlocked
            }
            (Some(block), false) => {
                block.delete(&txn).await?;
                EventKind::PractitionerUnblocked
            }
            _ => return Ok(blocked),
        };
        ledger::append(
            &txn,
            NewEvent::new(
                ins,
                now,
                patient,
                kind,
                json!({ "practitionerRpps": rpps.as_str() }),
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(blocked)
    }

    /// The practitioners the patient blocked, most recent first.
    pub async fn blocked_practitioners(
        &self,
        ins: &Ins,
    ) -> Result<Vec<practitioner_block::Model>, ServiceError> {
        Ok(practitioner_block::Entity::find()
            .filter(practitioner_block::Column::PatientIns.eq(ins.as_str()))
            .order_by_desc(practitioner_block::Column::BlockedAt)
            .all(&self.db)
            .await?)
    }

    /// The activated patient's medical profile.
    pub async fn medical_profile(
        &self,
        ins: &Ins,
    ) -> Result<Vec<medical_profile_entry::Model>, ServiceError> {
        let txn = self.db.begin().await?;
        lock_activated(&txn, ins).await?;
        let entries = medical_profile_entry::Entity::find()
            .filter(medical_profile_entry::Column::PatientIns.eq(ins.as_str()))
            .order_by_asc(medical_profile_entry::Column::Id)
            .all(&txn)
            .await?;
        txn.commit().await?;
        Ok(entries)
    }

    /// Adds (`entry_id` none) or replaces an entry of the medical profile.
    #[tracing::instrument(skip_all)]
    pub async fn save_medical_entry(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        entry_id: Option<i64>,
        input: &MedicalEntryInput,
    ) -> Result<medical_profile_entry::Model, ServiceError> {
        let label = short_text(&input.label, "the label", 200)
            .map_err(|e| ServiceError::bad_input("label", e.to_string()))?;
        let details = input
            .details
            .as_deref()
            .filter(|d| !d.trim().is_empty())
            .map(|d| short_text(d, "the details", 2000))
            .transpose()
            .map_err(|e| ServiceError::bad_input("details", e.to_string()))?;
        let now = self.clock.now();
        if input
            .since
            .is_some_and(|since| !(earliest_date()..=now.date_naive()).contains(&since))
        {
            return Err(ServiceError::bad_input(
                "since",
                "the date must be between 1900 and today",
            ));
        }
        let txn = self.db.begin().await?;
        lock_activated(&txn, ins).await?;
        let (saved, action) = match entry_id {
            None => {
                let row = medical_profile_entry::ActiveModel {
                    id: NotSet,
                    patient_ins: Set(ins.to_string()),
                    category: Set(input.category.as_str().to_owned()),
                    label: Set(label),
                    details: Set(details),
                    since: Set(input.since),
                    created_at: Set(now),
                    updated_at: Set(now),
                };
                (
                    medical_profile_entry::Entity::insert(row)
                        .exec_with_returning(&txn)
                        .await?,
                    "ADDED",
                )
            }
            Some(id) => {
                let mut row = find_medical_entry(&txn, ins, id).await?.into_active_model();
                row.category = Set(input.category.as_str().to_owned());
                row.label = Set(label);
                row.details = Set(details);
                row.since = Set(input.since);
                row.updated_at = Set(now);
                (row.update(&txn).await?, "UPDATED")
            }
        };
        // The ledger says what changed, not the medical content itself.
        ledger::append(
            &txn,
            NewEvent::new(
                ins,
                now,
                patient,
                EventKind::MedicalProfileUpdated,
                json!({
                    "action": action, "entryId": saved.id, "category": saved.category,
                }),
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(saved)
    }

    /// Removes an entry of the medical profile.
    #[tracing::instrument(skip_all)]
    pub async fn remove_medical_entry(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        entry_id: i64,
    ) -> Result<(), ServiceError> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        lock_activated(&txn, ins).await?;
        let entry = find_medical_entry(&txn, ins, entry_id).await?;
        let category = entry.category.clone();
        entry.delete(&txn).await?;
        ledger::append(
            &txn,
            NewEvent::new(
                ins,
                now,
                patient,
                EventKind::MedicalProfileUpdated,
                json!({
                    "action": "REMOVED", "entryId": entry_id, "category": category,
                }),
            ),
        )
        .await?;
        txn.commit().await?;
        Ok(())
    }
}

/// Lists a record's documents, newest first. `visible_to` is a practitioner: masked documents
/// are then left out unless they wrote them.
async fn list_documents(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    visible_to: Option<&str>,
    query: &DocumentQuery,
) -> Result<Vec<document::Model>, ServiceError> {
    let mut select = document::Entity::find()
        .filter(document::Column::PatientIns.eq(ins.as_str()))
        .order_by_desc(document::Column::Id);
    if let Some(practitioner) = visible_to {
        select = select.filter(
            sea_orm::Condition::any()
                .add(document::Column::Masked.eq(false))
                .add(document::Column::AuthorId.eq(practitioner)),
        );
    }
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
    Ok(select.limit(query.limit).all(conn).await?)
}

async fn find_own_document(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    id: i64,
) -> Result<document::Model, ServiceError> {
    document::Entity::find_by_id(id)
        .filter(document::Column::PatientIns.eq(ins.as_str()))
        .one(conn)
        .await?
        .ok_or_else(document_not_found)
}

async fn find_medical_entry(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    id: i64,
) -> Result<medical_profile_entry::Model, ServiceError> {
    medical_profile_entry::Entity::find_by_id(id)
        .filter(medical_profile_entry::Column::PatientIns.eq(ins.as_str()))
        .one(conn)
        .await?
        .ok_or_else(|| ServiceError::NotFound("no such entry in your medical profile".to_owned()))
}

/// Traces the reading of a document, then loads its bytes.
async fn read_document(
    txn: &DatabaseTransaction,
    ins: &Ins,
    now: DateTime<Utc>,
    reader: &ActorRef,
    document: document::Model,
) -> Result<DocumentWithContent, ServiceError> {
    ledger::append(
        txn,
        NewEvent::new(
            ins,
            now,
            reader,
            EventKind::DocumentConsulted,
            json!({ "documentId": document.id }),
        ),
    )
    .await?;
    let content = document_content::Entity::find_by_id(document.id)
        .one(txn)
        .await?
        .ok_or_else(|| {
            ServiceError::internal(format!("document {} has no content", document.id))
        })?;
    Ok(DocumentWithContent {
        document,
        content: content.content,
    })
}
