//! The `llm` engine: improves a local analysis through any OpenAI-compatible chat-completions
//! endpoint (Azure OpenAI, a local server), field by field.
//!
//! One request per scene (two at a time) asks for the summary, mood, setting, key quote and
//! what an illustration shows; one request for the whole cast asks for descriptions and
//! genders. Every answer is asked for with a strict JSON schema and then checked field by field
//! (lengths, ranges, allowed labels, the key quote really in the text, ids really in the cast):
//! a field that fails a check, or a request that fails altogether, keeps its local value with
//! an `llm_fallback` warning that names it. [`enrich`] never fails.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use visiobook_domain::analysis::{Gender, Mood};
use visiobook_domain::{Analysis, Book, Matter, Scene, Warning};

use crate::MAX_SUMMARY_CHARS;
use crate::characters::{count_word, sentences};

/// The warning code of every field that kept its local value.
pub const FALLBACK_CODE: &str = "llm_fallback";
/// Longest scene text sent, in characters.
pub const MAX_SCENE_TEXT_CHARS: usize = 6_000;
/// Longest visual brief (`what`) and character description accepted, in characters.
pub const MAX_BRIEF_CHARS: usize = 300;
/// Longest key quote accepted, in characters.
pub const MAX_QUOTE_CHARS: usize = 400;
/// How many characters (by rank) the cast request asks about.
pub const MAX_CAST_ASKED: usize = 40;
/// Sentences quoted per character in the cast request, and their longest length.
const SENTENCES_PER_CHARACTER: usize = 3;
const MAX_SENTENCE_CHARS: usize = 240;
/// First backoff after a failed attempt; doubles each time, up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

const MOOD_LABELS: [&str; 7] = [
    "calm",
    "joyful",
    "tense",
    "sad",
    "eerie",
    "whimsical",
    "angry",
];
const TIMES_OF_DAY: [&str; 4] = ["morning", "day", "evening", "night"];

/// Where and how to reach the chat-completions endpoint.
#[derive(Clone)]
pub struct LlmConfig {
    /// Base URL up to and including `/v1` for OpenAI-compatible servers (`http://127.0.0.1:8080/v1`),
    /// or an Azure OpenAI deployment URL (`https://x.openai.azure.com/openai/deployments/NAME`) when `azure_api_version` is set.
    pub endpoint: String,
    /// Sent as `Authorization: Bearer` (OpenAI) or the `api-key` header (Azure); never logged.
    pub api_key: Option<String>,
    /// The `model` field of the request (ignored by Azure, which takes the deployment's).
    pub model: String,
    /// Azure OpenAI: adds `?api-version=...` and authenticates with `api-key`.
    pub azure_api_version: Option<String>,
    /// Attempts per request (at least one is always made), e.g. 3.
    pub max_attempts: u32,
    /// Per request (connect to end of body).
    pub timeout: Duration,
}

impl fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LlmConfig")
            .field("endpoint", &self.endpoint)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("model", &self.model)
            .field("azure_api_version", &self.azure_api_version)
            .field("max_attempts", &self.max_attempts)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl LlmConfig {
    /// The chat-completions URL (without the Azure `api-version` query, added per request).
    pub fn chat_url(&self) -> String {
        format!("{}/chat/completions", self.endpoint.trim_end_matches('/'))
    }
}

