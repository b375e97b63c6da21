//! Typed settings, read once from an explicit map of variables (the process environment in
//! `main`, a literal map in tests). Every variable is documented in
//! `local.settings.json.example`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

/// Which adapter backs a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite and the filesystem under the data directory.
    Embedded,
    /// Azure: Cosmos DB (`VISIOBOOK_DOCUMENT_STORE`), Blob Storage (`VISIOBOOK_BLOB_STORE`),
    /// Service Bus over REST (`VISIOBOOK_QUEUE`).
    Azure,
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "embedded" | "local" | "sqlite" | "fs" => Ok(Backend::Embedded),
            "azure" | "cosmos" | "servicebus" | "blob" => Ok(Backend::Azure),
            other => Err(format!(
                "unknown backend {other:?} (expected embedded or azure)"
            )),
        }
    }
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Video size and encoder effort.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderPreset {
    /// 640x360, fastest encode: tests and quick looks.
    Preview,
    /// 1280x720, x264 veryfast.
    Standard,
    /// 1920x1080, x264 medium.
    Final,
}

impl RenderPreset {
    pub fn size(self) -> (u32, u32) {
        match self {
            RenderPreset::Preview => (640, 360),
            RenderPreset::Standard => (1280, 720),
            RenderPreset::Final => (1920, 1080),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            RenderPreset::Preview => "preview",
            RenderPreset::Standard => "standard",
            RenderPreset::Final => "final",
        }
    }
}

/// A secret value: usable, never printed (its `Debug` is `<redacted>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which analysis engine runs.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalysisEngine {
    /// Offline rules, lexicons and (when installed) sentence embeddings.
    Local,
    /// The local engine improved by an OpenAI-compatible chat-completions endpoint.
    Llm {
        /// Base URL up to `/v1`, or an Azure OpenAI deployment URL.
        endpoint: String,
        api_key: Option<Secret>,
        model: String,
        /// Set for Azure OpenAI (`?api-version=`).
        azure_api_version: Option<String>,
    },
}

