//! The content store's figures (issue 19): the server's memory while it takes a 20 MiB
//! document (multipart, and base64 for contrast) and while it streams exports of 500 MiB
//! records, one then three at once; and feeds of 1 MiB documents against the sum of their
//! parts (the object written to the same folder, plus the three-insert transaction).
//!
//! Memory is the server's resident set, sampled every 2 ms from `/proc` during the operation:
//! its peak less its level just before (idle).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::drive::{Http, Measure, Step, point, step};
use crate::load::Population;
use crate::report::{Figure, Report};
use crate::{BenchError, Server, token};

const MIB: usize = 1024 * 1024;
const FEED: &str = "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input) { id sizeBytes } }";

/// What the content-store part measured.
#[derive(Debug, Default, Clone)]
pub struct ContentsFigure {
    /// Peak over idle while feeding one 20 MiB document as a multipart upload.
    pub upload_20mib: u64,
    /// The same document as base64 in a JSON body.
    pub base64_20mib: u64,
    /// Size of each exported record.
    pub record_bytes: u64,
    /// Peak over idle while one export of a 500 MiB record streams.
    pub one_export: u64,
    /// Peak over idle while three exports of 500 MiB records stream at once.
    pub three_exports: u64,
    /// Bytes each export delivered (all of them must be the whole archive).
    pub exported: Vec<u64>,
}

/// Samples a process's resident memory until stopped; the peak.
struct Sampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak.clone());
        let task = tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if let Some(rss) = rss(pid) {
                    p.fetch_max(rss, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        Self { stop, peak, task }
    }

    async fn peak(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        self.peak.load(Ordering::Relaxed)
    }
}

fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Text content of `bytes`, unique to `tag` (no two documents share an object).
fn text(tag: &str, bytes: usize) -> Vec<u8> {
    let mut text = format!("Compte rendu {tag}. ").into_bytes();
    let filler = b"Examen clinique sans particularite. ";
    while text.len() < bytes {
        text.extend_from_slice(filler);
    }
    text.truncate(bytes);
    text
}

fn input(key: &str, base64: Option<String>) -> Value {
    json!({
        "type": { "system": "http://loinc.org", "code": "11488-4" },
        "title": "Compte rendu",
        "mimeType": "text/plain",
        "contentBase64": base64,
        "content": Value::Null,
        "actDate": "2026-11-27",
        "idempotencyKey": key,
    })
}

/// Feeds `content` to `patient` as a GraphQL multipart request.
async fn upload(
    client: &reqwest::Client,
    api: &str,
    practitioner: &str,
    patient: &str,
    key: &str,
    content: Vec<u8>,
) -> Result<(), BenchError> {
    let operations =
        json!({ "query": FEED, "variables": { "ins": patient, "input": input(key, None) } });
    let boundary = "espace-sante-bench";
    let mut body = Vec::with_capacity(content.len() + 4096);
    for (headers, bytes) in [
        (
            "Content-Disposition: form-data; name=\"operations\"".to_owned(),
            operations.to_string().into_bytes(),
        ),
        (
            "Content-Disposition: form-data; name=\"map\"".to_owned(),
            br#"{"0": ["variables.input.content"]}"#.to_vec(),
        ),
        (
            "Content-Disposition: form-data; name=\"0\"; filename=\"cr.txt\"\r\nContent-Type: text/plain".to_owned(),
            content,
        ),
    ] {
        body.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let answer: Value = client
        .post(format!("{api}/graphql"))
        .bearer_auth(token("PRACTITIONER", practitioner))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .header("apollo-require-preflight", "true")
        .body(body)
        .send()
        .await?
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null))?;
    if answer["errors"].is_array() {
        return Err(format!("upload refused: {answer}").into());
    }
    Ok(())
}

/// Downloads `patient`'s export, counting its bytes without keeping them.
async fn export(client: reqwest::Client, api: String, patient: String) -> Result<u64, BenchError> {
    let response = client
        .get(format!("{api}/me/export"))
        .bearer_auth(token("PATIENT", &patient))
        .send()
        .await?;
    if !response.status().is_success() {
        return Err(format!("export refused: {}", response.status()).into());
    }
    let mut stream = response.bytes_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        total += chunk?.len() as u64;
    }
    Ok(total)
}

/// Settles the server, then its resident memory.
async fn idle(server: &Server) -> u64 {
    tokio::time::sleep(Duration::from_millis(500)).await;
    rss(server.pid).unwrap_or(0)
}

