//! Signed checkpoints of the ledger, an append-only log. From version 3, checkpoint `idx` signs
//! the size and root of the log of chain heads (`ledger_log_leaves`) at `created_at`; before,
//! the root of a tree over every patient's chain head and the root of the log of checkpoints
//! 1..=idx. The database refuses UPDATE, DELETE and TRUNCATE on this table. A checkpoint may
//! introduce the next signing key: the key set is what these introductions say.

use sea_orm::entity::prelude::*;

/// One signed checkpoint.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_checkpoints")]
pub struct Model {
    /// Position in the log of checkpoints, from 1, without gaps.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i64,
    pub created_at: DateTimeUtc,
    /// Leaves of the heads tree: from version 3, the heads logged so far; before, the number
    /// of chains.
    pub tree_size: i64,
    /// RFC 9162 Merkle root over those leaves, lowercase hex.
    pub heads_root: String,
    /// Versions 1 and 2: RFC 9162 Merkle root over the checkpoints 1..=idx. Version 3: that
    /// root of the last checkpoint of version 1 or 2, which it seals; empty when none.
    pub log_root: String,
    /// Ed25519 signature of the checkpoint, lowercase hex.
    pub signature: String,
    /// The Ed25519 public key that signed, lowercase hex.
    pub public_key: String,
    /// Which bytes the signature covers.
    pub version: crate::values::CheckpointVersion,
    /// The public key this checkpoint introduces (signed by the key before it), lowercase hex.
    pub next_public_key: Option<String>,
    /// Version 3: the RFC 9162 consistency proof from the tree of the checkpoint before it
    /// (empty tree for the first of version 3), hashes in lowercase hex joined by commas.
    /// Not signed: a proof, published so that the log verifies offline.
    pub consistency: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
