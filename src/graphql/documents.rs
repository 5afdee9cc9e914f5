//! The DMP in GraphQL: feeding and consulting for practitioners, the patient's documents,
//! masking, blocking and medical profile.

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject, Upload};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::error::bad_user_input;
use super::guard::RoleGuard;
use super::pagination::{self, SortKey};
use super::scalars::{InsScalar, RppsScalar};
use super::types::Actor;
use super::{id_of, patient, practitioner, services};
use crate::domain::ActorRole as Role;
use crate::domain::documents::{
    DocumentType, LOINC, MedicalCategory as DomainCategory, encode_content,
};
use crate::services::Traced;
use crate::services::documents::{
    DmpStatus as DomainDmpStatus, DocumentInput, DocumentQuery as Filter, DocumentWithContent,
    FeedOptions, MedicalEntryInput, SentContent,
};
use crate::services::views;

/// Whether a practitioner can feed a patient's DMP.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "DomainDmpStatus")]
pub enum DmpStatus {
    /// The patient has a DMP: documents and messages can be sent.
    Exists,
    /// No DMP for this INS (the reason is not told): do not offer to feed it.
    NotFound,
}

/// A category of the medical profile.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "DomainCategory")]
pub enum MedicalCategory {
    /// An allergy or intolerance.
    Allergy,
    /// A current treatment.
    Treatment,
    /// Medical or surgical history.
    History,
    /// A vaccination.
    Vaccination,
}

/// A coded value (a document type: LOINC).
#[derive(SimpleObject, Debug)]
pub struct Coding {
    /// Code system (`http://loinc.org`).
    pub system: String,
    /// Code.
    pub code: String,
    /// Display name, in French.
    pub display: String,
}

/// A coded value, as sent.
#[derive(InputObject, Debug)]
pub struct CodingInput {
    /// Code system: `http://loinc.org`.
    pub system: String,
    /// A LOINC code of the DMP's document-type value set, e.g. `11488-4` (consultation report).
    pub code: String,
    /// Ignored: the server holds the display names of its value set.
    pub display: Option<String>,
}

/// A document to store.
#[derive(InputObject, Debug)]
#[graphql(name = "DocumentInput")]
pub struct DocumentInputGql {
    /// Document type (LOINC).
    #[graphql(name = "type")]
    pub doc_type: CodingInput,
    /// Title, 1 to 200 characters.
    pub title: String,
    /// application/pdf, text/plain, text/xml (CDA), image/jpeg or image/png.
    pub mime_type: String,
    /// The content, base64-encoded, for small documents; at most the configured size once
    /// decoded (20 MiB by default). Give this or `content`, not both.
    pub content_base64: Option<String>,
    /// The content as a file of a multipart request (the GraphQL multipart request
    /// specification, which Apollo, urql and the usual clients speak; send the header
    /// `Apollo-Require-Preflight: true`): streamed to disk within the size limit, never held
    /// whole in memory. Give this or `contentBase64`, not both.
    pub content: Option<Upload>,
    /// Date of the act the document reports.
    pub act_date: NaiveDate,
    /// A key unique to this document for its author (a UUID): a retry with the same key returns
    /// the first result and stores nothing twice.
    pub idempotency_key: String,
}

/// The bytes an input gives (a document's, an attachment's, `what` in the error): as base64 or
/// as the uploaded file of the request, one or the other.
pub(super) fn sent_content(
    base64: Option<String>,
    upload: Option<Upload>,
    ctx: &Context<'_>,
    what: &str,
) -> async_graphql::Result<SentContent> {
    match (base64, upload) {
        (Some(base64), None) => Ok(SentContent::Base64(base64)),
        (None, Some(upload)) => Ok(SentContent::Upload(upload.value(ctx)?.content)),
        _ => Err(bad_user_input(format!(
            "give {what} either as contentBase64 or as an uploaded file (content), not both and \
             not neither"
        ))),
    }
}

impl DocumentInputGql {
    /// The services' input, with the uploaded file of the request if the content is one.
    fn into_input(self, ctx: &Context<'_>) -> async_graphql::Result<DocumentInput> {
        let content = sent_content(self.content_base64, self.content, ctx, "the content")?;
        Ok(DocumentInput {
            type_system: self.doc_type.system,
            type_code: self.doc_type.code,
            title: self.title,
            mime_type: self.mime_type,
            content,
            act_date: self.act_date,
            idempotency_key: self.idempotency_key,
        })
    }
}

