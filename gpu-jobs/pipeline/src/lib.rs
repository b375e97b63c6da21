//! The pipeline: how a book is submitted, how each stage runs for one queue message, and how
//! the status document records it all.
//!
//! Every stage run is idempotent. A delivery for a stage that already finished only re-sends
//! the next stage's message (whose id makes duplicates vanish); a delivery for a failed or
//! deleted book is completed without work; artifacts are written before the status says the
//! stage is done, and the generation stage's media are content-addressed, so a crash at any
//! point redoes at most the item in hand.

mod stages;
mod status;

pub use stages::run_stage;
pub use status::{BOOKS_CONTAINER, load_status, update_status};

/// The container of story-bible overrides (partition key and id: the book id).
pub const OVERRIDES_CONTAINER: &str = "overrides";

/// Which books each user uploaded (partition key: the user id; id: the book id), so that a
/// user's books can be listed, exported and deleted without a cross-partition query.
pub const OWNED_BOOKS_CONTAINER: &str = "owned-books";

/// The book `id` if `caller` may see it (its owner, or an administrator); `None` otherwise, so
/// that someone else's book answers exactly like a missing one.
pub async fn load_status_for(
    state: &AppState,
    caller: &visiobook_runtime::Caller,
    id: &str,
) -> Result<Option<BookStatus>, StoreError> {
    Ok(load_status(state, id)
        .await?
        .filter(|status| caller.may_see(status.owner.as_deref())))
}

/// The ids of the books `owner` uploaded, oldest first.
pub async fn owned_book_ids(state: &AppState, owner: &str) -> Result<Vec<String>, StoreError> {
    let query = visiobook_ports::Query::default()
        .order_by("created_at", visiobook_ports::Order::Ascending)
        .page_size(1000);
    let entries = visiobook_ports::document::query_all(
        state.documents.as_ref(),
        OWNED_BOOKS_CONTAINER,
        owner,
        &query,
    )
    .await?;
    Ok(entries.into_iter().map(|entry| entry.id).collect())
}

/// What deleting a book removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DeletedBook {
    pub documents: u64,
    pub blobs: u64,
    pub bytes: u64,
}

