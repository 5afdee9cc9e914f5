//! The one place where errors become GraphQL errors with a stable `extensions.code`.
//!
//! Codes: `UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`, `NOT_FOUND`, `INVALID_TRANSITION`,
//! `OPPOSITION_WINDOW_CLOSED`, `ACTIVATION_LOCKED`, `INVALID_ACTIVATION`, `DMP_NOT_FOUND`,
//! `ACTIVATION_REQUIRED`, `CONFLICT`, `ACCOUNT_NOT_LINKED`, `PERSISTED_QUERY_NOT_FOUND` (from
//! [`super::persisted`]), `PAYLOAD_TOO_LARGE`, `SERVICE_UNAVAILABLE` (the database
//! is out of reach: retry; over HTTP the answer is a 503 with `Retry-After`),
//! `QUERY_TOO_COMPLEX` (from [`super::limits`]), and
//! `INTERNAL_SERVER_ERROR` (logged once, here; the client gets the request id, never the cause).
//! Errors async-graphql raises itself (a malformed query, an argument that does not parse, such
//! as a malformed INS) carry no code; `ensure_codes` gives them `BAD_USER_INPUT`.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextRequest, NextSubscribe,
};
use async_graphql::{Error, ErrorExtensions, Response, ServerError};
use futures_util::stream::{BoxStream, StreamExt};

use crate::services::ServiceError;

/// The stable `extensions.code` of every error a client can get, and the HTTP status each is
/// answered with where HTTP chooses one (the routes beside GraphQL, and a GraphQL answer that
/// is all [`ErrorCode::ServiceUnavailable`]). Written once here; nothing reads a code back from
/// its text: an error carries its code as a value too (its `source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    BadUserInput,
    NotFound,
    InvalidTransition,
    OppositionWindowClosed,
    ActivationLocked,
    InvalidActivation,
    DmpNotFound,
    ActivationRequired,
    Conflict,
    /// A patient's sign-in account that no activation bound to a profile.
    AccountNotLinked,
    /// A persisted query's hash the server does not know: send the text with it once.
    PersistedQueryNotFound,
    PayloadTooLarge,
    /// The database is out of reach: retry (503 with `Retry-After`).
    ServiceUnavailable,
    QueryTooComplex,
    TooManyRequests,
    TooManySubscriptions,
    UnsupportedMediaType,
    RequestTimeout,
    MethodNotAllowed,
    /// Logged once, where it is mapped; the client gets the request id, never the cause.
    InternalServerError,
}

impl ErrorCode {
    /// The code as clients read it in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::InvalidTransition => "INVALID_TRANSITION",
            Self::OppositionWindowClosed => "OPPOSITION_WINDOW_CLOSED",
            Self::ActivationLocked => "ACTIVATION_LOCKED",
            Self::InvalidActivation => "INVALID_ACTIVATION",
            Self::DmpNotFound => "DMP_NOT_FOUND",
            Self::ActivationRequired => "ACTIVATION_REQUIRED",
            Self::Conflict => "CONFLICT",
            Self::AccountNotLinked => "ACCOUNT_NOT_LINKED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::TooManyRequests => "TOO_MANY_REQUESTS",
            Self::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::RequestTimeout => "REQUEST_TIMEOUT",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The HTTP status of an answer that is this error alone.
    pub fn http_status(self) -> u16 {
        match self {
            Self::Unauthenticated => 401,
            Self::Forbidden | Self::ActivationRequired | Self::AccountNotLinked => 403,
            Self::NotFound | Self::DmpNotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::RequestTimeout => 408,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UnsupportedMediaType => 415,
            Self::TooManyRequests | Self::TooManySubscriptions => 429,
            Self::BadUserInput
            | Self::InvalidTransition
            | Self::OppositionWindowClosed
            | Self::ActivationLocked
            | Self::InvalidActivation
            | Self::QueryTooComplex
            | Self::PersistedQueryNotFound => 400,
            Self::ServiceUnavailable => 503,
            Self::InternalServerError => 500,
        }
    }

    /// The code of a service error.
    pub fn of(err: &ServiceError) -> Self {
        match err {
            ServiceError::BadInput { .. } => Self::BadUserInput,
            ServiceError::NotFound(_) => Self::NotFound,
            ServiceError::InvalidTransition { .. } => Self::InvalidTransition,
            ServiceError::OppositionWindowClosed { .. } => Self::OppositionWindowClosed,
            ServiceError::ActivationLocked { .. } => Self::ActivationLocked,
            ServiceError::InvalidActivation { .. } => Self::InvalidActivation,
            ServiceError::DmpNotFound => Self::DmpNotFound,
            ServiceError::ActivationRequired => Self::ActivationRequired,
            ServiceError::Forbidden(_) => Self::Forbidden,
            ServiceError::Conflict(_) => Self::Conflict,
            ServiceError::PayloadTooLarge { .. } => Self::PayloadTooLarge,
            ServiceError::Unavailable(_) => Self::ServiceUnavailable,
            ServiceError::Internal(_) => Self::InternalServerError,
        }
    }

