//! The binary's subcommands, run as a user runs them.

use std::process::{Command, Output};

use crate::helpers::{TestApp, on_both_databases};
use crate::ledger::tamper;

fn espace_sante(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("JWT_SECRET")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

async fn ledger_verify_passes_on_demo_data_and_names_the_altered_event(app: TestApp) {
    let demo = espace_sante(&app.database_url, &["demo"]);
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let tour = String::from_utf8_lossy(&demo.stdout);
    assert!(
        tour.contains("PRACTITIONER") && tour.contains("Activation code of"),
        "{tour}"
    );

    let verified = espace_sante(&app.database_url, &["ledger", "verify"]);
    let report = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{report}");
    assert!(
        report.contains("5 chain(s), 5 verified, 0 broken"),
        "{report}"
    );

    // Sophie LEROY, the activated demo patient, has three events; alter the second.
    tamper(&app, "288021598700139", 2).await;
    let broken = espace_sante(&app.database_url, &["ledger", "verify"]);
    let report = String::from_utf8_lossy(&broken.stdout);
    assert_eq!(broken.status.code(), Some(1), "{report}");
    assert!(
        report.contains("288021598700139: BROKEN at sequence 2: content does not match its hash"),
        "{report}"
    );
    assert!(report.contains("4 verified, 1 broken"), "{report}");

    let again = espace_sante(&app.database_url, &["demo"]);
    assert!(again.status.success(), "demo is idempotent");
}

#[test]
fn token_is_refused_when_a_production_key_is_configured() {
    let minted = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args([
            "token",
            "--role",
            "PATIENT",
            "--sub",
            "285037512304514",
            "--name",
            "Camille DURAND",
        ])
        .env_remove("JWT_SECRET")
        .output()
        .unwrap();
    assert!(minted.status.success());
    assert_eq!(
        String::from_utf8_lossy(&minted.stdout)
            .trim()
            .split('.')
            .count(),
        3
    );

    let refused = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args(["token", "--role", "PATIENT", "--sub", "285037512304514"])
        .env("JWT_SECRET", "a-production-secret-of-at-least-32-bytes")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("production key"));
    assert!(refused.stdout.is_empty());
}

#[test]
fn the_matrix_command_prints_which_professions_read_and_feed_which_types() {
    let printed = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .arg("matrix")
        .output()
        .unwrap();
    assert!(printed.status.success());
    let text = String::from_utf8(printed.stdout).unwrap();
    let row = |code: &str| {
        text.lines()
            .find(|l| l.starts_with(code))
            .unwrap_or_else(|| panic!("{code} missing:\n{text}"))
            .split_whitespace()
            .take(7)
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Columns: 10 médecin, 21 pharmacien, 40 dentiste, 50 sage-femme, 60 infirmier, 70 kiné.
    assert_eq!(row("11488-4"), "11488-4 F - F F R R");
    assert_eq!(row("57833-6"), "57833-6 F F F F R R");
    assert!(text.contains("21 Pharmacien"), "{text}");
    let manual =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/access.md"))
            .unwrap();
    assert!(
        manual.contains(&format!("```text\n{text}```")),
        "docs/src/access.md shows the matrix as `espace-sante matrix` prints it"
    );
}

#[test]
fn a_practitioner_token_carries_the_profession_code() {
    let minted = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args([
            "token",
            "--role",
            "PRACTITIONER",
            "--sub",
            "10003456786",
            "--name",
            "Paul GIRARD",
            "--profession-code",
            "21",
        ])
        .env_remove("JWT_SECRET")
        .env_remove("JWT_ISSUERS")
        .output()
        .unwrap();
    assert!(minted.status.success(), "{minted:?}");
    let token = String::from_utf8(minted.stdout).unwrap();
    let payload = token.trim().split('.').nth(1).unwrap();
    use base64::Engine;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["profession_code"], "21");
    assert_eq!(
        claims["profession"], "Pharmacien",
        "the nomenclature's name by default"
    );

    let refused = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args([
            "token",
            "--role",
            "PRACTITIONER",
            "--sub",
            "10003456786",
            "--profession-code",
            "pharmacien",
        ])
        .env_remove("JWT_SECRET")
        .env_remove("JWT_ISSUERS")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("profession"));
}