/// The memory figures, on a server of their own (`url`'s database, the population loaded).
pub async fn memory(url: &str, population: &Population) -> Result<ContentsFigure, BenchError> {
    let server = Server::start(url).await?;
    let client = reqwest::Client::new();
    let api = server.api.clone();
    let practitioner = &population.practitioners[0];
    let patients: Vec<String> = population.activated.iter().take(4).cloned().collect();
    let mut figure = ContentsFigure::default();
    // Warm: one small feed of each kind first.
    upload(
        &client,
        &api,
        practitioner,
        &patients[0],
        "warm-1",
        text("warm-1", 1024),
    )
    .await?;

    // A 20 MiB document, as a file, then as base64.
    let document = text("twenty", 20 * MIB);
    let before = idle(&server).await;
    let sampler = Sampler::start(server.pid);
    upload(
        &client,
        &api,
        practitioner,
        &patients[0],
        "twenty-mib",
        document,
    )
    .await?;
    figure.upload_20mib = sampler.peak().await.saturating_sub(before);
    eprintln!(
        "bench: 20 MiB upload: +{:.1} MiB",
        figure.upload_20mib as f64 / MIB as f64
    );

    let document = text("twenty-b64", 20 * MIB);
    let body = json!({ "query": FEED, "variables": { "ins": patients[0], "input": input("twenty-b64", Some(crate::drive::base64_of(&document))) } });
    let before = idle(&server).await;
    let sampler = Sampler::start(server.pid);
    let answer: Value = client
        .post(format!("{api}/graphql"))
        .bearer_auth(token("PRACTITIONER", practitioner))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&body).unwrap_or_default())
        .send()
        .await?
        .bytes()
        .await
        .map(|b| serde_json::from_slice(&b).unwrap_or(Value::Null))?;
    figure.base64_20mib = sampler.peak().await.saturating_sub(before);
    drop(body);
    if answer["errors"].is_array() {
        return Err(format!("base64 feed refused: {answer}").into());
    }
    eprintln!(
        "bench: 20 MiB base64: +{:.1} MiB",
        figure.base64_20mib as f64 / MIB as f64
    );

    // Records of 500 MiB (25 documents of 20 MiB) for three patients.
    for (p, patient) in patients.iter().enumerate().skip(1) {
        for d in 0..25 {
            let tag = format!("record-{p}-{d}");
            upload(
                &client,
                &api,
                practitioner,
                patient,
                &tag,
                text(&tag, 20 * MIB),
            )
            .await?;
        }
    }
    figure.record_bytes = 500 * MIB as u64;
    let before = idle(&server).await;
    let sampler = Sampler::start(server.pid);
    let one = export(client.clone(), api.clone(), patients[1].clone()).await?;
    figure.one_export = sampler.peak().await.saturating_sub(before);
    figure.exported.push(one);
    eprintln!(
        "bench: one 500 MiB export: +{:.1} MiB",
        figure.one_export as f64 / MIB as f64
    );

    let before = idle(&server).await;
    let sampler = Sampler::start(server.pid);
    let exports: Vec<_> = patients[1..4]
        .iter()
        .map(|p| tokio::spawn(export(client.clone(), api.clone(), p.clone())))
        .collect();
    for handle in exports {
        let bytes = handle.await.map_err(|e| e.to_string())??;
        figure.exported.push(bytes);
    }
    figure.three_exports = sampler.peak().await.saturating_sub(before);
    eprintln!(
        "bench: three 500 MiB exports: +{:.1} MiB",
        figure.three_exports as f64 / MIB as f64
    );
    Ok(figure)
}

/// Feeds of 1 MiB documents (base64 in JSON, each its own content) against the sum of their
/// parts: the object written to the store's folder (a temporary file renamed, as the store
/// writes), then the three-insert transaction.
pub async fn feed_1mib(
    report: &mut Report,
    http: &Http,
    pg: &sqlx::PgPool,
    population: &Population,
    measure: &Measure,
) {
    let clients = 8;
    let name = "feedDocument 1 MiB";
    let mut figure = Figure::new(
        name,
        "the object written to the same folder + the three-insert transaction",
    );
    let practitioners = Arc::new(
        population
            .practitioners
            .iter()
            .map(|rpps| token("PRACTITIONER", rpps))
            .collect::<Vec<_>>(),
    );
    let patients = Arc::new(population.activated.clone());
    let keys = Arc::new(AtomicU64::new(0));
    let (h, p, a, k) = (
        http.clone(),
        practitioners.clone(),
        patients.clone(),
        keys.clone(),
    );
    let api: Step = step(move |c, i| {
        let (h, p, a, k) = (h.clone(), p.clone(), a.clone(), k.clone());
        async move {
            let key = k.fetch_add(1, Ordering::Relaxed);
            let tag = format!("bench-mib-{key}");
            let body = crate::drive::base64_of(&text(&tag, MIB));
            h.gql(
                &p[c % p.len()],
                FEED,
                json!({ "ins": a[(c * 7919 + i as usize) % a.len()], "input": input(&tag, Some(body)) }),
            )
            .await
            .map(drop)
        }
    });
    let folder = Arc::new(measure.contents.join("bench-baseline"));
    let (pool, f, k) = (pg.clone(), folder.clone(), keys.clone());
    let base: Step = step(move |c, i| {
        let (pool, f, k) = (pool.clone(), f.clone(), k.clone());
        async move {
            let key = k.fetch_add(1, Ordering::Relaxed);
            let tag = format!("base-mib-{key}");
            let content = text(&tag, MIB);
            let sha = crate::load::hex_of(&content);
            let target = f.join(&sha[..2]);
            tokio::fs::create_dir_all(&target)
                .await
                .map_err(|e| e.to_string())?;
            let temp = target.join(format!("{sha}#1"));
            tokio::fs::write(&temp, &content)
                .await
                .map_err(|e| e.to_string())?;
            tokio::fs::rename(&temp, target.join(&sha))
                .await
                .map_err(|e| e.to_string())?;
            crate::drive::baseline_feed_of(&pool, c, i, &sha)
                .await
                .map_err(|e| e.to_string())
        }
    });
    figure
        .points
        .push(point(measure, name, clients, &api, &base, None).await);
    report.figures.push(figure);
    let _ = std::fs::remove_dir_all(folder.as_ref());
}
