//! Delivering what the outbox holds: live events to subscribers (and to other replicas through
//! PostgreSQL's LISTEN/NOTIFY), emails through the relay, postal statements as PDF letters.

pub mod email;
pub mod letters;
pub mod live;
pub mod pdf;
pub mod relay;

use crate::config::Settings;
use crate::services::Services;

/// The delivery machinery of a running API.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub relay: relay::Relay,
    pub statements: letters::Statements,
}

impl Delivery {
    /// The relay and the statements these settings give, on the services' database and clock.
    pub fn new(settings: &Settings, services: &Services) -> Result<Self, String> {
        Ok(Self {
            relay: settings.relay.relay(
                &settings.mail,
                services.db.clone(),
                services.clock.clone(),
            )?,
            statements: settings
                .letters
                .statements(services.db.clone(), services.clock.clone()),
        })
    }
}