/// Deletes a book for good: its status, overrides, assembly options, ownership entry and every
/// blob under `books/{id}/` (upload, artifacts, exports). Content-addressed cache entries are
/// shared between books and stay (they hold no link back to the book). A queued stage message
/// for the book finds no status and completes without work.
pub async fn delete_book(state: &AppState, id: &str) -> Result<DeletedBook, StoreError> {
    let mut deleted = DeletedBook::default();
    let owner = load_status(state, id)
        .await?
        .and_then(|status| status.owner);
    for blob in state.blobs.list(&format!("books/{id}/")).await? {
        if state.blobs.delete(&blob.key).await? {
            deleted.blobs += 1;
            deleted.bytes += blob.size_bytes;
        }
    }
    let mut documents = vec![
        (OVERRIDES_CONTAINER, id.to_owned()),
        (ASSEMBLY_OPTIONS_CONTAINER, id.to_owned()),
    ];
    if let Some(owner) = owner {
        documents.push((OWNED_BOOKS_CONTAINER, owner));
    }
    // The status goes last: while it exists, a retry can find everything else again.
    documents.push((BOOKS_CONTAINER, id.to_owned()));
    for (container, partition) in documents {
        match state
            .documents
            .delete(container, &partition, id, None)
            .await
        {
            Ok(()) => deleted.documents += 1,
            Err(error) if error.kind == visiobook_ports::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(deleted)
}

use bytes::Bytes;
use visiobook_domain::artifacts::source_key;
use visiobook_domain::status::SourceRef;
use visiobook_domain::{BookStatus, Stage, StageMessage};
use visiobook_host::{HandlerError, OutMessage, QueueInvocation};
use visiobook_ports::{BlobKey, OutgoingMessage, StoreError};
use visiobook_runtime::{AppState, now_rfc3339};

/// Why a submission was refused or could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Rejected(#[from] visiobook_ingestion::IngestError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The owner's plan has no room for this render this month.
    #[error(transparent)]
    OverQuota(#[from] visiobook_runtime::billing::QuotaExceeded),
    /// The owner's plan does not include what the render asks for (a taller video).
    #[error("{0}")]
    NotInPlan(String),
}

impl From<visiobook_runtime::billing::MeterError> for SubmitError {
    fn from(error: visiobook_runtime::billing::MeterError) -> Self {
        match error {
            visiobook_runtime::billing::MeterError::OverQuota(error) => Self::OverQuota(error),
            visiobook_runtime::billing::MeterError::Store(error) => Self::Store(error),
        }
    }
}

/// Refuses render options that ask for more than `owner`'s plan includes.
pub async fn check_plan_allows(
    state: &AppState,
    owner: &str,
    options: Option<&AssemblyOptions>,
) -> Result<(), SubmitError> {
    let Some(preset_name) = options.and_then(|o| o.preset.as_deref()) else {
        return Ok(());
    };
    let Some(preset) = visiobook_assembly::Preset::named(preset_name) else {
        // An unknown preset is refused by the assembly configuration with its own message.
        return Ok(());
    };
    let plan_name = visiobook_runtime::billing::plan_of(state, owner).await?;
    let Some(plan) = visiobook_runtime::billing::find_plan(state, &plan_name).await? else {
        return Ok(());
    };
    if preset.height > plan.entitlements.max_resolution {
        return Err(SubmitError::NotInPlan(format!(
            "the {} preset renders {} pixels tall and the {} plan allows up to {}",
            preset_name, preset.height, plan.name, plan.entitlements.max_resolution
        )));
    }
    Ok(())
}

/// Stores an uploaded book, creates its status document and queues its ingestion.
///
/// The file is checked ([`visiobook_ingestion::preflight`]) before anything is stored. If queueing fails, the
/// blob and the status document are removed again so that nothing half-submitted remains.
pub async fn submit_book(
    state: &AppState,
    bytes: Bytes,
    file_name: Option<String>,
    language: Option<String>,
    owner: Option<String>,
) -> Result<BookStatus, SubmitError> {
    submit_book_with(
        state,
        bytes,
        file_name,
        language,
        owner,
        BookExtras::default(),
    )
    .await
}

/// What a project adds to a submission: its story-bible overrides (applied when analysis
/// runs) and its render options (read by assembly).
#[derive(Debug, Clone, Default)]
pub struct BookExtras {
    /// The project the book is rendered from (its notifications name it).
    pub project_id: Option<String>,
    pub overrides: Option<serde_json::Value>,
    pub options: Option<AssemblyOptions>,
}

/// [`submit_book`] with a project's overrides and render options, stored before the book is
/// queued so that every stage sees them.
pub async fn submit_book_with(
    state: &AppState,
    bytes: Bytes,
    file_name: Option<String>,
    language: Option<String>,
    owner: Option<String>,
    extras: BookExtras,
) -> Result<BookStatus, SubmitError> {
    // Check the file before keeping it, off the async workers (an EPUB is read in full, within
    // the configured limits).
    let options = ingest_options(&state.settings, language.clone());
    let checked = bytes.clone();
    let format =
        tokio::task::spawn_blocking(move || visiobook_ingestion::preflight(&checked, &options))
            .await
            .map_err(|error| {
                StoreError::unavailable(format!("the upload check stopped: {error}"))
            })??;
    let (format_name, content_type) = match format {
        visiobook_ingestion::Format::Text => ("text", "text/plain"),
        visiobook_ingestion::Format::Markdown => ("markdown", "text/markdown"),
        visiobook_ingestion::Format::Html => ("html", "text/html"),
        visiobook_ingestion::Format::Epub => ("epub", "application/epub+zip"),
        visiobook_ingestion::Format::Pdf => ("pdf", "application/pdf"),
        visiobook_ingestion::Format::Png => ("image", "image/png"),
        visiobook_ingestion::Format::Jpeg => ("image", "image/jpeg"),
        visiobook_ingestion::Format::Tiff => ("image", "image/tiff"),
    };
    let book_id = uuid::Uuid::new_v4().simple().to_string();
    // The upload request's id when there is one, so its log records and the stages' share it.
    let correlation_id = visiobook_runtime::http::current_request_id()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let key = BlobKey::parse(&source_key(&book_id))?;
    let size_bytes = bytes.len() as u64;
    // Admission: the plan must allow the options, and the month must have room for the book
    // and its estimated narration, before anything is stored or queued.
    if let Some(owner) = &owner {
        check_plan_allows(state, owner, extras.options.as_ref()).await?;
        let estimate = visiobook_runtime::billing::estimate_minutes(content_type, size_bytes);
        visiobook_runtime::billing::reserve(state, owner, &book_id, estimate).await?;
    }
    if let Err(error) = state.blobs.put(&key, bytes, content_type).await {
        if let Some(owner) = &owner {
            let _ = visiobook_runtime::billing::release(state, owner, &book_id).await;
        }
        return Err(error.into());
    }
    let status = BookStatus::new(
        book_id.clone(),
        SourceRef {
            blob_key: key.to_string(),
            file_name,
            size_bytes,
            content_type: content_type.to_owned(),
            format: Some(format_name.to_owned()),
            language,
        },
        correlation_id.clone(),
        now_rfc3339(),
    );
    let status = BookStatus {
        owner: owner.clone(),
        project_id: extras.project_id.clone(),
        ..status
    };
    let stored = async {
        let body = visiobook_ports::document::to_body(&status)?;
        state
            .documents
            .create(BOOKS_CONTAINER, &book_id, &book_id, body)
            .await?;
        if let Some(owner) = &owner {
            let entry = serde_json::json!({ "book_id": book_id, "created_at": status.created_at });
            state
                .documents
                .create(OWNED_BOOKS_CONTAINER, owner, &book_id, entry)
                .await?;
        }
        if let Some(overrides) = &extras.overrides {
            state
                .documents
                .upsert(OVERRIDES_CONTAINER, &book_id, &book_id, overrides.clone())
                .await?;
        }
        if let Some(options) = &extras.options {
            state
                .documents
                .upsert(
                    ASSEMBLY_OPTIONS_CONTAINER,
                    &book_id,
                    &book_id,
                    visiobook_ports::document::to_body(options)?,
                )
                .await?;
        }
        let message = StageMessage {
            book_id: book_id.clone(),
            correlation_id: correlation_id.clone(),
        };
        state
            .queue
            .send(
                Stage::Ingestion.queue(),
                outgoing(&message, Stage::Ingestion)?,
            )
            .await?;
        Ok::<(), StoreError>(())
    }
    .await;
    if let Err(error) = stored {
        // Best effort: the caller gets the error either way and may retry.
        let _ = state
            .documents
            .delete(BOOKS_CONTAINER, &book_id, &book_id, None)
            .await;
        if let Some(owner) = &owner {
            let _ = state
                .documents
                .delete(OWNED_BOOKS_CONTAINER, owner, &book_id, None)
                .await;
            let _ = visiobook_runtime::billing::release(state, owner, &book_id).await;
        }
        let _ = state.blobs.delete(&key).await;
        return Err(error.into());
    }
    state.metrics.book_event("uploaded");
    visiobook_runtime::analytics::record(
        state,
        "book.submitted",
        owner.as_deref(),
        serde_json::json!({ "book_id": book_id, "format": format_name, "size_bytes": size_bytes }),
    )
    .await;
    tracing::info!(book.id = %book_id, correlation.id = %correlation_id, size_bytes, "book submitted");
    Ok(status)
}

/// The ingestion options the settings describe, for a book in `language` (or detected).
pub fn ingest_options(
    settings: &visiobook_runtime::Settings,
    language: Option<String>,
) -> visiobook_ingestion::IngestOptions {
    visiobook_ingestion::IngestOptions {
        language,
        limits: visiobook_ingestion::Limits {
            max_pages: settings.max_pages,
            max_decompressed_bytes: settings.max_decompressed_bytes,
            max_archive_entries: settings.max_archive_entries,
            ..visiobook_ingestion::Limits::default()
        },
        tools: visiobook_ingestion::Tools {
            tesseract: settings.tesseract.clone(),
            pdftoppm: settings.pdftoppm.clone(),
            ocr_jobs: settings.ocr_jobs,
        },
    }
}

/// The sentence-embedding model, loaded once per process; `None` when its assets are not
/// installed or fail to load (the analysis then says so in its warnings).
pub fn embedder(
    settings: &visiobook_runtime::Settings,
) -> Option<&'static visiobook_analysis::embedding::Embedder> {
    static EMBEDDER: std::sync::OnceLock<Option<visiobook_analysis::embedding::Embedder>> =
        std::sync::OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let assets = visiobook_analysis::embedding::EmbeddingAssets::discover(&settings.models_dir)?;
            match visiobook_analysis::embedding::Embedder::load(&assets) {
                Ok(embedder) => {
                    tracing::info!(models_dir = %settings.models_dir.display(), "sentence embeddings loaded");
                    Some(embedder)
                }
                Err(error) => {
                    tracing::warn!(error = %error, "sentence embeddings unavailable; analysis uses word overlap");
                    None
                }
            }
        })
        .as_ref()
}

