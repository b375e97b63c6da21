//! The [`BlobStore`] checks.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use super::{assert_kind, now_ms, ok};
use crate::blob::{BlobKey, BlobMeta, BlobStore, ByteRange};
use crate::error::ErrorKind;

#[track_caller]
fn key(text: &str) -> BlobKey {
    ok(BlobKey::parse(text), "a valid test key")
}

/// Deterministic pseudo-random bytes (xorshift), so large payloads do not compress to nothing.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Serves `data` in chunks of at most `chunk` bytes, then fails with an I/O error when `fail`.
struct ChunkedReader {
    data: Vec<u8>,
    position: usize,
    chunk: usize,
    fail: bool,
}

impl ChunkedReader {
    fn new(data: Vec<u8>, chunk: usize) -> Self {
        Self {
            data,
            position: 0,
            chunk,
            fail: false,
        }
    }
    fn failing(data: Vec<u8>, chunk: usize) -> Self {
        Self {
            data,
            position: 0,
            chunk,
            fail: true,
        }
    }
}

impl AsyncRead for ChunkedReader {
    fn poll_read(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let left = this.data.len() - this.position;
        if left == 0 {
            if this.fail {
                return Poll::Ready(Err(std::io::Error::other(
                    "conformance: the source failed mid-stream",
                )));
            }
            return Poll::Ready(Ok(()));
        }
        let take = left.min(this.chunk).min(buf.remaining());
        buf.put_slice(&this.data[this.position..this.position + take]);
        this.position += take;
        Poll::Ready(Ok(()))
    }
}

#[track_caller]
fn assert_same_object(actual: &BlobMeta, expected: &BlobMeta, what: &str) {
    assert_eq!(actual.key, expected.key, "{what}: key");
    assert_eq!(actual.size_bytes, expected.size_bytes, "{what}: size");
    assert_eq!(
        actual.content_type, expected.content_type,
        "{what}: content type"
    );
    assert_eq!(actual.etag, expected.etag, "{what}: etag");
}

async fn head(store: &dyn BlobStore, blob: &BlobKey) -> Option<BlobMeta> {
    ok(store.head(blob).await, "head")
}

pub async fn put_then_get_round_trips(store: Arc<dyn BlobStore>) {
    let blob = key("books/b-1/cover.png");
    let data = Bytes::from(pattern(10_000, 1));
    let before = now_ms();
    let meta = ok(store.put(&blob, data.clone(), "image/png").await, "put");
    assert_eq!(meta.key, blob, "put returns the key");
    assert_eq!(meta.size_bytes, 10_000, "put returns the size");
    assert_eq!(
        meta.content_type, "image/png",
        "put returns the content type"
    );
    assert!(!meta.etag.is_empty(), "put returns an etag");
    let ten_minutes = 600_000;
    assert!(
        (before - ten_minutes..=now_ms() + ten_minutes).contains(&meta.last_modified_ms),
        "last_modified_ms {} is not close to now",
        meta.last_modified_ms
    );
    assert_eq!(
        ok(store.get(&blob).await, "get"),
        data,
        "get returns the bytes put stored"
    );
    let headed = head(&*store, &blob).await.expect("head of a stored object");
    assert_same_object(&headed, &meta, "head after put");

    let empty = key("empty.bin");
    let meta = ok(
        store
            .put(&empty, Bytes::new(), "application/octet-stream")
            .await,
        "put of an empty object",
    );
    assert_eq!(meta.size_bytes, 0, "an empty object has size 0");
    assert!(
        ok(store.get(&empty).await, "get of an empty object").is_empty(),
        "an empty object reads back empty"
    );
}

