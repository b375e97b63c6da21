//! `analysis.v1`: scenes and the narration script that later stages consume.

use serde::{Deserialize, Serialize};

pub const ANALYSIS_SCHEMA: &str = "visiobook.analysis.v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Always [`ANALYSIS_SCHEMA`].
    pub schema: String,
    pub title: String,
    pub language: String,
    pub scenes: Vec<Scene>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Stable id: `c{chapter}-s{scene}`, 1-based.
    pub id: String,
    pub chapter_ordinal: u32,
    pub chapter_title: String,
    /// 1-based position within the chapter.
    pub ordinal_in_chapter: u32,
    /// Ids of the paragraphs the scene covers, in order.
    pub paragraph_ids: Vec<String>,
    /// One sentence that introduces the scene (its first sentence, bounded).
    pub summary: String,
    /// What the narrator reads, line by line.
    pub narration: Vec<NarrationLine>,
    pub word_count: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NarrationLine {
    /// `narrator` until speaker attribution arrives.
    pub speaker: String,
    pub text: String,
}