/// Who may see a document a practitioner feeds.
#[derive(InputObject, Debug, Default)]
pub struct DocumentVisibilityInput {
    /// Held back from the patient until an announcement consultation: the patient neither sees
    /// it nor is notified until its author releases it (`releaseDocument`).
    #[graphql(default)]
    pub held_back_until_announced: bool,
    /// Secret from the minor's legal representatives (the minor's right to secrecy, art.
    /// L1111-5 CSP): they never see it nor a notice of it (so no notice is sent). For a patient
    /// without current representatives (an adult), there is no one to keep it from: the
    /// document is fed and notified as any other.
    #[graphql(default)]
    pub secret_from_representatives: bool,
}

/// A document of a DMP. `contentBase64` is given only when one document is read.
#[derive(Debug)]
pub struct Document {
    model: views::Document,
    content: Option<Vec<u8>>,
}

impl From<views::Document> for Document {
    fn from(model: views::Document) -> Self {
        Self {
            model,
            content: None,
        }
    }
}

impl From<Traced<DocumentWithContent>> for Document {
    fn from(read: Traced<DocumentWithContent>) -> Self {
        let read = read.into_inner();
        Self {
            model: read.document,
            content: Some(read.content),
        }
    }
}

/// A document of a DMP.
#[Object]
impl Document {
    /// Document id.
    async fn id(&self) -> ID {
        ID(self.model.id.to_string())
    }
    /// Document type (LOINC).
    #[graphql(name = "type")]
    async fn doc_type(&self) -> Coding {
        Coding {
            system: LOINC.to_owned(),
            code: self.model.type_code.clone(),
            display: DocumentType::from_code(&self.model.type_code)
                .map(|t| t.display)
                .unwrap_or_default()
                .to_owned(),
        }
    }
    /// Title.
    async fn title(&self) -> &str {
        &self.model.title
    }
    /// MIME type.
    async fn mime_type(&self) -> &str {
        &self.model.mime_type
    }
    /// Size of the content, in bytes.
    async fn size_bytes(&self) -> i64 {
        self.model.size_bytes
    }
    /// SHA-256 of the content, lowercase hex.
    async fn sha256(&self) -> &str {
        &self.model.sha256
    }
    /// Date of the act.
    async fn act_date(&self) -> NaiveDate {
        self.model.act_date
    }
    /// When the document was stored.
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }
    /// Who wrote it.
    async fn author(&self) -> Actor {
        Actor {
            role: self.model.author_role.into(),
            id: self.model.author_id.clone(),
            name: self.model.author_name.clone(),
            profession: self.model.author_profession.clone(),
        }
    }
    /// Whether the patient masked it from practitioners other than its author, the médecin
    /// traitant and an emergency access.
    async fn masked(&self) -> bool {
        self.model.masked
    }
    /// Whether it is held back from the patient until an announcement consultation (then the
    /// patient neither sees it nor was notified; its author releases it).
    async fn held_back(&self) -> bool {
        self.model.held_back
    }
    /// Whether it is secret from the minor's legal representatives.
    async fn secret_from_representatives(&self) -> bool {
        self.model.secret_from_representatives
    }
    /// When its author released it to the patient, if it was held back.
    async fn released_at(&self) -> Option<DateTime<Utc>> {
        self.model.released_at
    }
    /// The content, base64-encoded: only when one document is read (`null` in lists).
    async fn content_base64(&self) -> Option<String> {
        self.content.as_deref().map(encode_content)
    }
    /// Where to download the content (`GET`, with the same bearer token): streamed, with its
    /// type, size and digest (`ETag`) as headers, and traced as `patientDocument` traces it. It
    /// names the record (`patientIns`), as a practitioner must. Given in lists too, where the
    /// content itself is not.
    async fn content_url(&self) -> String {
        format!(
            "/documents/{}/content?patientIns={}",
            self.model.id,
            self.model.patient_ins.as_str()
        )
    }
}

/// An entry of the medical profile.
#[derive(Debug)]
pub struct MedicalProfileEntry(views::MedicalEntry);

