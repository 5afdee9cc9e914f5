//! The content store on a real S3 server: moto's, which `.ci/run` installs from PyPI and
//! starts on `127.0.0.1:9000` (or set `TEST_S3_URL`), with the credentials it exports
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`: requests are signed as in production). Each
//! test has a bucket of its own. Feed, read, download, export and
//! purge, on both databases; and a store that fails in the middle of an upload.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine;
use chrono::Duration;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{
    Backend, DOCTOR, FEED, PDF, TestApp, document_input, ins, on_both_backends, operator_token,
    patient_token, practitioner_token,
};

fn s3_endpoint() -> String {
    std::env::var("TEST_S3_URL").unwrap_or_else(|_| "http://127.0.0.1:9000".to_owned())
}

/// A new bucket on the test S3 server, and the CONTENT_STORE_URL naming it through `endpoint`.
async fn bucket(endpoint: &str) -> (String, String) {
    let name = format!("espace-sante-{:016x}", rand::random::<u64>());
    let created = reqwest::Client::new()
        .put(format!("{}/{name}", s3_endpoint()))
        .send()
        .await
        .expect("an S3 server must answer on TEST_S3_URL (see README: .ci/run starts moto)");
    assert!(created.status().is_success(), "{}", created.status());
    assert!(
        std::env::var_os("AWS_ACCESS_KEY_ID").is_some()
            && std::env::var_os("AWS_SECRET_ACCESS_KEY").is_some(),
        "the S3 tests sign their requests: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
         (any value for moto; .ci/run exports them)"
    );
    let url = format!("s3://{name}?endpoint={endpoint}&region=eu-west-3");
    (name, url)
}

/// The keys of a bucket's objects (moto answers unsigned listings).
async fn objects(bucket: &str) -> Vec<String> {
    let listing = reqwest::get(format!("{}/{bucket}?list-type=2", s3_endpoint()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    listing
        .split("<Key>")
        .skip(1)
        .filter_map(|rest| rest.split("</Key>").next())
        .map(str::to_owned)
        .collect()
}

async fn on_s3(backend: Backend, endpoint: &str) -> (TestApp, String) {
    let (name, url) = bucket(endpoint).await;
    let app = TestApp::spawn_with(backend, |settings| {
        settings.database.content_store_url = url;
        settings.rules.retention_years = 1;
    })
    .await;
    (app, name)
}

async fn feed_read_download_export_and_purge_go_through_s3(backend: Backend) {
    let (app, bucket) = on_s3(backend, &s3_endpoint()).await;
    let person = ins(720);
    app.activated_profile(&person, Some("p@example.org")).await;
    let fed = app
        .feed(DOCTOR, &person, document_input("k-720", "Compte rendu"))
        .await;
    let id = fed.ok()["feedDocument"]["id"].as_str().unwrap().to_owned();
    let sha = format!("{:x}", Sha256::digest(PDF));
    assert_eq!(
        objects(&bucket).await,
        vec![format!("sha256/{}/{sha}", &sha[..2])]
    );
    assert!(
        app.stored_contents().is_empty(),
        "nothing on the local disk"
    );

    // Read in GraphQL and downloaded, from the bucket.
    let read = app
        .graphql(
            Some(&patient_token(&person)),
            "query($id: ID!) { me { document(id: $id) { contentBase64 } } }",
            json!({ "id": id }),
        )
        .await;
    let encoded = read.ok()["me"]["document"]["contentBase64"]
        .as_str()
        .unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
        PDF
    );
    let downloaded = reqwest::Client::new()
        .get(format!(
            "{}/documents/{id}/content?patientIns={person}",
            app.address
        ))
        .bearer_auth(practitioner_token(DOCTOR))
        .send()
        .await
        .unwrap();
    assert_eq!(downloaded.status(), 200);
    assert_eq!(downloaded.bytes().await.unwrap().as_ref(), PDF);

    // The export holds the bytes.
    let export = reqwest::Client::new()
        .get(format!("{}/me/export", app.address))
        .bearer_auth(patient_token(&person))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let zip = export.bytes().await.unwrap();
    assert!(
        zip.windows(PDF.len()).any(|w| w == PDF),
        "the document's bytes are in the archive"
    );

    // Closed, then purged at the end of its retention: the object goes.
    app.graphql(
        Some(&patient_token(&person)),
        "mutation { closeProfile { status } }",
        json!({}),
    )
    .await
    .ok();
    app.advance(Duration::days(367));
    let purged = app
        .graphql(
            Some(&operator_token()),
            "mutation { runPurgeSweep { purged } }",
            json!({}),
        )
        .await;
    assert_eq!(purged.ok()["runPurgeSweep"]["purged"], json!([person]));
    assert!(objects(&bucket).await.is_empty());
    // The ledger still verifies deeply, through the same store.
    let audit = app
        .graphql(
            Some(&operator_token()),
            "query($ins: INS) { ledgerAudit(ins: $ins) { verified } }",
            json!({ "ins": person }),
        )
        .await;
    assert_eq!(audit.ok()["ledgerAudit"]["verified"], true);
}

/// A TCP proxy to the S3 server that, while `cutting`, closes each connection once it has
/// forwarded `cut_after` bytes of the request: the store stops in the middle of an upload.
struct CuttingProxy {
    address: String,
    cut_after: Arc<AtomicUsize>,
}

impl CuttingProxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let cut_after = Arc::new(AtomicUsize::new(usize::MAX));
        let limit = cut_after.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let target = target.clone();
                let limit = limit.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut client_read, mut client_write) = client.into_split();
                    let (mut server_read, mut server_write) = server.into_split();
                    let upstream = async {
                        let mut sent = 0;
                        let mut buffer = vec![0; 4096];
                        loop {
                            let Ok(read) = client_read.read(&mut buffer).await else {
                                return;
                            };
                            if read == 0 {
                                return;
                            }
                            let allowed = limit.load(Ordering::SeqCst).saturating_sub(sent);
                            let forward = read.min(allowed);
                            if server_write.write_all(&buffer[..forward]).await.is_err() {
                                return;
                            }
                            sent += forward;
                            if forward < read {
                                return; // cut: both halves drop
                            }
                        }
                    };
                    let downstream = tokio::io::copy(&mut server_read, &mut client_write);
                    tokio::select! {
                        () = upstream => {}
                        _ = downstream => {}
                    }
                });
            }
        });
        Self { address, cut_after }
    }

    fn cut_uploads_after(&self, bytes: usize) {
        self.cut_after.store(bytes, Ordering::SeqCst);
    }

    fn restore(&self) {
        self.cut_after.store(usize::MAX, Ordering::SeqCst);
    }
}

async fn a_store_that_stops_mid_upload_fails_the_feed_cleanly_and_a_retry_succeeds(
    backend: Backend,
) {
    let target = s3_endpoint().trim_start_matches("http://").to_owned();
    let proxy = CuttingProxy::start(target).await;
    let (app, bucket) = on_s3(backend, &proxy.address).await;
    let person = ins(721);
    app.activated_profile(&person, Some("p@example.org")).await;
    // 48 KiB (the tests' limit is 64): the upload is cut after its first 8 KiB, every try.
    let mut content = PDF.to_vec();
    content.resize(48 * 1024, b' ');
    let mut input = document_input("k-721", "Scanner");
    input["contentBase64"] = json!(base64::engine::general_purpose::STANDARD.encode(&content));
    proxy.cut_uploads_after(8 * 1024);
    let failed = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(practitioner_token(DOCTOR))
        .json(&json!({ "query": FEED, "variables": { "ins": person, "input": input } }))
        .send()
        .await
        .unwrap();
    // As for a database outage: 503, to retry in a moment.
    assert_eq!(failed.status(), 503);
    assert!(failed.headers().contains_key("retry-after"));
    let body: Value = failed.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{body}"
    );
    // Nothing half-stored: no object, no row, no trace, no notice.
    assert!(objects(&bucket).await.is_empty());
    assert_eq!(app.count("documents").await, 0);
    let history = app.history(&person).await;
    assert!(
        !history.iter().any(|(kind, _)| kind == "DOCUMENT_FED"),
        "{history:?}"
    );

    // The store is back: the same request, with the same idempotency key, succeeds once.
    proxy.restore();
    let fed = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            FEED,
            json!({ "ins": person, "input": input }),
        )
        .await;
    let id: Value = fed.ok()["feedDocument"]["id"].clone();
    let again = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            FEED,
            json!({ "ins": person, "input": input }),
        )
        .await;
    assert_eq!(again.ok()["feedDocument"]["id"], id);
    assert_eq!(objects(&bucket).await.len(), 1);
    assert_eq!(app.count("documents").await, 1);
}

on_both_backends!(
    feed_read_download_export_and_purge_go_through_s3,
    a_store_that_stops_mid_upload_fails_the_feed_cleanly_and_a_retry_succeeds,
);
