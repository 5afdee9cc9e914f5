//! Rotating the key that signs the checkpoints: `espace-sante keys rotate` appends a checkpoint
//! signed by the current key that introduces the next; from then on only the new key signs,
//! a server on the retired key signs nothing, and a verifier holding only the first key
//! follows the published key set across the rotation — and refuses a checkpoint signed outside
//! its key's period, or a rotation that no checkpoint of the key before vouches for.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use espace_sante::config::Secret;
use espace_sante::ledger::checkpoint::{CheckpointSigner, SignedCheckpoint};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, DOCTOR, LEDGER_KEY, TestApp, document_input, ins, on_both_backends, operator_token,
    patient_token,
};

const CHECKPOINT: &str = "mutation { createLedgerCheckpoint { index publicKey keyId } }";
const EXPORT: &str = "{ me { ledgerExport } }";

/// A person no server of this test has met: the servers of a test share one database, and
/// each counts its own people from 0.
fn someone() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(900);
    ins(NEXT.fetch_add(1, Ordering::Relaxed))
}

fn first_key() -> CheckpointSigner {
    CheckpointSigner::from_hex(LEDGER_KEY).unwrap()
}

/// Runs the binary with the database and the current signing key of `key`, as an operator.
fn espace_sante(database_url: &str, key: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_espace-sante"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("LEDGER_SIGNING_KEY", key)
        .env_remove("LEDGER_SIGNING_KEY_FILE")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the binary offline: no database.
fn offline(args: &[&str]) -> (bool, String) {
    crate::helpers::run_binary(args, None)
}

/// Another server on `app`'s database, with settings changed by `configure`.
async fn beside(
    app: &TestApp,
    configure: impl FnOnce(&mut espace_sante::config::Settings),
) -> Result<TestApp, espace_sante::startup::StartupError> {
    let url = app.database_url.clone();
    let mut other = TestApp::try_spawn_with(app.backend, |settings| {
        settings.database.database_url = url.clone();
        configure(settings);
    })
    .await?;
    // Its own (fresh, unused) database is dropped with it; the tests read the shared one.
    other.database_url = url;
    Ok(other)
}

async fn checkpoint(app: &TestApp) -> Value {
    app.graphql(Some(&operator_token()), CHECKPOINT, json!({}))
        .await
        .ok()["createLedgerCheckpoint"]
        .clone()
}

/// Someone moves a chain (a new patient with a document), then a checkpoint is signed.
async fn moved_and_checkpointed(app: &TestApp) -> Value {
    let person = someone();
    app.activated_profile(&person, None).await;
    app.feed(DOCTOR, &person, document_input(&person, "Compte rendu"))
        .await
        .ok();
    checkpoint(app).await
}

/// A log rotated once, and the servers on each side of it.
struct Rotated {
    /// The server started before the rotation: still on the first key.
    before: TestApp,
    /// A server on the same database, started after it with the new key.
    after: TestApp,
    next: CheckpointSigner,
    /// The checkpoint that introduced `next`.
    introduced_at: i64,
    dir: tempfile::TempDir,
}

impl Rotated {
    /// Two checkpoints signed by the first key, `keys rotate` (checkpoint 3 introduces the new
    /// key), then two signed by the new key on a server started with it.
    async fn on(backend: Backend) -> Self {
        let before = TestApp::spawn_with(backend, |settings| {
            settings.telemetry.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
        })
        .await;
        for expected in [1, 2] {
            assert_eq!(moved_and_checkpointed(&before).await["index"], expected);
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("next.key");
        let (ok, stdout, stderr) = espace_sante(
            &before.database_url,
            LEDGER_KEY,
            &["keys", "rotate", "--out", out.to_str().unwrap()],
        );
        assert!(ok, "{stdout}{stderr}");
        let seed = std::fs::read_to_string(&out).unwrap();
        let next = CheckpointSigner::from_hex(&seed).unwrap();
        assert_eq!(stdout.lines().next(), Some(next.public_key().as_str()));
        assert!(
            !stdout.contains(seed.trim()),
            "the private key is not printed"
        );
        assert!(
            stderr.contains("checkpoint 3") && stderr.contains(&first_key().key_id()),
            "{stderr}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "readable by its owner only");
        }
        let after = beside(&before, |settings| {
            settings.checkpoints.ledger_signing_key = Some(Secret(next.seed_hex()));
        })
        .await
        .unwrap();
        for expected in [4, 5] {
            let signed = moved_and_checkpointed(&after).await;
            assert_eq!(signed["index"], expected);
            assert_eq!(signed["keyId"], next.key_id().as_str());
        }
        Self {
            before,
            after,
            next,
            introduced_at: 3,
            dir,
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    async fn published(&self) -> Value {
        let response = self.after.get("/ledger/checkpoints").await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `verify-checkpoints` of `log`, trusting the first key alone.
    fn verify_log(&self, name: &str, log: &Value) -> (bool, String) {
        let path = self.path(name);
        std::fs::write(&path, log.to_string()).unwrap();
        offline(&[
            "ledger",
            "verify-checkpoints",
            path.to_str().unwrap(),
            "--public-key",
            &first_key().public_key(),
        ])
    }

    /// `verify-export` of `export`, trusting the first key alone.
    fn verify_export(&self, name: &str, export: &Value) -> (bool, String) {
        let path = self.path(name);
        std::fs::write(&path, export.to_string()).unwrap();
        offline(&[
            "ledger",
            "verify-export",
            path.to_str().unwrap(),
            "--public-key",
            &first_key().public_key(),
        ])
    }

    /// A patient's export from the server on the new key.
    async fn export(&self) -> Value {
        let person = someone();
        self.after.activated_profile(&person, None).await;
        checkpoint(&self.after).await;
        let text = self
            .after
            .graphql(Some(&patient_token(&person)), EXPORT, json!({}))
            .await
            .ok()["me"]["ledgerExport"]
            .as_str()
            .unwrap()
            .to_owned();
        serde_json::from_str(&text).unwrap()
    }
}

fn checkpoints_of(log: &Value) -> Vec<SignedCheckpoint> {
    serde_json::from_value(log["checkpoints"].clone()).unwrap()
}

/// `checkpoints` each re-signed by `signer(index)`: what someone holding those keys could
/// publish. (Checkpoints of version 3 sign no log of checkpoints: their logs of heads, and the
/// consistency proofs between them, stay as they were.)
fn relogged(
    mut checkpoints: Vec<SignedCheckpoint>,
    signer: impl Fn(i64) -> CheckpointSigner,
) -> Vec<SignedCheckpoint> {
    for c in &mut checkpoints {
        *c = signer(c.index).sign(c.clone());
    }
    checkpoints
}

async fn a_rotation_is_published_and_followed_offline_from_the_first_key_alone(backend: Backend) {
    let rotated = Rotated::on(backend).await;
    let (first, next) = (first_key(), &rotated.next);
    let log = rotated.published().await;
    assert_eq!(
        log["publicKey"],
        next.public_key().as_str(),
        "the current key"
    );
    let keys = log["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{log:#}");
    let checkpoints = log["checkpoints"].as_array().unwrap();
    let introduction = &checkpoints[2];
    assert_eq!(introduction["nextPublicKey"], next.public_key().as_str());
    assert_eq!(introduction["keyId"], first.key_id().as_str());
    assert_eq!(introduction["version"], 3);
    assert_eq!(
        keys[0],
        json!({
            "keyId": first.key_id(),
            "publicKey": first.public_key(),
            "fromIndex": 1,
            "fromTime": null,
            "untilIndex": rotated.introduced_at,
            "untilTime": introduction["time"],
        })
    );
    assert_eq!(keys[1]["keyId"], next.key_id().as_str());
    assert_eq!(keys[1]["fromIndex"], rotated.introduced_at + 1);
    assert_eq!(keys[1]["fromTime"], introduction["time"]);
    assert_eq!(keys[1]["untilIndex"], Value::Null);
    assert_eq!(keys[1]["introducedBy"], *introduction);
    // The server still on the first key publishes the same key set.
    let theirs: Value = rotated
        .before
        .get("/ledger/checkpoints")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["keys"], log["keys"]);
    assert_eq!(theirs["publicKey"], log["publicKey"]);

    let (ok, out) = rotated.verify_log("log.json", &log);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("key {}: checkpoints 1 to 3", first.key_id()))
            && out.contains(&format!("key {}: checkpoints 4 on", next.key_id())),
        "{out}"
    );
    // The new key is no trust anchor: the log does not start with it.
    let path = rotated.path("log.json");
    let (ok, out) = offline(&[
        "ledger",
        "verify-checkpoints",
        path.to_str().unwrap(),
        "--public-key",
        &next.public_key(),
    ]);
    assert!(!ok, "{out}");

    // A copy kept before the rotation still fits in the log after it.
    let known = rotated.path("known.json");
    std::fs::write(&known, checkpoints[1].to_string()).unwrap();
    let (ok, out) = offline(&[
        "ledger",
        "verify-checkpoints",
        path.to_str().unwrap(),
        "--public-key",
        &first.public_key(),
        "--known",
        known.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");

    // A patient's export, anchored in a checkpoint of the new key, carries the key set.
    let export = rotated.export().await;
    assert_eq!(
        export["checkpoint"]["publicKey"],
        next.public_key().as_str()
    );
    assert_eq!(export["keys"], log["keys"]);
    let (ok, out) = rotated.verify_export("ledger.json", &export);
    assert!(ok && out.contains("anchored"), "{out}");

    // And `ledger verify` follows it from the first key too.
    let (ok, stdout, stderr) = espace_sante(
        &rotated.before.database_url,
        LEDGER_KEY,
        &["ledger", "verify", "--public-key", &first.public_key()],
    );
    assert!(
        ok && stdout.contains("checkpoints: verified"),
        "{stdout}{stderr}"
    );
}

async fn a_checkpoint_signed_by_the_retired_key_after_the_rotation_is_refused(backend: Backend) {
    let rotated = Rotated::on(backend).await;
    let first = first_key();
    let log = rotated.published().await;
    // The first key leaked: its holder signs a sixth checkpoint, well formed in every other way.
    let mut checkpoints = checkpoints_of(&log);
    let mut forged = checkpoints[4].clone();
    forged.index = 6;
    forged.next_public_key = None;
    checkpoints.push(forged);
    let checkpoints = relogged(checkpoints, |index| match index {
        1..=3 | 6 => first_key(),
        _ => rotated.next.clone(),
    });
    let mut extended = log.clone();
    extended["checkpoints"] = json!(checkpoints);
    let (ok, out) = rotated.verify_log("extended.json", &extended);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "checkpoint 6: signed by key {} outside its validity period (checkpoints 1 to 3",
            first.key_id()
        )),
        "{out}"
    );

    // The same, anchoring a patient's export.
    let mut export = rotated.export().await;
    let mut resigned: SignedCheckpoint =
        serde_json::from_value(export["checkpoint"].clone()).unwrap();
    resigned.public_key = first.public_key();
    let resigned = first.sign(resigned);
    let index = resigned.index;
    export["checkpoint"] = json!(resigned);
    let (ok, out) = rotated.verify_export("resigned.json", &export);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "checkpoint {index}: signed by key {} outside its validity period",
            first.key_id()
        )),
        "{out}"
    );
}

