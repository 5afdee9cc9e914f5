//! The keys that sign the checkpoints, and their rotation.
//!
//! A log of checkpoints is signed by one key at a time. A new key is introduced by a checkpoint
//! (of version 2) that the key before it signs and that names the new public key; from the next
//! checkpoint on, only the new key signs. So the key set is not something to trust apart from
//! the log: whoever holds the first key follows the introducing checkpoints, each signed by the
//! key before, to every later key — and each key signs only its own stretch of the log, by
//! index and by time.
//!
//! [`KeySet`] is that rule, once: the server asks it whether it may sign, and checks each
//! checkpoint it makes against it before storing it; the offline verifiers fold the published
//! log (or the key list an export carries) through it.

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use entity::values::CheckpointVersion;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::checkpoint::SignedCheckpoint;
use super::merkle::parse_hash;
use crate::domain::content::length_prefixed;
use crate::ledger::hex;

/// The id of a checkpoint key: the first 8 bytes, in 16 lowercase hex digits, of SHA-256 over
/// `espace-sante/checkpoint-key/v1` and the public key's 64 lowercase hex digits, each field
/// length-prefixed as in the ledger's canonical encoding.
///
/// Why a digest of the key: it is derived, so it can never disagree with the key it names (no
/// registry of names to keep, nothing to assign), and anyone recomputes it from the public key
/// alone. Why 8 bytes: it is a name for people and logs, short enough to read in a warning,
/// not a trust root — a verifier always checks the signature with the whole public key, taken
/// from the chain of introducing checkpoints, so a second key with the same id gains nothing;
/// among the handful of keys an operator ever uses, 64 bits never collide by chance. The
/// domain-separation label keeps it from being any other digest of the same bytes.
pub fn key_id(public_key: &str) -> String {
    let digest = Sha256::digest(length_prefixed(&[
        "espace-sante/checkpoint-key/v1",
        &normalized(public_key),
    ]));
    hex(&digest[..8])
}

/// A public key as the key set compares it: lowercase, without surrounding blanks.
fn normalized(public_key: &str) -> String {
    public_key.trim().to_ascii_lowercase()
}

/// Parses a canonical time of the log.
fn time_of(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One key of the key set, and the stretch of the log it signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyPeriod {
    /// [`key_id`] of the public key.
    pub key_id: String,
    /// The Ed25519 public key, 64 lowercase hex digits.
    pub public_key: String,
    /// The first checkpoint it signs.
    pub from_index: i64,
    /// From when: the time of the checkpoint that introduced it; `null` for the first key,
    /// which signs from the first checkpoint on.
    pub from_time: Option<String>,
    /// The last checkpoint it signs (the one that introduces its successor); `null` while it
    /// is the current key.
    pub until_index: Option<i64>,
    /// Until when: the time of that checkpoint; `null` while it is the current key.
    pub until_time: Option<String>,
    /// The checkpoint, signed by the key before, that introduced this one; absent for the
    /// first key (the one a verifier already holds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introduced_by: Option<SignedCheckpoint>,
}

impl KeyPeriod {
    /// The period in words, for messages: `checkpoints 1 to 3, until 2026-…`.
    pub fn describe(&self) -> String {
        let indexes = match self.until_index {
            Some(until) => format!("checkpoints {} to {until}", self.from_index),
            None => format!("checkpoints {} on", self.from_index),
        };
        let times = match (&self.from_time, &self.until_time) {
            (None, None) => String::new(),
            (Some(from), None) => format!(", from {from}"),
            (None, Some(until)) => format!(", until {until}"),
            (Some(from), Some(until)) => format!(", from {from} until {until}"),
        };
        format!("{indexes}{times}")
    }

    fn covers(&self, index: i64) -> bool {
        self.from_index <= index && self.until_index.is_none_or(|until| index <= until)
    }
}

/// Why a server may not sign with its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefusal {
    /// A rotation introduced a successor: the key signs no more.
    #[error(
        "the signing key {key_id} was retired at checkpoint {retired_at}: key {current} signs \
         now; restart with the current key"
    )]
    Retired {
        key_id: String,
        retired_at: i64,
        current: String,
    },
    /// No introducing checkpoint leads to the key.
    #[error(
        "the signing key {key_id} is not in the key set: key {current} signs now; a new key is \
         introduced by `espace-sante keys rotate`, run with the current key"
    )]
    Unknown { key_id: String, current: String },
}

/// The keys a verifier trusts, each for its stretch of the log: a first key held beforehand,
/// then each key an introducing checkpoint names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySet {
    /// Never empty: the first key is the anchor.
    keys: Vec<KeyPeriod>,
}

