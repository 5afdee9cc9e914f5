//! The tunable numbers of the rules, set by configuration.

use chrono::Duration;

use super::lifecycle::Retention;

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
    /// How long an emergency access ("bris de glace") lasts.
    pub emergency_access: Duration,
    /// How long a closed profile is kept before the purge (real MES: 10 years).
    pub retention: Retention,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            opposition_window: Duration::weeks(6),
            max_activation_attempts: 5,
            activation_lockout: Duration::minutes(15),
            max_document_bytes: 20 * 1024 * 1024,
            emergency_access: Duration::hours(4),
            retention: Retention { years: 10 },
        }
    }
}
