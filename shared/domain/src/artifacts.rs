//! Where each artifact of a book lives in the blob store, and the media manifest.

use serde::{Deserialize, Serialize};

pub const MEDIA_SCHEMA: &str = "visiobook.media.v1";

/// The uploaded original.
pub fn source_key(book_id: &str) -> String {
    format!("books/{book_id}/source")
}
pub fn book_key(book_id: &str) -> String {
    format!("books/{book_id}/book.v1.json")
}
pub fn analysis_key(book_id: &str) -> String {
    format!("books/{book_id}/analysis.v1.json")
}
pub fn media_key(book_id: &str) -> String {
    format!("books/{book_id}/media.v1.json")
}
pub fn timeline_key(book_id: &str) -> String {
    format!("books/{book_id}/timeline.v1.json")
}
pub fn video_key(book_id: &str) -> String {
    format!("books/{book_id}/video.mp4")
}
/// Content-addressed media shared by every book (`cache/<kind>/<sha256>.<ext>`).
pub fn cache_key(kind: &str, hash_hex: &str, extension: &str) -> String {
    format!("cache/{kind}/{hash_hex}.{extension}")
}

/// What the generation stage produced for each scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaManifest {
    /// Always [`MEDIA_SCHEMA`].
    pub schema: String,
    pub scenes: Vec<SceneMedia>,
    pub narration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneMedia {
    pub scene_id: String,
    pub chapter_ordinal: u32,
    pub chapter_title: String,
    /// Narration WAV, content-addressed.
    pub narration_key: String,
    pub narration_ms: u64,
    /// Scene card PNG, content-addressed.
    pub image_key: String,
}
