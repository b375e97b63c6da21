//! Stored logs: what `POST /api/v1/logs/ingest` receives and what the services forward of
//! their own records, redacted before it is stored, searchable by administrators and kept for
//! `VISIOBOOK_LOG_RETENTION_DAYS`.
//!
//! Records live in the `logs` container partitioned by UTC day (`YYYY-MM-DD`), with ids that
//! start with the time in milliseconds so that a day reads in order; `log-days` lists the days
//! that have records, which is what the retention timer walks.
//!
//! Redaction ([`redact`]) runs on every message and every string field before anything is
//! written: e-mail addresses, IP addresses, bearer tokens, JWTs, provider keys, card numbers,
//! `password=`-style pairs and connection-string keys are replaced, and fields whose names say
//! they are secret are dropped to `[REDACTED]` whole.

use std::sync::LazyLock;

use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use visiobook_ports::document::to_body;
use visiobook_ports::{ErrorKind, Order, Query, StoreError};

use crate::state::AppState;

/// Log records (partition key: the UTC day).
pub const LOGS_CONTAINER: &str = "logs";
/// The days that have records (partition key `days`; id: the day).
pub const LOG_DAYS_CONTAINER: &str = "log-days";
const DAYS_PARTITION: &str = "days";

/// Levels from the most to the least severe.
pub const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

/// The severity rank of a level (0 is `error`); `None` for an unknown one.
pub fn level_rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|known| *known == level)
}

/// One stored record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// `<13-digit milliseconds>-<8 hex>`.
    pub id: String,
    /// RFC 3339, UTC.
    pub at: String,
    pub level: String,
    pub service: String,
    pub message: String,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub fields: Map<String, Value>,
}

