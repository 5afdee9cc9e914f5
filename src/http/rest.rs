//! The routes beside GraphQL: the patient's export, the published checkpoints, readiness and
//! GraphiQL. Their errors have the JSON shape and the codes of GraphQL.

use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use futures_util::StreamExt;

use crate::graphql::error::ErrorCode;

use super::caller::{ClientAddr, over_rate, rate_key};
use super::{AppState, refuse, service_refusal};

/// `GET /me/export`: the signed-in patient (activated, or closed) downloads their whole record
/// as a zip archive (see [`crate::archive`]). The export is traced in their ledger before a byte
/// leaves. Errors are JSON, with the codes of the GraphQL API.
pub(super) async fn export_record(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let actor = match super::content::signed_in(&state, &headers).await {
        Ok(actor) => actor,
        Err(refused) => return refused,
    };
    let crate::domain::Actor::Patient { ins, .. } = &actor else {
        return refuse(
            ErrorCode::Forbidden,
            "only the patient can download their record".to_owned(),
        );
    };
    // One export per patient, a few per process, before anything is read.
    let Some(permit) = state.exports.admit(ins) else {
        let mut refused = refuse(
            ErrorCode::TooManyRequests,
            "an export is already being downloaded (yours, or too many at once): retry in a \
             moment"
                .to_owned(),
        );
        refused.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(EXPORT_RETRY_AFTER_SECS),
        );
        return refused;
    };
    let export = match state.services.export_record(&actor.to_ref(), ins).await {
        Ok(export) => export.into_inner(),
        Err(err) => return service_refusal(err),
    };
    match crate::archive::record_zip(&export, state.services.contents.clone()) {
        Ok(zip) => {
            // The permit goes with the stream: released when the download ends or stops.
            let body = axum::body::Body::from_stream(zip.map(move |chunk| {
                let _held = &permit;
                chunk
            }));
            (
                [
                    (header::CONTENT_TYPE, "application/zip"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"mon-espace-sante.zip\"",
                    ),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                body,
            )
                .into_response()
        }
        Err(err) => {
            tracing::error!(error.cause = %err, "export failed");
            refuse(
                ErrorCode::InternalServerError,
                "an internal error occurred; quote the request id to the support team".to_owned(),
            )
        }
    }
}

/// What `Retry-After` says to an export refused for another one in progress.
const EXPORT_RETRY_AFTER_SECS: &str = "30";

/// The exports being streamed by this process: at most one per patient, and `max` in all.
#[derive(Debug)]
pub struct ExportGate {
    running: std::sync::Mutex<std::collections::BTreeSet<String>>,
    max: usize,
}

/// An export's place in the [`ExportGate`], given back when dropped.
#[derive(Debug)]
pub struct ExportPermit {
    gate: std::sync::Arc<ExportGate>,
    ins: String,
}

impl ExportGate {
    /// A gate for `max` exports at once.
    pub fn new(max: usize) -> Self {
        Self {
            running: std::sync::Mutex::default(),
            max,
        }
    }

    /// A place for `ins`'s export, unless one of theirs is running or `max` are.
    fn admit(self: &std::sync::Arc<Self>, ins: &crate::domain::Ins) -> Option<ExportPermit> {
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.len() >= self.max || running.contains(ins.as_str()) {
            return None;
        }
        running.insert(ins.as_str().to_owned());
        Some(ExportPermit {
            gate: self.clone(),
            ins: ins.as_str().to_owned(),
        })
    }
}

impl Drop for ExportPermit {
    fn drop(&mut self) {
        self.gate
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.ins);
    }
}

/// Query parameters that do not parse: `BAD_USER_INPUT` in the JSON shape of GraphQL errors,
/// as every error of these routes (axum answers them in plain text).
fn bad_parameters(rejection: &QueryRejection) -> Response {
    refuse(
        ErrorCode::BadUserInput,
        format!(
            "the query parameters do not parse: {}",
            rejection.body_text()
        ),
    )
}

/// How long readiness waits for the database: a load balancer probing every few seconds
/// needs an answer, and a ping that takes longer than this is as good as none.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// A page of the log of checkpoints: `after` an index (default 0), at most `limit` (1 to 1000).
#[derive(Debug, serde::Deserialize)]
pub(super) struct CheckpointPage {
    after: Option<i64>,
    limit: Option<usize>,
}

