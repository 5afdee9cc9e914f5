//! Profiles, the hash-chained ledger (append-only, enforced by triggers) and the outbox.
//!
//! Written as SQL per backend: the append-only triggers have no portable form, and seeing the
//! exact tables is worth more here than a builder's abstraction.

use sea_orm_migration::prelude::*;

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    r"CREATE TABLE profiles (
        ins TEXT PRIMARY KEY,
        status TEXT NOT NULL CHECK (status IN ('ANNOUNCED','OPPOSED','CREATED','ACTIVATED','CLOSED')),
        birth_name TEXT NOT NULL,
        first_names TEXT NOT NULL,
        birth_date DATE NOT NULL,
        carte_vitale_serial TEXT NOT NULL,
        insurer_email TEXT,
        postal_address TEXT NOT NULL,
        enrolled_at TIMESTAMPTZ NOT NULL,
        opposition_deadline TIMESTAMPTZ NOT NULL,
        opposed_at TIMESTAMPTZ,
        created_at TIMESTAMPTZ,
        activated_at TIMESTAMPTZ,
        closed_at TIMESTAMPTZ,
        activation_code_hash TEXT,
        personal_email TEXT,
        failed_activation_attempts INTEGER NOT NULL DEFAULT 0,
        activation_locked_until TIMESTAMPTZ
    )",
    "CREATE INDEX profiles_due_for_creation ON profiles (opposition_deadline) WHERE status = 'ANNOUNCED'",
    r"CREATE TABLE ledger_events (
        id BIGSERIAL PRIMARY KEY,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        seq BIGINT NOT NULL CHECK (seq >= 1),
        occurred_at TIMESTAMPTZ NOT NULL,
        kind TEXT NOT NULL,
        actor_role TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        actor_name TEXT NOT NULL,
        actor_profession TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        CONSTRAINT ledger_events_patient_seq UNIQUE (patient_ins, seq)
    )",
    r"CREATE FUNCTION ledger_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'ledger_events is append-only: % refused', TG_OP
            USING ERRCODE = 'restrict_violation';
    END
    $$",
    r"CREATE TRIGGER ledger_events_no_update_or_delete
        BEFORE UPDATE OR DELETE ON ledger_events
        FOR EACH ROW EXECUTE FUNCTION ledger_events_refuse_change()",
    r"CREATE TRIGGER ledger_events_no_truncate
        BEFORE TRUNCATE ON ledger_events
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_events_refuse_change()",
    r"CREATE TABLE notifications (
        id BIGSERIAL PRIMARY KEY,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        ledger_event_id BIGINT NOT NULL REFERENCES ledger_events (id),
        kind TEXT NOT NULL,
        channel TEXT NOT NULL CHECK (channel IN ('EMAIL','POSTAL','LIVE')),
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('PENDING','SENT','FAILED')),
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at TIMESTAMPTZ NOT NULL,
        sent_at TIMESTAMPTZ,
        last_error TEXT,
        CONSTRAINT notifications_once_per_event_and_channel UNIQUE (ledger_event_id, channel)
    )",
    "CREATE INDEX notifications_by_status ON notifications (status, id)",
];

const SQLITE_UP: &[&str] = &[
    r"CREATE TABLE profiles (
        ins TEXT PRIMARY KEY NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('ANNOUNCED','OPPOSED','CREATED','ACTIVATED','CLOSED')),
        birth_name TEXT NOT NULL,
        first_names TEXT NOT NULL,
        birth_date TEXT NOT NULL,
        carte_vitale_serial TEXT NOT NULL,
        insurer_email TEXT,
        postal_address TEXT NOT NULL,
        enrolled_at TEXT NOT NULL,
        opposition_deadline TEXT NOT NULL,
        opposed_at TEXT,
        created_at TEXT,
        activated_at TEXT,
        closed_at TEXT,
        activation_code_hash TEXT,
        personal_email TEXT,
        failed_activation_attempts INTEGER NOT NULL DEFAULT 0,
        activation_locked_until TEXT
    )",
    "CREATE INDEX profiles_due_for_creation ON profiles (status, opposition_deadline)",
    r"CREATE TABLE ledger_events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        seq INTEGER NOT NULL CHECK (seq >= 1),
        occurred_at TEXT NOT NULL,
        kind TEXT NOT NULL,
        actor_role TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        actor_name TEXT NOT NULL,
        actor_profession TEXT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        CONSTRAINT ledger_events_patient_seq UNIQUE (patient_ins, seq)
    )",
    r"CREATE TRIGGER ledger_events_no_update BEFORE UPDATE ON ledger_events
    BEGIN
        SELECT RAISE(ABORT, 'ledger_events is append-only: UPDATE refused');
    END",
    r"CREATE TRIGGER ledger_events_no_delete BEFORE DELETE ON ledger_events
    BEGIN
        SELECT RAISE(ABORT, 'ledger_events is append-only: DELETE refused');
    END",
    r"CREATE TABLE notifications (
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
    "CREATE INDEX notifications_by_status ON notifications (status, id)",
];

/// Dropping the tables is allowed: the triggers guard rows, not the schema, and `down` exists
/// for development databases. The ledger goes with its tables.
const POSTGRES_DOWN: &[&str] = &[
    "DROP TABLE notifications",
    "DROP TABLE ledger_events",
    "DROP FUNCTION ledger_events_refuse_change()",
    "DROP TABLE profiles",
];

const SQLITE_DOWN: &[&str] = &[
    "DROP TABLE notifications",
    "DROP TABLE ledger_events",
    "DROP TABLE profiles",
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
