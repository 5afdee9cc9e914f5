//! Idempotent writes: a client retries a request with the same key and gets the first result,
//! never a second copy; the same key with another payload is a conflict.
//!
//! A request is identified by a hash of its parts; the first result is stored with its key and
//! hash (documents and messages each keep them in their own row, under a unique constraint
//! per author and key). The check runs under the patient's lock, so two retries cannot both
//! pass it.

use sha2::{Digest, Sha256};

use super::ServiceError;

/// What a request asked for, as a hash of its parts (each length-prefixed, so that parts cannot
/// run into each other).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHash(String);

impl RequestHash {
    /// The hash of these parts, in this order.
    pub fn of<'a>(parts: impl IntoIterator<Item = &'a str>) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
        Self(format!("{:x}", hasher.finalize()))
    }

    /// The stored form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Given what was stored earlier under the same author and key, and how to read the hash of
/// its request, the earlier result to replay, or `Conflict` when the key was used for another
/// request of this kind (`what`: "document", "message").
pub fn replay<T>(
    earlier: Option<T>,
    stored_hash: impl FnOnce(&T) -> Option<&str>,
    request: &RequestHash,
    what: &str,
) -> Result<Option<T>, ServiceError> {
    match earlier {
        None => Ok(None),
        Some(result) if stored_hash(&result) == Some(request.as_str()) => Ok(Some(result)),
        Some(_) => Err(ServiceError::Conflict(format!(
            "this idempotency key was already used for a different {what}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_length_prefixed() {
        assert_ne!(RequestHash::of(["ab", "c"]), RequestHash::of(["a", "bc"]));
        assert_eq!(RequestHash::of(["ab", "c"]), RequestHash::of(["ab", "c"]));
    }

    #[test]
    fn same_key_same_request_replays_and_another_request_conflicts() {
        let request = RequestHash::of(["x"]);
        let stored = |hash: &RequestHash| (7, Some(hash.as_str().to_owned()));
        fn hash_of(row: &(i32, Option<String>)) -> Option<&str> {
            row.1.as_deref()
        }
        assert_eq!(
            replay(Some(stored(&request)), hash_of, &request, "document")
                .unwrap()
                .map(|row| row.0),
            Some(7)
        );
        assert!(
            replay(None, hash_of, &request, "document")
                .unwrap()
                .is_none()
        );
        let other = RequestHash::of(["y"]);
        assert!(matches!(
            replay(Some(stored(&other)), hash_of, &request, "message"),
            Err(ServiceError::Conflict(m)) if m.ends_with("different message")
        ));
    }
}
