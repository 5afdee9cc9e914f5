//! Automatic persisted queries, the Apollo convention that Apollo Client, urql and the other
//! usual clients speak: a client sends a query's SHA-256 (`extensions.persistedQuery`) instead
//! of its text; an unknown hash is answered `PERSISTED_QUERY_NOT_FOUND` (message
//! `PersistedQueryNotFound`, which the clients look for), and the client sends the text with its
//! hash once, which is kept.
//!
//! Kept is the text, never a parsed document: a hash resolves to the text it was registered
//! with, and the request goes on as if it had been sent whole, through every limit of
//! [`super::limits`] (the size, the variables, the measures for this caller). The parse is what
//! the cache saves ([`ParsedQueries`]): a text seen before is not parsed again.
//!
//! Both caches are bounded ([`CAPACITY`] entries, the oldest forgotten first; texts within the
//! size limit, documents that passed the limits): a client that fills them with throwaway
//! queries only makes others send their text again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ErrorExtensionValues, Request, ServerError, ServerResult};
use sha2::{Digest, Sha256};

use super::error::ErrorCode;

/// Entries each cache keeps.
pub const CAPACITY: usize = 1024;

/// A bounded map, the oldest entry forgotten first.
#[derive(Debug)]
struct Bounded<V> {
    entries: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V: Clone> Bounded<V> {
    fn new() -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&self, key: &str) -> Option<V> {
        self.entries.get(key).cloned()
    }

    fn insert(&mut self, key: String, value: V) {
        if self.entries.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > CAPACITY {
                if let Some(oldest) = self.order.pop_front() {
                    self.entries.remove(&oldest);
                }
            }
        }
    }
}

/// The SHA-256 of a query text, in lowercase hex, as the clients compute it.
pub fn sha256_hex(text: &str) -> String {
    crate::domain::content::hex(&Sha256::digest(text.as_bytes()))
}

/// The texts registered by their hash; a text over the query size limit is never kept (the
/// guard refuses it anyway).
#[derive(Debug, Clone)]
pub struct PersistedQueries {
    texts: Arc<Mutex<Bounded<Arc<str>>>>,
    max_bytes: usize,
}

impl PersistedQueries {
    /// An empty register, keeping texts of at most `max_bytes` (`QUERY_MAX_BYTES`).
    pub fn new(max_bytes: usize) -> Self {
        Self {
            texts: Arc::new(Mutex::new(Bounded::new())),
            max_bytes,
        }
    }
}

impl ExtensionFactory for PersistedQueries {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersistedQuery {
    version: u64,
    sha256_hash: String,
}

fn refusal(code: ErrorCode, message: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    error
}

impl PersistedQueries {
    /// The text of the request: the one `hash` registered when none is sent, or the one sent,
    /// registered under `hash` when it is its SHA-256.
    fn resolve(&self, hash: &str, sent: String) -> ServerResult<String> {
        let mut texts = self.texts.lock().unwrap_or_else(PoisonError::into_inner);
        if sent.is_empty() {
            return texts.get(hash).map(|text| text.to_string()).ok_or_else(|| {
                refusal(ErrorCode::PersistedQueryNotFound, "PersistedQueryNotFound")
            });
        }
        if sha256_hex(&sent) != hash {
            return Err(refusal(
                ErrorCode::BadUserInput,
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query",
            ));
        }
        if sent.len() <= self.max_bytes {
            texts.insert(hash.to_owned(), Arc::from(sent.as_str()));
        }
        Ok(sent)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for PersistedQueries {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let Some(value) = request.extensions.remove("persistedQuery") else {
            return next.run(ctx, request).await;
        };
        let persisted: PersistedQuery = value
            .into_json()
            .ok()
            .and_then(|json| serde_json::from_value(json).ok())
            .ok_or_else(|| {
                refusal(
                    ErrorCode::BadUserInput,
                    "extensions.persistedQuery must be { version: 1, sha256Hash: <64 hex digits> }",
                )
            })?;
        if persisted.version != 1 {
            return Err(refusal(
                ErrorCode::BadUserInput,
                "only version 1 of persisted queries is supported",
            ));
        }
        let hash = persisted.sha256_hash.to_ascii_lowercase();
        request.query = self.resolve(&hash, std::mem::take(&mut request.query))?;
        next.run(ctx, request).await
    }
}

/// Documents already parsed, by the hash of their text: a query seen before is measured again
/// for its caller, never parsed again.
#[derive(Debug, Clone)]
pub struct ParsedQueries(Arc<Mutex<Bounded<ExecutableDocument>>>);

impl Default for ParsedQueries {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(Bounded::new())))
    }
}

impl ParsedQueries {
    /// The document of `text` if it was kept, and the key to keep it under.
    pub fn get(&self, text: &str) -> (Option<ExecutableDocument>, String) {
        let key = sha256_hex(text);
        let document = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key);
        (document, key)
    }

    /// Keeps a document that passed the limits (never one refused: a refused document is
    /// what a hostile client sends many of, and a parsed one is many times its text).
    pub fn keep(&self, key: String, document: ExecutableDocument) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, document);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_entry_goes_first_and_the_cache_stays_bounded() {
        let mut cache = Bounded::new();
        for i in 0..CAPACITY + 10 {
            cache.insert(format!("k{i}"), i);
        }
        assert_eq!(cache.entries.len(), CAPACITY);
        assert_eq!(cache.get("k0"), None);
        assert_eq!(cache.get(&format!("k{}", CAPACITY + 9)), Some(CAPACITY + 9));
    }

    #[test]
    fn the_hash_is_the_clients_sha256_in_lowercase_hex() {
        assert_eq!(
            sha256_hex("{ __typename }"),
            "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b"
        );
    }
}
