//! The content store: document and attachment bytes live there under their SHA-256 (equal
//! contents once), download streamed by `GET /…/content` under GraphQL's rules and trace, and
//! move there from the database with `espace-sante content migrate`. On a local folder here;
//! `s3_*` runs the same against a real S3 server (moto, started by `.ci/run`).

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    Backend, DOCTOR, PDF, TestApp, document_input, ins, on_both_databases, patient_token,
    practitioner_token, run_binary,
};

const SEND: &str = "mutation($ins: INS!, $input: MessageInput!) { sendMessage(patientIns: $ins, input: $input) { message { attachments { id contentUrl sha256 } } thread { id } } }";

/// An activated patient with one document fed by DOCTOR; its id and `contentUrl`.
async fn fed_document(app: &TestApp, n: u32) -> (String, String, String) {
    let person = ins(n);
    app.activated_profile(&person, Some("p@example.org")).await;
    let fed = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input) { id contentUrl } }",
            json!({ "ins": person, "input": document_input(&format!("k-{n}"), "Compte rendu") }),
        )
        .await;
    let document = &fed.ok()["feedDocument"];
    (
        person,
        document["id"].as_str().unwrap().to_owned(),
        document["contentUrl"].as_str().unwrap().to_owned(),
    )
}

async fn download(app: &TestApp, path: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", app.address));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn consultations(app: &TestApp, person: &str) -> Vec<String> {
    app.history(person)
        .await
        .into_iter()
        .filter(|(kind, _)| kind == "DOCUMENT_CONSULTED")
        .map(|(_, role)| role)
        .collect()
}

async fn a_document_downloads_streamed_with_its_headers_and_its_reading_traced(app: TestApp) {
    let (person, id, url) = fed_document(&app, 700).await;
    assert_eq!(url, format!("/documents/{id}/content?patientIns={person}"));
    let sha = format!("{:x}", Sha256::digest(PDF));

    let response = download(&app, &url, Some(&patient_token(&person))).await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("content-type").as_deref(), Some("application/pdf"));
    assert_eq!(header("content-length"), Some(PDF.len().to_string()));
    assert_eq!(header("etag"), Some(format!("\"{sha}\"")));
    assert_eq!(
        header("cache-control").as_deref(),
        Some("private, no-store")
    );
    assert!(
        header("content-disposition")
            .unwrap()
            .starts_with("attachment;")
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), PDF);
    assert_eq!(consultations(&app, &person).await, vec!["PATIENT"]);

    // The practitioner, by the document's id alone: the consultation's rules and trace.
    let response = download(&app, &url, Some(&practitioner_token(DOCTOR))).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), PDF);
    assert_eq!(
        consultations(&app, &person).await,
        vec!["PATIENT", "PRACTITIONER"]
    );
}

async fn a_download_is_refused_as_patient_document_refuses(app: TestApp) {
    let (person, _, url) = fed_document(&app, 701).await;
    let other = ins(702);
    app.activated_profile(&other, None).await;
    // Another patient's document, a missing one, a malformed id: the same NOT_FOUND.
    let (_, id, _) = fed_document(&app, 713).await;
    let elsewhere = format!("/documents/{id}/content?patientIns={person}");
    let missing = format!("/documents/999999/content?patientIns={person}");
    for (path, token) in [
        (url.as_str(), patient_token(&other)),
        (missing.as_str(), patient_token(&person)),
        ("/documents/nope/content", patient_token(&person)),
        (missing.as_str(), practitioner_token(DOCTOR)),
        // A document of another record than the one named: not there.
        (elsewhere.as_str(), practitioner_token(DOCTOR)),
    ] {
        let response = download(&app, path, Some(&token)).await;
        assert_eq!(response.status(), 404, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{body}"
        );
    }
    let anonymous = download(&app, &url, None).await;
    assert_eq!(anonymous.status(), 401);
    // A practitioner names the record, as patientDocument takes it: no download by id alone.
    let unnamed = url.split('?').next().unwrap();
    let response = download(&app, unnamed, Some(&practitioner_token(DOCTOR))).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{body}"
    );
    // Nothing was read, nothing is traced.
    assert!(consultations(&app, &person).await.is_empty());
}

