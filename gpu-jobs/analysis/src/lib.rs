//! Analysis: `book.v1` to `analysis.v1`, the story bible every later stage shares.
//!
//! The `local` engine works offline: [`characters`] finds the cast and the places, [`segment`]
//! cuts chapters into scenes (explicit breaks, then similarity valleys between paragraphs:
//! sentence embeddings through ONNX Runtime when the MiniLM assets are installed, word
//! overlap otherwise), [`dialogue`] attributes every quoted line to a speaker, [`mood`] reads
//! the mood of each scene from a sentiment lexicon. Summaries are extractive and bounded.

pub mod characters;
pub mod dialogue;
pub mod embedding;
pub mod llm;
pub mod mood;
pub mod overrides;
pub mod segment;

use std::collections::BTreeMap;

use visiobook_domain::analysis::{
    ANALYSIS_SCHEMA, ChapterSummary, Gender, NARRATOR, Pronunciation, Setting, VisualBrief,
};
use visiobook_domain::{
    Analysis, Book, Matter, NarrationLine, Paragraph, Scene, Warning, word_count,
};

use crate::characters::{Cast, bounded, sentences};
use crate::embedding::Embedder;

/// Longest scene summary, in characters.
pub const MAX_SUMMARY_CHARS: usize = 200;
/// Longest chapter summary, in characters.
pub const MAX_CHAPTER_SUMMARY_CHARS: usize = 400;
/// Longest book summary, in characters.
pub const MAX_BOOK_SUMMARY_CHARS: usize = 900;

/// What the analysis may use.
#[derive(Default, Clone, Copy)]
pub struct AnalysisOptions<'a> {
    /// Sentence embeddings for scene boundaries; the lexical method is used without them.
    pub embedder: Option<&'a Embedder>,
    /// Hears `(chapters done, chapters in all)` as the analysis goes.
    pub progress: Option<&'a (dyn Fn(u32, u32) + Sync)>,
}