impl LogRecord {
    /// A record at `at`, redacted: the only way records are made.
    pub fn new(
        at: DateTime<Utc>,
        level: &str,
        service: &str,
        message: &str,
        correlation_id: Option<String>,
        fields: Map<String, Value>,
    ) -> Self {
        let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        let suffix = u32::from_be_bytes(
            uuid::Uuid::new_v4().into_bytes()[..4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        Self {
            id: format!("{millis:013}-{suffix:08x}"),
            at: at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            level: level.to_owned(),
            service: service.to_owned(),
            message: redact(message),
            correlation_id,
            fields: redact_fields(fields),
        }
    }

    fn day(&self) -> &str {
        &self.at[..10]
    }
}

/// Stores records (already redacted by [`LogRecord::new`]).
pub async fn store(state: &AppState, records: &[LogRecord]) -> Result<(), StoreError> {
    let mut days: Vec<&str> = records.iter().map(LogRecord::day).collect();
    days.sort_unstable();
    days.dedup();
    for day in days {
        state
            .documents
            .upsert(
                LOG_DAYS_CONTAINER,
                DAYS_PARTITION,
                day,
                json!({ "day": day }),
            )
            .await?;
    }
    for record in records {
        match state
            .documents
            .create(LOGS_CONTAINER, record.day(), &record.id, to_body(record)?)
            .await
        {
            Ok(_) => {}
            // The same record sent again (a retried ingest): once is enough.
            Err(error) if error.kind == ErrorKind::Conflict => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}

/// What to look for.
#[derive(Debug, Clone, Default)]
pub struct Search {
    /// Every word must appear in the message or a field (case-insensitive).
    pub text: Option<String>,
    pub service: Option<String>,
    /// This level and the more severe ones.
    pub level: Option<String>,
    pub correlation_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// The longest span one search covers.
pub const MAX_SPAN_DAYS: i64 = 31;

impl Search {
    /// The time range: `to` defaults to now, `from` to a day before `to`.
    pub fn range(&self, now: DateTime<Utc>) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
        let to = self.to.unwrap_or(now);
        let from = self.from.unwrap_or(to - ChronoDuration::days(1));
        if from > to {
            return Err("from is after to".into());
        }
        if to - from > ChronoDuration::days(MAX_SPAN_DAYS) {
            return Err(format!("a search covers at most {MAX_SPAN_DAYS} days"));
        }
        Ok((from, to))
    }

    fn matches(&self, record: &LogRecord, words: &[String], max_rank: Option<usize>) -> bool {
        if let Some(max) = max_rank
            && level_rank(&record.level).is_none_or(|rank| rank > max)
        {
            return false;
        }
        if words.is_empty() {
            return true;
        }
        let haystack = format!(
            "{} {}",
            record.message,
            Value::Object(record.fields.clone())
        )
        .to_lowercase();
        words.iter().all(|word| haystack.contains(word.as_str()))
    }
}

/// Records matching `search`, newest first, at most `limit`.
pub async fn search(
    state: &AppState,
    search: &Search,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<LogRecord>, StoreError> {
    let Ok((from, to)) = search.range(now) else {
        return Ok(Vec::new());
    };
    let words: Vec<String> = search
        .text
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    let max_rank = search.level.as_deref().and_then(level_rank);
    let (from_text, to_text) = (
        from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        to.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    );
    let mut query = Query::default()
        .order_by("id", Order::Descending)
        .page_size(500);
    if let Some(service) = &search.service {
        query = query.filter("service", service.as_str());
    }
    if let Some(correlation) = &search.correlation_id {
        query = query.filter("correlation_id", correlation.as_str());
    }
    let mut found = Vec::new();
    let mut day = to.date_naive();
    while day >= from.date_naive() {
        let partition = day.format("%Y-%m-%d").to_string();
        let mut continuation: Option<String> = None;
        loop {
            let page = state
                .documents
                .query(LOGS_CONTAINER, &partition, &query, continuation.as_deref())
                .await?;
            for item in &page.items {
                let record: LogRecord = item.parse()?;
                if record.at > to_text || record.at < from_text {
                    continue;
                }
                if search.matches(&record, &words, max_rank) {
                    found.push(record);
                    if found.len() >= limit {
                        return Ok(found);
                    }
                }
            }
            match page.continuation {
                Some(next) => continuation = Some(next),
                None => break,
            }
        }
        let Some(previous) = day.pred_opt() else {
            break;
        };
        day = previous;
    }
    Ok(found)
}

/// Deletes the records of days before `now - retention_days`; returns how many went.
pub async fn apply_retention(
    state: &AppState,
    now: DateTime<Utc>,
    retention_days: u32,
) -> Result<u64, StoreError> {
    let cutoff = (now - ChronoDuration::days(i64::from(retention_days))).date_naive();
    let days = visiobook_ports::document::query_all(
        state.documents.as_ref(),
        LOG_DAYS_CONTAINER,
        DAYS_PARTITION,
        &Query::default().page_size(1000),
    )
    .await?;
    let mut deleted = 0;
    for marker in days {
        let Ok(day) = NaiveDate::parse_from_str(&marker.id, "%Y-%m-%d") else {
            continue;
        };
        if day >= cutoff {
            continue;
        }
        loop {
            let page = state
                .documents
                .query(
                    LOGS_CONTAINER,
                    &marker.id,
                    &Query::default().page_size(500),
                    None,
                )
                .await?;
            if page.items.is_empty() {
                break;
            }
            for item in page.items {
                delete_present(state, LOGS_CONTAINER, &marker.id, &item.id).await?;
                deleted += 1;
            }
        }
        delete_present(state, LOG_DAYS_CONTAINER, DAYS_PARTITION, &marker.id).await?;
    }
    Ok(deleted)
}

async fn delete_present(
    state: &AppState,
    container: &str,
    partition: &str,
    id: &str,
) -> Result<(), StoreError> {
    match state.documents.delete(container, partition, id, None).await {
        Ok(()) => Ok(()),
        Err(error) if error.kind == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error),
    }
}

/// Field names whose values are secret whatever they look like.
fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "authorization",
        "api_key",
        "apikey",
        "api-key",
        "access_key",
        "accesskey",
        "cookie",
        "card",
        "iban",
        "connection_string",
    ]
    .iter()
    .any(|part| name.contains(part))
}

fn redact_fields(fields: Map<String, Value>) -> Map<String, Value> {
    fields
        .into_iter()
        .map(|(name, value)| {
            let value = if is_secret_name(&name) {
                Value::String("[REDACTED]".into())
            } else {
                redact_value(value)
            };
            (name, value)
        })
        .collect()
}

fn redact_value(value: Value) -> Value {
    match value {
        Value::String(text) => Value::String(redact(&text)),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_value).collect()),
        Value::Object(map) => Value::Object(redact_fields(map)),
        other => other,
    }
}

