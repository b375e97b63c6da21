//! `analysis.v1`: the story bible (cast, places), the scenes with their settings, moods,
//! summaries and visual briefs, and the narration script with a speaker per line. Images,
//! voices and pronunciation all read this one document.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::book::Warning;

pub const ANALYSIS_SCHEMA: &str = "visiobook.analysis.v1";

/// The speaker id of lines read by the narrator.
pub const NARRATOR: &str = "narrator";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Analysis {
    /// Always [`ANALYSIS_SCHEMA`].
    pub schema: String,
    pub title: String,
    pub language: String,
    /// Which engine produced it (`local`, `local+embeddings`, `llm`).
    #[serde(default)]
    pub engine: String,
    #[serde(default)]
    pub characters: Vec<Character>,
    #[serde(default)]
    pub places: Vec<Place>,
    pub scenes: Vec<Scene>,
    #[serde(default)]
    pub chapters: Vec<ChapterSummary>,
    /// A short summary of the whole book.
    #[serde(default)]
    pub summary: String,
    /// Proposed pronunciations for unusual names.
    #[serde(default)]
    pub pronunciations: Vec<Pronunciation>,
    #[serde(default)]
    pub warnings: Vec<Warning>,
}

/// A member of the cast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Character {
    /// Stable slug (`white-rabbit`), used as the speaker id of their lines.
    pub id: String,
    /// Canonical name (`the White Rabbit`).
    pub name: String,
    /// Other names merged into this one (`the Rabbit`, `Rabbit`).
    #[serde(default)]
    pub aliases: Vec<String>,
    pub mentions: u32,
    /// Id of the paragraph of the first mention.
    pub first_appearance: String,
    /// Only where the text supports it (pronouns near the name).
    #[serde(default)]
    pub gender: Option<Gender>,
    /// A short description drawn from the text.
    #[serde(default)]
    pub description: String,
    pub visual: VisualIdentity,
    pub voice: VoiceAssignment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Female,
    Male,
}

/// How a character looks in every illustration: the same colour, shape and emblem everywhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct VisualIdentity {
    /// `#rrggbb`.
    pub color: String,
    /// `circle`, `triangle`, `square`, `diamond`, `star`, `hexagon`...
    pub shape: String,
    /// A short word for the character's emblem (`watch`, `crown`, `hat`), or their initial.
    pub emblem: String,
    /// Seed for image engines, stable per character.
    pub seed: u64,
}

/// Which voice reads a character's lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VoiceAssignment {
    /// An engine-neutral voice slot (`narrator`, `female-1`, `male-2`, `neutral-3`).
    pub voice: String,
    /// Pitch shift in percent of the engine's default (-50..=50).
    pub pitch: i32,
    /// Speaking-rate factor (0.5..=2.0).
    pub rate: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Place {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub mentions: u32,
    pub first_appearance: String,
    #[serde(default)]
    pub description: String,
    /// `Some(true)` indoors, `Some(false)` outdoors, `None` when the text does not say.
    #[serde(default)]
    pub indoor: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChapterSummary {
    pub ordinal: u32,
    pub title: String,
    pub summary: String,
    pub scenes: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Pronunciation {
    pub term: String,
    /// A respelling an engine can read (`GRIFF-un`), or IPA when known.
    pub say_as: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Scene {
    /// Stable id: `c{chapter}-s{scene}`, 1-based.
    pub id: String,
    pub chapter_ordinal: u32,
    pub chapter_title: String,
    /// 1-based position within the chapter.
    pub ordinal_in_chapter: u32,
    /// Ids of the paragraphs the scene covers, in order.
    pub paragraph_ids: Vec<String>,
    #[serde(default)]
    pub setting: Setting,
    /// Ids of the characters present (mentioned or speaking).
    #[serde(default)]
    pub characters: Vec<String>,
    #[serde(default)]
    pub mood: Mood,
    /// One sentence that tells what happens, bounded.
    pub summary: String,
    /// A memorable line from the scene.
    #[serde(default)]
    pub key_quote: String,
    #[serde(default)]
    pub visual_brief: VisualBrief,
    /// What is read, line by line, each with its speaker.
    pub narration: Vec<NarrationLine>,
    pub word_count: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Setting {
    /// Place id.
    pub place: Option<String>,
    /// `morning`, `day`, `evening`, `night`, when the text says.
    pub time_of_day: Option<String>,
    pub indoor: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Mood {
    /// -1 (dark) ..= 1 (bright).
    pub valence: f32,
    /// 0 (quiet) ..= 1 (intense).
    pub intensity: f32,
    /// `calm`, `joyful`, `tense`, `sad`, `eerie`, `whimsical`, `angry`.
    pub label: String,
}

impl Default for Mood {
    fn default() -> Self {
        Self {
            valence: 0.0,
            intensity: 0.0,
            label: "calm".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VisualBrief {
    pub who: Vec<String>,
    #[serde(rename = "where")]
    pub place: String,
    pub what: String,
    pub mood: String,
    /// `#rrggbb` colours, dominant first.
    pub palette: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NarrationLine {
    /// [`NARRATOR`] or a character id.
    pub speaker: String,
    pub text: String,
    /// The paragraph the line comes from (absent for lines the narrator adds, such as the
    /// chapter title).
    #[serde(default)]
    pub paragraph_id: Option<String>,
}

/// The JSON Schema of `analysis.v1`, as published in `docs/schemas/analysis.v1.schema.json`.
pub fn json_schema() -> serde_json::Value {
    crate::schema::published::<Analysis>("analysis.v1")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_published_schema_matches_the_types() {
        crate::schema::check_published(
            "analysis.v1",
            &super::json_schema(),
            include_str!("../../../docs/schemas/analysis.v1.schema.json"),
        );
    }
}