/// An entry of the patient's medical profile.
#[Object]
impl MedicalProfileEntry {
    /// Entry id.
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }
    /// Category.
    async fn category(&self) -> MedicalCategory {
        self.0.category.into()
    }
    /// What it is (an allergen, a medicine, a condition, a vaccine).
    async fn label(&self) -> &str {
        &self.0.label
    }
    /// Free details.
    async fn details(&self) -> Option<&str> {
        self.0.details.as_deref()
    }
    /// Since when (for a vaccination: when).
    async fn since(&self) -> Option<NaiveDate> {
        self.0.since
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// An entry of the medical profile, as typed.
#[derive(InputObject, Debug)]
pub struct MedicalProfileEntryInput {
    /// Category.
    pub category: MedicalCategory,
    /// What it is, 1 to 200 characters.
    pub label: String,
    /// Free details, at most 2000 characters.
    pub details: Option<String>,
    /// Since when (for a vaccination: when); not in the future.
    pub since: Option<NaiveDate>,
}

impl From<MedicalProfileEntryInput> for MedicalEntryInput {
    fn from(input: MedicalProfileEntryInput) -> Self {
        Self {
            category: input.category.into(),
            label: input.label,
            details: input.details,
            since: input.since,
        }
    }
}

/// A practitioner the patient blocked.
#[derive(SimpleObject, Debug)]
pub struct BlockedPractitioner {
    /// The practitioner's RPPS number.
    pub rpps: String,
    /// Since when.
    pub blocked_at: DateTime<Utc>,
}

impl From<views::Block> for BlockedPractitioner {
    fn from(b: views::Block) -> Self {
        Self {
            rpps: b.practitioner_rpps.to_string(),
            blocked_at: b.blocked_at,
        }
    }
}

/// Filters of a document list.
#[derive(Debug)]
struct ListArgs {
    type_code: Option<String>,
    acted_from: Option<NaiveDate>,
    acted_to: Option<NaiveDate>,
}

impl ListArgs {
    /// The service's query, for the whole list (the page is set by [`documents_page`]).
    fn filter(self) -> async_graphql::Result<Filter> {
        let type_code = self
            .type_code
            .as_deref()
            .map(|code| {
                DocumentType::from_code(code.trim())
                    .map(|t| t.code.to_owned())
                    .ok_or_else(|| {
                        super::error::bad_user_input(
                            "typeCode is not a document type code of the DMP's value set",
                        )
                    })
            })
            .transpose()?;
        Ok(Filter {
            type_code,
            acted_from: self.acted_from,
            acted_to: self.acted_to,
            ..Filter::default()
        })
    }
}

/// Where a page of documents resumes: after this document (newest first).
#[derive(Debug, Serialize, Deserialize)]
struct DocumentKey {
    id: i64,
}

impl SortKey for DocumentKey {
    const LIST: &'static str = "documents";
}

/// A page of the documents `filter` selects, read by `list`.
async fn documents_page<Rows>(
    filter: Filter,
    first: Option<i32>,
    after: Option<String>,
    list: impl FnOnce(Filter) -> Rows,
) -> async_graphql::Result<Connection<String, Document>>
where
    Rows: std::future::Future<Output = Result<Vec<views::Document>, crate::services::ServiceError>>,
{
    pagination::page(
        first,
        after,
        |after: Option<DocumentKey>, limit| {
            list(Filter {
                before_id: after.map(|k| k.id),
                limit,
                ..filter
            })
        },
        |row| DocumentKey { id: row.id },
        |row| Ok(Document::from(row)),
    )
    .await
}

/// DMP reads.
#[derive(Debug, Default)]
pub struct DocumentQuery;

#[Object]
impl DocumentQuery {
    /// Whether this INS has a DMP that can be fed (practitioners). Never tells why not.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn dmp_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's INS.")] patient_ins: InsScalar,
    ) -> async_graphql::Result<DmpStatus> {
        Ok(services(ctx).dmp_status(&patient_ins).await?.into())
    }

    /// A patient's documents, newest first (practitioners). The consultation, and the first
    /// access of each practitioner, are in the patient's ledger before anything is returned.
    /// Only the documents you may see are listed, pages and `hasNextPage` included: the types
    /// your profession may read (the access matrix, `espace-sante matrix`) and your own; masked
    /// ones only as the patient's médecin traitant or under an emergency access.
    /// `DMP_NOT_FOUND` when there is no DMP; `FORBIDDEN` when the patient blocked you.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    #[expect(
        clippy::too_many_arguments,
        reason = "one argument per filter of the API"
    )]
    async fn patient_record(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's INS.")] patient_ins: InsScalar,
        #[graphql(desc = "Only this document type (LOINC code).")] type_code: Option<String>,
        #[graphql(desc = "Only acts on or after this date.")] acted_from: Option<NaiveDate>,
        #[graphql(desc = "Only acts on or before this date.")] acted_to: Option<NaiveDate>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last document of the previous page.")] after: Option<
            String,
        >,
    ) -> async_graphql::Result<Connection<String, Document>> {
        let me = practitioner(ctx)?;
        let filter = ListArgs {
            type_code,
            acted_from,
            acted_to,
        }
        .filter()?;
        let services = services(ctx);
        documents_page(filter, first, after, |query| async move {
            services
                .consult_record(me, &patient_ins, &query)
                .await
                .map(Traced::into_inner)
        })
        .await
    }

    /// One document of a patient's record, with its content (practitioners). Traced like the
    /// list; an id that is not in this record, or of a document you may not see (as in
    /// `patientRecord`), is `NOT_FOUND`.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn patient_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's INS.")] patient_ins: InsScalar,
        #[graphql(desc = "The document's id.")] document_id: ID,
    ) -> async_graphql::Result<Document> {
        let me = practitioner(ctx)?;
        let id = id_of(&document_id, "document")?;
        Ok(services(ctx)
            .consult_document(me, &patient_ins, id)
            .await?
            .into())
    }
}

