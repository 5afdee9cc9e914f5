//! The message rows of SPEC.md's status table: delivery, bounces, activation, replies.

use serde_json::{Value, json};

use crate::helpers::{
    DOCTOR, Gql, NURSE, PDF, TestApp, beneficiary, ins, on_both_databases, operator_token,
    patient_token, practitioner_token,
};

const SEND: &str = "mutation($ins: INS!, $input: MessageInput!) { sendMessage(patientIns: $ins, input: $input) { message { id subject body isBounce sender { role id } attachments { title sha256 } } thread { id delivered unreadCount } } }";
const INBOX: &str = "{ inbox { edges { node { id patientIns delivered unreadCount subject lastMessage { body isBounce sender { role } } } } } }";
const INBOX_THREAD: &str = "query($id: ID!) { inboxThread(id: $id) { id delivered unreadCount messages { subject body isBounce sender { role name } } } }";
const THREADS: &str = "{ me { threads { edges { node { id subject unreadCount practitioner { id name profession } lastMessage { body } } } } } }";
const THREAD: &str = "query($id: ID!) { me { thread(id: $id) { id unreadCount messages { body sender { role } attachments { title contentBase64 } } } } }";
const REPLY: &str = "mutation($id: ID!, $body: String!, $key: String!) { replyToThread(threadId: $id, body: $body, idempotencyKey: $key) { message { body sender { role } } thread { id } } }";

fn message(key: &str) -> Value {
    json!({ "subject": "Résultats de votre bilan", "body": "Votre bilan est normal, à bientôt.", "idempotencyKey": key })
}

async fn send(app: &TestApp, rpps: &str, ins: &str, input: Value) -> Gql {
    app.graphql(
        Some(&practitioner_token(rpps)),
        SEND,
        json!({ "ins": ins, "input": input }),
    )
    .await
}

async fn message_to_an_activated_patient_is_delivered_and_notified_by_email_and_live(app: TestApp) {
    let person = ins(400);
    app.activated_profile(&person, Some("insurer@example.org"))
        .await;
    let sent = send(&app, DOCTOR, &person, message("m-1")).await;
    assert_eq!(sent.ok()["sendMessage"]["thread"]["delivered"], true);
    assert_eq!(sent.ok()["sendMessage"]["message"]["isBounce"], false);
    let notices = app.notices(&person).await;
    assert_eq!(
        notices[notices.len() - 2..],
        [
            (
                "NEW_MESSAGE".to_owned(),
                "EMAIL".to_owned(),
                "perso@example.org".to_owned()
            ),
            ("NEW_MESSAGE".to_owned(), "LIVE".to_owned(), String::new()),
        ]
    );
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("MESSAGE_RECEIVED".into(), "PRACTITIONER".into())
    );
    let threads = app
        .graphql(Some(&patient_token(&person)), THREADS, json!({}))
        .await;
    let thread = &threads.ok()["me"]["threads"]["edges"][0]["node"];
    assert_eq!(thread["unreadCount"], 1);
    assert_eq!(thread["practitioner"]["profession"], "Médecin généraliste");
    assert_eq!(
        thread["lastMessage"]["body"],
        "Votre bilan est normal, à bientôt."
    );
}

async fn message_to_a_created_patient_is_notified_at_the_insurer_email_or_by_post(app: TestApp) {
    let (with_email, without) = (ins(401), ins(402));
    app.created_profile(&with_email, Some("insurer@example.org"))
        .await;
    app.created_profile(&without, None).await;
    for person in [&with_email, &without] {
        assert_eq!(
            send(&app, DOCTOR, person, message(&format!("m-{person}")))
                .await
                .ok()["sendMessage"]["thread"]["delivered"],
            true
        );
    }
    assert_eq!(
        app.notices(&with_email).await.last().unwrap(),
        &(
            "NEW_MESSAGE".into(),
            "EMAIL".into(),
            "insurer@example.org".into()
        )
    );
    assert_eq!(
        app.notices(&without).await.last().unwrap(),
        &("NEW_MESSAGE".into(), "POSTAL".into(), String::new())
    );
}

