//! The live feeds, read from the database: a patient's live notifications and a practitioner's
//! inbox events (replies and bounces), each after a cursor (the row's id); and the streams that
//! replay them after a cursor, then follow them as the live hub rings. A subscriber that passes
//! the last cursor it saw gets what it missed, then the live stream: no gap, no duplicate,
//! since every event is read from the database after the subscriber's cursor (see
//! `notify::live`).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use futures_util::future::{BoxFuture, Shared};
use futures_util::{FutureExt, Stream};

use entity::{message, notification, thread};
use sea_orm::sea_query::Query;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::live::{Doorbell, Recipient};
use super::views::{Message, Notification, Thread};
use super::{ServiceError, Services};
use crate::domain::{ActorRole, Channel, Ins, Rpps};

/// Rows read per query; a subscriber catching up reads in pages of this size.
pub const PAGE: u64 = 100;

impl Services {
    /// The patient's live notifications after `after` (default: from now on), then each one as
    /// it is committed, with its cursor.
    pub async fn notification_feed(
        &self,
        ins: &Ins,
        after: Option<i64>,
    ) -> Result<impl Stream<Item = Result<(i64, Notification), ServiceError>> + use<>, ServiceError>
    {
        // Ring first, read after: nothing committed in between is missed.
        let doorbell = self.live.subscribe(Recipient::Patient(ins.clone()));
        let start = match after {
            Some(after) => after,
            None => self.latest_live_notification(ins).await?,
        };
        let (services, ins) = (self.clone(), ins.clone());
        Ok(feed(doorbell, start, move |after| {
            let (services, ins) = (services.clone(), ins.clone());
            async move {
                let rows = services.live_notifications_after(&ins, after).await?;
                Ok(rows.into_iter().map(|n| (n.id, n)).collect())
            }
        }))
    }

    /// The practitioner's inbox events after `after` (default: from now on), then each one as
    /// it is committed, with its cursor: replies come without what the patient wrote.
    pub async fn inbox_feed(
        &self,
        rpps: &Rpps,
        after: Option<i64>,
    ) -> Result<
        impl Stream<Item = Result<(i64, (Message, Thread)), ServiceError>> + use<>,
        ServiceError,
    > {
        let doorbell = self.live.subscribe(Recipient::Practitioner(rpps.clone()));
        let start = match after {
            Some(after) => after,
            None => self.latest_inbox_event(rpps).await?,
        };
        let (services, rpps) = (self.clone(), rpps.clone());
        Ok(feed(doorbell, start, move |after| {
            let (services, rpps) = (services.clone(), rpps.clone());
            async move {
                let rows = services.inbox_events_after(&rpps, after).await?;
                Ok(rows.into_iter().map(|row| (row.0.id, row)).collect())
            }
        }))
    }

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

/// A read of a feed, shareable by the recipient's subscribers ([`Doorbell::share`]).
type SharedRead<T> = Shared<BoxFuture<'static, Result<Arc<Vec<(i64, T)>>, Arc<ServiceError>>>>;

/// What a feed keeps between two items.
struct FeedState<T, F> {
    doorbell: Doorbell,
    last: i64,
    buffer: VecDeque<(i64, T)>,
    fetch: F,
}

/// Replays the rows after `start`, then waits for the doorbell and reads again, forever. The
/// recipient's subscribers rung by the same ring at the same cursor share one read (one read
/// per ring per recipient, however many devices follow it). A read that fails is told to the
/// subscriber, a second later, and the feed goes on: the next read may well succeed.
fn feed<T, F, Fut>(
    doorbell: Doorbell,
    start: i64,
    fetch: F,
) -> impl Stream<Item = Result<(i64, T), ServiceError>>
where
    F: Fn(i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<(i64, T)>, ServiceError>> + Send + 'static,
    T: Clone + Send + Sync + 'static,
{
    let state = FeedState {
        doorbell,
        last: start,
        buffer: VecDeque::new(),
        fetch,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            if let Some((id, item)) = state.buffer.pop_front() {
                state.last = id;
                return Some((Ok((id, item)), state));
            }
            // The ring count first, then the read: it holds everything committed before.
            let rings = state.doorbell.rings();
            let fetch = &state.fetch;
            // Boxed: the read's future (an ORM query's, several KB) exists while it runs, not
            // in every idle subscription.
            let read: SharedRead<T> = state.doorbell.share(state.last, rings, || {
                fetch(state.last)
                    .map(|rows| rows.map(Arc::new).map_err(Arc::new))
                    .boxed()
                    .shared()
            });
            match read.await {
                Ok(rows) if rows.is_empty() => state.doorbell.rung().await,
                Ok(rows) => state.buffer.extend(rows.iter().cloned()),
                Err(err) => {
                    state.doorbell.unshare(state.last, rings);
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    return Some((
                        Err(ServiceError::internal(format!(
                            "a live feed's read failed: {}",
                            err.message()
                        ))),
                        state,
                    ));
                }
            }
        }
    })
}
