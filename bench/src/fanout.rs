//! Fan-out: idle subscriptions (server memory per subscription), then documents fed at a
//! steady rate to the subscribed patients, each frame matched to the feed's acknowledgement.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::drive::{Http, feed_input};
use crate::load::Population;
use crate::report::FanoutFigure;
use crate::{BenchError, Server, token};

const FEED: &str = "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input) { id } }";

/// What the subscribers saw: per patient, each frame's cursor and arrival.
type Frames = Arc<Mutex<HashMap<usize, Vec<(String, Instant)>>>>;

pub async fn run(
    server: &Server,
    http: &Http,
    population: &Population,
    scale: f64,
) -> Result<FanoutFigure, BenchError> {
    let subscribers = ((10_000.0 * scale) as usize)
        .clamp(50, 10_000)
        .min(population.activated.len());
    let patients: Arc<Vec<String>> = Arc::new(population.activated[..subscribers].to_vec());
    let ws = format!("{}/graphql/ws", server.api.replacen("http", "ws", 1));
    let frames: Frames = Arc::default();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_before = server.rss_bytes().unwrap_or(0);

    // Open the subscriptions, 100 at a time.
    let mut readers = Vec::new();
    let mut opened = 0;
    for batch in (0..subscribers).collect::<Vec<_>>().chunks(100) {
        let mut connecting = Vec::new();
        for &k in batch {
            let (ws, patient, frames) = (ws.clone(), patients[k].clone(), frames.clone());
            connecting.push(tokio::spawn(async move {
                subscribe(&ws, k, &patient, frames).await
            }));
        }
        for task in connecting {
            if let Ok(Ok(reader)) = task.await {
                readers.push(reader);
                opened += 1;
            }
        }
    }
    // The server counts a subscriber once its subscription runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut live = 0.0;
    while Instant::now() < deadline {
        live = server.metric("live_subscribers").await.unwrap_or(0.0);
        if live >= opened as f64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = server.rss_bytes().unwrap_or(0);
    let per_subscription = rss_after.saturating_sub(rss_before) as f64 / opened.max(1) as f64;
    eprintln!(
        "bench: {opened} subscriptions ({live} live), {:.1} KB each",
        per_subscription / 1000.0
    );

    // Feed at `rate` per second for `seconds`, round robin over the subscribers.
    let rate = 1_000_u64;
    let seconds = if scale >= 0.5 { 10 } else { 3 };
    let total = rate * seconds;
    let acks: Arc<Mutex<HashMap<usize, Vec<Instant>>>> = Arc::default();
    let failures = Arc::new(Mutex::new((0_u64, None::<String>)));
    let doctor = Arc::new(token("PRACTITIONER", &population.practitioners[0]));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(48));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..total {
        let due = started + Duration::from_micros(n * 1_000_000 / rate);
        tokio::time::sleep_until(due.into()).await;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (http, doctor, patients, acks, failures) = (
            http.clone(),
            doctor.clone(),
            patients.clone(),
            acks.clone(),
            failures.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let k = n as usize % patients.len();
            let result = http
                .gql(
                    &doctor,
                    FEED,
                    json!({ "ins": patients[k], "input": feed_input(&format!("fan-{n}"), 1024) }),
                )
                .await;
            let acked = Instant::now();
            drop(permit);
            match result {
                Ok(_) => acks
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .entry(k)
                    .or_default()
                    .push(acked),
                Err(error) => {
                    let mut failures = failures.lock().unwrap_or_else(PoisonError::into_inner);
                    failures.0 += 1;
                    failures.1.get_or_insert(error);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let achieved = total as f64 / started.elapsed().as_secs_f64();
    // Frames still on their way.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for reader in &readers {
        reader.abort();
    }

    let acks = acks.lock().unwrap_or_else(PoisonError::into_inner);
    let frames = frames.lock().unwrap_or_else(PoisonError::into_inner);
    let (mut latencies, mut lost, mut duplicated) = (Vec::new(), 0_u64, 0_u64);
    for (k, acked) in acks.iter() {
        let seen = frames.get(k).map_or(&[][..], Vec::as_slice);
        let mut cursors = HashSet::new();
        let mut arrivals = Vec::new();
        for (cursor, at) in seen {
            if cursors.insert(cursor.clone()) {
                arrivals.push(*at);
            } else {
                duplicated += 1;
            }
        }
        let mut acked = acked.clone();
        acked.sort();
        arrivals.sort();
        lost += acked.len().saturating_sub(arrivals.len()) as u64;
        duplicated += arrivals.len().saturating_sub(acked.len()) as u64;
        for (ack, arrival) in acked.iter().zip(&arrivals) {
            // A frame may beat the HTTP answer to the client: the commit rings first.
            latencies.push(arrival.saturating_duration_since(*ack).as_micros() as u32);
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        if latencies.is_empty() {
            f64::NAN
        } else {
            f64::from(latencies[((latencies.len() - 1) as f64 * p / 100.0).round() as usize])
                / 1000.0
        }
    };
    let failures = failures.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(FanoutFigure {
        subscriptions: opened,
        bytes_per_subscription: per_subscription,
        target_rate: rate as f64,
        achieved_rate: achieved,
        delivered: latencies.len() as u64,
        p50_ms: pct(50.0),
        p99_ms: pct(99.0),
        lost,
        duplicated,
        feed_errors: failures.0,
        first_error: failures.1.clone(),
    })
}

/// Opens one subscription to a patient's new-document notifications; the returned task
/// records each frame.
async fn subscribe(
    ws: &str,
    k: usize,
    patient: &str,
    frames: Frames,
) -> Result<tokio::task::JoinHandle<()>, BenchError> {
    let mut request = ws.into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    let bearer = format!("Bearer {}", token("PATIENT", patient));
    socket
        .send(Message::text(
            json!({ "type": "connection_init", "payload": { "Authorization": bearer } })
                .to_string(),
        ))
        .await?;
    match socket.next().await {
        Some(Ok(Message::Text(text))) if text.contains("connection_ack") => {}
        other => return Err(format!("no connection_ack: {other:?}").into()),
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription { notifications { cursor kind } }" } });
    socket.send(Message::text(subscribe.to_string())).await?;
    Ok(tokio::spawn(async move {
        while let Some(Ok(message)) = socket.next().await {
            let at = Instant::now();
            if let Message::Text(text) = message
                && let Ok(value) = serde_json::from_str::<Value>(&text)
            {
                let event = &value["payload"]["data"]["notifications"];
                if event["kind"] == "NEW_DOCUMENT"
                    && let Some(cursor) = event["cursor"].as_str()
                {
                    frames
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .entry(k)
                        .or_default()
                        .push((cursor.to_owned(), at));
                }
            }
        }
    }))
}
