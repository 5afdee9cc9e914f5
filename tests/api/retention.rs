//! The rest of a profile's life: closure keeps everything for the retention period, readable
//! only by the patient's export; reopening restores the status; the purge removes contents and
//! keeps a chain that verifies; the export holds the whole record.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    DOCTOR, PDF, TestApp, document_input, ins, on_both_backends, on_both_databases, operator_token,
    own_content_document_input, patient_token, practitioner_token, readme_hash_exported,
};

const RECORD: &str =
    "query($ins: INS!) { patientRecord(patientIns: $ins, first: 10) { edges { node { id } } } }";
const INTEGRITY: &str = "{ me { ledgerIntegrity { verified eventCount headHash } } }";

/// An activated patient with a document fed by DOCTOR, a medical-profile entry and a message.
async fn patient_with_a_record(app: &TestApp, n: u32) -> String {
    let person = ins(n);
    app.activated_profile(&person, Some("p@example.org")).await;
    app.feed(
        DOCTOR,
        &person,
        own_content_document_input(&format!("doc-{person}"), "Compte rendu", &person),
    )
    .await
    .ok();
    app.graphql(
        Some(&patient_token(&person)),
        "mutation { addMedicalProfileEntry(input: { category: ALLERGY, label: \"Pénicilline\" }) { id } }",
        json!({}),
    )
    .await
    .ok();
    app.graphql(
        Some(&practitioner_token(DOCTOR)),
        "mutation($ins: INS!, $key: String!) { sendMessage(patientIns: $ins, input: { subject: \"Bilan\", body: \"Vos résultats sont bons\", idempotencyKey: $key }) { thread { id } } }",
        json!({ "ins": person, "key": format!("m-{person}") }),
    )
    .await
    .ok();
    person
}

async fn close(app: &TestApp, person: &str) {
    app.graphql(
        Some(&patient_token(person)),
        "mutation { closeProfile { status } }",
        json!({}),
    )
    .await
    .ok();
}

async fn purge_sweep(app: &TestApp) -> Vec<String> {
    let answer = app
        .graphql(
            Some(&operator_token()),
            "mutation { runPurgeSweep { purged } }",
            json!({}),
        )
        .await;
    serde_json::from_value(answer.ok()["runPurgeSweep"]["purged"].clone()).unwrap()
}

/// `GET /me/export` with `token`: the status and the body.
async fn export(app: &TestApp, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut request = reqwest::Client::new().get(format!("{}/me/export", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

fn u16_at(b: &[u8], i: usize) -> usize {
    u16::from_le_bytes([b[i], b[i + 1]]) as usize
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// The files of a zip archive, read from its central directory, each checked against its
/// CRC-32 (stored entries only: what the export writes).
fn unzip(zip: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);
    let end = zip.len() - 22;
    assert_eq!(u32_at(zip, end), 0x0605_4b50, "end of central directory");
    let entries = u16_at(zip, end + 10);
    let mut at = u32_at(zip, end + 16) as usize;
    let mut files = BTreeMap::new();
    for _ in 0..entries {
        assert_eq!(u32_at(zip, at), 0x0201_4b50, "central directory header");
        assert_eq!(u16_at(zip, at + 10), 0, "stored");
        let checksum = u32_at(zip, at + 16);
        let size = u32_at(zip, at + 24) as usize;
        let name_len = u16_at(zip, at + 28);
        let local = u32_at(zip, at + 42) as usize;
        let name = String::from_utf8(zip[at + 46..at + 46 + name_len].to_vec()).unwrap();
        assert_eq!(u32_at(zip, local), 0x0403_4b50, "local header");
        let data_at = local + 30 + u16_at(zip, local + 26) + u16_at(zip, local + 28);
        let data = zip[data_at..data_at + size].to_vec();
        assert_eq!(crc.checksum(&data), checksum, "{name}: CRC-32");
        files.insert(name, data);
        at += 46 + name_len;
    }
    files
}

fn json_of(files: &BTreeMap<String, Vec<u8>>, name: &str) -> Value {
    serde_json::from_slice(&files[name]).unwrap()
}

/// Re-verifies `ledger.json` offline, from the manual's canonical encoding alone: gapless
/// sequence, linked hashes, each hash recomputed. Returns the events.
fn verify_offline(ledger: &Value) -> Vec<Value> {
    let ins = ledger["patient"].as_str().unwrap();
    let events = ledger["events"].as_array().unwrap().clone();
    let mut previous = "0".repeat(64);
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event["sequence"], i as i64 + 1);
        assert_eq!(event["previousHash"], previous.as_str());
        assert_eq!(event["hash"], readme_hash_exported(ins, event).as_str());
        previous = event["hash"].as_str().unwrap().to_owned();
    }
    events
}

async fn closure_blocks_practitioners_and_keeps_data(app: TestApp) {
    let person = patient_with_a_record(&app, 300).await;
    close(&app, &person).await;

    let consult = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            RECORD,
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(consult.code(), "DMP_NOT_FOUND");
    let feed = app
        .feed(DOCTOR, &person, document_input("doc-2", "Après fermeture"))
        .await;
    assert_eq!(feed.code(), "DMP_NOT_FOUND");
    let own = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { documents { edges { cursor } } } }",
            json!({}),
        )
        .await;
    assert_eq!(own.code(), "DMP_NOT_FOUND");
    // Everything is kept.
    assert_eq!(app.stored_contents(), app.document_digests(&person).await);
    assert_eq!(app.count("medical_profile_entries").await, 1);
    let bodies = app.query_rows("SELECT body FROM messages").await;
    assert_eq!(bodies, vec![vec!["Vos résultats sont bons".to_owned()]]);
}

