//! The cast and the places, from the text alone: capitalised names that are not sentence
//! openers, titled roles (`the Hatter`, `la Reine`), kinship roles (`his father`), alias merging
//! (`the Rabbit` into `the White Rabbit`, `Gregor` into `Gregor Samsa`), mentions, first
//! appearance, gender only where pronouns near the name agree, and a stable look and voice.

use std::collections::{BTreeMap, HashMap, HashSet};

use visiobook_domain::analysis::{Character, Gender, Place, VisualIdentity, VoiceAssignment};
use visiobook_domain::{Book, Matter};

/// Capitalised words that are never names on their own.
const NOT_NAMES: &[&str] = &[
    "I",
    "I'm",
    "I'll",
    "I've",
    "I'd",
    "Oh",
    "Ah",
    "Well",
    "Yes",
    "No",
    "Now",
    "Then",
    "There",
    "Here",
    "What",
    "Why",
    "How",
    "Who",
    "When",
    "Where",
    "The",
    "A",
    "An",
    "And",
    "But",
    "Or",
    "So",
    "If",
    "It",
    "It's",
    "In",
    "On",
    "At",
    "As",
    "Of",
    "To",
    "For",
    "With",
    "This",
    "That",
    "These",
    "Those",
    "She",
    "He",
    "They",
    "We",
    "You",
    "Your",
    "My",
    "His",
    "Her",
    "Their",
    "Our",
    "Its",
    "Do",
    "Don't",
    "Let",
    "Come",
    "Please",
    "Sir",
    "Madam",
    "Miss",
    "Majesty",
    "Mr",
    "Mrs",
    "Ms",
    "Dr",
    "Chapter",
    "CHAPTER",
    "Lord",
    "God",
    "Heaven",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "January",
    "February",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "English",
    "French",
    "Latin",
    "Christmas",
    "Project",
    "Gutenberg",
    "THE",
    "END",
    "Il",
    "Elle",
    "Je",
    "Tu",
    "Nous",
    "Vous",
    "Ils",
    "Elles",
    "Le",
    "La",
    "Les",
    "Un",
    "Une",
    "Des",
    "Et",
    "Mais",
    "Ou",
    "Donc",
    "Oui",
    "Non",
    "Ce",
    "Cette",
    "Mon",
    "Ma",
    "Mes",
    "Son",
    "Sa",
    "Ses",
    "Monsieur",
    "Madame",
    "Mademoiselle",
    "Dieu",
    "Quand",
    "Comme",
    "Puis",
    "Alors",
    "Si",
    "Bien",
    "Voilà",
    "Ah",
    "Eh",
];

/// Words that are names only as the first word of a longer one (`March Hare`, `May Day`).
const ONLY_IN_LONGER_NAMES: &[&str] = &["March", "May", "Will"];

/// Words allowed inside a multi-word name (`Queen of Hearts`, `Jean de Florette`).
const NAME_JOINERS: &[&str] = &["of", "de", "du", "des", "la", "le", "von", "van"];

/// Kinship roles that name a person when they recur (`his father`, `sa mère`).
const ROLES: &[(&str, &str, Gender)] = &[
    ("father", "the father", Gender::Male),
    ("mother", "the mother", Gender::Female),
    ("sister", "the sister", Gender::Female),
    ("brother", "the brother", Gender::Male),
    ("père", "le père", Gender::Male),
    ("mère", "la mère", Gender::Female),
    ("sœur", "la sœur", Gender::Female),
    ("frère", "le frère", Gender::Male),
];

/// Words that tell a person from a thing: what characters do in a sentence.
const PERSON_VERBS: &[&str] = &[
    "said",
    "asked",
    "cried",
    "replied",
    "thought",
    "shouted",
    "whispered",
    "exclaimed",
    "answered",
    "remarked",
    "went",
    "looked",
    "began",
    "dit",
    "demanda",
    "répondit",
    "cria",
    "pensa",
];

