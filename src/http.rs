//! HTTP and websocket edge: decodes the token once per request (or per `connection_init`),
//! runs the GraphQL request, and gives every error a code. The cross-cutting concerns of every
//! request (request id, body limit, body read timeout, request timeout, access log) are
//! tower-http layers, in [`router`].

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, ClientMessage, WebSocketProtocols, WsMessage};
use async_graphql_axum::GraphQLResponse;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
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
use tower_http::timeout::{TimeoutBody, TimeoutError, TimeoutLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::auth::{Authenticator, Caller};
use crate::graphql::AppSchema;
use crate::graphql::error::{ErrorCode, attach_request_id, is_unavailable};
use crate::rate_limit::RateLimiter;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub auth: Arc<Authenticator>,
    pub db: DatabaseConnection,
    /// The use cases, for the routes beside GraphQL (the patient's export, the published
    /// checkpoints).
    pub services: crate::services::Services,
    /// Requests per caller on POST /graphql; `None`: no limit.
    pub rate_limit: Option<Arc<RateLimiter>>,
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
        // 503, not tower-http's former 408: the client sent its request in time, we did not
        // answer in time.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ));
    let max_body_bytes = limits.max_body_bytes;
    let body_read_timeout = limits.body_read_timeout;
    let websockets = Arc::new(WebSocketEdge {
        limits: limits.websocket,
        subjects: Arc::default(),
    });
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
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    refuse(
        ErrorCode::PayloadTooLarge,
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

/// `GET /me/export`: the signed-in patient (activated, or closed) downloads their whole record
/// as a zip archive (see [`crate::archive`]). The export is traced in their ledger before a byte
/// leaves. Errors are JSON, with the codes of the GraphQL API.
async fn export_record(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let actor = match caller(&state.auth, &headers).await {
        Caller::Authenticated(actor) => actor,
        // `caller` answers no profile selection: the export is the signed-in patient's own.
        Caller::Refused(reason) | Caller::Forbidden(reason) | Caller::Unavailable(reason) => {
            return refuse(
                ErrorCode::Unauthenticated,
                format!("authentication required: {reason}"),
            );
        }
        Caller::Anonymous => {
            return refuse(
                ErrorCode::Unauthenticated,
                "authentication required: sign in: send 'Authorization: Bearer <token>'".to_owned(),
            );
        }
    };
    let crate::domain::Actor::Patient { ins, .. } = &actor else {
        return refuse(
            ErrorCode::Forbidden,
            "only the patient can download their record".to_owned(),
        );
    };
    let me = actor.to_ref();
    if let Some(refused) = over_rate(&state, &format!("{:?}:{}", me.role, me.id)) {
        return refused;
    }
    let export = match state.services.export_record(&actor.to_ref(), ins).await {
        Ok(export) => export.into_inner(),
        Err(err) => return service_refusal(err),
    };
    match crate::archive::record_zip(&export) {
        Ok(zip) => (
            [
                (header::CONTENT_TYPE, "application/zip"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"mon-espace-sante.zip\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            zip,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error.cause = %err, "export failed");
            refuse(
                ErrorCode::InternalServerError,
                "an internal error occurred; quote the request id to the support team".to_owned(),
            )
        }
    }
}

/// The header with which a patient who is a minor's legal representative selects the minor's
/// profile to act on (its INS); without it, or with their own INS, they act on their own.
const ACTING_FOR: header::HeaderName = header::HeaderName::from_static("x-acting-for");

/// Applies the profile selection of `X-Acting-For` (a header over HTTP, `actingFor` in a
/// websocket's `connection_init`): a patient who is a current legal representative of that INS
/// acts on it, as themselves; anyone else is refused.
async fn acting_for(
    services: &crate::services::Services,
    caller: Caller,
    selected: Option<&str>,
) -> Caller {
    let Some(selected) = selected else {
        return caller;
    };
    let (ins, name) = match caller {
        Caller::Authenticated(crate::domain::Actor::Patient { ins, name }) => (ins, name),
        Caller::Authenticated(_) => {
            return Caller::Forbidden(
                "X-Acting-For is for a patient acting on a minor's profile".to_owned(),
            );
        }
        other => return other,
    };
    let Ok(child) = crate::domain::Ins::parse(selected.trim()) else {
        return Caller::Forbidden(
            "X-Acting-For must be the INS of the profile to act on".to_owned(),
        );
    };
    if child == ins {
        return Caller::Authenticated(crate::domain::Actor::Patient { ins, name });
    }
    match services.represents(&ins, &child).await {
        Ok(true) => {
            Caller::Authenticated(crate::domain::Actor::Representative { child, ins, name })
        }
        Ok(false) => Caller::Forbidden(
            "you are not a legal representative of this person (or no longer: they are 18)"
                .to_owned(),
        ),
        Err(err) => {
            tracing::warn!(error.cause = %err.message(), "representation check failed");
            Caller::Unavailable("the representation could not be checked: retry".to_owned())
        }
    }
}

/// The profile an HTTP request selects with `X-Acting-For` (an unreadable header selects one
/// that does not exist, and is refused).
fn selected_profile(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(ACTING_FOR)
        .map(|value| value.to_str().unwrap_or("?"))
}

/// Takes one request of `key`'s rate; over it, the refusal: `TOO_MANY_REQUESTS` with
/// `Retry-After`.
fn over_rate(state: &AppState, key: &str) -> Option<Response> {
    let limiter = state.rate_limit.as_ref()?;
    limiter.take(key).err().map(|wait| {
        let mut response = refuse(
            ErrorCode::TooManyRequests,
            format!("too many requests: retry in {wait} s"),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        response
    })
}

/// An error answered outside GraphQL (before it runs, or on a route beside it), in the shape
/// and with the code GraphQL gives it, and the HTTP status of that code.
fn refuse(code: ErrorCode, message: String) -> Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code.as_str() } }] });
    let status =
        StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// The caller of a POST /graphql that the edge lets in: the body is announced as JSON, and the
