//! The job-queue port, with Azure Service Bus semantics.
//!
//! - **Peek-lock**: `receive` hides a message for the queue's lock duration and returns a
//!   [`LockToken`]; `complete` removes it, `abandon` makes it visible again at once,
//!   `renew_lock` extends the lock, `dead_letter` moves it to the dead-letter sub-queue with a
//!   reason. An expired lock makes the message visible again and its token useless
//!   ([`ErrorKind::LockLost`](crate::ErrorKind::LockLost)).
//! - **Delivery count**: incremented on every receive. A message whose delivery count has
//!   reached the queue's `max_delivery_count` is dead-lettered with reason
//!   `MaxDeliveryCountExceeded` instead of being delivered again.
//! - **Scheduled messages**: not visible before their `scheduled_enqueue_time_ms`.
//! - **Duplicate detection**: a message whose id was already sent to the same queue inside the
//!   duplicate-detection window is accepted and dropped ([`SendOutcome::Duplicate`]).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::StoreResult;

/// Reason recorded when the delivery count runs out (the name Service Bus uses).
pub const MAX_DELIVERY_COUNT_EXCEEDED: &str = "MaxDeliveryCountExceeded";

/// How a queue behaves; in Azure these are the queue's properties (set in Bicep).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    pub lock_duration: Duration,
    pub max_delivery_count: u32,
    pub duplicate_detection_window: Duration,
}

impl QueueSpec {
    /// The Service Bus defaults we provision: 5-minute lock, 10 deliveries, 10-minute window.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            lock_duration: Duration::from_secs(300),
            max_delivery_count: 10,
            duplicate_detection_window: Duration::from_secs(600),
        }
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Used for duplicate detection; pick it from the work's identity, not at random.
    pub message_id: String,
    pub body: Bytes,
    pub correlation_id: Option<String>,
    /// Application properties (string values only, which every backend supports).
    pub properties: BTreeMap<String, String>,
    /// Milliseconds since the Unix epoch before which the message stays invisible.
    pub scheduled_enqueue_time_ms: Option<i64>,
}

impl OutgoingMessage {
    pub fn new(message_id: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Self {
            message_id: message_id.into(),
            body: body.into(),
            correlation_id: None,
            properties: BTreeMap::new(),
            scheduled_enqueue_time_ms: None,
        }
    }
}

/// Whether a send was enqueued or dropped by duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    Enqueued,
    Duplicate,
}

/// The proof of a peek-lock, needed to settle the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockToken(pub String);

/// A message received under peek-lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub body: Bytes,
    pub correlation_id: Option<String>,
    pub properties: BTreeMap<String, String>,
    /// 1 on first delivery.
    pub delivery_count: u32,
    pub sequence_number: i64,
    pub enqueued_time_ms: i64,
    pub lock_token: LockToken,
    pub locked_until_ms: i64,
}

/// A message in the dead-letter sub-queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    pub body: Bytes,
    pub correlation_id: Option<String>,
    pub properties: BTreeMap<String, String>,
    pub delivery_count: u32,
    pub reason: String,
    pub description: String,
    pub dead_lettered_time_ms: i64,
}

/// Counts for monitoring and autoscaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Visible now or locked (not yet settled).
    pub active: u64,
    /// Waiting for their scheduled time.
    pub scheduled: u64,
    pub dead_letter: u64,
}

/// Peek-lock queues. Queue names must be among the specs the adapter was built with;
/// an unknown queue is `NotFound`.
#[async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> StoreResult<SendOutcome>;

    /// Receives the oldest visible message under a peek-lock, or `None` when none is visible.
    async fn receive(&self, queue: &str) -> StoreResult<Option<ReceivedMessage>>;

    async fn complete(&self, queue: &str, lock: &LockToken) -> StoreResult<()>;

    async fn abandon(&self, queue: &str, lock: &LockToken) -> StoreResult<()>;

    /// Extends the lock by the queue's lock duration; returns the new `locked_until_ms`.
    async fn renew_lock(&self, queue: &str, lock: &LockToken) -> StoreResult<i64>;

    async fn dead_letter(
        &self,
        queue: &str,
        lock: &LockToken,
        reason: &str,
        description: &str,
    ) -> StoreResult<()>;

    /// Reads the dead-letter sub-queue without removing anything, oldest first.
    async fn peek_dead_letters(&self, queue: &str, max: usize) -> StoreResult<Vec<DeadLetter>>;

    async fn stats(&self, queue: &str) -> StoreResult<QueueStats>;

    /// The queue's configured behaviour.
    fn spec(&self, queue: &str) -> StoreResult<QueueSpec>;

    /// A cheap round trip proving the queue answers (used by `/ready`).
    async fn ping(&self) -> StoreResult<()>;
}
