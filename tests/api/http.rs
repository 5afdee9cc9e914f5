//! The HTTP edge, as a client meets it: a request id on every response, the body limit, the
//! request timeout.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, TestApp, beneficiary, ins, on_both_databases, patient_token};

fn request_id(response: &reqwest::Response) -> String {
    let id = response
        .headers()
        .get("x-request-id")
        .unwrap_or_else(|| panic!("no x-request-id on {}", response.url()))
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
        "{id}"
    );
    id
}

async fn every_response_carries_a_request_id_of_its_own(app: TestApp) {
    let client = reqwest::Client::new();
    let graphql = client
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(graphql.status(), 200);
    let first = request_id(&graphql);

    let livez = app.get("/livez").await;
    assert_eq!(livez.status(), 200);
    let unknown = app.get("/nowhere").await;
    assert_eq!(unknown.status(), 404);
    let ids = [first, request_id(&livez), request_id(&unknown)];
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);

    // An id sent by a client is not taken: the ids in the logs are all made by the server.
    let forged = client
        .get(format!("{}/livez", app.address))
        .header("x-request-id", "forged")
        .send()
        .await
        .unwrap();
    assert_ne!(request_id(&forged), "forged");
}

async fn a_body_over_the_limit_is_refused_with_413(app: TestApp) {
    // The test server takes documents of 64 KiB: its requests stop a little over 1 MiB.
    let oversized = format!("{{\"query\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));

    // Announced by its length: refused before a byte of it is read.
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(oversized.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        response.headers()["connection"],
        "close",
        "the body was not read"
    );
    request_id(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");

    // Sent in chunks, without a length: refused once the limit is crossed.
    let (head, body) = chunked_post(&app.address, &oversized).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(head.to_lowercase().contains("x-request-id: "), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");

    // Under the limit, the same route answers.
    let answer = app.graphql(None, "{ __typename }", json!({})).await;
    assert!(answer.errors.is_empty());
}

/// Posts `body` to /graphql in one chunk without a Content-Length (which reqwest cannot do
/// without its streaming feature) and returns the response's head and body. The chunk's end
/// is not sent: the server answers as soon as the limit is crossed, and has read everything
/// sent by then, so the connection closes cleanly rather than being reset.
async fn chunked_post(address: &str, body: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(address.trim_start_matches("http://"))
        .await
        .unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may stop reading at the limit: what it did not take is not an error here.
    let _ = stream.write_all(body.as_bytes()).await;
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0_u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buffer[..n]),
            }
            if complete(&response) {
                break;
            }
        }
    });
    read.await.expect("an answer within 10 s");
    let text = String::from_utf8(response).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    (head.to_owned(), body.to_owned())
}

/// Whether an HTTP/1.1 response with a Content-Length is all there.
fn complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .is_some_and(|length| body.len() >= length)
}

/// A request the server cannot finish in time (here, waiting for a row another transaction
/// holds) is answered 503 once `REQUEST_TIMEOUT_SECS` pass, and its transaction leaves
/// nothing behind. PostgreSQL only: SQLite has no row lock to hold.
#[tokio::test]
async fn a_request_over_the_timeout_is_answered_503_and_leaves_nothing() {
    let app = TestApp::spawn_with(Backend::Postgres, |s| s.http.request_timeout_secs = 1).await;
    let person = ins(900);
    app.enrol(vec![beneficiary(&person, None)]).await;

    let holder = app.hold_profile_lock(&person).await;
    let started = std::time::Instant::now();
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(patient_token(&person))
        .json(&json!({ "query": "mutation { opposeProfileCreation { status } }" }))
        // Without the server's timeout, the request would wait for the lock forever.
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    request_id(&response);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_secs(10),
        "{waited:?}"
    );
    holder.rollback().await.unwrap();

    assert_eq!(app.status(&person).await, "ANNOUNCED", "nothing half-done");
    let again = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { opposeProfileCreation { status } }",
            json!({}),
        )
        .await;
    assert_eq!(again.ok()["opposeProfileCreation"]["status"], "OPPOSED");
}

/// The routes beside GraphQL answer bad parameters as GraphQL answers errors: JSON, with a
/// code, never axum's plain text.
async fn rest_routes_answer_bad_parameters_in_the_json_error_shape(app: TestApp) {
    for path in [
        "/ledger/checkpoints?after=abc",
        "/ledger/checkpoints?limit=-1",
        "/ledger/checkpoints/consistency?from=x&to=2",
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{path}"
        );
    }
}

on_both_databases!(
    every_response_carries_a_request_id_of_its_own,
    a_body_over_the_limit_is_refused_with_413,
    rest_routes_answer_bad_parameters_in_the_json_error_shape,
);
