//! The JWTs the test server accepts: signed with its secret, one per role.

use chrono::{Duration, Utc};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

/// The secret the test server accepts: tests go through the production key path.
pub const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";
pub const ISSUER: &str = "espace-sante-test";
pub const AUDIENCE: &str = "espace-sante-api";
/// The ledger signing key of the test server (an Ed25519 seed, 64 hex digits).
pub const LEDGER_KEY: &str = "7e57000000000000000000000000000000000000000000000000000000000001";

/// The operator every test enrols with.
pub const OPERATOR: &str = "agent-test";

/// Signs `claims` with the test secret.
pub fn sign(claims: &Value) -> String {
    encode(
        &Header::default(),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

/// Valid claims for `role` and `sub`, expiring in an hour of real time (jsonwebtoken checks
/// `exp` against the system clock).
pub fn claims(role: &str, sub: &str) -> Value {
    json!({
        "sub": sub,
        "role": role,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": (Utc::now() + Duration::hours(1)).timestamp(),
        "name": format!("{role} {sub}"),
    })
}

pub fn patient_token(ins: &str) -> String {
    sign(&claims("PATIENT", ins))
}

pub fn operator_token() -> String {
    sign(&claims("OPERATOR", OPERATOR))
}

/// A physician's token (profession code `10`).
pub fn practitioner_token(rpps: &str) -> String {
    practitioner_token_as(rpps, "10", "Médecin généraliste")
}

/// A practitioner's token with this profession code of the RPPS nomenclature and display name.
pub fn practitioner_token_as(rpps: &str, code: &str, profession: &str) -> String {
    let mut c = claims("PRACTITIONER", rpps);
    c["profession"] = json!(profession);
    c["profession_code"] = json!(code);
    sign(&c)
}
