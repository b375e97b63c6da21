//! Request rate limits per user and per client address: token buckets in memory, refilled
//! continuously, so a client may burst up to a minute's allowance and then goes at the
//! sustained rate. In Azure, API Management enforces the same limits at the gateway; these keep
//! `visiobook dev` and a single instance honest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many buckets are kept before idle ones are swept.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets keyed by a string (`user:<id>`, `address:<ip>`).
#[derive(Debug)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

impl RateLimiter {
    pub fn new() -> Self {
        Self {
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `key`'s bucket of `per_minute` requests. `Err` carries how long
    /// until the next request would be allowed. A limit of 0 allows everything.
    pub fn check(&self, key: &str, per_minute: u32, now: Instant) -> Result<(), Duration> {
        if per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(per_minute);
        let per_second = capacity / 60.0;
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() > SWEEP_ABOVE {
            // A bucket idle for a minute is full again: forgetting it changes nothing.
            buckets
                .retain(|_, bucket| now.duration_since(bucket.updated) < Duration::from_secs(60));
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_up_to_the_allowance_passes_then_the_sustained_rate_applies() {
        let limiter = RateLimiter::new();
        let start = Instant::now();
        for _ in 0..60 {
            assert!(limiter.check("user:a", 60, start).is_ok());
        }
        let wait = limiter
            .check("user:a", 60, start)
            .expect_err("the 61st request waits");
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::from_millis(900),
            "{wait:?}"
        );
        // Other keys have their own bucket.
        assert!(limiter.check("user:b", 60, start).is_ok());
        // One second later one more request fits, not two.
        let later = start + Duration::from_secs(1);
        assert!(limiter.check("user:a", 60, later).is_ok());
        assert!(limiter.check("user:a", 60, later).is_err());
    }

    #[test]
    fn zero_means_unlimited() {
        let limiter = RateLimiter::new();
        let now = Instant::now();
        for _ in 0..1000 {
            assert!(limiter.check("address:x", 0, now).is_ok());
        }
    }
}
