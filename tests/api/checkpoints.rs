//! A ledger anyone can verify: content bound into the chain and checked by the deep
//! verification, projections re-derived from the events, signed checkpoints that catch a
//! truncated or rewritten chain, a log of checkpoints that cannot fork unseen, and the offline
//! verifier of a patient's export. Each test attacks as someone with the database's owner
//! rights would.

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{
    Backend, DOCTOR, LEDGER_KEY, NURSE, PDF, TestApp, document_input, ins, on_both_databases,
    operator_token, patient_token, practitioner_token, readme_hash_exported,
};

const AUDIT: &str = "query($ins: INS) { ledgerAudit(ins: $ins) { verified chains divergences { ins sequence problem } checkpointProblems brokenChains { ins sequence problem } } }";
const CHECKPOINT: &str =
    "mutation { createLedgerCheckpoint { index treeSize headsRoot logRoot signature publicKey } }";
const EXPORT: &str = "{ me { ledgerExport } }";

/// The public key of the test server's signing key.
pub(crate) fn public_key() -> String {
    espace_sante::ledger::checkpoint::CheckpointSigner::from_hex(LEDGER_KEY)
        .unwrap()
        .public_key()
}

/// Runs SQL as the tables' owner with the append-only guards out of the way, as an attacker
/// with the owner's rights (or a superuser) could.
pub(crate) async fn as_owner(app: &TestApp, statements: &[String]) {
    let db = app.db().await;
    let txn = db.begin().await.unwrap();
    let tables = [
        "ledger_events",
        "ledger_checkpoints",
        "ledger_checkpoint_heads",
        "ledger_log_leaves",
        "ledger_log_nodes",
    ];
    match app.backend {
        Backend::Postgres => {
            for table in tables {
                txn.execute_unprepared(&format!("ALTER TABLE {table} DISABLE TRIGGER USER"))
                    .await
                    .unwrap();
            }
        }
        Backend::Sqlite => {
            for trigger in [
                "ledger_events_no_update",
                "ledger_events_no_delete",
                "ledger_events_no_replace",
                "ledger_checkpoints_no_update",
                "ledger_checkpoints_no_delete",
                "ledger_checkpoints_no_replace",
                "ledger_checkpoint_heads_no_update",
                "ledger_checkpoint_heads_no_delete",
                "ledger_checkpoint_heads_no_replace",
                "ledger_log_leaves_no_update",
                "ledger_log_leaves_no_delete",
                "ledger_log_leaves_no_replace",
                "ledger_log_nodes_no_update",
                "ledger_log_nodes_no_delete",
                "ledger_log_nodes_no_replace",
            ] {
                txn.execute_unprepared(&format!("DROP TRIGGER IF EXISTS {trigger}"))
                    .await
                    .unwrap();
            }
        }
    }
    for statement in statements {
        txn.execute_unprepared(statement).await.unwrap();
    }
    if app.backend == Backend::Postgres {
        for (table, trigger) in [
            ("ledger_events", "ledger_events_no_update_or_delete"),
            ("ledger_events", "ledger_events_no_truncate"),
            (
                "ledger_checkpoints",
                "ledger_checkpoints_no_update_or_delete",
            ),
            ("ledger_checkpoints", "ledger_checkpoints_no_truncate"),
            (
                "ledger_checkpoint_heads",
                "ledger_checkpoint_heads_no_update_or_delete",
            ),
            (
                "ledger_checkpoint_heads",
                "ledger_checkpoint_heads_no_truncate",
            ),
            ("ledger_log_leaves", "ledger_log_leaves_no_update_or_delete"),
            ("ledger_log_leaves", "ledger_log_leaves_no_truncate"),
            ("ledger_log_nodes", "ledger_log_nodes_no_update_or_delete"),
            ("ledger_log_nodes", "ledger_log_nodes_no_truncate"),
            // Not a guard, but off with the others: the note of each append.
            ("ledger_events", "ledger_events_note_move"),
        ] {
            txn.execute_unprepared(&format!(
                "ALTER TABLE {table} ENABLE ALWAYS TRIGGER {trigger}"
            ))
            .await
            .unwrap();
        }
    }
    txn.commit().await.unwrap();
}

/// An activated patient with a document fed by a doctor who also read the record.
pub(crate) async fn patient_with_document(app: &TestApp, n: u32) -> (String, i64) {
    let person = ins(n);
    app.activated_profile(&person, Some("p@example.org")).await;
    let fed = app
        .feed(
            DOCTOR,
            &person,
            document_input(&format!("k-{n}"), "Compte rendu"),
        )
        .await;
    let id: i64 = fed.ok()["feedDocument"]["id"]
        .as_str()
        .map(|s| s.parse().unwrap())
        .or_else(|| fed.ok()["feedDocument"]["id"].as_i64())
        .unwrap();
    (person, id)
}

