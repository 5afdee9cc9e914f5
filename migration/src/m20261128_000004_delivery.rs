//! Notification delivery: retry bookkeeping on the outbox (when to try again, who holds a
//! claim), a one-line summary of each notice for the postal statement, and the letters sent.

use sea_orm::DbBackend;
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

/// SQLite (3.35+) drops columns too, but not one with a foreign key: `letter_id` stays.
const SQLITE_DOWN: &[&str] = &[
    "DROP INDEX notifications_due",
    "ALTER TABLE notifications DROP COLUMN claimed_until",
    "ALTER TABLE notifications DROP COLUMN next_attempt_at",
    "ALTER TABLE notifications DROP COLUMN summary",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run_script(manager, POSTGRES_UP).await,
            DbBackend::Sqlite => run_script(manager, SQLITE_UP).await,
            other => Err(DbErr::Migration(format!("unsupported database {other:?}"))),
        }
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match manager.get_database_backend() {
            DbBackend::Postgres => run_script(manager, POSTGRES_DOWN).await,
            DbBackend::Sqlite => run_script(manager, SQLITE_DOWN).await,
            other => Err(DbErr::Migration(format!("unsupported database {other:?}"))),
        }
    }
}
