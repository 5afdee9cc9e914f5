//! What one request may cost, enforced before any resolver runs; JSON content types only; a
//! rate per caller; introspection and suggestions closed to anonymous callers. Each refusal of a
//! query that would have touched a patient's record proves that nothing ran by the patient's
//! ledger: a practitioner's consultation is an event, so an unchanged event count is no
//! consultation at all.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, DOCTOR, TestApp, document_input, ins, on_both_databases, operator_token,
    patient_token, practitioner_token,
};

/// One consultation of the record, as a fragment leaf or an aliased field.
const CONSULT: &str = "patientRecord(patientIns: $ins, first: 1) { edges { cursor } }";

/// A patient with a fed document, whose record a practitioner may consult.
async fn consultable(app: &TestApp, n: u32) -> String {
    let person = ins(n);
    app.activated_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input("k-1", "Compte rendu"))
        .await
        .ok();
    person
}

async fn ledger_events(app: &TestApp) -> usize {
    app.count("ledger_events").await
}

/// Fragments that each spread the next one twice, `levels` deep, around `leaf`: about a
/// kilobyte that expands to 2^levels leaves.
fn spread_bomb(levels: usize, operation: &str, leaf: &str) -> String {
    let mut query = format!("{operation} {{ ...F0 }}\n");
    for level in 0..levels {
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{next} ...F{next} }}\n",
            next = level + 1
        ));
    }
    query.push_str(&format!("fragment F{levels} on Query {{ {leaf} }}\n"));
    query
}

#[track_caller]
fn assert_too_complex(answer: &crate::helpers::Gql, limit: &str) {
    assert_eq!(answer.code(), "QUERY_TOO_COMPLEX", "{:#?}", answer.errors);
    assert_eq!(answer.error()["extensions"]["limit"], limit);
    assert_eq!(answer.data, Value::Null, "no field may have run");
}

async fn a_fragment_spread_bomb_is_refused_before_any_resolver(app: TestApp) {
    // The finding: anonymous, a kilobyte, 2^24 fields once expanded.
    let anonymous = spread_bomb(24, "query", "__typename");
    assert!(anonymous.len() < 1200, "{}", anonymous.len());
    let answer = app.graphql(None, &anonymous, json!({})).await;
    assert_too_complex(&answer, "field count");

    // The same bomb around a consultation: nothing reaches the patient's ledger.
    let person = consultable(&app, 700).await;
    let before = ledger_events(&app).await;
    let bomb = spread_bomb(24, "query($ins: INS!)", CONSULT);
    let answer = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            &bomb,
            json!({ "ins": person }),
        )
        .await;
    assert_too_complex(&answer, "field count");
    assert_eq!(ledger_events(&app).await, before);
}

async fn a_long_chain_of_fragments_is_refused_before_validation_recurses_through_it(app: TestApp) {
    // 800 fragments, each spreading the next once: small once expanded, but as deep as the
    // chain for the validation's recursive visitors.
    let mut query = String::from("{ ...F0 }\n");
    for level in 0..800 {
        query.push_str(&format!(
            "fragment F{level} on Query {{ ...F{} }}\n",
            level + 1
        ));
    }
    query.push_str("fragment F800 on Query { __typename }\n");
    let answer = app.graphql(None, &query, json!({})).await;
    assert_too_complex(&answer, "nesting");
}

async fn an_alias_flood_of_traced_fields_is_refused_before_any_resolver(app: TestApp) {
    let person = consultable(&app, 701).await;
    let before = ledger_events(&app).await;
    let aliases: String = (0..50).map(|i| format!("r{i}: {CONSULT} ")).collect();
    let answer = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            &format!("query($ins: INS!) {{ {aliases} }}"),
            json!({ "ins": person }),
        )
        .await;
    assert_too_complex(&answer, "alias count");
    assert_eq!(ledger_events(&app).await, before);

    // 50 re-hashes of the chain: refused the same way, with no data at all.
    let hashes: String = (0..50)
        .map(|i| format!("h{i}: ledgerIntegrity {{ verified }} "))
        .collect();
    let answer = app
        .graphql(
            Some(&patient_token(&person)),
            &format!("{{ me {{ {hashes} }} }}"),
            json!({}),
        )
        .await;
    assert_too_complex(&answer, "alias count");
}

