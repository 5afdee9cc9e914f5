//! Authentication and role checks: `UNAUTHENTICATED` without a valid token, `FORBIDDEN` for the
//! wrong role, identifiers validated as scalars.

use chrono::{Duration, Utc};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::helpers::{
    TestApp, beneficiary, claims, ins, on_both_databases, operator_token, patient_token,
    practitioner_token, sign,
};

const ME: &str = "{ me { profile { status } } }";

async fn missing_token_is_unauthenticated(app: TestApp) {
    let answer = app.graphql(None, ME, json!({})).await;
    assert_eq!(answer.code(), "UNAUTHENTICATED");
    assert!(
        answer.error()["message"]
            .as_str()
            .unwrap()
            .contains("Bearer")
    );
}

async fn public_fields_need_no_token(app: TestApp) {
    let answer = app.graphql(None, "{ __typename }", json!({})).await;
    assert_eq!(answer.ok()["__typename"], "Query");
}

async fn invalid_tokens_are_unauthenticated(app: TestApp) {
    let person = ins(100);
    app.enrol(vec![beneficiary(&person, None)]).await;
    let mut expired = claims("PATIENT", &person);
    expired["exp"] = json!((Utc::now() - Duration::hours(1)).timestamp());
    let mut wrong_issuer = claims("PATIENT", &person);
    wrong_issuer["iss"] = json!("someone-else");
    let mut wrong_audience = claims("PATIENT", &person);
    wrong_audience["aud"] = json!("another-api");
    let mut no_exp = claims("PATIENT", &person);
    no_exp.as_object_mut().unwrap().remove("exp");
    let mut not_an_ins = claims("PATIENT", "123");
    not_an_ins["sub"] = json!("123");
    let mut system = claims("SYSTEM", "system");
    system["role"] = json!("SYSTEM");
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims("PATIENT", &person),
        &jsonwebtoken::EncodingKey::from_secret(b"not-the-server-secret-not-the-server-secret")
            .unwrap(),
    )
    .unwrap();
    // An unsigned token (alg "none"): the accepted algorithm comes from configuration.
    let unsigned = {
        format!(
            "{}.{}.",
            base64_url("{\"alg\":\"none\",\"typ\":\"JWT\"}"),
            base64_url(&claims("PATIENT", &person).to_string())
        )
    };
    let cases = [
        (sign(&expired), "expired"),
        (sign(&wrong_issuer), "issued"),
        (sign(&wrong_audience), "meant"),
        (sign(&no_exp), "exp"),
        (sign(&not_an_ins), "INS"),
        (sign(&system), "SYSTEM"),
        (forged, "signature"),
        (unsigned, "token"),
        ("garbage".to_owned(), "malformed"),
    ];
    for (token, reason) in cases {
        let answer = app.graphql(Some(&token), ME, json!({})).await;
        assert_eq!(answer.code(), "UNAUTHENTICATED", "{reason}");
        assert!(
            answer.error()["message"].as_str().unwrap().contains(reason),
            "{reason}: {:?}",
            answer.error()
        );
    }
}

