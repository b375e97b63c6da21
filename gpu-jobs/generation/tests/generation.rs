//! The generation stage against the real espeak-ng, the procedural illustrator and the embedded
//! blob store: content addressing per sentence, resume after a loss, distinct voices per
//! character, loudness, timings.

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

use std::path::Path;
use std::sync::Arc;

use visiobook_domain::Analysis;
use visiobook_domain::analysis::ANALYSIS_SCHEMA;
use visiobook_domain::artifacts::MediaManifest;
use visiobook_embedded::FsBlobStore;
use visiobook_generation::audio::{self, Pcm};
use visiobook_generation::images::Procedural;
use visiobook_generation::speech::espeak::Espeak;
use visiobook_generation::{Engines, GenerationConfig, estimate, generate};
use visiobook_ports::{BlobKey, BlobStore};

/// Two chapters, three scenes; Alice (female-1) and the Rabbit (male-1) speak.
fn analysis() -> Analysis {
    serde_json::from_value(serde_json::json!({
        "schema": ANALYSIS_SCHEMA,
        "title": "Reuse",
        "language": "en",
        "characters": [
            { "id": "alice", "name": "Alice", "mentions": 9, "first_appearance": "c1-p1",
              "gender": "female",
              "visual": { "color": "#e4572e", "shape": "circle", "emblem": "key", "seed": 11 },
              "voice": { "voice": "female-1", "pitch": 15, "rate": 1.0 } },
            { "id": "white-rabbit", "name": "the White Rabbit", "mentions": 5,
              "first_appearance": "c1-p2", "gender": "male",
              "visual": { "color": "#17bebb", "shape": "triangle", "emblem": "watch", "seed": 22 },
              "voice": { "voice": "male-1", "pitch": -20, "rate": 1.1 } }
        ],
        "scenes": [
            { "id": "c1-s1", "chapter_ordinal": 1, "chapter_title": "Down the Rabbit-Hole",
              "ordinal_in_chapter": 1, "paragraph_ids": ["c1-p1", "c1-p2"],
              "summary": "Alice sits by her sister on the bank.", "word_count": 30,
              "characters": ["alice", "white-rabbit"],
              "setting": { "indoor": false },
              "mood": { "valence": 0.3, "intensity": 0.3, "label": "whimsical" },
              "narration": [
                { "speaker": "narrator", "text": "Chapter One. Down the Rabbit-Hole." },
                { "speaker": "narrator", "text": "Alice was beginning to get very tired of sitting by her sister on the bank.", "paragraph_id": "c1-p1" },
                { "speaker": "white-rabbit", "text": "Oh dear! Oh dear! I shall be late!", "paragraph_id": "c1-p2" },
                { "speaker": "narrator", "text": "said the Rabbit to itself.", "paragraph_id": "c1-p2" }
              ] },
            { "id": "c1-s2", "chapter_ordinal": 1, "chapter_title": "Down the Rabbit-Hole",
              "ordinal_in_chapter": 2, "paragraph_ids": ["c1-p3"],
              "summary": "Alice follows the Rabbit down the hole.", "word_count": 20,
              "characters": ["alice"],
              "narration": [
                { "speaker": "alice", "text": "What a curious feeling this is, said Alice to herself.", "paragraph_id": "c1-p3" },
                { "speaker": "narrator", "text": "Down, down, down. Would the fall never come to an end?", "paragraph_id": "c1-p3" }
              ] },
            { "id": "c2-s1", "chapter_ordinal": 2, "chapter_title": "The Pool of Tears",
              "ordinal_in_chapter": 1, "paragraph_ids": ["c2-p1"],
              "summary": "Alice grows very tall.", "word_count": 12,
              "characters": ["alice"],
              "mood": { "valence": -0.4, "intensity": 0.6, "label": "sad" },
              "narration": [
                { "speaker": "alice", "text": "Curiouser and curiouser! I am opening out like the largest telescope.", "paragraph_id": "c2-p1" }
              ] }
        ]
    }))
    .unwrap()
}

async fn engines() -> Engines {
    Engines {
        speech: Arc::new(Espeak::new(Path::new("espeak-ng")).await.unwrap()),
        images: Arc::new(Procedural),
    }
}

