//! [`BlobStore`] on the local filesystem.
//!
//! An object with key `a/b/c.bin` is the file `<root>/a/b/c.bin`. Its content type lives in a
//! sidecar `<root>/a/b/.c.bin.<etag>.meta`, named after the version it describes, so a reader
//! always pairs data with the metadata written for it. Valid keys never have a segment starting
//! with `.`, so sidecars and temporary files (`.c.bin.tmp-<uuid>`) can never collide with an
//! object, and listing skips every hidden name.
//!
//! A write goes to a temporary file in the target directory, is fsynced, gets its sidecar, and
//! is then renamed over the target: readers see the old object or the new one, never a part.
//! The ETag is derived from the data file itself (inode, size, modification time in
//! nanoseconds, the latter set uniquely on every write), so it changes on every put.

use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use visiobook_ports::blob::BlobReader;
use visiobook_ports::{BlobKey, BlobMeta, BlobStore, ByteRange, StoreError, StoreResult};

/// Content type reported when a version's sidecar is missing (only after a crash mid-write).
const FALLBACK_CONTENT_TYPE: &str = "application/octet-stream";
/// Buffer between a caller's stream and the temporary file.
const STREAM_BUFFER: usize = 256 * 1024;

/// Objects as files under a root directory, written atomically.
#[derive(Debug, Clone)]
pub struct FsBlobStore {
    root: Arc<PathBuf>,
}

impl FsBlobStore {
    /// Opens the store rooted at `root`, creating the directory if needed.
    pub fn open(root: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(root).map_err(|error| {
            StoreError::unavailable(format!("cannot create {}: {error}", root.display()))
        })?;
        let root = std::fs::canonicalize(root).map_err(|error| {
            StoreError::unavailable(format!("cannot resolve {}: {error}", root.display()))
        })?;
        Ok(Self {
            root: Arc::new(root),
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object's file. `BlobKey` guarantees plain, non-hidden segments, so this stays
    /// inside the root.
    fn locate(&self, key: &BlobKey) -> Location {
        let mut path = PathBuf::from(&*self.root);
        path.extend(key.as_str().split('/'));
        Location {
            key: key.clone(),
            path,
        }
    }
}

/// Where an object lives.
#[derive(Debug, Clone)]
struct Location {
    key: BlobKey,
    path: PathBuf,
}

impl Location {
    fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(&self.path)
    }

    fn name(&self) -> &str {
        self.key
            .as_str()
            .rsplit('/')
            .next()
            .unwrap_or(self.key.as_str())
    }

    fn sidecar(&self, etag: &str) -> PathBuf {
        self.dir().join(format!(".{}.{etag}.meta", self.name()))
    }

    fn temporary(&self) -> PathBuf {
        self.dir().join(format!(
            ".{}.tmp-{}",
            self.name(),
            uuid::Uuid::new_v4().simple()
        ))
    }
}

fn unavailable(what: &str, location: &Location, error: &io::Error) -> StoreError {
    StoreError::unavailable(format!("{what} blob {}: {error}", location.key))
}

/// Whether an I/O error means "no object here" for a read.
fn is_absent(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn not_found(location: &Location) -> StoreError {
    StoreError::not_found(format!("blob {} does not exist", location.key))
}

/// A modification time that is unique within this process, so every write gets a new ETag.
fn unique_now() -> SystemTime {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX)
        });
    let previous = LAST
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
            Some(now.max(last.saturating_add(1)))
        })
        .unwrap_or(now);
    UNIX_EPOCH + Duration::from_nanos(now.max(previous.saturating_add(1)))
}

fn modified_nanos(metadata: &Metadata) -> u128 {
    metadata
        .modified()
        .ok()
        .and_then(|modified| modified.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |elapsed| elapsed.as_nanos())
}

#[cfg(unix)]
fn inode(metadata: &Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(metadata)
}

#[cfg(not(unix))]
fn inode(_metadata: &Metadata) -> u64 {
    0
}