#[test]
fn token_subject_is_validated() {
    let refused = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args(["token", "--role", "PATIENT", "--sub", "123"])
        .env_remove("JWT_SECRET")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("INS"));
}

/// The token settings (`token` reads them, `demo` and `serve` too).
const TOKEN_SETTINGS: [&str; 7] = [
    "JWT_SECRET",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_ISSUERS",
    "JWT_MAX_LIFETIME_SECS",
    "JWKS_CACHE_TTL_SECS",
    "JWKS_REFETCH_INTERVAL_SECS",
];

/// Every variable of the configuration, by the concern that reads it.
const SERVER_SETTINGS: [&str; 24] = [
    "APP_ENV",
    "DATABASE_URL",
    "LISTEN_ADDR",
    "REQUEST_TIMEOUT_SECS",
    "JWT_SECRET",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_ISSUERS",
    "JWT_MAX_LIFETIME_SECS",
    "JWKS_CACHE_TTL_SECS",
    "JWKS_REFETCH_INTERVAL_SECS",
    "OPPOSITION_WINDOW_DAYS",
    "ACTIVATION_MAX_ATTEMPTS",
    "ACTIVATION_LOCKOUT_MINUTES",
    "DOCUMENT_MAX_BYTES",
    "EMERGENCY_ACCESS_MINUTES",
    "SMTP_URL",
    "MAIL_FROM",
    "EMAIL_DIR",
    "RELAY_INTERVAL_SECS",
    "RELAY_MAX_ATTEMPTS",
    "LETTERS_DIR",
    "CREATION_SWEEP_INTERVAL_SECS",
    "LOG_FORMAT",
];

fn help(args: &[&str]) -> String {
    let help = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success(), "{args:?} --help");
    String::from_utf8(help.stdout).unwrap()
}

#[test]
fn serve_help_documents_every_setting_and_its_variable() {
    let text = help(&["serve"]);
    for variable in SERVER_SETTINGS {
        assert!(
            text.contains(&format!("[env: {variable}")),
            "{variable} missing from serve --help"
        );
    }
}

#[test]
fn each_subcommand_help_lists_the_settings_it_uses_and_no_other() {
    let cases: [(&[&str], &[&str]); 8] = [
        (&["token"], &TOKEN_SETTINGS),
        (&["migrate"], &["DATABASE_URL"]),
        (&["ledger", "verify"], &["DATABASE_URL"]),
        (&["schema"], &[]),
        (&["matrix"], &[]),
        (
            &["demo"],
            &[
                "DATABASE_URL",
                "JWT_SECRET",
                "JWT_ISSUER",
                "JWT_AUDIENCE",
                "JWT_ISSUERS",
                "JWT_MAX_LIFETIME_SECS",
                "JWKS_CACHE_TTL_SECS",
                "JWKS_REFETCH_INTERVAL_SECS",
                "OPPOSITION_WINDOW_DAYS",
                "ACTIVATION_MAX_ATTEMPTS",
                "ACTIVATION_LOCKOUT_MINUTES",
                "DOCUMENT_MAX_BYTES",
                "EMERGENCY_ACCESS_MINUTES",
            ],
        ),
        (
            &["relay"],
            &[
                "DATABASE_URL",
                "SMTP_URL",
                "MAIL_FROM",
                "EMAIL_DIR",
                "RELAY_INTERVAL_SECS",
                "RELAY_MAX_ATTEMPTS",
            ],
        ),
        (&["letters"], &["DATABASE_URL", "LETTERS_DIR"]),
    ];
    for (command, uses) in cases {
        let text = help(command);
        for variable in SERVER_SETTINGS {
            // Logging is every command's.
            let expected = uses.contains(&variable) || variable == "LOG_FORMAT";
            assert_eq!(
                text.contains(&format!("[env: {variable}")),
                expected,
                "{variable} in `{} --help`: expected {expected}\n{text}",
                command.join(" ")
            );
        }
    }
    let token = help(&["token"]);
    assert!(
        token.contains("--role") && token.contains("--sub"),
        "{token}"
    );
}

