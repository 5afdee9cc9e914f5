//! The profile lifecycle of SPEC.md, one test per rule and per forbidden transition.

use chrono::Duration;
use serde_json::json;

use crate::helpers::{
    TestApp, beneficiary, ins, on_both_databases, operator_token, patient_token, serial_of,
};

const PROFILE: &str =
    "{ me { profile { status oppositionDeadline createdAt activatedAt closedAt personalEmail } } }";

async fn enrolment_announces_the_profile_with_an_opposition_deadline(app: TestApp) {
    let person = ins(1);
    let result = app
        .enrol(vec![beneficiary(&person, Some("jeanne@example.org"))])
        .await;
    assert_eq!(result["enrolled"][0]["status"], "ANNOUNCED");

    let me = app
        .graphql(Some(&patient_token(&person)), PROFILE, json!({}))
        .await;
    let profile = &me.ok()["me"]["profile"];
    assert_eq!(profile["status"], "ANNOUNCED");
    assert_eq!(profile["oppositionDeadline"], "2026-12-14T09:00:00+00:00");
    assert_eq!(
        app.history(&person).await,
        vec![("BENEFICIARY_ENROLLED".into(), "OPERATOR".into())]
    );
}

async fn enrolment_notice_goes_to_the_insurer_email(app: TestApp) {
    let person = ins(2);
    app.enrol(vec![beneficiary(&person, Some("jeanne@example.org"))])
        .await;
    let rows = app
        .query_rows(&format!("SELECT kind, channel, recipient, status FROM notifications WHERE patient_ins = '{person}'"))
        .await;
    assert_eq!(
        rows,
        vec![vec![
            "ANNOUNCEMENT",
            "EMAIL",
            "jeanne@example.org",
            "PENDING"
        ]]
    );
}

async fn enrolment_without_insurer_email_queues_a_postal_notice(app: TestApp) {
    let person = ins(3);
    app.enrol(vec![beneficiary(&person, None)]).await;
    let rows = app
        .query_rows(&format!(
            "SELECT kind, channel, recipient FROM notifications WHERE patient_ins = '{person}'"
        ))
        .await;
    assert_eq!(rows, vec![vec!["ANNOUNCEMENT", "POSTAL", ""]]);
}

async fn re_enrolling_a_known_ins_is_idempotent(app: TestApp) {
    let (known, new) = (ins(4), ins(5));
    app.enrol(vec![beneficiary(&known, None)]).await;
    let again = app
        .enrol(vec![beneficiary(&known, None), beneficiary(&new, None)])
        .await;
    assert_eq!(again["alreadyKnown"], json!([known]));
    assert_eq!(again["enrolled"].as_array().unwrap().len(), 1);
    assert_eq!(
        app.history(&known).await.len(),
        1,
        "no second enrolment event"
    );
    let notices = app
        .query_rows(&format!(
            "SELECT id FROM notifications WHERE patient_ins = '{known}'"
        ))
        .await;
    assert_eq!(notices.len(), 1, "no second announcement");
}