/// The version tag of a data file: it survives the rename and differs for every write.
fn etag_of(metadata: &Metadata) -> String {
    format!(
        "{:x}-{:x}-{:x}",
        inode(metadata),
        metadata.len(),
        modified_nanos(metadata)
    )
}

fn is_etag(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_hexdigit()))
}

/// Builds the metadata of the version described by `metadata`, reading its sidecar.
/// `Ok(None)` when the sidecar is missing.
fn describe(location: &Location, metadata: &Metadata) -> StoreResult<Option<BlobMeta>> {
    let etag = etag_of(metadata);
    let content_type = match std::fs::read(location.sidecar(&etag)) {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|value| {
                value
                    .get("content_type")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| FALLBACK_CONTENT_TYPE.to_owned()),
        Err(error) if is_absent(&error) => return Ok(None),
        Err(error) => return Err(unavailable("reading the metadata of", location, &error)),
    };
    let last_modified_ms = i64::try_from(modified_nanos(metadata) / 1_000_000).unwrap_or(i64::MAX);
    Ok(Some(BlobMeta {
        key: location.key.clone(),
        size_bytes: metadata.len(),
        content_type,
        etag,
        last_modified_ms,
    }))
}

fn fallback(location: &Location, metadata: &Metadata) -> BlobMeta {
    BlobMeta {
        key: location.key.clone(),
        size_bytes: metadata.len(),
        content_type: FALLBACK_CONTENT_TYPE.to_owned(),
        etag: etag_of(metadata),
        last_modified_ms: i64::try_from(modified_nanos(metadata) / 1_000_000).unwrap_or(i64::MAX),
    }
}

/// How often a reader retries when a concurrent write replaced the object under it.
const READ_ATTEMPTS: usize = 3;

/// The current metadata of an object, `None` when absent.
fn head_blocking(location: &Location) -> StoreResult<Option<BlobMeta>> {
    for _ in 0..READ_ATTEMPTS {
        let metadata = match std::fs::symlink_metadata(&location.path) {
            Ok(metadata) if metadata.is_file() => metadata,
            Ok(_) => return Ok(None),
            Err(error) if is_absent(&error) => return Ok(None),
            Err(error) => return Err(unavailable("reading", location, &error)),
        };
        if let Some(meta) = describe(location, &metadata)? {
            return Ok(Some(meta));
        }
        // The sidecar is gone: either a writer replaced the object meanwhile (try again) or a
        // crash lost it (fall back below).
        match std::fs::symlink_metadata(&location.path) {
            Ok(now) if now.is_file() && etag_of(&now) != etag_of(&metadata) => continue,
            _ => return Ok(Some(fallback(location, &metadata))),
        }
    }
    Err(StoreError::unavailable(format!(
        "blob {} keeps changing",
        location.key
    )))
}

/// Opens the object's data file with the metadata of exactly that version.
fn open_blocking(location: &Location) -> StoreResult<(BlobMeta, File)> {
    for attempt in 0..READ_ATTEMPTS {
        match std::fs::symlink_metadata(&location.path) {
            Ok(metadata) if metadata.is_file() => {}
            Ok(_) => return Err(not_found(location)),
            Err(error) if is_absent(&error) => return Err(not_found(location)),
            Err(error) => return Err(unavailable("opening", location, &error)),
        }
        let file = match File::open(&location.path) {
            Ok(file) => file,
            Err(error) if is_absent(&error) => return Err(not_found(location)),
            Err(error) => return Err(unavailable("opening", location, &error)),
        };
        let metadata = file
            .metadata()
            .map_err(|error| unavailable("reading", location, &error))?;
        if !metadata.is_file() {
            return Err(not_found(location));
        }
        if let Some(meta) = describe(location, &metadata)? {
            return Ok((meta, file));
        }
        let replaced = std::fs::symlink_metadata(&location.path)
            .map(|now| etag_of(&now) != etag_of(&metadata))
            .unwrap_or(false);
        if !replaced || attempt + 1 == READ_ATTEMPTS {
            return Ok((fallback(location, &metadata), file));
        }
    }
    Err(StoreError::unavailable(format!(
        "blob {} keeps changing",
        location.key
    )))
}