/// Improves `local` (the local engine's analysis of `book`) with the LLM. Never fails: every field the LLM cannot give
/// (transport error, non-2xx, refusal, invalid JSON, JSON not matching the requested schema, values out of range,
/// unknown ids) keeps its local value, with a `Warning { code: "llm_fallback", .. }` naming what fell back. Sets `engine = "llm"`
/// when at least one request succeeded, else keeps the local engine name.
pub async fn enrich(
    local: Analysis,
    book: &Book,
    config: &LlmConfig,
    client: &reqwest::Client,
) -> Analysis {
    let mut analysis = local;
    let llm = Llm { config, client };
    let paragraphs: HashMap<&str, &str> = book
        .chapters
        .iter()
        .flat_map(|chapter| chapter.paragraphs.iter())
        .map(|p| (p.id.as_str(), p.text.as_str()))
        .collect();
    let mut answered = false;
    let mut warnings = Vec::new();

    // Scenes, two requests at a time: two workers take the next scene until none is left.
    let asks: Vec<SceneAsk> = analysis
        .scenes
        .iter()
        .map(|scene| SceneAsk::new(scene, &paragraphs, &analysis))
        .collect();
    let system = scene_system_prompt(&analysis.language);
    let next = AtomicUsize::new(0);
    let worker = || async {
        let mut done = Vec::new();
        loop {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(ask) = asks.get(index) else { break };
            done.push((index, llm.scene(ask, &system).await));
        }
        done
    };
    let (first, second) = tokio::join!(Box::pin(worker()), Box::pin(worker()));
    let mut outcomes: Vec<(usize, Result<ScenePatch, Failed>)> =
        first.into_iter().chain(second).collect();
    outcomes.sort_by_key(|(index, _)| *index);
    for (index, outcome) in outcomes {
        let Some(scene) = analysis.scenes.get_mut(index) else {
            continue;
        };
        match outcome {
            Ok(patch) => {
                answered |= patch.apply(scene);
                if !patch.rejected.is_empty() {
                    warnings.push(fallback(format!(
                        "scene {}: kept the local {}",
                        scene.id,
                        describe(&patch.rejected)
                    )));
                }
            }
            Err(failure) => warnings.push(fallback(format!(
                "scene {}: kept all local values (summary, mood, setting, key_quote, visual_brief.what): {failure}",
                scene.id
            ))),
        }
    }

    // The cast, in one request.
    if !analysis.characters.is_empty() {
        let asked = analysis.characters.len().min(MAX_CAST_ASKED);
        let user = cast_message(&analysis, asked, book);
        match llm
            .ask(
                "cast",
                cast_schema(),
                &cast_system_prompt(&analysis.language),
                user,
            )
            .await
        {
            Ok(answer) => {
                let patch = check_cast(&answer, &analysis, asked);
                answered |= patch.apply(&mut analysis);
                if !patch.rejected.is_empty() {
                    warnings.push(fallback(format!(
                        "characters: kept the local {}",
                        describe(&patch.rejected)
                    )));
                }
                if !patch.unknown.is_empty() {
                    warnings.push(fallback(format!(
                        "characters: ignored ids not in the cast: {}",
                        patch.unknown.join(", ")
                    )));
                }
            }
            Err(failure) => warnings.push(fallback(format!(
                "characters: kept all local descriptions and genders: {failure}"
            ))),
        }
        if analysis.characters.len() > asked {
            warnings.push(fallback(format!(
                "characters: only the first {asked} were asked about; the other {} kept their local descriptions and genders",
                analysis.characters.len() - asked
            )));
        }
    }

    if answered {
        analysis.engine = "llm".to_owned();
    }
    analysis.warnings.extend(warnings);
    analysis
}

fn fallback(message: String) -> Warning {
    tracing::warn!(code = FALLBACK_CODE, "{message}");
    Warning::new(FALLBACK_CODE, message)
}

