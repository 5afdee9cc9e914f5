//! What the patient sees of their ledger: the activity history and the chain's integrity.

use entity::{document, ledger_event};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::patient_tx::Traced;
use super::views::LedgerEvent;
use super::{ServiceError, Services};
use crate::domain::ActorRole;
use crate::domain::EventKind;
use crate::domain::Ins;
use crate::domain::access::Access;
use crate::domain::visibility::Viewer;
use crate::domain::{ActorRef, Event, HiddenDocuments};
use crate::ledger;
pub use crate::ledger::ChainReport;
pub use crate::ledger::deep::{DeepReport, Divergence};

/// Filters of the activity history; empty lists mean "any".
#[derive(Debug, Default, Clone)]
pub struct HistoryFilter {
    pub kinds: Vec<EventKind>,
    pub actor_roles: Vec<ActorRole>,
}

/// One entry of the patient's history.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryEntry {
    /// An event, every field shown.
    Event(LedgerEvent),
    /// An event about a document held back from the patient until its release: its place in
    /// the chain and its hashes only, so that the chain still links; in full once released.
    Withheld {
        seq: i64,
        prev_hash: String,
        hash: String,
    },
}

impl HistoryEntry {
    /// The event's sequence.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Event(event) => event.seq,
            Self::Withheld { seq, .. } => *seq,
        }
    }

    /// The entry the reader of the patient's space sees for `event`, given the documents
    /// hidden from them.
    pub(crate) fn for_patient(hidden: &HiddenDocuments, event: ledger_event::Model) -> Self {
        if shown(&event, hidden) {
            Self::Event(event.into())
        } else {
            Self::Withheld {
                seq: event.seq,
                prev_hash: event.prev_hash,
                hash: event.hash,
            }
        }
    }
}

/// Whether the reader of the patient's space whose hidden documents are `hidden` sees the
/// stored event `row`: the event says ([`Event::shown_to`]). One that cannot be read is
/// withheld (its place and hashes still link; the verification reports it).
pub(crate) fn shown(row: &ledger_event::Model, hidden: &HiddenDocuments) -> bool {
    Event::read(row.kind, &row.payload).is_ok_and(|event| event.shown_to(hidden))
}

/// The patient's documents hidden from `viewer` (held back, and for a representative secret
/// from them).
pub(crate) async fn hidden_documents(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    viewer: Viewer,
) -> Result<HiddenDocuments, ServiceError> {
    let ids = document::Entity::find()
        .select_only()
        .column(document::Column::Id)
        .filter(document::Column::PatientIns.eq(ins.as_str()))
        .filter(super::documents::visibility::visible_in_space(viewer).not())
        .into_tuple()
        .all(conn)
        .await?;
    Ok(HiddenDocuments::new(viewer, ids))
}

impl Services {
    /// A page of the patient's history, newest first: at most `limit` entries with a sequence
    /// below `before` (exclusive), as `reader` (the patient, or a representative, whose reading
    /// is traced as theirs) reads it. Events about a document hidden from them are withheld; a
    /// filtered page leaves them out (a filter must not tell what they are).
    pub async fn history(
        &self,
        reader: &ActorRef,
        ins: &Ins,
        filter: &HistoryFilter,
        mut before: Option<i64>,
        limit: u64,
    ) -> Result<Traced<Vec<HistoryEntry>>, ServiceError> {
        // Any status, and none: a person the insurer never enrolled reads an empty history.
        let mut tx = self.patient_tx(ins, Access::Any).await?;
        // The trace goes first: a representative's reading shows in the page it reads.
        let receipt = tx
            .space_read(reader, Event::ActivityHistoryConsulted)
            .await?;
        let hidden = hidden_documents(tx.conn(), ins, Viewer::in_own_space(reader)).await?;
        let filtered = !filter.kinds.is_empty() || !filter.actor_roles.is_empty();
        let mut entries = Vec::new();
        loop {
            let rows = events_page(tx.conn(), ins, filter, before, limit).await?;
            let full = rows.len() as u64 == limit;
            for row in rows {
                before = Some(row.seq);
                let entry = HistoryEntry::for_patient(&hidden, row);
                if filtered && matches!(entry, HistoryEntry::Withheld { .. }) {
                    continue;
                }
                entries.push(entry);
                if entries.len() as u64 == limit {
                    return tx.commit_traced(receipt, entries).await;
                }
            }
            if !full {
                return tx.commit_traced(receipt, entries).await;
            }
        }
    }

    /// Deep verification (operators): the chains, the content hashes recomputed from the
    /// stored bytes and the projections re-derived from the events; one patient or all.
    pub async fn deep_verification(&self, ins: Option<&Ins>) -> Result<DeepReport, ServiceError> {
        let mut report = match ins {
            Some(ins) => {
                let (chain, divergences, unbound_events) =
                    ledger::deep::verify_patient_deep(&self.db, &self.contents, ins.as_str())
                        .await?;
                DeepReport {
                    chains: vec![chain],
                    divergences,
                    unbound_events,
                    checkpoint_problems: Vec::new(),
                }
            }
            None => ledger::deep::verify_deep(&self.db, &self.contents).await?,
        };
        // The key set is followed from the first checkpoint's key; that this server's own key
        // is in it (current, or retired by a rotation it was not restarted after) is what ties
        // the log to this server, as every signature by its key did before keys rotated.
        report.checkpoint_problems = ledger::checkpoint::verify_checkpoints(&self.db, None).await?;
        if let Some(signer) = &self.checkpoint_signer
            && let Some(ledger::checkpoint::CheckpointError::Key(
                unknown @ ledger::keys::KeyRefusal::Unknown { .. },
            )) = ledger::checkpoint::signing_refusal(&self.db, signer).await?
        {
            report.checkpoint_problems.push(format!(
                "this server's key does not sign this log: {unknown}"
            ));
        }
        Ok(report)
    }

    /// Re-verifies the patient's whole chain.
    pub async fn integrity(&self, ins: &Ins) -> Result<ChainReport, ServiceError> {
        Ok(ledger::verify_chain(&self.db, ins.as_str()).await?)
    }
}

/// One page of the chain's events, newest first, filtered.
async fn events_page(
    conn: &impl ConnectionTrait,
    ins: &Ins,
    filter: &HistoryFilter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<ledger_event::Model>, ServiceError> {
    let mut query = ledger_event::Entity::find()
        .filter(ledger_event::Column::PatientIns.eq(ins.as_str()))
        .order_by_desc(ledger_event::Column::Seq);
    if !filter.kinds.is_empty() {
        query =
            query.filter(ledger_event::Column::Kind.is_in(filter.kinds.iter().map(|k| k.as_str())));
    }
    if !filter.actor_roles.is_empty() {
        query = query.filter(
            ledger_event::Column::ActorRole.is_in(filter.actor_roles.iter().map(|r| r.as_str())),
        );
    }
    if let Some(before) = before {
        query = query.filter(ledger_event::Column::Seq.lt(before));
    }
    Ok(query.limit(limit).all(conn).await?)
}
