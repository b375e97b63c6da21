//! Product analytics: raw events and their hourly and daily aggregates.
//!
//! Events are stored by the hour they were **received** (partition `YYYY-MM-DDTHH`), so an hour
//! is complete once it has passed and its aggregate never goes stale, whatever time a client
//! says its event happened (kept as `occurred_at`). The services record their own events
//! (`book.submitted`, `book.ready`, `stage.started`, `user.registered`...) with [`record`];
//! clients send theirs through `POST /api/v1/analytics/track-event`.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Timelike as _, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use visiobook_ports::document::to_body;
use visiobook_ports::{ErrorKind, Query, StoreError};

use crate::state::AppState;

/// Raw events (partition key: the hour received, `YYYY-MM-DDTHH`; id: the event id).
pub const EVENTS_CONTAINER: &str = "analytics-events";
/// One aggregate per hour (partition key: the day; id: the hour).
pub const HOURLY_CONTAINER: &str = "analytics-hourly";
/// One aggregate per day (partition key: the month; id: the day).
pub const DAILY_CONTAINER: &str = "analytics-daily";
/// Where the rollup keeps its watermark (partition key and id: `rollup`).
pub const STATE_CONTAINER: &str = "analytics-state";

/// Event names only the services (and administrators) may send: the KPIs are made of them.
pub const RESERVED_PREFIXES: [&str; 5] = ["book.", "stage.", "user.", "subscription.", "payment."];
/// Numeric properties whose every value is kept in the aggregates, for medians.
pub const SAMPLED: [&str; 1] = ["upload_to_video_seconds"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// When it was received (RFC 3339, UTC).
    pub received_at: String,
    /// When the sender says it happened.
    pub occurred_at: String,
    /// `server` or `client`.
    pub source: String,
    #[serde(default)]
    pub properties: Map<String, Value>,
}

impl Event {
    /// A server-side event, now.
    pub fn server(name: &str, user_id: Option<&str>, properties: Value) -> Self {
        let now = crate::now_rfc3339();
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            name: name.to_owned(),
            user_id: user_id.map(str::to_owned),
            received_at: now.clone(),
            occurred_at: now,
            source: "server".into(),
            properties: match properties {
                Value::Object(map) => map,
                _ => Map::new(),
            },
        }
    }
}

/// The partition of an hour: `YYYY-MM-DDTHH`.
pub fn hour_key(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H").to_string()
}

/// The start of the hour a key names.
pub fn parse_hour(key: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&format!("{key}:00:00Z"))
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

/// The start of the hour `time` is in.
pub fn hour_start(time: DateTime<Utc>) -> DateTime<Utc> {
    time.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(time)
}

/// Stores `event` in the hour it was received; `Ok(false)` when that id was stored already.
pub async fn store(state: &AppState, event: &Event) -> Result<bool, StoreError> {
    let received = DateTime::parse_from_rfc3339(&event.received_at)
        .map_err(|error| StoreError::invalid(format!("received_at: {error}")))?
        .with_timezone(&Utc);
    match state
        .documents
        .create(
            EVENTS_CONTAINER,
            &hour_key(received),
            &event.id,
            to_body(event)?,
        )
        .await
    {
        Ok(_) => Ok(true),
        Err(error) if error.kind == ErrorKind::Conflict => Ok(false),
        Err(error) => Err(error),
    }
}

/// Records a server-side event. Advisory: analytics never fails the work it describes, so a
/// failure is logged and dropped.
pub async fn record(state: &AppState, name: &str, user_id: Option<&str>, properties: Value) {
    let event = Event::server(name, user_id, properties);
    if let Err(error) = store(state, &event).await {
        tracing::warn!(%error, event = name, "analytics event not stored");
    }
}

