//! POST /graphql: admitted from its headers (content type, rate) before a byte of the body is
//! read, bounded while it is parsed, then run by the schema.

use async_graphql_axum::GraphQLResponse;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::request_id::RequestId;
use tower_http::timeout::TimeoutError;

use crate::auth::Caller;
use crate::graphql::error::{ErrorCode, attach_request_id, is_unavailable};

use super::caller::{acting_for, caller, over_rate, rate_key, selected_profile};
use super::{AppState, closing, refuse};

/// The caller of a POST /graphql that the edge lets in: the body is announced as JSON (or as a
/// multipart request carrying files, with a header no browser sends cross-site without
/// asking), and the caller (the token's subject, or the IP address without a valid token) is
/// within its rate. Checked from the headers, before a byte of the body is read.
pub(super) struct Admitted(Caller, Option<Multipart>);

/// A multipart request's content type (with its boundary).
pub(super) struct Multipart(String);

/// The headers that make a multipart post a GraphQL client's: a browser sends none of them
/// cross-site without a CORS preflight (Apollo's CSRF prevention, which its upload clients
/// follow).
const PREFLIGHT_HEADERS: [&str; 3] = [
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "graphql-require-preflight",
];

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
        let multipart = media_type
            .is_some_and(|media_type| media_type.eq_ignore_ascii_case("multipart/form-data"));
        if multipart
            && !PREFLIGHT_HEADERS
                .iter()
                .any(|h| parts.headers.contains_key(*h))
        {
            return Err(closing(refuse(
                ErrorCode::UnsupportedMediaType,
                "a multipart GraphQL request (a file upload) needs the header \
                 'Apollo-Require-Preflight: true', which browsers never send cross-site unasked"
                    .to_owned(),
            )));
        }
        if !multipart
            && !media_type.is_some_and(|media_type| {
                ["application/json", "application/graphql-response+json"]
                    .iter()
                    .any(|json| media_type.eq_ignore_ascii_case(json))
            })
        {
            return Err(closing(refuse(
                ErrorCode::UnsupportedMediaType,
                "send the GraphQL request as JSON, with 'Content-Type: application/json'"
                    .to_owned(),
            )));
        }
        let caller = caller(&state.auth, &parts.headers).await;
        // The rate first, on what the token says: resolving a sign-in account or checking a
        // representation reads the database, which a caller over their rate must not reach.
        if state.limiter.limits_rate() {
            let client = parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0);
            let key = match &caller {
                Caller::Authenticated(actor) => rate_key(Some(actor), client),
                Caller::Unlinked(account) => {
                    format!("account:{}:{}", account.issuer, account.subject)
                }
                _ => rate_key(None, client),
            };
            if let Some(refused) = over_rate(state, &key).await {
                return Err(closing(refused));
            }
        }
        // A multipart request writes its files to disk as they arrive: only a signed-in caller
        // (within its rate) may send one.
        if multipart && !matches!(caller, Caller::Authenticated(_)) {
            return Err(closing(refuse(
                ErrorCode::Unauthenticated,
                "authentication required: sign in to upload a file".to_owned(),
            )));
        }
        let caller = acting_for(&state.services, caller, selected_profile(&parts.headers)).await;
        let multipart = multipart
            .then(|| parts.headers.get(header::CONTENT_TYPE))
            .flatten()
            .and_then(|value| value.to_str().ok())
            .map(|value| Multipart(value.to_owned()));
        Ok(Self(caller, multipart))
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

pub(super) async fn graphql(
    State(state): State<AppState>,
    Extension(request_id): Extension<RequestId>,
    Admitted(caller, multipart): Admitted,
    request: axum::extract::Request,
) -> Response {
    let request = match multipart {
        Some(Multipart(content_type)) => {
            multipart_request(&state, content_type, request.into_body()).await
        }
        None => json_request(&state, request).await,
    };
    let request = match request {
        Ok(request) => request,
        Err(refused) => return refused,
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

/// A GraphQL request in JSON.
async fn json_request(
    state: &AppState,
    request: axum::extract::Request,
) -> Result<async_graphql::Request, Response> {
    use axum::extract::FromRequest;
    // Bounded by the body limit layer: a document's base64 content is the only large input,
    // and anything beyond what the largest document needs is refused before being read.
    let body: Result<Bytes, BytesRejection> = Bytes::from_request(request, state).await;
    let body = match body {
        Ok(body) => body,
        Err(rejection) if caused_by::<TimeoutError>(&rejection) => {
            return Err(closing(refuse(
                ErrorCode::RequestTimeout,
                "the request body stopped arriving".to_owned(),
            )));
        }
        // 413 (turned into a GraphQL-shaped answer by the edge), or a body cut off.
        Err(rejection) => return Err(rejection.into_response()),
    };
    if too_many_json_values(&body, MAX_JSON_VALUES) {
        return Err(refuse(
            ErrorCode::BadUserInput,
            format!("the request holds more than {MAX_JSON_VALUES} JSON values"),
        ));
    }
    serde_json::from_slice(&body).map_err(|err| {
        refuse(
            ErrorCode::BadUserInput,
            format!("the body is not a GraphQL request in JSON: {err}"),
        )
    })
}

/// A multipart request (the GraphQL multipart request specification): its files are written
/// to disk as they arrive, each within the document size limit, so that a large upload is
/// never held in memory.
async fn multipart_request(
    state: &AppState,
    content_type: String,
    body: axum::body::Body,
) -> Result<async_graphql::Request, Response> {
    use futures_util::TryStreamExt;
    let reader = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .into_async_read();
    let max_bytes = state.services.policy.max_document_bytes;
    // async-graphql bounds the whole stream at max_file_size × max_num_files: one file more
    // than taken leaves room for the operations beside a file at the limit. The edge's body
    // limit bounds the whole request anyway.
    let options = async_graphql::http::MultipartOptions::default()
        .max_file_size(max_bytes)
        .max_num_files(MAX_UPLOADS + 1);
    let batch = async_graphql::http::receive_batch_body(Some(content_type), reader, options)
        .await
        .map_err(|err| match err {
            async_graphql::ParseRequestError::PayloadTooLarge => refuse(
                ErrorCode::PayloadTooLarge,
                format!("a file is larger than the limit of {max_bytes} bytes"),
            ),
            async_graphql::ParseRequestError::Io(err) if caused_by::<TimeoutError>(&err) => {
                closing(refuse(
                    ErrorCode::RequestTimeout,
                    "the request body stopped arriving".to_owned(),
                ))
            }
            other => refuse(
                ErrorCode::BadUserInput,
                format!("the body is not a GraphQL multipart request: {other}"),
            ),
        })?;
    batch.into_single().map_err(|err| {
        refuse(
            ErrorCode::BadUserInput,
            format!("one operation per multipart request: {err}"),
        )
    })
}

/// What one multipart request may carry, in files at the document size limit: one document,
/// or a message's attachments (which share that limit).
const MAX_UPLOADS: usize = 1;

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