/// Place nouns and whether they are indoors.
const PLACE_NOUNS: &[(&str, bool)] = &[
    ("hall", true),
    ("room", true),
    ("kitchen", true),
    ("house", true),
    ("court", true),
    ("cottage", true),
    ("palace", true),
    ("castle", true),
    ("church", true),
    ("office", true),
    ("flat", true),
    ("bedroom", true),
    ("garden", false),
    ("wood", false),
    ("forest", false),
    ("sea", false),
    ("beach", false),
    ("river", false),
    ("street", false),
    ("road", false),
    ("field", false),
    ("hill", false),
    ("pool", false),
    ("town", false),
    ("city", false),
    ("village", false),
    ("park", false),
    ("meadow", false),
    ("shore", false),
    ("maison", true),
    ("chambre", true),
    ("cuisine", true),
    ("salle", true),
    ("château", true),
    ("jardin", false),
    ("forêt", false),
    ("bois", false),
    ("mer", false),
    ("plage", false),
    ("rue", false),
    ("ville", false),
    ("village", false),
    ("rivière", false),
    ("champ", false),
];

/// Emblem words a character may be drawn with.
const EMBLEMS: &[&str] = &[
    "watch", "hat", "crown", "tea", "cards", "pipe", "mushroom", "grin", "gloves", "fan", "key",
    "book", "sword", "violin", "apple", "cake", "rose", "tarts", "baby", "pepper", "shell",
    "bottle", "door",
];

const PALETTE: [&str; 12] = [
    "#e4572e", "#17bebb", "#ffc914", "#76b041", "#7b5ea7", "#2e86ab", "#f18f01", "#c73e1d",
    "#3b1f2b", "#a23b72", "#6a994e", "#bc4749",
];
const SHAPES: [&str; 8] = [
    "circle", "triangle", "square", "diamond", "star", "hexagon", "crescent", "heart",
];
const PITCHES: [i32; 8] = [-20, 15, -10, 25, 5, -30, 30, -5];

/// Everything the character pass learns, for the scenes and the dialogue to use.
#[derive(Debug, Clone, Default)]
pub struct Cast {
    pub characters: Vec<Character>,
    pub places: Vec<Place>,
    /// Every surface form (lower-cased, without a leading article) to a character id.
    pub forms: HashMap<String, String>,
    /// Every place form (lower-cased) to a place id.
    pub place_forms: HashMap<String, String>,
}

impl Cast {
    /// The character a mention refers to, ignoring a leading article.
    pub fn resolve(&self, mention: &str) -> Option<&str> {
        let key = strip_article(mention.trim()).to_lowercase();
        self.forms.get(&key).map(String::as_str)
    }

    pub fn character(&self, id: &str) -> Option<&Character> {
        self.characters.iter().find(|character| character.id == id)
    }

    /// Character ids mentioned in `text`, most mentioned first.
    pub fn mentioned_in(&self, text: &str) -> Vec<String> {
        let lowered = text.to_lowercase();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for (form, id) in &self.forms {
            let found = count_word(&lowered, form);
            if found > 0 {
                *counts.entry(id.as_str()).or_default() += found;
            }
        }
        let mut ids: Vec<(&str, usize)> = counts.into_iter().collect();
        ids.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        ids.into_iter().map(|(id, _)| id.to_owned()).collect()
    }

    /// The place most mentioned in `text`, if any.
    pub fn place_in(&self, text: &str) -> Option<&Place> {
        let lowered = text.to_lowercase();
        self.place_forms
            .iter()
            .map(|(form, id)| (count_word(&lowered, form), id))
            .filter(|(count, _)| *count > 0)
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(a.1)))
            .and_then(|(_, id)| self.places.iter().find(|place| &place.id == id))
    }
}

/// How many characters the bible keeps at most.
const MAX_CHARACTERS: usize = 40;
/// Mentions a name needs to count as a character.
const MIN_MENTIONS: u32 = 3;

