//! Checkpoints that grow with what changed (version 3): each logs the chains that moved since
//! the one before, one leaf each; proofs come from stored subtrees; and each way of tampering
//! with the log — a forged inclusion proof, a forked log, a changed subtree or leaf — is found,
//! by the server before it signs, by its audit, or offline. Checkpoints of version 2 signed
//! before stay verifiable beside them.

use espace_sante::ledger::checkpoint::{
    CheckpointSigner, Consistency, InclusionProof, SignedCheckpoint, head_leaf,
};
use espace_sante::ledger::keys::KeySet;
use espace_sante::ledger::{hex, merkle};
use serde_json::{Value, json};

use crate::checkpoints::{as_owner, audit, checkpoint, offline, patient_with_document, public_key};
use crate::helpers::{
    DOCTOR, LEDGER_KEY, TestApp, document_input, on_both_databases, patient_token,
};

const PROOF: &str = "{ me { ledgerProof { checkpoint { index version treeSize headsRoot } leafIndex sequence headHash path } } }";

/// A doctor feeds one more document to `person`: their chain moves.
async fn moves(app: &TestApp, person: &str, key: &str) {
    app.feed(DOCTOR, person, document_input(key, "Suite"))
        .await
        .ok();
}

async fn rows(app: &TestApp, table: &str) -> usize {
    app.count(table).await
}

async fn published(app: &TestApp) -> Value {
    app.get("/ledger/checkpoints").await.json().await.unwrap()
}

/// `verify-checkpoints` of `log` with the test server's first key.
fn verify_log(dir: &tempfile::TempDir, name: &str, log: &Value) -> (bool, String) {
    let path = dir.path().join(name);
    std::fs::write(&path, log.to_string()).unwrap();
    offline(&[
        "ledger",
        "verify-checkpoints",
        path.to_str().unwrap(),
        "--public-key",
        &public_key(),
    ])
}

