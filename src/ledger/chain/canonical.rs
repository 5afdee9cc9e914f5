//! The canonical encoding that each event's hash covers. The manual restates it for third
//! parties (docs/src/ledger-encoding.md); change neither without the other, and never for events already written.
//!
//! The encoding is the concatenation, in this order, of eleven fields, each written as its
//! length in bytes (4 bytes, unsigned, big-endian) followed by its UTF-8 bytes:
//!
//! 1. the domain tag: `espace-sante/ledger/v1` or `espace-sante/ledger/v2` (see below)
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
//!
//! **Versions.** An event's version is read from its payload: a payload that begins with the
//! seven bytes `{"v":2,` (or is exactly `{"v":2}`) is version 2, any other version 1. The
//! version names the domain tag (field 1), so a payload cannot be moved from one version to
//! the other without changing the hash. Version 1 is every event written before content was
//! bound into the chain; version 2 events that store content carry its SHA-256 and size in
//! their payload (`content`, `body`, `attachments`: see [`crate::ledger::content`]). The fields, their
//! order and the kinds are the same in both: a new kind is a new string in field 5, nothing
//! more.

pub use crate::domain::content::hex;
use chrono::{DateTime, Utc};
use entity::ledger_event;
use sha2::{Digest, Sha256};

/// The previous hash of the first event of a chain.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN_TAG_V1: &str = "espace-sante/ledger/v1";
const DOMAIN_TAG_V2: &str = "espace-sante/ledger/v2";

/// The version that the events written now use.
pub const CURRENT_VERSION: u8 = 2;

/// The version of an event, read from the beginning of its stored payload.
pub fn encoding_version(payload: &str) -> u8 {
    if payload.starts_with("{\"v\":2,") || payload == "{\"v\":2}" {
        2
    } else {
        1
    }
}

/// The payload text of a new event: the object's members after `"v":2`, compact.
pub fn versioned_payload(payload: &serde_json::Value) -> String {
    let text = payload.to_string();
    match text.strip_prefix('{') {
        Some("}") => "{\"v\":2}".to_owned(),
        Some(members) => format!("{{\"v\":2,{members}"),
        // Payloads are objects; a bare value would keep version 1's meaning.
        None => text,
    }
}

/// The fields of one event that its hash covers, borrowed from wherever the event comes from
/// (a row, or an export's JSON).
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    pub patient: &'a str,
    pub seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub kind: &'a str,
    pub actor_role: &'a str,
    pub actor_id: &'a str,
    pub actor_name: &'a str,
    pub actor_profession: &'a str,
    pub payload: &'a str,
    pub prev_hash: &'a str,
}

impl<'a> From<&'a ledger_event::Model> for EventFields<'a> {
    fn from(event: &'a ledger_event::Model) -> Self {
        Self {
            patient: event.patient_ins.as_str(),
            seq: event.seq,
            occurred_at: event.occurred_at,
            kind: event.kind.as_str(),
            actor_role: event.actor_role.as_str(),
            actor_id: &event.actor_id,
            actor_name: &event.actor_name,
            actor_profession: &event.actor_profession,
            payload: &event.payload,
            prev_hash: &event.prev_hash,
        }
    }
}

/// The time as field 4 writes it: `chrono`'s `%Y-%m-%dT%H:%M:%S%.6fZ`, written digit by digit
/// (verification formats one per event; a format string is parsed at every call).
pub fn canonical_time(at: DateTime<Utc>) -> String {
    let mut buffer = [0u8; 27];
    match write_canonical_time(at, &mut buffer) {
        Some(text) => text.to_owned(),
        None => at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    }
}