async fn created_patient_must_activate_to_read_messages(app: TestApp) {
    let person = ins(403);
    let code = app.created_profile(&person, None).await;
    let thread_id = send(&app, DOCTOR, &person, message("m-1")).await.ok()["sendMessage"]["thread"]
        ["id"]
        .clone();
    let threads = app
        .graphql(Some(&patient_token(&person)), THREADS, json!({}))
        .await;
    assert_eq!(threads.code(), "ACTIVATION_REQUIRED");
    assert!(
        threads.error()["message"]
            .as_str()
            .unwrap()
            .contains("activateProfile")
    );
    let thread = app
        .graphql(
            Some(&patient_token(&person)),
            THREAD,
            json!({ "id": thread_id }),
        )
        .await;
    assert_eq!(thread.code(), "ACTIVATION_REQUIRED");

    app.activate(&person, &code).await.ok();
    let thread = app
        .graphql(
            Some(&patient_token(&person)),
            THREAD,
            json!({ "id": thread_id }),
        )
        .await;
    assert_eq!(
        thread.ok()["me"]["thread"]["messages"][0]["body"],
        "Votre bilan est normal, à bientôt.",
        "kept for after activation"
    );
}

async fn message_without_a_profile_bounces_into_the_practitioners_inbox(app: TestApp) {
    let (opposed, announced, closed, unknown) = (ins(404), ins(405), ins(406), ins(407));
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
        beneficiary(&announced, None),
    ])
    .await;
    app.graphql(
        Some(&operator_token()),
        "mutation($ins: INS!) { recordOpposition(ins: $ins, receivedVia: PHONE) { status } }",
        json!({ "ins": opposed }),
    )
    .await
    .ok();
    let (events, notices) = (
        app.count("ledger_events").await,
        app.count("notifications").await,
    );

    let mut bounces = Vec::new();
    for person in [&opposed, &announced, &closed, &unknown] {
        let sent = send(&app, DOCTOR, person, message(&format!("m-{person}"))).await;
        let sent = &sent.ok()["sendMessage"];
        assert_eq!(
            sent["thread"]["delivered"], false,
            "the send succeeds, undelivered"
        );
        let thread = app
            .graphql(
                Some(&practitioner_token(DOCTOR)),
                INBOX_THREAD,
                json!({ "id": sent["thread"]["id"] }),
            )
            .await;
        let messages = thread.ok()["inboxThread"]["messages"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["sender"]["role"], "PRACTITIONER");
        assert_eq!(messages[1]["isBounce"], true);
        assert_eq!(messages[1]["sender"]["role"], "SYSTEM");
        assert!(
            messages[1]["body"]
                .as_str()
                .unwrap()
                .contains("n'a pas de profil Mon espace santé")
        );
        bounces.push(messages[1].clone());
    }
    assert!(
        bounces.windows(2).all(|w| w[0] == w[1]),
        "an opposition looks like an unknown INS: {bounces:#?}"
    );
    assert_eq!(
        app.count("ledger_events").await,
        events,
        "nothing in any patient's ledger"
    );
    assert_eq!(
        app.count("notifications").await,
        notices,
        "the patient is not notified"
    );
    // Should the opposed person later get a profile, the bounced message is not in their mailbox.
    app.graphql(
        Some(&patient_token(&opposed)),
        "mutation { withdrawOpposition { status } }",
        json!({}),
    )
    .await
    .ok();
    let code = app.activation_code(&opposed).await;
    app.activate(&opposed, &code).await.ok();
    let threads = app
        .graphql(Some(&patient_token(&opposed)), THREADS, json!({}))
        .await;
    assert_eq!(threads.ok()["me"]["threads"]["edges"], json!([]));
}

async fn bounce_is_unread_in_the_inbox(app: TestApp) {
    send(&app, DOCTOR, &ins(408), message("m-1")).await.ok();
    let inbox = app
        .graphql(Some(&practitioner_token(DOCTOR)), INBOX, json!({}))
        .await;
    let thread = &inbox.ok()["inbox"]["edges"][0]["node"];
    assert_eq!(thread["unreadCount"], 1);
    assert_eq!(thread["lastMessage"]["isBounce"], true);
    let read = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            INBOX_THREAD,
            json!({ "id": thread["id"] }),
        )
        .await;
    assert_eq!(
        read.ok()["inboxThread"]["unreadCount"],
        0,
        "reading marks it read"
    );
}

