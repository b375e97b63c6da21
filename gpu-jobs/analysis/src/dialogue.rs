//! Speaker attribution: one paragraph becomes narration lines and quoted lines, and every quoted
//! line gets a speaker.
//!
//! Quotes are English double and single quotes, curly or straight (an apostrophe inside or at
//! the end of a word is told apart from a closing quote), French guillemets, and, outside
//! English, em-dash dialogue: a paragraph that starts with a dash is spoken, its incises
//! (`, dit-il,`) excepted. A quote left open at the end of a paragraph goes on in the next one.
//!
//! The speaker of a quote comes, in this order, from an incise inside it, from the dialogue tag
//! after it (`said the Hatter`, `the March Hare meekly replied`, `dit-il`), from the tag before
//! it (`and then said`, `Marie demanda :`), from the action beat before it in the paragraph
//! (`Alice sighed.`), from the quote before it in the same paragraph, and last from the rhythm
//! of the conversation: an untagged line in a new paragraph answers the previous one, so it
//! goes to the other of the two people talking. Pronoun tags (`she said`, `dit-elle`) go to
//! the character of that gender named last in the paragraph, else to one in the conversation.
//! Tags that name a group (`they cried`), the narrating `I`, or someone not in the cast leave
//! the line to the narrator.

use std::ops::Range;

use visiobook_domain::NarrationLine;
use visiobook_domain::analysis::{Gender, NARRATOR};

/// Names and aliases of the cast, resolved to character ids.
pub trait CastIndex {
    /// The character id a mention refers to (`"the Hatter"`, `"Hatter"`; `"he"` is not a name
    /// and gives `None`).
    fn resolve(&self, mention: &str) -> Option<String>;
    /// Gender of a character id when known (for he/she tags), else `None`.
    fn gender(&self, id: &str) -> Option<Gender>;
}

/// How many speakers, and how many characters, a conversation remembers.
const MEMORY: usize = 12;

/// The conversation of one scene, carried from paragraph to paragraph: who spoke (the last two
/// are the two people talking), who was named, and a quote left open at a paragraph's end.
#[derive(Debug, Default, Clone)]
pub struct Conversation {
    /// Character ids in the order they spoke, most recent last, without immediate repeats.
    speakers: Vec<String>,
    /// Character ids named or speaking, most recent last, each once.
    recent: Vec<String>,
    /// Character ids that were the subject of a sentence of narration, most recent last, each
    /// once: who the story is following.
    subjects: Vec<String>,
    /// The quote the previous paragraph left open.
    open: Option<Open>,
}

#[derive(Debug, Clone)]
struct Open {
    family: Family,
    /// `None` when the narrator had it.
    speaker: Option<String>,
}

/// Moves or adds `id` to the end of `ids`, forgetting the oldest beyond [`MEMORY`].
fn remember(ids: &mut Vec<String>, id: &str) {
    ids.retain(|seen| seen != id);
    ids.push(id.to_owned());
    if ids.len() > MEMORY {
        ids.remove(0);
    }
}

impl Conversation {
    pub fn new() -> Self {
        Self::default()
    }

    /// Called at scene boundaries: forgets everything.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    fn spoke(&mut self, id: &str) {
        if self.speakers.last().is_none_or(|last| last != id) {
            self.speakers.push(id.to_owned());
            if self.speakers.len() > MEMORY {
                self.speakers.remove(0);
            }
        }
        self.saw(id);
    }

    fn saw(&mut self, id: &str) {
        remember(&mut self.recent, id);
    }

    fn last_speaker(&self) -> Option<&str> {
        self.speakers.last().map(String::as_str)
    }

    /// The other one of the two people talking: who spoke before the last speaker.
    fn other_speaker(&self) -> Option<&str> {
        let index = self.speakers.len().checked_sub(2)?;
        self.speakers.get(index).map(String::as_str)
    }
}

/// Splits one paragraph into narration lines with speakers. `state` carries the conversation
/// across paragraphs of one scene (who spoke last, the two people talking) so that untagged
/// lines in an alternating exchange get the right speaker.
///
/// The lines keep the order and every word of the text; quotation marks around a quote, and
/// lines with no letter or digit, are left out.
pub fn attribute(
    paragraph_id: &str,
    text: &str,
    language: &str,
    cast: &dyn CastIndex,
    state: &mut Conversation,
) -> Vec<NarrationLine> {
    let lang = Lang::of(language);
    let open = state.open.take();
    let split = split(text, lang, open.as_ref().map(|open| open.family));
    let pieces = &split.pieces;

    // The words of the narration, the incises of the quotes, and the names met on the way.
    let mut words: Vec<Vec<Word<'_>>> = Vec::with_capacity(pieces.len());
    let mut incises: Vec<Vec<Incise>> = Vec::with_capacity(pieces.len());
    let mut sentence_at: Vec<usize> = Vec::with_capacity(pieces.len());
    let mut here: Vec<Seen> = Vec::new();
    let mut sentence = 0;
    for piece in pieces {
        sentence_at.push(sentence);
        match piece {
            Piece::Narration(range) => {
                let piece_words = tokenize(text, range.clone());
                sentence = note_names(&piece_words, sentence, cast, lang, &mut here);
                words.push(piece_words);
                incises.push(Vec::new());
            }
            Piece::Quote(quote) => {
                let found = if lang == Lang::English {
                    Vec::new()
                } else {
                    find_incises(text, quote.inner.clone(), cast, lang)
                };
                for incise in &found {
                    if let Who::Name(id) = &incise.who {
                        here.push(Seen {
                            pos: incise.pos,
                            sentence,
                            id: id.clone(),
                            possessive: false,
                            subject: false,
                        });
                    }
                }
                words.push(Vec::new());
                incises.push(found);
            }
        }
    }

    let mut speakers: Vec<Option<String>> = vec![None; pieces.len()];
    let mut last_here: Option<String> = None;
    let mut first_quote = true;
    for (k, piece) in pieces.iter().enumerate() {
        let Piece::Quote(quote) = piece else {
            continue;
        };
        let narration_at = |index: Option<usize>| {
            index
                .filter(|&i| matches!(pieces.get(i), Some(Piece::Narration(_))))
                .map(|i| words[i].as_slice())
        };
        let before = narration_at(k.checked_sub(1));
        let after = narration_at(Some(k + 1));
        let end_mark = text[quote.inner.clone()].trim_end().chars().last();
        let narrated = pieces[..k]
            .iter()
            .any(|piece| matches!(piece, Piece::Narration(_)));
        let tag = incises[k]
            .first()
            .map(|incise| Tag {
                who: incise.who.clone(),
                pos: incise.pos,
            })
            .or_else(|| after.and_then(|after| post_tag(after, cast, lang, end_mark)))
            .or_else(|| before.and_then(|before| pre_tag(before, cast, lang)));
        let speaker = match tag {
            Some(tag) => speaker_of(&tag, narrated, &here, state, cast),
            None => {
                let action = before
                    .filter(|_| !quote.continued)
                    .and_then(|before| beat(before, cast, lang));
                if quote.continued {
                    open.as_ref().and_then(|open| open.speaker.clone())
                } else if let Some(action) = action {
                    speaker_of(&action, narrated, &here, state, cast)
                } else if quote.family != Family::Dash && last_here.is_some() {
                    last_here.clone()
                } else if first_quote && open.is_some() {
                    open.as_ref().and_then(|open| open.speaker.clone())
                } else {
                    let answered = (quote.family == Family::Dash)
                        .then(|| incises.get(k + 1).and_then(|next| next.first()))
                        .flatten()
                        .and_then(|incise| match &incise.who {
                            Who::Name(id) => Some(id.as_str()),
                            _ => None,
                        });
                    untagged(answered, quote.inner.start, &here, state)
                }
            }
        };
        first_quote = false;
        if let Some(id) = &speaker {
            state.spoke(id);
            here.push(Seen {
                pos: quote.inner.start,
                sentence: sentence_at[k],
                id: id.clone(),
                possessive: false,
                subject: false,
            });
            last_here = Some(id.clone());
        }
        speakers[k] = speaker;
    }

    here.sort_by_key(|seen| seen.pos);
    for seen in &here {
        state.saw(&seen.id);
        if seen.subject {
            remember(&mut state.subjects, &seen.id);
        }
    }
    state.open = split.open_at_end.map(|family| Open {
        family,
        speaker: pieces
            .iter()
            .zip(&speakers)
            .rev()
            .find(|(piece, _)| matches!(piece, Piece::Quote(_)))
            .and_then(|(_, speaker)| speaker.clone()),
    });

    let mut lines = Lines {
        paragraph_id,
        lines: Vec::new(),
    };
    for ((piece, speaker), piece_incises) in pieces.iter().zip(&speakers).zip(&incises) {
        match piece {
            Piece::Narration(range) => lines.push(NARRATOR, clean_narration(&text[range.clone()])),
            Piece::Quote(quote) => {
                let speaker = speaker.as_deref().unwrap_or(NARRATOR);
                let mut cursor = quote.inner.start;
                for incise in piece_incises {
                    lines.push(speaker, clean_speech(&text[cursor..incise.range.start]));
                    lines.push(NARRATOR, clean_narration(&text[incise.range.clone()]));
                    cursor = incise.range.end;
                }
                lines.push(speaker, clean_speech(&text[cursor..quote.inner.end]));
            }
        }
    }
    lines.lines
}