/// Writes `at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` into `buffer`; `None` for the times this fixed
/// width does not hold (years outside 0–9999, a leap second), which `chrono` writes.
fn write_canonical_time(at: DateTime<Utc>, buffer: &mut [u8; 27]) -> Option<&str> {
    use chrono::{Datelike, Timelike};
    let nanos = at.nanosecond();
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    if nanos >= 1_000_000_000 {
        return None;
    }
    let digits = |out: &mut [u8], mut value: u32| {
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    digits(&mut buffer[0..4], year);
    buffer[4] = b'-';
    digits(&mut buffer[5..7], at.month());
    buffer[7] = b'-';
    digits(&mut buffer[8..10], at.day());
    buffer[10] = b'T';
    digits(&mut buffer[11..13], at.hour());
    buffer[13] = b':';
    digits(&mut buffer[14..16], at.minute());
    buffer[16] = b':';
    digits(&mut buffer[17..19], at.second());
    buffer[19] = b'.';
    digits(&mut buffer[20..26], nanos / 1000);
    buffer[26] = b'Z';
    std::str::from_utf8(buffer).ok()
}

/// Feeds the bytes the hash of an event covers to `sink`, field by field.
fn write_fields(event: EventFields<'_>, mut sink: impl FnMut(&[u8])) {
    let mut seq = [0u8; 20];
    let seq = format_i64(event.seq, &mut seq);
    let mut time = [0u8; 27];
    let owned_time;
    let at = match write_canonical_time(event.occurred_at, &mut time) {
        Some(text) => text,
        None => {
            owned_time = canonical_time(event.occurred_at);
            &owned_time
        }
    };
    let tag = match encoding_version(event.payload) {
        2 => DOMAIN_TAG_V2,
        _ => DOMAIN_TAG_V1,
    };
    for field in [
        tag,
        event.patient,
        seq,
        at,
        event.kind,
        event.actor_role,
        event.actor_id,
        event.actor_name,
        event.actor_profession,
        event.payload,
        event.prev_hash,
    ] {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        sink(&len.to_be_bytes());
        sink(field.as_bytes());
    }
}

/// `value` in decimal, as `to_string` writes it, without allocating.
fn format_i64(value: i64, buffer: &mut [u8; 20]) -> &str {
    let mut magnitude = value.unsigned_abs();
    let mut start = buffer.len();
    loop {
        start -= 1;
        buffer[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        start -= 1;
        buffer[start] = b'-';
    }
    std::str::from_utf8(&buffer[start..]).unwrap_or("")
}

/// The bytes the hash of an event covers.
pub fn encode(event: EventFields<'_>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(192 + event.payload.len());
    write_fields(event, |part| bytes.extend_from_slice(part));
    bytes
}

/// The bytes the hash of `event` covers (its `id` and `hash` are not part of them).
pub fn canonical_bytes(event: &ledger_event::Model) -> Vec<u8> {
    encode(event.into())
}

/// SHA-256 of the canonical encoding, in lowercase hex.
pub fn event_hash(event: &ledger_event::Model) -> String {
    fields_hash(event.into())
}

/// SHA-256 of the canonical encoding of `fields`, in lowercase hex.
pub fn fields_hash(fields: EventFields<'_>) -> String {
    hex(&fields_digest(fields))
}

/// SHA-256 of the canonical encoding of `fields`, as bytes.
pub fn fields_digest(fields: EventFields<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    write_fields(fields, |part| hasher.update(part));
    hasher.finalize().into()
}

/// Whether `text` is `digest` in lowercase hex (what a verification compares, per event,
/// without writing the hex).
pub fn is_hex_of(text: &str, digest: &[u8; 32]) -> bool {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let text = text.as_bytes();
    text.len() == 64
        && digest.iter().enumerate().all(|(i, byte)| {
            text[2 * i] == DIGITS[usize::from(byte >> 4)]
                && text[2 * i + 1] == DIGITS[usize::from(byte & 0x0f)]
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_and_the_sequence_are_written_as_chrono_and_to_string_write_them() {
        use chrono::TimeZone;
        let times = [
            Utc.with_ymd_and_hms(2026, 11, 28, 10, 15, 0).unwrap(),
            Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap()
                + chrono::Duration::nanoseconds(999_999_999),
            Utc.with_ymd_and_hms(2024, 2, 29, 7, 8, 9).unwrap()
                + chrono::Duration::microseconds(123_456)
                + chrono::Duration::nanoseconds(789),
            Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-5, 6, 7, 8, 9, 10).unwrap(),
        ];
        for at in times {
            assert_eq!(
                canonical_time(at),
                at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
            );
        }
        for value in [0, 1, 9, 10, 12_345, i64::MAX, -1, i64::MIN] {
            assert_eq!(format_i64(value, &mut [0u8; 20]), value.to_string());
        }
    }

    #[test]
    fn the_hash_is_sha256_of_the_encoding_in_lowercase_hex() {
        let event = sample();
        let expected: String = Sha256::digest(encode((&event).into()))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(fields_hash((&event).into()), expected);
    }

    #[test]
    fn a_stated_hash_is_compared_as_lowercase_hex_of_the_digest() {
        let digest = fields_digest((&sample()).into());
        let text = hex(&digest);
        assert!(is_hex_of(&text, &digest));
        assert!(!is_hex_of(&text.to_uppercase(), &digest));
        assert!(!is_hex_of(&text[..63], &digest));
        let mut other = digest;
        other[31] ^= 1;
        assert!(!is_hex_of(&text, &other));
    }
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
    fn version_is_read_from_the_payload_and_names_the_tag() {
        let payload = versioned_payload(&serde_json::json!({ "documentId": 3 }));
        assert_eq!(payload, r#"{"v":2,"documentId":3}"#);
        assert_eq!(versioned_payload(&serde_json::json!({})), r#"{"v":2}"#);
        assert_eq!(encoding_version(&payload), 2);
        assert_eq!(encoding_version(r#"{"v":2}"#), 2);
        assert_eq!(encoding_version(r#"{"documentId":3}"#), 1);
        assert_eq!(encoding_version(r#"{"v":20}"#), 1);
        let mut event = sample();
        event.payload = payload;
        assert_eq!(&canonical_bytes(&event)[4..26], b"espace-sante/ledger/v2");
        assert_eq!(
            &canonical_bytes(&sample())[4..26],
            b"espace-sante/ledger/v1"
        );
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
            proptest::prop_assert_eq!(&fields[0], DOMAIN_TAG_V1);
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