impl KeySet {
    /// Trust in `public_key` alone, from the first checkpoint on: what a verifier holds
    /// before it follows any rotation.
    pub fn anchored(public_key: &str) -> Self {
        let public_key = normalized(public_key);
        Self {
            keys: vec![KeyPeriod {
                key_id: key_id(&public_key),
                public_key,
                from_index: 1,
                from_time: None,
                until_index: None,
                until_time: None,
                introduced_by: None,
            }],
        }
    }

    /// The keys from `anchor` through `introductions` (introducing checkpoints, in log order)
    /// as far as they verify, and why it stopped, if it did.
    pub fn follow_all<'a>(
        anchor: &str,
        introductions: impl IntoIterator<Item = &'a SignedCheckpoint>,
    ) -> (Self, Option<String>) {
        let mut set = Self::anchored(anchor);
        for introduction in introductions {
            if let Err(problem) = set.follow(introduction) {
                return (set, Some(problem));
            }
        }
        (set, None)
    }

    /// The key set a published list names (`keys` of `GET /ledger/checkpoints`, or of an
    /// export), trusted from `anchor`, the first key a verifier already holds: the list must
    /// start with it, and each later key must be introduced by a checkpoint signed by the key
    /// before it, within that key's period; the periods are then those the introductions
    /// give, and the list must say exactly that.
    pub fn from_published(anchor: &str, published: &[KeyPeriod]) -> Result<Self, String> {
        let mut set = Self::anchored(anchor);
        let Some(first) = published.first() else {
            return Ok(set);
        };
        if normalized(&first.public_key) != set.keys[0].public_key {
            return Err(format!(
                "the key set starts with key {}, not with key {}, the one you hold",
                key_id(&first.public_key),
                set.keys[0].key_id
            ));
        }
        for key in &published[1..] {
            let Some(introduction) = &key.introduced_by else {
                return Err(format!(
                    "key {}: no introducing checkpoint: no key before it vouches for it",
                    key_id(&key.public_key)
                ));
            };
            if introduction.next_public_key.as_deref().map(normalized)
                != Some(normalized(&key.public_key))
            {
                return Err(format!(
                    "key {}: checkpoint {}, given as its introduction, does not introduce it",
                    key_id(&key.public_key),
                    introduction.index
                ));
            }
            set.follow(introduction)?;
        }
        match set.differs_from(published) {
            Some(problem) => Err(problem),
            None => Ok(set),
        }
    }

    /// Every key, oldest first.
    pub fn keys(&self) -> &[KeyPeriod] {
        &self.keys
    }

    /// The key that signs now.
    pub fn current(&self) -> &KeyPeriod {
        self.keys.last().expect("a key set holds its anchor")
    }

    /// Whether `public_key` may sign the next checkpoint: only the current key does.
    pub fn refusal_for(&self, public_key: &str) -> Option<KeyRefusal> {
        let public_key = normalized(public_key);
        let current = self.current();
        if current.public_key == public_key {
            return None;
        }
        Some(
            match self.keys.iter().find(|k| k.public_key == public_key) {
                Some(retired) => KeyRefusal::Retired {
                    key_id: retired.key_id.clone(),
                    retired_at: retired.until_index.unwrap_or(retired.from_index),
                    current: current.key_id.clone(),
                },
                None => KeyRefusal::Unknown {
                    key_id: key_id(&public_key),
                    current: current.key_id.clone(),
                },
            },
        )
    }

    /// The key that signed checkpoint `c`, or why it is not to be trusted: it must be signed
    /// by the key whose period holds its index, at a time within that period, and its
    /// signature must verify with that key. Every message names the checkpoint and the key.
    pub fn signer_of(&self, c: &SignedCheckpoint) -> Result<&KeyPeriod, String> {
        let Some(period) = self.keys.iter().find(|k| k.covers(c.index)) else {
            return Err(format!(
                "checkpoint {}: no key of the key set signs at this index",
                c.index
            ));
        };
        let signer = normalized(&c.public_key);
        let signer_id = key_id(&signer);
        if signer != period.public_key {
            return Err(match self.keys.iter().find(|k| k.public_key == signer) {
                Some(other) => format!(
                    "checkpoint {}: signed by key {signer_id} outside its validity period ({}); \
                     key {} signs checkpoint {}",
                    c.index,
                    other.describe(),
                    period.key_id,
                    c.index
                ),
                None => format!(
                    "checkpoint {}: not signed by key {} ({}), the key of the key set for it, \
                     but by key {signer_id}, which the key set does not hold",
                    c.index,
                    period.key_id,
                    period.describe()
                ),
            });
        }
        if !c.key_id.is_empty() && c.key_id != period.key_id {
            return Err(format!(
                "checkpoint {}: names key id {}, but its public key's id is {}",
                c.index, c.key_id, period.key_id
            ));
        }
        if !c.signed_by(&period.public_key) {
            return Err(format!(
                "checkpoint {}: the signature does not verify with key {}",
                c.index, period.key_id
            ));
        }
        let Some(at) = time_of(&c.time) else {
            return Err(format!(
                "checkpoint {}: its time {:?} is not an RFC 3339 time",
                c.index, c.time
            ));
        };
        let before = |bound: &Option<String>| bound.as_deref().and_then(time_of);
        if before(&period.from_time).is_some_and(|from| at < from)
            || before(&period.until_time).is_some_and(|until| at > until)
        {
            return Err(format!(
                "checkpoint {}: signed by key {} at {}, outside its validity period ({})",
                c.index,
                period.key_id,
                c.time,
                period.describe()
            ));
        }
        Ok(period)
    }

    /// Follows an introducing checkpoint: a checkpoint of version 2, signed by the current key
    /// within its period, naming an Ed25519 public key the set never held. The current key's
    /// period ends with it; the new key signs from the next index on, from its time.
    pub fn follow(&mut self, introduction: &SignedCheckpoint) -> Result<(), String> {
        let index = introduction.index;
        let Some(next) = introduction.next_public_key.as_deref().map(normalized) else {
            return Err(format!("checkpoint {index}: it introduces no key"));
        };
        if introduction.version < CheckpointVersion::V2 {
            return Err(format!(
                "checkpoint {index}: a checkpoint of version {} cannot introduce a key (its \
                 signature does not cover one)",
                introduction.version.number()
            ));
        }
        let signer = self.signer_of(introduction)?.public_key.clone();
        if signer != self.current().public_key {
            return Err(format!(
                "checkpoint {index}: introduces a key within a period that already ended"
            ));
        }
        if parse_hash(&next)
            .and_then(|k| VerifyingKey::from_bytes(&k).ok())
            .is_none()
        {
            return Err(format!(
                "checkpoint {index}: introduces {next:?}, which is not an Ed25519 public key"
            ));
        }
        if let Some(known) = self.keys.iter().find(|k| k.public_key == next) {
            return Err(format!(
                "checkpoint {index}: introduces key {}, which the key set already holds: a key \
                 is introduced once, and a retired key never comes back",
                known.key_id
            ));
        }
        let current = self.keys.last_mut().expect("a key set holds its anchor");
        current.until_index = Some(index);
        current.until_time = Some(introduction.time.clone());
        self.keys.push(KeyPeriod {
            key_id: key_id(&next),
            public_key: next,
            from_index: index + 1,
            from_time: Some(introduction.time.clone()),
            until_index: None,
            until_time: None,
            introduced_by: Some(introduction.clone()),
        });
        Ok(())
    }

    /// The first difference between this set and a published list of keys, if any.
    pub fn differs_from(&self, published: &[KeyPeriod]) -> Option<String> {
        if published.len() != self.keys.len() {
            return Some(format!(
                "the published key set holds {} key(s), the introducing checkpoints give {}",
                published.len(),
                self.keys.len()
            ));
        }
        self.keys
            .iter()
            .zip(published)
            .find(|(ours, theirs)| ours != theirs)
            .map(|(ours, theirs)| {
                format!(
                    "key {}: published as key {} for {}, the introducing checkpoints give {}",
                    ours.key_id,
                    theirs.key_id,
                    theirs.describe(),
                    ours.describe()
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_id_is_pinned_and_ignores_case() {
        let public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
        assert_eq!(key_id(public_key), "0e31fa53eb1ab921");
        assert_eq!(key_id(&public_key.to_uppercase()), key_id(public_key));
        assert_eq!(key_id(public_key).len(), 16);
    }
}

#[cfg(test)]
mod rotation {
    use super::*;
    use crate::ledger::checkpoint::CheckpointSigner;

    fn at(index: i64, minute: u32) -> SignedCheckpoint {
        SignedCheckpoint {
            version: CheckpointVersion::V2,
            index,
            time: format!("2026-11-29T10:{minute:02}:00.000000Z"),
            tree_size: 1,
            heads_root: "aa".repeat(32),
            log_root: "bb".repeat(32),
            signature: String::new(),
            public_key: String::new(),
            key_id: String::new(),
            next_public_key: None,
            consistency: Vec::new(),
        }
    }

    fn introducing(index: i64, minute: u32, next: &CheckpointSigner) -> SignedCheckpoint {
        SignedCheckpoint {
            next_public_key: Some(next.public_key()),
            ..at(index, minute)
        }
    }

    /// Key `old` signs 1 and 2, introduces `new` at 2 (minute 2); `new` signs from 3.
    fn rotated() -> (CheckpointSigner, CheckpointSigner, KeySet) {
        let (old, new) = (CheckpointSigner::generate(), CheckpointSigner::generate());
        let introduction = old.sign(introducing(2, 2, &new));
        let (keys, problem) = KeySet::follow_all(&old.public_key(), [&introduction]);
        assert_eq!(problem, None);
        (old, new, keys)
    }

    #[test]
    fn each_key_signs_its_own_stretch_of_the_log_by_index_and_time() {
        let (old, new, keys) = rotated();
        assert_eq!(keys.keys().len(), 2);
        assert_eq!(keys.keys()[0].until_index, Some(2));
        assert_eq!(keys.keys()[1].from_index, 3);
        assert_eq!(keys.current().public_key, new.public_key());
        assert!(keys.signer_of(&old.sign(at(1, 1))).is_ok());
        assert!(keys.signer_of(&new.sign(at(3, 3))).is_ok());

        let late = keys.signer_of(&old.sign(at(3, 3))).unwrap_err();
        assert!(
            late.contains("checkpoint 3")
                && late.contains(&old.key_id())
                && late.contains("outside its validity period"),
            "{late}"
        );
        let early = keys.signer_of(&new.sign(at(2, 1))).unwrap_err();
        assert!(early.contains(&new.key_id()), "{early}");
        // In the new key's indexes, but timed before the rotation.
        let backdated = keys.signer_of(&new.sign(at(3, 1))).unwrap_err();
        assert!(
            backdated.contains("checkpoint 3") && backdated.contains("outside its validity"),
            "{backdated}"
        );
    }

    #[test]
    fn only_the_current_key_may_sign_and_a_retired_or_unknown_one_is_told_so() {
        let (old, new, keys) = rotated();
        assert_eq!(keys.refusal_for(&new.public_key()), None);
        assert!(matches!(
            keys.refusal_for(&old.public_key()),
            Some(KeyRefusal::Retired { retired_at: 2, .. })
        ));
        assert!(matches!(
            keys.refusal_for(&CheckpointSigner::generate().public_key()),
            Some(KeyRefusal::Unknown { .. })
        ));
    }

    #[test]
    fn an_introduction_signed_by_another_key_or_reintroducing_a_key_is_refused() {
        let (old, new, stranger) = (
            CheckpointSigner::generate(),
            CheckpointSigner::generate(),
            CheckpointSigner::generate(),
        );
        let forged = stranger.sign(introducing(2, 2, &new));
        let (keys, problem) = KeySet::follow_all(&old.public_key(), [&forged]);
        assert_eq!(
            keys.keys().len(),
            1,
            "the forged introduction is not followed"
        );
        assert!(
            problem.is_some_and(|p| p.contains("checkpoint 2") && p.contains(&stranger.key_id())),
        );

        let back = new.sign(introducing(4, 4, &old));
        let (_, problem) = KeySet::follow_all(
            &old.public_key(),
            [&old.sign(introducing(2, 2, &new)), &back],
        );
        assert!(
            problem.is_some_and(|p| p.contains("a retired key never comes back")),
            "a retired key is never introduced again"
        );

        let mut unversioned = old.sign(introducing(2, 2, &new));
        unversioned.version = CheckpointVersion::V1;
        let (_, problem) = KeySet::follow_all(&old.public_key(), [&unversioned]);
        assert!(problem.is_some_and(|p| p.contains("version 1")));
    }

    #[test]
    fn a_published_key_set_is_trusted_from_the_first_key_only_through_its_introductions() {
        let (old, _new, keys) = rotated();
        let published = keys.keys().to_vec();
        assert_eq!(
            KeySet::from_published(&old.public_key(), &published),
            Ok(keys.clone())
        );
        let other = CheckpointSigner::generate().public_key();
        assert!(KeySet::from_published(&other, &published).is_err());

        let mut missing = published.clone();
        missing[1].introduced_by = None;
        let refused = KeySet::from_published(&old.public_key(), &missing).unwrap_err();
        assert!(refused.contains("no introducing checkpoint"), "{refused}");

        let mut stretched = published.clone();
        stretched[0].until_index = Some(5);
        let refused = KeySet::from_published(&old.public_key(), &stretched).unwrap_err();
        assert!(refused.contains(&old.key_id()), "{refused}");

        let mut resigned = published;
        let stranger = CheckpointSigner::generate();
        let introduction = resigned[1].introduced_by.take().expect("an introduction");
        resigned[1].introduced_by = Some(stranger.sign(introduction));
        assert!(KeySet::from_published(&old.public_key(), &resigned).is_err());
    }
}
