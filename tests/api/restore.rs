//! The restore drill on PostgreSQL, as docs/src/operations.md describes it: `pg_dump` the
//! database, `pg_restore` it into a fresh one, and run `espace-sante ledger verify-restore`
//! against the published log of checkpoints. A whole restore passes; a restore from an older
//! dump, or one that lost the last events of a chain, is reported with what it lost.

use std::process::Command;

use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

use crate::helpers::{Backend, DOCTOR, LEDGER_KEY, TestApp, document_input, operator_token};

const CHECKPOINT: &str = "mutation { createLedgerCheckpoint { index } }";

/// A fresh database on the test server, dropped with the value.
struct Scratch {
    admin: String,
    name: String,
    url: String,
}

impl Scratch {
    async fn new() -> Self {
        let admin = std::env::var("TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("espace_sante_restore_{:016x}", rand::random::<u64>());
        let conn = Database::connect(&admin).await.unwrap();
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let base = admin.rsplit_once('/').unwrap().0.to_owned();
        Self {
            url: format!("{base}/{name}"),
            admin,
            name,
        }
    }

    /// Restores `dump` (pg_dump's custom format) into this database.
    fn restore(&self, dump: &std::path::Path) {
        let out = Command::new("pg_restore")
            .args(["--no-owner", "--no-acl", "--exit-on-error", "-d", &self.url])
            .arg(dump)
            .output()
            .expect("pg_restore (postgresql-client) is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    async fn drop_now(self) {
        let conn = Database::connect(&self.admin).await.unwrap();
        conn.execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .await
        .unwrap();
    }
}

fn dump(database_url: &str, to: &std::path::Path) {
    let out = Command::new("pg_dump")
        .args(["--format=custom", "-d", database_url, "-f"])
        .arg(to)
        .output()
        .expect("pg_dump (postgresql-client) is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ledger verify-restore` on `database_url`: whether it says whole, and what it printed.
fn verify_restore(
    database_url: &str,
    contents: &std::path::Path,
    published: &std::path::Path,
) -> (bool, String) {
    let public_key = espace_sante::ledger::checkpoint::CheckpointSigner::from_hex(LEDGER_KEY)
        .unwrap()
        .public_key();
    crate::helpers::run_binary(
        &[
            "ledger",
            "verify-restore",
            "--public-key",
            &public_key,
            "--published",
            published.to_str().unwrap(),
            "--content-store-url",
            contents.to_str().unwrap(),
        ],
        Some(database_url),
    )
}

async fn checkpoint(app: &TestApp) {
    let signed = app
        .graphql(Some(&operator_token()), CHECKPOINT, json!({}))
        .await;
    assert!(signed.ok()["createLedgerCheckpoint"]["index"].is_i64());
}

#[tokio::test]
async fn a_restore_is_whole_or_reported_with_the_chains_and_sequences_it_lost() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let folder = tempfile::tempdir().unwrap();
    let (early, late) = (
        folder.path().join("early.dump"),
        folder.path().join("late.dump"),
    );
    let (first, second) = (app.person(), app.person());
    for person in [&first, &second] {
        app.activated_profile(person, Some("p@example.org")).await;
    }
    app.feed(DOCTOR, &first, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    checkpoint(&app).await;
    dump(&app.database_url, &early);

    // After the early dump: the second patient's chain moves, and a checkpoint signs it.
    app.feed(DOCTOR, &second, document_input("k-2", "Biologie"))
        .await
        .ok();
    checkpoint(&app).await;
    dump(&app.database_url, &late);
    // The published log, as a third party mirrors it.
    let log: Value = app.get("/ledger/checkpoints").await.json().await.unwrap();
    assert_eq!(log["checkpoints"].as_array().unwrap().len(), 2);
    let published = folder.path().join("checkpoints.json");
    std::fs::write(&published, log.to_string()).unwrap();

    // The latest dump, restored: whole.
    let whole = Scratch::new().await;
    whole.restore(&late);
    let (ok, report) = verify_restore(&whole.url, app.content_dir.path(), &published);
    assert!(ok, "{report}");
    assert!(report.contains("restore: WHOLE"), "{report}");
    whole.drop_now().await;

    // The early dump: it lacks the second checkpoint and what it signed.
    let older = Scratch::new().await;
    older.restore(&early);
    let (ok, report) = verify_restore(&older.url, app.content_dir.path(), &published);
    assert!(!ok, "{report}");
    assert!(
        report.contains("LOST TAIL: the restore ends at checkpoint 1")
            && report.contains("at least up to checkpoint 2"),
        "{report}"
    );
    assert!(report.contains("restore: NOT WHOLE"), "{report}");
    older.drop_now().await;

    // The latest dump, restored without the last events of the second patient's chain (as a
    // table restored from an older copy than the checkpoints would be): named, with the
    // sequences gone.
    let cut = Scratch::new().await;
    cut.restore(&late);
    let last: i64 = app
        .query_rows(&format!(
            "SELECT MAX(seq) FROM ledger_events WHERE patient_ins = '{second}'"
        ))
        .await[0][0]
        .parse()
        .unwrap();
    let restored = Database::connect(&cut.url).await.unwrap();
    restored
        .execute_unprepared(&format!(
            "ALTER TABLE ledger_events DISABLE TRIGGER USER; \
             SET session_replication_role = replica; \
             DELETE FROM ledger_events WHERE patient_ins = '{second}' AND seq = {last};"
        ))
        .await
        .unwrap();
    restored.close().await.unwrap();
    let (ok, report) = verify_restore(&cut.url, app.content_dir.path(), &published);
    assert!(!ok, "{report}");
    assert!(
        report.contains(&format!(
            "LOST: {second}: sequence {last} is gone (the chain now ends at {})",
            last - 1
        )),
        "{report}"
    );
    assert!(!report.contains("LOST TAIL"), "{report}");
    cut.drop_now().await;
}
