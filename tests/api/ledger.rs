//! The audit-first ledger: chains verify (also by an independent re-implementation of the
//! manual's canonical encoding), tampering is detected at the right sequence, the database
//! refuses UPDATE/DELETE/TRUNCATE, and a failed append fails the operation.

use chrono::Duration;
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

use crate::helpers::{
    Backend, TestApp, beneficiary, history_oldest_first, ins, on_both_databases, patient_token,
    readme_hash,
};

const HISTORY: &str = "{ me { activityHistory(first: 100) { edges { node { sequence occurredAt kind actor { role id name profession } payload previousHash hash } } } } }";
const INTEGRITY: &str =
    "{ me { ledgerIntegrity { verified eventCount firstBrokenSequence problem headHash } } }";

/// A patient with a few events: enrolled, created, one failed and one good activation.
async fn patient_with_history(app: &TestApp, n: u32) -> String {
    let person = ins(n);
    let code = app.created_profile(&person, Some("p@example.org")).await;
    app.activate(&person, "AAAA-BBBB-CCCC").await;
    app.activate(&person, &code).await.ok();
    person
}

async fn ledger_chain_verifies_by_the_documented_encoding(app: TestApp) {
    let person = patient_with_history(&app, 200).await;
    let answer = app
        .graphql(Some(&patient_token(&person)), HISTORY, json!({}))
        .await;
    let events = history_oldest_first(answer.ok());
    assert_eq!(events.len(), 4);
    let mut previous = "0".repeat(64);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["sequence"], i as i64 + 1, "gapless sequence from 1");
        assert_eq!(event["previousHash"], previous.as_str());
        assert_eq!(event["hash"], readme_hash(&person, event).as_str());
        previous = event["hash"].as_str().unwrap().to_owned();
    }
    let integrity = app
        .graphql(Some(&patient_token(&person)), INTEGRITY, json!({}))
        .await;
    let report = &integrity.ok()["me"]["ledgerIntegrity"];
    assert_eq!(report["verified"], true);
    assert_eq!(report["eventCount"], 4);
    assert_eq!(report["headHash"], previous.as_str());
}

/// Rewrites one event's payload as the tables' owner could, with the append-only trigger
/// disabled for the time of the change (the API's role may not: see `privilege.rs`).
pub async fn tamper(app: &TestApp, ins: &str, seq: i64) {
    let db = app.db().await;
    let txn = db.begin().await.unwrap();
    let update = format!(
        "UPDATE ledger_events SET payload = '{{\"forged\":true}}' WHERE patient_ins = '{ins}' AND seq = {seq}"
    );
    match app.backend {
        Backend::Postgres => {
            txn.execute_unprepared(
                "ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_no_update_or_delete",
            )
            .await
            .unwrap();
            txn.execute_unprepared(&update).await.unwrap();
            txn.execute_unprepared(
                "ALTER TABLE ledger_events ENABLE ALWAYS TRIGGER ledger_events_no_update_or_delete",
            )
            .await
            .unwrap();
        }
        Backend::Sqlite => {
            txn.execute_unprepared("DROP TRIGGER ledger_events_no_update")
                .await
                .unwrap();
            txn.execute_unprepared(&update).await.unwrap();
        }
    }
    txn.commit().await.unwrap();
}

async fn altered_row_is_detected_at_its_sequence(app: TestApp) {
    let person = patient_with_history(&app, 201).await;
    let other = patient_with_history(&app, 202).await;
    tamper(&app, &person, 2).await;
    let integrity = app
        .graphql(Some(&patient_token(&person)), INTEGRITY, json!({}))
        .await;
    let report = &integrity.ok()["me"]["ledgerIntegrity"];
    assert_eq!(report["verified"], false);
    assert_eq!(report["firstBrokenSequence"], 2);
    assert_eq!(report["problem"], "content does not match its hash");
    let untouched = app
        .graphql(Some(&patient_token(&other)), INTEGRITY, json!({}))
        .await;
    assert_eq!(
        untouched.ok()["me"]["ledgerIntegrity"]["verified"],
        true,
        "chains are per patient"
    );
}

