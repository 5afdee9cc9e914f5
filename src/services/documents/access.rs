//! Practitioners consult a DMP: every consultation is in the patient's ledger, committed,
//! before the data is returned; a blocked practitioner is refused, and the refusal traced.

use entity::document;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{
    Audience, DocumentQuery, DocumentWithContent, document_not_found, documents_page,
    trace_reading, visibility,
};
use crate::domain::visibility::MaskedAccess;
use crate::domain::{Ins, Practitioner};
use crate::services::patient_tx::Traced;
use crate::services::views::Document;
use crate::services::{ServiceError, Services};

impl Services {
    /// A practitioner consults the list of a record's documents.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.rpps))]
    pub async fn consult_record(
        &self,
        practitioner: &Practitioner,
        ins: &Ins,
        query: &DocumentQuery,
    ) -> Result<Traced<Vec<Document>>, ServiceError> {
        let mut tx = self.consultation(practitioner, ins).await?;
        let reader = visibility::reader(&tx, practitioner).await?;
        // The patient sees which consultations an emergency access allowed.
        let emergency = reader.masked == MaskedAccess::Emergency;
        let page = documents_page(ins, Audience::Practitioner(&reader), query);
        let (receipt, rows) = tx
            .record_and_read(&practitioner.to_ref(), query.traced(emergency), page)
            .await?;
        let documents = rows.into_iter().map(Document::from).collect();
        tx.commit_traced(receipt, documents).await
    }

    /// A practitioner reads one document of a record. An id of another record, or of a document
    /// they may not see (masked, or of a type their profession may not read), is `NotFound`.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.rpps))]
    pub async fn consult_document(
        &self,
        practitioner: &Practitioner,
        ins: &Ins,
        document_id: i64,
    ) -> Result<Traced<DocumentWithContent>, ServiceError> {
        let read = self.open_document(practitioner, ins, document_id).await?;
        self.with_content(read).await
    }

    /// [`Self::consult_document`] without the bytes: the reading traced and committed, the
    /// bytes left in the store for the caller to stream (`GET /documents/{id}/content`).
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.rpps))]
    pub async fn open_document(
        &self,
        practitioner: &Practitioner,
        ins: &Ins,
        document_id: i64,
    ) -> Result<Traced<Document>, ServiceError> {
        let mut tx = self.consultation(practitioner, ins).await?;
        let reader = visibility::reader(&tx, practitioner).await?;
        let document = document::Entity::find_by_id(document_id)
            .filter(document::Column::PatientIns.eq(ins.as_str()))
            .filter(visibility::visible_to(&reader))
            .one(tx.conn())
            .await?
            .ok_or_else(document_not_found)?;
        let emergency = reader.masked == MaskedAccess::Emergency;
        let receipt = trace_reading(&mut tx, &practitioner.to_ref(), &document, emergency).await?;
        tx.commit_traced(receipt, document.into()).await
    }
}
