//! Signed checkpoints: at an interval and on demand, a Merkle tree (RFC 9162, see
//! [`super::merkle`]) over every patient's chain head, its root signed with the server's
//! Ed25519 key, appended to an append-only log of checkpoints that itself forms a Merkle tree
//! (so that any two checkpoints have a consistency proof, and a forked log is caught).
//!
//! The bytes, each field length-prefixed as in the ledger's canonical encoding (4 bytes,
//! big-endian, then UTF-8):
//! - a head leaf: `espace-sante/checkpoint-head/v1`, INS, sequence, hash of the head event;
//!   leaves in INS order;
//! - a log leaf (checkpoint `n`): `espace-sante/checkpoint-log/v1`, `n`, time, tree size, heads
//!   root; the log root of checkpoint `n` is the root over the log leaves 1..=n;
//! - what is signed: `espace-sante/checkpoint/v1`, `n`, time, tree size, heads root, log root.
//!
//! Numbers in decimal, hashes in lowercase hex, the time as the ledger writes it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use entity::{ledger_checkpoint, ledger_checkpoint_head};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::merkle::{self, Hash, parse_hash, parse_hex};
use crate::domain::content::length_prefixed;
use crate::ledger::{canonical_time, hex};

/// The seed of the public development signing key: anyone can sign with it, so production
/// refuses it (as it refuses the development JWT key).
const DEVELOPMENT_SEED: [u8; 32] = *b"espace-sante development ledger!";

/// The server's checkpoint signing key.
#[derive(Clone)]
pub struct CheckpointSigner {
    key: SigningKey,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// The public development key (development only).
    pub fn development() -> Self {
        Self {
            key: SigningKey::from_bytes(&DEVELOPMENT_SEED),
        }
    }

    /// A new random key.
    pub fn generate() -> Self {
        let mut seed = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut seed);
        Self {
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// A key from its 32-byte seed in 64 hex digits (what `espace-sante keys generate` writes).
    pub fn from_hex(seed: &str) -> Result<Self, String> {
        let seed: [u8; 32] = parse_hex(seed.trim())
            .and_then(|b| b.try_into().ok())
            .ok_or("a ledger signing key is 64 hex digits (a 32-byte Ed25519 seed)")?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The seed, in hex (to write a key file).
    pub fn seed_hex(&self) -> String {
        hex(self.key.as_bytes())
    }

    /// Whether this is the public development key.
    pub fn is_development(&self) -> bool {
        self.key.as_bytes() == &DEVELOPMENT_SEED
    }

    /// The public key, 64 lowercase hex digits.
    pub fn public_key(&self) -> String {
        hex(self.key.verifying_key().as_bytes())
    }

    fn sign(&self, message: &[u8]) -> String {
        hex(&self.key.sign(message).to_bytes())
    }
}

/// A checkpoint as published (`GET /ledger/checkpoints`) and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedCheckpoint {
    /// Position in the log of checkpoints, from 1.
    pub index: i64,
    /// When it was made, as the ledger writes times.
    pub time: String,
    /// Chains (leaves) in the heads tree.
    pub tree_size: i64,
    /// Root of the heads tree.
    pub heads_root: String,
    /// Root of the log of checkpoints 1..=index.
    pub log_root: String,
    /// Ed25519 signature, 128 hex digits.
    pub signature: String,
    /// The key that signed, 64 hex digits.
    pub public_key: String,
}

impl From<ledger_checkpoint::Model> for SignedCheckpoint {
    fn from(m: ledger_checkpoint::Model) -> Self {
        Self {
            index: m.idx,
            time: canonical_time(m.created_at),
            tree_size: m.tree_size,
            heads_root: m.heads_root,
            log_root: m.log_root,
            signature: m.signature,
            public_key: m.public_key,
        }
    }
}

impl SignedCheckpoint {
    /// The bytes of its log leaf.
    pub fn log_leaf(&self) -> Hash {
        log_leaf(self.index, &self.time, self.tree_size, &self.heads_root)
    }

