//! Analysis on real books.

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

mod bible;
mod dialogue;
mod embedding;
mod llm;
mod segment;
