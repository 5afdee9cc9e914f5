//! Token keys and validation. The accepted algorithms come from configuration (per issuer),
//! never from the token's header; `iss`, `aud` and `exp` are required and checked, `nbf` is
//! honoured, the lifetime is capped, and the claims copied into the ledger are bounded.

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::dangerous::insecure_decode_claims;
use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
    get_current_timestamp,
};
use serde::{Deserialize, Serialize};

use super::claims::ClaimMap;
use super::jwks::{JwksIssuer, JwksKeys, JwksTiming, PatientSubjects};
use super::{Actor, ActorRole, ProviderAccount};
use crate::clock::SharedClock;
use crate::domain::{Ins, Practitioner, ProfessionCode, Rpps};

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
    /// Practitioners only: their profession's display name (Médecin généraliste, Infirmier, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession: Option<String>,
    /// Practitioners only: their profession's code of the RPPS nomenclature (`10` médecin,
    /// `21` pharmacien, …), which the access matrix reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profession_code: Option<String>,
}

/// What a development token says of its holder besides the subject.
#[derive(Debug, Clone, Default)]
pub struct TokenNames {
    /// Display name.
    pub name: Option<String>,
    /// A practitioner's profession, display name (default: the nomenclature's name of the code).
    pub profession: Option<String>,
    /// A practitioner's profession code of the RPPS nomenclature.
    pub profession_code: Option<String>,
}

/// Who a verified token names: someone this API knows, or a patient's provider account that
/// only a binding made at activation turns into an INS.
#[derive(Debug, Clone)]
pub enum SignedIn {
    Actor(Actor),
    Account(ProviderAccount),
}

/// Longest `sub`, `name` or `profession` accepted, in characters: the name is copied into every
/// ledger event the caller writes.
pub const MAX_CLAIM_CHARS: usize = 200;

/// Where verification keys come from. Resolvers only ever see an [`Actor`].
#[derive(Clone)]
pub enum KeySource {
    /// The public development secret ([`DEV_SECRET`]), when nothing else is configured.
    Development,
    /// An HS256 secret shared with the identity provider, and identity providers publishing
    /// their keys as a JWKS; either may be absent, not both.
    Production {
        secret: Option<String>,
        jwks: Vec<JwksIssuer>,
    },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Development => f.write_str("Development"),
            Self::Production { secret, jwks } => f
                .debug_struct("Production")
                .field("secret", &secret.as_ref().map(|_| "<redacted>"))
                .field(
                    "jwks",
                    &jwks.iter().map(|i| i.issuer.as_str()).collect::<Vec<_>>(),
                )
                .finish(),
        }
    }
}

/// What else the authenticator needs: the audience, the lifetime ceiling, the JWKS timing and
/// the clock the JWKS cache reads.
#[derive(Debug, Clone)]
pub struct AuthOptions {
    /// The `iss` of HS256 tokens (and of minted development tokens).
    pub issuer: String,
    /// The `aud` tokens must name (unless their JWKS issuer names another).
    pub audience: String,
    /// Longest lifetime a token may have: `exp` at most this after now and after `iat`.
    pub max_lifetime: chrono::Duration,
    pub jwks_timing: JwksTiming,
    pub clock: SharedClock,
}

/// How one issuer's tokens are checked, and read.
#[derive(Debug)]
struct Issuer {
    keys: IssuerKeys,
    validation: Validation,
    /// The roles its tokens may claim; `None`: any.
    roles: Option<Vec<ActorRole>>,
    /// Where its tokens carry what this API reads.
    claims: ClaimMap,
    /// How its patients are named.
    patients: PatientSubjects,
}

enum IssuerKeys {
    Secret(DecodingKey),
    Jwks(JwksKeys),
}

impl fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret(_) => f.write_str("Secret(<redacted>)"),
            Self::Jwks(keys) => keys.fmt(f),
        }
    }
}