async fn malformed_row_is_reported_with_its_index_and_nothing_is_applied(app: TestApp) {
    let good = ins(6);
    let mut bad = beneficiary(&ins(7), None);
    bad["ins"] = json!("285037512304515"); // wrong key
    let answer = app
        .graphql(
            Some(&operator_token()),
            "mutation($rows: [BeneficiaryInput!]!) { enrolBeneficiaries(beneficiaries: $rows) { alreadyKnown } }",
            json!({ "rows": [beneficiary(&good, None), bad] }),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert_eq!(answer.error()["extensions"]["index"], 1);
    assert_eq!(answer.error()["extensions"]["field"], "ins");
    assert!(
        answer.error()["message"]
            .as_str()
            .unwrap()
            .contains("row 1")
    );
    let lookup = app
        .graphql(
            Some(&operator_token()),
            "query($ins: INS!) { beneficiary(ins: $ins) { status } }",
            json!({ "ins": good }),
        )
        .await;
    assert_eq!(
        lookup.code(),
        "NOT_FOUND",
        "the valid row of a refused batch is not applied"
    );
}

async fn malformed_address_email_and_birth_date_are_refused(app: TestApp) {
    let person = ins(8);
    for (field, value, expected_field) in [
        ("addressLines", json!(["x".repeat(39)]), "addressLines"),
        (
            "addressLines",
            json!(["1", "2", "3", "4", "5", "6"]),
            "addressLines",
        ),
        ("insurerEmail", json!("not-an-email"), "insurerEmail"),
        ("birthDate", json!("2030-01-01"), "birthDate"),
        ("birthName", json!("  "), "birthName"),
        ("carteVitaleSerial", json!("12"), "carteVitaleSerial"),
    ] {
        let mut row = beneficiary(&person, None);
        row[field] = value;
        let answer = app
            .graphql(
                Some(&operator_token()),
                "mutation($rows: [BeneficiaryInput!]!) { enrolBeneficiaries(beneficiaries: $rows) { alreadyKnown } }",
                json!({ "rows": [row] }),
            )
            .await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{field}");
        assert_eq!(answer.error()["extensions"]["field"], expected_field);
    }
}

async fn patient_opposes_during_the_window(app: TestApp) {
    let person = ins(10);
    app.enrol(vec![beneficiary(&person, None)]).await;
    app.advance(Duration::days(41));
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { opposeProfileCreation { status opposedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.ok()["opposeProfileCreation"]["status"], "OPPOSED");
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("OPPOSITION_RECORDED".into(), "PATIENT".into())
    );
}

async fn operator_records_an_opposition_received_by_phone(app: TestApp) {
    let person = ins(11);
    app.enrol(vec![beneficiary(&person, None)]).await;
    let answer = app
        .graphql(
            Some(&operator_token()),
            "mutation($ins: INS!) { recordOpposition(ins: $ins, receivedVia: PHONE) { status } }",
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(answer.ok()["recordOpposition"]["status"], "OPPOSED");
    let payload = app
        .query_rows(&format!("SELECT payload, actor_role FROM ledger_events WHERE patient_ins = '{person}' AND kind = 'OPPOSITION_RECORDED'"))
        .await;
    assert_eq!(
        payload,
        vec![vec![r#"{"v":2,"channel":"PHONE"}"#, "OPERATOR"]]
    );
}

async fn opposition_after_the_window_is_refused(app: TestApp) {
    let person = ins(12);
    app.enrol(vec![beneficiary(&person, None)]).await;
    app.advance(Duration::days(42));
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { opposeProfileCreation { status } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "OPPOSITION_WINDOW_CLOSED");
    assert_eq!(app.status(&person).await, "ANNOUNCED");
}

async fn opposing_a_created_profile_is_refused(app: TestApp) {
    let person = ins(13);
    app.created_profile(&person, None).await;
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { opposeProfileCreation { status } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "OPPOSITION_WINDOW_CLOSED");
}

async fn opposing_twice_is_an_invalid_transition(app: TestApp) {
    let person = ins(14);
    app.enrol(vec![beneficiary(&person, None)]).await;
    let oppose = "mutation { opposeProfileCreation { status } }";
    app.graphql(Some(&patient_token(&person)), oppose, json!({}))
        .await
        .ok();
    let again = app
        .graphql(Some(&patient_token(&person)), oppose, json!({}))
        .await;
    assert_eq!(again.code(), "INVALID_TRANSITION");
    assert_eq!(again.error()["extensions"]["status"], "OPPOSED");
}

async fn sweep_creates_profiles_at_the_deadline_with_a_creation_notice(app: TestApp) {
    let person = ins(15);
    app.enrol(vec![beneficiary(&person, Some("jeanne@example.org"))])
        .await;
    app.advance(Duration::days(42) - Duration::seconds(1));
    assert!(app.sweep().await.is_empty(), "not before the deadline");
    assert_eq!(app.status(&person).await, "ANNOUNCED");

    app.advance(Duration::seconds(1));
    assert_eq!(app.sweep().await, vec![person.clone()]);
    assert_eq!(app.status(&person).await, "CREATED");
    assert!(app.sweep().await.is_empty(), "a second run creates nothing");

    let notices = app
        .query_rows(&format!("SELECT kind, channel, recipient FROM notifications WHERE patient_ins = '{person}' ORDER BY id"))
        .await;
    assert_eq!(
        notices[1],
        vec!["PROFILE_CREATED", "EMAIL", "jeanne@example.org"]
    );
    assert_eq!(
        app.history(&person).await,
        vec![
            ("BENEFICIARY_ENROLLED".into(), "OPERATOR".into()),
            ("PROFILE_CREATED".into(), "SYSTEM".into())
        ]
    );
}

async fn activation_code_is_stored_only_as_a_hash(app: TestApp) {
    let person = ins(16);
    let code = app.created_profile(&person, None).await;
    let stored = app
        .query_rows(&format!(
            "SELECT activation_code_hash FROM profiles WHERE ins = '{person}'"
        ))
        .await;
    let hash = &stored[0][0];
    assert_eq!(hash.len(), 64);
    let bare = code.replace('-', "");
    assert!(!hash.contains(&bare) && !hash.contains(&code));
    let anywhere = app.query_rows("SELECT payload FROM ledger_events").await;
    assert!(
        anywhere
            .iter()
            .all(|r| !r[0].contains(&bare) && !r[0].contains(&code)),
        "not in the ledger"
    );
}

async fn opposed_profile_is_not_created_by_the_sweep(app: TestApp) {
    let person = ins(17);
    app.enrol(vec![beneficiary(&person, None)]).await;
    app.graphql(
        Some(&patient_token(&person)),
        "mutation { opposeProfileCreation { status } }",
        json!({}),
    )
    .await
    .ok();
    app.advance(Duration::days(60));
    assert!(app.sweep().await.is_empty());
    assert_eq!(app.status(&person).await, "OPPOSED");
}

async fn withdrawing_an_opposition_creates_the_profile(app: TestApp) {
    let person = ins(18);
    app.enrol(vec![beneficiary(&person, Some("jeanne@example.org"))])
        .await;
    app.graphql(
        Some(&patient_token(&person)),
        "mutation { opposeProfileCreation { status } }",
        json!({}),
    )
    .await
    .ok();
    app.advance(Duration::days(100));
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { withdrawOpposition { status createdAt } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.ok()["withdrawOpposition"]["status"], "CREATED");
    let code = app.activation_code(&person).await;
    assert_eq!(
        app.activate(&person, &code).await.ok()["activateProfile"]["status"],
        "ACTIVATED"
    );
    let kinds: Vec<String> = app
        .history(&person)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds,
        [
            "BENEFICIARY_ENROLLED",
            "OPPOSITION_RECORDED",
            "OPPOSITION_WITHDRAWN",
            "PROFILE_CREATED",
            "PROFILE_ACTIVATED"
        ]
    );
}

async fn withdrawing_without_an_opposition_is_an_invalid_transition(app: TestApp) {
    let person = ins(19);
    app.enrol(vec![beneficiary(&person, None)]).await;
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { withdrawOpposition { status } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "INVALID_TRANSITION");
    assert_eq!(answer.error()["extensions"]["status"], "ANNOUNCED");
}

async fn activation_with_code_and_carte_vitale_records_the_personal_email(app: TestApp) {
    let person = ins(20);
    let code = app.created_profile(&person, None).await;
    let answer = app.activate(&person, &code.to_lowercase()).await;
    assert_eq!(answer.ok()["activateProfile"]["status"], "ACTIVATED");
    assert_eq!(
        answer.ok()["activateProfile"]["personalEmail"],
        "perso@example.org"
    );
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("PROFILE_ACTIVATED".into(), "PATIENT".into())
    );
}

async fn wrong_activation_code_is_refused_and_traced(app: TestApp) {
    let person = ins(21);
    app.created_profile(&person, None).await;
    let answer = app.activate(&person, "AAAA-BBBB-CCCC").await;
    assert_eq!(answer.code(), "INVALID_ACTIVATION");
    assert_eq!(answer.error()["extensions"]["remainingAttempts"], 4);
    assert_eq!(app.status(&person).await, "CREATED");
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("ACTIVATION_FAILED".into(), "PATIENT".into())
    );
}

async fn wrong_carte_vitale_serial_is_refused(app: TestApp) {
    let person = ins(22);
    let code = app.created_profile(&person, None).await;
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation($code: String!) { activateProfile(activationCode: $code, carteVitaleSerial: \"CV9999999999\", personalEmail: \"p@example.org\") { status } }",
            json!({ "code": code }),
        )
        .await;
    assert_eq!(answer.code(), "INVALID_ACTIVATION");
    assert_eq!(app.status(&person).await, "CREATED");
}

async fn malformed_activation_input_is_bad_user_input_traced_but_not_counted(app: TestApp) {
    let person = ins(23);
    let code = app.created_profile(&person, None).await;
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation($code: String!, $serial: String!) { activateProfile(activationCode: $code, carteVitaleSerial: $serial, personalEmail: \"nope\") { status } }",
            json!({ "code": code, "serial": serial_of(&person) }),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert_eq!(answer.error()["extensions"]["field"], "personalEmail");
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("ACTIVATION_FAILED".into(), "PATIENT".into()),
        "every attempt is in the ledger"
    );
    let wrong = app.activate(&person, "AAAA-BBBB-CCCC").await;
    assert_eq!(
        wrong.error()["extensions"]["remainingAttempts"],
        4,
        "a typo does not count towards the lock-out"
    );
}

async fn five_wrong_attempts_lock_activation_for_fifteen_minutes(app: TestApp) {
    let person = ins(24);
    let code = app.created_profile(&person, None).await;
    for remaining in (1..5).rev() {
        let answer = app.activate(&person, "AAAA-BBBB-CCCC").await;
        assert_eq!(answer.error()["extensions"]["remainingAttempts"], remaining);
    }
    let fifth = app.activate(&person, "AAAA-BBBB-CCCC").await;
    assert_eq!(fifth.code(), "ACTIVATION_LOCKED");

    app.advance(Duration::minutes(14));
    let during_lock = app.activate(&person, &code).await;
    assert_eq!(
        during_lock.code(),
        "ACTIVATION_LOCKED",
        "even the right code waits for the lock"
    );

    app.advance(Duration::minutes(1));
    assert_eq!(
        app.activate(&person, &code).await.ok()["activateProfile"]["status"],
        "ACTIVATED"
    );

    let kinds: Vec<String> = app
        .history(&person)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| *k == "ACTIVATION_FAILED").count(),
        5
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| *k == "ACTIVATION_REFUSED_LOCKED")
            .count(),
        1
    );
    assert_eq!(kinds.last().unwrap(), "PROFILE_ACTIVATED");
}

