//! The document rows of SPEC.md's status table and its transparency rules.

use serde_json::{Value, json};

use crate::helpers::{
    DOCTOR, NURSE, PDF, TestApp, beneficiary, document_input, ins, on_both_databases,
    operator_token, patient_token, practitioner_token,
};

const RECORD: &str = "query($ins: INS!, $first: Int, $after: String) { patientRecord(patientIns: $ins, first: $first, after: $after) { edges { cursor node { id title masked } } pageInfo { hasNextPage } } }";
const READ: &str = "query($ins: INS!, $id: ID!) { patientDocument(patientIns: $ins, documentId: $id) { id title contentBase64 } }";

fn kinds(history: &[(String, String)]) -> Vec<&str> {
    history.iter().map(|(k, _)| k.as_str()).collect()
}

async fn feeding_an_activated_profile_notifies_the_personal_email_and_live(app: TestApp) {
    let person = ins(300);
    app.activated_profile(&person, Some("insurer@example.org"))
        .await;
    let fed = app
        .feed(
            DOCTOR,
            &person,
            document_input("k-1", "Compte rendu du 30 octobre"),
        )
        .await;
    let doc = &fed.ok()["feedDocument"];
    assert_eq!(doc["sizeBytes"], PDF.len());
    assert_eq!(doc["author"]["profession"], "Médecin généraliste");
    let notices = app.notices(&person).await;
    let last_two: Vec<_> = notices.iter().rev().take(2).rev().cloned().collect();
    assert_eq!(
        last_two,
        vec![
            (
                "NEW_DOCUMENT".into(),
                "EMAIL".into(),
                "perso@example.org".into()
            ),
            ("NEW_DOCUMENT".into(), "LIVE".into(), String::new()),
        ]
    );
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("DOCUMENT_FED".into(), "PRACTITIONER".into())
    );
}

async fn feeding_a_created_profile_notifies_the_insurer_email(app: TestApp) {
    let person = ins(301);
    app.created_profile(&person, Some("insurer@example.org"))
        .await;
    app.feed(DOCTOR, &person, document_input("k-1", "Lettre de sortie"))
        .await
        .ok();
    assert_eq!(
        app.notices(&person).await.last().unwrap(),
        &(
            "NEW_DOCUMENT".into(),
            "EMAIL".into(),
            "insurer@example.org".into()
        )
    );
}

async fn feeding_a_created_profile_without_email_goes_to_the_postal_statement(app: TestApp) {
    let person = ins(302);
    app.created_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input("k-1", "Lettre de sortie"))
        .await
        .ok();
    assert_eq!(
        app.notices(&person).await.last().unwrap(),
        &("NEW_DOCUMENT".into(), "POSTAL".into(), String::new())
    );
}

/// The error, without what differs by nature between two calls (locations are the same query).
fn answer_of(gql: &crate::helpers::Gql) -> Value {
    json!({ "data": gql.data, "message": gql.error()["message"], "extensions": gql.error()["extensions"] })
}

async fn feeding_without_a_dmp_answers_dmp_inexistant_identically(app: TestApp) {
    let (opposed, opposed_by_letter, announced, closed, unknown) =
        (ins(303), ins(304), ins(305), ins(306), ins(307));
    app.created_profile(&closed, None).await;
    app.graphql(
        Some(&patient_token(&closed)),
        "mutation { closeProfile { status } }",
        json!({}),
    )
    .await
    .ok();
    app.enrol(vec![
        beneficiary(&opposed, None),
        beneficiary(&opposed_by_letter, None),
        beneficiary(&announced, None),
    ])
    .await;
    app.graphql(
        Some(&patient_token(&opposed)),
        "mutation { opposeProfileCreation { status } }",
        json!({}),
    )
    .await
    .ok();
    app.graphql(
        Some(&operator_token()),
        "mutation($ins: INS!) { recordOpposition(ins: $ins, receivedVia: LETTER) { status } }",
        json!({ "ins": opposed_by_letter }),
    )
    .await
    .ok();
    let notices_before = app.count("notifications").await;
    let events_before = app.count("ledger_events").await;

    let mut answers = Vec::new();
    for person in [&opposed, &opposed_by_letter, &announced, &closed, &unknown] {
        let gql = app
            .feed(
                DOCTOR,
                person,
                document_input(&format!("k-{person}"), "Compte rendu"),
            )
            .await;
        assert_eq!(gql.code(), "DMP_NOT_FOUND");
        assert_eq!(gql.error()["message"], "DMP inexistant");
        answers.push(answer_of(&gql));
    }
    assert!(
        answers.windows(2).all(|w| w[0] == w[1]),
        "one answer for every reason: {answers:#?}"
    );
    assert_eq!(app.count("documents").await, 0, "nothing stored");
    assert_eq!(
        app.count("notifications").await,
        notices_before,
        "nobody notified"
    );
    assert_eq!(
        app.count("ledger_events").await,
        events_before,
        "in no patient's ledger"
    );
}

