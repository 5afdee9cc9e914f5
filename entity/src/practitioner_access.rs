//! The practitioners who have accessed a patient's record: the first access is notified.

use sea_orm::entity::prelude::*;

use crate::values::{Ins, Rpps};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practitioner_accesses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_ins: Ins,
    #[sea_orm(primary_key, auto_increment = false)]
    pub practitioner_rpps: Rpps,
    pub first_access_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
