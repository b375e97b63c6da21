//! Timer triggers run locally on their NCRONTAB schedules (six fields, seconds first, UTC:
//! the format the Functions host uses).

use std::str::FromStr;

use anyhow::Context;
use chrono::{DateTime, Utc};
use cron::Schedule;
use tokio_util::sync::CancellationToken;

use crate::registry::{TimerHandler, TimerInvocation};

/// Parses a six-field NCRONTAB expression.
pub fn parse_schedule(expression: &str) -> anyhow::Result<Schedule> {
    anyhow::ensure!(
        expression.split_whitespace().count() == 6,
        "timer schedule {expression:?} must have six fields (seconds first)"
    );
    Schedule::from_str(expression).with_context(|| format!("invalid timer schedule {expression:?}"))
}

/// The next firing strictly after `after`.
pub fn next_after(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule.after(&after).next()
}

/// Runs `handler` on its schedule until `stop` resolves. Failures are logged, never fatal.
pub async fn run_timer<S: Clone + Send + Sync + 'static>(
    name: &'static str,
    schedule: Schedule,
    handler: TimerHandler<S>,
    state: S,
    stop: CancellationToken,
) {
    let mut last: Option<DateTime<Utc>> = None;
    loop {
        let now = Utc::now();
        let Some(next) = next_after(&schedule, now) else {
            tracing::warn!(
                function = name,
                "timer schedule has no future firing; timer stops"
            );
            return;
        };
        let wait = (next - now).to_std().unwrap_or_default();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        let following = next_after(&schedule, next);
        let invocation = TimerInvocation {
            is_past_due: Utc::now() - next > chrono::Duration::seconds(5),
            last: last.map(|time| time.to_rfc3339()),
            next: following.map(|time| time.to_rfc3339()),
        };
        let started = std::time::Instant::now();
        match handler(state.clone(), invocation).await {
            Ok(()) => tracing::debug!(
                function = name,
                duration_ms = started.elapsed().as_millis() as u64,
                "timer ran"
            ),
            Err(error) => tracing::warn!(function = name, error = %error, "timer failed"),
        }
        last = Some(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_fire_when_expected() {
        let schedule = parse_schedule("0 */5 * * * *").expect("valid");
        let start = DateTime::parse_from_rfc3339("2026-01-01T10:02:30Z")
            .expect("valid time")
            .with_timezone(&Utc);
        let next = next_after(&schedule, start).expect("has a next firing");
        assert_eq!(next.to_rfc3339(), "2026-01-01T10:05:00+00:00");
        assert!(
            parse_schedule("*/5 * * * *").is_err(),
            "five fields are refused"
        );
        assert!(parse_schedule("0 99 * * * *").is_err());
    }
}
