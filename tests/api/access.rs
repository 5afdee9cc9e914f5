//! Who sees what: the profession × document-type matrix, the médecin traitant, emergency
//! access ("bris de glace"), and the first access by a feed.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{
    DOCTOR, NURSE, TestApp, document_input, ins, on_both_databases, operator_token, patient_token,
    practitioner_token, practitioner_token_as, start_time, typed_document_input,
};

/// A pharmacist (profession code 21).
const PHARMACIST: &str = "10001111110";
/// A third physician, neither author nor médecin traitant.
const OTHER_DOCTOR: &str = "10002222221";

const RECORD: &str = "query($ins: INS!, $first: Int, $after: String, $type: String) { patientRecord(patientIns: $ins, first: $first, after: $after, typeCode: $type) { edges { cursor node { id title type { code } } } pageInfo { hasNextPage } } }";
const READ: &str = "query($ins: INS!, $id: ID!) { patientDocument(patientIns: $ins, documentId: $id) { id title } }";
const OPEN: &str = "mutation($ins: INS!, $reason: String!) { openEmergencyAccess(patientIns: $ins, reason: $reason) { id openedAt expiresAt reason practitioner { id } } }";
const REASON: &str = "Patient inconscient admis aux urgences";

fn pharmacist() -> String {
    practitioner_token_as(PHARMACIST, "21", "Pharmacien d'officine")
}

