//! A file sent along with a message.

use sea_orm::entity::prelude::*;

use crate::values::Ins;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_attachments")]
pub struct Model {
    // PostgreSQL's key is (patient_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The thread's patient (the distribution key: docs/src/scale.md).
    pub patient_ins: Ins,
    pub message_id: i64,
    pub title: String,
    pub mime_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    /// The bytes from before the content store, until `espace-sante content migrate` moves
    /// them there; empty for every attachment sent since (its bytes are in the store, under
    /// `sha256`).
    #[sea_orm(column_name = "content")]
    pub legacy_content: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