/// The speaker of an untagged quote: the other of the two people talking (or, in em-dash
/// dialogue answered by `answered`, whoever spoke last but them); with only one person talking
/// so far, someone else named recently; else the narrator.
fn untagged(
    answered: Option<&str>,
    pos: usize,
    here: &[Seen],
    state: &Conversation,
) -> Option<String> {
    if let Some(answered) = answered {
        return state
            .speakers
            .iter()
            .rev()
            .chain(state.recent.iter().rev())
            .find(|id| *id != answered)
            .cloned();
    }
    if let Some(other) = state.other_speaker() {
        return Some(other.to_owned());
    }
    let last = state.last_speaker();
    let mut named_here: Vec<&Seen> = here.iter().filter(|seen| seen.pos < pos).collect();
    named_here.sort_by_key(|seen| seen.pos);
    named_here
        .iter()
        .rev()
        .map(|seen| seen.id.as_str())
        .chain(state.recent.iter().rev().map(String::as_str))
        .find(|id| Some(*id) != last)
        .map(str::to_owned)
}

/// The character a tag points to; `None` for the narrator (groups, the narrating `I`, names
/// not in the cast).
fn speaker_of(
    tag: &Tag,
    narrated: bool,
    here: &[Seen],
    state: &Conversation,
    cast: &dyn CastIndex,
) -> Option<String> {
    match &tag.who {
        Who::Name(id) => Some(id.clone()),
        Who::Pronoun(gender) => resolve_pronoun(*gender, tag.pos, narrated, here, state, cast),
        Who::Group | Who::FirstPerson | Who::Unknown => None,
    }
}

/// `he`/`she` at `pos`: the character of that gender named in the latest sentence of the
/// paragraph that names one (its subject, the first named, when several are), else one of
/// unknown gender named before it in the paragraph; else, of that gender, the other person
/// talking, a speaker, or a character named recently, where a paragraph `narrated` before
/// its quote (`She was looking about... she said`) first asks who the story was following;
/// else the other person talking when not of the other gender.
fn resolve_pronoun(
    gender: Gender,
    pos: usize,
    narrated: bool,
    here: &[Seen],
    state: &Conversation,
    cast: &dyn CastIndex,
) -> Option<String> {
    let matches = |id: &str| cast.gender(id) == Some(gender);
    let mut before: Vec<&Seen> = here.iter().filter(|seen| seen.pos < pos).collect();
    before.sort_by_key(|seen| seen.pos);
    if let Some(latest) = before.iter().rev().find(|seen| matches(&seen.id)) {
        let same: Vec<&&Seen> = before
            .iter()
            .filter(|seen| seen.sentence == latest.sentence && matches(&seen.id))
            .collect();
        return same
            .iter()
            .find(|seen| !seen.possessive)
            .or(same.first())
            .map(|seen| seen.id.clone());
    }
    if let Some(seen) = before
        .iter()
        .rev()
        .find(|seen| cast.gender(&seen.id).is_none())
    {
        return Some(seen.id.clone());
    }
    let followed = state.subjects.iter().rev().find(|id| matches(id));
    if narrated && let Some(id) = followed {
        return Some(id.clone());
    }
    if let Some(other) = state.other_speaker().filter(|id| matches(id)) {
        return Some(other.to_owned());
    }
    if let Some(id) = state
        .speakers
        .iter()
        .rev()
        .skip(1)
        .chain(state.speakers.last())
        .chain(followed)
        .chain(state.recent.iter().rev())
        .find(|id| matches(id))
    {
        return Some(id.clone());
    }
    let opposite = match gender {
        Gender::Female => Gender::Male,
        Gender::Male => Gender::Female,
    };
    state
        .other_speaker()
        .filter(|id| cast.gender(id) != Some(opposite))
        .map(str::to_owned)
}

/// The lines of a paragraph, built piece by piece.
struct Lines<'a> {
    paragraph_id: &'a str,
    lines: Vec<NarrationLine>,
}

impl Lines<'_> {
    /// Adds a line, unless it has no letter or digit; a line of the same speaker as the one
    /// before joins it.
    fn push(&mut self, speaker: &str, text: &str) {
        if !text.chars().any(char::is_alphanumeric) {
            return;
        }
        if let Some(last) = self.lines.last_mut()
            && last.speaker == speaker
        {
            last.text.push(' ');
            last.text.push_str(text);
            return;
        }
        self.lines.push(NarrationLine {
            speaker: speaker.to_owned(),
            text: text.to_owned(),
            paragraph_id: Some(self.paragraph_id.to_owned()),
        });
    }
}

/// Narration without the punctuation a quote left at its start (`, said Alice` → `said Alice`)
/// or an opening bracket or mark at its end.
fn clean_narration(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_whitespace() || ",;:.!?…)]»”’'\"—–―-".contains(c))
        .trim_end_matches(|c: char| c.is_whitespace() || "([«“‘—–―".contains(c))
}

/// Speech without a dialogue dash or punctuation at its start (`--well in.` → `well in.`) or a
/// stray guillemet or opening mark at its end.
fn clean_speech(text: &str) -> &str {
    text.trim_start_matches(|c: char| c.is_whitespace() || ",;:.!?…»—–―-".contains(c))
        .trim_end_matches(|c: char| c.is_whitespace() || "«»“‘".contains(c))
}

