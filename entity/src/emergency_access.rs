//! Emergency accesses ("bris de glace"): a practitioner opened a record, with a reason, for a
//! bounded time. Written once; the gate reads the ones not expired, operators audit them all.

use sea_orm::entity::prelude::*;

use crate::values::{Ins, Rpps};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "emergency_accesses")]
pub struct Model {
    // PostgreSQL's key is (patient_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_ins: Ins,
    pub practitioner_rpps: Rpps,
    pub practitioner_name: String,
    pub practitioner_profession: Option<String>,
    /// Why, as the practitioner declared it (10 to 500 characters).
    pub reason: String,
    pub opened_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