/// The patient's DMP, in [`super::Me`].
#[derive(Debug, Default)]
pub struct MeDocuments;

#[Object]
impl MeDocuments {
    /// Your documents, newest first, masked ones included. A legal representative's reading
    /// is in the minor's history (`RECORD_CONSULTED`); the patient's own is not.
    /// Null, with an `ACTIVATION_REQUIRED` error on this field, until the profile is activated;
    /// the other fields of `me` still answer.
    async fn documents(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this document type (LOINC code).")] type_code: Option<String>,
        #[graphql(desc = "Only acts on or after this date.")] acted_from: Option<NaiveDate>,
        #[graphql(desc = "Only acts on or before this date.")] acted_to: Option<NaiveDate>,
        #[graphql(desc = "Page size, 1 to 100 (default 20).")] first: Option<i32>,
        #[graphql(desc = "Cursor of the last document of the previous page.")] after: Option<
            String,
        >,
    ) -> async_graphql::Result<Option<Connection<String, Document>>> {
        let (ins, me) = patient(ctx)?;
        let me = &me;
        let filter = ListArgs {
            type_code,
            acted_from,
            acted_to,
        }
        .filter()?;
        let services = services(ctx);
        documents_page(filter, first, after, |query| async move {
            services
                .patient_documents(me, ins, &query)
                .await
                .map(Traced::into_inner)
        })
        .await
        .map(Some)
    }

