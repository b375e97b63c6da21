//! The Monitoring service's JSON routes, for administrators: the system's state, this
//! instance's business series, and the Alertmanager webhook.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use visiobook_domain::Stage;
use visiobook_ports::ErrorKind;
use visiobook_runtime::audit::{self, AuditEvent};
use visiobook_runtime::error::ApiJson;
use visiobook_runtime::{ApiError, AppState, Caller, now_rfc3339};

/// Received alerts (partition key: `alerts`; id: fingerprint and start time).
pub const ALERTS_CONTAINER: &str = "alerts";

/// When this process started (for uptime).
pub fn started() -> Instant {
    static STARTED: OnceLock<Instant> = OnceLock::new();
    *STARTED.get_or_init(Instant::now)
}

/// A `Name:   value kB` line of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with(field))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// `GET /api/v1/metrics/system`: this instance's process and the shared queues.
pub async fn system(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Value>, ApiError> {
    caller.require_admin()?;
    let load: Vec<f64> = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .filter_map(|value| value.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let mut queues = Map::new();
    for queue in Stage::ALL
        .into_iter()
        .map(|stage| stage.queue())
        .chain([visiobook_runtime::notify::DELIVERY_QUEUE])
    {
        // Service Bus over REST cannot count (that needs management rights): say so rather
        // than fail the whole report; Azure Monitor has the counts there.
        let counts = match state.queue.stats(queue).await {
            Ok(stats) => json!({ "active": stats.active, "dead_letter": stats.dead_letter }),
            Err(error) if error.kind == ErrorKind::Invalid => {
                json!({ "active": null, "dead_letter": null, "unavailable": error.message })
            }
            Err(error) => return Err(error.into()),
        };
        queues.insert(queue.to_owned(), counts);
    }
    Ok(ApiJson(json!({
        "timestamp": now_rfc3339(),
        "service": crate::SERVICE_NAME,
        "version": crate::VERSION,
        "uptime_seconds": started().elapsed().as_secs(),
        "process": {
            "resident_memory_bytes": proc_status_bytes("VmRSS:"),
            "peak_resident_memory_bytes": proc_status_bytes("VmHWM:"),
            "threads": std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
                status.lines().find(|line| line.starts_with("Threads:"))
                    .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
            }),
        },
        "host": {
            "cpus": std::thread::available_parallelism().map_or(1, usize::from),
            "load_average": load,
        },
        "queues": queues,
    })))
}

/// The business series, as `{name: [{"labels": {...}, "value": n}]}` from the exposition.
fn business_series(exposition: &str) -> Map<String, Value> {
    const NAMES: [&str; 9] = [
        "visiobook_content_processed_total",
        "visiobook_animations_generated_total",
        "visiobook_generation_duration_seconds_count",
        "visiobook_ai_model_inference_duration_seconds_count",
        "visiobook_storage_usage_bytes",
        "visiobook_user_sessions_active",
        "visiobook_payment_transactions_total",
        "visiobook_api_requests_total",
        "visiobook_errors_total",
    ];
    let mut series = Map::new();
    for line in exposition.lines().filter(|line| !line.starts_with('#')) {
        let Some((metric, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (name, labels) = match metric.split_once('{') {
            Some((name, labels)) => (name, labels.trim_end_matches('}')),
            None => (metric, ""),
        };
        if !NAMES.contains(&name) {
            continue;
        }
        let labels: Map<String, Value> = labels
            .split("\",")
            .filter_map(|pair| {
                let (key, value) = pair.split_once("=\"")?;
                Some((key.to_owned(), json!(value.trim_end_matches('"'))))
            })
            .collect();
        let value: f64 = value.parse().unwrap_or(0.0);
        let entry = series
            .entry(name.to_owned())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(samples) = entry {
            samples.push(json!({ "labels": labels, "value": value }));
        }
    }
    series
}

/// `GET /api/v1/metrics/business`: the seed's business series as this instance counts them
/// (Prometheus sums the instances; this is the quick look).
pub async fn business(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Value>, ApiError> {
    caller.require_admin()?;
    let exposition = visiobook_runtime::metrics::to_prometheus_text(&state.metrics.render());
    Ok(ApiJson(json!({
        "timestamp": now_rfc3339(),
        "scope": "this instance, since it started",
        "series": business_series(&exposition),
    })))
}

/// One alert of an Alertmanager webhook payload (version 4).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct Alert {
    status: String,
    #[serde(default)]
    labels: Map<String, Value>,
    #[serde(default)]
    annotations: Map<String, Value>,
    #[serde(rename = "startsAt")]
    starts_at: String,
    #[serde(rename = "endsAt", default)]
    ends_at: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

/// The Alertmanager webhook payload (version 4).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AlertmanagerPayload {
    version: String,
    status: String,
    #[serde(default)]
    receiver: String,
    alerts: Vec<Alert>,
}

/// `POST /api/v1/alerts/webhook`: stores each alert (firing or resolved) and audits it.
pub async fn alerts_webhook(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(payload): ApiJson<AlertmanagerPayload>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    if payload.version != "4" {
        return Err(ApiError::bad_request(
            "unsupported_version",
            "this webhook takes Alertmanager payloads of version 4",
        ));
    }
    if payload.alerts.is_empty() || payload.alerts.len() > 500 {
        return Err(ApiError::bad_request(
            "invalid_alerts",
            "send 1 to 500 alerts",
        ));
    }
    let mut stored = 0;
    for alert in &payload.alerts {
        if !matches!(alert.status.as_str(), "firing" | "resolved") {
            return Err(ApiError::bad_request(
                "invalid_alerts",
                "an alert's status is firing or resolved",
            ));
        }
        let name = alert
            .labels
            .get("alertname")
            .and_then(Value::as_str)
            .unwrap_or("unnamed");
        let key = format!(
            "{}-{}",
            alert.fingerprint.as_deref().unwrap_or(name),
            alert.starts_at
        );
        let id: String = key
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(200)
            .collect();
        let body = json!({
            "name": name,
            "status": alert.status,
            "labels": alert.labels,
            "annotations": alert.annotations,
            "starts_at": alert.starts_at,
            "ends_at": alert.ends_at,
            "receiver": payload.receiver,
            "group_status": payload.status,
            "received_at": now_rfc3339(),
        });
        // The same alert again (Alertmanager repeats and resolves) updates its record.
        state
            .documents
            .upsert(ALERTS_CONTAINER, "alerts", &id, body)
            .await?;
        audit::record(
            &state,
            AuditEvent::new(&caller.user_id, "alert.received", format!("alert:{name}"))
                .details(json!({ "status": alert.status, "starts_at": alert.starts_at })),
        )
        .await;
        stored += 1;
    }
    Ok((StatusCode::ACCEPTED, ApiJson(json!({ "stored": stored }))).into_response())
}
