//! HTTP and websocket edge: decodes the token once per request (or per `connection_init`),
//! runs the GraphQL request, and gives every error a code. The cross-cutting concerns of every
//! request (request id, body limit, timeout, access log) are tower-http layers, in [`router`].

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use async_graphql_axum::GraphQLResponse;
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{map_request, map_response};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use futures_util::{SinkExt, StreamExt};
use sea_orm::DatabaseConnection;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::auth::{Authenticator, Caller};
use crate::graphql::{AppSchema, error::attach_request_id};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub auth: Arc<Authenticator>,
    pub db: DatabaseConnection,
    /// Whether GET /graphql serves GraphiQL (development only).
    pub graphiql: bool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// What the edge enforces on every request.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// Largest request body accepted; beyond it, 413 before the body is read.
    pub max_body_bytes: usize,
    /// Longest time to answer a request (websocket subscriptions excepted).
    pub request_timeout: Duration,
}

/// The header that carries the request id, on requests (set here) and responses.
const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("x-request-id");

/// The routes of the API, behind the edge layers.
pub fn router(state: AppState, limits: EdgeLimits) -> Router {
    // A subscription lives as long as its client stays: the timeout is for the routes that
    // answer once. (An upgrade's handler returns at once and the socket runs on its own task,
    // so the timeout could not cut it anyway; leaving the route out states the intent.)
    let answered_once = Router::new()
        .route("/graphql", get(graphiql).post(graphql))
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        // 503, not tower-http's former 408: the client sent its request in time, we did not
        // answer in time.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ));
    let max_body_bytes = limits.max_body_bytes;
    // Layers wrap what is above them: a request meets the last one first.
    Router::new()
        .route("/graphql/ws", get(graphql_ws))
        .merge(answered_once)
        .with_state(state)
        // The body limit is this layer's alone: axum's own 2 MiB default for extractors would
        // refuse a large document that the limit allows.
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(DefaultBodyLimit::disable())
        .layer(map_response(move |response: Response| async move {
            explain_payload_too_large(response, max_body_bytes)
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                .on_body_chunk(())
                .on_eos(())
                // `on_response` already logged the status: one line per request.
                .on_failure(()),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        // The request id is ours: one a client sends is dropped, so that every id in the logs
        // and in error extensions was made here (none forged, none oversized).
        .layer(map_request(|mut request: Request| async move {
            request.headers_mut().remove(REQUEST_ID);
            request
        }))
}

/// Request ids: 16 hex digits from the OS generator.
#[derive(Debug, Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        use rand::{RngCore, TryRngCore};
        let id = format!("{:016x}", rand::rngs::OsRng.unwrap_err().next_u64());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// The span of a request; every log line written while answering it carries `request.id`.
/// The path is the route's (no query string, which could hold a token; no raw path, which a
/// client could fill with an INS); headers are never recorded.
fn request_span(request: &Request) -> Span {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str);
    let id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        http.method = %request.method(),
        http.path = %path,
        request.id = %id,
    )
}

/// The access log: one event per request, in its span (method, path, request id).
fn log_response(response: &Response, latency: Duration, _span: &Span) {
    tracing::info!(
        http.status = response.status().as_u16(),
        latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
        "request answered"
    );
}

/// The body limit answers 413 in plain text; a client gets the same GraphQL-shaped error as
/// for any other refusal.
fn explain_payload_too_large(response: Response, max_body_bytes: usize) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("the request body is larger than {max_body_bytes} bytes"),
    )
}

/// Reads the bearer token, if any, once for the whole request. Two `Authorization` headers are
/// refused: a proxy and the API could each read a different one.
async fn caller(auth: &Authenticator, headers: &HeaderMap) -> Caller {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Caller::Anonymous;
    };
    if values.next().is_some() {
        return Caller::Refused("send exactly one Authorization header".to_owned());
    }
    let token = value.to_str().ok().and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    match token {
        Some(token) => match auth.authenticate(token.trim()).await {
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

async fn graphql(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    headers: HeaderMap,
    // Bounded by the body limit layer: a document's base64 content is the only large input,
    // and anything beyond what the largest document needs is refused before being read.
    body: Bytes,
) -> Response {
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                format!("the body is not a GraphQL request in JSON: {err}"),
            );
        }
    };
    let caller = caller(&state.auth, &headers).await;
    let mut response = state.schema.execute(request.data(caller)).await;
    // The id was made by the edge layer, as ASCII hex.
    let request_id = request_id.header_value().to_str().unwrap_or_default();
    attach_request_id(&mut response.errors, request_id);
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
            let authenticated = match connection_init_token(&payload) {
                Some(token) => auth.authenticate_until(&token).await,
                None => Err("send the token in the connection_init payload".to_owned()),
            };
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

/// GraphiQL in development; in production a 405 that says why (a production API does not hand
/// out a query editor; POST requests are what it answers).
async fn graphiql(State(state): State<AppState>) -> Response {
    if state.graphiql {
        return Html(GRAPHIQL_PAGE).into_response();
    }
    let mut response = refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
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
