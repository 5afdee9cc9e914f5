//! Rules that compose: where two rules meet, neither weakens the other. A blocked practitioner
//! reads nothing through a release; an event caused by a hidden act (a held-back feed, a feed
//! secret from the representatives) is as hidden as that act; a representative's reads are
//! traced as theirs; a practitioner never receives a patient's text without a trace.

use serde_json::{Value, json};

use crate::helpers::documents::{BLOCK, FEED_SECRET, RELEASE};
use crate::helpers::{
    DOCTOR, NURSE, TestApp, document_input, on_both_databases, patient_token, practitioner_token,
};
use crate::live::{INBOX, NOTIFICATIONS, WsClient};
use crate::minors::{activate_as, as_representative, created_minor, history_as};

/// The kinds a reader of the patient's space sees in the history, oldest first (withheld
/// entries have none).
fn visible_kinds(history: &[Value]) -> Vec<String> {
    history
        .iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_owned))
        .collect()
}

fn count(notices: &[(String, String, String)], kind: &str) -> usize {
    notices.iter().filter(|(k, _, _)| k == kind).count()
}

/// An activated patient with a document the doctor fed openly; the patient and its id.
async fn patient_with_a_document(app: &TestApp) -> (String, Value) {
    let person = app.person();
    app.activated_profile(&person, None).await;
    let fed = app
        .feed(
            DOCTOR,
            &person,
            document_input("r-1", "Bilan psychiatrique"),
        )
        .await;
    (person, fed.ok()["feedDocument"]["id"].clone())
}

async fn blocked_practitioner_reads_nothing_through_release_document(app: TestApp) {
    let (person, id) = patient_with_a_document(&app).await;
    app.graphql(
        Some(&patient_token(&person)),
        BLOCK,
        json!({ "rpps": NURSE }),
    )
    .await
    .ok();

    let refused = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            RELEASE,
            json!({ "ins": person, "id": id }),
        )
        .await;
    assert_eq!(refused.code(), "FORBIDDEN");
    assert_eq!(refused.data["releaseDocument"], Value::Null);
    let text = format!("{:?}{:?}", refused.data, refused.errors);
    assert!(!text.contains("psychiatrique"), "{text}");
    // The refusal is traced, as a refused consultation is.
    let history = app.history(&person).await;
    assert_eq!(
        history.last().unwrap(),
        &(
            "ACCESS_REFUSED_BLOCKED".to_owned(),
            "PRACTITIONER".to_owned()
        )
    );
}

async fn release_document_refuses_a_non_author_before_reading_anything(app: TestApp) {
    let (person, open) = patient_with_a_document(&app).await;
    let held = app
        .feed_held_back(
            DOCTOR,
            &person,
            document_input("r-2", "Résultats à annoncer"),
        )
        .await;
    let events_before = app.count("ledger_events").await;
    // Another practitioner, on a document the patient sees, one held back, and an id that
    // names nothing: one refusal, nothing of any document.
    let mut messages = Vec::new();
    for id in [open, held, json!("999999")] {
        let refused = app
            .graphql(
                Some(&practitioner_token(NURSE)),
                RELEASE,
                json!({ "ins": person, "id": id }),
            )
            .await;
        assert_eq!(refused.code(), "FORBIDDEN");
        assert_eq!(refused.data["releaseDocument"], Value::Null);
        let text = format!("{:?}", refused.errors);
        assert!(
            !text.contains("psychiatrique") && !text.contains("annoncer"),
            "{text}"
        );
        messages.push(refused.error()["message"].clone());
    }
    messages.dedup();
    assert_eq!(messages.len(), 1, "the same answer whatever the id names");
    // Nothing read, nothing released, nothing traced.
    assert_eq!(app.count("ledger_events").await, events_before);
    let notices = app.notices(&person).await;
    assert_eq!(count(&notices, "NEW_DOCUMENT"), 2, "the open feed's only");
}

