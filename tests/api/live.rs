//! Live subscriptions over websockets (graphql-transport-ws), with a real client: resume after
//! a cursor without gap or duplicate, per-recipient routing, token expiry, and two server
//! processes sharing one PostgreSQL.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::helpers::{
    AUDIENCE, Backend, DOCTOR, ISSUER, NURSE, SECRET, TestApp, claims, document_input, ins,
    on_both_databases, patient_token, practitioner_token, sign,
};

pub(crate) const NOTIFICATIONS: &str =
    "subscription($after: String) { notifications(after: $after) { cursor kind summary } }";
pub(crate) const INBOX: &str = "subscription($after: String) { inbox(after: $after) { cursor threadId patientIns message { id body isBounce sender { role } } } }";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws client.
pub(crate) struct WsClient {
    socket: Socket,
}

impl WsClient {
    /// Connects to `address` and authenticates with `token`, waiting for the ack.
    pub(crate) async fn connect(address: &str, token: &str) -> Self {
        Self::connect_with(
            address,
            json!({ "Authorization": format!("Bearer {token}") }),
        )
        .await
    }

    /// Connects with `payload` in `connection_init`, waiting for the ack.
    pub(crate) async fn connect_with(address: &str, payload: Value) -> Self {
        let (client, ack) = Self::init(address, payload).await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    /// Connects and sends `connection_init` with `payload`: the client and the server's answer
    /// (the ack, or `{"close": code}`).
    pub(crate) async fn init(address: &str, payload: Value) -> (Self, Value) {
        let url = format!("{}/graphql/ws", address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        let init = json!({ "type": "connection_init", "payload": payload });
        socket.send(Message::text(init.to_string())).await.unwrap();
        let mut client = Self { socket };
        let answer = client
            .receive()
            .await
            .expect("an answer to connection_init");
        (client, answer)
    }

    pub(crate) async fn subscribe(&mut self, query: &str, variables: Value) {
        let message = json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } });
        self.socket
            .send(Message::text(message.to_string()))
            .await
            .unwrap();
    }

    /// The next protocol message, or the close frame's code as `{"close": code}`; `None` after
    /// 10 s of silence (a test waiting that long has failed).
    pub(crate) async fn receive(&mut self) -> Option<Value> {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Some(serde_json::from_str(&text).unwrap());
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Some(json!({ "close": frame.map(|f| u16::from(f.code)) }));
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) => return Some(json!({ "close": null })),
                Err(_) => return None,
            }
        }
    }

    /// The data of the next `next` message.
    pub(crate) async fn next_event(&mut self, field: &str) -> Value {
        let message = self.receive().await.expect("an event within 10 s");
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"]["errors"].is_null(), "{message}");
        message["payload"]["data"][field].clone()
    }

    /// Whether nothing arrives for `quiet` (an event would have arrived by then).
    pub(crate) async fn stays_silent(&mut self, quiet: Duration) -> bool {
        tokio::time::timeout(quiet, self.socket.next())
            .await
            .is_err()
    }

    pub(crate) async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

