//! HTTP and websocket edge: decodes the token once per request (or per `connection_init`),
//! runs the GraphQL request, and gives every error a code.

use std::sync::Arc;

use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use async_graphql_axum::GraphQLResponse;
use axum::Router;
use axum::body::Body;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use sea_orm::DatabaseConnection;
use tracing::Instrument;

use crate::auth::{Authenticator, Caller};
use crate::graphql::{AppSchema, error::attach_request_id};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub auth: Arc<Authenticator>,
    pub db: DatabaseConnection,
    /// Largest request body accepted.
    pub max_body_bytes: usize,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// The routes of the API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/graphql/ws", get(graphql_ws))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

fn new_request_id() -> String {
    use rand::{RngCore, TryRngCore};
    format!("{:016x}", rand::rngs::OsRng.unwrap_err().next_u64())
}

/// Reads the bearer token, if any, once for the whole request.
fn caller(auth: &Authenticator, headers: &HeaderMap) -> Caller {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Caller::Anonymous;
    };
    let token = value.to_str().ok().and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    match token {
        Some(token) => match auth.authenticate(token.trim()) {
            Ok(actor) => Caller::Authenticated(actor),
            Err(reason) => Caller::Refused(reason),
        },
        None => Caller::Refused("the Authorization header must be 'Bearer <token>'".to_owned()),
    }
}

/// An error answered before GraphQL runs (the body is too large, or not a GraphQL request).
fn refuse(status: StatusCode, code: &str, message: String) -> Response {
    let body =
        serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, axum::Json(body)).into_response()
}

async fn graphql(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    // The body is read with a bound: a document's base64 content is the only large input,
    // and anything beyond what the largest document needs is refused before being read.
    let bytes = match axum::body::to_bytes(body, state.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!(
                    "the request body is larger than {} bytes",
                    state.max_body_bytes
                ),
            );
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(err) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                format!("the body is not a GraphQL request in JSON: {err}"),
            );
        }
    };
    let request_id = new_request_id();
    let span = tracing::info_span!("graphql", request.id = %request_id);
    let caller = caller(&state.auth, &headers);
    let mut response = state
        .schema
        .execute(request.data(caller))
        .instrument(span)
        .await;
    attach_request_id(&mut response.errors, &request_id);
    response.http_headers.insert(
        "x-request-id",
        request_id
            .parse()
            .unwrap_or_else(|_| header::HeaderValue::from_static("invalid")),
    );
    GraphQLResponse::from(response).into_response()
}

/// Websocket subscriptions (graphql-transport-ws and the legacy graphql-ws).
async fn graphql_ws(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|protocols| {
            protocols
                .split(',')
                .find_map(|p| p.trim().parse::<WebSocketProtocols>().ok())
        });
    match protocol {
        Some(protocol) => upgrade
            .protocols(ALL_WEBSOCKET_PROTOCOLS)
            // Small buffers: an idle subscription costs a few KiB instead of tungstenite's
            // 128 KiB defaults, and subscription messages are small.
            .read_buffer_size(4 * 1024)
            .write_buffer_size(4 * 1024)
            .max_write_buffer_size(1024 * 1024)
            .max_message_size(64 * 1024)
            .on_upgrade(move |socket| serve_websocket(socket, state, protocol)),
        None => (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must be graphql-transport-ws or graphql-ws",
        )
            .into_response(),
    }
}

/// Close code of graphql-transport-ws for a refused `connection_init`.
const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code when the token expires during the connection (the 44xx range is the
/// application's; 4401 mirrors HTTP 401: sign in again).
const CLOSE_TOKEN_EXPIRED: u16 = 4401;

/// Runs one websocket connection. The token comes in the `connection_init` payload, as
/// `{"Authorization": "Bearer …"}` or `{"token": "…"}`; a missing or refused token closes the
/// connection with 4403 (async-graphql's own glue would close with 1002, which tells a client
/// "protocol error" rather than "sign in again").
async fn serve_websocket(socket: WebSocket, state: AppState, protocol: WebSocketProtocols) {
    let (mut sink, stream) = socket.split();
    let input = stream
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => Some(message.into_data()),
                _ => None,
            })
        });
    let refused = Arc::new(AtomicBool::new(false));
    let auth = state.auth.clone();
    let refused_by_init = refused.clone();
    let (expiry_sender, mut expiry) = tokio::sync::watch::channel::<Option<i64>>(None);
    let output = async_graphql::http::WebSocket::new(state.schema.clone(), input, protocol)
        .on_connection_init(move |payload| async move {
            let authenticated = connection_init_token(&payload)
                .ok_or_else(|| "send the token in the connection_init payload".to_owned())
                .and_then(|token| auth.authenticate_until(&token));
            match authenticated {
                Ok((actor, expires)) => {
                    let _ = expiry_sender.send(Some(expires));
                    let mut data = Data::default();
                    data.insert(Caller::Authenticated(actor));
                    Ok(data)
                }
                Err(reason) => {
                    refused_by_init.store(true, Ordering::Relaxed);
                    Err(async_graphql::Error::new(format!(
                        "authentication refused: {reason}"
                    )))
                }
            }
        });
    futures_util::pin_mut!(output);
    // Completes when the token expires; never before an accepted connection_init.
    let expired = async move {
        loop {
            let expires = *expiry.borrow_and_update();
            if let Some(expires) = expires {
                let left = u64::try_from(expires - chrono::Utc::now().timestamp()).unwrap_or(0);
                tokio::time::sleep(std::time::Duration::from_secs(left)).await;
                return;
            }
            if expiry.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    };
    futures_util::pin_mut!(expired);
    loop {
        let message = tokio::select! {
            message = output.next() => message,
            () = &mut expired => {
                let _ = sink
                    .send(Message::Close(Some(CloseFrame {
                        code: CLOSE_TOKEN_EXPIRED,
                        reason: "the token has expired: sign in again".into(),
                    })))
                    .await;
                break;
            }
        };
        let Some(message) = message else { break };
        let frame = match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => {
                let code = if refused.load(Ordering::Relaxed) {
                    CLOSE_FORBIDDEN
                } else {
                    code
                };
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            }
        };
        if sink.send(frame).await.is_err() {
            break;
        }
    }
}

fn connection_init_token(payload: &serde_json::Value) -> Option<String> {
    let header = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()));
    match header {
        Some(value) => value.strip_prefix("Bearer ").map(|t| t.trim().to_owned()),
        None => payload
            .get("token")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    }
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(err) => {
            tracing::warn!(error.cause = %err, "readiness check failed: database unreachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable")
        }
    }
}

async fn graphiql() -> Html<&'static str> {
    Html(GRAPHIQL_PAGE)
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