/// Base64url without padding, for hand-made tokens.
fn base64_url(input: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = input.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

async fn patient_cannot_use_operator_operations(app: TestApp) {
    let answer = app
        .graphql(
            Some(&patient_token(&ins(101))),
            "mutation($rows: [BeneficiaryInput!]!) { enrolBeneficiaries(beneficiaries: $rows) { alreadyKnown } }",
            json!({ "rows": [beneficiary(&ins(101), None)] }),
        )
        .await;
    assert_eq!(answer.code(), "FORBIDDEN");
    let outbox = app
        .graphql(
            Some(&patient_token(&ins(101))),
            "{ outbox { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(outbox.code(), "FORBIDDEN");
    let sweep = app
        .graphql(
            Some(&patient_token(&ins(101))),
            "mutation { runCreationSweep { created } }",
            json!({}),
        )
        .await;
    assert_eq!(sweep.code(), "FORBIDDEN");
}

async fn practitioner_cannot_read_a_patient_space(app: TestApp) {
    let answer = app
        .graphql(Some(&practitioner_token("10003456786")), ME, json!({}))
        .await;
    assert_eq!(answer.code(), "FORBIDDEN");
    let close = app
        .graphql(
            Some(&practitioner_token("10003456786")),
            "mutation { closeProfile { status } }",
            json!({}),
        )
        .await;
    assert_eq!(close.code(), "FORBIDDEN");
}

async fn operator_cannot_act_as_a_patient(app: TestApp) {
    for mutation in [
        "mutation { opposeProfileCreation { status } }",
        "mutation { withdrawOpposition { status } }",
        "mutation { closeProfile { status } }",
        "mutation { activateProfile(activationCode: \"AAAA-BBBB-CCCC\", carteVitaleSerial: \"CV12345678\", personalEmail: \"a@b.fr\") { status } }",
    ] {
        assert_eq!(
            app.graphql(Some(&operator_token()), mutation, json!({}))
                .await
                .code(),
            "FORBIDDEN",
            "{mutation}"
        );
    }
    assert_eq!(
        app.graphql(Some(&operator_token()), ME, json!({}))
            .await
            .code(),
        "FORBIDDEN"
    );
}

async fn practitioner_token_needs_a_valid_rpps(app: TestApp) {
    let answer = app
        .graphql(Some(&practitioner_token("10003456787")), ME, json!({}))
        .await;
    assert_eq!(answer.code(), "UNAUTHENTICATED");
    assert!(answer.error()["message"].as_str().unwrap().contains("RPPS"));
}

async fn malformed_ins_is_bad_user_input(app: TestApp) {
    for bad in [
        "285037512304515",
        "28503751230451",
        "2850375123045XX",
        "",
        "12",
    ] {
        let answer = app
            .graphql(
                Some(&operator_token()),
                "query($ins: INS!) { beneficiary(ins: $ins) { status } }",
                json!({ "ins": bad }),
            )
            .await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{bad}");
        assert!(answer.error()["message"].as_str().unwrap().contains("INS"));
    }
    let literal = app
        .graphql(
            Some(&operator_token()),
            "{ beneficiary(ins: \"285037512304515\") { status } }",
            json!({}),
        )
        .await;
    assert_eq!(literal.code(), "BAD_USER_INPUT");
}

async fn corsican_ins_is_accepted(app: TestApp) {
    // 1 84 12 2A 451 089, key 97 - (1841219451089 mod 97) = 33.
    let corsican = "184122A45108933";
    let result = app.enrol(vec![beneficiary(corsican, None)]).await;
    assert_eq!(result["enrolled"][0]["ins"], corsican);
    let lookup = app
        .graphql(
            Some(&operator_token()),
            "query($ins: INS!) { beneficiary(ins: $ins) { status } }",
            json!({ "ins": "1 84 12 2a 451 089 33" }),
        )
        .await;
    assert_eq!(lookup.ok()["beneficiary"]["status"], "ANNOUNCED");
}

async fn health_routes_answer(app: TestApp) {
    assert_eq!(app.get("/livez").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
    let graphiql = app.get("/graphql").await;
    assert_eq!(graphiql.status(), 200);
    assert!(graphiql.text().await.unwrap().contains("GraphiQL"));
}

/// Connects to the websocket route with the graphql-transport-ws protocol and sends `init`.
async fn websocket_init(app: &TestApp, payload: serde_json::Value) -> Vec<Message> {
    let url = format!("{}/graphql/ws", app.address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket
        .send(Message::text(
            json!({ "type": "connection_init", "payload": payload }).to_string(),
        ))
        .await
        .unwrap();
    let mut received = Vec::new();
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(std::time::Duration::from_secs(5), socket.next()).await
    {
        let done = matches!(message, Message::Close(_))
            || message
                .to_text()
                .is_ok_and(|t| t.contains("connection_ack"));
        received.push(message);
        if done {
            break;
        }
    }
    received
}

async fn websocket_with_a_valid_token_is_acknowledged(app: TestApp) {
    let messages = websocket_init(
        &app,
        json!({ "Authorization": format!("Bearer {}", patient_token(&ins(102))) }),
    )
    .await;
    assert!(
        messages
            .iter()
            .any(|m| m.to_text().is_ok_and(|t| t.contains("connection_ack"))),
        "{messages:?}"
    );
}

async fn websocket_without_a_valid_token_is_closed(app: TestApp) {
    for payload in [json!({}), json!({ "Authorization": "Bearer garbage" })] {
        let messages = websocket_init(&app, payload).await;
        let close = messages.iter().find_map(|m| match m {
            Message::Close(frame) => Some(frame.clone()),
            _ => None,
        });
        let frame = close
            .flatten()
            .expect("the server closes the connection with a code");
        assert_eq!(
            u16::from(frame.code),
            4403,
            "graphql-transport-ws 'Forbidden'"
        );
        assert!(
            !messages
                .iter()
                .any(|m| m.to_text().is_ok_and(|t| t.contains("connection_ack")))
        );
    }
}

on_both_databases!(
    missing_token_is_unauthenticated,
    public_fields_need_no_token,
    invalid_tokens_are_unauthenticated,
    patient_cannot_use_operator_operations,
    practitioner_cannot_read_a_patient_space,
    operator_cannot_act_as_a_patient,
    practitioner_token_needs_a_valid_rpps,
    malformed_ins_is_bad_user_input,
    corsican_ins_is_accepted,
    health_routes_answer,
    websocket_with_a_valid_token_is_acknowledged,
    websocket_without_a_valid_token_is_closed,
);