async fn patient_reads_a_thread_which_marks_it_read_and_is_traced(app: TestApp) {
    let person = ins(409);
    app.activated_profile(&person, None).await;
    let id = send(&app, DOCTOR, &person, message("m-1")).await.ok()["sendMessage"]["thread"]["id"]
        .clone();
    let read = app
        .graphql(Some(&patient_token(&person)), THREAD, json!({ "id": id }))
        .await;
    assert_eq!(read.ok()["me"]["thread"]["unreadCount"], 0);
    let threads = app
        .graphql(Some(&patient_token(&person)), THREADS, json!({}))
        .await;
    assert_eq!(
        threads.ok()["me"]["threads"]["edges"][0]["node"]["unreadCount"],
        0
    );
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("THREAD_READ".into(), "PATIENT".into())
    );
}

async fn patient_replies_within_a_thread_and_the_reply_reaches_the_inbox_unread_first(
    app: TestApp,
) {
    let (person, other) = (ins(410), ins(411));
    app.activated_profile(&person, None).await;
    app.activated_profile(&other, None).await;
    let id = send(&app, DOCTOR, &person, message("m-1")).await.ok()["sendMessage"]["thread"]["id"]
        .clone();
    send(&app, DOCTOR, &other, message("m-2")).await.ok();
    let reply = app
        .graphql(
            Some(&patient_token(&person)),
            REPLY,
            json!({ "id": id, "body": "Merci docteur !", "key": "r-1" }),
        )
        .await;
    assert_eq!(
        reply.ok()["replyToThread"]["message"]["sender"]["role"],
        "PATIENT"
    );
    assert_eq!(
        reply.ok()["replyToThread"]["thread"]["id"],
        id,
        "in the same thread"
    );
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("MESSAGE_REPLIED".into(), "PATIENT".into())
    );

    let inbox = app
        .graphql(Some(&practitioner_token(DOCTOR)), INBOX, json!({}))
        .await;
    let edges = inbox.ok()["inbox"]["edges"].as_array().unwrap().clone();
    assert_eq!(edges.len(), 2);
    assert_eq!(
        edges[0]["node"]["id"], id,
        "the thread with a reply comes first"
    );
    assert_eq!(edges[0]["node"]["unreadCount"], 1);
    assert_eq!(edges[0]["node"]["lastMessage"]["sender"]["role"], "PATIENT");
    assert_eq!(
        edges[0]["node"]["lastMessage"]["body"],
        Value::Null,
        "a patient's text comes with the traced reading of the thread"
    );
    assert_eq!(edges[1]["node"]["unreadCount"], 0);

    let again = app
        .graphql(
            Some(&patient_token(&person)),
            REPLY,
            json!({ "id": id, "body": "Merci docteur !", "key": "r-1" }),
        )
        .await;
    assert!(again.errors.is_empty());
    assert_eq!(
        app.count("messages").await,
        3,
        "a retried reply is sent once"
    );
}

async fn patient_replies_only_within_their_own_threads(app: TestApp) {
    let (person, other) = (ins(412), ins(413));
    app.activated_profile(&person, None).await;
    app.activated_profile(&other, None).await;
    let theirs =
        send(&app, DOCTOR, &other, message("m-1")).await.ok()["sendMessage"]["thread"]["id"]
            .clone();
    let bounced = send(&app, DOCTOR, &ins(414), message("m-2")).await.ok()["sendMessage"]["thread"]
        ["id"]
        .clone();
    for id in [theirs, bounced, json!("999999"), json!("abc")] {
        let reply = app
            .graphql(
                Some(&patient_token(&person)),
                REPLY,
                json!({ "id": id, "body": "Bonjour", "key": format!("r-{id}") }),
            )
            .await;
        assert_eq!(reply.code(), "NOT_FOUND", "{id}");
    }
    let start = app
        .graphql(
            Some(&patient_token(&person)),
            SEND,
            json!({ "ins": other, "input": message("m-3") }),
        )
        .await;
    assert_eq!(
        start.code(),
        "FORBIDDEN",
        "a patient cannot start a conversation"
    );
}

