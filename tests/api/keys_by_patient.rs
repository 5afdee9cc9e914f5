//! Every table of a patient's data is keyed by the patient, as a database distributed by patient
//! (Citus) needs: read from PostgreSQL's catalog, a table breaking the rule is named with the
//! key or reference that breaks it (docs/src/scale.md).

use std::collections::{BTreeMap, BTreeSet};

use sea_orm::ConnectionTrait;

use crate::helpers::{Backend, DOCTOR, TestApp, document_input, ins, on_both_databases};

/// The tables that are not distributed by patient, and why: reference or coordinator-local
/// tables under Citus.
const REFERENCE_TABLES: [(&str, &str); 5] = [
    (
        "seaql_migrations",
        "the migration history: one row per migration",
    ),
    (
        "ledger_checkpoints",
        "the signed checkpoints: one log for all patients, a row per checkpoint",
    ),
    (
        "ledger_checkpoint_heads",
        "the heads of versions 1 and 2 checkpoints: leaves of one tree over all patients, by position",
    ),
    (
        "ledger_log_leaves",
        "the transparency log: leaves of one tree over all patients, by position",
    ),
    (
        "ledger_log_nodes",
        "the transparency log's subtrees: by level and index, over all patients",
    ),
];

/// The distributed tables whose distribution column is not `patient_ins`: (table, column,
/// colocation group). The tables of group "patient" are colocated: a patient's rows of every
/// table are on one node.
const DISTRIBUTED_OTHERWISE: [(&str, &str, &str); 3] = [
    // The patient's own row.
    ("profiles", "ins", "patient"),
    // A minor's representatives are the child's data: distributed by the child. Looking up the
    // children of a representative reads every node.
    ("legal_representatives", "child_ins", "patient"),
    // Whom an account names, looked up by the account before the patient is known: distributed
    // by the account, apart from the patients, and referenced by none of their tables.
    ("account_subjects", "subject", "account"),
];

/// How a table is placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement<'a> {
    Reference,
    Distributed { column: &'a str, group: &'a str },
}

fn placement(table: &str) -> Placement<'_> {
    if REFERENCE_TABLES.iter().any(|(name, _)| *name == table) {
        return Placement::Reference;
    }
    DISTRIBUTED_OTHERWISE
        .iter()
        .find(|(name, _, _)| *name == table)
        .map_or(
            Placement::Distributed {
                column: "patient_ins",
                group: "patient",
            },
            |(_, column, group)| Placement::Distributed { column, group },
        )
}

/// A primary key, unique constraint or unique index.
#[derive(Debug)]
struct UniqueKey {
    table: String,
    index: String,
    /// "primary key" or "unique".
    kind: String,
    columns: Vec<String>,
}

/// A foreign key.
#[derive(Debug)]
struct Reference {
    constraint: String,
    table: String,
    columns: Vec<String>,
    referenced: String,
    their_columns: Vec<String>,
}

/// What the rule reads of the catalog.
#[derive(Debug, Default)]
struct Catalog {
    /// Columns by table.
    columns: BTreeMap<String, BTreeSet<String>>,
    unique_keys: Vec<UniqueKey>,
    references: Vec<Reference>,
}

fn split(columns: &str) -> Vec<String> {
    columns
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn catalog(app: &TestApp) -> Catalog {
    let mut catalog = Catalog::default();
    for row in app
        .query_rows(
            r"SELECT c.relname::text, a.attname::text
              FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
              WHERE c.relkind IN ('r', 'p')",
        )
        .await
    {
        catalog
            .columns
            .entry(row[0].clone())
            .or_default()
            .insert(row[1].clone());
    }
    // Primary keys, unique constraints and unique indexes alike: each is a unique index.
    // An expression in an index has no column (attnum 0) and counts as none.
    for row in app
        .query_rows(
            r"SELECT t.relname::text, i.relname::text,
                     CASE WHEN x.indisprimary THEN 'primary key' ELSE 'unique' END,
                     COALESCE((SELECT string_agg(a.attname::text, ',' ORDER BY k.position)
                               FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
                               JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum), '')
              FROM pg_index x
              JOIN pg_class i ON i.oid = x.indexrelid
              JOIN pg_class t ON t.oid = x.indrelid
              JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
              WHERE x.indisunique",
        )
        .await
    {
        catalog.unique_keys.push(UniqueKey {
            table: row[0].clone(),
            index: row[1].clone(),
            kind: row[2].clone(),
            columns: split(&row[3]),
        });
    }
    for row in app
        .query_rows(
            r"SELECT c.conname::text, t.relname::text,
                     (SELECT string_agg(a.attname::text, ',' ORDER BY k.position)
                      FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, position)
                      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
                     r.relname::text,
                     (SELECT string_agg(a.attname::text, ',' ORDER BY k.position)
                      FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, position)
                      JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum)
              FROM pg_constraint c
              JOIN pg_class t ON t.oid = c.conrelid
              JOIN pg_class r ON r.oid = c.confrelid
              JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = 'public'
              WHERE c.contype = 'f'",
        )
        .await
    {
        catalog.references.push(Reference {
            constraint: row[0].clone(),
            table: row[1].clone(),
            columns: split(&row[2]),
            referenced: row[3].clone(),
            their_columns: split(&row[4]),
        });
    }
    catalog
}

