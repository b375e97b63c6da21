//! `visiobook render BOOK --out DIR`: the whole pipeline in one process, through the same
//! queue, workers and stages as `dev`, on embedded stores (a temporary data directory unless
//! one is given, in which case its media cache is reused across renders).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use serde_json::json;
use visiobook_domain::status::BookState;
use visiobook_domain::{Analysis, BookStatus, Stage};
use visiobook_host::worker::Outcome;
use visiobook_ports::BlobKey;
use visiobook_runtime::{AppState, Settings};

use crate::registry;

/// Consecutive idle rounds (all queues empty, book not finished) before giving up.
const STALL_ROUNDS: u32 = 200;

pub async fn run(
    mut settings: Settings,
    data_dir_given: bool,
    book: &Path,
    out: &Path,
    language: Option<String>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let bytes =
        std::fs::read(book).with_context(|| format!("cannot read the book {}", book.display()))?;
    let _temporary_data = if data_dir_given {
        None
    } else {
        let dir = tempfile::Builder::new()
            .prefix("visiobook-render-")
            .tempdir()?;
        settings.data_dir = dir.path().to_path_buf();
        Some(dir)
    };
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let state = AppState::open(settings)?;
    let registry = registry::functions()?;
    let workers = registry::queue_workers(&registry, &state);

    let file_name = book
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let submitted =
        visiobook_pipeline::submit_book(&state, Bytes::from(bytes), file_name, language, None)
            .await
            .with_context(|| format!("{} cannot be rendered", book.display()))?;
    let book_id = submitted.id;
    tracing::info!(book.id = %book_id, "rendering");

    let mut idle_rounds = 0;
    let status = loop {
        let status = visiobook_pipeline::load_status(&state, &book_id)
            .await?
            .context("the book's status disappeared")?;
        if matches!(status.state, BookState::Ready | BookState::Failed) {
            break status;
        }
        let mut progressed = false;
        for worker in &workers {
            let outcome = worker.try_process_next().await?;
            if let Outcome::Abandoned { error, .. } = &outcome {
                tracing::warn!(queue = %worker.queue_name, error = %error, "stage failed; it will be retried");
            }
            progressed |= outcome != Outcome::Idle;
        }
        if progressed {
            idle_rounds = 0;
        } else {
            idle_rounds += 1;
            if idle_rounds > STALL_ROUNDS {
                bail!(
                    "the pipeline stalled with no message to process (state {:?})",
                    status.state
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    if status.state == BookState::Failed {
        let reason = status
            .error
            .as_ref()
            .map_or("unknown", |error| error.reason.as_str());
        bail!("the book failed: {reason}");
    }

    // Every export, under its own file name; the storyboard unpacked so it opens offline.
    let mut exports = Vec::new();
    for output in status.outputs.values() {
        let Some(name) = output.blob_key.split("/exports/").nth(1) else {
            continue;
        };
        let path = out.join(name);
        copy_blob(&state, &output.blob_key, &path).await?;
        if name == "storyboard.zip" {
            let folder = out.join("storyboard");
            let zip = path.clone();
            tokio::task::spawn_blocking(move || unzip(&zip, &folder)).await??;
        }
        exports.push(path);
    }
    exports.sort();
    let video_path = out.join("video.mp4");
    // The illustrations, to look at one by one.
    if let Some(output) = status.outputs.get("media") {
        let manifest: visiobook_domain::artifacts::MediaManifest =
            serde_json::from_slice(&state.blobs.get(&BlobKey::parse(&output.blob_key)?).await?)
                .context("media.v1 is not valid")?;
        let folder = out.join("illustrations");
        std::fs::create_dir_all(&folder)
            .with_context(|| format!("cannot create {}", folder.display()))?;
        for scene in &manifest.scenes {
            for (key, shape) in [
                (&scene.image_key, "16x9"),
                (&scene.portrait_image_key, "9x16"),
            ] {
                if !key.is_empty() {
                    let path = folder.join(format!("{}-{shape}.png", scene.scene_id));
                    copy_blob(&state, key, &path).await?;
                }
            }
        }
    }
    for name in ["book", "analysis", "media", "timeline"] {
        if let Some(output) = status.outputs.get(name) {
            copy_blob(
                &state,
                &output.blob_key,
                &out.join(format!("{name}.v1.json")),
            )
            .await?;
        }
    }
    let wall = started.elapsed();
    let report = report(&state, &status, wall, &video_path).await?;
    let report_path = out.join("report.json");
    write_atomically(&report_path, &serde_json::to_vec_pretty(&report)?)?;
    #[expect(
        clippy::print_stdout,
        reason = "telling the user where the outputs are is the point"
    )]
    {
        for export in &exports {
            println!("export: {}", export.display());
        }
        if out.join("storyboard/index.html").is_file() {
            println!(
                "storyboard: {}",
                out.join("storyboard/index.html").display()
            );
        }
        println!("images: {}", out.join("illustrations").display());
        println!("report: {}", report_path.display());
        if let Some(counts) = status.record(Stage::Assembly).map(|record| &record.counts) {
            let count = |name: &str| counts.get(name).copied().unwrap_or(0);
            println!(
                "video: {} segments encoded, {} reused",
                count("segments_encoded"),
                count("segments_reused"),
            );
        }
        if let Some(counts) = status
            .record(Stage::Generation)
            .map(|record| &record.counts)
        {
            let count = |name: &str| counts.get(name).copied().unwrap_or(0);
            println!(
                "narration: {} sentences synthesised, {} reused, {} flagged; images: {} drawn, {} reused",
                count("sentences_synthesised"),
                count("sentences_reused"),
                count("sentences_flagged"),
                count("images_drawn"),
                count("images_reused"),
            );
        }
    }
    Ok(())
}

async fn copy_blob(state: &AppState, key: &str, path: &Path) -> anyhow::Result<()> {
    let temporary = path.with_extension("partial");
    visiobook_ports::blob::download_to_file(
        state.blobs.as_ref(),
        &BlobKey::parse(key)?,
        &temporary,
    )
    .await?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Unpacks a zip made by assembly into `folder` (entry names checked: nothing may land
/// outside it).
fn unzip(zip: &Path, folder: &Path) -> anyhow::Result<()> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip)?)?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        let Some(relative) = entry.enclosed_name() else {
            bail!("{} holds an unsafe path {:?}", zip.display(), entry.name());
        };
        let path = folder.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = std::fs::File::create(&path)?;
        std::io::copy(&mut entry, &mut file)?;
    }
    Ok(())
}

fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)?;
    Ok(())
}

async fn report(
    state: &AppState,
    status: &BookStatus,
    wall: Duration,
    video_path: &Path,
) -> anyhow::Result<serde_json::Value> {
    let stages: serde_json::Map<String, serde_json::Value> = Stage::ALL
        .into_iter()
        .filter_map(|stage| {
            status.record(stage).map(|record| {
                (
                    stage.to_string(),
                    json!({ "duration_ms": record.duration_ms, "attempts": record.attempts, "counts": record.counts }),
                )
            })
        })
        .collect();
    let analysis: Option<Analysis> = match status.outputs.get("analysis") {
        Some(output) => {
            serde_json::from_slice(&state.blobs.get(&BlobKey::parse(&output.blob_key)?).await?).ok()
        }
        None => None,
    };
    let narration_ms = status
        .record(Stage::Generation)
        .and_then(|record| record.counts.get("narration_ms").copied())
        .unwrap_or(0);
    let video = status.outputs.get("video");
    let narration_seconds = narration_ms as f64 / 1000.0;
    Ok(json!({
        "book": {
            "id": status.id,
            "title": status.title,
            "scenes": analysis.as_ref().map(|analysis| analysis.scenes.len()),
        },
        "stages": stages,
        "narration_seconds": narration_seconds,
        "video": {
            "path": video_path.display().to_string(),
            "size_bytes": video.map(|video| video.size_bytes),
            "duration_seconds": video.and_then(|video| video.duration_ms).map(|ms| ms as f64 / 1000.0),
            "preset": state.settings.render_preset.name(),
        },
        "wall_seconds": wall.as_secs_f64(),
        "speed_vs_narration": if wall.as_secs_f64() > 0.0 { narration_seconds / wall.as_secs_f64() } else { 0.0 },
    }))
}
