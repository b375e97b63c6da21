//! The audit log in the document store: append-only, hash-chained
//! ([`visiobook_auth::audit`]), with a head document that makes a cut-off tail detectable.
//!
//! Entries live in one partition of the `audit` container with zero-padded sequence numbers as
//! ids. Creating the entry document is the point of serialisation: two writers that seal the
//! same `seq` cannot both create it, and the loser seals again after the winner. The head
//! (`seq` and `hash` of the last entry) is written after each entry; a head left behind by a
//! crash is rolled forward by the next writer, never backwards, so a head ahead of the last
//! entry means entries were removed.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use visiobook_auth::audit::{
    ACTOR_SYSTEM, AuditEntry, AuditEvent as Event, OUTCOME_FAILURE, OUTCOME_SUCCESS,
    verify_chain_after,
};
use visiobook_ports::document::{query_all_typed, read_typed, to_body};
use visiobook_ports::{ErrorKind, Order, Query, StoreError};

use crate::state::AppState;

/// The audit container; every document is in the [`PARTITION`] partition.
pub const AUDIT_CONTAINER: &str = "audit";
const PARTITION: &str = "log";
const HEAD_ID: &str = "head";
/// Writers racing for the same sequence number retry this many times.
const APPEND_ATTEMPTS: usize = 32;

/// Something worth recording: who did what to what, and how it went.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    actor: String,
    action: String,
    target: String,
    outcome: &'static str,
    details: Value,
}

impl AuditEvent {
    /// A successful `action` (`auth.login`, `project.delete`...) by `actor` (a user id, or
    /// `system`) on `target` (`project:<id>`, `user:<id>`...).
    pub fn new(actor: impl Into<String>, action: &str, target: impl Into<String>) -> Self {
        let actor = actor.into();
        Self {
            actor: if actor.is_empty() {
                ACTOR_SYSTEM.to_owned()
            } else {
                actor
            },
            action: action.to_owned(),
            target: target.into(),
            outcome: OUTCOME_SUCCESS,
            details: json!({}),
        }
    }

    /// Marks the action as failed or refused.
    pub fn failure(mut self) -> Self {
        self.outcome = OUTCOME_FAILURE;
        self
    }

    /// Anything else worth keeping (never a secret: the log is not encrypted).
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Head {
    seq: u64,
    hash: String,
}

fn entry_id(seq: u64) -> String {
    format!("{seq:020}")
}

/// Appends an event. The caller's action already happened, so a store failure here is logged
/// (and counted as an error in the logs) rather than undoing it.
pub async fn record(state: &AppState, event: AuditEvent) {
    let action = event.action.clone();
    if let Err(error) = append(state, event).await {
        tracing::error!(%error, audit.action = %action, "the audit log could not be written");
    }
}

/// Appends an event and returns the sealed entry.
pub async fn append(state: &AppState, event: AuditEvent) -> Result<AuditEntry, StoreError> {
    let store = state.documents.as_ref();
    let event = Event {
        at: crate::now_rfc3339(),
        actor: event.actor,
        action: event.action,
        target: event.target,
        outcome: event.outcome.to_owned(),
        details: event.details,
    };
    for _ in 0..APPEND_ATTEMPTS {
        let mut last = last_entry(state).await?;
        // Roll forward past entries whose head update was lost.
        while let Some((next, _)) = read_typed::<AuditEntry>(
            store,
            AUDIT_CONTAINER,
            PARTITION,
            &entry_id(last.as_ref().map_or(1, |entry| entry.seq + 1)),
        )
        .await?
        {
            last = Some(next);
        }
        let entry = AuditEntry::seal(last.as_ref(), event.clone());
        let mut body = to_body(&entry)?;
        body["kind"] = json!("entry");
        match store
            .create(AUDIT_CONTAINER, PARTITION, &entry_id(entry.seq), body)
            .await
        {
            Ok(_) => {
                let head = Head {
                    seq: entry.seq,
                    hash: entry.hash.clone(),
                };
                write_head(state, &head).await?;
                return Ok(entry);
            }
            Err(error) if error.kind == ErrorKind::Conflict => continue,
            Err(error) => return Err(error),
        }
    }
    Err(StoreError::unavailable(
        "the audit log is too busy: could not claim a sequence number",
    ))
}

/// The entry the head names, if any.
async fn last_entry(state: &AppState) -> Result<Option<AuditEntry>, StoreError> {
    let store = state.documents.as_ref();
    let Some((head, _)) = read_typed::<Head>(store, AUDIT_CONTAINER, PARTITION, HEAD_ID).await?
    else {
        return Ok(None);
    };
    Ok(
        read_typed::<AuditEntry>(store, AUDIT_CONTAINER, PARTITION, &entry_id(head.seq))
            .await?
            .map(|(entry, _)| entry),
    )
}

/// Moves the head forward (never back) to `head`.
async fn write_head(state: &AppState, head: &Head) -> Result<(), StoreError> {
    let store = state.documents.as_ref();
    for _ in 0..APPEND_ATTEMPTS {
        match read_typed::<Head>(store, AUDIT_CONTAINER, PARTITION, HEAD_ID).await? {
            Some((current, _)) if current.seq >= head.seq => return Ok(()),
            Some((_, etag)) => {
                match store
                    .replace(
                        AUDIT_CONTAINER,
                        PARTITION,
                        HEAD_ID,
                        to_body(head)?,
                        Some(&etag),
                    )
                    .await
                {
                    Ok(_) => return Ok(()),
                    Err(error) if error.kind == ErrorKind::PreconditionFailed => continue,
                    Err(error) => return Err(error),
                }
            }
            None => match store
                .create(AUDIT_CONTAINER, PARTITION, HEAD_ID, to_body(head)?)
                .await
            {
                Ok(_) => return Ok(()),
                Err(error) if error.kind == ErrorKind::Conflict => continue,
                Err(error) => return Err(error),
            },
        }
    }
    Ok(())
}

/// Filters of a listing.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub action: Option<String>,
    pub actor: Option<String>,
    pub page_size: usize,
}

