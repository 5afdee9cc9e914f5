//! The DMP's documents (metadata apart from content, so that lists never read blobs), the
//! practitioners who accessed each record (first-access notices), blocked practitioners, and
//! the patient's medical profile.

use sea_orm_migration::prelude::*;

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &[&str] = &[
    r"CREATE TABLE documents (
        id BIGSERIAL PRIMARY KEY,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        author_role TEXT NOT NULL CHECK (author_role IN ('PRACTITIONER','PATIENT')),
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        author_profession TEXT,
        type_code TEXT NOT NULL,
        title TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size_bytes BIGINT NOT NULL,
        sha256 TEXT NOT NULL,
        act_date DATE NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        masked BOOLEAN NOT NULL DEFAULT FALSE,
        idempotency_key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        CONSTRAINT documents_idempotency UNIQUE (author_id, idempotency_key)
    )",
    "CREATE INDEX documents_by_patient ON documents (patient_ins, id)",
    r"CREATE TABLE document_contents (
        document_id BIGINT PRIMARY KEY REFERENCES documents (id),
        content BYTEA NOT NULL
    )",
    r"CREATE TABLE practitioner_accesses (
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        practitioner_rpps TEXT NOT NULL,
        first_access_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (patient_ins, practitioner_rpps)
    )",
    r"CREATE TABLE practitioner_blocks (
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        practitioner_rpps TEXT NOT NULL,
        blocked_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (patient_ins, practitioner_rpps)
    )",
    r"CREATE TABLE medical_profile_entries (
        id BIGSERIAL PRIMARY KEY,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        category TEXT NOT NULL CHECK (category IN ('ALLERGY','TREATMENT','HISTORY','VACCINATION')),
        label TEXT NOT NULL,
        details TEXT,
        since DATE,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )",
    "CREATE INDEX medical_profile_by_patient ON medical_profile_entries (patient_ins, id)",
];

const SQLITE_UP: &[&str] = &[
    r"CREATE TABLE documents (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        author_role TEXT NOT NULL CHECK (author_role IN ('PRACTITIONER','PATIENT')),
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        author_profession TEXT,
        type_code TEXT NOT NULL,
        title TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        act_date TEXT NOT NULL,
        created_at TEXT NOT NULL,
        masked INTEGER NOT NULL DEFAULT 0,
        idempotency_key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        CONSTRAINT documents_idempotency UNIQUE (author_id, idempotency_key)
    )",
    "CREATE INDEX documents_by_patient ON documents (patient_ins, id)",
    r"CREATE TABLE document_contents (
        document_id INTEGER PRIMARY KEY NOT NULL REFERENCES documents (id),
        content BLOB NOT NULL
    )",
    r"CREATE TABLE practitioner_accesses (
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        practitioner_rpps TEXT NOT NULL,
        first_access_at TEXT NOT NULL,
        PRIMARY KEY (patient_ins, practitioner_rpps)
    )",
    r"CREATE TABLE practitioner_blocks (
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        practitioner_rpps TEXT NOT NULL,
        blocked_at TEXT NOT NULL,
        PRIMARY KEY (patient_ins, practitioner_rpps)
    )",
    r"CREATE TABLE medical_profile_entries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        patient_ins TEXT NOT NULL REFERENCES profiles (ins),
        category TEXT NOT NULL CHECK (category IN ('ALLERGY','TREATMENT','HISTORY','VACCINATION')),
        label TEXT NOT NULL,
        details TEXT,
        since TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )",
    "CREATE INDEX medical_profile_by_patient ON medical_profile_entries (patient_ins, id)",
];

const DOWN: &[&str] = &[
    "DROP TABLE medical_profile_entries",
    "DROP TABLE practitioner_blocks",
    "DROP TABLE practitioner_accesses",
    "DROP TABLE document_contents",
    "DROP TABLE documents",
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
