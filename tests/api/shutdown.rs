//! A clean shutdown (SIGTERM, as `TestApp::shut_down` begins it): not ready at once,
//! websockets told to go elsewhere, background work finished rather than cut, and the process
//! done within its bounds.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{Backend, TestApp, patient_token};
use crate::live::WsClient;
use crate::smtp::SmtpServer;

/// Within the grace, the listener still answers: `/readyz` says 503 at once, so that load
/// balancers take the replica out, and open websockets are closed with 1001 (going away).
#[tokio::test]
async fn at_sigterm_readiness_fails_at_once_and_websockets_go_away() {
    let mut app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.http.shutdown_grace_secs = 2;
    })
    .await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let mut socket = WsClient::connect(&app.address, &patient_token(&app.person())).await;

    let started = std::time::Instant::now();
    let server = app.shut_down();
    let closed = socket.receive().await.expect("a close frame");
    assert_eq!(closed, json!({ "close": 1001 }), "{closed}");
    let mut readiness = 0;
    for _ in 0..20 {
        readiness = app.get("/readyz").await.status().as_u16();
        if readiness == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(readiness, 503);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "503 came within the grace"
    );

    // Then the process ends: within the grace and the drain timeout.
    tokio::time::timeout(Duration::from_secs(2 + 30), server)
        .await
        .expect("the server stops within its bounds")
        .unwrap()
        .unwrap();
}

/// An email the relay is sending at SIGTERM is sent and recorded once; the ones it had
/// claimed but not begun are given back at once, and another replica sends them: none twice,
/// none lost.
#[tokio::test]
async fn an_email_being_sent_at_sigterm_is_sent_once_and_the_rest_by_another_replica() {
    let smtp = SmtpServer::start().await;
    let with_relay = |settings: &mut espace_sante::config::Settings| {
        settings.mail.smtp_url = Some(espace_sante::config::Secret(smtp.url.clone()));
        settings.relay.relay_interval_secs = 1;
    };
    let mut app = TestApp::spawn_with(Backend::Postgres, with_relay).await;
    // An announcement and a creation notice to the insurer's address.
    smtp.answer_data_after(Duration::from_millis(1500));
    app.created_profile(&app.person(), Some("insurer@example.org"))
        .await;
    let pending = app
        .query_rows("SELECT id FROM notifications WHERE channel = 'EMAIL'")
        .await
        .len();
    assert!(pending >= 2, "{pending} emails");

    // The relay has claimed them and is sending the first: the server has it, the relay has
    // not heard back yet.
    for _ in 0..100 {
        if smtp.data_begun() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(smtp.data_begun(), 1);
    let server = app.shut_down();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops within its bounds")
        .unwrap()
        .unwrap();
    assert_eq!(smtp.received().len(), 1);
    let rows = app
        .query_rows(
            "SELECT status, COALESCE(CAST(claimed_until AS TEXT), 'free'), attempts \
             FROM notifications WHERE channel = 'EMAIL' ORDER BY id",
        )
        .await;
    assert_eq!(rows[0], ["SENT", "free", "1"], "the one being sent");
    for given_back in &rows[1..] {
        assert_eq!(given_back, &["PENDING", "free", "0"], "{rows:?}");
    }

    // Another replica of the deployment takes the rest at once: no lease to wait out.
    smtp.answer_data_after(Duration::ZERO);
    let database_url = app.database_url.clone();
    let other = TestApp::spawn_with(Backend::Postgres, |settings| {
        with_relay(settings);
        settings.database.database_url = database_url;
    })
    .await;
    // Its clock shows the same time (the profile's creation moved this test's clock on).
    other
        .clock
        .set(espace_sante::clock::Clock::now(&*app.clock));
    for _ in 0..100 {
        if smtp.received().len() >= pending {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = smtp.received();
    assert_eq!(mails.len(), pending);
    let mut ids: Vec<String> = mails
        .iter()
        .map(|mail| mail.header("Message-ID").unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), pending, "each email once");
}
