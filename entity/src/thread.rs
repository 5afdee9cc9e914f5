//! A conversation between one practitioner and one patient. An undelivered thread (no profile
//! for the INS) holds the practitioner's message and the bounce, for the practitioner only.

use sea_orm::entity::prelude::*;

use crate::values::{Ins, Rpps};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "threads")]
pub struct Model {
    // PostgreSQL's key is (patient_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_ins: Ins,
    pub practitioner_rpps: Rpps,
    pub practitioner_name: String,
    pub practitioner_profession: Option<String>,
    /// The subject of the first message.
    pub subject: String,
    /// False for a thread whose messages bounced: the patient never sees it.
    pub delivered: bool,
    pub created_at: DateTimeUtc,
    pub last_message_at: DateTimeUtc,
    pub patient_unread: i32,
    pub practitioner_unread: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
