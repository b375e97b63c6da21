//! The mood of a scene from a small bilingual sentiment lexicon: valence (dark to bright),
//! intensity (quiet to intense, raised by exclamations and strong words), and a label, with a
//! palette for illustrations.

use visiobook_domain::analysis::Mood;

const POSITIVE: &[&str] = &[
    "happy",
    "glad",
    "delight",
    "delighted",
    "delightful",
    "joy",
    "laugh",
    "laughed",
    "laughing",
    "smile",
    "smiled",
    "pleasant",
    "pleased",
    "lovely",
    "beautiful",
    "kind",
    "kindly",
    "warm",
    "bright",
    "sweet",
    "love",
    "loved",
    "hope",
    "hoped",
    "comfortable",
    "safe",
    "gentle",
    "merry",
    "cheerful",
    "nice",
    "good",
    "wonderful",
    "grand",
    "friendly",
    "calm",
    "peace",
    "peaceful",
    "sun",
    "sunshine",
    "heureux",
    "heureuse",
    "joie",
    "rire",
    "sourire",
    "beau",
    "belle",
    "doux",
    "douce",
    "aimer",
    "espoir",
    "calme",
    "paix",
    "content",
    "contente",
    "agréable",
    "lumière",
];
const NEGATIVE: &[&str] = &[
    "sad",
    "cry",
    "cried",
    "crying",
    "tears",
    "afraid",
    "fear",
    "frightened",
    "terrible",
    "horrible",
    "angry",
    "anger",
    "furious",
    "cross",
    "pain",
    "hurt",
    "dark",
    "alone",
    "lonely",
    "miserable",
    "unhappy",
    "grief",
    "dead",
    "death",
    "die",
    "died",
    "cold",
    "ugly",
    "scream",
    "screamed",
    "shriek",
    "shrieked",
    "worried",
    "anxious",
    "danger",
    "trouble",
    "wretched",
    "sorrow",
    "dismay",
    "disgust",
    "triste",
    "pleurer",
    "larmes",
    "peur",
    "terrible",
    "colère",
    "douleur",
    "mort",
    "seul",
    "seule",
    "froid",
    "sombre",
    "malheureux",
    "malheureuse",
    "angoisse",
    "danger",
    "cri",
    "crier",
];
const INTENSE: &[&str] = &[
    "scream",
    "screamed",
    "shriek",
    "shrieked",
    "shouted",
    "roared",
    "furious",
    "rage",
    "terrified",
    "suddenly",
    "crash",
    "violent",
    "violently",
    "desperate",
    "ran",
    "rushed",
    "struggle",
    "fight",
    "soudain",
    "hurla",
    "cria",
    "furieux",
    "terrifié",
    "violent",
];
const EERIE: &[&str] = &[
    "strange",
    "queer",
    "curious",
    "odd",
    "shadow",
    "ghost",
    "vanished",
    "disappeared",
    "mysterious",
    "silence",
    "whisper",
    "whispered",
    "dream",
    "étrange",
    "bizarre",
    "ombre",
    "fantôme",
    "disparu",
    "mystérieux",
    "rêve",
];
const ANGRY: &[&str] = &[
    "angry", "furious", "rage", "cross", "shouted", "roared", "colère", "furieux",
];

/// The mood of a piece of text.
pub fn mood_of(text: &str) -> Mood {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let total = words.len().max(1) as f32;
    let count = |list: &[&str]| words.iter().filter(|w| list.contains(&w.as_str())).count() as f32;
    let (positive, negative) = (count(POSITIVE), count(NEGATIVE));
    let (intense, eerie, angry) = (count(INTENSE), count(EERIE), count(ANGRY));
    let exclamations = text.matches('!').count() as f32;
    let valence = if positive + negative > 0.0 {
        ((positive - negative) / (positive + negative)).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    // Per hundred words, scaled so a handful of strong cues reads as intense.
    let intensity = (((intense * 2.0 + exclamations) / total) * 12.0).clamp(0.0, 1.0);
    let label = if angry >= 2.0 && valence < 0.0 {
        "angry"
    } else if valence <= -0.3 && intensity >= 0.45 {
        "tense"
    } else if valence <= -0.3 {
        "sad"
    } else if eerie / total * 100.0 >= 1.0 && valence <= 0.2 {
        "eerie"
    } else if valence >= 0.3 && intensity >= 0.35 {
        "joyful"
    } else if eerie >= 2.0 {
        "whimsical"
    } else {
        "calm"
    };
    Mood {
        valence: (valence * 100.0).round() / 100.0,
        intensity: (intensity * 100.0).round() / 100.0,
        label: label.to_owned(),
    }
}

/// Colours that suit a mood, dominant first.
pub fn palette(label: &str) -> Vec<String> {
    let colours: &[&str] = match label {
        "joyful" => &["#ffd166", "#f4a261", "#90be6d", "#fefae0"],
        "tense" => &["#3d405b", "#e07a5f", "#1d3557", "#f2cc8f"],
        "sad" => &["#457b9d", "#a8dadc", "#1d3557", "#d8e2dc"],
        "angry" => &["#9d0208", "#dc2f02", "#370617", "#faa307"],
        "eerie" => &["#2b2d42", "#6a4c93", "#8d99ae", "#c0fdfb"],
        "whimsical" => &["#cdb4db", "#ffafcc", "#a2d2ff", "#bde0fe"],
        _ => &["#84a98c", "#cad2c5", "#52796f", "#f1faee"],
    };
    colours.iter().map(|c| (*c).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moods_follow_the_words() {
        let check = |text: &str, label: &str| assert_eq!(mood_of(text).label, label, "{text}");
        check(
            "She laughed, happy and warm in the bright sun, and smiled at her kind friend.",
            "calm",
        );
        check(
            "She cried alone in the dark, miserable, her tears cold.",
            "sad",
        );
        check(
            "He screamed! Terrified, she ran, and the violent crash shook the dark house! Danger!",
            "tense",
        );
        check("Il hurla, furieux, plein de colère! Furieux!", "angry");
        check("The garden was quiet.", "calm");
        let joyful = mood_of(
            "Oh joy! She laughed and laughed, delighted! What a wonderful, merry day! Hooray!",
        );
        assert_eq!(joyful.label, "joyful", "{joyful:?}");
        assert!(joyful.valence > 0.5);
    }

    #[test]
    fn palettes_exist_for_every_label() {
        for label in [
            "joyful",
            "tense",
            "sad",
            "angry",
            "eerie",
            "whimsical",
            "calm",
        ] {
            assert_eq!(palette(label).len(), 4);
        }
    }
}