/// Decodes and checks tokens; mints them only with the development key.
pub struct Authenticator {
    source: KeySource,
    /// By `iss`: the issuer of a token picks its keys, algorithms and roles.
    issuers: HashMap<String, Issuer>,
    issuer: String,
    audience: String,
    max_lifetime: chrono::Duration,
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

/// Leeway on `exp`, `nbf` and the lifetime ceiling, for clocks that disagree a little.
const LEEWAY_SECS: u64 = 30;

fn validation(algorithms: &[Algorithm], issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = algorithms.to_vec();
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_nbf = true;
    validation.leeway = LEEWAY_SECS;
    validation
}

impl Authenticator {
    /// An authenticator for `source`.
    pub fn new(source: KeySource, options: AuthOptions) -> Result<Self, String> {
        let mut issuers = HashMap::new();
        let hs256 = |secret: &str| -> Result<Issuer, String> {
            Ok(Issuer {
                keys: IssuerKeys::Secret(
                    DecodingKey::from_secret(secret.as_bytes())
                        .map_err(|e| format!("unusable JWT secret: {e}"))?,
                ),
                validation: validation(&[Algorithm::HS256], &options.issuer, &options.audience),
                roles: None,
                // Our own tokens: our claim names, and a patient's INS as subject.
                claims: ClaimMap::default(),
                patients: PatientSubjects::Ins,
            })
        };
        match &source {
            KeySource::Development => {
                issuers.insert(options.issuer.clone(), hs256(DEV_SECRET)?);
            }
            KeySource::Production { secret, jwks } => {
                if secret.is_none() && jwks.is_empty() {
                    return Err("no key source: set JWT_SECRET or JWT_ISSUERS".to_owned());
                }
                if let Some(secret) = secret {
                    issuers.insert(options.issuer.clone(), hs256(secret)?);
                }
                // No redirect: a JWKS URL is configured as it is served, and a redirect could
                // leave https.
                let client = reqwest::Client::builder()
                    .timeout(std::time::Duration::from_secs(5))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| format!("no HTTP client for the JWKS: {e}"))?;
                for declared in jwks {
                    declared.check()?;
                    let audience = declared.audience.as_deref().unwrap_or(&options.audience);
                    let issuer = Issuer {
                        keys: IssuerKeys::Jwks(JwksKeys::new(
                            declared,
                            client.clone(),
                            options.clock.clone(),
                            options.jwks_timing,
                        )),
                        validation: validation(&declared.algorithms, &declared.issuer, audience),
                        roles: Some(declared.roles.clone()),
                        claims: declared.claims.clone().over(declared.preset),
                        patients: declared.patients,
                    };
                    if issuers.insert(declared.issuer.clone(), issuer).is_some() {
                        return Err(format!(
                            "issuer {} is declared twice (JWT_ISSUER with JWT_SECRET, or in JWT_ISSUERS)",
                            declared.issuer
                        ));
                    }
                }
            }
        }
        Ok(Self {
            source,
            issuers,
            issuer: options.issuer,
            audience: options.audience,
            max_lifetime: options.max_lifetime,
        })
    }

    /// Whether this is the public development key.
    pub fn is_development(&self) -> bool {
        matches!(self.source, KeySource::Development)
    }

    /// Checks a bearer token and reads who it names. The error is a message fit for the
    /// caller: it says what is wrong without echoing the token.
    pub async fn authenticate(&self, token: &str) -> Result<SignedIn, String> {
        self.authenticate_until(token)
            .await
            .map(|(identity, _)| identity)
    }

