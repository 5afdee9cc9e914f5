//! Metrics for the operator: `/metrics` in Prometheus text, on a listener of its own that is
//! off unless configured; each family docs/src/metrics.md lists is checked after the traffic that
//! moves it.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::helpers::{
    Backend, DOCTOR, TestApp, document_input, ins, on_both_backends, operator_token, patient_token,
    practitioner_token,
};

const RECORD: &str =
    "query($ins: INS!) { patientRecord(patientIns: $ins, first: 20) { edges { node { id } } } }";
const FEED: &str = "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input) { id } }";

async fn with_metrics(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |settings| {
        settings.telemetry.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
}

pub(crate) async fn scrape(app: &TestApp) -> String {
    let address = app
        .metrics_address
        .as_ref()
        .expect("metrics are configured");
    let response = reqwest::get(format!("{address}/metrics")).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the sample whose line starts with `series` (name and labels, as rendered).
#[track_caller]
pub(crate) fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// No listener unless METRICS_LISTEN_ADDR is set, and never on the API's own address: a
/// deployment that exposes the API does not expose its metrics.
async fn metrics_are_off_unless_configured_and_never_on_the_api_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert!(app.metrics_address.is_none());
    assert_eq!(app.get("/metrics").await.status(), 404);

    let app = with_metrics(backend).await;
    assert_eq!(app.get("/metrics").await.status(), 404);
    scrape(&app).await;
}

/// Latency per operation, errors per code, the pool, the outbox backlog and its age, live
/// subscribers and the relay's sends, each after the traffic that moves it.
async fn metrics_report_latency_errors_pool_outbox_subscribers_and_relay(backend: Backend) {
    let app = with_metrics(backend).await;
    let patient = ins(1);
    app.activated_profile(&patient, Some("p1@example.org"))
        .await;
    app.feed(DOCTOR, &patient, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    let doctor = practitioner_token(DOCTOR);
    app.graphql(Some(&doctor), RECORD, json!({ "ins": patient }))
        .await
        .ok();
    // An INS nobody knows: DMP_NOT_FOUND.
    let refused = app
        .graphql(
            Some(&doctor),
            FEED,
            json!({ "ins": ins(2), "input": document_input("k-2", "x") }),
        )
        .await;
    assert_eq!(refused.errors[0]["extensions"]["code"], "DMP_NOT_FOUND");

    // One live subscriber.
    let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let token = patient_token(&patient);
    for message in [
        json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }),
        json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { notifications(after: \"0\") { cursor } }" } }),
    ] {
        socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }
    // The ack, then the replay of what the patient missed: the subscription is running.
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    let text = scrape(&app).await;
    assert!(
        text.contains("# TYPE graphql_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "graphql_request_duration_seconds_count{operation=\"query:patientRecord\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &text,
            "graphql_request_duration_seconds_bucket{operation=\"mutation:feedDocument\",le=\"+Inf\"}"
        ) >= 2.0
    );
    // At least: under `cargo test` the suite's servers share the process's recorder.
    assert!(
        sample(
            &text,
            "graphql_errors_total{operation=\"mutation:feedDocument\",code=\"DMP_NOT_FOUND\"}"
        ) >= 1.0
    );
    assert!(sample(&text, "db_pool_connections{state=\"idle\"}") >= 0.0);
    assert!(sample(&text, "db_pool_connections{state=\"in_use\"}") >= 0.0);
    assert!(sample(&text, "db_pool_max_connections") >= 1.0);
    // The creation notice and the new-document notice wait for the relay.
    assert!(sample(&text, "outbox_pending{channel=\"EMAIL\"}") >= 2.0);
    assert!(
        sample(
            &text,
            "outbox_oldest_pending_age_seconds{channel=\"EMAIL\"}"
        ) >= 0.0
    );
    assert_eq!(sample(&text, "live_subscribers"), 1.0);

    let round = app
        .graphql(
            Some(&operator_token()),
            "mutation { deliverNotifications { sent } }",
            json!({}),
        )
        .await;
    let sent = round.ok()["deliverNotifications"]["sent"].as_f64().unwrap();
    assert!(sent >= 2.0);
    drop(socket);
    let text = scrape(&app).await;
    assert!(sample(&text, "relay_emails_total{outcome=\"sent\"}") >= sent);
    assert_eq!(sample(&text, "outbox_pending{channel=\"EMAIL\"}"), 0.0);
}

/// A client-chosen operation name does not become a label: the root field does, once the
/// request is valid; an invalid request is `rejected`.
async fn metrics_labels_come_from_the_schema_not_the_client(backend: Backend) {
    let app = with_metrics(backend).await;
    let doctor = practitioner_token(DOCTOR);
    app.graphql(
        Some(&doctor),
        "query AttackerChosenName($ins: INS!) { dmpStatus(patientIns: $ins) }",
        json!({ "ins": ins(3) }),
    )
    .await
    .ok();
    app.graphql(Some(&doctor), "query { noSuchField }", json!({}))
        .await;
    let text = scrape(&app).await;
    assert!(!text.contains("AttackerChosenName"), "{text}");
    assert!(!text.contains("noSuchField"), "{text}");
    assert!(
        sample(
            &text,
            "graphql_request_duration_seconds_count{operation=\"query:dmpStatus\"}"
        ) >= 1.0
    );
    assert!(
        sample(
            &text,
            "graphql_request_duration_seconds_count{operation=\"rejected\"}"
        ) >= 1.0
    );
}

on_both_backends!(
    metrics_are_off_unless_configured_and_never_on_the_api_address,
    metrics_report_latency_errors_pool_outbox_subscribers_and_relay,
    metrics_labels_come_from_the_schema_not_the_client,
);
