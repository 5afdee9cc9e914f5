//! Steps through the API, as a test tells them: enrol, run the sweep, activate, feed a
//! document, and read back what a patient or the outbox shows.

use chrono::Duration;
use serde_json::{Value, json};

use super::app::{Gql, TestApp};
use super::fixtures::{beneficiary, serial_of};
use super::tokens::{operator_token, patient_token, practitioner_token};

/// The `feedDocument` mutation of [`TestApp::feed`].
pub const FEED: &str = "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input) { id title sha256 sizeBytes author { role id name profession } } }";

impl TestApp {
    /// Enrols rows as the operator, asserting success.
    pub async fn enrol(&self, rows: Vec<Value>) -> Value {
        self.graphql(
            Some(&operator_token()),
            "mutation($rows: [BeneficiaryInput!]!) { enrolBeneficiaries(beneficiaries: $rows) { enrolled { ins status } alreadyKnown } }",
            json!({ "rows": rows }),
        )
        .await
        .ok()["enrolBeneficiaries"]
            .clone()
    }

    /// Enrols one person, lets the opposition window pass and runs the sweep: CREATED.
    /// Returns the activation code of the creation notice.
    pub async fn created_profile(&self, ins: &str, insurer_email: Option<&str>) -> String {
        self.enrol(vec![beneficiary(ins, insurer_email)]).await;
        self.advance(Duration::days(42));
        self.sweep().await;
        self.activation_code(ins).await
    }

    /// Runs the creation sweep as the operator; returns the INS created.
    pub async fn sweep(&self) -> Vec<String> {
        let answer = self
            .graphql(
                Some(&operator_token()),
                "mutation { runCreationSweep { created } }",
                json!({}),
            )
            .await;
        serde_json::from_value(answer.ok()["runCreationSweep"]["created"].clone()).unwrap()
    }

    /// The activation code, read where the patient reads it: the creation notice.
    pub async fn activation_code(&self, ins: &str) -> String {
        let rows = self
            .query_rows(&format!(
                "SELECT body FROM notifications WHERE patient_ins = '{ins}' AND kind = 'PROFILE_CREATED' ORDER BY id DESC"
            ))
            .await;
        let body = rows
            .first()
            .and_then(|r| r.first())
            .cloned()
            .expect("a creation notice");
        body.lines()
            .map(str::trim)
            .find(|l| l.len() == 14 && l.chars().filter(|c| *c == '-').count() == 2)
            .expect("the notice carries a code XXXX-XXXX-XXXX")
            .to_owned()
    }

    /// Activates a created profile.
    pub async fn activate(&self, ins: &str, code: &str) -> Gql {
        self.graphql(
            Some(&patient_token(ins)),
            "mutation($code: String!, $serial: String!) { activateProfile(activationCode: $code, carteVitaleSerial: $serial, personalEmail: \"perso@example.org\") { status personalEmail } }",
            json!({ "code": code, "serial": serial_of(ins) }),
        )
        .await
    }

    /// The patient's status, as the patient reads it.
    pub async fn status(&self, ins: &str) -> String {
        self.graphql(
            Some(&patient_token(ins)),
            "{ me { profile { status } } }",
            json!({}),
        )
        .await
        .ok()["me"]["profile"]["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The patient's history, oldest first, as `(kind, actor role)`.
    pub async fn history(&self, ins: &str) -> Vec<(String, String)> {
        let answer = self
            .graphql(
                Some(&patient_token(ins)),
                "{ me { activityHistory(first: 100) { edges { node { kind actor { role } } } } } }",
                json!({}),
            )
            .await;
        let mut events: Vec<(String, String)> = answer.ok()["me"]["activityHistory"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["node"]["kind"].as_str().unwrap().to_owned(),
                    e["node"]["actor"]["role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        events.reverse();
        events
    }

    /// Enrols, creates and activates a profile.
    pub async fn activated_profile(&self, ins: &str, insurer_email: Option<&str>) {
        let code = self.created_profile(ins, insurer_email).await;
        self.activate(ins, &code).await.ok();
    }

    /// Feeds a document as `rpps`.
    pub async fn feed(&self, rpps: &str, ins: &str, input: Value) -> Gql {
        self.graphql(
            Some(&practitioner_token(rpps)),
            FEED,
            json!({ "ins": ins, "input": input }),
        )
        .await
    }

    /// The outbox rows of a patient, as `(kind, channel, recipient)`.
    pub async fn notices(&self, ins: &str) -> Vec<(String, String, String)> {
        self.query_rows(&format!(
            "SELECT kind, channel, recipient FROM notifications WHERE patient_ins = '{ins}' ORDER BY id"
        ))
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect()
    }

    /// Sends a message as `rpps` to `ins`; the thread's id.
    pub async fn send_message(&self, rpps: &str, ins: &str, body: &str, key: &str) -> Value {
        let sent = self
            .graphql(
                Some(&practitioner_token(rpps)),
                super::documents::SEND_MESSAGE,
                json!({ "ins": ins, "subject": "Bilan", "body": body, "key": key }),
            )
            .await;
        sent.ok()["sendMessage"]["thread"]["id"].clone()
    }

    /// The patient `ins` replies in `thread`.
    pub async fn reply(&self, ins: &str, thread: &Value, body: &str, key: &str) -> Gql {
        self.graphql(
            Some(&patient_token(ins)),
            super::documents::REPLY,
            json!({ "id": thread, "body": body, "key": key }),
        )
        .await
    }

    /// The whole history as the patient `ins` reads it, oldest first, withheld entries
    /// included (they have no kind).
    pub async fn history_entries(&self, ins: &str) -> Vec<Value> {
        let answer = self
            .graphql(
                Some(&patient_token(ins)),
                super::documents::HISTORY,
                json!({}),
            )
            .await;
        super::ledger::history_oldest_first(answer.ok())
    }

    /// Releases a held-back document as its author `rpps`.
    pub async fn release(&self, rpps: &str, ins: &str, document: &Value) -> Gql {
        self.graphql(
            Some(&practitioner_token(rpps)),
            super::documents::RELEASE,
            json!({ "ins": ins, "id": document }),
        )
        .await
    }

    /// Feeds a document held back until an announcement consultation, as `rpps`; its id.
    pub async fn feed_held_back(&self, rpps: &str, ins: &str, input: Value) -> Value {
        let fed = self
            .graphql(
                Some(&practitioner_token(rpps)),
                super::documents::FEED_HELD_BACK,
                json!({ "ins": ins, "input": input }),
            )
            .await;
        fed.ok()["feedDocument"]["id"].clone()
    }
}