async fn first_access_of_a_held_back_feed_is_withheld_until_release(app: TestApp) {
    let (activated, by_post) = (app.person(), app.person());
    app.activated_profile(&activated, None).await;
    app.created_profile(&by_post, None).await;
    let mut ids = Vec::new();
    for (key, person) in [("held-1", &activated), ("held-2", &by_post)] {
        ids.push(
            app.feed_held_back(DOCTOR, person, document_input(key, "Résultats à annoncer"))
                .await,
        );
        // Neither an email, nor a live notice, nor a line of the postal statement.
        let notices = app.notices(person).await;
        assert_eq!(count(&notices, "FIRST_ACCESS"), 0, "{notices:?}");
        // The history withholds it, as it withholds the feed.
        let history = app.history_entries(person).await;
        let kinds = visible_kinds(&history);
        assert!(!kinds.contains(&"FIRST_ACCESS".to_owned()), "{kinds:?}");
        assert_eq!(
            history.iter().filter(|e| e["withheld"] == true).count(),
            2,
            "the first access and the feed"
        );
    }
    // Nor in the export.
    let export = reqwest::Client::new()
        .get(format!("{}/me/export", app.address))
        .bearer_auth(patient_token(&activated))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&export).contains("FIRST_ACCESS"));

    // Released: the first access shows and is notified, once, with the document.
    for _ in 0..2 {
        app.release(DOCTOR, &activated, &ids[0]).await.ok();
    }
    let notices = app.notices(&activated).await;
    assert_eq!(count(&notices, "FIRST_ACCESS"), 2, "email and live");
    assert_eq!(count(&notices, "NEW_DOCUMENT"), 2, "email and live");
    let kinds = visible_kinds(&app.history_entries(&activated).await);
    assert!(kinds.contains(&"FIRST_ACCESS".to_owned()), "{kinds:?}");
}

async fn first_access_of_a_secret_feed_never_reaches_the_representatives(app: TestApp) {
    let (child, mother) = (app.person(), app.person());
    let code = created_minor(&app, &child, "2012-06-01", &[&mother]).await;
    activate_as(&app, &mother, &child, &code).await.ok();
    let acting = json!({ "Authorization": format!("Bearer {}", patient_token(&mother)), "actingFor": child });
    let mut live = WsClient::connect_with(&app.address, acting).await;
    live.subscribe(NOTIFICATIONS, json!({ "after": "0" })).await;

    app.graphql(
        Some(&practitioner_token(DOCTOR)),
        FEED_SECRET,
        json!({ "ins": child, "input": document_input("secret-1", "Consultation confidentielle") }),
    )
    .await
    .ok();
    let notices = app.notices(&child).await;
    assert_eq!(count(&notices, "FIRST_ACCESS"), 0, "{notices:?}");
    let kinds = visible_kinds(&history_as(&app, &mother, &child).await);
    assert!(!kinds.contains(&"FIRST_ACCESS".to_owned()), "{kinds:?}");

    // The next live notice the representative gets is another practitioner's open feed: the
    // secret feed's first access never came.
    app.feed(NURSE, &child, document_input("open-1", "Compte rendu"))
        .await
        .ok();
    let first = live.next_event("notifications").await;
    assert_eq!(first["kind"], "FIRST_ACCESS");
    let summary = first["summary"].as_str().unwrap();
    assert!(
        summary.contains(NURSE) && !summary.contains(DOCTOR),
        "{summary}"
    );
    // The minor, signed in themselves, sees both first accesses.
    let own = visible_kinds(&app.history_entries(&child).await);
    assert_eq!(
        own.iter().filter(|k| *k == "FIRST_ACCESS").count(),
        2,
        "{own:?}"
    );
}