/// What one event name amounted to over a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NameAggregate {
    pub count: u64,
    /// Distinct users who sent it.
    #[serde(default)]
    pub users: BTreeSet<String>,
    /// Sums of numeric properties.
    #[serde(default)]
    pub sums: BTreeMap<String, f64>,
    /// Counts by the `stage` property, when events have one.
    #[serde(default)]
    pub by_stage: BTreeMap<String, u64>,
    /// Every value of the [`SAMPLED`] properties.
    #[serde(default)]
    pub samples: BTreeMap<String, Vec<f64>>,
}

/// Events of a period (an hour, a day, or a report's window), by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    /// The hour (`YYYY-MM-DDTHH`) or day (`YYYY-MM-DD`); empty for a window.
    pub period: String,
    pub events: u64,
    /// Distinct users over every event.
    #[serde(default)]
    pub users: BTreeSet<String>,
    #[serde(default)]
    pub names: BTreeMap<String, NameAggregate>,
    /// When the rollup wrote it; `None` for an aggregate computed on the fly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_at: Option<String>,
}

impl Aggregate {
    pub fn add(&mut self, event: &Event) {
        self.events += 1;
        let name = self.names.entry(event.name.clone()).or_default();
        name.count += 1;
        if let Some(user) = &event.user_id {
            self.users.insert(user.clone());
            name.users.insert(user.clone());
        }
        for (key, value) in &event.properties {
            if let Some(number) = value.as_f64() {
                *name.sums.entry(key.clone()).or_default() += number;
                if SAMPLED.contains(&key.as_str()) {
                    name.samples.entry(key.clone()).or_default().push(number);
                }
            }
        }
        if let Some(stage) = event.properties.get("stage").and_then(Value::as_str) {
            *name.by_stage.entry(stage.to_owned()).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: &Aggregate) {
        self.events += other.events;
        self.users.extend(other.users.iter().cloned());
        for (key, theirs) in &other.names {
            let ours = self.names.entry(key.clone()).or_default();
            ours.count += theirs.count;
            ours.users.extend(theirs.users.iter().cloned());
            for (sum, value) in &theirs.sums {
                *ours.sums.entry(sum.clone()).or_default() += value;
            }
            for (stage, count) in &theirs.by_stage {
                *ours.by_stage.entry(stage.clone()).or_default() += count;
            }
            for (sample, values) in &theirs.samples {
                ours.samples
                    .entry(sample.clone())
                    .or_default()
                    .extend(values.iter().copied());
            }
        }
    }

    fn count(&self, name: &str) -> u64 {
        self.names.get(name).map_or(0, |n| n.count)
    }

    fn users_of(&self, name: &str) -> usize {
        self.names.get(name).map_or(0, |n| n.users.len())
    }

    /// The key figures of the product over this aggregate.
    pub fn kpis(&self) -> Value {
        let ready = self.names.get("book.ready");
        let render_seconds = ready
            .and_then(|n| n.sums.get("video_seconds"))
            .copied()
            .unwrap_or(0.0);
        let mut waits = ready
            .and_then(|n| n.samples.get("upload_to_video_seconds"))
            .cloned()
            .unwrap_or_default();
        let registered = self.users_of("user.registered");
        let paid = self.users_of("subscription.activated");
        let started = self.names.get("stage.started");
        let failed = self.names.get("stage.failed");
        let mut stages: BTreeSet<&String> = BTreeSet::new();
        stages.extend(started.iter().flat_map(|n| n.by_stage.keys()));
        stages.extend(failed.iter().flat_map(|n| n.by_stage.keys()));
        let failure_rate: Map<String, Value> = stages
            .into_iter()
            .map(|stage| {
                let runs = started
                    .and_then(|n| n.by_stage.get(stage))
                    .copied()
                    .unwrap_or(0);
                let failures = failed
                    .and_then(|n| n.by_stage.get(stage))
                    .copied()
                    .unwrap_or(0);
                let rate = if runs == 0 {
                    Value::Null
                } else {
                    serde_json::json!(failures as f64 / runs as f64)
                };
                (
                    stage.clone(),
                    serde_json::json!({ "runs": runs, "failures": failures, "rate": rate }),
                )
            })
            .collect();
        serde_json::json!({
            "books_processed": self.count("book.ready"),
            "books_submitted": self.count("book.submitted"),
            "books_failed": self.count("book.failed"),
            "render_minutes": (render_seconds / 60.0 * 100.0).round() / 100.0,
            "active_users": self.users.len(),
            "new_users": registered,
            "new_paid_users": paid,
            "conversion_to_paid": if registered == 0 {
                Value::Null
            } else {
                serde_json::json!(paid as f64 / registered as f64)
            },
            "failure_rate_by_stage": failure_rate,
            "median_upload_to_video_seconds": median(&mut waits),
            "events": self.events,
        })
    }
}

/// The median, or `null` without values.
fn median(values: &mut [f64]) -> Value {
    if values.is_empty() {
        return Value::Null;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    let median = if values.len().is_multiple_of(2) {
        (values[middle - 1] + values[middle]) / 2.0
    } else {
        values[middle]
    };
    serde_json::json!(median)
}

/// Aggregates the raw events of the hour starting at `hour`.
pub async fn aggregate_hour(
    state: &AppState,
    hour: DateTime<Utc>,
) -> Result<Aggregate, StoreError> {
    let key = hour_key(hour);
    let mut aggregate = Aggregate {
        period: key.clone(),
        ..Aggregate::default()
    };
    let mut continuation = None;
    loop {
        let page = state
            .documents
            .query(
                EVENTS_CONTAINER,
                &key,
                &Query::default().page_size(1000),
                continuation.as_deref(),
            )
            .await?;
        for document in &page.items {
            aggregate.add(&document.parse::<Event>()?);
        }
        match page.continuation {
            Some(next) => continuation = Some(next),
            None => return Ok(aggregate),
        }
    }
}

/// The hour's aggregate: the rolled-up one if the rollup wrote it, else computed now.
pub async fn hour(state: &AppState, hour: DateTime<Utc>) -> Result<Aggregate, StoreError> {
    let key = hour_key(hour);
    let day = key[..10].to_owned();
    if let Some(document) = state.documents.read(HOURLY_CONTAINER, &day, &key).await? {
        return document.parse();
    }
    aggregate_hour(state, hour).await
}

/// The aggregate of `[from, to)`, whole hours: complete rolled-up days where they exist, hours
/// elsewhere (so the current hour and hours not rolled up yet count too).
pub async fn window(
    state: &AppState,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Aggregate, StoreError> {
    let mut total = Aggregate::default();
    let mut cursor = hour_start(from);
    while cursor < to {
        let day_start = cursor
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc());
        if day_start == Some(cursor) && cursor + Duration::days(1) <= to {
            let day = cursor.format("%Y-%m-%d").to_string();
            let month = day[..7].to_owned();
            if let Some(document) = state.documents.read(DAILY_CONTAINER, &month, &day).await? {
                let daily: DailyAggregate = document.parse()?;
                if daily.complete {
                    total.merge(&daily.aggregate);
                    cursor += Duration::days(1);
                    continue;
                }
            }
        }
        total.merge(&hour(state, cursor).await?);
        cursor += Duration::hours(1);
    }
    Ok(total)
}

/// A day's aggregate; `complete` once all 24 hours were rolled up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyAggregate {
    #[serde(flatten)]
    pub aggregate: Aggregate,
    pub complete: bool,
    pub hours: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Watermark {
    /// The first hour not rolled up yet.
    next_hour: String,
}

/// How far back the first rollup starts.
const FIRST_ROLLUP_DAYS: i64 = 7;

/// Rolls every complete hour since the watermark into its hourly aggregate, then rebuilds the
/// daily aggregates of the days touched. Safe to run twice or concurrently: aggregates are
/// recomputed from the raw events and written whole. Returns the hours rolled up.
pub async fn roll_up(state: &AppState, now: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
    let current = hour_start(now);
    let watermark = state
        .documents
        .read(STATE_CONTAINER, "rollup", "rollup")
        .await?
        .and_then(|document| document.parse::<Watermark>().ok())
        .and_then(|watermark| parse_hour(&watermark.next_hour));
    let mut cursor = watermark.unwrap_or(current - Duration::days(FIRST_ROLLUP_DAYS));
    let mut rolled = Vec::new();
    let mut days = BTreeSet::new();
    while cursor < current {
        let mut aggregate = aggregate_hour(state, cursor).await?;
        aggregate.rolled_at = Some(crate::now_rfc3339());
        let key = hour_key(cursor);
        let day = key[..10].to_owned();
        state
            .documents
            .upsert(HOURLY_CONTAINER, &day, &key, to_body(&aggregate)?)
            .await?;
        days.insert(day);
        rolled.push(key);
        cursor += Duration::hours(1);
        state
            .documents
            .upsert(
                STATE_CONTAINER,
                "rollup",
                "rollup",
                to_body(&Watermark {
                    next_hour: hour_key(cursor),
                })?,
            )
            .await?;
    }
    for day in days {
        let hours = visiobook_ports::document::query_all_typed::<Aggregate>(
            state.documents.as_ref(),
            HOURLY_CONTAINER,
            &day,
            &Query::default(),
        )
        .await?;
        let mut daily = DailyAggregate {
            aggregate: Aggregate {
                period: day.clone(),
                rolled_at: Some(crate::now_rfc3339()),
                ..Aggregate::default()
            },
            complete: hours.len() == 24,
            hours: hours.len() as u32,
        };
        for hour in &hours {
            daily.aggregate.merge(hour);
        }
        state
            .documents
            .upsert(DAILY_CONTAINER, &day[..7], &day, to_body(&daily)?)
            .await?;
    }
    Ok(rolled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str, user: &str, properties: Value) -> Event {
        let mut event = Event::server(name, Some(user), properties);
        event.id = format!("{name}-{user}");
        event
    }

    #[test]
    fn kpis_come_from_the_events() {
        let mut hour = Aggregate::default();
        for (name, user, properties) in [
            ("user.registered", "a", serde_json::json!({})),
            ("user.registered", "b", serde_json::json!({})),
            (
                "subscription.activated",
                "b",
                serde_json::json!({ "plan": "creator" }),
            ),
            (
                "stage.started",
                "a",
                serde_json::json!({ "stage": "analysis" }),
            ),
            (
                "stage.started",
                "a",
                serde_json::json!({ "stage": "analysis" }),
            ),
            (
                "stage.failed",
                "a",
                serde_json::json!({ "stage": "analysis" }),
            ),
            (
                "book.ready",
                "a",
                serde_json::json!({ "video_seconds": 90, "upload_to_video_seconds": 30 }),
            ),
        ] {
            hour.add(&event(name, user, properties));
        }
        let mut other = Aggregate::default();
        other.add(&event(
            "book.ready",
            "c",
            serde_json::json!({ "video_seconds": 30, "upload_to_video_seconds": 50 }),
        ));
        hour.merge(&other);
        let kpis = hour.kpis();
        assert_eq!(kpis["books_processed"], 2);
        assert_eq!(kpis["render_minutes"], 2.0);
        assert_eq!(kpis["active_users"], 3);
        assert_eq!(kpis["conversion_to_paid"], 0.5);
        assert_eq!(kpis["failure_rate_by_stage"]["analysis"]["rate"], 0.5);
        assert_eq!(kpis["median_upload_to_video_seconds"], 40.0);
    }

    #[test]
    fn hour_keys_round_trip() {
        let time = DateTime::parse_from_rfc3339("2026-11-24T13:45:12Z")
            .expect("a valid time")
            .with_timezone(&Utc);
        assert_eq!(hour_key(time), "2026-11-24T13");
        assert_eq!(parse_hour("2026-11-24T13"), Some(hour_start(time)));
    }
}