/// Every breach of the rule, one line each naming the table and the key or reference.
fn violations(catalog: &Catalog) -> Vec<String> {
    let mut found = Vec::new();
    for (table, columns) in &catalog.columns {
        let Placement::Distributed { column, .. } = placement(table) else {
            continue;
        };
        if !columns.contains(column) {
            found.push(format!(
                "{table}: no distribution column `{column}` (add it, or name the table a \
                 reference table with its reason)"
            ));
            continue;
        }
        if !catalog
            .unique_keys
            .iter()
            .any(|key| &key.table == table && key.kind == "primary key")
        {
            found.push(format!("{table}: no primary key"));
        }
    }
    for UniqueKey {
        table,
        index,
        kind,
        columns,
    } in &catalog.unique_keys
    {
        if let Placement::Distributed { column, .. } = placement(table)
            && catalog.columns[table].contains(column)
            && !columns.iter().any(|c| c == column)
        {
            found.push(format!(
                "{table}: {kind} {index} ({}) lacks `{column}`",
                columns.join(", ")
            ));
        }
    }
    for Reference {
        constraint,
        table,
        columns,
        referenced,
        their_columns,
    } in &catalog.references
    {
        match (placement(table), placement(referenced)) {
            (_, Placement::Reference) => {}
            (Placement::Reference, Placement::Distributed { .. }) => found.push(format!(
                "{table}: reference {constraint} from a reference table to the distributed \
                 {referenced}"
            )),
            (
                Placement::Distributed { column, group },
                Placement::Distributed {
                    column: their_column,
                    group: their_group,
                },
            ) => {
                let paired = columns
                    .iter()
                    .zip(their_columns)
                    .any(|(c, t)| c == column && t == their_column);
                if group != their_group || !paired {
                    found.push(format!(
                        "{table}: reference {constraint} ({}) to {referenced} ({}) does not pair \
                         `{column}` with `{their_column}` in one colocation group: it could \
                         join two patients' rows",
                        columns.join(", "),
                        their_columns.join(", ")
                    ));
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn every_patient_table_is_keyed_by_the_patient() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let catalog = catalog(&app).await;
    for (table, reason) in REFERENCE_TABLES {
        assert!(
            catalog.columns.contains_key(table),
            "the reference table {table} ({reason}) is gone: take it off the list"
        );
    }
    let found = violations(&catalog);
    assert!(
        found.is_empty(),
        "tables not ready to be distributed by patient:\n{}",
        found.join("\n")
    );
}

#[tokio::test]
async fn the_catalog_check_names_each_table_that_breaks_the_rule() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let db = app.db().await;
    for statement in [
        // Keyed by its id alone, with a unique label across patients.
        "CREATE TABLE broken_notes (id bigserial PRIMARY KEY, patient_ins text NOT NULL, \
         label text CONSTRAINT broken_notes_label UNIQUE)",
        // No patient at all.
        "CREATE TABLE broken_untagged (id bigserial PRIMARY KEY)",
        // A reference to another patient's profile.
        "CREATE TABLE broken_links (patient_ins text, other_ins text, \
         PRIMARY KEY (patient_ins, other_ins), \
         CONSTRAINT broken_links_other FOREIGN KEY (other_ins) REFERENCES profiles (ins))",
        // A reference table pointing into a patient's rows.
        "ALTER TABLE ledger_log_nodes ADD COLUMN broken_ins text \
         CONSTRAINT broken_log_profile REFERENCES profiles (ins)",
    ] {
        db.execute_unprepared(statement).await.unwrap();
    }
    let found = violations(&catalog(&app).await);
    for expected in [
        "broken_notes: primary key broken_notes_pkey (id) lacks `patient_ins`",
        "broken_notes: unique broken_notes_label (label) lacks `patient_ins`",
        "broken_untagged: no distribution column `patient_ins`",
        "broken_links: reference broken_links_other (other_ins) to profiles (ins) does not pair",
        "ledger_log_nodes: reference broken_log_profile from a reference table",
    ] {
        assert!(
            found.iter().any(|line| line.starts_with(expected)),
            "expected a line starting with {expected:?} in:\n{}",
            found.join("\n")
        );
    }
    assert_eq!(found.len(), 5, "{}", found.join("\n"));
}

/// Rows written before the keys by patient get their patient from their parent; each account's
/// current profile and latest unlinking go to the accounts' look-up table.
async fn rows_written_before_are_keyed_by_their_patient(app: TestApp) {
    use migration::{Migrator, MigratorTrait};
    let (alice, bob) = (ins(301), ins(302));
    for patient in [&alice, &bob] {
        app.created_profile(patient, None).await;
        app.feed(
            DOCTOR,
            patient,
            document_input(&format!("k-{patient}"), "Lettre"),
        )
        .await
        .ok();
        app.send_message(DOCTOR, patient, "Bonjour", &format!("m-{patient}"))
            .await;
    }
    let db = app.db().await;
    // Back before the keys by patient (and the migrations after it).
    let after_it = Migrator::migrations()
        .iter()
        .rev()
        .take_while(|m| m.name() != "m20261211_000001_keys_by_patient")
        .count();
    Migrator::down(&db, Some(u32::try_from(after_it + 1).unwrap()))
        .await
        .unwrap();
    // Bytes as the tables held them before the content store: a row of contents per document,
    // and attachments.
    let bytes = match app.backend {
        Backend::Postgres => r"'\x41'::bytea",
        Backend::Sqlite => "X'41'",
    };
    for statement in [
        format!(
            "INSERT INTO document_contents (document_id, content) SELECT id, {bytes} FROM documents \
             WHERE id NOT IN (SELECT document_id FROM document_contents)"
        ),
        format!(
            "INSERT INTO message_attachments (message_id, title, mime_type, size_bytes, sha256, content) \
             SELECT id, 'a.txt', 'text/plain', 1, 'x', {bytes} FROM messages"
        ),
        // An account linked to Alice; another linked to Bob, unlinked, then linked to Alice.
        format!(
            "INSERT INTO account_links (patient_ins, issuer, subject, linked_at, unlinked_at) VALUES \
             ('{alice}', 'https://idp', 'one', '2026-01-01 00:00:00+00:00', NULL), \
             ('{bob}', 'https://other', 'two', '2026-01-01 00:00:00+00:00', '2026-02-01 00:00:00+00:00'), \
             ('{alice}', 'https://other', 'two', '2026-03-01 00:00:00+00:00', NULL)"
        ),
    ] {
        db.execute_unprepared(&statement).await.unwrap();
    }
    Migrator::up(&db, None).await.unwrap();

    for (table, parent, reference) in [
        ("document_contents", "documents", "document_id"),
        ("messages", "threads", "thread_id"),
        ("message_attachments", "messages", "message_id"),
    ] {
        let rows = app
            .query_rows(&format!(
                "SELECT COUNT(*), COUNT(DISTINCT c.patient_ins) FROM {table} c \
                 JOIN {parent} p ON p.id = c.{reference} AND p.patient_ins = c.patient_ins"
            ))
            .await;
        assert_eq!(
            rows[0],
            ["2", "2"],
            "{table} takes the patient of its {parent}"
        );
        assert_eq!(app.count(table).await, 2);
    }
    let accounts = app
        .query_rows(
            "SELECT subject, COALESCE(patient_ins, ''), \
                    CASE WHEN unlinked_at IS NULL THEN '' ELSE 'unlinked before' END \
             FROM account_subjects ORDER BY subject",
        )
        .await;
    assert_eq!(
        accounts,
        [
            ["one", alice.as_str(), ""],
            ["two", alice.as_str(), "unlinked before"],
        ]
    );
}

/// An idempotency key is its author's for one patient on PostgreSQL, where a unique key spans
/// no patients; SQLite, never distributed, keeps it across patients, as before.
async fn a_key_used_for_another_patient_is_another_request_on_postgres(app: TestApp) {
    let (alice, bob) = (ins(311), ins(312));
    for patient in [&alice, &bob] {
        app.created_profile(patient, None).await;
    }
    app.feed(DOCTOR, &alice, document_input("same-key", "Lettre"))
        .await
        .ok();
    let again = app
        .feed(DOCTOR, &bob, document_input("same-key", "Lettre"))
        .await;
    match app.backend {
        Backend::Postgres => {
            again.ok();
            assert_eq!(app.count("documents").await, 2);
        }
        Backend::Sqlite => {
            assert_eq!(again.code(), "CONFLICT");
            assert_eq!(app.count("documents").await, 1);
        }
    }
}

on_both_databases!(
    rows_written_before_are_keyed_by_their_patient,
    a_key_used_for_another_patient_is_another_request_on_postgres,
);
