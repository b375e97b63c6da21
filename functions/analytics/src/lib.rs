//! The Analytics service as functions:
//!
//! | function | trigger |
//! |---|---|
//! | `AnalyticsTrack` | `POST /api/v1/analytics/track-event`: one event or a batch of up to 100, validated all or nothing |
//! | `AnalyticsReports` | `GET /api/v1/analytics/reports`: events per hour or day (administrators) |
//! | `AnalyticsDashboard` | `GET /api/v1/analytics/dashboard`: KPIs over 24 hours, 7 and 30 days, with a daily series (administrators) |
//! | `AnalyticsKpis` | `GET /api/v1/analytics/kpis`: the KPIs of a window (administrators) |
//! | `AnalyticsRollup` | timer, every 5 minutes: raw events into hourly and daily aggregates |
//!
//! Storage and aggregation are [`visiobook_runtime::analytics`].

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use visiobook_host::openapi::{OperationDoc, schema};
use visiobook_host::{FunctionDef, HandlerError, TimerInvocation};
use visiobook_runtime::analytics::{self, Aggregate, Event, RESERVED_PREFIXES};
use visiobook_runtime::error::{ApiJson, ApiQuery};
use visiobook_runtime::{ApiError, AppState, Caller};

/// Most events in one request.
const MAX_BATCH: usize = 100;
/// Most properties of one event, and their size as JSON.
const MAX_PROPERTIES: usize = 32;
const MAX_PROPERTIES_BYTES: usize = 4096;
/// A client may say its event happened up to this long ago (a batch sent after being offline).
const MAX_AGE_DAYS: i64 = 7;

pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http(
            "AnalyticsTrack",
            "v1/analytics/track-event",
            &[Method::POST],
            post(track),
        )
        .doc(
            OperationDoc::post("Record one event or a batch of up to 100 (all or nothing)")
                .body(schema::<TrackRequest>)
                .status(202),
        ),
        FunctionDef::http(
            "AnalyticsReports",
            "v1/analytics/reports",
            &[Method::GET],
            get(reports),
        )
        .doc(
            OperationDoc::get("Events per hour or per day, by name (administrators)")
                .query(schema::<ReportQuery>),
        ),
        FunctionDef::http(
            "AnalyticsDashboard",
            "v1/analytics/dashboard",
            &[Method::GET],
            get(dashboard),
        )
        .doc(OperationDoc::get(
            "KPIs over the last 24 hours, 7 and 30 days, and the last 7 days day by day (administrators)",
        )),
        FunctionDef::http(
            "AnalyticsKpis",
            "v1/analytics/kpis",
            &[Method::GET],
            get(kpis),
        )
        .doc(
            OperationDoc::get("The key figures of a window (administrators)")
                .query(schema::<WindowQuery>),
        ),
        FunctionDef::timer("AnalyticsRollup", "0 */5 * * * *", rollup),
    ]
}

/// One event as a client sends it.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TrackedEvent {
    /// `[a-z][a-z0-9_.-]{0,63}`; names starting `book.`, `stage.`, `user.`, `subscription.` or
    /// `payment.` are the services' own and only administrators may send them.
    name: String,
    /// Optional client id (1 to 64 of `[A-Za-z0-9_-]`): an event sent twice with one id counts
    /// once.
    #[serde(default)]
    id: Option<String>,
    /// When it happened (RFC 3339), at most 7 days ago and not in the future; now when absent.
    #[serde(default)]
    timestamp: Option<String>,
    /// Up to 32 scalar values (strings up to 512 characters), 4 KiB as JSON.
    #[serde(default)]
    properties: Option<Map<String, Value>>,
    /// Administrators only: the user the event is about (services reporting for a user).
    #[serde(default)]
    user_id: Option<String>,
}

/// One event, or `{"events": [...]}`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum TrackRequest {
    Batch { events: Vec<TrackedEvent> },
    One(TrackedEvent),
}

