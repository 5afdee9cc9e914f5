//! The chain heads a checkpoint covers, in leaf order (by INS): what inclusion proofs are built
//! from. Append-only, as the checkpoints.

use sea_orm::entity::prelude::*;

use crate::values::Ins;

/// One leaf of a checkpoint's heads tree.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_checkpoint_heads")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub checkpoint_idx: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub leaf_index: i64,
    pub patient_ins: Ins,
    /// The sequence of the chain's head at the checkpoint.
    pub seq: i64,
    /// The hash of that event.
    pub hash: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
