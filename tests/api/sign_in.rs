//! Signing in with real identity providers: tokens obtained from a real OpenID Connect provider
//! (tests/oidc/, started by the test) through the authorization-code flow with PKCE, as an app
//! obtains them, read by the issuers the manual documents (docs/src/signing-in.md, "Signing in
//! with real providers"): Pro Santé Connect's claims through its preset, a patient provider
//! whose accounts are linked at activation, and a workforce directory's groups.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::documents::HISTORY;
use crate::helpers::{
    Backend, DOCTOR, Issuer, NURSE, OidcProvider, TestApp, on_both_backends, patient_token,
    serial_of, typed_document_input,
};

/// The issuers of docs/src/signing-in.md, in its order (PSC, the patient provider, the
/// operators' directory), with `provider`'s addresses in place of the real ones.
fn documented_issuers(provider: &OidcProvider) -> espace_sante::config::JwtIssuers {
    let chapter = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src/signing-in.md"),
    )
    .unwrap();
    let after = chapter
        .split("<!-- the issuers of tests/api/sign_in.rs")
        .nth(1)
        .expect("the marked example in docs/src/signing-in.md");
    let block = after
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a json block after the marker");
    let mut issuers: Vec<Value> = serde_json::from_str(block).unwrap();
    for (issuer, at) in issuers
        .iter_mut()
        .zip([Issuer::Psc, Issuer::Patient, Issuer::Operators])
    {
        issuer["issuer"] = json!(provider.issuer_url(at));
        issuer["jwks_url"] = json!(provider.jwks_url(at));
    }
    espace_sante::config::JwtIssuers(serde_json::from_value(json!(issuers)).unwrap())
}

/// The provider, and a server trusting the documented issuers (keys fetched again at once on
/// an unknown `kid`, so that a rotation shows without waiting).
async fn with_provider(backend: Backend) -> (OidcProvider, TestApp) {
    let provider = OidcProvider::start().await;
    let issuers = documented_issuers(&provider);
    let app = TestApp::spawn_with(backend, |settings| {
        settings.auth.jwt_issuers = Some(issuers);
        settings.auth.jwks_refetch_interval_secs = 0;
    })
    .await;
    (provider, app)
}

/// Two providers, the second's patient issuer trusted too, as a second patient provider
/// declared like the documented one.
async fn with_two_patient_providers(backend: Backend) -> (OidcProvider, OidcProvider, TestApp) {
    let (first, second) = (OidcProvider::start().await, OidcProvider::start().await);
    let mut issuers = documented_issuers(&first);
    let mut another = issuers.0[1].clone();
    another.issuer = second.issuer_url(Issuer::Patient).to_owned();
    another.jwks_url = second.jwks_url(Issuer::Patient).to_owned();
    issuers.0.push(another);
    let app = TestApp::spawn_with(backend, |settings| {
        settings.auth.jwt_issuers = Some(issuers);
    })
    .await;
    (first, second, app)
}

const ME: &str = "{ me { profile { ins status } } }";
const ACTIVATE: &str = "mutation($ins: INS, $code: String!, $serial: String!) { activateProfile(ins: $ins, activationCode: $code, carteVitaleSerial: $serial, personalEmail: \"moi@example.org\") { ins status } }";
const LINK: &str = "mutation($token: String!) { linkAccount(accountToken: $token) }";
const UNLINK: &str = "mutation($issuer: String!) { unlinkAccount(issuer: $issuer) }";
const RECORD: &str = "query($ins: INS!) { patientRecord(patientIns: $ins, first: 20) { edges { node { id type { code } } } } }";
const FEED: &str = "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input) { id author { id name profession } } }";

/// A created profile whose opposition window ended a minute ago; its activation code. Provider
/// tokens are dated by the real clock, and an unlinking by the server's: the server's clock is
/// brought to now.
async fn created(app: &TestApp, person: &str) -> String {
    let opposition = chrono::Duration::days(42) + chrono::Duration::minutes(1);
    app.clock.set(chrono::Utc::now() - opposition);
    let code = app
        .created_profile(person, Some("assure@example.org"))
        .await;
    app.clock.set(chrono::Utc::now());
    code
}

async fn activate(app: &TestApp, token: &str, person: &str, code: &str) -> crate::helpers::Gql {
    app.graphql(
        Some(token),
        ACTIVATE,
        json!({ "ins": person, "code": code, "serial": serial_of(person) }),
    )
    .await
}