async fn update_delete_and_truncate_on_the_ledger_are_refused(app: TestApp) {
    let person = patient_with_history(&app, 203).await;
    let db = app.db().await;
    let mut statements = vec![
        format!("UPDATE ledger_events SET payload = '{{}}' WHERE patient_ins = '{person}'"),
        format!("DELETE FROM ledger_events WHERE patient_ins = '{person}'"),
        "DELETE FROM ledger_events".to_owned(),
    ];
    if app.backend == Backend::Postgres {
        statements.push("TRUNCATE ledger_events CASCADE".to_owned());
    }
    for statement in statements {
        let err = db
            .execute_unprepared(&statement)
            .await
            .expect_err(&statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
    let integrity = app
        .graphql(Some(&patient_token(&person)), INTEGRITY, json!({}))
        .await;
    assert_eq!(integrity.ok()["me"]["ledgerIntegrity"]["eventCount"], 4);
}

async fn failed_ledger_append_fails_the_operation(app: TestApp) {
    let person = ins(204);
    app.enrol(vec![beneficiary(&person, None)]).await;
    // Make every append fail, as a full disk or a broken constraint would.
    app.refuse_ledger_appends().await;
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { opposeProfileCreation { status } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "INTERNAL_SERVER_ERROR");
    assert!(
        answer.error()["extensions"]["requestId"]
            .as_str()
            .is_some_and(|id| id.len() == 16)
    );
    let message = answer.error()["message"].as_str().unwrap();
    assert!(
        !message.contains("ledger unavailable"),
        "database text never reaches the client: {message}"
    );
    assert_eq!(
        app.status(&person).await,
        "ANNOUNCED",
        "no state change without its trace"
    );

    app.advance(Duration::days(42));
    let sweep = app
        .graphql(
            Some(&crate::helpers::operator_token()),
            "mutation { runCreationSweep { created } }",
            json!({}),
        )
        .await;
    assert_eq!(sweep.code(), "INTERNAL_SERVER_ERROR");
    assert_eq!(app.status(&person).await, "ANNOUNCED");
    let notices = app
        .query_rows(&format!(
            "SELECT kind FROM notifications WHERE patient_ins = '{person}'"
        ))
        .await;
    assert_eq!(
        notices,
        vec![vec!["ANNOUNCEMENT"]],
        "no creation notice without its event"
    );
}

/// `ledger verify` reads every chain a page at a time: chains that cross pages, and a broken
/// one among them, get the same reports as verifying each chain alone.
async fn verifying_every_chain_in_pages_reports_each_chain_as_alone(app: TestApp) {
    let people: Vec<String> =
        futures_util::future::join_all((210..214).map(|n| patient_with_history(&app, n))).await;
    tamper(&app, &people[2], 3).await;
    let db = app.db().await;
    let mut alone = Vec::new();
    for person in {
        let mut sorted = people.clone();
        sorted.sort();
        sorted
    } {
        alone.push(
            espace_sante::ledger::verify_chain(&db, &person)
                .await
                .unwrap(),
        );
    }
    assert!(alone.iter().any(|r| r.first_broken.is_some()));
    for page in [1, 3, 4, 1000] {
        let paged = espace_sante::ledger::verify_all_in_pages(&db, page)
            .await
            .unwrap();
        assert_eq!(paged, alone, "page of {page}");
    }
}

on_both_databases!(
    verifying_every_chain_in_pages_reports_each_chain_as_alone,
    ledger_chain_verifies_by_the_documented_encoding,
    altered_row_is_detected_at_its_sequence,
    update_delete_and_truncate_on_the_ledger_are_refused,
    failed_ledger_append_fails_the_operation,
);

async fn migrations_go_down_and_up_again(app: TestApp) {
    use migration::{Migrator, MigratorTrait};
    app.created_profile(&ins(205), None).await;
    let db = app.db().await;
    // The last migration alone, with data in its tables, then all of them.
    Migrator::down(&db, Some(1)).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    Migrator::down(&db, None).await.unwrap();
    let left = Migrator::get_applied_migrations(&db).await.unwrap();
    assert!(left.is_empty(), "every migration has a real down()");
    Migrator::up(&db, None).await.unwrap();
    if let Some(role) = &app.api_role {
        // New tables: the operator grants the API's role again after migrating.
        crate::helpers::grant_api_role(&db, role).await;
    }
    assert_eq!(app.count("ledger_events").await, 0, "a fresh schema");
    app.created_profile(&ins(206), None).await;
    assert_eq!(app.count("profiles").await, 1);
}

mod migrations {
    use crate::helpers::{Backend, TestApp};

    #[tokio::test]
    async fn go_down_and_up_again_on_postgres() {
        super::migrations_go_down_and_up_again(TestApp::spawn(Backend::Postgres).await).await;
    }

    #[tokio::test]
    async fn go_down_and_up_again_on_sqlite() {
        super::migrations_go_down_and_up_again(TestApp::spawn(Backend::Sqlite).await).await;
    }
}
