//! `timeline.v1`: the one document every export is rendered from (video, audiobook, subtitles,
//! read-along EPUB, storyboard), so picture, voice, subtitles and highlighted text never drift.
//!
//! Times are milliseconds from the start of the book. Shots follow each other without gaps;
//! cues lie inside their shot; chapter marks cover the shots of their chapter.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub const TIMELINE_SCHEMA: &str = "visiobook.timeline.v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Timeline {
    /// Always [`TIMELINE_SCHEMA`].
    pub schema: String,
    pub title: String,
    #[serde(default)]
    pub author: Option<String>,
    /// BCP 47.
    #[serde(default)]
    pub language: String,
    /// The landscape frame, in pixels.
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
    pub duration_ms: u64,
    #[serde(default)]
    pub chapters: Vec<ChapterMark>,
    pub shots: Vec<Shot>,
    /// The audio tracks and how they were mixed.
    #[serde(default)]
    pub audio: Vec<AudioTrack>,
    /// Subtitle cues, one per sentence, with word timings.
    #[serde(default)]
    pub cues: Vec<Cue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChapterMark {
    pub ordinal: u32,
    pub title: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A still on screen while its scene is read, with a camera move over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Shot {
    pub scene_id: String,
    pub chapter_ordinal: u32,
    pub chapter_title: String,
    /// Blob key of the landscape still (PNG).
    pub image_key: String,
    /// Blob key of the portrait still (PNG), for vertical exports.
    #[serde(default)]
    pub portrait_image_key: String,
    /// Blob key of the shot's program audio (voices over the soundscape, WAV).
    pub audio_key: String,
    /// Blob key of the voices alone (WAV).
    #[serde(default)]
    pub narration_key: String,
    pub start_ms: u64,
    pub duration_ms: u64,
    pub camera: Camera,
    /// What the storyboard shows of the scene.
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub mood: String,
    /// Names and colours of the characters present.
    #[serde(default)]
    pub characters: Vec<ShotCharacter>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShotCharacter {
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
}

/// A Ken Burns move: the frame at the start and at the end of the shot, eased in between.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Camera {
    pub from: Frame,
    pub to: Frame,
}

/// What the camera frames: the centre of the view as fractions of the still (0..1) and the
/// zoom (1 shows the whole still).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Frame {
    pub x: f64,
    pub y: f64,
    pub zoom: f64,
}

impl Camera {
    /// No move: the whole still.
    pub fn still() -> Self {
        let whole = Frame {
            x: 0.5,
            y: 0.5,
            zoom: 1.0,
        };
        Self {
            from: whole,
            to: whole,
        }
    }
}

/// An audio track of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AudioTrack {
    /// `program` (what the exports play), `narration`, `music`, `ambience`.
    pub kind: String,
    /// Gain relative to the program, in dB (loudness targets for music and ambience).
    pub gain_db: f64,
    /// How far the track dips under the voices, in dB (0 when not ducked).
    #[serde(default)]
    pub ducking_db: f64,
    /// Per shot: the blob holding this track (empty when the track is mixed into `program`
    /// only) and what plays (`whimsical`, `rain`...).
    pub segments: Vec<AudioSegment>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AudioSegment {
    pub start_ms: u64,
    pub duration_ms: u64,
    #[serde(default)]
    pub blob_key: String,
    #[serde(default)]
    pub label: String,
}

/// A sentence on screen while it is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Cue {
    pub scene_id: String,
    pub chapter_ordinal: u32,
    /// Index of the paragraph in its chapter (sentences of one paragraph share it).
    pub paragraph: u32,
    pub speaker: String,
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
    pub words: Vec<WordCue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WordCue {
    pub text: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// The JSON Schema of `timeline.v1`, as published in `docs/schemas/timeline.v1.schema.json`.
pub fn json_schema() -> serde_json::Value {
    crate::schema::published::<Timeline>("timeline.v1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_published_schema_matches_the_types() {
        crate::schema::check_published(
            "timeline.v1",
            &super::json_schema(),
            include_str!("../../../docs/schemas/timeline.v1.schema.json"),
        );
    }
}
