//! The edge against slow and hostile clients, and honest readiness: header and body read
//! timeouts, the up-front 413, the websocket limits and close codes of graphql-transport-ws,
//! a database outage told quickly and as retriable, the relay's lease.
//!
//! The HTTP and websocket edge does not depend on the database: those tests run on SQLite.
//! The outage needs a PostgreSQL reached through a proxy the test can cut.

use std::time::Duration;

use espace_sante::clock::Clock;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::helpers::{
    Backend, DOCTOR, DatabaseProxy, TestApp, claims, document_input, ins, on_both_backends,
    operator_token, patient_token, sign,
};

// ---------------------------------------------------------------------------------------------
// HTTP: slow heads, slow bodies, announced sizes.

/// Connects to the test server over plain TCP.
async fn raw_connection(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection, for at most `wait`; `None` if it is still
/// open by then.
async fn read_until_closed(stream: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(wait, async {
        let mut buffer = [0_u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

#[tokio::test]
async fn a_client_that_sends_half_a_request_head_is_disconnected() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.http.header_read_timeout_secs = 1).await;
    let mut stream = raw_connection(&app).await;
    stream
        .write_all(b"GET /livez HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        .await
        .unwrap();
    // Without the header read timeout, the connection would stay open as long as the client
    // likes.
    let closed = read_until_closed(&mut stream, Duration::from_secs(8)).await;
    assert!(closed.is_some(), "the connection is still open");

    // A client that sends its head in time is answered.
    assert_eq!(app.get("/livez").await.status(), 200);
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.http.body_read_timeout_secs = 1;
        // Far beyond the wait below: the body timeout answers, not the request timeout.
        s.http.request_timeout_secs = 60;
    })
    .await;
    let mut stream = raw_connection(&app).await;
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"query\":",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(8))
        .await
        .expect("an answer, then the connection closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("REQUEST_TIMEOUT"), "{answer}");
}

#[tokio::test]
async fn a_content_length_over_the_limit_is_refused_before_any_body_is_sent() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut stream = raw_connection(&app).await;
    // 100 GB announced, not a byte sent: the answer cannot wait for the body.
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 100000000000\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = vec![0_u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(8), stream.read(&mut head))
        .await
        .expect("an answer without the body")
        .unwrap();
    let head = String::from_utf8_lossy(&head[..read]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}

/// Shutdown finishes the requests in flight: a request waiting on a row lock when shutdown
/// begins is answered once the lock is released, new connections are refused meanwhile, and
/// the server returns (so that the process may exit) only then.
/// PostgreSQL only: SQLite has no row lock to hold.
#[tokio::test]
async fn shutdown_drains_the_requests_in_flight() {
    let mut app = TestApp::spawn(Backend::Postgres).await;
    let person = ins(960);
    app.enrol(vec![crate::helpers::beneficiary(&person, None)])
        .await;
    let holder = app.hold_profile_lock(&person).await;
    let address = app.address.clone();
    let token = patient_token(&person);
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{address}/graphql"))
            .bearer_auth(token)
            .json(&json!({ "query": "mutation { opposeProfileCreation { status } }" }))
            .timeout(Duration::from_secs(20))
            .send()
            .await
    });
    // Wait until the request waits on the lock.
    let mut waiting = false;
    for _ in 0..100 {
        if app
            .query_rows("SELECT COUNT(*) FROM pg_locks WHERE NOT granted")
            .await[0][0]
            != "0"
        {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(waiting, "the request never reached the lock");
    let server = app.shut_down();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !server.is_finished(),
        "the server waits for the request in flight"
    );
    let refused = reqwest::Client::new()
        .get(format!("{}/livez", app.address))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "new connections are refused once shutdown begins"
    );

    holder.rollback().await.unwrap();
    let answered = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered");
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server stops once its requests are answered")
        .unwrap()
        .unwrap();
    assert_eq!(answered.status(), 200);
    let body: Value = answered.json().await.unwrap();
    assert_eq!(
        body["data"]["opposeProfileCreation"]["status"], "OPPOSED",
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// Websockets: limits and the close codes of graphql-transport-ws.

const NOTIFICATIONS: &str = "subscription { notifications { cursor kind } }";

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A websocket client that does only what the test says.
struct RawWs {
    socket: Socket,
}

/// What the server said next.
#[derive(Debug)]
enum Heard {
    Message(Value),
    /// A valid close frame: its code and reason.
    Closed(u16, String),
    /// The connection ended without a valid close frame (a client sees 1002 or 1006); why.
    Broken(#[expect(dead_code, reason = "read in failure messages, through Debug")] String),
    /// Nothing for 10 s.
    Silence,
}

impl RawWs {
    async fn connect(app: &TestApp, protocol: &str) -> Self {
        let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().unwrap());
        let (socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        Self { socket }
    }

    /// Connects with graphql-transport-ws and signs in as `token`, expecting the ack.
    async fn signed_in(app: &TestApp, token: &str) -> Self {
        let mut client = Self::connect(app, "graphql-transport-ws").await;
        client.init(token).await;
        match client.hear().await {
            Heard::Message(ack) if ack["type"] == "connection_ack" => client,
            other => panic!("expected connection_ack, got {other:?}"),
        }
    }

    async fn send(&mut self, message: Value) {
        self.send_text(message.to_string()).await;
    }

    async fn send_text(&mut self, text: String) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    async fn init(&mut self, token: &str) {
        self.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
            .await;
    }

    async fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query } }))
            .await;
    }

    async fn hear(&mut self) -> Heard {
        loop {
            match tokio::time::timeout(Duration::from_secs(10), self.socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    return Heard::Message(serde_json::from_str(&text).unwrap());
                }
                Ok(Some(Ok(Message::Close(Some(frame))))) => {
                    return Heard::Closed(u16::from(frame.code), frame.reason.to_string());
                }
                Ok(Some(Ok(Message::Close(None)))) => return Heard::Broken("no code".into()),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(err))) => return Heard::Broken(err.to_string()),
                Ok(None) => return Heard::Broken("ended".into()),
                Err(_) => return Heard::Silence,
            }
        }
    }

    /// Expects a close frame and returns its code and reason.
    async fn closed(&mut self) -> (u16, String) {
        match self.hear().await {
            Heard::Closed(code, reason) => (code, reason),
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_websocket_without_connection_init_is_closed_with_4408() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.websocket.ws_init_timeout_secs = 1).await;
    let mut client = RawWs::connect(&app, "graphql-transport-ws").await;
    let (code, reason) = client.closed().await;
    assert_eq!(code, 4408, "{reason}");
}

