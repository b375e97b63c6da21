//! The storage ports of Visiobook.
//!
//! Three traits describe everything the product stores: [`DocumentStore`] (JSON documents in
//! containers, partitioned, with ETag concurrency), [`BlobStore`] (binary objects by key) and
//! [`JobQueue`] (peek-lock queues with Service Bus semantics). Adapters live in other crates
//! (`visiobook-embedded` for SQLite and the filesystem, the Azure crate later); this crate only
//! knows the contracts, and [`conformance`] holds one suite per port that every adapter must pass.

pub mod blob;
pub mod conformance;
pub mod document;
pub mod error;
pub mod queue;

pub use blob::{BlobKey, BlobMeta, BlobStore, ByteRange};
pub use document::{Document, DocumentStore, ETag, Filter, Order, Page, Query};
pub use error::{ErrorKind, StoreError, StoreResult};
pub use queue::{
    DeadLetter, JobQueue, LockToken, OutgoingMessage, QueueSpec, QueueStats, ReceivedMessage,
    SendOutcome,
};
