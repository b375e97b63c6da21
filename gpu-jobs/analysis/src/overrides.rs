//! The user's corrections to the story bible, applied on top of any engine's analysis so that
//! every later stage (voices, images, pronunciation) sees them: rename a character, merge
//! characters that are one person, change a voice, add pronunciations.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use visiobook_domain::Analysis;
use visiobook_domain::analysis::{Pronunciation, VoiceAssignment};

/// Corrections for one book, stored beside it and applied after every analysis.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoryOverrides {
    /// Character id to its new display name (the old name becomes an alias).
    #[serde(default)]
    pub renames: BTreeMap<String, String>,
    /// Characters that are one person: the ids in `from` are folded into `into`.
    #[serde(default)]
    pub merges: Vec<Merge>,
    /// Character id to the voice that reads their lines.
    #[serde(default)]
    pub voices: BTreeMap<String, VoiceAssignment>,
    /// Added or replaced pronunciations, by term.
    #[serde(default)]
    pub pronunciations: Vec<Pronunciation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    pub into: String,
    pub from: Vec<String>,
}

/// Why overrides cannot apply; every problem is listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the overrides do not fit this book: {}", .0.join("; "))]
pub struct OverrideError(pub Vec<String>);

/// Checks the overrides against an analysis without changing it.
pub fn validate(analysis: &Analysis, overrides: &StoryOverrides) -> Result<(), OverrideError> {
    let known = |id: &str| analysis.characters.iter().any(|c| c.id == id);
    let mut problems = Vec::new();
    for merge in &overrides.merges {
        for id in std::iter::once(&merge.into).chain(&merge.from) {
            if !known(id) {
                problems.push(format!("merge names unknown character {id:?}"));
            }
        }
        if merge.from.contains(&merge.into) {
            problems.push(format!("{:?} cannot be merged into itself", merge.into));
        }
    }
    let merged_away: Vec<&String> = overrides.merges.iter().flat_map(|m| &m.from).collect();
    for (id, name) in &overrides.renames {
        if !known(id) || merged_away.contains(&id) {
            problems.push(format!("rename names unknown or merged character {id:?}"));
        }
        if name.trim().is_empty() || name.chars().count() > 100 {
            problems.push(format!(
                "the new name of {id:?} must be 1 to 100 characters"
            ));
        }
    }
    for (id, voice) in &overrides.voices {
        if !known(id) && id != visiobook_domain::analysis::NARRATOR {
            problems.push(format!("voice names unknown character {id:?}"));
        }
        if !(-50..=50).contains(&voice.pitch)
            || !(0.5..=2.0).contains(&voice.rate)
            || voice.voice.trim().is_empty()
        {
            problems.push(format!(
                "the voice of {id:?} needs a name, a pitch in -50..=50 and a rate in 0.5..=2"
            ));
        }
    }
    for pronunciation in &overrides.pronunciations {
        if pronunciation.term.trim().is_empty() || pronunciation.say_as.trim().is_empty() {
            problems.push("a pronunciation needs a term and how to say it".to_owned());
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(OverrideError(problems))
    }
}

/// Applies the overrides: merges first, then renames, voices and pronunciations.
pub fn apply(
    mut analysis: Analysis,
    overrides: &StoryOverrides,
) -> Result<Analysis, OverrideError> {
    validate(&analysis, overrides)?;
    for merge in &overrides.merges {
        let mut folded = Vec::new();
        analysis.characters.retain(|character| {
            if merge.from.contains(&character.id) {
                folded.push(character.clone());
                false
            } else {
                true
            }
        });
        if let Some(target) = analysis.characters.iter_mut().find(|c| c.id == merge.into) {
            for other in folded {
                target.mentions += other.mentions;
                target.aliases.push(other.name);
                target.aliases.extend(other.aliases);
            }
            target.aliases.sort();
            target.aliases.dedup();
        }
        for scene in &mut analysis.scenes {
            for line in &mut scene.narration {
                if merge.from.contains(&line.speaker) {
                    line.speaker = merge.into.clone();
                }
            }
            for id in &mut scene.characters {
                if merge.from.contains(id) {
                    id.clone_from(&merge.into);
                }
            }
            let mut seen = std::collections::HashSet::new();
            scene.characters.retain(|id| seen.insert(id.clone()));
        }
    }
    for (id, name) in &overrides.renames {
        if let Some(character) = analysis.characters.iter_mut().find(|c| &c.id == id)
            && character.name != *name
        {
            let old = std::mem::replace(&mut character.name, name.trim().to_owned());
            character.aliases.push(old);
        }
    }
    for (id, voice) in &overrides.voices {
        if let Some(character) = analysis.characters.iter_mut().find(|c| &c.id == id) {
            character.voice = voice.clone();
        }
    }
    for pronunciation in &overrides.pronunciations {
        analysis
            .pronunciations
            .retain(|existing| existing.term != pronunciation.term);
        analysis.pronunciations.push(pronunciation.clone());
    }
    Ok(analysis)
}