async fn an_attachment_downloads_for_the_patient_and_the_practitioner_of_its_thread(app: TestApp) {
    let person = ins(703);
    app.activated_profile(&person, Some("p@example.org")).await;
    let file = b"Ordonnance: repos".to_vec();
    let sent = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            SEND,
            json!({ "ins": person, "input": {
                "subject": "Ordonnance", "body": "Ci-joint", "idempotencyKey": "m-703",
                "attachments": [{ "title": "Ordonnance", "mimeType": "text/plain",
                    "contentBase64": base64::engine::general_purpose::STANDARD.encode(&file) }],
            } }),
        )
        .await;
    let attachment = &sent.ok()["sendMessage"]["message"]["attachments"][0];
    let url = attachment["contentUrl"].as_str().unwrap();
    for token in [patient_token(&person), practitioner_token(DOCTOR)] {
        let response = download(&app, url, Some(&token)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/plain"
        );
        assert_eq!(response.bytes().await.unwrap().as_ref(), file.as_slice());
    }
    let stranger = ins(704);
    app.activated_profile(&stranger, None).await;
    let refused = download(&app, url, Some(&patient_token(&stranger))).await;
    assert_eq!(refused.status(), 404);
    // Reading it through GraphQL reads the same bytes from the store.
    let thread = sent.ok()["sendMessage"]["thread"]["id"].clone();
    let read = app
        .graphql(
            Some(&patient_token(&person)),
            "query($id: ID!) { me { thread(id: $id) { messages { attachments { contentBase64 } } } } }",
            json!({ "id": thread }),
        )
        .await;
    let encoded = read.ok()["me"]["thread"]["messages"][0]["attachments"][0]["contentBase64"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
        file
    );
}

async fn equal_contents_are_stored_once(app: TestApp) {
    fed_document(&app, 705).await;
    fed_document(&app, 706).await;
    assert_eq!(
        app.stored_contents(),
        vec![format!("{:x}", Sha256::digest(PDF))]
    );
    // Nothing of the bytes is in the database.
    assert_eq!(app.count("document_contents").await, 0);
}

/// Inserts `bytes` as a content kept in the database before the store, for document `id`.
async fn legacy_content(app: &TestApp, person: &str, id: &str, bytes: &[u8]) {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let blob = match app.backend {
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
        Backend::Sqlite => format!("X'{hex}'"),
    };
    use sea_orm::ConnectionTrait;
    app.db()
        .await
        .execute_unprepared(&format!(
            "INSERT INTO document_contents (document_id, patient_ins, content) \
             VALUES ({id}, '{person}', {blob})"
        ))
        .await
        .unwrap();
}

async fn content_migrate_moves_the_database_contents_checked_and_is_resumable(app: TestApp) {
    let (person, id, url) = fed_document(&app, 707).await;
    let (other, tampered, _) = fed_document(&app, 708).await;
    // As an older server left them: the bytes in the database, none in the store.
    let sha = format!("{:x}", Sha256::digest(PDF));
    std::fs::remove_dir_all(app.content_dir.path().join("sha256")).unwrap();
    legacy_content(&app, &person, &id, PDF).await;
    legacy_content(&app, &other, &tampered, b"not the recorded bytes").await;

    let migrate = |url: &str| {
        run_binary(
            &[
                "content",
                "migrate",
                "--content-store-url",
                app.content_dir.path().to_str().unwrap(),
            ],
            Some(url),
        )
    };
    let (ok, out) = migrate(&app.database_url);
    assert!(
        !ok,
        "a content that does not match its digest fails the run: {out}"
    );
    assert!(out.contains("1 document(s)"), "{out}");
    assert!(out.contains(&format!("document {tampered}")), "{out}");
    assert_eq!(app.stored_contents(), vec![sha.clone()]);
    // The moved row is gone; the mismatched one stays for an operator to look at.
    let left = app
        .query_rows("SELECT document_id FROM document_contents")
        .await;
    assert_eq!(left, vec![vec![tampered.clone()]]);
    // Idempotent: again, nothing more moves.
    let (_, again) = migrate(&app.database_url);
    assert!(again.contains("0 document(s)"), "{again}");
    // And the document reads from the store.
    let response = download(&app, &url, Some(&patient_token(&person))).await;
    assert_eq!(response.bytes().await.unwrap().as_ref(), PDF);
}