async fn a_server_still_on_the_retired_key_signs_nothing_after_the_rotation(backend: Backend) {
    let rotated = Rotated::on(backend).await;
    let first = first_key();
    let server = &rotated.before;
    let person = someone();
    server.activated_profile(&person, None).await;
    let refused = server
        .graphql(Some(&operator_token()), CHECKPOINT, json!({}))
        .await;
    assert_eq!(refused.code(), "CONFLICT");
    let message = refused.error()["message"].as_str().unwrap().to_owned();
    assert!(
        message.contains(&format!(
            "the signing key {} was retired at checkpoint 3",
            first.key_id()
        )) && message.contains(&rotated.next.key_id()),
        "{message}"
    );
    assert_eq!(
        server.count("ledger_checkpoints").await,
        5,
        "nothing signed"
    );
    let metrics = reqwest::get(format!(
        "{}/metrics",
        server.metrics_address.as_ref().unwrap()
    ))
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("ledger_checkpoints_refused_total{reason=\"retired_key\"} ")),
        "{metrics}"
    );

    // Nor does a server started on it, nor one started on a key no rotation introduced.
    let stranger = CheckpointSigner::generate();
    for (key, why) in [
        (first.seed_hex(), "was retired at checkpoint 3"),
        (stranger.seed_hex(), "is not in the key set"),
    ] {
        let restarted = beside(server, |settings| {
            settings.checkpoints.ledger_signing_key = Some(Secret(key));
        })
        .await
        .unwrap();
        let refused = restarted
            .graphql(Some(&operator_token()), CHECKPOINT, json!({}))
            .await;
        assert_eq!(refused.code(), "CONFLICT");
        let message = refused.error()["message"].as_str().unwrap();
        assert!(message.contains(why), "{message}");
    }
    assert_eq!(
        server.count("ledger_checkpoints").await,
        5,
        "nothing signed"
    );

    // `keys rotate` with the retired key: refused, and no key file is written.
    let out = rotated.path("again.key");
    let (ok, stdout, stderr) = espace_sante(
        &server.database_url,
        LEDGER_KEY,
        &["keys", "rotate", "--out", out.to_str().unwrap()],
    );
    assert!(!ok && stderr.contains("was retired"), "{stdout}{stderr}");
    assert!(!out.exists());
    // With the current key, into a file that exists: refused, the file kept, nothing signed.
    let existing = rotated.path("next.key");
    let before = std::fs::read_to_string(&existing).unwrap();
    let (ok, stdout, stderr) = espace_sante(
        &server.database_url,
        &rotated.next.seed_hex(),
        &["keys", "rotate", "--out", existing.to_str().unwrap()],
    );
    assert!(!ok, "{stdout}{stderr}");
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), before);
    assert_eq!(
        server.count("ledger_checkpoints").await,
        5,
        "nothing signed"
    );
}