/// `mood (valence 3 is outside -1..1), key_quote (not in the scene text)`.
fn describe(rejected: &[(String, String)]) -> String {
    rejected
        .iter()
        .map(|(field, why)| format!("{field} ({why})"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// Scenes

/// What is sent about one scene.
struct SceneAsk {
    id: String,
    /// The full scene text, to check the key quote against.
    text: String,
    user: String,
}

impl SceneAsk {
    fn new(scene: &Scene, paragraphs: &HashMap<&str, &str>, analysis: &Analysis) -> Self {
        let text = scene
            .paragraph_ids
            .iter()
            .filter_map(|id| paragraphs.get(id.as_str()).copied())
            .collect::<Vec<_>>()
            .join("\n\n");
        let (sent, cut) = truncate(&text, MAX_SCENE_TEXT_CHARS);
        let present: Vec<String> = scene
            .characters
            .iter()
            .filter_map(|id| {
                analysis
                    .characters
                    .iter()
                    .find(|c| &c.id == id)
                    .map(|c| format!("{} ({})", c.name, c.id))
            })
            .collect();
        let mut user = format!(
            "Book: {}\nScene {} (chapter {}: {}, scene {} of the chapter)\n",
            analysis.title,
            scene.id,
            scene.chapter_ordinal,
            scene.chapter_title,
            scene.ordinal_in_chapter
        );
        if !present.is_empty() {
            user.push_str(&format!("Characters present: {}\n", present.join(", ")));
        }
        if cut {
            user.push_str(&format!(
                "The scene text is cut after {MAX_SCENE_TEXT_CHARS} characters.\n"
            ));
        }
        user.push_str("Scene text:\n\"\"\"\n");
        user.push_str(sent);
        user.push_str("\n\"\"\"\n");
        Self {
            id: scene.id.clone(),
            text,
            user,
        }
    }
}

fn scene_system_prompt(language: &str) -> String {
    format!(
        "You analyse one scene of a book so that it can be narrated and illustrated. \
         Answer with JSON only, following the schema. Write in the book's language ({language}). \
         summary: one sentence of at most {MAX_SUMMARY_CHARS} characters telling what happens. \
         mood.label: one of {labels}; mood.valence from -1 (dark) to 1 (bright); mood.intensity from 0 (quiet) to 1 (intense). \
         setting.time_of_day: morning, day, evening or night only when the text says so, else null; \
         setting.indoor: true indoors, false outdoors, null when the text does not say. \
         key_quote: a memorable line copied exactly, character for character, from the scene text (at most 200 characters). \
         visual_brief.what: what a single illustration of the scene shows, concrete and visual, at most {MAX_BRIEF_CHARS} characters.",
        labels = MOOD_LABELS.join(", ")
    )
}

fn scene_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["summary", "mood", "setting", "key_quote", "visual_brief"],
        "properties": {
            "summary": {"type": "string", "description": "One sentence, at most 200 characters."},
            "mood": {
                "type": "object",
                "additionalProperties": false,
                "required": ["label", "valence", "intensity"],
                "properties": {
                    "label": {"type": "string", "enum": MOOD_LABELS},
                    "valence": {"type": "number", "description": "-1 (dark) to 1 (bright)"},
                    "intensity": {"type": "number", "description": "0 (quiet) to 1 (intense)"}
                }
            },
            "setting": {
                "type": "object",
                "additionalProperties": false,
                "required": ["time_of_day", "indoor"],
                "properties": {
                    "time_of_day": {
                        "type": ["string", "null"],
                        "enum": ["morning", "day", "evening", "night", null]
                    },
                    "indoor": {"type": ["boolean", "null"]}
                }
            },
            "key_quote": {"type": "string", "description": "Copied exactly from the scene text."},
            "visual_brief": {
                "type": "object",
                "additionalProperties": false,
                "required": ["what"],
                "properties": {
                    "what": {"type": "string", "description": "At most 300 characters."}
                }
            }
        }
    })
}

/// The fields of a scene the LLM's answer may replace, each checked on its own.
#[derive(Debug, Default)]
struct ScenePatch {
    summary: Option<String>,
    mood: Option<Mood>,
    time_of_day: Option<Option<String>>,
    indoor: Option<Option<bool>>,
    key_quote: Option<String>,
    what: Option<String>,
    /// `(field, why)` for each field that keeps its local value.
    rejected: Vec<(String, String)>,
}

impl ScenePatch {
    /// Applies the accepted fields; true when there was at least one.
    fn apply(&self, scene: &mut Scene) -> bool {
        let mut any = false;
        if let Some(summary) = &self.summary {
            scene.summary.clone_from(summary);
            any = true;
        }
        if let Some(mood) = &self.mood {
            scene.visual_brief.mood.clone_from(&mood.label);
            scene.visual_brief.palette = crate::mood::palette(&mood.label);
            scene.mood = mood.clone();
            any = true;
        }
        if let Some(time_of_day) = &self.time_of_day {
            scene.setting.time_of_day.clone_from(time_of_day);
            any = true;
        }
        if let Some(indoor) = self.indoor {
            scene.setting.indoor = indoor;
            any = true;
        }
        if let Some(quote) = &self.key_quote {
            scene.key_quote.clone_from(quote);
            any = true;
        }
        if let Some(what) = &self.what {
            scene.visual_brief.what.clone_from(what);
            any = true;
        }
        any
    }
}

