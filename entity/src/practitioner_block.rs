//! Practitioners a patient has blocked from consulting their record.

use sea_orm::entity::prelude::*;

use crate::values::{Ins, Rpps};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practitioner_blocks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_ins: Ins,
    #[sea_orm(primary_key, auto_increment = false)]
    pub practitioner_rpps: Rpps,
    pub blocked_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
