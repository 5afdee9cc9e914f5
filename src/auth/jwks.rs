//! Keys published by an identity provider as a JWKS (Pro Santé Connect for practitioners,
//! FranceConnect for patients): fetched on first use, cached, fetched again when their time to
//! live is over or when a token names a key the cache does not hold (a key rotated in), but at
//! most once per refetch interval per issuer, so that tokens with made-up `kid`s cannot turn
//! the API into a load generator against the provider.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;

use super::ActorRole;
use super::claims::{ClaimMap, Preset};
use crate::clock::SharedClock;

/// The algorithms an identity provider may sign with: asymmetric ones, whose public keys a
/// JWKS publishes.
pub const JWKS_ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// Largest JWKS document read: real ones hold a few keys, a few KiB.
const MAX_JWKS_BYTES: usize = 256 * 1024;

/// One identity provider, as declared in `JWT_ISSUERS`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwksIssuer {
    /// The `iss` claim of its tokens.
    pub issuer: String,
    /// Where it publishes its keys (https; plain http only in development).
    pub jwks_url: String,
    /// The `aud` its tokens must name (our client id there); by default `JWT_AUDIENCE`.
    #[serde(default)]
    pub audience: Option<String>,
    /// The algorithms its tokens may use (RS256, ES256): fixed here, never taken from a token.
    pub algorithms: Vec<Algorithm>,
    /// The roles its tokens may claim.
    pub roles: Vec<ActorRole>,
    /// A ready-made claim mapping: `pro-sante-connect`.
    #[serde(default)]
    pub preset: Option<Preset>,
    /// Where its tokens carry what this API reads (JSON pointers), over the preset's.
    #[serde(default)]
    pub claims: ClaimMap,
    /// How its patients are named: `linked` (the default), by the provider's own `sub`, which
    /// activation binds to an INS; or `ins`, by an INS the mapped subject holds (an issuer
    /// that knows it, as the insurer's own may).
    #[serde(default)]
    pub patients: PatientSubjects,
}

/// How an issuer's patient tokens name the patient.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatientSubjects {
    /// By the provider's own account (`iss`, `sub`), bound to an INS at activation.
    #[default]
    Linked,
    /// By the INS itself.
    Ins,
}

