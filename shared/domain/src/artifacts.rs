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
/// A file made by assembly (`video.mp4`, `subtitles.vtt`, `read-along.epub`...).
pub fn export_key(book_id: &str, file_name: &str) -> String {
    format!("books/{book_id}/exports/{file_name}")
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
    /// The speech engine that read the book (`piper`, `espeak`, `azure-speech`, `openai`).
    #[serde(default)]
    pub speech_engine: String,
    /// The image engine that drew it (`procedural`, `openai`).
    #[serde(default)]
    pub image_engine: String,
    /// Sentences that failed quality checks twice: used, not cached, to regenerate.
    #[serde(default)]
    pub flagged: Vec<QaFlag>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneMedia {
    pub scene_id: String,
    pub chapter_ordinal: u32,
    pub chapter_title: String,
    /// The voices alone (WAV, 24 kHz mono, about -16 LUFS), content-addressed.
    pub narration_key: String,
    pub narration_ms: u64,
    /// The voices with the soundscape ducked under them (WAV), content-addressed.
    #[serde(default)]
    pub audio_key: String,
    /// Landscape (16:9) illustration, PNG, content-addressed.
    pub image_key: String,
    /// Portrait (9:16) illustration, PNG, content-addressed.
    #[serde(default)]
    pub portrait_image_key: String,
    /// The chapter's music mood and the scene's ambience (`rain`, `forest`, `none`...).
    #[serde(default)]
    pub music: String,
    #[serde(default)]
    pub ambience: String,
    /// Where a camera should move toward in the landscape illustration (fractions of its
    /// width and height): the cast, or the scenery when nobody is drawn.
    #[serde(default = "centre")]
    pub focus: (f32, f32),
    /// Every sentence read, with its timing in this scene's narration.
    #[serde(default)]
    pub sentences: Vec<SpokenSentence>,
}

fn centre() -> (f32, f32) {
    (0.5, 0.5)
}

/// A sentence as read, timed exactly (sample offsets) within its scene.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpokenSentence {
    pub speaker: String,
    /// The engine's voice name, with its pitch shift and rate when not the default
    /// (`joe +4.3 x1.08`: semitones for Piper, percent for espeak-ng and Azure).
    pub voice: String,
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Word timings; estimated within the sentence when the engine does not report them.
    pub words: Vec<WordTiming>,
    /// The sentence's own audio, content-addressed.
    pub audio_key: String,
    /// Quality problems found (empty when it passed).
    #[serde(default)]
    pub qa: Vec<String>,
    /// The paragraph of `book.v1` the sentence comes from (none for lines the narrator adds,
    /// such as the chapter title).
    #[serde(default)]
    pub paragraph_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WordTiming {
    pub word: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A sentence that failed quality checks after a retry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QaFlag {
    pub scene_id: String,
    /// Index of the sentence in the scene.
    pub sentence: usize,
    pub speaker: String,
    pub text: String,
    /// `silent`, `too_short`, `too_long`, `long_silence`, `clipping`.
    pub problems: Vec<String>,
}
