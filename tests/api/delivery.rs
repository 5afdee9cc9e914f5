//! Delivery through the real components: emails to an SMTP server, postal statements as PDF
//! files read back by poppler's tools, `.eml` files without SMTP.

use std::process::Command;

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, DOCTOR, TestApp, beneficiary, document_input, ins, on_both_databases, operator_token,
};
use crate::smtp::SmtpServer;

const DELIVER: &str = "mutation { deliverNotifications { sent retried failed } }";
const STATEMENTS: &str = "mutation { runPostalStatements { letters { letterId file pages notifications addressBlock } manifest } }";

async fn with_smtp(backend: Backend) -> (TestApp, SmtpServer) {
    let smtp = SmtpServer::start().await;
    let url = smtp.url.clone();
    let app = TestApp::spawn_with(backend, |s| {
        s.mail.smtp_url = Some(espace_sante::config::Secret(url))
    })
    .await;
    (app, smtp)
}

async fn deliver(app: &TestApp) -> Value {
    app.graphql(Some(&operator_token()), DELIVER, json!({}))
        .await
        .ok()["deliverNotifications"]
        .clone()
}

async fn emails_reach_the_smtp_server(backend: Backend) {
    let (app, smtp) = with_smtp(backend).await;
    let person = ins(600);
    app.activated_profile(&person, Some("insurer@example.org"))
        .await;
    app.feed(
        DOCTOR,
        &person,
        document_input("d-1", "Sérologie VIH positive"),
    )
    .await
    .ok();
    let round = deliver(&app).await;
    // The announcement and the creation notice (insurer email), then the practitioner's first
    // access (their first feed) and the new document (personal email since activation).
    assert_eq!(round, json!({ "sent": 4, "retried": 0, "failed": 0 }));
    let mails = smtp.received();
    assert_eq!(mails.len(), 4);
    let recipients: Vec<&str> = mails.iter().map(|m| m.to[0].as_str()).collect();
    assert_eq!(
        recipients,
        [
            "insurer@example.org",
            "insurer@example.org",
            "perso@example.org",
            "perso@example.org"
        ]
    );
    assert!(
        mails
            .iter()
            .all(|m| m.from == "ne-pas-repondre@monespacesante.fr")
    );
    let document = &mails[3];
    assert_eq!(
        document.header("Subject").unwrap(),
        "Un nouveau document dans votre dossier médical"
    );
    let body = document.body();
    assert!(
        body.contains("Médecin généraliste") && body.contains("https://www.monespacesante.fr"),
        "{body}"
    );
    for medical in ["Sérologie", "VIH", "positive", "11488-4"] {
        assert!(
            !body.contains(medical) && !document.data.contains(medical),
            "{medical} in an email"
        );
    }
    assert!(
        mails[1].body().contains("activation"),
        "the creation notice says how to activate"
    );

    let ids = app
        .query_rows(&format!("SELECT id, ledger_event_id FROM notifications WHERE patient_ins = '{person}' AND channel = 'EMAIL' ORDER BY id"))
        .await;
    for (mail, row) in mails.iter().zip(&ids) {
        assert_eq!(
            mail.header("Message-ID").unwrap(),
            format!("<notification-{}.event-{}@espace-sante>", row[0], row[1])
        );
    }
    assert_eq!(
        deliver(&app).await,
        json!({ "sent": 0, "retried": 0, "failed": 0 }),
        "never twice"
    );
    assert_eq!(smtp.received().len(), 4);
}

async fn transient_failures_are_retried_with_backoff_and_permanent_ones_listed(backend: Backend) {
    let (app, smtp) = with_smtp(backend).await;
    let (retried, refused) = (ins(601), ins(602));
    smtp.fail("later@example.org", 451, 1);
    smtp.fail("nobody@example.org", 550, 10);
    app.enrol(vec![
        beneficiary(&retried, Some("later@example.org")),
        beneficiary(&refused, Some("nobody@example.org")),
    ])
    .await;

    assert_eq!(
        deliver(&app).await,
        json!({ "sent": 0, "retried": 1, "failed": 1 })
    );
    assert_eq!(
        deliver(&app).await,
        json!({ "sent": 0, "retried": 0, "failed": 0 }),
        "not due before its backoff"
    );
    app.advance(Duration::seconds(30));
    assert_eq!(
        deliver(&app).await,
        json!({ "sent": 1, "retried": 0, "failed": 0 })
    );
    assert_eq!(smtp.received().len(), 1);

    let failed = app
        .graphql(Some(&operator_token()), "{ outbox(status: FAILED) { edges { node { patientIns recipient attempts lastError } } } }", json!({}))
        .await;
    let node = &failed.ok()["outbox"]["edges"][0]["node"];
    assert_eq!(node["patientIns"], refused);
    assert_eq!(node["attempts"], 1);
    assert!(
        node["lastError"].as_str().unwrap().contains("550"),
        "{node}"
    );
}