/// Finds the cast and the places of a book.
pub fn find_cast(book: &Book) -> Cast {
    let paragraphs: Vec<(&str, &str)> = book
        .chapters
        .iter()
        .filter(|chapter| chapter.matter == Matter::Body)
        .flat_map(|chapter| {
            chapter
                .paragraphs
                .iter()
                .map(|p| (p.id.as_str(), p.text.as_str()))
        })
        .collect();

    // 1. Candidate names: runs of capitalised words that do not open a sentence.
    let mut candidates: HashMap<String, Candidate> = HashMap::new();
    let mut lowercase_words: HashMap<String, u32> = HashMap::new();
    for (paragraph_id, text) in &paragraphs {
        for sentence in sentences(text) {
            let words: Vec<&str> = sentence.split_whitespace().collect();
            for word in &words {
                let bare = trim_word(word);
                if bare.chars().next().is_some_and(char::is_lowercase) {
                    *lowercase_words.entry(bare.to_lowercase()).or_default() += 1;
                }
            }
            let mut index = 0;
            while index < words.len() {
                let Some(length) = name_run(&words, index) else {
                    index += 1;
                    continue;
                };
                let name = words[index..index + length]
                    .iter()
                    .map(|w| trim_possessive(trim_word(w)))
                    .collect::<Vec<_>>()
                    .join(" ");
                let opener = index == 0
                    || words[index - 1].ends_with(['‘', '“', '"', '«', '—'])
                    || starts_quote(words[index]);
                let titled = index > 0
                    && matches!(
                        trim_word(words[index - 1]).to_lowercase().as_str(),
                        "the" | "la" | "le" | "l'"
                    );
                let spoken = words.get(index + length).is_some_and(|next| {
                    PERSON_VERBS.contains(&trim_word(next).to_lowercase().as_str())
                }) || (index > 0
                    && PERSON_VERBS.contains(&trim_word(words[index - 1]).to_lowercase().as_str()))
                    || (index > 1
                        && titled
                        && PERSON_VERBS
                            .contains(&trim_word(words[index - 2]).to_lowercase().as_str()));
                let entry = candidates.entry(name.clone()).or_insert_with(|| Candidate {
                    first: (*paragraph_id).to_owned(),
                    ..Candidate::default()
                });
                entry.total += 1;
                if !opener {
                    entry.mid_sentence += 1;
                }
                if titled {
                    entry.titled += 1;
                }
                if spoken {
                    entry.spoken += 1;
                }
                index += length;
            }
        }
    }

    // 2. Keep names seen mid-sentence, not mostly lower-case common words.
    let mut names: Vec<(String, Candidate)> = candidates
        .into_iter()
        .filter(|(name, candidate)| {
            let lower = lowercase_words
                .get(&name.to_lowercase())
                .copied()
                .unwrap_or(0);
            candidate.mid_sentence >= 2
                && candidate.total >= MIN_MENTIONS
                && !NOT_NAMES.contains(&name.as_str())
                && !(ONLY_IN_LONGER_NAMES.contains(&name.as_str()) && lower > 0)
                && (lower < candidate.total
                    || candidate.titled * 2 >= candidate.total
                    || candidate.spoken > 0)
                && name.chars().any(char::is_lowercase)
        })
        .collect();
    names.sort_by(|a, b| b.1.total.cmp(&a.1.total).then(a.0.cmp(&b.0)));

    // 3. Merge aliases: `Rabbit` into `White Rabbit` (same head), `Gregor` into `Gregor Samsa`.
    let multi: Vec<String> = names
        .iter()
        .filter(|(n, _)| n.contains(' '))
        .map(|(n, _)| n.clone())
        .collect();
    let mut merged: Vec<(String, Candidate, Vec<String>)> = Vec::new();
    let mut alias_of: HashMap<String, String> = HashMap::new();
    for (name, _) in &names {
        if name.contains(' ') {
            continue;
        }
        let owners: Vec<&String> = multi
            .iter()
            .filter(|full| {
                let parts: Vec<&str> = full.split(' ').collect();
                !parts[0].ends_with('.')
                    && (parts.last() == Some(&name.as_str())
                        || (parts.len() == 2 && parts[0] == name))
            })
            .collect();
        if owners.len() == 1 {
            alias_of.insert(name.clone(), owners[0].clone());
        }
    }
    for (name, candidate) in &names {
        if alias_of.contains_key(name) {
            continue;
        }
        let aliases: Vec<String> = alias_of
            .iter()
            .filter(|(_, owner)| *owner == name)
            .map(|(alias, _)| alias.clone())
            .collect();
        let mut total = candidate.clone();
        for alias in &aliases {
            if let Some((_, other)) = names.iter().find(|(n, _)| n == alias) {
                total.total += other.total;
                total.titled += other.titled;
                total.spoken += other.spoken;
            }
        }
        merged.push((name.clone(), total, aliases));
    }

    // 4. Kinship roles that recur.
    let mut role_counts: Vec<(&str, &str, Gender, u32, String)> = Vec::new();
    for (word, canonical, gender) in ROLES {
        let mut count = 0;
        let mut first = None;
        for (paragraph_id, text) in &paragraphs {
            let lowered = text.to_lowercase();
            let found = [
                "his ", "her ", "my ", "the ", "their ", "your ", "sa ", "son ", "ma ", "mon ",
                "le ", "la ",
            ]
            .iter()
            .map(|owner| count_word(&lowered, &format!("{owner}{word}")))
            .sum::<usize>() as u32;
            if found > 0 && first.is_none() {
                first = Some((*paragraph_id).to_owned());
            }
            count += found;
        }
        if count >= 8
            && let Some(first) = first
        {
            role_counts.push((word, canonical, *gender, count, first));
        }
    }

    // 5. Build the characters, person-like names first, most mentioned first.
    merged.sort_by(|a, b| {
        let person = |c: &Candidate| c.spoken > 0 || c.titled > 0;
        person(&b.1)
            .cmp(&person(&a.1))
            .then(b.1.total.cmp(&a.1.total))
            .then(a.0.cmp(&b.0))
    });
    let mut characters: Vec<Character> = Vec::new();
    let mut forms: HashMap<String, String> = HashMap::new();
    let mut used_ids: HashSet<String> = HashSet::new();
    for (name, candidate, aliases) in merged.into_iter().take(MAX_CHARACTERS) {
        let titled = candidate.titled * 2 >= candidate.total;
        let display = if titled {
            format!("the {name}")
        } else {
            name.clone()
        };
        let id = unique_id(&slug(&name), &mut used_ids);
        let alias_display: Vec<String> = aliases
            .iter()
            .map(|alias| {
                if titled {
                    format!("the {alias}")
                } else {
                    alias.clone()
                }
            })
            .collect();
        forms.insert(name.to_lowercase(), id.clone());
        for alias in &aliases {
            forms.insert(alias.to_lowercase(), id.clone());
        }
        characters.push(draft_character(
            id,
            display,
            alias_display,
            candidate.total,
            candidate.first,
        ));
    }
    for (word, canonical, gender, count, first) in role_counts {
        if forms.contains_key(word) {
            continue;
        }
        let id = unique_id(&slug(word), &mut used_ids);
        forms.insert(word.to_owned(), id.clone());
        let mut character = draft_character(id, canonical.to_owned(), Vec::new(), count, first);
        character.gender = Some(gender);
        characters.push(character);
    }
    characters.sort_by(|a, b| b.mentions.cmp(&a.mentions).then(a.name.cmp(&b.name)));

    // 6. Gender from pronouns after the name, description from the first sentence naming them,
    //    emblem from nouns near them; then looks and voices by rank.
    for character in &mut characters {
        let keys: Vec<String> = forms
            .iter()
            .filter(|(_, id)| **id == character.id)
            .map(|(form, _)| form.clone())
            .collect();
        let mut female = 0;
        let mut male = 0;
        let mut emblems: BTreeMap<&str, u32> = BTreeMap::new();
        for (_, text) in &paragraphs {
            for sentence in sentences(text) {
                let lowered = sentence.to_lowercase();
                if !keys.iter().any(|key| count_word(&lowered, key) > 0) {
                    continue;
                }
                if character.description.is_empty() {
                    character.description = bounded(sentence.trim(), 200);
                }
                // The first third-person pronoun after the name votes for its gender.
                let after = keys
                    .iter()
                    .filter_map(|key| lowered.find(key.as_str()).map(|at| at + key.len()))
                    .min()
                    .unwrap_or(0);
                let vote = lowered[after..]
                    .split_whitespace()
                    .map(trim_word)
                    .find_map(|word| match word {
                        "she" | "her" | "herself" | "elle" => Some(true),
                        "he" | "him" | "his" | "himself" | "il" | "lui" => Some(false),
                        _ => None,
                    });
                match vote {
                    Some(true) => female += 1,
                    Some(false) => male += 1,
                    None => {}
                }
                for word in lowered.split_whitespace().map(trim_word) {
                    if let Some(emblem) = EMBLEMS.iter().find(|emblem| **emblem == word) {
                        *emblems.entry(emblem).or_default() += 1;
                    }
                }
            }
        }
        if character.gender.is_none() && female + male >= 4 {
            if female >= 3 * male {
                character.gender = Some(Gender::Female);
            } else if male >= 3 * female {
                character.gender = Some(Gender::Male);
            }
        }
        if let Some((emblem, _)) = emblems
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0)))
        {
            character.visual.emblem = emblem.to_owned();
        }
    }
    assign_looks_and_voices(&mut characters);

    let (places, place_forms) = find_places(&paragraphs);
    Cast {
        characters,
        places,
        forms,
        place_forms,
    }
}