/// caller (the token's subject, or the IP address without a valid token) is within its rate.
/// Checked from the headers, before a byte of the body is read.
struct Admitted(Caller);

impl axum::extract::FromRequestParts<AppState> for Admitted {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        // GraphQL over HTTP takes JSON only: a form or `text/plain` post is what a browser
        // sends cross-site without a preflight, and it is never a GraphQL client's.
        let media_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(str::trim);
        if !media_type.is_some_and(|media_type| {
            ["application/json", "application/graphql-response+json"]
                .iter()
                .any(|json| media_type.eq_ignore_ascii_case(json))
        }) {
            return Err(refuse(
                ErrorCode::UnsupportedMediaType,
                "send the GraphQL request as JSON, with 'Content-Type: application/json'"
                    .to_owned(),
            ));
        }
        let caller = caller(&state.auth, &parts.headers).await;
        let caller = acting_for(&state.services, caller, selected_profile(&parts.headers)).await;
        if state.rate_limit.is_some() {
            let key = match &caller {
                Caller::Authenticated(actor) => {
                    let actor = actor.to_ref();
                    format!("{:?}:{}", actor.role, actor.id)
                }
                _ => parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map_or_else(|| "ip:?".to_owned(), |info| format!("ip:{}", info.0.ip())),
            };
            if let Some(refused) = over_rate(state, &key) {
                return Err(refused);
            }
        }
        Ok(Self(caller))
    }
}

/// Most JSON values in a request body. The variables are parsed into a tree of values, each
/// some tens of bytes: a body of small values (`[0,0,0,…]`) would grow many times its size in
/// memory. The largest real request, a batch of 1000 enrolments, holds about 15,000.
const MAX_JSON_VALUES: usize = 250_000;

/// Whether `body` holds more than `max` JSON values, counted without parsing: every value but
/// the first of its container follows a comma, and the first one follows its bracket.
fn too_many_json_values(body: &[u8], max: usize) -> bool {
    let (mut values, mut in_string, mut escaped) = (1usize, false, false);
    for &byte in body {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else {
            match byte {
                b'"' => in_string = true,
                b',' | b'[' | b'{' => values += 1,
                _ => {}
            }
        }
        if values > max {
            return true;
        }
    }
    false
}