async fn emails_of_a_person_who_opposed_meanwhile_are_cancelled(backend: Backend) {
    let (app, smtp) = with_smtp(backend).await;
    let person = ins(608);
    app.enrol(vec![beneficiary(&person, Some("jeanne@example.org"))])
        .await;
    app.graphql(
        Some(&operator_token()),
        "mutation($ins: INS!) { recordOpposition(ins: $ins, receivedVia: PHONE) { status } }",
        json!({ "ins": person }),
    )
    .await
    .ok();
    assert_eq!(
        deliver(&app).await,
        json!({ "sent": 0, "retried": 0, "failed": 1 })
    );
    assert!(smtp.received().is_empty());
    let rows = app
        .query_rows("SELECT status, last_error FROM notifications")
        .await;
    assert_eq!(rows[0][0], "FAILED");
    assert!(
        rows[0][1].starts_with("cancelled: the profile is OPPOSED"),
        "{rows:?}"
    );
}

async fn exhausted_retries_mark_the_email_failed(backend: Backend) {
    let (app, smtp) = with_smtp(backend).await;
    smtp.fail("down@example.org", 421, 100);
    app.enrol(vec![beneficiary(&ins(603), Some("down@example.org"))])
        .await;
    // The test server allows 3 attempts.
    for expected in [
        json!({ "sent": 0, "retried": 1, "failed": 0 }),
        json!({ "sent": 0, "retried": 1, "failed": 0 }),
        json!({ "sent": 0, "retried": 0, "failed": 1 }),
    ] {
        assert_eq!(deliver(&app).await, expected);
        app.advance(Duration::hours(1));
    }
    let status = app
        .query_rows("SELECT status, attempts FROM notifications")
        .await;
    assert_eq!(status, vec![vec!["FAILED", "3"]]);
}

async fn without_smtp_emails_are_written_as_eml_files(app: TestApp) {
    let person = ins(604);
    app.enrol(vec![beneficiary(&person, Some("jeanne@example.org"))])
        .await;
    assert_eq!(deliver(&app).await["sent"], 1);
    let id = &app.query_rows("SELECT id FROM notifications").await[0][0];
    let eml =
        std::fs::read_to_string(app.settings.mail.email_dir.join(format!("{id}.eml"))).unwrap();
    assert!(eml.contains("To: jeanne@example.org"), "{eml}");
    assert!(
        eml.contains(&format!("Message-ID: <notification-{id}.")),
        "{eml}"
    );
}

fn poppler(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (poppler-utils) must be installed: {e}"));
    assert!(
        output.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

async fn postal_statement_is_one_pdf_letter_per_patient(app: TestApp) {
    let (marcel, louise) = (ins(605), ins(606));
    let code = app.created_profile(&marcel, None).await;
    app.feed(
        DOCTOR,
        &marcel,
        document_input("d-1", "Compte rendu opératoire"),
    )
    .await
    .ok();
    let mut row = beneficiary(&louise, None);
    row["addressLines"] = json!([
        "Résidence Les Tilleuls",
        "Bâtiment B, appartement 12",
        "3 allée des Érables",
        "BP 42",
        "13100 AIX-EN-PROVENCE"
    ]);
    app.enrol(vec![row]).await;

    let run = app
        .graphql(Some(&operator_token()), STATEMENTS, json!({}))
        .await;
    let run = run.ok()["runPostalStatements"].clone();
    let letters = run["letters"].as_array().unwrap().clone();
    assert_eq!(letters.len(), 2, "one letter per patient");
    let manifest = std::fs::read_to_string(run["manifest"].as_str().unwrap()).unwrap();
    let rows: Vec<Value> = manifest
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "one line per letter");
    assert!(
        rows.iter()
            .all(|r| r["file"].as_str().unwrap().ends_with(".pdf") && r["addressBlock"].is_array())
    );

    let marcels = letters
        .iter()
        .find(|l| l["notifications"] == 4)
        .expect("announcement, creation, first access (the first feed), document");
    let pdf = app
        .settings
        .letters
        .letters_dir
        .join(marcels["file"].as_str().unwrap());
    let pdf = pdf.to_str().unwrap();
    let info = poppler("pdfinfo", &[pdf]);
    let pages = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .map(str::trim)
        .unwrap();
    assert_eq!(pages, marcels["pages"].to_string(), "{info}");
    assert!(info.contains("595.28 x 841.89 pts (A4)"), "{info}");
    // The address block, read from the envelope window alone (110 mm from the left, 45 to 85 mm
    // from the top of page 1).
    let window = poppler(
        "pdftotext",
        &[
            "-f", "1", "-l", "1", "-x", "311", "-y", "128", "-W", "250", "-H", "113", "-layout",
            pdf, "-",
        ],
    );
    let lines: Vec<&str> = window
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        ["Jeanne Marie MARTIN", "12 rue des Lilas", "75011 PARIS"]
    );
    let text = poppler("pdftotext", &["-layout", pdf, "-"]);
    assert!(
        text.contains("Relevé d'activité") || text.contains("relevé d'activité"),
        "{text}"
    );
    assert!(
        text.contains(&code),
        "the creation notice's activation code is in the letter"
    );
    assert!(text.contains("Médecin généraliste"));
    assert!(!text.contains("opératoire"), "no medical content");
    assert!(text.contains("aucune donnée médicale"));

    let louises = letters.iter().find(|l| l["notifications"] == 1).unwrap();
    let block: Vec<String> = serde_json::from_value(louises["addressBlock"].clone()).unwrap();
    assert_eq!(block.len(), 6, "name and five lines: La Poste's maximum");
    assert!(block.iter().all(|l| l.chars().count() <= 38));
    let louise_pdf = app
        .settings
        .letters
        .letters_dir
        .join(louises["file"].as_str().unwrap());
    let window = poppler(
        "pdftotext",
        &[
            "-f",
            "1",
            "-l",
            "1",
            "-x",
            "311",
            "-y",
            "128",
            "-W",
            "250",
            "-H",
            "113",
            "-layout",
            louise_pdf.to_str().unwrap(),
            "-",
        ],
    );
    let lines: Vec<&str> = window
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        block.iter().map(String::as_str).collect::<Vec<_>>(),
        "accents survive the PDF encoding"
    );

    // A picture of the first page, as the manual shows one (docs/src/notifications.md).
    let preview = app.settings.letters.letters_dir.join("preview");
    poppler(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "40",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            pdf,
            preview.to_str().unwrap(),
        ],
    );
    assert!(
        std::fs::read(preview.with_extension("png"))
            .unwrap()
            .starts_with(b"\x89PNG")
    );

    let sent = app.query_rows("SELECT COUNT(*) FROM notifications WHERE channel = 'POSTAL' AND status = 'SENT' AND letter_id IS NOT NULL").await;
    assert_eq!(sent[0][0], "5", "Marcel's four and Louise's announcement");
    let again = app
        .graphql(Some(&operator_token()), STATEMENTS, json!({}))
        .await;
    assert_eq!(
        again.ok()["runPostalStatements"],
        json!({ "letters": [], "manifest": null }),
        "nothing new for the same period"
    );
}

