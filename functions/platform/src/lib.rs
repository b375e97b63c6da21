//! The seed's conventions on every app, as functions:
//!
//! | function | trigger | answers |
//! |---|---|---|
//! | `Health` | `GET /api/health` | liveness: 200 while the process serves |
//! | `Ready` | `GET /api/ready` | readiness: a real round trip to each store and, where stages run, the tools; 503 if any fails |
//! | `Metrics` | `GET /api/metrics` | the Prometheus/OpenMetrics text exposition |
//! | `QueueMetrics` | timer, every 30 s | refreshes the queue-depth and storage gauges |
//! | `MetricsSystem` | `GET /api/v1/metrics/system` | administrators: process, host and queues |
//! | `MetricsBusiness` | `GET /api/v1/metrics/business` | administrators: this instance's business series |
//! | `AlertsWebhook` | `POST /api/v1/alerts/webhook` | administrators' token: Alertmanager payloads, stored and audited |
//! | `LogsIngest` | `POST /api/v1/logs/ingest` | administrators: records, redacted before they are stored |
//! | `LogsSearch` | `GET /api/v1/logs/search` | administrators: full text, service, level, time, correlation id |
//! | `LogsExport` | `GET /api/v1/logs/export` | administrators: the same filters, as NDJSON |
//! | `LogsRetention` | timer, daily at 03:15 | deletes records older than `VISIOBOOK_LOG_RETENTION_DAYS` |

mod logging;
mod monitoring;

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use visiobook_domain::Stage;
use visiobook_host::openapi::OperationDoc;
use visiobook_host::{FunctionDef, HandlerError, TimerInvocation};
use visiobook_runtime::metrics::QueueLabels;
use visiobook_runtime::{AppState, now_rfc3339};

pub const SERVICE_NAME: &str = "visiobook";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http("Health", "health", &[Method::GET], get(health)).doc(
            visiobook_host::openapi::OperationDoc::get("Liveness: 200 while the process serves")
                .public(),
        ),
        FunctionDef::http("Ready", "ready", &[Method::GET], get(ready)).doc(
            visiobook_host::openapi::OperationDoc::get(
                "Readiness: a round trip to every store and tool",
            )
            .public(),
        ),
        FunctionDef::http("Metrics", "metrics", &[Method::GET], get(metrics)).doc(
            visiobook_host::openapi::OperationDoc::get("Prometheus/OpenMetrics exposition")
                .public()
                .produces("application/openmetrics-text"),
        ),
        FunctionDef::timer("QueueMetrics", "*/30 * * * * *", queue_metrics),
        FunctionDef::http(
            "MetricsSystem",
            "v1/metrics/system",
            &[Method::GET],
            get(monitoring::system),
        )
        .doc(OperationDoc::get(
            "Process, host and queue state (administrators)",
        )),
        FunctionDef::http(
            "MetricsBusiness",
            "v1/metrics/business",
            &[Method::GET],
            get(monitoring::business),
        )
        .doc(OperationDoc::get(
            "This instance's business series as JSON (administrators)",
        )),
        FunctionDef::http(
            "AlertsWebhook",
            "v1/alerts/webhook",
            &[Method::POST],
            axum::routing::post(monitoring::alerts_webhook),
        )
        .doc(
            OperationDoc::post("Alertmanager webhook, version 4 (administrators' token)")
                .body(visiobook_host::openapi::schema::<monitoring::AlertmanagerPayload>)
                .status(202),
        ),
        FunctionDef::http(
            "LogsIngest",
            "v1/logs/ingest",
            &[Method::POST],
            axum::routing::post(logging::ingest),
        )
        .doc(
            OperationDoc::post("Store log records, redacted first (administrators)")
                .body(visiobook_host::openapi::schema::<logging::IngestRequest>)
                .status(202),
        ),
        FunctionDef::http(
            "LogsSearch",
            "v1/logs/search",
            &[Method::GET],
            get(logging::search),
        )
        .doc(
            OperationDoc::get("Search the stored logs (administrators)")
                .query(visiobook_host::openapi::schema::<logging::SearchQuery>),
        ),
        FunctionDef::http(
            "LogsExport",
            "v1/logs/export",
            &[Method::GET],
            get(logging::export),
        )
        .doc(
            OperationDoc::get("Export the stored logs as NDJSON (administrators)")
                .query(visiobook_host::openapi::schema::<logging::SearchQuery>)
                .produces("application/x-ndjson"),
        ),
        FunctionDef::timer("LogsRetention", "0 15 3 * * *", logging::retention),
    ]
}