/// A multipart request (the GraphQL multipart request specification) from DOCTOR: the
/// operations, then `files` (file name, MIME type, bytes), the `n`th at `variables.{paths[n]}`;
/// `preflight` adds the header that admits it.
async fn multipart(
    app: &TestApp,
    operations: &Value,
    files: &[(&str, &str, &[u8], &str)],
    preflight: bool,
) -> reqwest::Response {
    let boundary = "espace-sante-test-boundary";
    let mut body = Vec::new();
    let mut part = |headers: &str, bytes: &[u8]| {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    };
    part(
        "Content-Disposition: form-data; name=\"operations\"",
        operations.to_string().as_bytes(),
    );
    let map: serde_json::Map<String, Value> = files
        .iter()
        .enumerate()
        .map(|(n, (_, _, _, path))| (n.to_string(), json!([format!("variables.{path}")])))
        .collect();
    part(
        "Content-Disposition: form-data; name=\"map\"",
        Value::Object(map).to_string().as_bytes(),
    );
    for (n, (name, mime, bytes, _)) in files.iter().enumerate() {
        part(
            &format!(
                "Content-Disposition: form-data; name=\"{n}\"; filename=\"{name}\"\r\nContent-Type: {mime}"
            ),
            bytes,
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut request = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(practitioner_token(DOCTOR))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body);
    if preflight {
        request = request.header("apollo-require-preflight", "true");
    }
    request.send().await.unwrap()
}

/// A multipart request feeding `content` as the document's file.
async fn upload(
    app: &TestApp,
    person: &str,
    key: &str,
    content: &[u8],
    preflight: bool,
) -> reqwest::Response {
    let mut input = document_input(key, "Scanner");
    input["contentBase64"] = Value::Null;
    input["content"] = Value::Null;
    let operations = json!({
        "query": "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input) { id sha256 sizeBytes contentUrl } }",
        "variables": { "ins": person, "input": input },
    });
    multipart(
        app,
        &operations,
        &[("scanner.pdf", "application/pdf", content, "input.content")],
        preflight,
    )
    .await
}

async fn a_document_uploads_as_a_multipart_file_into_the_store(app: TestApp) {
    let person = ins(710);
    app.activated_profile(&person, Some("p@example.org")).await;
    let mut content = PDF.to_vec();
    content.resize(40 * 1024, b'.');
    let sha = format!("{:x}", Sha256::digest(&content));

    let response = upload(&app, &person, "k-710", &content, true).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let fed = &body["data"]["feedDocument"];
    assert_eq!(fed["sha256"], sha.as_str(), "{body}");
    assert_eq!(fed["sizeBytes"], content.len());
    assert_eq!(app.stored_contents(), vec![sha.clone()]);
    let read = download(
        &app,
        fed["contentUrl"].as_str().unwrap(),
        Some(&patient_token(&person)),
    )
    .await;
    assert_eq!(read.bytes().await.unwrap().as_ref(), content.as_slice());
    // The same upload again, under the same key: the first document, nothing stored twice.
    let again: Value = upload(&app, &person, "k-710", &content, true)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["data"]["feedDocument"]["id"], fed["id"]);
    assert_eq!(app.count("documents").await, 1);
    // A file at the limit (64 KiB in the tests) is taken, the operations beside it too.
    let mut at_limit = PDF.to_vec();
    at_limit.resize(64 * 1024, b'.');
    let response = upload(&app, &person, "k-710-limit", &at_limit, true).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["data"]["feedDocument"]["sizeBytes"],
        64 * 1024,
        "{body}"
    );
}

async fn an_upload_is_refused_without_preflight_over_the_limit_or_of_another_format(app: TestApp) {
    let person = ins(711);
    app.activated_profile(&person, Some("p@example.org")).await;
    let code = |body: &Value| body["errors"][0]["extensions"]["code"].clone();

    // Anonymous: refused before a file reaches the disk.
    let anonymous = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .header("content-type", "multipart/form-data; boundary=x")
        .header("apollo-require-preflight", "true")
        .body("--x--\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // A form post a browser could send cross-site: refused before the body is read.
    let response = upload(&app, &person, "k-1", PDF, false).await;
    assert_eq!(response.status(), 415);
    assert_eq!(
        code(&response.json().await.unwrap()),
        "UNSUPPORTED_MEDIA_TYPE"
    );

    // Over the document limit (64 KiB in the tests), stopped while streaming.
    let mut large = PDF.to_vec();
    large.resize(100 * 1024, b'.');
    let response = upload(&app, &person, "k-2", &large, true).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "PAYLOAD_TOO_LARGE");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("a file is larger"),
        "{body}"
    );

    // Not the declared format.
    let body: Value = upload(&app, &person, "k-3", b"plain text", true)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");

    // Nothing was stored.
    assert!(app.stored_contents().is_empty());
    assert_eq!(app.count("documents").await, 0);
}