#[tokio::test]
async fn subscribe_before_the_ack_is_closed_with_4401() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut client = RawWs::connect(&app, "graphql-transport-ws").await;
    client.subscribe("1", NOTIFICATIONS).await;
    assert_eq!(client.closed().await.0, 4401);

    // The legacy protocol too, before its connection_init.
    let mut legacy = RawWs::connect(&app, "graphql-ws").await;
    legacy
        .send(json!({ "id": "1", "type": "start", "payload": { "query": NOTIFICATIONS } }))
        .await;
    assert_eq!(legacy.closed().await.0, 4401);
}

/// Each subscription takes from the caller's rate, as an HTTP request does: subscribe and
/// complete again and again, and past the burst the next one is refused (`TOO_MANY_REQUESTS`,
/// the connection going on) before it reads anything.
#[tokio::test]
async fn subscribing_counts_against_the_callers_rate() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.limits.rate_limit_per_minute = 1;
        settings.limits.rate_limit_burst = 3;
    })
    .await;
    let person = app.person();
    app.activated_profile(&person, None).await;
    let mut client = RawWs::signed_in(&app, &patient_token(&person)).await;
    for id in ["1", "2"] {
        client.subscribe(id, NOTIFICATIONS).await;
        client.send(json!({ "id": id, "type": "complete" })).await;
    }
    // The third: the burst is 3, and the patient's sign-in above made one HTTP request.
    client.subscribe("3", NOTIFICATIONS).await;
    loop {
        match client.hear().await {
            // The server's `complete` of the two completed subscriptions.
            Heard::Message(done) if done["type"] == "complete" => continue,
            Heard::Message(error) => {
                assert_eq!(error["type"], "error", "{error}");
                assert_eq!(error["id"], "3");
                assert_eq!(
                    error["payload"][0]["extensions"]["code"],
                    "TOO_MANY_REQUESTS"
                );
                break;
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
}

/// The published checkpoints are open to anyone, and each answer is a database read: they are
/// limited per address, as anonymous GraphQL requests are.
#[tokio::test]
async fn the_checkpoint_routes_are_limited_per_address() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.limits.rate_limit_per_minute = 1;
        settings.limits.rate_limit_burst = 3;
    })
    .await;
    for _ in 0..3 {
        assert_eq!(app.get("/ledger/checkpoints").await.status(), 200);
    }
    let refused = app.get("/ledger/checkpoints/consistency?from=1&to=1").await;
    assert_eq!(refused.status(), 429);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_REQUESTS");
}