async fn health() -> Response {
    axum::Json(json!({
        "status": "UP",
        "timestamp": now_rfc3339(),
        "service": SERVICE_NAME,
        "version": VERSION,
    }))
    .into_response()
}

/// How long each readiness check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

async fn ready(State(state): State<AppState>) -> Response {
    let documents = check(state.documents.ping()).await;
    let blobs = check(state.blobs.ping()).await;
    let queue = check(state.queue.ping()).await;
    let mut checks = json!({
        "documents": documents,
        "blobs": blobs,
        "queue": queue,
    });
    // Only where stages run: the Function App hands them to AKS jobs and has no such tools.
    if state.settings.ready_tools {
        checks["ffmpeg"] = check_tool(&state.settings.ffmpeg, "-version").await;
        checks["espeak"] = check_tool(&state.settings.espeak, "--version").await;
    }
    let all_ready = checks
        .as_object()
        .is_some_and(|checks| checks.values().all(|check| check["status"] == "READY"));
    let status = if all_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all_ready { "READY" } else { "NOT_READY" },
        "timestamp": now_rfc3339(),
        "checks": checks,
    });
    (status, axum::Json(body)).into_response()
}

async fn check<E: std::fmt::Display>(
    probe: impl std::future::Future<Output = Result<(), E>>,
) -> Value {
    let started = Instant::now();
    match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => {
            json!({ "status": "READY", "duration_ms": started.elapsed().as_millis() as u64 })
        }
        Ok(Err(error)) => {
            tracing::warn!(error = %error, "readiness check failed");
            json!({ "status": "DOWN", "reason": "the store did not answer correctly" })
        }
        Err(_) => json!({ "status": "DOWN", "reason": "timed out" }),
    }
}

async fn check_tool(program: &std::path::Path, version_flag: &str) -> Value {
    let probe = async {
        let output = tokio::process::Command::new(program)
            .arg(version_flag)
            .output()
            .await
            .map_err(|error| error.to_string())?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("exit {}", output.status))
        }
    };
    check(probe).await
}

/// OpenMetrics for scrapers that ask for it (Prometheus does), the classic text format
/// otherwise (curl, `promtool check metrics`).
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let text = state.metrics.render();
    if openmetrics {
        (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            visiobook_runtime::metrics::to_prometheus_text(&text),
        )
            .into_response()
    }
}

async fn queue_metrics(state: AppState, _timer: TimerInvocation) -> Result<(), HandlerError> {
    let stored: u64 = state
        .blobs
        .list("")
        .await?
        .iter()
        .map(|blob| blob.size_bytes)
        .sum();
    state
        .metrics
        .storage_usage
        .set(i64::try_from(stored).unwrap_or(i64::MAX));
    for stage in Stage::ALL {
        let stats = match state.queue.stats(stage.queue()).await {
            Ok(stats) => stats,
            // Service Bus over REST cannot count: the gauges stay unset (Azure Monitor and
            // KEDA read the counts there).
            Err(error) if error.kind == visiobook_ports::ErrorKind::Invalid => {
                tracing::debug!(queue = stage.queue(), %error, "queue counts unavailable");
                continue;
            }
            Err(error) => return Err(error.into()),
        };
        let labels = QueueLabels {
            queue: stage.queue().to_owned(),
        };
        state
            .metrics
            .queue_active
            .get_or_create(&labels)
            .set(saturating_i64(stats.active));
        state
            .metrics
            .queue_dead_letter
            .get_or_create(&labels)
            .set(saturating_i64(stats.dead_letter));
    }
    Ok(())
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
