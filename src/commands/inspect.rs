//! `visiobook ingest BOOK` and `visiobook analyze BOOK`: one stage's artifact as JSON on stdout.

use std::path::Path;

use anyhow::Context;
use visiobook_runtime::Settings;

fn read_book(
    settings: &Settings,
    path: &Path,
    language: Option<String>,
) -> anyhow::Result<visiobook_domain::Book> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let options = visiobook_pipeline::ingest_options(settings, language);
    visiobook_ingestion::ingest(&bytes, &options, &|_, _| {})
        .map_err(|error| anyhow::anyhow!("{} ({})", error, error.code()))
        .with_context(|| format!("cannot ingest {}", path.display()))
}

#[expect(
    clippy::print_stdout,
    reason = "the artifact on stdout is the command's output"
)]
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn ingest(settings: &Settings, path: &Path, language: Option<String>) -> anyhow::Result<()> {
    print_json(&read_book(settings, path, language)?)
}

pub fn analyze(settings: &Settings, path: &Path, language: Option<String>) -> anyhow::Result<()> {
    let book = read_book(settings, path, language)?;
    let options = visiobook_analysis::AnalysisOptions {
        embedder: visiobook_pipeline::embedder(settings),
        progress: None,
    };
    print_json(&visiobook_analysis::analyse_with(&book, options))
}