fn invalid(index: usize, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_event", format!("event {index}: {message}"))
        .with_details(json!({ "index": index }))
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Checks one event and makes it ready to store.
fn check(
    index: usize,
    tracked: TrackedEvent,
    caller: &Caller,
    now: DateTime<Utc>,
) -> Result<Event, ApiError> {
    if !valid_name(&tracked.name) {
        return Err(invalid(
            index,
            format!(
                "{:?} is not an event name ([a-z][a-z0-9_.-]{{0,63}})",
                tracked.name
            ),
        ));
    }
    if RESERVED_PREFIXES
        .iter()
        .any(|prefix| tracked.name.starts_with(prefix))
        && !caller.is_admin()
    {
        return Err(ApiError::forbidden(
            "reserved_event",
            format!(
                "event {index}: {:?} is recorded by the services themselves",
                tracked.name
            ),
        )
        .with_details(json!({ "index": index })));
    }
    if tracked.user_id.is_some() && !caller.is_admin() {
        return Err(ApiError::forbidden(
            "admin_only",
            format!("event {index}: only administrators send events for other users"),
        ));
    }
    let id = match tracked.id {
        Some(id) if valid_id(&id) => format!("c-{}-{id}", caller.user_id),
        Some(id) => return Err(invalid(index, format!("{id:?} is not an event id"))),
        None => uuid::Uuid::new_v4().simple().to_string(),
    };
    let occurred = match &tracked.timestamp {
        Some(text) => {
            let time = DateTime::parse_from_rfc3339(text)
                .map_err(|_| invalid(index, format!("{text:?} is not an RFC 3339 time")))?
                .with_timezone(&Utc);
            if time > now + Duration::minutes(5) {
                return Err(invalid(index, "the timestamp is in the future"));
            }
            if time < now - Duration::days(MAX_AGE_DAYS) {
                return Err(invalid(index, "the timestamp is more than 7 days old"));
            }
            time
        }
        None => now,
    };
    let properties = tracked.properties.unwrap_or_default();
    if properties.len() > MAX_PROPERTIES {
        return Err(invalid(
            index,
            format!("more than {MAX_PROPERTIES} properties"),
        ));
    }
    for (key, value) in &properties {
        let ok = match value {
            Value::String(text) => text.chars().count() <= 512,
            Value::Number(_) | Value::Bool(_) | Value::Null => true,
            Value::Array(_) | Value::Object(_) => false,
        };
        if !ok || key.is_empty() || key.len() > 64 {
            return Err(invalid(
                index,
                format!("property {key:?} must be a scalar (strings up to 512 characters)"),
            ));
        }
    }
    if serde_json::to_vec(&properties).map_or(usize::MAX, |bytes| bytes.len())
        > MAX_PROPERTIES_BYTES
    {
        return Err(invalid(index, "the properties are larger than 4 KiB"));
    }
    Ok(Event {
        id,
        name: tracked.name,
        user_id: Some(tracked.user_id.unwrap_or_else(|| caller.user_id.clone())),
        received_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        occurred_at: occurred.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        source: if caller.is_admin() { "admin" } else { "client" }.into(),
        properties,
    })
}

/// `POST /api/v1/analytics/track-event`: 202 `{"accepted", "duplicates"}`.
async fn track(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<TrackRequest>,
) -> Result<Response, ApiError> {
    let tracked = match request {
        TrackRequest::Batch { events } => events,
        TrackRequest::One(event) => vec![event],
    };
    if tracked.is_empty() || tracked.len() > MAX_BATCH {
        return Err(ApiError::bad_request(
            "invalid_batch",
            format!("send 1 to {MAX_BATCH} events"),
        ));
    }
    let now = Utc::now();
    // Every event is checked before any is stored: a batch is taken whole or not at all.
    let events = tracked
        .into_iter()
        .enumerate()
        .map(|(index, event)| check(index, event, &caller, now))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut accepted, mut duplicates) = (0u32, 0u32);
    for event in &events {
        if analytics::store(&state, event).await? {
            accepted += 1;
        } else {
            duplicates += 1;
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(json!({ "accepted": accepted, "duplicates": duplicates })),
    )
        .into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    /// Start (RFC 3339 or `YYYY-MM-DD`); 30 days before `to` when absent.
    #[serde(default)]
    from: Option<String>,
    /// End, exclusive (RFC 3339 or `YYYY-MM-DD`); the end of the current hour when absent.
    #[serde(default)]
    to: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
    /// `hour` (at most 31 days) or `day` (the default).
    #[serde(default)]
    granularity: Option<String>,
    /// Only this event name.
    #[serde(default)]
    name: Option<String>,
}

fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|time| time.and_utc())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_time",
                format!("{field}: {text:?} is not RFC 3339 nor YYYY-MM-DD"),
            )
        })
}

/// `[from, to)` in whole hours, at most 400 days.
fn window(
    from: Option<&str>,
    to: Option<&str>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let to = match to {
        Some(text) => parse_time("to", text)?,
        None => analytics::hour_start(Utc::now()) + Duration::hours(1),
    };
    let from = match from {
        Some(text) => parse_time("from", text)?,
        None => to - Duration::days(30),
    };
    let (from, to) = (analytics::hour_start(from), analytics::hour_start(to));
    if from >= to || to - from > Duration::days(400) {
        return Err(ApiError::bad_request(
            "invalid_window",
            "from must come before to, at most 400 days apart",
        ));
    }
    Ok((from, to))
}

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    caller.require_admin()
}