impl std::fmt::Debug for AnalysisOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalysisOptions")
            .field("embedder", &self.embedder.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Analyses a book with the local engine and no embeddings.
pub fn analyse(book: &Book) -> Analysis {
    analyse_with(book, AnalysisOptions::default())
}

/// Analyses a book with the local engine.
pub fn analyse_with(book: &Book, options: AnalysisOptions<'_>) -> Analysis {
    let cast = characters::find_cast(book);
    let mut warnings = Vec::new();
    let engine = if options.embedder.is_some() {
        "local+embeddings"
    } else {
        "local"
    };
    if options.embedder.is_none() {
        warnings.push(Warning::new(
            "embeddings_unavailable",
            "the sentence-embedding model is not installed (scripts/fetch-models); scene boundaries use word overlap",
        ));
    }
    let mut scenes = Vec::new();
    let mut chapters = Vec::new();
    let body_chapters = u32::try_from(
        book.chapters
            .iter()
            .filter(|c| c.matter == Matter::Body)
            .count(),
    )
    .unwrap_or(u32::MAX);
    for chapter in book
        .chapters
        .iter()
        .filter(|chapter| chapter.matter == Matter::Body)
    {
        let paragraphs: Vec<&Paragraph> = chapter.paragraphs.iter().collect();
        let words: Vec<usize> = paragraphs.iter().map(|p| p.word_count).collect();
        let breaks: Vec<bool> = paragraphs.iter().map(|p| p.word_count == 0).collect();
        let embeddings = options.embedder.and_then(|embedder| {
            let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
            match embedder.embed(&texts) {
                Ok(vectors) => Some(vectors),
                Err(error) => {
                    warnings.push(Warning::new(
                        "embeddings_failed",
                        format!(
                            "chapter {}: {error}; word overlap was used",
                            chapter.ordinal
                        ),
                    ));
                    None
                }
            }
        });
        // Without embeddings, word-frequency vectors find the same kind of valleys.
        let vectors = embeddings.unwrap_or_else(|| {
            let texts: Vec<&str> = paragraphs.iter().map(|p| p.text.as_str()).collect();
            segment::lexical_vectors(&texts)
        });
        let starts = segment::scene_starts(&words, &breaks, Some(&vectors));
        let mut chapter_scenes = Vec::new();
        for (index, &start) in starts.iter().enumerate() {
            let end = starts.get(index + 1).copied().unwrap_or(paragraphs.len());
            let group: Vec<&Paragraph> = paragraphs[start..end]
                .iter()
                .copied()
                .filter(|p| p.word_count > 0)
                .collect();
            if group.is_empty() {
                continue;
            }
            let ordinal = u32::try_from(chapter_scenes.len() + 1).unwrap_or(u32::MAX);
            let title_line =
                (ordinal == 1).then(|| format!("{}.", chapter.title.trim_end_matches('.')));
            chapter_scenes.push(build_scene(
                chapter.ordinal,
                &chapter.title,
                ordinal,
                &group,
                title_line,
                &cast,
                &book.language,
            ));
        }
        chapters.push(ChapterSummary {
            ordinal: chapter.ordinal,
            title: chapter.title.clone(),
            summary: bounded(
                &chapter_scenes
                    .iter()
                    .take(2)
                    .map(|s: &Scene| s.summary.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                MAX_CHAPTER_SUMMARY_CHARS,
            ),
            scenes: u32::try_from(chapter_scenes.len()).unwrap_or(u32::MAX),
        });
        scenes.extend(chapter_scenes);
        if let Some(progress) = options.progress {
            progress(
                u32::try_from(chapters.len()).unwrap_or(u32::MAX),
                body_chapters,
            );
        }
    }
    let summary = bounded(
        &chapters
            .iter()
            .filter_map(|chapter| sentences(&chapter.summary).first().map(|s| (*s).to_owned()))
            .collect::<Vec<_>>()
            .join(" "),
        MAX_BOOK_SUMMARY_CHARS,
    );
    Analysis {
        schema: ANALYSIS_SCHEMA.to_owned(),
        title: book.title.clone(),
        language: book.language.clone(),
        engine: engine.to_owned(),
        pronunciations: pronunciations(&cast),
        characters: cast.characters,
        places: cast.places,
        scenes,
        chapters,
        summary,
        warnings,
    }
}

fn build_scene(
    chapter_ordinal: u32,
    chapter_title: &str,
    ordinal: u32,
    group: &[&Paragraph],
    title_line: Option<String>,
    cast: &Cast,
    language: &str,
) -> Scene {
    let text = group
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut narration = Vec::new();
    if let Some(title) = title_line {
        narration.push(NarrationLine {
            speaker: NARRATOR.into(),
            text: title,
            paragraph_id: None,
        });
    }
    let index = CastLookup(cast);
    let mut conversation = dialogue::Conversation::new();
    for paragraph in group {
        narration.extend(dialogue::attribute(
            &paragraph.id,
            &paragraph.text,
            language,
            &index,
            &mut conversation,
        ));
    }

    // Who is here: those named, then those who speak without being named.
    let mut present = cast.mentioned_in(&text);
    for line in &narration {
        if line.speaker != NARRATOR && !present.contains(&line.speaker) {
            present.push(line.speaker.clone());
        }
    }
    let place = cast.place_in(&text);
    let setting = Setting {
        place: place.map(|place| place.id.clone()),
        time_of_day: time_of_day(&text),
        indoor: place.and_then(|place| place.indoor),
    };
    let mood = mood::mood_of(&text);
    let summary = scene_summary(group, cast);
    let key_quote = key_quote(&narration, &summary);
    let who: Vec<String> = present
        .iter()
        .take(3)
        .filter_map(|id| cast.character(id).map(|c| c.name.clone()))
        .collect();
    let visual_brief = VisualBrief {
        who,
        place: place.map_or_else(|| "an open space".to_owned(), |place| place.name.clone()),
        what: summary.clone(),
        mood: mood.label.clone(),
        palette: mood::palette(&mood.label),
    };
    Scene {
        id: format!("c{chapter_ordinal}-s{ordinal}"),
        chapter_ordinal,
        chapter_title: chapter_title.to_owned(),
        ordinal_in_chapter: ordinal,
        paragraph_ids: group.iter().map(|p| p.id.clone()).collect(),
        setting,
        characters: present,
        mood,
        summary,
        key_quote,
        visual_brief,
        word_count: group.iter().map(|p| word_count(&p.text)).sum(),
        narration,
    }
}

/// The dialogue module's view of the cast.
struct CastLookup<'a>(&'a Cast);

impl dialogue::CastIndex for CastLookup<'_> {
    fn resolve(&self, mention: &str) -> Option<String> {
        self.0.resolve(mention).map(str::to_owned)
    }
    fn gender(&self, id: &str) -> Option<Gender> {
        self.0.character(id).and_then(|character| character.gender)
    }
}

