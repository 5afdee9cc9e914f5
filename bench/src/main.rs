//! The espace-sante benchmark (docs/src/performance.md): starts the API on a fresh PostgreSQL
//! database, bulk-loads a population, drives the API over real HTTP and websockets, and runs
//! each figure's database baseline in the same run, on the same server. Writes
//! `bench/results/latest.md` (the table) and `bench/results/latest.svg` (the plot).
//!
//! ```sh
//! cargo run --release -p bench               # the full population, ~10 minutes
//! cargo run --release -p bench -- --quick      # every figure at a tenth of the scale, < 3 min
//! ```
//!
//! With `--perf DIR`, `perf record` is attached to the API for the API's run of each point
//! (one profile per figure and concurrency, in DIR); see docs/src/performance.md for the
//! frame-pointer build and the flame graphs.
//!
//! The API runs in a child process (this binary again, with [`SERVE`] as its argument), so
//! that its memory is its own and the load generator's work is not counted in it.

#![expect(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a benchmark turns counts into rates and back; precision loss is immaterial"
)]

mod checkpoints;
mod contents;
mod drive;
mod fanout;
mod load;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use serde_json::json;

/// The API's allocator (as `espace-sante`'s binary has it), for the server this binary runs;
/// the system's with the `system-allocator` feature, for a heap profiler that hooks `malloc`
/// (heaptrack).
#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The argument that makes this binary the API server (the benchmark's child).
const SERVE: &str = "__serve";

/// The secret the benchmark's server accepts, and its tokens are signed with.
const SECRET: &str = "bench-secret-bench-secret-bench-secret-01234";
const ISSUER: &str = "espace-sante-bench";
const AUDIENCE: &str = "espace-sante-api";

/// Benchmark espace-sante against its database baselines.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Args {
    /// Population scale: 1.0 is 100,000 patients, 2,000 practitioners, 1,000,000 documents and
    /// 10,000 subscriptions; 0.02 is a quick run.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,

    /// Seconds measured per point (after a one-second warm-up).
    #[arg(long, default_value_t = 6)]
    seconds: u64,

    /// A PostgreSQL URL with the right to create databases; the benchmark creates its own and
    /// drops it at the end.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    admin_url: String,

    /// Where the table and the plot go.
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,

    /// Keep the database afterwards (its name is printed).
    #[arg(long)]
    keep: bool,

    /// Who consults a record: `author` (its author, as in a steady state) or `any` (a
    /// practitioner who mostly never saw it: first accesses, each notified).
    #[arg(long, default_value = "author", value_parser = ["author", "any"])]
    consult_as: String,

    /// Bytes of each document's content.
    #[arg(long, default_value_t = 1024)]
    document_bytes: usize,

    /// Every figure at a tenth of the scale, two seconds a run: under three minutes once built.
    #[arg(long)]
    quick: bool,

    /// Profile the API's run of each point with `perf record`, into this folder.
    #[arg(long)]
    perf: Option<PathBuf>,

    /// Run only these parts (comma-separated): figures, fanout, pool, ledger, statements,
    /// contents, checkpoints (on a database of its own: the population is not loaded for it
    /// alone).
    #[arg(long, value_delimiter = ',', default_value = "figures,fanout,pool,ledger,statements,contents,checkpoints",
          value_parser = ["figures", "fanout", "pool", "ledger", "statements", "contents", "checkpoints"])]
    only: Vec<String>,
}

/// A command the API runs under (`BENCH_SERVER_PREFIX`, e.g. `heaptrack -o FILE` for a heap
/// profile): the API is then that command's child, whose pid the benchmark finds.
const SERVER_PREFIX: &str = "BENCH_SERVER_PREFIX";

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some(SERVE) {
        // The API as `espace-sante` serves it, its settings from the environment.
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        return runtime.block_on(espace_sante::cli::run(espace_sante::cli::Cli::parse_from(
            ["espace-sante"],
        )));
    }
    let mut args = Args::parse();
    if args.quick {
        args.scale /= 10.0;
        args.seconds = 2;
    }
    drive::CONSULT_AS_ANY.store(
        args.consult_as == "any",
        std::sync::atomic::Ordering::Relaxed,
    );
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bench: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Any failure of the benchmark.
type BenchError = Box<dyn std::error::Error + Send + Sync>;

