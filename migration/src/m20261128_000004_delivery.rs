//! Notification delivery: retry bookkeeping on the outbox (when to try again, who holds a
//! claim), a one-line summary of each notice for the postal statement, and the letters sent.

use sea_orm_migration::prelude::*;

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE notifications ADD COLUMN summary TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE notifications ADD COLUMN next_attempt_at TIMESTAMPTZ",
    "ALTER TABLE notifications ADD COLUMN claimed_until TIMESTAMPTZ",
    r"CREATE TABLE postal_letters (
        id BIGSERIAL PRIMARY KEY,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        period_start TIMESTAMPTZ NOT NULL,
        period_end TIMESTAMPTZ NOT NULL,
        file_name TEXT NOT NULL,
        pages INTEGER NOT NULL,
        notification_count INTEGER NOT NULL,
        created_at TIMESTAMPTZ NOT NULL
    )",
    "ALTER TABLE notifications ADD COLUMN letter_id BIGINT REFERENCES postal_letters (id)",
    "CREATE INDEX notifications_due ON notifications (channel, status, next_attempt_at)",
];

const SQLITE_UP: &[&str] = &[
    "ALTER TABLE notifications ADD COLUMN summary TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE notifications ADD COLUMN next_attempt_at TEXT",
    "ALTER TABLE notifications ADD COLUMN claimed_until TEXT",
    r"CREATE TABLE postal_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        period_start TEXT NOT NULL,
        period_end TEXT NOT NULL,
        file_name TEXT NOT NULL,
        pages INTEGER NOT NULL,
        notification_count INTEGER NOT NULL,
        created_at TEXT NOT NULL
    )",
    "ALTER TABLE notifications ADD COLUMN letter_id INTEGER REFERENCES postal_letters (id)",
    "CREATE INDEX notifications_due ON notifications (channel, status, next_attempt_at)",
];

const POSTGRES_DOWN: &[&str] = &[
    "DROP INDEX notifications_due",
    "ALTER TABLE notifications DROP COLUMN letter_id",
    "DROP TABLE postal_letters",
    "ALTER TABLE notifications DROP COLUMN claimed_until",
    "ALTER TABLE notifications DROP COLUMN next_attempt_at",
    "ALTER TABLE notifications DROP COLUMN summary",
];

/// SQLite cannot drop a column that a foreign key uses: the table is rebuilt as it was.
const SQLITE_DOWN: &[&str] = &[
    "DROP INDEX notifications_due",
    r"CREATE TABLE notifications_before_delivery (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        ledger_event_id INTEGER NOT NULL REFERENCES ledger_events (id),
        kind TEXT NOT NULL,
        channel TEXT NOT NULL CHECK (channel IN ('EMAIL','POSTAL','LIVE')),
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('PENDING','SENT','FAILED')),
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        sent_at TEXT,
        last_error TEXT,
        CONSTRAINT notifications_once_per_event_and_channel UNIQUE (ledger_event_id, channel)
    )",
    r"INSERT INTO notifications_before_delivery
        (id, patient_ins, ledger_event_id, kind, channel, recipient, subject, body, status,
         attempts, created_at, sent_at, last_error)
        SELECT id, patient_ins, ledger_event_id, kind, channel, recipient, subject, body, status,
               attempts, created_at, sent_at, last_error
        FROM notifications",
    "DROP TABLE notifications",
    "ALTER TABLE notifications_before_delivery RENAME TO notifications",
    "CREATE INDEX notifications_by_status ON notifications (status, id)",
    "DROP TABLE postal_letters",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES_DOWN, SQLITE_DOWN).await
    }
}