async fn reopening_restores_the_status_before_closure(app: TestApp) {
    let person = patient_with_a_record(&app, 301).await;
    close(&app, &person).await;
    app.advance(Duration::days(365 * 9));
    let reopened = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { reopenProfile { status closedAt } }",
            json!({}),
        )
        .await;
    assert_eq!(reopened.ok()["reopenProfile"]["status"], "ACTIVATED");
    assert_eq!(reopened.ok()["reopenProfile"]["closedAt"], Value::Null);
    let record = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            RECORD,
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(
        record.ok()["patientRecord"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let history = app.history(&person).await;
    assert!(history.contains(&("PROFILE_REOPENED".into(), "PATIENT".into())));
}

async fn operator_reopens_a_created_profile_with_a_new_activation_code(app: TestApp) {
    let person = ins(302);
    let first_code = app.created_profile(&person, Some("p@example.org")).await;
    close(&app, &person).await;
    let reopened = app
        .graphql(
            Some(&operator_token()),
            "mutation($ins: INS!) { reopenBeneficiaryProfile(ins: $ins) { status } }",
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(
        reopened.ok()["reopenBeneficiaryProfile"]["status"],
        "CREATED"
    );
    let code = app.activation_code(&person).await;
    assert_ne!(code, first_code, "a new activation code, sent by notice");
    assert_eq!(
        app.activate(&person, &first_code).await.code(),
        "INVALID_ACTIVATION"
    );
    app.activate(&person, &code).await.ok();
    assert_eq!(app.status(&person).await, "ACTIVATED");
    let history = app.history(&person).await;
    assert!(history.contains(&("PROFILE_REOPENED".into(), "OPERATOR".into())));
}

async fn reopening_after_the_retention_is_refused(app: TestApp) {
    let person = patient_with_a_record(&app, 303).await;
    close(&app, &person).await;
    app.advance(Duration::days(365 * 10 + 3));
    let reopened = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { reopenProfile { status } }",
            json!({}),
        )
        .await;
    assert_eq!(reopened.code(), "INVALID_TRANSITION");
}

async fn purge_removes_contents_and_keeps_a_verifying_chain(app: TestApp) {
    let person = patient_with_a_record(&app, 304).await;
    let other = patient_with_a_record(&app, 305).await;
    close(&app, &person).await;
    app.advance(Duration::days(365 * 10 - 5));
    assert!(
        purge_sweep(&app).await.is_empty(),
        "not before the retention ends"
    );
    let (purged, kept) = (
        app.document_digests(&person).await,
        app.document_digests(&other).await,
    );
    let mut both = [purged.clone(), kept.clone()].concat();
    both.sort();
    assert_eq!(app.stored_contents(), both);
    app.advance(Duration::days(10));
    assert_eq!(purge_sweep(&app).await, vec![person.clone()]);
    assert!(purge_sweep(&app).await.is_empty(), "once");

    // The closed patient's contents are gone from the store; the open patient's are not.
    assert_eq!(app.stored_contents(), kept);
    assert_eq!(app.count("medical_profile_entries").await, 1);
    let bodies = app
        .query_rows(&format!(
            "SELECT m.body FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.patient_ins = '{person}'"
        ))
        .await;
    assert_eq!(bodies, vec![vec![String::new()]]);
    let others = app
        .query_rows(&format!(
            "SELECT m.body FROM messages m JOIN threads t ON t.id = m.thread_id WHERE t.patient_ins = '{other}'"
        ))
        .await;
    assert_eq!(others, vec![vec!["Vos résultats sont bons".to_owned()]]);
    // Nor any readable health metadata: titles and subjects go with the contents.
    let metadata = app
        .query_rows(&format!(
            "SELECT d.title FROM documents d WHERE d.patient_ins = '{person}' \
             UNION ALL SELECT t.subject FROM threads t WHERE t.patient_ins = '{person}' \
             UNION ALL SELECT m.subject FROM messages m JOIN threads t ON t.id = m.thread_id \
             WHERE t.patient_ins = '{person}'"
        ))
        .await;
    assert!(!metadata.is_empty());
    assert!(metadata.iter().all(|row| row[0].is_empty()), "{metadata:?}");
    let kept = app
        .query_rows(&format!(
            "SELECT title FROM documents WHERE patient_ins = '{other}'"
        ))
        .await;
    assert!(kept.iter().all(|row| !row[0].is_empty()));
    // The deep verification still verifies: a purged title is not a rewritten one.
    let audit = app
        .graphql(
            Some(&operator_token()),
            "query($ins: INS) { ledgerAudit(ins: $ins) { verified } }",
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(audit.ok()["ledgerAudit"]["verified"], true);
    // The ledger stays, verifies, and says what happened.
    let history = app.history(&person).await;
    assert_eq!(
        history.last().unwrap(),
        &("PROFILE_PURGED".to_owned(), "SYSTEM".to_owned())
    );
    let integrity = app
        .graphql(Some(&patient_token(&person)), INTEGRITY, json!({}))
        .await;
    assert_eq!(integrity.ok()["me"]["ledgerIntegrity"]["verified"], true);
    // A purged record can no longer be reopened; its export still holds the history.
    let reopened = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { reopenProfile { status } }",
            json!({}),
        )
        .await;
    assert_eq!(reopened.code(), "INVALID_TRANSITION");
    let (status, zip) = export(&app, Some(&patient_token(&person))).await;
    assert_eq!(status, 200);
    let files = unzip(&zip);
    let index = json_of(&files, "index.json");
    assert_eq!(index["documents"][0]["purged"], true);
    assert!(!files.keys().any(|f| f.starts_with("documents/")));
    verify_offline(&json_of(&files, "ledger.json"));
}

async fn purge_sweep_runs_in_the_background_by_the_clock(backend: crate::helpers::Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.purge_sweep_interval_secs = 1;
        settings.rules.retention_years = 1;
    })
    .await;
    let person = patient_with_a_record(&app, 306).await;
    close(&app, &person).await;
    app.advance(Duration::days(367));
    for _ in 0..50 {
        if app.stored_contents().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.stored_contents(), Vec::<String>::new());
    let history = app.history(&person).await;
    assert_eq!(history.last().unwrap().0, "PROFILE_PURGED");
}