#[derive(Debug, Clone, Default)]
struct Candidate {
    total: u32,
    mid_sentence: u32,
    titled: u32,
    spoken: u32,
    first: String,
}

fn draft_character(
    id: String,
    name: String,
    aliases: Vec<String>,
    mentions: u32,
    first: String,
) -> Character {
    let initial = name
        .trim_start_matches("the ")
        .chars()
        .next()
        .unwrap_or('?')
        .to_uppercase()
        .to_string();
    Character {
        visual: VisualIdentity {
            color: String::new(),
            shape: String::new(),
            emblem: initial,
            seed: fnv(&id),
        },
        voice: VoiceAssignment {
            voice: String::new(),
            pitch: 0,
            rate: 1.0,
        },
        id,
        name,
        aliases,
        mentions,
        first_appearance: first,
        gender: None,
        description: String::new(),
    }
}

/// Colours and shapes by rank (so the main cast is told apart most clearly), voice slots by
/// gender, pitch and rate varied so that neighbours in rank do not sound alike.
fn assign_looks_and_voices(characters: &mut [Character]) {
    assign_voice_slots(characters);
    for (rank, character) in characters.iter_mut().enumerate() {
        character.visual.color = PALETTE[rank % PALETTE.len()].to_owned();
        character.visual.shape = SHAPES[rank % SHAPES.len()].to_owned();
        character.voice.pitch = PITCHES[rank % PITCHES.len()];
        character.voice.rate = [1.0, 0.92, 1.08, 0.96, 1.04][rank % 5];
    }
}

