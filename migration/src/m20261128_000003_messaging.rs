//! Secure messaging: threads between one practitioner and one patient, their messages and
//! attachments. A thread that could not be delivered (no profile) holds the practitioner's
//! message and the system's bounce, and only the practitioner sees it: it has no foreign key to
//! profiles, since the INS may be unknown.

use sea_orm_migration::prelude::*;

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    r"CREATE TABLE threads (
        id BIGSERIAL PRIMARY KEY,
        patient_ins TEXT NOT NULL,
        practitioner_rpps TEXT NOT NULL,
        practitioner_name TEXT NOT NULL,
        practitioner_profession TEXT,
        subject TEXT NOT NULL,
        delivered BOOLEAN NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        last_message_at TIMESTAMPTZ NOT NULL,
        patient_unread INTEGER NOT NULL DEFAULT 0,
        practitioner_unread INTEGER NOT NULL DEFAULT 0,
        CONSTRAINT threads_one_per_pair UNIQUE (practitioner_rpps, patient_ins, delivered)
    )",
    "CREATE INDEX threads_by_patient ON threads (patient_ins, last_message_at)",
    r"CREATE TABLE messages (
        id BIGSERIAL PRIMARY KEY,
        thread_id BIGINT NOT NULL REFERENCES threads (id),
        sender_role TEXT NOT NULL CHECK (sender_role IN ('PRACTITIONER','PATIENT','SYSTEM')),
        sender_id TEXT NOT NULL,
        sender_name TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        bounce BOOLEAN NOT NULL DEFAULT FALSE,
        sent_at TIMESTAMPTZ NOT NULL,
        idempotency_key TEXT,
        request_hash TEXT,
        CONSTRAINT messages_idempotency UNIQUE (sender_id, idempotency_key)
    )",
    "CREATE INDEX messages_by_thread ON messages (thread_id, id)",
    r"CREATE TABLE message_attachments (
        id BIGSERIAL PRIMARY KEY,
        message_id BIGINT NOT NULL REFERENCES messages (id),
        title TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size_bytes BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        content BYTEA NOT NULL
    )",
    "CREATE INDEX attachments_by_message ON message_attachments (message_id)",
];

const SQLITE_UP: &[&str] = &[
    r"CREATE TABLE threads (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_ins TEXT NOT NULL,
        practitioner_rpps TEXT NOT NULL,
        practitioner_name TEXT NOT NULL,
        practitioner_profession TEXT,
        subject TEXT NOT NULL,
        delivered INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        last_message_at TEXT NOT NULL,
        patient_unread INTEGER NOT NULL DEFAULT 0,
        practitioner_unread INTEGER NOT NULL DEFAULT 0,
        CONSTRAINT threads_one_per_pair UNIQUE (practitioner_rpps, patient_ins, delivered)
    )",
    "CREATE INDEX threads_by_patient ON threads (patient_ins, last_message_at)",
    r"CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        thread_id INTEGER NOT NULL REFERENCES threads (id),
        sender_role TEXT NOT NULL CHECK (sender_role IN ('PRACTITIONER','PATIENT','SYSTEM')),
        sender_id TEXT NOT NULL,
        sender_name TEXT NOT NULL,
        subject TEXT NOT NULL,
        body TEXT NOT NULL,
        bounce INTEGER NOT NULL DEFAULT 0,
        sent_at TEXT NOT NULL,
        idempotency_key TEXT,
        request_hash TEXT,
        CONSTRAINT messages_idempotency UNIQUE (sender_id, idempotency_key)
    )",
    "CREATE INDEX messages_by_thread ON messages (thread_id, id)",
    r"CREATE TABLE message_attachments (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id INTEGER NOT NULL REFERENCES messages (id),
        title TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        content BLOB NOT NULL
    )",
    "CREATE INDEX attachments_by_message ON message_attachments (message_id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE message_attachments",
    "DROP TABLE messages",
    "DROP TABLE threads",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, POSTGRES_UP, SQLITE_UP).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_script(manager, DOWN, DOWN).await
    }
}
