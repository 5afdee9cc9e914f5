//! Signed checkpoints of the ledger, and the log they sign.
//!
//! **Version 3, what this build signs: a log of chain heads.** The transparency log's leaves
//! are the chain heads that moved, appended in order as a Certificate Transparency log (RFC
//! 9162) appends certificates: at each checkpoint, the head of every chain that moved since the
//! checkpoint before, in INS order, after the leaves already there (the first checkpoint of
//! version 3 appends every chain's head). A checkpoint is a tree size and a signed root. So
//! storage grows with the chains' movements, not with patients × checkpoints; a patient's
//! inclusion proof is that of their chain's latest leaf; two checkpoints are consistent when
//! the older tree is a prefix of the newer (RFC 9162 consistency proof). Every root and proof
//! is read from stored complete subtrees ([`super::log`]) in O(log n) reads, never from the
//! whole log. Each checkpoint is published with the consistency proof from the checkpoint
//! before it (not signed: a proof), so that a copy of the published log verifies offline,
//! checkpoint by checkpoint.
//!
//! The bytes, each field length-prefixed as in the ledger's canonical encoding (4 bytes,
//! big-endian, then UTF-8):
//! - a head leaf (every version): `espace-sante/checkpoint-head/v1`, INS, sequence, hash of the
//!   head event;
//! - what version 3 signs: `espace-sante/checkpoint/v3`, `n`, time, tree size, heads root (the
//!   root over the first tree-size leaves of the log of heads), sealed log root, key id, the
//!   public key introduced (empty when none). The sealed log root is the log root of the last
//!   checkpoint of version 1 or 2 before it (empty when the log began at version 3): every
//!   checkpoint of version 3 signs the old log's end, so the history before cannot be swapped
//!   under the new one.
//!
//! **Versions 1 and 2: a tree over every chain's head at each checkpoint**, in INS order, and
//! a log of checkpoints that itself forms a Merkle tree:
//! - a log leaf (checkpoint `n`): `espace-sante/checkpoint-log/v1`, `n`, time, tree size, heads
//!   root; the log root of checkpoint `n` is the root over the log leaves 1..=n;
//! - what is signed: `espace-sante/checkpoint/v1`, `n`, time, tree size, heads root, log root;
//! - version 2 binds the signing key and the key a checkpoint introduces (see [`super::keys`]):
//!   log leaf `espace-sante/checkpoint-log/v2`, `n`, time, tree size, heads root, key id, the
//!   public key introduced (empty when none); signed `espace-sante/checkpoint/v2`, `n`, time,
//!   tree size, heads root, log root, key id, the public key introduced.
//!
//! **Why checkpoints of versions 1 and 2 stay as they were signed, rather than being migrated
//! under a signed statement.** They are published, and third parties keep copies: re-signing
//! them, even under a statement that links old to new, would ask every verifier to trust the
//! operator's word about history at the very moment it changes format — what checkpoints exist
//! to avoid. Left alone, they verify with the code that verified them (their bytes never
//! change), their stored heads stay beside them, and the first checkpoint of version 3 links
//! the two: it logs every chain's head and, like each checkpoint after it, signs the old log's
//! root. A published log is then checkpoints of versions 1 and 2, then of version 3 only.
//!
//! Numbers in decimal, hashes and keys in lowercase hex, the time as the ledger writes it.

