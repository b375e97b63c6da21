//! Notifications: what happened to a user's books, stored per user so that every instance can
//! serve them (the progress stream reads the store; in Azure, Web PubSub will push them too).
//!
//! Event ids start with the creation time in milliseconds, so sorting by id is sorting by time
//! and a client that reconnects with `Last-Event-ID` gets exactly the events after it. Events a
//! retried delivery would publish twice carry a deduplication key: the first publication
//! creates a key document, and a second one finds it and publishes nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use visiobook_ports::document::{query_all_typed, to_body};
use visiobook_ports::{ErrorKind, Order, Query, StoreError};

use crate::state::AppState;

/// Notifications (partition key: the user id; id: the event id).
pub const NOTIFICATIONS_CONTAINER: &str = "notifications";
/// Deduplication keys of published events (partition key: the user id).
pub const NOTIFICATION_KEYS_CONTAINER: &str = "notification-keys";
/// Deliveries made outside the app (partition key: the user id; id: the event id).
pub const DELIVERIES_CONTAINER: &str = "notification-deliveries";
/// Users' webhooks (partition key and id: the user id; the secret encrypted).
pub const WEBHOOKS_CONTAINER: &str = "webhooks";
/// The queue of events to deliver outside the app (e-mail, then webhook attempts).
pub const DELIVERY_QUEUE: &str = "notifications";

/// Whether events of `kind` are delivered by e-mail as well as shown in the app.
pub fn is_delivered(kind: &str) -> bool {
    matches!(kind, "book.ready" | "book.failed" | "message")
}

/// One event as clients receive it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// `<13-digit milliseconds>-<8 hex>`: sorts by time.
    pub id: String,
    pub user_id: String,
    /// `stage.started`, `stage.progress`, `stage.finished`, `stage.retrying`, `book.ready`,
    /// `book.failed`, `message`.
    pub kind: String,
    #[serde(default)]
    pub book_id: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub stage: Option<String>,
    /// The book's overall percent.
    #[serde(default)]
    pub percent: Option<u8>,
    #[serde(default)]
    pub eta_seconds: Option<u64>,
    pub message: String,
    /// Links to what the event is about (status, exports).
    #[serde(default)]
    pub links: Value,
    pub created_at: String,
}

impl Notification {
    /// A new event for `user_id`; fill the optional fields, then [`publish`] it.
    pub fn new(user_id: &str, kind: &str, message: impl Into<String>) -> Self {
        let millis = next_millis(u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0));
        let suffix: u32 = rand_suffix();
        Self {
            id: format!("{millis:013}-{suffix:08x}"),
            user_id: user_id.to_owned(),
            kind: kind.to_owned(),
            book_id: None,
            project_id: None,
            stage: None,
            percent: None,
            eta_seconds: None,
            message: message.into(),
            links: json!({}),
            created_at: crate::now_rfc3339(),
        }
    }
}

/// The milliseconds of a new event id: the clock, but strictly after the last id this process
/// gave out, so that one process's events sort in the order they were made even within a
/// millisecond. (Two processes in the same millisecond are ordered by the random suffix.)
fn next_millis(now: u64) -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let mut previous = LAST.load(Ordering::Relaxed);
    loop {
        let next = now.max(previous + 1);
        match LAST.compare_exchange_weak(previous, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(actual) => previous = actual,
        }
    }
}

fn rand_suffix() -> u32 {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// Stores `event` unless an event with the same `dedupe_key` was published before. Returns
/// whether it was published.
pub async fn publish(
    state: &AppState,
    event: &Notification,
    dedupe_key: Option<&str>,
) -> Result<bool, StoreError> {
    let store = state.documents.as_ref();
    if let Some(key) = dedupe_key {
        let id = hex::encode(Sha256::digest(key.as_bytes()));
        let marker = json!({ "event_id": event.id, "created_at": event.created_at });
        match store
            .create(NOTIFICATION_KEYS_CONTAINER, &event.user_id, &id, marker)
            .await
        {
            Ok(_) => {}
            Err(error) if error.kind == ErrorKind::Conflict => return Ok(false),
            Err(error) => return Err(error),
        }
    }
    store
        .create(
            NOTIFICATIONS_CONTAINER,
            &event.user_id,
            &event.id,
            to_body(event)?,
        )
        .await?;
    state.metrics.book_event("notification_published");
    push(state, event).await;
    if is_delivered(&event.kind) {
        // The message id is the event's: a repeated send is dropped by duplicate detection.
        let body = json!({ "user_id": event.user_id, "event_id": event.id });
        let message = visiobook_ports::OutgoingMessage::new(
            format!("notify-{}", event.id),
            body.to_string().into_bytes(),
        );
        state.queue.send(DELIVERY_QUEUE, message).await?;
    }
    Ok(true)
}

/// Pushes `event` to the user's browsers through Web PubSub when it is configured. Advisory:
/// the event is stored already, and a client that missed the push reads it from the stream or
/// the history (each carries its id, so a client that sees one twice can drop it).
async fn push(state: &AppState, event: &Notification) {
    let Some(hub) = &state.settings.web_pubsub else {
        return;
    };
    let body = match serde_json::to_value(event) {
        Ok(body) => body,
        Err(_) => return,
    };
    if let Err(error) = hub.send_to_user(&state.http, &event.user_id, &body).await {
        state.metrics.error("web_pubsub");
        tracing::warn!(%error, event.id = %event.id, "the push through Web PubSub failed");
    }
}

/// The user's events after `last_event_id`, oldest first, reading newest first and stopping at
/// the last one seen (so an open socket reads a page, not the whole history, each time).
/// Without `last_event_id`, only the newest event is returned (where to start from).
pub async fn events_since(
    state: &AppState,
    user_id: &str,
    last_event_id: Option<&str>,
) -> Result<Vec<Notification>, StoreError> {
    let page_size = if last_event_id.is_some() { 100 } else { 1 };
    let query = Query::default()
        .order_by("id", Order::Descending)
        .page_size(page_size);
    let mut newer = Vec::new();
    let mut continuation: Option<String> = None;
    loop {
        let page = state
            .documents
            .query(
                NOTIFICATIONS_CONTAINER,
                user_id,
                &query,
                continuation.as_deref(),
            )
            .await?;
        for item in &page.items {
            let event: Notification = item.parse()?;
            match last_event_id {
                Some(last) if event.id.as_str() <= last => {
                    newer.reverse();
                    return Ok(newer);
                }
                Some(_) => newer.push(event),
                None => return Ok(vec![event]),
            }
        }
        match page.continuation {
            Some(next) => continuation = Some(next),
            None => {
                newer.reverse();
                return Ok(newer);
            }
        }
    }
}

/// The events about one book or project (`field` is `book_id` or `project_id`) after
/// `last_event_id`, oldest first.
pub async fn events_after(
    state: &AppState,
    user_id: &str,
    field: &str,
    equals: &str,
    last_event_id: Option<&str>,
) -> Result<Vec<Notification>, StoreError> {
    let query = Query::default()
        .filter(field, equals)
        .order_by("id", Order::Ascending)
        .page_size(1000);
    let events: Vec<Notification> = query_all_typed(
        state.documents.as_ref(),
        NOTIFICATIONS_CONTAINER,
        user_id,
        &query,
    )
    .await?;
    Ok(match last_event_id {
        Some(last) => events
            .into_iter()
            .filter(|event| event.id.as_str() > last)
            .collect(),
        None => events,
    })
}
