//! Generation: for every scene of `analysis.v1`, a narration (espeak-ng) and a scene card (a
//! still drawn by ffmpeg with the bundled font), both content-addressed in the blob store.
//!
//! Each item's key is the SHA-256 of everything that determines it (engine, engine version,
//! voice, text, size, style version), so a redelivered or re-run book reuses what exists and
//! generates only what is missing: a crash mid-book loses at most the scene in hand.

mod card;
mod narration;

use std::path::PathBuf;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use visiobook_domain::Analysis;
use visiobook_domain::analysis::Scene;
use visiobook_domain::artifacts::{MEDIA_SCHEMA, MediaManifest, SceneMedia, cache_key};
use visiobook_ports::{BlobKey, BlobStore, StoreError};

pub use card::CardStyle;
pub use narration::{Voice, voice_for_language};

/// Tools and sizes the stage needs.
#[derive(Debug, Clone)]
pub struct GenerationConfig {
    pub espeak: PathBuf,
    pub ffmpeg: PathBuf,
    /// A TrueType font; `None` uses the bundled DejaVu Serif.
    pub font_file: Option<PathBuf>,
    pub width: u32,
    pub height: u32,
}

/// What the stage did.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationReport {
    pub manifest: MediaManifest,
    /// Items synthesised or drawn in this run.
    pub generated: u64,
    /// Items found in the cache.
    pub reused: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
    #[error("narration audio is unreadable: {0}")]
    Audio(String),
}

/// Generates (or reuses) narration and cards for every scene; `progress` gets 0..=1.
pub async fn generate(
    blobs: &dyn BlobStore,
    analysis: &Analysis,
    config: &GenerationConfig,
    progress: &(dyn Fn(f64) + Send + Sync),
) -> Result<GenerationReport, GenerationError> {
    let work = tempfile::tempdir()?;
    let font = match &config.font_file {
        Some(path) => path.clone(),
        None => {
            let path = work.path().join("DejaVuSerif.ttf");
            tokio::fs::write(&path, card::BUNDLED_FONT).await?;
            path
        }
    };
    let voice = voice_for_language(&analysis.language);
    let engine_version = narration::engine_version(&config.espeak).await?;
    let mut scenes = Vec::with_capacity(analysis.scenes.len());
    let (mut generated, mut reused) = (0, 0);
    let total = analysis.scenes.len().max(1) as f64;
    for (index, scene) in analysis.scenes.iter().enumerate() {
        let text = narration_text(scene);
        let narration_key = key_for(
            "narration",
            &[
                "espeak-ng",
                &engine_version,
                voice.name,
                &voice.words_per_minute.to_string(),
                &text,
            ],
            "wav",
        )?;
        let wav = match cached(blobs, &narration_key).await? {
            Some(bytes) => {
                reused += 1;
                bytes
            }
            None => {
                let bytes =
                    narration::synthesize(&config.espeak, &voice, &text, work.path()).await?;
                blobs
                    .put(&narration_key, bytes.clone(), "audio/wav")
                    .await?;
                generated += 1;
                bytes
            }
        };
        let narration_ms = narration::duration_ms(&wav)?;

        let style = CardStyle::for_scene(scene, &analysis.title, config.width, config.height);
        let image_key = key_for(
            "cards",
            &[
                card::STYLE_VERSION,
                &style.fingerprint(),
                &font_fingerprint(config),
            ],
            "png",
        )?;
        if blobs.head(&image_key).await?.is_some() {
            reused += 1;
        } else {
            let png = card::draw(&config.ffmpeg, &font, &style, work.path()).await?;
            blobs.put(&image_key, png, "image/png").await?;
            generated += 1;
        }
        tracing::debug!(scene.id = %scene.id, narration_ms, "scene media ready");
        scenes.push(SceneMedia {
            scene_id: scene.id.clone(),
            chapter_ordinal: scene.chapter_ordinal,
            chapter_title: scene.chapter_title.clone(),
            narration_key: narration_key.to_string(),
            narration_ms,
            image_key: image_key.to_string(),
        });
        progress((index + 1) as f64 / total);
    }
    Ok(GenerationReport {
        manifest: MediaManifest {
            schema: MEDIA_SCHEMA.to_owned(),
            narration_ms: scenes.iter().map(|scene| scene.narration_ms).sum(),
            scenes,
        },
        generated,
        reused,
    })
}

/// What the narrator reads for a scene: its lines, a paragraph each.
/// Lines of one paragraph (a quote and its dialogue tag) flow together; paragraphs, and lines
/// the narrator adds such as the chapter title, are separated by a pause.
pub fn narration_text(scene: &Scene) -> String {
    let mut text = String::new();
    let mut previous: Option<&Option<String>> = None;
    for line in &scene.narration {
        if let Some(previous) = previous {
            let same_paragraph = previous.is_some() && *previous == line.paragraph_id;
            text.push_str(if same_paragraph { " " } else { "\n\n" });
        }
        text.push_str(&line.text);
        previous = Some(&line.paragraph_id);
    }
    text
}

fn font_fingerprint(config: &GenerationConfig) -> String {
    config.font_file.as_ref().map_or_else(
        || "bundled-dejavu-serif".to_owned(),
        |path| path.display().to_string(),
    )
}

/// `cache/<kind>/<sha256 of the parts>.<extension>`.
fn key_for(kind: &str, parts: &[&str], extension: &str) -> Result<BlobKey, StoreError> {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    BlobKey::parse(&cache_key(kind, &hex::encode(hasher.finalize()), extension))
}

async fn cached(blobs: &dyn BlobStore, key: &BlobKey) -> Result<Option<Bytes>, StoreError> {
    match blobs.get(key).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind == visiobook_ports::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_one_paragraph_flow_together() {
        let scene: Scene = serde_json::from_value(serde_json::json!({
            "id": "c1-s1", "chapter_ordinal": 1, "chapter_title": "One", "ordinal_in_chapter": 1,
            "paragraph_ids": ["c1-p1", "c1-p2"], "summary": "", "word_count": 9,
            "narration": [
                { "speaker": "narrator", "text": "Chapter One." },
                { "speaker": "alice", "text": "Oh dear,", "paragraph_id": "c1-p1" },
                { "speaker": "narrator", "text": "said Alice.", "paragraph_id": "c1-p1" },
                { "speaker": "narrator", "text": "She ran.", "paragraph_id": "c1-p2" }
            ]
        }))
        .expect("a scene");
        assert_eq!(
            narration_text(&scene),
            "Chapter One.\n\nOh dear, said Alice.\n\nShe ran."
        );
    }
}