/// All settings of every face of the binary.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Root of every embedded store (`VISIOBOOK_DATA_DIR`, default `./.data`).
    pub data_dir: PathBuf,
    /// Port of `visiobook dev` (`VISIOBOOK_PORT`, default 7071).
    pub dev_port: u16,
    /// Port of `visiobook serve`, given by the Functions host (`FUNCTIONS_CUSTOMHANDLER_PORT`).
    pub custom_handler_port: Option<u16>,
    pub document_backend: Backend,
    pub blob_backend: Backend,
    pub queue_backend: Backend,
    /// Largest accepted request body (`VISIOBOOK_MAX_BODY_BYTES`, default 100 MiB).
    pub max_body_bytes: usize,
    /// Deliveries before a message is dead-lettered (`VISIOBOOK_MAX_DELIVERY_COUNT`, default 5).
    pub max_delivery_count: u32,
    /// Peek-lock duration of the embedded queue (`VISIOBOOK_LOCK_DURATION_SECONDS`, default 60).
    pub lock_duration: Duration,
    /// How often idle workers poll the embedded queue (`VISIOBOOK_QUEUE_POLL_MS`, default 250).
    pub queue_poll: Duration,
    /// `VISIOBOOK_LOG_FORMAT`; `None` lets each command pick (JSON for servers and jobs,
    /// human-readable for one-shot CLI commands).
    pub log_format: Option<LogFormat>,
    /// `tracing` filter (`VISIOBOOK_LOG`, else `RUST_LOG`, default `info`).
    pub log_filter: String,
    pub render_preset: RenderPreset,
    /// The ffmpeg executable (`VISIOBOOK_FFMPEG`, default `ffmpeg` on the PATH).
    pub ffmpeg: PathBuf,
    /// The espeak-ng executable (`VISIOBOOK_ESPEAK`, default `espeak-ng` on the PATH).
    pub espeak: PathBuf,
    /// The tesseract executable (`VISIOBOOK_TESSERACT`, default `tesseract` on the PATH).
    pub tesseract: PathBuf,
    /// The pdftoppm executable (`VISIOBOOK_PDFTOPPM`, default `pdftoppm` on the PATH).
    pub pdftoppm: PathBuf,
    /// Parallel OCR processes (`VISIOBOOK_OCR_JOBS`, default one per core).
    pub ocr_jobs: usize,
    /// Most pages a PDF may have (`VISIOBOOK_MAX_PAGES`, default 2000).
    pub max_pages: u32,
    /// Most bytes an EPUB may decompress to (`VISIOBOOK_MAX_DECOMPRESSED_BYTES`, default 512 MiB).
    pub max_decompressed_bytes: u64,
    /// Most entries an EPUB archive may have (`VISIOBOOK_MAX_ARCHIVE_ENTRIES`, default 10000).
    pub max_archive_entries: usize,
    /// Where `scripts/fetch-models` put the ONNX Runtime and the MiniLM model
    /// (`VISIOBOOK_MODELS_DIR`, default `$HOME/.cache/visiobook/models`).
    pub models_dir: PathBuf,
    /// `VISIOBOOK_ANALYSIS_ENGINE` (`local`, default, or `llm` with `VISIOBOOK_LLM_ENDPOINT`,
    /// `VISIOBOOK_LLM_API_KEY`, `VISIOBOOK_LLM_MODEL`, `VISIOBOOK_LLM_API_VERSION`).
    pub analysis_engine: AnalysisEngine,
    /// `VISIOBOOK_SPEECH_ENGINE`: `auto` (default: Piper for English when its voice is
    /// installed, espeak-ng otherwise), `piper`, `espeak`, `azure-speech`
    /// (`VISIOBOOK_AZURE_SPEECH_ENDPOINT`, `VISIOBOOK_AZURE_SPEECH_KEY`) or `openai`
    /// (`VISIOBOOK_SPEECH_ENDPOINT`, `VISIOBOOK_SPEECH_API_KEY`, `VISIOBOOK_SPEECH_MODEL`).
    pub speech_engine: SpeechEngineSetting,
    /// `VISIOBOOK_IMAGE_ENGINE`: `procedural` (default) or `openai` (`VISIOBOOK_IMAGES_ENDPOINT`,
    /// `VISIOBOOK_IMAGES_API_KEY`, `VISIOBOOK_IMAGES_MODEL`, and `VISIOBOOK_IMAGES_API_VERSION`
    /// for Azure OpenAI, where the model is the deployment).
    pub image_engine: ImageEngineSetting,
    /// The exports assembly makes (`VISIOBOOK_EXPORT_FORMATS`, default `all`; or a list such as
    /// `mp4,gif,epub` from mp4, webm, gif, m4b, srt, vtt, epub, storyboard).
    pub export_formats: String,
    /// Subtitles drawn into the video's picture (`VISIOBOOK_BURN_SUBTITLES`, default false);
    /// the MP4 always carries them as a soft track too.
    pub burn_subtitles: bool,
    /// Video segments rendered at once (`VISIOBOOK_RENDER_JOBS`, default 2).
    pub render_jobs: usize,
    /// Where the signing, link and data keys live (`VISIOBOOK_KEYS_DIR`, default
    /// `<data dir>/keys`); created with mode 0600 on first start.
    pub keys_dir: PathBuf,
    /// Lifetime of an access token (`VISIOBOOK_ACCESS_TOKEN_SECONDS`, default 900).
    pub access_token_ttl: Duration,
    /// Lifetime of a sign-in session and its refresh tokens (`VISIOBOOK_SESSION_DAYS`,
    /// default 30).
    pub session_ttl: Duration,
    /// Emails whose accounts get the admin role (`VISIOBOOK_ADMIN_EMAILS`, comma-separated).
    pub admin_emails: Vec<String>,
    /// Requests per minute and user (`VISIOBOOK_RATE_LIMIT_USER`, default 600; 0 turns it off).
    pub rate_limit_user_per_minute: u32,
    /// Requests per minute and client address (`VISIOBOOK_RATE_LIMIT_ADDRESS`, default 1200;
    /// 0 turns it off).
    pub rate_limit_address_per_minute: u32,
    /// Take the client address from `X-Forwarded-For` (`VISIOBOOK_TRUST_FORWARDED_FOR`, default
    /// false): only behind a gateway that sets it, such as API Management or the Functions host.
    pub trust_forwarded_for: bool,
    /// Bytes each user may keep in file storage (`VISIOBOOK_STORAGE_QUOTA_BYTES`, default 5 GiB).
    pub storage_quota_bytes: u64,
    /// Where e-mail goes (`VISIOBOOK_SMTP_URL`, `smtp://host:port`); without it, messages are
    /// written as `.eml` files to `<data dir>/outbox`.
    pub smtp_url: Option<String>,
    /// The sender of e-mail (`VISIOBOOK_MAIL_FROM`).
    pub mail_from: String,
    /// The address users reach the app at, for links in e-mail (`VISIOBOOK_PUBLIC_URL`).
    pub public_url: String,
    /// Who takes payments (`VISIOBOOK_PAYMENT_PROVIDER`: `local`, the default, or `stripe`).
    pub payments: PaymentProvider,
    /// The signing secret of Stripe's webhook endpoint (`STRIPE_WEBHOOK_SECRET`, `whsec_...`);
    /// without it the webhook refuses every event.
    pub stripe_webhook_secret: Option<Secret>,
    /// Azure Web PubSub, which pushes notifications to browsers in the cloud
    /// (`VISIOBOOK_WEB_PUBSUB_CONNECTION_STRING`, hub `VISIOBOOK_WEB_PUBSUB_HUB`, default
    /// `notifications`); without it, clients use `/ws/notifications` or the SSE stream.
    pub web_pubsub: Option<crate::pubsub::WebPubSub>,
    /// Let users' webhooks point at loopback and private addresses
    /// (`VISIOBOOK_WEBHOOK_ALLOW_PRIVATE`, default false: only for development and tests).
    pub webhook_allow_private: bool,
    /// Whether `/api/ready` checks ffmpeg and espeak-ng (`VISIOBOOK_READY_TOOLS`, default true):
    /// false in the Function App, which runs no stage (they run on AKS) and has no such tools.
    pub ready_tools: bool,
    /// The wait before a webhook's second attempt, doubled for each later one
    /// (`VISIOBOOK_WEBHOOK_BACKOFF_MS`, default 30,000).
    pub webhook_backoff: Duration,
    /// The least severe level of the app's own log records that are also stored for the
    /// logging endpoints (`VISIOBOOK_STORE_LOGS`: `off`, `error`, `warn` (default), `info`,
    /// `debug`); `None` when off. Servers and jobs only.
    pub store_logs: Option<String>,
    /// The Cosmos DB account endpoint (`VISIOBOOK_COSMOS_ENDPOINT`,
    /// `https://<account>.documents.azure.com:443/`), reached with the Entra ID credential.
    pub cosmos_endpoint: Option<String>,
    /// The Cosmos DB database of every container (`VISIOBOOK_COSMOS_DATABASE`, default
    /// `visiobook`).
    pub cosmos_database: String,
    /// An account key (`VISIOBOOK_COSMOS_KEY`), only for an emulator: the estate's accounts
    /// refuse keys (local auth disabled) and are reached with Entra ID.
    pub cosmos_key: Option<Secret>,
    /// The Blob Storage endpoint in Azure (`VISIOBOOK_BLOB_ENDPOINT`,
    /// `https://<account>.blob.core.windows.net`), reached with the Entra ID credential.
    pub blob_endpoint: Option<String>,
    /// The container of every blob (`VISIOBOOK_BLOB_CONTAINER`, default `visiobook`).
    pub blob_container: String,
    /// A container URL carrying a SAS (`VISIOBOOK_BLOB_SAS_URL`), where there is no identity:
    /// Azurite in development and tests. Wins over the endpoint.
    pub blob_sas_url: Option<Secret>,
    /// The Service Bus namespace of the REST queue client
    /// (`VISIOBOOK_SERVICEBUS_NAMESPACE`, `<name>.servicebus.windows.net`).
    pub servicebus_namespace: Option<String>,
    /// The user-assigned identity's client id (`AZURE_CLIENT_ID`, as Azure sets it).
    pub azure_client_id: Option<String>,
    /// Whether a workload-identity token is mounted (`AZURE_FEDERATED_TOKEN_FILE` is set, as the
    /// AKS webhook does): then that identity is used, else the managed identity.
    pub azure_workload_identity: bool,
    /// The keys as settings (`VISIOBOOK_SIGNING_KEY_PEM`, `VISIOBOOK_LINK_KEY`,
    /// `VISIOBOOK_DATA_KEYS`, optionally `VISIOBOOK_PREVIOUS_SIGNING_KEYS_PEM`), all or none:
    /// Key Vault references in Azure, so that every instance holds the same keys. Without
    /// them the keys directory is used.
    pub key_material: Option<crate::auth::KeyMaterial>,
    /// Where traces go in Azure (`APPLICATIONINSIGHTS_CONNECTION_STRING`, as the Functions host
    /// names it); without it, no trace leaves the process.
    pub application_insights: Option<Secret>,
    /// Days stored log records are kept (`VISIOBOOK_LOG_RETENTION_DAYS`, default 30).
    pub log_retention_days: u32,
}