/// Removes the sidecars of `location` except the one for `keep`.
fn remove_sidecars(location: &Location, keep: Option<&str>) {
    let Ok(entries) = std::fs::read_dir(location.dir()) else {
        return;
    };
    let prefix = format!(".{}.", location.name());
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(etag) = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".meta"))
        else {
            continue;
        };
        if is_etag(etag) && Some(etag) != keep {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}

/// Creates the object's directory; a key below an existing object is refused.
fn create_dirs(location: &Location) -> StoreResult<()> {
    std::fs::create_dir_all(location.dir()).map_err(|error| match error.kind() {
        io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => {
            StoreError::invalid(format!(
                "blob {} cannot be stored: a prefix of it is an existing object",
                location.key
            ))
        }
        _ => unavailable("creating the directory of", location, &error),
    })
}

/// Removes a temporary file unless disarmed (also when the writing future is dropped).
#[derive(Debug)]
struct TempFile {
    path: Option<PathBuf>,
}

impl TempFile {
    fn disarm(&mut self) {
        self.path = None;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Makes a fully written temporary data file the object: stamps it, syncs it, writes its
/// sidecar, renames it over the target and drops stale sidecars.
fn commit(
    location: &Location,
    file: &File,
    temp: &mut TempFile,
    content_type: &str,
) -> StoreResult<BlobMeta> {
    let Some(temp_path) = temp.path.clone() else {
        return Err(StoreError::unavailable("the temporary file is gone"));
    };
    let fail = |what: &str, error: io::Error| unavailable(what, location, &error);
    file.set_modified(unique_now())
        .map_err(|error| fail("stamping", error))?;
    file.sync_all().map_err(|error| fail("syncing", error))?;
    let metadata = file.metadata().map_err(|error| fail("reading", error))?;
    let etag = etag_of(&metadata);

    // The sidecar goes first (atomically too), named after the version it describes.
    let sidecar_temp = TempFile {
        path: Some(location.temporary()),
    };
    let sidecar_temp_path = sidecar_temp.path.clone().unwrap_or_default();
    let sidecar = location.sidecar(&etag);
    {
        let mut handle = File::create_new(&sidecar_temp_path)
            .map_err(|error| fail("writing the metadata of", error))?;
        handle
            .write_all(
                json!({ "content_type": content_type })
                    .to_string()
                    .as_bytes(),
            )
            .and_then(|()| handle.sync_all())
            .map_err(|error| fail("writing the metadata of", error))?;
    }
    std::fs::rename(&sidecar_temp_path, &sidecar)
        .map_err(|error| fail("writing the metadata of", error))?;
    let mut sidecar_temp = sidecar_temp;
    sidecar_temp.disarm();

    if let Err(error) = std::fs::rename(&temp_path, &location.path) {
        let _ = std::fs::remove_file(&sidecar);
        return Err(match error.kind() {
            io::ErrorKind::IsADirectory
            | io::ErrorKind::DirectoryNotEmpty
            | io::ErrorKind::AlreadyExists => StoreError::invalid(format!(
                "blob {} cannot be stored: other objects use it as a prefix",
                location.key
            )),
            _ => fail("renaming", error),
        });
    }
    temp.disarm();
    sync_dir(location.dir());
    let current = std::fs::symlink_metadata(&location.path)
        .map(|now| etag_of(&now))
        .ok();
    remove_sidecars(location, current.as_deref());

    let last_modified_ms = i64::try_from(modified_nanos(&metadata) / 1_000_000).unwrap_or(i64::MAX);
    Ok(BlobMeta {
        key: location.key.clone(),
        size_bytes: metadata.len(),
        content_type: content_type.to_owned(),
        etag,
        last_modified_ms,
    })
}

/// Creates the temporary data file next to the target.
fn create_temp(location: &Location) -> StoreResult<(File, TempFile)> {
    let mut attempts = 0;
    loop {
        create_dirs(location)?;
        let path = location.temporary();
        match File::create_new(&path) {
            Ok(file) => return Ok((file, TempFile { path: Some(path) })),
            // A concurrent delete pruned the directory in between: create it again.
            Err(error) if error.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
            Err(error) if error.kind() == io::ErrorKind::InvalidFilename => {
                return Err(StoreError::invalid(format!(
                    "blob key {} is too long",
                    location.key
                )));
            }
            Err(error) => return Err(unavailable("creating", location, &error)),
        }
    }
}

/// Removes now-empty directories from `dir` up to (not including) the root.
fn prune_empty_dirs(root: &Path, mut dir: &Path) {
    while dir != root && dir.starts_with(root) {
        if std::fs::remove_dir(dir).is_err() {
            return;
        }
        match dir.parent() {
            Some(parent) => dir = parent,
            None => return,
        }
    }
}

/// Walks `dir` (whose key prefix is `relative`), collecting objects whose key starts with
/// `prefix`. Hidden names and symbolic links are skipped.
fn walk(
    root: &FsBlobStore,
    dir: &Path,
    relative: &str,
    prefix: &str,
    out: &mut Vec<BlobMeta>,
) -> StoreResult<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if is_absent(&error) => return Ok(()),
        Err(error) => {
            return Err(StoreError::unavailable(format!(
                "listing {}: {error}",
                dir.display()
            )));
        }
    };
    for entry in entries {
        let entry = entry.map_err(|error| {
            StoreError::unavailable(format!("listing {}: {error}", dir.display()))
        })?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with('.') {
            continue;
        }
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let key = format!("{relative}{name}");
        if file_type.is_dir() {
            let below = format!("{key}/");
            if below.starts_with(prefix) || prefix.starts_with(&below) {
                walk(root, &entry.path(), &below, prefix, out)?;
            }
        } else if file_type.is_file() && key.starts_with(prefix) {
            let Ok(key) = BlobKey::parse(&key) else {
                continue;
            };
            if let Some(meta) = head_blocking(&root.locate(&key))? {
                out.push(meta);
            }
        }
    }
    Ok(())
}

