//! The load generator (closed loop: each client sends its next request when the last one is
//! answered) and the figures that pair an API operation with its database baseline.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::load::Population;
use crate::report::{Figure, LedgerFigure, Point, Report, Statements};
use crate::{BenchError, token};

/// An HTTP client of the API.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    url: String,
}

impl Http {
    pub fn new(api: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .expect("a plain HTTP client builds"),
            url: format!("{api}/graphql"),
        }
    }

    /// Runs a GraphQL request; any GraphQL error (or non-200 answer) is an `Err`.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Result<Value, String> {
        let body = json!({ "query": query, "variables": variables }).to_string();
        let response = self
            .client
            .post(&self.url)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        match value.get("errors") {
            Some(errors) if errors.as_array().is_some_and(|e| !e.is_empty()) => {
                Err(format!("{status}: {errors}"))
            }
            _ if !status.is_success() => Err(format!("HTTP {status}")),
            _ => Ok(value),
        }
    }
}

/// What a closed loop measured.
#[derive(Debug, Default, Clone)]
pub struct Sample {
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    pub secs: f64,
    /// Latencies of the answered requests, in microseconds, sorted.
    pub latencies: Vec<u32>,
}

impl Sample {
    /// Adds another run's counts and latencies (sort them again afterwards).
    pub fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        self.latencies.extend(other.latencies);
    }

    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.secs.max(1e-9)
    }

    /// The `p`-th percentile latency, in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() - 1) as f64 * p / 100.0).round() as usize;
        f64::from(self.latencies[index]) / 1000.0
    }
}

/// One request of a closed loop, `(client, iteration)` to its outcome: shared, so that a point
/// can run it again.
pub type Step = Arc<dyn Fn(usize, u64) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

/// A [`Step`] from an async closure.
pub fn step<F, Fut>(request: F) -> Step
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    Arc::new(move |client, iteration| Box::pin(request(client, iteration)))
}

/// Runs `clients` loops of `step(client, iteration)` for a second of warm-up, then `seconds`
/// measured.
pub async fn closed_loop(clients: usize, seconds: Duration, step: Step) -> Sample {
    let start = Instant::now() + Duration::from_secs(1);
    let end = start + seconds;
    let mut tasks = Vec::new();
    for client in 0..clients {
        let step = step.clone();
        tasks.push(tokio::spawn(async move {
            let mut sample = Sample::default();
            let mut iteration = 0_u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let result = step(client, iteration).await;
                iteration += 1;
                if sent < start {
                    continue;
                }
                match result {
                    Ok(()) => {
                        sample.ok += 1;
                        sample
                            .latencies
                            .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    }
                    Err(error) => {
                        sample.errors += 1;
                        sample.first_error.get_or_insert(error);
                    }
                }
            }
            sample
        }));
    }
    let mut total = Sample::default();
    for task in tasks {
        if let Ok(sample) = task.await {
            total.merge(sample);
        }
    }
    total.secs = seconds.as_secs_f64();
    total.latencies.sort_unstable();
    total
}

/// How each point is measured.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Seconds measured per run (after a second of warm-up).
    pub seconds: Duration,
    /// A CPU profiler attached to the API for its runs (`--perf`).
    pub profiler: Option<Profiler>,
    /// The API's process, whose CPU time each API run reads.
    pub server_pid: u32,
    /// The folder of the API's content store.
    pub contents: std::path::PathBuf,
}

/// CPU seconds a process has used so far (user and system), from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: u32) -> f64 {
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let fields: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            Some(fields.iter().sum::<u64>())
        })
        .unwrap_or(0);
    // The kernel's USER_HZ, 100 on Linux.
    ticks as f64 / 100.0
}

/// The most a point's baseline may move between its two runs before the point is measured
/// again: more means the machine's load changed within the point.
const BASELINE_DRIFT: f64 = 0.2;

/// Measurements of a point after its first: a point whose baseline keeps moving is reported
/// with its drift rather than measured forever.
const MAX_TRIES: u32 = 3;

