//! HTTP and websocket edge: decodes the token once per request (or per `connection_init`),
//! runs the GraphQL request, and gives every error a code. The cross-cutting concerns of every
//! request (request id, body limit, body read timeout, request timeout, access log) are
//! tower-http layers, in [`router`].
//!
//! - `graphql_post`: POST /graphql, admitted from its headers before its body is read;
//! - `websocket`: the graphql-ws and graphql-transport-ws protocols at /graphql/ws;
//! - `rest`: the routes beside GraphQL (the patient's export, the published checkpoints,
//!   readiness, GraphiQL);
//! - `caller`: who calls — the bearer token, the `X-Acting-For` selection, the rate key.

mod caller;
mod content;
mod graphql_post;
pub mod rest;
mod websocket;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{map_request, map_response};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use sea_orm::DatabaseConnection;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::{TimeoutBody, TimeoutLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::auth::Authenticator;
use crate::graphql::AppSchema;
use crate::graphql::error::ErrorCode;
use graphql_post::graphql;
use rest::{export_record, graphiql, ledger_checkpoint_consistency, ledger_checkpoints, readyz};
use websocket::{WebSocketEdge, graphql_ws};

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub auth: Arc<Authenticator>,
    pub db: DatabaseConnection,
    /// The use cases, for the routes beside GraphQL (the patient's export, the published
    /// checkpoints).
    pub services: crate::services::Services,
    /// The limits on each caller: requests per minute, websockets per user.
    pub limiter: Arc<crate::rate_limit::Limiter>,
    /// Cancelled when shutdown begins: `/readyz` answers 503, websockets close with 1001.
    pub stopping: tokio_util::sync::CancellationToken,
    /// Whether GET /graphql serves GraphiQL (development only).
    pub graphiql: bool,
    /// The exports being streamed: one per patient, a few per process.
    pub exports: Arc<rest::ExportGate>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("auth", &self.auth)
            .finish_non_exhaustive()
    }
}

/// A connection the server waits for at shutdown: each request carries one, and a websocket
/// keeps its own for as long as it is open (hyper lets go of a connection when it upgrades).
#[derive(Debug, Clone)]
pub struct Held(#[expect(dead_code, reason = "held, never read")] tokio::sync::watch::Receiver<()>);

impl Held {
    /// A hold on `connections`, released when dropped.
    pub fn new(connections: tokio::sync::watch::Receiver<()>) -> Self {
        Self(connections)
    }
}

/// What the edge enforces on every request.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// Largest request body accepted; beyond it, 413 before the body is read.
    pub max_body_bytes: usize,
    /// Longest time to answer a request (websocket subscriptions excepted).
    pub request_timeout: Duration,
    /// Longest silence while a request body is read (then 408).
    pub body_read_timeout: Duration,
    /// What the websocket edge enforces.
    pub websocket: WebSocketLimits,
}

/// What the websocket edge enforces on every connection.
#[derive(Debug, Clone, Copy)]
pub struct WebSocketLimits {
    /// Subscriptions one connection may hold at once.
    pub max_subscriptions: usize,
    /// Open connections per token subject, in this process.
    pub max_connections_per_subject: usize,
    /// Time to send `connection_init` and be acknowledged.
    pub init_timeout: Duration,
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
        .route("/ledger/checkpoints", get(ledger_checkpoints))
        .route(
            "/ledger/checkpoints/consistency",
            get(ledger_checkpoint_consistency),
        )
        .route("/me/export", get(export_record))
        .route("/documents/{id}/content", get(content::document_content))
        .route(
            "/attachments/{id}/content",
            get(content::attachment_content),
        )
        // 503, not tower-http's former 408: the client sent its request in time, we did not
        // answer in time.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ));
    let max_body_bytes = limits.max_body_bytes;
    let body_read_timeout = limits.body_read_timeout;
    let websockets = Arc::new(WebSocketEdge::new(limits.websocket));
    // Layers wrap what is above them: a request meets the last one first.
    Router::new()
        .route("/graphql/ws", get(graphql_ws).layer(Extension(websockets)))
        .merge(answered_once)
        .with_state(state)
        // The body limit is this layer's alone: axum's own 2 MiB default for extractors would
        // refuse a large document that the limit allows.
        .layer(RequestBodyLimitLayer::new(max_body_bytes))
        .layer(DefaultBodyLimit::disable())
        // A client that stops sending its body mid-way (or never starts) is answered 408 after
        // this long a silence, instead of holding the request until the request timeout.
        .layer(map_request(move |request: Request| async move {
            request.map(|body| Body::new(TimeoutBody::new(body_read_timeout, body)))
        }))
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
    // A refusal of ours (a file over the limit in a multipart request) already says why.
    let explained = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || explained {
        return response;
    }
    closing(refuse(
        ErrorCode::PayloadTooLarge,
        format!("the request body is larger than {max_body_bytes} bytes"),
    ))
}

/// An answer sent before the request's body was read (or while it was cut short): it says that
/// the connection closes after it, so that the client does not send its next request behind a
/// body the server never read.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// An error answered outside GraphQL (before it runs, or on a route beside it), in the shape
/// and with the code GraphQL gives it, and the HTTP status of that code.
fn refuse(code: ErrorCode, message: String) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// A service error on a route beside GraphQL: the code and message the GraphQL API gives it
/// (its mapping logs an internal error, once), with the HTTP status that fits.
fn service_refusal(err: crate::services::ServiceError) -> Response {
    let code = ErrorCode::of(&err);
    // The mapping writes the message (and logs an internal error, once).
    let error = async_graphql::Error::from(err);
    let mut response = refuse(code, error.message);
    if code == ErrorCode::ServiceUnavailable {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(2));
    }
    response
}
