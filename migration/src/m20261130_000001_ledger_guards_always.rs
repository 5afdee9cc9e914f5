//! The ledger's append-only guards hold for every session and every form of INSERT.
//!
//! PostgreSQL: the foundation's triggers were `ENABLE` (origin only), so a session with
//! `session_replication_role = replica` skipped them; `ENABLE ALWAYS` fires them in every
//! replication role. (Disabling or dropping them takes the table's owner, which the API's role
//! in production is not: see README, "Running in production".)
//!
//! SQLite: `INSERT OR REPLACE` and `REPLACE INTO` resolve a unique conflict by deleting the
//! existing row, and that delete fires no DELETE trigger (unless `recursive_triggers` is on,
//! which we do not rely on): an event could be overwritten. A BEFORE INSERT trigger runs before
//! any conflict is resolved, and refuses a row whose `id` or `(patient_ins, seq)` is taken. A
//! plain INSERT of such a row failed already (unique keys); it now fails with this message.

use sea_orm_migration::prelude::*;

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    "ALTER TABLE ledger_events ENABLE ALWAYS TRIGGER ledger_events_no_update_or_delete",
    "ALTER TABLE ledger_events ENABLE ALWAYS TRIGGER ledger_events_no_truncate",
];

const POSTGRES_DOWN: &[&str] = &[
    "ALTER TABLE ledger_events ENABLE TRIGGER ledger_events_no_update_or_delete",
    "ALTER TABLE ledger_events ENABLE TRIGGER ledger_events_no_truncate",
];

/// `NEW.id` is -1 in a BEFORE INSERT trigger when the statement leaves the id to SQLite (as the
/// API does), which matches no event: ids start at 1.
const SQLITE_UP: &[&str] = &[
    r"CREATE TRIGGER ledger_events_no_replace BEFORE INSERT ON ledger_events
    WHEN EXISTS (
        SELECT 1 FROM ledger_events
        WHERE id = NEW.id OR (patient_ins = NEW.patient_ins AND seq = NEW.seq)
    )
    BEGIN
        SELECT RAISE(ABORT, 'ledger_events is append-only: an existing event cannot be replaced');
    END",
];

const SQLITE_DOWN: &[&str] = &["DROP TRIGGER ledger_events_no_replace"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES_DOWN, SQLITE_DOWN).await
    }
}