pub async fn overwrite_changes_etag_and_size(store: Arc<dyn BlobStore>) {
    let blob = key("over/write.txt");
    let first = ok(
        store
            .put(&blob, Bytes::from_static(b"first version"), "text/plain")
            .await,
        "first put",
    );
    let second = ok(
        store
            .put(&blob, Bytes::from_static(b"2nd"), "text/markdown")
            .await,
        "second put",
    );
    assert_ne!(first.etag, second.etag, "an overwrite changes the etag");
    assert_eq!(second.size_bytes, 3, "an overwrite changes the size");
    assert_eq!(
        ok(store.get(&blob).await, "get"),
        Bytes::from_static(b"2nd"),
        "get returns the new bytes"
    );
    let headed = head(&*store, &blob).await.expect("head");
    assert_same_object(&headed, &second, "head after overwrite");
    let third = ok(
        store
            .put(&blob, Bytes::from_static(b"2nd"), "text/markdown")
            .await,
        "identical put",
    );
    assert_ne!(
        second.etag, third.etag,
        "every put changes the etag, even with identical bytes"
    );
    let listed = ok(store.list("over/").await, "list");
    assert_eq!(listed.len(), 1, "an overwritten object is listed once");
    assert_same_object(&listed[0], &third, "list after overwrite");
}

pub async fn missing_objects_are_reported(store: Arc<dyn BlobStore>) {
    let blob = key("missing/object.bin");
    assert_kind(
        store.get(&blob).await,
        ErrorKind::NotFound,
        "get of a missing object",
    );
    assert!(
        head(&*store, &blob).await.is_none(),
        "head of a missing object is None"
    );
    assert_kind(
        store
            .get_range(
                &blob,
                ByteRange {
                    start: 0,
                    end: Some(1),
                },
            )
            .await,
        ErrorKind::NotFound,
        "range read of a missing object",
    );
    assert_kind(
        store.open(&blob).await.map(|(meta, _)| meta),
        ErrorKind::NotFound,
        "open of a missing object",
    );
    // A prefix that only exists because of a deeper key is not an object.
    ok(
        store
            .put(
                &key("dir/child.txt"),
                Bytes::from_static(b"x"),
                "text/plain",
            )
            .await,
        "put",
    );
    assert!(
        head(&*store, &key("dir")).await.is_none(),
        "a key prefix is not an object"
    );
    assert_kind(
        store.get(&key("dir")).await,
        ErrorKind::NotFound,
        "get of a key prefix",
    );
}

pub async fn range_reads(store: Arc<dyn BlobStore>) {
    let blob = key("range.bin");
    let data = pattern(1024, 2);
    ok(
        store
            .put(&blob, Bytes::from(data.clone()), "application/octet-stream")
            .await,
        "put",
    );
    let cases: [(u64, Option<u64>, &[u8], &str); 4] = [
        (10, Some(20), &data[10..20], "a middle range"),
        (1000, None, &data[1000..], "a range to the end"),
        (0, Some(1024), &data[..], "the whole object"),
        (1023, Some(1024), &data[1023..], "the last byte"),
    ];
    for (start, end, expected, what) in cases {
        let read = ok(store.get_range(&blob, ByteRange { start, end }).await, what);
        assert_eq!(&read[..], expected, "{what}: [{start}, {end:?})");
    }
    for (start, end, what) in [
        (0, Some(1025), "a range ending past the end"),
        (2000, None, "a range starting past the end"),
        (2000, Some(3000), "a range entirely past the end"),
        (20, Some(10), "a range ending before it starts"),
    ] {
        assert_kind(
            store.get_range(&blob, ByteRange { start, end }).await,
            ErrorKind::Invalid,
            what,
        );
    }
}

pub async fn put_stream_large_round_trips(store: Arc<dyn BlobStore>) {
    const SIZE: usize = 8 * 1024 * 1024;
    let blob = key("large/stream.bin");
    let data = pattern(SIZE, 3);
    let reader = ChunkedReader::new(data.clone(), 100_003);
    let meta = ok(
        store.put_stream(&blob, Box::new(reader), "video/mp4").await,
        "put_stream",
    );
    assert_eq!(
        meta.size_bytes, SIZE as u64,
        "put_stream returns the streamed size"
    );
    assert_eq!(
        meta.content_type, "video/mp4",
        "put_stream returns the content type"
    );
    let read = ok(store.get(&blob).await, "get");
    assert_eq!(read.len(), SIZE, "get returns every streamed byte");
    assert!(
        read[..] == data[..],
        "get returns the streamed bytes unchanged"
    );
    let middle = 4 * 1024 * 1024;
    let range = ok(
        store
            .get_range(
                &blob,
                ByteRange {
                    start: middle as u64 - 10,
                    end: Some(middle as u64 + 10),
                },
            )
            .await,
        "range read of a streamed object",
    );
    assert_eq!(
        &range[..],
        &data[middle - 10..middle + 10],
        "range across the middle of a streamed object"
    );
    let headed = head(&*store, &blob).await.expect("head");
    assert_same_object(&headed, &meta, "head after put_stream");
}