async fn nobody_reads_another_partys_thread(app: TestApp) {
    let (person, other) = (ins(415), ins(416));
    app.activated_profile(&person, None).await;
    app.activated_profile(&other, None).await;
    let id = send(&app, DOCTOR, &person, message("m-1")).await.ok()["sendMessage"]["thread"]["id"]
        .clone();
    let by_other_practitioner = app
        .graphql(
            Some(&practitioner_token(NURSE)),
            INBOX_THREAD,
            json!({ "id": id }),
        )
        .await;
    assert_eq!(by_other_practitioner.code(), "NOT_FOUND");
    let by_other_patient = app
        .graphql(Some(&patient_token(&other)), THREAD, json!({ "id": id }))
        .await;
    assert_eq!(by_other_patient.code(), "NOT_FOUND");
    let nurse_inbox = app
        .graphql(Some(&practitioner_token(NURSE)), INBOX, json!({}))
        .await;
    assert_eq!(nurse_inbox.ok()["inbox"]["edges"], json!([]));
}

async fn message_notifications_never_carry_the_subject_or_the_body(app: TestApp) {
    let person = ins(417);
    app.activated_profile(&person, None).await;
    let input = json!({ "subject": "Dépistage positif", "body": "Votre test de grossesse est positif.", "idempotencyKey": "m-1" });
    send(&app, DOCTOR, &person, input).await.ok();
    let texts = app.query_rows(&format!("SELECT subject, body FROM notifications WHERE patient_ins = '{person}' AND kind = 'NEW_MESSAGE'")).await;
    assert_eq!(texts.len(), 2);
    for text in texts.iter().map(|r| r.join("\n")) {
        for secret in ["Dépistage", "positif", "grossesse"] {
            assert!(!text.contains(secret), "{secret} in a notice: {text}");
        }
    }
}

async fn same_idempotency_key_sends_once_and_another_payload_conflicts(app: TestApp) {
    let person = ins(418);
    app.activated_profile(&person, None).await;
    let first = send(&app, DOCTOR, &person, message("m-1")).await;
    let again = send(&app, DOCTOR, &person, message("m-1")).await;
    assert_eq!(
        first.ok()["sendMessage"]["message"]["id"],
        again.ok()["sendMessage"]["message"]["id"]
    );
    assert_eq!(app.count("messages").await, 1);
    assert_eq!(
        app.notices(&person)
            .await
            .iter()
            .filter(|(k, _, _)| k == "NEW_MESSAGE")
            .count(),
        2,
        "email and live, once"
    );
    let mut changed = message("m-1");
    changed["body"] = json!("Autre chose");
    assert_eq!(
        send(&app, DOCTOR, &person, changed).await.code(),
        "CONFLICT"
    );

    // Bounced sends are idempotent too: one bounce.
    send(&app, DOCTOR, &ins(419), message("m-2")).await.ok();
    send(&app, DOCTOR, &ins(419), message("m-2")).await.ok();
    assert_eq!(app.count("messages").await, 3);
}

async fn second_message_continues_the_conversation(app: TestApp) {
    let person = ins(420);
    app.activated_profile(&person, None).await;
    let first =
        send(&app, DOCTOR, &person, message("m-1")).await.ok()["sendMessage"]["thread"]["id"]
            .clone();
    let second = send(&app, DOCTOR, &person, message("m-2")).await;
    assert_eq!(second.ok()["sendMessage"]["thread"]["id"], first);
    assert_eq!(
        second.ok()["sendMessage"]["thread"]["unreadCount"],
        0,
        "the sender has read its own messages"
    );
    let threads = app
        .graphql(Some(&patient_token(&person)), THREADS, json!({}))
        .await;
    assert_eq!(
        threads.ok()["me"]["threads"]["edges"][0]["node"]["unreadCount"],
        2
    );
}

