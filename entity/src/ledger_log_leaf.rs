//! The log of chain heads (checkpoints of version 3): each checkpoint appends the head of
//! every chain that moved since the one before, in INS order, after the leaves already there.
//! Append-only, as the ledger; what a checkpoint signs is the root over the first `tree_size`
//! leaves.

use sea_orm::entity::prelude::*;

use crate::values::Ins;

/// One leaf: a chain's head as it was when a checkpoint logged it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_log_leaves")]
pub struct Model {
    /// Position in the log, from 0, without gaps.
    #[sea_orm(primary_key, auto_increment = false)]
    pub leaf_index: i64,
    pub patient_ins: Ins,
    /// The sequence of the chain's head.
    pub seq: i64,
    /// The hash of that event.
    pub hash: String,
    /// The checkpoint that appended it.
    pub checkpoint_idx: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
