//! Minors and their legal representatives: enrolled with one or two, who act on the minor's
//! profile as themselves (selecting it with `X-Acting-For`), traced in the minor's ledger as
//! LEGAL_REPRESENTATIVE; notices go to each of them; documents secret from them; their access
//! ends at 18, traced.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::documents::FEED_SECRET;
use crate::helpers::{
    DOCTOR, Gql, TestApp, document_input, history_oldest_first, ins, on_both_databases,
    operator_token, patient_token, practitioner_token, serial_of,
};
use crate::live::{NOTIFICATIONS, WsClient};

const HISTORY: &str = "{ me { activityHistory(first: 100) { edges { node { sequence withheld kind actor { role id } } } } } }";

fn minor(child: &str, birth_date: &str, representatives: &[&str]) -> Value {
    json!({
        "ins": child,
        "birthName": "MARTIN",
        "firstNames": "Léa",
        "birthDate": birth_date,
        "carteVitaleSerial": serial_of(child),
        "insurerEmail": "famille.martin@example.org",
        "addressLines": ["12 rue des Lilas", "75011 PARIS"],
        "legalRepresentatives": representatives.iter().enumerate().map(|(i, r)| json!({
            "ins": r,
            "birthName": "MARTIN",
            "firstNames": if i == 0 { "Jeanne" } else { "Paul" },
            "email": format!("parent{i}@example.org"),
        })).collect::<Vec<_>>(),
    })
}

/// A GraphQL request as `token`, acting for `child`.
pub(crate) async fn as_representative(
    app: &TestApp,
    representative: &str,
    child: &str,
    query: &str,
    variables: Value,
) -> Gql {
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(patient_token(representative))
        .header("X-Acting-For", child)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    Gql {
        data: body["data"].clone(),
        errors: body["errors"].as_array().cloned().unwrap_or_default(),
    }
}

async fn enrol(app: &TestApp, row: Value) -> Gql {
    app.graphql(
        Some(&operator_token()),
        "mutation($rows: [BeneficiaryInput!]!) { enrolBeneficiaries(beneficiaries: $rows) { enrolled { ins } } }",
        json!({ "rows": [row] }),
    )
    .await
}

/// A minor, enrolled with two representatives and created; returns the activation code.
pub(crate) async fn created_minor(
    app: &TestApp,
    child: &str,
    birth_date: &str,
    reps: &[&str],
) -> String {
    enrol(app, minor(child, birth_date, reps)).await.ok();
    app.advance(Duration::days(42));
    app.sweep().await;
    app.activation_code(child).await
}

pub(crate) async fn activate_as(
    app: &TestApp,
    representative: &str,
    child: &str,
    code: &str,
) -> Gql {
    as_representative(
        app,
        representative,
        child,
        "mutation($code: String!, $serial: String!) { activateProfile(activationCode: $code, carteVitaleSerial: $serial, personalEmail: \"parent0.perso@example.org\") { status } }",
        json!({ "code": code, "serial": serial_of(child) }),
    )
    .await
}

pub(crate) async fn history_as(app: &TestApp, representative: &str, child: &str) -> Vec<Value> {
    let answer = as_representative(app, representative, child, HISTORY, json!({})).await;
    history_oldest_first(answer.ok())
}

async fn minor_is_enrolled_with_one_or_two_legal_representatives(app: TestApp) {
    let (child, a, b, c) = (ins(500), ins(501), ins(502), ins(503));
    for reps in [vec![], vec![a.as_str(), b.as_str(), c.as_str()]] {
        let refused = enrol(&app, minor(&child, "2015-06-01", &reps)).await;
        assert_eq!(refused.code(), "BAD_USER_INPUT");
        assert_eq!(
            refused.error()["extensions"]["field"],
            "legalRepresentatives"
        );
    }
    let adult = enrol(&app, minor(&ins(504), "1990-06-01", &[a.as_str()])).await;
    assert_eq!(adult.code(), "BAD_USER_INPUT");
    enrol(&app, minor(&child, "2015-06-01", &[a.as_str(), b.as_str()]))
        .await
        .ok();
    assert_eq!(app.count("legal_representatives").await, 2);
}