/// A patient who activated their profile signed in as `login` at `provider`'s patient issuer:
/// their INS, and that account's token.
async fn linked_patient(app: &TestApp, provider: &OidcProvider, login: &str) -> (String, String) {
    let person = app.person();
    let code = created(app, &person).await;
    let token = provider.sign_in(Issuer::Patient, login).await.access_token;
    let activated = activate(app, &token, &person, &code).await;
    assert_eq!(activated.ok()["activateProfile"]["status"], "ACTIVATED");
    (person, token)
}

/// The kinds of `person`'s ledger events, in order.
async fn kinds(app: &TestApp, person: &str) -> Vec<String> {
    app.query_rows(&format!(
        "SELECT kind FROM ledger_events WHERE patient_ins = '{person}' ORDER BY seq"
    ))
    .await
    .into_iter()
    .map(|row| row[0].clone())
    .collect()
}

async fn a_patient_links_their_account_at_activation_then_reads_with_it(backend: Backend) {
    let (provider, app) = with_provider(backend).await;
    let person = app.person();
    let code = created(&app, &person).await;
    let marie = provider
        .sign_in(Issuer::Patient, "Marie.Dupont")
        .await
        .access_token;

    // Signed in, but no one yet: anything but activation is ACCOUNT_NOT_LINKED.
    let before = app.graphql(Some(&marie), ME, json!({})).await;
    assert_eq!(before.code(), "ACCOUNT_NOT_LINKED");
    assert!(
        before.error()["message"]
            .as_str()
            .unwrap()
            .contains("activateProfile")
    );

    // An account that names no one learns nothing of an INS it has no code for: an unknown
    // INS and a wrong code get the same answer.
    let unknown = activate(&app, &marie, &app.person(), &code).await;
    assert_eq!(unknown.code(), "INVALID_ACTIVATION");
    let wrong = activate(&app, &marie, &person, "AAAA-BBBB-CCCC").await;
    assert_eq!(wrong.code(), "INVALID_ACTIVATION");
    assert_eq!(unknown.error()["message"], wrong.error()["message"]);

    let activated = activate(&app, &marie, &person, &code).await;
    assert_eq!(activated.ok()["activateProfile"]["status"], "ACTIVATED");

    // The provider's token is the patient's now, and the history says how it came to be.
    let me = app.graphql(Some(&marie), ME, json!({})).await;
    assert_eq!(me.ok()["me"]["profile"]["ins"], person);
    let history = app.graphql(Some(&marie), HISTORY, json!({})).await;
    let labels: Vec<&str> = history.ok()["me"]["activityHistory"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["node"]["kind"].as_str())
        .collect();
    assert!(labels.contains(&"ACCOUNT_LINKED"), "{labels:?}");
    // And the patient is told, as of any change of who may sign in as them.
    let told = app
        .query_rows(&format!(
            "SELECT channel FROM notifications WHERE patient_ins = '{person}' AND kind = 'SIGN_IN_ACCOUNT' ORDER BY channel"
        ))
        .await;
    assert_eq!(told, [["EMAIL"], ["LIVE"]], "{told:?}");
    // Signing in again gives the same account: still the patient.
    let again = provider
        .sign_in(Issuer::Patient, "Marie.Dupont")
        .await
        .access_token;
    assert_eq!(
        app.graphql(Some(&again), ME, json!({})).await.ok()["me"]["profile"]["ins"],
        person
    );
}

async fn an_account_binds_one_profile_and_a_profile_one_account_per_provider(backend: Backend) {
    let (provider, app) = with_provider(backend).await;
    let (first, second) = (app.person(), app.person());
    let first_code = created(&app, &first).await;
    let second_code = created(&app, &second).await;
    let marie = provider
        .sign_in(Issuer::Patient, "Marie.Dupont")
        .await
        .access_token;
    activate(&app, &marie, &first, &first_code).await.ok();

    // Linked, the account is the first patient: it activates no one else.
    let elsewhere = activate(&app, &marie, &second, &second_code).await;
    assert_eq!(elsewhere.code(), "FORBIDDEN");
    // The second patient, signed in another way, tries to take the account: refused, traced
    // in their history, and the account still names the first.
    let own = patient_token(&second);
    activate(&app, &own, &second, &second_code).await.ok();
    let taken = app
        .graphql(Some(&own), LINK, json!({ "token": marie }))
        .await;
    assert_eq!(taken.code(), "CONFLICT");
    assert_eq!(
        kinds(&app, &second).await.last().unwrap(),
        "ACCOUNT_LINK_REFUSED"
    );
    assert_eq!(
        app.graphql(Some(&marie), ME, json!({})).await.ok()["me"]["profile"]["ins"],
        first
    );

    // Another account at the same provider for a profile that has one: refused, traced.
    let other = provider
        .sign_in(Issuer::Patient, "Marie.Autre")
        .await
        .access_token;
    let second_account = app
        .graphql(Some(&marie), LINK, json!({ "token": other }))
        .await;
    assert_eq!(second_account.code(), "CONFLICT");
    assert_eq!(
        kinds(&app, &first).await.last().unwrap(),
        "ACCOUNT_LINK_REFUSED"
    );
    assert_eq!(
        app.graphql(Some(&other), ME, json!({})).await.code(),
        "ACCOUNT_NOT_LINKED"
    );
}