async fn patient_resumes_after_a_cursor_without_gap_or_duplicate(app: TestApp) {
    let person = ins(500);
    app.activated_profile(&person, None).await;
    let mut client = WsClient::connect(&app.address, &patient_token(&person)).await;
    // "0": from the start of the feed, so that the test does not race the subscription's
    // registration (without a cursor, a subscription starts at "now").
    client
        .subscribe(NOTIFICATIONS, json!({ "after": "0" }))
        .await;
    app.feed(DOCTOR, &person, document_input("d-1", "Compte rendu 1"))
        .await
        .ok();
    // A first feed is the practitioner's first access, told before the document.
    let first_access = client.next_event("notifications").await;
    assert_eq!(first_access["kind"], "FIRST_ACCESS");
    let first = client.next_event("notifications").await;
    assert_eq!(first["kind"], "NEW_DOCUMENT");
    assert!(
        first["summary"]
            .as_str()
            .unwrap()
            .contains("Médecin généraliste")
    );
    let cursor = first["cursor"].as_str().unwrap().to_owned();
    client.close().await;

    // Missed while disconnected: two documents and a first access (the nurse's first feed;
    // her consultation after it is no first access).
    app.feed(DOCTOR, &person, document_input("d-2", "Compte rendu 2"))
        .await
        .ok();
    app.feed(NURSE, &person, document_input("d-3", "Soins"))
        .await
        .ok();
    app.graphql(
        Some(&practitioner_token(NURSE)),
        "query($ins: INS!) { patientRecord(patientIns: $ins) { edges { cursor } } }",
        json!({ "ins": person }),
    )
    .await
    .ok();

    let mut client = WsClient::connect(&app.address, &patient_token(&person)).await;
    client
        .subscribe(NOTIFICATIONS, json!({ "after": cursor }))
        .await;
    let mut seen = vec![cursor.parse::<i64>().unwrap()];
    let mut kinds = Vec::new();
    for _ in 0..3 {
        let event = client.next_event("notifications").await;
        seen.push(event["cursor"].as_str().unwrap().parse().unwrap());
        kinds.push(event["kind"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        kinds,
        ["NEW_DOCUMENT", "FIRST_ACCESS", "NEW_DOCUMENT"],
        "exactly what was missed"
    );
    // Then live, across the switch from replay to live.
    app.feed(DOCTOR, &person, document_input("d-4", "Compte rendu 4"))
        .await
        .ok();
    let live = client.next_event("notifications").await;
    seen.push(live["cursor"].as_str().unwrap().parse().unwrap());
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "in order, no duplicate: {seen:?}"
    );
    client.close().await;
}

async fn practitioner_inbox_streams_replies_and_bounces(app: TestApp) {
    let person = ins(501);
    app.activated_profile(&person, None).await;
    let mut client = WsClient::connect(&app.address, &practitioner_token(DOCTOR)).await;
    client.subscribe(INBOX, json!({ "after": "0" })).await;
    let send = "mutation($ins: INS!, $key: String!) { sendMessage(patientIns: $ins, input: { subject: \"Bilan\", body: \"Bonjour\", idempotencyKey: $key }) { thread { id } } }";
    let sent = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            send,
            json!({ "ins": person, "key": "m-1" }),
        )
        .await;
    let thread = sent.ok()["sendMessage"]["thread"]["id"].clone();
    app.graphql(
        Some(&patient_token(&person)),
        "mutation($id: ID!) { replyToThread(threadId: $id, body: \"Merci\", idempotencyKey: \"r-1\") { message { id } } }",
        json!({ "id": thread }),
    )
    .await
    .ok();
    let reply = client.next_event("inbox").await;
    // What the patient wrote comes with the traced reading of the thread, not here.
    assert_eq!(reply["message"]["body"], Value::Null);
    assert_eq!(reply["message"]["sender"]["role"], "PATIENT");
    assert_eq!(reply["threadId"], thread);

    app.graphql(
        Some(&practitioner_token(DOCTOR)),
        send,
        json!({ "ins": ins(502), "key": "m-2" }),
    )
    .await
    .ok();
    let bounce = client.next_event("inbox").await;
    assert_eq!(bounce["message"]["isBounce"], true);
    assert_eq!(bounce["patientIns"], ins(502));
    client.close().await;
}