/// The Piper voice, loaded once per process; `None` when it is not installed or fails to load.
pub fn piper(
    settings: &visiobook_runtime::Settings,
) -> Option<std::sync::Arc<visiobook_generation::speech::piper::Piper>> {
    use visiobook_generation::speech::piper::{Piper, PiperAssets};
    static PIPER: std::sync::OnceLock<Option<std::sync::Arc<Piper>>> = std::sync::OnceLock::new();
    PIPER
        .get_or_init(|| {
            let assets = PiperAssets::discover(&settings.models_dir)?;
            let runtime = settings
                .models_dir
                .join(visiobook_analysis::embedding::RUNTIME_FILE);
            let loaded = visiobook_analysis::embedding::environment(&runtime)
                .map_err(|error| error.to_string())
                .and_then(|environment| {
                    Piper::load(&environment, &assets, &settings.espeak)
                        .map_err(|error| error.to_string())
                });
            match loaded {
                Ok(piper) => {
                    tracing::info!(model = %assets.model.display(), "Piper voice loaded");
                    Some(std::sync::Arc::new(piper))
                }
                Err(error) => {
                    tracing::warn!(%error, "the Piper voice is unavailable; narration uses espeak-ng");
                    None
                }
            }
        })
        .clone()
}

/// The engines the settings choose for a book in `language`.
pub async fn generation_engines(
    settings: &visiobook_runtime::Settings,
    language: &str,
) -> Result<visiobook_generation::Engines, visiobook_generation::GenerationError> {
    use std::sync::Arc;
    use visiobook_generation::images::{ImageEngine, OpenAiImages, Procedural};
    use visiobook_generation::speech::{self, SpeechEngine};
    use visiobook_runtime::settings::{ImageEngineSetting, SpeechEngineSetting};
    let english = speech::primary_language(language) == "en";
    let speech: Arc<dyn SpeechEngine> = match &settings.speech_engine {
        SpeechEngineSetting::Auto | SpeechEngineSetting::Piper => {
            match (english, piper(settings)) {
                (true, Some(piper)) => piper,
                _ => Arc::new(speech::espeak::Espeak::new(&settings.espeak).await?),
            }
        }
        SpeechEngineSetting::Espeak => {
            Arc::new(speech::espeak::Espeak::new(&settings.espeak).await?)
        }
        SpeechEngineSetting::AzureSpeech { endpoint, key } => {
            Arc::new(speech::azure::AzureSpeech::new(endpoint, key.expose()))
        }
        SpeechEngineSetting::OpenAi {
            endpoint,
            api_key,
            model,
        } => Arc::new(speech::openai::OpenAiSpeech::new(
            endpoint,
            api_key
                .as_ref()
                .map(visiobook_runtime::settings::Secret::expose),
            model,
        )),
    };
    let images: Arc<dyn ImageEngine> = match &settings.image_engine {
        ImageEngineSetting::Procedural => Arc::new(Procedural),
        ImageEngineSetting::OpenAi {
            endpoint,
            api_key,
            model,
            azure_api_version,
        } => {
            let key = api_key
                .as_ref()
                .map(visiobook_runtime::settings::Secret::expose);
            Arc::new(match azure_api_version {
                Some(version) => OpenAiImages::azure(endpoint, key, model, version),
                None => OpenAiImages::openai(endpoint, key, model),
            })
        }
    };
    Ok(visiobook_generation::Engines { speech, images })
}