    /// Whether `public_key` (hex) signed it.
    pub fn signed_by(&self, public_key: &str) -> bool {
        let Some(key) = parse_hash(public_key).and_then(|k| VerifyingKey::from_bytes(&k).ok())
        else {
            return false;
        };
        let Some(signature) = parse_hex(&self.signature)
            .and_then(|s| <[u8; 64]>::try_from(s).ok())
            .map(|s| Signature::from_bytes(&s))
        else {
            return false;
        };
        key.verify(&signed_bytes(self), &signature).is_ok()
    }
}

fn log_leaf(index: i64, time: &str, tree_size: i64, heads_root: &str) -> Hash {
    merkle::leaf_hash(&length_prefixed(&[
        "espace-sante/checkpoint-log/v1",
        &index.to_string(),
        time,
        &tree_size.to_string(),
        heads_root,
    ]))
}

fn signed_bytes(c: &SignedCheckpoint) -> Vec<u8> {
    length_prefixed(&[
        "espace-sante/checkpoint/v1",
        &c.index.to_string(),
        &c.time,
        &c.tree_size.to_string(),
        &c.heads_root,
        &c.log_root,
    ])
}

/// The leaf hash of a chain head.
pub fn head_leaf(patient_ins: &str, seq: i64, hash: &str) -> Hash {
    merkle::leaf_hash(&length_prefixed(&[
        "espace-sante/checkpoint-head/v1",
        patient_ins,
        &seq.to_string(),
        hash,
    ]))
}

/// Why a log of checkpoints does not verify.
pub fn verify_log(checkpoints: &[SignedCheckpoint], public_key: &str) -> Result<(), String> {
    let mut leaves = Vec::with_capacity(checkpoints.len());
    for (i, c) in checkpoints.iter().enumerate() {
        if c.index != i as i64 + 1 {
            return Err(format!(
                "checkpoint {}: the log has a gap before it",
                c.index
            ));
        }
        if !c.signed_by(public_key) {
            return Err(format!(
                "checkpoint {}: the signature does not verify with the public key",
                c.index
            ));
        }
        leaves.push(c.log_leaf());
        if hex(&merkle::root(&leaves)) != c.log_root {
            return Err(format!(
                "checkpoint {}: its log root is not the root of the checkpoints before it",
                c.index
            ));
        }
    }
    Ok(())
}

/// Whether `newer` extends the log that `older` signed: both signed by `public_key`, and
/// `proof` an RFC 9162 consistency proof between their log trees.
pub fn verify_consistency(
    older: &SignedCheckpoint,
    newer: &SignedCheckpoint,
    proof: &[String],
    public_key: &str,
) -> Result<(), String> {
    for c in [older, newer] {
        if !c.signed_by(public_key) {
            return Err(format!(
                "checkpoint {}: the signature does not verify",
                c.index
            ));
        }
    }
    let (Some(first), Some(second)) = (parse_hash(&older.log_root), parse_hash(&newer.log_root))
    else {
        return Err("a log root is not 64 hex digits".to_owned());
    };
    let proof: Option<Vec<Hash>> = proof.iter().map(|h| parse_hash(h)).collect();
    let proof = proof.ok_or("a proof hash is not 64 hex digits")?;
    let (Ok(m), Ok(n)) = (u64::try_from(older.index), u64::try_from(newer.index)) else {
        return Err("a checkpoint index is negative".to_owned());
    };
    if merkle::verify_consistency(m, n, &first, &second, &proof) {
        Ok(())
    } else {
        Err(format!(
            "checkpoint {} is not a prefix of checkpoint {}: the log of checkpoints forked",
            older.index, newer.index
        ))
    }
}

/// An inclusion proof of a chain head in a checkpoint's heads tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    pub leaf_index: i64,
    /// The head's sequence at the checkpoint.
    pub sequence: i64,
    pub head_hash: String,
    /// From the leaf up, hex.
    pub path: Vec<String>,
}

