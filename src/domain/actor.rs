//! Who acts: the roles of the ledger, an authenticated caller, and how an actor is recorded.

pub use entity::values::ActorRole;

use super::{Ins, ProfessionCode, Rpps};

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A patient, acting on their own profile.
    Patient { ins: Ins, name: String },
    /// A practitioner.
    Practitioner(Practitioner),
    /// An insurer's back-office agent.
    Operator { id: String, name: String },
    /// A legal representative, signed in as themselves (a PATIENT token with their INS), acting
    /// on the profile of the minor they selected (`child`). Only built once the representation
    /// was checked.
    Representative { child: Ins, ins: Ins, name: String },
}

/// A patient's account at an identity provider that does not know their INS (FranceConnect's
/// `sub` is an opaque identifier per service): signed in, but someone only once activation
/// bound the account to an INS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderAccount {
    /// The provider (the token's `iss`).
    pub issuer: String,
    /// The account there (the token's `sub`).
    pub subject: String,
    /// Display name, as the provider gives it.
    pub name: String,
    /// When the token was issued (seconds since the epoch): a token issued before its account
    /// was unlinked is refused.
    pub issued_at: i64,
}

/// A practitioner acting: who they are, and their profession, which the access matrix reads.
/// Built once, from their token; a token without a name or a profession code is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Practitioner {
    pub rpps: Rpps,
    /// Display name, written into the ledger the patient reads.
    pub name: String,
    /// Display name of the profession (e.g. `Médecin généraliste`), as the ledger records it.
    pub profession: String,
    /// The profession's code of the RPPS nomenclature, which the access matrix reads.
    pub profession_code: ProfessionCode,
}

impl Practitioner {
    /// How this practitioner is written into the ledger.
    pub fn to_ref(&self) -> ActorRef {
        ActorRef {
            role: ActorRole::Practitioner,
            id: self.rpps.to_string(),
            name: self.name.clone(),
            profession: Some(self.profession.clone()),
        }
    }
}

impl Actor {
    /// The role of this actor's token (a representative signed in as a patient).
    pub fn role(&self) -> ActorRole {
        match self {
            Self::Patient { .. } | Self::Representative { .. } => ActorRole::Patient,
            Self::Practitioner(_) => ActorRole::Practitioner,
            Self::Operator { .. } => ActorRole::Operator,
        }
    }

    /// How this actor is written into the ledger.
    pub fn to_ref(&self) -> ActorRef {
        let (id, name) = match self {
            Self::Patient { ins, name } => (ins.to_string(), name.clone()),
            Self::Practitioner(practitioner) => return practitioner.to_ref(),
            Self::Operator { id, name } => (id.clone(), name.clone()),
            Self::Representative { ins, name, .. } => (ins.to_string(), name.clone()),
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
            profession: None,
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
