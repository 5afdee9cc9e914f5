//! The manual's canonical encoding of a ledger event, written again from docs/src/ledger-encoding.md
//! alone, so
//! that the tests check the server's hashes against the document an outsider reads.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The hash of one event from its fields, as docs/src/ledger-encoding.md states it: the tag by the payload's
/// version (`{"v":2,` or `{"v":2}` begins version 2), then each field as a 4-byte big-endian
/// length and its UTF-8 bytes.
#[allow(clippy::too_many_arguments)]
fn canonical_hash(
    ins: &str,
    sequence: i64,
    occurred_at: &str,
    kind: &str,
    actor: [&str; 4],
    payload: &str,
    previous_hash: &str,
) -> String {
    let tag = if payload.starts_with(r#"{"v":2,"#) || payload == r#"{"v":2}"# {
        "espace-sante/ledger/v2"
    } else {
        "espace-sante/ledger/v1"
    };
    let at: DateTime<Utc> = occurred_at.parse().unwrap();
    let at = at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let sequence = sequence.to_string();
    let [role, id, name, profession] = actor;
    let fields = [
        tag,
        ins,
        &sequence,
        &at,
        kind,
        role,
        id,
        name,
        profession,
        payload,
        previous_hash,
    ];
    let mut hasher = Sha256::new();
    for field in fields {
        hasher.update((field.len() as u32).to_be_bytes());
        hasher.update(field.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// The hash of an `activityHistory` node (`sequence occurredAt kind actor { role id name
/// profession } payload previousHash`).
pub fn readme_hash(ins: &str, node: &Value) -> String {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let actor = &node["actor"];
    canonical_hash(
        ins,
        node["sequence"].as_i64().unwrap(),
        node["occurredAt"].as_str().unwrap(),
        node["kind"].as_str().unwrap(),
        [
            &text(&actor["role"]),
            &text(&actor["id"]),
            &text(&actor["name"]),
            &text(&actor["profession"]),
        ],
        node["payload"].as_str().unwrap(),
        node["previousHash"].as_str().unwrap(),
    )
}

/// The hash of an event of an exported `ledger.json` (flat `actorRole`, `actorId`, …).
pub fn readme_hash_exported(ins: &str, event: &Value) -> String {
    let text = |member: &str| event[member].as_str().unwrap().to_owned();
    canonical_hash(
        ins,
        event["sequence"].as_i64().unwrap(),
        &text("occurredAt"),
        &text("kind"),
        [
            &text("actorRole"),
            &text("actorId"),
            &text("actorName"),
            &text("actorProfession"),
        ],
        &text("payload"),
        &text("previousHash"),
    )
}

/// The nodes of `me { activityHistory }` in an answer's data, oldest first (the API pages
/// newest first).
pub fn history_oldest_first(data: &Value) -> Vec<Value> {
    let mut events: Vec<Value> = data["me"]["activityHistory"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].clone())
        .collect();
    events.reverse();
    events
}
