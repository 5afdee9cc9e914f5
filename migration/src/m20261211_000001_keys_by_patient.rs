//! Every table of a patient's data is keyed by the patient, ready to be distributed by
//! `patient_ins` (Citus): the distribution column is in every primary key and every unique
//! constraint, and a foreign key between two patient tables includes it on both sides, so that
//! no key or reference spans two patients' rows (docs/src/scale.md).
//!
//! - `document_contents`, `messages` and `message_attachments` gain `patient_ins`, filled from
//!   their parent (document, thread, message);
//! - on PostgreSQL, the primary key `(id)` of each patient table becomes `(patient_ins, id)`
//!   (`legal_representatives`: `(child_ins, id)`, distributed by the child), with a plain index
//!   on `id` beside it: ids still come from one sequence, so they stay unique, and the
//!   application's look-ups by id keep an index;
//! - references between patient tables name the patient on both sides; unique keys that did
//!   not name the patient (the idempotency keys, the outbox's once-per-recipient) do;
//! - an account at an identity provider names one profile (a uniqueness across patients): that
//!   is now the primary key of `account_subjects`, a look-up table keyed by `(issuer, subject)`
//!   and written in the linking transaction, rather than a unique index of `account_links`.
//!
//! SQLite, the embedded development database, is never distributed, and changes a primary key
//! or a table constraint only by rebuilding the table: it gains the columns, the outbox's and
//! the accounts' changes, and a unique index `<table>_pkey` on `(patient_ins, id)` standing for
//! PostgreSQL's primary key; its `id` stays the rowid (AUTOINCREMENT needs `INTEGER PRIMARY
//! KEY`), and its idempotency constraints stay as they were, across patients (stricter).
//!
//! The ledger's guards refuse UPDATE and DELETE of rows, not a change of key: `ledger_events`
//! keeps every row, and its triggers, as they are.

use sea_orm_migration::{prelude::*, schema::*};

use crate::run_script;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccountSubjects {
    Table,
    Issuer,
    Subject,
    PatientIns,
    UnlinkedAt,
}

/// The tables whose primary key was `(id)`, with their distribution column.
const KEYED_BY_ID: [(&str, &str); 10] = [
    ("ledger_events", "patient_ins"),
    ("notifications", "patient_ins"),
    ("postal_letters", "patient_ins"),
    ("documents", "patient_ins"),
    ("medical_profile_entries", "patient_ins"),
    ("threads", "patient_ins"),
    ("messages", "patient_ins"),
    ("message_attachments", "patient_ins"),
    ("emergency_accesses", "patient_ins"),
    ("legal_representatives", "child_ins"),
];

/// A child row takes `patient_ins` from its parent: (table, its reference, parent).
const FILLED_FROM_PARENT: [(&str, &str, &str); 3] = [
    ("document_contents", "document_id", "documents"),
    ("messages", "thread_id", "threads"),
    ("message_attachments", "message_id", "messages"),
];

/// PostgreSQL's references that did not name the patient: (table, constraint, column, parent).
const REFERENCES: [(&str, &str, &str, &str); 5] = [
    (
        "notifications",
        "notifications_ledger_event_id_fkey",
        "ledger_event_id",
        "ledger_events",
    ),
    (
        "notifications",
        "notifications_letter_id_fkey",
        "letter_id",
        "postal_letters",
    ),
    (
        "document_contents",
        "document_contents_document_id_fkey",
        "document_id",
        "documents",
    ),
    (
        "messages",
        "messages_thread_id_fkey",
        "thread_id",
        "threads",
    ),
    (
        "message_attachments",
        "message_attachments_message_id_fkey",
        "message_id",
        "messages",
    ),
];

/// The idempotency constraints (PostgreSQL): (table, constraint, columns after the patient).
const IDEMPOTENCY: [(&str, &str, &str); 2] = [
    (
        "documents",
        "documents_idempotency",
        "author_id, idempotency_key",
    ),
    (
        "messages",
        "messages_idempotency",
        "sender_id, idempotency_key",
    ),
];

/// Indexes that the new primary keys make redundant: (name, table, columns), both databases.
const SUPERSEDED: [(&str, &str, &str); 2] = [
    ("documents_by_patient", "documents", "patient_ins, id"),
    (
        "medical_profile_by_patient",
        "medical_profile_entries",
        "patient_ins, id",
    ),
];

const OUTBOX_OLD: &str = r#"CREATE UNIQUE INDEX "notifications_once_per_event_channel_and_recipient" ON "notifications" ("ledger_event_id", "channel", "recipient")"#;
const OUTBOX_NEW: &str = r#"CREATE UNIQUE INDEX "notifications_once_per_event_channel_and_recipient" ON "notifications" ("patient_ins", "ledger_event_id", "channel", "recipient")"#;
const OUTBOX_DROP: &str = r#"DROP INDEX "notifications_once_per_event_channel_and_recipient""#;

