//! Signed checkpoints of the ledger, an append-only log: checkpoint `idx` signs the Merkle
//! root of every patient's chain head at `created_at`, and the root of the log of checkpoints
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
    /// Leaves of the heads tree: the number of chains.
    pub tree_size: i64,
    /// RFC 9162 Merkle root over the chain heads, lowercase hex.
    pub heads_root: String,
    /// RFC 9162 Merkle root over the checkpoints 1..=idx, lowercase hex.
    pub log_root: String,
    /// Ed25519 signature of the checkpoint, lowercase hex.
    pub signature: String,
    /// The Ed25519 public key that signed, lowercase hex.
    pub public_key: String,
    /// Which bytes the signature covers.
    pub version: crate::values::CheckpointVersion,
    /// The public key this checkpoint introduces (signed by the key before it), lowercase hex.
    pub next_public_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
