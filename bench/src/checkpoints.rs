//! Checkpoints that grow with what moved (issue 19, item 4), on a database of their own: a
//! tenth of the patients' chains, then all of them (1,000,000 at scale 1), logged by checkpoints
//! as the API signs them; then checkpoints over 100, 1,000 and 10,000 moved chains at each size;
//! then the log grown to as many checkpoints as the scale asks (100,000 at scale 1), one moved
//! chain each; then consistency proofs between random checkpoints, asked over HTTP as an
//! auditor asks them, and inclusion proofs of random patients' heads.
//!
//! Each figure is the time of the API's own `create_checkpoint` (or request), measured here;
//! before this issue a checkpoint stored and hashed every chain's head, which the first
//! checkpoint of the log still does (its figure is the one to compare with).

use std::time::{Duration, Instant};

use espace_sante::ledger::checkpoint::{
    CheckpointOutcome, CheckpointSigner, create_checkpoint, inclusion_proof, latest_checkpoint,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::load::Chains;
use crate::{BenchError, Server, admin};

/// One checkpoint over moved chains.
#[derive(Debug, Clone)]
pub struct MovedPoint {
    /// Chains in the log before it.
    pub chains: u64,
    /// Chains that moved since the checkpoint before (and the checkpoint logs).
    pub moved: u64,
    pub secs: f64,
}

/// Latencies, in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Self {
            count: samples.len(),
            p50: at(0.5),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or(0.0),
        }
    }
}

/// What the checkpoints part measured.
#[derive(Debug, Clone, Default)]
pub struct CheckpointFigure {
    /// The first checkpoint of the log: every chain's head (what each checkpoint cost before).
    pub first: Option<MovedPoint>,
    pub moved: Vec<MovedPoint>,
    /// Checkpoints in the log when the proofs were asked.
    pub checkpoints: u64,
    /// Leaves (chain heads logged) in the log then.
    pub leaves: u64,
    /// Checkpoints per second while growing the log, one moved chain each.
    pub growth_rate: f64,
    /// `GET /ledger/checkpoints/consistency` between random checkpoints, one client.
    pub consistency: Latency,
    /// `inclusion_proof` of a random patient's head in the latest checkpoint, in process.
    pub inclusion: Latency,
    /// The log's tables on disk (leaves, nodes, checkpoints, with their indexes).
    pub log_bytes: u64,
}