/// How the settings size and pace a generation run.
pub fn generation_config(
    settings: &visiobook_runtime::Settings,
) -> visiobook_generation::GenerationConfig {
    let (width, height) = settings.render_preset.size();
    let remote = matches!(
        settings.speech_engine,
        visiobook_runtime::settings::SpeechEngineSetting::AzureSpeech { .. }
            | visiobook_runtime::settings::SpeechEngineSetting::OpenAi { .. }
    );
    visiobook_generation::GenerationConfig {
        width,
        height,
        speech_concurrency: if remote { 4 } else { 1 },
    }
}

/// The stored `analysis.v1` of an uploaded book.
pub async fn stored_analysis(
    state: &visiobook_runtime::AppState,
    caller: &visiobook_runtime::Caller,
    id: &str,
) -> Result<visiobook_domain::Analysis, visiobook_runtime::ApiError> {
    use visiobook_runtime::ApiError;
    let not_found = || ApiError::not_found("book_not_found", format!("no book with id {id:?}"));
    if !visiobook_domain::status::is_book_id(id) {
        return Err(not_found());
    }
    crate::load_status_for(state, caller, id)
        .await?
        .ok_or_else(not_found)?;
    match state
        .blobs
        .get(&visiobook_ports::BlobKey::parse(
            &visiobook_domain::artifacts::analysis_key(id),
        )?)
        .await
    {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(ApiError::internal),
        Err(error) if error.kind == visiobook_ports::ErrorKind::NotFound => {
            Err(ApiError::conflict(
                "not_analysed",
                "the book has not been analysed yet; see /api/v1/analysis/status/{id}",
            ))
        }
        Err(error) => Err(error.into()),
    }
}