/// Checks each field of a scene answer on its own against the rules the prompt states.
fn check_scene(answer: &Map<String, Value>, scene_text: &str) -> ScenePatch {
    let mut patch = ScenePatch::default();
    let mut rejected = Vec::new();
    let reject = |field: &str, why: String| (field.to_owned(), why);

    match bounded_text(answer.get("summary"), MAX_SUMMARY_CHARS) {
        Ok(summary) => patch.summary = Some(summary),
        Err(why) => rejected.push(reject("summary", why)),
    }
    match check_mood(answer.get("mood")) {
        Ok(mood) => patch.mood = Some(mood),
        Err(why) => rejected.push(reject("mood", why)),
    }
    let setting = answer.get("setting").and_then(Value::as_object);
    match setting.map(|s| s.get("time_of_day")) {
        Some(Some(Value::Null)) => patch.time_of_day = Some(None),
        Some(Some(Value::String(time))) if TIMES_OF_DAY.contains(&time.as_str()) => {
            patch.time_of_day = Some(Some(time.clone()));
        }
        Some(Some(other)) => rejected.push(reject(
            "setting.time_of_day",
            format!("{other} is not one of {} or null", TIMES_OF_DAY.join(", ")),
        )),
        Some(None) | None => rejected.push(reject("setting.time_of_day", "missing".into())),
    }
    match setting.map(|s| s.get("indoor")) {
        Some(Some(Value::Null)) => patch.indoor = Some(None),
        Some(Some(Value::Bool(indoor))) => patch.indoor = Some(Some(*indoor)),
        Some(Some(other)) => rejected.push(reject(
            "setting.indoor",
            format!("{other} is not a boolean or null"),
        )),
        Some(None) | None => rejected.push(reject("setting.indoor", "missing".into())),
    }
    match bounded_text(answer.get("key_quote"), MAX_QUOTE_CHARS) {
        Ok(quote) if in_text(&quote, scene_text) => patch.key_quote = Some(quote),
        Ok(_) => rejected.push(reject("key_quote", "not found in the scene text".into())),
        Err(why) => rejected.push(reject("key_quote", why)),
    }
    let what = answer
        .get("visual_brief")
        .and_then(Value::as_object)
        .and_then(|brief| brief.get("what"));
    match bounded_text(what, MAX_BRIEF_CHARS) {
        Ok(what) => patch.what = Some(what),
        Err(why) => rejected.push(reject("visual_brief.what", why)),
    }
    patch.rejected = rejected;
    patch
}

fn check_mood(value: Option<&Value>) -> Result<Mood, String> {
    let mood = value
        .and_then(Value::as_object)
        .ok_or_else(|| "missing".to_owned())?;
    let label = mood
        .get("label")
        .and_then(Value::as_str)
        .ok_or_else(|| "label missing".to_owned())?;
    if !MOOD_LABELS.contains(&label) {
        return Err(format!(
            "label {label:?} is not one of {}",
            MOOD_LABELS.join(", ")
        ));
    }
    let number = |name: &str, low: f64, high: f64| -> Result<f32, String> {
        let value = mood
            .get(name)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("{name} missing"))?;
        if value.is_finite() && (low..=high).contains(&value) {
            #[allow(clippy::cast_possible_truncation, reason = "in -1..=1")]
            Ok(value as f32)
        } else {
            Err(format!("{name} {value} is outside {low}..{high}"))
        }
    };
    Ok(Mood {
        valence: number("valence", -1.0, 1.0)?,
        intensity: number("intensity", 0.0, 1.0)?,
        label: label.to_owned(),
    })
}

/// A non-empty string of at most `max` characters, trimmed.
fn bounded_text(value: Option<&Value>, max: usize) -> Result<String, String> {
    match value {
        None => Err("missing".into()),
        Some(Value::String(text)) => {
            let text = text.trim();
            let length = text.chars().count();
            if text.is_empty() {
                Err("empty".into())
            } else if length > max {
                Err(format!("{length} characters, more than {max}"))
            } else {
                Ok(text.to_owned())
            }
        }
        Some(other) => Err(format!("{other} is not a string")),
    }
}

/// Whether `quote` is in `text`, exactly or with runs of white space taken as one space.
fn in_text(quote: &str, text: &str) -> bool {
    if text.contains(quote) {
        return true;
    }
    let collapse = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    collapse(text).contains(&collapse(quote))
}

/// The first `max` characters of `text`, and whether it was cut.
fn truncate(text: &str, max: usize) -> (&str, bool) {
    match text.char_indices().nth(max) {
        Some((index, _)) => (&text[..index], true),
        None => (text, false),
    }
}

// ---------------------------------------------------------------------------------------------
// The cast

fn cast_system_prompt(language: &str) -> String {
    format!(
        "You describe the characters of a book for its illustrator and narrator. \
         Answer with JSON only, following the schema, with one entry per character id given, using those ids exactly. \
         Write in the book's language ({language}). \
         description: how the character looks and who they are, drawn from the text, at most {MAX_BRIEF_CHARS} characters. \
         gender: female or male only when the text makes it clear, else null."
    )
}