/// The ids listed by `patientRecord` for `token`.
async fn listed(app: &TestApp, token: &str, person: &str) -> Vec<String> {
    let answer = app
        .graphql(Some(token), RECORD, json!({ "ins": person, "first": 100 }))
        .await;
    answer.ok()["patientRecord"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Feeds a consultation report as DOCTOR and masks it as the patient; returns its id.
async fn masked_document(app: &TestApp, person: &str) -> String {
    let id = app
        .feed(DOCTOR, person, document_input("k-masked", "Compte rendu"))
        .await
        .ok()["feedDocument"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.graphql(
        Some(&patient_token(person)),
        "mutation($id: ID!) { maskDocument(id: $id) { masked } }",
        json!({ "id": id }),
    )
    .await
    .ok();
    id
}

fn kinds(history: &[(String, String)]) -> Vec<&str> {
    history.iter().map(|(k, _)| k.as_str()).collect()
}

async fn a_pharmacist_does_not_see_a_document_type_outside_the_matrix(app: TestApp) {
    let person = ins(901);
    app.activated_profile(&person, None).await;
    // Newest first: report, prescription, report.
    for (key, code) in [("k-1", "11488-4"), ("k-2", "57833-6"), ("k-3", "11488-4")] {
        app.feed(DOCTOR, &person, typed_document_input(key, key, code))
            .await
            .ok();
    }
    let token = pharmacist();
    let all = listed(&app, &token, &person).await;
    assert_eq!(all.len(), 1, "only the prescription");
    // Pages and their end do not betray the hidden reports: one page of one, nothing after.
    let page = app
        .graphql(Some(&token), RECORD, json!({ "ins": person, "first": 1 }))
        .await;
    assert_eq!(
        page.ok()["patientRecord"]["edges"][0]["node"]["type"]["code"],
        "57833-6"
    );
    assert_eq!(page.ok()["patientRecord"]["pageInfo"]["hasNextPage"], false);
    let filtered = app
        .graphql(
            Some(&token),
            RECORD,
            json!({ "ins": person, "type": "11488-4" }),
        )
        .await;
    assert_eq!(filtered.ok()["patientRecord"]["edges"], json!([]));
    // A report's id is unknown, exactly as an id that does not exist.
    let report_id = listed(&app, &practitioner_token(DOCTOR), &person).await[0].clone();
    let hidden = app
        .graphql(
            Some(&token),
            READ,
            json!({ "ins": person, "id": report_id }),
        )
        .await;
    let missing = app
        .graphql(Some(&token), READ, json!({ "ins": person, "id": "999999" }))
        .await;
    assert_eq!(hidden.code(), "NOT_FOUND");
    assert_eq!(hidden.error()["message"], missing.error()["message"]);
    // A physician sees all three.
    assert_eq!(
        listed(&app, &practitioner_token(OTHER_DOCTOR), &person)
            .await
            .len(),
        3
    );
}

/// The access matrix reads a practitioner's profession code, and the patient's history their
/// name: a token without either is refused with a message that names the missing claim, and
/// nothing of the record is read.
async fn a_practitioner_token_without_a_profession_code_or_a_name_is_refused(app: TestApp) {
    let person = ins(902);
    app.activated_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    let events = app.count("ledger_events").await;
    let mut without_code = crate::helpers::claims("PRACTITIONER", OTHER_DOCTOR);
    without_code["profession"] = json!("Médecin");
    let mut without_name = crate::helpers::claims("PRACTITIONER", OTHER_DOCTOR);
    without_name["profession_code"] = json!("10");
    without_name["name"] = json!(" ");
    for (claims, missing) in [(without_code, "profession_code"), (without_name, "name")] {
        let refused = app
            .graphql(
                Some(&crate::helpers::sign(&claims)),
                "query($ins: INS!) { patientRecord(patientIns: $ins) { edges { cursor } } }",
                json!({ "ins": person }),
            )
            .await;
        assert_eq!(refused.code(), "UNAUTHENTICATED");
        let message = refused.error()["message"].as_str().unwrap().to_owned();
        assert!(message.contains(&format!("'{missing}'")), "{message}");
    }
    assert_eq!(app.count("ledger_events").await, events, "nothing read");
}

async fn a_feed_of_a_type_the_profession_may_not_feed_is_forbidden(app: TestApp) {
    let person = ins(903);
    app.activated_profile(&person, None).await;
    let token = pharmacist();
    let refused = app
        .graphql(
            Some(&token),
            crate::helpers::FEED,
            json!({ "ins": person, "input": typed_document_input("k-1", "CR", "11488-4") }),
        )
        .await;
    assert_eq!(refused.code(), "FORBIDDEN");
    assert_eq!(app.count("documents").await, 0, "nothing stored");
    let history = app.history(&person).await;
    assert_eq!(kinds(&history).last(), Some(&"FEED_REFUSED"));
    assert!(
        !app.notices(&person)
            .await
            .iter()
            .any(|(k, _, _)| k == "NEW_DOCUMENT" || k == "FIRST_ACCESS"),
        "a refused feed notifies nothing"
    );
    let fed = app
        .graphql(
            Some(&token),
            crate::helpers::FEED,
            json!({ "ins": person, "input": typed_document_input("k-2", "Ordonnance", "57833-6") }),
        )
        .await;
    assert_eq!(fed.ok()["feedDocument"]["title"], "Ordonnance");
}

async fn a_first_feed_notifies_the_first_access_once(app: TestApp) {
    let person = ins(904);
    app.activated_profile(&person, None).await;
    for key in ["k-1", "k-2"] {
        app.feed(DOCTOR, &person, document_input(key, "Compte rendu"))
            .await
            .ok();
    }
    // Then a consultation: still the same first access.
    app.graphql(
        Some(&practitioner_token(DOCTOR)),
        RECORD,
        json!({ "ins": person }),
    )
    .await
    .ok();
    let history = app.history(&person).await;
    let by_doctor: Vec<&str> = history
        .iter()
        .filter(|(_, role)| role == "PRACTITIONER")
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        by_doctor,
        [
            "FIRST_ACCESS",
            "DOCUMENT_FED",
            "DOCUMENT_FED",
            "RECORD_CONSULTED"
        ]
    );
    let first_access: Vec<_> = app
        .notices(&person)
        .await
        .into_iter()
        .filter(|(k, _, _)| k == "FIRST_ACCESS")
        .map(|(_, channel, _)| channel)
        .collect();
    assert_eq!(first_access, ["EMAIL", "LIVE"], "once, on each channel");
}

async fn the_medecin_traitant_sees_a_masked_document_and_another_physician_does_not(app: TestApp) {
    let person = ins(905);
    app.activated_profile(&person, None).await;
    let id = masked_document(&app, &person).await;
    let patient = patient_token(&person);
    let designated = app
        .graphql(
            Some(&patient),
            "mutation($rpps: RPPS!) { designateMedecinTraitant(rpps: $rpps) { medecinTraitant { rpps since } } }",
            json!({ "rpps": NURSE }),
        )
        .await;
    assert_eq!(
        designated.ok()["designateMedecinTraitant"]["medecinTraitant"]["rpps"],
        NURSE
    );
    let me = app
        .graphql(
            Some(&patient),
            "{ me { profile { medecinTraitant { rpps since } } } }",
            json!({}),
        )
        .await;
    assert_eq!(me.ok()["me"]["profile"]["medecinTraitant"]["rpps"], NURSE);

    // NURSE holds a physician's token here: the médecin traitant.
    let traitant = practitioner_token(NURSE);
    assert_eq!(listed(&app, &traitant, &person).await, [id.as_str()]);
    let read = app
        .graphql(Some(&traitant), READ, json!({ "ins": person, "id": id }))
        .await;
    assert_eq!(read.ok()["patientDocument"]["title"], "Compte rendu");
    let other = practitioner_token(OTHER_DOCTOR);
    assert!(listed(&app, &other, &person).await.is_empty());
    let refused = app
        .graphql(Some(&other), READ, json!({ "ins": person, "id": id }))
        .await;
    assert_eq!(refused.code(), "NOT_FOUND");

    let removed = app
        .graphql(
            Some(&patient),
            "mutation { removeMedecinTraitant { medecinTraitant { rpps } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        removed.ok()["removeMedecinTraitant"]["medecinTraitant"],
        Value::Null
    );
    assert!(listed(&app, &traitant, &person).await.is_empty());
    let history = app.history(&person).await;
    let kinds = kinds(&history);
    assert!(kinds.contains(&"MEDECIN_TRAITANT_DESIGNATED"), "{kinds:?}");
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == "MEDECIN_TRAITANT_REMOVED")
            .count(),
        1
    );
}

