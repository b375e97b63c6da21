//! `visiobook ingest BOOK` and `visiobook analyze BOOK`: one stage's artifact as JSON on stdout.

use std::path::Path;

use anyhow::Context;

fn read_book(path: &Path) -> anyhow::Result<visiobook_domain::Book> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    visiobook_ingestion::ingest(&bytes).with_context(|| format!("cannot ingest {}", path.display()))
}

#[expect(
    clippy::print_stdout,
    reason = "the artifact on stdout is the command's output"
)]
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn ingest(path: &Path) -> anyhow::Result<()> {
    print_json(&read_book(path)?)
}

pub fn analyze(path: &Path) -> anyhow::Result<()> {
    print_json(&visiobook_analysis::analyse(&read_book(path)?))
}
