//! One pagination for every list: opaque keyset cursors, checked page sizes, and thread lists
//! that neither skip nor repeat a thread when "unread first" reorders them between two pages.

use chrono::Duration;
use espace_sante::domain::Rpps;
use serde_json::{Value, json};

use crate::helpers::{
    DOCTOR, TestApp, document_input, ins, on_both_databases, operator_token, patient_token,
    practitioner_token,
};

const SEND: &str = "mutation($ins: INS!, $key: String!, $body: String!) { sendMessage(patientIns: $ins, input: { subject: \"Suivi\", body: $body, idempotencyKey: $key }) { thread { id } } }";
const INBOX: &str = "query($first: Int, $after: String) { inbox(first: $first, after: $after) { edges { cursor node { id unreadCount lastMessage { body sender { role } } } } pageInfo { hasNextPage hasPreviousPage } } }";
const THREADS: &str = "query($first: Int, $after: String) { me { threads(first: $first, after: $after) { edges { cursor node { id lastMessage { body } } } pageInfo { hasNextPage } } } }";
const READ: &str = "query($id: ID!) { inboxThread(id: $id) { unreadCount } }";
const REPLY: &str = "mutation($id: ID!, $key: String!) { replyToThread(threadId: $id, body: \"Merci\", idempotencyKey: $key) { thread { id } } }";

/// A valid RPPS number, different for each `n`.
fn rpps(n: u32) -> String {
    (0..10)
        .map(|check| format!("1000000{n:03}{check}"))
        .find(|candidate| Rpps::parse(candidate).is_ok())
        .unwrap()
}

/// Sends a message from `from` to `to`; returns the thread's id.
async fn send(app: &TestApp, from: &str, to: &str, key: &str) -> Value {
    let sent = app
        .graphql(
            Some(&practitioner_token(from)),
            SEND,
            json!({ "ins": to, "key": key, "body": format!("message {key}") }),
        )
        .await;
    sent.ok()["sendMessage"]["thread"]["id"].clone()
}

/// The practitioner opens a thread of its inbox, which marks it read.
async fn read(app: &TestApp, thread: &Value) {
    let read = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            READ,
            json!({ "id": thread }),
        )
        .await;
    assert_eq!(read.ok()["inboxThread"]["unreadCount"], 0);
}

/// One page of a connection: its edges, whether more follow, and the cursor to resume after.
struct Page {
    edges: Vec<Value>,
    has_next: bool,
    end: Option<String>,
}

impl Page {
    fn of(connection: &Value) -> Self {
        let edges = connection["edges"].as_array().unwrap().clone();
        let end = edges
            .last()
            .map(|e| e["cursor"].as_str().unwrap().to_owned());
        Self {
            edges,
            has_next: connection["pageInfo"]["hasNextPage"].as_bool().unwrap(),
            end,
        }
    }

    fn ids(&self) -> Vec<Value> {
        self.edges.iter().map(|e| e["node"]["id"].clone()).collect()
    }
}

async fn inbox_page(app: &TestApp, first: i32, after: Option<&str>) -> Page {
    let answer = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            INBOX,
            json!({ "first": first, "after": after }),
        )
        .await;
    Page::of(&answer.ok()["inbox"])
}

/// `n` threads in the doctor's inbox, one a minute, oldest first: messages to INS nobody
/// enrolled, each answered by a bounce (unread).
async fn bounced_threads(app: &TestApp, n: u32) -> Vec<Value> {
    let mut threads = Vec::new();
    for i in 0..n {
        app.advance(Duration::minutes(1));
        threads.push(send(app, DOCTOR, &ins(620 + i), &format!("b-{i}")).await);
    }
    threads
}

