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
    CheckpointError, CheckpointOutcome, Consistency, InclusionProof, SignedCheckpoint,
};
use crate::ledger::export::ExportedEvent;
pub use crate::ledger::export::{ExportedFile, LedgerExport};
pub use crate::ledger::keys::{KeyPeriod, KeyRefusal};

impl From<CheckpointError> for ServiceError {
    fn from(err: CheckpointError) -> Self {
        match err {
            CheckpointError::Db(db) => db.into(),
            refused @ (CheckpointError::Diverges { .. }
            | CheckpointError::Key(_)
            | CheckpointError::KeySet(_)) => {
                Self::Conflict(format!("no checkpoint signed: {refused}"))
            }
        }
    }
}

/// The counter of checkpoints this server refused to sign because of its key, by `reason`
/// (`retired_key`, `unknown_key`, `key_set`): a replica still on a retired key shows here
/// until it is restarted with the current one.
pub const CHECKPOINTS_REFUSED: &str = "ledger_checkpoints_refused_total";

impl Services {
    /// The public key that signs checkpoints here, when this server signs them.
    pub fn checkpoint_public_key(&self) -> Option<String> {
        self.checkpoint_signer.as_ref().map(|s| s.public_key())
    }

    /// Makes a checkpoint now (unless no chain moved since the last one, which then stands).
    /// Every refusal (`CONFLICT`) is logged here, the one place the interval and the
    /// operators' mutation both go through: a ledger that diverges from the last checkpoint as
    /// an error; this server's key retired by a rotation, never introduced, or a key set that
    /// does not verify as a warning, also counted.
    pub async fn checkpoint_now(&self) -> Result<CheckpointOutcome, ServiceError> {
        let signer = self.checkpoint_signer.as_ref().ok_or_else(|| {
            ServiceError::Conflict("this server has no checkpoint signing key".to_owned())
        })?;
        let outcome = cp::create_checkpoint(&self.db, signer, self.clock.now()).await;
        let reason = match &outcome {
            Err(CheckpointError::Key(KeyRefusal::Retired { .. })) => Some("retired_key"),
            Err(CheckpointError::Key(KeyRefusal::Unknown { .. })) => Some("unknown_key"),
            Err(CheckpointError::KeySet(_)) => Some("key_set"),
            _ => None,
        };
        match (reason, &outcome) {
            (Some(reason), Err(err)) => {
                metrics::counter!(CHECKPOINTS_REFUSED, "reason" => reason).increment(1);
                tracing::warn!(
                    checkpoint.key_id = %signer.key_id(),
                    checkpoint.refusal = reason,
                    "ledger checkpoint refused, nothing signed: {err}"
                );
            }
            (None, Err(diverges @ CheckpointError::Diverges { .. })) => {
                tracing::error!("ledger checkpoint refused, nothing signed: {diverges}");
            }
            _ => {}
        }
        Ok(outcome?)
    }

    /// The key set of the log, as published beside it: each key with the checkpoints and the
    /// times it signs, and the checkpoint that introduced it.
    pub async fn checkpoint_keys(&self) -> Result<Vec<KeyPeriod>, ServiceError> {
        Ok(cp::published_keys(&self.db).await?)
    }

    /// The log of checkpoints, oldest first, from index `after` + 1, at most `limit`.
    pub async fn checkpoints(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<SignedCheckpoint>, ServiceError> {
        Ok(cp::checkpoints_after(&self.db, after, limit).await?)
    }

    /// The consistency proof of the log between checkpoints `from` and `to` (O(log n) stored
    /// nodes between checkpoints of version 3).
    pub async fn checkpoint_consistency(
        &self,
        from: i64,
        to: i64,
    ) -> Result<Consistency, ServiceError> {
        cp::consistency(&self.db, from, to).await?.ok_or_else(|| {
            ServiceError::NotFound(
                "no such pair of checkpoints: `from` and `to` must exist, with from ≤ to"
                    .to_owned(),
            )
        })
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
        Ok(cp::inclusion_proof(&self.db, &latest, ins.as_str())
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
        // The checkpoint first: events read after it hold every head it covers, and the key
        // set read after it leads to the key that signed it.
        let anchor = self.ledger_proof(ins).await?;
        let keys = self.checkpoint_keys().await?;
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
        let export = ledger_export_of(ins, &events, &hidden, anchor, keys);
        tx.commit_traced(receipt, export).await
    }
}

/// The export of `events` (a whole chain, in order) with the events about `hidden` documents
/// withheld, anchored in the checkpoint when there is one, with the key set `keys`.
pub(crate) fn ledger_export_of(
    ins: &Ins,
    events: &[ledger_event::Model],
    hidden: &HiddenDocuments,
    anchor: Option<(SignedCheckpoint, InclusionProof)>,
    keys: Vec<KeyPeriod>,
) -> LedgerExport {
    let mut export = LedgerExport::new(ins.as_str(), events, anchor, keys);
    for (exported, event) in export.events.iter_mut().zip(events) {
        if !super::activity::shown(event, hidden) {
            *exported = ExportedEvent::withheld(event);
        }
    }
    export
}