async fn export_holds_every_document_byte_identical_and_a_history_that_verifies_offline(
    app: TestApp,
) {
    let person = patient_with_a_record(&app, 307).await;
    let text = b"Mes notes de suivi\n".to_vec();
    use base64::Engine;
    app.graphql(
        Some(&patient_token(&person)),
        "mutation($input: DocumentInput!) { addDocument(input: $input) { id } }",
        json!({ "input": {
            "type": { "system": "http://loinc.org", "code": "60591-5" },
            "title": "Mes notes",
            "mimeType": "text/plain",
            "contentBase64": base64::engine::general_purpose::STANDARD.encode(&text),
            "actDate": "2026-10-30",
            "idempotencyKey": "own-1",
        } }),
    )
    .await
    .ok();

    app.graphql(
        Some(&practitioner_token(DOCTOR)),
        "mutation($ins: INS!) { sendMessage(patientIns: $ins, input: { subject: \"Ordonnance\", body: \"Ci-jointe\", idempotencyKey: \"m-307-2\", attachments: [{ title: \"Ordonnance\", mimeType: \"text/plain\", contentBase64: \"T3Jkb25uYW5jZTogcmVwb3M=\" }] }) { thread { id } } }",
        json!({ "ins": person }),
    )
    .await
    .ok();

    let (status, zip) = export(&app, Some(&patient_token(&person))).await;
    assert_eq!(status, 200);
    let files = unzip(&zip);
    let index = json_of(&files, "index.json");
    assert_eq!(index["format"], "espace-sante/export/v2");
    assert_eq!(index["patient"]["ins"], person.as_str());
    let documents = index["documents"].as_array().unwrap();
    assert_eq!(documents.len(), 2);
    let contents: Vec<&Vec<u8>> = documents
        .iter()
        .map(|d| &files[d["file"].as_str().unwrap()])
        .collect();
    let fed = [PDF, person.as_bytes()].concat();
    assert_eq!(contents, vec![&fed, &text]);
    for d in documents {
        let bytes = &files[d["file"].as_str().unwrap()];
        assert_eq!(d["sha256"], format!("{:x}", Sha256::digest(bytes)).as_str());
    }
    let medical = json_of(&files, "medical-profile.json");
    assert_eq!(medical[0]["label"], "Pénicilline");
    let messages = json_of(&files, "messages.json");
    assert_eq!(
        messages[0]["messages"][0]["body"],
        "Vos résultats sont bons"
    );
    // Attachments are files beside messages.json, which names them.
    let attachment = messages
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["messages"].as_array().unwrap())
        .flat_map(|m| m["attachments"].as_array().unwrap())
        .next()
        .expect("the attachment is listed");
    let file = &files[attachment["file"].as_str().unwrap()];
    assert_eq!(file.as_slice(), b"Ordonnance: repos");
    assert_eq!(
        attachment["sha256"],
        format!("{:x}", Sha256::digest(file)).as_str()
    );

    // The history: the whole chain, the export's own event last, re-verified offline, with
    // the head the server reports.
    let ledger = json_of(&files, "ledger.json");
    assert_eq!(ledger["format"], "espace-sante/ledger-export/v1");
    let events = verify_offline(&ledger);
    assert_eq!(events.last().unwrap()["kind"], "RECORD_EXPORTED");
    assert_eq!(ledger["files"].as_array().unwrap().len(), 2);
    for file in ledger["files"].as_array().unwrap() {
        let seq = file["sequence"].as_i64().unwrap();
        let kind = &events[(seq - 1) as usize]["kind"];
        assert!(kind == "DOCUMENT_FED" || kind == "DOCUMENT_ADDED", "{kind}");
    }
    let integrity = app
        .graphql(Some(&patient_token(&person)), INTEGRITY, json!({}))
        .await;
    assert_eq!(
        integrity.ok()["me"]["ledgerIntegrity"]["headHash"],
        events.last().unwrap()["hash"]
    );
}

