//! The outbox relay: claims pending emails, sends them, records each attempt, retries with
//! backoff, and marks permanent failures for the operator. Several replicas can run it: a claim
//! is a lease taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite has one writer).
//!
//! At least once: a crash between sending and marking resends after the lease, with the same
//! Message-ID. Never twice for the same event and channel: the outbox holds one row per
//! (event, channel), and a row marked sent is never claimed again.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{notification, profile};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, Statement};
use tokio_util::sync::CancellationToken;

use super::email::{Mailer, SendError};
use crate::clock::SharedClock;
use crate::domain::{Ins, ProfileStatus, may_be_notified};
pub use crate::ports::delivery::RelayReport;

/// Rows claimed per round.
const BATCH: i64 = 20;

/// What happened to one email.
#[derive(Debug)]
enum Outcome {
    Sent,
    Retry { at: DateTime<Utc>, error: String },
    Failed { error: String },
}

/// Delivers the email channel of the outbox.
#[derive(Debug, Clone)]
pub struct Relay {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub mailer: Mailer,
    /// Attempts before a notification is marked FAILED.
    pub max_attempts: i32,
    /// How long a claim keeps other relays away (RELAY_LEASE_SECS). It is renewed while an
    /// email is being sent, so it only needs to outlast one renewal period; after a crash, the
    /// emails it held wait this long before another relay takes them.
    pub lease: chrono::Duration,
}

/// The wait before attempt `n + 1`: 30 s, 1 min, 2 min, … capped at an hour.
pub fn backoff(attempts: i32) -> chrono::Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(7);
    chrono::Duration::seconds(30 * 2_i64.pow(exponent)).min(chrono::Duration::hours(1))
}

impl Relay {
    /// One round: claim what is due, deliver it, record the outcome.
    pub async fn run_once(&self) -> Result<RelayReport, DbErr> {
        self.round(&CancellationToken::new()).await
    }

    /// One round that stops early when `stop` is cancelled: the email being sent is sent and
    /// recorded (never cut in the middle, where it would be sent again after the lease), and
    /// the rest of the claim is given back at once for another relay to take.
    async fn round(&self, stop: &CancellationToken) -> Result<RelayReport, DbErr> {
        let claimed = self.claim(self.clock.now()).await?;
        let mut report = RelayReport::default();
        let mut rows = claimed.into_iter();
        while let Some(row) = rows.next() {
            if stop.is_cancelled() {
                self.give_back(std::iter::once(row).chain(rows)).await?;
                break;
            }
            // The lease is renewed row by row: if it ran out while earlier rows were being sent
            // and another relay took this one, it is that relay's to send.
            let Some(lease) = self.renew(row.id, row.claimed_until).await? else {
                continue;
            };
            let (outcome, lease) = self.deliver_renewing(&row, lease).await?;
            // `relay_emails_total{outcome}`: the operator's view of the relay (docs/src/metrics.md).
            let counted = match outcome {
                Outcome::Sent => {
                    report.sent += 1;
                    "sent"
                }
                Outcome::Retry { .. } => {
                    report.retried += 1;
                    "retried"
                }
                Outcome::Failed { .. } => {
                    report.failed += 1;
                    "failed"
                }
            };
            metrics::counter!("relay_emails_total", "outcome" => counted).increment(1);
            self.record(row.id, lease, outcome).await?;
        }
        Ok(report)
    }

    /// Delivers `row`, renewing its lease every third of the lease while the mail server
    /// takes its time. Returns the outcome and the lease then held (if it was lost, another
    /// relay has the row and [`Self::record`] leaves it alone).
    async fn deliver_renewing(
        &self,
        row: &notification::Model,
        mut lease: DateTime<Utc>,
    ) -> Result<(Outcome, DateTime<Utc>), DbErr> {
        let every = (self.lease / 3)
            .to_std()
            .unwrap_or(Duration::from_secs(1))
            .max(Duration::from_secs(1));
        let mut renewal = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let delivery = self.deliver(row);
        futures_util::pin_mut!(delivery);
        loop {
            tokio::select! {
                outcome = &mut delivery => return Ok((outcome?, lease)),
                _ = renewal.tick() => match self.renew(row.id, Some(lease)).await? {
                    Some(renewed) => lease = renewed,
                    None => {
                        tracing::warn!(notification.id = row.id, "email lease lost while sending; another relay owns it now");
                    }
                },
            }
        }
    }

    /// Sends one email, or says why not.
    async fn deliver(&self, row: &notification::Model) -> Result<Outcome, DbErr> {
        // SPEC's routing: an opposed or closed person gets nothing, even what was queued
        // before; the notice is closed with the reason, for the operator to see.
        if let Some(status) = self.undeliverable_status(&row.patient_ins).await? {
            return Ok(Outcome::Failed {
                error: format!("cancelled: the profile is {status}, no email is sent"),
            });
        }
        Ok(match self.mailer.send(row).await {
            Ok(()) => Outcome::Sent,
            Err(SendError::Transient(error)) if row.attempts < self.max_attempts => {
                tracing::warn!(notification.id = row.id, notification.attempts = row.attempts, error.cause = %error, "email not sent; will retry");
                Outcome::Retry {
                    at: self.clock.now() + backoff(row.attempts),
                    error,
                }
            }
            Err(SendError::Transient(error) | SendError::Permanent(error)) => {
                tracing::error!(notification.id = row.id, notification.attempts = row.attempts, error.cause = %error, "email given up");
                Outcome::Failed { error }
            }
        })
    }