// ---------------------------------------------------------------------------------------------
// Quotes

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    English,
    French,
    Other,
}

impl Lang {
    fn of(tag: &str) -> Self {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        if primary.eq_ignore_ascii_case("en") {
            Self::English
        } else if primary.eq_ignore_ascii_case("fr") {
            Self::French
        } else {
            Self::Other
        }
    }
}

/// Kinds of quotation marks; a quote closes with a mark of its own family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    /// “…” and "…".
    Double,
    /// ‘…’, ‘…' (Project Gutenberg) and '…'.
    Single,
    /// «…».
    Guillemet,
    /// A turn of em-dash dialogue.
    Dash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Narration(Range<usize>),
    Quote(Quote),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Quote {
    /// Byte range of the quoted text, without its marks.
    inner: Range<usize>,
    family: Family,
    /// The quote began in an earlier paragraph.
    continued: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Split {
    pieces: Vec<Piece>,
    /// The family of a quote still open at the end of the paragraph.
    open_at_end: Option<Family>,
}

/// Cuts a paragraph into narration and quotes. `open` is the family of a quote the previous
/// paragraph left open.
fn split(text: &str, lang: Lang, open: Option<Family>) -> Split {
    if lang != Lang::English
        && let Some(split) = dash_dialogue(text)
    {
        return split;
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Splitter {
        text,
        pieces: Vec::new(),
        narration_from: 0,
    };
    let mut i = 0;
    if let Some(family) = open {
        match continuation(&chars, family) {
            Some(Continuation::Until(k)) => {
                let (at, mark) = chars[k];
                out.quote(0..at, family, true);
                out.narration_from = at + mark.len_utf8();
                i = k + 1;
            }
            Some(Continuation::Whole) => {
                out.quote(0..text.len(), family, true);
                out.narration_from = text.len();
                return out.finish(Some(family));
            }
            None => {}
        }
    }
    while i < chars.len() {
        let Some(family) = opener(&chars, i) else {
            i += 1;
            continue;
        };
        let (at, mark) = chars[i];
        let inner_start = at + mark.len_utf8();
        match closer(&chars, i + 1, family) {
            Some(k) => {
                let (close_at, close_mark) = chars[k];
                out.narration_until(at);
                out.quote(inner_start..close_at, family, false);
                out.narration_from = close_at + close_mark.len_utf8();
                i = k + 1;
            }
            // A straight single quote that never closes is an apostrophe.
            None if mark == '\'' => i += 1,
            None => {
                out.narration_until(at);
                out.quote(inner_start..text.len(), family, false);
                out.narration_from = text.len();
                return out.finish(Some(family));
            }
        }
    }
    out.narration_until(text.len());
    out.finish(None)
}

struct Splitter<'a> {
    text: &'a str,
    pieces: Vec<Piece>,
    narration_from: usize,
}

impl Splitter<'_> {
    fn narration_until(&mut self, end: usize) {
        let range = self.narration_from..end;
        if !self.text[range.clone()].trim().is_empty() {
            self.pieces.push(Piece::Narration(range));
        }
        self.narration_from = end;
    }

    fn quote(&mut self, inner: Range<usize>, family: Family, continued: bool) {
        self.pieces.push(Piece::Quote(Quote {
            inner,
            family,
            continued,
        }));
    }

    fn finish(mut self, open_at_end: Option<Family>) -> Split {
        if self.narration_from < self.text.len() {
            self.narration_until(self.text.len());
        }
        Split {
            pieces: self.pieces,
            open_at_end,
        }
    }
}

enum Continuation {
    /// The open quote closes at this char index.
    Until(usize),
    /// The whole paragraph is inside it (a song or a letter quoted within the speech).
    Whole,
}

/// How a paragraph goes on with a quote of `family` left open before it: up to a closing mark
/// that comes before any new opening mark of the family; or, when it starts with a mark of
/// another family and never closes, all of it. `None` when it starts afresh.
fn continuation(chars: &[(usize, char)], family: Family) -> Option<Continuation> {
    let first = chars.iter().position(|&(_, c)| !c.is_whitespace())?;
    for k in first..chars.len() {
        if opener(chars, k) == Some(family) {
            return None;
        }
        if is_closer(chars, k, family) {
            return Some(Continuation::Until(k));
        }
    }
    matches!(chars[first].1, '"' | '“' | '‘' | '«' | '\'').then_some(Continuation::Whole)
}

/// Words that start with an apostrophe standing for dropped letters (`'tis`, `'em`).
#[rustfmt::skip]
const ELISIONS: &[&str] = &[
    "tis", "twas", "twere", "twill", "twould", "em", "cause", "cos", "til", "bout", "n",
    "neath", "cept", "gainst", "ere", "round", "nuff",
];

/// The family of a quote opening at char `i`, if one does.
fn opener(chars: &[(usize, char)], i: usize) -> Option<Family> {
    let c = chars[i].1;
    let prev = i.checked_sub(1).map(|p| chars[p].1);
    let next = chars.get(i + 1).map(|&(_, n)| n);
    let starts_word = prev.is_none_or(|p| p.is_whitespace() || "([{—–―\"“‘«".contains(p));
    match c {
        '“' => Some(Family::Double),
        '‘' => Some(Family::Single),
        '«' => Some(Family::Guillemet),
        '"' if starts_word && next.is_some_and(|n| !n.is_whitespace()) => Some(Family::Double),
        '\'' if starts_word && next.is_some_and(char::is_alphanumeric) => {
            let word: String = chars[i + 1..]
                .iter()
                .map(|&(_, c)| c)
                .take_while(|c| c.is_alphanumeric())
                .collect::<String>()
                .to_lowercase();
            (!ELISIONS.contains(&word.as_str())).then_some(Family::Single)
        }
        _ => None,
    }
}

/// The char index of the mark closing a quote of `family` opened before `from`.
fn closer(chars: &[(usize, char)], from: usize, family: Family) -> Option<usize> {
    let mut depth = 0usize;
    for k in from..chars.len() {
        let c = chars[k].1;
        if (family == Family::Double && c == '“') || (family == Family::Guillemet && c == '«') {
            depth += 1;
        } else if is_closer(chars, k, family) {
            if depth == 0 {
                return Some(k);
            }
            depth -= 1;
        }
    }
    None
}

/// Whether char `k` can close a quote of `family`. A single quote or right single mark closes
/// only after a non-space and before a non-letter, so `don't` and `o'clock` do not.
fn is_closer(chars: &[(usize, char)], k: usize, family: Family) -> bool {
    let c = chars[k].1;
    let prev = k.checked_sub(1).map(|p| chars[p].1);
    let next = chars.get(k + 1).map(|&(_, n)| n);
    let after_text = prev.is_some_and(|p| !p.is_whitespace());
    match family {
        Family::Double => {
            c == '”' || (c == '"' && (after_text || next.is_none_or(char::is_whitespace)))
        }
        Family::Single => {
            matches!(c, '’' | '\'') && after_text && next.is_none_or(|n| !n.is_alphanumeric())
        }
        Family::Guillemet => c == '»',
        Family::Dash => false,
    }
}

fn is_dash(c: char) -> bool {
    matches!(c, '—' | '–' | '―')
}