/// One point of a figure: the baseline, the API, the baseline again (and the bare read, when
/// there is one), with the machine's load before and after. The ratio is against both
/// baseline runs together. A baseline that moved more than [`BASELINE_DRIFT`] between its two
/// runs is measured again, at most [`MAX_TRIES`] times in all, and the report says so.
pub async fn point(
    measure: &Measure,
    name: &str,
    clients: usize,
    api: &Step,
    base: &Step,
    bare: Option<&Step>,
) -> Point {
    let mut tries = 0;
    loop {
        tries += 1;
        let load_before = load_average();
        let mut baseline = closed_loop(clients, measure.seconds, base.clone()).await;
        let profile = measure
            .profiler
            .as_ref()
            .and_then(|p| p.start(name, clients));
        let cpu_before = cpu_seconds(measure.server_pid);
        let answered = closed_loop(clients, measure.seconds, api.clone()).await;
        // The warm-up second is in the CPU time but not in the count: over it, the rate.
        let cpu = cpu_seconds(measure.server_pid) - cpu_before;
        if let Some(profile) = profile {
            profile.stop();
        }
        let again = closed_loop(clients, measure.seconds, base.clone()).await;
        let drift =
            (baseline.rate() - again.rate()).abs() / baseline.rate().max(again.rate()).max(1e-9);
        baseline.merge(again);
        baseline.secs *= 2.0;
        baseline.latencies.sort_unstable();
        let bare = match bare {
            Some(bare) => Some(closed_loop(clients, measure.seconds, bare.clone()).await),
            None => None,
        };
        let load = (load_before, load_average());
        eprintln!(
            "bench: {name} x{clients}: {:.0}/s vs {:.0}/s (baseline moved {:.0} %, load {:.2} → {:.2}){}",
            answered.rate(),
            baseline.rate(),
            100.0 * drift,
            load.0,
            load.1,
            answered
                .first_error
                .as_ref()
                .map(|e| format!("; first error: {e}"))
                .unwrap_or_default(),
        );
        if drift <= BASELINE_DRIFT || tries == MAX_TRIES {
            let mut point = Point::of(clients, &answered, &baseline, bare.as_ref());
            point.load = load;
            point.drift = drift;
            point.tries = tries;
            point.cpu_ms =
                1000.0 * cpu / (answered.rate() * (measure.seconds.as_secs_f64() + 1.0)).max(1e-9);
            return point;
        }
        eprintln!("bench: {name} x{clients}: measured again");
    }
}

/// The machine's load average over the last minute.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// `perf record` attached to the API's process for the API's run of each point: one profile
/// per figure and concurrency, `<dir>/<figure>-x<clients>.perf.data`. Call stacks by frame
/// pointers: build with `RUSTFLAGS="-C force-frame-pointers=yes"` (docs/src/performance.md).
#[derive(Debug, Clone)]
pub struct Profiler {
    pub pid: u32,
    pub dir: std::path::PathBuf,
}

/// A running `perf record`.
pub struct Profile(std::process::Child);

impl Profiler {
    fn start(&self, name: &str, clients: usize) -> Option<Profile> {
        let slug: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .split('-')
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        let out = self.dir.join(format!("{slug}-x{clients}.perf.data"));
        let child = std::process::Command::new("perf")
            .args([
                "record",
                "-F",
                "499",
                "-g",
                "-p",
                &self.pid.to_string(),
                "-o",
            ])
            .arg(&out)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(child) => Some(Profile(child)),
            Err(err) => {
                eprintln!("bench: perf record did not start: {err}");
                None
            }
        }
    }
}