async fn an_operator_records_the_medecin_traitant_on_the_patients_behalf(app: TestApp) {
    let person = ins(906);
    app.created_profile(&person, Some("jeanne@example.org"))
        .await;
    let recorded = app
        .graphql(
            Some(&operator_token()),
            "mutation($ins: INS!, $rpps: RPPS) { recordMedecinTraitant(ins: $ins, rpps: $rpps) { medecinTraitant { rpps } } }",
            json!({ "ins": person, "rpps": DOCTOR }),
        )
        .await;
    assert_eq!(
        recorded.ok()["recordMedecinTraitant"]["medecinTraitant"]["rpps"],
        DOCTOR
    );
    let history = app.history(&person).await;
    assert_eq!(
        history.last().unwrap(),
        &(
            "MEDECIN_TRAITANT_DESIGNATED".to_owned(),
            "OPERATOR".to_owned()
        )
    );
    // Without a DMP, one answer.
    let nobody = app
        .graphql(
            Some(&operator_token()),
            "mutation($ins: INS!, $rpps: RPPS) { recordMedecinTraitant(ins: $ins, rpps: $rpps) { status } }",
            json!({ "ins": ins(907), "rpps": DOCTOR }),
        )
        .await;
    assert_eq!(nobody.code(), "DMP_NOT_FOUND");
    // A patient designates only once activated.
    let created = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation($rpps: RPPS!) { designateMedecinTraitant(rpps: $rpps) { status } }",
            json!({ "rpps": NURSE }),
        )
        .await;
    assert_eq!(created.code(), "ACTIVATION_REQUIRED");
}

/// Opens an emergency access to `person`'s record as `token`.
async fn open(app: &TestApp, token: &str, person: &str, reason: &str) -> crate::helpers::Gql {
    app.graphql(
        Some(token),
        OPEN,
        json!({ "ins": person, "reason": reason }),
    )
    .await
}

