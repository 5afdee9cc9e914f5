//! Tokens from real identity providers (RS256/ES256 verified with the keys an issuer publishes
//! as a JWKS), the claim rules every token obeys, and the production mode's refusal of the
//! public development key.
//!
//! The identity provider is a small axum server of the test, on port 0, serving keys generated
//! by the test. The key cache runs on the server's clock: the tests move it to pass a time to
//! live or a refetch interval, and count the provider's fetches instead of timing anything.
//! These tests are about tokens, not storage: they run on SQLite alone, except the claim bounds
//! (a NUL byte in a name reaches PostgreSQL differently).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::{Duration, Utc};
use espace_sante::auth::{DEV_SECRET, JwksIssuer};
use espace_sante::config::{AppEnv, JwtIssuers, Secret};
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{
    AUDIENCE, Backend, TestApp, beneficiary, claims, ins, on_both_databases, sign,
};

/// Pro Santé Connect, as this test plays it: practitioners, RS256.
const PSC: &str = "https://psc.test/auth/realms/esante-wallet";
/// FranceConnect, as this test plays it: patients, ES256.
const FC: &str = "https://franceconnect.test";

/// A signing key of a test identity provider.
#[derive(Clone)]
struct TestKey {
    kid: String,
    alg: Algorithm,
    encoding: EncodingKey,
}

impl TestKey {
    /// An RSA key (two, `which` 0 or 1). Generating one costs seconds in a debug build: each is
    /// made once per test process, when first asked for.
    fn rsa(which: usize) -> Self {
        static KEYS: [OnceLock<EncodingKey>; 2] = [OnceLock::new(), OnceLock::new()];
        let encoding = KEYS[which].get_or_init(|| {
            use rsa::pkcs1::EncodeRsaPrivateKey;
            let key = rsa::PrivateKey::new(&mut SystemRng, 2048).unwrap();
            EncodingKey::from_rsa_der(key.to_pkcs1_der().unwrap().as_bytes())
        });
        Self {
            kid: format!("rsa-{which}"),
            alg: Algorithm::RS256,
            encoding: encoding.clone(),
        }
    }

    /// A P-256 key.
    fn ec(kid: &str) -> Self {
        use p256::elliptic_curve::Generate;
        use p256::pkcs8::EncodePrivateKey;
        let key = p256::ecdsa::SigningKey::generate();
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::ES256,
            encoding: EncodingKey::from_ec_der(key.to_pkcs8_der().unwrap().as_bytes()),
        }
    }

    /// The public half, as a JWKS publishes it.
    fn jwk(&self) -> Jwk {
        let mut jwk = Jwk::from_encoding_key(&self.encoding, self.alg).unwrap();
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        jwk
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// The operating system's generator (through `rand`), in the `rand_core` version `rsa` takes:
/// `rsa` generates 3072-bit keys on its own, slower than the 2048 bits a test needs.
struct SystemRng;

impl rsa::rand_core::TryRng for SystemRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0; 4];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u32::from_le_bytes(bytes))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0; 8];
        self.try_fill_bytes(&mut bytes)?;
        Ok(u64::from_le_bytes(bytes))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        use rand::TryRngCore;
        rand::rngs::OsRng
            .try_fill_bytes(dst)
            .expect("the operating system's generator works");
        Ok(())
    }
}

impl rsa::rand_core::TryCryptoRng for SystemRng {}