async fn a_request_holds_only_a_few_traced_fields(app: TestApp) {
    let person = consultable(&app, 702).await;
    let doctor = practitioner_token(DOCTOR);
    let consult = |n: usize| {
        let aliases: String = (0..n).map(|i| format!("r{i}: {CONSULT} ")).collect();
        format!("query($ins: INS!) {{ {aliases} }}")
    };
    // Four consultations in one request are a real use (the same list filtered four ways).
    let before = ledger_events(&app).await;
    app.graphql(Some(&doctor), &consult(4), json!({ "ins": person }))
        .await
        .ok();
    let after_four = ledger_events(&app).await;
    assert!(after_four > before, "the four consultations are traced");

    // A fifth is over the cost: within the alias limit, refused by the cost alone.
    let answer = app
        .graphql(Some(&doctor), &consult(5), json!({ "ins": person }))
        .await;
    assert_too_complex(&answer, "cost");
    assert_eq!(ledger_events(&app).await, after_four);

    // Without aliases, through a fragment spread twice: the same count.
    let answer = app
        .graphql(
            Some(&doctor),
            &format!(
                "query($ins: INS!) {{ ...C ...C }} fragment C on Query {{ \
                 a: {CONSULT} b: {CONSULT} c: {CONSULT} }}"
            ),
            json!({ "ins": person }),
        )
        .await;
    assert_too_complex(&answer, "cost");
    assert_eq!(ledger_events(&app).await, after_four);
}

async fn a_ten_megabyte_query_is_refused_before_parsing(backend: Backend) {
    // Documents of 8 MiB let a 10 MB body through the body limit: the query limit refuses it.
    let app = TestApp::spawn_with(backend, |settings| {
        settings.rules.document_max_bytes = 8 * 1024 * 1024;
    })
    .await;
    let person = consultable(&app, 703).await;
    let before = ledger_events(&app).await;
    let padding = " ".repeat(10 * 1024 * 1024);
    let query = format!("query($ins: INS!) {{ {CONSULT} {padding} }}");
    let answer = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            &query,
            json!({ "ins": person }),
        )
        .await;
    assert_too_complex(&answer, "bytes");
    assert_eq!(answer.error()["extensions"]["max"], 32 * 1024);
    assert_eq!(ledger_events(&app).await, before);
}