/// Who takes payments.
#[derive(Debug, Clone, PartialEq)]
pub enum PaymentProvider {
    /// For development and tests: no money moves, subscriptions activate at once, and every
    /// answer says `"provider": "local"`.
    Local,
    Stripe {
        /// The secret API key (`STRIPE_API_KEY`, `sk_...`).
        api_key: Secret,
        /// `VISIOBOOK_STRIPE_API_BASE`, default `https://api.stripe.com`.
        api_base: String,
        /// Stripe price id per plan (`VISIOBOOK_STRIPE_PRICES`, `creator=price_...,studio=price_...`).
        prices: BTreeMap<String, String>,
    },
}

/// Which speech engine reads the books.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeechEngineSetting {
    /// Piper for English when its voice is installed, espeak-ng for everything else.
    Auto,
    Piper,
    Espeak,
    AzureSpeech {
        /// `https://<region>.tts.speech.microsoft.com`.
        endpoint: String,
        key: Secret,
    },
    OpenAi {
        /// Base URL up to `/v1`.
        endpoint: String,
        api_key: Option<Secret>,
        model: String,
    },
}

/// Which image engine draws the scenes.
#[derive(Debug, Clone, PartialEq)]
pub enum ImageEngineSetting {
    Procedural,
    OpenAi {
        /// Base URL up to `/v1`, or the Azure OpenAI resource endpoint.
        endpoint: String,
        api_key: Option<Secret>,
        /// The model, or the Azure OpenAI deployment.
        model: String,
        /// Set for Azure OpenAI (`?api-version=`).
        azure_api_version: Option<String>,
    },
}

