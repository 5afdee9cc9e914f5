//! Where the bytes of documents, attachments and own documents live: an object store, addressed
//! by the SHA-256 the ledger already binds, so that equal contents are stored once. The
//! database keeps only the digest and the size.
//!
//! One URL setting chooses the store (`CONTENT_STORE_URL`, [`ContentStore::open`]): a folder
//! of the local file system (the default, under the working folder, so that `cargo run` needs
//! nothing), or an S3-compatible service (`s3://bucket/prefix?endpoint=…&region=…`, its
//! credentials from the environment, never in the URL, never printed).
//!
//! Ordering, the rule that keeps a row from ever lacking its bytes: an object is written
//! before the transaction that references it commits. A crash between the two leaves an
//! orphan object, which the sweep (`Services::sweep_contents`) removes once older than a grace period; a
//! content fed again refreshes its object's time, so a sweep never removes bytes a
//! transaction is about to reference.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::stream::{BoxStream, StreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    BackoffConfig, ClientOptions, MultipartUpload, ObjectStore, PutPayload, RetryConfig,
};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::task::JoinSet;

use crate::domain::content::ContentDigest;

/// How long an object no row references is kept before the sweep may delete it: longer than
/// any transaction that could still be about to reference it.
pub const ORPHAN_GRACE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// The parts a large content goes up in, on a local folder: what an upload holds in memory.
const LOCAL_PART_BYTES: usize = 512 * 1024;
/// The parts on S3, whose multipart upload refuses parts under 5 MiB (but the last).
const S3_PART_BYTES: usize = 5 * 1024 * 1024;
/// Parts in flight at once during a multipart upload: the memory an upload holds is at most
/// this many parts, and the one being filled.
const PARTS_IN_FLIGHT: usize = 1;
/// What a stream read from disk asks for at a time.
const READ_CHUNK: usize = 64 * 1024;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    /// No object under this digest.
    #[error("no content {0} in the store")]
    NotFound(String),
    /// The bytes read do not have the digest they are stored under (or were given with).
    #[error("the content's digest is {actual}, expected {expected}")]
    DigestMismatch { expected: String, actual: String },
    /// The store failed or cannot be reached: the operation can be retried.
    #[error("content store: {0}")]
    Store(#[source] object_store::Error),
    /// Reading a local file to store failed.
    #[error("reading the content to store: {0}")]
    Io(#[from] std::io::Error),
    /// The setting does not name a store this server can open.
    #[error("CONTENT_STORE_URL: {0}")]
    Setting(String),
}

impl From<ContentError> for sea_orm::DbErr {
    /// For the verifiers, whose errors are the database's: a store that cannot be read stops
    /// the verification as a database that cannot be read does.
    fn from(err: ContentError) -> Self {
        sea_orm::DbErr::Custom(err.to_string())
    }
}

impl From<object_store::Error> for ContentError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { path, .. } => Self::NotFound(path),
            other => Self::Store(other),
        }
    }
}

/// An object's bytes as they come, with their size.
pub struct ContentStream {
    pub size: u64,
    pub bytes: BoxStream<'static, Result<Bytes, ContentError>>,
}

impl fmt::Debug for ContentStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentStream")
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The state of [`ContentStore::stream`]: the store's chunks, their digest so far, and the
/// chunk held back until the next arrives (or the digest is checked).
struct Checked {
    inner: BoxStream<'static, object_store::Result<Bytes>>,
    hasher: Sha256,
    held: Option<Bytes>,
    expected: String,
    done: bool,
}

/// An object found by a listing: its digest and when it was last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub sha256: String,
    pub written_at: DateTime<Utc>,
}

/// The content store: cheap to clone (one shared client).
#[derive(Clone)]
pub struct ContentStore {
    store: Arc<dyn ObjectStore>,
    /// What it is, for the start's log line: the folder, or the bucket and endpoint (never a
    /// credential).
    description: Arc<str>,
    /// Contents larger than this go up in parts of this size rather than in one request.
    part_bytes: usize,
}

impl fmt::Debug for ContentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContentStore")
            .field("store", &self.description)
            .finish()
    }
}

