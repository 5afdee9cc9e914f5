//! The population: generated in Rust (valid INS and RPPS numbers, hash chains that
//! `espace-sante ledger verify` accepts, computed with the API's own canonical encoding) and
//! bulk-loaded with `COPY`, which takes minutes for a million documents where the API would
//! take hours.

use std::fmt::Write as _;

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::ledger_event;
use entity::values::{ActorRole, EventKind};
use espace_sante::domain::{Ins, Rpps};
use espace_sante::ledger::{GENESIS_HASH, event_hash};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use sqlx::postgres::PgPoolCopyExt;

use crate::BenchError;

/// Who is in the database, as the load generator needs to know them.
#[derive(Debug)]
pub struct Population {
    /// Activated patients (they read their documents and subscribe).
    pub activated: Vec<String>,
    /// Created, not activated patients.
    pub created: Vec<String>,
    /// Announced, opposed and closed patients (no reads: their records are not open).
    pub others: Vec<String>,
    pub practitioners: Vec<String>,
    pub documents: u64,
    /// A document of each activated patient (id), for `patientDocument`.
    pub a_document_of: Vec<i64>,
    /// The practitioner (index) who wrote it: their consultations are not first accesses, as
    /// most consultations in a steady state are not.
    pub author_of: Vec<usize>,
    pub events: u64,
    document_bytes: usize,
    seed: u64,
}

/// A valid INS, different for each `n`.
pub fn ins(n: u64) -> String {
    let nir = format!("1{:02}{:02}75{:06}", 40 + n % 60, 1 + n % 12, n % 1_000_000);
    let key = Ins::key_of(&nir).expect("a 13-digit NIR has a key");
    format!("{nir}{key:02}")
}

/// A valid RPPS number, different for each `n`.
fn rpps(n: u64) -> String {
    let body = format!("1{:09}", n);
    (0..10)
        .map(|d| format!("{body}{d}"))
        .find(|candidate| Rpps::parse(candidate).is_ok())
        .expect("one Luhn digit completes ten digits")
}

/// The statuses of the population, in proportions of the real service: most profiles are
/// created, about half activated, a few opposed or closed.
fn status_of(n: u64) -> &'static str {
    match n % 100 {
        0..=49 => "ACTIVATED",
        50..=84 => "CREATED",
        85..=92 => "ANNOUNCED",
        93..=97 => "OPPOSED",
        _ => "CLOSED",
    }
}

/// Distinct contents among the bulk documents.
const DISTINCT_CONTENTS: i64 = 5_000;