async fn attachments_upload_as_multipart_files_beside_base64_ones(app: TestApp) {
    let person = ins(713);
    app.activated_profile(&person, Some("p@example.org")).await;
    let mut scan = PDF.to_vec();
    scan.resize(40 * 1024, b'.');
    let note = b"Ordonnance: repos".to_vec();
    let operations = json!({
        "query": SEND,
        "variables": { "ins": person, "input": {
            "subject": "Examens", "body": "Ci-joint", "idempotencyKey": "m-713",
            "attachments": [
                { "title": "Scanner", "mimeType": "application/pdf", "content": null },
                { "title": "Ordonnance", "mimeType": "text/plain",
                  "contentBase64": base64::engine::general_purpose::STANDARD.encode(&note) },
            ],
        } },
    });
    let files = [(
        "scanner.pdf",
        "application/pdf",
        scan.as_slice(),
        "input.attachments.0.content",
    )];
    let body: Value = multipart(&app, &operations, &files, true)
        .await
        .json()
        .await
        .unwrap();
    let attachments = body["data"]["sendMessage"]["message"]["attachments"]
        .as_array()
        .unwrap_or_else(|| panic!("{body}"))
        .clone();
    assert_eq!(attachments.len(), 2);
    let sha = format!("{:x}", Sha256::digest(&scan));
    assert_eq!(attachments[0]["sha256"], sha.as_str());
    let mut stored = app.stored_contents();
    stored.sort();
    let mut expected = vec![sha, format!("{:x}", Sha256::digest(&note))];
    expected.sort();
    assert_eq!(stored, expected);
    for (attachment, bytes) in attachments.iter().zip([&scan, &note]) {
        let url = attachment["contentUrl"].as_str().unwrap();
        let read = download(&app, url, Some(&patient_token(&person))).await;
        assert_eq!(read.bytes().await.unwrap().as_ref(), bytes.as_slice());
    }
    // A retry of the same request, file and all: the first message, nothing stored twice.
    let again: Value = multipart(&app, &operations, &files, true)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        again["data"]["sendMessage"]["message"]["attachments"][0]["id"],
        attachments[0]["id"]
    );
    assert_eq!(app.count("message_attachments").await, 2);
    // Two files within the limit (64 KiB in the tests) each, over it together: the message's
    // attachments share one limit, and nothing is sent.
    let mut operations = operations.clone();
    operations["variables"]["input"]["idempotencyKey"] = json!("m-713-large");
    operations["variables"]["input"]["attachments"][1] =
        json!({ "title": "Scanner 2", "mimeType": "application/pdf", "content": null });
    let refused: Value = multipart(
        &app,
        &operations,
        &[
            (
                "scan.pdf",
                "application/pdf",
                &scan,
                "input.attachments.0.content",
            ),
            (
                "scan2.pdf",
                "application/pdf",
                &scan,
                "input.attachments.1.content",
            ),
        ],
        true,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE",
        "{refused}"
    );
    assert_eq!(app.count("message_attachments").await, 2);
}

async fn an_attachment_gives_its_content_once(app: TestApp) {
    let person = ins(714);
    app.activated_profile(&person, Some("p@example.org")).await;
    let answer = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            SEND,
            json!({ "ins": person, "input": {
                "subject": "Examens", "body": "Ci-joint", "idempotencyKey": "m-714",
                "attachments": [{ "title": "Scanner", "mimeType": "application/pdf" }],
            } }),
        )
        .await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
    assert_eq!(app.count("messages").await, 0);
}

async fn a_document_input_gives_its_content_once(app: TestApp) {
    let person = ins(712);
    app.activated_profile(&person, Some("p@example.org")).await;
    let mut neither = document_input("k-712", "Compte rendu");
    neither["contentBase64"] = Value::Null;
    let answer = app.feed(DOCTOR, &person, neither).await;
    assert_eq!(answer.code(), "BAD_USER_INPUT");
}

on_both_databases!(
    a_document_downloads_streamed_with_its_headers_and_its_reading_traced,
    a_download_is_refused_as_patient_document_refuses,
    an_attachment_downloads_for_the_patient_and_the_practitioner_of_its_thread,
    equal_contents_are_stored_once,
    content_migrate_moves_the_database_contents_checked_and_is_resumable,
    a_document_uploads_as_a_multipart_file_into_the_store,
    an_upload_is_refused_without_preflight_over_the_limit_or_of_another_format,
    a_document_input_gives_its_content_once,
    attachments_upload_as_multipart_files_beside_base64_ones,
    an_attachment_gives_its_content_once,
);
