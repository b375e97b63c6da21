//! Analysis time for the whole of Alice (26k words), with the local engine, with and without
//! sentence embeddings (when `scripts/fetch-models` installed them), against a baseline taken
//! in the same run: ingesting the same book.
//!
//! `cargo bench -p visiobook-analysis --bench analyse`

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark prints its table and fails loudly"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use visiobook_analysis::embedding::{Embedder, EmbeddingAssets};
use visiobook_analysis::{AnalysisOptions, analyse_with};
use visiobook_ingestion::{IngestOptions, ingest};

fn best_of<T>(runs: usize, mut work: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        let value = work();
        best = best.min(started.elapsed());
        last = Some(value);
    }
    (best, last.unwrap())
}

fn main() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingestion/tests/fixtures/alice.txt");
    let bytes = std::fs::read(path).unwrap();
    let (ingest_time, book) = best_of(3, || {
        ingest(&bytes, &IngestOptions::default(), &|_, _| {}).unwrap()
    });
    let (local_time, local) = best_of(3, || analyse_with(&book, AnalysisOptions::default()));

    println!(
        "{} words, {} chapters, {} scenes (local)",
        book.word_count,
        book.chapters.len(),
        local.scenes.len()
    );
    println!();
    println!("| case | time | vs ingesting the book (same run) |");
    println!("|---|---|---|");
    println!(
        "| ingest alice.txt (baseline) | {:.3} s | 1.0x |",
        ingest_time.as_secs_f64()
    );
    println!(
        "| analyse, local engine | {:.3} s | {:.1}x |",
        local_time.as_secs_f64(),
        local_time.as_secs_f64() / ingest_time.as_secs_f64()
    );
    let models = std::env::var_os("VISIOBOOK_MODELS_DIR").map_or_else(
        || {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/visiobook/models")
        },
        PathBuf::from,
    );
    match EmbeddingAssets::discover(&models).map(|assets| Embedder::load(&assets)) {
        Some(Ok(embedder)) => {
            let options = AnalysisOptions {
                embedder: Some(&embedder),
                progress: None,
            };
            let (time, analysis) = best_of(1, || analyse_with(&book, options));
            println!(
                "| analyse, local engine + MiniLM embeddings ({} scenes) | {:.3} s | {:.1}x |",
                analysis.scenes.len(),
                time.as_secs_f64(),
                time.as_secs_f64() / ingest_time.as_secs_f64()
            );
        }
        Some(Err(error)) => println!("| analyse with embeddings | not run: {error} | |"),
        None => println!(
            "| analyse with embeddings | not run: no assets in {} | |",
            models.display()
        ),
    }
}
