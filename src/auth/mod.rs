//! Who is calling: JWT decoding at the edge, the resulting [`Actor`], and role guards.

mod jwks;
mod keys;

pub use jwks::{JWKS_ALGORITHMS, JwksIssuer, JwksTiming};
pub use keys::{
    AuthOptions, Authenticator, Claims, DEV_SECRET, KeySource, MAX_CLAIM_CHARS, TokenNames,
};

pub use crate::domain::{Actor, ActorRef, ActorRole};

/// What the edge learned about the caller of one request: no token, a valid one, or a token
/// that was refused (and why, for the `UNAUTHENTICATED` message); or a valid token with a
/// profile selection (`X-Acting-For`) it may not make (`FORBIDDEN`), or that could not be
/// checked (`SERVICE_UNAVAILABLE`).
#[derive(Debug, Clone)]
pub enum Caller {
    Anonymous,
    Authenticated(Actor),
    Refused(String),
    Forbidden(String),
    Unavailable(String),
}