/// The scene's most telling early sentence: among its first sentences, the first of at least
/// six words that names someone; else the first sentence.
fn scene_summary(group: &[&Paragraph], cast: &Cast) -> String {
    let candidates: Vec<&str> = group
        .iter()
        .flat_map(|p| sentences(&p.text))
        .take(6)
        .collect();
    let chosen = candidates
        .iter()
        .find(|sentence| {
            sentence.split_whitespace().count() >= 6 && !cast.mentioned_in(sentence).is_empty()
        })
        .or_else(|| candidates.first())
        .copied()
        .unwrap_or("");
    bounded(chosen, MAX_SUMMARY_CHARS)
}

/// A spoken line of 6 to 30 words, the longest; else the summary.
fn key_quote(narration: &[NarrationLine], summary: &str) -> String {
    narration
        .iter()
        .filter(|line| line.speaker != NARRATOR)
        .map(|line| line.text.as_str())
        .filter(|text| (6..=30).contains(&text.split_whitespace().count()))
        .max_by_key(|text| text.split_whitespace().count())
        .map_or_else(|| summary.to_owned(), str::to_owned)
}

fn time_of_day(text: &str) -> Option<String> {
    let lowered = text.to_lowercase();
    let cues: [(&str, &[&str]); 4] = [
        (
            "night",
            &["night", "midnight", "moon", "moonlight", "nuit", "lune"],
        ),
        (
            "morning",
            &["morning", "dawn", "sunrise", "breakfast", "matin", "aube"],
        ),
        (
            "evening",
            &[
                "evening",
                "dusk",
                "sunset",
                "twilight",
                "soir",
                "crépuscule",
            ],
        ),
        (
            "day",
            &["noon", "afternoon", "midday", "après-midi", "midi"],
        ),
    ];
    let mut best: BTreeMap<usize, &str> = BTreeMap::new();
    for (label, words) in cues {
        let count: usize = words
            .iter()
            .map(|word| characters::count_word(&lowered, word))
            .sum();
        if count > 0 {
            best.insert(count, label);
        }
    }
    best.into_iter()
        .next_back()
        .map(|(_, label)| label.to_owned())
}

/// Respellings for the cast's one-word names that English readers might stumble on.
fn pronunciations(cast: &Cast) -> Vec<Pronunciation> {
    let unusual = |word: &str| {
        let lowered = word.to_lowercase();
        [
            "ph", "y", "ae", "gh", "sch", "tz", "ij", "eu", "oe", "zs", "cz", "x",
        ]
        .iter()
        .any(|pattern| lowered[1..].contains(pattern))
            || !word.is_ascii()
    };
    let mut found = Vec::new();
    for character in cast.characters.iter().take(20) {
        let name = character.name.trim_start_matches("the ");
        if name.contains(' ') || name.len() < 4 || !unusual(name) {
            continue;
        }
        found.push(Pronunciation {
            term: name.to_owned(),
            say_as: respell(name),
        });
    }
    found
}

/// `Gryphon` to `GRY-phon`: vowel-group syllables, the first stressed.
fn respell(word: &str) -> String {
    let mut syllables: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut seen_vowel = false;
    for c in word.chars() {
        let vowel = "aeiouyAEIOUYàâäéèêëîïôöùûü".contains(c);
        if seen_vowel
            && !vowel
            && !current.is_empty()
            && current
                .chars()
                .last()
                .is_some_and(|l| "aeiouyàâäéèêëîïôöùûü".contains(l))
        {
            syllables.push(std::mem::take(&mut current));
            seen_vowel = false;
        }
        current.push(c);
        seen_vowel |= vowel;
    }
    if !current.is_empty() {
        if seen_vowel || syllables.is_empty() {
            syllables.push(current);
        } else if let Some(last) = syllables.last_mut() {
            last.push_str(&current);
        }
    }
    syllables
        .iter()
        .enumerate()
        .map(|(index, syllable)| {
            if index == 0 {
                syllable.to_uppercase()
            } else {
                syllable.to_lowercase()
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respellings_stress_the_first_syllable() {
        assert_eq!(respell("Gryphon"), "GRY-phon");
        assert_eq!(respell("Grete"), "GRE-te");
    }

    #[test]
    fn summaries_are_bounded_at_words() {
        let long = "word ".repeat(100);
        let cut = bounded(&long, MAX_SUMMARY_CHARS);
        assert!(cut.chars().count() <= MAX_SUMMARY_CHARS);
        assert!(cut.ends_with('…'));
    }
}