/// Em-dash dialogue: a paragraph starting with a dash is spoken; a dash after the end of a
/// sentence starts another turn (`— Tu viens ? — Oui.`).
fn dash_dialogue(text: &str) -> Option<Split> {
    let start = text.find(|c: char| !c.is_whitespace())?;
    let dash = text[start..].chars().next().filter(|&c| is_dash(c))?;
    let body = start + dash.len_utf8();
    let mut from = body;
    let mut pieces = Vec::new();
    for (at, c) in text
        .char_indices()
        .filter(|&(at, c)| at >= body && is_dash(c))
    {
        let before = text[..at].trim_end();
        let spaced_before = before.len() < at;
        let spaced_after = text[at + c.len_utf8()..]
            .chars()
            .next()
            .is_some_and(char::is_whitespace);
        let sentence_ended = before.chars().last().is_some_and(|p| ".!?…»".contains(p));
        if spaced_before && spaced_after && sentence_ended && at > from {
            pieces.push(Piece::Quote(Quote {
                inner: from..at,
                family: Family::Dash,
                continued: false,
            }));
            from = at + c.len_utf8();
        }
    }
    pieces.push(Piece::Quote(Quote {
        inner: from..text.len(),
        family: Family::Dash,
        continued: false,
    }));
    Some(Split {
        pieces,
        open_at_end: None,
    })
}

// ---------------------------------------------------------------------------------------------
// Words, names and tags

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Brk {
    None,
    Clause,
    Sentence,
}

fn brk_of(punctuation: &str) -> Brk {
    if punctuation.contains(['.', '!', '?', '…']) {
        Brk::Sentence
    } else if punctuation.contains([',', ';', ':', '(', ')', '[', ']']) {
        Brk::Clause
    } else {
        Brk::None
    }
}

/// A word of narration, without the punctuation around it.
#[derive(Debug, Clone)]
struct Word<'a> {
    text: &'a str,
    /// Lower case, with typographic apostrophes made straight.
    lower: String,
    /// Byte offset in the paragraph.
    start: usize,
    /// Byte offset of the end of the word and its trailing punctuation.
    tok_end: usize,
    /// The punctuation after it.
    brk: Brk,
}

/// The words of `text[range]`; dashes (`—`, `--`) part words and break clauses.
fn tokenize(text: &str, range: Range<usize>) -> Vec<Word<'_>> {
    let mut tokens: Vec<Option<Range<usize>>> = Vec::new();
    let mut start = None;
    let mut chars = text[range.clone()].char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        let at = range.start + offset;
        let dash = is_dash(c) || (c == '-' && chars.peek().is_some_and(|&(_, n)| n == '-'));
        if c.is_whitespace() || dash {
            if let Some(from) = start.take() {
                tokens.push(Some(from..at));
            }
            if dash {
                while chars.next_if(|&(_, n)| n == '-').is_some() {}
                tokens.push(None);
            }
        } else if start.is_none() {
            start = Some(at);
        }
    }
    if let Some(from) = start {
        tokens.push(Some(from..range.end));
    }

    fn raise(words: &mut [Word<'_>], brk: Brk) {
        if let Some(last) = words.last_mut() {
            last.brk = last.brk.max(brk);
        }
    }
    let mut words: Vec<Word<'_>> = Vec::new();
    for token in tokens {
        let Some(token) = token else {
            raise(&mut words, Brk::Clause);
            continue;
        };
        let raw = &text[token.clone()];
        let Some(lead) = raw.find(char::is_alphanumeric) else {
            raise(&mut words, brk_of(raw));
            continue;
        };
        let trail = raw
            .char_indices()
            .rev()
            .find(|&(_, c)| c.is_alphanumeric())
            .map_or(raw.len(), |(i, c)| i + c.len_utf8());
        if raw[..lead].contains(['(', '[']) {
            raise(&mut words, Brk::Clause);
        }
        let core = &raw[lead..trail];
        words.push(Word {
            text: core,
            lower: core.to_lowercase().replace('’', "'"),
            start: token.start + lead,
            tok_end: token.end,
            brk: brk_of(&raw[trail..]),
        });
    }
    words
}

/// Who a mention or a tag points to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Who {
    Name(String),
    Pronoun(Gender),
    /// `they`, `ils`, `on`.
    Group,
    /// The narrating `I`.
    FirstPerson,
    /// Someone named who is not in the cast.
    Unknown,
}

/// A tag's subject and where it stands in the paragraph.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tag {
    who: Who,
    pos: usize,
}

#[derive(Debug, Clone)]
struct Mention {
    who: Who,
    /// Index of its last word.
    last: usize,
    /// `Alice's`.
    possessive: bool,
    pos: usize,
}

impl Mention {
    fn tag(self) -> Tag {
        Tag {
            who: self.who,
            pos: self.pos,
        }
    }
}

/// A character named (or speaking) in the paragraph.
#[derive(Debug, Clone)]
struct Seen {
    pos: usize,
    /// Number of the narration sentence it is in.
    sentence: usize,
    id: String,
    possessive: bool,
    /// The first mention of its sentence (of narration).
    subject: bool,
}

/// A narrator's incise inside a quote (`dit-il`), with its subject.
#[derive(Debug, Clone)]
struct Incise {
    range: Range<usize>,
    who: Who,
    pos: usize,
}

fn pronoun(lower: &str, lang: Lang) -> Option<Who> {
    let english = match lower {
        "he" => Some(Who::Pronoun(Gender::Male)),
        "she" => Some(Who::Pronoun(Gender::Female)),
        "they" | "we" => Some(Who::Group),
        "i" => Some(Who::FirstPerson),
        _ => None,
    };
    let french = match lower {
        "il" => Some(Who::Pronoun(Gender::Male)),
        "elle" => Some(Who::Pronoun(Gender::Female)),
        "ils" | "elles" | "on" | "nous" => Some(Who::Group),
        "je" | "j'" => Some(Who::FirstPerson),
        _ => None,
    };
    match lang {
        Lang::English => english,
        Lang::French => french,
        Lang::Other => english
            .or(french)
            .filter(|who| matches!(who, Who::Pronoun(_))),
    }
}

const ARTICLES: &[&str] = &["the", "le", "la", "les", "l'"];

/// Words that start the name of someone not in the cast (`said a timid voice`).
const DETERMINERS: &[&str] = &[
    "the", "a", "an", "one", "some", "another", "le", "la", "les", "l'", "un", "une", "son", "sa",
];

fn starts_upper(text: &str) -> bool {
    text.chars().next().is_some_and(char::is_uppercase)
}

/// `l'Inspecteur` → `Inspecteur`.
fn without_elision(text: &str) -> &str {
    for prefix in ["l'", "l’", "L'", "L’", "d'", "d’"] {
        if let Some(rest) = text.strip_prefix(prefix)
            && starts_upper(rest)
        {
            return rest;
        }
    }
    text
}