    /// One of your documents, with its content (the reading is in your history).
    /// Null, with an error on this field, when it cannot answer: `NOT_FOUND`, or
    /// `ACTIVATION_REQUIRED` until the profile is activated; the other fields of `me` still
    /// answer.
    async fn document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document's id.")] id: ID,
    ) -> async_graphql::Result<Option<Document>> {
        let (ins, me) = patient(ctx)?;
        Ok(Some(
            services(ctx)
                .patient_document(&me, ins, id_of(&id, "document")?)
                .await?
                .into(),
        ))
    }

    /// Your medical profile: allergies, treatments, history, vaccinations. A legal
    /// representative's reading is in the minor's history (`MEDICAL_PROFILE_CONSULTED`).
    /// Null, with an `ACTIVATION_REQUIRED` error on this field, until the profile is activated;
    /// the other fields of `me` still answer.
    async fn medical_profile(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Option<Vec<MedicalProfileEntry>>> {
        let (ins, me) = patient(ctx)?;
        Ok(Some(
            services(ctx)
                .medical_profile(&me, ins)
                .await?
                .into_inner()
                .into_iter()
                .map(MedicalProfileEntry)
                .collect(),
        ))
    }

    /// The practitioners you blocked from consulting your record.
    async fn blocked_practitioners(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<BlockedPractitioner>> {
        let (ins, _) = patient(ctx)?;
        Ok(services(ctx)
            .blocked_practitioners(ins)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }
}

/// DMP writes.
#[derive(Debug, Default)]
pub struct DocumentMutation;

#[Object]
impl DocumentMutation {
    /// Feeds a document into a patient's DMP (practitioners). The patient is notified by the
    /// channel their status gives (and of your first access, if this is your first feed or
    /// consultation of the record) — unless the document is held back until an announcement
    /// consultation (`visibility.heldBackUntilAnnounced`): then the patient neither sees it nor
    /// is notified until its author calls `releaseDocument`; practitioners see it. Without a
    /// DMP: `DMP_NOT_FOUND` ("DMP inexistant"), the same answer whatever the reason, nothing
    /// stored. A type your profession may not feed (the access matrix): `FORBIDDEN`, nothing
    /// stored, the refusal in the patient's history.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn feed_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's INS.")] patient_ins: InsScalar,
        #[graphql(desc = "The document.")] input: DocumentInputGql,
        #[graphql(desc = "Who may see it (default: as every document).")] visibility: Option<
            DocumentVisibilityInput,
        >,
    ) -> async_graphql::Result<Document> {
        let me = practitioner(ctx)?;
        let visibility = visibility.unwrap_or_default();
        let options = FeedOptions {
            held_back: visibility.held_back_until_announced,
            secret_from_representatives: visibility.secret_from_representatives,
        };
        Ok(services(ctx)
            .feed_document(me, &patient_ins, &input.into_input(ctx)?, options)
            .await?
            .into())
    }

    /// Releases to the patient a document you fed held back until an announcement
    /// consultation: the patient sees it from now on and is notified, once (and of your first
    /// access, if that feed was it). Your document the patient already sees is returned
    /// unchanged. A practitioner the patient blocked gets `FORBIDDEN`, and the attempt is in the
    /// patient's history; any id that is not a document of yours in this record gets
    /// `FORBIDDEN` too, the same answer whatever it names, with nothing of it.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn release_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The patient's INS.")] patient_ins: InsScalar,
        #[graphql(desc = "The document's id.")] document_id: ID,
    ) -> async_graphql::Result<Document> {
        let me = practitioner(ctx)?;
        Ok(services(ctx)
            .release_document(me, &patient_ins, id_of(&document_id, "document")?)
            .await?
            .into())
    }

    /// Adds a document of your own to your DMP (activated patients).
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn add_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document.")] input: DocumentInputGql,
    ) -> async_graphql::Result<Document> {
        let (ins, me) = patient(ctx)?;
        Ok(services(ctx)
            .add_own_document(&me, ins, &input.into_input(ctx)?)
            .await?
            .into())
    }

    /// Masks one of your documents from practitioners (its author, your médecin traitant and a
    /// practitioner in an emergency access still see it).
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn mask_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document's id.")] id: ID,
    ) -> async_graphql::Result<Document> {
        let (ins, me) = patient(ctx)?;
        Ok(services(ctx)
            .set_masked(&me, ins, id_of(&id, "document")?, true)
            .await?
            .into())
    }

    /// Makes a masked document visible to practitioners again.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn unmask_document(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The document's id.")] id: ID,
    ) -> async_graphql::Result<Document> {
        let (ins, me) = patient(ctx)?;
        Ok(services(ctx)
            .set_masked(&me, ins, id_of(&id, "document")?, false)
            .await?
            .into())
    }

    /// Blocks a practitioner from consulting your record; their attempts appear in your history.
    /// Returns whether the practitioner is now blocked.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn block_practitioner(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The practitioner's RPPS number.")] rpps: RppsScalar,
    ) -> async_graphql::Result<bool> {
        let (ins, me) = patient(ctx)?;
        Ok(services(ctx).set_blocked(&me, ins, &rpps, true).await?)
    }

    /// Lets a blocked practitioner consult your record again. Returns whether the practitioner
    /// is still blocked (false).
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn unblock_practitioner(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The practitioner's RPPS number.")] rpps: RppsScalar,
    ) -> async_graphql::Result<bool> {
        let (ins, me) = patient(ctx)?;
        Ok(services(ctx).set_blocked(&me, ins, &rpps, false).await?)
    }

    /// Adds an entry to your medical profile.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn add_medical_profile_entry(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The entry.")] input: MedicalProfileEntryInput,
    ) -> async_graphql::Result<MedicalProfileEntry> {
        let (ins, me) = patient(ctx)?;
        Ok(MedicalProfileEntry(
            services(ctx)
                .save_medical_entry(&me, ins, None, &input.into())
                .await?,
        ))
    }

    /// Replaces an entry of your medical profile.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn update_medical_profile_entry(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The entry's id.")] id: ID,
        #[graphql(desc = "The new entry.")] input: MedicalProfileEntryInput,
    ) -> async_graphql::Result<MedicalProfileEntry> {
        let (ins, me) = patient(ctx)?;
        let id = id_of(&id, "entry")?;
        Ok(MedicalProfileEntry(
            services(ctx)
                .save_medical_entry(&me, ins, Some(id), &input.into())
                .await?,
        ))
    }

    /// Removes an entry of your medical profile. Returns true.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn remove_medical_profile_entry(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The entry's id.")] id: ID,
    ) -> async_graphql::Result<bool> {
        let (ins, me) = patient(ctx)?;
        services(ctx)
            .remove_medical_entry(&me, ins, id_of(&id, "entry")?)
            .await?;
        Ok(true)
    }
}
