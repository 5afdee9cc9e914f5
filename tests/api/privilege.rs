//! Least privilege: in production the server runs as a role that may read and append to the
//! ledger and nothing more, starts only on a schema `migrate` brought up to date, and refuses a
//! role or a server that could undo what it records; the ledger's guards hold against the
//! owner's replica sessions and SQLite's REPLACE.

use std::process::Command;
use std::sync::Arc;

use espace_sante::clock::ManualClock;
use espace_sante::config::{AppEnv, Settings};
use espace_sante::startup::{Application, StartupError};
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde_json::json;

use crate::helpers::{
    Backend, DOCTOR, TestApp, document_input, ins, on_both_backends, patient_token,
    practitioner_token,
};

const INTEGRITY: &str = "{ me { ledgerIntegrity { verified eventCount } } }";
const RECORD: &str =
    "query($ins: INS!) { patientRecord(patientIns: $ins) { edges { node { title } } } }";

/// A production server on a fresh database: migrated by the owner, run as the API's role.
async fn production(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |s| s.app_env = AppEnv::Production).await
}

/// A second production start with `settings`: the refusals come from here.
async fn start(settings: &Settings) -> Result<Application, StartupError> {
    Application::build(
        settings,
        Arc::new(ManualClock::new(crate::helpers::start_time())),
    )
    .await
}

/// Why a start with `settings` was refused, asserting it was.
async fn refusal(settings: &Settings) -> String {
    start(settings)
        .await
        .expect_err("the production start is refused")
        .to_string()
}

/// One connection (so that `SET` applies to what follows) as the role of `url`.
async fn session(url: &str) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options.max_connections(1).sqlx_logging(false);
    Database::connect(options).await.unwrap()
}

/// A patient with an activated profile, a document fed by a doctor, and the doctor's reading of
/// the record: enrolment, the sweep, activation, feeding and consulting, through the API.
async fn patient_with_a_consulted_record(app: &TestApp) -> String {
    let person = ins(1);
    app.activated_profile(&person, Some("perso@example.org"))
        .await;
    app.feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    let record = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            RECORD,
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(
        record.ok()["patientRecord"]["edges"][0]["node"]["title"],
        "Compte rendu"
    );
    person
}