async fn activation_code_is_single_use(app: TestApp) {
    let person = ins(25);
    let code = app.created_profile(&person, None).await;
    app.activate(&person, &code).await.ok();
    let again = app.activate(&person, &code).await;
    assert_eq!(again.code(), "INVALID_TRANSITION");
    assert_eq!(again.error()["extensions"]["status"], "ACTIVATED");
}

async fn activation_before_creation_is_an_invalid_transition(app: TestApp) {
    let person = ins(26);
    app.enrol(vec![beneficiary(&person, None)]).await;
    let answer = app.activate(&person, "AAAA-BBBB-CCCC").await;
    assert_eq!(answer.code(), "INVALID_TRANSITION");
    assert_eq!(answer.error()["extensions"]["status"], "ANNOUNCED");
    assert_eq!(
        app.history(&person).await,
        vec![
            ("BENEFICIARY_ENROLLED".into(), "OPERATOR".into()),
            ("ACTIVATION_FAILED".into(), "PATIENT".into())
        ],
        "the attempt is in the ledger"
    );
}

async fn patient_closes_an_activated_profile(app: TestApp) {
    let person = ins(27);
    let code = app.created_profile(&person, None).await;
    app.activate(&person, &code).await.ok();
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { closeProfile { status closedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.ok()["closeProfile"]["status"], "CLOSED");
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("PROFILE_CLOSED".into(), "PATIENT".into())
    );
}