    /// Runs rounds every `every` until `stop` is cancelled, then ends once the email in hand
    /// is recorded. A failed round is logged and the next one tries again.
    pub async fn run(self, every: Duration, stop: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                () = stop.cancelled() => return,
            }
            match self.round(&stop).await {
                Ok(report) if report != RelayReport::default() => {
                    tracing::info!(
                        sent = report.sent,
                        retried = report.retried,
                        failed = report.failed,
                        "outbox relay round"
                    );
                }
                Ok(_) => {}
                Err(err) => tracing::error!(error.cause = %err, "outbox relay round failed"),
            }
        }
    }

    /// Takes a lease on due pending emails and counts the attempt.
    async fn claim(&self, now: DateTime<Utc>) -> Result<Vec<notification::Model>, DbErr> {
        let backend = self.db.get_database_backend();
        let lock = if backend == DbBackend::Postgres {
            "FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE notifications SET claimed_until = $1, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM notifications \
                 WHERE channel = 'EMAIL' AND status = 'PENDING' \
                   AND (next_attempt_at IS NULL OR next_attempt_at <= $2) \
                   AND (claimed_until IS NULL OR claimed_until <= $2) \
                 ORDER BY id LIMIT $3 {lock}) \
             RETURNING *"
        );
        let statement = Statement::from_sql_and_values(
            backend,
            placeholders(backend, &sql),
            [(now + self.lease).into(), now.into(), BATCH.into()],
        );
        let mut rows = notification::Entity::find()
            .from_raw_sql(statement)
            .all(&self.db)
            .await?;
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    /// Gives claimed rows back untried: no lease, and the attempt counted at the claim undone.
    async fn give_back(
        &self,
        rows: impl Iterator<Item = notification::Model>,
    ) -> Result<(), DbErr> {
        for row in rows {
            self.execute(
                "UPDATE notifications SET claimed_until = NULL, attempts = attempts - 1 WHERE id = $1 AND claimed_until = $2",
                vec![row.id.into(), row.claimed_until.into()],
            )
            .await?;
        }
        Ok(())
    }

    /// The status of a profile that must not be notified any more
    /// ([`may_be_notified`] says which).
    async fn undeliverable_status(&self, ins: &Ins) -> Result<Option<ProfileStatus>, DbErr> {
        let profile = profile::Entity::find_by_id(ins.clone())
            .one(&self.db)
            .await?;
        Ok(profile
            .map(|p| p.status)
            .filter(|status| !may_be_notified(*status)))
    }

    /// Extends the lease on a claimed row, if it is still ours (`held`) and still pending.
    async fn renew(
        &self,
        id: i64,
        held: Option<DateTime<Utc>>,
    ) -> Result<Option<DateTime<Utc>>, DbErr> {
        let lease = self.clock.now() + self.lease;
        let renewed = self
            .execute(
                "UPDATE notifications SET claimed_until = $1 WHERE id = $2 AND claimed_until = $3 AND status = 'PENDING'",
                vec![lease.into(), id.into(), held.into()],
            )
            .await?;
        Ok((renewed == 1).then_some(lease))
    }

    /// Records the outcome, if the lease is still ours.
    async fn record(&self, id: i64, lease: DateTime<Utc>, outcome: Outcome) -> Result<(), DbErr> {
        let now = self.clock.now();
        let (sql, at, error) = match outcome {
            Outcome::Sent => (
                "UPDATE notifications SET status = 'SENT', sent_at = $1, claimed_until = NULL, last_error = $4 WHERE id = $2 AND claimed_until = $3",
                now,
                None,
            ),
            Outcome::Retry { at, error } => (
                "UPDATE notifications SET next_attempt_at = $1, claimed_until = NULL, last_error = $4 WHERE id = $2 AND claimed_until = $3",
                at,
                Some(error),
            ),
            Outcome::Failed { error } => (
                "UPDATE notifications SET status = 'FAILED', next_attempt_at = $1, claimed_until = NULL, last_error = $4 WHERE id = $2 AND claimed_until = $3",
                now,
                Some(error),
            ),
        };
        self.execute(sql, vec![at.into(), id.into(), lease.into(), error.into()])
            .await?;
        Ok(())
    }

    async fn execute(&self, sql: &str, values: Vec<sea_orm::Value>) -> Result<u64, DbErr> {
        let backend = self.db.get_database_backend();
        let result = self
            .db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                placeholders(backend, sql),
                values,
            ))
            .await?;
        Ok(result.rows_affected())
    }
}

/// SQL is written with PostgreSQL's `$n`; SQLite numbers a `$name` by first appearance, so it
/// gets `?n`, which it numbers as written.
fn placeholders(backend: DbBackend, sql: &str) -> String {
    match backend {
        DbBackend::Sqlite => sql.replace('$', "?"),
        _ => sql.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_thirty_seconds_up_to_an_hour() {
        assert_eq!(backoff(1), chrono::Duration::seconds(30));
        assert_eq!(backoff(2), chrono::Duration::seconds(60));
        assert_eq!(backoff(4), chrono::Duration::seconds(240));
        assert_eq!(backoff(20), chrono::Duration::hours(1));
    }
}