/// The content of a bulk document: text, `bytes` long, naming its id.
fn content(id: i64, bytes: usize) -> Vec<u8> {
    let mut text = format!("Compte rendu de consultation n° {id}. ");
    while text.len() < bytes {
        text.push_str("Examen clinique sans particularité. ");
    }
    let mut content = text.into_bytes();
    content.truncate(bytes);
    content
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

impl Population {
    /// The population at `scale` (1.0: 100,000 patients, 2,000 practitioners, 1,000,000
    /// documents).
    pub fn generate(scale: f64, document_bytes: usize) -> Self {
        let patients = ((100_000.0 * scale) as u64).max(100);
        let practitioners = ((2_000.0 * scale) as u64).max(20);
        let documents = ((1_000_000.0 * scale) as u64).max(1_000);
        let (mut activated, mut created, mut others) = (Vec::new(), Vec::new(), Vec::new());
        for n in 0..patients {
            match status_of(n) {
                "ACTIVATED" => activated.push(ins(n)),
                "CREATED" => created.push(ins(n)),
                _ => others.push(ins(n)),
            }
        }
        Self {
            activated,
            created,
            others,
            practitioners: (0..practitioners).map(rpps).collect(),
            documents,
            a_document_of: Vec::new(),
            author_of: Vec::new(),
            events: 0,
            document_bytes,
            seed: 42,
        }
    }

    pub fn patients(&self) -> usize {
        self.activated.len() + self.created.len() + self.others.len()
    }

    /// Writes the population with `COPY`, one table after the other, in chunks.
    /// Document bytes go to `contents`, the folder of the server's content store.
    pub async fn load(&mut self, url: &str, contents: &std::path::Path) -> Result<(), BenchError> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await?;
        // Each append notes its chain for the next checkpoint (a trigger); loaded in bulk, the
        // chains are noted once each, after the copy.
        sqlx::raw_sql("ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_note_move")
            .execute(&pool)
            .await?;
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let epoch = Utc
            .with_ymd_and_hms(2025, 1, 6, 8, 0, 0)
            .single()
            .expect("a valid date");
        let patients = self.patients() as u64;
        // Documents go to the patients who have a DMP (created or activated), evenly.
        let holders: Vec<u64> = (0..patients)
            .filter(|n| matches!(status_of(*n), "ACTIVATED" | "CREATED"))
            .collect();
        let per_holder = self.documents / holders.len() as u64;
        let extra = self.documents % holders.len() as u64;

        let mut profiles = Copy::new(PROFILES);
        let mut documents = Copy::new(
            "documents (id, patient_ins, author_role, author_id, author_name, author_profession, type_code, title, mime_type, size_bytes, sha256, act_date, created_at, masked, idempotency_key, request_hash)",
        );
        let mut events = Copy::new(EVENTS);
        let mut accesses =
            Copy::new("practitioner_accesses (patient_ins, practitioner_rpps, first_access_at)");
        let (mut document_id, mut event_id) = (0_i64, 0_i64);
        let mut holder_index = 0_u64;
        self.a_document_of.clear();
        self.author_of.clear();
        for n in 0..patients {
            let patient = ins(n);
            let status = status_of(n);
            let enrolled = epoch + Duration::seconds(n as i64);
            let created_at = enrolled + Duration::days(42) + Duration::minutes(1);
            let activated_at = created_at + Duration::days(3);
            profile_row(&mut profiles, n, &patient, status, enrolled);

            let mut chain = Chain::new(&patient);
            let operator = ("OPERATOR", "agent-bench", "Agent BENCH", "");
            let system = ("SYSTEM", "system", "Mon espace santé", "");
            let owner = ("PATIENT", patient.as_str(), "Camille MARTIN", "");
            chain.push(
                &mut events,
                &mut event_id,
                enrolled,
                EventKind::BeneficiaryEnrolled,
                operator,
                "{}",
            );
            match status {
                "OPPOSED" => chain.push(
                    &mut events,
                    &mut event_id,
                    enrolled + Duration::days(1),
                    EventKind::OppositionRecorded,
                    operator,
                    "{\"via\":\"PHONE\"}",
                ),
                "ANNOUNCED" => {}
                _ => chain.push(
                    &mut events,
                    &mut event_id,
                    created_at,
                    EventKind::ProfileCreated,
                    system,
                    "{}",
                ),
            }
            if matches!(status, "ACTIVATED" | "CLOSED") {
                chain.push(
                    &mut events,
                    &mut event_id,
                    activated_at,
                    EventKind::ProfileActivated,
                    owner,
                    "{}",
                );
            }
            if status == "CLOSED" {
                chain.push(
                    &mut events,
                    &mut event_id,
                    activated_at + Duration::days(30),
                    EventKind::ProfileClosed,
                    owner,
                    "{}",
                );
            }
            if matches!(status, "ACTIVATED" | "CREATED") {
                let count = per_holder + u64::from(holder_index < extra);
                holder_index += 1;
                let mut seen: Vec<usize> = Vec::new();
                let mut first_listed = false;
                let mut at = activated_at + Duration::hours(1);
                for _ in 0..count {
                    document_id += 1;
                    at += Duration::minutes(rng.random_range(1..600));
                    let author = rng.random_range(0..self.practitioners.len());
                    let rpps = self.practitioners[author].as_str();
                    let name = format!("PRACTITIONER {rpps}");
                    let actor = ("PRACTITIONER", rpps, name.as_str(), "Médecin généraliste");
                    if !seen.contains(&author) {
                        seen.push(author);
                        accesses.row(&[&patient, rpps, &stamp(at)]);
                        chain.push(
                            &mut events,
                            &mut event_id,
                            at,
                            EventKind::FirstAccess,
                            actor,
                            "{}",
                        );
                    }
                    // A few thousand distinct contents, each one object of the store (equal
                    // contents are stored once, as the API stores them).
                    let body = content(document_id % DISTINCT_CONTENTS, self.document_bytes);
                    let sha = hex(&Sha256::digest(&body));
                    if document_id <= DISTINCT_CONTENTS {
                        let folder = contents.join("sha256").join(&sha[..2]);
                        std::fs::create_dir_all(&folder)?;
                        std::fs::write(folder.join(&sha), &body)?;
                    }
                    documents.row(&[
                        &document_id.to_string(),
                        &patient,
                        "PRACTITIONER",
                        rpps,
                        &name,
                        "Médecin généraliste",
                        "11488-4",
                        &format!("Compte rendu de consultation {document_id}"),
                        "text/plain",
                        &body.len().to_string(),
                        &sha,
                        "2026-10-30",
                        &stamp(at),
                        "f",
                        &format!("bulk-{document_id}"),
                        &sha,
                    ]);
                    chain.push(
                        &mut events,
                        &mut event_id,
                        at,
                        EventKind::DocumentFed,
                        actor,
                        &format!("{{\"documentId\":{document_id},\"typeCode\":\"11488-4\"}}"),
                    );
                    if status == "ACTIVATED" && !first_listed {
                        first_listed = true;
                        self.a_document_of.push(document_id);
                        self.author_of.push(author);
                    }
                }
            }
            // In the order of the foreign keys: an event after its document, and so on.
            let buffered = profiles.buffer.len()
                + documents.buffer.len()
                + events.buffer.len()
                + accesses.buffer.len();
            if buffered > 32 << 20 {
                profiles.flush(&pool).await?;
                documents.flush(&pool).await?;
                events.flush(&pool).await?;
                accesses.flush(&pool).await?;
            }
        }
        profiles.flush(&pool).await?;
        documents.flush(&pool).await?;
        events.flush(&pool).await?;
        accesses.flush(&pool).await?;
        self.events = u64::try_from(event_id).unwrap_or(0);
        for sql in [
            "SELECT setval(pg_get_serial_sequence('documents', 'id'), (SELECT max(id) FROM documents))",
            "SELECT setval(pg_get_serial_sequence('ledger_events', 'id'), (SELECT max(id) FROM ledger_events))",
            "INSERT INTO ledger_moves (patient_ins) SELECT DISTINCT patient_ins FROM ledger_events",
            "ALTER TABLE ledger_events ENABLE ALWAYS TRIGGER ledger_events_note_move",
            "ANALYZE",
        ] {
            sqlx::raw_sql(sql).execute(&pool).await?;
        }
        Ok(())
    }
}

