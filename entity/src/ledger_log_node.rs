//! The complete subtrees of the log of chain heads, as Certificate Transparency logs store
//! them: node (`level`, `idx`) is the RFC 9162 root over the leaves `idx·2^level` to
//! `(idx+1)·2^level − 1`, stored once they are all in the log (level 0: the leaf hashes). Any
//! root, inclusion or consistency proof is made of O(log n) of them. Append-only.

use sea_orm::entity::prelude::*;

/// One complete subtree.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_log_nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub level: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub idx: i64,
    /// Lowercase hex.
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