pub async fn put_file_round_trips(store: Arc<dyn BlobStore>) {
    let path = std::env::temp_dir().join(format!(
        "visiobook-conformance-{}.bin",
        uuid::Uuid::new_v4()
    ));
    let data = pattern(300_000, 4);
    if let Err(error) = tokio::fs::write(&path, &data).await {
        panic!("cannot write the source file {}: {error}", path.display());
    }
    let result = store
        .put_file(&key("files/from-disk.bin"), &path, "application/pdf")
        .await;
    let _ = tokio::fs::remove_file(&path).await;
    let meta = ok(result, "put_file");
    assert_eq!(meta.size_bytes, 300_000, "put_file returns the file size");
    assert_eq!(
        ok(store.get(&key("files/from-disk.bin")).await, "get")[..],
        data[..],
        "put_file stores the file"
    );
    assert_kind(
        store
            .put_file(&key("files/none.bin"), &path, "application/pdf")
            .await,
        ErrorKind::Invalid,
        "put_file of a missing local file",
    );
}

pub async fn open_returns_meta_and_stream(store: Arc<dyn BlobStore>) {
    let blob = key("open/me.json");
    let data = pattern(200_000, 5);
    let put = ok(
        store
            .put(&blob, Bytes::from(data.clone()), "application/json")
            .await,
        "put",
    );
    let (meta, mut reader) = ok(store.open(&blob).await, "open");
    assert_same_object(&meta, &put, "open's metadata");
    let mut read = Vec::new();
    if let Err(error) = reader.read_to_end(&mut read).await {
        panic!("reading the opened stream failed: {error}");
    }
    assert!(
        read == data,
        "the opened stream yields the stored bytes ({} of {} bytes)",
        read.len(),
        data.len()
    );
}

pub async fn delete_reports_existence(store: Arc<dyn BlobStore>) {
    let blob = key("delete/me.txt");
    ok(
        store
            .put(&blob, Bytes::from_static(b"bye"), "text/plain")
            .await,
        "put",
    );
    ok(
        store
            .put(
                &key("delete/keep.txt"),
                Bytes::from_static(b"stay"),
                "text/plain",
            )
            .await,
        "put",
    );
    assert!(
        ok(store.delete(&blob).await, "delete"),
        "deleting an existing object returns true"
    );
    assert!(
        head(&*store, &blob).await.is_none(),
        "head after delete is None"
    );
    assert_kind(
        store.get(&blob).await,
        ErrorKind::NotFound,
        "get after delete",
    );
    assert!(
        !ok(store.delete(&blob).await, "second delete"),
        "deleting a missing object returns false"
    );
    let listed: Vec<String> = ok(store.list("delete/").await, "list")
        .into_iter()
        .map(|meta| meta.key.to_string())
        .collect();
    assert_eq!(
        listed,
        vec!["delete/keep.txt".to_owned()],
        "a deleted object is no longer listed"
    );
    ok(
        store
            .put(&blob, Bytes::from_static(b"again"), "text/plain")
            .await,
        "put after delete",
    );
    assert_eq!(
        ok(store.get(&blob).await, "get"),
        Bytes::from_static(b"again"),
        "a deleted key can be written again"
    );
}