/// A setting that could not be understood.
#[derive(Debug, PartialEq, Eq)]
pub struct SettingsError {
    pub variable: String,
    pub message: String,
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.variable, self.message)
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Reads settings from `variables`; absent variables take their defaults.
    pub fn from_map(variables: &BTreeMap<String, String>) -> Result<Self, SettingsError> {
        let reader = Reader(variables);
        let log_format = match reader.text("VISIOBOOK_LOG_FORMAT").as_deref() {
            None => None,
            Some("json") => Some(LogFormat::Json),
            Some("pretty" | "text") => Some(LogFormat::Pretty),
            Some(other) => {
                return Err(SettingsError {
                    variable: "VISIOBOOK_LOG_FORMAT".into(),
                    message: format!("{other:?} is not json or pretty"),
                });
            }
        };
        let render_preset = match reader.text("VISIOBOOK_RENDER_PRESET").as_deref() {
            None | Some("standard") => RenderPreset::Standard,
            Some("preview") => RenderPreset::Preview,
            Some("final") => RenderPreset::Final,
            Some(other) => {
                return Err(SettingsError {
                    variable: "VISIOBOOK_RENDER_PRESET".into(),
                    message: format!("{other:?} is not preview, standard or final"),
                });
            }
        };
        let analysis_engine = match reader.text("VISIOBOOK_ANALYSIS_ENGINE").as_deref() {
            None | Some("local") => AnalysisEngine::Local,
            Some("llm") => AnalysisEngine::Llm {
                endpoint: reader
                    .text("VISIOBOOK_LLM_ENDPOINT")
                    .ok_or_else(|| SettingsError {
                        variable: "VISIOBOOK_LLM_ENDPOINT".into(),
                        message:
                            "the llm analysis engine needs the endpoint of an OpenAI-compatible API"
                                .into(),
                    })?,
                api_key: reader.text("VISIOBOOK_LLM_API_KEY").map(Secret),
                model: reader
                    .text("VISIOBOOK_LLM_MODEL")
                    .unwrap_or_else(|| "gpt-4o-mini".into()),
                azure_api_version: reader.text("VISIOBOOK_LLM_API_VERSION"),
            },
            Some(other) => {
                return Err(SettingsError {
                    variable: "VISIOBOOK_ANALYSIS_ENGINE".into(),
                    message: format!("{other:?} is not local or llm"),
                });
            }
        };
        let required = |variable: &str, why: &str| {
            reader.text(variable).ok_or_else(|| SettingsError {
                variable: variable.into(),
                message: why.into(),
            })
        };
        let payments = match reader.text("VISIOBOOK_PAYMENT_PROVIDER").as_deref() {
            None | Some("local") => PaymentProvider::Local,
            Some("stripe") => {
                let prices = required(
                    "VISIOBOOK_STRIPE_PRICES",
                    "the stripe provider needs a price id per plan: creator=price_...,studio=price_...",
                )?;
                let prices = prices
                    .split(',')
                    .filter(|pair| !pair.trim().is_empty())
                    .map(|pair| {
                        pair.split_once('=')
                            .map(|(plan, price)| (plan.trim().to_owned(), price.trim().to_owned()))
                            .ok_or_else(|| SettingsError {
                                variable: "VISIOBOOK_STRIPE_PRICES".into(),
                                message: format!("{pair:?} is not plan=price_id"),
                            })
                    })
                    .collect::<Result<BTreeMap<_, _>, _>>()?;
                PaymentProvider::Stripe {
                    api_key: Secret(required(
                        "STRIPE_API_KEY",
                        "the stripe provider needs the secret API key",
                    )?),
                    api_base: reader
                        .text("VISIOBOOK_STRIPE_API_BASE")
                        .unwrap_or_else(|| "https://api.stripe.com".into())
                        .trim_end_matches('/')
                        .to_owned(),
                    prices,
                }
            }
            Some(other) => {
                return Err(SettingsError {
                    variable: "VISIOBOOK_PAYMENT_PROVIDER".into(),
                    message: format!("{other:?} is not local or stripe"),
                });
            }
        };
        let speech_engine = match reader.text("VISIOBOOK_SPEECH_ENGINE").as_deref() {
            None | Some("auto") => SpeechEngineSetting::Auto,
            Some("piper") => SpeechEngineSetting::Piper,
            Some("espeak") => SpeechEngineSetting::Espeak,
            Some("azure-speech") => SpeechEngineSetting::AzureSpeech {
                endpoint: required(
                    "VISIOBOOK_AZURE_SPEECH_ENDPOINT",
                    "the azure-speech engine needs the resource's speech endpoint",
                )?,
                key: Secret(required(
                    "VISIOBOOK_AZURE_SPEECH_KEY",
                    "the azure-speech engine needs a key",
                )?),
            },
            Some("openai") => SpeechEngineSetting::OpenAi {
                endpoint: required(
                    "VISIOBOOK_SPEECH_ENDPOINT",
                    "the openai speech engine needs the base URL of an OpenAI-compatible API",
                )?,
                api_key: reader.text("VISIOBOOK_SPEECH_API_KEY").map(Secret),
                model: reader
                    .text("VISIOBOOK_SPEECH_MODEL")
                    .unwrap_or_else(|| "tts-1".into()),
            },
            Some(other) => {
                return Err(SettingsError {
                    variable: "VISIOBOOK_SPEECH_ENGINE".into(),
                    message: format!(
                        "{other:?} is not auto, piper, espeak, azure-speech or openai"
                    ),
                });
            }
        };
        let image_engine = match reader.text("VISIOBOOK_IMAGE_ENGINE").as_deref() {
            None | Some("procedural") => ImageEngineSetting::Procedural,
            Some("openai") => ImageEngineSetting::OpenAi {
                endpoint: required(
                    "VISIOBOOK_IMAGES_ENDPOINT",
                    "the openai image engine needs the base URL of an images API",
                )?,
                api_key: reader.text("VISIOBOOK_IMAGES_API_KEY").map(Secret),
                model: reader
                    .text("VISIOBOOK_IMAGES_MODEL")
                    .unwrap_or_else(|| "gpt-image-1".into()),
                azure_api_version: reader.text("VISIOBOOK_IMAGES_API_VERSION"),
            },
            Some(other) => {
                return Err(SettingsError {
                    variable: "VISIOBOOK_IMAGE_ENGINE".into(),
                    message: format!("{other:?} is not procedural or openai"),
                });
            }
        };
        let data_dir = reader
            .text("VISIOBOOK_DATA_DIR")
            .map_or_else(|| PathBuf::from(".data"), PathBuf::from);
        let settings = Self {
            speech_engine,
            image_engine,
            export_formats: reader
                .text("VISIOBOOK_EXPORT_FORMATS")
                .unwrap_or_else(|| "all".into()),
            burn_subtitles: reader.flag("VISIOBOOK_BURN_SUBTITLES")?,
            render_jobs: reader.parse("VISIOBOOK_RENDER_JOBS")?.unwrap_or(2).max(1),
            keys_dir: reader
                .text("VISIOBOOK_KEYS_DIR")
                .map_or_else(|| data_dir.join("keys"), PathBuf::from),
            access_token_ttl: Duration::from_secs(
                reader
                    .parse::<u64>("VISIOBOOK_ACCESS_TOKEN_SECONDS")?
                    .unwrap_or(900)
                    .max(1),
            ),
            session_ttl: Duration::from_secs(
                reader
                    .parse::<u64>("VISIOBOOK_SESSION_DAYS")?
                    .unwrap_or(30)
                    .max(1)
                    * 86_400,
            ),
            admin_emails: reader
                .text("VISIOBOOK_ADMIN_EMAILS")
                .map(|list| {
                    list.split(',')
                        .map(|email| email.trim().to_lowercase())
                        .filter(|email| !email.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            rate_limit_user_per_minute: reader.parse("VISIOBOOK_RATE_LIMIT_USER")?.unwrap_or(600),
            rate_limit_address_per_minute: reader
                .parse("VISIOBOOK_RATE_LIMIT_ADDRESS")?
                .unwrap_or(1200),
            trust_forwarded_for: reader.flag("VISIOBOOK_TRUST_FORWARDED_FOR")?,
            storage_quota_bytes: reader
                .parse("VISIOBOOK_STORAGE_QUOTA_BYTES")?
                .unwrap_or(5 * 1024 * 1024 * 1024),
            smtp_url: reader.text("VISIOBOOK_SMTP_URL"),
            mail_from: reader
                .text("VISIOBOOK_MAIL_FROM")
                .unwrap_or_else(|| "Visiobook <no-reply@visiobook.localhost>".into()),
            public_url: reader
                .text("VISIOBOOK_PUBLIC_URL")
                .unwrap_or_else(|| "http://127.0.0.1:7071".into())
                .trim_end_matches('/')
                .to_owned(),
            payments,
            stripe_webhook_secret: reader.text("STRIPE_WEBHOOK_SECRET").map(Secret),
            web_pubsub: match reader.text("VISIOBOOK_WEB_PUBSUB_CONNECTION_STRING") {
                None => None,
                Some(text) => Some(
                    crate::pubsub::WebPubSub::from_connection_string(
                        &text,
                        &reader
                            .text("VISIOBOOK_WEB_PUBSUB_HUB")
                            .unwrap_or_else(|| "notifications".into()),
                    )
                    .map_err(|message| SettingsError {
                        variable: "VISIOBOOK_WEB_PUBSUB_CONNECTION_STRING".into(),
                        message,
                    })?,
                ),
            },
            webhook_allow_private: reader.flag("VISIOBOOK_WEBHOOK_ALLOW_PRIVATE")?,
            ready_tools: reader
                .text("VISIOBOOK_READY_TOOLS")
                .map_or(Ok(true), |_| reader.flag("VISIOBOOK_READY_TOOLS"))?,
            webhook_backoff: Duration::from_millis(
                reader
                    .parse("VISIOBOOK_WEBHOOK_BACKOFF_MS")?
                    .unwrap_or(30_000),
            ),
            store_logs: match reader
                .text("VISIOBOOK_STORE_LOGS")
                .map(|level| level.to_ascii_lowercase())
                .as_deref()
            {
                None => Some("warn".to_owned()),
                Some("off" | "none" | "false") => None,
                Some(level @ ("error" | "warn" | "info" | "debug")) => Some(level.to_owned()),
                Some(other) => {
                    return Err(SettingsError {
                        variable: "VISIOBOOK_STORE_LOGS".into(),
                        message: format!("{other:?} is not off, error, warn, info or debug"),
                    });
                }
            },
            cosmos_endpoint: reader
                .text("VISIOBOOK_COSMOS_ENDPOINT")
                .filter(|text| !text.is_empty()),
            cosmos_database: reader
                .text("VISIOBOOK_COSMOS_DATABASE")
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| "visiobook".into()),
            cosmos_key: reader
                .text("VISIOBOOK_COSMOS_KEY")
                .filter(|text| !text.is_empty())
                .map(Secret),
            blob_endpoint: reader
                .text("VISIOBOOK_BLOB_ENDPOINT")
                .filter(|text| !text.is_empty())
                .map(|text| text.trim_end_matches('/').to_owned()),
            blob_container: reader
                .text("VISIOBOOK_BLOB_CONTAINER")
                .filter(|text| !text.is_empty())
                .unwrap_or_else(|| "visiobook".into()),
            blob_sas_url: reader
                .text("VISIOBOOK_BLOB_SAS_URL")
                .filter(|text| !text.is_empty())
                .map(Secret),
            servicebus_namespace: reader
                .text("VISIOBOOK_SERVICEBUS_NAMESPACE")
                .filter(|text| !text.is_empty()),
            azure_client_id: reader
                .text("AZURE_CLIENT_ID")
                .filter(|text| !text.is_empty()),
            azure_workload_identity: reader
                .text("AZURE_FEDERATED_TOKEN_FILE")
                .is_some_and(|text| !text.is_empty()),
            key_material: {
                let given = |name: &str| reader.text(name).filter(|text| !text.is_empty());
                match (
                    given("VISIOBOOK_SIGNING_KEY_PEM"),
                    given("VISIOBOOK_LINK_KEY"),
                    given("VISIOBOOK_DATA_KEYS"),
                ) {
                    (None, None, None) => None,
                    (Some(signing), Some(link), Some(data)) => Some(crate::auth::KeyMaterial {
                        signing_pem: Secret(signing),
                        previous_signing_pems: given("VISIOBOOK_PREVIOUS_SIGNING_KEYS_PEM"),
                        link_key_hex: Secret(link),
                        data_keys_json: Secret(data),
                    }),
                    _ => {
                        return Err(SettingsError {
                            variable: "VISIOBOOK_SIGNING_KEY_PEM".into(),
                            message: "VISIOBOOK_SIGNING_KEY_PEM, VISIOBOOK_LINK_KEY and VISIOBOOK_DATA_KEYS go together (visiobook export-keys prints them)".into(),
                        });
                    }
                }
            },
            application_insights: reader
                .text("APPLICATIONINSIGHTS_CONNECTION_STRING")
                .filter(|text| !text.is_empty())
                .map(Secret),
            log_retention_days: reader
                .parse("VISIOBOOK_LOG_RETENTION_DAYS")?
                .unwrap_or(30)
                .max(1),
            data_dir,
            dev_port: reader.parse("VISIOBOOK_PORT")?.unwrap_or(7071),
            custom_handler_port: reader.parse("FUNCTIONS_CUSTOMHANDLER_PORT")?,
            document_backend: reader
                .parse("VISIOBOOK_DOCUMENT_STORE")?
                .unwrap_or(Backend::Embedded),
            blob_backend: reader
                .parse("VISIOBOOK_BLOB_STORE")?
                .unwrap_or(Backend::Embedded),
            queue_backend: reader
                .parse("VISIOBOOK_QUEUE")?
                .unwrap_or(Backend::Embedded),
            max_body_bytes: reader
                .parse("VISIOBOOK_MAX_BODY_BYTES")?
                .unwrap_or(100 * 1024 * 1024),
            max_delivery_count: reader.parse("VISIOBOOK_MAX_DELIVERY_COUNT")?.unwrap_or(5),
            lock_duration: Duration::from_secs(
                reader
                    .parse("VISIOBOOK_LOCK_DURATION_SECONDS")?
                    .unwrap_or(60),
            ),
            queue_poll: Duration::from_millis(
                reader.parse("VISIOBOOK_QUEUE_POLL_MS")?.unwrap_or(250),
            ),
            log_format,
            log_filter: reader
                .text("VISIOBOOK_LOG")
                .or_else(|| reader.text("RUST_LOG"))
                .unwrap_or_else(|| "info".into()),
            render_preset,
            ffmpeg: reader
                .text("VISIOBOOK_FFMPEG")
                .map_or_else(|| PathBuf::from("ffmpeg"), PathBuf::from),
            espeak: reader
                .text("VISIOBOOK_ESPEAK")
                .map_or_else(|| PathBuf::from("espeak-ng"), PathBuf::from),
            tesseract: reader
                .text("VISIOBOOK_TESSERACT")
                .map_or_else(|| PathBuf::from("tesseract"), PathBuf::from),
            pdftoppm: reader
                .text("VISIOBOOK_PDFTOPPM")
                .map_or_else(|| PathBuf::from("pdftoppm"), PathBuf::from),
            ocr_jobs: reader
                .parse("VISIOBOOK_OCR_JOBS")?
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
                .max(1),
            max_pages: reader.parse("VISIOBOOK_MAX_PAGES")?.unwrap_or(2_000),
            max_decompressed_bytes: reader
                .parse("VISIOBOOK_MAX_DECOMPRESSED_BYTES")?
                .unwrap_or(512 * 1024 * 1024),
            max_archive_entries: reader
                .parse("VISIOBOOK_MAX_ARCHIVE_ENTRIES")?
                .unwrap_or(10_000),
            models_dir: reader.text("VISIOBOOK_MODELS_DIR").map_or_else(
                || {
                    PathBuf::from(reader.text("HOME").unwrap_or_else(|| ".".into()))
                        .join(".cache/visiobook/models")
                },
                PathBuf::from,
            ),
            analysis_engine,
        };
        if settings.max_delivery_count == 0 {
            return Err(SettingsError {
                variable: "VISIOBOOK_MAX_DELIVERY_COUNT".into(),
                message: "must be at least 1".into(),
            });
        }
        if settings.lock_duration.is_zero() {
            return Err(SettingsError {
                variable: "VISIOBOOK_LOCK_DURATION_SECONDS".into(),
                message: "must be at least 1".into(),
            });
        }
        Ok(settings)
    }

    /// Settings from the process environment (only `main` calls this).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_map(&std::env::vars().collect())
    }
}

