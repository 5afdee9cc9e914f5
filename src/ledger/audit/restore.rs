//! The restore drill: is a restored database the whole ledger that was published, or one that
//! lost its tail? `espace-sante ledger verify-restore` runs it on the database it is pointed
//! at, against a copy of the published log of signed checkpoints kept outside that database
//! (a third party's mirror of `GET /ledger/checkpoints`, or the operator's own).
//!
//! Three questions, each answered from signed data rather than from the backup's word:
//! - do the restored chains and tables verify ([`super::deep`])?
//! - are the restored checkpoints the published ones (a prefix of the published log, leaf for
//!   leaf)? If not, the backup is of another ledger, or the ledger was rewritten. And does
//!   every chain still hold the head the latest of them signed? A chain that does not lost
//!   its tail: it is named, with the sequences gone;
//! - does the restore reach the published log's end? Each published checkpoint it lacks was
//!   signed over chain heads it does not hold: the restore lost what was recorded after its
//!   latest checkpoint, at least up to the published log's newest one.

use sea_orm::{ConnectionTrait, DbErr};

use super::deep::{DeepReport, verify_deep};
use crate::ledger::checkpoint::{
    SignedCheckpoint, all_checkpoints, checkpoint_heads, current_heads, divergence, head_leaf,
};
use crate::ledger::transparency::log;
use crate::ledger::{hex, merkle};

/// What the drill found.
#[derive(Debug, Clone)]
pub struct RestoreReport {
    /// The deep verification of the restored database.
    pub deep: DeepReport,
    /// Checkpoints in the restored database.
    pub restored_checkpoints: usize,
    /// Checkpoints in the published log.
    pub published_checkpoints: usize,
    /// The first restored checkpoint that is not the published one at its index.
    pub forked_at: Option<i64>,
    /// Why the restored heads of the latest common checkpoint are not the ones it signed.
    pub heads_problem: Option<String>,
    /// Chains that no longer hold the head the latest common checkpoint signed: each names
    /// the patient and the sequences gone (or rewritten).
    pub truncated: Vec<String>,
    /// The published checkpoints the restore lacks.
    pub lost: Option<LostTail>,
}

/// The tail a restore lost, as far as the published log shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostTail {
    /// The restore's latest checkpoint (0: none), and when it was signed.
    pub restored_up_to: (i64, Option<String>),
    /// The published log's newest checkpoint, and when it was signed.
    pub published_up_to: (i64, String),
    /// Chains the newest published checkpoint covers, against those the restore holds.
    pub published_chains: i64,
    pub restored_chains: i64,
}

impl RestoreReport {
    /// Whether the restore is the whole published ledger, as far as the copy shows (a restore
    /// holding checkpoints the copy does not is not called whole: the copy is too old, or
    /// incomplete, to tell).
    pub fn whole(&self) -> bool {
        self.deep.verified()
            && self.restored_checkpoints <= self.published_checkpoints
            && self.forked_at.is_none()
            && self.heads_problem.is_none()
            && self.truncated.is_empty()
            && self.lost.is_none()
    }
}

/// Runs the drill on `conn` (the restored database) against `published`, a log of checkpoints
/// the caller has already verified with the operator's key.
pub async fn verify_restore(
    conn: &impl ConnectionTrait,
    store: &crate::contents::ContentStore,
    published: &[SignedCheckpoint],
) -> Result<RestoreReport, DbErr> {
    let deep = verify_deep(conn, store).await?;
    let restored = all_checkpoints(conn).await?;
    let common = restored
        .iter()
        .zip(published)
        .take_while(|(restored, published)| restored == published)
        .count();
    let forked_at = (common < restored.len().min(published.len())).then(|| restored[common].index);
    // The restored heads (of version 3: the log of heads), read against the root the common
    // checkpoint signed: the heads that say which chains lost what are themselves the signed
    // ones.
    let (heads_problem, truncated) = match common.checked_sub(1).map(|i| &restored[i]) {
        Some(latest) => {
            let root = if latest.logs_heads() {
                log::root_at(conn, u64::try_from(latest.tree_size).unwrap_or(0))
                    .await?
                    .map(|root| hex(&root))
            } else {
                let heads = checkpoint_heads(conn, latest.index).await?;
                let leaves: Vec<merkle::Hash> = heads
                    .iter()
                    .map(|h| head_leaf(&h.patient_ins, h.seq, &h.hash))
                    .collect();
                Some(hex(&merkle::root(&leaves)))
            };
            let problem = (root.as_deref() != Some(latest.heads_root.as_str())).then(|| {
                format!(
                    "the restored heads of checkpoint {} are not the ones it signed",
                    latest.index
                )
            });
            (problem, divergence(conn, latest).await?)
        }
        None => (None, Vec::new()),
    };
    let lost = match (forked_at, published.last()) {
        (None, Some(newest)) if published.len() > common => Some(LostTail {
            restored_up_to: match common.checked_sub(1).map(|i| &published[i]) {
                Some(c) => (c.index, Some(c.time.clone())),
                None => (0, None),
            },
            published_up_to: (newest.index, newest.time.clone()),
            published_chains: newest.tree_size,
            restored_chains: i64::try_from(current_heads(conn).await?.len()).unwrap_or(i64::MAX),
        }),
        _ => None,
    };
    Ok(RestoreReport {
        deep,
        restored_checkpoints: restored.len(),
        published_checkpoints: published.len(),
        forked_at,
        heads_problem,
        truncated,
        lost,
    })
}
