//! The notification outbox: notices derived from a ledger event, written in its transaction.

use chrono::{DateTime, Utc};
use entity::{notification, profile};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::views::Notification;
use super::{ServiceError, Services};
pub use entity::values::DeliveryStatus;

use crate::domain::{
    Channel, Ins, ProfileStatus, Reach, notices::Notice, route, route_to_representatives,
};

/// What routes a notice: the status it is routed by, how far it goes, and a minor's
/// representatives' emails.
#[derive(Debug, Clone, Copy)]
pub(super) struct Routing<'a> {
    pub status: ProfileStatus,
    pub reach: Reach,
    pub representatives: &'a [String],
}

/// One row per channel (and recipient) that SPEC's routing gives for the patient's current
/// status (and, for an alert, the postal statement too) — for a minor, to each legal
/// representative's email (`representatives`). Written with their event by
/// [`super::journal::write`], which sets the event's id. The unique `(ledger_event_id, channel,
/// recipient)` index makes a second write for the same event and recipient fail, so a notice
/// is never queued twice.
pub(super) fn rows(
    routing: Routing<'_>,
    profile: &profile::Model,
    notice: &Notice,
    now: DateTime<Utc>,
) -> Vec<notification::ActiveModel> {
    let deliveries = route_to_representatives(
        routing.reach,
        route(
            routing.reach,
            routing.status,
            profile.insurer_email.as_deref(),
            profile.personal_email.as_deref(),
        ),
        routing.representatives,
    );
    deliveries
        .into_iter()
        .map(|delivery| {
            // A live notice is published by the commit itself (the subscribers' feed is this
            // table, replayed by cursor), so it is sent once written; the others wait for their
            // relay.
            let live = delivery.channel == Channel::Live;
            notification::ActiveModel {
                id: NotSet,
                patient_ins: Set(profile.ins.clone()),
                ledger_event_id: NotSet,
                kind: Set(notice.kind),
                channel: Set(delivery.channel),
                recipient: Set(delivery.email.unwrap_or_default()),
                subject: Set(notice.subject.clone()),
                body: Set(notice.body.clone()),
                status: Set(if live {
                    DeliveryStatus::Sent
                } else {
                    DeliveryStatus::Pending
                }),
                attempts: Set(0),
                created_at: Set(now),
                sent_at: Set(live.then_some(now)),
                last_error: Set(None),
                summary: Set(notice.summary.clone()),
                next_attempt_at: Set(Some(now)),
                claimed_until: Set(None),
                letter_id: Set(None),
            }
        })
        .collect()
}

/// Filter for the operator's listing.
#[derive(Debug, Default, Clone)]
pub struct OutboxFilter {
    pub status: Option<DeliveryStatus>,
    pub patient_ins: Option<Ins>,
}

impl Services {
    /// The outbox, oldest first, `limit` rows after the row `after` (an id).
    pub async fn list_notifications(
        &self,
        filter: &OutboxFilter,
        after: Option<i64>,
        limit: u64,
    ) -> Result<Vec<Notification>, ServiceError> {
        let mut query = notification::Entity::find().order_by_asc(notification::Column::Id);
        if let Some(status) = &filter.status {
            query = query.filter(notification::Column::Status.eq(*status));
        }
        if let Some(ins) = &filter.patient_ins {
            query = query.filter(notification::Column::PatientIns.eq(ins.clone()));
        }
        if let Some(after) = after {
            query = query.filter(notification::Column::Id.gt(after));
        }
        let rows = query.limit(limit).all(&self.db).await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