async fn blocking<T, F>(call: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce() -> StoreResult<T> + Send + 'static,
{
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|error| StoreError::unavailable(format!("blob task failed: {error}")))?
}

#[async_trait]
impl BlobStore for FsBlobStore {
    async fn put(&self, key: &BlobKey, data: Bytes, content_type: &str) -> StoreResult<BlobMeta> {
        let location = self.locate(key);
        let content_type = content_type.to_owned();
        blocking(move || {
            let (mut file, mut temp) = create_temp(&location)?;
            file.write_all(&data)
                .map_err(|error| unavailable("writing", &location, &error))?;
            commit(&location, &file, &mut temp, &content_type)
        })
        .await
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        reader: BlobReader,
        content_type: &str,
    ) -> StoreResult<BlobMeta> {
        let location = self.locate(key);
        let (file, mut temp) = {
            let location = location.clone();
            blocking(move || create_temp(&location)).await?
        };
        let mut writer = tokio::fs::File::from_std(file);
        let mut reader = tokio::io::BufReader::with_capacity(STREAM_BUFFER, reader);
        let copied = tokio::io::copy_buf(&mut reader, &mut writer).await;
        let flushed = match copied {
            Ok(_) => writer.flush().await,
            Err(error) => Err(error),
        };
        if let Err(error) = flushed {
            // `temp` removes the partial file when dropped.
            return Err(StoreError::unavailable(format!(
                "streaming blob {key}: {error}"
            )));
        }
        let file = writer.into_std().await;
        let content_type = content_type.to_owned();
        blocking(move || commit(&location, &file, &mut temp, &content_type)).await
    }

