//! A patient's ledger as exported, and its offline verification: what
//! `espace-sante ledger verify-export` runs, with no database and no network. The format is
//! in the manual's "Verifying a record without trusting us" (docs/src/verification.md); the patient export (a zip) carries it as
//! `ledger.json`, next to the files it names.

use chrono::{DateTime, Utc};
use entity::ledger_event;
use serde::{Deserialize, Serialize};

use crate::domain::{Event, EventKind};
use crate::ledger::checkpoint::{InclusionProof, SignedCheckpoint};
use crate::ledger::content::ContentDigest;
use crate::ledger::keys::{KeyPeriod, KeySet};
use crate::ledger::{ChainChecker, EventFields, canonical_time};

/// The `format` of an export this build writes and reads.
pub const FORMAT: &str = "espace-sante/ledger-export/v1";

/// A patient's whole chain, with the latest checkpoint and the proof that it covers the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerExport {
    pub format: String,
    pub patient: String,
    pub events: Vec<ExportedEvent>,
    /// Content files included beside this history (in the zip).
    #[serde(default)]
    pub files: Vec<ExportedFile>,
    #[serde(default)]
    pub checkpoint: Option<SignedCheckpoint>,
    #[serde(default)]
    pub inclusion: Option<InclusionProof>,
    /// The key set when the checkpoint was exported (as `GET /ledger/checkpoints` publishes
    /// it): a verifier holding the first key follows it to the key that signed the checkpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<KeyPeriod>,
}

/// One event, every field its hash covers, as stored. A withheld event (a document held back
/// from the patient until an announcement consultation) has only its sequence and hashes, and
/// `withheld: true`: its link in the chain is checked, its own hash cannot be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExportedEvent {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub withheld: bool,
    pub sequence: i64,
    /// As the canonical encoding writes it: `2026-11-28T10:15:00.000000Z`.
    pub occurred_at: String,
    pub kind: String,
    pub actor_role: String,
    pub actor_id: String,
    pub actor_name: String,
    /// Empty when the actor has none.
    pub actor_profession: String,
    /// The JSON text, byte for byte.
    pub payload: String,
    pub previous_hash: String,
    pub hash: String,
}

impl ExportedEvent {
    /// The entry of an event withheld from the reader: its place in the chain and its hashes.
    pub fn withheld(e: &ledger_event::Model) -> Self {
        Self {
            withheld: true,
            sequence: e.seq,
            previous_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
            ..Self::default()
        }
    }
}

impl From<&ledger_event::Model> for ExportedEvent {
    fn from(e: &ledger_event::Model) -> Self {
        Self {
            withheld: false,
            sequence: e.seq,
            occurred_at: canonical_time(e.occurred_at),
            kind: e.kind.as_str().to_owned(),
            actor_role: e.actor_role.as_str().to_owned(),
            actor_id: e.actor_id.clone(),
            actor_name: e.actor_name.clone(),
            actor_profession: e.actor_profession.clone(),
            payload: e.payload.clone(),
            previous_hash: e.prev_hash.clone(),
            hash: e.hash.clone(),
        }
    }
}

/// A content file of the export, and the event that stored it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedFile {
    /// Path inside the export.
    pub path: String,
    pub sequence: i64,
    pub sha256: String,
    pub size: i64,
}

impl LedgerExport {
    /// The export of a chain (rows in sequence order), anchored in `checkpoint` when given,
    /// with the key set that leads to the key that signed it.
    pub fn new(
        patient: &str,
        events: &[ledger_event::Model],
        anchor: Option<(SignedCheckpoint, InclusionProof)>,
        keys: Vec<KeyPeriod>,
    ) -> Self {
        let (checkpoint, inclusion) = anchor.unzip();
        Self {
            format: FORMAT.to_owned(),
            patient: patient.to_owned(),
            events: events.iter().map(Into::into).collect(),
            files: Vec::new(),
            checkpoint,
            inclusion,
            keys,
        }
    }
}

/// What the offline verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportVerdict {
    pub events: u64,
    /// Withheld events: linked in the chain, their own hash not recomputed.
    pub withheld: u64,
    pub head_hash: Option<String>,
    /// Files whose bytes were hashed and matched their event.
    pub files_verified: u64,
    /// Files named but not present (a bare `ledger.json`).
    pub files_absent: Vec<String>,
    /// The checkpoint and sequence the chain is anchored at.
    pub anchored: Option<(i64, i64)>,
    /// Every reason not to trust the export; empty when it verifies.
    pub problems: Vec<String>,
}

