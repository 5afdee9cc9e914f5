//! Use cases. Each one validates its input, opens its transaction, appends to the ledger,
//! updates the projections and writes the outbox, then commits: all or nothing.
//! Services know nothing of GraphQL.

mod accounts;
pub mod activity;
pub mod checkpoints;
pub mod content_migration;
pub mod documents;
mod error;
pub mod export;
pub mod feeds;
mod idempotency;
mod journal;
pub mod messaging;
pub mod outbox;
mod patient_tx;
pub use crate::ports::{delivery, live};
pub mod profiles;
mod representatives;
mod retention;
pub mod views;

pub use accounts::Linked;
pub use error::{InternalError, ServiceError};
pub use patient_tx::{Trace, Traced};

use sea_orm::DatabaseConnection;

use crate::clock::SharedClock;
use crate::contents::ContentStore;
pub use crate::domain::Policy;
use live::LiveHub;

/// What every use case needs: the database and the content store, the time, the rules, and the doorbells of live
/// subscribers to ring after a commit.
///
/// The database handle is private to the services: a use case reaches a patient's tables
/// through the patient unit of work (`PatientTx`), and `tests/api/architecture.rs` names the
/// few reads that do not (sweeps' listings, operators' lists, the chain's own verification).
#[derive(Debug, Clone)]
pub struct Services {
    db: DatabaseConnection,
    pub clock: SharedClock,
    pub policy: Policy,
    pub live: LiveHub,
    /// Where the bytes of documents and attachments are.
    pub contents: ContentStore,
    /// Signs the ledger's checkpoints; without it, checkpoints are read but none is made.
    pub checkpoint_signer: Option<crate::ledger::checkpoint::CheckpointSigner>,
}

impl Services {
    /// Services with a hub of their own.
    pub fn new(
        db: DatabaseConnection,
        clock: SharedClock,
        policy: Policy,
        contents: ContentStore,
    ) -> Self {
        Self {
            db,
            clock,
            policy,
            live: LiveHub::default(),
            contents,
            checkpoint_signer: None,
        }
    }

    /// The connection pool, for what runs beside the use cases and is wired outside them: the
    /// outbox relay, the postal statements, the other replicas' doorbells (LISTEN), readiness
    /// and metrics. Never for a use case.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// These services, signing checkpoints with `signer`.
    pub fn with_checkpoint_signer(
        mut self,
        signer: crate::ledger::checkpoint::CheckpointSigner,
    ) -> Self {
        self.checkpoint_signer = Some(signer);
        self
    }
}