async fn a_rotation_without_an_introduction_signed_by_the_key_before_is_refused(backend: Backend) {
    let rotated = Rotated::on(backend).await;
    let (first, next) = (first_key(), rotated.next.clone());
    let stranger = CheckpointSigner::generate();
    let log = rotated.published().await;

    // Missing: the operator switched keys without an introducing checkpoint (checkpoint 3 is a
    // plain one), and signed everything again with the keys it holds.
    let mut checkpoints = checkpoints_of(&log);
    checkpoints[2].next_public_key = None;
    let unintroduced = relogged(checkpoints, |index| {
        if index <= 3 {
            first_key()
        } else {
            next.clone()
        }
    });
    let mut missing = log.clone();
    missing["checkpoints"] = json!(unintroduced);
    let (ok, out) = rotated.verify_log("missing.json", &missing);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "checkpoint 4: not signed by key {} (checkpoints 1 on), the key of the key set for \
             it, but by key {}, which the key set does not hold",
            first.key_id(),
            next.key_id()
        )),
        "{out}"
    );

    // Signed by another key than the one before: the introduction vouches for nothing.
    let forged = relogged(checkpoints_of(&log), |index| match index {
        1 | 2 => first_key(),
        3 => stranger.clone(),
        _ => next.clone(),
    });
    let mut wrong = log.clone();
    wrong["checkpoints"] = json!(forged);
    let (ok, out) = rotated.verify_log("wrong.json", &wrong);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "checkpoint 3: not signed by key {} (checkpoints 1 on), the key of the key set for \
             it, but by key {}",
            first.key_id(),
            stranger.key_id()
        )),
        "{out}"
    );

    // The same two, in the key set an export carries.
    let export = rotated.export().await;
    let mut without = export.clone();
    without["keys"][1]
        .as_object_mut()
        .unwrap()
        .remove("introducedBy");
    let (ok, out) = rotated.verify_export("without.json", &without);
    assert!(
        !ok && out.contains(&format!("key {}: no introducing checkpoint", next.key_id())),
        "{out}"
    );
    let mut resigned = export.clone();
    let introduction: SignedCheckpoint =
        serde_json::from_value(export["keys"][1]["introducedBy"].clone()).unwrap();
    resigned["keys"][1]["introducedBy"] = json!(stranger.sign(introduction));
    let (ok, out) = rotated.verify_export("resigned.json", &resigned);
    assert!(
        !ok && out.contains(&format!("but by key {}", stranger.key_id())),
        "{out}"
    );
    // No key set at all: the checkpoint of the new key leads nowhere from the first key.
    let mut bare = export;
    bare.as_object_mut().unwrap().remove("keys");
    let (ok, out) = rotated.verify_export("bare.json", &bare);
    assert!(!ok && out.contains("not signed by"), "{out}");
}

