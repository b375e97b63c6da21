//! `book.v1`: the ingested book, chaptered, with stable paragraph ids.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The schema identifier written into every document of this shape.
pub const BOOK_SCHEMA: &str = "visiobook.book.v1";

/// Which kind of file the book came from (identified from the bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    Txt,
    Markdown,
    Html,
    Epub,
    Pdf,
    /// A scanned page (PNG, JPEG or TIFF), read by OCR.
    Image,
}

/// Where a chapter sits in the book. Front and back matter (title pages, contents, licences,
/// colophons) are kept, marked, and not narrated as story.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Matter {
    Front,
    #[default]
    Body,
    Back,
}

/// Something the reader should know about how the book was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Warning {
    /// Stable snake_case code: `encoding_guessed`, `item_skipped`, `ocr_page`, `no_headings`...
    pub code: String,
    pub message: String,
    /// The 1-based page, for page-based sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// OCR mean word confidence, 0..=100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

impl Warning {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            page: None,
            confidence: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
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
    /// Things the reader should know (skipped parts, guesses made, pages OCR'd).
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Chapter {
    /// 1-based position in reading order.
    pub ordinal: u32,
    pub title: String,
    #[serde(default)]
    pub matter: Matter,
    pub paragraphs: Vec<Paragraph>,
    pub word_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Paragraph {
    /// Stable id: `c{chapter}-p{paragraph}`, 1-based.
    pub id: String,
    pub text: String,
    /// Character offset (in Unicode scalar values) of the paragraph in the book's extracted
    /// text: every paragraph of every chapter, in order, joined by blank lines.
    pub char_offset: usize,
    pub word_count: usize,
}

/// The JSON Schema of `book.v1`, as published in `docs/schemas/book.v1.schema.json`.
pub fn json_schema() -> serde_json::Value {
    crate::schema::published::<Book>("book.v1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_published_schema_matches_the_types() {
        crate::schema::check_published(
            "book.v1",
            &super::json_schema(),
            include_str!("../../../docs/schemas/book.v1.schema.json"),
        );
    }
}
