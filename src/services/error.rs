//! The error policy of the service layer.
//!
//! Every variant but [`ServiceError::Internal`] is the client's doing and carries a message
//! written for them; the GraphQL layer maps each to a stable `extensions.code` in one place
//! (`graphql::error`). An internal error is logged once, where it is turned into a response,
//! and the client only sees a request id.

use chrono::{DateTime, Utc};

use crate::domain::ProfileStatus;

/// Why a use case did not happen.
///
/// Deliberately not `Display`: async-graphql turns any `Display` error into a client error with
/// its text and no code, so `?` in a resolver would leak internal messages. Without `Display`,
/// the only way out is the explicit mapping in `graphql::error`; [`ServiceError::message`] gives
/// the client-facing text.
#[derive(Debug)]
pub enum ServiceError {
    /// Malformed input. `index` is the row of a batch, `field` the input field.
    BadInput {
        message: String,
        field: Option<&'static str>,
        index: Option<usize>,
    },
    /// The thing asked for does not exist (or is not the caller's to see).
    NotFound(String),
    /// The lifecycle does not allow this step from the current status.
    InvalidTransition {
        message: String,
        status: ProfileStatus,
    },
    /// Opposition is only possible before the profile is created.
    OppositionWindowClosed { deadline: DateTime<Utc> },
    /// Too many wrong activation attempts.
    ActivationLocked { until: DateTime<Utc> },
    /// The activation code or the Carte Vitale serial is wrong (we do not say which).
    InvalidActivation { remaining_attempts: i32 },
    /// The patient has no DMP (unknown INS, announced, opposed or closed: one answer for all,
    /// so that a practitioner never learns of an opposition).
    DmpNotFound,
    /// The patient must activate their profile first.
    ActivationRequired,
    /// The caller may not do this to this resource.
    Forbidden(String),
    /// The idempotency key was used before with a different request.
    Conflict(String),
    /// A payload over the configured limit.
    PayloadTooLarge { max_bytes: usize },
    /// Not the client's fault: a database or consistency failure.
    Internal(String),
}

impl ServiceError {
    /// The message for the client (for `Internal`, the operator's log line instead).
    pub fn message(&self) -> String {
        match self {
            Self::BadInput { message, .. }
            | Self::NotFound(message)
            | Self::InvalidTransition { message, .. }
            | Self::Forbidden(message)
            | Self::Conflict(message)
            | Self::Internal(message) => message.clone(),
            Self::DmpNotFound => "DMP inexistant".to_owned(),
            Self::ActivationRequired => "the profile is not activated yet: activate it with the \
                 code of the creation notice and your Carte Vitale (activateProfile), then sign in again"
                .to_owned(),
            Self::PayloadTooLarge { max_bytes } => {
                format!("the content is larger than the limit of {max_bytes} bytes")
            }
            Self::OppositionWindowClosed { deadline } => format!(
                "the opposition window ended on {}: the profile is created or about to be; \
                 it can be closed once created",
                deadline.format("%d/%m/%Y %H:%M UTC")
            ),
            Self::ActivationLocked { until } => format!(
                "activation is locked after too many wrong attempts; try again after {}",
                until.format("%d/%m/%Y %H:%M UTC")
            ),
            Self::InvalidActivation { remaining_attempts } => format!(
                "the activation code or the Carte Vitale serial number is wrong; \
                 {remaining_attempts} attempt(s) left before activation locks for a while"
            ),
        }
    }

    /// A malformed input field.
    pub fn bad_input(field: &'static str, message: impl Into<String>) -> Self {
        Self::BadInput {
            message: message.into(),
            field: Some(field),
            index: None,
        }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(err: sea_orm::DbErr) -> Self {
        // A unique constraint refused a row that a concurrent request wrote first (the same
        // idempotency key, say): the client can retry and get the first result.
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) = err.sql_err() {
            return Self::Conflict(
                "a concurrent request wrote the same thing first; retry to get its result"
                    .to_owned(),
            );
        }
        Self::Internal(format!("database: {err}"))
    }
}

impl From<crate::domain::StatusParseError> for ServiceError {
    fn from(err: crate::domain::StatusParseError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<crate::domain::lifecycle::Refusal> for ServiceError {
    fn from(refusal: crate::domain::lifecycle::Refusal) -> Self {
        use crate::domain::lifecycle::Refusal;
        match refusal {
            Refusal::OppositionWindowClosed { deadline } => {
                Self::OppositionWindowClosed { deadline }
            }
            Refusal::InvalidTransition { message, status } => {
                Self::InvalidTransition { message, status }
            }
            Refusal::ActivationLocked { until } => Self::ActivationLocked { until },
            Refusal::InvalidActivation { remaining_attempts } => {
                Self::InvalidActivation { remaining_attempts }
            }
        }
    }
}