/// A pronoun, or a name of the cast (`the March Hare`, `Alice's`), starting at word `i`.
fn mention_at(words: &[Word<'_>], i: usize, cast: &dyn CastIndex, lang: Lang) -> Option<Mention> {
    let word = words.get(i)?;
    if let Some(who) = pronoun(&word.lower, lang) {
        return Some(Mention {
            who,
            last: i,
            possessive: false,
            pos: word.start,
        });
    }
    let article = ARTICLES.contains(&word.lower.as_str());
    let text_of = |k: usize| {
        if k == i {
            without_elision(words[k].text)
        } else {
            words[k].text
        }
    };
    if !article && !starts_upper(text_of(i)) {
        return None;
    }
    let mut end = i;
    while end + 1 < words.len() && end - i < 3 && words[end].brk == Brk::None {
        end += 1;
    }
    for last in (i..=end).rev() {
        if (article && last == i) || !starts_upper(text_of(last)) {
            continue;
        }
        let mut parts: Vec<&str> = (i..=last).map(text_of).collect();
        let mut possessive = false;
        if let Some(tail) = parts.last_mut()
            && let Some(stripped) = tail.strip_suffix("'s").or_else(|| tail.strip_suffix("’s"))
        {
            *tail = stripped;
            possessive = true;
        }
        let found = cast.resolve(&parts.join(" ")).or_else(|| {
            article
                .then(|| cast.resolve(&parts[1..].join(" ")))
                .flatten()
        });
        if let Some(id) = found {
            return Some(Mention {
                who: Who::Name(id),
                last,
                possessive,
                pos: word.start,
            });
        }
    }
    None
}

/// The subject starting at word `i`: a mention, or a group when two are joined by `and`/`et`
/// (`the Hatter and the March Hare`).
fn subject_at(words: &[Word<'_>], i: usize, cast: &dyn CastIndex, lang: Lang) -> Option<Mention> {
    let mention = mention_at(words, i, cast, lang)?;
    let joined = !mention.possessive
        && matches!(mention.who, Who::Name(_) | Who::Pronoun(_))
        && words[mention.last].brk == Brk::None
        && words
            .get(mention.last + 1)
            .is_some_and(|word| word.lower == "and" || word.lower == "et");
    if joined && let Some(other) = mention_at(words, mention.last + 2, cast, lang) {
        return Some(Mention {
            who: Who::Group,
            last: other.last,
            possessive: false,
            pos: mention.pos,
        });
    }
    Some(mention)
}

/// The first subject in `words[range]` that is not a possessive, with `names_only` leaving out
/// pronouns and groups.
fn first_mention(
    words: &[Word<'_>],
    range: Range<usize>,
    cast: &dyn CastIndex,
    lang: Lang,
    names_only: bool,
) -> Option<Mention> {
    let mut i = range.start;
    while i < range.end {
        match subject_at(words, i, cast, lang) {
            Some(mention) => {
                let wanted =
                    !mention.possessive && (!names_only || matches!(mention.who, Who::Name(_)));
                if wanted {
                    return Some(mention);
                }
                i = mention.last + 1;
            }
            None => i += 1,
        }
    }
    None
}

/// Records the names in a narration piece, numbering sentences from `sentence`; returns the
/// number of the sentence after the piece.
fn note_names(
    words: &[Word<'_>],
    mut sentence: usize,
    cast: &dyn CastIndex,
    lang: Lang,
    here: &mut Vec<Seen>,
) -> usize {
    let mut subject_found = false;
    let mut i = 0;
    while i < words.len() {
        let next = match mention_at(words, i, cast, lang) {
            Some(mention) => {
                if let Who::Name(id) = &mention.who {
                    here.push(Seen {
                        pos: mention.pos,
                        sentence,
                        id: id.clone(),
                        possessive: mention.possessive,
                        subject: !subject_found && !mention.possessive,
                    });
                }
                subject_found |= !mention.possessive;
                mention.last + 1
            }
            None => i + 1,
        };
        let ended = words[i..next]
            .iter()
            .filter(|word| word.brk == Brk::Sentence)
            .count();
        if ended > 0 {
            sentence += ended;
            subject_found = false;
        }
        i = next;
    }
    sentence
}

/// Speech verbs of dialogue tags, English.
#[rustfmt::skip]
const ENGLISH_VERBS: &[&str] = &[
    "said", "says", "asked", "asks", "cried", "cries", "replied", "replies", "shouted",
    "shouts", "whispered", "whispers", "exclaimed", "added", "adds", "continued", "continues",
    "remarked", "thought", "repeated", "began", "begins", "interrupted", "muttered", "mutters",
    "observed", "answered", "answers", "screamed", "growled", "sighed", "pleaded", "grumbled",
    "ventured", "yelled", "murmured", "murmurs", "snapped", "demanded", "inquired", "enquired",
    "explained", "insisted", "suggested", "protested", "sobbed", "roared", "bawled",
    "retorted", "responded", "admitted", "agreed", "declared", "announced", "shrieked",
    "squeaked", "gasped", "hissed", "stammered", "faltered", "urged", "persisted", "echoed",
    "mumbled", "sang", "sneered", "wondered", "stated", "warned", "begged", "concluded",
    "commented", "resumed", "laughed", "whimpered", "moaned", "groaned", "chuckled", "giggled",
    "grunted", "panted", "conceded", "confessed", "objected", "mused", "noted", "proposed",
    "reasoned", "recited", "rejoined", "interposed", "queried", "called", "pursued", "sniffed",
    "scoffed", "soothed", "ordered", "saying", "shouting", "crying", "asking", "muttering",
    "whispering", "exclaiming", "calling", "screaming", "adding", "replying", "remarking",
    "singing", "repeating", "answering",
];

/// Two-word speech verbs (`went on`).
const ENGLISH_PHRASES: &[(&str, &str)] = &[
    ("went", "on"),
    ("goes", "on"),
    ("go", "on"),
    ("called", "out"),
    ("cried", "out"),
    ("shouted", "out"),
    ("bawled", "out"),
    ("sang", "out"),
    ("spoke", "up"),
    ("broke", "in"),
    ("put", "in"),
    ("chimed", "in"),
    ("cut", "in"),
];

/// Speech verbs of dialogue tags and incises, French (simple past and present).
#[rustfmt::skip]
const FRENCH_VERBS: &[&str] = &[
    "dit", "répondit", "répond", "demanda", "demande", "cria", "crie", "s'écria", "s'écrie",
    "murmura", "murmure", "ajouta", "ajoute", "reprit", "reprend", "continua", "fit", "lança",
    "lance", "poursuivit", "poursuit", "répliqua", "réplique", "souffla", "souffle", "hurla",
    "hurle", "chuchota", "chuchote", "expliqua", "explique", "déclara", "déclare", "conclut",
    "objecta", "protesta", "soupira", "soupire", "s'exclama", "s'exclame", "grogna", "gémit",
    "rétorqua", "rétorque", "insista", "observa", "remarqua", "annonça", "proposa", "suggéra",
    "interrompit", "bredouilla", "balbutia", "s'étonna", "ordonna", "commença", "pensa",
    "songea", "affirma", "assura", "avoua", "ricana", "marmonna", "grommela", "coupa",
    "enchaîna", "renchérit", "acquiesça", "approuva", "confirma", "précisa", "s'enquit",
    "implora", "supplia", "sourit", "rit", "plaisanta", "questionna", "interrogea", "lâcha",
    "glissa", "conseilla", "rappela", "corrigea", "railla", "gronda", "rugit", "hasarda",
    "risqua", "nota", "admit", "concéda", "s'impatienta", "bougonna", "tonna", "aboya",
    "siffla",
];

/// A speech verb starting at word `i`: the index of its last word, and the subject glued to it
/// by a hyphen (`dit-il`, `demanda-t-elle`).
fn speech_verb(words: &[Word<'_>], i: usize) -> Option<(usize, Option<Who>)> {
    let word = words.get(i)?;
    let lower = word.lower.as_str();
    if let Some((verb, subject)) = lower.split_once('-')
        && FRENCH_VERBS.contains(&verb)
    {
        let subject = subject.strip_prefix("t-").unwrap_or(subject);
        let who = match subject {
            "il" => Who::Pronoun(Gender::Male),
            "elle" => Who::Pronoun(Gender::Female),
            "ils" | "elles" | "on" | "nous" | "vous" => Who::Group,
            "je" => Who::FirstPerson,
            _ => return None,
        };
        return Some((i, Some(who)));
    }
    if word.brk == Brk::None
        && let Some(next) = words.get(i + 1)
        && ENGLISH_PHRASES
            .iter()
            .any(|&(verb, particle)| verb == lower && particle == next.lower)
    {
        return Some((i + 1, None));
    }
    (ENGLISH_VERBS.contains(&lower) || FRENCH_VERBS.contains(&lower)).then_some((i, None))
}

/// The index of the first word of the last sentence of `words`.
fn last_sentence_start(words: &[Word<'_>]) -> usize {
    let body = &words[..words.len().saturating_sub(1)];
    body.iter()
        .rposition(|word| word.brk == Brk::Sentence)
        .map_or(0, |k| k + 1)
}

/// A dialogue tag right after a quote (`words` is the narration that follows it): a speech
/// verb and its subject (`said the Hatter`, `dit-il`), or a subject and a speech verb
/// (`the March Hare meekly replied`), or, after a quote that did not end its sentence with a
/// full stop, a short clause that starts with a name (`Alice was beginning very angrily`).
fn post_tag(
    words: &[Word<'_>],
    cast: &dyn CastIndex,
    lang: Lang,
    quote_end: Option<char>,
) -> Option<Tag> {
    let clause_end = words
        .iter()
        .position(|word| word.brk != Brk::None)
        .unwrap_or(words.len().checked_sub(1)?);
    if let Some((last, glued)) = speech_verb(words, 0) {
        if let Some(who) = glued {
            return Some(Tag {
                who,
                pos: words[0].start,
            });
        }
        if last < clause_end {
            if let Some(mention) = mention_at(words, last + 1, cast, lang) {
                return Some(mention.tag());
            }
            let next = &words[last + 1];
            if starts_upper(next.text) || DETERMINERS.contains(&next.lower.as_str()) {
                return Some(Tag {
                    who: Who::Unknown,
                    pos: next.start,
                });
            }
        }
        return None;
    }
    // `‘Hjckrrh!' from the Gryphon`.
    if words[0].lower == "from"
        && words[0].brk == Brk::None
        && let Some(mention) = mention_at(words, 1, cast, lang)
        && matches!(mention.who, Who::Name(_))
    {
        return Some(mention.tag());
    }
    let Some(mention) = subject_at(words, 0, cast, lang) else {
        // `the soldiers shouted`: someone not in the cast.
        let unknown = DETERMINERS.contains(&words[0].lower.as_str())
            && (1..=4.min(clause_end)).any(|j| speech_verb(words, j).is_some());
        return unknown.then_some(Tag {
            who: Who::Unknown,
            pos: words[0].start,
        });
    };
    if mention.possessive {
        return None;
    }
    let verb_follows = (mention.last + 1..=(mention.last + 3).min(clause_end))
        .any(|j| speech_verb(words, j).is_some());
    let short_clause = clause_end < 6 && quote_end != Some('.');
    (verb_follows || short_clause).then(|| mention.tag())
}

/// A dialogue tag just before a quote (`words` is the narration before it): the subject of the
/// last speech verb of its last sentence (`and the Dormouse sulkily remarked,`, `said Alice;`,
/// `Marie leva les yeux et demanda :`).
fn pre_tag(words: &[Word<'_>], cast: &dyn CastIndex, lang: Lang) -> Option<Tag> {
    if words.is_empty() {
        return None;
    }
    let start = last_sentence_start(words);
    let mut found = None;
    let mut j = start;
    while j < words.len() {
        // `went` is a speech verb only right before the quote (`the Hatter went ‘Sh! sh!'`).
        let went = j + 1 == words.len() && words[j].lower == "went" && words[j].brk == Brk::None;
        match speech_verb(words, j).or(went.then_some((j, None))) {
            Some((last, glued)) => {
                found = Some((j, last, glued));
                j = last + 1;
            }
            None => j += 1,
        }
    }
    let (verb, last, glued) = found?;
    if let Some(who) = glued {
        return Some(Tag {
            who,
            pos: words[verb].start,
        });
    }
    let clause_start = words[start..verb]
        .iter()
        .rposition(|word| word.brk != Brk::None)
        .map_or(start, |k| start + k + 1);
    if words
        .get(clause_start)
        .is_some_and(|word| word.lower == "who" || word.lower == "qui")
    {
        // `the Hatter, who said`: the nearest name before.
        let mut i = start;
        let mut nearest = None;
        while i < clause_start {
            match mention_at(words, i, cast, lang) {
                Some(mention) => {
                    i = mention.last + 1;
                    if !mention.possessive {
                        nearest = Some(mention);
                    }
                }
                None => i += 1,
            }
        }
        if let Some(mention) = nearest {
            return Some(mention.tag());
        }
    }
    if let Some(mention) = first_mention(words, clause_start..verb, cast, lang, false) {
        return Some(mention.tag());
    }
    if words[last].brk == Brk::None
        && let Some(mention) = mention_at(words, last + 1, cast, lang)
    {
        return Some(mention.tag());
    }
    // The subject of the sentence, passing over a group in a clause of its own (`All the time
    // they were playing the Queen never left off ... shouting`).
    let mut i = start;
    while i < words.len() {
        match subject_at(words, i, cast, lang) {
            Some(mention) if mention.possessive || mention.who == Who::Group => {
                i = mention.last + 1;
            }
            Some(mention) => return Some(mention.tag()),
            None => i += 1,
        }
    }
    None
}

/// An action beat before a quote in the same paragraph: the subject opening its last sentence
/// (`The Hatter shook his head mournfully.`). Pronouns count only in English, where an
/// impersonal `il` cannot be taken for a character.
fn beat(words: &[Word<'_>], cast: &dyn CastIndex, lang: Lang) -> Option<Tag> {
    if words.is_empty() {
        return None;
    }
    let start = last_sentence_start(words);
    let end = (start + 3).min(words.len());
    let mention = first_mention(words, start..end, cast, lang, lang != Lang::English)?;
    (mention.who != Who::Group).then(|| mention.tag())
}

/// Incises inside a quote (`« Bonjour, dit-il, tu vas bien ? »`, `— Viens ! cria Marie.`): a
/// speech verb after a comma or an exclamation, with a subject glued to it or a name or an
/// article after it, up to the next punctuation.
fn find_incises(text: &str, inner: Range<usize>, cast: &dyn CastIndex, lang: Lang) -> Vec<Incise> {
    let words = tokenize(text, inner);
    let mut found = Vec::new();
    let mut i = 1;
    while i < words.len() {
        if words[i - 1].brk != Brk::None
            && words[i].text.starts_with(char::is_lowercase)
            && let Some((last, glued)) = speech_verb(&words, i)
        {
            let next = words.get(last + 1).filter(|_| words[last].brk == Brk::None);
            let named = next.is_some_and(|next| {
                starts_upper(next.text) || ARTICLES.contains(&next.lower.as_str())
            });
            if glued.is_some() || named {
                let who = glued
                    .or_else(|| mention_at(&words, last + 1, cast, lang).map(|m| m.who))
                    .unwrap_or(Who::Unknown);
                let end = (last..words.len())
                    .find(|&k| words[k].brk != Brk::None)
                    .unwrap_or(words.len() - 1);
                found.push(Incise {
                    range: words[i].start..words[end].tok_end,
                    who,
                    pos: words[i].start,
                });
                i = end + 1;
                continue;
            }
        }
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Alice's tea party, and two French characters.
    struct Cast;

    impl CastIndex for Cast {
        fn resolve(&self, mention: &str) -> Option<String> {
            let lower = mention.trim().to_lowercase();
            let key = lower
                .strip_prefix("the ")
                .or_else(|| lower.strip_prefix("la "))
                .unwrap_or(&lower);
            let id = match key {
                "alice" => "alice",
                "hatter" => "hatter",
                "march hare" => "march-hare",
                "dormouse" => "dormouse",
                "marie" => "marie",
                "pierre" => "pierre",
                "reine" => "reine",
                _ => return None,
            };
            Some(id.to_owned())
        }

        fn gender(&self, id: &str) -> Option<Gender> {
            match id {
                "alice" | "marie" | "reine" => Some(Gender::Female),
                "hatter" | "march-hare" | "dormouse" | "pierre" => Some(Gender::Male),
                _ => None,
            }
        }
    }

    /// The pieces of a paragraph as (`"N"` or `"Q"`, text).
    fn pieces(text: &str, lang: Lang, open: Option<Family>) -> Vec<(&'static str, String)> {
        split(text, lang, open)
            .pieces
            .iter()
            .map(|piece| match piece {
                Piece::Narration(range) => ("N", text[range.clone()].trim().to_owned()),
                Piece::Quote(quote) => ("Q", text[quote.inner.clone()].trim().to_owned()),
            })
            .collect()
    }

    fn lines(paragraphs: &[&str], language: &str) -> Vec<(String, String)> {
        let mut state = Conversation::new();
        paragraphs
            .iter()
            .enumerate()
            .flat_map(|(i, text)| attribute(&format!("p{i}"), text, language, &Cast, &mut state))
            .map(|line| (line.speaker, line.text))
            .collect()
    }

    fn line(speaker: &str, text: &str) -> (String, String) {
        (speaker.to_owned(), text.to_owned())
    }

    #[test]
    fn gutenberg_single_quotes_keep_apostrophes_inside_words() {
        let text =
            "\u{2018}I don't see any wine,' she remarked. \u{2018}It's the Hatter's, o'clock.'";
        assert_eq!(
            pieces(text, Lang::English, None),
            [
                ("Q", "I don't see any wine,".to_owned()),
                ("N", "she remarked.".to_owned()),
                ("Q", "It's the Hatter's, o'clock.".to_owned()),
            ]
        );
        let text = "\u{2018}Of course they were', said the Dormouse; \u{2018}--well in.'";
        assert_eq!(
            pieces(text, Lang::English, None),
            [
                ("Q", "Of course they were".to_owned()),
                ("N", ", said the Dormouse;".to_owned()),
                ("Q", "--well in.".to_owned()),
            ]
        );
    }

    #[test]
    fn nested_and_curly_and_straight_quotes_split() {
        let text = "\u{2018}You might say,' added he, \u{2018}that \"I see what I eat\"!'";
        assert_eq!(
            pieces(text, Lang::English, None),
            [
                ("Q", "You might say,".to_owned()),
                ("N", "added he,".to_owned()),
                ("Q", "that \"I see what I eat\"!".to_owned()),
            ]
        );
        let text = "\u{201C}Hello,\u{201D} said John. \"It\u{2019}s late.\" He left.";
        assert_eq!(
            pieces(text, Lang::English, None),
            [
                ("Q", "Hello,".to_owned()),
                ("N", "said John.".to_owned()),
                ("Q", "It\u{2019}s late.".to_owned()),
                ("N", "He left.".to_owned()),
            ]
        );
        // Straight single quotes, with an elision that opens nothing.
        let text = "'Tis true, 'em all. 'Come here,' she said.";
        assert_eq!(
            pieces(text, Lang::English, None),
            [
                ("N", "'Tis true, 'em all.".to_owned()),
                ("Q", "Come here,".to_owned()),
                ("N", "she said.".to_owned()),
            ]
        );
    }

    #[test]
    fn an_open_quote_runs_to_the_end_and_goes_on_in_the_next_paragraph() {
        let first = split("He said, \u{2018}and I had to sing", Lang::English, None);
        assert_eq!(first.open_at_end, Some(Family::Single));
        // A song inside the speech, then its end.
        assert_eq!(
            pieces(
                "\"Twinkle, little bat!\"",
                Lang::English,
                Some(Family::Single)
            ),
            [("Q", "\"Twinkle, little bat!\"".to_owned())]
        );
        assert_eq!(
            split("\"Twinkle!\"", Lang::English, Some(Family::Single)).open_at_end,
            Some(Family::Single)
        );
        assert_eq!(
            pieces(
                "You know the song, perhaps?' said he.",
                Lang::English,
                Some(Family::Single)
            ),
            [
                ("Q", "You know the song, perhaps?".to_owned()),
                ("N", "said he.".to_owned()),
            ]
        );
        // A paragraph that opens a new quote starts afresh.
        assert_eq!(
            pieces(
                "\u{2018}Yes,' said Alice.",
                Lang::English,
                Some(Family::Single)
            ),
            [("Q", "Yes,".to_owned()), ("N", "said Alice.".to_owned())]
        );
    }

    #[test]
    fn guillemets_and_dash_turns_split() {
        let text = "\u{AB}\u{A0}Tu viens\u{A0}?\u{A0}\u{BB} demanda Marie.";
        assert_eq!(
            pieces(text, Lang::French, None),
            [
                ("Q", "Tu viens\u{A0}?".to_owned()),
                ("N", "demanda Marie.".to_owned()),
            ]
        );
        let text = "\u{2014} Tu es prête ? \u{2014} Presque, dit Marie.";
        assert_eq!(
            pieces(text, Lang::French, None),
            [
                ("Q", "Tu es prête ?".to_owned()),
                ("Q", "Presque, dit Marie.".to_owned()),
            ]
        );
        // A dash inside a sentence is not a new turn; in English a dash opens nothing.
        assert_eq!(
            pieces("\u{2014} Oui \u{2014} enfin, non.", Lang::French, None).len(),
            1
        );
        assert_eq!(
            pieces("\u{2014} Yes, he said.", Lang::English, None),
            [("N", "\u{2014} Yes, he said.".to_owned())]
        );
    }

    fn words(text: &str) -> Vec<Word<'_>> {
        tokenize(text, 0..text.len())
    }

    fn tag_of(text: &str, lang: Lang, after_quote: bool) -> Option<Who> {
        let words = words(text);
        let tag = if after_quote {
            post_tag(&words, &Cast, lang, Some(','))
        } else {
            pre_tag(&words, &Cast, lang)
        };
        tag.map(|tag| tag.who)
    }

    fn name(id: &str) -> Option<Who> {
        Some(Who::Name(id.to_owned()))
    }

    #[test]
    fn english_tags_name_the_speaker_in_both_orders() {
        let male = Some(Who::Pronoun(Gender::Male));
        assert_eq!(
            tag_of("said the Hatter.", Lang::English, true),
            name("hatter")
        );
        assert_eq!(
            tag_of("the March Hare meekly replied.", Lang::English, true),
            name("march-hare")
        );
        assert_eq!(
            tag_of("Alice hastily replied; 'at least", Lang::English, true),
            name("alice")
        );
        assert_eq!(
            tag_of(
                "the Hatter went on in a mournful tone,",
                Lang::English,
                true
            ),
            name("hatter")
        );
        assert_eq!(
            tag_of("he added looking at Alice.", Lang::English, true),
            male
        );
        assert_eq!(
            tag_of("they both cried.", Lang::English, true),
            Some(Who::Group)
        );
        assert_eq!(
            tag_of("said a voice.", Lang::English, true),
            Some(Who::Unknown)
        );
        assert_eq!(
            tag_of("the soldiers shouted in reply.", Lang::English, true),
            Some(Who::Unknown)
        );
        assert_eq!(tag_of("said in a whisper.", Lang::English, true), None);
        assert_eq!(
            tag_of("from the Hatter, and a sob.", Lang::English, true),
            name("hatter")
        );
        assert_eq!(
            tag_of("said the Queen.", Lang::English, true),
            Some(Who::Unknown)
        );
        assert_eq!(tag_of("and the tea was cold.", Lang::English, true), None);
        // Before the quote.
        assert_eq!(
            tag_of(
                "The Dormouse shook its head, and said, without opening its eyes,",
                Lang::English,
                false
            ),
            name("dormouse")
        );
        assert_eq!(
            tag_of(
                "The Hatter opened his eyes; but all he SAID was,",
                Lang::English,
                false
            ),
            male
        );
        assert_eq!(
            tag_of("and the Dormouse sulkily remarked,", Lang::English, false),
            name("dormouse")
        );
        assert_eq!(
            tag_of("added the March Hare,", Lang::English, false),
            name("march-hare")
        );
        assert_eq!(
            tag_of(
                "Alice frowned, but the Hatter and the March Hare went",
                Lang::English,
                false
            ),
            Some(Who::Group)
        );
        assert_eq!(
            tag_of("Alice and the Hatter cried.", Lang::English, true),
            Some(Who::Group)
        );
        assert_eq!(
            tag_of("Alice looked at the Hatter.", Lang::English, false),
            None
        );
        assert_eq!(
            tag_of(
                "While they played the Hatter went on quarrelling, and shouting",
                Lang::English,
                false
            ),
            name("hatter")
        );
    }

    #[test]
    fn french_tags_and_incises_name_the_speaker() {
        let female = Some(Who::Pronoun(Gender::Female));
        assert_eq!(
            tag_of(", dit-il.", Lang::French, true),
            Some(Who::Pronoun(Gender::Male))
        );
        assert_eq!(tag_of("s\u{2019}écria-t-elle.", Lang::French, true), female);
        assert_eq!(
            tag_of("répondit Marie en souriant.", Lang::French, true),
            name("marie")
        );
        assert_eq!(
            tag_of("demanda la Reine.", Lang::French, true),
            name("reine")
        );
        assert_eq!(
            tag_of("Pierre leva les yeux et demanda :", Lang::French, false),
            name("pierre")
        );

        let text = "Bonjour, dit Pierre, tu vas bien ? Viens ! cria-t-elle. Oui, continue.";
        let found = find_incises(text, 0..text.len(), &Cast, Lang::French);
        let found: Vec<(&str, Who)> = found
            .iter()
            .map(|incise| (&text[incise.range.clone()], incise.who.clone()))
            .collect();
        assert_eq!(
            found,
            [
                ("dit Pierre,", Who::Name("pierre".into())),
                ("cria-t-elle.", Who::Pronoun(Gender::Female)),
            ]
        );
    }

    #[test]
    fn an_english_exchange_alternates_and_resolves_pronouns() {
        let got = lines(
            &[
                "Alice sat down. \u{2018}Have some wine,' the March Hare said.",
                "Alice looked round. \u{2018}I don't see any wine,' she remarked.",
                "\u{2018}There isn't any.'",
                "\u{2018}Then it wasn't civil of you to offer it.'",
                "The Hatter yawned. \u{2018}No room!'",
                "\u{2018}Two days wrong!' sighed the Hatter. \u{2018}I told you,' he added.",
            ],
            "en",
        );
        assert_eq!(
            got,
            [
                line(NARRATOR, "Alice sat down."),
                line("march-hare", "Have some wine,"),
                line(NARRATOR, "the March Hare said."),
                line(NARRATOR, "Alice looked round."),
                line("alice", "I don't see any wine,"),
                line(NARRATOR, "she remarked."),
                line("march-hare", "There isn't any."),
                line("alice", "Then it wasn't civil of you to offer it."),
                line(NARRATOR, "The Hatter yawned."),
                line("hatter", "No room!"),
                line("hatter", "Two days wrong!"),
                line(NARRATOR, "sighed the Hatter."),
                line("hatter", "I told you,"),
                line(NARRATOR, "he added."),
            ]
        );
    }

    #[test]
    fn french_dash_dialogue_splits_out_incises() {
        let got = lines(
            &[
                "\u{AB}\u{A0}Tu viens\u{A0}?\u{A0}\u{BB} demanda Marie.",
                "\u{2014} Oui, répondit Pierre, j\u{2019}arrive.",
                "\u{2014} Dépêche-toi\u{A0}!",
                "\u{2014} Je viens, dit-il.",
                "\u{2014} Tu es prêt ? \u{2014} Presque, dit Pierre.",
            ],
            "fr",
        );
        assert_eq!(
            got,
            [
                line("marie", "Tu viens\u{A0}?"),
                line(NARRATOR, "demanda Marie."),
                line("pierre", "Oui,"),
                line(NARRATOR, "répondit Pierre,"),
                line("pierre", "j\u{2019}arrive."),
                line("marie", "Dépêche-toi\u{A0}!"),
                line("pierre", "Je viens,"),
                line(NARRATOR, "dit-il."),
                line("marie", "Tu es prêt ?"),
                line("pierre", "Presque,"),
                line(NARRATOR, "dit Pierre."),
            ]
        );
    }

    #[test]
    fn lines_are_never_punctuation_only_and_carry_the_paragraph_id() {
        let mut state = Conversation::new();
        let got = attribute(
            "c7-p3",
            "(\u{2018}I only wish it was,' the March Hare said.) \u{2018}...'",
            "en",
            &Cast,
            &mut state,
        );
        assert!(
            got.iter()
                .all(|line| line.text.chars().any(char::is_alphanumeric))
        );
        assert!(
            got.iter()
                .all(|line| line.paragraph_id.as_deref() == Some("c7-p3"))
        );
        assert_eq!(got[0].speaker, "march-hare");
        state.reset();
        assert!(state.speakers.is_empty() && state.open.is_none());
    }
}