/// The legacy graphql-ws protocol refuses a bad token as graphql-transport-ws does: its
/// `connection_error`, then a close frame with 4403 (not a connection dropped without one).
#[tokio::test]
async fn the_legacy_protocol_closes_a_refused_connection_with_4403() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut legacy = RawWs::connect(&app, "graphql-ws").await;
    legacy
        .send(json!({ "type": "connection_init", "payload": { "Authorization": "Bearer nope" } }))
        .await;
    match legacy.hear().await {
        Heard::Message(message) => assert_eq!(message["type"], "connection_error", "{message}"),
        other => panic!("expected connection_error, got {other:?}"),
    }
    assert_eq!(legacy.closed().await.0, 4403);
}

#[tokio::test]
async fn a_message_that_is_not_of_the_protocol_is_closed_with_4400() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut client = RawWs::connect(&app, "graphql-transport-ws").await;
    client.send_text("not json".to_owned()).await;
    assert_eq!(client.closed().await.0, 4400);

    let mut client = RawWs::signed_in(&app, &patient_token(&ins(961))).await;
    client.send(json!({ "type": "no_such_type" })).await;
    assert_eq!(client.closed().await.0, 4400);
}

#[tokio::test]
async fn a_duplicate_subscription_id_is_closed_with_4409_and_a_reason_of_at_most_123_bytes() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut client = RawWs::signed_in(&app, &patient_token(&ins(962))).await;
    // Two bytes a character: a cut at byte 123 would split one.
    let id = "é".repeat(100);
    client.subscribe(&id, NOTIFICATIONS).await;
    client.subscribe(&id, NOTIFICATIONS).await;
    let (code, reason) = client.closed().await;
    assert_eq!(code, 4409, "{reason}");
    assert!(reason.starts_with("Subscriber for éé"), "{reason}");
    assert!(reason.len() <= 123, "{} bytes", reason.len());
}

#[tokio::test]
async fn a_refused_token_with_a_long_reason_still_closes_with_4403() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // The claims do not parse: the refusal quotes the unknown role, 300 bytes of it.
    let token = sign(&claims(&"X".repeat(300), &ins(963)));
    let mut client = RawWs::connect(&app, "graphql-transport-ws").await;
    client.init(&token).await;
    let (code, reason) = client.closed().await;
    assert_eq!(code, 4403, "{reason}");
    assert!(reason.starts_with("authentication refused"), "{reason}");
    assert!(reason.len() <= 123);
}

#[tokio::test]
async fn an_oversized_websocket_message_is_closed_with_1009() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut client = RawWs::signed_in(&app, &patient_token(&ins(964))).await;
    let padding = "x".repeat(64 * 1024);
    client
        .send(json!({ "id": "1", "type": "subscribe", "payload": { "query": NOTIFICATIONS, "variables": { "padding": padding } } }))
        .await;
    assert_eq!(client.closed().await.0, 1009);
}