/// Voice slots by gender in rank order (`female-1`, `male-1`, `neutral-1`...); pitch and rate
/// are left alone, so a later change of gender keeps how a character sounds otherwise.
pub(crate) fn assign_voice_slots(characters: &mut [Character]) {
    let (mut female, mut male, mut neutral) = (0, 0, 0);
    for character in characters {
        character.voice.voice = match character.gender {
            Some(Gender::Female) => {
                female += 1;
                format!("female-{female}")
            }
            Some(Gender::Male) => {
                male += 1;
                format!("male-{male}")
            }
            None => {
                neutral += 1;
                format!("neutral-{neutral}")
            }
        };
    }
}

/// Places: `the garden`, `la forêt`... counted when they recur.
fn find_places(paragraphs: &[(&str, &str)]) -> (Vec<Place>, HashMap<String, String>) {
    let mut places = Vec::new();
    let mut forms = HashMap::new();
    for (noun, indoor) in PLACE_NOUNS {
        let mut count = 0;
        let mut first = None;
        for (paragraph_id, text) in paragraphs {
            let found = count_word(&text.to_lowercase(), noun) as u32;
            if found > 0 && first.is_none() {
                first = Some((*paragraph_id).to_owned());
            }
            count += found;
        }
        if count >= 3
            && let Some(first) = first
        {
            let id = slug(noun);
            forms.insert((*noun).to_owned(), id.clone());
            places.push(Place {
                id,
                name: (*noun).to_owned(),
                aliases: Vec::new(),
                mentions: count,
                first_appearance: first,
                description: String::new(),
                indoor: Some(*indoor),
            });
        }
    }
    places.sort_by(|a, b| b.mentions.cmp(&a.mentions).then(a.name.cmp(&b.name)));
    (places, forms)
}