/// An identity provider: its JWKS on `GET /jwks`, the keys published changed by the test, and a
/// count of the fetches.
struct IdentityProvider {
    url: String,
    keys: Arc<Mutex<Vec<Jwk>>>,
    fetches: Arc<AtomicUsize>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl IdentityProvider {
    async fn start(keys: &[&TestKey]) -> Self {
        let published = Arc::new(Mutex::new(keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (published.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (served, counted) = (served.clone(), counted.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let keys = served.lock().unwrap().clone();
                    axum::Json(JwkSet { keys })
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            url: format!("http://{address}/jwks"),
            keys: published,
            fetches,
            _stop: stop,
        }
    }

    fn publish(&self, key: &TestKey) {
        self.keys.lock().unwrap().push(key.jwk());
    }

    fn withdraw(&self, key: &TestKey) {
        self.keys
            .lock()
            .unwrap()
            .retain(|k| k.common.key_id.as_deref() != Some(&key.kid));
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// This provider declared as `issuer`, granting `roles` with `alg`.
    fn issuer(&self, issuer: &str, alg: &str, roles: &[&str]) -> JwksIssuer {
        serde_json::from_value(json!({
            "issuer": issuer,
            "jwks_url": self.url,
            "algorithms": [alg],
            "roles": roles,
            // These tests are about keys: patients are named by INS, as an insurer's own
            // provider may (linked accounts have tests of their own).
            "patients": "ins",
        }))
        .unwrap()
    }
}

/// A server trusting Pro Santé Connect for practitioners (RS256) and FranceConnect for patients
/// (ES256), both served by `provider`, besides the test secret.
async fn spawn_trusting(provider: &IdentityProvider) -> TestApp {
    let issuers = JwtIssuers(vec![
        provider.issuer(PSC, "RS256", &["PRACTITIONER"]),
        provider.issuer(FC, "ES256", &["PATIENT"]),
    ]);
    TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.auth.jwt_issuers = Some(issuers);
    })
    .await
}

/// Claims from `issuer` for `role`/`sub`, valid for an hour.
fn idp_claims(issuer: &str, role: &str, sub: &str) -> Value {
    let mut c = claims(role, sub);
    c["iss"] = json!(issuer);
    c
}

fn patient_claims() -> Value {
    idp_claims(FC, "PATIENT", &ins(900))
}

fn practitioner_claims() -> Value {
    let mut c = idp_claims(PSC, "PRACTITIONER", "10003456786");
    c["profession_code"] = json!("10");
    c
}

/// What the server says of a token: `Ok` when it is accepted (whatever the query then says),
/// the `UNAUTHENTICATED` message when it is not.
async fn verdict(app: &TestApp, token: &str) -> Result<(), String> {
    let answer = app
        .graphql(Some(token), "{ me { profile { status } } }", json!({}))
        .await;
    match answer.errors.first() {
        Some(error) if error["extensions"]["code"] == "UNAUTHENTICATED" => {
            Err(error["message"].as_str().unwrap().to_owned())
        }
        _ => Ok(()),
    }
}

#[track_caller]
fn assert_refused(verdict: Result<(), String>, reason: &str) {
    match verdict {
        Err(message) => assert!(message.contains(reason), "{reason}: {message}"),
        Ok(()) => panic!("accepted, expected a refusal ({reason})"),
    }
}

#[tokio::test]
async fn tokens_signed_with_a_published_key_are_accepted() {
    let (rsa, ec) = (TestKey::rsa(0), TestKey::ec("ec-1"));
    let provider = IdentityProvider::start(&[&rsa, &ec]).await;
    let app = spawn_trusting(&provider).await;
    verdict(&app, &ec.sign(&patient_claims())).await.unwrap();
    // A practitioner is FORBIDDEN on `me`, which means they were authenticated.
    let answer = app
        .graphql(
            Some(&rsa.sign(&practitioner_claims())),
            "{ me { profile { status } } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.code(), "FORBIDDEN");
    // Keys are cached: two tokens, one fetch per issuer.
    assert_eq!(provider.fetches(), 2);
    // The test secret still works beside them.
    verdict(&app, &sign(&claims("PATIENT", &ins(901))))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_key_rotated_in_is_accepted_once_keys_are_fetched_again() {
    let (old, new) = (TestKey::ec("ec-old"), TestKey::ec("ec-new"));
    let provider = IdentityProvider::start(&[&old]).await;
    let app = spawn_trusting(&provider).await;
    verdict(&app, &old.sign(&patient_claims())).await.unwrap();
    assert_eq!(provider.fetches(), 1);

    provider.publish(&new);
    // Within the refetch interval, a key the cache does not hold is not fetched for: tokens
    // with made-up key ids cannot make the API hammer the provider.
    for _ in 0..5 {
        assert_refused(
            verdict(&app, &new.sign(&patient_claims())).await,
            "not published",
        );
    }
    assert_eq!(provider.fetches(), 1, "one fetch per refetch interval");

    app.advance(Duration::seconds(31));
    verdict(&app, &new.sign(&patient_claims())).await.unwrap();
    assert_eq!(provider.fetches(), 2);
    verdict(&app, &old.sign(&patient_claims())).await.unwrap();
}

#[tokio::test]
async fn a_removed_key_is_refused_once_the_cache_expires() {
    let (leaving, staying) = (TestKey::ec("ec-leaving"), TestKey::ec("ec-staying"));
    let provider = IdentityProvider::start(&[&leaving, &staying]).await;
    let app = spawn_trusting(&provider).await;
    verdict(&app, &leaving.sign(&patient_claims()))
        .await
        .unwrap();

    provider.withdraw(&leaving);
    app.advance(Duration::seconds(3601));
    assert_refused(
        verdict(&app, &leaving.sign(&patient_claims())).await,
        "not published",
    );
    assert_eq!(
        provider.fetches(),
        2,
        "fetched again after the time to live"
    );
    verdict(&app, &staying.sign(&patient_claims()))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_issuer_grants_only_its_roles() {
    let (rsa, ec) = (TestKey::rsa(1), TestKey::ec("ec-1"));
    let provider = IdentityProvider::start(&[&rsa, &ec]).await;
    let app = spawn_trusting(&provider).await;
    // FranceConnect vouches for patients, not for practitioners or operators.
    for (role, sub) in [("PRACTITIONER", "10003456786"), ("OPERATOR", "agent-1")] {
        assert_refused(
            verdict(&app, &ec.sign(&idp_claims(FC, role, sub))).await,
            "cannot be granted by this token's issuer",
        );
    }
    // Pro Santé Connect vouches for practitioners, not for patients.
    assert_refused(
        verdict(&app, &rsa.sign(&idp_claims(PSC, "PATIENT", &ins(902)))).await,
        "cannot be granted",
    );
    // An issuer of one role may leave the role claim out.
    let mut no_role = patient_claims();
    no_role.as_object_mut().unwrap().remove("role");
    verdict(&app, &ec.sign(&no_role)).await.unwrap();
}

#[tokio::test]
async fn an_issuer_accepts_only_its_algorithms() {
    let (rsa, ec) = (TestKey::rsa(0), TestKey::ec("ec-1"));
    let provider = IdentityProvider::start(&[&rsa, &ec]).await;
    let app = spawn_trusting(&provider).await;
    // An ES256 token claiming Pro Santé Connect (RS256 only), with a key it publishes.
    assert_refused(
        verdict(&app, &ec.sign(&practitioner_claims())).await,
        "algorithm is not accepted",
    );
    // HS256 "signed" with a public key, the classic confusion: refused before any key is used.
    let public_n = match &rsa.jwk().algorithm {
        jsonwebtoken::jwk::AlgorithmParameters::RSA(p) => p.n.clone(),
        _ => unreachable!("an RSA key"),
    };
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(rsa.kid.clone());
    let confused = jsonwebtoken::encode(
        &header,
        &practitioner_claims(),
        &EncodingKey::from_secret(public_n.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_refused(verdict(&app, &confused).await, "algorithm is not accepted");
    // A token without a key id cannot pick a key.
    let unnamed = jsonwebtoken::encode(
        &Header::new(Algorithm::ES256),
        &patient_claims(),
        &ec.encoding,
    )
    .unwrap();
    assert_refused(verdict(&app, &unnamed).await, "kid");
}

#[tokio::test]
async fn audience_may_be_an_array() {
    let ec = TestKey::ec("ec-1");
    let provider = IdentityProvider::start(&[&ec]).await;
    let app = spawn_trusting(&provider).await;
    let mut listed = patient_claims();
    listed["aud"] = json!(["another-client", AUDIENCE]);
    verdict(&app, &ec.sign(&listed)).await.unwrap();
    // The same for the shared secret's tokens.
    let mut secret_listed = claims("PATIENT", &ins(903));
    secret_listed["aud"] = json!([AUDIENCE, "another-client"]);
    verdict(&app, &sign(&secret_listed)).await.unwrap();

    let mut elsewhere = patient_claims();
    elsewhere["aud"] = json!(["another-client", "a-third-one"]);
    assert_refused(verdict(&app, &ec.sign(&elsewhere)).await, "not meant");
    let mut missing = patient_claims();
    missing.as_object_mut().unwrap().remove("aud");
    assert_refused(verdict(&app, &ec.sign(&missing)).await, "aud");
}

#[tokio::test]
async fn a_token_not_valid_yet_is_refused() {
    let ec = TestKey::ec("ec-1");
    let provider = IdentityProvider::start(&[&ec]).await;
    let app = spawn_trusting(&provider).await;
    let mut later = patient_claims();
    later["nbf"] = json!((Utc::now() + Duration::minutes(10)).timestamp());
    assert_refused(verdict(&app, &ec.sign(&later)).await, "not valid yet");
    let mut secret_later = claims("PATIENT", &ins(904));
    secret_later["nbf"] = json!((Utc::now() + Duration::minutes(10)).timestamp());
    assert_refused(verdict(&app, &sign(&secret_later)).await, "not valid yet");

    let mut already = patient_claims();
    already["nbf"] = json!((Utc::now() - Duration::minutes(1)).timestamp());
    verdict(&app, &ec.sign(&already)).await.unwrap();
}

#[tokio::test]
async fn a_token_living_longer_than_the_ceiling_is_refused() {
    let ec = TestKey::ec("ec-1");
    let provider = IdentityProvider::start(&[&ec]).await;
    let app = spawn_trusting(&provider).await;
    let now = Utc::now();
    let mut years = patient_claims();
    years["exp"] = json!((now + Duration::days(3 * 365)).timestamp());
    assert_refused(verdict(&app, &ec.sign(&years)).await, "lifetime");
    let mut secret_long = claims("PATIENT", &ins(905));
    secret_long["exp"] = json!((now + Duration::hours(25)).timestamp());
    assert_refused(verdict(&app, &sign(&secret_long)).await, "lifetime");
    // Issued an hour ago for 24 h 30 min: over the ceiling, though it ends within 24 h of now.
    let mut issued_long = patient_claims();
    issued_long["iat"] = json!((now - Duration::hours(1)).timestamp());
    issued_long["exp"] = json!((now + Duration::minutes(23 * 60 + 30)).timestamp());
    assert_refused(verdict(&app, &ec.sign(&issued_long)).await, "lifetime");

    let mut day = patient_claims();
    day["iat"] = json!(now.timestamp());
    day["exp"] = json!((now + Duration::hours(24)).timestamp());
    verdict(&app, &ec.sign(&day)).await.unwrap();
}

/// Claims that name a patient who can act (an announced profile can be opposed): what the
/// token's name becomes is written into the ledger.
async fn claims_bounds_are_checked_before_anything_is_written(app: TestApp) {
    let person = ins(906);
    app.enrol(vec![beneficiary(&person, None)]).await;
    let oppose = "mutation { opposeProfileCreation { status } }";
    let with = |field: &str, value: &str| {
        let mut c = claims("PATIENT", &person);
        c[field] = json!(value);
        sign(&c)
    };
    let long = "A".repeat(201);
    let cases = [
        (with("name", "Camille\u{0}DURAND"), "control character"),
        (with("name", "Camille\nDURAND"), "control character"),
        (with("name", &long), "longer than 200"),
        (with("profession", &long), "longer than 200"),
        (with("profession", "Médecin\u{0}"), "control character"),
    ];
    for (token, reason) in cases {
        let answer = app.graphql(Some(&token), oppose, json!({})).await;
        assert_eq!(answer.code(), "UNAUTHENTICATED", "{reason}: {answer:?}");
        let message = answer.error()["message"].as_str().unwrap();
        assert!(message.contains(reason), "{reason}: {message}");
    }
    let operator = claims("OPERATOR", &"x".repeat(201));
    assert_eq!(
        app.graphql(
            Some(&sign(&operator)),
            "{ outbox { edges { cursor } } }",
            json!({})
        )
        .await
        .code(),
        "UNAUTHENTICATED"
    );
    assert_eq!(app.count("ledger_events").await, 1, "only the enrolment");
    // At the bound, accepted.
    let answer = app
        .graphql(Some(&with("name", &"É".repeat(200))), oppose, json!({}))
        .await;
    assert_eq!(answer.ok()["opposeProfileCreation"]["status"], "OPPOSED");
}

async fn two_authorization_headers_are_refused(app: TestApp) {
    let token = sign(&claims("OPERATOR", "agent-test"));
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .header("Authorization", format!("Bearer {token}"))
        .header("Authorization", "Bearer another")
        .json(&json!({ "query": "{ outbox { edges { cursor } } }" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("exactly one Authorization header"),
        "{body}"
    );
}

on_both_databases!(
    claims_bounds_are_checked_before_anything_is_written,
    two_authorization_headers_are_refused,
);

/// The startup error of settings changed by `configure`, on SQLite (a refused start creates no
/// database to clean up).
async fn refused_start(configure: impl FnOnce(&mut espace_sante::config::Settings)) -> String {
    match TestApp::try_spawn_with(Backend::Sqlite, configure).await {
        Ok(_) => panic!("the server started"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn production_refuses_to_start_without_a_key_source() {
    let error = refused_start(|settings| {
        settings.app_env = AppEnv::Production;
        settings.auth.jwt_secret = None;
    })
    .await;
    assert!(error.contains("JWT_SECRET or JWT_ISSUERS"), "{error}");
    assert!(error.contains("development key"), "{error}");
    // Nor with the development key passed as a secret.
    let error = refused_start(|settings| {
        settings.app_env = AppEnv::Production;
        settings.auth.jwt_secret = Some(Secret(DEV_SECRET.to_owned()));
    })
    .await;
    assert!(error.contains("public development key"), "{error}");
}

#[tokio::test]
async fn production_fetches_identity_provider_keys_over_https_only() {
    let provider = IdentityProvider::start(&[]).await;
    let issuers = JwtIssuers(vec![provider.issuer(FC, "ES256", &["PATIENT"])]);
    let error = refused_start(|settings| {
        settings.app_env = AppEnv::Production;
        settings.auth.jwt_secret = None;
        settings.auth.jwt_issuers = Some(issuers);
    })
    .await;
    assert!(error.contains("https"), "{error}");
}

#[tokio::test]
async fn development_key_is_refused_on_a_public_address() {
    let error = refused_start(|settings| {
        settings.auth.jwt_secret = None;
        settings.http.listen = "0.0.0.0:0".parse().unwrap();
    })
    .await;
    assert!(error.contains("loopback"), "{error}");
}

#[tokio::test]
async fn development_key_is_accepted_on_loopback_in_development() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.auth.jwt_secret = None;
    })
    .await;
    let mut c = claims("PATIENT", &ins(907));
    c["iss"] = json!(app.settings.auth.jwt_issuer);
    let token = jsonwebtoken::encode(
        &Header::default(),
        &c,
        &EncodingKey::from_secret(DEV_SECRET.as_bytes()).unwrap(),
    )
    .unwrap();
    verdict(&app, &token).await.unwrap();
}

#[tokio::test]
async fn graphiql_is_not_served_in_production() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.app_env = AppEnv::Production;
    })
    .await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 405);
    assert_eq!(page.headers()["allow"], "POST");
    let body = page.text().await.unwrap();
    assert!(!body.contains("GraphiQL.createFetcher"), "{body}");
    assert!(body.contains("not served in production"), "{body}");
    // The API itself answers.
    let answer = app.graphql(None, "{ __typename }", json!({})).await;
    assert_eq!(answer.ok()["__typename"], "Query");
}

/// Runs `serve` with `env` until it prints `wanted` on stderr; its stderr so far, and whether it
/// exited with a failure within a second (`None`: it was still running, and was killed).
fn serve_binary(env: &[(&str, &str)], wanted: &str) -> (String, Option<bool>) {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_espace-sante"));
    command
        .arg("serve")
        .env(
            "DATABASE_URL",
            format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("s.sqlite").display()
            ),
        )
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("EMAIL_DIR", dir.path().join("emails"))
        .env("RELAY_INTERVAL_SECS", "0")
        .env("CREATION_SWEEP_INTERVAL_SECS", "0")
        .env("RUST_LOG", "error")
        .env_remove("JWT_SECRET")
        .env_remove("JWT_ISSUERS")
        .env_remove("APP_ENV")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().unwrap();
    // Lines are read on a thread of their own: a server that never prints `wanted` is killed
    // after a deadline instead of hanging the test.
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = String::new();
    while let Ok(line) =
        received.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        seen.push_str(&line);
        seen.push('\n');
        if line.contains(wanted) {
            break;
        }
    }
    // A refused start exits on its own right after its message; a server runs until killed.
    let mut status = None;
    for _ in 0..20 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    (seen, status.map(|s| !s.success()))
}

#[test]
fn development_says_so_on_every_start_whatever_the_log_filter() {
    let (stderr, _) = serve_binary(&[], "DEVELOPMENT MODE");
    assert!(stderr.contains("DEVELOPMENT MODE"), "{stderr}");
    assert!(
        stderr.contains("PUBLIC DEVELOPMENT KEY"),
        "the banner says the development key is accepted: {stderr}"
    );
    let (with_secret, _) = serve_binary(
        &[("JWT_SECRET", "a-production-secret-of-at-least-32-bytes")],
        "DEVELOPMENT MODE",
    );
    assert!(with_secret.contains("DEVELOPMENT MODE"), "{with_secret}");
    assert!(
        !with_secret.contains("PUBLIC DEVELOPMENT KEY"),
        "{with_secret}"
    );
}

#[test]
fn production_binary_exits_with_a_clear_message_without_a_key_source() {
    let (stderr, failed) = serve_binary(&[("APP_ENV", "production")], "error:");
    assert!(
        stderr.contains("error: APP_ENV=production needs a key source"),
        "{stderr}"
    );
    assert_eq!(failed, Some(true), "{stderr}");
    assert!(!stderr.contains("DEVELOPMENT MODE"), "{stderr}");
}

/// An issuer that signs with two key families, ES256 and RS256 side by side (the example
/// of a patient provider in docs/src/signing-in.md): a token of each is accepted.
#[tokio::test]
async fn an_issuer_may_sign_with_two_key_families() {
    let (rsa, ec) = (TestKey::rsa(0), TestKey::ec("ec-1"));
    let provider = IdentityProvider::start(&[&rsa, &ec]).await;
    let both: JwksIssuer = serde_json::from_value(json!({
        "issuer": FC,
        "jwks_url": provider.url,
        "algorithms": ["ES256", "RS256"],
        "roles": ["PATIENT"],
        "patients": "ins",
    }))
    .unwrap();
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.auth.jwt_issuers = Some(JwtIssuers(vec![both]));
    })
    .await;
    verdict(&app, &ec.sign(&patient_claims())).await.unwrap();
    verdict(&app, &rsa.sign(&patient_claims())).await.unwrap();
}

/// What every token must hold, whatever its issuer: an `iat` in the future is refused; the
/// `Bearer` scheme is read in any case (RFC 7235); a refusal never echoes what the token's
/// header says (a 7,000-character `kid` does not come back).
#[tokio::test]
async fn every_token_is_held_to_the_same_rules() {
    let (rsa, ec) = (TestKey::rsa(0), TestKey::ec("ec-1"));
    let provider = IdentityProvider::start(&[&rsa, &ec]).await;
    let app = spawn_trusting(&provider).await;

    let mut early = patient_claims();
    early["iat"] = json!(Utc::now().timestamp() + 3600);
    assert_refused(verdict(&app, &ec.sign(&early)).await, "'iat'");

    let token = ec.sign(&patient_claims());
    for scheme in ["bearer", "BEARER", "BeArEr"] {
        let response = reqwest::Client::new()
            .post(format!("{}/graphql", app.address))
            .header("Authorization", format!("{scheme} {token}"))
            .json(&json!({ "query": "{ me { profile { status } } }" }))
            .send()
            .await
            .unwrap();
        let body: Value = response.json().await.unwrap();
        assert_ne!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{scheme}: {body}"
        );
    }

    let long_kid = "k".repeat(7000);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(long_kid.clone());
    let forged = jsonwebtoken::encode(&header, &patient_claims(), &ec.encoding).unwrap();
    match verdict(&app, &forged).await {
        Err(message) => {
            assert!(
                !message.contains("kkkkkkkk"),
                "{} characters echoed",
                message.len()
            );
            assert!(message.len() < 200, "{message}");
        }
        Ok(()) => panic!("a token signed by no published key was accepted"),
    }
}