fn cast_schema() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["characters"],
        "properties": {
            "characters": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["id", "description", "gender"],
                    "properties": {
                        "id": {"type": "string"},
                        "description": {"type": "string", "description": "At most 300 characters."},
                        "gender": {"type": ["string", "null"], "enum": ["female", "male", null]}
                    }
                }
            }
        }
    })
}

/// The cast, each with aliases and a few sentences where they appear.
fn cast_message(analysis: &Analysis, asked: usize, book: &Book) -> String {
    let cast = &analysis.characters[..asked];
    let forms: Vec<Vec<String>> = cast
        .iter()
        .map(|character| {
            std::iter::once(&character.name)
                .chain(&character.aliases)
                .map(|form| form.to_lowercase())
                .filter(|form| !form.trim().is_empty())
                .collect()
        })
        .collect();
    let mut quotes: Vec<Vec<String>> = vec![Vec::new(); cast.len()];
    'book: for paragraph in book
        .chapters
        .iter()
        .filter(|chapter| chapter.matter == Matter::Body)
        .flat_map(|chapter| chapter.paragraphs.iter())
    {
        let lowered = paragraph.text.to_lowercase();
        for (index, forms) in forms.iter().enumerate() {
            if quotes[index].len() >= SENTENCES_PER_CHARACTER
                || !forms.iter().any(|form| count_word(&lowered, form) > 0)
            {
                continue;
            }
            for sentence in sentences(&paragraph.text) {
                if quotes[index].len() >= SENTENCES_PER_CHARACTER {
                    break;
                }
                let lowered = sentence.to_lowercase();
                if forms.iter().any(|form| count_word(&lowered, form) > 0) {
                    let (cut, was_cut) = truncate(sentence, MAX_SENTENCE_CHARS);
                    quotes[index].push(if was_cut {
                        format!("{cut}…")
                    } else {
                        cut.to_owned()
                    });
                }
            }
        }
        if quotes.iter().all(|q| q.len() >= SENTENCES_PER_CHARACTER) {
            break 'book;
        }
    }
    let mut user = format!("Book: {}\nCharacters:\n", analysis.title);
    for (character, quotes) in cast.iter().zip(&quotes) {
        user.push_str(&format!("- id: {}; name: {}", character.id, character.name));
        if !character.aliases.is_empty() {
            user.push_str(&format!("; aliases: {}", character.aliases.join(", ")));
        }
        user.push('\n');
        for quote in quotes {
            user.push_str(&format!("  > {quote}\n"));
        }
    }
    user
}

#[derive(Debug, Default)]
struct CastPatch {
    /// `(index in the cast, description, gender)`, each accepted on its own.
    descriptions: Vec<(usize, String)>,
    genders: Vec<(usize, Option<Gender>)>,
    rejected: Vec<(String, String)>,
    unknown: Vec<String>,
}

impl CastPatch {
    fn apply(&self, analysis: &mut Analysis) -> bool {
        for (index, description) in &self.descriptions {
            if let Some(character) = analysis.characters.get_mut(*index) {
                character.description.clone_from(description);
            }
        }
        let mut changed_gender = false;
        for (index, gender) in &self.genders {
            if let Some(character) = analysis.characters.get_mut(*index) {
                changed_gender |= character.gender != *gender;
                character.gender = *gender;
            }
        }
        if changed_gender {
            reassign_voice_slots(analysis);
        }
        !self.descriptions.is_empty() || !self.genders.is_empty()
    }
}

/// Voice slots follow gender (`female-1`, `male-2`, `neutral-3` by rank), as the local engine
/// gives them; pitch and rate stay.
fn reassign_voice_slots(analysis: &mut Analysis) {
    crate::characters::assign_voice_slots(&mut analysis.characters);
}