#[tokio::test]
async fn subscriptions_per_connection_are_capped_and_others_go_on() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| s.websocket.ws_max_subscriptions = 2).await;
    let person = ins(965);
    app.activated_profile(&person, None).await;
    // The doctor's first access, before anyone listens: each feed below is then one event.
    app.feed(DOCTOR, &person, document_input("cap-0", "Compte rendu"))
        .await
        .ok();
    let mut client = RawWs::signed_in(&app, &patient_token(&person)).await;
    client.subscribe("1", NOTIFICATIONS).await;
    client.subscribe("2", NOTIFICATIONS).await;
    client.subscribe("3", NOTIFICATIONS).await;
    match client.hear().await {
        Heard::Message(refused) => {
            assert_eq!(refused["type"], "error", "{refused}");
            assert_eq!(refused["id"], "3", "{refused}");
            assert_eq!(
                refused["payload"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS",
                "{refused}"
            );
        }
        other => panic!("expected the third subscription refused, got {other:?}"),
    }

    // The two others still run.
    app.feed(DOCTOR, &person, document_input("cap-1", "Compte rendu"))
        .await
        .ok();
    let first = events(&mut client, 2).await;
    let ids: Vec<&str> = first.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["1", "2"]);

    // Completing one frees its place. (The new one resumes after the last event seen, so that
    // the next document reaches it however soon it is fed.)
    client.send(json!({ "id": "1", "type": "complete" })).await;
    client
        .send(json!({ "id": "4", "type": "subscribe", "payload": {
            "query": "subscription($after: String) { notifications(after: $after) { cursor kind } }",
            "variables": { "after": first[0].1 },
        } }))
        .await;
    app.feed(DOCTOR, &person, document_input("cap-2", "Ordonnance"))
        .await
        .ok();
    let ids: Vec<String> = events(&mut client, 2)
        .await
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, ["2", "4"]);
}

/// The next `count` events, as (subscription id, cursor), sorted by id; completes confirmed
/// by async-graphql are skipped.
async fn events(client: &mut RawWs, count: usize) -> Vec<(String, String)> {
    let mut events = Vec::new();
    while events.len() < count {
        match client.hear().await {
            Heard::Message(next) if next["type"] == "next" => {
                let cursor = &next["payload"]["data"]["notifications"]["cursor"];
                events.push((
                    next["id"].as_str().unwrap().to_owned(),
                    cursor.as_str().unwrap().to_owned(),
                ));
            }
            Heard::Message(done) if done["type"] == "complete" => {}
            other => panic!("expected an event, got {other:?}"),
        }
    }
    events.sort();
    events
}