async fn a_checkpoint_adds_one_leaf_per_chain_that_moved(app: TestApp) {
    let mut people = Vec::new();
    for n in 400..403 {
        people.push(patient_with_document(&app, n).await.0);
    }
    let first = checkpoint(&app).await;
    assert_eq!(first["treeSize"], 3, "{first}");
    assert_eq!(rows(&app, "ledger_log_leaves").await, 3);
    assert_eq!(rows(&app, "ledger_log_nodes").await, 3 + 1);

    // Nothing moved: the checkpoint stands, nothing is stored.
    assert_eq!(checkpoint(&app).await["index"], 1);
    assert_eq!(rows(&app, "ledger_log_leaves").await, 3);

    // One chain moved (however many events): exactly one leaf more.
    moves(&app, &people[1], "k-401-b").await;
    moves(&app, &people[1], "k-401-c").await;
    let second = checkpoint(&app).await;
    assert_eq!(second["index"], 2, "{second}");
    assert_eq!(second["treeSize"], 4, "{second}");
    assert_eq!(rows(&app, "ledger_log_leaves").await, 4);
    assert_eq!(rows(&app, "ledger_log_nodes").await, 4 + 2 + 1);
    assert_eq!(rows(&app, "ledger_checkpoint_heads").await, 0);
    assert_eq!(rows(&app, "ledger_moves").await, 0, "the notes are taken");

    // The patient's proof is of their latest leaf, in the latest checkpoint.
    let answer = app
        .graphql(Some(&patient_token(&people[1])), PROOF, json!({}))
        .await;
    let p = &answer.ok()["me"]["ledgerProof"];
    assert_eq!(p["leafIndex"], 3, "{p}");
    assert_eq!(p["checkpoint"]["version"], 3);
    let proof: InclusionProof = serde_json::from_value(p.clone()).unwrap();
    let log = published(&app).await;
    let latest: SignedCheckpoint = serde_json::from_value(log["checkpoints"][1].clone()).unwrap();
    assert!(proof.verify(&people[1], &latest));
    assert!(!proof.verify(&people[0], &latest), "another chain's proof");

    // The consistency proof between the two, from stored subtrees, verifies.
    let pair: Consistency = app
        .get("/ledger/checkpoints/consistency?from=1&to=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pair.sealed, None);
    pair.verify(&KeySet::anchored(&public_key())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = verify_log(&dir, "log.json", &log);
    assert!(ok, "{out}");
}

async fn a_forged_inclusion_proof_or_a_forked_log_of_heads_is_refused_offline(app: TestApp) {
    let (person, _) = patient_with_document(&app, 410).await;
    patient_with_document(&app, 411).await;
    checkpoint(&app).await;
    moves(&app, &person, "k-410-b").await;
    checkpoint(&app).await;
    let dir = tempfile::tempdir().unwrap();
    let log = published(&app).await;
    assert!(verify_log(&dir, "log.json", &log).0);

    // The operator signs a second checkpoint over another log of heads (one leaf changed):
    // signed by the right key, it does not extend the first.
    let signer = CheckpointSigner::from_hex(LEDGER_KEY).unwrap();
    let mut forked: SignedCheckpoint =
        serde_json::from_value(log["checkpoints"][1].clone()).unwrap();
    let leaves: Vec<merkle::Hash> = (0..3)
        .map(|i| head_leaf(&person, i + 1, &"ab".repeat(32)))
        .collect();
    forked.heads_root = hex(&merkle::root(&leaves));
    let mut other = log.clone();
    other["checkpoints"][1] = json!(signer.sign(forked));
    let (ok, out) = verify_log(&dir, "forked.json", &other);
    assert!(
        !ok && out.contains("checkpoint 2: its log of heads does not extend checkpoint 1's"),
        "{out}"
    );
    // A consistency proof that is not the log's.
    let mut unproven = log.clone();
    unproven["checkpoints"][1]["consistency"][0] = json!("00".repeat(32));
    let (ok, out) = verify_log(&dir, "unproven.json", &unproven);
    assert!(!ok && out.contains("the log forked"), "{out}");

    // A patient's export with a forged inclusion path.
    let text = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { ledgerExport } }",
            json!({}),
        )
        .await
        .ok()["me"]["ledgerExport"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut export: Value = serde_json::from_str(&text).unwrap();
    let path = dir.path().join("ledger.json");
    std::fs::write(&path, export.to_string()).unwrap();
    let key = public_key();
    let verify = |path: &std::path::Path| {
        offline(&[
            "ledger",
            "verify-export",
            path.to_str().unwrap(),
            "--public-key",
            &key,
        ])
    };
    let (ok, out) = verify(&path);
    assert!(ok && out.contains("anchored"), "{out}");
    export["inclusion"]["path"][0] = json!("11".repeat(32));
    std::fs::write(&path, export.to_string()).unwrap();
    let (ok, out) = verify(&path);
    assert!(
        !ok && out.contains("does not lead to checkpoint 2's root"),
        "{out}"
    );
}

async fn a_changed_subtree_or_leaf_is_found_and_never_signed_over(app: TestApp) {
    for n in 420..423 {
        patient_with_document(&app, n).await;
    }
    checkpoint(&app).await;
    assert_eq!(audit(&app, None).await["verified"], true);
    let at_2 = app
        .query_rows("SELECT patient_ins FROM ledger_log_leaves WHERE leaf_index = 2")
        .await[0][0]
        .clone();
    // Leaves 0 and 1 make node (1, 0): on the inclusion path of leaf 2, and on the log's
    // frontier, from which the next checkpoint's root is computed.
    as_owner(
        &app,
        &[
            format!(
                "UPDATE ledger_log_nodes SET hash = '{}' WHERE level = 1 AND idx = 0",
                "cd".repeat(32)
            ),
            "UPDATE ledger_log_leaves SET seq = seq + 1 WHERE leaf_index = 1".to_owned(),
        ],
    )
    .await;
    let report = audit(&app, None).await;
    let text = report.to_string();
    assert_eq!(report["verified"], false, "{report}");
    for expected in [
        "node (level 1, index 0) is not the hash of its two children",
        "leaf 1 (",
        "checkpoint 1: its stored heads are not those it signed",
    ] {
        assert!(text.contains(expected), "{expected} not in {report}");
    }

    // The server does not sign over it.
    moves(&app, &at_2, "k-422-b").await;
    let refused = app
        .graphql(
            Some(&crate::helpers::operator_token()),
            "mutation { createLedgerCheckpoint { index } }",
            json!({}),
        )
        .await;
    assert_eq!(refused.code(), "CONFLICT");
    assert!(
        refused.error()["message"]
            .as_str()
            .unwrap()
            .contains("does not give the root checkpoint 1 signed"),
        "{:?}",
        refused.error()
    );

    // And the inclusion proof made from the changed node does not verify.
    let answer = app
        .graphql(Some(&patient_token(&at_2)), PROOF, json!({}))
        .await;
    let p = &answer.ok()["me"]["ledgerProof"];
    let proof: InclusionProof = serde_json::from_value(p.clone()).unwrap();
    let signed: SignedCheckpoint =
        serde_json::from_value(published(&app).await["checkpoints"][0].clone()).unwrap();
    assert!(!proof.verify(&at_2, &signed), "{p}");
}

/// What a build of version 2 signed over the chains now: checkpoint 1, its heads beside it.
async fn sign_version_2(app: &TestApp) -> SignedCheckpoint {
    use entity::values::CheckpointVersion;
    use sea_orm::{ActiveValue::Set, EntityTrait};
    let db = app.db().await;
    let heads = espace_sante::ledger::checkpoint::current_heads(&db)
        .await
        .unwrap();
    let leaves: Vec<merkle::Hash> = heads
        .iter()
        .map(|h| head_leaf(&h.patient_ins, h.seq, &h.hash))
        .collect();
    let created_at = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut unsigned = SignedCheckpoint {
        version: CheckpointVersion::V2,
        index: 1,
        time: espace_sante::ledger::canonical_time(created_at),
        tree_size: heads.len() as i64,
        heads_root: hex(&merkle::root(&leaves)),
        log_root: String::new(),
        signature: String::new(),
        public_key: public_key(),
        key_id: String::new(),
        next_public_key: None,
        consistency: Vec::new(),
    };
    unsigned.log_root = hex(&merkle::root(&[unsigned.log_leaf().unwrap()]));
    let signed = CheckpointSigner::from_hex(LEDGER_KEY)
        .unwrap()
        .sign(unsigned);
    entity::ledger_checkpoint::Entity::insert(entity::ledger_checkpoint::ActiveModel {
        idx: Set(1),
        created_at: Set(created_at),
        tree_size: Set(signed.tree_size),
        heads_root: Set(signed.heads_root.clone()),
        log_root: Set(signed.log_root.clone()),
        signature: Set(signed.signature.clone()),
        public_key: Set(signed.public_key.clone()),
        version: Set(CheckpointVersion::V2),
        next_public_key: Set(None),
        consistency: Set(None),
    })
    .exec_without_returning(&db)
    .await
    .unwrap();
    for (i, h) in heads.iter().enumerate() {
        entity::ledger_checkpoint_head::Entity::insert(
            entity::ledger_checkpoint_head::ActiveModel {
                checkpoint_idx: Set(1),
                leaf_index: Set(i as i64),
                patient_ins: Set(entity::values::Ins::parse(&h.patient_ins).unwrap()),
                seq: Set(h.seq),
                hash: Set(h.hash.clone()),
            },
        )
        .exec_without_returning(&db)
        .await
        .unwrap();
    }
    signed
}

async fn checkpoints_of_version_2_stay_verifiable_and_version_3_seals_them(app: TestApp) {
    let (person, _) = patient_with_document(&app, 430).await;
    patient_with_document(&app, 431).await;
    let old = sign_version_2(&app).await;
    assert_eq!(audit(&app, None).await["verified"], true);
    // Nothing moved since: the checkpoint of version 2 stands.
    assert_eq!(checkpoint(&app).await["index"], 1);

    moves(&app, &person, "k-430-b").await;
    let first = checkpoint(&app).await;
    assert_eq!(first["index"], 2, "{first}");
    assert_eq!(
        first["logRoot"],
        old.log_root.as_str(),
        "it seals the old log"
    );
    assert_eq!(first["treeSize"], 2, "every chain's head, once");
    assert_eq!(audit(&app, None).await["verified"], true);

    let log = published(&app).await;
    let versions: Vec<&Value> = log["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["version"])
        .collect();
    assert_eq!(versions, [2, 3]);
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = verify_log(&dir, "log.json", &log);
    assert!(ok, "{out}");
    // A copy kept before the change of version still fits in the log after it.
    let known = dir.path().join("known.json");
    std::fs::write(&known, json!(old).to_string()).unwrap();
    let path = dir.path().join("log.json");
    let (ok, out) = offline(&[
        "ledger",
        "verify-checkpoints",
        path.to_str().unwrap(),
        "--public-key",
        &public_key(),
        "--known",
        known.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");

    // From the old log to the new one: through the checkpoint the new one seals.
    let pair: Consistency = app
        .get("/ledger/checkpoints/consistency?from=1&to=2")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pair.sealed.as_ref().map(|c| c.index), Some(1));
    let keys = KeySet::anchored(&public_key());
    pair.verify(&keys).unwrap();
    let mut unsealed = pair.clone();
    unsealed.to.log_root = "ef".repeat(32);
    unsealed.to = CheckpointSigner::from_hex(LEDGER_KEY)
        .unwrap()
        .sign(unsealed.to);
    assert!(
        unsealed
            .verify(&keys)
            .unwrap_err()
            .contains("does not seal")
    );

    // A version-3 checkpoint that seals another old log is refused offline.
    let mut other = log.clone();
    let mut resealed: SignedCheckpoint =
        serde_json::from_value(log["checkpoints"][1].clone()).unwrap();
    resealed.log_root = "ef".repeat(32);
    other["checkpoints"][1] = json!(
        CheckpointSigner::from_hex(LEDGER_KEY)
            .unwrap()
            .sign(resealed)
    );
    let (ok, out) = verify_log(&dir, "resealed.json", &other);
    assert!(!ok && out.contains("checkpoint 2: seals log root"), "{out}");
}

on_both_databases!(
    a_checkpoint_adds_one_leaf_per_chain_that_moved,
    a_forged_inclusion_proof_or_a_forked_log_of_heads_is_refused_offline,
    a_changed_subtree_or_leaf_is_found_and_never_signed_over,
    checkpoints_of_version_2_stay_verifiable_and_version_3_seals_them,
);