/// The query parameters of an `s3://` URL that would carry a secret: refused, as URLs are
/// printed and logged.
const SECRET_PARAMETERS: [&str; 6] = [
    "access_key_id",
    "aws_access_key_id",
    "secret_access_key",
    "aws_secret_access_key",
    "session_token",
    "aws_session_token",
];

impl ContentStore {
    /// The store `url` names:
    /// - a path, or `file:///path`: a folder of the local file system, created if missing;
    /// - `s3://bucket[/prefix][?endpoint=URL&region=R&…]`: an S3-compatible service; the
    ///   other query parameters are object_store's S3 settings (`allow_http=true` for a test
    ///   server over plain HTTP), and the credentials come from the environment
    ///   (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, …), never from the URL.
    pub fn open(url: &str) -> Result<Self, ContentError> {
        if let Some(rest) = url.strip_prefix("s3://") {
            return Self::s3(rest);
        }
        let folder = url.strip_prefix("file://").unwrap_or(url);
        Self::local(std::path::Path::new(folder))
    }

    /// A folder of the local file system (created if missing).
    pub fn local(folder: &std::path::Path) -> Result<Self, ContentError> {
        std::fs::create_dir_all(folder)?;
        let store = LocalFileSystem::new_with_prefix(folder)?;
        Ok(Self {
            store: Arc::new(store),
            description: format!("the folder {}", folder.display()).into(),
            part_bytes: LOCAL_PART_BYTES,
        })
    }

