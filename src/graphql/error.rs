//! The one place where errors become GraphQL errors with a stable `extensions.code`.
//!
//! Codes: `UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`, `NOT_FOUND`, `INVALID_TRANSITION`,
//! `OPPOSITION_WINDOW_CLOSED`, `ACTIVATION_LOCKED`, `INVALID_ACTIVATION`, `DMP_NOT_FOUND`,
//! `ACTIVATION_REQUIRED`, `CONFLICT`, `PAYLOAD_TOO_LARGE`, `SERVICE_UNAVAILABLE` (the database
//! is out of reach: retry; over HTTP the answer is a 503 with `Retry-After`),
//! `QUERY_TOO_COMPLEX` (from [`super::limits`]), and
//! `INTERNAL_SERVER_ERROR` (logged once, here; the client gets the request id, never the cause).
//! Errors async-graphql raises itself (a malformed query, an argument that does not parse, such
//! as a malformed INS) carry no code; [`ensure_codes`] gives them `BAD_USER_INPUT`.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use async_graphql::{Error, ErrorExtensions, Response, ServerError};
use futures_util::stream::{BoxStream, StreamExt};

use crate::services::ServiceError;

/// The code of an error that a retry may cure; the HTTP edge answers it with 503 and
/// `Retry-After`.
pub const SERVICE_UNAVAILABLE: &str = "SERVICE_UNAVAILABLE";

/// Builds an error with a code.
fn coded(code: &'static str, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, ext| ext.set("code", code))
}

/// No (valid) token.
pub fn unauthenticated(reason: &str) -> Error {
    coded(
        "UNAUTHENTICATED",
        format!("authentication required: {reason}"),
    )
}

/// Authenticated, but not allowed.
/// What a refused caller (no valid token, or a profile selection they may not make) gets.
pub fn refused_caller(caller: Option<&crate::auth::Caller>) -> Error {
    use crate::auth::Caller;
    match caller {
        Some(Caller::Refused(reason)) => unauthenticated(reason),
        Some(Caller::Forbidden(reason)) => forbidden(reason),
        Some(Caller::Unavailable(reason)) => coded(SERVICE_UNAVAILABLE, reason.clone()),
        Some(Caller::Authenticated(_) | Caller::Anonymous) | None => {
            unauthenticated("sign in: send 'Authorization: Bearer <token>'")
        }
    }
}

pub fn forbidden(reason: &str) -> Error {
    coded("FORBIDDEN", reason.to_owned())
}

/// Malformed input, outside any service call (pagination arguments, …).
pub fn bad_user_input(message: impl Into<String>) -> Error {
    coded("BAD_USER_INPUT", message)
}

impl From<ServiceError> for Error {
    fn from(err: ServiceError) -> Self {
        let message = err.message();
        match err {
            ServiceError::BadInput { field, index, .. } => coded("BAD_USER_INPUT", message)
                .extend_with(|_, ext| {
                    if let Some(field) = field {
                        ext.set("field", field);
                    }
                    if let Some(index) = index {
                        ext.set("index", index as u64);
                    }
                }),
            ServiceError::NotFound(_) => coded("NOT_FOUND", message),
            ServiceError::InvalidTransition { status, .. } => coded("INVALID_TRANSITION", message)
                .extend_with(|_, ext| ext.set("status", status.as_str())),
            ServiceError::OppositionWindowClosed { deadline } => {
                coded("OPPOSITION_WINDOW_CLOSED", message)
                    .extend_with(|_, ext| ext.set("deadline", deadline.to_rfc3339()))
            }
            ServiceError::ActivationLocked { until } => coded("ACTIVATION_LOCKED", message)
                .extend_with(|_, ext| ext.set("lockedUntil", until.to_rfc3339())),
            ServiceError::InvalidActivation { remaining_attempts } => {
                coded("INVALID_ACTIVATION", message)
                    .extend_with(|_, ext| ext.set("remainingAttempts", remaining_attempts))
            }
            ServiceError::DmpNotFound => coded("DMP_NOT_FOUND", message),
            ServiceError::ActivationRequired => coded("ACTIVATION_REQUIRED", message),
            ServiceError::Forbidden(_) => coded("FORBIDDEN", message),
            ServiceError::Conflict(_) => coded("CONFLICT", message),
            ServiceError::PayloadTooLarge { max_bytes } => coded("PAYLOAD_TOO_LARGE", message)
                .extend_with(|_, ext| ext.set("maxBytes", max_bytes as u64)),
            ServiceError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause.chain(), "request failed: database unavailable");
                coded(
                    SERVICE_UNAVAILABLE,
                    "the service is temporarily unavailable; retry in a moment",
                )
            }
            ServiceError::Internal(internal) => {
                tracing::error!(error.cause = %internal.chain(), "request failed on an internal error");
                coded(
                    "INTERNAL_SERVER_ERROR",
                    "an internal error occurred; quote the request id to the support team",
                )
            }
        }
    }
}

/// Gives every error a code: those without one are the client's (a malformed query, an
/// argument that does not parse).
fn ensure_codes(errors: &mut [ServerError]) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", "BAD_USER_INPUT");
        }
    }
}

/// Whether one of `errors` is [`SERVICE_UNAVAILABLE`].
pub fn is_unavailable(errors: &[ServerError]) -> bool {
    errors.iter().any(|error| {
        error.extensions.as_ref().is_some_and(|extensions| {
            matches!(extensions.get("code"), Some(async_graphql::Value::String(code)) if code == SERVICE_UNAVAILABLE)
        })
    })
}

/// Gives internal errors the request id, which the logs carry too.
pub fn attach_request_id(errors: &mut [ServerError], request_id: &str) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if matches!(extensions.get("code"), Some(async_graphql::Value::String(code)) if code == "INTERNAL_SERVER_ERROR")
        {
            extensions.set("requestId", request_id);
        }
    }
}

/// Schema extension that passes every response, over HTTP and websockets alike, through
/// [`ensure_codes`].
#[derive(Debug)]
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodes)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ErrorCodes {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut response = next.run(ctx).await;
        ensure_codes(&mut response.errors);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        next.run(ctx, stream)
            .map(|mut response| {
                ensure_codes(&mut response.errors);
                response
            })
            .boxed()
    }
}
