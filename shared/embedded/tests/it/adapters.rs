//! Checks specific to the embedded adapters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::json;
use visiobook_embedded::{FsBlobStore, SqliteDocumentStore, SqliteJobQueue};
use visiobook_ports::conformance::{QUEUE, conformance_queue_specs};
use visiobook_ports::{
    BlobKey, BlobStore, DocumentStore, ErrorKind, JobQueue, OutgoingMessage, Query, QueueSpec,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_queue_instances_on_one_file_never_share_a_message() {
    const MESSAGES: usize = 60;
    let dir = super::temp_dir();
    let path = dir.path().join("queue.sqlite3");
    let first: Arc<dyn JobQueue> =
        Arc::new(SqliteJobQueue::open(&path, conformance_queue_specs()).unwrap());
    let second: Arc<dyn JobQueue> =
        Arc::new(SqliteJobQueue::open(&path, conformance_queue_specs()).unwrap());
    for index in 0..MESSAGES {
        let sender = if index % 2 == 0 { &first } else { &second };
        sender
            .send(QUEUE, OutgoingMessage::new(format!("m-{index:02}"), "work"))
            .await
            .unwrap();
    }
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut workers = Vec::new();
    for worker in 0..6 {
        let queue = Arc::clone(if worker % 2 == 0 { &first } else { &second });
        let seen = Arc::clone(&seen);
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline && seen.lock().unwrap().len() < MESSAGES {
                match queue.receive(QUEUE).await.unwrap() {
                    Some(message) => {
                        *seen
                            .lock()
                            .unwrap()
                            .entry(message.message_id.clone())
                            .or_default() += 1;
                        queue.complete(QUEUE, &message.lock_token).await.unwrap();
                    }
                    None => tokio::time::sleep(Duration::from_millis(5)).await,
                }
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), MESSAGES, "every message was delivered");
    assert!(
        seen.values().all(|count| *count == 1),
        "a message was delivered twice: {seen:?}"
    );
    assert!(first.receive(QUEUE).await.unwrap().is_none());
    assert_eq!(second.stats(QUEUE).await.unwrap().active, 0);
}

#[tokio::test]
async fn a_reopened_document_store_sees_previous_data() {
    let dir = super::temp_dir();
    let path = dir.path().join("nested").join("documents.sqlite3");
    let etag = {
        let store = SqliteDocumentStore::open(&path).unwrap();
        store
            .create("books", "p", "b-1", json!({"title": "Dune"}))
            .await
            .unwrap()
    };
    let store = SqliteDocumentStore::open(&path).unwrap();
    let document = store
        .read("books", "p", "b-1")
        .await
        .unwrap()
        .expect("the document survives a reopen");
    assert_eq!(document.body, json!({"title": "Dune"}));
    assert_eq!(document.etag, etag);
    let page = store
        .query("books", "p", &Query::default(), None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
}

#[tokio::test]
async fn documents_and_queue_can_share_one_file() {
    let dir = super::temp_dir();
    let path = dir.path().join("visiobook.sqlite3");
    let documents = SqliteDocumentStore::open(&path).unwrap();
    let queue = SqliteJobQueue::open(&path, vec![QueueSpec::new("jobs")]).unwrap();
    documents
        .upsert("c", "p", "d", json!({"n": 1}))
        .await
        .unwrap();
    queue
        .send("jobs", OutgoingMessage::new("m", "x"))
        .await
        .unwrap();
    assert!(queue.receive("jobs").await.unwrap().is_some());
    assert!(documents.read("c", "p", "d").await.unwrap().is_some());
    // Reopening re-runs no migration and keeps the data.
    let queue = SqliteJobQueue::open(&path, vec![QueueSpec::new("jobs")]).unwrap();
    assert_eq!(queue.stats("jobs").await.unwrap().active, 1);
}

#[tokio::test]
async fn queue_specs_are_validated() {
    let dir = super::temp_dir();
    let path = dir.path().join("queue.sqlite3");
    let twice = vec![QueueSpec::new("a"), QueueSpec::new("a")];
    assert_eq!(
        SqliteJobQueue::open(&path, twice).unwrap_err().kind,
        ErrorKind::Invalid
    );
    let mut zero = QueueSpec::new("z");
    zero.max_delivery_count = 0;
    assert_eq!(
        SqliteJobQueue::open(&path, vec![zero]).unwrap_err().kind,
        ErrorKind::Invalid
    );
}

#[tokio::test]
async fn blob_files_stay_inside_the_root_and_hide_their_bookkeeping() {
    let dir = super::temp_dir();
    let root = dir.path().join("blobs");
    let store = FsBlobStore::open(&root).unwrap();
    let key = BlobKey::parse("books/b-1/cover.png").unwrap();
    store
        .put(&key, Bytes::from_static(b"png"), "image/png")
        .await
        .unwrap();
    store
        .put(&key, Bytes::from_static(b"png2"), "image/png")
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(root.join("books/b-1/cover.png")).unwrap(),
        b"png2"
    );
    // Exactly one sidecar remains and no temporary file is left behind.
    let mut names: Vec<String> = std::fs::read_dir(root.join("books/b-1"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(names[1], "cover.png");
    assert!(
        names[0].starts_with(".cover.png.") && names[0].ends_with(".meta"),
        "{names:?}"
    );

    // A key below an existing object is refused rather than clobbering it.
    let below = BlobKey::parse("books/b-1/cover.png/x").unwrap();
    let refused = store
        .put(&below, Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid);
    // A hidden file dropped into the tree is never listed.
    std::fs::write(root.join("books/.secret"), b"x").unwrap();
    let listed = store.list("").await.unwrap();
    assert_eq!(listed.len(), 1);
    // Deleting the last object prunes its empty directories.
    assert!(store.delete(&key).await.unwrap());
    assert!(!root.join("books/b-1").exists());
    assert!(root.exists());
}

#[tokio::test]
async fn a_blob_key_used_as_a_prefix_cannot_become_an_object() {
    let dir = super::temp_dir();
    let store = FsBlobStore::open(&dir.path().join("blobs")).unwrap();
    let child = BlobKey::parse("dir/child.txt").unwrap();
    store
        .put(&child, Bytes::from_static(b"child"), "text/plain")
        .await
        .unwrap();
    let parent = BlobKey::parse("dir").unwrap();
    let refused = store
        .put(&parent, Bytes::from_static(b"x"), "text/plain")
        .await
        .unwrap_err();
    assert_eq!(refused.kind, ErrorKind::Invalid);
    assert!(store.head(&parent).await.unwrap().is_none());
    let listed: Vec<String> = store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|meta| meta.key.to_string())
        .collect();
    assert_eq!(listed, vec!["dir/child.txt".to_owned()]);
    // Nothing but the child's data and sidecar is left on disk.
    let mut names: Vec<String> = std::fs::read_dir(dir.path().join("blobs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, vec!["dir".to_owned()]);
}
