//! Who acts: the roles of the ledger, an authenticated caller, and how an actor is recorded.

pub use entity::values::ActorRole;

use super::{Ins, ProfessionCode, Rpps};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A patient, acting on their own profile.
    Patient { ins: Ins, name: String },
    /// A practitioner.
    Practitioner {
        rpps: Rpps,
        name: String,
        /// Display name of the profession (e.g. `Médecin généraliste`), as the ledger records it.
        profession: Option<String>,
        /// The profession's code of the RPPS nomenclature, which the access matrix reads.
        profession_code: Option<ProfessionCode>,
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
        let (id, name, profession, profession_code) = match self {
            Self::Patient { ins, name } => (ins.to_string(), name.clone(), None, None),
            Self::Practitioner {
                rpps,
                name,
                profession,
                profession_code,
            } => (
                rpps.to_string(),
                name.clone(),
                profession.clone(),
                *profession_code,
            ),
            Self::Operator { id, name } => (id.clone(), name.clone(), None, None),
            Self::Representative { ins, name, .. } => (ins.to_string(), name.clone(), None, None),
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
            profession_code,
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
    /// For practitioners: the profession's code, which the access matrix reads. Not in the
    /// ledger's encoding (the display name is).
    pub profession_code: Option<ProfessionCode>,
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
            profession_code: None,
        }
    }
}
