//! Content addressing: a second run reuses every item, and a lost item is regenerated alone.
//! Runs the real espeak-ng and ffmpeg against the embedded blob store.

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

use std::path::PathBuf;

use visiobook_domain::analysis::ANALYSIS_SCHEMA;
use visiobook_domain::{Analysis, Scene};
use visiobook_embedded::FsBlobStore;
use visiobook_generation::{GenerationConfig, generate};
use visiobook_ports::{BlobKey, BlobStore};

fn scene(chapter: u32, ordinal: u32, text: &str) -> Scene {
    serde_json::from_value(serde_json::json!({
        "id": format!("c{chapter}-s{ordinal}"),
        "chapter_ordinal": chapter,
        "chapter_title": format!("Chapter {chapter}"),
        "ordinal_in_chapter": ordinal,
        "paragraph_ids": [format!("c{chapter}-p1")],
        "summary": text,
        "narration": [{ "speaker": "narrator", "text": text }],
        "word_count": text.split_whitespace().count(),
    }))
    .unwrap()
}

fn analysis(scenes: Vec<Scene>) -> Analysis {
    serde_json::from_value(serde_json::json!({
        "schema": ANALYSIS_SCHEMA,
        "title": "Reuse",
        "language": "en",
        "scenes": scenes,
    }))
    .unwrap()
}

fn config() -> GenerationConfig {
    GenerationConfig {
        espeak: PathBuf::from("espeak-ng"),
        ffmpeg: PathBuf::from("ffmpeg"),
        font_file: None,
        width: 320,
        height: 180,
    }
}

#[tokio::test]
async fn reruns_reuse_everything_and_regenerate_only_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path()).unwrap();
    let analysis = analysis(vec![
        scene(1, 1, "Alice was beginning to get very tired."),
        scene(1, 2, "So she was considering in her own mind."),
        scene(2, 1, "Curiouser and curiouser, cried Alice."),
    ]);
    let fractions = std::sync::Mutex::new(Vec::new());
    let record = |fraction: f64| fractions.lock().unwrap().push(fraction);

    let first = generate(&blobs, &analysis, &config(), &record)
        .await
        .unwrap();
    assert_eq!((first.generated, first.reused), (6, 0));
    assert_eq!(first.manifest.scenes.len(), 3);
    assert!(
        first
            .manifest
            .scenes
            .iter()
            .all(|scene| scene.narration_ms > 500)
    );
    assert_eq!(*fractions.lock().unwrap().last().unwrap(), 1.0);

    let second = generate(&blobs, &analysis, &config(), &|_| {})
        .await
        .unwrap();
    assert_eq!((second.generated, second.reused), (0, 6));
    assert_eq!(second.manifest, first.manifest);

    // Lose one narration, as a crash before its upload would.
    let lost = BlobKey::parse(&first.manifest.scenes[1].narration_key).unwrap();
    assert!(blobs.delete(&lost).await.unwrap());
    let third = generate(&blobs, &analysis, &config(), &|_| {})
        .await
        .unwrap();
    assert_eq!((third.generated, third.reused), (1, 5));
    assert_eq!(
        third.manifest, first.manifest,
        "same inputs, same keys, same durations"
    );

    // Changing one scene's text changes only that scene's narration key.
    let mut edited = analysis.clone();
    edited.scenes[2].narration[0].text = "Curiouser and curiouser!".into();
    let fourth = generate(&blobs, &edited, &config(), &|_| {}).await.unwrap();
    assert_eq!((fourth.generated, fourth.reused), (1, 5));
    assert_ne!(
        fourth.manifest.scenes[2].narration_key,
        first.manifest.scenes[2].narration_key
    );
}

#[tokio::test]
async fn a_missing_tool_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path()).unwrap();
    let analysis = analysis(vec![scene(1, 1, "Hello there.")]);
    let config = GenerationConfig {
        espeak: PathBuf::from("/nonexistent/espeak-ng"),
        ..config()
    };
    let error = generate(&blobs, &analysis, &config, &|_| {})
        .await
        .unwrap_err();
    assert!(error.to_string().contains("espeak-ng failed"), "{error}");
    assert!(blobs.list("").await.unwrap().is_empty());
}
