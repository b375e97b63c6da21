//! `timeline.v1`: the one document every export is rendered from.

use serde::{Deserialize, Serialize};

pub const TIMELINE_SCHEMA: &str = "visiobook.timeline.v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Always [`TIMELINE_SCHEMA`].
    pub schema: String,
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
    pub shots: Vec<Shot>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shot {
    pub scene_id: String,
    pub chapter_ordinal: u32,
    pub chapter_title: String,
    /// Blob key of the still image shown for this shot.
    pub image_key: String,
    /// Blob key of the narration audio (WAV) for this shot.
    pub narration_key: String,
    pub start_ms: u64,
    pub duration_ms: u64,
}