async fn representative_list_reads_are_traced_as_the_representatives(app: TestApp) {
    let (child, mother) = (app.person(), app.person());
    let code = created_minor(&app, &child, "2015-06-01", &[&mother]).await;
    activate_as(&app, &mother, &child, &code).await.ok();
    app.feed(DOCTOR, &child, document_input("minor-1", "Compte rendu"))
        .await
        .ok();
    let before = app.count("ledger_events").await;
    as_representative(
        &app,
        &mother,
        &child,
        "{ me { documents { edges { node { id } } } medicalProfile { id } threads { edges { node { id } } } } }",
        json!({}),
    )
    .await
    .ok();
    assert_eq!(app.count("ledger_events").await, before + 3, "one per list");
    let events = history_as(&app, &mother, &child).await;
    let listed: Vec<&Value> = events.iter().rev().take(3).collect();
    for event in listed {
        assert_eq!(
            event["actor"],
            json!({ "role": "LEGAL_REPRESENTATIVE", "id": mother }),
            "{event}"
        );
    }
    // The minor's own view of their lists is theirs, and not traced.
    let before = app.count("ledger_events").await;
    app.graphql(
        Some(&patient_token(&child)),
        "{ me { documents { edges { node { id } } } medicalProfile { id } threads { edges { node { id } } } } }",
        json!({}),
    )
    .await
    .ok();
    assert_eq!(app.count("ledger_events").await, before);
}

async fn practitioner_receives_no_patient_text_without_a_trace(app: TestApp) {
    let person = app.person();
    app.activated_profile(&person, None).await;
    let mut inbox = WsClient::connect(&app.address, &practitioner_token(DOCTOR)).await;
    inbox.subscribe(INBOX, json!({ "after": "0" })).await;
    let thread = app.send_message(DOCTOR, &person, "Bonjour", "m-1").await;
    app.reply(&person, &thread, "J'ai toujours mal au dos", "r-1")
        .await
        .ok();
    let before = app.count("ledger_events").await;

    // The live event says a reply came, not what it says.
    let event = inbox.next_event("inbox").await;
    assert_eq!(event["message"]["sender"]["role"], "PATIENT");
    assert_eq!(event["message"]["body"], Value::Null, "{event}");
    // Nor does the inbox list.
    let listed = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            "{ inbox { edges { node { lastMessage { body sender { role } } } } } }",
            json!({}),
        )
        .await;
    let last = &listed.ok()["inbox"]["edges"][0]["node"]["lastMessage"];
    assert_eq!(last["sender"]["role"], "PATIENT");
    assert_eq!(last["body"], Value::Null);
    assert_eq!(app.count("ledger_events").await, before);
    // Reading the thread gives the text, traced in the patient's ledger first.
    let read = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            "query($id: ID!) { inboxThread(id: $id) { messages { body } } }",
            json!({ "id": thread }),
        )
        .await;
    assert_eq!(
        read.ok()["inboxThread"]["messages"][1]["body"],
        "J'ai toujours mal au dos"
    );
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("THREAD_READ".to_owned(), "PRACTITIONER".to_owned())
    );
}

/// A document held back and secret: its release tells the minor, never the representatives;
/// and a feed refused is as hidden as it would have been.
async fn a_hidden_release_and_a_hidden_refusal_stay_hidden_from_the_representatives(app: TestApp) {
    let (child, mother) = (app.person(), app.person());
    let code = created_minor(&app, &child, "2012-06-01", &[&mother]).await;
    activate_as(&app, &mother, &child, &code).await.ok();
    let both = "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input, visibility: { heldBackUntilAnnounced: true, secretFromRepresentatives: true }) { id } }";
    let fed = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            both,
            json!({ "ins": child, "input": document_input("both-1", "Résultats confidentiels") }),
        )
        .await;
    let id = fed.ok()["feedDocument"]["id"].clone();
    app.release(DOCTOR, &child, &id).await.ok();
    // A pharmacist may not feed a consultation report: refused, and the refusal as secret as
    // the feed was to be.
    let pharmacist = crate::helpers::practitioner_token_as(NURSE, "21", "Pharmacien");
    let refused = app
        .graphql(
            Some(&pharmacist),
            FEED_SECRET,
            json!({ "ins": child, "input": document_input("secret-2", "Consultation confidentielle") }),
        )
        .await;
    assert_eq!(refused.code(), "FORBIDDEN");

    let theirs = visible_kinds(&history_as(&app, &mother, &child).await);
    for hidden in [
        "DOCUMENT_RELEASED",
        "FEED_REFUSED",
        "DOCUMENT_FED",
        "FIRST_ACCESS",
    ] {
        assert!(
            !theirs.contains(&hidden.to_owned()),
            "{hidden} in {theirs:?}"
        );
    }
    let own = visible_kinds(&app.history_entries(&child).await);
    for shown in ["DOCUMENT_RELEASED", "FEED_REFUSED", "DOCUMENT_FED"] {
        assert!(own.contains(&shown.to_owned()), "{shown} not in {own:?}");
    }
    assert_eq!(count(&app.notices(&child).await, "FIRST_ACCESS"), 0);
}