/// One page of entries, newest first.
pub async fn list(
    state: &AppState,
    filters: &AuditQuery,
    continuation: Option<&str>,
) -> Result<(Vec<AuditEntry>, Option<String>), StoreError> {
    let mut query = Query::default()
        .filter("kind", "entry")
        .order_by("seq", Order::Descending)
        .page_size(filters.page_size.clamp(1, 1000));
    if let Some(action) = &filters.action {
        query = query.filter("action", action.as_str());
    }
    if let Some(actor) = &filters.actor {
        query = query.filter("actor", actor.as_str());
    }
    let page = state
        .documents
        .query(AUDIT_CONTAINER, PARTITION, &query, continuation)
        .await?;
    let entries = page
        .items
        .iter()
        .map(|item| item.parse())
        .collect::<Result<Vec<AuditEntry>, _>>()?;
    Ok((entries, page.continuation))
}

/// Every entry whose actor is `user_id`, oldest first (for a user's data export).
pub async fn entries_about(state: &AppState, user_id: &str) -> Result<Vec<AuditEntry>, StoreError> {
    let query = Query::default()
        .filter("kind", "entry")
        .filter("actor", user_id)
        .order_by("seq", Order::Ascending)
        .page_size(1000);
    query_all_typed(state.documents.as_ref(), AUDIT_CONTAINER, PARTITION, &query).await
}

/// Checks the whole chain, page by page, and that it ends where the head says:
/// `{"verified": bool, "entries": n, "head_seq": n, "problem": code, "at_seq": n}`.
pub async fn verify(state: &AppState) -> Result<Value, StoreError> {
    let query = Query::default()
        .filter("kind", "entry")
        .order_by("seq", Order::Ascending)
        .page_size(1000);
    let mut anchor: Option<AuditEntry> = None;
    let mut count = 0u64;
    let mut continuation = None;
    loop {
        let page = state
            .documents
            .query(AUDIT_CONTAINER, PARTITION, &query, continuation.as_deref())
            .await?;
        let entries = page
            .items
            .iter()
            .map(|item| item.parse())
            .collect::<Result<Vec<AuditEntry>, _>>()?;
        if let Err(error) = verify_chain_after(anchor.as_ref(), &entries) {
            return Ok(json!({
                "verified": false,
                "entries": count + error.index() as u64,
                "problem": error.code(),
                "at_seq": error.seq(),
            }));
        }
        count += entries.len() as u64;
        if let Some(last) = entries.into_iter().last() {
            anchor = Some(last);
        }
        match page.continuation {
            Some(next) => continuation = Some(next),
            None => break,
        }
    }
    let head = read_typed::<Head>(
        state.documents.as_ref(),
        AUDIT_CONTAINER,
        PARTITION,
        HEAD_ID,
    )
    .await?
    .map(|(head, _)| head);
    let last_seq = anchor.as_ref().map_or(0, |entry| entry.seq);
    if let Some(head) = &head
        && (head.seq > last_seq
            || (head.seq == last_seq && anchor.as_ref().is_some_and(|a| a.hash != head.hash)))
    {
        return Ok(json!({
            "verified": false,
            "entries": count,
            "head_seq": head.seq,
            "problem": "audit_truncated",
            "at_seq": last_seq + 1,
        }));
    }
    Ok(json!({
        "verified": true,
        "entries": count,
        "head_seq": head.map_or(0, |head| head.seq),
    }))
}
