//! Token keys and validation. The accepted algorithm comes from configuration, never from the
//! token's header; `iss`, `aud` and `exp` are required and checked.

use std::fmt;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

use super::{Actor, ActorRole};
use crate::domain::{Ins, Rpps};

/// The development signing secret: public on purpose, so that `espace-sante token` and the
/// demo work with no set-up. A server started with it says so in its log.
pub const DEV_SECRET: &str = "espace-sante-development-key-not-for-production";

/// The claims this API reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// INS for a patient, RPPS number for a practitioner, agent id for an operator.
    pub sub: String,
    pub role: ActorRole,
    pub iss: String,
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Display name, written into the ledger the patient reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Practitioners only: their profession (médecin, infirmier, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession: Option<String>,
}

/// Where verification keys come from. RS256/ES256 keys from a JWKS URL are meant to be one more
/// variant here; resolvers only ever see an [`Actor`].
#[derive(Clone)]
pub enum KeySource {
    /// The public development secret ([`DEV_SECRET`]).
    Development,
    /// An HS256 secret shared with the identity provider.
    Hs256Secret(String),
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Development => f.write_str("Development"),
            Self::Hs256Secret(_) => f.write_str("Hs256Secret(<redacted>)"),
        }
    }
}

/// Decodes and checks tokens; mints them only with the development key.
#[derive(Clone)]
pub struct Authenticator {
    source: KeySource,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("source", &self.source)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// An authenticator for `source`, accepting tokens issued by `issuer` for `audience`.
    pub fn new(source: KeySource, issuer: &str, audience: &str) -> Result<Self, String> {
        let secret = match &source {
            KeySource::Development => DEV_SECRET,
            KeySource::Hs256Secret(secret) => secret.as_str(),
        };
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = 30;
        let decoding = DecodingKey::from_secret(secret.as_bytes())
            .map_err(|e| format!("unusable JWT secret: {e}"))?;
        Ok(Self {
            decoding,
            source,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// Whether this is the public development key.
    pub fn is_development(&self) -> bool {
        matches!(self.source, KeySource::Development)
    }

    /// Checks a bearer token and turns its claims into an [`Actor`]. The error is a message
    /// fit for the caller: it says what is wrong without echoing the token.
    pub fn authenticate(&self, token: &str) -> Result<Actor, String> {
        self.authenticate_until(token).map(|(actor, _)| actor)
    }

    /// Like [`Authenticator::authenticate`], with the token's expiry (seconds since the epoch):
    /// a websocket stays open until then, not after.
    pub fn authenticate_until(&self, token: &str) -> Result<(Actor, i64), String> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
                ErrorKind::InvalidIssuer => "the token was not issued for this service".to_owned(),
                ErrorKind::InvalidAudience => "the token is not meant for this API".to_owned(),
                ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted".to_owned(),
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("the token lacks the required claim '{claim}'")
                }
                ErrorKind::InvalidSignature => "the token's signature is invalid".to_owned(),
                ErrorKind::Json(err) => format!("the token's claims are malformed: {err}"),
                _ => "the token is malformed".to_owned(),
            }
        })?;
        let expires = data.claims.exp;
        actor_from_claims(data.claims).map(|actor| (actor, expires))
    }

    /// Mints a token with the development key, valid for `ttl`. Refuses with any other key
    /// source: production tokens come from the identity provider, never from this binary.
    pub fn mint_development_token(
        &self,
        role: ActorRole,
        sub: &str,
        name: Option<String>,
        profession: Option<String>,
        now: chrono::DateTime<chrono::Utc>,
        ttl: chrono::Duration,
    ) -> Result<String, String> {
        if !self.is_development() {
            return Err(
                "a production key source is configured (JWT_SECRET): refusing to mint tokens"
                    .to_owned(),
            );
        }
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: (now + ttl).timestamp(),
            name,
            profession,
        };
        // Checked here so that a minted token is one the server accepts.
        actor_from_claims(claims.clone())?;
        let key = EncodingKey::from_secret(DEV_SECRET.as_bytes())
            .map_err(|e| format!("unusable development key: {e}"))?;
        encode(&Header::new(Algorithm::HS256), &claims, &key)
            .map_err(|e| format!("could not sign the token: {e}"))
    }
}

fn actor_from_claims(claims: Claims) -> Result<Actor, String> {
    let name = claims.name.unwrap_or_default();
    match claims.role {
        ActorRole::Patient => {
            let ins = Ins::parse(&claims.sub)
                .map_err(|e| format!("the token's subject is not a valid INS: {e}"))?;
            Ok(Actor::Patient { ins, name })
        }
        ActorRole::Practitioner => {
            let rpps = Rpps::parse(&claims.sub)
                .map_err(|e| format!("the token's subject is not a valid RPPS number: {e}"))?;
            Ok(Actor::Practitioner {
                rpps,
                name,
                profession: claims.profession,
            })
        }
        ActorRole::Operator if !claims.sub.trim().is_empty() => Ok(Actor::Operator {
            id: claims.sub,
            name,
        }),
        ActorRole::Operator => Err("the token's subject is empty".to_owned()),
        ActorRole::System => Err("the role SYSTEM cannot be claimed by a token".to_owned()),
    }
}
