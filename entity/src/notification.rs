//! The notification outbox: each row is one delivery of one ledger event on one channel,
//! written in the transaction of that event.

use sea_orm::entity::prelude::*;

use crate::values::{Channel, DeliveryStatus, Ins, NoticeKind};

/// One notice to deliver.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notifications")]
pub struct Model {
    // PostgreSQL's key is (patient_ins, id) (the entity lib's doc says why SeaORM is told `id`).
    #[sea_orm(primary_key)]
    pub id: i64,
    pub patient_ins: Ins,
    /// The ledger event this notice tells about; unique with `channel`.
    pub ledger_event_id: i64,
    /// What happened (ANNOUNCEMENT, PROFILE_CREATED, …).
    pub kind: NoticeKind,
    pub channel: Channel,
    /// The email address for EMAIL; empty otherwise.
    pub recipient: String,
    pub subject: String,
    /// Plain text, without medical content. The creation notice carries the activation code.
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub created_at: DateTimeUtc,
    pub sent_at: Option<DateTimeUtc>,
    pub last_error: Option<String>,
    /// One line for the postal statement: what happened and by whom, no medical content.
    pub summary: String,
    /// When the relay may try again after a failed attempt.
    pub next_attempt_at: Option<DateTimeUtc>,
    /// A relay's claim: others leave the row alone until then.
    pub claimed_until: Option<DateTimeUtc>,
    /// The postal letter that carried this notice.
    pub letter_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