impl JwksIssuer {
    /// Checks what serde cannot: known algorithms and roles, an http(s) URL.
    pub fn check(&self) -> Result<(), String> {
        let name = &self.issuer;
        if name.is_empty() {
            return Err("an issuer needs a non-empty 'issuer'".to_owned());
        }
        if self.algorithms.is_empty() {
            return Err(format!("issuer {name}: 'algorithms' is empty"));
        }
        if let Some(alg) = self
            .algorithms
            .iter()
            .find(|a| !JWKS_ALGORITHMS.contains(a))
        {
            return Err(format!(
                "issuer {name}: algorithm {alg:?} is not accepted (RS256 or ES256)"
            ));
        }
        if self.roles.is_empty() {
            return Err(format!("issuer {name}: 'roles' is empty"));
        }
        self.claims.check(name)?;
        if self.roles.contains(&ActorRole::System) {
            return Err(format!("issuer {name}: the role SYSTEM cannot be granted"));
        }
        let url = reqwest::Url::parse(&self.jwks_url)
            .map_err(|e| format!("issuer {name}: jwks_url is not a URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("issuer {name}: jwks_url must be https"));
        }
        Ok(())
    }

    /// Whether its keys come over TLS.
    pub fn is_https(&self) -> bool {
        reqwest::Url::parse(&self.jwks_url).is_ok_and(|url| url.scheme() == "https")
    }
}

/// How often keys are fetched again.
#[derive(Debug, Clone, Copy)]
pub struct JwksTiming {
    /// Keys older than this are fetched again before use (a removed key stops working then).
    pub ttl: Duration,
    /// No two fetches for one issuer closer than this.
    pub refetch_interval: Duration,
}

/// A verification key of the set.
#[derive(Clone)]
struct Key {
    decoding: DecodingKey,
    /// The key's own `alg`, when the set names one.
    alg: Option<Algorithm>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Key>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<DateTime<Utc>>,
    /// When a fetch was last started (successful or not): the rate limit reads it.
    attempted_at: Option<DateTime<Utc>>,
}

/// The cached keys of one issuer.
pub struct JwksKeys {
    url: String,
    algorithms: Vec<Algorithm>,
    client: reqwest::Client,
    clock: SharedClock,
    timing: JwksTiming,
    cache: Mutex<Cache>,
    /// One fetch at a time; a request that misses a key waits for the fetch under way.
    fetching: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for JwksKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksKeys")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksKeys {
    /// An empty cache for `issuer`: nothing is fetched before the first token.
    pub fn new(
        issuer: &JwksIssuer,
        client: reqwest::Client,
        clock: SharedClock,
        timing: JwksTiming,
    ) -> Self {
        Self {
            url: issuer.jwks_url.clone(),
            algorithms: issuer.algorithms.clone(),
            client,
            clock,
            timing,
            cache: Mutex::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    /// The key `kid` for a token signed with `alg`.
    pub async fn key(&self, kid: &str, alg: Algorithm) -> Result<DecodingKey, String> {
        let (found, stale, attempted_at) = self.lookup(kid);
        let now = self.clock.now();
        let may_fetch = attempted_at.is_none_or(|t| now - t >= self.timing.refetch_interval);
        let found = if (stale || found.is_none()) && may_fetch {
            self.refresh(attempted_at).await;
            self.lookup(kid).0
        } else if found.is_none() {
            // A fetch may be under way (it sets `attempted_at` first): its keys, not the
            // cache's, say whether this one exists.
            drop(self.fetching.lock().await);
            self.lookup(kid).0
        } else {
            found
        };
        // Not echoed: the key id is the caller's text, of any length.
        let key = found.ok_or_else(|| "the token's key is not published".to_owned())?;
        if key.alg.is_some_and(|a| a != alg) || key.decoding.family() != alg.family() {
            return Err("the token's algorithm does not match its key".to_owned());
        }
        Ok(key.decoding)
    }

    /// The key, whether the cache is past its time to live, and when a fetch was last tried.
    fn lookup(&self, kid: &str) -> (Option<Key>, bool, Option<DateTime<Utc>>) {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = self.clock.now();
        let stale = cache.fetched_at.is_none_or(|t| now - t >= self.timing.ttl);
        (cache.keys.get(kid).cloned(), stale, cache.attempted_at)
    }

    /// Fetches the keys, unless another request did since `seen_attempt`. A failed fetch keeps
    /// the keys held (an unreachable provider does not sign everyone out) and is logged.
    async fn refresh(&self, seen_attempt: Option<DateTime<Utc>>) {
        let _fetching = self.fetching.lock().await;
        {
            let mut cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cache.attempted_at != seen_attempt {
                return;
            }
            cache.attempted_at = Some(self.clock.now());
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::info!(jwks.url = %self.url, jwks.keys = keys.len(), "JWKS fetched");
                let mut cache = self
                    .cache
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                cache.keys = keys;
                cache.fetched_at = Some(self.clock.now());
            }
            Err(err) => {
                tracing::warn!(jwks.url = %self.url, error.cause = %err, "JWKS fetch failed: keeping the keys held");
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Key>, String> {
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| e.to_string())?;
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("the JWKS is larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        self.parse(&body)
    }

    /// The usable keys of a JWKS document. Keys are read one by one: a key of a kind we do not
    /// read (an encryption key, an unknown algorithm) is skipped, not fatal to the others.
    fn parse(&self, body: &[u8]) -> Result<HashMap<String, Key>, String> {
        #[derive(Deserialize)]
        struct Set {
            keys: Vec<serde_json::Value>,
        }
        let set: Set = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
        let families: Vec<AlgorithmFamily> = self.algorithms.iter().map(|a| a.family()).collect();
        let mut keys = HashMap::new();
        for value in set.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            if jwk
                .common
                .public_key_use
                .as_ref()
                .is_some_and(|u| *u != PublicKeyUse::Signature)
            {
                continue;
            }
            let alg = match jwk.common.key_algorithm {
                Some(alg) => match alg.to_string().parse::<Algorithm>() {
                    Ok(alg) if self.algorithms.contains(&alg) => Some(alg),
                    _ => continue,
                },
                None => None,
            };
            let Ok(decoding) = DecodingKey::from_jwk(&jwk) else {
                continue;
            };
            if !families.contains(&decoding.family()) {
                continue;
            }
            keys.insert(kid, Key { decoding, alg });
        }
        Ok(keys)
    }
}
