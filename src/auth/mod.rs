//! Who is calling: JWT decoding at the edge, the resulting [`Actor`], and role guards.

mod claims;
mod jwks;
mod keys;

pub use claims::{ClaimMap, MappedClaims, Preset, RoleClaim, SubjectClaim};
pub use jwks::{JWKS_ALGORITHMS, JwksIssuer, JwksTiming, PatientSubjects};
pub use keys::{
    AuthOptions, Authenticator, Claims, DEV_SECRET, KeySource, MAX_CLAIM_CHARS, SignedIn,
    TokenNames,
};

pub use crate::domain::{Actor, ActorRef, ActorRole, ProviderAccount};

/// What the edge learned about the caller of one request: no token, a valid one, or a token
/// that was refused (and why, for the `UNAUTHENTICATED` message); or a valid token with a
/// profile selection (`X-Acting-For`) it may not make (`FORBIDDEN`), or that could not be
/// checked (`SERVICE_UNAVAILABLE`).
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Authenticated(Actor),
    /// A patient's provider account that no activation has bound to an INS (or whose binding
    /// the edge has not looked up yet): it may activate a profile, nothing else
    /// (`ACCOUNT_NOT_LINKED`).
    Unlinked(ProviderAccount),
    Refused(String),
    Forbidden(String),
    Unavailable(String),
}