async fn every_list_refuses_a_cursor_it_did_not_give_and_a_page_size_out_of_bounds(app: TestApp) {
    let person = ins(600);
    app.activated_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input("d-1", "Compte rendu"))
        .await
        .ok();
    send(&app, DOCTOR, &person, "m-1").await;
    send(&app, DOCTOR, &ins(601), "m-2").await;
    let (patient, doctor, operator) = (
        patient_token(&person),
        practitioner_token(DOCTOR),
        operator_token(),
    );
    let lists: [(&str, &str, Vec<&str>); 6] = [
        (
            &patient,
            "query($first: Int, $after: String) { me { documents(first: $first, after: $after) { edges { cursor } } } }",
            vec!["me", "documents"],
        ),
        (
            &doctor,
            "query($first: Int, $after: String) { patientRecord(patientIns: \"PATIENT\", first: $first, after: $after) { edges { cursor } } }",
            vec!["patientRecord"],
        ),
        (
            &patient,
            "query($first: Int, $after: String) { me { activityHistory(first: $first, after: $after) { edges { cursor } } } }",
            vec!["me", "activityHistory"],
        ),
        (
            &operator,
            "query($first: Int, $after: String) { outbox(first: $first, after: $after) { edges { cursor } } }",
            vec!["outbox"],
        ),
        (
            &doctor,
            "query($first: Int, $after: String) { inbox(first: $first, after: $after) { edges { cursor } } }",
            vec!["inbox"],
        ),
        (
            &patient,
            "query($first: Int, $after: String) { me { threads(first: $first, after: $after) { edges { cursor } } } }",
            vec!["me", "threads"],
        ),
    ];
    let mut cursors = Vec::new();
    for (token, query, path) in &lists {
        let query = query.replace("PATIENT", &person);
        let first = app
            .graphql(Some(token), &query, json!({ "first": 1 }))
            .await;
        let connection = path.iter().fold(first.ok(), |value, key| &value[key]);
        let cursor = connection["edges"][0]["cursor"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(cursor.parse::<i64>().is_err(), "opaque: {cursor}");
        cursors.push(cursor);
    }
    for (i, (token, query, path)) in lists.iter().enumerate() {
        let query = query.replace("PATIENT", &person);
        // Another list's cursor (the two document lists, next to each other, share theirs).
        let foreign = cursors[(i + 2) % cursors.len()].clone();
        for after in ["abc", "42", "", &foreign] {
            let answer = app
                .graphql(Some(token), &query, json!({ "after": after }))
                .await;
            assert_eq!(answer.code(), "BAD_USER_INPUT", "{path:?} after {after:?}");
            assert_eq!(
                answer.error()["message"],
                "`after` is not a cursor this API gave for this list"
            );
            assert_eq!(answer.error()["path"], json!(path));
        }
        for first in [0, 101, -1] {
            let answer = app
                .graphql(Some(token), &query, json!({ "first": first }))
                .await;
            assert_eq!(answer.code(), "BAD_USER_INPUT", "{path:?} first {first}");
            assert_eq!(
                answer.error()["message"],
                "`first` must be between 1 and 100"
            );
        }
    }
}

async fn patient_threads_page_most_recent_first_without_gap_or_repeat(app: TestApp) {
    let person = ins(602);
    app.activated_profile(&person, None).await;
    let doctors: Vec<String> = (0..5).map(rpps).collect();
    let mut threads = Vec::new();
    for (i, doctor) in doctors.iter().enumerate() {
        // Two conversations at the same instant, on two pages: the higher thread id first.
        if i != 4 {
            app.advance(Duration::minutes(1));
        }
        threads.push(send(&app, doctor, &person, &format!("m-{i}")).await);
    }
    // A second message moves the first conversation to the top.
    app.advance(Duration::minutes(1));
    send(&app, &doctors[0], &person, "m-0-bis").await;

    let token = patient_token(&person);
    let (mut listed, mut last_bodies) = (Vec::new(), Vec::new());
    let mut after = None::<String>;
    loop {
        let answer = app
            .graphql(Some(&token), THREADS, json!({ "first": 2, "after": after }))
            .await;
        let page = Page::of(&answer.ok()["me"]["threads"]);
        listed.extend(page.ids());
        last_bodies.extend(
            page.edges
                .iter()
                .map(|e| e["node"]["lastMessage"]["body"].clone()),
        );
        after = page.end;
        if !page.has_next {
            break;
        }
    }
    let expected = [0, 4, 3, 2, 1].map(|i| threads[i].clone());
    assert_eq!(listed, expected);
    assert_eq!(
        last_bodies,
        [
            "message m-0-bis",
            "message m-4",
            "message m-3",
            "message m-2",
            "message m-1"
        ]
        .map(Value::from),
        "each thread with its own last message"
    );
}