fn check_cast(answer: &Map<String, Value>, analysis: &Analysis, asked: usize) -> CastPatch {
    let mut patch = CastPatch::default();
    let Some(entries) = answer.get("characters").and_then(Value::as_array) else {
        patch.rejected.push((
            "descriptions and genders".into(),
            "the answer has no characters array".into(),
        ));
        return patch;
    };
    let index_of: HashMap<&str, usize> = analysis.characters[..asked]
        .iter()
        .enumerate()
        .map(|(index, c)| (c.id.as_str(), index))
        .collect();
    let mut seen = HashSet::new();
    for entry in entries {
        let Some(entry) = entry.as_object() else {
            continue;
        };
        let Some(id) = entry.get("id").and_then(Value::as_str) else {
            patch.unknown.push("(entry without an id)".into());
            continue;
        };
        let Some(&index) = index_of.get(id) else {
            patch.unknown.push(id.to_owned());
            continue;
        };
        if !seen.insert(index) {
            continue;
        }
        match bounded_text(entry.get("description"), MAX_BRIEF_CHARS) {
            Ok(description) => patch.descriptions.push((index, description)),
            Err(why) => patch.rejected.push((format!("{id}.description"), why)),
        }
        match entry.get("gender") {
            Some(Value::Null) => patch.genders.push((index, None)),
            Some(Value::String(g)) if g == "female" => {
                patch.genders.push((index, Some(Gender::Female)));
            }
            Some(Value::String(g)) if g == "male" => {
                patch.genders.push((index, Some(Gender::Male)));
            }
            Some(other) => patch.rejected.push((
                format!("{id}.gender"),
                format!("{other} is not female, male or null"),
            )),
            None => patch
                .rejected
                .push((format!("{id}.gender"), "missing".into())),
        }
    }
    for (index, character) in analysis.characters[..asked].iter().enumerate() {
        if !seen.contains(&index) {
            patch.rejected.push((
                format!("{}.description and gender", character.id),
                "not in the answer".into(),
            ));
        }
    }
    patch
}

// ---------------------------------------------------------------------------------------------
// The protocol

/// Why a request gave nothing usable.
#[derive(Debug)]
enum Failure {
    Transport(String),
    Status(u16, String),
    Refused(String),
    Unfinished(String),
    Invalid(String),
}

/// A failure after some attempts.
#[derive(Debug)]
struct Failed {
    failure: Failure,
    attempts: u32,
}

impl fmt::Display for Failed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.failure {
            Failure::Transport(error) => write!(f, "transport error: {error}"),
            Failure::Status(status, body) => write!(f, "HTTP {status}: {body}"),
            Failure::Refused(refusal) => write!(f, "the model refused: {refusal}"),
            Failure::Unfinished(reason) => write!(f, "finish_reason {reason}"),
            Failure::Invalid(why) => write!(f, "invalid answer: {why}"),
        }?;
        let s = if self.attempts == 1 { "" } else { "s" };
        write!(f, " (after {} attempt{s})", self.attempts)
    }
}

impl Failure {
    fn retryable(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Status(status, _) => *status == 408 || *status == 429 || *status >= 500,
            Self::Refused(_) | Self::Unfinished(_) | Self::Invalid(_) => false,
        }
    }
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    choices: Vec<Choice>,
}

#[derive(Deserialize)]
struct Choice {
    message: ChatMessage,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    refusal: Option<String>,
}

struct Llm<'a> {
    config: &'a LlmConfig,
    client: &'a reqwest::Client,
}

