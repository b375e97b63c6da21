//! Integration tests of the embedded adapters: the three port conformance suites, plus
//! adapter-specific checks (two queue instances on one file, reopening a document store).
//!
//! Each factory creates its store in a fresh `tempfile::TempDir` and returns `(store, dir)`;
//! the conformance macros keep the pair alive until the check finishes, then drop the
//! directory.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod adapters;

use std::sync::Arc;

use tempfile::TempDir;
use visiobook_embedded::{FsBlobStore, SqliteDocumentStore, SqliteJobQueue};
use visiobook_ports::conformance::conformance_queue_specs;

fn temp_dir() -> TempDir {
    tempfile::tempdir().expect("a temporary directory")
}

async fn document_store() -> (Arc<SqliteDocumentStore>, TempDir) {
    let dir = temp_dir();
    let store = SqliteDocumentStore::open(&dir.path().join("documents.sqlite3"))
        .expect("open the document store");
    (Arc::new(store), dir)
}

async fn blob_store() -> (Arc<FsBlobStore>, TempDir) {
    let dir = temp_dir();
    let store = FsBlobStore::open(&dir.path().join("blobs")).expect("open the blob store");
    (Arc::new(store), dir)
}

async fn job_queue() -> (Arc<SqliteJobQueue>, TempDir) {
    let dir = temp_dir();
    let queue = SqliteJobQueue::open(&dir.path().join("queue.sqlite3"), conformance_queue_specs())
        .expect("open the job queue");
    (Arc::new(queue), dir)
}

mod documents {
    visiobook_ports::document_store_conformance!(super::document_store());
}

mod blobs {
    visiobook_ports::blob_store_conformance!(super::blob_store());
}

mod queue {
    visiobook_ports::job_queue_conformance!(super::job_queue());
}
