//! The delivery port: what the operator may run by hand (a relay round, the postal statements),
//! defined for the services and implemented by `notify`, so that the GraphQL layer needs only
//! services.

use std::fmt;
use std::path::PathBuf;

use futures_util::future::BoxFuture;
use serde::Serialize;

/// Why delivery could not run: a database or file-system failure, for the operator's log (the
/// services turn it into an internal error; clients never see it).
pub type DeliveryError = Box<dyn std::error::Error + Send + Sync>;

/// Runs delivery now, as the background relay and `espace-sante letters` do.
pub trait DeliveryPort: Send + Sync + fmt::Debug {
    /// One round of the email relay: sends what is due.
    fn relay_round(&self) -> BoxFuture<'_, Result<RelayReport, DeliveryError>>;
    /// The postal statements: one letter per patient with pending postal notices.
    fn postal_statements(&self) -> BoxFuture<'_, Result<StatementRun, DeliveryError>>;
}

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RelayReport {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// One letter written.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LetterOut {
    pub letter_id: i64,
    pub file: String,
    pub pages: usize,
    pub notifications: usize,
    /// The address block, as printed (at most 6 lines of 38 characters).
    pub address_block: Vec<String>,
}

/// What a run wrote.
#[derive(Debug, Clone, Default)]
pub struct StatementRun {
    pub letters: Vec<LetterOut>,
    /// The manifest for the print provider; none when no letter was written.
    pub manifest: Option<PathBuf>,
}