async fn representative_activates_and_reads_for_a_child_and_the_ledger_names_them(app: TestApp) {
    let (child, mother, father, stranger) = (ins(510), ins(511), ins(512), ins(513));
    let code = created_minor(&app, &child, "2015-06-01", &[&mother, &father]).await;
    let activated = activate_as(&app, &mother, &child, &code).await;
    assert_eq!(activated.ok()["activateProfile"]["status"], "ACTIVATED");

    let fed = app
        .feed(DOCTOR, &child, document_input("minor-1", "Compte rendu"))
        .await;
    let id = fed.ok()["feedDocument"]["id"].clone();
    // The notice goes to each representative by their own email (and the live event).
    let notices: Vec<(String, String)> = app
        .notices(&child)
        .await
        .into_iter()
        .filter(|(kind, _, _)| kind == "NEW_DOCUMENT")
        .map(|(_, channel, recipient)| (channel, recipient))
        .collect();
    assert_eq!(
        notices,
        vec![
            ("EMAIL".to_owned(), "parent0@example.org".to_owned()),
            ("EMAIL".to_owned(), "parent1@example.org".to_owned()),
            ("LIVE".to_owned(), String::new()),
        ]
    );
    let listed = as_representative(
        &app,
        &father,
        &child,
        "{ me { documents { edges { node { id } } } profile { status personalEmail } } }",
        json!({}),
    )
    .await;
    assert_eq!(listed.ok()["me"]["documents"]["edges"][0]["node"]["id"], id);
    assert_eq!(
        listed.ok()["me"]["profile"]["personalEmail"],
        Value::Null,
        "representatives never see each other's personal email"
    );
    as_representative(
        &app,
        &father,
        &child,
        "query($id: ID!) { me { document(id: $id) { contentBase64 } } }",
        json!({ "id": id }),
    )
    .await
    .ok();
    as_representative(
        &app,
        &mother,
        &child,
        "mutation($id: ID!) { maskDocument(id: $id) { masked } }",
        json!({ "id": id }),
    )
    .await
    .ok();

    // Each act is in the child's ledger, by the representative, on the child's behalf.
    let events = history_as(&app, &mother, &child).await;
    let by = |kind: &str| {
        events
            .iter()
            .find(|e| e["kind"] == kind)
            .map(|e| e["actor"].clone())
            .unwrap()
    };
    assert_eq!(
        by("PROFILE_ACTIVATED"),
        json!({ "role": "LEGAL_REPRESENTATIVE", "id": mother })
    );
    assert_eq!(
        by("DOCUMENT_CONSULTED"),
        json!({ "role": "LEGAL_REPRESENTATIVE", "id": father })
    );
    assert_eq!(
        by("DOCUMENT_MASKED"),
        json!({ "role": "LEGAL_REPRESENTATIVE", "id": mother })
    );
    // Someone else cannot select the child's profile.
    let refused = as_representative(&app, &stranger, &child, HISTORY, json!({})).await;
    assert_eq!(refused.code(), "FORBIDDEN");
    // Without the header, the representative is on their own profile (none here).
    let own = app
        .graphql(
            Some(&patient_token(&mother)),
            "{ me { profile { status } } }",
            json!({}),
        )
        .await;
    assert_eq!(own.code(), "NOT_FOUND");
}

async fn representative_opposes_for_a_child(app: TestApp) {
    let (child, mother) = (ins(520), ins(521));
    enrol(&app, minor(&child, "2015-06-01", &[&mother]))
        .await
        .ok();
    let opposed = as_representative(
        &app,
        &mother,
        &child,
        "mutation { opposeProfileCreation { status } }",
        json!({}),
    )
    .await;
    assert_eq!(opposed.ok()["opposeProfileCreation"]["status"], "OPPOSED");
    let events = history_as(&app, &mother, &child).await;
    assert_eq!(
        events.last().unwrap()["actor"]["role"],
        "LEGAL_REPRESENTATIVE"
    );
}

async fn secret_document_is_invisible_to_representatives_and_to_their_notices(app: TestApp) {
    let (child, mother) = (ins(530), ins(531));
    let code = created_minor(&app, &child, "2012-06-01", &[&mother]).await;
    activate_as(&app, &mother, &child, &code).await.ok();
    let new_documents = |notices: Vec<(String, String, String)>| {
        notices
            .into_iter()
            .filter(|(kind, _, _)| kind == "NEW_DOCUMENT")
            .count()
    };
    let fed = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            FEED_SECRET,
            json!({ "ins": child, "input": document_input("secret-1", "Consultation confidentielle") }),
        )
        .await;
    assert_eq!(fed.ok()["feedDocument"]["secretFromRepresentatives"], true);
    let id = fed.ok()["feedDocument"]["id"].clone();
    assert_eq!(
        new_documents(app.notices(&child).await),
        0,
        "no notice of it: it would reach the representatives"
    );
    let listed = as_representative(
        &app,
        &mother,
        &child,
        "{ me { documents { edges { node { id } } } } }",
        json!({}),
    )
    .await;
    assert_eq!(listed.ok()["me"]["documents"]["edges"], json!([]));
    let read = as_representative(
        &app,
        &mother,
        &child,
        "query($id: ID!) { me { document(id: $id) { title } } }",
        json!({ "id": id }),
    )
    .await;
    assert_eq!(read.code(), "NOT_FOUND");
    let events = history_as(&app, &mother, &child).await;
    assert_eq!(
        events.iter().filter(|e| e["withheld"] == true).count(),
        2,
        "the feed, and the first access it was, are withheld from the representative's history"
    );
    // The minor sees it, and practitioners do.
    let own = app
        .graphql(
            Some(&patient_token(&child)),
            "{ me { documents { edges { node { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(own.ok()["me"]["documents"]["edges"][0]["node"]["id"], id);
    let record = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            "query($ins: INS!) { patientRecord(patientIns: $ins, first: 5) { edges { node { id } } } }",
            json!({ "ins": child }),
        )
        .await;
    assert_eq!(record.ok()["patientRecord"]["edges"][0]["node"]["id"], id);
}

