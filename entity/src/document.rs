//! A document of a patient's DMP: its metadata. The content is in [`super::document_content`].

use sea_orm::entity::prelude::*;

use crate::values::{ActorRole, Ins};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "documents")]
pub struct Model {
    // PostgreSQL's key is (patient_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_ins: Ins,
    /// PRACTITIONER or PATIENT.
    pub author_role: ActorRole,
    /// RPPS number or INS.
    pub author_id: String,
    pub author_name: String,
    pub author_profession: Option<String>,
    /// LOINC code of the document type.
    pub type_code: String,
    pub title: String,
    pub mime_type: String,
    pub size_bytes: i64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
    /// Date of the act the document reports.
    pub act_date: Date,
    pub created_at: DateTimeUtc,
    /// Hidden from practitioners other than its author, at the patient's request.
    pub masked: bool,
    /// Held back from the patient until an announcement consultation: the patient neither
    /// sees it nor was notified; practitioners see it. False once released.
    pub held_back: bool,
    /// When its author released a held-back document to the patient.
    pub released_at: Option<DateTimeUtc>,
    /// Secret from the minor's legal representatives (art. L1111-5 CSP): they never see it nor
    /// a notice of it.
    pub secret_from_representatives: bool,
    /// Unique per author: a retried feed returns the first result.
    pub idempotency_key: String,
    /// SHA-256 of the request, to tell a retry from a different payload under the same key.
    pub request_hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