async fn graphql(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Admitted(caller): Admitted,
    // Bounded by the body limit layer: a document's base64 content is the only large input,
    // and anything beyond what the largest document needs is refused before being read.
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if caused_by::<TimeoutError>(&rejection) => {
            return refuse(
                ErrorCode::RequestTimeout,
                "the request body stopped arriving".to_owned(),
            );
        }
        // 413 (turned into a GraphQL-shaped answer by the edge), or a body cut off.
        Err(rejection) => return rejection.into_response(),
    };
    if too_many_json_values(&body, MAX_JSON_VALUES) {
        return refuse(
            ErrorCode::BadUserInput,
            format!("the request holds more than {MAX_JSON_VALUES} JSON values"),
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => {
            return refuse(
                ErrorCode::BadUserInput,
                format!("the body is not a GraphQL request in JSON: {err}"),
            );
        }
    };
    let mut response = state.schema.execute(request.data(caller)).await;
    // The id was made by the edge layer, as ASCII hex.
    let request_id = request_id.header_value().to_str().unwrap_or_default();
    attach_request_id(&mut response.errors, request_id);
    let unavailable = is_unavailable(&response.errors);
    let mut response = GraphQLResponse::from(response).into_response();
    // The GraphQL answer says what failed; the status says, to clients and proxies alike,
    // that nothing is wrong with the request and it may be sent again shortly.
    if unavailable {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    response
}

/// What `Retry-After` says during a database outage: soon, but not at once.
const RETRY_AFTER_SECS: &str = "2";

/// Whether `error` or one of its causes is an `E`.
fn caused_by<E: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if error.is::<E>() {
            return true;
        }
        next = error.source();
    }
    false
}

/// The websocket route's own state: its limits and who holds how many connections.
#[derive(Debug)]
struct WebSocketEdge {
    limits: WebSocketLimits,
    subjects: Arc<Subjects>,
}

/// Largest websocket message taken (graphql-transport-ws and the legacy graphql-ws alike);
/// beyond it the connection is closed with 1009. Subscription messages are small.
const WS_MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// tungstenite's own ceiling, above ours so that a message between the two gets its 1009; a
/// larger one is never buffered, and its connection just ends.
const WS_CEILING_BYTES: usize = 4 * WS_MAX_MESSAGE_BYTES;

/// Websocket subscriptions (graphql-transport-ws and the legacy graphql-ws).
async fn graphql_ws(
    State(state): State<AppState>,
    Extension(edge): Extension<Arc<WebSocketEdge>>,
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
            .max_message_size(WS_CEILING_BYTES)
            .max_frame_size(WS_CEILING_BYTES)
            .on_upgrade(move |socket| serve_websocket(socket, state, edge, protocol)),
        None => (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol must be graphql-transport-ws or graphql-ws",
        )
            .into_response(),
    }
}

// Close codes. graphql-transport-ws names 4400, 4401, 4403, 4408, 4409 and 4429; the legacy
// graphql-ws names none, and gets the same ones.
/// A message that is not JSON, or not a message of the protocol.
const CLOSE_BAD_MESSAGE: u16 = 4400;
/// `subscribe` before `connection_ack`; also a token that expires during the connection
/// (sign in again).
const CLOSE_UNAUTHORIZED: u16 = 4401;
/// A refused `connection_init` (no token, or a bad one).
const CLOSE_FORBIDDEN: u16 = 4403;
/// No `connection_init` in time.
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// A `subscribe` with the id of a running subscription.
const CLOSE_SUBSCRIBER_EXISTS: u16 = 4409;
/// The user already holds WS_MAX_CONNECTIONS_PER_SUBJECT connections (the protocol's 4429 is
/// "too many initialisation requests": the same advice, back off, and graphql-ws clients do not
/// reconnect on it by themselves).
const CLOSE_TOO_MANY_CONNECTIONS: u16 = 4429;
/// RFC 6455: a message too big to process.
const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;
/// RFC 6455: a close frame's reason fits in 123 bytes (125 less the code).
const CLOSE_REASON_MAX_BYTES: usize = 123;

