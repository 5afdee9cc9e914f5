//! Limits across replicas: two servers on one PostgreSQL and one Redis (the local one, or
//! TEST_REDIS_URL) count one rate limit and one websocket cap; through a Redis outage they go
//! on serving, each counting alone, and say so.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Backend, DatabaseProxy, TestApp, patient_token};
use crate::live::WsClient;
use crate::metrics::{sample, scrape};

fn redis_address() -> String {
    std::env::var("TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .to_owned()
}

/// Two replicas of one deployment: the same database, the same Redis and key prefix (fresh
/// for the test), each with `configure` applied.
async fn two_replicas(
    redis: &str,
    configure: impl Fn(&mut espace_sante::config::Settings),
) -> (TestApp, TestApp) {
    let prefix = format!("espace-sante-test-{:016x}", rand::random::<u64>());
    let shared = |settings: &mut espace_sante::config::Settings| {
        settings.limits.redis_url = Some(espace_sante::config::Secret(format!("redis://{redis}")));
        settings.limits.redis_key_prefix = prefix.clone();
        configure(settings);
    };
    let first = TestApp::spawn_with(Backend::Postgres, &shared).await;
    // The owner's URL, as a second `espace-sante serve` of the deployment would be given.
    let database_url = first.database_url.clone();
    let second = TestApp::spawn_with(Backend::Postgres, |settings| {
        shared(settings);
        settings.database.database_url = database_url;
    })
    .await;
    (first, second)
}

async fn status(app: &TestApp, token: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn rate_of_three(settings: &mut espace_sante::config::Settings) {
    settings.limits.rate_limit_per_minute = 1;
    settings.limits.rate_limit_burst = 3;
}

#[tokio::test]
async fn two_replicas_share_one_rate_limit() {
    let (first, second) = two_replicas(&redis_address(), rate_of_three).await;
    let token = patient_token(&first.person());
    // A burst of three, taken over both replicas: the fourth is refused by either.
    assert_eq!(status(&first, &token).await, 200);
    assert_eq!(status(&second, &token).await, 200);
    assert_eq!(status(&first, &token).await, 200);
    assert_eq!(status(&second, &token).await, 429);
    assert_eq!(status(&first, &token).await, 429);
    // Another caller has a bucket of their own.
    assert_eq!(status(&second, &patient_token(&first.person())).await, 200);
}

#[tokio::test]
async fn each_websocket_subscribe_takes_from_the_rate_shared_by_the_replicas() {
    let (first, second) = two_replicas(&redis_address(), rate_of_three).await;
    let token = patient_token(&first.person());
    // The connection_init is free; the first subscribe takes the third request of the burst.
    assert_eq!(status(&first, &token).await, 200);
    assert_eq!(status(&first, &token).await, 200);
    let mut client = WsClient::connect(&second.address, &token).await;
    client
        .subscribe("subscription { notifications { cursor } }", json!({}))
        .await;
    // The subscription is running when the replica answers nothing to it.
    assert!(client.stays_silent(Duration::from_millis(300)).await);
    assert_eq!(status(&first, &token).await, 429);
}

#[tokio::test]
async fn two_replicas_share_one_websocket_cap() {
    let (first, second) = two_replicas(&redis_address(), |settings| {
        settings.websocket.ws_max_connections_per_subject = 2;
    })
    .await;
    let token = patient_token(&first.person());
    let held = WsClient::connect(&first.address, &token).await;
    let _other = WsClient::connect(&second.address, &token).await;
    // Two open, one on each replica: a third is refused by either.
    for replica in [&first, &second] {
        let (_, answer) = WsClient::init(&replica.address, auth(&token)).await;
        assert_eq!(answer, json!({ "close": 4429 }), "{answer}");
    }
    // Another user is not counted with them.
    WsClient::connect(&second.address, &patient_token(&first.person())).await;
    // A connection that closes gives its place back, on the other replica too.
    held.close().await;
    let mut answer = Value::Null;
    for _ in 0..50 {
        answer = WsClient::init(&second.address, auth(&token)).await.1;
        if answer["type"] == "connection_ack" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer["type"], "connection_ack", "{answer}");
}

fn auth(token: &str) -> Value {
    json!({ "Authorization": format!("Bearer {token}") })
}

#[tokio::test]
async fn serving_continues_through_a_redis_outage_with_limits_per_replica() {
    let redis = DatabaseProxy::start(redis_address()).await;
    let (first, second) = two_replicas(&redis.address, |settings| {
        rate_of_three(settings);
        settings.telemetry.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let token = patient_token(&first.person());
    assert_eq!(status(&first, &token).await, 200);
    assert_eq!(status(&second, &token).await, 200);

    // Redis vanishes (connections dropped, new ones never answered): both replicas go on
    // serving, and each counts its own burst of three, neither refusing everyone nor dropping
    // the limit.
    redis.cut();
    for replica in [&first, &second] {
        for _ in 0..3 {
            assert_eq!(status(replica, &token).await, 200);
        }
        assert_eq!(status(replica, &token).await, 429);
    }
    // Websockets too: counted per replica.
    WsClient::connect(&first.address, &token).await;
    let metrics = scrape(&first).await;
    assert_eq!(sample(&metrics, "shared_limits_reachable"), 0.0);
    assert!(sample(&metrics, "shared_limits_fallbacks_total") >= 1.0);

    // Redis is back (and asked again after its quiet second): one bucket for both replicas.
    redis.restore();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = patient_token(&first.person());
    let mut answers = Vec::new();
    for replica in [&first, &second, &first, &second] {
        answers.push(status(replica, &fresh).await);
    }
    assert_eq!(answers, [200, 200, 200, 429]);
    assert_eq!(
        sample(&scrape(&first).await, "shared_limits_reachable"),
        1.0
    );
}