use std::collections::{BTreeMap, BTreeSet};

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
use super::log;
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
    /// Leaves of the heads tree: version 3, the chain heads logged so far; before, the chains.
    pub tree_size: i64,
    /// Root of the heads tree.
    pub heads_root: String,
    /// Versions 1 and 2: root of the log of checkpoints 1..=index. Version 3: that root of the
    /// last checkpoint of version 1 or 2 before it, which it seals (empty when none).
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
    /// Version 3: the RFC 9162 consistency proof from the heads tree of the checkpoint before
    /// it (the empty tree for the first of version 3) to its own. Not signed: a proof.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consistency: Vec<String>,
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
            consistency: m
                .consistency
                .unwrap_or_default()
                .split(',')
                .filter(|h| !h.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

impl SignedCheckpoint {
    /// Whether it signs a log of heads (version 3) rather than a tree over every chain's head.
    pub fn logs_heads(&self) -> bool {
        self.version >= CheckpointVersion::V3
    }

    /// The hash of its leaf in the log of checkpoints, in the bytes of its version; `None` for
    /// version 3, whose checkpoints are no leaves (the log of heads is their tree).
    pub fn log_leaf(&self) -> Option<Hash> {
        match self.version {
            CheckpointVersion::V1 => Some(log_leaf_v1(
                self.index,
                &self.time,
                self.tree_size,
                &self.heads_root,
            )),
            CheckpointVersion::V2 => Some(merkle::leaf_hash(&length_prefixed(&[
                "espace-sante/checkpoint-log/v2",
                &self.index.to_string(),
                &self.time,
                &self.tree_size.to_string(),
                &self.heads_root,
                &key_id(&self.public_key),
                self.next_public_key.as_deref().unwrap_or(""),
            ]))),
            CheckpointVersion::V3 => None,
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
/// 1 names no key; version 3 signs the fields of version 2 under its own label).
fn signed_bytes(c: &SignedCheckpoint, key_id: &str) -> Vec<u8> {
    let (index, tree_size) = (c.index.to_string(), c.tree_size.to_string());
    let label = match c.version {
        CheckpointVersion::V1 => {
            return length_prefixed(&[
                "espace-sante/checkpoint/v1",
                &index,
                &c.time,
                &tree_size,
                &c.heads_root,
                &c.log_root,
            ]);
        }
        CheckpointVersion::V2 => "espace-sante/checkpoint/v2",
        CheckpointVersion::V3 => "espace-sante/checkpoint/v3",
    };
    length_prefixed(&[
        label,
        &index,
        &c.time,
        &tree_size,
        &c.heads_root,
        &c.log_root,
        key_id,
        c.next_public_key.as_deref().unwrap_or(""),
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

/// The shape of a log of checkpoints, checked one checkpoint at a time, oldest first (what
/// the offline verifier and the operator's audit both fold): checkpoints of versions 1 and 2
/// first, each log root the root of the log leaves before it; then of version 3 only, each
/// sealing the last log root of those, and each heads tree an extension of the one before it
/// by its published consistency proof.
#[derive(Debug, Default)]
struct LogShape {
    legacy_leaves: Vec<Hash>,
    /// The log root of the last checkpoint of version 1 or 2 (empty: none).
    sealed: String,
    /// The index, size and root of the last checkpoint of version 3.
    heads: Option<(i64, u64, Hash)>,
}

impl LogShape {
    /// Adds `c`; why it does not fit, if it does not (the shape still moves on to it).
    fn push(&mut self, c: &SignedCheckpoint) -> Result<(), String> {
        let Some(leaf) = c.log_leaf() else {
            return self.push_heads(c);
        };
        self.legacy_leaves.push(leaf);
        self.sealed = hex(&merkle::root(&self.legacy_leaves));
        if let Some((after, _, _)) = self.heads {
            return Err(format!(
                "checkpoint {}: of version {}, after checkpoint {after} of version 3",
                c.index,
                c.version.number()
            ));
        }
        if self.sealed != c.log_root {
            return Err(format!(
                "checkpoint {}: its log root is not the root of the checkpoints before it",
                c.index
            ));
        }
        Ok(())
    }

    fn push_heads(&mut self, c: &SignedCheckpoint) -> Result<(), String> {
        let (Ok(size), Some(root)) = (u64::try_from(c.tree_size), parse_hash(&c.heads_root)) else {
            return Err(format!(
                "checkpoint {}: its tree size or heads root is malformed",
                c.index
            ));
        };
        let (before, previous) = match self.heads.replace((c.index, size, root)) {
            Some((index, size, root)) => (format!("checkpoint {index}'s"), (size, root)),
            None => ("the empty tree".to_owned(), (0, merkle::root(&[]))),
        };
        if c.log_root != self.sealed {
            return Err(format!(
                "checkpoint {}: seals log root {:?}, the checkpoints of versions 1 and 2 before \
                 it end at {:?}",
                c.index, c.log_root, self.sealed
            ));
        }
        let proof: Option<Vec<Hash>> = c.consistency.iter().map(|h| parse_hash(h)).collect();
        if !proof.is_some_and(|proof| {
            merkle::verify_consistency(previous.0, size, &previous.1, &root, &proof)
        }) {
            return Err(format!(
                "checkpoint {}: its log of heads does not extend {before} (its consistency proof \
                 does not verify): the log forked",
                c.index
            ));
        }
        Ok(())
    }
}

/// Verifies a whole log of checkpoints from the first key, `anchor`: no gap, each checkpoint
/// signed by the key of its period ([`KeySet::signer_of`]), each introducing checkpoint
/// followed to the next key, each log root the root of the leaves before it (versions 1 and
/// 2), each log of heads an extension of the one before it (version 3). The key set the log
/// gives, or why it does not verify.
pub fn verify_log(checkpoints: &[SignedCheckpoint], anchor: &str) -> Result<KeySet, String> {
    let mut keys = KeySet::anchored(anchor);
    let mut shape = LogShape::default();
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
        shape.push(c)?;
    }
    Ok(keys)
}

/// Whether `newer` extends the log that `older` signed, both of versions 1 and 2 or both of
/// version 3: each signed by the key of its period in `keys`, and `proof` an RFC 9162
/// consistency proof between their log trees (versions 1 and 2) or heads trees (version 3).
/// Across versions, see [`Consistency::verify`].
pub fn verify_consistency(
    older: &SignedCheckpoint,
    newer: &SignedCheckpoint,
    proof: &[String],
    keys: &KeySet,
) -> Result<(), String> {
    for c in [older, newer] {
        keys.signer_of(c)?;
    }
    let ((m, first), (n, second), tree) = match (older.logs_heads(), newer.logs_heads()) {
        (false, false) => (
            (older.index, &older.log_root),
            (newer.index, &newer.log_root),
            "log of checkpoints",
        ),
        (true, true) => (
            (older.tree_size, &older.heads_root),
            (newer.tree_size, &newer.heads_root),
            "log of heads",
        ),
        _ => {
            return Err(format!(
                "checkpoints {} and {} are of versions {} and {}: their proof goes through the \
                 last checkpoint of version 1 or 2",
                older.index,
                newer.index,
                older.version.number(),
                newer.version.number()
            ));
        }
    };
    let (Some(first), Some(second)) = (parse_hash(first), parse_hash(second)) else {
        return Err("a root is not 64 hex digits".to_owned());
    };
    let proof: Option<Vec<Hash>> = proof.iter().map(|h| parse_hash(h)).collect();
    let proof = proof.ok_or("a proof hash is not 64 hex digits")?;
    let (Ok(m), Ok(n)) = (u64::try_from(m), u64::try_from(n)) else {
        return Err("a checkpoint index or tree size is negative".to_owned());
    };
    if merkle::verify_consistency(m, n, &first, &second, &proof) {
        Ok(())
    } else {
        Err(format!(
            "checkpoint {} is not a prefix of checkpoint {}: the {tree} forked",
            older.index, newer.index
        ))
    }
}

/// Whether `a` and `b` are the same signed statement (what a proof carries beside it aside).
pub fn same_statement(a: &SignedCheckpoint, b: &SignedCheckpoint) -> bool {
    let statement = |c: &SignedCheckpoint| {
        (
            c.version,
            c.index,
            c.time.clone(),
            c.tree_size,
            c.heads_root.clone(),
            c.log_root.clone(),
            c.public_key.trim().to_ascii_lowercase(),
            c.next_public_key.clone(),
            c.signature.clone(),
        )
    };
    statement(a) == statement(b)
}

/// A consistency proof between two checkpoints of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Consistency {
    pub from: SignedCheckpoint,
    pub to: SignedCheckpoint,
    /// RFC 9162, lowercase hex: from `from` to `to`, or to `sealed` when there is one.
    pub proof: Vec<String>,
    /// When `from` is of version 1 or 2 and `to` of version 3: the last checkpoint of version
    /// 1 or 2, whose log root `to` signs. The proof goes from `from` to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SignedCheckpoint>,
}

impl Consistency {
    /// Whether `to` extends the log `from` signed, each checkpoint signed by the key of its
    /// period in `keys`.
    pub fn verify(&self, keys: &KeySet) -> Result<(), String> {
        let Some(sealed) = &self.sealed else {
            return verify_consistency(&self.from, &self.to, &self.proof, keys);
        };
        if sealed.logs_heads() || !self.to.logs_heads() {
            return Err(format!(
                "checkpoint {} cannot seal checkpoint {}",
                self.to.index, sealed.index
            ));
        }
        keys.signer_of(&self.to)?;
        verify_consistency(&self.from, sealed, &self.proof, keys)?;
        if self.to.log_root != sealed.log_root {
            return Err(format!(
                "checkpoint {} does not seal checkpoint {}: the log of checkpoints forked",
                self.to.index, sealed.index
            ));
        }
        Ok(())
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

/// Every chain's head now, in INS order (reads every chain: for the first checkpoint of
/// version 3, the audit and the restore drill).
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

/// Checkpoint `idx`, if any.
pub async fn checkpoint_at(
    conn: &impl ConnectionTrait,
    idx: i64,
) -> Result<Option<SignedCheckpoint>, DbErr> {
    Ok(ledger_checkpoint::Entity::find_by_id(idx)
        .one(conn)
        .await?
        .map(Into::into))
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

/// The last checkpoint of version 1 or 2, if any: the one checkpoints of version 3 seal.
async fn last_legacy_checkpoint(
    conn: &impl ConnectionTrait,
) -> Result<Option<SignedCheckpoint>, DbErr> {
    Ok(ledger_checkpoint::Entity::find()
        .filter(ledger_checkpoint::Column::Version.lt(CheckpointVersion::V3.number()))
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

/// The heads a checkpoint of version 1 or 2 covers, in leaf order.
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

/// The root over `heads`, as a tree of every chain's head (versions 1 and 2).
fn snapshot_root(heads: &[Head]) -> String {
    let leaves: Vec<Hash> = heads
        .iter()
        .map(|h| head_leaf(&h.patient_ins, h.seq, &h.hash))
        .collect();
    hex(&merkle::root(&leaves))
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
    /// The ledger no longer holds what the last checkpoint signed, or the stored log no longer
    /// gives the root it signed: signing now would launder the change.
    #[error("the ledger diverges from checkpoint {checkpoint}: {problem}")]
    Diverges { checkpoint: i64, problem: String },
    /// This key may not sign: a rotation retired it, or no rotation introduced it.
    #[error(transparent)]
    Key(#[from] KeyRefusal),
    /// The stored key set does not verify from the first key: nothing is signed over it.
    #[error("the key set of the log does not verify: {0}")]
    KeySet(String),
}

/// Appends a checkpoint that logs the head of every chain that moved since the last one,
/// signed with `signer`, unless none moved. Refuses when a moved chain no longer holds the
/// head the log last holds for it (a chain truncated or rewritten since), when the stored log
/// no longer gives the root the last checkpoint signed, and when `signer` is not the current
/// key of the key set (retired by a rotation, or never introduced). Two replicas racing append
/// one checkpoint; the other fails on the log's primary key and tries again at its next tick.
pub async fn create_checkpoint(
    db: &sea_orm::DatabaseConnection,
    signer: &CheckpointSigner,
    now: DateTime<Utc>,
) -> Result<CheckpointOutcome, CheckpointError> {
    append_checkpoint(db, signer, now, None).await
}

/// Rotates the signing key: appends a checkpoint (even if no chain moved), signed with
/// `signer`, the current key, that introduces `next_public_key`. From the next checkpoint on,
/// only that key signs; `signer` never again.
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

/// What the next checkpoint logs, after the last one.
struct Movement {
    /// The log of heads so far.
    frontier: merkle::Frontier,
    /// The heads to append, in INS order.
    moved: Vec<Head>,
    /// The log root it seals.
    sealed: String,
}

/// The first checkpoint of version 3, after `last` (of version 1 or 2) or as the log's first:
/// every chain's head, read once. `None` when nothing moved since `last`.
async fn first_movement(
    conn: &impl ConnectionTrait,
    last: Option<&SignedCheckpoint>,
    introduces: bool,
) -> Result<Option<Movement>, CheckpointError> {
    if let Some(last) = last
        && let Some(problem) = divergence(conn, last).await?.into_iter().next()
    {
        return Err(CheckpointError::Diverges {
            checkpoint: last.index,
            problem,
        });
    }
    // The notes first: a chain that moves after they are taken is noted again.
    log::take_moves(conn).await?;
    let heads = current_heads(conn).await?;
    if let Some(last) = last
        && !introduces
        && last.heads_root == snapshot_root(&heads)
        && last.tree_size == heads.len() as i64
    {
        return Ok(None);
    }
    Ok(Some(Movement {
        frontier: merkle::Frontier::new(0, |_| None).expect("the empty log has no nodes"),
        moved: heads,
        sealed: last.map(|c| c.log_root.clone()).unwrap_or_default(),
    }))
}

/// The chains that moved since `last` (of version 3), from the notes the ledger appends
/// leave: their heads, when they differ from the ones the log holds.
async fn movement_since(
    conn: &impl ConnectionTrait,
    last: &SignedCheckpoint,
) -> Result<Movement, CheckpointError> {
    let diverges = |problem: String| CheckpointError::Diverges {
        checkpoint: last.index,
        problem,
    };
    let size = u64::try_from(last.tree_size).unwrap_or(0);
    // The log goes on from the root the last checkpoint signed, or not at all.
    let frontier = log::frontier(conn, size)
        .await?
        .filter(|f| hex(&f.root()) == last.heads_root)
        .ok_or_else(|| {
            diverges(format!(
                "the stored log of heads does not give the root checkpoint {} signed (a stored \
                 node is changed or missing)",
                last.index
            ))
        })?;
    let noted = log::take_moves(conn).await?;
    let heads = log::current_heads_of(conn, &noted).await?;
    let chains: Vec<&str> = heads.iter().map(|h| h.patient_ins.as_str()).collect();
    let logged = log::latest_leaves(conn, &chains, last.tree_size).await?;
    let mut moved = Vec::new();
    let mut before = Vec::new();
    for head in heads {
        match logged.get(&head.patient_ins) {
            Some(leaf) if leaf.head == head => {}
            Some(leaf) => {
                before.push(leaf);
                moved.push(head);
            }
            None => moved.push(head),
        }
    }
    // A chain moves on from the head the log holds for it, or it was cut or rewritten.
    if let Some((leaf, stored)) = log::gone_from_ledger(conn, &before)
        .await?
        .into_iter()
        .next()
    {
        let problem = describe(conn, &leaf.head, stored).await?;
        return Err(diverges(problem));
    }
    Ok(Movement {
        frontier,
        moved,
        sealed: last.log_root.clone(),
    })
}

async fn append_checkpoint(
    db: &sea_orm::DatabaseConnection,
    signer: &CheckpointSigner,
    now: DateTime<Utc>,
    introduce: Option<&str>,
) -> Result<CheckpointOutcome, CheckpointError> {
    let txn = db.begin().await?;
    // Read in the transaction that appends: a rotation racing this checkpoint takes the same
    // next index, and the log's primary key lets one of them through.
    let mut keys = signing_key_set(stored_key_set(&txn).await?, signer)?;
    let last = latest_checkpoint(&txn).await?;
    let movement = match &last {
        Some(last) if last.logs_heads() => movement_since(&txn, last).await?,
        last => match first_movement(&txn, last.as_ref(), introduce.is_some()).await? {
            Some(movement) => movement,
            None => {
                return Ok(CheckpointOutcome::Unchanged(
                    last.clone()
                        .expect("only a checkpoint that exists stands unchanged"),
                ));
            }
        },
    };
    if let Some(last) = &last
        && movement.moved.is_empty()
        && introduce.is_none()
    {
        // The notes taken were of chains the log already holds: taken for good.
        txn.commit().await?;
        return Ok(CheckpointOutcome::Unchanged(last.clone()));
    }
    let Movement {
        mut frontier,
        moved,
        sealed,
    } = movement;
    let index = last.as_ref().map_or(0, |c| c.index) + 1;
    // Never before the last checkpoint: a clock a moment behind (another replica's, the
    // machine `keys rotate` runs on) signs at the last checkpoint's time, so that times never
    // go backwards and a key's period by time agrees with its period by index.
    let mut created_at = crate::clock::to_micros(now);
    if let Some(at) = last
        .as_ref()
        .and_then(|c| DateTime::parse_from_rfc3339(&c.time).ok())
    {
        created_at = created_at.max(at.with_timezone(&Utc));
    }
    // Appended in memory first: the checkpoint row, which the leaves name, is stored first.
    let before = frontier.size();
    let fresh = log::extend(&mut frontier, &moved);
    let consistency = log::consistency_path(&txn, before, frontier.size(), &fresh)
        .await?
        .ok_or_else(|| CheckpointError::Diverges {
            checkpoint: index - 1,
            problem: "a stored node of the log of heads is missing".to_owned(),
        })?;
    let unsigned = SignedCheckpoint {
        version: CheckpointVersion::V3,
        index,
        time: canonical_time(created_at),
        tree_size: i64::try_from(frontier.size()).unwrap_or(i64::MAX),
        heads_root: hex(&frontier.root()),
        log_root: sealed,
        signature: String::new(),
        public_key: signer.public_key(),
        key_id: signer.key_id(),
        next_public_key: introduce.map(|k| k.trim().to_ascii_lowercase()),
        consistency: consistency.iter().map(|h| hex(h)).collect(),
    };
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
        tree_size: Set(checkpoint.tree_size),
        heads_root: Set(checkpoint.heads_root.clone()),
        log_root: Set(checkpoint.log_root.clone()),
        signature: Set(checkpoint.signature.clone()),
        public_key: Set(checkpoint.public_key.clone()),
        version: Set(checkpoint.version),
        next_public_key: Set(checkpoint.next_public_key.clone()),
        consistency: Set(Some(checkpoint.consistency.join(","))),
    })
    .exec_without_returning(&txn)
    .await?;
    log::store(&txn, index, before, &moved, &fresh).await?;
    txn.commit().await?;
    Ok(CheckpointOutcome::Created(checkpoint))
}

/// A divergence in words: the chain of `head.patient_ins` no longer holds `head`; `stored` is
/// the hash now at its sequence (`None`: gone).
async fn describe(
    conn: &impl ConnectionTrait,
    head: &Head,
    stored: Option<String>,
) -> Result<String, DbErr> {
    let (patient, seq, signed) = (&head.patient_ins, head.seq, &head.hash);
    Ok(match stored {
        None => {
            let now = log::current_heads_of(conn, &BTreeSet::from([patient.clone()]))
                .await?
                .first()
                .map_or(0, |h| h.seq);
            format!(
                "{patient}: sequence {seq} is gone (the chain now ends at {now}): truncated after \
                 the checkpoint"
            )
        }
        Some(stored) => format!(
            "{patient}: sequence {seq} has hash {stored}, the checkpoint signed {signed}: \
             rewritten"
        ),
    })
}

/// Where the ledger no longer holds the heads `checkpoint` covers (for version 3, each chain's
/// latest head in its log): each problem names the patient and sequence. Reads every chain
/// the checkpoint covers.
pub async fn divergence(
    conn: &impl ConnectionTrait,
    checkpoint: &SignedCheckpoint,
) -> Result<Vec<String>, DbErr> {
    let rows: Vec<(Head, Option<String>)> = if checkpoint.logs_heads() {
        log::latest_leaves_against_ledger(conn, checkpoint.tree_size)
            .await?
            .into_iter()
            .map(|(leaf, stored)| (leaf.head, stored))
            .collect()
    } else {
        // An integer, formatted: the one statement works on both databases' placeholders.
        let sql = format!(
            "SELECT h.patient_ins, h.seq, h.hash AS signed, e.hash AS stored \
             FROM ledger_checkpoint_heads h LEFT JOIN ledger_events e \
             ON e.patient_ins = h.patient_ins AND e.seq = h.seq \
             WHERE h.checkpoint_idx = {} ORDER BY h.leaf_index",
            checkpoint.index
        );
        conn.query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
            .await?
            .iter()
            .map(|r| {
                Ok((
                    Head {
                        patient_ins: r.try_get("", "patient_ins")?,
                        seq: r.try_get("", "seq")?,
                        hash: r.try_get("", "signed")?,
                    },
                    r.try_get("", "stored")?,
                ))
            })
            .collect::<Result<_, DbErr>>()?
    };
    let mut problems = Vec::new();
    for (head, stored) in rows {
        if stored.as_ref() != Some(&head.hash) {
            problems.push(describe(conn, &head, stored).await?);
        }
    }
    Ok(problems)
}

/// The inclusion proof of `patient_ins`'s head in `checkpoint`, if it covers the chain: for
/// version 3, of the chain's latest leaf among the checkpoint's, from O(log n) stored nodes.
pub async fn inclusion_proof(
    conn: &impl ConnectionTrait,
    checkpoint: &SignedCheckpoint,
    patient_ins: &str,
) -> Result<Option<InclusionProof>, DbErr> {
    if !checkpoint.logs_heads() {
        return legacy_inclusion_proof(conn, checkpoint.index, patient_ins).await;
    }
    let Some(leaf) = log::latest_leaves(conn, &[patient_ins], checkpoint.tree_size)
        .await?
        .remove(patient_ins)
    else {
        return Ok(None);
    };
    let path = log::inclusion_path(
        conn,
        u64::try_from(leaf.index).unwrap_or(u64::MAX),
        u64::try_from(checkpoint.tree_size).unwrap_or(0),
    )
    .await?
    .ok_or_else(|| {
        DbErr::Custom("a stored node of the log of heads is missing: see `ledger verify`".into())
    })?;
    Ok(Some(InclusionProof {
        leaf_index: leaf.index,
        sequence: leaf.head.seq,
        head_hash: leaf.head.hash,
        path: path.iter().map(|h| hex(h)).collect(),
    }))
}

/// The inclusion proof in checkpoint `idx` of version 1 or 2, from its stored heads.
async fn legacy_inclusion_proof(
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

/// The consistency proof from checkpoint `from` to checkpoint `to`, or `None` when either does
/// not exist or `from` > `to`. Between checkpoints of version 3, from O(log n) stored nodes;
/// between checkpoints of versions 1 and 2, from their log (which no longer grows); from one of
/// those to one of version 3, through the last checkpoint of version 1 or 2, which `to` seals.
pub async fn consistency(
    conn: &impl ConnectionTrait,
    from: i64,
    to: i64,
) -> Result<Option<Consistency>, DbErr> {
    if from < 1 || from > to {
        return Ok(None);
    }
    let (Some(older), Some(newer)) = (
        checkpoint_at(conn, from).await?,
        checkpoint_at(conn, to).await?,
    ) else {
        return Ok(None);
    };
    let missing = || DbErr::Custom("a stored node of the log of heads is missing".into());
    let (proof, sealed) = match (older.logs_heads(), newer.logs_heads()) {
        (true, true) => {
            let (m, n) = (
                u64::try_from(older.tree_size).unwrap_or(0),
                u64::try_from(newer.tree_size).unwrap_or(0),
            );
            let proof = log::consistency_path(conn, m, n, &BTreeMap::new())
                .await?
                .ok_or_else(missing)?;
            (proof, None)
        }
        (false, false) => (legacy_consistency(conn, from, to).await?, None),
        (false, true) => {
            let sealed = last_legacy_checkpoint(conn).await?.ok_or_else(missing)?;
            (
                legacy_consistency(conn, from, sealed.index).await?,
                Some(sealed),
            )
        }
        (true, false) => return Ok(None),
    };
    Ok(Some(Consistency {
        from: older,
        to: newer,
        proof: proof.iter().map(|h| hex(h)).collect(),
        sealed,
    }))
}

/// The consistency proof of the log of checkpoints of versions 1 and 2 from `from` to `to`.
async fn legacy_consistency(
    conn: &impl ConnectionTrait,
    from: i64,
    to: i64,
) -> Result<Vec<Hash>, DbErr> {
    let leaves: Vec<Hash> = ledger_checkpoint::Entity::find()
        .filter(ledger_checkpoint::Column::Idx.lte(to))
        .order_by_asc(ledger_checkpoint::Column::Idx)
        .all(conn)
        .await?
        .into_iter()
        .filter_map(|m| SignedCheckpoint::from(m).log_leaf())
        .collect();
    Ok(
        merkle::consistency_proof(usize::try_from(from).unwrap_or(usize::MAX), &leaves)
            .unwrap_or_default(),
    )
}

/// Verifies the stored log and the latest checkpoint against the ledger: every signature by
/// the key of its period, the key set followed from `anchor` (the first key, when given; else
/// the first checkpoint's), the shape of the log (log roots, sealed roots, consistency
/// proofs), each checkpoint's heads root from its stored heads (versions 1 and 2) or stored
/// nodes (version 3), the stored log of heads against its leaves, and that every chain still
/// holds its head in the latest checkpoint. Each problem is one line.
pub async fn verify_checkpoints(
    conn: &impl ConnectionTrait,
    anchor: Option<&str>,
) -> Result<Vec<String>, DbErr> {
    let log = all_checkpoints(conn).await?;
    let mut problems = Vec::new();
    let mut shape = LogShape::default();
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
        if let Err(problem) = shape.push(c) {
            problems.push(problem);
        }
        let stored = if c.logs_heads() {
            log::root_at(conn, u64::try_from(c.tree_size).unwrap_or(0))
                .await?
                .map(|root| hex(&root))
        } else {
            let heads = checkpoint_heads(conn, c.index).await?;
            (heads.len() as i64 == c.tree_size).then(|| snapshot_root(&heads))
        };
        if stored.as_deref() != Some(c.heads_root.as_str()) {
            problems.push(format!(
                "checkpoint {}: its stored heads are not those it signed",
                c.index
            ));
        }
    }
    if let Some(last) = log.last() {
        if last.logs_heads() {
            problems.extend(log::verify_stored(conn, last.tree_size).await?);
        }
        problems.extend(
            divergence(conn, last)
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
            consistency: Vec::new(),
        }
    }

    /// The golden test of the signed statements: the signatures and log leaves below were
    /// computed apart from this code (Python's `cryptography` and `hashlib`, from the module's
    /// documented bytes). A change to any version's bytes fails here; those of versions 1 and
    /// 2 must never change, or every checkpoint signed before stops verifying. Version 3 has no
    /// leaf in a log of checkpoints.
    #[test]
    fn every_statement_version_signs_its_documented_bytes() {
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
            (
                example(CheckpointVersion::V3, None),
                "2bc6f7c829997c34bcb9161ec75a21cf194735651a042274536e12d6d7a1a4b88d4f21e42f80f1d960d9220b8f1ce5ba06926a291ac258d69ec1370b8f76020d",
                "",
            ),
            (
                example(CheckpointVersion::V3, Some(next)),
                "4caaa6e4113e96c446e71613025dc06a6f76314ff7ce626a772b8e06f43b7684c3114d7a29c31fd22904b92ceaa09b1a89f8d81a3aa3f69207019b4a38a00b08",
                "",
            ),
        ];
        for (unsigned, signature, leaf) in cases {
            let signed = key.sign(unsigned);
            assert_eq!(signed.signature, signature, "{signed:?}");
            assert_eq!(
                signed.log_leaf().map(|l| hex(&l)).unwrap_or_default(),
                leaf,
                "{signed:?}"
            );
            assert!(signed.signed_by(&key.public_key()));
        }
        // A statement of one version read as another does not verify.
        let mut relabelled = key.sign(example(CheckpointVersion::V3, None));
        relabelled.version = CheckpointVersion::V2;
        assert!(!relabelled.signed_by(&key.public_key()));
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