/// The creation letter of a person with nothing else to report puts the activation code just
/// past the foot of page 1: the paragraph that introduces it moves to page 2 with it, rather
/// than leaving the code alone at the top of a page.
async fn activation_code_shares_its_page_with_the_sentence_introducing_it(app: TestApp) {
    let person = ins(608);
    let code = app.created_profile(&person, None).await;
    let run = app
        .graphql(Some(&operator_token()), STATEMENTS, json!({}))
        .await;
    let letter = run.ok()["runPostalStatements"]["letters"][0].clone();
    let pdf = app
        .settings
        .letters
        .letters_dir
        .join(letter["file"].as_str().unwrap());
    let pdf = pdf.to_str().unwrap();
    let pages = letter["pages"].as_u64().unwrap();
    let page = |n: u64| {
        let n = n.to_string();
        poppler("pdftotext", &["-f", &n, "-l", &n, "-layout", pdf, "-"])
    };
    let with_code = (1..=pages)
        .find(|n| page(*n).contains(&code))
        .expect("the code is in the letter");
    assert!(
        with_code > 1,
        "this letter is meant to put the code near the page break; it is on page 1 now: \
         adjust the test so that it still crosses the break"
    );
    let text = page(with_code);
    for introduction in [
        "Pour l'activer, rendez-vous sur",
        "muni de votre carte Vitale",
    ] {
        assert!(
            text.contains(introduction),
            "'{introduction}' is on page {with_code} with the code:\n{text}"
        );
    }
}

async fn postal_notices_of_an_opposed_person_are_cancelled_not_sent(app: TestApp) {
    let person = ins(607);
    app.enrol(vec![beneficiary(&person, None)]).await;
    app.graphql(
        Some(&operator_token()),
        "mutation($ins: INS!) { recordOpposition(ins: $ins, receivedVia: LETTER) { status } }",
        json!({ "ins": person }),
    )
    .await
    .ok();
    let run = app
        .graphql(Some(&operator_token()), STATEMENTS, json!({}))
        .await;
    assert_eq!(run.ok()["runPostalStatements"]["letters"], json!([]));
    let rows = app
        .query_rows("SELECT status, last_error FROM notifications")
        .await;
    assert_eq!(rows[0][0], "FAILED");
    assert!(
        rows[0][1].starts_with("cancelled: the profile is OPPOSED"),
        "{rows:?}"
    );
}

mod with_smtp {
    use crate::helpers::on_both_backends;

    use super::{
        emails_of_a_person_who_opposed_meanwhile_are_cancelled, emails_reach_the_smtp_server,
        exhausted_retries_mark_the_email_failed,
        transient_failures_are_retried_with_backoff_and_permanent_ones_listed,
    };

    on_both_backends!(
        emails_reach_the_smtp_server,
        transient_failures_are_retried_with_backoff_and_permanent_ones_listed,
        exhausted_retries_mark_the_email_failed,
        emails_of_a_person_who_opposed_meanwhile_are_cancelled,
    );
}

on_both_databases!(
    without_smtp_emails_are_written_as_eml_files,
    postal_statement_is_one_pdf_letter_per_patient,
    postal_notices_of_an_opposed_person_are_cancelled_not_sent,
    activation_code_shares_its_page_with_the_sentence_introducing_it,
);
