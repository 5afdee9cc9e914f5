//! A real OpenID Connect provider for the tests, and a browser-like client for it.
//!
//! [`OidcProvider::start`] runs `node tests/oidc/provider.mjs 0`: panva's oidc-provider (an
//! OpenID-certified implementation) serving three issuers, `patient` (like FranceConnect),
//! `psc` (like Pro Santé Connect) and `operators` (an insurer's workforce directory), each with
//! its own issuer URL, discovery document and keys, made at start. Tokens are never minted by
//! the test: [`OidcProvider::sign_in`] goes through the authorization-code flow with PKCE, as an
//! app would (discovery, authorization request, login and consent forms, redirects, cookies,
//! token request with the code verifier). tests/oidc/provider.mjs says what each issuer puts in
//! its access tokens and how a login name becomes a person.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::redirect::Policy;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One of the provider's issuers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issuer {
    /// Like FranceConnect: `sub` is an opaque per-service identifier; `given_name`,
    /// `family_name`. Login: `Given.Family`.
    Patient,
    /// Like Pro Santé Connect: `SubjectNameID` ("8" + RPPS), `SubjectRefPro`... Login:
    /// `RPPS[:PROFESSION[:GIVEN[:FAMILY]]]`, e.g. `10003456786:10`.
    Psc,
    /// The insurer's directory: `sub` is the agent id; `name`, `groups`. Login:
    /// `AGENT[:GROUP,GROUP...]` (without `:`, in `espace-sante-operateurs`).
    Operators,
}

impl Issuer {
    pub const ALL: [Issuer; 3] = [Issuer::Patient, Issuer::Psc, Issuer::Operators];

    /// The issuer's name in the provider (its path, and the `issuer` of `/control/rotate`).
    pub fn name(self) -> &'static str {
        match self {
            Issuer::Patient => "patient",
            Issuer::Psc => "psc",
            Issuer::Operators => "operators",
        }
    }
}

/// What a sign-in gives the app.
#[derive(Debug, Clone)]
pub struct Tokens {
    /// A JWT (RFC 9068, `typ` `at+jwt`) for the API: audience [`OidcProvider::audience`], the
    /// person's claims in it.
    pub access_token: String,
    /// The id token, for the app (audience: the client id).
    pub id_token: String,
}

/// An authorization code, and the PKCE verifier that redeems it.
#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    pub code: String,
    pub code_verifier: String,
}

/// What the provider prints once listening.
#[derive(Debug, Deserialize)]
struct Started {
    issuers: HashMap<String, IssuerInfo>,
    client_id: String,
    redirect_uri: String,
    audience: String,
    control: String,
}

#[derive(Debug, Deserialize)]
struct IssuerInfo {
    issuer: String,
    jwks_uri: String,
    alg: String,
    scope: String,
}

/// The provider's process, killed when dropped.
#[derive(Debug)]
pub struct OidcProvider {
    child: Child,
    /// Held open: the provider exits when its stdin closes, so a test process that dies without
    /// dropping this (killed by a timeout) leaves no provider behind.
    _stdin: Option<ChildStdin>,
    started: Started,
    /// For discovery, tokens and control: no cookies, as a backend.
    http: reqwest::Client,
}