async fn representatives_access_ends_at_18(app: TestApp) {
    let (child, mother) = (ins(540), ins(541));
    // 17 at enrolment (2026-11-02); 18 on 2027-01-15.
    let code = created_minor(&app, &child, "2009-01-15", &[&mother]).await;
    activate_as(&app, &mother, &child, &code).await.ok();
    assert!(app.sweep().await.is_empty());
    let none: Value = app
        .graphql(
            Some(&operator_token()),
            "mutation { runMajoritySweep { ended } }",
            json!({}),
        )
        .await
        .ok()["runMajoritySweep"]["ended"]
        .clone();
    assert_eq!(none, json!([]), "not before the 18th birthday");

    app.advance(Duration::days(33)); // 2027-01-16
    let refused = as_representative(&app, &mother, &child, HISTORY, json!({})).await;
    assert_eq!(refused.code(), "FORBIDDEN", "ended by the clock");
    let ended = app
        .graphql(
            Some(&operator_token()),
            "mutation { runMajoritySweep { ended } }",
            json!({}),
        )
        .await;
    assert_eq!(ended.ok()["runMajoritySweep"]["ended"], json!([child]));
    let rows = app
        .query_rows("SELECT COUNT(*) FROM legal_representatives WHERE ended_at IS NULL")
        .await;
    assert_eq!(rows[0][0], "0");
    // Traced in the young adult's ledger; they activate their own access.
    let history = app.history(&child).await;
    assert_eq!(
        history.last().unwrap(),
        &("REPRESENTATION_ENDED".to_owned(), "SYSTEM".to_owned())
    );
    assert_eq!(app.status(&child).await, "CREATED");
    let code = app.activation_code(&child).await;
    app.activate(&child, &code).await.ok();
    assert_eq!(app.status(&child).await, "ACTIVATED");
}

/// A representative follows the minor's live notifications as they act over HTTP, selecting
/// the profile with `actingFor` in the websocket's `connection_init`; a patient who does not
/// represent the minor is refused (4403) before any subscription.
async fn representative_receives_the_childs_live_notifications(app: TestApp) {
    let (child, mother, stranger) = (ins(530), ins(531), ins(532));
    let code = created_minor(&app, &child, "2015-06-01", &[&mother]).await;
    activate_as(&app, &mother, &child, &code).await.ok();
    let acting = |who: &str| json!({ "Authorization": format!("Bearer {}", patient_token(who)), "actingFor": child });
    let mut live = WsClient::connect_with(&app.address, acting(&mother)).await;
    live.subscribe(NOTIFICATIONS, json!({ "after": "0" })).await;
    app.feed(DOCTOR, &child, document_input("minor-live", "Compte rendu"))
        .await
        .ok();
    let mut kinds = Vec::new();
    while kinds.len() < 2 {
        kinds.push(live.next_event("notifications").await["kind"].clone());
    }
    assert!(kinds.contains(&json!("NEW_DOCUMENT")), "{kinds:?}");

    let (_, refused) = WsClient::init(&app.address, acting(&stranger)).await;
    assert_eq!(refused["close"], 4403, "{refused}");
}

/// Two `X-Acting-For` headers select no profile: a proxy and the API could each read a
/// different one. Refused, and nothing is read.
async fn two_acting_for_headers_are_refused_as_ambiguous(app: TestApp) {
    let (child, mother) = (ins(550), ins(551));
    let code = created_minor(&app, &child, "2015-06-01", &[&mother]).await;
    activate_as(&app, &mother, &child, &code).await.ok();
    let events = app.count("ledger_events").await;
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(patient_token(&mother))
        .header("X-Acting-For", child.as_str())
        .header("X-Acting-For", mother.as_str())
        .json(&json!({ "query": "{ me { documents { edges { cursor } } } }" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("at most one X-Acting-For")
    );
    assert_eq!(app.count("ledger_events").await, events);
}

on_both_databases!(
    two_acting_for_headers_are_refused_as_ambiguous,
    representative_receives_the_childs_live_notifications,
    minor_is_enrolled_with_one_or_two_legal_representatives,
    representative_activates_and_reads_for_a_child_and_the_ledger_names_them,
    representative_opposes_for_a_child,
    secret_document_is_invisible_to_representatives_and_to_their_notices,
    representatives_access_ends_at_18,
);