/// A close frame with `reason` cut to what the protocol allows, on a character boundary (an
/// over-long reason makes an invalid frame, which a client reads as 1002).
fn close_frame(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(CLOSE_REASON_MAX_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

/// Runs one websocket connection. The token comes in the `connection_init` payload, as
/// `{"Authorization": "Bearer …"}` or `{"token": "…"}` (and a legal representative's
/// selection of a minor's profile as `"actingFor": "<INS>"`); a missing or refused token closes the
/// connection with 4403 (async-graphql's own glue would close with 1002, which tells a client
/// "protocol error" rather than "sign in again").
///
/// Every client message passes [`Session::admit`] before async-graphql sees it: async-graphql
/// enforces neither the close codes of graphql-transport-ws (it closes 1002 on bad JSON, 1011
/// on an early subscribe, replaces a subscription on a duplicate id) nor any limit.
async fn serve_websocket(
    socket: WebSocket,
    state: AppState,
    edge: Arc<WebSocketEdge>,
    protocol: WebSocketProtocols,
) {
    let (mut sink, mut incoming) = socket.split();
    // Admitted messages, parsed once. Bounded: while async-graphql does not read (during the
    // init callback), the socket is not read either.
    let (admitted, mut to_graphql) =
        tokio::sync::mpsc::channel::<serde_json::Result<ClientMessage>>(16);
    let input = futures_util::stream::poll_fn(move |cx| to_graphql.poll_recv(cx));
    // The close code of a refused connection_init, 0 while there is none.
    let refusal = Arc::new(AtomicU16::new(0));
    let auth = state.auth.clone();
    let services = state.services.clone();
    let refusal_by_init = refusal.clone();
    let subjects = edge.subjects.clone();
    let max_per_subject = edge.limits.max_connections_per_subject;
    let (expiry_sender, mut expiry) = tokio::sync::watch::channel::<Option<i64>>(None);
    let output =
        async_graphql::http::WebSocket::from_message_stream(state.schema.clone(), input, protocol)
            .on_connection_init(move |payload| async move {
                let authenticated = match connection_init_token(&payload) {
                    Some(token) => auth.authenticate_until(&token).await,
                    None => Err("send the token in the connection_init payload".to_owned()),
                };
                let (actor, expires) = match authenticated {
                    Ok(authenticated) => authenticated,
                    Err(reason) => {
                        refusal_by_init.store(CLOSE_FORBIDDEN, Ordering::Relaxed);
                        return Err(async_graphql::Error::new(format!(
                            "authentication refused: {reason}"
                        )));
                    }
                };
                // A legal representative selects the minor's profile as over HTTP.
                let selected = payload.get("actingFor").map(|v| v.as_str().unwrap_or("?"));
                let actor =
                    match acting_for(&services, Caller::Authenticated(actor), selected).await {
                        Caller::Authenticated(actor) => actor,
                        refused => {
                            let reason = match refused {
                                Caller::Refused(reason)
                                | Caller::Forbidden(reason)
                                | Caller::Unavailable(reason) => reason,
                                _ => "not allowed".to_owned(),
                            };
                            refusal_by_init.store(CLOSE_FORBIDDEN, Ordering::Relaxed);
                            return Err(async_graphql::Error::new(format!(
                                "profile selection refused: {reason}"
                            )));
                        }
                    };
                let Some(slot) = subjects.take(&actor, max_per_subject) else {
                    refusal_by_init.store(CLOSE_TOO_MANY_CONNECTIONS, Ordering::Relaxed);
                    return Err(async_graphql::Error::new(format!(
                        "too many open connections for this user (at most {max_per_subject})"
                    )));
                };
                let _ = expiry_sender.send(Some(expires));
                let mut data = Data::default();
                data.insert(Caller::Authenticated(actor));
                // Released when the connection's data is dropped: with the connection and all its
                // subscriptions.
                data.insert(slot);
                Ok(data)
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
    let init_deadline = tokio::time::sleep(edge.limits.init_timeout);
    futures_util::pin_mut!(init_deadline);
    let mut session = Session::new(protocol, edge.limits.max_subscriptions);
    let close = loop {
        let reply = tokio::select! {
            message = output.next() => match message {
                Some(WsMessage::Text(text)) => {
                    session.sent(&text);
                    text
                }
                Some(WsMessage::Close(code, reason)) => {
                    let code = match refusal.load(Ordering::Relaxed) {
                        0 => code,
                        refused => refused,
                    };
                    break Some((code, reason));
                }
                None => break None,
            },
            received = incoming.next(), if admitted.capacity() > 0 => match received {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    match session.admit(&message.into_data()) {
                        Admission::Admit(message) => {
                            // Capacity was checked and this is the only sender.
                            let _ = admitted.try_send(Ok(*message));
                            continue;
                        }
                        Admission::Reply(text) => text,
                        Admission::Close(code, reason) => break Some((code, reason)),
                    }
                }
                Some(Ok(_)) => continue,
                // The client left (a close frame, an error, or a message over the ceiling).
                Some(Err(_)) | None => break None,
            },
            () = &mut init_deadline, if !session.acknowledged => {
                break Some((CLOSE_INIT_TIMEOUT, "Connection initialisation timeout".to_owned()));
            }
            () = &mut expired => {
                break Some((CLOSE_UNAUTHORIZED, "the token has expired: sign in again".to_owned()));
            }
        };
        if sink.send(Message::Text(reply.into())).await.is_err() {
            break None;
        }
    };
    if let Some((code, reason)) = close {
        let _ = sink.send(close_frame(code, &reason)).await;
    }
}

/// What the edge knows of one connection's protocol state, to hold it to the protocol.
#[derive(Debug)]
struct Session {
    protocol: WebSocketProtocols,
    max_subscriptions: usize,
    /// A `connection_init` was passed on.
    initialising: bool,
    /// The server sent `connection_ack`.
    acknowledged: bool,
    /// Ids of the running subscriptions.
    running: HashSet<String>,
}

/// What becomes of a client message.
enum Admission {
    /// Passed on to async-graphql (boxed: a request is large, the other answers small).
    Admit(Box<ClientMessage>),
    /// Answered here (a refused subscription); the connection goes on.
    Reply(String),
    /// The connection is closed with this code and reason.
    Close(u16, String),
}

impl Session {
    fn new(protocol: WebSocketProtocols, max_subscriptions: usize) -> Self {
        Self {
            protocol,
            max_subscriptions,
            initialising: false,
            acknowledged: false,
            running: HashSet::new(),
        }
    }

    /// Decides on one client message.
    fn admit(&mut self, bytes: &[u8]) -> Admission {
        if bytes.len() > WS_MAX_MESSAGE_BYTES {
            return Admission::Close(CLOSE_MESSAGE_TOO_BIG, "Message too big".to_owned());
        }
        let Ok(message) = ClientMessage::from_bytes(bytes) else {
            return Admission::Close(CLOSE_BAD_MESSAGE, "Invalid message received".to_owned());
        };
        match &message {
            ClientMessage::ConnectionInit { .. } => self.initialising = true,
            ClientMessage::Start { id, .. } => {
                // graphql-transport-ws: no subscribe before the ack. The legacy protocol's
                // clients send `start` right after `connection_init`, which async-graphql
                // holds until the ack: there, only a start before any init is refused.
                let authorised = match self.protocol {
                    WebSocketProtocols::GraphQLWS => self.acknowledged,
                    WebSocketProtocols::SubscriptionsTransportWS => self.initialising,
                };
                if !authorised {
                    return Admission::Close(CLOSE_UNAUTHORIZED, "Unauthorized".to_owned());
                }
                if self.running.contains(id) {
                    return Admission::Close(
                        CLOSE_SUBSCRIBER_EXISTS,
                        format!("Subscriber for {id} already exists"),
                    );
                }
                if self.running.len() >= self.max_subscriptions {
                    return Admission::Reply(self.too_many_subscriptions(id));
                }
                self.running.insert(id.clone());
            }
            ClientMessage::Stop { id } => {
                self.running.remove(id);
            }
            ClientMessage::ConnectionTerminate
            | ClientMessage::Ping { .. }
            | ClientMessage::Pong { .. } => {}
        }
        Admission::Admit(Box::new(message))
    }

    /// Notes what the server sent that changes the state: the ack, and the end of a
    /// subscription. async-graphql writes the `type` first (serde's internally tagged enum),
    /// so a prefix tells which messages to read further.
    fn sent(&mut self, text: &str) {
        #[derive(serde::Deserialize)]
        struct Complete {
            id: String,
        }
        if text.starts_with(r#"{"type":"connection_ack""#) {
            self.acknowledged = true;
        } else if text.starts_with(r#"{"type":"complete""#)
            && let Ok(complete) = serde_json::from_str::<Complete>(text)
        {
            self.running.remove(&complete.id);
        }
    }

    /// The refusal of one subscription over the cap: graphql-transport-ws's `error` message
    /// (which ends that operation, without a `complete`) or the legacy protocol's; the other
    /// subscriptions go on.
    fn too_many_subscriptions(&self, id: &str) -> String {
        let error = serde_json::json!({
            "message": format!(
                "too many subscriptions on this connection (at most {}): complete one first",
                self.max_subscriptions
            ),
            "extensions": { "code": ErrorCode::TooManySubscriptions.as_str() },
        });
        let payload = match self.protocol {
            WebSocketProtocols::GraphQLWS => serde_json::json!([error]),
            WebSocketProtocols::SubscriptionsTransportWS => error,
        };
        serde_json::json!({ "id": id, "type": "error", "payload": payload }).to_string()
    }
}

/// Open websockets per token subject, for WS_MAX_CONNECTIONS_PER_SUBJECT (in this process: a
/// subject spread over replicas may hold this many on each).
#[derive(Debug, Default)]
struct Subjects(Mutex<HashMap<String, usize>>);

/// One open connection of a subject, counted until dropped.
#[derive(Debug)]
struct SubjectSlot {
    subjects: Arc<Subjects>,
    key: String,
}

impl Subjects {
    /// A slot for `actor`, unless they hold `max` connections already.
    fn take(self: &Arc<Self>, actor: &crate::domain::Actor, max: usize) -> Option<SubjectSlot> {
        let reference = actor.to_ref();
        let key = format!("{:?}:{}", reference.role, reference.id);
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key.clone()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(SubjectSlot {
            subjects: self.clone(),
            key,
        })
    }
}

impl Drop for SubjectSlot {
    fn drop(&mut self) {
        let mut open = self
            .subjects
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
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

/// How long readiness waits for the database: a load balancer probing every few seconds
/// needs an answer, and a ping that takes longer than this is as good as none.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// A page of the log of checkpoints: `after` an index (default 0), at most `limit` (1 to 1000).
#[derive(Debug, serde::Deserialize)]
struct CheckpointPage {
    after: Option<i64>,
    limit: Option<usize>,
}

/// The log of signed checkpoints, oldest first, with the public key that signs them: open to
/// anyone, without a token, so that third parties can keep copies.
async fn ledger_checkpoints(
    State(state): State<AppState>,
    axum::extract::Query(page): axum::extract::Query<CheckpointPage>,
) -> Response {
    let limit = page.limit.unwrap_or(1000).clamp(1, 1000);
    match state
        .services
        .checkpoints(page.after.unwrap_or(0), limit)
        .await
    {
        Ok(checkpoints) => axum::Json(serde_json::json!({
            "publicKey": state.services.checkpoint_public_key(),
            "checkpoints": checkpoints,
        }))
        .into_response(),
        Err(err) => service_refusal(err),
    }
}

/// The two checkpoints of a consistency proof.
#[derive(Debug, serde::Deserialize)]
struct ConsistencyPair {
    from: Option<i64>,
    to: Option<i64>,
}

/// The RFC 9162 consistency proof of the log of checkpoints between `from` and `to`, with both
/// checkpoints: anyone holding `from` checks that `to` extends it.
async fn ledger_checkpoint_consistency(
    State(state): State<AppState>,
    axum::extract::Query(pair): axum::extract::Query<ConsistencyPair>,
) -> Response {
    let (Some(from), Some(to)) = (pair.from, pair.to) else {
        return refuse(
            ErrorCode::BadUserInput,
            "give the two checkpoints: ?from=M&to=N".to_owned(),
        );
    };
    match state.services.checkpoint_consistency(from, to).await {
        Ok(c) => axum::Json(serde_json::json!({
            "from": c.from,
            "to": c.to,
            "proof": c.proof,
        }))
        .into_response(),
        Err(err) => service_refusal(err),
    }
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

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
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
async fn graphiql(State(state): State<AppState>) -> Response {
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
