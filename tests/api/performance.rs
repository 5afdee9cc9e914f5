//! What a request costs the database, in round trips, counted by a proxy between the server
//! and PostgreSQL: the benchmark (docs/src/performance.md) measured where the time goes, these
//! keep what was saved.

use serde_json::json;

use crate::helpers::{
    Backend, DOCTOR, DatabaseProxy, TestApp, document_input, ins, practitioner_token,
};

const RECORD: &str =
    "query($ins: INS!) { patientRecord(patientIns: $ins, first: 20) { edges { node { id } } } }";

async fn through_proxy() -> (TestApp, DatabaseProxy) {
    let proxy = DatabaseProxy::start("127.0.0.1:5432".to_owned()).await;
    let through = proxy.address.clone();
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.database.database_url = format!(
            "{}?sslmode=disable",
            settings
                .database
                .database_url
                .replace("127.0.0.1:5432", &through)
        );
    })
    .await;
    (app, proxy)
}

/// Round trips per request of `times` runs of `request`, once the statements are prepared on
/// the pool's connections and background work has settled.
///
/// The proxy counts every round trip to the database, the background workers' included, and
/// on a busy machine a worker's poll or a pooled connection's renewal can fall inside a window.
/// Such noise only ever adds, so the cost is the least of three windows: a request that truly
/// costs more is over the bound in every one of them.
async fn round_trips<F, Fut>(proxy: &DatabaseProxy, times: u64, mut request: F) -> f64
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..times {
        request(i).await;
    }
    let mut least = f64::INFINITY;
    for window in 1..=3 {
        proxy.quiet().await;
        let before = proxy.round_trips();
        for i in window * times..(window + 1) * times {
            request(i).await;
        }
        proxy.quiet().await;
        least = least.min((proxy.round_trips() - before) as f64 / times as f64);
    }
    least
}

/// A consultation is BEGIN, the lock, one statement for the block, the first access, an
/// emergency access and the chain's head, the ledger insert, the select, COMMIT (and the Sync
/// sqlx sends after it): 7 round trips. It was 11: a ping of the pooled connection, and four
/// statements where there is one now.
#[tokio::test]
async fn a_consultation_costs_seven_round_trips() {
    let (app, proxy) = through_proxy().await;
    let person = ins(801);
    app.activated_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    let doctor = practitioner_token(DOCTOR);
    let per_request = round_trips(&proxy, 25, |_| {
        let (app, doctor, person) = (&app, &doctor, &person);
        async move {
            app.graphql(Some(doctor), RECORD, json!({ "ins": person }))
                .await
                .ok();
        }
    })
    .await;
    assert!(
        per_request <= 7.0,
        "{per_request} round trips per consultation"
    );
}

/// A feed (that notifies by email and live) is BEGIN, the lock, the document, its content,
/// the first access (already recorded), the chain's head, the ledger insert, two outbox rows,
/// COMMIT and the Sync sqlx sends after it; then, outside the transaction, the NOTIFY that
/// rings the other replicas and its Sync, and the live listener's read of the notified row
/// (and a Sync): 15 round trips. It was 17 (a ping of each pooled connection taken, and an
/// idempotency look-up before the insert), then 14 with the NOTIFY inside the transaction,
/// which cost one round trip fewer but made every feed's commit wait on a lock of the whole
/// PostgreSQL instance (see `the_replicas_are_rung_after_the_commit_never_inside_the_transaction`).
#[tokio::test]
async fn a_feed_costs_fifteen_round_trips() {
    let (app, proxy) = through_proxy().await;
    let person = ins(802);
    app.activated_profile(&person, None).await;
    let per_request = round_trips(&proxy, 25, |i| {
        let (app, person) = (&app, &person);
        async move {
            app.feed(
                DOCTOR,
                person,
                document_input(&format!("k-{i}"), "Compte rendu"),
            )
            .await
            .ok();
        }
    })
    .await;
    assert!(per_request <= 15.0, "{per_request} round trips per feed");
}

/// The other replicas are told of a live event after the writing transaction commits, never
/// inside it: a transaction that has called `pg_notify` takes a lock on the whole PostgreSQL
/// instance at its commit, which every feed would queue on.
#[tokio::test]
async fn the_replicas_are_rung_after_the_commit_never_inside_the_transaction() {
    let (app, proxy) = through_proxy().await;
    let person = ins(803);
    app.activated_profile(&person, None).await;
    proxy.quiet().await;
    let before = proxy.statements().len();
    app.feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    proxy.quiet().await;
    let statements = proxy.statements()[before..].to_vec();
    let feed = statements
        .iter()
        .find(|(_, sql)| sql.contains("INSERT INTO \"documents\""))
        .map(|(connection, _)| *connection)
        .expect("the feed's insert, prepared on its first use");
    // Its transaction, on its connection: BEGIN … COMMIT holds no pg_notify.
    let on_feed: Vec<&str> = statements
        .iter()
        .filter(|(connection, _)| *connection == feed)
        .map(|(_, sql)| sql.as_str())
        .collect();
    let begin = on_feed
        .iter()
        .rposition(|sql| sql.starts_with("BEGIN"))
        .unwrap();
    let commit = begin
        + on_feed[begin..]
            .iter()
            .position(|sql| sql.starts_with("COMMIT"))
            .unwrap();
    assert!(
        !on_feed[begin..commit]
            .iter()
            .any(|sql| sql.contains("pg_notify")),
        "{on_feed:#?}"
    );
    // And the replicas are told, after it.
    let committed = statements
        .iter()
        .position(|(connection, sql)| *connection == feed && sql.starts_with("COMMIT"))
        .unwrap();
    assert!(
        statements[committed..]
            .iter()
            .any(|(_, sql)| sql.contains("pg_notify")),
        "{statements:#?}"
    );
}
