//! Live events across replicas: this process tells the others what it committed ([`announce`],
//! a PostgreSQL `NOTIFY` after the commit), and hears theirs ([`listen`], `LISTEN` on the same
//! channel), ringing its own doorbells ([`LiveHub`]).

use std::collections::HashSet;
use std::time::Duration;

use entity::{message, notification, thread};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use sqlx::Connection as _;
use tokio_util::sync::CancellationToken;

use crate::ports::live::{Announcement, CHANNEL, Heard, LiveHub, Recipient, hear};

/// Tells the other replicas what this process committed, until `finished` is cancelled (then
/// it tells what is left and returns). Whatever queued while a `NOTIFY` was on its way goes in
/// the next one: under load, one statement for many writes. It holds a connection of its own,
/// outside the pool. A `NOTIFY` that fails is logged and dropped: the rows are committed, and
/// the other replicas' subscribers read them at their next ring.
pub async fn announce(db: DatabaseConnection, hub: LiveHub, finished: CancellationToken) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    let options = db.get_postgres_connection_pool().connect_options();
    let mut connection: Option<sqlx::PgConnection> = None;
    loop {
        let last = tokio::select! {
            () = hub.announced() => false,
            () = finished.cancelled() => true,
        };
        for payload in hub.take_payloads() {
            if connection.is_none() {
                match sqlx::PgConnection::connect_with(&options).await {
                    Ok(opened) => connection = Some(opened),
                    Err(err) => {
                        tracing::warn!(error.cause = %err, "the other replicas could not be told of live events");
                        continue;
                    }
                }
            }
            if let Some(open) = connection.as_mut()
                && let Err(err) = notify(open, &payload).await
            {
                tracing::warn!(error.cause = %err, "the other replicas could not be told of live events");
                connection = None;
            }
        }
        if last {
            return;
        }
    }
}

/// One `NOTIFY`, by PostgreSQL's simple protocol: one round trip, and nothing left in the
/// connection's cache of prepared statements. The payload is digits, letters, `:` and `,`
/// ([`crate::ports::live::payloads`]): nothing to quote.
async fn notify(connection: &mut sqlx::PgConnection, payload: &str) -> Result<(), sqlx::Error> {
    let sql = format!("SELECT pg_notify('{CHANNEL}', '{payload}')");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(connection)
        .await
        .map(drop)
}

/// Listens to the other replicas' events and rings the local doorbells, until the process
/// stops. When the connection drops, it reconnects and rings everyone, who catch up from the
/// database.
pub async fn listen(db: DatabaseConnection, hub: LiveHub) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    loop {
        let mut listener =
            match sqlx::postgres::PgListener::connect_with(db.get_postgres_connection_pool()).await
            {
                Ok(listener) => listener,
                Err(err) => {
                    tracing::warn!(error.cause = %err, "live listener cannot connect; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error.cause = %err, "live listener cannot LISTEN; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        // Anything committed while we were not listening is read by a full catch-up.
        hub.wake_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(event)) => match hear(hub.replica(), event.payload()) {
                    Some(Heard::Rows(rows)) => match recipients_of(&db, &rows).await {
                        Ok(recipients) => {
                            for recipient in &recipients {
                                hub.wake(recipient);
                            }
                        }
                        Err(err) => {
                            tracing::warn!(error.cause = %err, "live events could not be routed; waking all");
                            hub.wake_all();
                        }
                    },
                    Some(Heard::All) => hub.wake_all(),
                    Some(Heard::Own) | None => {}
                },
                // The connection dropped: notifications may have been lost. Reconnect, listen
                // again, then everyone catches up from the database (above).
                Ok(None) => {
                    tracing::warn!("live listener lost its connection; reconnecting");
                    break;
                }
                Err(err) => {
                    tracing::warn!(error.cause = %err, "live listener failed; reconnecting");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    break;
                }
            }
        }
    }
}

/// Whom the announced rows are for: one read per table, whatever their number.
async fn recipients_of(
    db: &DatabaseConnection,
    rows: &[Announcement],
) -> Result<HashSet<Recipient>, DbErr> {
    let (mut notifications, mut messages) = (Vec::new(), Vec::new());
    for row in rows {
        match *row {
            Announcement::Notification(id) => notifications.push(id),
            Announcement::Message(id) => messages.push(id),
        }
    }
    let mut recipients = HashSet::new();
    if !notifications.is_empty() {
        let patients: Vec<crate::domain::Ins> = notification::Entity::find()
            .select_only()
            .column(notification::Column::PatientIns)
            .filter(notification::Column::Id.is_in(notifications))
            .into_tuple()
            .all(db)
            .await?;
        recipients.extend(patients.into_iter().map(Recipient::Patient));
    }
    if !messages.is_empty() {
        let practitioners: Vec<crate::domain::Rpps> = thread::Entity::find()
            .select_only()
            .column(thread::Column::PractitionerRpps)
            .filter(
                thread::Column::Id.in_subquery(
                    sea_orm::sea_query::Query::select()
                        .column(message::Column::ThreadId)
                        .from(message::Entity)
                        .and_where(message::Column::Id.is_in(messages))
                        .to_owned(),
                ),
            )
            .into_tuple()
            .all(db)
            .await?;
        recipients.extend(practitioners.into_iter().map(Recipient::Practitioner));
    }
    Ok(recipients)
}