    /// The code an error carries, if it was given one here.
    pub fn carried_by(error: &ServerError) -> Option<Self> {
        error.source::<Self>().copied()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Builds an error with a code: in `extensions.code` for the client, and as its source for
/// the edge.
pub fn coded(code: ErrorCode, message: impl Into<String>) -> Error {
    let mut error = Error::new(message).extend_with(|_, ext| ext.set("code", code.as_str()));
    error.source = Some(Arc::new(code));
    error
}

/// No (valid) token.
pub fn unauthenticated(reason: &str) -> Error {
    coded(
        ErrorCode::Unauthenticated,
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
        Some(Caller::Unavailable(reason)) => coded(ErrorCode::ServiceUnavailable, reason.clone()),
        Some(Caller::Unlinked(_)) => not_linked(),
        Some(Caller::Authenticated(_) | Caller::Anonymous) | None => {
            unauthenticated("sign in: send 'Authorization: Bearer <token>'")
        }
    }
}

/// A valid patient token of a provider account that no activation bound to a profile.
pub fn not_linked() -> Error {
    coded(
        ErrorCode::AccountNotLinked,
        "this sign-in account is not linked to a profile yet: activate your profile with \
         activateProfile (your INS, the code of your creation notice and your Carte Vitale's \
         serial), or sign in with an account already linked and add this one with linkAccount"
            .to_owned(),
    )
}

pub fn forbidden(reason: &str) -> Error {
    coded(ErrorCode::Forbidden, reason.to_owned())
}

/// Malformed input, outside any service call (pagination arguments, …).
pub fn bad_user_input(message: impl Into<String>) -> Error {
    coded(ErrorCode::BadUserInput, message)
}

impl From<ServiceError> for Error {
    fn from(err: ServiceError) -> Self {
        let code = ErrorCode::of(&err);
        let message = err.message();
        match err {
            ServiceError::BadInput { field, index, .. } => {
                coded(code, message).extend_with(|_, ext| {
                    if let Some(field) = field {
                        ext.set("field", field);
                    }
                    if let Some(index) = index {
                        ext.set("index", index as u64);
                    }
                })
            }
            ServiceError::InvalidTransition { status, .. } => {
                coded(code, message).extend_with(|_, ext| ext.set("status", status.as_str()))
            }
            ServiceError::OppositionWindowClosed { deadline } => coded(code, message)
                .extend_with(|_, ext| ext.set("deadline", deadline.to_rfc3339())),
            ServiceError::ActivationLocked { until } => coded(code, message)
                .extend_with(|_, ext| ext.set("lockedUntil", until.to_rfc3339())),
            ServiceError::InvalidActivation { remaining_attempts } => coded(code, message)
                .extend_with(|_, ext| ext.set("remainingAttempts", remaining_attempts)),
            ServiceError::PayloadTooLarge { max_bytes } => {
                coded(code, message).extend_with(|_, ext| ext.set("maxBytes", max_bytes as u64))
            }
            ServiceError::Unavailable(cause) => {
                tracing::warn!(error.cause = %cause.chain(), "request failed: the database or the content store is unavailable");
                coded(
                    code,
                    "the service is temporarily unavailable; retry in a moment",
                )
            }
            ServiceError::Internal(internal) => {
                tracing::error!(error.cause = %internal.chain(), "request failed on an internal error");
                coded(
                    code,
                    "an internal error occurred; quote the request id to the support team",
                )
            }
            ServiceError::NotFound(_)
            | ServiceError::DmpNotFound
            | ServiceError::ActivationRequired
            | ServiceError::Forbidden(_)
            | ServiceError::Conflict(_) => coded(code, message),
        }
    }
}

/// Gives every error a code: those without one are the client's (a malformed query, an
/// argument that does not parse).
fn ensure_codes(errors: &mut [ServerError]) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", ErrorCode::BadUserInput.as_str());
            if error.source.is_none() {
                error.source = Some(Arc::new(ErrorCode::BadUserInput));
            }
        }
    }
}

/// Whether one of `errors` is [`ErrorCode::ServiceUnavailable`].
pub fn is_unavailable(errors: &[ServerError]) -> bool {
    errors
        .iter()
        .any(|error| ErrorCode::carried_by(error) == Some(ErrorCode::ServiceUnavailable))
}

/// Gives internal errors the request id, which the logs carry too.
pub fn attach_request_id(errors: &mut [ServerError], request_id: &str) {
    for error in errors {
        if ErrorCode::carried_by(error) == Some(ErrorCode::InternalServerError) {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("requestId", request_id);
        }
    }
}

/// Schema extension that passes every response, over HTTP and websockets alike, through
/// `ensure_codes`.
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