impl Llm<'_> {
    async fn scene(&self, ask: &SceneAsk, system: &str) -> Result<ScenePatch, Failed> {
        let answer = self
            .ask("scene", scene_schema(), system, ask.user.clone())
            .await;
        match answer {
            Ok(answer) => Ok(check_scene(&answer, &ask.text)),
            Err(failed) => {
                tracing::debug!(scene = %ask.id, "scene request failed: {failed}");
                Err(failed)
            }
        }
    }

    /// One chat completion with a strict JSON schema, retried on transport errors, 408, 429
    /// and 5xx (with backoff, honouring `Retry-After`), and once on an invalid answer.
    async fn ask(
        &self,
        name: &str,
        schema: Value,
        system: &str,
        user: String,
    ) -> Result<Map<String, Value>, Failed> {
        let body = json!({
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "strict": true, "schema": schema},
            },
        });
        let max_attempts = self.config.max_attempts.max(1);
        let mut reasked = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (failure, retry_after) = match self.attempt(&body).await {
                Ok(answer) => return Ok(answer),
                Err(failed) => failed,
            };
            let again = attempt < max_attempts
                && (failure.retryable() || (matches!(failure, Failure::Invalid(_)) && !reasked));
            if !again {
                return Err(Failed {
                    failure,
                    attempts: attempt,
                });
            }
            if matches!(failure, Failure::Invalid(_)) {
                reasked = true;
                tracing::debug!(request = name, attempt, "re-asking after an invalid answer");
                continue;
            }
            let backoff = BASE_BACKOFF
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            let wait = retry_after.map_or(backoff, |after| after.min(MAX_RETRY_AFTER));
            tracing::debug!(
                request = name,
                attempt,
                wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "retrying: {failure:?}"
            );
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt: the answer, or why not and how long the server asked to wait.
    async fn attempt(
        &self,
        body: &Value,
    ) -> Result<Map<String, Value>, (Failure, Option<Duration>)> {
        let config = self.config;
        let mut request = self
            .client
            .post(config.chat_url())
            .timeout(config.timeout)
            .json(body);
        if let Some(version) = &config.azure_api_version {
            request = request.query(&[("api-version", version.as_str())]);
            if let Some(key) = &config.api_key {
                request = request.header("api-key", key);
            }
        } else if let Some(key) = &config.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|error| (Failure::Transport(error.without_url().to_string()), None))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let text = response.text().await.unwrap_or_default();
            let (excerpt, _) = truncate(text.trim(), 200);
            return Err((
                Failure::Status(status.as_u16(), excerpt.to_owned()),
                retry_after,
            ));
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|error| (Failure::Transport(error.without_url().to_string()), None))?;
        let reply: ChatResponse = serde_json::from_slice(&bytes).map_err(|error| {
            (
                Failure::Invalid(format!("not a chat completion: {error}")),
                None,
            )
        })?;
        let choice = reply
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| (Failure::Invalid("no choices".into()), None))?;
        if let Some(refusal) = choice.message.refusal.filter(|r| !r.trim().is_empty()) {
            return Err((Failure::Refused(refusal), None));
        }
        if let Some(reason) = choice.finish_reason.filter(|reason| reason != "stop") {
            return Err((Failure::Unfinished(reason), None));
        }
        let content = choice
            .message
            .content
            .ok_or_else(|| (Failure::Invalid("no content".into()), None))?;
        match serde_json::from_str::<Value>(strip_fences(&content)) {
            Ok(Value::Object(answer)) => Ok(answer),
            Ok(_) => Err((
                Failure::Invalid("the content is not a JSON object".into()),
                None,
            )),
            Err(error) => Err((
                Failure::Invalid(format!("the content is not JSON: {error}")),
                None,
            )),
        }
    }
}

/// Some servers wrap JSON in a Markdown code fence despite the schema.
fn strip_fences(content: &str) -> &str {
    let trimmed = content.trim();
    trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.strip_suffix("```"))
        .map_or(trimmed, str::trim)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly by design")]
mod tests {
    use super::*;

    #[test]
    fn each_scene_field_is_checked_alone() {
        let text = "It was night. \"Who goes there?\" cried the guard.\n\nNobody answered.";
        let answer = json!({
            "summary": "A guard calls out at night.",
            "mood": {"label": "eerie", "valence": 3.0, "intensity": 0.5},
            "setting": {"time_of_day": "midnight", "indoor": false},
            "key_quote": "\"Who goes  there?\" cried",
            "visual_brief": {"what": "x".repeat(301)}
        });
        let patch = check_scene(answer.as_object().unwrap(), text);
        assert_eq!(
            patch.summary.as_deref(),
            Some("A guard calls out at night.")
        );
        assert!(patch.mood.is_none());
        assert!(patch.time_of_day.is_none());
        assert_eq!(patch.indoor, Some(Some(false)));
        assert_eq!(
            patch.key_quote.as_deref(),
            Some("\"Who goes  there?\" cried")
        );
        assert!(patch.what.is_none());
        let fields: Vec<&str> = patch.rejected.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(fields, ["mood", "setting.time_of_day", "visual_brief.what"]);
    }

    #[test]
    fn fences_and_truncation() {
        assert_eq!(strip_fences("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_fences(" {} "), "{}");
        assert_eq!(truncate("héllo", 2), ("hé", true));
        assert_eq!(truncate("hé", 2), ("hé", false));
    }

    #[test]
    fn the_key_is_redacted() {
        let config = LlmConfig {
            endpoint: "http://localhost/v1".into(),
            api_key: Some("sk-secret".into()),
            model: "m".into(),
            azure_api_version: None,
            max_attempts: 3,
            timeout: Duration::from_secs(1),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("sk-secret") && shown.contains("redacted"));
    }
}