async fn run(args: Args) -> Result<(), BenchError> {
    let started = std::time::Instant::now();
    let name = format!("espace_sante_bench_{:08x}", rand::random::<u32>());
    let base = args
        .admin_url
        .rsplit_once('/')
        .map_or(args.admin_url.as_str(), |(b, _)| b)
        .to_owned();
    let url = format!("{base}/{name}");
    admin(&args.admin_url, &format!("CREATE DATABASE {name}")).await?;
    eprintln!("bench: database {name}");
    let result = measure(&args, &url, started).await;
    if !args.keep {
        let _ = std::fs::remove_dir_all(contents_folder(&url));
        admin(
            &args.admin_url,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await?;
    }
    result
}

async fn admin(url: &str, sql: &str) -> Result<(), BenchError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(&mut conn)
        .await?;
    Ok(())
}

async fn measure(args: &Args, url: &str, started: std::time::Instant) -> Result<(), BenchError> {
    let server = Server::start(url).await?;
    eprintln!("bench: server up on {} (pid {})", server.api, server.pid);
    let mut population = load::Population::generate(args.scale, args.document_bytes);
    let timer = std::time::Instant::now();
    if args.only.iter().any(|part| part != "checkpoints") {
        population.load(url, &contents_folder(url)).await?;
    }
    let load_secs = timer.elapsed().as_secs_f64();
    eprintln!("bench: population loaded in {load_secs:.0} s");

    let pool_size = 64;
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(pool_size)
        .connect(url)
        .await?;
    load::prepare_baselines(&pg).await?;
    let http = drive::Http::new(&server.api);
    let mut report = report::Report::new(args.scale, &population, load_secs);
    let seconds = Duration::from_secs(args.seconds);
    if let Some(dir) = &args.perf {
        std::fs::create_dir_all(dir)?;
    }
    let measure = drive::Measure {
        seconds,
        profiler: args.perf.clone().map(|dir| drive::Profiler {
            pid: server.pid,
            dir,
        }),
        server_pid: server.pid,
        contents: contents_folder(url),
    };

    let runs = |part: &str| args.only.iter().any(|p| p == part);
    if runs("figures") {
        drive::figures(&mut report, &http, &pg, &population, &measure).await?;
    }
    if runs("fanout") {
        report.fanout = Some(fanout::run(&server, &http, &population, args.scale).await?);
    }
    if runs("contents") {
        contents::feed_1mib(&mut report, &http, &pg, &population, &measure).await;
    }
    drop(server);
    if runs("contents") {
        report.contents = Some(contents::memory(url, &population).await?);
    }
    // The pool size, on servers of their own: the default's figures are those above.
    for size in [4, 8].into_iter().filter(|_| runs("pool")) {
        let server = Server::start_with(url, &[("DB_MAX_CONNECTIONS", &size.to_string())]).await?;
        let http = drive::Http::new(&server.api);
        report
            .pool
            .push(drive::pool_point(size, &http, &population, seconds).await);
    }
    if runs("ledger") {
        report.ledger = Some(drive::ledger(url).await?);
    }
    if runs("statements") {
        report.statements = drive::statements_per_request(url, &population).await?;
    }
    if runs("checkpoints") {
        report.checkpoints =
            Some(checkpoints::run(&args.admin_url, url, args.scale, args.keep).await?);
    }
    report.total_secs = started.elapsed().as_secs_f64();
    report.write(&args.out)?;
    eprintln!(
        "bench: wrote {} in {:.0} s",
        args.out.join("latest.md").display(),
        report.total_secs
    );
    Ok(())
}

/// The folder of the content store of the bench's database (its servers share it).
pub fn contents_folder(url: &str) -> std::path::PathBuf {
    let database = url.rsplit('/').next().unwrap_or("espace_sante_bench");
    std::env::temp_dir().join(format!("{database}-contents"))
}

/// The API, in a child process.
#[derive(Debug)]
pub struct Server {
    child: std::process::Child,
    pub pid: u32,
    pub api: String,
    pub metrics: String,
}

