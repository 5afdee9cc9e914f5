//! The one place where errors become GraphQL errors with a stable `extensions.code`.
//!
//! Codes: `UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`, `NOT_FOUND`, `INVALID_TRANSITION`,
//! `OPPOSITION_WINDOW_CLOSED`, `ACTIVATION_LOCKED`, `INVALID_ACTIVATION`, `DMP_NOT_FOUND`,
//! `ACTIVATION_REQUIRED`, `CONFLICT`, `PAYLOAD_TOO_LARGE`, and
//! `INTERNAL_SERVER_ERROR` (logged once, here; the client gets the request id, never the cause).
//! Errors async-graphql raises itself (a malformed query, an argument that does not parse, such
//! as a malformed INS) carry no code; [`ensure_codes`] gives them `BAD_USER_INPUT`.

use async_graphql::{Error, ErrorExtensions, ServerError};

use crate::services::ServiceError;

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
            ServiceError::Internal(cause) => {
                tracing::error!(error.cause = %cause, "request failed on an internal error");
                coded(
                    "INTERNAL_SERVER_ERROR",
                    "an internal error occurred; quote the request id to the support team",
                )
            }
        }
    }
}

/// Gives every error of a response a code, and internal ones the request id.
pub fn ensure_codes(errors: &mut [ServerError], request_id: &str) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        match extensions.get("code") {
            None => extensions.set("code", "BAD_USER_INPUT"),
            Some(async_graphql::Value::String(code)) if code == "INTERNAL_SERVER_ERROR" => {
                extensions.set("requestId", request_id);
            }
            Some(_) => {}
        }
    }
}