    /// Like [`Authenticator::authenticate`], with the token's expiry (seconds since the epoch):
    /// a websocket stays open until then, not after.
    pub async fn authenticate_until(&self, token: &str) -> Result<(SignedIn, i64), String> {
        let header = decode_header(token).map_err(|_| "the token is malformed".to_owned())?;
        // The issuer picks the keys: read unverified, then verified with those keys below.
        #[derive(Deserialize)]
        struct Iss {
            iss: Option<String>,
        }
        let iss = insecure_decode_claims::<Iss>(token)
            .map_err(|_| "the token is malformed".to_owned())?
            .iss
            .ok_or_else(|| "the token lacks the required claim 'iss'".to_owned())?;
        let issuer = self
            .issuers
            .get(&iss)
            .ok_or_else(|| "the token was not issued for this service".to_owned())?;
        if !issuer.validation.algorithms.contains(&header.alg) {
            return Err("the token's algorithm is not accepted".to_owned());
        }
        let jwks_key;
        let key = match &issuer.keys {
            IssuerKeys::Secret(key) => key,
            IssuerKeys::Jwks(keys) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or_else(|| "the token's header lacks 'kid'".to_owned())?;
                jwks_key = keys.key(kid, header.alg).await?;
                &jwks_key
            }
        };
        // The token's own algorithm, checked above to be one the issuer uses (and, for a
        // published key, its key's): the library refuses a list that mixes key families, which
        // an issuer signing with ES256 and RS256 side by side has.
        let mut validation = issuer.validation.clone();
        validation.algorithms = vec![header.alg];
        let claims = decode::<serde_json::Value>(token, key, &validation)
            .map_err(|e| refusal(&e))?
            .claims;
        let times = Times::of(&claims)?;
        self.check_lifetime(times)?;
        let claims = issuer.claims.read(&claims)?;
        let role = match (claims.role, issuer.roles.as_deref()) {
            (Some(role), _) => role,
            (None, Some(&[role])) => role,
            (None, _) => return Err("the token lacks the required claim 'role'".to_owned()),
        };
        if issuer.roles.as_ref().is_some_and(|r| !r.contains(&role)) {
            return Err(format!(
                "the role {} cannot be granted by this token's issuer",
                role.as_str()
            ));
        }
        if role == ActorRole::Patient && issuer.patients == PatientSubjects::Linked {
            bounded("sub", &claims.account)?;
            let name = claims.name.unwrap_or_default();
            bounded("name", &name)?;
            let issued_at = times.iat.ok_or_else(|| {
                "the token lacks the claim 'iat': a patient's provider token must say when it \
                 was issued"
                    .to_owned()
            })?;
            let account = ProviderAccount {
                issuer: iss,
                subject: claims.account,
                name,
                issued_at,
            };
            return Ok((SignedIn::Account(account), times.exp));
        }
        actor_from_claims(
            role,
            claims.subject,
            claims.name,
            claims.profession,
            claims.profession_code,
        )
        .map(|actor| (SignedIn::Actor(actor), times.exp))
    }

    /// The lifetime ceiling: a token valid for years is a stolen credential that never expires.
    fn check_lifetime(&self, claims: Times) -> Result<(), String> {
        let now = i64::try_from(get_current_timestamp()).unwrap_or(i64::MAX);
        // Issued in the future: a clock far off, or a token made to outlive its ceiling.
        if claims
            .iat
            .is_some_and(|iat| iat > now.saturating_add(i64::try_from(LEEWAY_SECS).unwrap_or(0)))
        {
            return Err("the token's 'iat' (issued at) is in the future".to_owned());
        }
        let ceiling = self.max_lifetime.num_seconds() + i64::try_from(LEEWAY_SECS).unwrap_or(0);
        let from = claims.iat.map_or(now, |iat| iat.min(now));
        if claims.exp.saturating_sub(from) > ceiling {
            return Err(format!(
                "the token's lifetime is longer than {} seconds",
                self.max_lifetime.num_seconds()
            ));
        }
        Ok(())
    }

    /// Mints a token with the development key, valid for `ttl`. Refuses with any other key
    /// source: production tokens come from the identity provider, never from this binary.
    pub fn mint_development_token(
        &self,
        role: ActorRole,
        sub: &str,
        names: TokenNames,
        now: chrono::DateTime<chrono::Utc>,
        ttl: chrono::Duration,
    ) -> Result<String, String> {
        let TokenNames {
            name,
            profession,
            profession_code,
        } = names;
        if !self.is_development() {
            return Err(
                "a production key source is configured (JWT_SECRET or JWT_ISSUERS): refusing to mint tokens"
                    .to_owned(),
            );
        }
        if ttl > self.max_lifetime {
            return Err(format!(
                "the server refuses tokens living longer than {} hours (JWT_MAX_LIFETIME_SECS)",
                self.max_lifetime.num_hours()
            ));
        }
        // Without a display name, the nomenclature's, as the server would read it.
        let profession = profession.or_else(|| {
            profession_code
                .as_deref()
                .and_then(|code| ProfessionCode::parse(code).ok())
                .and_then(ProfessionCode::display)
                .map(str::to_owned)
        });
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: (now + ttl).timestamp(),
            name,
            profession,
            profession_code,
        };
        // Checked here so that a minted token is one the server accepts.
        actor_from_claims(
            claims.role,
            claims.sub.clone(),
            claims.name.clone(),
            claims.profession.clone(),
            claims.profession_code.clone(),
        )?;
        let key = EncodingKey::from_secret(DEV_SECRET.as_bytes())
            .map_err(|e| format!("unusable development key: {e}"))?;
        encode(&Header::new(Algorithm::HS256), &claims, &key)
            .map_err(|e| format!("could not sign the token: {e}"))
    }
}

/// A verified token's times, in seconds since the epoch (`exp` is required by the validation).
#[derive(Debug, Clone, Copy)]
struct Times {
    exp: i64,
    iat: Option<i64>,
}