async fn an_emergency_access_shows_masked_documents_and_is_in_the_history_with_its_reason(
    app: TestApp,
) {
    let person = ins(908);
    app.activated_profile(&person, None).await;
    let id = masked_document(&app, &person).await;
    let token = practitioner_token(OTHER_DOCTOR);
    assert!(listed(&app, &token, &person).await.is_empty());

    let opened = open(&app, &token, &person, REASON).await;
    let access = &opened.ok()["openEmergencyAccess"];
    assert_eq!(access["reason"], REASON);
    assert_eq!(access["practitioner"]["id"], OTHER_DOCTOR);
    let expected_end = (start_time() + Duration::days(42) + Duration::hours(4))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        access["expiresAt"]
            .as_str()
            .unwrap()
            .starts_with(&expected_end[..16]),
        "4 hours by default: {access}"
    );
    assert_eq!(listed(&app, &token, &person).await, [id.as_str()]);
    let read = app
        .graphql(Some(&token), READ, json!({ "ins": person, "id": id }))
        .await;
    assert_eq!(read.ok()["patientDocument"]["title"], "Compte rendu");

    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { activityHistory(kinds: [EMERGENCY_ACCESS_OPENED]) { edges { node { label payload actor { id } } } } } }",
            json!({}),
        )
        .await;
    let edges = answer.ok()["me"]["activityHistory"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(edges.len(), 1);
    let payload: Value =
        serde_json::from_str(edges[0]["node"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["reason"], REASON);
    assert_eq!(edges[0]["node"]["actor"]["id"], OTHER_DOCTOR);
    // The consultations it allowed say so in the history; the one before did not.
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { activityHistory(kinds: [RECORD_CONSULTED, DOCUMENT_CONSULTED], actorRoles: [PRACTITIONER]) { edges { node { kind payload } } } } }",
            json!({}),
        )
        .await;
    let emergency: Vec<(String, Value)> = answer.ok()["me"]["activityHistory"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let payload: Value =
                serde_json::from_str(e["node"]["payload"].as_str().unwrap()).unwrap();
            (
                e["node"]["kind"].as_str().unwrap().to_owned(),
                payload["emergency"].clone(),
            )
        })
        .collect();
    assert_eq!(
        emergency,
        [
            ("DOCUMENT_CONSULTED".to_owned(), json!(true)),
            ("RECORD_CONSULTED".to_owned(), json!(true)),
            ("RECORD_CONSULTED".to_owned(), Value::Null),
        ],
        "newest first"
    );
}

async fn an_emergency_access_alerts_the_patient_on_every_channel(app: TestApp) {
    let activated = ins(909);
    app.activated_profile(&activated, None).await;
    let by_post = ins(910);
    app.created_profile(&by_post, None).await;
    let by_email = ins(911);
    app.created_profile(&by_email, Some("insurer@example.org"))
        .await;
    let token = practitioner_token(OTHER_DOCTOR);
    for person in [&activated, &by_post, &by_email] {
        open(&app, &token, person, REASON).await.ok();
    }
    let alerts = |notices: Vec<(String, String, String)>| -> Vec<(String, String)> {
        notices
            .into_iter()
            .filter(|(k, _, _)| k == "EMERGENCY_ACCESS")
            .map(|(_, channel, recipient)| (channel, recipient))
            .collect()
    };
    let pair = |c: &str, r: &str| (c.to_owned(), r.to_owned());
    assert_eq!(
        alerts(app.notices(&activated).await),
        [
            pair("EMAIL", "perso@example.org"),
            pair("LIVE", ""),
            pair("POSTAL", "")
        ]
    );
    assert_eq!(alerts(app.notices(&by_post).await), [pair("POSTAL", "")]);
    assert_eq!(
        alerts(app.notices(&by_email).await),
        [pair("EMAIL", "insurer@example.org"), pair("POSTAL", "")]
    );
    // Distinct from the first-access notice, which goes by status only.
    let first = app
        .notices(&activated)
        .await
        .into_iter()
        .filter(|(k, _, _)| k == "FIRST_ACCESS")
        .count();
    assert_eq!(first, 2);
    // Neither the reason nor anything of the record in the alert.
    let bodies = app
        .query_rows(
            "SELECT subject, body, summary FROM notifications WHERE kind = 'EMERGENCY_ACCESS'",
        )
        .await;
    assert!(!bodies.is_empty());
    for row in bodies {
        assert!(!row.concat().contains("inconscient"), "{row:?}");
    }
}

