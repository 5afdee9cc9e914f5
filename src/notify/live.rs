//! Live events across replicas: PostgreSQL `LISTEN` on the channel that services `NOTIFY` in
//! their writing transactions, ringing this process's doorbells ([`LiveHub`]).

use std::time::Duration;

use entity::{message, notification, thread};
use sea_orm::{DatabaseConnection, DbBackend, DbErr, EntityTrait};

use crate::ports::live::{CHANNEL, LiveHub, Recipient};

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
                Ok(Some(event)) => match recipient_of(&db, event.payload()).await {
                    Ok(Some(recipient)) => hub.wake(&recipient),
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(error.cause = %err, "live event could not be routed; waking all");
                        hub.wake_all();
                    }
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

/// Re-reads the row a payload names, to find whom it is for.
async fn recipient_of(db: &DatabaseConnection, payload: &str) -> Result<Option<Recipient>, DbErr> {
    let Some((kind, id)) = payload.split_once(':') else {
        return Ok(None);
    };
    let Ok(id) = id.parse::<i64>() else {
        return Ok(None);
    };
    Ok(match kind {
        "n" => notification::Entity::find_by_id(id)
            .one(db)
            .await?
            .map(|n| Recipient::Patient(n.patient_ins)),
        "m" => match message::Entity::find_by_id(id).one(db).await? {
            Some(m) => thread::Entity::find_by_id(m.thread_id)
                .one(db)
                .await?
                .map(|t| Recipient::Practitioner(t.practitioner_rpps)),
            None => None,
        },
        _ => None,
    })
}
