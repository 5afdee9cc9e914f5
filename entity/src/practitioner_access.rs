//! The practitioners who have accessed a patient's record: the first access is notified.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "practitioner_accesses")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub patient_ins: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub practitioner_rpps: String,
    pub first_access_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
