//! Live events over websockets. A subscriber that passes the last cursor it saw gets what it
//! missed, read from the database, then the live stream: no gap, no duplicate, since every
//! event is read from the database after the subscriber's cursor (see `notify::live`).

use std::collections::VecDeque;
use std::future::Future;

use async_graphql::{Context, ID, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::Stream;

use super::guard::RoleGuard;
use super::messaging::Message;
use super::{error, patient, practitioner, services};
use crate::domain::ActorRole as Role;
use crate::services::ServiceError;
use crate::services::live::{Doorbell, Recipient};

/// A live notification to the patient. Like every notice, it carries no medical content.
#[derive(SimpleObject, Debug)]
pub struct LiveNotification {
    /// Pass it as `after` when resubscribing to resume after this event.
    pub cursor: String,
    /// NEW_DOCUMENT, FIRST_ACCESS, NEW_MESSAGE or EMERGENCY_ACCESS (an alert: someone opened
    /// the record in an emergency).
    pub kind: String,
    /// What happened and by whom.
    pub summary: String,
    /// When.
    pub occurred_at: DateTime<Utc>,
}

/// A reply or a bounce arriving in the practitioner's inbox.
#[derive(SimpleObject, Debug)]
pub struct InboxEvent {
    /// Pass it as `after` when resubscribing to resume after this event.
    pub cursor: String,
    /// The conversation.
    pub thread_id: ID,
    /// The patient of the conversation.
    pub patient_ins: String,
    /// The message (a patient's reply, or the system's bounce).
    pub message: Message,
}

/// Live events.
#[derive(Debug, Default)]
pub struct SubscriptionRoot;

/// Where the practitioner's live feed stands, in the query root.
#[derive(Debug, Default)]
pub struct LiveQuery;

/// Where the patient's live feed stands, in [`super::Me`].
#[derive(Debug, Default)]
pub struct MeLive;

// A subscription without `after` starts at "now" as the server sees it when the subscription
// registers, which an app cannot know: an event between the app's last query and that moment
// would be in neither. These cursors let the app pin "now" with its query, then subscribe from
// there. Per recipient, ids commit in order (see `notify::live`), so nothing committed after
// the cursor was read can carry a smaller id.

#[Object]
impl LiveQuery {
    /// The `cursor` of the latest event of your inbox feed, now ("0" when there is none yet).
    /// To miss nothing between a query and the subscription that follows it, ask for this in
    /// the query, then subscribe with `inbox(after: <this value>)`: every reply or bounce that
    /// arrives after the query is delivered, none from before it (practitioners).
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn inbox_cursor(&self, ctx: &Context<'_>) -> Result<String> {
        let rpps = &practitioner(ctx)?.rpps;
        Ok(services(ctx).latest_inbox_event(rpps).await?.to_string())
    }
}

#[Object]
impl MeLive {
    /// The `cursor` of your latest live notification, now ("0" when there is none yet). To miss
    /// nothing between a query and the subscription that follows it, ask for this in the query,
    /// then subscribe with `notifications(after: <this value>)`: every notification that
    /// arrives after the query is delivered, none from before it.
    async fn notifications_cursor(&self, ctx: &Context<'_>) -> Result<String> {
        let (ins, _) = patient(ctx)?;
        Ok(services(ctx)
            .latest_live_notification(ins)
            .await?
            .to_string())
    }
}

/// Live events, over websockets at `/graphql/ws` (graphql-transport-ws or graphql-ws), with the
/// token in the `connection_init` payload. The connection closes (4401) when the token expires.
#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// The signed-in patient's live notifications: first accesses, new documents, new messages.
    /// Without `after`, from now on; to start where a query left off, pass the query's
    /// `me { notificationsCursor }` as `after`.
    #[graphql(guard = "RoleGuard::new(&[Role::Patient])")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cursor of the last event seen: replay what came after it first.")]
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<LiveNotification>> + use<>> {
        let ins = patient(ctx)?.0.clone();
        let services = services(ctx).clone();
        // Ring first, read after: nothing committed in between is missed.
        let doorbell = services.live.subscribe(Recipient::Patient(ins.clone()));
        let start = match cursor(after)? {
            Some(after) => after,
            None => services.latest_live_notification(&ins).await?,
        };
        Ok(feed(doorbell, start, move |after| {
            let (services, ins) = (services.clone(), ins.clone());
            async move {
                let rows = services.live_notifications_after(&ins, after).await?;
                Ok(rows
                    .into_iter()
                    .map(|n| {
                        let event = LiveNotification {
                            cursor: n.id.to_string(),
                            kind: n.kind.as_str().to_owned(),
                            summary: n.summary,
                            occurred_at: n.created_at,
                        };
                        (n.id, event)
                    })
                    .collect())
            }
        }))
    }

    /// Replies and bounces arriving in the signed-in practitioner's inbox. Without `after`,
    /// from now on; to start where a query left off, pass the query's `inboxCursor` as
    /// `after`.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cursor of the last event seen: replay what came after it first.")]
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<InboxEvent>> + use<>> {
        let rpps = practitioner(ctx)?.rpps.clone();
        let services = services(ctx).clone();
        let doorbell = services
            .live
            .subscribe(Recipient::Practitioner(rpps.clone()));
        let start = match cursor(after)? {
            Some(after) => after,
            None => services.latest_inbox_event(&rpps).await?,
        };
        Ok(feed(doorbell, start, move |after| {
            let (services, rpps) = (services.clone(), rpps.clone());
            async move {
                let rows = services.inbox_events_after(&rpps, after).await?;
                Ok(rows
                    .into_iter()
                    .map(|(message, thread)| {
                        let id = message.id;
                        let event = InboxEvent {
                            cursor: id.to_string(),
                            thread_id: ID(thread.id.to_string()),
                            patient_ins: thread.patient_ins.to_string(),
                            message: message.into(),
                        };
                        (id, event)
                    })
                    .collect())
            }
        }))
    }
}

/// Reads a subscription's `after`: the id of the last event seen, as its `cursor` gave it.
fn cursor(after: Option<String>) -> Result<Option<i64>> {
    after
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| error::bad_user_input("`after` is not a cursor this API gave"))
        })
        .transpose()
}

/// What a feed keeps between two items.
struct FeedState<T, F> {
    doorbell: Doorbell,
    last: i64,
    buffer: VecDeque<(i64, T)>,
    fetch: F,
}

/// Replays the rows after `start`, then waits for the doorbell and reads again, forever.
fn feed<T, F, Fut>(doorbell: Doorbell, start: i64, fetch: F) -> impl Stream<Item = Result<T>>
where
    F: Fn(i64) -> Fut + Send + 'static,
    Fut: Future<Output = std::result::Result<Vec<(i64, T)>, ServiceError>> + Send,
    T: Send + 'static,
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
                return Some((Ok(item), state));
            }
            match (state.fetch)(state.last).await {
                Ok(rows) if rows.is_empty() => state.doorbell.rung().await,
                Ok(rows) => state.buffer.extend(rows),
                Err(err) => {
                    // Tell the client, then keep going: the next read may well succeed.
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    return Some((Err(err.into()), state));
                }
            }
        }
    })
}
