//! Who acts: the roles of the ledger, an authenticated caller, and how an actor is recorded.

pub use entity::values::ActorRole;

use super::{Ins, Rpps};

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
    /// A legal representative, signed in as themselves (a PATIENT token with their INS), acting
    /// on the profile of the minor they selected (`child`). Only built once the representation
    /// was checked.
    Representative { child: Ins, ins: Ins, name: String },
}

impl Actor {
    /// The role of this actor's token (a representative signed in as a patient).
    pub fn role(&self) -> ActorRole {
        match self {
            Self::Patient { .. } | Self::Representative { .. } => ActorRole::Patient,
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
            Self::Representative { ins, name, .. } => (ins.to_string(), name.clone(), None),
        };
        let role = match self {
            // In the minor's chain: the representative, on the minor's behalf.
            Self::Representative { .. } => ActorRole::LegalRepresentative,
            _ => self.role(),
        };
        ActorRef {
            role,
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
    /// The RPPS number of a practitioner (their id); `None` for any other actor.
    pub fn rpps(&self) -> Option<Rpps> {
        match self.role {
            ActorRole::Practitioner => Rpps::parse(&self.id).ok(),
            _ => None,
        }
    }

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