async fn patient_closes_a_created_profile_and_cannot_activate_it_then(app: TestApp) {
    let person = ins(28);
    let code = app.created_profile(&person, None).await;
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { closeProfile { status } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.ok()["closeProfile"]["status"], "CLOSED");
    let activation = app.activate(&person, &code).await;
    assert_eq!(activation.code(), "INVALID_TRANSITION");
    assert_eq!(activation.error()["extensions"]["status"], "CLOSED");
}

async fn closing_an_announced_or_opposed_profile_is_an_invalid_transition(app: TestApp) {
    let person = ins(29);
    app.enrol(vec![beneficiary(&person, None)]).await;
    let close = "mutation { closeProfile { status } }";
    let announced = app
        .graphql(Some(&patient_token(&person)), close, json!({}))
        .await;
    assert_eq!(announced.code(), "INVALID_TRANSITION");
    app.graphql(
        Some(&patient_token(&person)),
        "mutation { opposeProfileCreation { status } }",
        json!({}),
    )
    .await
    .ok();
    let opposed = app
        .graphql(Some(&patient_token(&person)), close, json!({}))
        .await;
    assert_eq!(opposed.code(), "INVALID_TRANSITION");
    assert_eq!(opposed.error()["extensions"]["status"], "OPPOSED");
}

