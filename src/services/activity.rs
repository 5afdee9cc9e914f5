//! What the patient sees of their ledger: the activity history and the chain's integrity.

use entity::ledger_event;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::views::LedgerEvent;
use super::{ServiceError, Services};
use crate::domain::ActorRole;
use crate::domain::EventKind;
use crate::domain::Ins;
use crate::ledger;
pub use crate::ledger::ChainReport;
pub use crate::ledger::deep::{DeepReport, Divergence};

/// Filters of the activity history; empty lists mean "any".
#[derive(Debug, Default, Clone)]
pub struct HistoryFilter {
    pub kinds: Vec<EventKind>,
    pub actor_roles: Vec<ActorRole>,
}

impl Services {
    /// A page of the patient's events, newest first: at most `limit` events with a sequence
    /// below `before` (exclusive).
    pub async fn history(
        &self,
        ins: &Ins,
        filter: &HistoryFilter,
        before: Option<i64>,
        limit: u64,
    ) -> Result<Vec<LedgerEvent>, ServiceError> {
        let mut query = ledger_event::Entity::find()
            .filter(ledger_event::Column::PatientIns.eq(ins.as_str()))
            .order_by_desc(ledger_event::Column::Seq);
        if !filter.kinds.is_empty() {
            query = query
                .filter(ledger_event::Column::Kind.is_in(filter.kinds.iter().map(|k| k.as_str())));
        }
        if !filter.actor_roles.is_empty() {
            query = query.filter(
                ledger_event::Column::ActorRole
                    .is_in(filter.actor_roles.iter().map(|r| r.as_str())),
            );
        }
        if let Some(before) = before {
            query = query.filter(ledger_event::Column::Seq.lt(before));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Deep verification (operators): the chains, the content hashes recomputed from the
    /// stored bytes and the projections re-derived from the events; one patient or all.
    pub async fn deep_verification(&self, ins: Option<&Ins>) -> Result<DeepReport, ServiceError> {
        let mut report = match ins {
            Some(ins) => {
                let (chain, divergences, unbound_events) =
                    ledger::deep::verify_patient_deep(&self.db, ins.as_str()).await?;
                DeepReport {
                    chains: vec![chain],
                    divergences,
                    unbound_events,
                    checkpoint_problems: Vec::new(),
                }
            }
            None => ledger::deep::verify_deep(&self.db).await?,
        };
        let key = self.checkpoint_public_key();
        report.checkpoint_problems =
            ledger::checkpoint::verify_checkpoints(&self.db, key.as_deref()).await?;
        Ok(report)
    }

    /// Re-verifies the patient's whole chain.
    pub async fn integrity(&self, ins: &Ins) -> Result<ChainReport, ServiceError> {
        Ok(ledger::verify_chain(&self.db, ins.as_str()).await?)
    }
}