/// The columns the population's profiles are copied into.
const PROFILES: &str = "profiles (ins, status, birth_name, first_names, birth_date, carte_vitale_serial, insurer_email, postal_address, enrolled_at, opposition_deadline, opposed_at, created_at, activated_at, closed_at, activation_code_hash, personal_email, failed_activation_attempts, activation_locked_until)";

/// The columns the population's ledger events are copied into.
const EVENTS: &str = "ledger_events (id, patient_ins, seq, occurred_at, kind, actor_role, actor_id, actor_name, actor_profession, payload, prev_hash, hash)";

/// The profile of patient `n` (`patient`, its INS) in `status`, enrolled at `enrolled`: created
/// 42 days and a minute later, activated three days after that, closed 30 days after that, as
/// far as its status goes.
fn profile_row(profiles: &mut Copy, n: u64, patient: &str, status: &str, enrolled: DateTime<Utc>) {
    let deadline = enrolled + Duration::days(42);
    let created_at = deadline + Duration::minutes(1);
    let activated_at = created_at + Duration::days(3);
    let null = String::from("\\N");
    let opt = |cond: bool, t: DateTime<Utc>| if cond { stamp(t) } else { null.clone() };
    let has_profile = matches!(status, "CREATED" | "ACTIVATED" | "CLOSED");
    profiles.row(&[
        patient,
        status,
        "MARTIN",
        "Camille",
        "1980-04-12",
        &format!("CV{}", &patient[..10]),
        &format!("p{n}@example.org"),
        "12 rue des Lilas\\n75011 PARIS",
        &stamp(enrolled),
        &stamp(deadline),
        &opt(status == "OPPOSED", enrolled + Duration::days(1)),
        &opt(has_profile, created_at),
        &opt(matches!(status, "ACTIVATED" | "CLOSED"), activated_at),
        &opt(status == "CLOSED", activated_at + Duration::days(30)),
        if status == "ANNOUNCED" || status == "CREATED" {
            "0000000000000000000000000000000000000000000000000000000000000000"
        } else {
            "\\N"
        },
        &if matches!(status, "ACTIVATED" | "CLOSED") {
            format!("perso{n}@example.org")
        } else {
            null.clone()
        },
        "0",
        "\\N",
    ]);
}