async fn closing_twice_is_an_invalid_transition(app: TestApp) {
    let person = ins(30);
    app.created_profile(&person, None).await;
    let close = "mutation { closeProfile { status } }";
    app.graphql(Some(&patient_token(&person)), close, json!({}))
        .await
        .ok();
    let again = app
        .graphql(Some(&patient_token(&person)), close, json!({}))
        .await;
    assert_eq!(again.code(), "INVALID_TRANSITION");
}

async fn unknown_patient_profile_is_not_found(app: TestApp) {
    let answer = app
        .graphql(Some(&patient_token(&ins(31))), PROFILE, json!({}))
        .await;
    assert_eq!(answer.code(), "NOT_FOUND");
    let oppose = app
        .graphql(
            Some(&patient_token(&ins(31))),
            "mutation { opposeProfileCreation { status } }",
            json!({}),
        )
        .await;
    assert_eq!(oppose.code(), "NOT_FOUND");
}

async fn operator_looks_a_beneficiary_up_by_ins(app: TestApp) {
    let person = ins(32);
    app.enrol(vec![beneficiary(&person, Some("j@example.org"))])
        .await;
    let answer = app
        .graphql(
            Some(&operator_token()),
            "query($ins: INS!) { beneficiary(ins: $ins) { ins status birthName firstNames birthDate addressLines hasInsurerEmail } }",
            json!({ "ins": person }),
        )
        .await;
    let profile = &answer.ok()["beneficiary"];
    assert_eq!(profile["ins"], person);
    assert_eq!(profile["birthDate"], "1980-04-12");
    assert_eq!(
        profile["addressLines"],
        json!(["12 rue des Lilas", "75011 PARIS"])
    );
    assert_eq!(profile["hasInsurerEmail"], true);
}