struct Reader<'a>(&'a BTreeMap<String, String>);

impl Reader<'_> {
    fn text(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// A boolean: `true`/`1`/`yes` or `false`/`0`/`no`; absent is false.
    fn flag(&self, name: &str) -> Result<bool, SettingsError> {
        match self
            .text(name)
            .map(|value| value.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("false" | "0" | "no") => Ok(false),
            Some("true" | "1" | "yes") => Ok(true),
            Some(other) => Err(SettingsError {
                variable: name.to_owned(),
                message: format!("{other:?} is not true or false"),
            }),
        }
    }

    fn parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, SettingsError>
    where
        T::Err: std::fmt::Display,
    {
        self.text(name)
            .map(|value| {
                value.parse().map_err(|error: T::Err| SettingsError {
                    variable: name.to_owned(),
                    message: format!("{value:?} is invalid: {error}"),
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_no_variables() {
        let settings = Settings::from_map(&BTreeMap::new()).expect("defaults are valid");
        assert_eq!(settings.dev_port, 7071);
        assert_eq!(settings.data_dir, PathBuf::from(".data"));
        assert_eq!(settings.document_backend, Backend::Embedded);
        assert_eq!(settings.max_delivery_count, 5);
    }

    #[test]
    fn variables_override_defaults() {
        let settings = Settings::from_map(&map(&[
            ("VISIOBOOK_DATA_DIR", "/tmp/vb"),
            ("VISIOBOOK_PORT", "8080"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "33333"),
            ("VISIOBOOK_MAX_BODY_BYTES", "1024"),
            ("VISIOBOOK_RENDER_PRESET", "preview"),
            ("VISIOBOOK_LOG_FORMAT", "pretty"),
        ]))
        .expect("valid");
        assert_eq!(settings.data_dir, PathBuf::from("/tmp/vb"));
        assert_eq!(settings.dev_port, 8080);
        assert_eq!(settings.custom_handler_port, Some(33333));
        assert_eq!(settings.max_body_bytes, 1024);
        assert_eq!(settings.render_preset, RenderPreset::Preview);
        assert_eq!(settings.log_format, Some(LogFormat::Pretty));
    }

    #[test]
    fn secrets_never_print() {
        let settings = Settings::from_map(&map(&[
            ("VISIOBOOK_ANALYSIS_ENGINE", "llm"),
            ("VISIOBOOK_LLM_ENDPOINT", "http://127.0.0.1:9/v1"),
            ("VISIOBOOK_LLM_API_KEY", "sk-very-secret"),
        ]))
        .expect("valid");
        assert!(!format!("{settings:?}").contains("sk-very-secret"));
        let AnalysisEngine::Llm { api_key, .. } = &settings.analysis_engine else {
            panic!("llm expected");
        };
        assert_eq!(api_key.as_ref().map(Secret::expose), Some("sk-very-secret"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let check = |name: &str, value: &str| {
            let error = Settings::from_map(&map(&[(name, value)])).expect_err("must be refused");
            assert_eq!(error.variable, name);
        };
        check("VISIOBOOK_PORT", "seventy");
        check("VISIOBOOK_PORT", "70000");
        check("VISIOBOOK_MAX_DELIVERY_COUNT", "0");
        check("VISIOBOOK_QUEUE", "rabbitmq");
        check("VISIOBOOK_RENDER_PRESET", "ultra");
        check("VISIOBOOK_ANALYSIS_ENGINE", "magic");
        let missing = Settings::from_map(&map(&[("VISIOBOOK_ANALYSIS_ENGINE", "llm")]))
            .expect_err("needs an endpoint");
        assert_eq!(missing.variable, "VISIOBOOK_LLM_ENDPOINT");
    }
}

#[cfg(test)]
mod example_file {
    use super::*;

    /// `local.settings.json.example` documents every variable; it must load as valid settings
    /// and mention every variable the loader reads.
    #[test]
    fn the_example_settings_file_is_valid_and_complete() {
        let text = include_str!("../../../local.settings.json.example");
        let json: serde_json::Value = serde_json::from_str(text).expect("the example is JSON");
        let values: BTreeMap<String, String> = json["Values"]
            .as_object()
            .expect("has Values")
            .iter()
            .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
            .collect();
        Settings::from_map(&values).expect("the example settings are valid");
        let source = include_str!("settings.rs");
        let is_variable = |token: &&str| {
            token.len() > 10
                && token.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                && (token.starts_with("VISIOBOOK_") || token.starts_with("FUNCTIONS_"))
        };
        for variable in source.split('"').filter(is_variable) {
            assert!(
                values.contains_key(variable),
                "{variable} is missing from local.settings.json.example"
            );
        }
    }
}