async fn an_unlinked_account_is_refused_then_may_be_linked_again(backend: Backend) {
    let (provider, other_provider, app) = with_two_patient_providers(backend).await;
    let (person, marie) = linked_patient(&app, &provider, "Marie.Dupont").await;
    let issuer = provider.issuer_url(Issuer::Patient);

    // The only account cannot go: nobody could sign in as the patient any more.
    let last = app
        .graphql(Some(&marie), UNLINK, json!({ "issuer": issuer }))
        .await;
    assert_eq!(last.code(), "CONFLICT");
    // A second provider's account, linked from the first's session.
    let elsewhere = other_provider
        .sign_in(Issuer::Patient, "Marie.Dupont")
        .await
        .access_token;
    app.clock.set(chrono::Utc::now());
    let linked = app
        .graphql(Some(&marie), LINK, json!({ "token": elsewhere }))
        .await;
    assert_eq!(linked.ok()["linkAccount"], true);

    app.clock.set(chrono::Utc::now());
    let unlinked = app
        .graphql(Some(&marie), UNLINK, json!({ "issuer": issuer }))
        .await;
    assert_eq!(unlinked.ok()["unlinkAccount"], true);
    assert_eq!(
        kinds(&app, &person).await.last().unwrap(),
        "ACCOUNT_UNLINKED"
    );
    // The token issued before the unlink is refused outright, to sign in and to link alike.
    let stale = app.graphql(Some(&marie), ME, json!({})).await;
    assert_eq!(stale.code(), "UNAUTHENTICATED");
    assert!(
        stale.error()["message"]
            .as_str()
            .unwrap()
            .contains("unlinked")
    );
    let relink_stale = app
        .graphql(Some(&elsewhere), LINK, json!({ "token": marie }))
        .await;
    assert_eq!(relink_stale.code(), "BAD_USER_INPUT");
    // A token issued after it names no one.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let fresh = provider
        .sign_in(Issuer::Patient, "Marie.Dupont")
        .await
        .access_token;
    assert_eq!(
        app.graphql(Some(&fresh), ME, json!({})).await.code(),
        "ACCOUNT_NOT_LINKED"
    );
    // Unlinking what is not linked: NOT_FOUND.
    let nothing = app
        .graphql(Some(&elsewhere), UNLINK, json!({ "issuer": issuer }))
        .await;
    assert_eq!(nothing.code(), "NOT_FOUND");

    // Linked again from the other account's session: the account is theirs again.
    app.clock.set(chrono::Utc::now());
    let again = app
        .graphql(Some(&elsewhere), LINK, json!({ "token": fresh }))
        .await;
    assert_eq!(again.ok()["linkAccount"], true);
    assert_eq!(
        app.graphql(Some(&fresh), ME, json!({})).await.ok()["me"]["profile"]["ins"],
        person
    );
}

/// How many documents of `person`'s record `token`'s holder sees.
async fn record_size(app: &TestApp, token: &str, person: &str) -> usize {
    app.graphql(Some(token), RECORD, json!({ "ins": person }))
        .await
        .ok()["patientRecord"]["edges"]
        .as_array()
        .unwrap()
        .len()
}

