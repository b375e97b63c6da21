//! Embedded adapters of the Visiobook storage ports, for local development and single-machine
//! deployments:
//!
//! - [`SqliteDocumentStore`]: JSON documents in a SQLite table (WAL mode).
//! - [`SqliteJobQueue`]: peek-lock queues in SQLite; several processes may share the file.
//! - [`FsBlobStore`]: objects as files under a root directory, written atomically.
//!
//! Every SQLite call runs on tokio's blocking pool; every adapter is cheap to clone.

mod blobs;
mod documents;
mod queue;
mod sqlite;

pub use blobs::FsBlobStore;
pub use documents::SqliteDocumentStore;
pub use queue::SqliteJobQueue;