pub(crate) async fn audit(app: &TestApp, person: Option<&str>) -> Value {
    app.graphql(Some(&operator_token()), AUDIT, json!({ "ins": person }))
        .await
        .ok()["ledgerAudit"]
        .clone()
}

pub(crate) async fn checkpoint(app: &TestApp) -> Value {
    app.graphql(Some(&operator_token()), CHECKPOINT, json!({}))
        .await
        .ok()["createLedgerCheckpoint"]
        .clone()
}

fn problems(report: &Value) -> String {
    report.to_string()
}

async fn deep_verification_finds_a_rewritten_document_content(app: TestApp) {
    let (person, doc) = patient_with_document(&app, 300).await;
    let clean = audit(&app, Some(&person)).await;
    assert_eq!(clean["verified"], true, "{clean}");

    // Rewrite the content in the store and, with it, the SHA-256 and size the documents table
    // keeps: bucket and database both in hand.
    let forged = b"%PDF-1.4 forged".to_vec();
    let sha = format!("{:x}", Sha256::digest(&forged));
    app.overwrite_content(&sha, &forged);
    as_owner(
        &app,
        &[format!(
            "UPDATE documents SET sha256 = '{sha}', size_bytes = {} WHERE id = {doc}",
            forged.len()
        )],
    )
    .await;
    let report = audit(&app, Some(&person)).await;
    assert_eq!(report["verified"], false, "{report}");
    let divergences = report["divergences"].as_array().unwrap();
    let fed_at = app
        .query_rows(&format!(
            "SELECT seq FROM ledger_events WHERE patient_ins = '{person}' AND kind = 'DOCUMENT_FED'"
        ))
        .await[0][0]
        .parse::<i64>()
        .unwrap();
    assert!(
        divergences.iter().any(|d| d["ins"] == person.as_str()
            && d["sequence"] == fed_at
            && d["problem"]
                .as_str()
                .unwrap()
                .contains(&format!("document {doc}"))),
        "{report}"
    );
    // The chain itself still verifies: only the binding catches it.
    assert!(report["brokenChains"].as_array().unwrap().is_empty());
}

async fn deep_verification_finds_a_silently_deleted_block(app: TestApp) {
    let person = ins(301);
    app.activated_profile(&person, None).await;
    let blocked = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation($r: RPPS!) { blockPractitioner(rpps: $r) }",
            json!({ "r": DOCTOR }),
        )
        .await;
    assert_eq!(blocked.ok()["blockPractitioner"], true);
    assert_eq!(audit(&app, Some(&person)).await["verified"], true);

    as_owner(
        &app,
        &[format!(
            "DELETE FROM practitioner_blocks WHERE patient_ins = '{person}'"
        )],
    )
    .await;
    let report = audit(&app, Some(&person)).await;
    assert_eq!(report["verified"], false, "{report}");
    assert!(
        problems(&report).contains(&format!("block of practitioner {DOCTOR} is missing")),
        "{report}"
    );
}