impl InclusionProof {
    /// Whether it proves the head of `patient_ins` in `checkpoint`.
    pub fn verify(&self, patient_ins: &str, checkpoint: &SignedCheckpoint) -> bool {
        let (Some(root), Ok(index), Ok(size)) = (
            parse_hash(&checkpoint.heads_root),
            u64::try_from(self.leaf_index),
            u64::try_from(checkpoint.tree_size),
        ) else {
            return false;
        };
        let path: Option<Vec<Hash>> = self.path.iter().map(|h| parse_hash(h)).collect();
        let Some(path) = path else {
            return false;
        };
        let leaf = head_leaf(patient_ins, self.sequence, &self.head_hash);
        merkle::verify_inclusion(index, size, &leaf, &path, &root)
    }
}

/// One chain's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub patient_ins: String,
    pub seq: i64,
    pub hash: String,
}

/// Every chain's head now, in INS order.
pub async fn current_heads(conn: &impl ConnectionTrait) -> Result<Vec<Head>, DbErr> {
    let sql = "SELECT e.patient_ins, e.seq, e.hash FROM ledger_events e \
               JOIN (SELECT patient_ins, MAX(seq) AS seq FROM ledger_events GROUP BY patient_ins) h \
               ON h.patient_ins = e.patient_ins AND h.seq = e.seq ORDER BY e.patient_ins";
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Head {
                patient_ins: r.try_get("", "patient_ins")?,
                seq: r.try_get("", "seq")?,
                hash: r.try_get("", "hash")?,
            })
        })
        .collect()
}