/// Where a book's render options live (set by `POST /api/v1/assembly/render-final`).
pub const ASSEMBLY_OPTIONS_CONTAINER: &str = "assembly-options";

/// How a user wants a book rendered; what is absent comes from the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssemblyOptions {
    /// `preview`, `standard` or `final`.
    #[serde(default)]
    pub preset: Option<String>,
    /// Export names (`mp4`, `webm`, `gif`, `m4b`, `srt`, `vtt`, `epub`, `storyboard`).
    #[serde(default)]
    pub formats: Option<Vec<String>>,
    #[serde(default)]
    pub burn_subtitles: Option<bool>,
}

/// How assembly renders, from the settings and the book's options; an unknown preset or export
/// name is an error.
pub fn assembly_config(
    settings: &visiobook_runtime::Settings,
    options: Option<&AssemblyOptions>,
) -> Result<visiobook_assembly::AssemblyConfig, String> {
    let preset_name = options
        .and_then(|o| o.preset.as_deref())
        .unwrap_or(settings.render_preset.name());
    let preset = visiobook_assembly::Preset::named(preset_name).ok_or_else(|| {
        format!("{preset_name:?} is not a render preset (preview, standard or final)")
    })?;
    let formats = match options.and_then(|o| o.formats.as_ref()) {
        Some(formats) => visiobook_assembly::Format::parse_list(&formats.join(","))?,
        None => visiobook_assembly::Format::parse_list(&settings.export_formats)?,
    };
    Ok(visiobook_assembly::AssemblyConfig {
        ffmpeg: settings.ffmpeg.clone(),
        preset,
        formats,
        burn_subtitles: options
            .and_then(|o| o.burn_subtitles)
            .unwrap_or(settings.burn_subtitles),
        jobs: settings.render_jobs,
        modified: visiobook_runtime::now_rfc3339()
            .split('.')
            .next()
            .map(|seconds| format!("{}Z", seconds.trim_end_matches('Z')))
            .unwrap_or_default(),
    })
}

