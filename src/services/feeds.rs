//! The live feeds, read from the database: a patient's live notifications and a practitioner's
//! inbox events (replies and bounces), each after a cursor (the row's id).

use entity::{message, notification, thread};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::views::{Message, Notification, Thread};
use super::{ServiceError, Services};
use crate::domain::{ActorRole, Channel, Ins, Rpps};

/// Rows read per query; a subscriber catching up reads in pages of this size.
pub const PAGE: u64 = 100;

impl Services {
    /// A patient's live notifications after `after`, oldest first.
    pub async fn live_notifications_after(
        &self,
        ins: &Ins,
        after: i64,
    ) -> Result<Vec<Notification>, ServiceError> {
        Ok(notification::Entity::find()
            .filter(notification::Column::PatientIns.eq(ins.clone()))
            .filter(notification::Column::Channel.eq(Channel::Live))
            .filter(notification::Column::Id.gt(after))
            .order_by_asc(notification::Column::Id)
            .limit(PAGE)
            .all(&self.db)
            .await?
            .into_iter()
            .map(Into::into)
            .collect())
    }

    /// The cursor of the patient's latest live notification (0 for none).
    pub async fn latest_live_notification(&self, ins: &Ins) -> Result<i64, ServiceError> {
        let latest: Option<i64> = notification::Entity::find()
            .select_only()
            .column_as(notification::Column::Id.max(), "latest")
            .filter(notification::Column::PatientIns.eq(ins.clone()))
            .filter(notification::Column::Channel.eq(Channel::Live))
            .into_tuple()
            .one(&self.db)
            .await?
            .flatten();
        Ok(latest.unwrap_or(0))
    }

    /// A practitioner's inbox events after `after` (messages from patients and the system in its
    /// threads), oldest first, with their threads; without what a patient wrote, which only
    /// the traced reading of the thread gives.
    pub async fn inbox_events_after(
        &self,
        rpps: &Rpps,
        after: i64,
    ) -> Result<Vec<(Message, Thread)>, ServiceError> {
        let messages = message::Entity::find()
            .filter(message::Column::ThreadId.in_subquery(practitioner_threads(rpps)))
            .filter(message::Column::SenderRole.ne(ActorRole::Practitioner))
            .filter(message::Column::Id.gt(after))
            .order_by_asc(message::Column::Id)
            .limit(PAGE)
            .all(&self.db)
            .await?;
        let thread_ids: Vec<i64> = messages.iter().map(|m| m.thread_id).collect();
        let threads = thread::Entity::find()
            .filter(thread::Column::Id.is_in(thread_ids))
            .all(&self.db)
            .await?;
        messages
            .into_iter()
            .map(|m| {
                let thread = threads
                    .iter()
                    .find(|t| t.id == m.thread_id)
                    .cloned()
                    .ok_or_else(|| {
                        ServiceError::internal(format!("message {} has no thread", m.id))
                    })?;
                Ok((Message::from(m).without_patient_text(), thread.into()))
            })
            .collect()
    }

    /// The cursor of the practitioner's latest inbox event (0 for none).
    pub async fn latest_inbox_event(&self, rpps: &Rpps) -> Result<i64, ServiceError> {
        let latest: Option<i64> = message::Entity::find()
            .select_only()
            .column_as(message::Column::Id.max(), "latest")
            .filter(message::Column::ThreadId.in_subquery(practitioner_threads(rpps)))
            .filter(message::Column::SenderRole.ne(ActorRole::Practitioner))
            .into_tuple()
            .one(&self.db)
            .await?
            .flatten();
        Ok(latest.unwrap_or(0))
    }
}

fn practitioner_threads(rpps: &Rpps) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(thread::Column::Id)
        .from(thread::Entity)
        .and_where(thread::Column::PractitionerRpps.eq(rpps.clone()))
        .to_owned()
}