async fn a_long_list_input_is_bad_user_input(backend: Backend) {
    // 100,000 enum values are 1.8 MB of JSON: documents of 2 MiB let them through the body limit.
    let app = TestApp::spawn_with(backend, |settings| {
        settings.rules.document_max_bytes = 2 * 1024 * 1024;
    })
    .await;
    let person = ins(704);
    app.activated_profile(&person, None).await;
    let history = "query($kinds: [ActionKind!]) { me { activityHistory(first: 10, kinds: $kinds) { edges { cursor } } } }";
    let token = patient_token(&person);

    // The finding: 100,000 enum values in the variables.
    let kinds = vec!["PROFILE_CREATED"; 100_000];
    let answer = app
        .graphql(Some(&token), history, json!({ "kinds": kinds }))
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#?}", answer.errors);
    assert!(
        answer.error()["message"]
            .as_str()
            .unwrap()
            .contains("at most 1000"),
        "{:#?}",
        answer.errors
    );

    // Written in the query: the same.
    let literal = vec!["PROFILE_CREATED"; 1500].join(",");
    let answer = app
        .graphql(
            Some(&token),
            &format!("{{ me {{ activityHistory(kinds: [{literal}]) {{ edges {{ cursor }} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT", "{:#?}", answer.errors);

    // At the limit, the list is answered.
    let kinds = vec!["PROFILE_CREATED"; 1000];
    app.graphql(Some(&token), history, json!({ "kinds": kinds }))
        .await
        .ok();
}

async fn a_body_of_too_many_json_values_is_refused_unparsed(app: TestApp) {
    let zeros = vec![0; 300_000];
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": "{ __typename }", "variables": { "v": zeros } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
}

async fn only_json_posts_are_executed(app: TestApp) {
    let client = reqwest::Client::new();
    let post = |content_type: Option<&'static str>, body: &'static str| {
        let mut request = client.post(format!("{}/graphql", app.address)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let json_body = r#"{"query":"{ __typename }"}"#;
    for (content_type, body) in [
        (Some("text/plain"), json_body),
        (Some("text/plain;charset=UTF-8"), json_body),
        (
            Some("application/x-www-form-urlencoded"),
            "query=%7B+__typename+%7D",
        ),
        (Some("multipart/form-data; boundary=x"), json_body),
        (Some("application/graphql"), "{ __typename }"),
        (None, json_body),
    ] {
        let response = post(content_type, body).await.unwrap();
        assert_eq!(response.status(), 415, "{content_type:?}");
        // Answered before the body was read: the connection closes, and says so.
        assert_eq!(
            response.headers()["connection"],
            "close",
            "{content_type:?}"
        );
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "UNSUPPORTED_MEDIA_TYPE",
            "{content_type:?}"
        );
    }
    for content_type in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/graphql-response+json",
    ] {
        let response = post(Some(content_type), json_body).await.unwrap();
        assert_eq!(response.status(), 200, "{content_type}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["data"]["__typename"], "Query", "{content_type}");
    }
}

async fn a_caller_over_its_rate_gets_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.limits.rate_limit_per_minute = 1;
        settings.limits.rate_limit_burst = 3;
    })
    .await;
    let client = reqwest::Client::new();
    let post = |token: Option<String>| {
        let mut request = client
            .post(format!("{}/graphql", app.address))
            .json(&json!({ "query": "{ __typename }" }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    // Anonymous callers count by address.
    for _ in 0..3 {
        assert_eq!(post(None).await.unwrap().status(), 200);
    }
    let refused = post(None).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(
        refused.headers()["connection"],
        "close",
        "the body was not read"
    );
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "TOO_MANY_REQUESTS");

    // A signed-in caller counts by subject: a burst of its own, from the same address.
    let token = patient_token(&ins(705));
    for _ in 0..3 {
        assert_eq!(post(Some(token.clone())).await.unwrap().status(), 200);
    }
    assert_eq!(post(Some(token)).await.unwrap().status(), 429);
    assert_eq!(
        post(Some(patient_token(&ins(706)))).await.unwrap().status(),
        200
    );
}

const INTROSPECTION: &str = "{ __schema { queryType { name } } }";

async fn introspection_and_suggestions_are_closed_to_anonymous_callers(app: TestApp) {
    let answer = app.graphql(None, INTROSPECTION, json!({})).await;
    assert_eq!(answer.code(), "FORBIDDEN", "{:#?}", answer.errors);
    let answer = app
        .graphql(None, "{ __type(name: \"Query\") { name } }", json!({}))
        .await;
    assert_eq!(answer.code(), "FORBIDDEN", "{:#?}", answer.errors);
    // Through a fragment, the same.
    let answer = app
        .graphql(
            None,
            "{ ...I } fragment I on Query { __schema { queryType { name } } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "FORBIDDEN", "{:#?}", answer.errors);

    let typo = "{ patientRecrd { totalCount } }";
    let anonymous = app.graphql(None, typo, json!({})).await;
    let message = anonymous.error()["message"].as_str().unwrap();
    assert!(message.contains("Unknown field"), "{message}");
    assert!(!message.contains("patientRecord"), "{message}");

    // A signed-in developer (development mode) has both, for GraphiQL.
    let token = practitioner_token(DOCTOR);
    let answer = app.graphql(Some(&token), INTROSPECTION, json!({})).await;
    assert_eq!(answer.ok()["__schema"]["queryType"]["name"], "Query");
    let signed_in = app.graphql(Some(&token), typo, json!({})).await;
    let message = signed_in.error()["message"].as_str().unwrap();
    assert!(
        message.contains("Did you mean \"patientRecord\""),
        "{message}"
    );
}

/// Who runs a read in [`every_read_that_appends_to_a_ledger_is_a_traced_field`].
#[derive(Clone, Copy, Debug)]
enum Reader {
    Representative,
    Practitioner,
    Operator,
}

/// Every field of `Query` and `Me`, each with a request that reads it and who sends it.
const READS: &[(&str, Reader, &str)] = &[
    ("me", Reader::Representative, "{ me { __typename } }"),
    (
        "profile",
        Reader::Representative,
        "{ me { profile { status } } }",
    ),
    (
        "activityHistory",
        Reader::Representative,
        "{ me { activityHistory(first: 1) { edges { cursor } } } }",
    ),
    (
        "ledgerProof",
        Reader::Representative,
        "{ me { ledgerProof { leafIndex } } }",
    ),
    (
        "ledgerExport",
        Reader::Representative,
        "{ me { ledgerExport } }",
    ),
    (
        "ledgerIntegrity",
        Reader::Representative,
        "{ me { ledgerIntegrity { verified } } }",
    ),
    (
        "documents",
        Reader::Representative,
        "{ me { documents { edges { cursor } } } }",
    ),
    (
        "document",
        Reader::Representative,
        "query($doc: ID!) { me { document(id: $doc) { id } } }",
    ),
    (
        "medicalProfile",
        Reader::Representative,
        "{ me { medicalProfile { id } } }",
    ),
    (
        "blockedPractitioners",
        Reader::Representative,
        "{ me { blockedPractitioners { rpps } } }",
    ),
    (
        "threads",
        Reader::Representative,
        "{ me { threads { edges { cursor } } } }",
    ),
    (
        "thread",
        Reader::Representative,
        "query($thread: ID!) { me { thread(id: $thread) { id } } }",
    ),
    (
        "notificationsCursor",
        Reader::Representative,
        "{ me { notificationsCursor } }",
    ),
    (
        "beneficiary",
        Reader::Operator,
        "query($ins: INS!) { beneficiary(ins: $ins) { status } }",
    ),
    (
        "ledgerAudit",
        Reader::Operator,
        "query($ins: INS) { ledgerAudit(ins: $ins) { verified } }",
    ),
    (
        "outbox",
        Reader::Operator,
        "{ outbox { edges { cursor } } }",
    ),
    (
        "emergencyAccesses",
        Reader::Operator,
        "query($from: DateTime!, $to: DateTime!) { emergencyAccesses(from: $from, to: $to) { edges { cursor } } }",
    ),
    (
        "dmpStatus",
        Reader::Practitioner,
        "query($ins: INS!) { dmpStatus(patientIns: $ins) }",
    ),
    (
        "patientRecord",
        Reader::Practitioner,
        "query($ins: INS!) { patientRecord(patientIns: $ins) { edges { cursor } } }",
    ),
    (
        "patientDocument",
        Reader::Practitioner,
        "query($ins: INS!, $doc: ID!) { patientDocument(patientIns: $ins, documentId: $doc) { id } }",
    ),
    (
        "inbox",
        Reader::Practitioner,
        "{ inbox { edges { cursor } } }",
    ),
    (
        "inboxThread",
        Reader::Practitioner,
        "query($thread: ID!) { inboxThread(id: $thread) { id } }",
    ),
    ("inboxCursor", Reader::Practitioner, "{ inboxCursor }"),
];

/// The fields of `type name` in `schema.graphql`.
fn schema_fields(name: &str) -> Vec<String> {
    let schema = include_str!("../../schema.graphql");
    let start = schema
        .find(&format!("\ntype {name} {{"))
        .unwrap_or_else(|| panic!("type {name} in schema.graphql"));
    let body = &schema[start..];
    let body = &body[..body.find("\n}").unwrap()];
    let mut fields = Vec::new();
    let mut depth = 0;
    let mut in_description = false;
    for line in body.lines().skip(2) {
        let text = line.trim();
        if text.starts_with("\"\"\"") {
            in_description = !(in_description || text.len() > 3 && text.ends_with("\"\"\""));
            continue;
        }
        if in_description || text.is_empty() {
            continue;
        }
        if depth == 0 {
            let name: String = text
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            fields.push(name);
        }
        depth += text.matches('(').count();
        depth -= text.matches(')').count();
    }
    fields
}

/// Every read that appends to a patient's ledger is one the query guard counts as a traced
/// field, so that the cost of a request bounds how many events it can write: each field of the
/// schema's reads is run, as the reader it is for, and the events counted. A field added to the
/// schema without a line in [`READS`] fails here too.
async fn every_read_that_appends_to_a_ledger_is_a_traced_field(app: TestApp) {
    use espace_sante::graphql::limits::{SPACE_LISTS, TRACED_FIELDS};

    let mut listed: Vec<String> = READS.iter().map(|(f, ..)| (*f).to_owned()).collect();
    let mut schema = schema_fields("Query");
    schema.extend(schema_fields("Me"));
    listed.sort();
    schema.sort();
    assert_eq!(listed, schema, "READS lists every field of Query and Me");

    let (child, mother) = (ins(1750), ins(1751));
    let code = crate::minors::created_minor(&app, &child, "2015-06-01", &[&mother]).await;
    crate::minors::activate_as(&app, &mother, &child, &code)
        .await
        .ok();
    let fed = app
        .feed(DOCTOR, &child, document_input("k-1", "Compte rendu"))
        .await;
    let doc = fed.ok()["feedDocument"]["id"].clone();
    let sent = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            "mutation($ins: INS!) { sendMessage(patientIns: $ins, input: { subject: \"Bilan\", body: \"Bonjour\", idempotencyKey: \"m-1\" }) { thread { id } } }",
            json!({ "ins": child }),
        )
        .await;
    let thread = sent.ok()["sendMessage"]["thread"]["id"].clone();
    let variables = json!({
        "ins": child, "doc": doc, "thread": thread,
        "from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z",
    });

    let mut uncounted = Vec::new();
    for (field, reader, query) in READS {
        let before = ledger_events(&app).await;
        let answer = match reader {
            Reader::Representative => {
                crate::minors::as_representative(&app, &mother, &child, query, variables.clone())
                    .await
            }
            Reader::Practitioner => {
                app.graphql(Some(&practitioner_token(DOCTOR)), query, variables.clone())
                    .await
            }
            Reader::Operator => {
                app.graphql(Some(&operator_token()), query, variables.clone())
                    .await
            }
        };
        answer.ok();
        let appended = ledger_events(&app).await > before;
        let counted = TRACED_FIELDS.contains(field)
            || matches!(reader, Reader::Representative) && SPACE_LISTS.contains(field);
        if appended && !counted {
            uncounted.push(*field);
        }
    }
    assert!(
        uncounted.is_empty(),
        "these reads append to a ledger but the query guard does not count them: {uncounted:?}"
    );
}

on_both_databases!(
    every_read_that_appends_to_a_ledger_is_a_traced_field,
    a_fragment_spread_bomb_is_refused_before_any_resolver,
    a_long_chain_of_fragments_is_refused_before_validation_recurses_through_it,
    an_alias_flood_of_traced_fields_is_refused_before_any_resolver,
    a_request_holds_only_a_few_traced_fields,
    a_body_of_too_many_json_values_is_refused_unparsed,
    only_json_posts_are_executed,
    introspection_and_suggestions_are_closed_to_anonymous_callers,
);

mod with_settings {
    use crate::helpers::on_both_backends;

    use super::{
        a_caller_over_its_rate_gets_429_with_retry_after, a_long_list_input_is_bad_user_input,
        a_ten_megabyte_query_is_refused_before_parsing,
    };

    on_both_backends!(
        a_long_list_input_is_bad_user_input,
        a_ten_megabyte_query_is_refused_before_parsing,
        a_caller_over_its_rate_gets_429_with_retry_after,
    );
}

/// The fragment-spread bomb, the alias flood and the 10 MB query are refused without one
/// statement reaching the database: the server talks to PostgreSQL through a proxy that counts
/// every byte it sends, and not one is sent while they are refused (a plain query afterwards
/// shows the count does move).
#[tokio::test]
async fn hostile_queries_send_not_one_statement_to_the_database() {
    let proxy = crate::helpers::DatabaseProxy::start("127.0.0.1:5432".to_owned()).await;
    let through = proxy.address.clone();
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.database.database_url = settings
            .database
            .database_url
            .replace("127.0.0.1:5432", &through);
        settings.rules.document_max_bytes = 8 * 1024 * 1024;
    })
    .await;
    let person = consultable(&app, 710).await;
    let doctor = practitioner_token(DOCTOR);
    let variables = json!({ "ins": person });
    let aliases: String = (0..50).map(|i| format!("r{i}: {CONSULT} ")).collect();
    let hostile = [
        (spread_bomb(24, "query($ins: INS!)", CONSULT), "field count"),
        (format!("query($ins: INS!) {{ {aliases} }}"), "alias count"),
        (
            format!(
                "query($ins: INS!) {{ {CONSULT} {} }}",
                " ".repeat(10 * 1024 * 1024)
            ),
            "bytes",
        ),
    ];
    // The feed above wakes the live listener, which re-reads the notified row: let it finish.
    proxy.quiet().await;
    for (query, limit) in hostile {
        let before = proxy.sent();
        let answer = app.graphql(Some(&doctor), &query, variables.clone()).await;
        assert_too_complex(&answer, limit);
        assert_eq!(
            proxy.sent(),
            before,
            "{limit}: the database was asked something"
        );
    }
    let before = proxy.sent();
    let answer = app
        .graphql(
            Some(&doctor),
            &format!("query($ins: INS!) {{ {CONSULT} }}"),
            variables,
        )
        .await;
    assert!(answer.errors.is_empty(), "{:#?}", answer.errors);
    assert!(
        proxy.sent() > before,
        "a consultation goes through the proxy"
    );
}

/// PostgreSQL cancels a statement past `DATABASE_STATEMENT_TIMEOUT_SECS`: a request blocked on
/// a lock fails as unavailable then, long before the request timeout would answer 503.
#[tokio::test]
async fn a_statement_past_the_timeout_is_cancelled_by_postgres() {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.limits.statement_timeout_secs = 1;
        settings.http.request_timeout_secs = 5;
    })
    .await;
    let person = ins(707);
    app.activated_profile(&person, None).await;
    let db = app.db().await;
    let lock = db.begin().await.unwrap();
    lock.execute_unprepared("LOCK TABLE ledger_events IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(patient_token(&person))
        .json(&json!({ "query": "{ me { activityHistory { edges { cursor } } } }" }))
        .send()
        .await
        .unwrap();
    lock.rollback().await.unwrap();
    // PostgreSQL cancelled the statement (SQLSTATE 57014) after 1 s, well before the 5 s
    // request timeout: the database could not answer in time, and the client may retry.
    assert_eq!(answer.status(), 503);
    assert!(answer.headers().contains_key("retry-after"));
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{body}"
    );
}
