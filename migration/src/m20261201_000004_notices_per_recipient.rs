//! A notice is queued once per event, channel **and recipient**: a minor's notices go to each of
//! their legal representatives by email, so one event may have two email rows. The unique
//! constraint on `(ledger_event_id, channel)` becomes a unique index on
//! `(ledger_event_id, channel, recipient)`.
//!
//! PostgreSQL drops the constraint and creates the index. SQLite cannot drop a table constraint:
//! the outbox is rebuilt as it stands, rows kept, without it, and its indexes are made again.

use sea_orm_migration::prelude::*;

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The outbox's columns, in the order of the table (SQLite's rebuild copies them as they are).
const SQLITE_COLUMNS: &str = r#""id" integer PRIMARY KEY AUTOINCREMENT, "patient_ins" text NOT NULL, "ledger_event_id" integer NOT NULL, "kind" text NOT NULL, "channel" text NOT NULL CHECK ("channel" IN ('EMAIL', 'POSTAL', 'LIVE')), "recipient" text NOT NULL, "subject" text NOT NULL, "body" text NOT NULL, "status" text NOT NULL CHECK ("status" IN ('PENDING', 'SENT', 'FAILED')), "attempts" integer NOT NULL DEFAULT 0, "created_at" timestamp_with_timezone_text NOT NULL, "sent_at" timestamp_with_timezone_text NULL, "last_error" text NULL, "summary" text NOT NULL DEFAULT '', "next_attempt_at" timestamp_with_timezone_text NULL, "claimed_until" timestamp_with_timezone_text NULL, "letter_id" integer NULL REFERENCES postal_letters (id)"#;
const SQLITE_KEYS: &str = r#"FOREIGN KEY ("patient_ins") REFERENCES "profiles" ("ins"), FOREIGN KEY ("ledger_event_id") REFERENCES "ledger_events" ("id")"#;
const SQLITE_INDEXES: [&str; 2] = [
    r#"CREATE INDEX "notifications_by_status" ON "notifications" ("status", "id")"#,
    r#"CREATE INDEX "notifications_due" ON "notifications" ("channel", "status", "next_attempt_at")"#,
];
const PER_RECIPIENT: &str = r#"CREATE UNIQUE INDEX "notifications_once_per_event_channel_and_recipient" ON "notifications" ("ledger_event_id", "channel", "recipient")"#;

fn sqlite_rebuild(constraint: &str, copy: &str) -> Vec<String> {
    let mut statements = vec![
        format!(
            r#"CREATE TABLE "notifications_rebuilt" ( {SQLITE_COLUMNS}, {constraint}{SQLITE_KEYS} )"#
        ),
        format!(
            r#"{copy} INTO "notifications_rebuilt" SELECT * FROM "notifications" ORDER BY "id""#
        ),
        r#"DROP TABLE "notifications""#.to_owned(),
        r#"ALTER TABLE "notifications_rebuilt" RENAME TO "notifications""#.to_owned(),
    ];
    statements.extend(SQLITE_INDEXES.iter().map(|s| (*s).to_owned()));
    statements
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut sqlite = sqlite_rebuild("", "INSERT");
        sqlite.push(PER_RECIPIENT.to_owned());
        let sqlite: Vec<&str> = sqlite.iter().map(String::as_str).collect();
        run_script(
            manager,
            &[
                r#"ALTER TABLE "notifications" DROP CONSTRAINT "notifications_once_per_event_and_channel""#,
                PER_RECIPIENT,
            ],
            &sqlite,
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Back to one row per event and channel: the extra recipients' rows go (the first stays).
        let sqlite = sqlite_rebuild(
            r#"CONSTRAINT "notifications_once_per_event_and_channel" UNIQUE ("ledger_event_id", "channel"), "#,
            "INSERT OR IGNORE",
        );
        let sqlite: Vec<&str> = sqlite.iter().map(String::as_str).collect();
        run_script(
            manager,
            &[
                r#"DELETE FROM "notifications" a USING "notifications" b WHERE a."ledger_event_id" = b."ledger_event_id" AND a."channel" = b."channel" AND a."id" > b."id""#,
                r#"DROP INDEX "notifications_once_per_event_channel_and_recipient""#,
                r#"ALTER TABLE "notifications" ADD CONSTRAINT "notifications_once_per_event_and_channel" UNIQUE ("ledger_event_id", "channel")"#,
            ],
            &sqlite,
        )
        .await
    }
}
