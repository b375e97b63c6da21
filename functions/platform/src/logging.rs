//! The seed's Logging service for administrators: ingest, search and export, over the stored,
//! redacted records of [`visiobook_runtime::logs`], and the retention timer.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use visiobook_host::{HandlerError, TimerInvocation};
use visiobook_runtime::error::{ApiJson, ApiQuery};
use visiobook_runtime::logs::{self, LogRecord, Search};
use visiobook_runtime::{ApiError, AppState, Caller};

/// Records one ingest takes.
pub const MAX_RECORDS: usize = 1000;
const MAX_MESSAGE_CHARS: usize = 8192;
const DEFAULT_LIMIT: usize = 100;
const MAX_SEARCH_LIMIT: usize = 1000;
const MAX_EXPORT_RECORDS: usize = 50_000;

/// One record as a service sends it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IncomingRecord {
    /// RFC 3339; now when absent. At most the retention period old and a minute ahead.
    #[serde(default)]
    at: Option<String>,
    /// `error`, `warn`, `info`, `debug` or `trace`.
    level: String,
    /// Lower-case letters, digits and dashes.
    service: String,
    message: String,
    #[serde(default)]
    correlation_id: Option<String>,
    #[serde(default)]
    fields: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// 1 to 1,000 records, checked all or nothing.
    records: Vec<IncomingRecord>,
}

fn invalid(index: usize, reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_record", format!("records[{index}]: {reason}"))
}

/// `POST /api/v1/logs/ingest`: 202 with how many records were stored, after redaction.
pub async fn ingest(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<IngestRequest>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    if request.records.is_empty() || request.records.len() > MAX_RECORDS {
        return Err(ApiError::bad_request(
            "invalid_batch",
            format!("send 1 to {MAX_RECORDS} records"),
        ));
    }
    let now = Utc::now();
    let oldest = now - chrono::Duration::days(i64::from(state.settings.log_retention_days));
    let mut records = Vec::with_capacity(request.records.len());
    for (index, record) in request.records.into_iter().enumerate() {
        if logs::level_rank(&record.level).is_none() {
            return Err(invalid(
                index,
                format!(
                    "level {:?} is not one of {}",
                    record.level,
                    logs::LEVELS.join(", ")
                ),
            ));
        }
        let service_ok = !record.service.is_empty()
            && record.service.len() <= 64
            && record
                .service
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !service_ok {
            return Err(invalid(
                index,
                "service is 1 to 64 lower-case letters, digits and dashes",
            ));
        }
        if record.message.is_empty() || record.message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(invalid(
                index,
                format!("message has 1 to {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        if let Some(id) = &record.correlation_id
            && (id.is_empty() || id.len() > 128 || !id.is_ascii())
        {
            return Err(invalid(
                index,
                "correlation_id is 1 to 128 ASCII characters",
            ));
        }
        let at = match &record.at {
            None => now,
            Some(text) => DateTime::parse_from_rfc3339(text)
                .map_err(|error| invalid(index, format!("at {text:?} is not RFC 3339: {error}")))?
                .with_timezone(&Utc),
        };
        if at < oldest || at > now + chrono::Duration::minutes(1) {
            return Err(invalid(
                index,
                "at is older than the retention period or in the future",
            ));
        }
        records.push(LogRecord::new(
            at,
            &record.level,
            &record.service,
            &record.message,
            record.correlation_id,
            record.fields.unwrap_or_default(),
        ));
    }
    logs::store(&state, &records).await?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(json!({ "stored": records.len() })),
    )
        .into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words that must all appear in the message or the fields.
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    service: Option<String>,
    /// This level and the more severe ones.
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
    /// RFC 3339; default a day before `to`.
    #[serde(default)]
    from: Option<String>,
    /// RFC 3339; default now.
    #[serde(default)]
    to: Option<String>,
    /// Search: 1 to 1,000 (default 100). Export ignores it.
    #[serde(default)]
    limit: Option<usize>,
}

fn parse_time(name: &str, text: Option<&String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|error| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("{name} {text:?} is not RFC 3339: {error}"),
                )
            })
    })
    .transpose()
}

fn search_of(query: &SearchQuery) -> Result<Search, ApiError> {
    if let Some(level) = &query.level
        && logs::level_rank(level).is_none()
    {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("level {level:?} is not one of {}", logs::LEVELS.join(", ")),
        ));
    }
    let search = Search {
        text: query.q.clone().filter(|q| !q.trim().is_empty()),
        service: query.service.clone(),
        level: query.level.clone(),
        correlation_id: query.correlation_id.clone(),
        from: parse_time("from", query.from.as_ref())?,
        to: parse_time("to", query.to.as_ref())?,
    };
    search
        .range(Utc::now())
        .map_err(|reason| ApiError::bad_request("invalid_query", reason))?;
    Ok(search)
}

/// `GET /api/v1/logs/search`: newest first.
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<ApiJson<Value>, ApiError> {
    caller.require_admin()?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("limit is 1 to {MAX_SEARCH_LIMIT}"),
        ));
    }
    let search = search_of(&query)?;
    let records = logs::search(&state, &search, Utc::now(), limit).await?;
    Ok(ApiJson(json!({
        "count": records.len(),
        "truncated": records.len() == limit,
        "records": records,
    })))
}

/// `GET /api/v1/logs/export`: the matching records as NDJSON, oldest first.
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SearchQuery>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    let search = search_of(&query)?;
    let mut records = logs::search(&state, &search, Utc::now(), MAX_EXPORT_RECORDS).await?;
    records.reverse();
    let mut body = String::new();
    for record in &records {
        body.push_str(&serde_json::to_string(record).map_err(ApiError::internal)?);
        body.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"visiobook-logs.ndjson\"",
            ),
        ],
        body,
    )
        .into_response())
}

/// `LogsRetention` (daily): deletes the records older than the retention period.
pub async fn retention(state: AppState, _timer: TimerInvocation) -> Result<(), HandlerError> {
    let deleted =
        logs::apply_retention(&state, Utc::now(), state.settings.log_retention_days).await?;
    tracing::info!(
        deleted,
        retention_days = state.settings.log_retention_days,
        "log retention applied"
    );
    Ok(())
}
