//! Content bound into the chain: the SHA-256 and size of what an event stored, written in its
//! payload (encoding version 2), so that content rewritten in its table together with the
//! table's own hash no longer matches the chain. Pure computation: the events
//! ([`super::events`]) carry these digests, and the ledger hashes the events.
//!
//! - documents (`DOCUMENT_FED`, `DOCUMENT_ADDED`): `"content": {"sha256", "size"}` of the
//!   document's bytes;
//! - messages (`MESSAGE_RECEIVED`, `MESSAGE_REPLIED`): `"body"` of the body's UTF-8 bytes, and
//!   `"attachments": [{"id", "sha256", "size"}]`;
//! - medical-profile entries (`MEDICAL_PROFILE_UPDATED`, added or updated): `"content"` of
//!   [`medical_entry_bytes`], a digest of the entry's fields (the ledger never holds them).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// SHA-256 (lowercase hex) and size in bytes of some stored content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentDigest {
    pub sha256: String,
    pub size: i64,
}

impl ContentDigest {
    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self {
            sha256: hex(&Sha256::digest(bytes)),
            size: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
        }
    }

    /// A digest already computed (a stored document's `sha256` and `size_bytes`).
    pub fn known(sha256: &str, size: i64) -> Self {
        Self {
            sha256: sha256.to_owned(),
            size,
        }
    }
}

/// The digest that binds a document's title into the chain: SHA-256 over the tag
/// `espace-sante/document-title/v1` and the title, length-prefixed, then the document's bytes;
/// its size is the title's, in bytes. With the bytes in it, a short title cannot be guessed from
/// the chain alone, and once the purge removed both, from nothing.
pub fn title_digest(title: &str, content: &[u8]) -> ContentDigest {
    let mut digest = TitleDigest::new(title);
    digest.update(content);
    digest.finish()
}

/// [`title_digest`] over content that comes in chunks (an upload read from disk).
#[derive(Debug, Clone)]
pub struct TitleDigest {
    hasher: Sha256,
    size: i64,
}

impl TitleDigest {
    /// Begins with the title.
    pub fn new(title: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(length_prefixed(&["espace-sante/document-title/v1", title]));
        Self {
            hasher,
            size: i64::try_from(title.len()).unwrap_or(i64::MAX),
        }
    }

    /// The next chunk of the document's bytes.
    pub fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
    }

    /// The digest.
    pub fn finish(self) -> ContentDigest {
        ContentDigest {
            sha256: hex(&self.hasher.finalize()),
            size: self.size,
        }
    }
}

/// The digest of content that comes in chunks.
#[derive(Debug, Clone, Default)]
pub struct ChunkedDigest {
    hasher: Sha256,
    size: i64,
}

impl ChunkedDigest {
    /// The next chunk.
    pub fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        self.size = self
            .size
            .saturating_add(i64::try_from(chunk.len()).unwrap_or(i64::MAX));
    }

    /// The digest.
    pub fn finish(self) -> ContentDigest {
        ContentDigest {
            sha256: hex(&self.hasher.finalize()),
            size: self.size,
        }
    }
}

/// The bytes a medical-profile entry's digest covers: its category, label, details (empty when
/// none) and date (`YYYY-MM-DD`, empty when none), length-prefixed like the ledger's fields,
/// after the tag `espace-sante/medical-entry/v1`.
pub fn medical_entry_bytes(
    category: &str,
    label: &str,
    details: Option<&str>,
    since: Option<NaiveDate>,
) -> Vec<u8> {
    let since = since.map(|d| d.format("%Y-%m-%d").to_string());
    length_prefixed(&[
        "espace-sante/medical-entry/v1",
        category,
        label,
        details.unwrap_or(""),
        since.as_deref().unwrap_or(""),
    ])
}

/// Each field as its length (4 bytes, big-endian) then its bytes.
pub fn length_prefixed(fields: &[&str]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(fields.iter().map(|f| f.len() + 4).sum());
    for field in fields {
        let len = u32::try_from(field.len()).unwrap_or(u32::MAX);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(field.as_bytes());
    }
    bytes
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_sha256_and_size() {
        let d = ContentDigest::of(b"abc");
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.size, 3);
    }

    #[test]
    fn a_title_digest_needs_the_document_bytes() {
        let digest = title_digest("Sérologie VIH", b"%PDF-1.4");
        assert_ne!(digest, ContentDigest::of("Sérologie VIH".as_bytes()));
        assert_ne!(digest, title_digest("Sérologie VIH", b"%PDF-1.5"));
        assert_eq!(digest.size, "Sérologie VIH".len() as i64);
    }

    #[test]
    fn medical_digest_tells_fields_apart() {
        let a = medical_entry_bytes("ALLERGY", "Pollen", Some("x"), None);
        let b = medical_entry_bytes("ALLERGY", "Pollenx", None, None);
        assert_ne!(a, b);
    }
}