async fn inbox_lists_threads_with_unread_messages_first_then_most_recent(app: TestApp) {
    // Oldest: a thread with two bounces (two unread); then two with one; newest: one read.
    let mut threads = Vec::new();
    for (key, to) in [
        ("b-0", 620),
        ("b-0-bis", 620),
        ("b-1", 621),
        ("b-2", 622),
        ("b-3", 623),
    ] {
        app.advance(Duration::minutes(1));
        threads.push(send(&app, DOCTOR, &ins(to), key).await);
    }
    assert_eq!(threads[0], threads[1], "one thread per patient");
    read(&app, &threads[4]).await;

    let mut listed = Vec::new();
    let mut unread = Vec::new();
    let mut after = None::<String>;
    loop {
        let page = inbox_page(&app, 1, after.as_deref()).await;
        listed.extend(page.ids());
        unread.extend(page.edges.iter().map(|e| e["node"]["unreadCount"].clone()));
        after = page.end;
        if !page.has_next {
            break;
        }
    }
    // Unread first, most recent first among them, whatever their number of unread messages.
    assert_eq!(listed, [3, 2, 0, 4].map(|i| threads[i].clone()));
    assert_eq!(unread, [1, 1, 2, 0].map(Value::from));
}

async fn reading_a_thread_while_paging_the_inbox_skips_no_thread(app: TestApp) {
    let threads = bounced_threads(&app, 5).await;
    let first = inbox_page(&app, 2, None).await;
    assert_eq!(first.ids(), [threads[4].clone(), threads[3].clone()]);
    assert!(first.has_next);
    // The practitioner opens the first thread of the page: read, it now sorts after every
    // unread thread. Counting rows (an offset) would now skip threads[2].
    read(&app, &threads[4]).await;

    let mut listed = first.ids();
    let mut after = first.end;
    let mut rest = Vec::new();
    loop {
        let page = inbox_page(&app, 2, after.as_deref()).await;
        assert!(page.edges.len() <= 2);
        listed.extend(page.ids());
        rest.extend(page.edges);
        after = page.end;
        if !page.has_next {
            break;
        }
    }
    assert_eq!(
        listed,
        [4, 3, 2, 1, 0, 4].map(|i| threads[i].clone()),
        "every thread, in order; the one read shows again where it now sorts"
    );
    assert_eq!(rest.last().unwrap()["node"]["unreadCount"], 0);
    assert!(
        rest[..rest.len() - 1]
            .iter()
            .all(|e| e["node"]["unreadCount"] == 1)
    );
}

async fn a_reply_while_paging_the_inbox_repeats_no_thread(app: TestApp) {
    let person = ins(603);
    app.activated_profile(&person, None).await;
    app.advance(Duration::minutes(1));
    let conversation = send(&app, DOCTOR, &person, "m-1").await;
    let bounced = bounced_threads(&app, 4).await;
    for thread in &bounced {
        read(&app, thread).await;
    }
    let first = inbox_page(&app, 2, None).await;
    assert_eq!(first.ids(), [bounced[3].clone(), bounced[2].clone()]);
    assert!(!first.edges[0]["node"]["lastMessage"]["body"].is_null());
    // The patient answers the oldest conversation, not listed yet: unread, it jumps to the top.
    // Counting rows (an offset) would now list bounced[2] twice.
    app.advance(Duration::minutes(1));
    app.graphql(
        Some(&patient_token(&person)),
        REPLY,
        json!({ "id": conversation, "key": "r-1" }),
    )
    .await
    .ok();

    let mut listed = first.ids();
    let mut after = first.end;
    loop {
        let page = inbox_page(&app, 2, after.as_deref()).await;
        assert!(page.edges.len() <= 2);
        listed.extend(page.ids());
        after = page.end;
        if !page.has_next {
            break;
        }
    }
    assert_eq!(
        listed,
        [3, 2, 1, 0].map(|i| bounced[i].clone()),
        "no thread twice, none of those that kept their place missed"
    );
    // The conversation that moved ahead of the cursor heads a fresh first page.
    let fresh = inbox_page(&app, 2, None).await;
    assert_eq!(fresh.ids()[0], conversation);
    assert_eq!(fresh.edges[0]["node"]["unreadCount"], 1);
    // The reply's text is the thread's to give (traced), not the list's.
    assert_eq!(
        fresh.edges[0]["node"]["lastMessage"]["sender"]["role"],
        "PATIENT"
    );
    assert_eq!(fresh.edges[0]["node"]["lastMessage"]["body"], Value::Null);
}

on_both_databases!(
    every_list_refuses_a_cursor_it_did_not_give_and_a_page_size_out_of_bounds,
    patient_threads_page_most_recent_first_without_gap_or_repeat,
    inbox_lists_threads_with_unread_messages_first_then_most_recent,
    reading_a_thread_while_paging_the_inbox_skips_no_thread,
    a_reply_while_paging_the_inbox_repeats_no_thread,
);
