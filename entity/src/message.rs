//! A message of a thread: from the practitioner, the patient's reply, or the system's bounce.

use sea_orm::entity::prelude::*;

use crate::values::ActorRole;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
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
