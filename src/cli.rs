//! The command line: `serve` (the default), `migrate`, `schema`, `matrix`, `ledger verify`, `token`,
//! `demo`, `relay`, `letters`, `purge`. Each subcommand takes the settings it uses, so that its `--help`
//! lists those alone; results go to stdout, logs to stderr, and an error is printed once.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use sea_orm::DatabaseConnection;

use crate::clock::{SharedClock, SystemClock};
use crate::config::{
    AuthSettings, DatabaseSettings, LettersSettings, MailSettings, RelaySettings, RuleSettings,
    Settings,
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
    /// Write the postal activity statements: one PDF letter per patient with pending postal
    /// notices, and a manifest, in LETTERS_DIR.
    Letters {
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        letters: LettersSettings,
    },
}

/// Ledger subcommands.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Re-verify every patient's chain; exit 1 and name the first broken event of each chain
    /// that does not verify.
    Verify {
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

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
            command: LedgerCommand::Verify { database },
        } => {
            let db = database.connect(None).await?;
            let reports = crate::ledger::verify_all(&db).await?;
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
            println!(
                "{} chain(s), {} verified, {broken} broken",
                reports.len(),
                reports.len() - broken
            );
            if broken > 0 {
                return Ok(ExitCode::FAILURE);
            }
        }
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
                tokio::select! {
                    () = relay.run(every) => {},
                    () = shutdown_signal() => {},
                }
            }
        }
        Command::Purge { database, rules } => {
            let services =
                crate::services::Services::new(migrated(&database).await?, clock, rules.policy());
            let purged = services
                .purge_due_profiles()
                .await
                .map_err(|err| err.message())?;
            println!("{} profile(s) purged", purged.len());
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

/// The configured database, migrated.
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