pub async fn list_by_prefix_is_sorted(store: Arc<dyn BlobStore>) {
    let keys = [
        "b/x.txt",
        "a/b/2.txt",
        "ab.txt",
        "a/c.txt",
        "a/b/10.txt",
        "a/b/1.txt",
    ];
    for (index, text) in keys.iter().enumerate() {
        ok(
            store
                .put(&key(text), Bytes::from(vec![b'x'; index + 1]), "text/plain")
                .await,
            "put",
        );
    }
    let cases: [(&str, &[&str]); 7] = [
        (
            "",
            &[
                "a/b/1.txt",
                "a/b/10.txt",
                "a/b/2.txt",
                "a/c.txt",
                "ab.txt",
                "b/x.txt",
            ],
        ),
        (
            "a",
            &["a/b/1.txt", "a/b/10.txt", "a/b/2.txt", "a/c.txt", "ab.txt"],
        ),
        ("a/", &["a/b/1.txt", "a/b/10.txt", "a/b/2.txt", "a/c.txt"]),
        ("a/b", &["a/b/1.txt", "a/b/10.txt", "a/b/2.txt"]),
        ("a/b/1", &["a/b/1.txt", "a/b/10.txt"]),
        ("b/x.txt", &["b/x.txt"]),
        ("zzz", &[]),
    ];
    for (prefix, expected) in cases {
        let listed = ok(store.list(prefix).await, "list");
        let names: Vec<&str> = listed.iter().map(|meta| meta.key.as_str()).collect();
        assert_eq!(
            names, expected,
            "list({prefix:?}) returns matching keys sorted"
        );
        for meta in &listed {
            let headed = head(&*store, &meta.key)
                .await
                .expect("a listed object exists");
            assert_same_object(meta, &headed, "list entry versus head");
        }
    }
}

pub async fn keys_are_validated(store: Arc<dyn BlobStore>) {
    let long_segment = "a".repeat(1025);
    let rejected = [
        "",
        "..",
        ".",
        "a/../b",
        "../a",
        "/a",
        "a/",
        "a\\b",
        ".hidden",
        "a/.hidden",
        "a//b",
        "a/./b",
        "a b",
        "ä",
        "a?b",
        "a:b",
        &long_segment,
    ];
    for text in rejected {
        assert_kind(
            BlobKey::parse(text),
            ErrorKind::Invalid,
            &format!("BlobKey::parse({text:?})"),
        );
    }
    let max = "a".repeat(1024);
    for text in ["a", "a/b.c", "A-Z_0.9/x", "a.b/c..d", &max] {
        ok(BlobKey::parse(text), &format!("BlobKey::parse({text:?})"));
    }
    ok(store.ping().await, "ping");
}

pub async fn failed_put_stream_keeps_previous_object(store: Arc<dyn BlobStore>) {
    let blob = key("atomic/object.bin");
    let old = ok(
        store
            .put(&blob, Bytes::from_static(b"the old version"), "text/plain")
            .await,
        "put",
    );
    let reader = ChunkedReader::failing(pattern(300_000, 6), 65_536);
    let failed = store
        .put_stream(&blob, Box::new(reader), "application/octet-stream")
        .await;
    assert!(
        failed.is_err(),
        "put_stream from a failing reader must fail, got {failed:?}"
    );
    assert_eq!(
        ok(store.get(&blob).await, "get after a failed put_stream"),
        Bytes::from_static(b"the old version"),
        "a failed put_stream leaves the previous bytes"
    );
    let headed = head(&*store, &blob)
        .await
        .expect("the previous object is still there");
    assert_same_object(&headed, &old, "head after a failed put_stream");

    let fresh = key("atomic/fresh.bin");
    let reader = ChunkedReader::failing(pattern(100_000, 7), 4096);
    let failed = store
        .put_stream(&fresh, Box::new(reader), "application/octet-stream")
        .await;
    assert!(
        failed.is_err(),
        "put_stream from a failing reader must fail, got {failed:?}"
    );
    assert!(
        head(&*store, &fresh).await.is_none(),
        "a failed first put_stream leaves no object"
    );

    let listed = ok(store.list("").await, "list");
    assert_eq!(
        listed.len(),
        1,
        "nothing half-written is listed: {listed:?}"
    );
    assert_same_object(
        &listed[0],
        &old,
        "the only listed object is the previous version",
    );
}

pub async fn ping_answers(store: Arc<dyn BlobStore>) {
    ok(store.ping().await, "ping");
}
