//! Practitioners consult a DMP: every consultation is in the patient's ledger, committed,
//! before the data is returned; a blocked practitioner is refused, and the refusal traced.

use serde_json::json;

use super::{
    DocumentQuery, DocumentWithContent, find_visible_document, list_documents, read_document,
};
use crate::domain::visibility::Viewer;
use crate::domain::{ActorRef, EventKind, Ins};
use crate::services::patient_tx::Traced;
use crate::services::views::Document;
use crate::services::{ServiceError, Services};

impl Services {
    /// A practitioner consults the list of a record's documents.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.id))]
    pub async fn consult_record(
        &self,
        practitioner: &ActorRef,
        ins: &Ins,
        query: &DocumentQuery,
    ) -> Result<Traced<Vec<Document>>, ServiceError> {
        let mut tx = self.consultation(practitioner, ins).await?;
        let receipt = tx
            .record(
                practitioner,
                EventKind::RecordConsulted,
                json!({
                    "typeCode": query.type_code,
                    "actedFrom": query.acted_from.map(|d| d.to_string()),
                    "actedTo": query.acted_to.map(|d| d.to_string()),
                }),
            )
            .await?;
        let documents = list_documents(
            tx.conn(),
            ins,
            Viewer::Practitioner {
                id: &practitioner.id,
            },
            query,
        )
        .await?;
        tx.commit_traced(receipt, documents).await
    }

    /// A practitioner reads one document of a record. An id of another record, or of a document
    /// the patient masked, is `NotFound`.
    #[tracing::instrument(skip_all, fields(practitioner.rpps = %practitioner.id))]
    pub async fn consult_document(
        &self,
        practitioner: &ActorRef,
        ins: &Ins,
        document_id: i64,
    ) -> Result<Traced<DocumentWithContent>, ServiceError> {
        let mut tx = self.consultation(practitioner, ins).await?;
        let viewer = Viewer::Practitioner {
            id: &practitioner.id,
        };
        let document = find_visible_document(tx.conn(), ins, document_id, viewer).await?;
        let (receipt, read) = read_document(&mut tx, practitioner, document).await?;
        tx.commit_traced(receipt, read).await
    }
}
