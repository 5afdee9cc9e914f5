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
//! Those are the bytes of version 1, the checkpoints signed before keys could rotate; they
//! never change, so those checkpoints verify as they were signed. Version 2, what this build
//! signs, binds the signing key and the key a checkpoint introduces (see [`super::keys`]):
//! - a log leaf: `espace-sante/checkpoint-log/v2`, `n`, time, tree size, heads root, key id,
//!   the public key introduced (empty when none);
//! - what is signed: `espace-sante/checkpoint/v2`, `n`, time, tree size, heads root, log root,
//!   key id, the public key introduced (empty when none).
//!
//! A log mixes both: each leaf is of its checkpoint's version. Binding the key in the log leaf
//! too means a consistency proof from any checkpoint kept also pins which key signed, and which
//! key was introduced, at every index before it.
//!
//! Numbers in decimal, hashes and keys in lowercase hex, the time as the ledger writes it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use entity::values::CheckpointVersion;
use entity::{ledger_checkpoint, ledger_checkpoint_head};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, TransactionTrait,
};
use serde::{Deserialize, Serialize};

use super::keys::{KeyPeriod, KeyRefusal, KeySet, key_id};
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

    /// The id of the public key ([`key_id`]).
    pub fn key_id(&self) -> String {
        key_id(&self.public_key())
    }

    /// `checkpoint`, naming this key and signed by it in the bytes of its version.
    pub fn sign(&self, mut checkpoint: SignedCheckpoint) -> SignedCheckpoint {
        checkpoint.public_key = self.public_key();
        checkpoint.key_id = self.key_id();
        checkpoint.signature = hex(&self
            .key
            .sign(&signed_bytes(&checkpoint, &checkpoint.key_id))
            .to_bytes());
        checkpoint
    }
}

/// A checkpoint as published (`GET /ledger/checkpoints`) and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedCheckpoint {
    /// Which bytes the signature covers; 1 when absent (what was published before versions).
    #[serde(default = "version_1")]
    pub version: CheckpointVersion,
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
    /// The id of that key ([`key_id`]): signed from version 2 on, derived for version 1 (and
    /// empty in what was published before key ids).
    #[serde(default)]
    pub key_id: String,
    /// The public key this checkpoint introduces: from the next checkpoint on, that key signs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_public_key: Option<String>,
}

fn version_1() -> CheckpointVersion {
    CheckpointVersion::V1
}

impl From<ledger_checkpoint::Model> for SignedCheckpoint {
    fn from(m: ledger_checkpoint::Model) -> Self {
        Self {
            version: m.version,
            index: m.idx,
            time: canonical_time(m.created_at),
            tree_size: m.tree_size,
            heads_root: m.heads_root,
            log_root: m.log_root,
            signature: m.signature,
            key_id: key_id(&m.public_key),
            public_key: m.public_key,
            next_public_key: m.next_public_key,
        }
    }
}

impl SignedCheckpoint {
    /// The hash of its log leaf, in the bytes of its version.
    pub fn log_leaf(&self) -> Hash {
        match self.version {
            CheckpointVersion::V1 => {
                log_leaf_v1(self.index, &self.time, self.tree_size, &self.heads_root)
            }
            CheckpointVersion::V2 => merkle::leaf_hash(&length_prefixed(&[
                "espace-sante/checkpoint-log/v2",
                &self.index.to_string(),
                &self.time,
                &self.tree_size.to_string(),
                &self.heads_root,
                &key_id(&self.public_key),
                self.next_public_key.as_deref().unwrap_or(""),
            ])),
        }
    }

    /// Whether `public_key` (hex) signed it. (Which key may sign it is [`KeySet::signer_of`].)
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
        key.verify(&signed_bytes(self, &key_id(public_key)), &signature)
            .is_ok()
    }
}

fn log_leaf_v1(index: i64, time: &str, tree_size: i64, heads_root: &str) -> Hash {
    merkle::leaf_hash(&length_prefixed(&[
        "espace-sante/checkpoint-log/v1",
        &index.to_string(),
        time,
        &tree_size.to_string(),
        heads_root,
    ]))
}

