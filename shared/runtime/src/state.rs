//! The state every handler receives: cheap to clone, one field per dependency.

use std::sync::Arc;

use anyhow::Context;
use visiobook_domain::Stage;
use visiobook_ports::{BlobStore, DocumentStore, JobQueue, QueueSpec};

use crate::auth::Authority;
use crate::limits::RateLimiter;
use crate::metrics::Metrics;
use crate::settings::{Backend, Settings};

#[derive(Debug, Clone)]
pub struct AppState {
    /// Typed settings, read once at start-up.
    pub settings: Arc<Settings>,
    /// JSON documents: status of books, and later users, projects, billing.
    pub documents: Arc<dyn DocumentStore>,
    /// Uploaded originals, artifacts and rendered media.
    pub blobs: Arc<dyn BlobStore>,
    /// The pipeline queues.
    pub queue: Arc<dyn JobQueue>,
    /// Prometheus series of this process.
    pub metrics: Arc<Metrics>,
    /// The keys that sign tokens and links and encrypt data.
    pub auth: Arc<Authority>,
    /// Request rate limits of this instance.
    pub limiter: Arc<RateLimiter>,
    /// The HTTP client of outgoing calls (Web PubSub, users' webhooks); one connection pool.
    pub http: reqwest::Client,
}

/// The queues, as provisioned: one per pipeline stage, and the notification deliveries.
pub fn pipeline_queue_specs(settings: &Settings) -> Vec<QueueSpec> {
    Stage::ALL
        .into_iter()
        .map(|stage| stage.queue())
        .chain([crate::notify::DELIVERY_QUEUE])
        .map(|queue| QueueSpec {
            lock_duration: settings.lock_duration,
            max_delivery_count: settings.max_delivery_count,
            ..QueueSpec::new(queue)
        })
        .collect()
}

impl AppState {
    /// Opens the adapters the settings choose. The embedded adapters live under the data
    /// directory; Azure adapters are not built yet, so asking for them is an error rather than
    /// a silent fallback.
    pub fn open(settings: Settings) -> anyhow::Result<Self> {
        for (port, backend) in [
            ("documents", settings.document_backend),
            ("blobs", settings.blob_backend),
            ("queue", settings.queue_backend),
        ] {
            anyhow::ensure!(
                backend == Backend::Embedded,
                "the Azure adapter for {port} is not available in this build; use the embedded backend"
            );
        }
        let data_dir = &settings.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        let documents =
            visiobook_embedded::SqliteDocumentStore::open(&data_dir.join("documents.sqlite3"))
                .context("opening the document store")?;
        let blobs = visiobook_embedded::FsBlobStore::open(&data_dir.join("blobs"))
            .context("opening the blob store")?;
        let queue = visiobook_embedded::SqliteJobQueue::open(
            &data_dir.join("queue.sqlite3"),
            pipeline_queue_specs(&settings),
        )
        .context("opening the job queue")?;
        tracing::info!(
            data_dir = %data_dir.display(),
            documents = "sqlite",
            blobs = "filesystem",
            queue = "sqlite",
            "storage adapters ready"
        );
        let settings_keys_dir = settings.keys_dir.clone();
        Ok(Self {
            settings: Arc::new(settings),
            documents: Arc::new(documents),
            blobs: Arc::new(blobs),
            queue: Arc::new(queue),
            metrics: Arc::new(Metrics::new()),
            auth: Arc::new(
                Authority::load_or_create(&settings_keys_dir).context("loading the keys")?,
            ),
            limiter: Arc::new(RateLimiter::new()),
            http: reqwest::Client::builder()
                .connect_timeout(std::time::Duration::from_secs(5))
                .timeout(std::time::Duration::from_secs(15))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("visiobook/", env!("CARGO_PKG_VERSION")))
                .build()
                .context("building the HTTP client")?,
        })
    }
}