async fn truncating_a_chain_after_a_checkpoint_is_found(app: TestApp) {
    let (person, _) = patient_with_document(&app, 302).await;
    let signed = checkpoint(&app).await;
    assert_eq!(signed["index"], 1, "{signed}");
    let last: i64 = app
        .query_rows(&format!(
            "SELECT MAX(seq) FROM ledger_events WHERE patient_ins = '{person}'"
        ))
        .await[0][0]
        .parse()
        .unwrap();
    as_owner(
        &app,
        &[
            // Its notices go too, as they name the event.
            format!(
                "DELETE FROM notifications WHERE ledger_event_id IN (SELECT id FROM ledger_events WHERE patient_ins = '{person}' AND seq = {last})"
            ),
            format!("DELETE FROM ledger_events WHERE patient_ins = '{person}' AND seq = {last}"),
        ],
    )
    .await;
    // What is left is a valid chain: only the checkpoint knows it was longer.
    let report = audit(&app, None).await;
    assert!(
        report["brokenChains"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert_eq!(report["verified"], false, "{report}");
    assert!(
        problems(&report).contains(&format!(
            "{person}: sequence {last} is gone (the chain now ends at {})",
            last - 1
        )),
        "{report}"
    );
    // The log still holds the head it signed: a checkpoint now logs nothing of that chain.
    let unchanged = checkpoint(&app).await;
    assert_eq!(unchanged["index"], 1, "{unchanged}");
    // And once the chain moves on from its cut end, the server refuses to sign over it.
    app.feed(DOCTOR, &person, document_input("k-302-after", "Suite"))
        .await
        .ok();
    let again = app
        .graphql(Some(&operator_token()), CHECKPOINT, json!({}))
        .await;
    assert_eq!(again.code(), "CONFLICT");
    assert!(
        again.error()["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{person}: sequence {last} has hash")),
        "{:?}",
        again.error()
    );
}

/// Rewrites a patient's chain from sequence `k` with recomputed hashes (the payload of `k`
/// changed), as an attacker who read the manual would.
async fn rewrite_from(app: &TestApp, person: &str, k: i64) {
    let rows = app
        .query_rows(&format!(
            "SELECT seq, occurred_at, kind, actor_role, actor_id, actor_name, actor_profession, payload, prev_hash FROM ledger_events WHERE patient_ins = '{person}' ORDER BY seq"
        ))
        .await;
    let mut export: Value = serde_json::from_str(
        app.graphql(Some(&patient_token(person)), EXPORT, json!({}))
            .await
            .ok()["me"]["ledgerExport"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(rows.len(), export["events"].as_array().unwrap().len());
    let events = export["events"].as_array_mut().unwrap();
    let mut statements = Vec::new();
    let mut previous = events[(k - 2) as usize]["hash"]
        .as_str()
        .unwrap()
        .to_owned();
    for e in events.iter_mut().skip((k - 1) as usize) {
        if e["sequence"] == k {
            e["payload"] = json!(r#"{"v":2,"rewritten":true}"#);
        }
        e["previousHash"] = json!(previous);
        let hash = readme_hash_exported(person, e);
        statements.push(format!(
            "UPDATE ledger_events SET payload = '{}', prev_hash = '{previous}', hash = '{hash}' WHERE patient_ins = '{person}' AND seq = {}",
            e["payload"].as_str().unwrap(),
            e["sequence"]
        ));
        previous = hash;
    }
    as_owner(app, &statements).await;
}

async fn rewriting_from_k_with_recomputed_hashes_is_found_against_a_checkpoint(app: TestApp) {
    let (person, _) = patient_with_document(&app, 303).await;
    checkpoint(&app).await;
    rewrite_from(&app, &person, 2).await;
    let integrity = app
        .graphql(
            Some(&patient_token(&person)),
            "{ me { ledgerIntegrity { verified } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        integrity.ok()["me"]["ledgerIntegrity"]["verified"],
        true,
        "the rewritten chain is consistent in itself"
    );
    let report = audit(&app, None).await;
    assert_eq!(report["verified"], false, "{report}");
    assert!(problems(&report).contains("rewritten"), "{report}");
}

/// A zip whose entries are stored, as the patient export writes it.
fn stored_zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, content) in files {
        let offset = out.len() as u32;
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&[0; 8]);
        common.extend_from_slice(&(content.len() as u32).to_le_bytes());
        common.extend_from_slice(&(content.len() as u32).to_le_bytes());
        common.extend_from_slice(&(name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(content);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&common);
        central.extend_from_slice(&[0; 10]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let start = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&start.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// Runs the binary offline: no database.
pub(crate) fn offline(args: &[&str]) -> (bool, String) {
    crate::helpers::run_binary(args, None)
}

async fn checkpoints_are_published_and_a_forged_or_forked_log_is_refused(app: TestApp) {
    patient_with_document(&app, 304).await;
    checkpoint(&app).await;
    app.activated_profile(&ins(305), None).await;
    checkpoint(&app).await;

    let published = app.get("/ledger/checkpoints").await;
    assert_eq!(published.status(), 200);
    let log: Value = published.json().await.unwrap();
    assert_eq!(log["publicKey"], public_key().as_str());
    assert_eq!(log["checkpoints"].as_array().unwrap().len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let genuine = dir.path().join("log.json");
    std::fs::write(&genuine, log.to_string()).unwrap();
    let key = public_key();
    let (ok, out) = offline(&[
        "ledger",
        "verify-checkpoints",
        genuine.to_str().unwrap(),
        "--public-key",
        &key,
    ]);
    assert!(ok, "{out}");

    // The consistency proof the server hands out verifies between the two.
    let pair: Value = app
        .get("/ledger/checkpoints/consistency?from=1&to=2")
        .await
        .json()
        .await
        .unwrap();
    let older = serde_json::from_value(pair["from"].clone()).unwrap();
    let newer = serde_json::from_value(pair["to"].clone()).unwrap();
    let proof: Vec<String> = serde_json::from_value(pair["proof"].clone()).unwrap();
    espace_sante::ledger::checkpoint::verify_consistency(
        &older,
        &newer,
        &proof,
        &espace_sante::ledger::keys::KeySet::anchored(&key),
    )
    .unwrap();

    // Forged: a checkpoint changed after signing, or signed by another key.
    let mut forged = log.clone();
    forged["checkpoints"][1]["treeSize"] = json!(1);
    let forged_path = dir.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let (ok, out) = offline(&[
        "ledger",
        "verify-checkpoints",
        forged_path.to_str().unwrap(),
        "--public-key",
        &key,
    ]);
    assert!(!ok && out.contains("signature does not verify"), "{out}");
    let other = espace_sante::ledger::checkpoint::CheckpointSigner::generate().public_key();
    let (ok, out) = offline(&[
        "ledger",
        "verify-checkpoints",
        genuine.to_str().unwrap(),
        "--public-key",
        &other,
    ]);
    assert!(!ok, "{out}");

    // Forked: the operator (with its own key) throws the log away, rewrites a chain and signs
    // a new log. Each checkpoint of it verifies alone; the copy a third party kept does not
    // fit in it.
    as_owner(
        &app,
        &[
            "DELETE FROM ledger_checkpoint_heads".to_owned(),
            "DELETE FROM ledger_log_leaves".to_owned(),
            "DELETE FROM ledger_log_nodes".to_owned(),
            "DELETE FROM ledger_checkpoints".to_owned(),
        ],
    )
    .await;
    rewrite_from(&app, &ins(305), 2).await;
    checkpoint(&app).await;
    app.activated_profile(&ins(306), None).await;
    checkpoint(&app).await;
    checkpoint_after(&app).await;
    let rewritten: Value = app.get("/ledger/checkpoints").await.json().await.unwrap();
    let rewritten_path = dir.path().join("rewritten.json");
    std::fs::write(&rewritten_path, rewritten.to_string()).unwrap();
    let (ok, out) = offline(&[
        "ledger",
        "verify-checkpoints",
        rewritten_path.to_str().unwrap(),
        "--public-key",
        &key,
    ]);
    assert!(ok, "the new log is consistent in itself: {out}");
    let (ok, out) = offline(&[
        "ledger",
        "verify-checkpoints",
        rewritten_path.to_str().unwrap(),
        "--public-key",
        &key,
        "--known",
        genuine.to_str().unwrap(),
    ]);
    assert!(!ok && out.contains("forked"), "{out}");
}

/// A checkpoint once more, after the chains moved.
async fn checkpoint_after(app: &TestApp) {
    app.activated_profile(&ins(307), None).await;
    checkpoint(app).await;
}

async fn offline_verifier_accepts_a_genuine_export_and_refuses_each_tampered_variant(app: TestApp) {
    let (person, doc) = patient_with_document(&app, 308).await;
    checkpoint(&app).await;
    let text = app
        .graphql(Some(&patient_token(&person)), EXPORT, json!({}))
        .await
        .ok()["me"]["ledgerExport"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut export: Value = serde_json::from_str(&text).unwrap();
    let fed = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "DOCUMENT_FED")
        .unwrap()
        .clone();
    // The document's file, beside the history, as the patient export holds it.
    export["files"] = json!([{
        "path": format!("documents/{doc}.pdf"),
        "sequence": fed["sequence"],
        "sha256": format!("{:x}", Sha256::digest(PDF)),
        "size": PDF.len(),
    }]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("documents")).unwrap();
    std::fs::write(dir.path().join(format!("documents/{doc}.pdf")), PDF).unwrap();
    let key = public_key();
    let check = |name: &str, variant: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, variant.to_string()).unwrap();
        offline(&[
            "ledger",
            "verify-export",
            path.to_str().unwrap(),
            "--public-key",
            &key,
        ])
    };

    let (ok, out) = check("ledger.json", &export);
    assert!(ok, "{out}");
    assert!(
        out.contains("1 file(s) verified") && out.contains("anchored"),
        "{out}"
    );

    // The same, as the patient export's zip: ledger.json at the root, the file inside.
    let archive = dir.path().join("export.zip");
    let history = export.to_string();
    let inside = format!("documents/{doc}.pdf");
    std::fs::write(
        &archive,
        stored_zip(&[("ledger.json", history.as_bytes()), (&inside, PDF)]),
    )
    .unwrap();
    let (ok, out) = offline(&[
        "ledger",
        "verify-export",
        archive.to_str().unwrap(),
        "--public-key",
        &key,
    ]);
    assert!(ok && out.contains("1 file(s) verified"), "{out}");
    let forged_zip = dir.path().join("forged.zip");
    std::fs::write(
        &forged_zip,
        stored_zip(&[
            ("ledger.json", history.as_bytes()),
            (&inside, b"%PDF forged"),
        ]),
    )
    .unwrap();
    let (ok, out) = offline(&[
        "ledger",
        "verify-export",
        forged_zip.to_str().unwrap(),
        "--public-key",
        &key,
    ]);
    assert!(!ok && out.contains("the chain binds"), "{out}");

    // An event withheld from the patient (a document held back): only its sequence and
    // hashes; the chain still verifies through it.
    let mut withheld = export.clone();
    let e = withheld["events"][1].clone();
    withheld["events"][1] = json!({
        "withheld": true,
        "sequence": e["sequence"],
        "previousHash": e["previousHash"],
        "hash": e["hash"],
    });
    let (ok, out) = check("withheld.json", &withheld);
    assert!(ok && out.contains("1 withheld event(s)"), "{out}");
    let mut relinked = withheld.clone();
    relinked["events"][1]["hash"] = json!("0".repeat(64));
    let (ok, out) = check("relinked.json", &relinked);
    assert!(
        !ok,
        "a withheld event's hash is still bound by the next event: {out}"
    );

    let n = export["events"].as_array().unwrap().len();
    let mut variants: Vec<(&str, Value)> = Vec::new();
    let mut altered = export.clone();
    altered["events"][1]["actorName"] = json!("Quelqu'un d'autre");
    variants.push(("an altered event", altered));
    let mut truncated = export.clone();
    truncated["events"].as_array_mut().unwrap().truncate(n - 1);
    variants.push(("a truncated chain", truncated));
    let mut rewritten = export.clone();
    {
        let events = rewritten["events"].as_array_mut().unwrap();
        let mut previous = events[0]["hash"].as_str().unwrap().to_owned();
        for e in events.iter_mut().skip(1) {
            if e["sequence"] == 2 {
                e["payload"] = json!(r#"{"v":2,"rewritten":true}"#);
            }
            e["previousHash"] = json!(previous);
            previous = readme_hash_exported(&person, e);
            e["hash"] = json!(previous);
        }
    }
    variants.push(("a chain rewritten with recomputed hashes", rewritten));
    let mut resigned = export.clone();
    resigned["checkpoint"]["treeSize"] = json!(99);
    variants.push(("a changed checkpoint", resigned));
    let mut other_proof = export.clone();
    other_proof["inclusion"]["leafIndex"] = json!(7);
    variants.push(("a wrong inclusion proof", other_proof));
    let mut unanchored = export.clone();
    unanchored["checkpoint"] = Value::Null;
    variants.push(("no checkpoint", unanchored));
    let mut unbound = export.clone();
    unbound["files"][0]["sha256"] = json!(format!("{:x}", Sha256::digest(b"other")));
    variants.push(("a file the chain does not bind", unbound));
    for (i, (what, variant)) in variants.iter().enumerate() {
        let (ok, out) = check(&format!("variant-{i}.json"), variant);
        assert!(
            !ok && out.contains("NOT VERIFIED"),
            "{what} must be refused: {out}"
        );
    }
    // The file's bytes changed.
    std::fs::write(
        dir.path().join(format!("documents/{doc}.pdf")),
        b"%PDF forged",
    )
    .unwrap();
    let (ok, out) = check("ledger.json", &export);
    assert!(
        !ok && out.contains("the chain binds"),
        "changed file bytes: {out}"
    );
    // Another operator's key.
    let other = espace_sante::ledger::checkpoint::CheckpointSigner::generate().public_key();
    let path = dir.path().join("ledger.json");
    let (ok, out) = offline(&[
        "ledger",
        "verify-export",
        path.to_str().unwrap(),
        "--public-key",
        &other,
    ]);
    assert!(!ok && out.contains("not signed by"), "{out}");
}

async fn the_patient_gets_the_inclusion_proof_of_their_chain_head(app: TestApp) {
    let (person, _) = patient_with_document(&app, 309).await;
    let proof = "{ me { ledgerProof { checkpoint { index treeSize headsRoot publicKey } leafIndex sequence headHash path } ledgerIntegrity { headHash eventCount } } }";
    let before = app
        .graphql(Some(&patient_token(&person)), proof, json!({}))
        .await;
    assert_eq!(before.ok()["me"]["ledgerProof"], Value::Null);
    app.activated_profile(&ins(310), None).await;
    checkpoint(&app).await;
    let answer = app
        .graphql(Some(&patient_token(&person)), proof, json!({}))
        .await;
    let me = &answer.ok()["me"];
    let p = &me["ledgerProof"];
    assert_eq!(p["checkpoint"]["treeSize"], 2);
    assert_eq!(p["checkpoint"]["publicKey"], public_key().as_str());
    assert_eq!(p["headHash"], me["ledgerIntegrity"]["headHash"]);
    assert_eq!(p["sequence"], me["ledgerIntegrity"]["eventCount"]);
    // Recomputed here from RFC 9162 and the manual's leaf encoding.
    let leaf = {
        let seq = p["sequence"].as_i64().unwrap().to_string();
        let mut h = Sha256::new();
        h.update([0u8]);
        for field in [
            "espace-sante/checkpoint-head/v1",
            person.as_str(),
            &seq,
            p["headHash"].as_str().unwrap(),
        ] {
            h.update((field.len() as u32).to_be_bytes());
            h.update(field.as_bytes());
        }
        h.finalize().to_vec()
    };
    let path: Vec<Vec<u8>> = p["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            let h = h.as_str().unwrap();
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    assert_eq!(path.len(), 1, "two leaves: one sibling");
    let index = p["leafIndex"].as_i64().unwrap();
    let mut h = Sha256::new();
    h.update([1u8]);
    if index == 0 {
        h.update(&leaf);
        h.update(&path[0]);
    } else {
        h.update(&path[0]);
        h.update(&leaf);
    }
    let root: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(p["checkpoint"]["headsRoot"], root.as_str());
}

async fn checkpoint_tables_are_append_only(app: TestApp) {
    let (person, _) = patient_with_document(&app, 311).await;
    checkpoint(&app).await;
    let db = app.db().await;
    // A head of a checkpoint of version 1 or 2, which this build no longer writes (appending
    // is what the table allows).
    db.execute_unprepared(&format!(
        "INSERT INTO ledger_checkpoint_heads (checkpoint_idx, leaf_index, patient_ins, seq, hash) \
         VALUES (1, 0, '{person}', 1, '{}')",
        "0".repeat(64)
    ))
    .await
    .unwrap();
    let mut statements = vec![
        "UPDATE ledger_checkpoints SET tree_size = 0".to_owned(),
        "DELETE FROM ledger_checkpoints".to_owned(),
        "UPDATE ledger_checkpoint_heads SET seq = 1".to_owned(),
        "DELETE FROM ledger_checkpoint_heads".to_owned(),
        "UPDATE ledger_log_leaves SET seq = 1".to_owned(),
        "DELETE FROM ledger_log_leaves".to_owned(),
        "UPDATE ledger_log_nodes SET hash = ''".to_owned(),
        "DELETE FROM ledger_log_nodes".to_owned(),
    ];
    if app.backend == Backend::Postgres {
        statements.push("TRUNCATE ledger_checkpoints CASCADE".to_owned());
        statements.push("TRUNCATE ledger_log_nodes".to_owned());
    } else {
        for table in [
            "ledger_checkpoints",
            "ledger_log_leaves",
            "ledger_log_nodes",
        ] {
            statements.push(format!(
                "INSERT OR REPLACE INTO {table} SELECT * FROM {table}"
            ));
        }
    }
    for statement in statements {
        let err = db
            .execute_unprepared(&statement)
            .await
            .expect_err(&statement);
        assert!(
            err.to_string().contains("append-only"),
            "{statement}: {err}"
        );
    }
}

/// Who sees masked documents is a projection too: a médecin traitant written into the profile,
/// emergency access turned off behind the patient's back, an emergency access lengthened or
/// granted without its event are each named by the deep verification.
async fn deep_verification_finds_access_rights_granted_behind_the_ledger(app: TestApp) {
    let person = ins(303);
    app.activated_profile(&person, None).await;
    let opened = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            "mutation($ins: INS!, $reason: String!) { openEmergencyAccess(patientIns: $ins, reason: $reason) { id } }",
            json!({ "ins": person, "reason": "Patient inconscient aux urgences" }),
        )
        .await;
    let access = opened.ok()["openEmergencyAccess"]["id"].clone();
    let access = access
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| access.to_string());
    assert_eq!(audit(&app, Some(&person)).await["verified"], true);

    as_owner(
        &app,
        &[
            format!(
                "UPDATE profiles SET medecin_traitant_rpps = '{NURSE}', \
                 emergency_access_enabled = false WHERE ins = '{person}'"
            ),
            format!(
                "UPDATE emergency_accesses SET expires_at = '2099-01-01T00:00:00+00:00' \
                 WHERE id = {access}"
            ),
            format!(
                "INSERT INTO emergency_accesses (patient_ins, practitioner_rpps, \
                 practitioner_name, practitioner_profession, reason, opened_at, expires_at) \
                 SELECT patient_ins, '{NURSE}', practitioner_name, practitioner_profession, \
                 reason, opened_at, expires_at FROM emergency_accesses WHERE id = {access}"
            ),
        ],
    )
    .await;
    let report = problems(&audit(&app, Some(&person)).await);
    for expected in [
        format!("médecin traitant is {NURSE}, the events say nobody"),
        "emergency access is off, the events say on".to_owned(),
        format!("emergency access {access} expires at 2099-01-01"),
        format!("of practitioner {NURSE} has no EMERGENCY_ACCESS_OPENED event"),
    ] {
        assert!(report.contains(&expected), "{expected} not in {report}");
    }
}

/// The projection of the typed events covers what a document is and who sees it: a type, an
/// author, a title or a held-back flag changed in place, and a legal representative inserted
/// without an event, are each named by the deep verification.
async fn deep_verification_finds_documents_changed_in_place_and_a_representative_without_event(
    app: TestApp,
) {
    let (person, doc) = patient_with_document(&app, 310).await;
    let held = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input, visibility: { heldBackUntilAnnounced: true }) { id } }",
            json!({ "ins": person, "input": document_input("held-310", "Résultats à annoncer") }),
        )
        .await;
    let held = held.ok()["feedDocument"]["id"].as_str().unwrap().to_owned();
    assert_eq!(audit(&app, Some(&person)).await["verified"], true);

    let stranger = ins(311);
    as_owner(
        &app,
        &[
            format!(
                "UPDATE documents SET type_code = '11502-2', author_id = '{NURSE}', \
                 title = 'Titre réécrit' WHERE id = {doc}"
            ),
            format!("UPDATE documents SET held_back = false WHERE id = {held}"),
            format!(
                "INSERT INTO legal_representatives (child_ins, representative_ins, birth_name, \
                 first_names, enrolled_at) SELECT ins, '{stranger}', birth_name, first_names, \
                 enrolled_at FROM profiles WHERE ins = '{person}'"
            ),
        ],
    )
    .await;
    let report = problems(&audit(&app, Some(&person)).await);
    for expected in [
        format!("document {doc} is of type 11502-2, the events say 11488-4"),
        format!("document {doc} is by {NURSE}, the events say {DOCTOR}"),
        format!("document {doc} title: stored content has SHA-256"),
        format!("document {held} is heldBack=false, the events say heldBack=true"),
        format!("legal representative {stranger} is in no enrolment event"),
    ] {
        assert!(report.contains(&expected), "{expected} not in {report}");
    }
}

/// The patient's own download (`GET /me/export`) is what the offline verifier reads: its
/// `ledger.json` is anchored in the latest signed checkpoint, binds each document file, and
/// withholds the events about a document held back from the patient (sequence and hashes
/// only) — and it still verifies, offline, as does `me { ledgerExport }`.
async fn the_patients_own_export_verifies_offline_with_a_held_back_document_withheld(app: TestApp) {
    let (person, _) = patient_with_document(&app, 309).await;
    let held = app
        .graphql(
            Some(&practitioner_token(DOCTOR)),
            "mutation($ins: INS!, $input: DocumentInput!) { feedDocument(patientIns: $ins, input: $input, visibility: { heldBackUntilAnnounced: true }) { id } }",
            json!({ "ins": person, "input": document_input("held-309", "Résultats à annoncer") }),
        )
        .await;
    held.ok();
    checkpoint(&app).await;

    let text = app
        .graphql(Some(&patient_token(&person)), EXPORT, json!({}))
        .await
        .ok()["me"]["ledgerExport"]
        .as_str()
        .unwrap()
        .to_owned();
    let export: Value = serde_json::from_str(&text).unwrap();
    let withheld: Vec<&Value> = export["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["withheld"] == true)
        .collect();
    assert_eq!(withheld.len(), 1, "the held-back feed: {text}");
    assert_eq!(withheld[0]["kind"], "", "a withheld event tells no kind");
    assert_eq!(withheld[0]["payload"], "", "nor its payload");
    assert!(!text.contains("held-309") && !text.contains("Résultats à annoncer"));

    let response = reqwest::Client::new()
        .get(format!("{}/me/export", app.address))
        .bearer_auth(patient_token(&person))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("export.zip");
    std::fs::write(&archive, response.bytes().await.unwrap()).unwrap();
    let ledger = dir.path().join("ledger.json");
    std::fs::write(&ledger, &text).unwrap();
    let key = public_key();
    for file in [&archive, &ledger] {
        let (ok, out) = offline(&[
            "ledger",
            "verify-export",
            file.to_str().unwrap(),
            "--public-key",
            &key,
        ]);
        assert!(ok && out.contains("anchored"), "{}: {out}", file.display());
    }
    let (_, out) = offline(&[
        "ledger",
        "verify-export",
        archive.to_str().unwrap(),
        "--public-key",
        &key,
    ]);
    assert!(out.contains("1 file(s) verified"), "{out}");
}

on_both_databases!(
    the_patients_own_export_verifies_offline_with_a_held_back_document_withheld,
    deep_verification_finds_a_rewritten_document_content,
    deep_verification_finds_access_rights_granted_behind_the_ledger,
    deep_verification_finds_a_silently_deleted_block,
    deep_verification_finds_documents_changed_in_place_and_a_representative_without_event,
    truncating_a_chain_after_a_checkpoint_is_found,
    rewriting_from_k_with_recomputed_hashes_is_found_against_a_checkpoint,
    checkpoints_are_published_and_a_forged_or_forked_log_is_refused,
    offline_verifier_accepts_a_genuine_export_and_refuses_each_tampered_variant,
    the_patient_gets_the_inclusion_proof_of_their_chain_head,
    checkpoint_tables_are_append_only,
    deep_verification_finds_rewritten_messages_and_medical_entries,
);

async fn refused_start(configure: impl FnOnce(&mut espace_sante::config::Settings)) -> String {
    match TestApp::try_spawn_with(Backend::Sqlite, configure).await {
        Ok(_) => panic!("the server started"),
        Err(err) => err.to_string(),
    }
}

#[tokio::test]
async fn production_refuses_to_sign_checkpoints_with_the_development_key() {
    use espace_sante::config::{AppEnv, Secret};
    let error = refused_start(|settings| {
        settings.app_env = AppEnv::Production;
        settings.checkpoints.ledger_signing_key = None;
    })
    .await;
    assert!(
        error.contains("APP_ENV=production needs a ledger signing key"),
        "{error}"
    );
    // Naming the development key outright is refused in any mode.
    let development = espace_sante::ledger::checkpoint::CheckpointSigner::development().seed_hex();
    let error = refused_start(|settings| {
        settings.checkpoints.ledger_signing_key = Some(Secret(development));
    })
    .await;
    assert!(error.contains("public development key"), "{error}");
    let error = refused_start(|settings| {
        settings.checkpoints.ledger_signing_key = Some(Secret("not hex".to_owned()));
    })
    .await;
    assert!(error.contains("64 hex digits"), "{error}");
}

#[test]
fn keys_generate_writes_a_private_key_once_and_prints_the_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.key");
    let (ok, out) = offline(&["keys", "generate", "--out", path.to_str().unwrap()]);
    assert!(ok, "{out}");
    let seed = std::fs::read_to_string(&path).unwrap();
    let signer = espace_sante::ledger::checkpoint::CheckpointSigner::from_hex(&seed).unwrap();
    assert!(out.starts_with(&signer.public_key()), "{out}");
    assert!(!out.contains(seed.trim()), "the private key is not printed");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "readable by its owner only");
    }
    let (ok, out) = offline(&["keys", "generate", "--out", path.to_str().unwrap()]);
    assert!(!ok, "an existing key is never overwritten: {out}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), seed);
}