impl Server {
    async fn start(url: &str) -> Result<Self, BenchError> {
        Self::start_with(url, &[]).await
    }

    /// The server with settings of its own (`env`: variable, value).
    async fn start_with(url: &str, env: &[(&str, &str)]) -> Result<Self, BenchError> {
        let api_port = free_port()?;
        let metrics_port = free_port()?;
        let scratch = std::env::temp_dir().join(format!("espace-sante-bench-{api_port}"));
        let prefix = std::env::var(SERVER_PREFIX).unwrap_or_default();
        let mut words = prefix.split_whitespace();
        let mut command = match words.next() {
            Some(program) => {
                let mut command = std::process::Command::new(program);
                command.args(words).arg(std::env::current_exe()?);
                command
            }
            None => std::process::Command::new(std::env::current_exe()?),
        };
        let child = command
            .arg(SERVE)
            .env("DATABASE_URL", url)
            .env("CONTENT_STORE_URL", contents_folder(url))
            .env("LISTEN_ADDR", format!("127.0.0.1:{api_port}"))
            .env("METRICS_LISTEN_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("JWT_SECRET", SECRET)
            .env("JWT_ISSUER", ISSUER)
            .env("JWT_AUDIENCE", AUDIENCE)
            .env("RATE_LIMIT_PER_MINUTE", "0")
            // No background work while measuring: the sweeps, the signed checkpoints (the first
            // would run at start, over every chain head) and the relay are off.
            .env("CREATION_SWEEP_INTERVAL_SECS", "0")
            .env("PURGE_SWEEP_INTERVAL_SECS", "0")
            .env("CHECKPOINT_INTERVAL_SECS", "0")
            .env("RELAY_INTERVAL_SECS", "0")
            .env("WS_MAX_CONNECTIONS_PER_SUBJECT", "8")
            .env("EMAIL_DIR", scratch.join("emails"))
            .env("LETTERS_DIR", scratch.join("letters"))
            // Under overload a request waits for a connection rather than failing after the
            // production default of 2 s: the benchmark measures latency, not refusals.
            .env("DB_ACQUIRE_TIMEOUT_SECS", "10")
            .env("RUST_LOG", "error")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .spawn()?;
        let server = Self {
            pid: if prefix.is_empty() {
                child.id()
            } else {
                served_by(child.id()).ok_or("no API process under BENCH_SERVER_PREFIX")?
            },
            child,
            api: format!("http://127.0.0.1:{api_port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        };
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if let Ok(response) = client.get(format!("{}/readyz", server.api)).send().await
                && response.status().is_success()
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the server did not become ready within a minute".into())
    }

    /// The server's resident memory, in bytes.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// One sample of the server's `/metrics`.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = reqwest::get(&self.metrics).await.ok()?.text().await.ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.pid == self.child.id() {
            let _ = self.child.kill();
        } else {
            // Under a prefix: the API stops as it would in production, so that the command
            // around it (a profiler) writes what it saw.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status();
        }
        let _ = self.child.wait();
    }
}

/// The API process started by the prefix command `parent`: its descendant whose command line
/// holds [`SERVE`] (waited for up to ten seconds).
fn served_by(parent: u32) -> Option<u32> {
    for _ in 0..100 {
        let found = std::fs::read_dir("/proc")
            .ok()?
            .flatten()
            .find_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let ppid: u32 = stat
                    .rsplit_once(')')?
                    .1
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
                let serves = cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg == SERVE.as_bytes());
                (ppid == parent && serves).then_some(pid)
            });
        if found.is_some() {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A token the benchmark's server accepts.
pub fn token(role: &str, sub: &str) -> String {
    let mut claims = json!({
        "sub": sub,
        "role": role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": (chrono::Utc::now() + chrono::Duration::hours(6)).timestamp(),
        "name": format!("{role} {sub}"),
    });
    if role == "PRACTITIONER" {
        // A physician (RPPS profession code 10): reads and feeds every document type.
        claims["profession"] = json!("Médecin généraliste");
        claims["profession_code"] = json!("10");
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes())
            .expect("an HMAC key of any length"),
    )
    .expect("HS256 signs any claims")
}