const ACCOUNTS_OLD: [&str; 2] = [
    r#"CREATE UNIQUE INDEX "account_links_one_profile_per_account" ON "account_links" ("issuer", "subject") WHERE "unlinked_at" IS NULL"#,
    r#"CREATE INDEX "account_links_by_account" ON "account_links" ("issuer", "subject")"#,
];
const ACCOUNTS_DROP: [&str; 2] = [
    r#"DROP INDEX "account_links_one_profile_per_account""#,
    r#"DROP INDEX "account_links_by_account""#,
];

/// Each account's current profile (if linked) and its latest unlinking, from the links.
const ACCOUNTS_FILL: &str = r#"INSERT INTO "account_subjects" ("issuer", "subject", "patient_ins", "unlinked_at")
    SELECT "issuer", "subject",
           MAX(CASE WHEN "unlinked_at" IS NULL THEN "patient_ins" END),
           MAX("unlinked_at")
    FROM "account_links" GROUP BY "issuer", "subject""#;

fn account_subjects() -> TableCreateStatement {
    Table::create()
        .table(AccountSubjects::Table)
        .col(text(AccountSubjects::Issuer))
        .col(text(AccountSubjects::Subject))
        .col(text_null(AccountSubjects::PatientIns))
        .col(timestamp_with_time_zone_null(AccountSubjects::UnlinkedAt))
        .primary_key(
            Index::create()
                .col(AccountSubjects::Issuer)
                .col(AccountSubjects::Subject),
        )
        .to_owned()
}

