//! Sentence embeddings with the real MiniLM model, when `scripts/fetch-models` has installed it.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use visiobook_analysis::embedding::{
    DIMENSIONS, Embedder, EmbeddingAssets, EmbeddingError, cosine,
};
use visiobook_analysis::segment::scene_starts;

use crate::segment::{alice_chapters, check_chapter};

fn models_dir() -> PathBuf {
    std::env::var_os("VISIOBOOK_MODELS_DIR")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/visiobook/models"))
        })
        .unwrap_or_default()
}

/// The embedder, loaded once for all tests; None (and a line saying why the test is skipped)
/// when the assets are not installed.
fn embedder(test: &str) -> Option<&'static Embedder> {
    static EMBEDDER: OnceLock<Option<Embedder>> = OnceLock::new();
    let embedder = EMBEDDER.get_or_init(|| {
        let assets = EmbeddingAssets::discover(&models_dir())?;
        Some(Embedder::load(&assets).unwrap())
    });
    if embedder.is_none() {
        eprintln!(
            "{test}: skipped, the embedding assets are not installed under {} (run scripts/fetch-models)",
            models_dir().display()
        );
    }
    embedder.as_ref()
}

#[test]
fn discover_needs_every_file() {
    let dir = tempfile_dir("discover");
    assert_eq!(EmbeddingAssets::discover(&dir), None);
    std::fs::create_dir_all(dir.join("minilm")).unwrap();
    for file in ["libonnxruntime.so", "minilm/model.onnx"] {
        std::fs::write(dir.join(file), b"x").unwrap();
    }
    assert_eq!(EmbeddingAssets::discover(&dir), None);
    std::fs::write(dir.join("minilm/vocab.txt"), b"x").unwrap();
    let assets = EmbeddingAssets::discover(&dir).unwrap();
    assert_eq!(assets.runtime_library, dir.join("libonnxruntime.so"));
    assert_eq!(assets.model, dir.join("minilm/model.onnx"));
    assert_eq!(assets.tokenizer, dir.join("minilm/vocab.txt"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A fresh directory of this test's own.
fn tempfile_dir(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("visiobook-embedding-{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_missing_runtime_is_an_error_not_a_panic() {
    let real = EmbeddingAssets::discover(&models_dir());
    let assets = EmbeddingAssets {
        runtime_library: PathBuf::from("/nonexistent/visiobook/libonnxruntime.so"),
        model: real.as_ref().map_or_else(
            || PathBuf::from("/nonexistent/model.onnx"),
            |a| a.model.clone(),
        ),
        tokenizer: real.as_ref().map_or_else(
            || PathBuf::from("/nonexistent/vocab.txt"),
            |a| a.tokenizer.clone(),
        ),
    };
    let error = Embedder::load(&assets).unwrap_err();
    assert!(
        matches!(error, EmbeddingError::RuntimeMissing(_)),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("scripts/fetch-models"),
        "{error}"
    );
}

#[test]
fn a_file_that_is_no_runtime_is_an_error_not_a_panic() {
    let dir = tempfile_dir("not-a-runtime");
    let fake = dir.join("libonnxruntime.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let real = EmbeddingAssets::discover(&models_dir());
    // Once a real runtime is loaded in this process it is reused whatever the path, so this
    // is only meaningful before: load the fake first only when no test has loaded one yet.
    if real.is_none() {
        let assets = EmbeddingAssets {
            runtime_library: fake,
            model: dir.join("model.onnx"),
            tokenizer: dir.join("vocab.txt"),
        };
        let error = Embedder::load(&assets).unwrap_err();
        assert!(matches!(error, EmbeddingError::Runtime { .. }), "{error:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_model_or_vocabulary_is_an_error() {
    let Some(assets) = EmbeddingAssets::discover(&models_dir()) else {
        eprintln!(
            "a_bad_model_or_vocabulary_is_an_error: skipped, the embedding assets are not installed"
        );
        return;
    };
    let dir = tempfile_dir("bad-assets");
    std::fs::write(dir.join("model.onnx"), b"not a model").unwrap();
    std::fs::write(dir.join("vocab.txt"), b"the\ncat\n").unwrap();
    let bad_model = EmbeddingAssets {
        model: dir.join("model.onnx"),
        ..assets.clone()
    };
    assert!(matches!(
        Embedder::load(&bad_model).unwrap_err(),
        EmbeddingError::Model { .. }
    ));
    let bad_vocab = EmbeddingAssets {
        tokenizer: dir.join("vocab.txt"),
        ..assets
    };
    assert!(matches!(
        Embedder::load(&bad_vocab).unwrap_err(),
        EmbeddingError::Tokenizer { .. }
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn vectors_are_unit_length_and_paraphrases_are_closer_than_unrelated_sentences() {
    let Some(embedder) =
        embedder("vectors_are_unit_length_and_paraphrases_are_closer_than_unrelated_sentences")
    else {
        return;
    };
    let long =
        "Alice was beginning to get very tired of sitting by her sister on the bank. ".repeat(40);
    let texts = [
        "The cat sat on the mat.",
        "A cat was sitting on the rug.",
        "The stock market fell sharply today.",
        "",
        long.as_str(),
    ];
    let vectors = embedder.embed(&texts).unwrap();
    assert_eq!(vectors.len(), texts.len());
    for vector in &vectors {
        assert_eq!(vector.len(), DIMENSIONS);
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    let paraphrase = cosine(&vectors[0], &vectors[1]);
    let unrelated = cosine(&vectors[0], &vectors[2]);
    assert!(
        paraphrase > 0.5 && paraphrase > unrelated + 0.3,
        "paraphrase {paraphrase}, unrelated {unrelated}"
    );
    // Batching and order do not change a text's vector.
    let alone = embedder.embed(&[texts[1]]).unwrap();
    assert!(cosine(&alone[0], &vectors[1]) > 0.9999);
    assert!(embedder.embed(&[]).unwrap().is_empty());
}

#[test]
fn every_alice_chapter_gets_two_to_fifteen_scenes_with_embeddings() {
    let Some(embedder) = embedder("every_alice_chapter_gets_two_to_fifteen_scenes_with_embeddings")
    else {
        return;
    };
    let chapters = alice_chapters();
    let paragraphs: usize = chapters.iter().map(|c| c.texts.len()).sum();
    let started = Instant::now();
    for chapter in &chapters {
        let texts: Vec<&str> = chapter.texts.iter().map(String::as_str).collect();
        let vectors = embedder.embed(&texts).unwrap();
        let starts = scene_starts(&chapter.words, &chapter.breaks, Some(&vectors));
        check_chapter(chapter, &starts, "embeddings");
    }
    eprintln!(
        "embedded and segmented {paragraphs} paragraphs of Alice in {:.2?}",
        started.elapsed()
    );
}
