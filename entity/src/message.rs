//! A message of a thread: from the practitioner, the patient's reply, or the system's bounce.

use sea_orm::entity::prelude::*;

use crate::values::{ActorRole, Ins};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    // PostgreSQL's key is (patient_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The thread's patient (the distribution key: docs/src/scale.md).
    pub patient_ins: Ins,
    pub thread_id: i64,
    /// PRACTITIONER, PATIENT or SYSTEM.
    pub sender_role: ActorRole,
    pub sender_id: String,
    pub sender_name: String,
    pub subject: String,
    pub body: String,
    /// The system's "undeliverable" answer.
    pub bounce: bool,
    pub sent_at: DateTimeUtc,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