async fn attachments_travel_with_the_message_within_the_size_limit(app: TestApp) {
    use base64::Engine;
    let person = ins(421);
    app.activated_profile(&person, None).await;
    let pdf = base64::engine::general_purpose::STANDARD.encode(PDF);
    let mut input = message("m-1");
    input["attachments"] =
        json!([{ "title": "Ordonnance", "mimeType": "application/pdf", "contentBase64": pdf }]);
    let id = send(&app, DOCTOR, &person, input).await.ok()["sendMessage"]["thread"]["id"].clone();
    let read = app
        .graphql(Some(&patient_token(&person)), THREAD, json!({ "id": id }))
        .await;
    let attachment = &read.ok()["me"]["thread"]["messages"][0]["attachments"][0];
    assert_eq!(attachment["title"], "Ordonnance");
    assert_eq!(attachment["contentBase64"], pdf);

    // Two attachments of 40 KiB each exceed the test limit of 64 KiB together.
    let big = base64::engine::general_purpose::STANDARD.encode(vec![b'a'; 40 * 1024]);
    let mut too_big = message("m-2");
    too_big["attachments"] = json!([
        { "title": "a", "mimeType": "text/plain", "contentBase64": big },
        { "title": "b", "mimeType": "text/plain", "contentBase64": big },
    ]);
    assert_eq!(
        send(&app, DOCTOR, &person, too_big).await.code(),
        "PAYLOAD_TOO_LARGE"
    );
    let mut wrong_type = message("m-3");
    wrong_type["attachments"] =
        json!([{ "title": "x", "mimeType": "application/pdf", "contentBase64": big }]);
    let answer = send(&app, DOCTOR, &person, wrong_type).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert_eq!(answer.error()["extensions"]["field"], "attachments");
}

async fn malformed_messages_are_bad_user_input(app: TestApp) {
    let person = ins(422);
    app.activated_profile(&person, None).await;
    for (field, value) in [
        ("subject", json!("")),
        ("body", json!("   ")),
        ("body", json!("x".repeat(20_001))),
        ("idempotencyKey", json!("")),
    ] {
        let mut input = message("m-1");
        input[field] = value;
        let answer = send(&app, DOCTOR, &person, input).await;
        assert_eq!(answer.code(), "BAD_USER_INPUT", "{field}");
        assert_eq!(answer.error()["extensions"]["field"], field);
    }
    assert_eq!(app.count("messages").await, 0);
    let bad_ins = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            SEND,
            json!({ "ins": "123", "input": message("m-1") }),
        )
        .await;
    assert_eq!(bad_ins.code(), "BAD_USER_INPUT");
}

async fn practitioner_reading_a_conversation_is_in_the_patients_history(app: TestApp) {
    let person = ins(423);
    app.activated_profile(&person, None).await;
    let id = send(&app, DOCTOR, &person, message("m-1")).await.ok()["sendMessage"]["thread"]["id"]
        .clone();
    app.graphql(
        Some(&practitioner_token(DOCTOR)),
        INBOX_THREAD,
        json!({ "id": id }),
    )
    .await
    .ok();
    assert_eq!(
        app.history(&person).await.last().unwrap(),
        &("THREAD_READ".into(), "PRACTITIONER".into())
    );
}

on_both_databases!(
    practitioner_reading_a_conversation_is_in_the_patients_history,
    message_to_an_activated_patient_is_delivered_and_notified_by_email_and_live,
    message_to_a_created_patient_is_notified_at_the_insurer_email_or_by_post,
    created_patient_must_activate_to_read_messages,
    message_without_a_profile_bounces_into_the_practitioners_inbox,
    bounce_is_unread_in_the_inbox,
    patient_reads_a_thread_which_marks_it_read_and_is_traced,
    patient_replies_within_a_thread_and_the_reply_reaches_the_inbox_unread_first,
    patient_replies_only_within_their_own_threads,
    nobody_reads_another_partys_thread,
    message_notifications_never_carry_the_subject_or_the_body,
    same_idempotency_key_sends_once_and_another_payload_conflicts,
    second_message_continues_the_conversation,
    attachments_travel_with_the_message_within_the_size_limit,
    malformed_messages_are_bad_user_input,
);