/// How long the provider may take to listen: node's start and three key pairs, on a machine
/// that may be building at the same time.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl OidcProvider {
    /// Starts the provider on a free port of 127.0.0.1 and waits until it listens.
    pub async fn start() -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "the test identity provider's packages are not installed: run \
             `npm ci --prefix tests/oidc` (Node.js 20 or later)"
        );
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg("0")
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` (Node.js 20 or later): {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");

        // The first line is the provider's description; the thread then drains stdout until
        // the process ends, so that nothing it prints can fill the pipe and block it.
        let (first_line, read) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_line.send(lines.next());
            for _ in lines {}
        });
        let line = match tokio::time::timeout(START_TIMEOUT, read).await {
            Ok(Ok(Some(Ok(line)))) => line,
            Ok(_) => {
                let status = child.wait();
                panic!("the OIDC provider exited before listening ({status:?}); see its stderr")
            }
            Err(_) => {
                let _ = child.kill();
                panic!("the OIDC provider did not listen within {START_TIMEOUT:?}")
            }
        };
        let started: Started = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("unexpected first line from the provider ({e}): {line}"));
        Self {
            child,
            _stdin: stdin,
            started,
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
        }
    }

    fn info(&self, issuer: Issuer) -> &IssuerInfo {
        &self.started.issuers[issuer.name()]
    }

    /// The issuer URL, as in its tokens' `iss` and its discovery document.
    pub fn issuer_url(&self, issuer: Issuer) -> &str {
        &self.info(issuer).issuer
    }

    /// Where the issuer publishes its keys.
    pub fn jwks_url(&self, issuer: Issuer) -> &str {
        &self.info(issuer).jwks_uri
    }

    /// The JWS algorithm the issuer signs with (`RS256`, `ES256`).
    pub fn alg(&self, issuer: Issuer) -> &str {
        &self.info(issuer).alg
    }

    /// The `aud` of every access token: the API.
    pub fn audience(&self) -> &str {
        &self.started.audience
    }

    /// The app's client id, the same at every issuer (the `aud` of id tokens).
    pub fn client_id(&self) -> &str {
        &self.started.client_id
    }

    /// The issuer's discovery document.
    pub async fn discovery(&self, issuer: Issuer) -> Value {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.issuer_url(issuer)
        );
        let response = self.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {url}");
        response.json().await.unwrap()
    }

    /// The issuer's published keys.
    pub async fn jwks(&self, issuer: Issuer) -> jsonwebtoken::jwk::JwkSet {
        let response = self.http.get(self.jwks_url(issuer)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {}", self.jwks_url(issuer));
        response.json().await.unwrap()
    }

    /// Signs `login` in at `issuer` through the authorization-code flow with PKCE, and redeems
    /// the code: the tokens an app gets.
    pub async fn sign_in(&self, issuer: Issuer, login: &str) -> Tokens {
        let grant = self.authorize(issuer, login).await;
        let response = self.redeem(issuer, &grant.code, &grant.code_verifier).await;
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "token request refused: {body}");
        let token = |name: &str| {
            body[name]
                .as_str()
                .unwrap_or_else(|| panic!("no {name} in {body}"))
                .to_owned()
        };
        Tokens {
            access_token: token("access_token"),
            id_token: token("id_token"),
        }
    }

    /// The front-channel half of a sign-in, as a browser goes through it: the authorization
    /// request (with a fresh PKCE challenge, state and nonce), the login page filled with
    /// `login` (any password), the consent page, each redirect, with cookies; it ends at the
    /// app's redirect URI, whose `code` it returns with the verifier.
    pub async fn authorize(&self, issuer: Issuer, login: &str) -> AuthorizationCode {
        let discovery = self.discovery(issuer).await;
        let endpoint = discovery["authorization_endpoint"].as_str().unwrap();
        let code_verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(code_verifier.as_bytes()));
        let state = random_token();
        let nonce = random_token();

        let browser = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .unwrap();
        let mut response = browser
            .get(endpoint)
            .query(&[
                ("client_id", self.client_id()),
                ("response_type", "code"),
                ("scope", &self.info(issuer).scope),
                ("redirect_uri", &self.started.redirect_uri),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("state", &state),
                ("nonce", &nonce),
            ])
            .send()
            .await
            .unwrap();
        // Login page, consent page and the redirects between: a handful of steps.
        for _ in 0..12 {
            let here = response.url().clone();
            if response.status().is_redirection() {
                let location = response.headers()["location"].to_str().unwrap();
                let next = here.join(location).unwrap();
                if next.as_str().starts_with(&self.started.redirect_uri) {
                    let query: HashMap<_, _> = next.query_pairs().into_owned().collect();
                    assert!(
                        !query.contains_key("error"),
                        "the provider refused the sign-in of {login:?}: {next}"
                    );
                    assert_eq!(query.get("state"), Some(&state), "state lost: {next}");
                    let code = query
                        .get("code")
                        .unwrap_or_else(|| panic!("no code in {next}"));
                    return AuthorizationCode {
                        code: code.clone(),
                        code_verifier,
                    };
                }
                response = browser.get(next).send().await.unwrap();
                continue;
            }
            let status = response.status();
            let page = response.text().await.unwrap();
            assert_eq!(status, 200, "{here}: {page}");
            let form = Form::parse(&page).unwrap_or_else(|| panic!("no form at {here}: {page}"));
            let fields: Vec<(String, String)> = form
                .inputs
                .into_iter()
                .map(|(name, value)| match name.as_str() {
                    "login" => (name, login.to_owned()),
                    "password" => (name, "any password".to_owned()),
                    _ => (name, value),
                })
                .collect();
            response = browser
                .post(here.join(&form.action).unwrap())
                .form(&fields)
                .send()
                .await
                .unwrap();
        }
        panic!("the sign-in of {login:?} at {issuer:?} did not reach the redirect URI");
    }

    /// The token request of the authorization-code grant, as a public client makes it (no
    /// secret; the PKCE verifier proves it started the flow).
    pub async fn redeem(
        &self,
        issuer: Issuer,
        code: &str,
        code_verifier: &str,
    ) -> reqwest::Response {
        let discovery = self.discovery(issuer).await;
        let endpoint = discovery["token_endpoint"].as_str().unwrap();
        self.http
            .post(endpoint)
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.started.redirect_uri),
                ("client_id", self.client_id()),
                ("code_verifier", code_verifier),
            ])
            .send()
            .await
            .unwrap()
    }

    /// Makes `issuer` sign with a new key from now on (the old ones stay in its JWKS); returns
    /// the new key's `kid`.
    pub async fn rotate(&self, issuer: Issuer) -> String {
        let url = format!("{}/rotate", self.started.control);
        let response = self
            .http
            .post(&url)
            .query(&[("issuer", issuer.name())])
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "POST {url}?issuer={}: {body}", issuer.name());
        body["kid"].as_str().unwrap().to_owned()
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 32 random bytes, base64url: a PKCE verifier (43 characters), a state, a nonce.
fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// The first form of one of the provider's pages (tests/oidc/provider.mjs writes them: double
/// quoted attributes, no entities in names, values or actions).
struct Form {
    action: String,
    inputs: Vec<(String, String)>,
}

impl Form {
    fn parse(page: &str) -> Option<Form> {
        let start = page.find("<form")?;
        let end = page[start..].find("</form>")? + start;
        let body = &page[start..end];
        let action = attribute(&body[..body.find('>')?], "action")?;
        let inputs = body
            .split("<input")
            .skip(1)
            .filter_map(|rest| {
                let tag = &rest[..rest.find('>')?];
                let name = attribute(tag, "name")?;
                Some((name, attribute(tag, "value").unwrap_or_default()))
            })
            .collect();
        Some(Form { action, inputs })
    }
}

/// The value of `name="..."` in an HTML tag.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let from = tag.find(&key)? + key.len();
    let len = tag[from..].find('"')?;
    Some(tag[from..from + len].to_owned())
}