impl ExportVerdict {
    /// Whether the export verifies.
    pub fn verified(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The digests the exported event binds (`content`, `body`, `attachments[]`): what its kind
/// reads of its payload ([`Event::bound_digests`]); none for a kind or payload it cannot read.
fn bound_digests(event: &ExportedEvent) -> Vec<ContentDigest> {
    EventKind::from_stored(&event.kind)
        .and_then(|kind| Event::read(kind, &event.payload).ok())
        .map(|event| event.bound_digests())
        .unwrap_or_default()
}

/// Verifies an export against the operator's first public key (hex), the one the verifier
/// holds: the format, every event's hash and the chain, each included file against the digest
/// its event binds, the key set the export carries (followed from that key), the checkpoint's
/// signature by the key of its period, and the inclusion of the chain's head in it. `file`
/// gives the bytes of a path of the export, when present.
pub fn verify_export(
    export: &LedgerExport,
    public_key: &str,
    file: impl Fn(&str) -> Option<Vec<u8>>,
) -> ExportVerdict {
    let mut verdict = ExportVerdict::default();
    if export.format != FORMAT {
        verdict.problems.push(format!(
            "unknown format {:?} (this verifier reads {FORMAT})",
            export.format
        ));
        return verdict;
    }
    let mut checker = ChainChecker::new(&export.patient);
    for event in &export.events {
        if event.withheld {
            verdict.withheld += 1;
            checker.push_linked(event.sequence, &event.previous_hash, &event.hash);
            continue;
        }
        let at = match DateTime::parse_from_rfc3339(&event.occurred_at) {
            Ok(at) => at.with_timezone(&Utc),
            Err(_) => {
                verdict.problems.push(format!(
                    "sequence {}: occurredAt is not an RFC 3339 time",
                    event.sequence
                ));
                break;
            }
        };
        if canonical_time(at) != event.occurred_at {
            verdict.problems.push(format!(
                "sequence {}: occurredAt is not in the canonical form",
                event.sequence
            ));
        }
        checker.push_fields(
            EventFields {
                patient: &export.patient,
                seq: event.sequence,
                occurred_at: at,
                kind: &event.kind,
                actor_role: &event.actor_role,
                actor_id: &event.actor_id,
                actor_name: &event.actor_name,
                actor_profession: &event.actor_profession,
                payload: &event.payload,
                prev_hash: &event.previous_hash,
            },
            &event.hash,
        );
    }
    let chain = checker.finish();
    verdict.events = chain.events;
    verdict.head_hash.clone_from(&chain.head_hash);
    if let Some((seq, why)) = chain.first_broken {
        verdict
            .problems
            .push(format!("the chain breaks at sequence {seq}: {why}"));
    }
    let event_at = |seq: i64| {
        usize::try_from(seq - 1)
            .ok()
            .and_then(|i| export.events.get(i))
            .filter(|e| e.sequence == seq)
    };

    for f in &export.files {
        let claimed = ContentDigest::known(&f.sha256, f.size);
        match event_at(f.sequence) {
            Some(event) if !event.withheld && bound_digests(event).contains(&claimed) => {}
            Some(_) => verdict.problems.push(format!(
                "file {}: the event at sequence {} does not bind SHA-256 {} ({} bytes)",
                f.path, f.sequence, f.sha256, f.size
            )),
            None => verdict.problems.push(format!(
                "file {}: no event at sequence {}",
                f.path, f.sequence
            )),
        }
        match file(&f.path) {
            Some(bytes) if ContentDigest::of(&bytes) == claimed => verdict.files_verified += 1,
            Some(bytes) => {
                let got = ContentDigest::of(&bytes);
                verdict.problems.push(format!(
                    "file {}: its bytes have SHA-256 {} ({} bytes), the chain binds {}",
                    f.path, got.sha256, got.size, f.sha256
                ));
            }
            None => verdict.files_absent.push(f.path.clone()),
        }
    }

    match (&export.checkpoint, &export.inclusion) {
        (Some(checkpoint), Some(inclusion)) => {
            let signed = KeySet::from_published(public_key, &export.keys)
                .and_then(|keys| keys.signer_of(checkpoint).map(|_| ()));
            if let Err(why) = signed {
                verdict.problems.push(format!(
                    "checkpoint {}: not signed by the public key {public_key}, nor by a key it \
                     introduced: {why}",
                    checkpoint.index
                ));
            } else if !inclusion.verify(&export.patient, checkpoint) {
                verdict.problems.push(format!(
                    "the inclusion proof of sequence {} does not lead to checkpoint {}'s root",
                    inclusion.sequence, checkpoint.index
                ));
            } else {
                match event_at(inclusion.sequence) {
                    Some(event) if event.hash == inclusion.head_hash => {
                        verdict.anchored = Some((checkpoint.index, inclusion.sequence));
                    }
                    Some(_) => verdict.problems.push(format!(
                        "sequence {}: its hash is not the one checkpoint {} signed: the chain was \
                         rewritten",
                        inclusion.sequence, checkpoint.index
                    )),
                    None => verdict.problems.push(format!(
                        "checkpoint {} covers sequence {}, which the export does not hold: the \
                         chain was truncated",
                        checkpoint.index, inclusion.sequence
                    )),
                }
            }
        }
        _ => verdict.problems.push(
            "no checkpoint and inclusion proof: nothing ties this chain to a signed checkpoint"
                .to_owned(),
        ),
    }
    verdict
}
