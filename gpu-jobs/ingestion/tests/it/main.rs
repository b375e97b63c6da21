//! Ingestion on real books and hostile files.

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

mod epub;
mod ocr;
mod pdf;
mod text;

use std::path::PathBuf;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