impl Profile {
    /// Stops the recording as Ctrl-C would (perf then writes its file) and waits for it.
    fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

const FEED: &str = "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input) { id } }";
const RECORD: &str = "query($ins: INS!) { patientRecord(patientIns: $ins, first: 20) { edges { node { id title actDate } } } }";
const DOCUMENT: &str = "query($ins: INS!, $id: ID!) { patientDocument(patientIns: $ins, documentId: $id) { id title contentBase64 } }";
const ME: &str = "{ me { documents(first: 20) { edges { node { id title } } } } }";

/// A feed's input: a text document of `bytes`, with a key never used before.
pub fn feed_input(key: &str, bytes: usize) -> Value {
    let mut text = String::from("Compte rendu de consultation. ");
    while text.len() < bytes {
        text.push_str("Examen clinique sans particularité. ");
    }
    text.truncate(bytes);
    json!({
        "type": { "system": "http://loinc.org", "code": "11488-4" },
        "title": "Compte rendu de consultation",
        "mimeType": "text/plain",
        "contentBase64": base64(text.as_bytes()),
        "actDate": "2026-11-27",
        "idempotencyKey": key,
    })
}

/// Base64 of `bytes`, as the API takes a document's content.
pub fn base64_of(bytes: &[u8]) -> String {
    base64(bytes)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

static KEYS: AtomicU64 = AtomicU64::new(0);

/// Consult as any practitioner (`--consult-as any`), most consultations then being first
/// accesses, rather than as each record's author (the default, a steady state).
pub static CONSULT_AS_ANY: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The practitioner (index) who consults each activated patient.
fn consulters(population: &Population) -> Vec<usize> {
    if CONSULT_AS_ANY.load(Ordering::Relaxed) {
        (0..population.author_of.len())
            .map(|k| (k * 31) % population.practitioners.len())
            .collect()
    } else {
        population.author_of.clone()
    }
}

/// A feed by the `client`-th practitioner to a patient of `patients`, under a new key.
fn feed_step(http: &Http, practitioners: &Arc<Vec<String>>, patients: &Arc<Vec<String>>) -> Step {
    let (h, p, ps) = (http.clone(), practitioners.clone(), patients.clone());
    step(move |c, _| {
        let (h, p, ps) = (h.clone(), p.clone(), ps.clone());
        async move {
            let key = KEYS.fetch_add(1, Ordering::Relaxed);
            let patient = &ps[(key as usize * 7919) % ps.len()];
            h.gql(
                &p[c % p.len()],
                FEED,
                json!({ "ins": patient, "input": feed_input(&format!("bench-{key}"), 1024) }),
            )
            .await
            .map(drop)
        }
    })
}

/// Which patient (index) a client's iteration reads, among `n`.
type Pick = fn(usize, u64, usize) -> usize;

/// Spread over the population.
fn spread(c: usize, i: u64, n: usize) -> usize {
    (c * 7_919 + i as usize * 104_729) % n
}

/// Concentrated on five patients.
fn concentrated(c: usize, i: u64, n: usize) -> usize {
    (c + i as usize) % n.min(5)
}

/// A traced `patientRecord(first: 20)`, by the practitioner who consults each patient.
fn record_step(
    http: &Http,
    practitioners: &Arc<Vec<String>>,
    activated: &Arc<Vec<String>>,
    consulters: &Arc<Vec<usize>>,
    pick: Pick,
) -> Step {
    let (h, p, a, w) = (
        http.clone(),
        practitioners.clone(),
        activated.clone(),
        consulters.clone(),
    );
    step(move |c, i| {
        let (h, p, a, w) = (h.clone(), p.clone(), a.clone(), w.clone());
        async move {
            let k = pick(c, i, w.len());
            h.gql(&p[w[k]], RECORD, json!({ "ins": a[k] }))
                .await
                .map(drop)
        }
    })
}

/// A baseline read of the page of a patient of `activated`, with its audit row or bare.
fn read_baseline(pg: &sqlx::PgPool, activated: &Arc<Vec<String>>, pick: Pick, audit: bool) -> Step {
    let (pool, a) = (pg.clone(), activated.clone());
    step(move |c, i| {
        let (pool, a) = (pool.clone(), a.clone());
        async move {
            baseline_read(&pool, &a[pick(c, i, a.len())], audit)
                .await
                .map_err(|e| e.to_string())
        }
    })
}

/// Every figure of the table but fan-out and the ledger.
pub async fn figures(
    report: &mut Report,
    http: &Http,
    pg: &sqlx::PgPool,
    population: &Population,
    measure: &Measure,
) -> Result<(), BenchError> {
    let practitioners: Arc<Vec<String>> = Arc::new(
        population
            .practitioners
            .iter()
            .map(|r| token("PRACTITIONER", r))
            .collect(),
    );
    let activated = Arc::new(population.activated.clone());
    let holders: Arc<Vec<String>> = Arc::new(
        population
            .activated
            .iter()
            .chain(&population.created)
            .cloned()
            .collect(),
    );
    let documents = Arc::new(population.a_document_of.clone());
    let authors = Arc::new(consulters(population));
    let content = Arc::new("x".repeat(1024));

    // Feed: the API, beside the three inserts of a feed in one transaction.
    let name = "feedDocument";
    let mut feed = Figure::new(name, "document + ledger row + outbox row, one transaction");
    let api = feed_step(http, &practitioners, &holders);
    let (pool, body) = (pg.clone(), content.clone());
    let base = step(move |c, i| {
        let (pool, body) = (pool.clone(), body.clone());
        async move {
            baseline_feed(&pool, c, i, &body)
                .await
                .map_err(|e| e.to_string())
        }
    });
    for clients in [1, 8, 32, 64] {
        feed.points
            .push(point(measure, name, clients, &api, &base, None).await);
    }
    report.figures.push(feed);

    // Traced reads: spread over many patients, and concentrated on five.
    for (name, pick) in [
        ("patientRecord(first: 20), spread", spread as Pick),
        ("patientRecord(first: 20), 5 patients", concentrated as Pick),
    ] {
        let mut figure = Figure::new(name, "ledger insert + select 20, one transaction");
        let api = record_step(http, &practitioners, &activated, &authors, pick);
        let base = read_baseline(pg, &activated, pick, true);
        let bare = read_baseline(pg, &activated, pick, false);
        for clients in [8, 32] {
            figure
                .points
                .push(point(measure, name, clients, &api, &base, Some(&bare)).await);
        }
        report.figures.push(figure);
    }

    // One document, and the patient's own list, spread, at 32 clients.
    let clients = 32;
    let name = "patientDocument, spread";
    let mut figure = Figure::new(
        name,
        "ledger insert + select 1, one transaction, then its content read from the store's folder",
    );
    let (h, p, a, d, w) = (
        http.clone(),
        practitioners.clone(),
        activated.clone(),
        documents.clone(),
        authors.clone(),
    );
    let api = step(move |c, i| {
        let (h, p, a, d, w) = (h.clone(), p.clone(), a.clone(), d.clone(), w.clone());
        async move {
            let k = spread(c, i, d.len());
            h.gql(
                &p[w[k]],
                DOCUMENT,
                json!({ "ins": a[k], "id": d[k].to_string() }),
            )
            .await
            .map(drop)
        }
    });
    let contents = Arc::new(measure.contents.clone());
    let document_baseline = |audit: bool| {
        let (pool, a, d, f) = (
            pg.clone(),
            activated.clone(),
            documents.clone(),
            contents.clone(),
        );
        step(move |c, i| {
            let (pool, a, d, f) = (pool.clone(), a.clone(), d.clone(), f.clone());
            async move {
                let k = spread(c, i, d.len());
                baseline_document(&pool, &f, &a[k], d[k], audit)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
    };
    let (base, bare) = (document_baseline(true), document_baseline(false));
    figure
        .points
        .push(point(measure, name, clients, &api, &base, Some(&bare)).await);
    report.figures.push(figure);

    let name = "me { documents(first: 20) } (patient), spread";
    let mut figure = Figure::new(name, "select 20 (the owner's view is not traced)");
    let tokens: Arc<Vec<String>> = Arc::new(
        population
            .activated
            .iter()
            .take(5_000)
            .map(|i| token("PATIENT", i))
            .collect(),
    );
    let (h, t) = (http.clone(), tokens.clone());
    let api = step(move |c, i| {
        let (h, t) = (h.clone(), t.clone());
        async move {
            h.gql(&t[spread(c, i, t.len())], ME, json!({}))
                .await
                .map(drop)
        }
    });
    let owners = Arc::new(population.activated[..tokens.len()].to_vec());
    let base = read_baseline(pg, &owners, spread, false);
    figure
        .points
        .push(point(measure, name, clients, &api, &base, None).await);
    report.figures.push(figure);
    Ok(())
}

/// The three inserts of a feed, prepared, in one transaction.
/// The feed's three inserts in one transaction, as [`baseline_feed`], for another figure.
pub async fn baseline_feed_of(
    pool: &sqlx::PgPool,
    client: usize,
    iteration: u64,
    body: &str,
) -> Result<(), sqlx::Error> {
    baseline_feed(pool, client, iteration, body).await
}

async fn baseline_feed(
    pool: &sqlx::PgPool,
    client: usize,
    iteration: u64,
    body: &str,
) -> Result<(), sqlx::Error> {
    let key = KEYS.fetch_add(1, Ordering::Relaxed);
    let patient = format!("B{client:03}");
    let mut tx = pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO bench_documents (patient_ins, author_role, author_id, author_name, author_profession, type_code, title, mime_type, size_bytes, sha256, act_date, created_at, masked, idempotency_key, request_hash)
         VALUES ($1, 'PRACTITIONER', '10000000000', 'Dr BENCH', 'Médecin', '11488-4', 'Compte rendu', 'text/plain', $2, $3, DATE '2026-11-27', now(), false, $4, $3) RETURNING id",
    )
    .bind(&patient)
    .bind(i64::try_from(body.len()).unwrap_or(0))
    .bind(body)
    .bind(format!("base-{key}"))
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO bench_ledger_events (patient_ins, seq, occurred_at, kind, actor_role, actor_id, actor_name, actor_profession, payload, prev_hash, hash)
         VALUES ($1, $2, now(), 'DOCUMENT_FED', 'PRACTITIONER', '10000000000', 'Dr BENCH', 'Médecin', $3, $4, $4)",
    )
    .bind(&patient)
    .bind(i64::try_from(key).unwrap_or(0) * 1000 + i64::try_from(iteration % 1000).unwrap_or(0))
    .bind(format!("{{\"documentId\":{id}}}"))
    .bind("0".repeat(64))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO bench_notifications (patient_ins, ledger_event_id, kind, channel, recipient, subject, body, status, attempts, created_at, summary)
         VALUES ($1, $2, 'NEW_DOCUMENT', 'EMAIL', 'p@example.org', 'Nouveau document', 'Un document a été ajouté', 'PENDING', 0, now(), 'Nouveau document')",
    )
    .bind(&patient)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The read of a consultation: with `audit`, one ledger insert and the select of 20 in one
/// transaction; without, the bare select.
async fn baseline_read(pool: &sqlx::PgPool, patient: &str, audit: bool) -> Result<(), sqlx::Error> {
    const SELECT: &str = "SELECT id, patient_ins, author_role, author_id, author_name, author_profession, type_code, title, mime_type, size_bytes, sha256, act_date, created_at, masked FROM documents WHERE patient_ins = $1 AND (masked = false OR author_id = $2) ORDER BY id DESC LIMIT 20";
    if audit {
        let mut tx = pool.begin().await?;
        audit_row(&mut tx, patient).await?;
        let rows = sqlx::query(SELECT)
            .bind(patient)
            .bind("10000000000")
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        drop(rows);
    } else {
        sqlx::query(SELECT)
            .bind(patient)
            .bind("10000000000")
            .fetch_all(pool)
            .await?;
    }
    Ok(())
}

async fn baseline_document(
    pool: &sqlx::PgPool,
    contents: &std::path::Path,
    patient: &str,
    id: i64,
    audit: bool,
) -> Result<(), sqlx::Error> {
    const SELECT: &str =
        "SELECT d.id, d.title, d.sha256 FROM documents d WHERE d.id = $1 AND d.patient_ins = $2";
    let row: Option<(i64, String, String)> = if audit {
        let mut tx = pool.begin().await?;
        audit_row(&mut tx, patient).await?;
        let row = sqlx::query_as(SELECT)
            .bind(id)
            .bind(patient)
            .fetch_optional(&mut *tx)
            .await?;
        tx.commit().await?;
        row
    } else {
        sqlx::query_as(SELECT)
            .bind(id)
            .bind(patient)
            .fetch_optional(pool)
            .await?
    };
    // The bytes, from the content store's folder, as the API reads them.
    if let Some((_, _, sha)) = row {
        tokio::fs::read(contents.join("sha256").join(&sha[..2]).join(&sha)).await?;
    }
    Ok(())
}

async fn audit_row(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    patient: &str,
) -> Result<(), sqlx::Error> {
    let key = KEYS.fetch_add(1, Ordering::Relaxed);
    sqlx::query(
        "INSERT INTO bench_ledger_events (patient_ins, seq, occurred_at, kind, actor_role, actor_id, actor_name, actor_profession, payload, prev_hash, hash)
         VALUES ($1, $2, now(), 'RECORD_CONSULTED', 'PRACTITIONER', '10000000000', 'Dr BENCH', 'Médecin', '{}', $3, $3)",
    )
    .bind(patient)
    .bind(i64::try_from(key).unwrap_or(0))
    .bind("0".repeat(64))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Ledger verification (`espace-sante ledger verify`, in this process) against raw SHA-256
/// over the same canonical bytes.
pub async fn ledger(url: &str) -> Result<LedgerFigure, BenchError> {
    use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
    use sha2::Digest;
    let db = sea_orm::Database::connect(url).await?;
    let timer = Instant::now();
    let reports = espace_sante::ledger::verify_all(&db).await?;
    let verify_secs = timer.elapsed().as_secs_f64();
    let events: u64 = reports.iter().map(|r| r.events).sum();
    let broken = reports.iter().filter(|r| !r.verified()).count();
    // A sample of whole chains, read first: verified in memory, then the same canonical bytes
    // hashed and nothing else.
    let sample = entity::ledger_event::Entity::find()
        .order_by_asc(entity::ledger_event::Column::PatientIns)
        .order_by_asc(entity::ledger_event::Column::Seq)
        .limit(200_000)
        .all(&db)
        .await?;
    let timer = Instant::now();
    let mut checked = 0_u64;
    for chain in sample.chunk_by(|a, b| a.patient_ins == b.patient_ins) {
        let report = espace_sante::ledger::verify_rows(chain[0].patient_ins.as_str(), chain);
        checked += report.events;
    }
    let memory_secs = timer.elapsed().as_secs_f64();
    std::hint::black_box(checked);
    let bytes: Vec<Vec<u8>> = sample
        .iter()
        .map(espace_sante::ledger::canonical_bytes)
        .collect();
    let timer = Instant::now();
    let mut sink = 0_u8;
    for b in &bytes {
        sink ^= sha2::Sha256::digest(b)[0];
    }
    let raw_secs = timer.elapsed().as_secs_f64();
    std::hint::black_box(sink);
    Ok(LedgerFigure {
        events,
        broken,
        verify_rate: events as f64 / verify_secs.max(1e-9),
        memory_rate: sample.len() as f64 / memory_secs.max(1e-9),
        raw_rate: bytes.len() as f64 / raw_secs.max(1e-9),
    })
}

/// Round trips to the database per request: a second server, behind a proxy that counts the
/// `Sync` and `Query` messages (one round trip each) the server sends PostgreSQL.
pub async fn statements_per_request(
    url: &str,
    population: &Population,
) -> Result<Statements, BenchError> {
    let target = url
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(host, _)| host.to_owned())
        .ok_or("a postgres://user@host:port/db URL")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let count = Arc::new(AtomicU64::new(0));
    let notifies = Arc::new(AtomicU64::new(0));
    let (counted, notified) = (count.clone(), notifies.clone());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let (target, counted, rung) = (target.clone(), counted.clone(), notified.clone());
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let upstream = async {
                    let mut frames = Frames::default();
                    let mut buffer = vec![0_u8; 65536];
                    while let Ok(n @ 1..) = from_client.read(&mut buffer).await {
                        counted.fetch_add(frames.feed(&buffer[..n]), Ordering::SeqCst);
                        rung.fetch_add(std::mem::take(&mut frames.notifies), Ordering::SeqCst);
                        if to_server.write_all(&buffer[..n]).await.is_err() {
                            break;
                        }
                    }
                };
                let downstream = tokio::io::copy(&mut from_server, &mut to_client);
                tokio::select! {
                    () = upstream => {}
                    _ = downstream => {}
                }
            });
        }
    });
    let proxied = format!(
        "{}?sslmode=disable",
        url.replacen(
            url.split_once('@')
                .and_then(|(_, rest)| rest.split_once('/'))
                .map_or("", |(host, _)| host),
            &format!("127.0.0.1:{port}"),
            1,
        )
    );
    let server = crate::Server::start(&proxied).await?;
    let http = Http::new(&server.api);
    let doctor = token("PRACTITIONER", &population.practitioners[0]);
    let patient = &population.activated[0];
    // First access, and the statements prepared on the pool's connections.
    for _ in 0..20 {
        http.gql(&doctor, RECORD, json!({ "ins": patient })).await?;
        http.gql(
            &doctor,
            DOCUMENT,
            json!({ "ins": patient, "id": population.a_document_of[0].to_string() }),
        )
        .await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut per = Vec::new();
    for (name, query, variables) in [
        ("patientRecord", RECORD, json!({ "ins": patient })),
        (
            "patientDocument",
            DOCUMENT,
            json!({ "ins": patient, "id": population.a_document_of[0].to_string() }),
        ),
    ] {
        let before = count.load(Ordering::SeqCst);
        for _ in 0..20 {
            http.gql(&doctor, query, variables.clone()).await?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        per.push((name, (count.load(Ordering::SeqCst) - before) as f64 / 20.0));
    }
    // Feeds: 20 to prepare the statements on the pool's connections, then 20 counted.
    for counted in [false, true] {
        let before = count.load(Ordering::SeqCst);
        let rung = notifies.load(Ordering::SeqCst);
        for _ in 0..20 {
            let key = KEYS.fetch_add(1, Ordering::Relaxed);
            http.gql(
                &doctor,
                FEED,
                json!({ "ins": patient, "input": feed_input(&format!("count-{key}"), 1024) }),
            )
            .await?;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if counted {
            per.push((
                "feedDocument",
                (count.load(Ordering::SeqCst) - before) as f64 / 20.0,
            ));
            per.push((
                "NOTIFY ringing the other replicas, per feed (sent after the answer; one for many feeds under load)",
                (notifies.load(Ordering::SeqCst) - rung) as f64 / 20.0,
            ));
        }
    }
    drop(server);
    Ok(Statements(
        per.into_iter().map(|(n, c)| (n.to_owned(), c)).collect(),
    ))
}

/// Splits a client's byte stream into protocol messages and counts the round trips: `Sync`
/// ends an extended-protocol statement, `Query` is a simple one.
#[derive(Debug, Default)]
struct Frames {
    started: bool,
    pending: Vec<u8>,
    /// `NOTIFY`s seen on this connection.
    notifies: u64,
}

impl Frames {
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        self.pending.extend_from_slice(bytes);
        let mut count = 0;
        let mut at = 0;
        loop {
            // The startup message (and an SSL request before it) has no type byte.
            if !self.started {
                if self.pending.len() < at + 4 {
                    break;
                }
                let len = u32::from_be_bytes(self.pending[at..at + 4].try_into().unwrap_or([0; 4]))
                    as usize;
                if self.pending.len() < at + len {
                    break;
                }
                let code = self
                    .pending
                    .get(at + 4..at + 8)
                    .map(|c| u32::from_be_bytes(c.try_into().unwrap_or([0; 4])));
                at += len;
                // 80877103: SSLRequest, answered before the real startup message.
                if code != Some(80_877_103) {
                    self.started = true;
                }
                continue;
            }
            if self.pending.len() < at + 5 {
                break;
            }
            let kind = self.pending[at];
            let len = u32::from_be_bytes(self.pending[at + 1..at + 5].try_into().unwrap_or([0; 4]))
                as usize;
            if self.pending.len() < at + 1 + len {
                break;
            }
            // A NOTIFY that rings the other replicas (a simple query) is counted apart: it is
            // sent after the request, once for all the writes queued meanwhile.
            let body = &self.pending[at + 5..at + 1 + len];
            if kind == b'Q' && body.windows(9).any(|w| w == b"pg_notify") {
                self.notifies += 1;
            } else if kind == b'S' || kind == b'Q' {
                count += 1;
            }
            at += 1 + len;
        }
        self.pending.drain(..at);
        count
    }
}

/// Feed and spread consultations at 32 clients, on a server whose pool holds `size`
/// connections.
pub async fn pool_point(
    size: u32,
    http: &Http,
    population: &Population,
    seconds: Duration,
) -> crate::report::PoolPoint {
    let practitioners: Arc<Vec<String>> = Arc::new(
        population
            .practitioners
            .iter()
            .map(|r| token("PRACTITIONER", r))
            .collect(),
    );
    let activated = Arc::new(population.activated.clone());
    let feed = closed_loop(32, seconds, feed_step(http, &practitioners, &activated)).await;
    let consulters = Arc::new(consulters(population));
    let record = closed_loop(
        32,
        seconds,
        record_step(http, &practitioners, &activated, &consulters, spread),
    )
    .await;
    eprintln!(
        "bench: pool {size}: feed {:.0}/s p99 {:.1} ms, record {:.0}/s p99 {:.1} ms",
        feed.rate(),
        feed.percentile_ms(99.0),
        record.rate(),
        record.percentile_ms(99.0)
    );
    crate::report::PoolPoint {
        size,
        feed_rate: feed.rate(),
        feed_p99: feed.percentile_ms(99.0),
        record_rate: record.rate(),
        record_p99: record.percentile_ms(99.0),
        errors: feed.errors + record.errors,
    }
}
