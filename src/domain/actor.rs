//! Who acts: the roles of the ledger, an authenticated caller, and how an actor is recorded.

use super::{Ins, Rpps};

/// The role claim of a token, and the kind of actor in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActorRole {
    /// A person, identified by their INS.
    Patient,
    /// A health professional, identified by their RPPS number.
    Practitioner,
    /// An agent of the health insurer's back office.
    Operator,
    /// The service itself (the creation sweep, bounces).
    System,
}

impl ActorRole {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "PATIENT",
            Self::Practitioner => "PRACTITIONER",
            Self::Operator => "OPERATOR",
            Self::System => "SYSTEM",
        }
    }

    /// Parses a stored name.
    pub fn from_stored(s: &str) -> Option<Self> {
        [
            Self::Patient,
            Self::Practitioner,
            Self::Operator,
            Self::System,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A patient, acting on their own profile.
    Patient { ins: Ins, name: String },
    /// A practitioner.
    Practitioner {
        rpps: Rpps,
        name: String,
        profession: Option<String>,
    },
    /// An insurer's back-office agent.
    Operator { id: String, name: String },
}

impl Actor {
    /// The role of this actor.
    pub fn role(&self) -> ActorRole {
        match self {
            Self::Patient { .. } => ActorRole::Patient,
            Self::Practitioner { .. } => ActorRole::Practitioner,
            Self::Operator { .. } => ActorRole::Operator,
        }
    }

    /// How this actor is written into the ledger.
    pub fn to_ref(&self) -> ActorRef {
        let (id, name, profession) = match self {
            Self::Patient { ins, name } => (ins.to_string(), name.clone(), None),
            Self::Practitioner {
                rpps,
                name,
                profession,
            } => (rpps.to_string(), name.clone(), profession.clone()),
            Self::Operator { id, name } => (id.clone(), name.clone(), None),
        };
        ActorRef {
            role: self.role(),
            id,
            name,
            profession,
        }
    }
}

/// Who did something, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorRef {
    pub role: ActorRole,
    pub id: String,
    pub name: String,
    /// For practitioners.
    pub profession: Option<String>,
}

impl ActorRef {
    /// The service itself.
    pub fn system() -> Self {
        Self {
            role: ActorRole::System,
            id: "system".to_owned(),
            name: "Mon espace santé".to_owned(),
            profession: None,
        }
    }
}