#[test]
fn an_error_is_printed_once_on_stderr_and_fails_the_command() {
    let failed = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .arg("migrate")
        .env("DATABASE_URL", "nosuchdb://somewhere")
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    assert!(failed.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(
        stderr.matches("nosuchdb://").count(),
        1,
        "one report of the failure, not a log line and a message:\n{stderr}"
    );
    assert!(stderr.starts_with("error: "), "{stderr}");

    let refused = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args(["migrate", "--log-format", "xml"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(stderr.matches("'xml'").count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
}

#[test]
fn logs_go_to_stderr_without_colours_when_it_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("cli.sqlite").display()
    );
    let relay = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args(["relay", "--once"])
        .env("DATABASE_URL", &database_url)
        .env("EMAIL_DIR", dir.path().join("emails"))
        .env_remove("SMTP_URL")
        .env_remove("NO_COLOR")
        .env_remove("LOG_FORMAT")
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(relay.status.success());
    assert_eq!(
        String::from_utf8_lossy(&relay.stdout),
        "0 sent, 0 to retry, 0 failed\n",
        "stdout holds the answer alone"
    );
    let stderr = String::from_utf8_lossy(&relay.stderr);
    assert!(stderr.contains("emails go to the folder"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no escape codes: {stderr:?}");
}

#[test]
fn serve_is_what_runs_without_a_command_with_settings_from_the_environment() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .env(
            "DATABASE_URL",
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("serve.sqlite").display()
            ),
        )
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("EMAIL_DIR", dir.path().join("emails"))
        .env("RELAY_INTERVAL_SECS", "0")
        .env("CREATION_SWEEP_INTERVAL_SECS", "0")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let listening = BufReader::new(stderr)
        .lines()
        .map_while(Result::ok)
        .find(|line| line.contains("listening on http://127.0.0.1:"));
    let _ = child.kill();
    let _ = child.wait();
    let line = listening.expect("the server logs its address");
    assert!(
        !line.contains(":0/"),
        "the real port, from LISTEN_ADDR=127.0.0.1:0: {line}"
    );
}

async fn relay_and_letters_run_alone_from_the_command_line(app: TestApp) {
    let smtp = crate::smtp::SmtpServer::start().await;
    app.enrol(vec![
        crate::helpers::beneficiary(&crate::helpers::ins(700), Some("jeanne@example.org")),
        crate::helpers::beneficiary(&crate::helpers::ins(701), None),
    ])
    .await;
    let letters_dir = tempfile::tempdir().unwrap();
    // The SMTP server runs on this test's runtime: the command runs on a blocking thread so that
    // the server keeps answering meanwhile.
    let (database_url, smtp_url, letters) = (
        app.database_url.clone(),
        smtp.url.clone(),
        letters_dir.path().to_owned(),
    );
    let run = |args: &'static [&'static str]| {
        let (database_url, smtp_url, letters) =
            (database_url.clone(), smtp_url.clone(), letters.clone());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_espace-sante"))
                .args(args)
                .env("DATABASE_URL", database_url)
                .env("SMTP_URL", smtp_url)
                .env("LETTERS_DIR", letters)
                .env("RUST_LOG", "warn")
                .output()
                .unwrap()
        })
    };
    let relay = run(&["relay", "--once"]).await.unwrap();
    assert!(
        relay.status.success(),
        "{}",
        String::from_utf8_lossy(&relay.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&relay.stdout).trim(),
        "1 sent, 0 to retry, 0 failed"
    );
    assert_eq!(smtp.received().len(), 1);

    let letters = run(&["letters"]).await.unwrap();
    let out = String::from_utf8_lossy(&letters.stdout).into_owned();
    assert!(
        letters.status.success() && out.contains("1 letter(s); manifest"),
        "{out}"
    );
    let again = run(&["letters"]).await.unwrap();
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing written"));
}

on_both_databases!(
    ledger_verify_passes_on_demo_data_and_names_the_altered_event,
    relay_and_letters_run_alone_from_the_command_line,
);