async fn an_emergency_access_expires(app: TestApp) {
    let person = ins(912);
    app.activated_profile(&person, None).await;
    let id = masked_document(&app, &person).await;
    let token = practitioner_token(OTHER_DOCTOR);
    open(&app, &token, &person, REASON).await.ok();
    app.advance(Duration::hours(4) - Duration::minutes(1));
    assert_eq!(listed(&app, &token, &person).await, [id.as_str()]);
    app.advance(Duration::minutes(1));
    assert!(
        listed(&app, &token, &person).await.is_empty(),
        "masked again once the access has expired"
    );
    let read = app
        .graphql(Some(&token), READ, json!({ "ins": person, "id": id }))
        .await;
    assert_eq!(read.code(), "NOT_FOUND");
}

async fn an_emergency_access_is_refused_when_the_patient_turned_it_off(app: TestApp) {
    let person = ins(913);
    app.activated_profile(&person, None).await;
    let id = masked_document(&app, &person).await;
    let patient = patient_token(&person);
    let me = app
        .graphql(
            Some(&patient),
            "{ me { profile { emergencyAccessEnabled } } }",
            json!({}),
        )
        .await;
    assert_eq!(me.ok()["me"]["profile"]["emergencyAccessEnabled"], true);
    let off = app
        .graphql(
            Some(&patient),
            "mutation { setEmergencyAccess(enabled: false) { emergencyAccessEnabled } }",
            json!({}),
        )
        .await;
    assert_eq!(
        off.ok()["setEmergencyAccess"]["emergencyAccessEnabled"],
        false
    );

    let token = practitioner_token(OTHER_DOCTOR);
    let refused = open(&app, &token, &person, REASON).await;
    assert_eq!(refused.code(), "FORBIDDEN");
    assert!(listed(&app, &token, &person).await.is_empty());
    let read = app
        .graphql(Some(&token), READ, json!({ "ins": person, "id": id }))
        .await;
    assert_eq!(read.code(), "NOT_FOUND");
    assert_eq!(app.count("emergency_accesses").await, 0);
    assert!(
        !app.notices(&person)
            .await
            .iter()
            .any(|(k, _, _)| k == "EMERGENCY_ACCESS")
    );
    let history = app.history(&person).await;
    let kinds = kinds(&history);
    assert!(kinds.contains(&"EMERGENCY_ACCESS_TURNED_OFF"), "{kinds:?}");
    assert!(kinds.contains(&"EMERGENCY_ACCESS_REFUSED"), "{kinds:?}");

    // Turned on again, it works.
    app.graphql(
        Some(&patient),
        "mutation { setEmergencyAccess(enabled: true) { emergencyAccessEnabled } }",
        json!({}),
    )
    .await
    .ok();
    open(&app, &token, &person, REASON).await.ok();
    assert_eq!(listed(&app, &token, &person).await, [id]);
}

async fn an_emergency_access_is_refused_for_a_blocked_practitioner(app: TestApp) {
    let person = ins(914);
    app.activated_profile(&person, None).await;
    masked_document(&app, &person).await;
    app.graphql(
        Some(&patient_token(&person)),
        "mutation($rpps: RPPS!) { blockPractitioner(rpps: $rpps) }",
        json!({ "rpps": OTHER_DOCTOR }),
    )
    .await
    .ok();
    let refused = open(&app, &practitioner_token(OTHER_DOCTOR), &person, REASON).await;
    assert_eq!(refused.code(), "FORBIDDEN");
    assert_eq!(app.count("emergency_accesses").await, 0);
    let history = app.history(&person).await;
    assert_eq!(kinds(&history).last(), Some(&"ACCESS_REFUSED_BLOCKED"));
    assert!(
        !app.notices(&person)
            .await
            .iter()
            .any(|(k, _, _)| k == "EMERGENCY_ACCESS")
    );
}