async fn closed_patient_downloads_the_export_and_no_one_else_does(app: TestApp) {
    let person = patient_with_a_record(&app, 308).await;
    close(&app, &person).await;
    let (status, zip) = export(&app, Some(&patient_token(&person))).await;
    assert_eq!(status, 200);
    let files = unzip(&zip);
    assert_eq!(json_of(&files, "index.json")["patient"]["status"], "CLOSED");
    assert!(files.contains_key("documents/1-compte-rendu.pdf"));

    let created = ins(309);
    app.created_profile(&created, None).await;
    let (status, body) = export(&app, Some(&patient_token(&created))).await;
    assert_eq!(status, 403);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "ACTIVATION_REQUIRED"
    );
    let (status, body) = export(&app, Some(&practitioner_token(DOCTOR))).await;
    assert_eq!(status, 403);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let (status, _) = export(&app, None).await;
    assert_eq!(status, 401);
    let (status, _) = export(&app, Some(&patient_token(&ins(310)))).await;
    assert_eq!(status, 404);
}

async fn purge_runs_from_the_command_line(app: TestApp) {
    use chrono::TimeZone;
    // The command reads the real clock: the record is closed years before it.
    app.clock
        .set(Utc.with_ymd_and_hms(2019, 3, 4, 9, 0, 0).unwrap());
    let person = ins(311);
    app.activated_profile(&person, None).await;
    close(&app, &person).await;
    let database_url = app.database_url.clone();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_espace-sante"))
            .args(["purge", "--retention-years", "1"])
            .env("DATABASE_URL", database_url)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&run.stdout).trim(),
        "1 profile(s) purged"
    );
    let history = app.history(&person).await;
    assert_eq!(history.last().unwrap().0, "PROFILE_PURGED");
}

on_both_databases!(
    purge_runs_from_the_command_line,
    closure_blocks_practitioners_and_keeps_data,
    reopening_restores_the_status_before_closure,
    operator_reopens_a_created_profile_with_a_new_activation_code,
    reopening_after_the_retention_is_refused,
    purge_removes_contents_and_keeps_a_verifying_chain,
    export_holds_every_document_byte_identical_and_a_history_that_verifies_offline,
    closed_patient_downloads_the_export_and_no_one_else_does,
);

mod background {
    use super::*;
    on_both_backends!(purge_sweep_runs_in_the_background_by_the_clock);
}