/// Why a book cannot be rendered again.
#[derive(Debug, thiserror::Error)]
pub enum RerenderError {
    #[error("no book with id {0:?}")]
    NotFound(String),
    #[error("the book is not ready to render again (it is {0:?})")]
    NotReady(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotInPlan(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Renders a finished book again with `options` (a higher preset, other exports): the options
/// are stored for the assembly stage, which is reopened and sent a new message.
pub async fn render_again(
    state: &AppState,
    book_id: &str,
    options: AssemblyOptions,
) -> Result<BookStatus, RerenderError> {
    assembly_config(&state.settings, Some(&options)).map_err(RerenderError::Invalid)?;
    let status = load_status(state, book_id)
        .await?
        .ok_or_else(|| RerenderError::NotFound(book_id.to_owned()))?;
    if let Some(owner) = &status.owner {
        match check_plan_allows(state, owner, Some(&options)).await {
            Ok(()) => {}
            Err(SubmitError::NotInPlan(reason)) => return Err(RerenderError::NotInPlan(reason)),
            Err(SubmitError::Store(error)) => return Err(error.into()),
            Err(other) => return Err(RerenderError::Invalid(other.to_string())),
        }
    }
    let assembling_failed = status.state == visiobook_domain::BookState::Failed
        && status.error.as_ref().map(|e| e.stage) == Some(Stage::Assembly);
    if status.state != visiobook_domain::BookState::Ready && !assembling_failed {
        return Err(RerenderError::NotReady(
            format!("{:?}", status.state).to_lowercase(),
        ));
    }
    let body = visiobook_ports::document::to_body(&options)?;
    state
        .documents
        .upsert(ASSEMBLY_OPTIONS_CONTAINER, book_id, book_id, body)
        .await?;
    let reopened = update_status(state, book_id, |status| {
        status.reopen_stage(Stage::Assembly, &now_rfc3339());
    })
    .await?
    .ok_or_else(|| RerenderError::NotFound(book_id.to_owned()))?;
    let message = StageMessage {
        book_id: book_id.to_owned(),
        correlation_id: status.correlation_id.clone(),
    };
    let mut outgoing = outgoing(&message, Stage::Assembly)?;
    // A new id: the first render's message id is remembered by duplicate detection.
    outgoing.message_id = format!(
        "{}-{}",
        message.message_id(Stage::Assembly),
        uuid::Uuid::new_v4().simple()
    );
    state.queue.send(Stage::Assembly.queue(), outgoing).await?;
    tracing::info!(book.id = %book_id, ?options, "render requested again");
    Ok(reopened)
}

/// The LLM engine's configuration when the settings choose it.
pub fn llm_config(
    settings: &visiobook_runtime::Settings,
) -> Option<visiobook_analysis::llm::LlmConfig> {
    match &settings.analysis_engine {
        visiobook_runtime::settings::AnalysisEngine::Local => None,
        visiobook_runtime::settings::AnalysisEngine::Llm {
            endpoint,
            api_key,
            model,
            azure_api_version,
        } => Some(visiobook_analysis::llm::LlmConfig {
            endpoint: endpoint.clone(),
            api_key: api_key.as_ref().map(|key| key.expose().to_owned()),
            model: model.clone(),
            azure_api_version: azure_api_version.clone(),
            max_attempts: 3,
            timeout: std::time::Duration::from_secs(60),
        }),
    }
}

/// The handler of a stage's queue, for the function registry and the job runner.
pub async fn stage_handler(
    stage: Stage,
    state: AppState,
    invocation: QueueInvocation,
) -> Result<Vec<OutMessage>, HandlerError> {
    run_stage(&state, stage, &invocation).await
}

fn outgoing(message: &StageMessage, stage: Stage) -> Result<OutgoingMessage, StoreError> {
    let body = serde_json::to_vec(message)
        .map_err(|error| StoreError::invalid(format!("stage message: {error}")))?;
    let mut outgoing = OutgoingMessage::new(message.message_id(stage), body);
    outgoing.correlation_id = Some(message.correlation_id.clone());
    Ok(outgoing)
}