async fn deep_verification_finds_rewritten_messages_and_medical_entries(app: TestApp) {
    let person = ins(312);
    app.activated_profile(&person, None).await;
    let sent = app
        .graphql(
            Some(&crate::helpers::practitioner_token(DOCTOR)),
            "mutation($ins: INS!) { sendMessage(patientIns: $ins, input: { subject: \"Résultats\", body: \"Tout va bien.\", idempotencyKey: \"5b1c2a9e-7b1d-4c55-9a0e-5b8a1f2d6c10\" }) { message { id } } }",
            json!({ "ins": person }),
        )
        .await;
    let message = sent.ok()["sendMessage"]["message"]["id"].clone();
    let saved = app
        .graphql(
            Some(&patient_token(&person)),
            "mutation { addMedicalProfileEntry(input: { category: ALLERGY, label: \"Pénicilline\" }) { id } }",
            json!({}),
        )
        .await;
    let entry = saved.ok()["addMedicalProfileEntry"]["id"].clone();
    assert_eq!(audit(&app, Some(&person)).await["verified"], true);
    let id = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    as_owner(
        &app,
        &[
            format!(
                "UPDATE messages SET body = 'Venez d''urgence.' WHERE id = {}",
                id(&message)
            ),
            format!(
                "UPDATE medical_profile_entries SET label = 'Aucune' WHERE id = {}",
                id(&entry)
            ),
        ],
    )
    .await;
    let report = audit(&app, Some(&person)).await;
    let text = problems(&report);
    assert!(
        text.contains(&format!("message {} body", id(&message))),
        "{report}"
    );
    assert!(
        text.contains(&format!("medical-profile entry {}", id(&entry))),
        "{report}"
    );
}