on_both_backends!(
    a_rotation_is_published_and_followed_offline_from_the_first_key_alone,
    a_checkpoint_signed_by_the_retired_key_after_the_rotation_is_refused,
    a_server_still_on_the_retired_key_signs_nothing_after_the_rotation,
    a_rotation_without_an_introduction_signed_by_the_key_before_is_refused,
);

/// Production refuses to start with a key that would never sign (retired by a rotation, or
/// never introduced), and starts with the current one. On SQLite: a production start on
/// PostgreSQL needs the restricted role, which a second server on the test's database does
/// not have; the rule is the same code on both.
#[tokio::test]
async fn production_refuses_to_start_with_a_retired_or_unknown_signing_key() {
    use espace_sante::config::AppEnv;
    let rotated = Rotated::on(Backend::Sqlite).await;
    let start = |key: String| {
        beside(&rotated.before, move |settings| {
            settings.app_env = AppEnv::Production;
            settings.checkpoints.ledger_signing_key = Some(Secret(key));
        })
    };
    for (key, why) in [
        (first_key().seed_hex(), "was retired at checkpoint 3"),
        (
            CheckpointSigner::generate().seed_hex(),
            "is not in the key set",
        ),
    ] {
        match start(key).await {
            Ok(_) => panic!("the server started"),
            Err(err) => {
                let err = err.to_string();
                assert!(
                    err.contains("APP_ENV=production") && err.contains(why),
                    "{err}"
                );
            }
        }
    }
    let current = start(rotated.next.seed_hex()).await.unwrap();
    let signed = moved_and_checkpointed(&current).await;
    assert_eq!(signed["index"], 6);
}