async fn dmp_status_tells_whether_to_offer_feeding_without_revealing_an_opposition(app: TestApp) {
    let (created, activated, opposed, announced, unknown) =
        (ins(310), ins(311), ins(312), ins(313), ins(314));
    app.created_profile(&created, None).await;
    app.activated_profile(&activated, None).await;
    app.enrol(vec![
        beneficiary(&opposed, None),
        beneficiary(&announced, None),
    ])
    .await;
    app.graphql(
        Some(&patient_token(&opposed)),
        "mutation { opposeProfileCreation { status } }",
        json!({}),
    )
    .await
    .ok();
    for (person, expected) in [
        (&created, "EXISTS"),
        (&activated, "EXISTS"),
        (&opposed, "NOT_FOUND"),
        (&announced, "NOT_FOUND"),
        (&unknown, "NOT_FOUND"),
    ] {
        let answer = app
            .graphql(
                Some(&practitioner_token(DOCTOR)),
                "query($ins: INS!) { dmpStatus(patientIns: $ins) }",
                json!({ "ins": person }),
            )
            .await;
        assert_eq!(answer.ok()["dmpStatus"], expected);
    }
    let patient = app
        .graphql(
            Some(&patient_token(&created)),
            "query($ins: INS!) { dmpStatus(patientIns: $ins) }",
            json!({ "ins": created }),
        )
        .await;
    assert_eq!(patient.code(), "FORBIDDEN");
}

async fn document_notices_carry_no_medical_content(app: TestApp) {
    let person = ins(315);
    app.activated_profile(&person, None).await;
    app.feed(
        DOCTOR,
        &person,
        document_input("k-1", "Sérologie VIH positive"),
    )
    .await
    .ok();
    let texts = app.query_rows(&format!("SELECT subject, body FROM notifications WHERE patient_ins = '{person}' AND kind = 'NEW_DOCUMENT'")).await;
    assert_eq!(texts.len(), 2);
    for text in texts.iter().map(|r| r.join("\n")) {
        for medical in [
            "Sérologie",
            "VIH",
            "Compte rendu de consultation",
            "11488-4",
            "%PDF",
        ] {
            assert!(!text.contains(medical), "{medical} in a notice: {text}");
        }
        assert!(text.contains("Médecin généraliste"), "it says who: {text}");
    }
}

async fn consultation_is_traced_and_first_access_notified_once_per_practitioner(app: TestApp) {
    let person = ins(316);
    app.activated_profile(&person, None).await;
    let id = app
        .feed(NURSE, &person, document_input("k-1", "Soins"))
        .await
        .ok()["feedDocument"]["id"]
        .clone();
    let doctor = practitioner_token(DOCTOR);
    app.graphql(Some(&doctor), RECORD, json!({ "ins": person }))
        .await
        .ok();
    app.graphql(Some(&doctor), RECORD, json!({ "ins": person }))
        .await
        .ok();
    let read = app
        .graphql(Some(&doctor), READ, json!({ "ins": person, "id": id }))
        .await;
    assert!(
        read.ok()["patientDocument"]["contentBase64"]
            .as_str()
            .unwrap()
            .starts_with("JVBERi0"),
        "a PDF"
    );

    let history = app.history(&person).await;
    let after_feed: Vec<&str> = kinds(&history)
        .into_iter()
        .skip_while(|k| *k != "DOCUMENT_FED")
        .skip(1)
        .collect();
    assert_eq!(
        after_feed,
        [
            "FIRST_ACCESS",
            "RECORD_CONSULTED",
            "RECORD_CONSULTED",
            "DOCUMENT_CONSULTED"
        ]
    );
    // The nurse's first access was her feed; the doctor's, his first consultation.
    let first_access: Vec<_> = app
        .notices(&person)
        .await
        .into_iter()
        .filter(|(k, _, _)| k == "FIRST_ACCESS")
        .collect();
    assert_eq!(
        first_access.len(),
        4,
        "one email and one live event each, once"
    );

    // Another practitioner's first access is notified too; the nurse's second is not.
    for rpps in [NURSE, "10003333332"] {
        app.graphql(
            Some(&practitioner_token(rpps)),
            RECORD,
            json!({ "ins": person }),
        )
        .await
        .ok();
    }
    let first_access = app
        .notices(&person)
        .await
        .into_iter()
        .filter(|(k, _, _)| k == "FIRST_ACCESS")
        .count();
    assert_eq!(first_access, 6);
}

