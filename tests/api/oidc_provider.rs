//! The test identity provider (tests/oidc/, driven by helpers/oidc.rs), as the API tests rely
//! on it: a real authorization-code flow with PKCE at each of its three issuers gives access
//! tokens for the API, signed with a key the issuer publishes and carrying each issuer's claims;
//! a rotation brings a new key; PKCE is enforced. No API server here: these prove the
//! infrastructure the sign-in tests stand on.

use std::collections::HashMap;
use std::str::FromStr;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::{DOCTOR, Issuer, OidcProvider};

/// Verifies `token` as a relying party does: the key its header names, from the issuer's JWKS,
/// the issuer's algorithm, `iss` and `aud`. Returns the header's kid and the claims.
async fn verify(
    provider: &OidcProvider,
    issuer: Issuer,
    token: &str,
    audience: &str,
) -> (String, Value) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let alg = Algorithm::from_str(provider.alg(issuer)).unwrap();
    assert_eq!(header.alg, alg, "{issuer:?} signs with {alg:?}");
    let kid = header.kid.expect("the header names its key");
    let jwks = provider.jwks(issuer).await;
    let jwk = jwks
        .find(&kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS of {issuer:?}"));
    let mut validation = Validation::new(alg);
    validation.set_audience(&[audience]);
    validation.set_issuer(&[provider.issuer_url(issuer)]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data =
        jsonwebtoken::decode::<Value>(token, &DecodingKey::from_jwk(jwk).unwrap(), &validation)
            .unwrap_or_else(|e| panic!("{issuer:?}'s token does not verify: {e}"));
    (kid, data.claims)
}

/// Signs `login` in and returns the verified claims of its access token, after checking its
/// id token names the same subject.
async fn access_claims(provider: &OidcProvider, issuer: Issuer, login: &str) -> Value {
    let tokens = provider.sign_in(issuer, login).await;
    let typ = jsonwebtoken::decode_header(&tokens.access_token)
        .unwrap()
        .typ;
    assert_eq!(typ.as_deref(), Some("at+jwt"), "an RFC 9068 access token");
    let (_, access) = verify(provider, issuer, &tokens.access_token, provider.audience()).await;
    let (_, id) = verify(provider, issuer, &tokens.id_token, provider.client_id()).await;
    assert_eq!(access["sub"], id["sub"]);
    assert_eq!(access["client_id"], provider.client_id());
    access
}

#[tokio::test]
async fn every_issuer_signs_api_access_tokens_with_a_key_it_publishes() {
    let provider = OidcProvider::start().await;
    assert_eq!(provider.audience(), "espace-sante-api");
    let mut kids = Vec::new();
    for (issuer, login, alg) in [
        (Issuer::Patient, "Marie.Dupont", "ES256"),
        (Issuer::Psc, DOCTOR, "RS256"),
        (Issuer::Operators, "agent-7", "RS256"),
    ] {
        assert_eq!(provider.alg(issuer), alg);
        let discovery = provider.discovery(issuer).await;
        assert_eq!(discovery["issuer"], provider.issuer_url(issuer));
        assert_eq!(discovery["jwks_uri"], provider.jwks_url(issuer));
        assert_eq!(
            discovery["code_challenge_methods_supported"],
            json!(["S256"])
        );

        let tokens = provider.sign_in(issuer, login).await;
        let (kid, claims) =
            verify(&provider, issuer, &tokens.access_token, provider.audience()).await;
        assert_eq!(claims["aud"], "espace-sante-api");
        assert_eq!(claims["iss"], provider.issuer_url(issuer));
        kids.push(kid);
    }
    // Three issuers, three sets of keys.
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), 3);
}

