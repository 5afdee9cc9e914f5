//! The command line: `serve` (the default), `migrate`, `schema`, `ledger verify`, `token`,
//! `demo`.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::domain::ActorRole;
use crate::startup::{Application, StartupError, shutdown_signal};

/// espace-sante: the GraphQL API of Mon espace santé and the DMP, on audit-first storage.
#[derive(Debug, Parser)]
#[command(name = "espace-sante", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do (default: `serve`).
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations and serve the API (GraphiQL on GET /graphql).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL), as checked in as schema.graphql.
    Schema,
    /// Ledger tools.
    Ledger {
        #[command(subcommand)]
        command: LedgerCommand,
    },
    /// Mint a development token (refused when JWT_SECRET is set).
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
        /// Profession, for a practitioner.
        #[arg(long)]
        profession: Option<String>,
        /// Validity in hours.
        #[arg(long, default_value_t = 24)]
        hours: u32,
    },
    /// Load a small demo population and print ready-to-use tokens.
    Demo,
    /// Run the outbox relay alone (sends emails), every RELAY_INTERVAL_SECS, or once.
    Relay {
        /// One round, then exit.
        #[arg(long)]
        once: bool,
    },
    /// Write the postal activity statements: one PDF letter per patient with pending postal
    /// notices, and a manifest, in LETTERS_DIR.
    Letters,
}

/// Ledger subcommands.
#[derive(Debug, Subcommand)]
pub enum LedgerCommand {
    /// Re-verify every patient's chain; exit 1 and name the first broken event of each chain
    /// that does not verify.
    Verify,
}

/// Runs the command line; the exit code says how it went.
pub async fn run(cli: Cli) -> ExitCode {
    crate::telemetry::init(&cli.settings.log_format);
    match execute(cli).await {
        Ok(code) => code,
        Err(err) => {
            tracing::error!(error.cause = %err, "espace-sante failed");
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> Result<ExitCode, StartupError> {
    let settings = cli.settings;
    let clock: SharedClock = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(&settings, clock).await?;
            tracing::info!(
                database = %redact_url(&settings.database_url),
                "listening on http://{}:{}/graphql (GraphiQL in a browser)",
                settings.listen.ip(),
                app.port()
            );
            app.run_until(shutdown_signal()).await?;
        }
        Command::Migrate => {
            let db = crate::db::connect(&settings.database_url).await?;
            crate::db::migrate(&db).await?;
            println!("migrations applied");
        }
        Command::Schema => print!("{}", crate::graphql::sdl()),
        Command::Ledger {
            command: LedgerCommand::Verify,
        } => {
            let db = crate::db::connect(&settings.database_url).await?;
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
            hours,
        } => {
            let role = match role.as_str() {
                "PATIENT" => ActorRole::Patient,
                "PRACTITIONER" => ActorRole::Practitioner,
                _ => ActorRole::Operator,
            };
            let token = settings.authenticator()?.mint_development_token(
                role,
                &sub,
                name,
                profession,
                chrono::Utc::now(),
                chrono::Duration::hours(i64::from(hours)),
            )?;
            println!("{token}");
        }
        Command::Demo => crate::demo::load(&settings, clock).await?,
        Command::Relay { once } => {
            let delivery = delivery(&settings, clock).await?;
            tracing::info!("emails go to {}", delivery.relay.mailer.describe());
            if once {
                let report = delivery.relay.run_once().await?;
                println!(
                    "{} sent, {} to retry, {} failed",
                    report.sent, report.retried, report.failed
                );
            } else {
                let every = std::time::Duration::from_secs(settings.relay_interval_secs.max(1));
                tokio::select! {
                    () = delivery.relay.run(every) => {},
                    () = shutdown_signal() => {},
                }
            }
        }
        Command::Letters => {
            let run = delivery(&settings, clock)
                .await?
                .statements
                .run()
                .await
                .map_err(|e| e.message())?;
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

/// The delivery machinery on the configured database.
async fn delivery(
    settings: &Settings,
    clock: SharedClock,
) -> Result<crate::notify::Delivery, StartupError> {
    let db = crate::db::connect(&settings.database_url).await?;
    crate::db::migrate(&db).await?;
    let services = crate::services::Services::new(db, clock, settings.policy());
    Ok(settings.delivery(&services)?)
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