async fn history_shows_the_practitioner_name_profession_and_time(app: TestApp) {
    let person = ins(317);
    app.activated_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    app.graphql(
        Some(&practitioner_token(DOCTOR)),
        RECORD,
        json!({ "ins": person }),
    )
    .await
    .ok();
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { activityHistory(actorRoles: [PRACTITIONER]) { edges { node { kind label occurredAt actor { id name profession } } } } } }",
            json!({}),
        )
        .await;
    let edges = answer.ok()["me"]["activityHistory"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let kinds: Vec<&str> = edges
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["RECORD_CONSULTED", "DOCUMENT_FED", "FIRST_ACCESS"]);
    for edge in &edges {
        assert_eq!(edge["node"]["actor"]["id"], DOCTOR);
        assert_eq!(
            edge["node"]["actor"]["name"],
            format!("PRACTITIONER {DOCTOR}")
        );
        assert_eq!(edge["node"]["actor"]["profession"], "Médecin généraliste");
        assert_eq!(edge["node"]["occurredAt"], "2026-12-14T09:00:00+00:00");
    }
}

async fn a_consultation_whose_trace_fails_returns_nothing(app: TestApp) {
    let person = ins(318);
    app.activated_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    app.refuse_ledger_appends().await;
    let answer = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            RECORD,
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(answer.code(), "INTERNAL_SERVER_ERROR");
    assert!(
        answer.data.is_null(),
        "no data without its trace: {:?}",
        answer.data
    );
    assert_eq!(
        app.count("practitioner_accesses").await,
        1,
        "the nurse's first access rolled back with it (the doctor's is from the feed)"
    );
}

async fn consulting_a_record_that_does_not_exist_is_dmp_not_found(app: TestApp) {
    let (opposed, unknown) = (ins(319), ins(320));
    app.enrol(vec![beneficiary(&opposed, None)]).await;
    app.graphql(
        Some(&patient_token(&opposed)),
        "mutation { opposeProfileCreation { status } }",
        json!({}),
    )
    .await
    .ok();
    for person in [&opposed, &unknown] {
        let answer = app
            .graphql(
                Some(&practitioner_token(DOCTOR)),
                RECORD,
                json!({ "ins": person }),
            )
            .await;
        assert_eq!(answer.code(), "DMP_NOT_FOUND");
        let read = app
            .graphql(
                Some(&practitioner_token(DOCTOR)),
                READ,
                json!({ "ins": person, "id": "1" }),
            )
            .await;
        assert_eq!(read.code(), "DMP_NOT_FOUND");
    }
}