fn config() -> GenerationConfig {
    GenerationConfig {
        width: 640,
        height: 360,
        speech_concurrency: 2,
    }
}

async fn wav(blobs: &FsBlobStore, key: &str) -> Pcm {
    audio::decode_wav(&blobs.get(&BlobKey::parse(key).unwrap()).await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_second_run_synthesises_nothing_and_an_edit_synthesises_one_sentence() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path()).unwrap();
    let (analysis, engines) = (analysis(), engines().await);

    let planned = estimate(&blobs, &analysis, &engines, &config())
        .await
        .unwrap();
    // Scene 1: 2 + 1 + 3 + 1 sentences; scene 2: 1 + 2; scene 3: 2. "Oh dear!" is said twice by
    // the same voice: synthesised once. Three scenes, two sizes.
    assert_eq!(planned.sentences, 12, "{planned:?}");
    assert_eq!(planned.sentences_to_synthesise, 11);
    assert_eq!((planned.images, planned.images_to_draw), (6, 6));
    assert!(planned.characters_to_synthesise > 300);

    let progress = std::sync::Mutex::new(Vec::new());
    let record = |done: u64, total: u64| progress.lock().unwrap().push((done, total));
    let first = generate(&blobs, &analysis, &engines, &config(), &record)
        .await
        .unwrap();
    let counts = &first.counts;
    assert_eq!(
        (counts.sentences_synthesised, counts.sentences_reused),
        (11, 1)
    );
    assert_eq!((counts.images_drawn, counts.images_reused), (6, 0));
    assert_eq!((counts.mixes_made, counts.sentences_flagged), (3, 0));
    assert_eq!(*progress.lock().unwrap(), [(1, 3), (2, 3), (3, 3)]);
    let after = estimate(&blobs, &analysis, &engines, &config())
        .await
        .unwrap();
    assert_eq!(
        (after.sentences_to_synthesise, after.images_to_draw),
        (0, 0)
    );

    let second = generate(&blobs, &analysis, &engines, &config(), &|_, _| {})
        .await
        .unwrap();
    let counts = &second.counts;
    assert_eq!(
        (counts.sentences_synthesised, counts.sentences_reused),
        (0, 12)
    );
    assert_eq!((counts.images_drawn, counts.mixes_made), (0, 0));
    assert_eq!(
        second.manifest, first.manifest,
        "same inputs, same keys, same timings"
    );

    // One sentence edited: exactly that one is synthesised; no picture is redrawn.
    let mut edited = analysis.clone();
    edited.scenes[1].narration[1].text = "Down, down, down. Would the fall never end?".into();
    let third = generate(&blobs, &edited, &engines, &config(), &|_, _| {})
        .await
        .unwrap();
    let counts = &third.counts;
    assert_eq!(
        (counts.sentences_synthesised, counts.sentences_reused),
        (1, 11)
    );
    assert_eq!((counts.images_drawn, counts.images_reused), (0, 6));
    assert_eq!((counts.mixes_made, counts.mixes_reused), (1, 2));
    assert_eq!(third.manifest.scenes[0], first.manifest.scenes[0]);
    assert_ne!(
        third.manifest.scenes[1].narration_key,
        first.manifest.scenes[1].narration_key
    );
    assert_eq!(third.manifest.scenes[2], first.manifest.scenes[2]);
}

#[tokio::test]
async fn a_lost_item_is_the_only_one_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path()).unwrap();
    let (analysis, engines) = (analysis(), engines().await);
    let first = generate(&blobs, &analysis, &engines, &config(), &|_, _| {})
        .await
        .unwrap();
    // A crash between two uploads loses what was not stored yet: one sentence, one picture.
    let sentence = &first.manifest.scenes[0].sentences[2].audio_key;
    assert!(
        blobs
            .delete(&BlobKey::parse(sentence).unwrap())
            .await
            .unwrap()
    );
    let image = &first.manifest.scenes[2].portrait_image_key;
    assert!(blobs.delete(&BlobKey::parse(image).unwrap()).await.unwrap());
    let resumed = generate(&blobs, &analysis, &engines, &config(), &|_, _| {})
        .await
        .unwrap();
    assert_eq!(resumed.counts.sentences_synthesised, 1);
    assert_eq!(resumed.counts.images_drawn, 1);
    assert_eq!(resumed.manifest.scenes.len(), 3);
}