#[tokio::test]
async fn patient_sub_is_an_opaque_identifier_stable_per_login() {
    let provider = OidcProvider::start().await;
    let marie = access_claims(&provider, Issuer::Patient, "Marie.Dupont").await;
    let sub = marie["sub"].as_str().unwrap();
    // FranceConnect's shape: 64 hex digits and a version; nothing of the person in it.
    assert_eq!(sub.len(), 66, "{sub}");
    assert!(sub.ends_with("v1") && sub[..64].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(marie["given_name"], "Marie");
    assert_eq!(marie["family_name"], "Dupont");

    let again = access_claims(&provider, Issuer::Patient, "Marie.Dupont").await;
    assert_eq!(again["sub"], marie["sub"], "the same person each time");
    let other = access_claims(&provider, Issuer::Patient, "Paul.Durand").await;
    assert_ne!(other["sub"], marie["sub"]);
}

#[tokio::test]
async fn psc_access_token_carries_pro_sante_connect_claims() {
    let provider = OidcProvider::start().await;
    let claims = access_claims(&provider, Issuer::Psc, &format!("{DOCTOR}:10")).await;
    let national_id = format!("8{DOCTOR}");
    assert_eq!(claims["SubjectNameID"], national_id.as_str());
    assert_eq!(claims["preferred_username"], national_id.as_str());
    let sub = claims["sub"].as_str().unwrap();
    assert!(
        sub.starts_with("f:") && sub.ends_with(&format!(":{national_id}")),
        "PSC's shape, f:<uuid>:<national id>: {sub}"
    );
    let exercise = &claims["SubjectRefPro"]["exercices"][0];
    assert_eq!(exercise["codeProfession"], "10");
    assert_eq!(exercise["codeCategorieProfessionnelle"], "C");
    assert_eq!(exercise["prenomDexercice"], claims["given_name"]);
    assert_eq!(exercise["nomDexercice"], claims["family_name"]);
    assert_eq!(exercise["activities"], json!([]));
    assert_eq!(claims["SubjectRefPro"]["codeCivilite"], "M");

    // The login picks the profession and the names.
    let nurse = access_claims(
        &provider,
        Issuer::Psc,
        &format!("{DOCTOR}:60:Jeanne:DURAND"),
    )
    .await;
    let exercise = &nurse["SubjectRefPro"]["exercices"][0];
    assert_eq!(exercise["codeProfession"], "60");
    assert_eq!(nurse["given_name"], "Jeanne");
    assert_eq!(nurse["family_name"], "DURAND");
}

#[tokio::test]
async fn operators_access_token_carries_the_agent_and_groups() {
    let provider = OidcProvider::start().await;
    let agent = access_claims(&provider, Issuer::Operators, "agent-7").await;
    assert_eq!(agent["sub"], "agent-7");
    assert_eq!(agent["name"], "Agent agent-7");
    assert_eq!(agent["groups"], json!(["espace-sante-operateurs"]));

    let outsider = access_claims(&provider, Issuer::Operators, "agent-8:").await;
    assert_eq!(outsider["groups"], json!([]));
    let other = access_claims(&provider, Issuer::Operators, "agent-9:finance,audit").await;
    assert_eq!(other["groups"], json!(["finance", "audit"]));
}

#[tokio::test]
async fn after_a_rotation_tokens_carry_a_new_kid_that_the_jwks_lists() {
    let provider = OidcProvider::start().await;
    let before = provider.sign_in(Issuer::Psc, DOCTOR).await;
    let (old_kid, _) = verify(
        &provider,
        Issuer::Psc,
        &before.access_token,
        provider.audience(),
    )
    .await;

    let new_kid = provider.rotate(Issuer::Psc).await;
    assert_ne!(new_kid, old_kid);
    let jwks = provider.jwks(Issuer::Psc).await;
    assert!(jwks.find(&new_kid).is_some(), "the new key is published");
    assert!(
        jwks.find(&old_kid).is_some(),
        "the old key stays for its tokens"
    );

    let after = provider.sign_in(Issuer::Psc, DOCTOR).await;
    let (kid, _) = verify(
        &provider,
        Issuer::Psc,
        &after.access_token,
        provider.audience(),
    )
    .await;
    assert_eq!(kid, new_kid);
    let (id_kid, _) = verify(
        &provider,
        Issuer::Psc,
        &after.id_token,
        provider.client_id(),
    )
    .await;
    assert_eq!(id_kid, new_kid, "id tokens too");

    // The other issuers keep their keys.
    let patient = provider.sign_in(Issuer::Patient, "Marie.Dupont").await;
    let (patient_kid, _) = verify(
        &provider,
        Issuer::Patient,
        &patient.access_token,
        provider.audience(),
    )
    .await;
    assert_eq!(provider.jwks(Issuer::Patient).await.keys.len(), 1);
    assert_ne!(patient_kid, new_kid);
}

#[tokio::test]
async fn the_code_is_redeemed_only_with_its_pkce_verifier() {
    let provider = OidcProvider::start().await;
    for issuer in Issuer::ALL {
        let login = match issuer {
            Issuer::Patient => "Marie.Dupont",
            Issuer::Psc => DOCTOR,
            Issuer::Operators => "agent-7",
        };
        let grant = provider.authorize(issuer, login).await;
        let wrong = format!("{}x", grant.code_verifier);
        let refused = provider.redeem(issuer, &grant.code, &wrong).await;
        assert_eq!(refused.status(), 400, "{issuer:?}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant", "{issuer:?}: {body}");
        assert!(body.get("access_token").is_none());

        // An authorization request without a challenge goes back to the app with an error.
        let discovery = provider.discovery(issuer).await;
        let browser = reqwest::Client::builder()
            .redirect(Policy::none())
            .build()
            .unwrap();
        let response = browser
            .get(discovery["authorization_endpoint"].as_str().unwrap())
            .query(&[
                ("client_id", provider.client_id()),
                ("response_type", "code"),
                ("scope", "openid"),
                ("redirect_uri", "http://127.0.0.1/callback"),
                ("state", "s"),
            ])
            .send()
            .await
            .unwrap();
        assert!(response.status().is_redirection(), "{issuer:?}");
        let location =
            reqwest::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
        let query: HashMap<_, _> = location.query_pairs().into_owned().collect();
        assert_eq!(
            query.get("error").map(String::as_str),
            Some("invalid_request")
        );
        assert!(query["error_description"].contains("PKCE"), "{location}");
        assert!(!query.contains_key("code"));
    }
}