fn postgres_up() -> Vec<String> {
    let mut up = Vec::new();
    for (table, reference, parent) in FILLED_FROM_PARENT {
        up.push(format!(
            r#"ALTER TABLE "{table}" ADD COLUMN "patient_ins" text"#
        ));
        up.push(format!(
            r#"UPDATE "{table}" c SET "patient_ins" = p."patient_ins" FROM "{parent}" p WHERE p."id" = c."{reference}""#
        ));
        up.push(format!(
            r#"ALTER TABLE "{table}" ALTER COLUMN "patient_ins" SET NOT NULL"#
        ));
    }
    // The references go first: they hang on the primary keys about to change.
    for (table, constraint, _, _) in REFERENCES {
        up.push(format!(
            r#"ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}""#
        ));
    }
    for (table, column) in KEYED_BY_ID {
        up.push(format!(
            r#"ALTER TABLE "{table}" DROP CONSTRAINT "{table}_pkey""#
        ));
        up.push(format!(
            r#"ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ("{column}", "id")"#
        ));
        up.push(format!(
            r#"CREATE INDEX "{table}_by_id" ON "{table}" ("id")"#
        ));
    }
    up.push(r#"ALTER TABLE "ledger_moves" DROP CONSTRAINT "ledger_moves_pkey""#.to_owned());
    up.push(
        r#"ALTER TABLE "ledger_moves" ADD CONSTRAINT "ledger_moves_pkey" PRIMARY KEY ("patient_ins", "id")"#
            .to_owned(),
    );
    up.push(
        r#"ALTER TABLE "document_contents" DROP CONSTRAINT "document_contents_pkey""#.to_owned(),
    );
    up.push(
        r#"ALTER TABLE "document_contents" ADD CONSTRAINT "document_contents_pkey" PRIMARY KEY ("patient_ins", "document_id")"#
            .to_owned(),
    );
    up.push(
        r#"CREATE INDEX "document_contents_by_id" ON "document_contents" ("document_id")"#
            .to_owned(),
    );
    for (table, constraint, column, parent) in REFERENCES {
        up.push(format!(
            r#"ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" FOREIGN KEY ("patient_ins", "{column}") REFERENCES "{parent}" ("patient_ins", "id")"#
        ));
    }
    for (table, constraint, columns) in IDEMPOTENCY {
        up.push(format!(
            r#"ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}""#
        ));
        up.push(format!(
            r#"ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" UNIQUE ("patient_ins", {columns})"#
        ));
    }
    up.extend(common_up());
    up
}

fn postgres_down() -> Vec<String> {
    let mut down = common_down();
    for (table, constraint, columns) in IDEMPOTENCY {
        down.push(format!(
            r#"ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}""#
        ));
        down.push(format!(
            r#"ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" UNIQUE ({columns})"#
        ));
    }
    for (table, constraint, _, _) in REFERENCES {
        down.push(format!(
            r#"ALTER TABLE "{table}" DROP CONSTRAINT "{constraint}""#
        ));
    }
    down.push(r#"DROP INDEX "document_contents_by_id""#.to_owned());
    down.push(
        r#"ALTER TABLE "document_contents" DROP CONSTRAINT "document_contents_pkey""#.to_owned(),
    );
    down.push(
        r#"ALTER TABLE "document_contents" ADD CONSTRAINT "document_contents_pkey" PRIMARY KEY ("document_id")"#
            .to_owned(),
    );
    down.push(r#"ALTER TABLE "ledger_moves" DROP CONSTRAINT "ledger_moves_pkey""#.to_owned());
    down.push(
        r#"ALTER TABLE "ledger_moves" ADD CONSTRAINT "ledger_moves_pkey" PRIMARY KEY ("id")"#
            .to_owned(),
    );
    for (table, _) in KEYED_BY_ID {
        down.push(format!(r#"DROP INDEX "{table}_by_id""#));
        down.push(format!(
            r#"ALTER TABLE "{table}" DROP CONSTRAINT "{table}_pkey""#
        ));
        down.push(format!(
            r#"ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY ("id")"#
        ));
    }
    for (table, constraint, column, parent) in REFERENCES {
        down.push(format!(
            r#"ALTER TABLE "{table}" ADD CONSTRAINT "{constraint}" FOREIGN KEY ("{column}") REFERENCES "{parent}" ("id")"#
        ));
    }
    for (table, _, _) in FILLED_FROM_PARENT.iter().rev() {
        down.push(format!(
            r#"ALTER TABLE "{table}" DROP COLUMN "patient_ins""#
        ));
    }
    down
}

/// The tables SQLite keys by patient with a unique index (its primary keys stay `id`).
fn sqlite_keyed() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    KEYED_BY_ID
        .iter()
        .map(|(table, column)| (*table, *column, "id"))
        .chain([
            ("ledger_moves", "patient_ins", "id"),
            ("document_contents", "patient_ins", "document_id"),
        ])
}

fn sqlite_up() -> Vec<String> {
    let mut up = Vec::new();
    // SQLite adds a NOT NULL column only with a default; every insert sets it.
    for (table, reference, parent) in FILLED_FROM_PARENT {
        up.push(format!(
            r#"ALTER TABLE "{table}" ADD COLUMN "patient_ins" text NOT NULL DEFAULT ''"#
        ));
        up.push(format!(
            r#"UPDATE "{table}" SET "patient_ins" = (SELECT p."patient_ins" FROM "{parent}" p WHERE p."id" = "{table}"."{reference}")"#
        ));
    }
    for (table, column, id) in sqlite_keyed() {
        up.push(format!(
            r#"CREATE UNIQUE INDEX "{table}_pkey" ON "{table}" ("{column}", "{id}")"#
        ));
    }
    up.extend(common_up());
    up
}

fn sqlite_down() -> Vec<String> {
    let mut down = common_down();
    for (table, _, _) in sqlite_keyed() {
        down.push(format!(r#"DROP INDEX "{table}_pkey""#));
    }
    for (table, _, _) in FILLED_FROM_PARENT.iter().rev() {
        down.push(format!(
            r#"ALTER TABLE "{table}" DROP COLUMN "patient_ins""#
        ));
    }
    down
}

/// What both databases do alike (after `account_subjects` is created).
fn common_up() -> Vec<String> {
    let mut up = vec![
        OUTBOX_DROP.to_owned(),
        OUTBOX_NEW.to_owned(),
        ACCOUNTS_FILL.to_owned(),
    ];
    up.extend(ACCOUNTS_DROP.iter().map(|s| (*s).to_owned()));
    up.extend(
        SUPERSEDED
            .iter()
            .map(|(name, _, _)| format!(r#"DROP INDEX "{name}""#)),
    );
    up
}

fn common_down() -> Vec<String> {
    let mut down: Vec<String> = SUPERSEDED
        .iter()
        .map(|(name, table, columns)| {
            let columns = columns
                .split(", ")
                .map(|c| format!(r#""{c}""#))
                .collect::<Vec<_>>()
                .join(", ");
            format!(r#"CREATE INDEX "{name}" ON "{table}" ({columns})"#)
        })
        .collect();
    down.extend(ACCOUNTS_OLD.iter().map(|s| (*s).to_owned()));
    down.push(OUTBOX_DROP.to_owned());
    down.push(OUTBOX_OLD.to_owned());
    down
}

async fn run(
    manager: &SchemaManager<'_>,
    postgres: Vec<String>,
    sqlite: Vec<String>,
) -> Result<(), DbErr> {
    let postgres: Vec<&str> = postgres.iter().map(String::as_str).collect();
    let sqlite: Vec<&str> = sqlite.iter().map(String::as_str).collect();
    run_script(manager, &postgres, &sqlite).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_table(account_subjects()).await?;
        run(manager, postgres_up(), sqlite_up()).await
    }

    /// Back to keys by id. The account look-up goes; the cross-patient unique index comes back
    /// (it fails if two patients hold one account, which the look-up table prevented).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run(manager, postgres_down(), sqlite_down()).await?;
        manager
            .drop_table(Table::drop().table(AccountSubjects::Table).to_owned())
            .await
    }
}