/// Chains alone, for the checkpoints' figures (a database of their own): announced patients,
/// each chain its enrolment and then the events the benchmark appends, hashed as the API
/// hashes. Every chain is kept in memory to append to it (about 150 bytes each).
pub struct Chains {
    chains: Vec<Chain>,
    last_id: i64,
    at: DateTime<Utc>,
}

impl Chains {
    pub fn new() -> Self {
        Self {
            chains: Vec::new(),
            last_id: 0,
            at: Utc
                .with_ymd_and_hms(2025, 1, 6, 8, 0, 0)
                .single()
                .expect("a valid date"),
        }
    }

    pub fn len(&self) -> usize {
        self.chains.len()
    }

    /// The INS of chain `i`.
    pub fn ins(&self, i: usize) -> &str {
        self.chains[i].patient.as_str()
    }

    /// Enrols `count` more patients, each chain one event. Loaded in bulk, as the population
    /// is: the trigger that notes moved chains is off during the copy, and the chains are
    /// noted once each after it (for the next checkpoint).
    pub async fn enrol(&mut self, pool: &sqlx::PgPool, count: usize) -> Result<(), BenchError> {
        sqlx::raw_sql("ALTER TABLE ledger_events DISABLE TRIGGER ledger_events_note_move")
            .execute(pool)
            .await?;
        let first = self.chains.len();
        let mut profiles = Copy::new(PROFILES);
        let mut events = Copy::new(EVENTS);
        let mut moves = Copy::new("ledger_moves (patient_ins)");
        for n in first..first + count {
            let patient = ins(n as u64);
            let enrolled = self.at + Duration::seconds(n as i64);
            profile_row(&mut profiles, n as u64, &patient, "ANNOUNCED", enrolled);
            moves.row(&[&patient]);
            let mut chain = Chain::new(&patient);
            chain.push(
                &mut events,
                &mut self.last_id,
                enrolled,
                EventKind::BeneficiaryEnrolled,
                ("OPERATOR", "agent-bench", "Agent BENCH", ""),
                "{}",
            );
            self.chains.push(chain);
            if profiles.buffer.len() + events.buffer.len() > 32 << 20 {
                profiles.flush(pool).await?;
                events.flush(pool).await?;
                moves.flush(pool).await?;
            }
        }
        profiles.flush(pool).await?;
        events.flush(pool).await?;
        moves.flush(pool).await?;
        sqlx::raw_sql(
            "ALTER TABLE ledger_events ENABLE ALWAYS TRIGGER ledger_events_note_move; ANALYZE",
        )
        .execute(pool)
        .await?;
        Ok(())
    }

    /// Appends one event to each chain of `which` (a patient reading her record), in one
    /// statement; the trigger notes each chain for the next checkpoint, as for any append.
    /// An `INSERT`, not a `COPY`: a copy of a few rows waits about 40 ms on the socket (its
    /// last message is held back until the one before is acknowledged).
    pub async fn advance(
        &mut self,
        pool: &sqlx::PgPool,
        which: &[usize],
    ) -> Result<(), BenchError> {
        self.at += Duration::seconds(1);
        let mut columns: [Vec<String>; 12] = Default::default();
        for &i in which {
            let chain = &mut self.chains[i];
            let patient = chain.patient.as_str().to_owned();
            let row = chain.next(
                &mut self.last_id,
                self.at,
                EventKind::RecordConsulted,
                ("PATIENT", &patient, "Camille MARTIN", ""),
                "{}",
            );
            for (column, value) in columns.iter_mut().zip(row) {
                column.push(value);
            }
        }
        let mut insert = sqlx::query(
            "INSERT INTO ledger_events (id, patient_ins, seq, occurred_at, kind, actor_role, \
             actor_id, actor_name, actor_profession, payload, prev_hash, hash) \
             SELECT i::bigint, p, s::bigint, o::timestamptz, k, r, a, n, f, y, v, h \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[]) \
             AS t(i, p, s, o, k, r, a, n, f, y, v, h)",
        );
        for column in columns {
            insert = insert.bind(column);
        }
        insert.execute(pool).await?;
        Ok(())
    }
}