async fn operator_lists_the_outbox_page_by_page(app: TestApp) {
    let rows: Vec<_> = (40..45).map(|n| beneficiary(&ins(n), None)).collect();
    app.enrol(rows).await;
    let query = "query($after: String) { outbox(first: 2, after: $after, status: PENDING) { edges { cursor node { kind channel subject patientIns } } pageInfo { hasNextPage } } }";
    let mut seen = Vec::new();
    let mut after = None::<String>;
    loop {
        let page = app
            .graphql(Some(&operator_token()), query, json!({ "after": after }))
            .await;
        let outbox = &page.ok()["outbox"];
        for edge in outbox["edges"].as_array().unwrap() {
            assert_eq!(edge["node"]["kind"], "ANNOUNCEMENT");
            seen.push(edge["node"]["patientIns"].as_str().unwrap().to_owned());
            after = Some(edge["cursor"].as_str().unwrap().to_owned());
        }
        if !outbox["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(seen, (40..45).map(ins).collect::<Vec<_>>());
}

async fn notices_carry_no_medical_content(app: TestApp) {
    let person = ins(46);
    app.created_profile(&person, Some("j@example.org")).await;
    let bodies = app
        .query_rows("SELECT subject, body FROM notifications")
        .await;
    assert_eq!(bodies.len(), 2);
    for row in bodies {
        let text = row.join("\n").to_lowercase();
        assert!(text.contains("aucune donnée médicale"));
        for medical in ["diagnostic", "ordonnance", "compte rendu", "résultat"] {
            assert!(!text.contains(medical), "{medical} in a notice");
        }
    }
}

async fn activity_history_is_newest_first_paginated_and_filterable(app: TestApp) {
    let person = ins(47);
    let code = app.created_profile(&person, None).await;
    app.activate(&person, "AAAA-BBBB-CCCC").await;
    app.activate(&person, &code).await.ok();
    let token = patient_token(&person);
    let page = |after: Option<String>| {
        let token = token.clone();
        let app = &app;
        async move {
            app.graphql(
                Some(&token),
                "query($after: String) { me { activityHistory(first: 2, after: $after) { edges { cursor node { sequence label } } pageInfo { hasNextPage } } } }",
                json!({ "after": after }),
            )
            .await
        }
    };
    let first = page(None).await;
    let history = &first.ok()["me"]["activityHistory"];
    assert_eq!(history["edges"][0]["node"]["sequence"], 4);
    assert_eq!(history["edges"][1]["node"]["sequence"], 3);
    assert_eq!(history["edges"][0]["node"]["label"], "Activation du profil");
    assert_eq!(history["pageInfo"]["hasNextPage"], true);
    let cursor = history["edges"][1]["cursor"].as_str().unwrap().to_owned();
    let second = page(Some(cursor)).await;
    let rest = &second.ok()["me"]["activityHistory"];
    assert_eq!(rest["edges"][0]["node"]["sequence"], 2);
    assert_eq!(rest["edges"][1]["node"]["sequence"], 1);
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);

    let by_patient = app
        .graphql(
            Some(&token),
            "{ me { activityHistory(actorRoles: [PATIENT]) { edges { node { kind } } } } }",
            json!({}),
        )
        .await;
    let kinds: Vec<&str> = by_patient.ok()["me"]["activityHistory"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["PROFILE_ACTIVATED", "ACTIVATION_FAILED"]);
    let by_kind = app
        .graphql(Some(&token), "{ me { activityHistory(kinds: [PROFILE_CREATED]) { edges { node { actor { role name } } } } } }", json!({}))
        .await;
    assert_eq!(
        by_kind.ok()["me"]["activityHistory"]["edges"][0]["node"]["actor"]["role"],
        "SYSTEM"
    );

    let bad_page = app
        .graphql(
            Some(&token),
            "{ me { activityHistory(first: 0) { edges { cursor } } } }",
            json!({}),
        )
        .await;
    assert_eq!(bad_page.code(), "BAD_USER_INPUT");
    let bad_cursor = app
        .graphql(
            Some(&token),
            "{ me { activityHistory(after: \"abc\") { edges { cursor } } } }",
            json!({}),
        )
        .await;
    assert_eq!(bad_cursor.code(), "BAD_USER_INPUT");
}

on_both_databases!(
    enrolment_announces_the_profile_with_an_opposition_deadline,
    enrolment_notice_goes_to_the_insurer_email,
    enrolment_without_insurer_email_queues_a_postal_notice,
    re_enrolling_a_known_ins_is_idempotent,
    malformed_row_is_reported_with_its_index_and_nothing_is_applied,
    malformed_address_email_and_birth_date_are_refused,
    patient_opposes_during_the_window,
    operator_records_an_opposition_received_by_phone,
    opposition_after_the_window_is_refused,
    opposing_a_created_profile_is_refused,
    opposing_twice_is_an_invalid_transition,
    sweep_creates_profiles_at_the_deadline_with_a_creation_notice,
    activation_code_is_stored_only_as_a_hash,
    opposed_profile_is_not_created_by_the_sweep,
    withdrawing_an_opposition_creates_the_profile,
    withdrawing_without_an_opposition_is_an_invalid_transition,
    activation_with_code_and_carte_vitale_records_the_personal_email,
    wrong_activation_code_is_refused_and_traced,
    wrong_carte_vitale_serial_is_refused,
    malformed_activation_input_is_bad_user_input_traced_but_not_counted,
    five_wrong_attempts_lock_activation_for_fifteen_minutes,
    activation_code_is_single_use,
    activation_before_creation_is_an_invalid_transition,
    patient_closes_an_activated_profile,
    patient_closes_a_created_profile_and_cannot_activate_it_then,
    closing_an_announced_or_opposed_profile_is_an_invalid_transition,
    closing_twice_is_an_invalid_transition,
    unknown_patient_profile_is_not_found,
    operator_looks_a_beneficiary_up_by_ins,
    operator_lists_the_outbox_page_by_page,
    notices_carry_no_medical_content,
    activity_history_is_newest_first_paginated_and_filterable,
);
