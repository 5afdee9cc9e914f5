//! What a request costs the database, in round trips, counted by a proxy between the server
//! and PostgreSQL: the benchmark (docs/src/performance.md) measured where the time goes, these
//! keep what was saved.

use serde_json::json;

use crate::helpers::{
    Backend, DOCTOR, DatabaseProxy, TestApp, document_input, ins, patient_token, practitioner_token,
};
use crate::live::{NOTIFICATIONS, WsClient};

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
/// the pool's connections and background work has settled: those of the request, and apart
/// the `NOTIFY`s that tell the other replicas (sent by a task of their own after the commit,
/// several writes' at once under load).
///
/// The proxy counts every round trip to the database, the background workers' included, and
/// on a busy machine a worker's poll or a pooled connection's renewal can fall inside a window.
/// Such noise only ever adds, so the cost is the least of three windows: a request that truly
/// costs more is over the bound in every one of them.
async fn round_trips<F, Fut>(proxy: &DatabaseProxy, times: u64, mut request: F) -> Cost
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for i in 0..times {
        request(i).await;
    }
    let mut least = Cost {
        request: f64::INFINITY,
        doorbell: f64::INFINITY,
    };
    for window in 1..=3 {
        proxy.quiet().await;
        let (before, statements) = (proxy.round_trips(), proxy.statements().len());
        for i in window * times..(window + 1) * times {
            request(i).await;
        }
        proxy.quiet().await;
        let notifies = proxy.statements()[statements..]
            .iter()
            .filter(|(_, sql)| sql.contains("pg_notify"))
            .count() as f64;
        let all = (proxy.round_trips() - before) as f64;
        least.request = least.request.min((all - notifies) / times as f64);
        least.doorbell = least.doorbell.min(notifies / times as f64);
    }
    least
}

/// What a request costs in round trips.
#[derive(Debug)]
struct Cost {
    /// The request's own, from its connection's checkout to its return to the pool.
    request: f64,
    /// The `NOTIFY`s that ring the other replicas, per request.
    doorbell: f64,
}

/// A consultation is BEGIN, the lock, one statement for the block, the first access, an
/// emergency access and the chain's head, one for the ledger insert and the page, COMMIT, and
/// the check sqlx makes of the connection as it goes back to the pool: 6 round trips. It was
/// 11 (a ping of the pooled connection taken, four statements where there is one now), then 7
/// (the trace and the page apart).
#[tokio::test]
async fn a_consultation_costs_six_round_trips() {
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
        per_request.request <= 6.0 && per_request.doorbell == 0.0,
        "{per_request:?} round trips per consultation"
    );
}

/// A feed (that notifies by email and live) is BEGIN, the lock, one statement for the document,
/// its content, the practitioner's first access and the chain's head, one for the ledger row
/// and its two outbox rows, COMMIT, and the check sqlx makes of the connection as it goes back
/// to the pool: 6 round trips. Then, outside the request, one `NOTIFY` at most rings the other
/// replicas (several feeds' at once under load), and this replica does not read its own. It
/// was 17 (a ping of each pooled connection taken, an idempotency look-up before the insert), 14,
/// then 15 with the NOTIFY after the commit, 10 with the statements merged.
#[tokio::test]
async fn a_feed_costs_six_round_trips_and_one_doorbell_at_most() {
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
    assert!(
        per_request.request <= 6.0 && per_request.doorbell <= 1.0,
        "{per_request:?} round trips per feed"
    );
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

/// A patient followed on several devices costs the database one read per ring, not one per
/// device: the subscribers woken by one ring at one cursor share it (`Doorbell::share`).
#[tokio::test]
async fn one_read_per_ring_however_many_devices_follow_the_patient() {
    let (app, proxy) = through_proxy().await;
    let person = ins(804);
    app.activated_profile(&person, None).await;
    // The doctor's first feed (their first access, notified too) is behind us.
    app.feed(DOCTOR, &person, document_input("k-0", "Compte rendu"))
        .await
        .ok();
    let token = patient_token(&person);
    let mut devices: Vec<WsClient> = Vec::new();
    let mut cost = Vec::new();
    let mut per_device: Option<u64> = None;
    // One device twice (the second with the statements prepared), then three.
    for (round, count) in [1, 1, 3].into_iter().enumerate() {
        let subscribed = proxy.round_trips();
        let new_devices = count - devices.len();
        while devices.len() < count {
            let mut device = WsClient::connect(&app.address, &token).await;
            device.subscribe(NOTIFICATIONS, json!({})).await;
            devices.push(device);
        }
        // Each new subscription's start (it reads where the feed stands) is behind us before
        // the round is counted: under load it may come later than a quiet half-second. A
        // start costs what the first one did.
        let expected = per_device.unwrap_or(1) * new_devices as u64;
        for _ in 0..200 {
            if proxy.round_trips() >= subscribed + expected {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        proxy.quiet().await;
        if per_device.is_none() && new_devices > 0 {
            per_device = Some((proxy.round_trips() - subscribed) / new_devices as u64);
        }
        let before = proxy.round_trips();
        app.feed(
            DOCTOR,
            &person,
            document_input(&format!("k-{}", round + 1), "Compte rendu"),
        )
        .await
        .ok();
        for device in &mut devices {
            assert_eq!(
                device.next_event("notifications").await["kind"],
                "NEW_DOCUMENT"
            );
        }
        proxy.quiet().await;
        cost.push(proxy.round_trips() - before);
    }
    // Each device reading alone would add two reads of two round trips each (the new rows,
    // then none). A statement prepared on a pooled connection not used before may add one.
    assert!(
        cost[2] <= cost[1] + 1,
        "round trips of a feed and its delivery to one device, twice, then to three: {cost:?}"
    );
}
