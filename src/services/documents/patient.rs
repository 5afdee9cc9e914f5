//! The activated patient's own documents: the list, reading one (traced like any reading),
//! adding one, masking one from practitioners other than its author.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, IntoActiveModel};

use super::{
    Audience, DocumentInput, DocumentQuery, DocumentWithContent, Stored, Storer,
    find_visible_document, list_documents, store_document, trace_reading, validate,
};
use crate::domain::access::Access;
use crate::domain::content::ContentDigest;
use crate::domain::events::{DocumentRef, DocumentStored};
use crate::domain::visibility::Viewer;
use crate::domain::{ActorRef, Event, Ins};
use crate::services::patient_tx::Traced;
use crate::services::views::Document;
use crate::services::{ServiceError, Services};

impl Services {
    /// The activated patient's documents, masked ones included, held-back ones not.
    pub async fn patient_documents(
        &self,
        reader: &ActorRef,
        ins: &Ins,
        query: &DocumentQuery,
    ) -> Result<Traced<Vec<Document>>, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let receipt = tx.space_read(reader, query.traced(false)).await?;
        let documents = list_documents(
            tx.conn(),
            ins,
            Audience::Space(Viewer::in_own_space(reader)),
            query,
        )
        .await?;
        tx.commit_traced(receipt, documents).await
    }

    /// The activated patient reads one of their documents (traced like any reading).
    pub async fn patient_document(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        document_id: i64,
    ) -> Result<Traced<DocumentWithContent>, ServiceError> {
        let read = self.open_own_document(patient, ins, document_id).await?;
        self.with_content(read).await
    }

    /// [`Self::patient_document`] without the bytes: the reading traced and committed, the
    /// bytes left in the store for the caller to stream (`GET /documents/{id}/content`).
    pub async fn open_own_document(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        document_id: i64,
    ) -> Result<Traced<Document>, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let document =
            find_visible_document(tx.conn(), ins, document_id, Viewer::in_own_space(patient))
                .await?;
        let receipt = trace_reading(&mut tx, patient, &document, false).await?;
        tx.commit_traced(receipt, document.into()).await
    }

    /// The activated patient adds a document of their own.
    #[tracing::instrument(skip_all)]
    pub async fn add_own_document(
        &self,
        patient: &ActorRef,
        ins: &Ins,
        input: &DocumentInput,
    ) -> Result<Document, ServiceError> {
        let mut doc = validate(
            input,
            self.policy.max_document_bytes,
            self.clock.now().date_naive(),
        )
        .await?;
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let type_code = doc.doc_type.code;
        let title = doc.title_digest.clone();
        let options = super::FeedOptions::default();
        let (digest, content) = doc.take_content();
        let stored = match store_document(&mut tx, patient, doc, options, Storer::Patient).await? {
            (Stored::Before(earlier), _) => return Ok(earlier.into()),
            (Stored::Now(stored), _) => stored,
        };
        self.keep(&digest, &content).await?;
        let added = DocumentStored {
            document_id: stored.id,
            type_code: type_code.to_owned(),
            content: Some(ContentDigest::known(&stored.sha256, stored.size_bytes)),
            title: Some(title),
            held_back: false,
            secret_from_representatives: false,
        };
        tx.record(patient, Event::DocumentAdded(added)).await?;
        tx.commit().await?;
        Ok(stored.into())
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
    ) -> Result<Document, ServiceError> {
        let mut tx = self.patient_tx(ins, Access::OwnRecord).await?;
        let document =
            find_visible_document(tx.conn(), ins, document_id, Viewer::in_own_space(patient))
                .await?;
        if document.masked == masked {
            return Ok(document.into());
        }
        let mut row = document.into_active_model();
        row.masked = Set(masked);
        let updated = row.update(tx.conn()).await?;
        let document = DocumentRef { document_id };
        let event = if masked {
            Event::DocumentMasked(document)
        } else {
            Event::DocumentUnmasked(document)
        };
        tx.record(patient, event).await?;
        tx.commit().await?;
        Ok(updated.into())
    }
}