async fn a_pro_sante_connect_practitioner_feeds_and_consults_under_the_matrix(backend: Backend) {
    let (provider, app) = with_provider(backend).await;
    let (person, _) = linked_patient(&app, &provider, "Marie.Dupont").await;
    let psc = |login: String| {
        let provider = &provider;
        async move { provider.sign_in(Issuer::Psc, &login).await.access_token }
    };

    // A doctor (profession 10): their RPPS from SubjectNameID, their name from PSC's claims.
    let doctor = psc(format!("{DOCTOR}:10:Claire:MOREAU")).await;
    let fed = app
        .graphql(
            Some(&doctor),
            FEED,
            json!({ "ins": person, "input": typed_document_input("psc-1", "Compte rendu", "11488-4") }),
        )
        .await;
    let author = &fed.ok()["feedDocument"]["author"];
    assert_eq!(author["id"], DOCTOR);
    assert_eq!(author["name"], "Claire MOREAU");
    assert_eq!(record_size(&app, &doctor, &person).await, 1);

    // A pharmacist (21): the matrix hides a consultation report from them, and they may not
    // feed a biology report.
    let pharmacist = psc(format!("{NURSE}:21")).await;
    assert_eq!(record_size(&app, &pharmacist, &person).await, 0);
    let refused = app
        .graphql(
            Some(&pharmacist),
            FEED,
            json!({ "ins": person, "input": typed_document_input("psc-2", "Biologie", "11502-2") }),
        )
        .await;
    assert_eq!(refused.code(), "FORBIDDEN");

    // A key rotated at PSC: the next token names a key the API has not seen, fetched then.
    provider.rotate(Issuer::Psc).await;
    let rotated = psc(format!("{DOCTOR}:10:Claire:MOREAU")).await;
    assert_eq!(record_size(&app, &rotated, &person).await, 1);
}

async fn operators_come_from_the_directory_groups_and_an_unmappable_token_is_named(
    backend: Backend,
) {
    let (provider, app) = with_provider(backend).await;
    let agent = provider
        .sign_in(Issuer::Operators, "agent-7")
        .await
        .access_token;
    let swept = app
        .graphql(
            Some(&agent),
            "mutation { runCreationSweep { created } }",
            json!({}),
        )
        .await;
    assert!(swept.ok()["runCreationSweep"]["created"].is_array());

    // Outside the group: no role this issuer's mapping grants, named by its pointer.
    let outsider = provider
        .sign_in(Issuer::Operators, "agent-8:")
        .await
        .access_token;
    let refused = app
        .graphql(
            Some(&outsider),
            "mutation { runCreationSweep { created } }",
            json!({}),
        )
        .await;
    assert_eq!(refused.code(), "UNAUTHENTICATED");
    let message = refused.error()["message"].as_str().unwrap();
    assert!(message.contains("/groups"), "{message}");
}

/// A legal representative signs in with their own linked account, then selects the minor's
/// profile with `X-Acting-For`, as with any patient token.
async fn a_representative_reaches_the_minor_through_their_own_linked_account(backend: Backend) {
    let (provider, app) = with_provider(backend).await;
    let (mother, token) = linked_patient(&app, &provider, "Mere.Dupont").await;
    let child = app.person();
    crate::minors::created_minor(&app, &child, "2015-06-01", &[&mother]).await;

    let acting = |profile: &str| {
        reqwest::Client::new()
            .post(format!("{}/graphql", app.address))
            .bearer_auth(&token)
            .header("X-Acting-For", profile.to_owned())
            .json(&json!({ "query": ME }))
            .send()
    };
    let answer: Value = acting(&child).await.unwrap().json().await.unwrap();
    assert_eq!(answer["data"]["me"]["profile"]["ins"], child, "{answer}");
    // Acting for the minor, they may not change how the minor signs in.
    let unlink: Value = reqwest::Client::new()
        .post(format!("{}/graphql", app.address))
        .bearer_auth(&token)
        .header("X-Acting-For", child.clone())
        .json(&json!({ "query": UNLINK, "variables": { "issuer": provider.issuer_url(Issuer::Patient) } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        unlink["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{unlink}"
    );
    // Nor may an account of theirs not linked yet become the minor's own identity.
    let other = provider
        .sign_in(Issuer::Patient, "Pere.Dupont")
        .await
        .access_token;
    let minor_code = app.activation_code(&child).await;
    let bound = activate(&app, &other, &child, &minor_code).await;
    assert_eq!(bound.code(), "INVALID_ACTIVATION");
    assert_eq!(
        app.graphql(Some(&other), ME, json!({})).await.code(),
        "ACCOUNT_NOT_LINKED"
    );
    // Someone else's child is not theirs to select.
    let stranger = app.person();
    let refused: Value = acting(&stranger).await.unwrap().json().await.unwrap();
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
}

on_both_backends!(
    a_representative_reaches_the_minor_through_their_own_linked_account,
    a_patient_links_their_account_at_activation_then_reads_with_it,
    an_account_binds_one_profile_and_a_profile_one_account_per_provider,
    an_unlinked_account_is_refused_then_may_be_linked_again,
    a_pro_sante_connect_practitioner_feeds_and_consults_under_the_matrix,
    operators_come_from_the_directory_groups_and_an_unmappable_token_is_named,
);
