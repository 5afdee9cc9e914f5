//! Live events over websockets: the services' feeds (`services::feeds`), which replay what a
//! subscriber missed after its cursor, then follow the live stream, mapped to the schema.

use async_graphql::{Context, ID, Object, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};

use super::guard::RoleGuard;
use super::messaging::Message;
use super::{error, patient, practitioner, services};
use crate::domain::ActorRole as Role;

/// A live notification to the patient. Like every notice, it carries no medical content.
#[derive(SimpleObject, Debug)]
pub struct LiveNotification {
    /// Pass it as `after` when resubscribing to resume after this event.
    pub cursor: String,
    /// NEW_DOCUMENT, FIRST_ACCESS, NEW_MESSAGE, EMERGENCY_ACCESS (an alert: someone opened
    /// the record in an emergency) or SIGN_IN_ACCOUNT (a sign-in account was linked to the
    /// profile, unlinked, or refused to it).
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
        let (ins, _) = patient(ctx)?;
        let feed = services(ctx).notification_feed(ins, cursor(after)?).await?;
        Ok(feed.map(|item| {
            let (id, n) = item?;
            Ok(LiveNotification {
                cursor: id.to_string(),
                kind: n.kind.as_str().to_owned(),
                summary: n.summary,
                occurred_at: n.created_at,
            })
        }))
    }

    /// Replies and bounces arriving in the signed-in practitioner's inbox. Without `after`,
    /// from now on; to start where a query left off, pass the query's `inboxCursor` as
    /// `after`. A patient's reply comes without its text (`message.body` is null): reading the
    /// thread, which is traced, gives it.
    #[graphql(guard = "RoleGuard::new(&[Role::Practitioner])")]
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The cursor of the last event seen: replay what came after it first.")]
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<InboxEvent>> + use<>> {
        let rpps = &practitioner(ctx)?.rpps;
        let feed = services(ctx).inbox_feed(rpps, cursor(after)?).await?;
        Ok(feed.map(|item| {
            let (id, (message, thread)) = item?;
            Ok(InboxEvent {
                cursor: id.to_string(),
                thread_id: ID(thread.id.to_string()),
                patient_ins: thread.patient_ins.to_string(),
                message: message.into(),
            })
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