async fn an_emergency_access_needs_a_reason_of_10_to_500_characters(app: TestApp) {
    let person = ins(915);
    app.activated_profile(&person, None).await;
    let token = practitioner_token(OTHER_DOCTOR);
    for reason in ["urgence", "         a         ", &"x".repeat(501)] {
        let refused = open(&app, &token, &person, reason).await;
        assert_eq!(refused.code(), "BAD_USER_INPUT", "{reason:?}");
        assert_eq!(refused.error()["extensions"]["field"], "reason");
    }
    assert_eq!(app.count("emergency_accesses").await, 0);
    open(&app, &token, &person, &"x".repeat(500)).await.ok();
    open(&app, &token, &person, "0123456789").await.ok();
    assert_eq!(app.count("emergency_accesses").await, 2);
}

async fn operators_list_emergency_accesses_over_a_period_without_medical_content(app: TestApp) {
    let first = ins(916);
    let second = ins(917);
    app.activated_profile(&first, None).await;
    app.activated_profile(&second, None).await;
    let token = practitioner_token(OTHER_DOCTOR);
    let opened = open(&app, &token, &first, REASON).await;
    let opened_at: chrono::DateTime<chrono::Utc> = opened.ok()["openEmergencyAccess"]["openedAt"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.advance(Duration::hours(1));
    open(&app, &token, &second, "Détresse respiratoire, SAMU")
        .await
        .ok();
    app.advance(Duration::days(2));
    open(&app, &token, &first, REASON).await.ok();

    let day = opened_at - Duration::minutes(1);
    let query = "query($from: DateTime!, $to: DateTime!, $after: String) { emergencyAccesses(from: $from, to: $to, first: 1, after: $after) { edges { cursor node { patientIns reason openedAt practitioner { id name } } } pageInfo { hasNextPage } } }";
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .graphql(
                Some(&operator_token()),
                query,
                json!({ "from": day.to_rfc3339(), "to": (day + Duration::days(1)).to_rfc3339(), "after": after }),
            )
            .await;
        let list = &page.ok()["emergencyAccesses"];
        for edge in list["edges"].as_array().unwrap() {
            seen.push((
                edge["node"]["patientIns"].as_str().unwrap().to_owned(),
                edge["node"]["reason"].as_str().unwrap().to_owned(),
            ));
            after = Some(edge["cursor"].as_str().unwrap().to_owned());
        }
        if list["pageInfo"]["hasNextPage"] == false {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            (first.clone(), REASON.to_owned()),
            (second.clone(), "Détresse respiratoire, SAMU".to_owned())
        ],
        "the third is outside the period"
    );
    // Only operators.
    let denied = app
        .graphql(
            Some(&token),
            query,
            json!({ "from": day.to_rfc3339(), "to": (day + Duration::days(1)).to_rfc3339() }),
        )
        .await;
    assert_eq!(denied.code(), "FORBIDDEN");
    let backwards = app
        .graphql(
            Some(&operator_token()),
            query,
            json!({ "from": day.to_rfc3339(), "to": day.to_rfc3339() }),
        )
        .await;
    assert_eq!(backwards.code(), "BAD_USER_INPUT");
}

on_both_databases!(
    a_pharmacist_does_not_see_a_document_type_outside_the_matrix,
    a_practitioner_token_without_a_profession_code_or_a_name_is_refused,
    a_feed_of_a_type_the_profession_may_not_feed_is_forbidden,
    a_first_feed_notifies_the_first_access_once,
    the_medecin_traitant_sees_a_masked_document_and_another_physician_does_not,
    an_operator_records_the_medecin_traitant_on_the_patients_behalf,
    an_emergency_access_shows_masked_documents_and_is_in_the_history_with_its_reason,
    an_emergency_access_alerts_the_patient_on_every_channel,
    an_emergency_access_expires,
    an_emergency_access_is_refused_when_the_patient_turned_it_off,
    an_emergency_access_is_refused_for_a_blocked_practitioner,
    an_emergency_access_needs_a_reason_of_10_to_500_characters,
    operators_list_emergency_accesses_over_a_period_without_medical_content,
);