enum Replacement {
    Text(&'static str),
    /// `[CARD]` where the digits pass the Luhn check, the text unchanged otherwise.
    CardNumber,
}

struct Rule {
    pattern: Regex,
    replacement: Replacement,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |pattern: &str, replacement: &'static str| Rule {
        pattern: Regex::new(pattern).expect("a valid redaction pattern"),
        replacement: Replacement::Text(replacement),
    };
    vec![
        // Secrets first, so that no later rule leaves a piece of one.
        rule(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+", "Bearer [REDACTED]"),
        rule(
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            "[JWT]",
        ),
        rule(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{8,}", "[KEY]"),
        rule(r"\bwhsec_[A-Za-z0-9]{8,}", "[KEY]"),
        rule(
            r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|account[_-]?key|shared[_-]?access[_-]?key|client[_-]?secret)(\s*[=:]\s*)[^\s;,&]+",
            "${1}${2}[REDACTED]",
        ),
        rule(r"(?i)\b[A-Z0-9._%+-]+@[A-Z0-9.-]+\.[A-Z]{2,}\b", "[EMAIL]"),
        Rule {
            pattern: Regex::new(r"\b(?:\d[ -]?){13,18}\d\b").expect("a valid redaction pattern"),
            replacement: Replacement::CardNumber,
        },
        rule(r"\b(?:\d{1,3}\.){3}\d{1,3}\b", "[IP]"),
        rule(r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b", "[IP]"),
    ]
});

/// `text` with secrets and personal data replaced.
pub fn redact(text: &str) -> String {
    let mut out = text.to_owned();
    for rule in RULES.iter() {
        if let Replacement::Text(replacement) = rule.replacement {
            out = rule.pattern.replace_all(&out, replacement).into_owned();
        } else {
            out = rule
                .pattern
                .replace_all(&out, |captures: &regex::Captures<'_>| {
                    let digits: String = captures[0].chars().filter(char::is_ascii_digit).collect();
                    if luhn(&digits) {
                        "[CARD]".to_owned()
                    } else {
                        captures[0].to_owned()
                    }
                })
                .into_owned();
        }
    }
    out
}

/// Whether `digits` passes the Luhn check that card numbers carry.
fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (index, digit) in digits.bytes().rev().enumerate() {
        let mut value = u32::from(digit - b'0');
        if index % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    digits.len() >= 13 && sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_personal_data_are_redacted() {
        let cases = [
            ("sent to alice@example.com", "sent to [EMAIL]"),
            (
                "Authorization: Bearer abc.def-ghi",
                "Authorization: Bearer [REDACTED]",
            ),
            (
                "token eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJl here",
                "token [JWT] here",
            ),
            ("key sk_live_51Habcdefghijk", "key [KEY]"),
            ("password=hunter2 and more", "password=[REDACTED] and more"),
            (
                "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abc123==;",
                "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=[REDACTED];",
            ),
            ("card 4242 4242 4242 4242 declined", "card [CARD] declined"),
            ("from 203.0.113.7 at noon", "from [IP] at noon"),
            // Not a card (fails Luhn): an order number stays, and so do millisecond times.
            (
                "order 12345678901234 shipped",
                "order 12345678901234 shipped",
            ),
            (
                "event 1764000000000-0a1b2c3d",
                "event 1764000000000-0a1b2c3d",
            ),
            ("nothing to hide", "nothing to hide"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "redacting {input:?}");
        }
    }

    #[test]
    fn secret_fields_are_dropped_whole_and_nested_strings_redacted() {
        let fields = json!({
            "api_key": "anything",
            "user": { "email": "bob@example.org", "Password": "x" },
            "attempts": 3,
            "peers": ["10.0.0.1"],
        });
        let Value::Object(map) = fields else {
            unreachable!()
        };
        let record = LogRecord::new(Utc::now(), "info", "users", "signed in", None, map);
        assert_eq!(record.fields["api_key"], "[REDACTED]");
        assert_eq!(record.fields["user"]["email"], "[EMAIL]");
        assert_eq!(record.fields["user"]["Password"], "[REDACTED]");
        assert_eq!(record.fields["attempts"], 3);
        assert_eq!(record.fields["peers"][0], "[IP]");
    }

    #[test]
    fn ranges_default_to_a_day_and_are_bounded() {
        let now = Utc::now();
        let search = Search::default();
        let (from, to) = search.range(now).expect("the default range");
        assert_eq!(to - from, ChronoDuration::days(1));
        let too_long = Search {
            from: Some(now - ChronoDuration::days(40)),
            ..Search::default()
        };
        assert!(too_long.range(now).is_err());
        let backwards = Search {
            from: Some(now),
            to: Some(now - ChronoDuration::hours(1)),
            ..Search::default()
        };
        assert!(backwards.range(now).is_err());
    }

    #[test]
    fn levels_rank_by_severity() {
        assert_eq!(level_rank("error"), Some(0));
        assert_eq!(level_rank("trace"), Some(4));
        assert_eq!(level_rank("fatal"), None);
    }
}
