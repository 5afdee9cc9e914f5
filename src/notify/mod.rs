//! Delivering what the outbox holds: live events to subscribers (and to other replicas through
//! PostgreSQL's LISTEN/NOTIFY), emails through the relay, postal statements as PDF letters.

pub mod email;
pub mod letters;
pub mod live;
pub mod pdf;
pub mod relay;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::ports::delivery::{DeliveryError, DeliveryPort, RelayReport, StatementRun};

/// The delivery machinery of a running API.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub relay: relay::Relay,
    pub statements: letters::Statements,
}

impl DeliveryPort for Delivery {
    fn relay_round(&self) -> BoxFuture<'_, Result<RelayReport, DeliveryError>> {
        async move { Ok(self.relay.run_once().await?) }.boxed()
    }

    fn postal_statements(&self) -> BoxFuture<'_, Result<StatementRun, DeliveryError>> {
        self.statements.run().boxed()
    }
}
