//! The command line: `serve` (the default), `migrate`, `schema`, `matrix`, `ledger` (`verify`,
//! `checkpoint`, `verify-export`, `verify-checkpoints`), `keys` (`generate`, `rotate`), `token`, `demo`,
//! `relay`, `letters`, `purge`. Each subcommand takes the settings it uses, so that its `--help`
//! lists those alone; results go to stdout, logs to stderr, and an error is printed once.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;

use crate::clock::{SharedClock, SystemClock};
use crate::config::{
    AuthSettings, CheckpointSettings, DatabaseSettings, LettersSettings, MailSettings,
    RelaySettings, RuleSettings, Settings,
};
use crate::domain::ActorRole;
use crate::startup::{Application, StartupError, shutdown_signal};

/// espace-sante: the GraphQL API of Mon espace santé and the DMP, on audit-first storage.
#[derive(Debug, Parser)]
#[command(
    name = "espace-sante",
    version,
    about,
    after_help = "Without a command, `serve` runs with its settings from the environment; \
                  `espace-sante serve --help` lists them."
)]
pub struct Cli {
    /// Log format: `pretty` for a terminal, `json` for production. Logs go to stderr;
    /// RUST_LOG filters them.
    #[arg(long, env = "LOG_FORMAT", default_value = "pretty", value_parser = ["pretty", "json"], global = true)]
    pub log_format: String,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do (default: `serve`, with its settings from the environment).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (GraphiQL on GET /graphql in development); in development, apply
    /// migrations first. The default.
    Serve(Box<Settings>),
    /// Apply pending migrations and exit.
    Migrate {
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Print the GraphQL schema (SDL), as checked in as schema.graphql.
    Schema,
    /// Print the access matrix: which professions may read and feed which document types.
    Matrix,
    /// Ledger tools.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Key tools.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Mint a development token (refused when JWT_SECRET or JWT_ISSUERS is set).
    Token {
        /// PATIENT, PRACTITIONER or OPERATOR.
        #[arg(long, value_parser = ["PATIENT", "PRACTITIONER", "OPERATOR"])]
        role: String,
        /// INS for a patient, RPPS number for a practitioner, agent id for an operator.
        #[arg(long)]
        sub: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Profession's display name, for a practitioner (default: the nomenclature's name of
        /// `--profession-code`).
        #[arg(long)]
        profession: Option<String>,
        /// Profession's code of the RPPS nomenclature, for a practitioner (`10` médecin, `21`
        /// pharmacien, …; `espace-sante matrix` lists them): the access matrix reads it.
        #[arg(long)]
        profession_code: Option<String>,
        /// Validity in hours.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        #[command(flatten)]
        auth: AuthSettings,
    },
    /// Load a small demo population and print ready-to-use tokens.
    Demo {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        auth: AuthSettings,
        #[command(flatten)]
        rules: RuleSettings,
    },
    /// Run the outbox relay alone (sends emails), every RELAY_INTERVAL_SECS, or once.
    Relay {
        /// One round, then exit.
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        mail: MailSettings,
        #[command(flatten)]
        relay: RelaySettings,
    },
    /// Purge the closed profiles whose retention period (RETENTION_YEARS) has ended: delete
    /// their documents' contents, message bodies and medical profile, keep their ledger.
    Purge {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        rules: RuleSettings,
    },
    /// The content store: move the contents still in the database into it, or sweep it.
    Content {
        #[command(subcommand)]
        command: ContentCommand,
    },
    /// Write the postal activity statements: one PDF letter per patient with pending postal
    /// notices, and a manifest, in LETTERS_DIR.
    Letters {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        letters: LettersSettings,
    },
}

/// Content-store subcommands.
#[derive(Debug, Subcommand)]
pub enum ContentCommand {
    /// Move the bytes of documents and attachments still kept in the database
    /// (before CONTENT_STORE_URL existed) into the store, checking each against its recorded
    /// SHA-256; the database keeps the digest and the size. Resumable and idempotent: run it
    /// again after a stop, or after an older server wrote more. Exits 1 if some bytes do not
    /// match their digest (they stay in the database: `ledger verify --deep` tells more).
    Migrate {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        rules: RuleSettings,
    },
    /// Delete from the store the objects no row references, older than a day: what a crash
    /// between an object's write and its transaction's commit, or a refused feed, left.
    Sweep {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        rules: RuleSettings,
    },
}

/// Ledger subcommands.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Re-verify every patient's chain; exit 1 and name the first broken event of each chain
    /// that does not verify.
    Verify {
        /// Also recompute content hashes from the stored bytes and re-derive the projections
        /// (status, blocks, masks, first accesses, documents, messages, medical profile) from
        /// the events; name every divergence with its patient and sequence.
        #[arg(long)]
        deep: bool,
        /// The checkpoints' first public key (64 hex digits): every checkpoint must be signed
        /// by it or by a key it introduced, each within its period. Without it, the first
        /// checkpoint's key.
        #[arg(long)]
        public_key: Option<String>,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Sign a checkpoint now (unless no chain moved since the last one) and print it.
    Checkpoint {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        checkpoints: CheckpointSettings,
    },
    /// Verify a patient's exported history offline (no database, no network): every hash, the
    /// chain, the content of included files, and the inclusion of the chain in a checkpoint
    /// signed by KEY or by a key KEY introduced (through the key set the export carries).
    /// FILE is the export's `ledger.json` (or `me { ledgerExport }` saved).
    VerifyExport {
        /// The exported history (JSON).
        file: std::path::PathBuf,
        /// The operator's first checkpoint public key, 64 hex digits (from
        /// `GET /ledger/checkpoints`, kept beforehand): the trust anchor.
        #[arg(long)]
        public_key: String,
    },
    /// The restore drill: deep-verify the database (a restored backup) and compare its
    /// checkpoints with a copy of the published log kept outside it; tell a whole restore from
    /// one that lost its tail, naming the chains and sequences lost. Exit 1 unless whole.
    VerifyRestore {
        /// The published log (JSON of `GET /ledger/checkpoints`), as mirrored before the loss.
        #[arg(long)]
        published: std::path::PathBuf,
        /// The operator's checkpoint public key, 64 hex digits.
        #[arg(long)]
        public_key: String,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Verify a copy of the published log of checkpoints offline (the JSON of
    /// `GET /ledger/checkpoints`): every signature by KEY or by a key introduced after it, each
    /// within its period, every log root, and the published key set; with --known, that the
    /// log still holds each checkpoint kept from an earlier copy (no fork).
    VerifyCheckpoints {
        /// The log (JSON of `GET /ledger/checkpoints`).
        file: std::path::PathBuf,
        /// The operator's first checkpoint public key, 64 hex digits: the trust anchor.
        #[arg(long)]
        public_key: String,
        /// An earlier copy of the log (same JSON), or one checkpoint (JSON) kept before.
        #[arg(long)]
        known: Option<std::path::PathBuf>,
    },
}

/// Key subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a ledger signing key (Ed25519): write its seed (64 hex digits) to FILE, readable
    /// by its owner only, and print the public key to publish.
    Generate {
        /// Where to write the key (refused if it exists).
        #[arg(long)]
        out: std::path::PathBuf,
    },
    /// Rotate the ledger signing key: generate a new key into FILE (readable by its owner
    /// only), then append a checkpoint signed by the current key (LEDGER_SIGNING_KEY or
    /// LEDGER_SIGNING_KEY_FILE) that introduces it. From then on only the new key signs:
    /// restart every server with it. Prints the new public key.
    Rotate {
        /// Where to write the new key (refused if it exists).
        #[arg(long)]
        out: std::path::PathBuf,
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        checkpoints: CheckpointSettings,
    },
}

/// Longest wait, at SIGTERM, for `relay` to record the email in hand.
const RELAY_SHUTDOWN_BOUND: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs the command line; the exit code says how it went.
pub async fn run(cli: Cli) -> ExitCode {
    crate::telemetry::init(&cli.log_format);
    let command = match cli.command {
        Some(command) => command,
        // A bad variable exits here with clap's message, as a bad flag does in `parse`.
        None => Command::Serve(Box::new(
            Settings::from_env().unwrap_or_else(|err| err.exit()),
        )),
    };
    match execute(command).await {
        Ok(code) => code,
        Err(err) => {
            // The one report of the failure: it ends the program, nothing logged it before.
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(command: Command) -> Result<ExitCode, StartupError> {
    let clock: SharedClock = Arc::new(SystemClock);
    match command {
        Command::Serve(settings) => {
            let app = Application::build(&settings, clock).await?;
            tracing::info!(
                database = %redact_url(&settings.database.database_url),
                "listening on http://{}:{}/graphql{}",
                settings.http.listen.ip(),
                app.port(),
                match settings.app_env {
                    crate::config::AppEnv::Development => " (GraphiQL in a browser)",
                    crate::config::AppEnv::Production => "",
                }
            );
            app.run_until(shutdown_signal()).await?;
        }
        Command::Migrate { database } => {
            migrated(&database).await?;
            println!("migrations applied");
        }
        Command::Schema => print!("{}", crate::graphql::sdl()),
        Command::Matrix => print!("{}", crate::domain::visibility::matrix_table()),
        Command::Ledger {
            command:
                LedgerCommand::Verify {
                    deep,
                    public_key,
                    database,
                },
        } => {
            let db = database.connect(None).await?;
            let (reports, divergences) = if deep {
                let report = crate::ledger::deep::verify_deep(&db, &database.contents()?).await?;
                if report.unbound_events > 0 {
                    println!(
                        "{} content event(s) written before content was bound (encoding v1): \
                         checked against their tables' own hashes",
                        report.unbound_events
                    );
                }
                (report.chains, report.divergences)
            } else {
                (crate::ledger::verify_all(&db).await?, Vec::new())
            };
            let mut broken = 0;
            for report in &reports {
                match report.first_broken {
                    None => println!(
                        "{}: verified ({} events)",
                        report.patient_ins, report.events
                    ),
                    Some((seq, why)) => {
                        broken += 1;
                        println!("{}: BROKEN at sequence {seq}: {why}", report.patient_ins);
                    }
                }
            }
            for d in &divergences {
                match d.seq {
                    Some(seq) => println!(
                        "{}: DIVERGES at sequence {seq}: {}",
                        d.patient_ins, d.problem
                    ),
                    None => println!("{}: DIVERGES: {}", d.patient_ins, d.problem),
                }
            }
            println!(
                "{} chain(s), {} verified, {broken} broken",
                reports.len(),
                reports.len() - broken
            );
            if deep {
                println!("{} divergence(s)", divergences.len());
            }
            let anchored =
                crate::ledger::checkpoint::verify_checkpoints(&db, public_key.as_deref()).await?;
            for problem in &anchored {
                println!("CHECKPOINT: {problem}");
            }
            println!(
                "checkpoints: {}",
                if anchored.is_empty() {
                    "verified"
                } else {
                    "DO NOT VERIFY"
                }
            );
            if broken > 0 || !divergences.is_empty() || !anchored.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Ledger {
            command:
                LedgerCommand::Checkpoint {
                    database,
                    checkpoints,
                },
        } => {
            let signer = checkpoints.signer()?;
            let db = database.connect(None).await?;
            let outcome =
                crate::ledger::checkpoint::create_checkpoint(&db, &signer, chrono::Utc::now())
                    .await?;
            let (word, checkpoint) = match outcome {
                crate::ledger::checkpoint::CheckpointOutcome::Created(c) => ("signed", c),
                crate::ledger::checkpoint::CheckpointOutcome::Unchanged(c) => {
                    ("unchanged since", c)
                }
            };
            println!(
                "checkpoint {} {word}: {} chain(s), heads root {}, key {}",
                checkpoint.index, checkpoint.tree_size, checkpoint.heads_root, checkpoint.key_id
            );
        }
        Command::Ledger {
            command:
                LedgerCommand::VerifyRestore {
                    published,
                    public_key,
                    database,
                },
        } => {
            // Verified from the first key, across its rotations.
            let (published_log, _) = read_checkpoints(&published)?;
            crate::ledger::checkpoint::verify_log(&published_log, public_key.trim())
                .map_err(|problem| format!("{}: {problem}", published.display()))?;
            let db = database.connect(None).await?;
            let report =
                crate::ledger::restore::verify_restore(&db, &database.contents()?, &published_log)
                    .await?;
            print_restore(&report);
            if !report.whole() {
                return Ok(ExitCode::FAILURE);
            }
        }
        Command::Ledger {
            command: LedgerCommand::VerifyExport { file, public_key },
        } => return verify_export(&file, &public_key),
        Command::Ledger {
            command:
                LedgerCommand::VerifyCheckpoints {
                    file,
                    public_key,
                    known,
                },
        } => return verify_checkpoint_log(&file, &public_key, known.as_deref()),
        Command::Keys {
            command: KeysCommand::Generate { out },
        } => {
            let signer = crate::ledger::checkpoint::CheckpointSigner::generate();
            write_new_secret(&out, &signer.seed_hex())?;
            println!("{}", signer.public_key());
            eprintln!(
                "key written to {} (set LEDGER_SIGNING_KEY_FILE to it); publish the public key above",
                out.display()
            );
        }
        Command::Keys {
            command:
                KeysCommand::Rotate {
                    out,
                    database,
                    checkpoints,
                },
        } => rotate_key(&out, &database, &checkpoints).await?,
        Command::Token {
            role,
            sub,
            name,
            profession,
            profession_code,
            hours,
            auth,
        } => {
            let role = match role.as_str() {
                "PATIENT" => ActorRole::Patient,
                "PRACTITIONER" => ActorRole::Practitioner,
                _ => ActorRole::Operator,
            };
            let token = auth.authenticator(clock)?.mint_development_token(
                role,
                &sub,
                crate::auth::TokenNames {
                    name,
                    profession,
                    profession_code,
                },
                chrono::Utc::now(),
                chrono::Duration::hours(i64::from(hours)),
            )?;
            println!("{token}");
        }
        Command::Demo {
            database,
            auth,
            rules,
        } => crate::demo::load(&database, &auth, &rules, clock).await?,
        Command::Relay {
            once,
            database,
            mail,
            relay: settings,
        } => {
            let relay = settings.relay(&mail, migrated(&database).await?, clock)?;
            tracing::info!("emails go to {}", relay.mailer.describe());
            if once {
                let report = relay.run_once().await?;
                println!(
                    "{} sent, {} to retry, {} failed",
                    report.sent, report.retried, report.failed
                );
            } else {
                let every = std::time::Duration::from_secs(settings.relay_interval_secs.max(1));
                let stop = tokio_util::sync::CancellationToken::new();
                let relaying = tokio::spawn(relay.run(every, stop.clone()));
                shutdown_signal().await;
                // The email in hand is sent and recorded, then the relay ends: within
                // RELAY_SHUTDOWN_BOUND, after which it is abandoned (its lease lapses, and
                // another relay sends it: at least once).
                stop.cancel();
                if tokio::time::timeout(RELAY_SHUTDOWN_BOUND, relaying)
                    .await
                    .is_err()
                {
                    tracing::warn!("the email in hand was not recorded in time; abandoned");
                }
            }
        }
        Command::Purge { database, rules } => {
            let services = services_of(&database, &rules, clock).await?;
            let purged = services
                .purge_due_profiles()
                .await
                .map_err(|err| err.message())?;
            println!("{} profile(s) purged", purged.len());
        }
        Command::Content {
            command: ContentCommand::Migrate { database, rules },
        } => {
            let services = services_of(&database, &rules, clock).await?;
            let moved = services
                .migrate_contents()
                .await
                .map_err(|err| err.message())?;
            println!(
                "{} document(s) and {} attachment(s) moved to {}",
                moved.documents,
                moved.attachments,
                services.contents.describe()
            );
            if !moved.mismatched.is_empty() {
                return Err(format!(
                    "left in the database, their bytes not matching their recorded SHA-256: {}",
                    moved.mismatched.join(", ")
                )
                .into());
            }
        }
        Command::Content {
            command: ContentCommand::Sweep { database, rules },
        } => {
            let services = services_of(&database, &rules, clock).await?;
            let deleted = services
                .sweep_contents()
                .await
                .map_err(|err| err.message())?;
            println!("{deleted} object(s) no row references deleted from the store");
        }
        Command::Letters { database, letters } => {
            let run = letters
                .statements(migrated(&database).await?, clock)
                .run()
                .await?;
            for letter in &run.letters {
                println!(
                    "{} ({} page(s), {} notice(s))",
                    letter.file, letter.pages, letter.notifications
                );
            }
            match run.manifest {
                Some(manifest) => println!(
                    "{} letter(s); manifest {}",
                    run.letters.len(),
                    manifest.display()
                ),
                None => println!("no pending postal notice: nothing written"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `keys rotate`: the current key introduces a new one. The new key is on disk before the
/// checkpoint that introduces it is appended: the other way round, a failed write would leave
/// a log whose current key nobody holds, and no checkpoint could ever be signed again.
async fn rotate_key(
    out: &std::path::Path,
    database: &DatabaseSettings,
    checkpoints: &CheckpointSettings,
) -> Result<(), StartupError> {
    use crate::ledger::checkpoint::{self, CheckpointSigner};
    let current = checkpoints.signer()?;
    let db = database.connect(None).await?;
    // Before anything is written: only the current key may introduce the next.
    if let Some(refusal) = checkpoint::signing_refusal(&db, &current).await? {
        return Err(format!("no key rotated: {refusal}").into());
    }
    let next = CheckpointSigner::generate();
    write_new_secret(out, &next.seed_hex())?;
    let introduced = checkpoint::rotate_key(&db, &current, &next.public_key(), chrono::Utc::now())
        .await
        .map_err(|err| {
            format!(
                "the new key in {} was NOT introduced (delete it, or keep it and run again with \
                 another --out): {err}",
                out.display()
            )
        })?;
    println!("{}", next.public_key());
    eprintln!(
        "checkpoint {} (signed by key {}) introduces key {}, written to {}: restart every server \
         with LEDGER_SIGNING_KEY_FILE={}; key {} signs no more checkpoints",
        introduced.index,
        current.key_id(),
        next.key_id(),
        out.display(),
        out.display(),
        current.key_id()
    );
    Ok(())
}

/// Writes a new file readable by its owner only; refuses to overwrite one.
fn write_new_secret(path: &std::path::Path, text: &str) -> Result<(), StartupError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writeln!(file, "{text}")?;
    Ok(())
}

/// The bytes of a file named by an export: beside the history file, never outside its folder.
fn export_file(base: &std::path::Path, name: &str) -> Option<Vec<u8>> {
    let relative = std::path::Path::new(name);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return None;
    }
    std::fs::read(base.join(relative)).ok()
}

/// `ledger verify-export`: prints the verdict; exit 1 unless it verifies. FILE is the export's
/// zip (its `ledger.json` and the files it names are read inside it) or a `ledger.json` (the
/// files it names are read beside it).
fn verify_export(file: &std::path::Path, public_key: &str) -> Result<ExitCode, StartupError> {
    use crate::ledger::{export, zip};
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let archive = if zip::is_zip(&bytes) {
        Some(zip::stored_entries(&bytes).map_err(|e| format!("{}: {e}", file.display()))?)
    } else {
        None
    };
    let (history, folder) = match &archive {
        Some(entries) => {
            let name = entries
                .keys()
                .filter(|n| *n == "ledger.json" || n.ends_with("/ledger.json"))
                .min_by_key(|n| n.len())
                .ok_or_else(|| format!("{}: no ledger.json in the archive", file.display()))?;
            let folder = name.strip_suffix("ledger.json").unwrap_or("").to_owned();
            (entries[name].as_slice(), folder)
        }
        None => (bytes.as_slice(), String::new()),
    };
    let export: export::LedgerExport = serde_json::from_slice(history)
        .map_err(|e| format!("{}: not a ledger export: {e}", file.display()))?;
    let base = file.parent().unwrap_or(std::path::Path::new("."));
    let verdict = export::verify_export(&export, public_key.trim(), |p| match &archive {
        Some(entries) => entries.get(&format!("{folder}{p}")).cloned(),
        None => export_file(base, p),
    });
    if verdict.withheld > 0 {
        println!(
            "{} withheld event(s): linked in the chain, their content not shown",
            verdict.withheld
        );
    }
    println!("patient {}: {} event(s)", export.patient, verdict.events);
    if let Some(head) = &verdict.head_hash {
        println!("head hash {head}");
    }
    if let Some((checkpoint, seq)) = verdict.anchored {
        println!("anchored: sequence {seq} is in signed checkpoint {checkpoint}");
        if verdict.events > u64::try_from(seq).unwrap_or(0) {
            println!(
                "events after sequence {seq} are chained to it, not yet covered by a checkpoint"
            );
        }
    }
    println!("{} file(s) verified", verdict.files_verified);
    for path in &verdict.files_absent {
        println!("not included: {path}");
    }
    for problem in &verdict.problems {
        println!("FAILED: {problem}");
    }
    if verdict.verified() {
        println!("verified");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT VERIFIED");
        Ok(ExitCode::FAILURE)
    }
}

/// `ledger verify-restore`'s report: a line per finding, then the verdict.
fn print_restore(report: &crate::ledger::restore::RestoreReport) {
    let deep = &report.deep;
    let broken: Vec<_> = deep.chains.iter().filter(|c| !c.verified()).collect();
    println!(
        "{} chain(s) restored, {} broken, {} divergence(s) from their tables",
        deep.chains.len(),
        broken.len(),
        deep.divergences.len()
    );
    for chain in broken {
        if let Some((seq, why)) = chain.first_broken {
            println!("BROKEN: {} at sequence {seq}: {why}", chain.patient_ins);
        }
    }
    for d in &deep.divergences {
        println!(
            "DIVERGES: {} at sequence {}: {}",
            d.patient_ins,
            d.seq.map_or_else(|| "-".to_owned(), |s| s.to_string()),
            d.problem
        );
    }
    println!(
        "checkpoints: {} restored, {} published",
        report.restored_checkpoints, report.published_checkpoints
    );
    if let Some(index) = report.forked_at {
        println!(
            "FORKED: restored checkpoint {index} is not the published one: this is not a backup \
             of the published ledger, or its checkpoints were rewritten"
        );
    }
    if let Some(problem) = &report.heads_problem {
        println!("HEADS: {problem}");
    }
    for lost in &report.truncated {
        println!("LOST: {lost}");
    }
    if let Some(tail) = &report.lost {
        let since = match &tail.restored_up_to {
            (0, _) => "the restore holds no checkpoint: everything recorded".to_owned(),
            (index, time) => format!(
                "the restore ends at checkpoint {index} ({}): what was recorded after it",
                time.as_deref().unwrap_or("?")
            ),
        };
        println!(
            "LOST TAIL: {since} is lost, at least up to checkpoint {} ({}), which covered {} \
             chain(s); the restore holds {}",
            tail.published_up_to.0,
            tail.published_up_to.1,
            tail.published_chains,
            tail.restored_chains
        );
    }
    if report.restored_checkpoints > report.published_checkpoints && report.forked_at.is_none() {
        println!(
            "NEWER: the restore holds checkpoints the published copy does not: compare with a \
             newer, complete copy (GET /ledger/checkpoints pages 1,000 at a time: follow ?after=)"
        );
    }
    println!(
        "restore: {}",
        if report.whole() { "WHOLE" } else { "NOT WHOLE" }
    );
}

/// A published log of checkpoints (with the key set, when published by a build that rotates
/// keys), or one checkpoint.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum CheckpointFile {
    Log {
        checkpoints: Vec<crate::ledger::checkpoint::SignedCheckpoint>,
        #[serde(default)]
        keys: Option<Vec<crate::ledger::keys::KeyPeriod>>,
    },
    One(crate::ledger::checkpoint::SignedCheckpoint),
}

type PublishedLog = (
    Vec<crate::ledger::checkpoint::SignedCheckpoint>,
    Option<Vec<crate::ledger::keys::KeyPeriod>>,
);

fn read_checkpoints(path: &std::path::Path) -> Result<PublishedLog, StartupError> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(
        match serde_json::from_slice(&text)
            .map_err(|e| format!("{}: not checkpoints: {e}", path.display()))?
        {
            CheckpointFile::Log { checkpoints, keys } => (checkpoints, keys),
            CheckpointFile::One(c) => (vec![c], None),
        },
    )
}

/// `ledger verify-checkpoints`: the log verifies from the first key, the key set published
/// beside it is the one its introducing checkpoints give, and the log holds every checkpoint
/// known before.
fn verify_checkpoint_log(
    file: &std::path::Path,
    public_key: &str,
    known: Option<&std::path::Path>,
) -> Result<ExitCode, StartupError> {
    use crate::ledger::checkpoint;
    let (log, published_keys) = read_checkpoints(file)?;
    let mut problems = Vec::new();
    let keys = match checkpoint::verify_log(&log, public_key.trim()) {
        Ok(keys) => {
            if let Some(problem) = published_keys
                .as_deref()
                .and_then(|published| keys.differs_from(published))
            {
                problems.push(problem);
            }
            Some(keys)
        }
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    // The whole log verified (each log root, each log of heads extending the one before), a
    // checkpoint kept before is in it when the log's checkpoint at its index is the same
    // signed statement.
    if let (Some(known), Some(keys)) = (known, &keys) {
        for old in read_checkpoints(known)?.0 {
            let Some(ours) = usize::try_from(old.index)
                .ok()
                .and_then(|m| m.checked_sub(1))
                .and_then(|i| log.get(i))
            else {
                problems.push(format!("known checkpoint {} is not in the log", old.index));
                continue;
            };
            if let Err(problem) = keys.signer_of(&old) {
                problems.push(format!("known {problem}"));
            } else if !checkpoint::same_statement(&old, ours) {
                problems.push(format!(
                    "checkpoint {} you kept is not the log's checkpoint {}: the log of \
                     checkpoints forked",
                    old.index, old.index
                ));
            }
        }
    }
    println!("{} checkpoint(s)", log.len());
    if let Some(keys) = &keys {
        for key in keys.keys() {
            println!("key {}: {}", key.key_id, key.describe());
        }
    }
    for problem in &problems {
        println!("FAILED: {problem}");
    }
    if problems.is_empty() {
        println!("verified");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("NOT VERIFIED");
        Ok(ExitCode::FAILURE)
    }
}

/// The configured database, migrated.
/// The services of a one-off command: the database migrated, the content store, the rules.
async fn services_of(
    database: &DatabaseSettings,
    rules: &RuleSettings,
    clock: SharedClock,
) -> Result<crate::services::Services, StartupError> {
    Ok(crate::services::Services::new(
        migrated(database).await?,
        clock,
        rules.policy(),
        database.contents()?,
    ))
}

async fn migrated(database: &DatabaseSettings) -> Result<DatabaseConnection, StartupError> {
    let db = database.connect(None).await?;
    crate::db::migrate(&db).await?;
    Ok(db)
}

/// The URL without its password, for logs.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_password_is_not_logged() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact_url("sqlite://espace-sante.sqlite?mode=rwc"),
            "sqlite://espace-sante.sqlite?mode=rwc"
        );
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