#[tokio::test]
async fn websockets_per_user_are_capped() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.websocket.ws_max_connections_per_subject = 2;
    })
    .await;
    let token = patient_token(&ins(966));
    let first = RawWs::signed_in(&app, &token).await;
    let _second = RawWs::signed_in(&app, &token).await;
    let mut third = RawWs::connect(&app, "graphql-transport-ws").await;
    third.init(&token).await;
    let (code, reason) = third.closed().await;
    assert_eq!(code, 4429, "{reason}");

    // Another user is not counted with them.
    RawWs::signed_in(&app, &patient_token(&ins(967))).await;

    // A connection that closes gives its place back.
    let mut first = first;
    first.socket.close(None).await.unwrap();
    let mut accepted = false;
    for _ in 0..50 {
        let mut again = RawWs::connect(&app, "graphql-transport-ws").await;
        again.init(&token).await;
        if let Heard::Message(ack) = again.hear().await {
            assert_eq!(ack["type"], "connection_ack");
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(accepted, "the closed connection's place was not given back");
}

// ---------------------------------------------------------------------------------------------
// A database outage, told quickly and as retriable.

#[tokio::test]
async fn a_database_outage_is_told_quickly_and_as_retriable() {
    let proxy = DatabaseProxy::start("127.0.0.1:5432".to_owned()).await;
    let through = proxy.address.clone();
    let app = TestApp::spawn_with(Backend::Postgres, |s| {
        s.database.database_url = s.database.database_url.replace("127.0.0.1:5432", &through);
        // Longer than readiness waits: readiness has its own, shorter, timeout.
        s.database.db_acquire_timeout_secs = 4;
    })
    .await;
    let person = ins(968);
    app.activated_profile(&person, None).await;
    let client = reqwest::Client::new();
    let query = json!({ "query": "{ me { profile { status } } }" });
    let ask = || {
        client
            .post(format!("{}/graphql", app.address))
            .bearer_auth(patient_token(&person))
            .json(&query)
            .timeout(Duration::from_secs(12))
            .send()
    };
    assert_eq!(app.get("/readyz").await.status(), 200);
    assert_eq!(ask().await.unwrap().status(), 200);

    proxy.cut();
    // Readiness answers before the pool's acquire timeout (4 s here), and says 503.
    let ready = client
        .get(format!("{}/readyz", app.address))
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .expect("readiness answers within its own timeout");
    assert_eq!(ready.status(), 503);

    // A request fails after the acquire timeout, not the former 30 s, and says to retry.
    let answer = ask().await.expect("an answer before the client gives up");
    assert_eq!(answer.status(), 503);
    assert_eq!(answer.headers()["retry-after"], "2");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{body}"
    );

    // Back online, back to normal.
    proxy.restore();
    let mut recovered = false;
    for _ in 0..40 {
        if app.get("/readyz").await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "readiness stays 503 after the outage");
    let answer = ask().await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(
        body["data"]["me"]["profile"]["status"], "ACTIVATED",
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------------
// The relay's lease.

/// An SMTP server that accepts connections and never says a word: a send hangs on it.
async fn silent_smtp() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("smtp://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    url
}

/// The `claimed_until` of the claimed emails, in seconds since the epoch.
async fn leases(app: &TestApp) -> Vec<i64> {
    let epoch = match app.backend {
        Backend::Postgres => "EXTRACT(EPOCH FROM claimed_until)::bigint",
        Backend::Sqlite => "CAST(strftime('%s', claimed_until) AS INTEGER)",
    };
    app.query_rows(&format!(
        "SELECT {epoch} FROM notifications WHERE claimed_until IS NOT NULL ORDER BY id"
    ))
    .await
    .iter()
    .map(|row| row[0].parse().unwrap())
    .collect()
}

/// Waits (up to 8 s) until some email is leased until `until`.
async fn leased_until(app: &TestApp, until: i64) -> Vec<i64> {
    let mut seen = Vec::new();
    for _ in 0..80 {
        seen = leases(app).await;
        if seen.contains(&until) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

async fn the_relay_lease_comes_from_the_setting_and_is_renewed_while_sending(backend: Backend) {
    let smtp = silent_smtp().await;
    let app = TestApp::spawn_with(backend, |s| {
        s.mail.smtp_url = Some(espace_sante::config::Secret(smtp));
        s.relay.relay_lease_secs = 3;
    })
    .await;
    let person = ins(969);
    app.enrol(vec![crate::helpers::beneficiary(
        &person,
        Some("insurer@example.org"),
    )])
    .await;
    let address = app.address.clone();
    // The round hangs on the silent SMTP server; dropping this request later is a relay crash.
    let round = tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(format!("{address}/graphql"))
            .bearer_auth(operator_token())
            .json(&json!({ "query": "mutation { deliverNotifications { sent } }" }))
            .send()
            .await;
    });
    let claimed_at = app.clock.now().timestamp();
    let seen = leased_until(&app, claimed_at + 3).await;
    assert!(
        seen.contains(&(claimed_at + 3)),
        "the lease is RELAY_LEASE_SECS: {seen:?} (claimed at {claimed_at})"
    );

    // While the send hangs, the lease is renewed (every third of it) from the current time.
    app.advance(chrono::Duration::seconds(60));
    let renewed_at = app.clock.now().timestamp();
    let seen = leased_until(&app, renewed_at + 3).await;
    assert!(
        seen.contains(&(renewed_at + 3)),
        "the lease is renewed while sending: {seen:?} (now {renewed_at})"
    );
    round.abort();
}

on_both_backends!(the_relay_lease_comes_from_the_setting_and_is_renewed_while_sending);
