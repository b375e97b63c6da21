//! The blob port: binary objects addressed by a validated key.
//!
//! Writes are atomic: a reader sees either the previous object or the complete new one, never a
//! partial write. Keys are relative, slash-separated paths that cannot escape their store.

use std::path::Path;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::error::{StoreError, StoreResult};

/// A validated blob key: 1..=1024 bytes of `[A-Za-z0-9._-]` segments joined by `/`, no empty,
/// `.` or `..` segment, no leading or trailing slash, and no segment starting with `.`
/// (hidden names are reserved for adapters' temporary files).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    pub fn parse(key: &str) -> StoreResult<Self> {
        let invalid = |why: &str| StoreError::invalid(format!("invalid blob key {key:?}: {why}"));
        if key.is_empty() || key.len() > 1024 {
            return Err(invalid("length must be 1 to 1024 bytes"));
        }
        for segment in key.split('/') {
            if segment.is_empty() {
                return Err(invalid("empty path segment"));
            }
            if segment.starts_with('.') {
                return Err(invalid("segments may not start with a dot"));
            }
            if !segment
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
            {
                return Err(invalid(
                    "only letters, digits, '.', '_', '-' and '/' are allowed",
                ));
            }
        }
        Ok(Self(key.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for BlobKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the store knows about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    pub key: BlobKey,
    pub size_bytes: u64,
    pub content_type: String,
    /// Changes whenever the content changes.
    pub etag: String,
    /// Milliseconds since the Unix epoch.
    pub last_modified_ms: i64,
}

/// An inclusive-exclusive byte range `[start, end)`; `end = None` reads to the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: Option<u64>,
}

/// A readable stream of a blob's bytes.
pub type BlobReader = Box<dyn AsyncRead + Send + Unpin>;

/// Binary objects by key, with atomic visibility.
#[async_trait]
pub trait BlobStore: Send + Sync + std::fmt::Debug {
    /// Stores `data` under `key`, replacing any previous object atomically.
    async fn put(&self, key: &BlobKey, data: Bytes, content_type: &str) -> StoreResult<BlobMeta>;

    /// Streams a large object from a reader without holding it in memory.
    async fn put_stream(
        &self,
        key: &BlobKey,
        reader: BlobReader,
        content_type: &str,
    ) -> StoreResult<BlobMeta>;

    /// Streams a local file into the store (convenience over [`BlobStore::put_stream`]).
    async fn put_file(
        &self,
        key: &BlobKey,
        path: &Path,
        content_type: &str,
    ) -> StoreResult<BlobMeta> {
        let file = tokio::fs::File::open(path).await.map_err(|error| {
            StoreError::invalid(format!("cannot open {}: {error}", path.display()))
        })?;
        self.put_stream(key, Box::new(file), content_type).await
    }

    /// Reads a whole object; `NotFound` when absent.
    async fn get(&self, key: &BlobKey) -> StoreResult<Bytes>;

    /// Reads part of an object. A range past the end is `Invalid`.
    async fn get_range(&self, key: &BlobKey, range: ByteRange) -> StoreResult<Bytes>;

    /// Opens a stream over the whole object, with its metadata.
    async fn open(&self, key: &BlobKey) -> StoreResult<(BlobMeta, BlobReader)>;

    /// Metadata only; `Ok(None)` when absent.
    async fn head(&self, key: &BlobKey) -> StoreResult<Option<BlobMeta>>;

    /// Deletes an object; returns whether it existed.
    async fn delete(&self, key: &BlobKey) -> StoreResult<bool>;

    /// Every object whose key starts with `prefix` (a plain string prefix), sorted by key.
    async fn list(&self, prefix: &str) -> StoreResult<Vec<BlobMeta>>;

    /// A cheap round trip proving the store answers (used by `/ready`).
    async fn ping(&self) -> StoreResult<()>;
}

/// Copies a blob into a local file (for tools such as ffmpeg that need paths).
pub async fn download_to_file(
    store: &dyn BlobStore,
    key: &BlobKey,
    path: &Path,
) -> StoreResult<u64> {
    let (_, mut reader) = store.open(key).await?;
    let unavailable = |error: std::io::Error| {
        StoreError::unavailable(format!("writing {}: {error}", path.display()))
    };
    let mut file = tokio::fs::File::create(path).await.map_err(unavailable)?;
    let copied = tokio::io::copy(&mut reader, &mut file)
        .await
        .map_err(unavailable)?;
    tokio::io::AsyncWriteExt::flush(&mut file)
        .await
        .map_err(unavailable)?;
    Ok(copied)
}
