//! One delivery of one stage's message: guard, run, record, hand over to the next stage.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use visiobook_domain::BookStatus;
use visiobook_domain::artifacts::{
    MediaManifest, analysis_key, book_key, media_key, source_key, timeline_key,
};
use visiobook_domain::status::{BookState, OutputRef};
use visiobook_domain::{Analysis, Book, Stage, StageMessage};
use visiobook_host::{HandlerError, OutMessage, QueueInvocation};
use visiobook_ports::{BlobKey, BlobStore, StoreError};
use visiobook_runtime::metrics::StageLabels;
use visiobook_runtime::notify::{self, Notification};
use visiobook_runtime::{AppState, now_rfc3339};
use visiobook_runtime::{analytics, billing};

use crate::status::{load_status, update_status};

/// What a finished stage reports.
#[derive(Debug, Default)]
struct StageResult {
    counts: BTreeMap<String, u64>,
    outputs: Vec<(String, OutputRef)>,
    title: Option<String>,
}

/// Runs `stage` for the book named in the message. Returns the next stage's message.
pub async fn run_stage(
    state: &AppState,
    stage: Stage,
    invocation: &QueueInvocation,
) -> Result<Vec<OutMessage>, HandlerError> {
    let message: StageMessage = serde_json::from_slice(&invocation.body)
        .context("the message body is not a stage message")?;
    let book_id = message.book_id.as_str();
    let Some(status) = load_status(state, book_id).await? else {
        tracing::warn!(book.id = book_id, "book no longer exists; message dropped");
        return Ok(Vec::new());
    };
    if status.state == BookState::Failed {
        tracing::warn!(book.id = book_id, "book already failed; message dropped");
        return Ok(Vec::new());
    }
    if status.is_done(stage) {
        tracing::info!(book.id = book_id, stage = %stage, "stage already done; handing over again");
        // A job killed after finishing the book but before charging it charges it now (once).
        if status.state == BookState::Ready {
            close_billing(state, &status).await?;
        }
        return Ok(next_message(stage, &message));
    }

    if let Some(status) = update_status(state, book_id, |status| {
        status.start_stage(stage, &now_rfc3339())
    })
    .await?
    {
        let run = run_key(&status, stage);
        analytics::record(
            state,
            "stage.started",
            status.owner.as_deref(),
            serde_json::json!({ "book_id": book_id, "stage": stage.to_string() }),
        )
        .await;
        let message = format!("{stage} started");
        notify(
            state,
            &status,
            "stage.started",
            stage,
            message,
            format!("{run}:started"),
        )
        .await;
    }
    let started = Instant::now();
    let (progress_sender, progress_task) =
        progress_reporter(state.clone(), book_id.to_owned(), stage);
    let units_sender = progress_sender.clone();
    let progress: Arc<dyn Fn(f64) + Send + Sync> = Arc::new(move |fraction: f64| {
        progress_sender.send_replace(Report {
            fraction,
            units: None,
        });
    });
    let units: Arc<dyn Fn(u32, u32, &'static str) + Send + Sync> =
        Arc::new(move |done, total, unit| {
            units_sender.send_replace(Report {
                fraction: f64::from(done) / f64::from(total.max(1)),
                units: Some((done, total, unit)),
            });
        });
    let result = execute(state, stage, book_id, &status, progress, units).await;
    // The reporter ends once the sender is gone; wait so its last write lands first.
    let _ = progress_task.await;
    let elapsed = started.elapsed();

    match result {
        Ok(result) => {
            let duration_ms = elapsed.as_millis() as u64;
            let finished = update_status(state, book_id, |status| {
                status.finish_stage(stage, &now_rfc3339(), duration_ms, result.counts.clone());
                for (name, output) in &result.outputs {
                    status.outputs.insert(name.clone(), output.clone());
                }
                if let Some(title) = &result.title {
                    status.title = Some(title.clone());
                }
            })
            .await?;
            state
                .metrics
                .stage_duration
                .get_or_create(&StageLabels {
                    stage: stage.to_string(),
                })
                .observe(elapsed.as_secs_f64());
            record_business_metrics(state, stage, &status, &result.counts, elapsed);
            if let Some(status) = &finished {
                let done = status
                    .record(stage)
                    .and_then(|record| record.finished_at.clone())
                    .unwrap_or_default();
                let key = format!("{book_id}:{stage}:{done}");
                let message = format!("{stage} finished");
                notify(
                    state,
                    status,
                    "stage.finished",
                    stage,
                    message,
                    format!("{key}:finished"),
                )
                .await;
                if status.state == BookState::Ready {
                    close_billing(state, status).await?;
                    record_ready(state, status).await;
                    state.metrics.book_event("ready");
                    let title = status.title.as_deref().unwrap_or("your book");
                    let message = format!("{title} is ready");
                    notify(
                        state,
                        status,
                        "book.ready",
                        stage,
                        message,
                        format!("{key}:ready"),
                    )
                    .await;
                }
            }
            tracing::info!(book.id = book_id, stage = %stage, duration_ms, "stage finished");
            Ok(next_message(stage, &message))
        }
        Err(error) => {
            let reason = format!("{error:#}");
            // A file that cannot be read will not become readable on a retry: fail the book
            // now and settle the message, instead of burning every delivery.
            let permanent = error
                .downcast_ref::<PermanentFailure>()
                .map(|failure| failure.code);
            let final_delivery = permanent.is_some() || invocation.is_final_delivery();
            if let Some(status) = update_status(state, book_id, |status| {
                status.fail(stage, permanent, &reason, final_delivery, &now_rfc3339());
            })
            .await?
            {
                let run = run_key(&status, stage);
                let (kind, message) = if final_delivery {
                    let code = permanent.unwrap_or("stage_failed");
                    (
                        "book.failed",
                        format!("{stage} failed ({code}); the book was not finished"),
                    )
                } else {
                    (
                        "stage.retrying",
                        format!("{stage} failed; it will be retried"),
                    )
                };
                notify(
                    state,
                    &status,
                    kind,
                    stage,
                    message,
                    format!("{run}:failed"),
                )
                .await;
            }
            state.metrics.error("stage_failure");
            analytics::record(
                state,
                "stage.failed",
                status.owner.as_deref(),
                serde_json::json!({ "book_id": book_id, "stage": stage.to_string(), "final": final_delivery }),
            )
            .await;
            if final_delivery && let Some(status) = load_status(state, book_id).await? {
                close_billing(state, &status).await?;
                analytics::record(
                    state,
                    "book.failed",
                    status.owner.as_deref(),
                    serde_json::json!({ "book_id": book_id, "stage": stage.to_string() }),
                )
                .await;
            }
            if final_delivery {
                state.metrics.book_event("failed");
                state.metrics.error("book_failed");
                if stage == Stage::Ingestion {
                    count_content(state, &status, "failure");
                }
            }
            if permanent.is_some() {
                tracing::warn!(book.id = book_id, stage = %stage, reason = %reason, "book cannot be processed");
                return Ok(Vec::new());
            }
            Err(HandlerError(error))
        }
    }
}

fn next_message(stage: Stage, message: &StageMessage) -> Vec<OutMessage> {
    let Some(next) = stage.next() else {
        return Vec::new();
    };
    let body = serde_json::json!({
        "book_id": message.book_id,
        "correlation_id": message.correlation_id,
    });
    vec![OutMessage {
        queue: next.queue().to_owned(),
        message_id: message.message_id(next),
        body,
        correlation_id: Some(message.correlation_id.clone()),
    }]
}

/// Publishes a stage's progress into the status document at most twice a second.
fn progress_reporter(
    state: AppState,
    book_id: String,
    stage: Stage,
) -> (
    Arc<tokio::sync::watch::Sender<Report>>,
    tokio::task::JoinHandle<()>,
) {
    let (sender, mut receiver) = tokio::sync::watch::channel(Report::default());
    let started = Instant::now();
    let task = tokio::spawn(async move {
        let mut last_tenth = 0u8;
        while receiver.changed().await.is_ok() {
            let report = receiver.borrow_and_update().clone();
            let now = now_rfc3339();
            // The pace so far, once there is enough of it to go by.
            let elapsed = started.elapsed().as_secs_f64();
            let eta = (report.fraction > 0.02 && elapsed > 1.0)
                .then(|| (elapsed * (1.0 - report.fraction) / report.fraction).round() as u64);
            // Progress is advisory: a failed write is retried by the next report.
            match update_status(&state, &book_id, |status| {
                if let Some((done, total, unit)) = &report.units {
                    status.progress_units(stage, *done, *total, unit, &now);
                }
                status.progress_with_eta(stage, report.fraction, eta, &now);
            })
            .await
            {
                Ok(Some(status)) => {
                    // One notification per tenth of the stage, not per write.
                    let tenth = (report.fraction.clamp(0.0, 1.0) * 10.0).floor() as u8;
                    if tenth > last_tenth && tenth < 10 {
                        last_tenth = tenth;
                        let run = run_key(&status, stage);
                        let message = format!("{stage} {}% done", u32::from(tenth) * 10);
                        let key = format!("{run}:p{tenth}");
                        notify(&state, &status, "stage.progress", stage, message, key).await;
                    }
                }
                Ok(None) => {}
                Err(error) => tracing::debug!(error = %error, "progress not recorded"),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    });
    (Arc::new(sender), task)
}

/// The seed's business series for a finished stage.
fn record_business_metrics(
    state: &AppState,
    stage: Stage,
    status: &BookStatus,
    counts: &BTreeMap<String, u64>,
    elapsed: Duration,
) {
    use visiobook_runtime::metrics::ModelLabels;
    use visiobook_runtime::settings::{AnalysisEngine, SpeechEngineSetting};
    let settings = &state.settings;
    let model = match stage {
        Stage::Analysis => Some(match settings.analysis_engine {
            AnalysisEngine::Local => "analysis-local",
            AnalysisEngine::Llm { .. } => "analysis-llm",
        }),
        Stage::Generation => Some(match settings.speech_engine {
            SpeechEngineSetting::Auto => "generation-auto",
            SpeechEngineSetting::Piper => "generation-piper",
            SpeechEngineSetting::Espeak => "generation-espeak",
            SpeechEngineSetting::AzureSpeech { .. } => "generation-azure-speech",
            SpeechEngineSetting::OpenAi { .. } => "generation-openai",
        }),
        _ => None,
    };
    if let Some(model) = model {
        state
            .metrics
            .model_inference
            .get_or_create(&ModelLabels {
                model: model.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }
    match stage {
        Stage::Ingestion => count_content(state, status, "success"),
        Stage::Assembly => state
            .metrics
            .animations_generated
            .inc_by(counts.get("segments_encoded").copied().unwrap_or(0)),
        _ => 0,
    };
}

fn count_content(state: &AppState, status: &BookStatus, outcome: &str) -> u64 {
    state
        .metrics
        .content_processed
        .get_or_create(&visiobook_runtime::metrics::ContentLabels {
            format: status
                .source
                .format
                .clone()
                .unwrap_or_else(|| "unknown".into()),
            outcome: outcome.to_owned(),
        })
        .inc()
}

/// Identifies one run of a stage (a redelivery after a crash is a new run).
fn run_key(status: &BookStatus, stage: Stage) -> String {
    let started = status
        .record(stage)
        .and_then(|record| record.started_at.clone())
        .unwrap_or_default();
    format!("{}:{stage}:{started}", status.id)
}

/// Settles a ready book's reservation with the minutes narrated, or releases a failed book's;
/// idempotent, so a redelivery or a resumed job never charges twice. Books without an owner
/// are not metered.
async fn close_billing(state: &AppState, status: &BookStatus) -> Result<(), StoreError> {
    let Some(owner) = &status.owner else {
        return Ok(());
    };
    let closed = match status.state {
        BookState::Ready => {
            let narration_ms = status
                .record(Stage::Generation)
                .and_then(|record| record.counts.get("narration_ms").copied())
                .unwrap_or(0);
            let minutes = u32::try_from(narration_ms.div_ceil(60_000)).unwrap_or(u32::MAX);
            billing::settle(state, owner, &status.id, minutes).await?
        }
        BookState::Failed => billing::release(state, owner, &status.id).await?,
        _ => return Ok(()),
    };
    tracing::info!(book.id = %status.id, state = ?status.state, ?closed, "usage closed");
    Ok(())
}

/// The `book.ready` analytics event: how long the video is and how long the book took from
/// upload to video.
async fn record_ready(state: &AppState, status: &BookStatus) {
    let video_ms = status
        .record(Stage::Assembly)
        .and_then(|record| record.counts.get("duration_ms").copied())
        .unwrap_or(0);
    let waited = chrono::DateTime::parse_from_rfc3339(&status.created_at)
        .map(|created| {
            (chrono::Utc::now() - created.with_timezone(&chrono::Utc)).num_milliseconds()
        })
        .unwrap_or(0);
    analytics::record(
        state,
        "book.ready",
        status.owner.as_deref(),
        serde_json::json!({
            "book_id": status.id,
            "video_seconds": video_ms as f64 / 1000.0,
            "upload_to_video_seconds": waited.max(0) as f64 / 1000.0,
        }),
    )
    .await;
}

/// Tells the book's owner what happened, once per `dedupe_key`. Books without an owner
/// (rendered from the command line) notify nobody. Advisory: a failure is logged.
async fn notify(
    state: &AppState,
    status: &BookStatus,
    kind: &str,
    stage: Stage,
    message: String,
    dedupe_key: String,
) {
    let Some(owner) = &status.owner else {
        return;
    };
    let mut event = Notification::new(owner, kind, message);
    event.book_id = Some(status.id.clone());
    event.project_id = status.project_id.clone();
    event.stage = Some(stage.to_string());
    event.percent = Some(status.percent);
    event.eta_seconds = status.record(stage).and_then(|record| record.eta_seconds);
    let mut links = serde_json::json!({
        "status": format!("/api/v1/content/status/{}", status.id),
        "progress": format!("/api/v1/notifications/progress/{}", status.id),
    });
    if status.state == BookState::Ready && status.outputs.contains_key("video") {
        links["video"] = serde_json::json!(format!("/api/v1/assembly/export/mp4?id={}", status.id));
    }
    event.links = links;
    if let Err(error) = notify::publish(state, &event, Some(&dedupe_key)).await {
        tracing::warn!(%error, book.id = %status.id, kind, "notification not published");
    }
}

/// The latest progress of a running stage.
#[derive(Debug, Clone, Default)]
struct Report {
    fraction: f64,
    /// `(done, total, unit)` when the stage counts units.
    units: Option<(u32, u32, &'static str)>,
}

/// A failure that retrying cannot fix (the input itself is unreadable), with its stable code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct PermanentFailure {
    code: &'static str,
    message: String,
}

async fn execute(
    state: &AppState,
    stage: Stage,
    book_id: &str,
    status: &visiobook_domain::BookStatus,
    progress_handle: Arc<dyn Fn(f64) + Send + Sync>,
    units: Arc<dyn Fn(u32, u32, &'static str) + Send + Sync>,
) -> anyhow::Result<StageResult> {
    let progress: &(dyn Fn(f64) + Send + Sync) = progress_handle.as_ref();
    let blobs = state.blobs.as_ref();
    let settings = &state.settings;
    let mut result = StageResult::default();
    match stage {
        Stage::Ingestion => {
            let bytes = blobs.get(&BlobKey::parse(&source_key(book_id))?).await?;
            let options = crate::ingest_options(settings, status.source.language.clone());
            // Reading a book is CPU-bound (and may wait on OCR processes): keep it off the
            // async workers.
            let unit = match status.source.format.as_deref() {
                Some("pdf" | "image") => "pages",
                Some("epub") => "items",
                _ => "parts",
            };
            let book = tokio::task::spawn_blocking(move || {
                let report = move |done: u32, total: u32| units(done, total, unit);
                visiobook_ingestion::ingest(&bytes, &options, &report)
            })
            .await
            .context("the ingestion task stopped")?
            .map_err(|error| match error.is_permanent() {
                true => anyhow::Error::new(PermanentFailure {
                    code: error.code(),
                    message: error.to_string(),
                }),
                false => anyhow::Error::new(error),
            })?;
            let mut book = book;
            if let Some(warning) = name_mismatch(
                status.source.file_name.as_deref(),
                status.source.format.as_deref(),
            ) {
                book.warnings.push(warning);
            }
            result.title = Some(book.title.clone());
            let body_chapters = book
                .chapters
                .iter()
                .filter(|chapter| chapter.matter == visiobook_domain::Matter::Body)
                .count();
            count(&mut result, "chapters", body_chapters);
            count(
                &mut result,
                "paragraphs",
                book.chapters.iter().map(|c| c.paragraphs.len()).sum(),
            );
            count(&mut result, "words", book.word_count);
            let output = put_json(blobs, &book_key(book_id), &book).await?;
            result.outputs.push(("book".into(), output));
        }
        Stage::Analysis => {
            let book_bytes = blobs.get(&BlobKey::parse(&book_key(book_id))?).await?;
            let book: Book =
                serde_json::from_slice(&book_bytes).context("book.v1 is not a valid artifact")?;
            // The same book with the same engine gives the same analysis: reuse it.
            let embedder = crate::embedder(settings);
            let llm = crate::llm_config(settings);
            let engine = match (&llm, embedder.is_some()) {
                (Some(config), _) => format!("llm:{}:{}", config.endpoint, config.model),
                (None, true) => "local+embeddings".to_owned(),
                (None, false) => "local".to_owned(),
            };
            let cache = BlobKey::parse(&visiobook_domain::artifacts::cache_key(
                "analysis",
                &content_hash(&[
                    ANALYSIS_ENGINE_VERSION,
                    &engine,
                    &String::from_utf8_lossy(&book_bytes),
                ]),
                "json",
            ))?;
            let analysis: Analysis = match blobs.get(&cache).await {
                Ok(bytes) => {
                    result.counts.insert("cached".into(), 1);
                    serde_json::from_slice(&bytes).context("cached analysis is not valid")?
                }
                Err(error) if error.kind == visiobook_ports::ErrorKind::NotFound => {
                    let for_local = book.clone();
                    let local = tokio::task::spawn_blocking(move || {
                        let report = move |done: u32, total: u32| units(done, total, "chapters");
                        visiobook_analysis::analyse_with(
                            &for_local,
                            visiobook_analysis::AnalysisOptions {
                                embedder,
                                progress: Some(&report),
                            },
                        )
                    })
                    .await
                    .context("the analysis task stopped")?;
                    let analysis = match &llm {
                        Some(config) => {
                            visiobook_analysis::llm::enrich(
                                local,
                                &book,
                                config,
                                &reqwest::Client::new(),
                            )
                            .await
                        }
                        None => local,
                    };
                    put_json(blobs, cache.as_str(), &analysis).await?;
                    analysis
                }
                Err(error) => return Err(error.into()),
            };
            result.outputs.push((
                "analysis_raw".into(),
                OutputRef {
                    blob_key: cache.to_string(),
                    content_type: "application/json".into(),
                    size_bytes: 0,
                    duration_ms: None,
                },
            ));
            // The user's corrections to the story bible apply on top of any engine's result.
            let analysis = match visiobook_ports::document::read_typed::<
                visiobook_analysis::overrides::StoryOverrides,
            >(
                state.documents.as_ref(),
                crate::OVERRIDES_CONTAINER,
                book_id,
                book_id,
            )
            .await?
            {
                Some((overrides, _)) => {
                    match visiobook_analysis::overrides::apply(analysis.clone(), &overrides) {
                        Ok(applied) => applied,
                        Err(error) => {
                            let mut analysis = analysis;
                            analysis.warnings.push(visiobook_domain::Warning::new(
                                "overrides_skipped",
                                error.to_string(),
                            ));
                            analysis
                        }
                    }
                }
                None => analysis,
            };
            count(&mut result, "characters", analysis.characters.len());
            count(&mut result, "scenes", analysis.scenes.len());
            let output = put_json(blobs, &analysis_key(book_id), &analysis).await?;
            result.outputs.push(("analysis".into(), output));
        }
        Stage::Generation => {
            let analysis: Analysis = get_json(blobs, &analysis_key(book_id)).await?;
            let config = crate::generation_config(settings);
            let permanent = |error: visiobook_generation::GenerationError| {
                if error.is_transient() {
                    anyhow::Error::new(error)
                } else {
                    anyhow::Error::new(PermanentFailure {
                        code: "generation_failed",
                        message: error.to_string(),
                    })
                }
            };
            let engines = crate::generation_engines(settings, &analysis.language)
                .await
                .map_err(permanent)?;
            let estimate = visiobook_generation::estimate(blobs, &analysis, &engines, &config)
                .await
                .map_err(permanent)?;
            tracing::info!(
                book.id = %book_id,
                sentences = estimate.sentences_to_synthesise,
                characters = estimate.characters_to_synthesise,
                images = estimate.images_to_draw,
                "generation planned"
            );
            let report_units = move |done: u64, total: u64| {
                units(
                    u32::try_from(done).unwrap_or(u32::MAX),
                    u32::try_from(total).unwrap_or(u32::MAX),
                    "scenes",
                );
            };
            let report =
                visiobook_generation::generate(blobs, &analysis, &engines, &config, &report_units)
                    .await
                    .map_err(permanent)?;
            let counts = &report.counts;
            count(&mut result, "scenes", report.manifest.scenes.len());
            for (name, value) in [
                ("sentences_synthesised", counts.sentences_synthesised),
                ("sentences_reused", counts.sentences_reused),
                ("sentences_flagged", counts.sentences_flagged),
                ("images_drawn", counts.images_drawn),
                ("images_reused", counts.images_reused),
                ("mixes_made", counts.mixes_made),
                ("mixes_reused", counts.mixes_reused),
                ("characters_planned", estimate.characters_to_synthesise),
                ("narration_ms", report.manifest.narration_ms),
            ] {
                result.counts.insert(name.into(), value);
            }
            state
                .metrics
                .narration_seconds
                .inc_by(report.manifest.narration_ms as f64 / 1000.0);
            let output = put_json(blobs, &media_key(book_id), &report.manifest).await?;
            result.outputs.push(("media".into(), output));
        }
        Stage::Assembly => {
            let manifest: MediaManifest = get_json(blobs, &media_key(book_id)).await?;
            let analysis: Analysis = get_json(blobs, &analysis_key(book_id)).await?;
            let book: Book = get_json(blobs, &book_key(book_id)).await?;
            let options = visiobook_ports::document::read_typed::<crate::AssemblyOptions>(
                state.documents.as_ref(),
                crate::ASSEMBLY_OPTIONS_CONTAINER,
                book_id,
                book_id,
            )
            .await?
            .map(|(options, _)| options);
            let config = crate::assembly_config(settings, options.as_ref()).map_err(|message| {
                anyhow::Error::new(PermanentFailure {
                    code: "invalid_export",
                    message,
                })
            })?;
            let timeline = visiobook_assembly::build_timeline(
                &analysis,
                book.author.as_deref(),
                &manifest,
                config.preset.canvas(),
            );
            let timeline_output = put_json(blobs, &timeline_key(book_id), &timeline).await?;
            let report = visiobook_assembly::assemble(blobs, &timeline, &config, progress).await?;
            for export in &report.files {
                let key = BlobKey::parse(&visiobook_domain::artifacts::export_key(
                    book_id,
                    &export.file_name,
                ))?;
                let meta = blobs
                    .put_file(&key, &export.path, export.content_type)
                    .await?;
                let timed = matches!(
                    export.format,
                    visiobook_assembly::Format::Mp4
                        | visiobook_assembly::Format::Webm
                        | visiobook_assembly::Format::M4b
                );
                result.outputs.push((
                    visiobook_assembly::output_name(&export.file_name).to_owned(),
                    OutputRef {
                        blob_key: key.to_string(),
                        content_type: export.content_type.into(),
                        size_bytes: meta.size_bytes,
                        duration_ms: timed.then_some(timeline.duration_ms),
                    },
                ));
            }
            count(&mut result, "shots", timeline.shots.len());
            count(&mut result, "exports", report.files.len());
            for (name, value) in [
                ("duration_ms", timeline.duration_ms),
                ("segments_encoded", report.segments_encoded),
                ("segments_reused", report.segments_reused),
                ("chapters", timeline.chapters.len() as u64),
                ("cues", timeline.cues.len() as u64),
            ] {
                result.counts.insert(name.into(), value);
            }
            result.outputs.push(("timeline".into(), timeline_output));
        }
    }
    Ok(result)
}

/// A warning when the file name claims another format than the bytes show (a JPEG named
/// `.pdf` is read as the image it is).
fn name_mismatch(
    file_name: Option<&str>,
    format: Option<&str>,
) -> Option<visiobook_domain::Warning> {
    let (file_name, format) = (file_name?, format?);
    let claimed = visiobook_ingestion::format_from_extension(file_name)?;
    let claimed_name = match claimed {
        visiobook_ingestion::Format::Text => "text",
        visiobook_ingestion::Format::Markdown => "markdown",
        visiobook_ingestion::Format::Html => "html",
        visiobook_ingestion::Format::Epub => "epub",
        visiobook_ingestion::Format::Pdf => "pdf",
        visiobook_ingestion::Format::Png
        | visiobook_ingestion::Format::Jpeg
        | visiobook_ingestion::Format::Tiff => "image",
    };
    (claimed_name != format).then(|| {
        visiobook_domain::Warning::new(
            "format_mismatch",
            format!("the file is named {file_name:?} but its content is {format}; it was read as {format}"),
        )
    })
}

/// Bumped whenever the analysis changes, so cached analyses are redone.
const ANALYSIS_ENGINE_VERSION: &str = "analysis-local-1";

/// Hex SHA-256 of length-prefixed parts.
fn content_hash(parts: &[&str]) -> String {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

fn count(result: &mut StageResult, name: &str, value: usize) {
    result.counts.insert(name.to_owned(), value as u64);
}

async fn get_json<T: DeserializeOwned>(blobs: &dyn BlobStore, key: &str) -> anyhow::Result<T> {
    let bytes = blobs
        .get(&BlobKey::parse(key)?)
        .await
        .with_context(|| format!("reading {key}"))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{key} is not a valid artifact"))
}

async fn put_json<T: Serialize>(
    blobs: &dyn BlobStore,
    key: &str,
    value: &T,
) -> anyhow::Result<OutputRef> {
    let bytes = Bytes::from(serde_json::to_vec_pretty(value)?);
    let meta = blobs
        .put(&BlobKey::parse(key)?, bytes, "application/json")
        .await
        .with_context(|| format!("writing {key}"))?;
    Ok(OutputRef {
        blob_key: key.to_owned(),
        content_type: "application/json".into(),
        size_bytes: meta.size_bytes,
        duration_ms: None,
    })
}
