//! The patient's export: their whole record — documents with their bytes, medical profile,
//! messages, and the full history with its hashes — so that leaving the service loses nothing.
//! Open to an activated patient and, for the whole retention period, to a closed one (the only
//! reading a closed record allows). The export is itself traced, and its history includes that
//! event.

use chrono::{DateTime, Utc};
use entity::{document, ledger_event, medical_profile_entry, message, message_attachment, thread};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::activity::hidden_documents;
use super::checkpoints::{LedgerExport, ledger_export_of};
use super::patient_tx::Traced;
use super::views::{Attachment, Document, MedicalEntry, Message, Profile, Thread};
use super::{ServiceError, Services};
use crate::domain::access::Access;
use crate::domain::visibility::Viewer;
use crate::domain::{ActorRef, Event, Ins};

/// A patient's whole record, as exported.
#[derive(Debug)]
pub struct RecordExport {
    /// When the export was made (the time of its ledger event).
    pub exported_at: DateTime<Utc>,
    pub profile: Profile,
    /// The documents the patient sees (not those held back from them), oldest first.
    pub documents: Vec<ExportedDocument>,
    pub medical_profile: Vec<MedicalEntry>,
    /// The conversations that reached the patient, oldest first.
    pub threads: Vec<ExportedThread>,
    /// The whole chain, from sequence 1, up to and including the export's own event, anchored
    /// in the latest checkpoint when there is one; the events about documents held back from
    /// the patient are withheld. `ledger.json` of the archive, as the offline verifier reads it.
    pub ledger: LedgerExport,
}

/// A document, whose bytes the archive streams from the content store.
#[derive(Debug)]
pub struct ExportedDocument {
    pub document: Document,
    /// Whether its bytes are still kept (not once purged).
    pub kept: bool,
    /// The sequence of the event that brought the document in (fed or added).
    pub sequence: Option<i64>,
}

/// A conversation with its messages.
#[derive(Debug)]
pub struct ExportedThread {
    pub thread: Thread,
    /// Each message with its attachments, whose bytes the archive streams from the store.
    pub messages: Vec<(Message, Vec<Attachment>)>,
}

impl Services {
    /// Exports the patient's whole record (activated or closed), tracing the export first.
    #[tracing::instrument(skip_all)]
    pub async fn export_record(
        &self,
        patient: &ActorRef,
        ins: &Ins,
    ) -> Result<Traced<RecordExport>, ServiceError> {
        // The checkpoint before the events: the events read after it hold every head it covers.
        let anchor = self.ledger_proof(ins).await?;
        // After the checkpoint: the key set read now leads to the key that signed it.
        let keys = self.checkpoint_keys().await?;
        let mut tx = self.patient_tx(ins, Access::Export).await?;
        let receipt = tx.record(patient, Event::RecordExported).await?;
        let profile: Profile = tx.enrolled()?.clone().into();
        let held_back = hidden_documents(tx.conn(), ins, Viewer::Patient).await?;
        let events = ledger_event::Entity::find()
            .filter(ledger_event::Column::PatientIns.eq(ins.as_str()))
            .order_by_asc(ledger_event::Column::Seq)
            .all(tx.conn())
            .await?;
        let ledger = ledger_export_of(ins, &events, &held_back, anchor, keys);
        let introduced_by = |id: i64| {
            events
                .iter()
                .find(|e| {
                    matches!(
                        Event::read(e.kind, &e.payload),
                        Ok(Event::DocumentFed(stored) | Event::DocumentAdded(stored))
                            if stored.document_id == id
                    )
                })
                .map(|e| e.seq)
        };
        let rows = document::Entity::find()
            .filter(document::Column::PatientIns.eq(ins.as_str()))
            .filter(super::documents::visibility::visible_in_space(
                Viewer::Patient,
            ))
            .order_by_asc(document::Column::Id)
            .all(tx.conn())
            .await?;
        // A purged record's documents keep their rows, not their bytes (which another
        // record's equal document may still keep in the store).
        let purged = tx.enrolled()?.purged_at.is_some();
        let documents: Vec<(Option<i64>, Document)> = rows
            .into_iter()
            .map(|row| (introduced_by(row.id), row.into()))
            .collect();
        let medical_profile = medical_profile_entry::Entity::find()
            .filter(medical_profile_entry::Column::PatientIns.eq(ins.as_str()))
            .order_by_asc(medical_profile_entry::Column::Id)
            .all(tx.conn())
            .await?
            .into_iter()
            .map(Into::into)
            .collect();
        let thread_rows = thread::Entity::find()
            .filter(thread::Column::PatientIns.eq(ins.as_str()))
            .filter(thread::Column::Delivered.eq(true))
            .order_by_asc(thread::Column::Id)
            .all(tx.conn())
            .await?;
        let mut threads = Vec::with_capacity(thread_rows.len());
        for row in thread_rows {
            let messages = message::Entity::find()
                .filter(message::Column::ThreadId.eq(row.id))
                .order_by_asc(message::Column::Id)
                .all(tx.conn())
                .await?;
            let mut with_attachments = Vec::with_capacity(messages.len());
            for message in messages {
                let attachments: Vec<Attachment> = message_attachment::Entity::find()
                    .filter(message_attachment::Column::MessageId.eq(message.id))
                    .order_by_asc(message_attachment::Column::Id)
                    .all(tx.conn())
                    .await?
                    .into_iter()
                    .map(Into::into)
                    .collect();
                with_attachments.push((Message::from(message), attachments));
            }
            threads.push((Thread::from(row), with_attachments));
        }
        let exported_at = tx.now();
        let export = RecordExport {
            exported_at,
            profile,
            documents: documents
                .into_iter()
                .map(|(sequence, document)| ExportedDocument {
                    document,
                    kept: !purged,
                    sequence,
                })
                .collect(),
            medical_profile,
            threads: threads
                .into_iter()
                .map(|(thread, messages)| ExportedThread { thread, messages })
                .collect(),
            ledger,
        };
        // The trace commits before any byte leaves; the archive then streams the bytes.
        tx.commit_traced(receipt, export).await
    }
}
