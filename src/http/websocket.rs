//! The websocket edge at /graphql/ws: graphql-transport-ws and the legacy graphql-ws, the
//! token in `connection_init`, bounded messages, subscriptions and connections per subject.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use async_graphql::Data;
use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, ClientMessage, WebSocketProtocols, WsMessage};
use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};

use crate::auth::Caller;
use crate::graphql::error::ErrorCode;

use super::caller::{Selection, acting_for};
use super::{AppState, WebSocketLimits};

/// The websocket route's own state: its limits (who holds how many connections is the
/// limiter's, shared by the replicas).
#[derive(Debug)]
pub(super) struct WebSocketEdge {
    limits: WebSocketLimits,
}

impl WebSocketEdge {
    /// The websocket edge of one process, enforcing `limits`.
    pub(super) fn new(limits: WebSocketLimits) -> Self {
        Self { limits }
    }
}

/// Largest websocket message taken (graphql-transport-ws and the legacy graphql-ws alike);
/// beyond it the connection is closed with 1009. Subscription messages are small.
const WS_MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// tungstenite's own ceiling, above ours so that a message between the two gets its 1009; a
/// larger one is never buffered, and its connection just ends.
const WS_CEILING_BYTES: usize = 4 * WS_MAX_MESSAGE_BYTES;

