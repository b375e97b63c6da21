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

/// Every series the process exposes at `/api/metrics`.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    pub http_requests: Family<HttpLabels, Counter>,
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
            "http_requests",
            "HTTP requests answered",
            http_requests.clone(),
        );
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
            "pipeline_stage_duration_seconds",
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

    /// The text exposition (OpenMetrics, which Prometheus scrapes natively).
    pub fn render(&self) -> String {
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