/// The length of the capitalised name run starting at `index`, if one does.
fn name_run(words: &[&str], index: usize) -> Option<usize> {
    let is_capitalised = |word: &str| {
        let bare = trim_word(word);
        bare.chars().next().is_some_and(char::is_uppercase)
            && bare.chars().filter(|c| c.is_alphabetic()).count() >= 2
    };
    if !is_capitalised(words[index]) || NOT_NAMES.contains(&trim_word(words[index])) {
        return None;
    }
    let mut length = 1;
    while index + length < words.len() {
        let previous = words[index + length - 1];
        if previous.ends_with([',', '.', ';', ':', '!', '?', '\'', '’', '”', '"', '»', ')']) {
            break;
        }
        let next = words[index + length];
        if is_capitalised(next) && !NOT_NAMES.contains(&trim_word(next)) {
            length += 1;
        } else if NAME_JOINERS.contains(&next)
            && index + length + 1 < words.len()
            && is_capitalised(words[index + length + 1])
            && !next.ends_with([',', '.'])
        {
            length += 2;
        } else {
            break;
        }
    }
    Some(length.min(4))
}

fn starts_quote(word: &str) -> bool {
    word.starts_with(['‘', '“', '"', '«', '—', '\''])
}

/// `Alice's` to `Alice`.
fn trim_possessive(word: &str) -> &str {
    word.strip_suffix("'s")
        .or_else(|| word.strip_suffix("’s"))
        .unwrap_or(word)
}

/// A word without surrounding punctuation or quotes (keeps inner apostrophes and hyphens).
pub fn trim_word(word: &str) -> &str {
    word.trim_matches(|c: char| !c.is_alphanumeric())
}

fn strip_article(text: &str) -> &str {
    for article in [
        "the ", "The ", "la ", "La ", "le ", "Le ", "l'", "L'", "l’", "L’",
    ] {
        if let Some(rest) = text.strip_prefix(article) {
            return rest;
        }
    }
    text
}

pub use visiobook_domain::sentences;

/// Occurrences of `needle` in `haystack` at word boundaries (both lower-cased by the caller).
pub fn count_word(haystack: &str, needle: &str) -> usize {
    if needle.is_empty() {
        return 0;
    }
    let mut count = 0;
    let mut from = 0;
    while let Some(found) = haystack[from..].find(needle) {
        let start = from + found;
        let end = start + needle.len();
        let before = haystack[..start].chars().next_back();
        let after = haystack[end..].chars().next();
        if before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
        {
            count += 1;
        }
        from = end;
    }
    count
}

fn slug(name: &str) -> String {
    let mut slug = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

fn unique_id(base: &str, used: &mut HashSet<String>) -> String {
    let mut id = if base.is_empty() {
        "character".to_owned()
    } else {
        base.to_owned()
    };
    let mut n = 2;
    while used.contains(&id) {
        id = format!("{base}-{n}");
        n += 1;
    }
    used.insert(id.clone());
    id
}

/// `text` cut at a word boundary to at most `max` characters, with an ellipsis when cut.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max - 1).collect();
    format!(
        "{}…",
        cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head)
    )
}

use visiobook_domain::stable_seed as fnv;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_after_closing_quotes() {
        let found = sentences("‘Oh dear!' said the Rabbit. She ran. Then?");
        assert_eq!(
            found,
            ["‘Oh dear!'", "said the Rabbit.", "She ran.", "Then?"]
        );
    }

    #[test]
    fn words_are_counted_at_boundaries() {
        assert_eq!(count_word("the hatter and the hatter's hat", "hatter"), 2);
        assert_eq!(count_word("scattered", "cat"), 0);
    }

    #[test]
    fn slugs_are_stable() {
        assert_eq!(slug("White Rabbit"), "white-rabbit");
        assert_eq!(slug("Queen of Hearts"), "queen-of-hearts");
    }
}