/// The patient's chain, as the patient reads it: (verified, events).
async fn integrity(app: &TestApp, person: &str) -> (bool, u64) {
    let answer = app
        .graphql(Some(&patient_token(person)), INTEGRITY, json!({}))
        .await;
    let report = &answer.ok()["me"]["ledgerIntegrity"];
    (
        report["verified"].as_bool().unwrap(),
        report["eventCount"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn the_api_role_serves_but_cannot_rewrite_the_ledger() {
    let app = production(Backend::Postgres).await;
    let person = patient_with_a_consulted_record(&app).await;
    let before = integrity(&app, &person).await;
    assert!(before.0, "the chain verifies");

    let api = session(&app.settings.database.database_url).await;
    let refused = [
        "UPDATE ledger_events SET payload = '{}'",
        "DELETE FROM ledger_events",
        "TRUNCATE ledger_events",
        "ALTER TABLE ledger_events DISABLE TRIGGER ALL",
        "ALTER TABLE ledger_events ENABLE TRIGGER ledger_events_no_update_or_delete",
        "DROP TRIGGER ledger_events_no_update_or_delete ON ledger_events",
        "DROP TABLE ledger_events CASCADE",
        "SET session_replication_role = replica",
        // After the refused SET, on the same session: still the API's role, still refused.
        "UPDATE ledger_events SET payload = '{}'",
    ];
    for statement in refused {
        let err = api
            .execute_unprepared(statement)
            .await
            .expect_err(statement)
            .to_string();
        assert!(
            err.contains("permission denied") || err.contains("must be owner"),
            "{statement}: {err}"
        );
    }
    assert_eq!(
        integrity(&app, &person).await,
        before,
        "the chain is intact"
    );
}

#[tokio::test]
async fn the_api_role_has_a_grant_on_every_table_and_no_more_than_reading_and_appending_on_the_ledger()
 {
    let app = TestApp::spawn(Backend::Postgres).await;
    let role = app.api_role.clone().unwrap();
    let ungranted = app
        .query_rows(&format!(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' \
             AND NOT has_table_privilege('{role}', format('%I.%I', schemaname, tablename), 'SELECT') \
             ORDER BY 1"
        ))
        .await;
    assert!(
        ungranted.is_empty(),
        "docs/sql/grant-api-role.sql forgets {ungranted:?}"
    );
    let on_ledger = app
        .query_rows(&format!(
            "SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', \
             'REFERENCES', 'TRIGGER']) AS p WHERE has_table_privilege('{role}', 'ledger_events', p)"
        ))
        .await;
    assert_eq!(on_ledger, [["SELECT"], ["INSERT"]]);
}

#[test]
fn the_manual_gives_the_grants_the_tests_use() {
    let manual = include_str!("../../docs/src/production.md");
    let grants = include_str!("../../docs/sql/grant-api-role.sql");
    assert!(
        manual.contains(grants.trim_end()),
        "the grants in docs/src/production.md are docs/sql/grant-api-role.sql, verbatim"
    );
}

#[tokio::test]
async fn a_replica_session_of_the_owner_does_not_skip_the_ledger_triggers() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let person = patient_with_a_consulted_record(&app).await;
    let before = integrity(&app, &person).await;
    // The test's owner is a superuser: the one kind of role that may set a replica session.
    let owner = session(&app.database_url).await;
    owner
        .execute_unprepared("SET session_replication_role = replica")
        .await
        .unwrap();
    for statement in [
        "UPDATE ledger_events SET payload = '{}'",
        "DELETE FROM ledger_events",
        "TRUNCATE ledger_events CASCADE",
    ] {
        let err = owner
            .execute_unprepared(statement)
            .await
            .expect_err(statement)
            .to_string();
        assert!(err.contains("append-only"), "{statement}: {err}");
    }
    assert_eq!(integrity(&app, &person).await, before);
}

async fn replace_cannot_overwrite_a_ledger_event(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let person = patient_with_a_consulted_record(&app).await;
    let event = |seq: i64| {
        format!(
            "SELECT id, patient_ins, seq, occurred_at, kind, actor_role, actor_id, actor_name, \
             actor_profession, payload, prev_hash, hash FROM ledger_events \
             WHERE patient_ins = '{person}' AND seq = {seq}"
        )
    };
    let original = app.query_rows(&event(2)).await;
    let before = integrity(&app, &person).await;
    // The event with a forged payload: under its own (patient, seq), or under its own id alone.
    let forged = |id: &str, seq: &str| {
        format!(
            "INTO ledger_events ({id}patient_ins, seq, occurred_at, kind, actor_role, actor_id, \
             actor_name, actor_profession, payload, prev_hash, hash) \
             SELECT {id}patient_ins, {seq}, occurred_at, kind, actor_role, actor_id, actor_name, \
             actor_profession, '{{\"forged\":true}}', prev_hash, hash \
             FROM ledger_events WHERE patient_ins = '{person}' AND seq = 2"
        )
    };
    let statements = match app.backend {
        Backend::Sqlite => vec![
            format!("INSERT OR REPLACE {}", forged("", "seq")),
            format!("REPLACE {}", forged("", "seq")),
            format!("REPLACE {}", forged("id, ", "seq + 1000")),
            format!("INSERT OR REPLACE {}", forged("id, ", "seq + 1000")),
        ],
        // PostgreSQL's form of REPLACE is an upsert, which updates: refused by the trigger.
        Backend::Postgres => vec![format!(
            "INSERT {} ON CONFLICT (patient_ins, seq) DO UPDATE SET payload = EXCLUDED.payload",
            forged("", "seq")
        )],
    };
    let owner = app.db().await;
    for statement in statements {
        let err = owner
            .execute_unprepared(&statement)
            .await
            .expect_err(&statement)
            .to_string();
        assert!(err.contains("append-only"), "{statement}: {err}");
    }
    assert_eq!(app.query_rows(&event(2)).await, original);
    assert_eq!(
        app.query_rows(&event(1002)).await,
        Vec::<Vec<String>>::new()
    );
    assert_eq!(integrity(&app, &person).await, before);
}

#[tokio::test]
async fn production_refuses_a_superuser_or_a_role_that_may_act_as_the_owner() {
    let app = production(Backend::Postgres).await;
    let role = app.api_role.clone().unwrap();
    start(&app.settings)
        .await
        .expect("the restricted role starts");

    let mut as_superuser = app.settings.clone();
    as_superuser.database.database_url = app.database_url.clone();
    let why = refusal(&as_superuser).await;
    assert!(why.contains("is a superuser"), "{why}");

    let owner = app.db().await;
    let owner_name = app.query_rows("SELECT current_user::text").await[0][0].clone();
    owner
        .execute_unprepared(&format!("ALTER TABLE ledger_events OWNER TO {role}"))
        .await
        .unwrap();
    let why = refusal(&app.settings).await;
    assert!(
        why.contains("owns") && why.contains("public.ledger_events"),
        "{why}"
    );
    owner
        .execute_unprepared("ALTER TABLE ledger_events OWNER TO CURRENT_USER")
        .await
        .unwrap();

    // A member of the owner's role may `SET ROLE` to it: as good as owning.
    owner
        .execute_unprepared(&format!("GRANT {owner_name} TO {role}"))
        .await
        .unwrap();
    let why = refusal(&app.settings).await;
    assert!(why.contains("may act as the owner"), "{why}");
    owner
        .execute_unprepared(&format!("REVOKE {owner_name} FROM {role}"))
        .await
        .unwrap();

    // The development mode runs as any role, as `cargo run` does.
    let mut development = as_superuser;
    development.app_env = AppEnv::Development;
    start(&development)
        .await
        .expect("development starts as the owner");
}

async fn production_refuses_a_schema_behind_the_build(backend: Backend) {
    let app = production(backend).await;
    let owner = app.db().await;
    let last = Migrator::get_applied_migrations(&owner)
        .await
        .unwrap()
        .last()
        .unwrap()
        .name()
        .to_owned();
    Migrator::down(&owner, Some(1)).await.unwrap();
    let why = refusal(&app.settings).await;
    assert!(
        why.contains("schema is behind") && why.contains(&last),
        "{why}"
    );
    assert!(
        Migrator::get_pending_migrations(&owner)
            .await
            .unwrap()
            .iter()
            .any(|m| m.name() == last),
        "a production start does not migrate"
    );
    Migrator::up(&owner, None).await.unwrap();
    start(&app.settings).await.expect("starts once migrated");
}

on_both_backends!(
    replace_cannot_overwrite_a_ledger_event,
    production_refuses_a_schema_behind_the_build,
);

/// Production means PostgreSQL: on SQLite, whoever can write the file can drop the ledger's
/// triggers. A production start there is refused, with the setting that accepts the risk named.
#[tokio::test]
async fn production_refuses_sqlite_unless_the_risk_is_accepted() {
    let app = production(Backend::Sqlite).await;
    let mut settings = app.settings.clone();
    settings.database.accept_unguarded_ledger_on_sqlite = false;
    let why = refusal(&settings).await;
    assert!(
        why.contains("PostgreSQL") && why.contains("ACCEPT_UNGUARDED_LEDGER_ON_SQLITE"),
        "{why}"
    );
    settings.database.accept_unguarded_ledger_on_sqlite = true;
    start(&settings)
        .await
        .expect("starts once the risk is accepted");
}

/// `fsync` is the server's own setting and stays on here; `synchronous_commit` is a role's, so
/// the refusal is tried for real on it (and on both in `db.rs`'s unit tests).
#[tokio::test]
async fn production_refuses_a_server_that_acknowledges_commits_before_they_are_on_disk() {
    let app = production(Backend::Postgres).await;
    let role = app.api_role.clone().unwrap();
    app.db()
        .await
        .execute_unprepared(&format!("ALTER ROLE {role} SET synchronous_commit = off"))
        .await
        .unwrap();
    let why = refusal(&app.settings).await;
    assert!(why.contains("synchronous_commit = off"), "{why}");
}

#[tokio::test]
async fn the_relay_and_letters_tools_run_as_the_api_role() {
    let app = production(Backend::Postgres).await;
    app.enrol(vec![crate::helpers::beneficiary(&ins(2), None)])
        .await;
    let letters_dir = tempfile::tempdir().unwrap();
    for args in [&["relay", "--once"][..], &["letters"]] {
        let run = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
            .args(args)
            .env("DATABASE_URL", &app.settings.database.database_url)
            .env("EMAIL_DIR", letters_dir.path().join("emails"))
            .env("LETTERS_DIR", letters_dir.path())
            .env_remove("SMTP_URL")
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            run.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
    }
}