async fn a_patient_never_receives_another_patients_event(app: TestApp) {
    let (alice, bob) = (ins(503), ins(504));
    app.activated_profile(&alice, None).await;
    app.activated_profile(&bob, None).await;
    let mut bobs = WsClient::connect(&app.address, &patient_token(&bob)).await;
    bobs.subscribe(NOTIFICATIONS, json!({ "after": "0" })).await;
    app.feed(DOCTOR, &alice, document_input("a-1", "Pour Alice"))
        .await
        .ok();
    app.feed(DOCTOR, &bob, document_input("b-1", "Pour Bob"))
        .await
        .ok();
    // Bob's first event is his own: Alice's, committed before, never reached him.
    let event = bobs.next_event("notifications").await;
    let owner = app
        .query_rows(&format!(
            "SELECT patient_ins FROM notifications WHERE id = {}",
            event["cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(owner[0][0], bob);
    bobs.close().await;
}

async fn the_subscription_closes_when_the_token_expires(app: TestApp) {
    let person = ins(505);
    let mut short = claims("PATIENT", &person);
    short["exp"] = json!(chrono::Utc::now().timestamp() + 2);
    let mut client = WsClient::connect(&app.address, &sign(&short)).await;
    client.subscribe(NOTIFICATIONS, json!({})).await;
    let closed = client.receive().await.expect("closed within 10 s");
    assert_eq!(closed["close"], 4401, "{closed}");
}

async fn subscriptions_check_the_role(app: TestApp) {
    let mut client = WsClient::connect(&app.address, &practitioner_token(DOCTOR)).await;
    client.subscribe(NOTIFICATIONS, json!({})).await;
    let answer = client.receive().await.unwrap();
    assert_eq!(answer["type"], "next", "{answer}");
    assert!(answer["payload"]["data"].is_null());
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"],
        "FORBIDDEN"
    );
}

async fn subscription_errors_carry_codes(app: TestApp) {
    let mut client = WsClient::connect(&app.address, &patient_token(&ins(506))).await;
    client
        .subscribe(
            "subscription { notifications(after: \"not a cursor\") { cursor } }",
            json!({}),
        )
        .await;
    let answer = client.receive().await.unwrap();
    assert_eq!(
        answer["payload"]["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
    let mut client = WsClient::connect(&app.address, &patient_token(&ins(506))).await;
    client
        .subscribe("subscription { nosuchfield }", json!({}))
        .await;
    let answer = client.receive().await.unwrap();
    let errors = if answer["type"] == "error" {
        answer["payload"].clone()
    } else {
        answer["payload"]["errors"].clone()
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "BAD_USER_INPUT",
        "{answer}"
    );
}

async fn subscribing_from_the_queried_notifications_cursor_misses_and_repeats_nothing(
    app: TestApp,
) {
    let person = ins(520);
    app.activated_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input("q-0", "Avant la requête"))
        .await
        .ok();
    let token = patient_token(&person);
    let queried = app
        .graphql(Some(&token), "{ me { notificationsCursor } }", json!({}))
        .await;
    let cursor = queried.ok()["me"]["notificationsCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = live_ids(&app, &person).await;
    assert_eq!(
        cursor,
        before.last().unwrap().to_string(),
        "now: the latest"
    );

    // An event between the query and the subscription.
    app.feed(DOCTOR, &person, document_input("q-1", "Entre les deux"))
        .await
        .ok();
    let after = live_ids(&app, &person).await;
    assert_eq!(after.len(), before.len() + 1);

    let mut client = WsClient::connect(&app.address, &token).await;
    client
        .subscribe(NOTIFICATIONS, json!({ "after": cursor }))
        .await;
    let event = client.next_event("notifications").await;
    assert_eq!(event["kind"], "NEW_DOCUMENT");
    assert_eq!(event["cursor"], after.last().unwrap().to_string());
    assert!(
        client.stays_silent(Duration::from_millis(500)).await,
        "nothing from before the query"
    );
    client.close().await;
}

async fn subscribing_from_the_queried_inbox_cursor_misses_and_repeats_nothing(app: TestApp) {
    let person = ins(521);
    app.activated_profile(&person, None).await;
    let send = "mutation($ins: INS!) { sendMessage(patientIns: $ins, input: { subject: \"Bilan\", body: \"Bonjour\", idempotencyKey: \"m-1\" }) { thread { id } } }";
    let doctor = practitioner_token(DOCTOR);
    let thread = app
        .graphql(Some(&doctor), send, json!({ "ins": person }))
        .await
        .ok()["sendMessage"]["thread"]["id"]
        .clone();
    let reply = "mutation($id: ID!, $body: String!, $key: String!) { replyToThread(threadId: $id, body: $body, idempotencyKey: $key) { message { id } } }";
    let first = app
        .graphql(
            Some(&patient_token(&person)),
            reply,
            json!({ "id": thread, "body": "avant", "key": "r-1" }),
        )
        .await;
    let first_id = first.ok()["replyToThread"]["message"]["id"].clone();
    let cursor = app
        .graphql(Some(&doctor), "{ inboxCursor }", json!({}))
        .await
        .ok()["inboxCursor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(json!(cursor), first_id, "now: the latest reply");

    // A reply between the query and the subscription.
    let between = app
        .graphql(
            Some(&patient_token(&person)),
            reply,
            json!({ "id": thread, "body": "entre les deux", "key": "r-2" }),
        )
        .await;
    let between_id = between.ok()["replyToThread"]["message"]["id"].clone();

    let mut client = WsClient::connect(&app.address, &doctor).await;
    client.subscribe(INBOX, json!({ "after": cursor })).await;
    let event = client.next_event("inbox").await;
    assert_eq!(event["message"]["id"], between_id);
    assert!(
        client.stays_silent(Duration::from_millis(500)).await,
        "nothing from before the query"
    );
    client.close().await;
}

/// The ids of the patient's live notifications, oldest first.
async fn live_ids(app: &TestApp, ins: &str) -> Vec<i64> {
    app.query_rows(&format!(
        "SELECT id FROM notifications WHERE patient_ins = '{ins}' AND channel = 'LIVE' ORDER BY id"
    ))
    .await
    .into_iter()
    .map(|row| row[0].parse().unwrap())
    .collect()
}

on_both_databases!(
    subscription_errors_carry_codes,
    patient_resumes_after_a_cursor_without_gap_or_duplicate,
    practitioner_inbox_streams_replies_and_bounces,
    a_patient_never_receives_another_patients_event,
    the_subscription_closes_when_the_token_expires,
    subscriptions_check_the_role,
    subscribing_from_the_queried_notifications_cursor_misses_and_repeats_nothing,
    subscribing_from_the_queried_inbox_cursor_misses_and_repeats_nothing,
);

/// A second `espace-sante serve` process on the test's database.
struct Replica {
    child: Child,
    address: String,
}

impl Replica {
    fn spawn(database_url: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("JWT_SECRET", SECRET)
            .env("JWT_ISSUER", ISSUER)
            .env("JWT_AUDIENCE", AUDIENCE)
            .env("CREATION_SWEEP_INTERVAL_SECS", "0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let address = loop {
            let line = lines.next().expect("the replica logs its address").unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split("/graphql").next().unwrap().to_owned();
            }
        };
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, address }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn a_document_fed_through_one_replica_reaches_a_patient_subscribed_on_another(app: TestApp) {
    let person = ins(510);
    app.activated_profile(&person, None).await;
    let replica = Replica::spawn(&app.database_url);
    app.feed(DOCTOR, &person, document_input("x-0", "Avant"))
        .await
        .ok();
    let mut client = WsClient::connect(&replica.address, &patient_token(&person)).await;
    client
        .subscribe(NOTIFICATIONS, json!({ "after": "0" }))
        .await;
    // Replayed: the subscription is now registered and waiting on the replica's doorbell,
    // which only the replica's LISTEN connection can ring.
    let replayed = client.next_event("notifications").await;
    app.feed(DOCTOR, &person, document_input("x-1", "Via A"))
        .await
        .ok();
    let event = client.next_event("notifications").await;
    assert_eq!(event["kind"], "NEW_DOCUMENT");
    assert_ne!(event["cursor"], replayed["cursor"]);

    // The replica's listener connection drops: it reconnects and catches up, losing nothing.
    let db = app.db().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()",
    )
    .await
    .unwrap();
    app.feed(
        DOCTOR,
        &person,
        document_input("x-2", "Via A, listener down"),
    )
    .await
    .ok();
    let caught_up = client.next_event("notifications").await;
    assert!(
        caught_up["cursor"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > event["cursor"].as_str().unwrap().parse::<i64>().unwrap()
    );
    client.close().await;
}

/// The request timeout is for requests answered once: a subscription stays open past it.
/// (The edge layers do not depend on the database: SQLite is enough.)
#[tokio::test]
async fn a_subscription_outlives_the_request_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.http.request_timeout_secs = 1).await;
    let person = ins(510);
    app.activated_profile(&person, None).await;
    let mut client = WsClient::connect(&app.address, &patient_token(&person)).await;
    client
        .subscribe(NOTIFICATIONS, json!({ "after": "0" }))
        .await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    app.feed(DOCTOR, &person, document_input("late", "Compte rendu"))
        .await
        .ok();
    // The doctor's first feed: their first access, then the document.
    let event = client.next_event("notifications").await;
    assert_eq!(event["kind"], "FIRST_ACCESS");
    let event = client.next_event("notifications").await;
    assert_eq!(event["kind"], "NEW_DOCUMENT");
    client.close().await;
}

mod postgres_only {
    use crate::helpers::{Backend, TestApp};

    #[tokio::test]
    async fn a_document_fed_through_one_replica_reaches_a_patient_subscribed_on_another() {
        super::a_document_fed_through_one_replica_reaches_a_patient_subscribed_on_another(
            TestApp::spawn(Backend::Postgres).await,
        )
        .await;
    }
}
