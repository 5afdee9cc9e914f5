//! The canonical encoding that each event's hash covers. README.md restates it for third
//! parties; change neither without the other, and never for events already written.
//!
//! The encoding is the concatenation, in this order, of eleven fields, each written as its
//! length in bytes (4 bytes, unsigned, big-endian) followed by its UTF-8 bytes:
//!
//! 1. the domain tag `espace-sante/ledger/v1`
//! 2. the patient's INS (15 characters)
//! 3. the sequence number, in decimal without leading zeros
//! 4. the time, RFC 3339 in UTC with exactly six fractional digits and `Z`
//!    (`2026-11-28T10:15:00.000000Z`)
//! 5. the kind (`PROFILE_CREATED`, …)
//! 6. the actor's role (`PATIENT`, `PRACTITIONER`, `OPERATOR`, `SYSTEM`)
//! 7. the actor's identifier (INS, RPPS number, operator id, or `system`)
//! 8. the actor's display name
//! 9. the actor's profession (practitioners; empty otherwise)
//! 10. the payload, a JSON text, byte for byte as stored
//! 11. the previous event's hash, 64 lowercase hex digits (64 `0` for sequence 1)
//!
//! The hash is SHA-256 over those bytes, written as 64 lowercase hex digits.

use entity::ledger_event;
use sha2::{Digest, Sha256};

/// The previous hash of the first event of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN_TAG: &str = "espace-sante/ledger/v1";

/// The bytes the hash of `event` covers (its `id` and `hash` are not part of them).
pub fn canonical_bytes(event: &ledger_event::Model) -> Vec<u8> {
    let seq = event.seq.to_string();
    let at = event
        .occurred_at
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    let fields: [&str; 11] = [
        DOMAIN_TAG,
        event.patient_ins.as_str(),
        &seq,
        &at,
        event.kind.as_str(),
        event.actor_role.as_str(),
        &event.actor_id,
        &event.actor_name,
        &event.actor_profession,
        &event.payload,
        &event.prev_hash,
    ];
    let mut bytes = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    bytes
}

/// SHA-256 of the canonical encoding, in lowercase hex.
pub fn event_hash(event: &ledger_event::Model) -> String {
    format!("{:x}", Sha256::digest(canonical_bytes(event)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn sample() -> ledger_event::Model {
        ledger_event::Model {
            id: 7,
            patient_ins: crate::domain::Ins::parse("185057800608491").unwrap(),
            seq: 1,
            occurred_at: chrono::Utc
                .with_ymd_and_hms(2026, 11, 28, 10, 15, 0)
                .unwrap(),
            kind: crate::domain::EventKind::BeneficiaryEnrolled,
            actor_role: crate::domain::ActorRole::Operator,
            actor_id: "op-1".into(),
            actor_name: "Agent CPAM".into(),
            actor_profession: String::new(),
            payload: "{}".into(),
            prev_hash: GENESIS_HASH.into(),
            hash: String::new(),
        }
    }

    #[test]
    fn encoding_is_length_prefixed_in_the_documented_order() {
        let bytes = canonical_bytes(&sample());
        assert_eq!(&bytes[..4], &22u32.to_be_bytes());
        assert_eq!(&bytes[4..26], b"espace-sante/ledger/v1");
        let at = b"2026-11-28T10:15:00.000000Z";
        assert!(bytes.windows(at.len()).any(|w| w == at));
        assert!(bytes.ends_with(GENESIS_HASH.as_bytes()));
    }

    #[test]
    fn hash_depends_on_every_field_but_id() {
        let base = event_hash(&sample());
        assert_eq!(base.len(), 64);
        let mut other_id = sample();
        other_id.id = 8;
        assert_eq!(event_hash(&other_id), base);
        let mut changed = sample();
        changed.actor_name = "Agent CPAM ".into();
        assert_ne!(event_hash(&changed), base);
        let mut moved = sample();
        // Moving a byte from one field to the next must change the hash (length prefixes).
        moved.actor_id = "op-".into();
        moved.actor_name = "1Agent CPAM".into();
        assert_ne!(event_hash(&moved), base);
    }

    /// Reads the fields back from an encoding, as a third party would.
    fn decode(mut bytes: &[u8]) -> Option<Vec<String>> {
        let mut fields = Vec::new();
        while !bytes.is_empty() {
            let (len, rest) = bytes.split_at_checked(4)?;
            let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
            let (field, rest) = rest.split_at_checked(len)?;
            fields.push(String::from_utf8(field.to_vec()).ok()?);
            bytes = rest;
        }
        Some(fields)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Whatever the actor and payload hold (any Unicode, separators, empty), the encoding
        /// reads back to exactly the eleven fields: no two events share an encoding.
        #[test]
        fn the_encoding_reads_back_to_its_fields(
            seq in 1i64..i64::MAX,
            actor_id in ".{0,40}",
            actor_name in ".{0,80}",
            actor_profession in ".{0,40}",
            payload in ".{0,200}",
            micros in 0i64..4_000_000_000_000_000,
        ) {
            let mut event = sample();
            event.seq = seq;
            event.actor_id = actor_id.clone();
            event.actor_name = actor_name.clone();
            event.actor_profession = actor_profession.clone();
            event.payload = payload.clone();
            event.occurred_at = chrono::DateTime::from_timestamp_micros(micros).unwrap();
            let fields = decode(&canonical_bytes(&event)).unwrap();
            proptest::prop_assert_eq!(fields.len(), 11);
            proptest::prop_assert_eq!(&fields[0], DOMAIN_TAG);
            proptest::prop_assert_eq!(&fields[2], &seq.to_string());
            proptest::prop_assert_eq!(
                chrono::DateTime::parse_from_rfc3339(&fields[3]).unwrap(),
                event.occurred_at
            );
            proptest::prop_assert_eq!(&fields[6], &actor_id);
            proptest::prop_assert_eq!(&fields[7], &actor_name);
            proptest::prop_assert_eq!(&fields[8], &actor_profession);
            proptest::prop_assert_eq!(&fields[9], &payload);
            proptest::prop_assert_eq!(event_hash(&event).len(), 64);
        }
    }
}
