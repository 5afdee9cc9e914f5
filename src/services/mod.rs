//! Use cases. Each one validates its input, opens its transaction, appends to the ledger,
//! updates the projections and writes the outbox, then commits: all or nothing.
//! Services know nothing of GraphQL.

pub mod activity;
pub mod documents;
mod error;
pub mod feeds;
pub mod messaging;
pub mod outbox;
pub mod profiles;

pub use error::ServiceError;

use chrono::Duration;
use sea_orm::DatabaseConnection;

use crate::clock::SharedClock;
use crate::notify::live::LiveHub;

/// The tunable rules of the lifecycle.
#[derive(Debug, Clone)]
pub struct Policy {
    /// How long an enrolled person may oppose before the profile is created (real MES: 6 weeks).
    pub opposition_window: Duration,
    /// Wrong activation attempts before activation locks.
    pub max_activation_attempts: i32,
    /// How long activation stays locked.
    pub activation_lockout: Duration,
    /// Largest document (or message attachments, together), in bytes.
    pub max_document_bytes: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            opposition_window: Duration::weeks(6),
            max_activation_attempts: 5,
            activation_lockout: Duration::minutes(15),
            max_document_bytes: 20 * 1024 * 1024,
        }
    }
}

/// What every use case needs: the database, the time, the rules, and the doorbells of live
/// subscribers to ring after a commit.
#[derive(Debug, Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub policy: Policy,
    pub live: LiveHub,
}

impl Services {
    /// Services with a hub of their own.
    pub fn new(db: DatabaseConnection, clock: SharedClock, policy: Policy) -> Self {
        Self {
            db,
            clock,
            policy,
            live: LiveHub::default(),
        }
    }
}
