//! Logging: `tracing` to stderr, JSON for servers and jobs, readable text for CLI commands; and
//! [`StoreLayer`], which forwards the app's own records (from `VISIOBOOK_STORE_LOGS` up) to the
//! log store that administrators search, each with the correlation id of the work it belongs
//! to: the `correlation.id` of the queue message being handled, or else the HTTP request id.
//! With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, spans also go to Application Insights
//! through `opentelemetry-application-insights` (HTTP requests as requests, the rest as
//! dependencies), batched on the SDK's thread and flushed when [`TelemetryGuard`] drops.

use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::{Map, Value};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use visiobook_runtime::AppState;
use visiobook_runtime::logs::{self, LogRecord};
use visiobook_runtime::settings::LogFormat;

/// Records waiting for the store; beyond this, new ones are dropped (and counted) rather than
/// slowing the app down.
const QUEUE_CAPACITY: usize = 10_000;
const BATCH: usize = 200;

/// Flushes the traces still buffered for Application Insights when dropped (at the end of
/// `main`, outside the async runtime).
#[derive(Debug)]
#[must_use = "dropping the guard flushes and stops the trace export"]
pub struct TelemetryGuard {
    traces: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.traces.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("visiobook: traces not flushed to Application Insights: {error}");
        }
    }
}

/// Installs the subscriber: stderr in `format`, the log store forwarder, and, with an
/// Application Insights connection string, every span exported as a request or dependency.
/// Call it outside the async runtime (the exporter's blocking client owns its own).
pub fn init(format: LogFormat, filter: &str, application_insights: Option<&str>) -> TelemetryGuard {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let traces = application_insights.and_then(|connection_string| {
        match application_insights_provider(connection_string) {
            Ok(provider) => Some(provider),
            Err(error) => {
                eprintln!("visiobook: Application Insights is off: {error}");
                None
            }
        }
    });
    let otel = traces.as_ref().map(|provider| {
        tracing_opentelemetry::layer().with_tracer(provider.tracer(env!("CARGO_PKG_NAME")))
    });
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(StoreLayer)
        .with(otel);
    // `try_init` fails only if a subscriber is already set, which is harmless.
    let _ = match format {
        LogFormat::Json => registry
            .with(fmt.json().flatten_event(true).with_current_span(true))
            .try_init(),
        LogFormat::Pretty => registry.with(fmt.compact()).try_init(),
    };
    TelemetryGuard { traces }
}

fn application_insights_provider(
    connection_string: &str,
) -> Result<SdkTracerProvider, Box<dyn std::error::Error + Send + Sync>> {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let mut exporter = opentelemetry_application_insights::Exporter::new_from_connection_string(
        connection_string,
        client,
    )?;
    // The crate upgrades an `http://` ingestion endpoint to https; a plain-HTTP collector (an
    // on-host forwarder, the tests' local endpoint) is named explicitly instead.
    if let Some(plain) = connection_string
        .split(';')
        .filter_map(|part| part.trim().split_once('='))
        .find(|(key, _)| key.eq_ignore_ascii_case("IngestionEndpoint"))
        .map(|(_, value)| value.trim())
        .filter(|value| value.starts_with("http://"))
    {
        #[allow(deprecated, reason = "the one way to keep a plain-HTTP endpoint")]
        {
            exporter = exporter.with_endpoint(plain)?;
        }
    }
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("visiobook")
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build())
}

/// One record on its way to the store, redacted there (off the logging thread).
#[derive(Debug)]
struct Pending {
    at: chrono::DateTime<chrono::Utc>,
    level: &'static str,
    service: String,
    message: String,
    correlation_id: Option<String>,
    fields: Map<String, Value>,
}