/// What autovacuum does in production, which this machine's PostgreSQL runs without (its CI
/// settings): the notes of moved chains are deleted at each checkpoint, and the log's tables
/// grow from empty, so that without fresh statistics the planner scans them whole.
async fn maintain(pool: &sqlx::PgPool) -> Result<(), BenchError> {
    sqlx::raw_sql(
        "VACUUM ANALYZE ledger_moves, ledger_checkpoints, ledger_log_leaves, ledger_log_nodes",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Runs the part on database `{bench}_log`, created and dropped here.
pub async fn run(
    admin_url: &str,
    bench_url: &str,
    scale: f64,
    keep: bool,
) -> Result<CheckpointFigure, BenchError> {
    let url = format!("{bench_url}_log");
    let name = url.rsplit('/').next().unwrap_or_default().to_owned();
    admin(admin_url, &format!("CREATE DATABASE {name}")).await?;
    let result = measure(&url, scale).await;
    if !keep {
        admin(
            admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await?;
    }
    result
}

async fn measure(url: &str, scale: f64) -> Result<CheckpointFigure, BenchError> {
    // The server migrates the database, then answers the auditor's requests.
    let server = Server::start(url).await?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await?;
    let db = sea_orm::Database::connect(url).await?;
    let signer = CheckpointSigner::generate();
    let patients = ((1_000_000.0 * scale) as usize).max(10_000);
    let target = ((100_000.0 * scale) as u64).max(1_000);
    let mut rng = SmallRng::seed_from_u64(19);
    let mut chains = Chains::new();
    let mut figure = CheckpointFigure::default();
    let checkpoint = async |db: &sea_orm::DatabaseConnection| -> Result<f64, BenchError> {
        let timer = Instant::now();
        match create_checkpoint(db, &signer, chrono::Utc::now()).await? {
            CheckpointOutcome::Created(_) => Ok(timer.elapsed().as_secs_f64()),
            CheckpointOutcome::Unchanged(_) => {
                Err("a checkpoint over moved chains was not created".into())
            }
        }
    };

    for size in [patients / 10, patients] {
        let before = chains.len();
        chains.enrol(&pool, size - before).await?;
        let secs = checkpoint(&db).await?;
        let point = MovedPoint {
            chains: before as u64,
            moved: (size - before) as u64,
            secs,
        };
        eprintln!(
            "bench: checkpoint over {} new chains: {secs:.2} s",
            point.moved
        );
        maintain(&pool).await?;
        if before == 0 {
            figure.first = Some(point);
        } else {
            figure.moved.push(point);
        }
        for moved in [100, 1_000, 10_000] {
            let which: Vec<usize> =
                rand::seq::index::sample(&mut rng, size, moved.min(size)).into_vec();
            chains.advance(&pool, &which).await?;
            let secs = checkpoint(&db).await?;
            maintain(&pool).await?;
            eprintln!(
                "bench: checkpoint over {moved} of {size} chains: {:.1} ms",
                secs * 1e3
            );
            figure.moved.push(MovedPoint {
                chains: size as u64,
                moved: moved as u64,
                secs,
            });
        }
    }

    // The log grown one moved chain a checkpoint, as a quiet hour of a small service grows it.
    let mut made = latest_checkpoint(&db).await?.map_or(0, |c| c.index);
    let timer = Instant::now();
    let grown = made;
    while (made as u64) < target {
        chains
            .advance(&pool, &[rng.random_range(0..patients)])
            .await?;
        checkpoint(&db).await?;
        made += 1;
        if made % 1_000 == 0 {
            maintain(&pool).await?;
        }
        if made % 10_000 == 0 {
            eprintln!("bench: {made} checkpoints");
        }
    }
    figure.growth_rate = (made - grown) as f64 / timer.elapsed().as_secs_f64().max(1e-9);
    let latest = latest_checkpoint(&db)
        .await?
        .ok_or("the log has checkpoints")?;
    figure.checkpoints = latest.index as u64;
    figure.leaves = latest.tree_size as u64;

    let http = reqwest::Client::new();
    let mut samples = Vec::new();
    for round in 0..2_100 {
        let from = rng.random_range(1..latest.index);
        let to = rng.random_range(from + 1..=latest.index);
        let timer = Instant::now();
        let response = http
            .get(format!(
                "{}/ledger/checkpoints/consistency?from={from}&to={to}",
                server.api
            ))
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await?)?;
        let elapsed = timer.elapsed();
        if !status.is_success() || body["proof"].as_array().is_none() {
            return Err(format!("consistency {from}→{to}: {status} {body}").into());
        }
        // The first hundred warm the connection and the server's statement cache.
        if round >= 100 {
            samples.push(elapsed.as_secs_f64() * 1e3);
        }
    }
    figure.consistency = Latency::of(samples);

    let mut samples = Vec::new();
    for _ in 0..1_000 {
        let patient = chains.ins(rng.random_range(0..patients)).to_owned();
        let timer = Instant::now();
        let proof = inclusion_proof(&db, &latest, &patient).await?;
        samples.push(timer.elapsed().as_secs_f64() * 1e3);
        if proof.is_none() {
            return Err(format!("no inclusion proof for {patient}").into());
        }
    }
    figure.inclusion = Latency::of(samples);

    let bytes: i64 = sqlx::query_scalar(
        "SELECT (pg_total_relation_size('ledger_log_leaves') + \
         pg_total_relation_size('ledger_log_nodes') + \
         pg_total_relation_size('ledger_checkpoints'))::bigint",
    )
    .fetch_one(&pool)
    .await?;
    figure.log_bytes = bytes as u64;
    drop(server);
    tokio::time::sleep(Duration::from_millis(100)).await;
    Ok(figure)
}
