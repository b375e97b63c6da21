//! The state every handler receives: cheap to clone, one field per dependency.

use std::sync::Arc;

use anyhow::Context;
use azure_core::credentials as azure_core_credentials;
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

/// The Entra ID credential of this process (workload identity in AKS, managed identity
/// elsewhere).
fn entra_credential(
    settings: &Settings,
) -> anyhow::Result<Arc<dyn azure_core_credentials::TokenCredential>> {
    visiobook_azure::identity::credential(
        settings.azure_client_id.as_deref(),
        settings.azure_workload_identity,
    )
    .context("the Entra ID credential")
}

/// Blob Storage: a SAS URL where one is given (Azurite), else the endpoint with Entra ID.
fn azure_blobs(settings: &Settings) -> anyhow::Result<visiobook_azure::blob::AzureBlobStore> {
    if let Some(sas_url) = &settings.blob_sas_url {
        return visiobook_azure::blob::AzureBlobStore::with_sas_url(sas_url.expose())
            .context("VISIOBOOK_BLOB_SAS_URL");
    }
    let endpoint = settings.blob_endpoint.as_deref().context(
        "VISIOBOOK_BLOB_STORE=azure needs VISIOBOOK_BLOB_ENDPOINT (or VISIOBOOK_BLOB_SAS_URL)",
    )?;
    visiobook_azure::blob::AzureBlobStore::with_credential(
        &format!("{endpoint}/{}", settings.blob_container),
        entra_credential(settings)?,
    )
    .context("VISIOBOOK_BLOB_ENDPOINT")
}

/// The container `/ready` resolves to prove Cosmos DB answers (every estate has it).
const COSMOS_PING_CONTAINER: &str = "users";

/// Cosmos DB with Entra ID, or with a key where one is given (an emulator).
fn azure_documents(
    settings: &Settings,
) -> anyhow::Result<visiobook_azure::cosmos::CosmosDocumentStore> {
    use visiobook_azure::cosmos::{CosmosAuth, CosmosConfig, CosmosDocumentStore};
    let endpoint = settings
        .cosmos_endpoint
        .clone()
        .context("VISIOBOOK_DOCUMENT_STORE=azure needs VISIOBOOK_COSMOS_ENDPOINT")?;
    let auth = match &settings.cosmos_key {
        Some(key) => CosmosAuth::Key(key.expose().to_owned().into()),
        None => CosmosAuth::Entra(entra_credential(settings)?),
    };
    CosmosDocumentStore::new(CosmosConfig {
        endpoint,
        database: settings.cosmos_database.clone(),
        auth,
        ping_container: COSMOS_PING_CONTAINER.to_owned(),
    })
    .context("VISIOBOOK_COSMOS_ENDPOINT")
}

/// Service Bus over REST with Entra ID tokens.
fn azure_queue(
    settings: &Settings,
) -> anyhow::Result<visiobook_azure::servicebus::ServiceBusQueue> {
    let namespace = settings
        .servicebus_namespace
        .as_deref()
        .context("VISIOBOOK_QUEUE=azure needs VISIOBOOK_SERVICEBUS_NAMESPACE")?;
    let tokens = visiobook_azure::identity::EntraTokens(entra_credential(settings)?);
    Ok(visiobook_azure::servicebus::ServiceBusQueue::new(
        reqwest::Client::new(),
        namespace,
        Arc::new(tokens),
        pipeline_queue_specs(settings),
        std::time::Duration::from_secs(5),
    ))
}

impl AppState {
    /// Opens the adapters the settings choose: the embedded ones under the data directory, or
    /// Cosmos DB, Blob Storage and Service Bus in Azure. Remote adapters connect on first use.
    pub fn open(settings: Settings) -> anyhow::Result<Self> {
        let data_dir = &settings.data_dir;
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating the data directory {}", data_dir.display()))?;
        let documents: Arc<dyn DocumentStore> = match settings.document_backend {
            Backend::Embedded => Arc::new(
                visiobook_embedded::SqliteDocumentStore::open(&data_dir.join("documents.sqlite3"))
                    .context("opening the document store")?,
            ),
            Backend::Azure => Arc::new(azure_documents(&settings)?),
        };
        let blobs: Arc<dyn BlobStore> = match settings.blob_backend {
            Backend::Embedded => Arc::new(
                visiobook_embedded::FsBlobStore::open(&data_dir.join("blobs"))
                    .context("opening the blob store")?,
            ),
            Backend::Azure => Arc::new(azure_blobs(&settings)?),
        };
        let queue: Arc<dyn JobQueue> = match settings.queue_backend {
            Backend::Embedded => Arc::new(
                visiobook_embedded::SqliteJobQueue::open(
                    &data_dir.join("queue.sqlite3"),
                    pipeline_queue_specs(&settings),
                )
                .context("opening the job queue")?,
            ),
            Backend::Azure => Arc::new(azure_queue(&settings)?),
        };
        tracing::info!(
            data_dir = %data_dir.display(),
            documents = ?settings.document_backend,
            blobs = ?settings.blob_backend,
            queue = ?settings.queue_backend,
            "storage adapters ready"
        );
        let authority = match &settings.key_material {
            Some(material) => Authority::from_material(material).context("loading the keys")?,
            None => Authority::load_or_create(&settings.keys_dir).context("loading the keys")?,
        };
        Ok(Self {
            settings: Arc::new(settings),
            documents,
            blobs,
            queue,
            metrics: Arc::new(Metrics::new()),
            auth: Arc::new(authority),
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
