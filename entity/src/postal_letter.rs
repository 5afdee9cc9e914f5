//! A postal activity statement: one letter per patient and period, grouping its postal notices.

use sea_orm::entity::prelude::*;

use crate::values::Ins;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "postal_letters")]
pub struct Model {
    // PostgreSQL's key is (patient_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_ins: Ins,
    /// The oldest notice the letter carries.
    pub period_start: DateTimeUtc,
    /// When the statement was run.
    pub period_end: DateTimeUtc,
    /// The PDF's file name, in the letters folder.
    pub file_name: String,
    pub pages: i32,
    pub notification_count: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
