//! The Prometheus registry of the process and the business and technical series it exposes.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub method: String,
    /// The matched route template (`/api/v1/content/status/{id}`), never the raw path.
    pub route: String,
    pub status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueOutcomeLabels {
    pub queue: String,
    /// completed, abandoned, dead_lettered or lock_lost.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueueLabels {
    pub queue: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BookLabels {
    /// uploaded, ready or failed.
    pub event: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ContentLabels {
    /// The uploaded format (`text`, `epub`, `pdf`, `image`...).
    pub format: String,
    /// `success` or `failure`.
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ModelLabels {
    /// `analysis-local`, `analysis-llm`, `speech-piper`, `speech-espeak`...
    pub model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PaymentLabels {
    pub provider: String,
    pub outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `http_5xx`, `stage_failure`, `book_failed`.
    pub kind: String,
}

/// A session counts as active for this long after its last request.
const ACTIVE_SESSION: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Every series the process exposes at `/api/metrics`, including the seed's business metrics
/// (`visiobook_content_processed_total`, `visiobook_animations_generated_total`,
/// `visiobook_generation_duration_seconds`, `visiobook_ai_model_inference_duration_seconds`,
/// `visiobook_storage_usage_bytes`, `visiobook_user_sessions_active`,
/// `visiobook_payment_transactions_total`, `visiobook_api_requests_total`,
/// `visiobook_errors_total`).
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub content_processed: Family<ContentLabels, Counter>,
    /// Video segments (one animated shot each) encoded.
    pub animations_generated: Counter,
    /// Time spent in the model-backed stages (analysis, generation), per engine.
    pub model_inference: Family<ModelLabels, Histogram>,
    /// Bytes in the blob store (refreshed by the `QueueMetrics` timer).
    pub storage_usage: Gauge,
    /// Sessions that made a request within the last 15 minutes, on this instance.
    pub sessions_active: Gauge,
    recent_sessions: Mutex<std::collections::HashMap<String, std::time::Instant>>,
    pub payment_transactions: Family<PaymentLabels, Counter>,
    pub errors: Family<ErrorLabels, Counter>,
    pub http_request_duration: Family<RouteLabels, Histogram>,
    pub queue_messages: Family<QueueOutcomeLabels, Counter>,
    pub queue_active: Family<QueueLabels, Gauge>,
    pub queue_dead_letter: Family<QueueLabels, Gauge>,
    pub stage_duration: Family<StageLabels, Histogram>,
    pub books: Family<BookLabels, Counter>,
    pub narration_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("visiobook");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "api_requests",
            "API requests answered, by method, route and status",
            http_requests.clone(),
        );
        let content_processed = Family::<ContentLabels, Counter>::default();
        registry.register(
            "content_processed",
            "Books read by ingestion, by format and outcome",
            content_processed.clone(),
        );
        let animations_generated = Counter::default();
        registry.register(
            "animations_generated",
            "Animated shots (video segments) encoded",
            animations_generated.clone(),
        );
        let model_inference = Family::<ModelLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 2.0, 14))
        });
        registry.register(
            "ai_model_inference_duration_seconds",
            "Time spent in the model-backed stages for one book, per engine",
            model_inference.clone(),
        );
        let storage_usage = Gauge::default();
        registry.register(
            "storage_usage_bytes",
            "Bytes held in the blob store",
            storage_usage.clone(),
        );
        let sessions_active = Gauge::default();
        registry.register(
            "user_sessions_active",
            "Sign-in sessions that made a request in the last 15 minutes",
            sessions_active.clone(),
        );
        let payment_transactions = Family::<PaymentLabels, Counter>::default();
        registry.register(
            "payment_transactions",
            "Payment transactions, by provider and outcome",
            payment_transactions.clone(),
        );
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register("errors", "Errors, by kind", errors.clone());
        // Known label values start at zero, so that rates and alerts see the series from the
        // first scrape rather than from the first event.
        for provider in ["local", "stripe"] {
            for outcome in ["succeeded", "failed"] {
                let _ = payment_transactions.get_or_create(&PaymentLabels {
                    provider: provider.to_owned(),
                    outcome: outcome.to_owned(),
                });
            }
        }
        for kind in ["http_5xx", "stage_failure", "book_failed"] {
            let _ = errors.get_or_create(&ErrorLabels {
                kind: kind.to_owned(),
            });
        }
        let http_request_duration = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.5, 12))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            http_request_duration.clone(),
        );
        let queue_messages = Family::<QueueOutcomeLabels, Counter>::default();
        registry.register(
            "queue_messages",
            "Queue messages settled, by outcome",
            queue_messages.clone(),
        );
        let queue_active = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "queue_active_messages",
            "Messages waiting or in work",
            queue_active.clone(),
        );
        let queue_dead_letter = Family::<QueueLabels, Gauge>::default();
        registry.register(
            "queue_dead_letter_messages",
            "Messages in the dead-letter sub-queue",
            queue_dead_letter.clone(),
        );
        let stage_duration = Family::<StageLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 2.0, 14))
        });
        registry.register(
            "generation_duration_seconds",
            "Time a pipeline stage takes for one book",
            stage_duration.clone(),
        );
        let books = Family::<BookLabels, Counter>::default();
        registry.register(
            "books",
            "Books uploaded, finished and failed",
            books.clone(),
        );
        let narration_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "narration_seconds",
            "Seconds of narration synthesised",
            narration_seconds.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            http_requests,
            content_processed,
            animations_generated,
            model_inference,
            storage_usage,
            sessions_active,
            recent_sessions: Mutex::new(std::collections::HashMap::new()),
            payment_transactions,
            errors,
            http_request_duration,
            queue_messages,
            queue_active,
            queue_dead_letter,
            stage_duration,
            books,
            narration_seconds,
        }
    }

    pub fn book_event(&self, event: &str) {
        self.books
            .get_or_create(&BookLabels {
                event: event.to_owned(),
            })
            .inc();
    }

    pub fn error(&self, kind: &str) {
        self.errors
            .get_or_create(&ErrorLabels {
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Notes a request from a signed-in session (for `user_sessions_active`).
    pub fn session_seen(&self, session_id: &str) {
        let mut recent = self
            .recent_sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        recent.insert(session_id.to_owned(), std::time::Instant::now());
    }

    /// The text exposition (OpenMetrics, which Prometheus scrapes natively).
    pub fn render(&self) -> String {
        {
            let mut recent = self
                .recent_sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            recent.retain(|_, seen| seen.elapsed() < ACTIVE_SESSION);
            self.sessions_active
                .set(i64::try_from(recent.len()).unwrap_or(i64::MAX));
        }
        let mut text = String::new();
        let registry = match self.registry.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &registry);
        text
    }
}

/// The Prometheus text format 0.0.4 of an OpenMetrics exposition, for scrapers and tools that
/// ask for it (`promtool check metrics`): counters are named with their `_total` suffix in
/// `HELP` and `TYPE`, and the `# EOF` and `# UNIT` lines go.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, "counter")) = rest.split_once(' ')
        {
            counters.insert(name.to_owned());
        }
    }
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        text.push_str(renamed.as_deref().unwrap_or(line));
        text.push('\n');
    }
    text
}
