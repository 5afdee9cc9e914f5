//! Signed checkpoints of the ledger: made at an interval and on demand, published to anyone,
//! and the proofs a patient and an auditor need (see `ledger::checkpoint`).

use entity::ledger_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::activity::hidden_documents;
use super::patient_tx::Traced;
use super::{ServiceError, Services};
use crate::domain::access::Access;
use crate::domain::visibility::Viewer;
use crate::domain::{ActorRef, Event, HiddenDocuments, Ins};
use crate::ledger::checkpoint::{self as cp};
pub use crate::ledger::checkpoint::{
    CheckpointError, CheckpointOutcome, InclusionProof, SignedCheckpoint,
};
use crate::ledger::export::ExportedEvent;
pub use crate::ledger::export::{ExportedFile, LedgerExport};

/// A consistency proof between two checkpoints of the log.
#[derive(Debug, Clone)]
pub struct Consistency {
    pub from: SignedCheckpoint,
    pub to: SignedCheckpoint,
    pub proof: Vec<String>,
}

impl From<CheckpointError> for ServiceError {
    fn from(err: CheckpointError) -> Self {
        match err {
            CheckpointError::Db(db) => db.into(),
            diverges @ CheckpointError::Diverges { .. } => {
                Self::Conflict(format!("no checkpoint signed: {diverges}"))
            }
        }
    }
}

impl Services {
    /// The public key that signs checkpoints here, when this server signs them.
    pub fn checkpoint_public_key(&self) -> Option<String> {
        self.checkpoint_signer.as_ref().map(|s| s.public_key())
    }

    /// Makes a checkpoint now (unless no chain moved since the last one, which then stands).
    pub async fn checkpoint_now(&self) -> Result<CheckpointOutcome, ServiceError> {
        let signer = self.checkpoint_signer.as_ref().ok_or_else(|| {
            ServiceError::Conflict("this server has no checkpoint signing key".to_owned())
        })?;
        Ok(cp::create_checkpoint(&self.db, signer, self.clock.now()).await?)
    }

    /// The log of checkpoints, oldest first, from index `after` + 1, at most `limit`.
    pub async fn checkpoints(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<SignedCheckpoint>, ServiceError> {
        Ok(cp::checkpoints_after(&self.db, after, limit).await?)
    }

    /// The consistency proof of the log between checkpoints `from` and `to`.
    pub async fn checkpoint_consistency(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Consistency, ServiceError> {
        let (from, to, proof) = cp::consistency(&self.db, from, to).await?.ok_or_else(|| {
            ServiceError::NotFound(
                "no such pair of checkpoints: `from` and `to` must exist, with from ≤ to"
                    .to_owned(),
            )
        })?;
        Ok(Consistency { from, to, proof })
    }

    /// The latest checkpoint that covers the patient's chain, with the inclusion proof of
    /// their head in it; `None` before the first checkpoint that saw their chain.
    pub async fn ledger_proof(
        &self,
        ins: &Ins,
    ) -> Result<Option<(SignedCheckpoint, InclusionProof)>, ServiceError> {
        let Some(latest) = cp::latest_checkpoint(&self.db).await? else {
            return Ok(None);
        };
        Ok(cp::inclusion_proof(&self.db, latest.index, ins.as_str())
            .await?
            .map(|proof| (latest, proof)))
    }

    /// The patient's whole chain with its latest checkpoint and inclusion proof, as `reader`
    /// (the patient, or a legal representative, whose reading is traced as theirs) may read it
    /// (events about documents hidden from them withheld): what the offline verifier reads,
    /// and the patient export carries as `ledger.json`.
    pub async fn ledger_export(
        &self,
        reader: &ActorRef,
        ins: &Ins,
    ) -> Result<Traced<LedgerExport>, ServiceError> {
        // The checkpoint first: events read after it hold every head it covers.
        let anchor = self.ledger_proof(ins).await?;
        let mut tx = self.patient_tx(ins, Access::Any).await?;
        let receipt = tx
            .space_read(reader, Event::ActivityHistoryConsulted)
            .await?;
        let hidden = hidden_documents(tx.conn(), ins, Viewer::in_own_space(reader)).await?;
        let events = ledger_event::Entity::find()
            .filter(ledger_event::Column::PatientIns.eq(ins.as_str()))
            .order_by_asc(ledger_event::Column::Seq)
            .all(tx.conn())
            .await?;
        let export = ledger_export_of(ins, &events, &hidden, anchor);
        tx.commit_traced(receipt, export).await
    }
}

/// The export of `events` (a whole chain, in order) with the events about `hidden` documents
/// withheld, anchored in the checkpoint when there is one.
pub(crate) fn ledger_export_of(
    ins: &Ins,
    events: &[ledger_event::Model],
    hidden: &HiddenDocuments,
    anchor: Option<(SignedCheckpoint, InclusionProof)>,
) -> LedgerExport {
    let mut export = LedgerExport::new(ins.as_str(), events, anchor);
    for (exported, event) in export.events.iter_mut().zip(events) {
        if !super::activity::shown(event, hidden) {
            *exported = ExportedEvent::withheld(event);
        }
    }
    export
}