/// The chain of one patient being generated.
struct Chain {
    patient: Ins,
    seq: i64,
    prev: String,
}

impl Chain {
    fn new(patient: &str) -> Self {
        Self {
            patient: Ins::parse(patient).expect("generated INS numbers are valid"),
            seq: 0,
            prev: GENESIS_HASH.to_owned(),
        }
    }

    /// Appends an event to `copy`, hashed by the API's own canonical encoding.
    fn push(
        &mut self,
        copy: &mut Copy,
        id: &mut i64,
        at: DateTime<Utc>,
        kind: EventKind,
        actor: (&str, &str, &str, &str),
        payload: &str,
    ) {
        copy.row(
            &self
                .next(id, at, kind, actor, payload)
                .each_ref()
                .map(String::as_str),
        );
    }

    /// The chain's next event, hashed by the API's own canonical encoding: its columns, in the
    /// order of [`EVENTS`].
    fn next(
        &mut self,
        id: &mut i64,
        at: DateTime<Utc>,
        kind: EventKind,
        (role, actor_id, actor_name, profession): (&str, &str, &str, &str),
        payload: &str,
    ) -> [String; 12] {
        self.seq += 1;
        *id += 1;
        let mut row = ledger_event::Model {
            id: *id,
            patient_ins: self.patient.clone(),
            seq: self.seq,
            occurred_at: at,
            kind,
            actor_role: match role {
                "OPERATOR" => ActorRole::Operator,
                "SYSTEM" => ActorRole::System,
                "PATIENT" => ActorRole::Patient,
                _ => ActorRole::Practitioner,
            },
            actor_id: actor_id.to_owned(),
            actor_name: actor_name.to_owned(),
            actor_profession: profession.to_owned(),
            payload: payload.to_owned(),
            prev_hash: self.prev.clone(),
            hash: String::new(),
        };
        row.hash = event_hash(&row);
        self.prev.clone_from(&row.hash);
        [
            id.to_string(),
            self.patient.as_str().to_owned(),
            self.seq.to_string(),
            stamp(at),
            kind.as_str().to_owned(),
            role.to_owned(),
            row.actor_id,
            row.actor_name,
            row.actor_profession,
            row.payload,
            row.prev_hash,
            row.hash,
        ]
    }
}

/// The SHA-256 of `bytes`, lowercase hex (a content's address in the store).
pub fn hex_of(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Rows for `COPY … FROM STDIN` in text format. The generated values hold no tab, newline or
/// backslash but the `\N` and `\n` written on purpose.
struct Copy {
    target: &'static str,
    buffer: String,
}

impl Copy {
    fn new(target: &'static str) -> Self {
        Self {
            target,
            buffer: String::new(),
        }
    }

    fn row(&mut self, fields: &[&str]) {
        self.buffer.push_str(&fields.join("\t"));
        self.buffer.push('\n');
    }

    async fn flush(&mut self, pool: &sqlx::PgPool) -> Result<(), BenchError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut copy = pool
            .copy_in_raw(&format!("COPY {} FROM STDIN", self.target))
            .await?;
        copy.send(std::mem::take(&mut self.buffer).into_bytes())
            .await?;
        copy.finish().await?;
        Ok(())
    }
}

/// The baselines' tables: copies of the API's (columns, defaults, indexes; no triggers or
/// foreign keys, which the API's writes pay and the baseline does not, in its favour).
pub async fn prepare_baselines(pool: &sqlx::PgPool) -> Result<(), BenchError> {
    sqlx::raw_sql(
        "CREATE TABLE bench_documents (LIKE documents INCLUDING ALL);
         CREATE TABLE bench_ledger_events (LIKE ledger_events INCLUDING ALL);
         CREATE TABLE bench_notifications (LIKE notifications INCLUDING ALL);",
    )
    .execute(pool)
    .await?;
    Ok(())
}