/// The audio of the first sentence `speaker` reads.
async fn first_sentence_of(blobs: &FsBlobStore, manifest: &MediaManifest, speaker: &str) -> Pcm {
    let (scene, sentence) = manifest
        .scenes
        .iter()
        .flat_map(|scene| scene.sentences.iter().map(move |s| (scene, s)))
        .find(|(_, sentence)| sentence.speaker == speaker)
        .unwrap();
    let pcm = wav(blobs, &scene.narration_key).await;
    let at = |ms: u64| (ms * u64::from(pcm.rate) / 1000) as usize;
    Pcm {
        rate: pcm.rate,
        samples: pcm.samples[at(sentence.start_ms)..at(sentence.end_ms)].to_vec(),
    }
}

#[tokio::test]
async fn narration_is_timed_normalised_and_voiced_per_character() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(dir.path()).unwrap();
    let report = generate(&blobs, &analysis(), &engines().await, &config(), &|_, _| {})
        .await
        .unwrap();
    let manifest = &report.manifest;
    assert_eq!(manifest.speech_engine, "espeak");
    let scene = &manifest.scenes[0];
    let narration = wav(&blobs, &scene.narration_key).await;
    assert_eq!(narration.rate, audio::SAMPLE_RATE);
    assert_eq!(narration.duration_ms(), scene.narration_ms);
    // Sentences in order, without overlap, inside the narration; words inside sentences.
    let sentences = &scene.sentences;
    assert_eq!(sentences.len(), 7);
    assert!(sentences.windows(2).all(|p| p[0].end_ms < p[1].start_ms));
    assert!(sentences.last().unwrap().end_ms <= scene.narration_ms);
    for sentence in sentences {
        let words = &sentence.words;
        assert!(!words.is_empty());
        assert_eq!(words[0].start_ms, sentence.start_ms);
        assert!(words.last().unwrap().end_ms.abs_diff(sentence.end_ms) <= 1);
    }
    assert_eq!(sentences[3].speaker, "white-rabbit");
    assert_eq!(sentences[3].words[0].word, "Oh");

    // Loudness about -16 LUFS, measured by ffmpeg's EBU R128 meter, not by our own code.
    let path = dir.path().join("scene.wav");
    std::fs::write(&path, audio::encode_wav(&narration)).unwrap();
    let loudness = ffmpeg_integrated_loudness(&path);
    assert!((loudness + 16.0).abs() < 1.5, "{loudness} LUFS");

    // Each speaker has their own voice: Alice is higher than the narrator, the Rabbit lower
    // than Alice.
    let mut pitches = Vec::new();
    for speaker in ["narrator", "alice", "white-rabbit"] {
        let pcm = first_sentence_of(&blobs, manifest, speaker).await;
        pitches.push((speaker, audio::median_pitch_hz(&pcm).unwrap()));
    }
    let hz = |speaker: &str| pitches.iter().find(|(s, _)| *s == speaker).unwrap().1;
    assert!(hz("alice") > hz("narrator") * 1.2, "{pitches:?}");
    assert!(hz("white-rabbit") < hz("alice") * 0.85, "{pitches:?}");

    // The mix is the narration's length, with the soundscape under it.
    let mix = wav(&blobs, &scene.audio_key).await;
    assert_eq!(mix.samples.len(), narration.samples.len());
    assert_ne!(mix.samples, narration.samples);
    assert_eq!(scene.music, "whimsical");
    // "on the bank": a river bank.
    assert_eq!(scene.ambience, "river");
}

fn ffmpeg_integrated_loudness(path: &Path) -> f64 {
    let output = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-nostats", "-i"])
        .arg(path)
        .args(["-af", "ebur128=framelog=verbose", "-f", "null", "-"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    let line = log
        .lines()
        .rev()
        .find(|line| line.trim_start().starts_with("I:"))
        .unwrap_or_else(|| panic!("no integrated loudness in {log}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