    async fn get(&self, key: &BlobKey) -> StoreResult<Bytes> {
        let location = self.locate(key);
        blocking(move || {
            let (meta, mut file) = open_blocking(&location)?;
            let mut data = Vec::with_capacity(usize::try_from(meta.size_bytes).unwrap_or(0));
            file.read_to_end(&mut data)
                .map_err(|error| unavailable("reading", &location, &error))?;
            Ok(Bytes::from(data))
        })
        .await
    }

    async fn get_range(&self, key: &BlobKey, range: ByteRange) -> StoreResult<Bytes> {
        let location = self.locate(key);
        blocking(move || {
            let (meta, mut file) = open_blocking(&location)?;
            let size = meta.size_bytes;
            let end = range.end.unwrap_or(size);
            if range.start > end || end > size {
                return Err(StoreError::invalid(format!(
                    "range [{}, {end}) is outside blob {} of {size} bytes",
                    range.start, location.key
                )));
            }
            let length = usize::try_from(end - range.start)
                .map_err(|_| StoreError::invalid("the range is too large to read into memory"))?;
            file.seek(SeekFrom::Start(range.start))
                .map_err(|error| unavailable("seeking in", &location, &error))?;
            let mut data = vec![0; length];
            file.read_exact(&mut data)
                .map_err(|error| unavailable("reading", &location, &error))?;
            Ok(Bytes::from(data))
        })
        .await
    }

    async fn open(&self, key: &BlobKey) -> StoreResult<(BlobMeta, BlobReader)> {
        let location = self.locate(key);
        let (meta, file) = blocking(move || open_blocking(&location)).await?;
        Ok((meta, Box::new(tokio::fs::File::from_std(file))))
    }

    async fn head(&self, key: &BlobKey) -> StoreResult<Option<BlobMeta>> {
        let location = self.locate(key);
        blocking(move || head_blocking(&location)).await
    }

    async fn delete(&self, key: &BlobKey) -> StoreResult<bool> {
        let location = self.locate(key);
        let root = Arc::clone(&self.root);
        blocking(move || {
            match std::fs::symlink_metadata(&location.path) {
                Ok(metadata) if metadata.is_file() => {}
                Ok(_) => return Ok(false),
                Err(error) if is_absent(&error) => return Ok(false),
                Err(error) => return Err(unavailable("deleting", &location, &error)),
            }
            match std::fs::remove_file(&location.path) {
                Ok(()) => {}
                Err(error) if is_absent(&error) => return Ok(false),
                Err(error) => return Err(unavailable("deleting", &location, &error)),
            }
            remove_sidecars(&location, None);
            prune_empty_dirs(&root, location.dir());
            Ok(true)
        })
        .await
    }

    async fn list(&self, prefix: &str) -> StoreResult<Vec<BlobMeta>> {
        let store = self.clone();
        let prefix = prefix.to_owned();
        blocking(move || {
            let mut out = Vec::new();
            walk(&store, &store.root, "", &prefix, &mut out)?;
            out.sort_by(|left, right| left.key.cmp(&right.key));
            Ok(out)
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        let root = Arc::clone(&self.root);
        blocking(move || match std::fs::metadata(&*root) {
            Ok(metadata) if metadata.is_dir() => Ok(()),
            Ok(_) => Err(StoreError::unavailable(format!(
                "{} is not a directory",
                root.display()
            ))),
            Err(error) => Err(StoreError::unavailable(format!(
                "{}: {error}",
                root.display()
            ))),
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn etags_are_recognised() {
        assert!(is_etag("1a-0-ff"));
        assert!(!is_etag("1a-0"));
        assert!(!is_etag("b.1a-0-ff"));
        assert!(!is_etag("1a--ff"));
    }

    #[test]
    fn unique_now_never_repeats() {
        let mut last = unique_now();
        for _ in 0..1000 {
            let next = unique_now();
            assert!(next > last);
            last = next;
        }
    }
}