/// What the key with id `key_id` signs of checkpoint `c`, in the bytes of its version (version
/// 1 names no key).
fn signed_bytes(c: &SignedCheckpoint, key_id: &str) -> Vec<u8> {
    let (index, tree_size) = (c.index.to_string(), c.tree_size.to_string());
    match c.version {
        CheckpointVersion::V1 => length_prefixed(&[
            "espace-sante/checkpoint/v1",
            &index,
            &c.time,
            &tree_size,
            &c.heads_root,
            &c.log_root,
        ]),
        CheckpointVersion::V2 => length_prefixed(&[
            "espace-sante/checkpoint/v2",
            &index,
            &c.time,
            &tree_size,
            &c.heads_root,
            &c.log_root,
            key_id,
            c.next_public_key.as_deref().unwrap_or(""),
        ]),
    }
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

/// Verifies a whole log of checkpoints from the first key, `anchor`: no gap, each checkpoint
/// signed by the key of its period ([`KeySet::signer_of`]), each introducing checkpoint
/// followed to the next key, each log root the root of the leaves before it. The key set the
/// log gives, or why it does not verify.
pub fn verify_log(checkpoints: &[SignedCheckpoint], anchor: &str) -> Result<KeySet, String> {
    let mut keys = KeySet::anchored(anchor);
    let mut leaves = Vec::with_capacity(checkpoints.len());
    for (i, c) in checkpoints.iter().enumerate() {
        if c.index != i as i64 + 1 {
            return Err(format!(
                "checkpoint {}: the log has a gap before it",
                c.index
            ));
        }
        keys.signer_of(c)?;
        if c.next_public_key.is_some() {
            keys.follow(c)?;
        }
        leaves.push(c.log_leaf());
        if hex(&merkle::root(&leaves)) != c.log_root {
            return Err(format!(
                "checkpoint {}: its log root is not the root of the checkpoints before it",
                c.index
            ));
        }
    }
    Ok(keys)
}

/// Whether `newer` extends the log that `older` signed: each signed by the key of its period
/// in `keys`, and `proof` an RFC 9162 consistency proof between their log trees.
pub fn verify_consistency(
    older: &SignedCheckpoint,
    newer: &SignedCheckpoint,
    proof: &[String],
    keys: &KeySet,
) -> Result<(), String> {
    for c in [older, newer] {
        keys.signer_of(c)?;
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

/// The key set of a log (oldest first): from the first checkpoint's key through every
/// introducing checkpoint, as far as they verify, and why it stopped if it did; `None` for an
/// empty log.
fn key_set_of<'a>(
    first: Option<&SignedCheckpoint>,
    introductions: impl IntoIterator<Item = &'a SignedCheckpoint>,
) -> Option<(KeySet, Option<String>)> {
    first.map(|first| KeySet::follow_all(&first.public_key, introductions))
}

/// The key set of the stored log (see `key_set_of`), read without the whole log: its first
/// checkpoint and its introducing ones.
pub async fn stored_key_set(
    conn: &impl ConnectionTrait,
) -> Result<Option<(KeySet, Option<String>)>, DbErr> {
    let first: Option<SignedCheckpoint> = ledger_checkpoint::Entity::find()
        .order_by_asc(ledger_checkpoint::Column::Idx)
        .one(conn)
        .await?
        .map(Into::into);
    let introductions: Vec<SignedCheckpoint> = ledger_checkpoint::Entity::find()
        .filter(ledger_checkpoint::Column::NextPublicKey.is_not_null())
        .order_by_asc(ledger_checkpoint::Column::Idx)
        .all(conn)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(key_set_of(first.as_ref(), &introductions))
}

/// The keys published beside the log: the stored key set as far as it verifies (a verifier
/// following it from the first key then stops where the server did).
pub async fn published_keys(conn: &impl ConnectionTrait) -> Result<Vec<KeyPeriod>, DbErr> {
    Ok(stored_key_set(conn)
        .await?
        .map(|(keys, _)| keys.keys().to_vec())
        .unwrap_or_default())
}

/// The key set `signer` may sign the next checkpoint under, or why it may not: only the
/// current key of a key set that verifies signs; before the first checkpoint, any key does (it
/// becomes the first key).
fn signing_key_set(
    stored: Option<(KeySet, Option<String>)>,
    signer: &CheckpointSigner,
) -> Result<KeySet, CheckpointError> {
    match stored {
        None => Ok(KeySet::anchored(&signer.public_key())),
        Some((_, Some(problem))) => Err(CheckpointError::KeySet(problem)),
        Some((keys, None)) => match keys.refusal_for(&signer.public_key()) {
            Some(refusal) => Err(refusal.into()),
            None => Ok(keys),
        },
    }
}

/// Why `signer` may not sign the next checkpoint, if it may not (what a start, and
/// `keys rotate` before it writes anything, ask).
pub async fn signing_refusal(
    conn: &impl ConnectionTrait,
    signer: &CheckpointSigner,
) -> Result<Option<CheckpointError>, DbErr> {
    Ok(signing_key_set(stored_key_set(conn).await?, signer).err())
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
    /// This key may not sign: a rotation retired it, or no rotation introduced it.
    #[error(transparent)]
    Key(#[from] KeyRefusal),
    /// The stored key set does not verify from the first key: nothing is signed over it.
    #[error("the key set of the log does not verify: {0}")]
    KeySet(String),
}

/// Appends a checkpoint over the current heads, signed with `signer`, unless no chain moved
/// since the last one. Refuses when a head of the last checkpoint is no longer in its chain
/// (a chain truncated or rewritten since), and when `signer` is not the current key of the
/// key set (retired by a rotation, or never introduced). Two replicas racing append one
/// checkpoint; the other fails on the log's primary key and tries again at its next tick.
pub async fn create_checkpoint(
    db: &sea_orm::DatabaseConnection,
    signer: &CheckpointSigner,
    now: DateTime<Utc>,
) -> Result<CheckpointOutcome, CheckpointError> {
    append_checkpoint(db, signer, now, None).await
}

/// Rotates the signing key: appends a checkpoint over the current heads (even if no chain
/// moved), signed with `signer`, the current key, that introduces `next_public_key`. From the
/// next checkpoint on, only that key signs; `signer` never again.
pub async fn rotate_key(
    db: &sea_orm::DatabaseConnection,
    signer: &CheckpointSigner,
    next_public_key: &str,
    now: DateTime<Utc>,
) -> Result<SignedCheckpoint, CheckpointError> {
    match append_checkpoint(db, signer, now, Some(next_public_key)).await? {
        CheckpointOutcome::Created(checkpoint) => Ok(checkpoint),
        CheckpointOutcome::Unchanged(_) => {
            unreachable!("an introducing checkpoint is appended whether or not a chain moved")
        }
    }
}

async fn append_checkpoint(
    db: &sea_orm::DatabaseConnection,
    signer: &CheckpointSigner,
    now: DateTime<Utc>,
    introduce: Option<&str>,
) -> Result<CheckpointOutcome, CheckpointError> {
    let txn = db.begin().await?;
    let log = all_checkpoints(&txn).await?;
    // Read in the transaction that appends: a rotation racing this checkpoint takes the same
    // next index, and the log's primary key lets one of them through.
    let mut keys = signing_key_set(
        key_set_of(
            log.first(),
            log.iter().filter(|c| c.next_public_key.is_some()),
        ),
        signer,
    )?;
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
        if introduce.is_none()
            && last.heads_root == heads_root
            && last.tree_size == heads.len() as i64
        {
            return Ok(CheckpointOutcome::Unchanged(last.clone()));
        }
    }
    let index = log.len() as i64 + 1;
    // Never before the last checkpoint: a clock a moment behind (another replica's, the
    // machine `keys rotate` runs on) signs at the last checkpoint's time, so that times never
    // go backwards and a key's period by time agrees with its period by index.
    let mut created_at = crate::clock::to_micros(now);
    if let Some(last) = log
        .last()
        .and_then(|c| DateTime::parse_from_rfc3339(&c.time).ok())
    {
        created_at = created_at.max(last.with_timezone(&Utc));
    }
    let time = canonical_time(created_at);
    let tree_size = heads.len() as i64;
    let mut unsigned = SignedCheckpoint {
        version: CheckpointVersion::V2,
        index,
        time,
        tree_size,
        heads_root,
        log_root: String::new(),
        signature: String::new(),
        public_key: signer.public_key(),
        key_id: signer.key_id(),
        next_public_key: introduce.map(|k| k.trim().to_ascii_lowercase()),
    };
    let mut log_leaves: Vec<Hash> = log.iter().map(SignedCheckpoint::log_leaf).collect();
    log_leaves.push(unsigned.log_leaf());
    unsigned.log_root = hex(&merkle::root(&log_leaves));
    let checkpoint = signer.sign(unsigned);
    // The rule every verifier applies, applied before anything is stored.
    keys.signer_of(&checkpoint)
        .map_err(CheckpointError::KeySet)?;
    if checkpoint.next_public_key.is_some() {
        keys.follow(&checkpoint).map_err(CheckpointError::KeySet)?;
    }
    ledger_checkpoint::Entity::insert(ledger_checkpoint::ActiveModel {
        idx: Set(index),
        created_at: Set(created_at),
        tree_size: Set(tree_size),
        heads_root: Set(checkpoint.heads_root.clone()),
        log_root: Set(checkpoint.log_root.clone()),
        signature: Set(checkpoint.signature.clone()),
        public_key: Set(checkpoint.public_key.clone()),
        version: Set(checkpoint.version),
        next_public_key: Set(checkpoint.next_public_key.clone()),
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

/// Verifies the stored log and the latest checkpoint against the ledger: every signature by
/// the key of its period, the key set followed from `anchor` (the first key, when given; else
/// the first checkpoint's), every log root, each checkpoint's heads root from its stored
/// heads, and that every chain still holds the heads of the latest checkpoint. Each problem
/// is one line.
pub async fn verify_checkpoints(
    conn: &impl ConnectionTrait,
    anchor: Option<&str>,
) -> Result<Vec<String>, DbErr> {
    let log = all_checkpoints(conn).await?;
    let mut problems = Vec::new();
    let mut log_leaves = Vec::new();
    let mut keys = anchor
        .or(log.first().map(|c| c.public_key.as_str()))
        .map(KeySet::anchored);
    for c in &log {
        if let Some(keys) = &mut keys {
            if let Err(problem) = keys.signer_of(c) {
                problems.push(problem);
            } else if c.next_public_key.is_some()
                && let Err(problem) = keys.follow(c)
            {
                problems.push(problem);
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032's first test key: its public key is
    /// d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a.
    fn rfc8032_key() -> CheckpointSigner {
        CheckpointSigner::from_hex(
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        )
        .expect("a 32-byte seed")
    }

    fn example(version: CheckpointVersion, next: Option<&str>) -> SignedCheckpoint {
        SignedCheckpoint {
            version,
            index: 3,
            time: "2026-11-29T10:00:00.000000Z".to_owned(),
            tree_size: 5,
            heads_root: "aa".repeat(32),
            log_root: "bb".repeat(32),
            signature: String::new(),
            public_key: String::new(),
            key_id: String::new(),
            next_public_key: next.map(str::to_owned),
        }
    }

    /// The golden test of both signed statements: the signatures and log leaves below were
    /// computed apart from this code (Python's `cryptography` and `hashlib`, from the module's
    /// documented bytes). A change to either version's bytes fails here; version 1's must
    /// never change, or every checkpoint signed before keys rotated stops verifying.
    #[test]
    fn both_statement_versions_sign_their_documented_bytes() {
        let key = rfc8032_key();
        assert_eq!(key.key_id(), "0e31fa53eb1ab921");
        let next = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
        let cases = [
            (
                example(CheckpointVersion::V1, None),
                "94d479c9a01166106404642b7f7eed0700a14d43ace1e52ef206a56fca2f08d317be730b3dde1a0977e05f3a8fdd3c7f371228994e2b1dea37090f5900d8170f",
                "deec07a1294b2cb7e476631f6464d8c768cef6826a1df4d3729db0b9f274944b",
            ),
            (
                example(CheckpointVersion::V2, None),
                "56c95e10bbe10d87942085e6be0f013167b692f1353540f0d47cba0a60bcb840873690823f28e70a20f169bf3602bbc5e247f947aaa0519b3bdfc6d618c6af06",
                "a0b391ef54199446c75657872501ee351f21dd61edc032e9cb0f6271c8fb1362",
            ),
            (
                example(CheckpointVersion::V2, Some(next)),
                "eedfeaccc9b70d56b41a2c82ea2e2b66697f6d7b31621248dfc4a59cbe58d3c7f6f84ed699def41e26163703e8f27fec51688bcd8863010e1a33c87c3f710c03",
                "481eac6e0bee6182763a8755a1ed23b630714ec5a919f34651f81d90684969e3",
            ),
        ];
        for (unsigned, signature, leaf) in cases {
            let signed = key.sign(unsigned);
            assert_eq!(signed.signature, signature, "{signed:?}");
            assert_eq!(hex(&signed.log_leaf()), leaf, "{signed:?}");
            assert!(signed.signed_by(&key.public_key()));
        }
    }

    /// A checkpoint published before versions (no `version`, no `keyId`) reads as version 1
    /// and verifies as it was signed; a version 2 checkpoint read as version 1 does not.
    #[test]
    fn a_checkpoint_published_before_versions_reads_as_version_1_and_verifies() {
        let key = rfc8032_key();
        let old = serde_json::json!({
            "index": 3,
            "time": "2026-11-29T10:00:00.000000Z",
            "treeSize": 5,
            "headsRoot": "aa".repeat(32),
            "logRoot": "bb".repeat(32),
            "signature": "94d479c9a01166106404642b7f7eed0700a14d43ace1e52ef206a56fca2f08d317be730b3dde1a0977e05f3a8fdd3c7f371228994e2b1dea37090f5900d8170f",
            "publicKey": key.public_key(),
        });
        let read: SignedCheckpoint = serde_json::from_value(old).expect("a v1 checkpoint");
        assert_eq!(read.version, CheckpointVersion::V1);
        assert!(read.signed_by(&key.public_key()));
        assert!(KeySet::anchored(&key.public_key()).signer_of(&read).is_ok());

        let mut downgraded = key.sign(example(CheckpointVersion::V2, None));
        downgraded.version = CheckpointVersion::V1;
        assert!(!downgraded.signed_by(&key.public_key()));
    }
}
