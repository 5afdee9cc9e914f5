//! The error policy of the service layer.
//!
//! Every variant but [`ServiceError::Internal`] is the client's doing and carries a message
//! written for them; the GraphQL layer maps each to a stable `extensions.code` in one place
//! (`graphql::error`). An internal error is logged once, where it is turned into a response,
//! and the client only sees a request id.

use chrono::{DateTime, Utc};

use crate::domain::ProfileStatus;
use crate::domain::access::Refusal;

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
    /// The database cannot be reached (an outage, a failover, a full pool): the use case did not
    /// happen, or its transaction was rolled back, and the same request can be retried in a
    /// moment. The cause stays here for the log, as for `Internal`.
    Unavailable(InternalError),
    /// Not the client's fault: a database or consistency failure. Its cause stays here, for
    /// the one log line written where the error becomes a response; clients never see it.
    Internal(InternalError),
}

/// What went wrong inside, and the error that caused it.
#[derive(Debug)]
pub struct InternalError {
    context: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl InternalError {
    /// The context and every cause below it, for the operator's log: `a: b: c`.
    pub fn chain(&self) -> String {
        let mut out = self.context.clone();
        let mut next: Option<&(dyn std::error::Error + 'static)> = match &self.source {
            Some(source) => Some(source.as_ref()),
            None => None,
        };
        while let Some(cause) = next {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            next = cause.source();
        }
        out
    }
}

impl ServiceError {
    /// The message for the client (for `Internal`, the operator's log line instead).
    pub fn message(&self) -> String {
        match self {
            Self::BadInput { message, .. }
            | Self::NotFound(message)
            | Self::InvalidTransition { message, .. }
            | Self::Forbidden(message)
            | Self::Conflict(message) => message.clone(),
            Self::Internal(internal) | Self::Unavailable(internal) => internal.chain(),
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

    /// An internal error without an underlying cause (a broken invariant).
    pub fn internal(context: impl Into<String>) -> Self {
        Self::Internal(InternalError {
            context: context.into(),
            source: None,
        })
    }

    /// An internal error caused by `source`.
    pub fn internal_from(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Internal(InternalError {
            context: context.into(),
            source: Some(Box::new(source)),
        })
    }
}

/// The unique constraints a client can run into, by name (PostgreSQL) and by the columns SQLite
/// names instead: a concurrent request with the same idempotency key, or binding the same
/// sign-in account. Any other unique violation
/// (a ledger sequence clash, a notice queued twice) is ours, not the client's.
const CLIENT_CONSTRAINTS: [(&str, &str); 3] = [
    (
        "documents_idempotency",
        "documents.author_id, documents.idempotency_key",
    ),
    (
        "messages_idempotency",
        "messages.sender_id, messages.idempotency_key",
    ),
    // Two bindings of one profile at one issuer at once: the second is refused. (Two profiles
    // binding one account at once meet in `account_subjects`, without an error: see
    // `services::accounts::link`.)
    (
        "account_links_one_account_per_issuer",
        "account_links.patient_ins, account_links.issuer",
    ),
];

/// Whether a unique-violation message names one of [`CLIENT_CONSTRAINTS`].
fn is_client_constraint(message: &str) -> bool {
    CLIENT_CONSTRAINTS.iter().any(|(name, sqlite_columns)| {
        message.contains(&format!("\"{name}\"")) || message.ends_with(sqlite_columns)
    })
}

/// Whether `err` says the database is out of reach rather than that a statement failed: no
/// connection from the pool in time, a connection refused or cut, the server shutting down
/// (SQLSTATE classes 08, connection exception, and 57, operator intervention).
fn is_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    let sqlx_error = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(RuntimeErr::SqlxError(error))
        | DbErr::Exec(RuntimeErr::SqlxError(error))
        | DbErr::Query(RuntimeErr::SqlxError(error)) => error,
        _ => return false,
    };
    match sqlx_error.as_ref() {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed => true,
        sqlx::Error::Database(database) => database
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57")),
        _ => false,
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(err: sea_orm::DbErr) -> Self {
        if is_unavailable(&err) {
            return Self::Unavailable(InternalError {
                context: "database unavailable".to_owned(),
                source: Some(Box::new(err)),
            });
        }
        // A concurrent request with the same idempotency key wrote first: the client can retry
        // and get the first result.
        if let Some(sea_orm::SqlErr::UniqueConstraintViolation(message)) = err.sql_err()
            && is_client_constraint(&message)
        {
            return Self::Conflict(
                "a concurrent request wrote the same thing first; retry to get its result"
                    .to_owned(),
            );
        }
        Self::internal_from("database", err)
    }
}

impl From<crate::ports::delivery::DeliveryError> for ServiceError {
    fn from(err: crate::ports::delivery::DeliveryError) -> Self {
        Self::Internal(InternalError {
            context: "delivery".to_owned(),
            source: Some(err),
        })
    }
}

impl From<Refusal> for ServiceError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotEnrolled => {
                Self::NotFound("no Mon espace santé enrolment is known for this INS".to_owned())
            }
            Refusal::DmpNotFound => Self::DmpNotFound,
            Refusal::ActivationRequired => Self::ActivationRequired,
            Refusal::NoProfile => {
                Self::NotFound("no Mon espace santé profile for this INS".to_owned())
            }
            Refusal::NoMailbox(status) => Self::InvalidTransition {
                message: format!("a profile that is {status} has no mailbox"),
                status,
            },
        }
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

impl From<crate::contents::ContentError> for ServiceError {
    fn from(err: crate::contents::ContentError) -> Self {
        use crate::contents::ContentError;
        let unavailable = matches!(err, ContentError::Store(_));
        let internal = InternalError {
            context: "content store".to_owned(),
            source: Some(Box::new(err)),
        };
        // A store that fails or cannot be reached is an outage: the request can be retried.
        // A row whose bytes are missing or altered is not the client's to retry.
        if unavailable {
            Self::Unavailable(internal)
        } else {
            Self::Internal(internal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_clashes_are_the_clients_and_others_are_ours() {
        assert!(is_client_constraint(
            "duplicate key value violates unique constraint \"documents_idempotency\""
        ));
        assert!(is_client_constraint(
            "UNIQUE constraint failed: messages.sender_id, messages.idempotency_key"
        ));
        assert!(!is_client_constraint(
            "duplicate key value violates unique constraint \"ledger_events_patient_seq\""
        ));
        assert!(!is_client_constraint(
            "UNIQUE constraint failed: ledger_events.patient_ins, ledger_events.seq"
        ));
    }

    #[test]
    fn an_unreachable_database_is_unavailable_and_a_failed_statement_is_not() {
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};
        let sqlx = |error: sqlx::Error| RuntimeErr::SqlxError(std::sync::Arc::new(error));
        assert!(matches!(
            ServiceError::from(DbErr::ConnectionAcquire(ConnAcquireErr::Timeout)),
            ServiceError::Unavailable(_)
        ));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            ServiceError::from(DbErr::Conn(sqlx(sqlx::Error::Io(refused)))),
            ServiceError::Unavailable(_)
        ));
        assert!(matches!(
            ServiceError::from(DbErr::Query(sqlx(sqlx::Error::RowNotFound))),
            ServiceError::Internal(_)
        ));
        assert!(matches!(
            ServiceError::from(DbErr::Custom("broken invariant".to_owned())),
            ServiceError::Internal(_)
        ));
    }

    #[test]
    fn internal_errors_keep_their_cause_chain() {
        let err =
            ServiceError::internal_from("database", std::io::Error::other("connection reset"));
        assert_eq!(err.message(), "database: connection reset");
    }
}
