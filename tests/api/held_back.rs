//! Documents held back from the patient until an announcement consultation: invisible to the
//! patient and unnotified, visible to practitioners, released by their author (then notified,
//! once); the history withholds the feed event (sequence and hashes only) until then, and the
//! chain verifies throughout.

use serde_json::{Value, json};

use crate::helpers::documents::{FEED_HELD_BACK, RELEASE};
use crate::helpers::{
    DOCTOR, NURSE, TestApp, document_input, on_both_databases, patient_token, practitioner_token,
    readme_hash,
};

const RECORD: &str = "query($ins: INS!) { patientRecord(patientIns: $ins, first: 10) { edges { node { id heldBack } } } }";

async fn held_back_document(app: &TestApp) -> (String, String) {
    let person = app.person();
    app.activated_profile(&person, Some("p@example.org")).await;
    let fed = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            FEED_HELD_BACK,
            json!({ "ins": person, "input": document_input("held-1", "Résultats à annoncer") }),
        )
        .await;
    assert_eq!(fed.ok()["feedDocument"]["heldBack"], true);
    let id = fed.ok()["feedDocument"]["id"].as_str().unwrap().to_owned();
    (person, id)
}

async fn new_document_notices(app: &TestApp, person: &str) -> usize {
    app.notices(person)
        .await
        .iter()
        .filter(|(kind, _, _)| kind == "NEW_DOCUMENT")
        .count()
}

async fn patient_documents(app: &TestApp, person: &str) -> Vec<Value> {
    app.graphql(
        Some(&patient_token(person)),
        "{ me { documents { edges { node { id } } } } }",
        json!({}),
    )
    .await
    .ok()["me"]["documents"]["edges"]
        .as_array()
        .unwrap()
        .clone()
}

async fn held_back_document_is_invisible_and_unnotified_until_released_then_notified_once(
    app: TestApp,
) {
    let (person, id) = held_back_document(&app).await;
    // The patient neither sees it nor was told.
    assert_eq!(new_document_notices(&app, &person).await, 0);
    assert!(patient_documents(&app, &person).await.is_empty());
    let read = app
        .graphql(
            Some(&patient_token(&person)),
            "query($id: ID!) { me { document(id: $id) { title } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(read.code(), "NOT_FOUND");
    // Practitioners see it, the author and others.
    for rpps in [DOCTOR, NURSE] {
        let record = app
            .graphql(
                Some(&practitioner_token(rpps)),
                RECORD,
                json!({ "ins": person }),
            )
            .await;
        assert_eq!(
            record.ok()["patientRecord"]["edges"][0]["node"],
            json!({ "id": id, "heldBack": true })
        );
    }
    // Only its author releases it.
    let other = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            RELEASE,
            json!({ "ins": person, "id": id }),
        )
        .await;
    assert_eq!(other.code(), "FORBIDDEN");
    assert_eq!(new_document_notices(&app, &person).await, 0);

    let released = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            RELEASE,
            json!({ "ins": person, "id": id }),
        )
        .await;
    assert_eq!(released.ok()["releaseDocument"]["heldBack"], false);
    assert_eq!(
        new_document_notices(&app, &person).await,
        2,
        "email and live"
    );
    assert_eq!(patient_documents(&app, &person).await.len(), 1);
    // Once: a second release changes nothing.
    app.release(DOCTOR, &person, &json!(id)).await.ok();
    assert_eq!(new_document_notices(&app, &person).await, 2);
    let history = app.history(&person).await;
    assert_eq!(
        history.last().unwrap(),
        &("DOCUMENT_RELEASED".to_owned(), "PRACTITIONER".to_owned())
    );
}

async fn withheld_history_entry_verifies(app: TestApp) {
    let (person, id) = held_back_document(&app).await;
    // A practitioner's consultation of it is withheld too: it would tell of the document.
    app.graphql(
        Some(&practitioner_token(NURSE)),
        "query($ins: INS!, $id: ID!) { patientDocument(patientIns: $ins, documentId: $id) { id } }",
        json!({ "ins": person, "id": id }),
    )
    .await
    .ok();
    let events = app.history_entries(&person).await;
    let withheld: Vec<&Value> = events.iter().filter(|e| e["withheld"] == true).collect();
    assert_eq!(
        withheld.len(),
        3,
        "the first access the feed was, the feed, and the consultation of it"
    );
    for event in &withheld {
        assert_eq!(event["kind"], Value::Null);
        assert_eq!(event["actor"], Value::Null);
        assert_eq!(event["payload"], Value::Null);
        assert_eq!(event["occurredAt"], Value::Null);
        assert_eq!(event["label"], Value::Null);
    }
    // The chain still links, event by event, and each event shown re-verifies.
    let mut previous = "0".repeat(64);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["sequence"], i as i64 + 1);
        assert_eq!(event["previousHash"], previous.as_str());
        if event["withheld"] == false {
            assert_eq!(event["hash"], readme_hash(&person, event).as_str());
        }
        previous = event["hash"].as_str().unwrap().to_owned();
    }
    // The server verifies the whole chain, and its head is the last hash the patient sees.
    let integrity = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { ledgerIntegrity { verified headHash } } }",
            json!({}),
        )
        .await;
    assert_eq!(integrity.ok()["me"]["ledgerIntegrity"]["verified"], true);
    // A filter does not tell what a withheld event is.
    let filtered = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { activityHistory(first: 10, kinds: [DOCUMENT_FED, DOCUMENT_CONSULTED]) { edges { node { sequence } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        filtered.ok()["me"]["activityHistory"]["edges"],
        json!([]),
        "withheld events are left out of a filtered page"
    );

    // After the release the same events show in full, and verify.
    app.release(DOCTOR, &person, &json!(id)).await.ok();
    let after = app.history_entries(&person).await;
    for event in &withheld {
        let shown = &after[(event["sequence"].as_i64().unwrap() - 1) as usize];
        assert_eq!(shown["withheld"], false);
        assert_eq!(shown["hash"], event["hash"]);
        assert_eq!(shown["hash"], readme_hash(&person, shown).as_str());
    }
    let kinds: Vec<&str> = after.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert!(kinds.contains(&"DOCUMENT_FED"));
}

async fn held_back_document_stays_out_of_the_export_until_released(app: TestApp) {
    let (person, id) = held_back_document(&app).await;
    let response = reqwest::Client::new()
        .get(format!("{}/me/export", app.address))
        .bearer_auth(patient_token(&person))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let zip = response.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&zip);
    assert!(!text.contains("held-1") && !text.contains("annoncer"));
    assert!(!text.contains("documents/"), "no document file");
    assert!(text.contains("\"withheld\": true"));
    let _ = id;
}

on_both_databases!(
    held_back_document_is_invisible_and_unnotified_until_released_then_notified_once,
    withheld_history_entry_verifies,
    held_back_document_stays_out_of_the_export_until_released,
);