    fn s3(rest: &str) -> Result<Self, ContentError> {
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(ContentError::Setting(
                "s3:// needs a bucket name".to_owned(),
            ));
        }
        if !prefix.is_empty() {
            return Err(ContentError::Setting(
                "a prefix inside the bucket is not supported: use a bucket of its own".to_owned(),
            ));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        let mut endpoint = None;
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            if SECRET_PARAMETERS.contains(&key.to_ascii_lowercase().as_str()) {
                return Err(ContentError::Setting(format!(
                    "{key} belongs in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), \
                     never in the URL"
                )));
            }
            let config: AmazonS3ConfigKey = key
                .parse()
                .map_err(|_| ContentError::Setting(format!("unknown S3 setting {key}")))?;
            if config == AmazonS3ConfigKey::Endpoint {
                endpoint = Some(value.to_string());
            }
            builder = builder.with_config(config, value.to_string());
        }
        // A store that is down fails the request in seconds (SERVICE_UNAVAILABLE), rather than
        // after object_store's default of three minutes of retries.
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_secs(1),
                base: 2.0,
            },
            max_retries: 2,
            retry_timeout: Duration::from_secs(10),
        };
        let client = ClientOptions::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_timeout(Duration::from_secs(60))
            .with_allow_http(
                endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://")),
            );
        let store = builder
            .with_retry(retry)
            .with_client_options(client)
            .build()?;
        let description = match endpoint {
            Some(endpoint) => format!("the bucket {bucket} at {endpoint}"),
            None => format!("the S3 bucket {bucket}"),
        };
        Ok(Self {
            store: Arc::new(store),
            description: description.into(),
            part_bytes: S3_PART_BYTES,
        })
    }

    /// What this store is, for a log line (no credentials).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Stores `bytes` under their digest, which the caller computed (`digest`); written again
    /// if already there, which refreshes its time against the sweep.
    pub async fn put(&self, digest: &ContentDigest, bytes: Bytes) -> Result<(), ContentError> {
        self.store
            .put(&key(&digest.sha256), PutPayload::from_bytes(bytes))
            .await?;
        Ok(())
    }

    /// Stores the file `file` under `digest` (computed beforehand by [`digest_file`]), reading
    /// and sending it in parts: the memory held is a part or two, whatever the file's size.
    /// The bytes are hashed again on the way; if the file changed in between, the upload is
    /// aborted and nothing is stored.
    pub async fn put_file(
        &self,
        digest: &ContentDigest,
        mut file: tokio::fs::File,
    ) -> Result<(), ContentError> {
        let location = key(&digest.sha256);
        let size = usize::try_from(digest.size).unwrap_or(usize::MAX);
        if size <= self.part_bytes {
            let mut bytes = Vec::with_capacity(size);
            file.read_to_end(&mut bytes).await?;
            check(&digest.sha256, Sha256::new_with_prefix(&bytes))?;
            return self.put(digest, Bytes::from(bytes)).await;
        }
        let mut upload = self.store.put_multipart(&location).await?;
        let mut in_flight = JoinSet::new();
        let sent = self
            .send_parts(file.into_std().await, &mut *upload, &mut in_flight)
            .await
            .and_then(|hasher| check(&digest.sha256, hasher));
        match sent {
            Ok(()) => {
                upload.complete().await?;
                Ok(())
            }
            Err(err) => {
                in_flight.shutdown().await;
                let _ = upload.abort().await;
                Err(err)
            }
        }
    }

    /// Sends `file` to `upload` a part at a time, at most [`PARTS_IN_FLIGHT`] parts in flight
    /// (`in_flight`) and one being filled, in buffers used again from part to part; the digest
    /// of the bytes sent, once every part is written.
    async fn send_parts(
        &self,
        mut file: std::fs::File,
        upload: &mut dyn MultipartUpload,
        in_flight: &mut JoinSet<object_store::Result<()>>,
    ) -> Result<Sha256, ContentError> {
        let buffers = PartBuffers::default();
        let mut hasher = Sha256::new();
        loop {
            let part;
            (file, part, hasher) = fill(file, buffers.take(self.part_bytes), hasher).await?;
            let last = part.len < self.part_bytes;
            if part.len > 0 {
                while in_flight.len() >= PARTS_IN_FLIGHT {
                    part_written(in_flight.join_next().await)?;
                }
                in_flight.spawn(upload.put_part(PutPayload::from(Bytes::from_owner(part))));
            }
            if last {
                break;
            }
        }
        while let Some(done) = in_flight.join_next().await {
            part_written(Some(done))?;
        }
        Ok(hasher)
    }

    /// The bytes stored under `sha256`, unchecked (`None` if there are none): for a verifier,
    /// which reports bytes that do not match rather than failing on them.
    pub async fn read(&self, sha256: &str) -> Result<Option<Bytes>, ContentError> {
        match self.store.get(&key(sha256)).await {
            Ok(result) => Ok(Some(result.bytes().await?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// All of a content's bytes, checked against its digest.
    pub async fn get(&self, sha256: &str) -> Result<Vec<u8>, ContentError> {
        let bytes = self.store.get(&key(sha256)).await?.bytes().await?;
        check(sha256, Sha256::new_with_prefix(&bytes))?;
        Ok(bytes.to_vec())
    }

    /// A content's bytes as a stream, for a response or an archive that must not hold them
    /// whole. The last chunk is held back until the digest of all the bytes is checked: bytes
    /// that do not match end the stream with an error before their end, so that a reader
    /// counting on the size never takes altered bytes for the whole, right ones.
    pub async fn stream(&self, sha256: &str) -> Result<ContentStream, ContentError> {
        let result = self.store.get(&key(sha256)).await?;
        let size = result.meta.size;
        let state = Checked {
            inner: result.into_stream(),
            hasher: Sha256::new(),
            held: None,
            expected: sha256.to_owned(),
            done: false,
        };
        let bytes = futures_util::stream::unfold(state, |mut state| async move {
            if state.done {
                return None;
            }
            loop {
                match state.inner.next().await {
                    Some(Ok(chunk)) if chunk.is_empty() => continue,
                    Some(Ok(chunk)) => {
                        state.hasher.update(&chunk);
                        // Hand out the chunk before this one: the last waits for the check.
                        if let Some(previous) = state.held.replace(chunk) {
                            return Some((Ok(previous), state));
                        }
                    }
                    Some(Err(err)) => {
                        state.done = true;
                        return Some((Err(ContentError::from(err)), state));
                    }
                    None => {
                        state.done = true;
                        let hasher = std::mem::take(&mut state.hasher);
                        if let Err(mismatch) = check(&state.expected, hasher) {
                            return Some((Err(mismatch), state));
                        }
                        let last = state.held.take()?;
                        return Some((Ok(last), state));
                    }
                }
            }
        })
        .boxed();
        Ok(ContentStream { size, bytes })
    }

    /// Whether a content is in the store.
    pub async fn contains(&self, sha256: &str) -> Result<bool, ContentError> {
        match self.store.head(&key(sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    /// When a content was last written (`None` if it is not in the store).
    pub async fn written_at(&self, sha256: &str) -> Result<Option<DateTime<Utc>>, ContentError> {
        match self.store.head(&key(sha256)).await {
            Ok(meta) => Ok(Some(meta.last_modified)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }

    /// Deletes a content (nothing if it is not there).
    pub async fn delete(&self, sha256: &str) -> Result<(), ContentError> {
        match self.store.delete(&key(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }

    /// Every content in the store, with when it was last written.
    pub fn list(&self) -> BoxStream<'_, Result<StoredObject, ContentError>> {
        self.store
            .list(Some(&Path::from(ROOT)))
            .map(|meta| {
                let meta = meta?;
                let sha256 = meta.location.filename().unwrap_or_default().to_owned();
                Ok(StoredObject {
                    sha256,
                    written_at: meta.last_modified,
                })
            })
            .boxed()
    }
}

/// The key of a content's advisory lock on PostgreSQL: its digest's first 8 bytes. A write
/// that will reference a content holds it shared from before the bytes are written until its
/// transaction ends; a deletion holds it alone while it checks that no row references them.
pub fn lock_key(sha256: &str) -> i64 {
    let prefix = sha256.get(..16).unwrap_or("0");
    i64::from_ne_bytes(u64::from_str_radix(prefix, 16).unwrap_or(0).to_ne_bytes())
}

/// Buffers for the parts of one upload, used again once the store has written them: a part's
/// bytes come back here wherever the store drops them (object_store writes a local part on a
/// blocking thread), rather than being freed there and allocated anew for the next part (as
/// object_store's `WriteMultipart` does, in 64 KiB blocks). An upload then holds two buffers
/// whatever its size; measured, it took 0.6 MiB off what a 20 MiB upload raised the resident
/// memory by (`bench/results/profiles/2026-12-08-issue-19.md`).
#[derive(Clone, Default)]
struct PartBuffers(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

impl PartBuffers {
    /// An empty part of `size` bytes at most, in a buffer used before if one is free.
    fn take(&self, size: usize) -> Part {
        let buffer = self
            .0
            .lock()
            .ok()
            .and_then(|mut free| free.pop())
            .unwrap_or_else(|| vec![0; size]);
        Part {
            buffer,
            len: 0,
            home: self.clone(),
        }
    }
}

/// A part's bytes (the first `len` of `buffer`), whose buffer goes back to `home` when the part
/// is dropped.
struct Part {
    buffer: Vec<u8>,
    len: usize,
    home: PartBuffers,
}

impl AsRef<[u8]> for Part {
    fn as_ref(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if let Ok(mut free) = self.home.0.lock() {
            free.push(std::mem::take(&mut self.buffer));
        }
    }
}

/// Reads `file` into `part` until the part is full or the file ends, hashing what it reads,
/// on a blocking thread (one hop per part).
async fn fill(
    mut file: std::fs::File,
    mut part: Part,
    mut hasher: Sha256,
) -> Result<(std::fs::File, Part, Sha256), ContentError> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        while part.len < part.buffer.len() {
            match file.read(&mut part.buffer[part.len..])? {
                0 => break,
                read => {
                    hasher.update(&part.buffer[part.len..part.len + read]);
                    part.len += read;
                }
            }
        }
        Ok((file, part, hasher))
    })
    .await
    .map_err(|err| ContentError::Io(std::io::Error::other(err)))?
}

/// The outcome of a part's upload, as [`JoinSet::join_next`] gives it.
fn part_written(
    joined: Option<Result<object_store::Result<()>, tokio::task::JoinError>>,
) -> Result<(), ContentError> {
    match joined {
        None | Some(Ok(Ok(()))) => Ok(()),
        Some(Ok(Err(err))) => Err(err.into()),
        Some(Err(err)) => Err(ContentError::Io(std::io::Error::other(err))),
    }
}

/// The folder of the store the contents are under.
const ROOT: &str = "sha256";

/// Where a content is: `sha256/ab/abcdef…` (two levels, so that no folder of a local store
/// holds millions of files).
fn key(sha256: &str) -> Path {
    let fan = sha256.get(..2).unwrap_or("00");
    Path::from(format!("{ROOT}/{fan}/{sha256}"))
}

/// Checks that bytes whose SHA-256 is `actual` are those of `expected`.
fn check(expected: &str, actual: Sha256) -> Result<(), ContentError> {
    let actual = crate::domain::content::hex(&actual.finalize());
    if actual == expected {
        Ok(())
    } else {
        Err(ContentError::DigestMismatch {
            expected: expected.to_owned(),
            actual,
        })
    }
}

/// The digest of a file, read in chunks (an upload received to disk).
pub async fn digest_file(file: &mut tokio::fs::File) -> Result<ContentDigest, ContentError> {
    let mut hasher = Sha256::new();
    let mut chunk = vec![0; READ_CHUNK];
    let mut size: u64 = 0;
    loop {
        let read = file.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        hasher.update(&chunk[..read]);
        size += read as u64;
    }
    Ok(ContentDigest::known(
        &crate::domain::content::hex(&hasher.finalize()),
        i64::try_from(size).unwrap_or(i64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fan_out_by_the_digests_first_byte() {
        assert_eq!(key("abcdef").as_ref(), "sha256/ab/abcdef");
    }

    #[test]
    fn credentials_in_the_url_are_refused() {
        let err = ContentStore::open("s3://bucket?secret_access_key=x").unwrap_err();
        assert!(err.to_string().contains("environment"), "{err}");
        let err = ContentStore::open("s3://bucket?AWS_ACCESS_KEY_ID=x").unwrap_err();
        assert!(err.to_string().contains("environment"), "{err}");
    }

    #[tokio::test]
    async fn a_stream_of_altered_bytes_ends_in_an_error_before_their_last_chunk() {
        let folder =
            std::env::temp_dir().join(format!("contents-unit-altered-{}", std::process::id()));
        let store = ContentStore::local(&folder).unwrap();
        let right = vec![7u8; 300 * 1024];
        let digest = ContentDigest::of(&right);
        store
            .put(&digest, Bytes::from(right.clone()))
            .await
            .unwrap();
        let whole: Vec<u8> = store
            .stream(&digest.sha256)
            .await
            .unwrap()
            .bytes
            .map(|chunk| chunk.unwrap().to_vec())
            .concat()
            .await;
        assert_eq!(whole, right);
        // The bytes changed under the same address.
        let mut altered = right.clone();
        altered[1000] = 8;
        let path = folder
            .join("sha256")
            .join(&digest.sha256[..2])
            .join(&digest.sha256);
        std::fs::write(&path, &altered).unwrap();
        let mut delivered = 0;
        let mut failed = false;
        let mut stream = store.stream(&digest.sha256).await.unwrap().bytes;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(chunk) => delivered += chunk.len(),
                Err(ContentError::DigestMismatch { .. }) => failed = true,
                Err(other) => panic!("{other}"),
            }
        }
        assert!(failed, "the mismatch is told");
        assert!(
            delivered < altered.len(),
            "never all the bytes: {delivered}"
        );
        let _ = std::fs::remove_dir_all(folder);
    }

    #[tokio::test]
    async fn a_local_store_keeps_a_content_under_its_digest() {
        let folder = std::env::temp_dir().join(format!("contents-unit-{}", std::process::id()));
        let store = ContentStore::local(&folder).unwrap();
        let digest = ContentDigest::of(b"bonjour");
        store
            .put(&digest, Bytes::from_static(b"bonjour"))
            .await
            .unwrap();
        assert_eq!(store.get(&digest.sha256).await.unwrap(), b"bonjour");
        let listed: Vec<_> = futures_util::TryStreamExt::try_collect(store.list())
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].sha256, digest.sha256);
        store.delete(&digest.sha256).await.unwrap();
        assert!(!store.contains(&digest.sha256).await.unwrap());
        let _ = std::fs::remove_dir_all(folder);
    }
}
