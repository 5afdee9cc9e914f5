//! The profile lifecycle of SPEC.md:
//!
//! ```text
//! (none) --enrol--> ANNOUNCED --window ends--> CREATED --activate--> ACTIVATED
//!                      | oppose                   | close                | close
//!                      v                          v                      v
//!                   OPPOSED --withdraw--> CREATED CLOSED <---------------+
//! ```

use std::fmt;
use std::str::FromStr;

/// Where a person stands in the lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileStatus {
    /// Enrolled by the insurer; the opposition window is open.
    Announced,
    /// The person opposed: no DMP, no mailbox.
    Opposed,
    /// The profile exists; the patient has not activated it yet.
    Created,
    /// The patient activated the profile and can read it.
    Activated,
    /// The owner closed the profile.
    Closed,
}

impl ProfileStatus {
    /// The stored (and GraphQL) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Announced => "ANNOUNCED",
            Self::Opposed => "OPPOSED",
            Self::Created => "CREATED",
            Self::Activated => "ACTIVATED",
            Self::Closed => "CLOSED",
        }
    }

    /// Whether the person has a DMP and a mailbox that practitioners can feed.
    pub fn has_dmp(self) -> bool {
        matches!(self, Self::Created | Self::Activated)
    }
}

impl fmt::Display for ProfileStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored status that this version does not know: the database and the code disagree.
#[derive(Debug, thiserror::Error)]
#[error("unknown profile status '{0}' in the database")]
pub struct StatusParseError(String);

impl FromStr for ProfileStatus {
    type Err = StatusParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "ANNOUNCED" => Self::Announced,
            "OPPOSED" => Self::Opposed,
            "CREATED" => Self::Created,
            "ACTIVATED" => Self::Activated,
            "CLOSED" => Self::Closed,
            other => return Err(StatusParseError(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for status in [
            ProfileStatus::Announced,
            ProfileStatus::Opposed,
            ProfileStatus::Created,
            ProfileStatus::Activated,
            ProfileStatus::Closed,
        ] {
            assert_eq!(status.as_str().parse::<ProfileStatus>().unwrap(), status);
        }
        assert!("DELETED".parse::<ProfileStatus>().is_err());
    }

    #[test]
    fn only_created_and_activated_profiles_have_a_dmp() {
        assert!(ProfileStatus::Created.has_dmp());
        assert!(ProfileStatus::Activated.has_dmp());
        assert!(!ProfileStatus::Announced.has_dmp());
        assert!(!ProfileStatus::Opposed.has_dmp());
        assert!(!ProfileStatus::Closed.has_dmp());
    }
}
