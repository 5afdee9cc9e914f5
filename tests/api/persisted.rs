//! Automatic persisted queries (the Apollo convention): a query's hash instead of its text,
//! once its text was sent with it; and the hash no way around the limits of a text.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, operator_token};

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn post(app: &TestApp, body: Value) -> Value {
    reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(operator_token())
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

#[tokio::test]
async fn a_query_sent_once_with_its_hash_is_answered_by_its_hash_alone() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let query = "{ __typename }";
    let hash = sha256_hex(query);

    // Unknown yet: the clients' cue to send the text.
    let unknown = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(unknown["errors"][0]["message"], "PersistedQueryNotFound");
    assert_eq!(
        unknown["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );

    let registered = post(
        &app,
        json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(registered["data"]["__typename"], "Query", "{registered}");
    let by_hash = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(by_hash["data"]["__typename"], "Query", "{by_hash}");

    // A hash that is not the text's is refused, and registers nothing.
    let other = sha256_hex("{ me { rpps } }");
    let forged = post(
        &app,
        json!({ "query": query, "extensions": persisted(&other) }),
    )
    .await;
    assert_eq!(forged["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    let still_unknown = post(&app, json!({ "extensions": persisted(&other) })).await;
    assert_eq!(
        still_unknown["errors"][0]["extensions"]["code"],
        "PERSISTED_QUERY_NOT_FOUND"
    );
}

/// A persisted query is the text it stands for: every limit applies to it, for the caller who
/// sends the hash.
#[tokio::test]
async fn a_persisted_query_is_held_to_the_limits_of_its_text() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.limits.query_max_cost = 10;
    })
    .await;
    let query = "{ a: __typename b: __typename c: __typename d: __typename e: __typename f: __typename g: __typename h: __typename i: __typename j: __typename k: __typename }";
    let hash = sha256_hex(query);
    let sent = post(
        &app,
        json!({ "query": query, "extensions": persisted(&hash) }),
    )
    .await;
    assert_eq!(
        sent["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{sent}"
    );
    let by_hash = post(&app, json!({ "extensions": persisted(&hash) })).await;
    assert_eq!(
        by_hash["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX",
        "{by_hash}"
    );
    assert!(by_hash["data"].is_null(), "{by_hash}");
}