/// A practitioner whose first access was a held-back feed, and who consults the record before
/// releasing it: the consultation is their first access the patient learns of, notified once;
/// the release then tells nothing twice.
async fn a_first_access_hidden_by_a_feed_is_told_at_the_first_open_act_once(app: TestApp) {
    let person = app.person();
    app.activated_profile(&person, None).await;
    let id = app
        .feed_held_back(
            DOCTOR,
            &person,
            document_input("held-1", "Résultats à annoncer"),
        )
        .await;
    assert_eq!(count(&app.notices(&person).await, "FIRST_ACCESS"), 0);
    app.graphql(
        Some(&practitioner_token(DOCTOR)),
        "query($ins: INS!) { patientRecord(patientIns: $ins) { edges { cursor } } }",
        json!({ "ins": person }),
    )
    .await
    .ok();
    assert_eq!(
        count(&app.notices(&person).await, "FIRST_ACCESS"),
        2,
        "email and live, at the consultation"
    );
    app.release(DOCTOR, &person, &id).await.ok();
    assert_eq!(
        count(&app.notices(&person).await, "FIRST_ACCESS"),
        2,
        "not again"
    );
    // The deep verification agrees with what was recorded.
    let audit = app
        .graphql(
            Some(&crate::helpers::operator_token()),
            "query($ins: INS) { ledgerAudit(ins: $ins) { verified divergences { problem } } }",
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(
        audit.ok()["ledgerAudit"]["verified"],
        true,
        "{:?}",
        audit.data
    );
}

/// An adult has no representatives to keep a document from: one fed "secret" is fed and
/// notified as any other.
async fn a_document_secret_from_no_one_is_an_ordinary_document(app: TestApp) {
    let person = app.person();
    app.activated_profile(&person, None).await;
    let fed = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            FEED_SECRET,
            json!({ "ins": person, "input": document_input("secret-1", "Compte rendu") }),
        )
        .await;
    assert_eq!(fed.ok()["feedDocument"]["secretFromRepresentatives"], false);
    let notices = app.notices(&person).await;
    assert_eq!(count(&notices, "NEW_DOCUMENT"), 2, "{notices:?}");
    assert_eq!(count(&notices, "FIRST_ACCESS"), 2, "{notices:?}");
}

on_both_databases!(
    a_hidden_release_and_a_hidden_refusal_stay_hidden_from_the_representatives,
    a_first_access_hidden_by_a_feed_is_told_at_the_first_open_act_once,
    a_document_secret_from_no_one_is_an_ordinary_document,
    blocked_practitioner_reads_nothing_through_release_document,
    release_document_refuses_a_non_author_before_reading_anything,
    first_access_of_a_held_back_feed_is_withheld_until_release,
    first_access_of_a_secret_feed_never_reaches_the_representatives,
    representative_list_reads_are_traced_as_the_representatives,
    practitioner_receives_no_patient_text_without_a_trace,
);
