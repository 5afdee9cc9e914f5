//! The bytes of a document, apart from its metadata.

use sea_orm::entity::prelude::*;

use crate::values::Ins;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "document_contents")]
pub struct Model {
    // PostgreSQL's key is (patient_ins, document_id) (the entity lib's doc says why SeaORM is
    // told `document_id`).
    #[sea_orm(primary_key, auto_increment = false)]
    pub document_id: i64,
    /// The document's patient (the distribution key: docs/src/scale.md).
    pub patient_ins: Ins,
    pub content: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