async fn created_patient_must_activate_to_read_documents(app: TestApp) {
    let person = ins(321);
    app.created_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { documents { edges { node { title } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "ACTIVATION_REQUIRED");
    assert!(
        answer.error()["message"]
            .as_str()
            .unwrap()
            .contains("activateProfile")
    );
    let one = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { document(id: \"1\") { title } } }",
            json!({}),
        )
        .await;
    assert_eq!(one.code(), "ACTIVATION_REQUIRED");
}

async fn a_created_patient_keeps_their_profile_beside_the_fields_that_need_activation(
    app: TestApp,
) {
    let person = ins(323);
    app.created_profile(&person, Some("insurer@example.org"))
        .await;
    let token = patient_token(&person);
    let answer = app
        .graphql(
            Some(&token),
            "{ me { profile { status } documents(first: 5) { edges { cursor } } } }",
            json!({}),
        )
        .await;
    assert!(!answer.data["me"].is_null(), "{answer:#?}");
    assert_eq!(answer.data["me"]["profile"]["status"], "CREATED");
    assert!(answer.data["me"]["documents"].is_null());
    assert_eq!(answer.errors.len(), 1, "{answer:#?}");
    assert_eq!(answer.code(), "ACTIVATION_REQUIRED");
    assert_eq!(answer.error()["path"], json!(["me", "documents"]));

    // Every field that needs activation fails alone, on its own path.
    let answer = app
        .graphql(
            Some(&token),
            "{ me { profile { status } activityHistory(first: 1) { edges { node { kind } } } documents { edges { cursor } } document(id: \"1\") { title } medicalProfile { label } threads { edges { cursor } } thread(id: \"1\") { subject } blockedPractitioners { rpps } } }",
            json!({}),
        )
        .await;
    let me = &answer.data["me"];
    assert_eq!(me["profile"]["status"], "CREATED");
    assert_eq!(
        me["activityHistory"]["edges"][0]["node"]["kind"],
        "PROFILE_CREATED"
    );
    assert_eq!(me["blockedPractitioners"], json!([]));
    let mut failed: Vec<(Value, Value)> = answer
        .errors
        .iter()
        .map(|e| (e["path"].clone(), e["extensions"]["code"].clone()))
        .collect();
    failed.sort_by_key(|(path, _)| path.to_string());
    let needs_activation = [
        "document",
        "documents",
        "medicalProfile",
        "thread",
        "threads",
    ];
    assert_eq!(
        failed,
        needs_activation
            .map(|field| (json!(["me", field]), json!("ACTIVATION_REQUIRED")))
            .to_vec()
    );
    for field in needs_activation {
        assert!(me[field].is_null(), "{field}");
    }
}

async fn activated_patient_reads_documents_and_the_reading_is_traced(app: TestApp) {
    let person = ins(322);
    app.activated_profile(&person, None).await;
    let id = app
        .feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok()["feedDocument"]["id"]
        .clone();
    let token = patient_token(&person);
    let list = app.graphql(Some(&token), "{ me { documents { edges { node { id title type { code display } author { name } contentBase64 } } } } }", json!({})).await;
    let node = &list.ok()["me"]["documents"]["edges"][0]["node"];
    assert_eq!(node["type"]["display"], "Compte rendu de consultation");
    assert!(node["contentBase64"].is_null(), "lists carry no content");
    let one = app
        .graphql(
            Some(&token),
            "query($id: ID!) { me { document(id: $id) { contentBase64 sha256 } } }",
            json!({ "id": id }),
        )
        .await;
    use base64::Engine;
    let content = base64::engine::general_purpose::STANDARD
        .decode(
            one.ok()["me"]["document"]["contentBase64"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(content, PDF);
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("DOCUMENT_CONSULTED".into(), "PATIENT".into())
    );
}

async fn patient_adds_documents_and_keeps_a_traced_medical_profile(app: TestApp) {
    let person = ins(323);
    app.activated_profile(&person, None).await;
    let token = patient_token(&person);
    let added = app
        .graphql(Some(&token), "mutation($input: DocumentInput!) { addDocument(input: $input) { author { role id } } }", json!({ "input": document_input("mine-1", "Mon carnet") }))
        .await;
    assert_eq!(added.ok()["addDocument"]["author"]["role"], "PATIENT");
    let entry = app
        .graphql(
            Some(&token),
            "mutation { addMedicalProfileEntry(input: { category: ALLERGY, label: \"Pénicilline\", since: \"2001-05-01\" }) { id category label } }",
            json!({}),
        )
        .await;
    let id = entry.ok()["addMedicalProfileEntry"]["id"].clone();
    app.graphql(
        Some(&token),
        "mutation($id: ID!) { updateMedicalProfileEntry(id: $id, input: { category: ALLERGY, label: \"Pénicilline G\", details: \"urticaire\" }) { label } }",
        json!({ "id": id }),
    )
    .await
    .ok();
    let profile = app
        .graphql(
            Some(&token),
            "{ me { medicalProfile { category label details } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        profile.ok()["me"]["medicalProfile"],
        json!([{ "category": "ALLERGY", "label": "Pénicilline G", "details": "urticaire" }])
    );
    app.graphql(
        Some(&token),
        "mutation($id: ID!) { removeMedicalProfileEntry(id: $id) }",
        json!({ "id": id }),
    )
    .await
    .ok();
    let history = app.history(&person).await;
    let tail: Vec<&str> = kinds(&history).into_iter().rev().take(4).collect();
    assert_eq!(
        tail,
        [
            "MEDICAL_PROFILE_UPDATED",
            "MEDICAL_PROFILE_UPDATED",
            "MEDICAL_PROFILE_UPDATED",
            "DOCUMENT_ADDED"
        ]
    );
    let payloads = app.query_rows(&format!("SELECT payload FROM ledger_events WHERE patient_ins = '{person}' AND kind = 'MEDICAL_PROFILE_UPDATED'")).await;
    assert!(
        payloads.iter().all(|p| !p[0].contains("nicilline")),
        "the ledger says what changed, not the medical content"
    );
    let gone = app
        .graphql(
            Some(&token),
            "mutation($id: ID!) { removeMedicalProfileEntry(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(gone.code(), "NOT_FOUND");
}

async fn masked_document_is_hidden_from_practitioners_but_not_from_its_author(app: TestApp) {
    let person = ins(324);
    app.activated_profile(&person, None).await;
    let id = app
        .feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok()["feedDocument"]["id"]
        .clone();
    let token = patient_token(&person);
    let masked = app
        .graphql(
            Some(&token),
            "mutation($id: ID!) { maskDocument(id: $id) { masked } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(masked.ok()["maskDocument"]["masked"], true);

    let nurse = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            RECORD,
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(nurse.ok()["patientRecord"]["edges"], json!([]));
    let nurse_read = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            READ,
            json!({ "ins": person, "id": id }),
        )
        .await;
    assert_eq!(nurse_read.code(), "NOT_FOUND");
    let author = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            RECORD,
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(
        author.ok()["patientRecord"]["edges"][0]["node"]["masked"],
        true
    );

    app.graphql(
        Some(&token),
        "mutation($id: ID!) { unmaskDocument(id: $id) { masked } }",
        json!({ "id": id }),
    )
    .await
    .ok();
    let nurse = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            RECORD,
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(
        nurse.ok()["patientRecord"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let history = app.history(&person).await;
    assert!(
        kinds(&history).contains(&"DOCUMENT_MASKED")
            && kinds(&history).contains(&"DOCUMENT_UNMASKED")
    );
}

async fn blocked_practitioner_is_forbidden_and_the_attempt_is_in_the_history(app: TestApp) {
    let person = ins(325);
    app.activated_profile(&person, None).await;
    let token = patient_token(&person);
    let blocked = app
        .graphql(
            Some(&token),
            "mutation($rpps: RPPS!) { blockPractitioner(rpps: $rpps) }",
            json!({ "rpps": NURSE }),
        )
        .await;
    assert_eq!(blocked.ok()["blockPractitioner"], true);
    let listed = app
        .graphql(
            Some(&token),
            "{ me { blockedPractitioners { rpps } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed.ok()["me"]["blockedPractitioners"],
        json!([{ "rpps": NURSE }])
    );

    let refused = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            RECORD,
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(refused.code(), "FORBIDDEN");
    assert!(refused.data.is_null());
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("ACCESS_REFUSED_BLOCKED".into(), "PRACTITIONER".into())
    );
    assert!(
        app.graphql(
            Some(&practitioner_token(DOCTOR)),
            RECORD,
            json!({ "ins": person })
        )
        .await
        .errors
        .is_empty(),
        "others are not blocked"
    );

    app.graphql(
        Some(&token),
        "mutation($rpps: RPPS!) { unblockPractitioner(rpps: $rpps) }",
        json!({ "rpps": NURSE }),
    )
    .await
    .ok();
    assert!(
        app.graphql(
            Some(&practitioner_token(NURSE)),
            RECORD,
            json!({ "ins": person })
        )
        .await
        .errors
        .is_empty()
    );
    let bad = app
        .graphql(
            Some(&token),
            "mutation { blockPractitioner(rpps: \"10009876541\") }",
            json!({}),
        )
        .await;
    assert_eq!(bad.code(), "BAD_USER_INPUT", "RPPS is a validated scalar");
}

async fn same_idempotency_key_returns_the_first_document_and_another_payload_conflicts(
    app: TestApp,
) {
    let person = ins(326);
    app.activated_profile(&person, None).await;
    let first = app
        .feed(DOCTOR, &person, document_input("retry-1", "Compte rendu"))
        .await;
    let again = app
        .feed(DOCTOR, &person, document_input("retry-1", "Compte rendu"))
        .await;
    assert_eq!(
        first.ok()["feedDocument"]["id"],
        again.ok()["feedDocument"]["id"]
    );
    assert_eq!(app.count("documents").await, 1);
    let fed = kinds(&app.history(&person).await)
        .iter()
        .filter(|k| **k == "DOCUMENT_FED")
        .count();
    assert_eq!(fed, 1, "one trace");
    let notified = app
        .notices(&person)
        .await
        .iter()
        .filter(|(k, _, _)| k == "NEW_DOCUMENT")
        .count();
    assert_eq!(notified, 2, "one email and one live event, once");

    let other = app
        .feed(DOCTOR, &person, document_input("retry-1", "Autre titre"))
        .await;
    assert_eq!(other.code(), "CONFLICT");
    let by_someone_else = app
        .feed(NURSE, &person, document_input("retry-1", "Autre titre"))
        .await;
    assert!(by_someone_else.errors.is_empty(), "keys are per author");
}

async fn oversized_document_is_refused_before_decoding(app: TestApp) {
    let person = ins(327);
    app.activated_profile(&person, None).await;
    // The test server's limit is 64 KiB: 90 000 base64 characters cannot fit, valid or not.
    let mut input = document_input("big", "Imagerie");
    input["contentBase64"] = json!("A".repeat(90_000));
    let answer = app.feed(DOCTOR, &person, input).await;
    assert_eq!(answer.code(), "PAYLOAD_TOO_LARGE");
    assert_eq!(answer.error()["extensions"]["maxBytes"], 64 * 1024);
    assert_eq!(app.count("documents").await, 0);

    // A body beyond what any document needs is refused before it is read.
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(format!("{{\"query\":\"{}\"}}", "x".repeat(2 * 1024 * 1024)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");
}

async fn malformed_documents_are_bad_user_input(app: TestApp) {
    let person = ins(328);
    app.activated_profile(&person, None).await;
    let cases = [
        (
            "type",
            json!({ "system": "http://loinc.org", "code": "99999-9" }),
            "type",
        ),
        (
            "type",
            json!({ "system": "http://snomed.info/sct", "code": "11488-4" }),
            "type",
        ),
        ("mimeType", json!("application/zip"), "mimeType"),
        ("mimeType", json!("image/png"), "contentBase64"),
        ("contentBase64", json!("not base64!"), "contentBase64"),
        ("title", json!(""), "title"),
        ("actDate", json!("2030-01-01"), "actDate"),
        ("actDate", json!("1899-12-31"), "actDate"),
        ("actDate", json!("-5000-01-01"), "actDate"),
        ("idempotencyKey", json!(""), "idempotencyKey"),
    ];
    for (i, (field, value, reported)) in cases.into_iter().enumerate() {
        let mut input = document_input(&format!("k-{i}"), "Compte rendu");
        input[field] = value;
        let answer = app.feed(DOCTOR, &person, input).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{field}");
        assert_eq!(answer.error()["extensions"]["field"], reported, "{field}");
    }
    assert_eq!(app.count("documents").await, 0);
}

async fn guessing_a_document_id_of_another_record_is_not_found(app: TestApp) {
    let (mine, theirs) = (ins(329), ins(330));
    app.activated_profile(&mine, None).await;
    app.activated_profile(&theirs, None).await;
    let id = app
        .feed(DOCTOR, &theirs, document_input("k-1", "Compte rendu"))
        .await
        .ok()["feedDocument"]["id"]
        .clone();
    let guessed = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            READ,
            json!({ "ins": mine, "id": id }),
        )
        .await;
    assert_eq!(guessed.code(), "NOT_FOUND");
    assert!(guessed.data.is_null());
    let by_patient = app
        .graphql(
            Some(&patient_token(&mine)),
            "query($id: ID!) { me { document(id: $id) { title } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(by_patient.code(), "NOT_FOUND");
    let not_an_id = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            READ,
            json!({ "ins": mine, "id": "abc" }),
        )
        .await;
    assert_eq!(not_an_id.code(), "NOT_FOUND");
}

async fn record_is_paginated_newest_first(app: TestApp) {
    let person = ins(331);
    app.activated_profile(&person, None).await;
    for i in 0..5 {
        app.feed(
            DOCTOR,
            &person,
            document_input(&format!("k-{i}"), &format!("Document {i}")),
        )
        .await
        .ok();
    }
    let mut titles = Vec::new();
    let mut after = None::<String>;
    loop {
        let page = app
            .graphql(
                Some(&practitioner_token(DOCTOR)),
                RECORD,
                json!({ "ins": person, "first": 2, "after": after }),
            )
            .await;
        let record = &page.ok()["patientRecord"];
        for edge in record["edges"].as_array().unwrap() {
            titles.push(edge["node"]["title"].as_str().unwrap().to_owned());
            after = Some(edge["cursor"].as_str().unwrap().to_owned());
        }
        if !record["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(
        titles,
        [
            "Document 4",
            "Document 3",
            "Document 2",
            "Document 1",
            "Document 0"
        ]
    );
}

async fn record_filters_by_type_and_act_date(app: TestApp) {
    let person = ins(332);
    app.activated_profile(&person, None).await;
    let mut lab = document_input("k-lab", "Bilan");
    lab["type"]["code"] = json!("11502-2");
    lab["actDate"] = json!("2026-09-01");
    app.feed(DOCTOR, &person, lab).await.ok();
    app.feed(DOCTOR, &person, document_input("k-cr", "Consultation"))
        .await
        .ok();
    let query = "query($ins: INS!, $type: String, $from: NaiveDate) { patientRecord(patientIns: $ins, typeCode: $type, actedFrom: $from) { edges { node { title } } } }";
    let titles = |answer: crate::helpers::Gql| -> Vec<String> {
        answer.ok()["patientRecord"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let by_type = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            query,
            json!({ "ins": person, "type": "11502-2" }),
        )
        .await;
    assert_eq!(titles(by_type), ["Bilan"]);
    let by_date = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            query,
            json!({ "ins": person, "from": "2026-10-01" }),
        )
        .await;
    assert_eq!(titles(by_date), ["Consultation"]);
    let unknown = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            query,
            json!({ "ins": person, "type": "\u{0}junk" }),
        )
        .await;
    assert_eq!(unknown.code(), "BAD_USER_INPUT");
}

on_both_databases!(
    record_filters_by_type_and_act_date,
    feeding_an_activated_profile_notifies_the_personal_email_and_live,
    feeding_a_created_profile_notifies_the_insurer_email,
    feeding_a_created_profile_without_email_goes_to_the_postal_statement,
    feeding_without_a_dmp_answers_dmp_inexistant_identically,
    dmp_status_tells_whether_to_offer_feeding_without_revealing_an_opposition,
    document_notices_carry_no_medical_content,
    consultation_is_traced_and_first_access_notified_once_per_practitioner,
    history_shows_the_practitioner_name_profession_and_time,
    a_consultation_whose_trace_fails_returns_nothing,
    consulting_a_record_that_does_not_exist_is_dmp_not_found,
    created_patient_must_activate_to_read_documents,
    a_created_patient_keeps_their_profile_beside_the_fields_that_need_activation,
    activated_patient_reads_documents_and_the_reading_is_traced,
    patient_adds_documents_and_keeps_a_traced_medical_profile,
    masked_document_is_hidden_from_practitioners_but_not_from_its_author,
    blocked_practitioner_is_forbidden_and_the_attempt_is_in_the_history,
    same_idempotency_key_returns_the_first_document_and_another_payload_conflicts,
    oversized_document_is_refused_before_decoding,
    malformed_documents_are_bad_user_input,
    guessing_a_document_id_of_another_record_is_not_found,
    record_is_paginated_newest_first,
);
