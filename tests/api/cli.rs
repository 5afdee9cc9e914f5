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
fn token_subject_is_validated() {
    let refused = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args(["token", "--role", "PATIENT", "--sub", "123"])
        .env_remove("JWT_SECRET")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("INS"));
}

#[test]
fn help_documents_every_setting_and_its_variable() {
    let help = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .arg("--help")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for variable in [
        "DATABASE_URL",
        "LISTEN_ADDR",
        "JWT_SECRET",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "OPPOSITION_WINDOW_DAYS",
        "ACTIVATION_MAX_ATTEMPTS",
        "ACTIVATION_LOCKOUT_MINUTES",
        "DOCUMENT_MAX_BYTES",
        "CREATION_SWEEP_INTERVAL_SECS",
        "LOG_FORMAT",
    ] {
        assert!(text.contains(variable), "{variable} missing from --help");
    }
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