impl Times {
    fn of(claims: &serde_json::Value) -> Result<Self, String> {
        let number = |name: &str| -> Result<Option<i64>, String> {
            match claims.get(name) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(value) => value
                    .as_i64()
                    .or_else(|| value.as_f64().map(|f| f as i64))
                    .map(Some)
                    .ok_or_else(|| format!("the token's '{name}' is not a number")),
            }
        };
        Ok(Self {
            exp: number("exp")?.ok_or("the token lacks the required claim 'exp'")?,
            iat: number("iat")?,
        })
    }
}

/// What the caller is told when a token does not verify.
fn refusal(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "the token has expired".to_owned(),
        ErrorKind::ImmatureSignature => "the token is not valid yet (nbf)".to_owned(),
        ErrorKind::InvalidIssuer => "the token was not issued for this service".to_owned(),
        ErrorKind::InvalidAudience => "the token is not meant for this API".to_owned(),
        ErrorKind::InvalidAlgorithm => "the token's algorithm is not accepted".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) => {
            format!("the token lacks the required claim '{claim}'")
        }
        ErrorKind::InvalidSignature => "the token's signature is invalid".to_owned(),
        // A missing claim is named (the name is ours); any other parse error is not quoted:
        // the parser's message holds the offending value, the caller's text.
        ErrorKind::Json(err) => match err.to_string().split_once(" at line") {
            Some((missing, _)) if missing.starts_with("missing field") => {
                format!("the token's claims are malformed: {missing}")
            }
            _ => "the token's claims are malformed: a claim has the wrong type or shape".to_owned(),
        },
        _ => "the token is malformed".to_owned(),
    }
}

/// A claim copied into the ledger: bounded, and free of control characters (PostgreSQL refuses
/// a NUL in text; the others have no place in a name).
fn bounded(claim: &str, value: &str) -> Result<(), String> {
    if value.chars().count() > MAX_CLAIM_CHARS {
        return Err(format!(
            "the token's '{claim}' is longer than {MAX_CLAIM_CHARS} characters"
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("the token's '{claim}' holds a control character"));
    }
    Ok(())
}

fn actor_from_claims(
    role: ActorRole,
    sub: String,
    name: Option<String>,
    profession: Option<String>,
    profession_code: Option<String>,
) -> Result<Actor, String> {
    bounded("sub", &sub)?;
    if let Some(name) = &name {
        bounded("name", name)?;
    }
    if let Some(profession) = &profession {
        bounded("profession", profession)?;
    }
    let name = name.unwrap_or_default();
    match role {
        ActorRole::Patient => {
            let ins = Ins::parse(&sub)
                .map_err(|e| format!("the token's subject is not a valid INS: {e}"))?;
            Ok(Actor::Patient { ins, name })
        }
        ActorRole::Practitioner => {
            let rpps = Rpps::parse(&sub)
                .map_err(|e| format!("the token's subject is not a valid RPPS number: {e}"))?;
            let code = profession_code.ok_or_else(|| {
                "a practitioner's token must carry their profession code ('profession_code', \
                 RPPS nomenclature: 10 médecin, 21 pharmacien, …): the access matrix reads it"
                    .to_owned()
            })?;
            let profession_code = ProfessionCode::parse(&code)
                .map_err(|e| format!("the token's 'profession_code' is invalid: {e}"))?;
            if name.trim().is_empty() {
                return Err(
                    "a practitioner's token must carry their name ('name'): every \
                     access is written in the patient's history under it"
                        .to_owned(),
                );
            }
            // Without a display name, the nomenclature's (or the code, for a profession the
            // matrix does not know).
            let profession = profession
                .or_else(|| profession_code.display().map(str::to_owned))
                .unwrap_or_else(|| format!("Profession {profession_code}"));
            Ok(Actor::Practitioner(Practitioner {
                rpps,
                name,
                profession,
                profession_code,
            }))
        }
        ActorRole::Operator if !sub.trim().is_empty() => Ok(Actor::Operator { id: sub, name }),
        ActorRole::Operator => Err("the token's subject is empty".to_owned()),
        ActorRole::System => Err("the role SYSTEM cannot be claimed by a token".to_owned()),
        ActorRole::LegalRepresentative => Err(
            "the role LEGAL_REPRESENTATIVE cannot be claimed by a token: a representative signs \
             in as PATIENT and selects the minor's profile"
                .to_owned(),
        ),
    }
}
