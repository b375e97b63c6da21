//! Sign-in throttling with growing delays, per account and per client address, kept in the
//! document store so that every instance sees the same counts.
//!
//! An account may fail [`ACCOUNT_FREE_FAILURES`] times; each further failure locks it for
//! twice as long as the last (1 s, 2 s, 4 s... at most [`MAX_LOCK_SECONDS`]). An address gets
//! more room ([`ADDRESS_FREE_FAILURES`]) since many people may share one. Counts are forgotten
//! [`FORGET_AFTER_SECONDS`] after the last failure, and an account's count is cleared by a
//! successful sign-in.

use serde::{Deserialize, Serialize};
use visiobook_ports::document::{read_typed, to_body};
use visiobook_runtime::{ApiError, AppState};

/// Failure counters (partition key and id: the [`index_id`](crate::users::index_id) of
/// `account:<email>` or `address:<ip>`).
pub const THROTTLE_CONTAINER: &str = "login-throttle";

pub const ACCOUNT_FREE_FAILURES: u32 = 5;
pub const ADDRESS_FREE_FAILURES: u32 = 20;
pub const MAX_LOCK_SECONDS: u64 = 15 * 60;
pub const FORGET_AFTER_SECONDS: u64 = 60 * 60;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Counter {
    failures: u32,
    /// Milliseconds since the Unix epoch (a lock of one second must last a whole second).
    last_failure_ms: u64,
    locked_until_ms: u64,
}

/// The two keys one sign-in attempt counts against.
#[derive(Debug, Clone)]
pub struct Keys {
    account: String,
    address: String,
}

impl Keys {
    pub fn new(email: &str, address: &str) -> Self {
        Self {
            account: crate::users::index_id(&format!("account:{email}")),
            address: crate::users::index_id(&format!("address:{address}")),
        }
    }

    fn both(&self) -> [(&str, u32); 2] {
        [
            (self.account.as_str(), ACCOUNT_FREE_FAILURES),
            (self.address.as_str(), ADDRESS_FREE_FAILURES),
        ]
    }
}

/// How long a key with `failures` failures is locked after its last one.
pub fn lock_seconds(failures: u32, free: u32) -> u64 {
    if failures <= free {
        return 0;
    }
    let doublings = (failures - free - 1).min(20);
    (1u64 << doublings).min(MAX_LOCK_SECONDS)
}

async fn counter(state: &AppState, key: &str) -> Result<Counter, ApiError> {
    Ok(
        read_typed::<Counter>(state.documents.as_ref(), THROTTLE_CONTAINER, key, key)
            .await?
            .map(|(counter, _)| counter)
            .unwrap_or_default(),
    )
}

/// `Err(429)` with `Retry-After` while either key is locked.
pub async fn check(state: &AppState, keys: &Keys, now_ms: u64) -> Result<(), ApiError> {
    let mut wait_ms = 0;
    for (key, _) in keys.both() {
        let counter = counter(state, key).await?;
        wait_ms = wait_ms.max(counter.locked_until_ms.saturating_sub(now_ms));
    }
    // Retry-After is in whole seconds, rounded up.
    let wait = wait_ms.div_ceil(1000);
    if wait == 0 {
        Ok(())
    } else {
        Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "login_throttled",
            format!("too many failed sign-ins; try again in {wait} s"),
        )
        .with_header("retry-after", wait.to_string()))
    }
}

/// Counts a failed sign-in against both keys.
pub async fn failed(state: &AppState, keys: &Keys, now_ms: u64) -> Result<(), ApiError> {
    for (key, free) in keys.both() {
        let mut counter = counter(state, key).await?;
        if now_ms.saturating_sub(counter.last_failure_ms) > FORGET_AFTER_SECONDS * 1000 {
            counter = Counter::default();
        }
        counter.failures = counter.failures.saturating_add(1);
        counter.last_failure_ms = now_ms;
        counter.locked_until_ms = now_ms + lock_seconds(counter.failures, free) * 1000;
        state
            .documents
            .upsert(THROTTLE_CONTAINER, key, key, to_body(&counter)?)
            .await?;
    }
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Clears the account's count after a successful sign-in (the address keeps its count).
pub async fn succeeded(state: &AppState, keys: &Keys) -> Result<(), ApiError> {
    match state
        .documents
        .delete(THROTTLE_CONTAINER, &keys.account, &keys.account, None)
        .await
    {
        Ok(()) => Ok(()),
        Err(error) if error.kind == visiobook_ports::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_after_the_free_failures_and_stop_growing() {
        assert_eq!(lock_seconds(5, 5), 0);
        assert_eq!(lock_seconds(6, 5), 1);
        assert_eq!(lock_seconds(7, 5), 2);
        assert_eq!(lock_seconds(10, 5), 16);
        assert_eq!(lock_seconds(40, 5), MAX_LOCK_SECONDS);
        assert_eq!(lock_seconds(u32::MAX, 5), MAX_LOCK_SECONDS);
    }
}
