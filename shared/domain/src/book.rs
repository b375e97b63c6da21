//! `book.v1`: the ingested book, chaptered, with stable paragraph ids.

use serde::{Deserialize, Serialize};

/// The schema identifier written into every document of this shape.
pub const BOOK_SCHEMA: &str = "visiobook.book.v1";

/// Which kind of file the book came from (identified from the bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    Txt,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Book {
    /// Always [`BOOK_SCHEMA`].
    pub schema: String,
    pub title: String,
    pub author: Option<String>,
    /// BCP 47 language tag (`en`, `fr`).
    pub language: String,
    pub source_format: SourceFormat,
    pub chapters: Vec<Chapter>,
    pub word_count: usize,
    /// Things the reader should know (skipped parts, guesses made).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chapter {
    /// 1-based position in reading order.
    pub ordinal: u32,
    pub title: String,
    pub paragraphs: Vec<Paragraph>,
    pub word_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paragraph {
    /// Stable id: `c{chapter}-p{paragraph}`, 1-based.
    pub id: String,
    pub text: String,
    /// Character offset (in Unicode scalar values) of the paragraph in the normalised source.
    pub char_offset: usize,
    pub word_count: usize,
}