/// Every checkpoint, oldest first.
pub async fn all_checkpoints(conn: &impl ConnectionTrait) -> Result<Vec<SignedCheckpoint>, DbErr> {
    Ok(ledger_checkpoint::Entity::find()
        .order_by_asc(ledger_checkpoint::Column::Idx)
        .all(conn)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// At most `limit` checkpoints after index `after`, oldest first (an unauthenticated route
/// reads these: the database does the paging).
pub async fn checkpoints_after(
    conn: &impl ConnectionTrait,
    after: i64,
    limit: usize,
) -> Result<Vec<SignedCheckpoint>, DbErr> {
    Ok(ledger_checkpoint::Entity::find()
        .filter(ledger_checkpoint::Column::Idx.gt(after))
        .order_by_asc(ledger_checkpoint::Column::Idx)
        .limit(u64::try_from(limit).unwrap_or(u64::MAX))
        .all(conn)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// The latest checkpoint, if any.
pub async fn latest_checkpoint(
    conn: &impl ConnectionTrait,
) -> Result<Option<SignedCheckpoint>, DbErr> {
    Ok(ledger_checkpoint::Entity::find()
        .order_by_desc(ledger_checkpoint::Column::Idx)
        .one(conn)
        .await?
        .map(Into::into))
}

/// The heads a checkpoint covers, in leaf order.
pub async fn checkpoint_heads(conn: &impl ConnectionTrait, idx: i64) -> Result<Vec<Head>, DbErr> {
    Ok(ledger_checkpoint_head::Entity::find()
        .filter(ledger_checkpoint_head::Column::CheckpointIdx.eq(idx))
        .order_by_asc(ledger_checkpoint_head::Column::LeafIndex)
        .all(conn)
        .await?
        .into_iter()
        .map(|h| Head {
            patient_ins: h.patient_ins.as_str().to_owned(),
            seq: h.seq,
            hash: h.hash,
        })
        .collect())
}

/// What a checkpoint run did.
#[derive(Debug, Clone)]
pub enum CheckpointOutcome {
    /// A new checkpoint was appended.
    Created(SignedCheckpoint),
    /// No chain moved since the last checkpoint: it stands.
    Unchanged(SignedCheckpoint),
}

/// Why a checkpoint was not made.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Db(#[from] DbErr),
    /// The ledger no longer holds what the last checkpoint signed: signing now would launder
    /// the change.
    #[error("the ledger diverges from checkpoint {checkpoint}: {problem}")]
    Diverges { checkpoint: i64, problem: String },
}

/// Appends a checkpoint over the current heads, signed with `signer`, unless no chain moved
/// since the last one. Refuses when a head of the last checkpoint is no longer in its chain
/// (a chain truncated or rewritten since). Two replicas racing append one checkpoint; the
/// other fails on the log's primary key and tries again at its next tick.
pub async fn create_checkpoint(
    db: &sea_orm::DatabaseConnection,
    signer: &CheckpointSigner,
    now: DateTime<Utc>,
) -> Result<CheckpointOutcome, CheckpointError> {
    let txn = db.begin().await?;
    let log = all_checkpoints(&txn).await?;
    let heads = current_heads(&txn).await?;
    let leaves: Vec<Hash> = heads
        .iter()
        .map(|h| head_leaf(&h.patient_ins, h.seq, &h.hash))
        .collect();
    let heads_root = hex(&merkle::root(&leaves));
    if let Some(last) = log.last() {
        if let Some(problem) = divergence_from(&txn, last.index).await?.into_iter().next() {
            return Err(CheckpointError::Diverges {
                checkpoint: last.index,
                problem,
            });
        }
        if last.heads_root == heads_root && last.tree_size == heads.len() as i64 {
            return Ok(CheckpointOutcome::Unchanged(last.clone()));
        }
    }
    let index = log.len() as i64 + 1;
    let created_at = crate::clock::to_micros(now);
    let time = canonical_time(created_at);
    let tree_size = heads.len() as i64;
    let mut log_leaves: Vec<Hash> = log.iter().map(SignedCheckpoint::log_leaf).collect();
    log_leaves.push(log_leaf(index, &time, tree_size, &heads_root));
    let mut checkpoint = SignedCheckpoint {
        index,
        time,
        tree_size,
        heads_root,
        log_root: hex(&merkle::root(&log_leaves)),
        signature: String::new(),
        public_key: signer.public_key(),
    };
    checkpoint.signature = signer.sign(&signed_bytes(&checkpoint));
    ledger_checkpoint::Entity::insert(ledger_checkpoint::ActiveModel {
        idx: Set(index),
        created_at: Set(created_at),
        tree_size: Set(tree_size),
        heads_root: Set(checkpoint.heads_root.clone()),
        log_root: Set(checkpoint.log_root.clone()),
        signature: Set(checkpoint.signature.clone()),
        public_key: Set(checkpoint.public_key.clone()),
    })
    .exec_without_returning(&txn)
    .await?;
    for chunk in heads.chunks(500).enumerate() {
        let (c, chunk) = chunk;
        let rows = chunk.iter().enumerate().map(|(i, h)| {
            Ok(ledger_checkpoint_head::ActiveModel {
                checkpoint_idx: Set(index),
                leaf_index: Set((c * 500 + i) as i64),
                patient_ins: Set(crate::domain::Ins::parse(&h.patient_ins)
                    .map_err(|e| DbErr::Custom(format!("a stored INS does not parse: {e}")))?),
                seq: Set(h.seq),
                hash: Set(h.hash.clone()),
            })
        });
        let rows: Result<Vec<_>, DbErr> = rows.collect();
        ledger_checkpoint_head::Entity::insert_many(rows?)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(CheckpointOutcome::Created(checkpoint))
}

/// Where the ledger no longer holds the heads checkpoint `idx` covers: each problem names the
/// patient and sequence.
pub async fn divergence_from(conn: &impl ConnectionTrait, idx: i64) -> Result<Vec<String>, DbErr> {
    // An integer, formatted: the one statement works on both databases' placeholders.
    let sql = format!(
        "SELECT h.patient_ins, h.seq, h.hash AS signed, e.hash AS stored \
         FROM ledger_checkpoint_heads h LEFT JOIN ledger_events e \
         ON e.patient_ins = h.patient_ins AND e.seq = h.seq \
         WHERE h.checkpoint_idx = {idx} ORDER BY h.leaf_index"
    );
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    let mut current: Option<BTreeMap<String, i64>> = None;
    let mut problems = Vec::new();
    for row in rows {
        let patient: String = row.try_get("", "patient_ins")?;
        let seq: i64 = row.try_get("", "seq")?;
        let signed: String = row.try_get("", "signed")?;
        let stored: Option<String> = row.try_get("", "stored")?;
        match stored {
            None => {
                if current.is_none() {
                    current = Some(
                        current_heads(conn)
                            .await?
                            .into_iter()
                            .map(|h| (h.patient_ins, h.seq))
                            .collect(),
                    );
                }
                let now = current
                    .as_ref()
                    .and_then(|c| c.get(&patient).copied())
                    .unwrap_or(0);
                problems.push(format!(
                    "{patient}: sequence {seq} is gone (the chain now ends at {now}): truncated \
                     after the checkpoint"
                ));
            }
            Some(stored) if stored != signed => problems.push(format!(
                "{patient}: sequence {seq} has hash {stored}, the checkpoint signed {signed}: \
                 rewritten"
            )),
            Some(_) => {}
        }
    }
    Ok(problems)
}

/// The inclusion proof of `patient_ins`'s head in checkpoint `idx`, if it covers the chain.
pub async fn inclusion_proof(
    conn: &impl ConnectionTrait,
    idx: i64,
    patient_ins: &str,
) -> Result<Option<InclusionProof>, DbErr> {
    let heads = checkpoint_heads(conn, idx).await?;
    let Some(position) = heads.iter().position(|h| h.patient_ins == patient_ins) else {
        return Ok(None);
    };
    let leaves: Vec<Hash> = heads
        .iter()
        .map(|h| head_leaf(&h.patient_ins, h.seq, &h.hash))
        .collect();
    let path = merkle::inclusion_proof(position, &leaves).unwrap_or_default();
    Ok(Some(InclusionProof {
        leaf_index: position as i64,
        sequence: heads[position].seq,
        head_hash: heads[position].hash.clone(),
        path: path.iter().map(|h| hex(h)).collect(),
    }))
}

/// The consistency proof of the log of checkpoints from `from` to `to` (both signed
/// checkpoints), or `None` when either does not exist or `from` > `to`.
pub async fn consistency(
    conn: &impl ConnectionTrait,
    from: i64,
    to: i64,
) -> Result<Option<(SignedCheckpoint, SignedCheckpoint, Vec<String>)>, DbErr> {
    let log = all_checkpoints(conn).await?;
    let (Ok(m), Ok(n)) = (usize::try_from(from), usize::try_from(to)) else {
        return Ok(None);
    };
    if m == 0 || m > n || n > log.len() {
        return Ok(None);
    }
    let leaves: Vec<Hash> = log[..n].iter().map(SignedCheckpoint::log_leaf).collect();
    let proof = merkle::consistency_proof(m, &leaves).unwrap_or_default();
    Ok(Some((
        log[m - 1].clone(),
        log[n - 1].clone(),
        proof.iter().map(|h| hex(h)).collect(),
    )))
}

/// Verifies the stored log and the latest checkpoint against the ledger: every signature (by
/// `public_key` when given, else by the key each names), every log root, each checkpoint's
/// heads root from its stored heads, and that every chain still holds the heads of the latest
/// checkpoint. Each problem is one line.
pub async fn verify_checkpoints(
    conn: &impl ConnectionTrait,
    public_key: Option<&str>,
) -> Result<Vec<String>, DbErr> {
    let log = all_checkpoints(conn).await?;
    let mut problems = Vec::new();
    let mut log_leaves = Vec::new();
    for c in &log {
        let key = public_key.unwrap_or(&c.public_key);
        if !c.signed_by(key) {
            problems.push(format!(
                "checkpoint {}: the signature does not verify with key {key}",
                c.index
            ));
        }
        log_leaves.push(c.log_leaf());
        if hex(&merkle::root(&log_leaves)) != c.log_root {
            problems.push(format!(
                "checkpoint {}: log root does not match the log",
                c.index
            ));
        }
        let heads = checkpoint_heads(conn, c.index).await?;
        let leaves: Vec<Hash> = heads
            .iter()
            .map(|h| head_leaf(&h.patient_ins, h.seq, &h.hash))
            .collect();
        if hex(&merkle::root(&leaves)) != c.heads_root || heads.len() as i64 != c.tree_size {
            problems.push(format!(
                "checkpoint {}: its stored heads are not those it signed",
                c.index
            ));
        }
    }
    if let Some(last) = log.last() {
        problems.extend(
            divergence_from(conn, last.index)
                .await?
                .into_iter()
                .map(|p| format!("checkpoint {}: {p}", last.index)),
        );
    }
    Ok(problems)
}