#[derive(Debug)]
struct Sink {
    sender: mpsc::Sender<Pending>,
    /// Records at this rank ([`logs::level_rank`]) and more severe are stored.
    max_rank: usize,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Starts storing this process's records in `state`'s log store, when the settings ask for it
/// (`VISIOBOOK_STORE_LOGS`); once per process.
pub fn forward_to_store(state: &AppState) {
    let Some(level) = state.settings.store_logs.as_deref() else {
        return;
    };
    let Some(max_rank) = logs::level_rank(level) else {
        return;
    };
    let (sender, mut receiver) = mpsc::channel::<Pending>(QUEUE_CAPACITY);
    if SINK.set(Sink { sender, max_rank }).is_err() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(BATCH);
        while receiver.recv_many(&mut batch, BATCH).await > 0 {
            let records: Vec<LogRecord> = batch
                .drain(..)
                .map(|pending| {
                    LogRecord::new(
                        pending.at,
                        pending.level,
                        &pending.service,
                        &pending.message,
                        pending.correlation_id,
                        pending.fields,
                    )
                })
                .collect();
            if let Err(error) = logs::store(&state, &records).await {
                // Not through `tracing`: that would feed this loop its own failure.
                eprintln!(
                    "visiobook: {} log records not stored: {error}",
                    records.len()
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
}

/// The ids a span carries, kept in its extensions.
#[derive(Debug, Default, Clone)]
struct SpanIds {
    correlation: Option<String>,
    request: Option<String>,
}

impl Visit for SpanIds {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "correlation.id" if !value.is_empty() => self.correlation = Some(value.to_owned()),
            "request.id" => self.request = Some(value.to_owned()),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, format!("{value:?}").trim_matches('"'));
    }
}

/// The message and fields of one event.
#[derive(Debug, Default)]
struct EventFields {
    message: String,
    fields: Map<String, Value>,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields
                .insert(field.name().to_owned(), Value::String(value.to_owned()));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields
            .insert(field.name().to_owned(), Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Forwards the app's own events to the log store once [`forward_to_store`] ran.
#[derive(Debug)]
pub struct StoreLayer;

impl<S> tracing_subscriber::Layer<S> for StoreLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attributes: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        context: Context<'_, S>,
    ) {
        if SINK.get().is_none() {
            return;
        }
        let mut ids = SpanIds::default();
        attributes.record(&mut ids);
        if (ids.correlation.is_some() || ids.request.is_some())
            && let Some(span) = context.span(id)
        {
            span.extensions_mut().insert(ids);
        }
    }

    fn on_event(&self, event: &Event<'_>, context: Context<'_, S>) {
        let Some(sink) = SINK.get() else {
            return;
        };
        let metadata = event.metadata();
        let level = match *metadata.level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warn",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        let target = metadata.target();
        if !target.starts_with("visiobook")
            || logs::level_rank(level).is_none_or(|rank| rank > sink.max_rank)
        {
            return;
        }
        let mut fields = EventFields::default();
        event.record(&mut fields);
        let mut correlation = None;
        let mut request = None;
        if let Some(scope) = context.event_scope(event) {
            for span in scope {
                if let Some(ids) = span.extensions().get::<SpanIds>() {
                    correlation = correlation.or_else(|| ids.correlation.clone());
                    request = request.or_else(|| ids.request.clone());
                }
            }
        }
        let _ = sink.sender.try_send(Pending {
            at: chrono::Utc::now(),
            level,
            service: service_of(target),
            message: fields.message,
            correlation_id: correlation.or(request),
            fields: fields.fields,
        });
    }
}

/// `visiobook_pipeline::stages` → `pipeline`; `visiobook_media_api` → `media-api`.
fn service_of(target: &str) -> String {
    let krate = target.split("::").next().unwrap_or(target);
    match krate.strip_prefix("visiobook_") {
        Some(name) => name.replace('_', "-"),
        None => "visiobook".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::service_of;

    #[test]
    fn services_are_named_after_their_crates() {
        assert_eq!(service_of("visiobook_pipeline::stages"), "pipeline");
        assert_eq!(service_of("visiobook_media_api"), "media-api");
        assert_eq!(service_of("visiobook::commands::dev"), "visiobook");
    }
}