/// The log of signed checkpoints, oldest first, with the key set that signs them (`keys`: each
/// key, the checkpoints and times it signs, and the checkpoint that introduced it) and the
/// current key (`publicKey`: the last of the key set; this server's before the first
/// checkpoint): open to anyone, without a token, so that third parties can keep copies. The
/// key set is the whole log's, whatever the page.
pub(super) async fn ledger_checkpoints(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    page: Result<Query<CheckpointPage>, QueryRejection>,
) -> Response {
    // Open to anyone, and each answer is a database read: limited per address.
    if let Some(refused) = over_rate(&state, &rate_key(None, client)).await {
        return refused;
    }
    let page = match page {
        Ok(Query(page)) => page,
        Err(rejection) => return bad_parameters(&rejection),
    };
    let limit = page.limit.unwrap_or(1000).clamp(1, 1000);
    let read = async {
        let checkpoints = state
            .services
            .checkpoints(page.after.unwrap_or(0), limit)
            .await?;
        let keys = state.services.checkpoint_keys().await?;
        Ok::<_, crate::services::ServiceError>((checkpoints, keys))
    };
    match read.await {
        Ok((checkpoints, keys)) => axum::Json(serde_json::json!({
            "publicKey": keys
                .last()
                .map(|k| k.public_key.clone())
                .or_else(|| state.services.checkpoint_public_key()),
            "keys": keys,
            "checkpoints": checkpoints,
        }))
        .into_response(),
        Err(err) => service_refusal(err),
    }
}

/// The two checkpoints of a consistency proof.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ConsistencyPair {
    from: Option<i64>,
    to: Option<i64>,
}

/// The RFC 9162 consistency proof between checkpoints `from` and `to`, with both checkpoints
/// (and, from a checkpoint of version 1 or 2 to one of version 3, the last of version 1 or 2,
/// `sealed`, which the proof reaches): anyone holding `from` checks that `to` extends it.
pub(super) async fn ledger_checkpoint_consistency(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    pair: Result<Query<ConsistencyPair>, QueryRejection>,
) -> Response {
    if let Some(refused) = over_rate(&state, &rate_key(None, client)).await {
        return refused;
    }
    let pair = match pair {
        Ok(Query(pair)) => pair,
        Err(rejection) => return bad_parameters(&rejection),
    };
    let (Some(from), Some(to)) = (pair.from, pair.to) else {
        return refuse(
            ErrorCode::BadUserInput,
            "give the two checkpoints: ?from=M&to=N".to_owned(),
        );
    };
    match state.services.checkpoint_consistency(from, to).await {
        Ok(c) => axum::Json(c).into_response(),
        Err(err) => service_refusal(err),
    }
}

pub(super) async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if state.stopping.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down");
    }
    match tokio::time::timeout(READINESS_TIMEOUT, state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        Ok(Err(err)) => {
            tracing::warn!(error.cause = %err, "readiness check failed: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
        Err(_) => {
            tracing::warn!("readiness check failed: the database did not answer in time");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

/// GraphiQL in development; in production a 405 that says why (a production API does not hand
/// out a query editor; POST requests are what it answers).
pub(super) async fn graphiql(State(state): State<AppState>) -> Response {
    if state.graphiql {
        return Html(GRAPHIQL_PAGE).into_response();
    }
    let mut response = refuse(
        ErrorCode::MethodNotAllowed,
        "GraphiQL is not served in production (APP_ENV=production): POST GraphQL requests \
         to /graphql"
            .to_owned(),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// GraphiQL, loaded from a CDN by the browser (the server serves only this page).
const GRAPHIQL_PAGE: &str = r#"<!doctype html>
<html lang="fr">
<head>
  <meta charset="utf-8">
  <title>espace-sante — GraphiQL</title>
  <link rel="stylesheet" href="https://unpkg.com/graphiql@3/graphiql.min.css">
  <style>body { margin: 0; height: 100vh; } #graphiql { height: 100vh; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script crossorigin src="https://unpkg.com/react@18/umd/react.production.min.js"></script>
  <script crossorigin src="https://unpkg.com/react-dom@18/umd/react-dom.production.min.js"></script>
  <script crossorigin src="https://unpkg.com/graphiql@3/graphiql.min.js"></script>
  <script>
    const base = window.location.origin;
    const fetcher = GraphiQL.createFetcher({
      url: base + '/graphql',
      subscriptionUrl: base.replace(/^http/, 'ws') + '/graphql/ws',
    });
    ReactDOM.createRoot(document.getElementById('graphiql')).render(
      React.createElement(GraphiQL, {
        fetcher,
        defaultEditorToolsVisibility: true,
        defaultQuery: '# Paste a token from `espace-sante demo` in the Headers tab:\n# {"Authorization": "Bearer <token>"}\n{ me { profile { status firstNames } } }\n',
      }),
    );
  </script>
</body>
</html>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_one_per_patient_and_a_few_per_process_until_they_end() {
        let gate = std::sync::Arc::new(ExportGate::new(2));
        let (a, b, c) = (
            crate::domain::Ins::parse("185057800608491").unwrap(),
            crate::domain::Ins::parse("292016987654390").unwrap(),
            crate::domain::Ins::parse("285037512304514").unwrap(),
        );
        let first = gate.admit(&a).unwrap();
        assert!(gate.admit(&a).is_none(), "one at a time per patient");
        let second = gate.admit(&b).unwrap();
        assert!(gate.admit(&c).is_none(), "two at a time in all");
        drop(first);
        assert!(
            gate.admit(&c).is_some(),
            "a place freed when an export ends"
        );
        drop(second);
        assert!(gate.admit(&a).is_some());
    }
}