/// Websocket subscriptions (graphql-transport-ws and the legacy graphql-ws).
pub(super) async fn graphql_ws(
    State(state): State<AppState>,
    Extension(edge): Extension<Arc<WebSocketEdge>>,
    held: Option<Extension<super::Held>>,
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
    // A replica shutting down takes no new websocket: the client reconnects elsewhere rather
    // than being accepted and closed at once, again and again.
    if state.stopping.is_cancelled() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down: reconnect",
        )
            .into_response();
    }
    match protocol {
        Some(protocol) => upgrade
            .protocols(ALL_WEBSOCKET_PROTOCOLS)
            // Small buffers: an idle subscription costs one KiB instead of tungstenite's
            // 128 KiB defaults, and subscription messages are small (a larger one is read in
            // several chunks).
            .read_buffer_size(1024)
            .write_buffer_size(4 * 1024)
            .max_write_buffer_size(1024 * 1024)
            .max_message_size(WS_CEILING_BYTES)
            .max_frame_size(WS_CEILING_BYTES)
            .on_upgrade(move |socket| async move {
                serve_websocket(socket, state, edge, protocol).await;
                // The server's shutdown waits for this connection until here.
                drop(held);
            }),
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
/// RFC 6455: the server is going away (shutting down): reconnect, to another replica.
const CLOSE_GOING_AWAY: u16 = 1001;
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
    // init callback), the socket is not read either. Boxed: the channel allocates its slots in
    // blocks of 32 whatever its bound, and a message held inline made that block 12 KB of
    // every idle connection (the heap profile in bench/results/profiles).
    let (admitted, mut to_graphql) = tokio::sync::mpsc::channel::<Box<ClientMessage>>(4);
    let input = futures_util::stream::poll_fn(move |cx| {
        to_graphql
            .poll_recv(cx)
            .map(|message| message.map(|message| Ok(*message)))
    });
    // The close code of a refused connection_init, 0 while there is none.
    let refusal = Arc::new(AtomicU16::new(0));
    let auth = state.auth.clone();
    let services = state.services.clone();
    let refusal_by_init = refusal.clone();
    let limiter = state.limiter.clone();
    let max_per_subject = edge.limits.max_connections_per_subject;
    let (expiry_sender, mut expiry) = tokio::sync::watch::channel::<Option<i64>>(None);
    // The key the caller's rate is counted under, once `connection_init` named them: each
    // subscription takes from the same rate as a request over HTTP.
    let (rate_key_sender, rate_key) = tokio::sync::watch::channel::<Option<String>>(None);
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
                let selected = match payload.get("actingFor") {
                    Some(value) => Selection::Profile(value.as_str().unwrap_or("?")),
                    None => Selection::Own,
                };
                let identified = match actor {
                    crate::auth::SignedIn::Actor(actor) => Caller::Authenticated(actor),
                    crate::auth::SignedIn::Account(account) => Caller::Unlinked(account),
                };
                let actor = match acting_for(&services, identified, selected).await {
                    Caller::Authenticated(actor) => actor,
                    refused => {
                        let reason = match refused {
                            Caller::Refused(reason)
                            | Caller::Forbidden(reason)
                            | Caller::Unavailable(reason) => reason,
                            Caller::Unlinked(_) => "this sign-in account is not linked \
                                    to a profile yet: activate your profile first"
                                .to_owned(),
                            _ => "not allowed".to_owned(),
                        };
                        refusal_by_init.store(CLOSE_FORBIDDEN, Ordering::Relaxed);
                        return Err(async_graphql::Error::new(format!(
                            "profile selection refused: {reason}"
                        )));
                    }
                };
                let subject = super::caller::rate_key(Some(&actor), None);
                let Some(slot) = limiter.open_socket(&subject, max_per_subject).await else {
                    refusal_by_init.store(CLOSE_TOO_MANY_CONNECTIONS, Ordering::Relaxed);
                    return Err(async_graphql::Error::new(format!(
                        "too many open connections for this user (at most {max_per_subject})"
                    )));
                };
                let _ = expiry_sender.send(Some(expires));
                let _ = rate_key_sender.send(Some(subject));
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
    let mut session = Session::new(
        protocol,
        edge.limits.max_subscriptions,
        state.limiter.clone(),
    );
    let close = loop {
        let reply = tokio::select! {
            message = output.next() => match message {
                Some(WsMessage::Text(text)) => {
                    session.sent(&text);
                    // The legacy protocol answers a refused `connection_init` with this
                    // message, then ends the stream: the connection closes with the refusal's
                    // code (4403), as graphql-transport-ws's does, not without a close frame.
                    if text.starts_with(r#"{"type":"connection_error""#) {
                        let code = match refusal.load(Ordering::Relaxed) {
                            0 => CLOSE_FORBIDDEN,
                            refused => refused,
                        };
                        let _ = sink.send(Message::Text(text.into())).await;
                        break Some((code, "connection_init refused".to_owned()));
                    }
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
                    if session.rate_key.is_none() {
                        session.rate_key = rate_key.borrow().clone();
                    }
                    // Boxed: the admission's future (the shared rate's) lives only while it runs,
                    // not in every idle connection's task.
                    match Box::pin(session.admit(&message.into_data())).await {
                        Admission::Admit(message) => {
                            // Capacity was checked and this is the only sender.
                            let _ = admitted.try_send(message);
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
            () = state.stopping.cancelled() => {
                break Some((CLOSE_GOING_AWAY, "the server is shutting down: reconnect".to_owned()));
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
    /// The callers' rate, which each subscription takes from, and the key of this
    /// connection's caller once known.
    rate: Arc<crate::rate_limit::Limiter>,
    rate_key: Option<String>,
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
    fn new(
        protocol: WebSocketProtocols,
        max_subscriptions: usize,
        rate: Arc<crate::rate_limit::Limiter>,
    ) -> Self {
        Self {
            protocol,
            max_subscriptions,
            initialising: false,
            acknowledged: false,
            running: HashSet::new(),
            rate,
            rate_key: None,
        }
    }

    /// Decides on one client message.
    async fn admit(&mut self, bytes: &[u8]) -> Admission {
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
                // Subscribing costs what a request costs: churn (subscribe, complete, again)
                // is bounded by the caller's rate, as HTTP requests are.
                if let Some(key) = &self.rate_key
                    && let Err(wait) = self.rate.take(key).await
                {
                    return Admission::Reply(self.over_rate(id, wait));
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

    /// The refusal of one subscription over the caller's rate, in the protocol's error shape:
    /// `TOO_MANY_REQUESTS`, with the seconds to wait.
    fn over_rate(&self, id: &str, wait: u64) -> String {
        let error = serde_json::json!({
            "message": format!("too many requests: retry in {wait} s"),
            "extensions": { "code": ErrorCode::TooManyRequests.as_str(), "retryAfter": wait },
        });
        let payload = match self.protocol {
            WebSocketProtocols::GraphQLWS => serde_json::json!([error]),
            WebSocketProtocols::SubscriptionsTransportWS => error,
        };
        serde_json::json!({ "id": id, "type": "error", "payload": payload }).to_string()
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

fn connection_init_token(payload: &serde_json::Value) -> Option<String> {
    let header = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()));
    match header {
        Some(value) => super::caller::bearer_token(value).map(|t| t.trim().to_owned()),
        None => payload
            .get("token")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    }
}