/// `GET /api/v1/analytics/kpis`.
async fn kpis(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<WindowQuery>,
) -> Result<ApiJson<Value>, ApiError> {
    require_admin(&caller)?;
    let (from, to) = window(query.from.as_deref(), query.to.as_deref())?;
    let aggregate = analytics::window(&state, from, to).await?;
    Ok(ApiJson(json!({
        "from": from.to_rfc3339(),
        "to": to.to_rfc3339(),
        "kpis": aggregate.kpis(),
    })))
}

fn series_point(period: String, aggregate: &Aggregate, name: Option<&str>) -> Value {
    let counts: Map<String, Value> = aggregate
        .names
        .iter()
        .filter(|(key, _)| name.is_none_or(|name| name == key.as_str()))
        .map(|(key, value)| (key.clone(), json!(value.count)))
        .collect();
    json!({
        "period": period,
        "events": aggregate.events,
        "users": aggregate.users.len(),
        "counts": counts,
    })
}

/// `GET /api/v1/analytics/reports`.
async fn reports(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<ApiJson<Value>, ApiError> {
    require_admin(&caller)?;
    let (from, to) = window(query.from.as_deref(), query.to.as_deref())?;
    let hourly = match query.granularity.as_deref() {
        None | Some("day") => false,
        Some("hour") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_granularity",
                format!("{other:?} is not hour or day"),
            ));
        }
    };
    if hourly && to - from > Duration::days(31) {
        return Err(ApiError::bad_request(
            "invalid_window",
            "hourly reports cover at most 31 days",
        ));
    }
    let step = if hourly {
        Duration::hours(1)
    } else {
        Duration::days(1)
    };
    let mut series = Vec::new();
    let mut cursor = if hourly {
        from
    } else {
        from.date_naive()
            .and_hms_opt(0, 0, 0)
            .map_or(from, |time| time.and_utc())
    };
    while cursor < to {
        let end = (cursor + step).min(to);
        let start = cursor.max(from);
        let aggregate = analytics::window(&state, start, end).await?;
        let period = if hourly {
            analytics::hour_key(cursor)
        } else {
            cursor.format("%Y-%m-%d").to_string()
        };
        series.push(series_point(period, &aggregate, query.name.as_deref()));
        cursor += step;
    }
    Ok(ApiJson(json!({
        "from": from.to_rfc3339(),
        "to": to.to_rfc3339(),
        "granularity": if hourly { "hour" } else { "day" },
        "series": series,
    })))
}

/// `GET /api/v1/analytics/dashboard`.
async fn dashboard(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Value>, ApiError> {
    require_admin(&caller)?;
    let to = analytics::hour_start(Utc::now()) + Duration::hours(1);
    let mut windows = Map::new();
    let mut month = Aggregate::default();
    for (label, days) in [
        ("last_24_hours", 1),
        ("last_7_days", 7),
        ("last_30_days", 30),
    ] {
        let aggregate = analytics::window(&state, to - Duration::days(days), to).await?;
        windows.insert(label.to_owned(), aggregate.kpis());
        if days == 30 {
            month = aggregate;
        }
    }
    let mut daily = Vec::new();
    for back in (0..7).rev() {
        let end = to - Duration::days(back);
        let aggregate = analytics::window(&state, end - Duration::days(1), end).await?;
        daily.push(series_point(
            (end - Duration::hours(1)).format("%Y-%m-%d").to_string(),
            &aggregate,
            None,
        ));
    }
    let mut top: Vec<(&String, u64)> = month
        .names
        .iter()
        .map(|(name, aggregate)| (name, aggregate.count))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top: Vec<Value> = top
        .into_iter()
        .take(10)
        .map(|(name, count)| json!({ "name": name, "count": count }))
        .collect();
    Ok(ApiJson(json!({
        "generated_at": visiobook_runtime::now_rfc3339(),
        "kpis": windows,
        "daily": daily,
        "top_events_30_days": top,
    })))
}

/// The timer: rolls complete hours up.
async fn rollup(state: AppState, _timer: TimerInvocation) -> Result<(), HandlerError> {
    let rolled = analytics::roll_up(&state, Utc::now()).await?;
    if !rolled.is_empty() {
        tracing::info!(hours = rolled.len(), "analytics rolled up");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_checked() {
        assert!(valid_name("page.view"));
        assert!(valid_name("export_clicked"));
        assert!(!valid_name("Page"));
        assert!(!valid_name("9lives"));
        assert!(!valid_name(&"a".repeat(65)));
        assert!(valid_id("abc-123_X"));
        assert!(!valid_id(""));
        assert!(!valid_id("a/b"));
    }
}
