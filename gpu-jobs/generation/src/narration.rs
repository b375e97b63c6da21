//! Narration: a scene's lines split into sentences, each read by its speaker's voice, checked,
//! cleaned and loudness-normalised, cached by content, then laid end to end with pauses.
//!
//! A sentence's cache key is the hash of everything that makes its audio (engine and version,
//! voice, pitch and rate, the text after the lexicon, the processing version), so a second run
//! synthesises nothing and an edited sentence is the only one synthesised again. Sentences that
//! fail quality checks twice are used but not cached, and reported for regeneration.

use std::collections::HashMap;

use visiobook_domain::analysis::NARRATOR;
use visiobook_domain::analysis::{Pronunciation, Scene};
use visiobook_domain::artifacts::{QaFlag, SpokenSentence, WordTiming};
use visiobook_domain::{Analysis, NarrationLine};
use visiobook_ports::{BlobKey, BlobStore};

use crate::audio::{self, Pcm, SAMPLE_RATE};
use crate::speech::{Casting, EngineVoice, Speech, SpeechEngine, SpeechError};
use crate::{GenerationError, cached, key_for};

/// Bumped whenever trimming, normalisation or the stored format change.
pub const PROCESSING_VERSION: &str = "sentence-v1";
/// Integrated loudness every sentence is brought to (EBU R128 speech delivery is -16 to -23;
/// -16 LUFS suits listening on small speakers and earphones).
pub const TARGET_LUFS: f64 = -16.0;
/// Sample peaks stay below this after normalisation.
pub const CEILING_DBFS: f64 = -1.5;
/// Below this level audio counts as silence.
pub const SILENCE_DBFS: f64 = -45.0;
/// Silence kept at each end of a sentence, and the longest pause kept inside one.
const EDGE_MS: u64 = 40;
const MAX_INNER_SILENCE_MS: u64 = 600;
/// QA limits.
const QA_MAX_SILENCE_MS: u64 = 2_000;
const QA_MIN_RATIO: f64 = 0.35;
const QA_MAX_RATIO: f64 = 2.8;
/// The pace QA expects at rate 1.0, in words per minute.
const NOMINAL_WPM: f64 = 165.0;
/// Pauses laid between sentences.
const PAUSE_IN_LINE_MS: u64 = 300;
const PAUSE_IN_PARAGRAPH_MS: u64 = 150;
const PAUSE_BETWEEN_PARAGRAPHS_MS: u64 = 650;
const PAUSE_AFTER_HEADING_MS: u64 = 900;

/// One sentence to speak, with everything that determines its audio.
#[derive(Debug, Clone, PartialEq)]
pub struct SentencePlan {
    pub speaker: String,
    /// As written.
    pub text: String,
    /// As read: quotes and emphasis marks removed, the lexicon applied.
    pub spoken: String,
    pub voice: EngineVoice,
    pub pause_before_ms: u64,
    pub key: BlobKey,
    /// The paragraph the sentence comes from (none for lines the narrator adds).
    pub paragraph_id: Option<String>,
}

/// The user's and the analysis's pronunciations, applied to the text before synthesis.
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    /// Lower-cased term and what to say, longest terms first.
    entries: Vec<(String, String)>,
}

impl Lexicon {
    pub fn new(pronunciations: &[Pronunciation]) -> Self {
        let mut entries: Vec<(String, String)> = pronunciations
            .iter()
            .filter(|p| !p.term.trim().is_empty() && !p.say_as.trim().is_empty())
            .map(|p| (p.term.trim().to_lowercase(), readable(p.say_as.trim())))
            .collect();
        entries.sort_by(|a, b| {
            b.0.chars()
                .count()
                .cmp(&a.0.chars().count())
                .then(a.0.cmp(&b.0))
        });
        entries.dedup_by(|a, b| a.0 == b.0);
        Self { entries }
    }

    /// Whole-word, case-insensitive replacement of every term.
    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (term, say) in &self.entries {
            out = replace_word(&out, term, say);
        }
        out
    }
}

/// A respelling such as `GRY-phon` written so engines read it as a word, not as letters.
fn readable(say_as: &str) -> String {
    say_as.to_lowercase()
}

fn replace_word(text: &str, term: &str, replacement: &str) -> String {
    let lowered = text.to_lowercase();
    // Lower-casing can change byte lengths (rare letters); fall back to no replacement then.
    if lowered.len() != text.len() {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(found) = lowered[from..].find(term) {
        let start = from + found;
        let end = start + term.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        out.push_str(&text[from..start]);
        if before.is_none_or(|c| !c.is_alphanumeric()) && after.is_none_or(|c| !c.is_alphanumeric())
        {
            out.push_str(replacement);
        } else {
            out.push_str(&text[start..end]);
        }
        from = end;
    }
    out.push_str(&text[from..]);
    out
}

/// What is read aloud: typographic quotes, emphasis underscores and asterisks dropped, dashes
/// turned into commas, spaces collapsed.
pub fn spoken_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut previous = ' ';
    for c in text.replace("--", ", ").chars() {
        let c = match c {
            '"' | '“' | '”' | '«' | '»' | '_' | '*' | '‘' | '`' => continue,
            '—' | '–' => ',',
            '’' => '\'',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        // A quote mark used as an opening/closing single quote (not an apostrophe).
        if c == '\'' && !(previous.is_alphanumeric()) {
            continue;
        }
        if c == ' ' && previous == ' ' {
            continue;
        }
        if c == ',' && matches!(previous, ',' | ' ') && out.trim_end().ends_with(',') {
            continue;
        }
        out.push(c);
        previous = c;
    }
    let trimmed = out.trim().trim_start_matches([',', ' ']);
    let cleaned = trimmed
        .replace(" ,", ",")
        .replace(",.", ".")
        .replace(",!", "!")
        .replace(",?", "?");
    // A quote closed after a comma leaves `word,'`: drop a trailing apostrophe after punctuation.
    cleaned.trim_end_matches(['\'', ' ']).to_owned()
}

/// Sentences of a scene in reading order, with the pauses before them.
pub fn scene_sentences(scene: &Scene) -> Vec<(&NarrationLine, String, u64)> {
    let mut out = Vec::new();
    let mut previous: Option<&NarrationLine> = None;
    for line in &scene.narration {
        for (index, sentence) in visiobook_domain::sentences(&line.text)
            .into_iter()
            .enumerate()
        {
            let pause = match previous {
                _ if index > 0 => PAUSE_IN_LINE_MS,
                None => 0,
                Some(before) if before.paragraph_id.is_none() => PAUSE_AFTER_HEADING_MS,
                Some(before) if before.paragraph_id == line.paragraph_id => PAUSE_IN_PARAGRAPH_MS,
                Some(_) => PAUSE_BETWEEN_PARAGRAPHS_MS,
            };
            out.push((line, sentence.to_owned(), pause));
        }
        previous = Some(line);
    }
    out
}

/// The voices of a book: the narrator's and each character's, as the engine casts them.
#[derive(Debug, Clone)]
pub struct Cast {
    narrator: EngineVoice,
    characters: HashMap<String, EngineVoice>,
}

impl Cast {
    pub fn new(engine: &dyn SpeechEngine, analysis: &Analysis) -> Self {
        let narrator = engine.cast(&Casting::narrator(), &analysis.language);
        let characters = analysis
            .characters
            .iter()
            .map(|character| {
                let casting = Casting {
                    slot: character.voice.voice.clone(),
                    pitch: character.voice.pitch,
                    rate: character.voice.rate,
                };
                (
                    character.id.clone(),
                    engine.cast(&casting, &analysis.language),
                )
            })
            .collect();
        Self {
            narrator,
            characters,
        }
    }

    pub fn voice(&self, speaker: &str) -> &EngineVoice {
        self.characters.get(speaker).unwrap_or(&self.narrator)
    }
}

/// Plans a scene's sentences and their cache keys.
pub fn plan_scene(
    scene: &Scene,
    cast: &Cast,
    lexicon: &Lexicon,
    engine: &dyn SpeechEngine,
    language: &str,
) -> Result<Vec<SentencePlan>, GenerationError> {
    let sentences = scene_sentences(scene)
        .into_iter()
        .map(|(line, sentence, pause)| {
            (
                line.speaker.as_str(),
                sentence,
                pause,
                line.paragraph_id.clone(),
            )
        });
    plan_sentences(sentences, cast, lexicon, engine, language)
}

fn plan_sentences<'a>(
    sentences: impl Iterator<Item = (&'a str, String, u64, Option<String>)>,
    cast: &Cast,
    lexicon: &Lexicon,
    engine: &dyn SpeechEngine,
    language: &str,
) -> Result<Vec<SentencePlan>, GenerationError> {
    let fingerprint = engine.fingerprint();
    let mut plans = Vec::new();
    for (speaker, sentence, pause, paragraph_id) in sentences {
        let spoken = lexicon.apply(&spoken_text(&sentence));
        if !spoken.chars().any(char::is_alphanumeric) {
            continue;
        }
        let voice = cast.voice(speaker).clone();
        let key = key_for(
            "sentences",
            &[
                PROCESSING_VERSION,
                engine.name(),
                &fingerprint,
                &voice.fingerprint(),
                language,
                &spoken,
            ],
            "wav",
        )?;
        plans.push(SentencePlan {
            speaker: speaker.to_owned(),
            text: sentence,
            spoken,
            voice,
            pause_before_ms: pause,
            key,
            paragraph_id,
        });
    }
    Ok(plans)
}

/// Reads a free text with one casting (an audition of a voice); its sentences are cached like a
/// book's.
pub async fn speak(
    blobs: &dyn BlobStore,
    engine: &dyn SpeechEngine,
    text: &str,
    casting: &Casting,
    language: &str,
    lexicon: &Lexicon,
) -> Result<(Vec<SentencePlan>, SceneNarration), GenerationError> {
    let cast = Cast {
        narrator: engine.cast(casting, language),
        characters: HashMap::new(),
    };
    let sentences = visiobook_domain::sentences(text)
        .into_iter()
        .enumerate()
        .map(|(index, sentence)| {
            let pause = if index == 0 { 0 } else { PAUSE_IN_LINE_MS };
            (NARRATOR, sentence.to_owned(), pause, None)
        });
    let plans = plan_sentences(sentences, &cast, lexicon, engine, language)?;
    let narration = narrate_scene(blobs, engine, "preview", &plans, language, 2).await?;
    Ok((plans, narration))
}

/// A scene read aloud.
#[derive(Debug, Clone)]
pub struct SceneNarration {
    pub pcm: Pcm,
    pub sentences: Vec<SpokenSentence>,
    pub synthesised: u64,
    pub reused: u64,
    pub flagged: Vec<QaFlag>,
}

/// A sentence's audio, ready to lay down, and how it was obtained.
struct Take {
    pcm: Pcm,
    synthesised: bool,
    problems: Vec<String>,
}

/// Reads a scene: cached sentences are reused, the others synthesised (a few at a time for
/// engines that allow it), checked, and stored.
pub async fn narrate_scene(
    blobs: &dyn BlobStore,
    engine: &dyn SpeechEngine,
    scene_id: &str,
    plans: &[SentencePlan],
    language: &str,
    concurrency: usize,
) -> Result<SceneNarration, GenerationError> {
    // A sentence said twice in a scene ("Oh dear! Oh dear!") is synthesised once.
    let mut first_of: HashMap<&str, usize> = HashMap::new();
    let unique: Vec<&SentencePlan> = plans
        .iter()
        .filter(|plan| {
            let next = first_of.len();
            *first_of.entry(plan.key.as_str()).or_insert(next) == next
        })
        .collect();
    // A few at a time (plain futures, not a stream of closures: the job's future must stay
    // `Send` for every lifetime).
    let mut unique_takes = Vec::with_capacity(unique.len());
    for chunk in unique.chunks(concurrency.max(1)) {
        let mut pending = Vec::with_capacity(chunk.len());
        for plan in chunk {
            pending.push(take(blobs, engine, plan, language));
        }
        for result in futures_util::future::join_all(pending).await {
            unique_takes.push(result?);
        }
    }
    let mut seen = vec![false; unique_takes.len()];
    let takes = plans.iter().map(|plan| {
        let index = first_of[plan.key.as_str()];
        let repeat = std::mem::replace(&mut seen[index], true);
        let take = &unique_takes[index];
        Ok::<_, GenerationError>(Take {
            pcm: take.pcm.clone(),
            synthesised: take.synthesised && !repeat,
            problems: take.problems.clone(),
        })
    });
    let mut narration = SceneNarration {
        pcm: Pcm {
            rate: SAMPLE_RATE,
            samples: Vec::new(),
        },
        sentences: Vec::with_capacity(plans.len()),
        synthesised: 0,
        reused: 0,
        flagged: Vec::new(),
    };
    for (index, (plan, take)) in plans.iter().zip(takes).enumerate() {
        let take = take?;
        if take.synthesised {
            narration.synthesised += 1;
        } else {
            narration.reused += 1;
        }
        if index > 0 {
            narration.pcm.samples.extend(std::iter::repeat_n(
                0.0,
                samples_for_ms(plan.pause_before_ms),
            ));
        }
        let start = narration.pcm.samples.len();
        narration.pcm.samples.extend_from_slice(&take.pcm.samples);
        let end = narration.pcm.samples.len();
        if !take.problems.is_empty() {
            narration.flagged.push(QaFlag {
                scene_id: scene_id.to_owned(),
                sentence: index,
                speaker: plan.speaker.clone(),
                text: plan.text.clone(),
                problems: take.problems.clone(),
            });
        }
        narration.sentences.push(SpokenSentence {
            speaker: plan.speaker.clone(),
            voice: plan.voice.label(),
            text: plan.text.clone(),
            start_ms: ms_for_samples(start),
            end_ms: ms_for_samples(end),
            words: estimate_words(&plan.text, start, end),
            audio_key: plan.key.to_string(),
            qa: take.problems,
            paragraph_id: plan.paragraph_id.clone(),
        });
    }
    // Each sentence is at the target already; pauses between them pull the scene's integrated
    // loudness down a little (blocks that straddle a pause), so the scene gets one final gain.
    audio::normalize_and_limit(&mut narration.pcm, TARGET_LUFS, CEILING_DBFS);
    Ok(narration)
}

async fn take(
    blobs: &dyn BlobStore,
    engine: &dyn SpeechEngine,
    plan: &SentencePlan,
    language: &str,
) -> Result<Take, GenerationError> {
    if let Some(bytes) = cached(blobs, &plan.key).await? {
        return Ok(Take {
            pcm: audio::decode_wav(&bytes)?,
            synthesised: false,
            problems: Vec::new(),
        });
    }
    let words = visiobook_domain::word_count(&plan.spoken);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let speech = synthesize_with_retries(engine, plan, language).await?;
        let problems = quality_problems(&speech.pcm, words, plan.voice.rate);
        if problems.is_empty() {
            let pcm = finish(&speech.pcm);
            blobs
                .put(&plan.key, audio::encode_wav(&pcm).into(), "audio/wav")
                .await?;
            return Ok(Take {
                pcm,
                synthesised: true,
                problems,
            });
        }
        tracing::warn!(text = %plan.text, ?problems, attempt, "narration failed its checks");
        if attempt >= 2 {
            // Used as it is (silence of the expected length if it was silent), not cached,
            // reported for regeneration.
            let pcm = if problems.iter().any(|p| p == "silent") {
                Pcm::silence(SAMPLE_RATE, expected_ms(words, plan.voice.rate) as u64)
            } else {
                finish(&speech.pcm)
            };
            return Ok(Take {
                pcm,
                synthesised: true,
                problems,
            });
        }
    }
}

/// Remote engines fail transiently (429, 5xx, timeouts): three tries with a growing pause.
async fn synthesize_with_retries(
    engine: &dyn SpeechEngine,
    plan: &SentencePlan,
    language: &str,
) -> Result<Speech, SpeechError> {
    let mut delay = std::time::Duration::from_millis(250);
    let mut tries = 0;
    loop {
        tries += 1;
        match engine.synthesize(&plan.spoken, &plan.voice, language).await {
            Err(error) if error.is_transient() && tries < 3 => {
                tracing::warn!(%error, tries, "speech engine failed; trying again");
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            result => return result,
        }
    }
}

fn expected_ms(words: usize, rate: f32) -> f64 {
    words as f64 * 60_000.0 / (NOMINAL_WPM * f64::from(rate.max(0.1)))
}

/// What is wrong with a sentence's raw audio: `silent`, `too_short`, `too_long`,
/// `long_silence`, `clipping`.
pub fn quality_problems(raw: &Pcm, words: usize, rate: f32) -> Vec<String> {
    let mut problems = Vec::new();
    let voiced = audio::trim_silence(raw, SILENCE_DBFS, 0);
    if raw.samples.is_empty() || audio::peak_dbfs(raw) < SILENCE_DBFS || voiced.duration_ms() < 80 {
        problems.push("silent".to_owned());
        return problems;
    }
    if words >= 3 {
        let ratio = voiced.duration_ms() as f64 / expected_ms(words, rate);
        if ratio < QA_MIN_RATIO {
            problems.push("too_short".to_owned());
        } else if ratio > QA_MAX_RATIO {
            problems.push("too_long".to_owned());
        }
    }
    if audio::longest_silence_ms(&voiced, SILENCE_DBFS) > QA_MAX_SILENCE_MS {
        problems.push("long_silence".to_owned());
    }
    let clipping = audio::clipping(raw);
    if clipping.fraction > 0.001 || clipping.runs > 2 {
        problems.push("clipping".to_owned());
    }
    problems
}

/// Trimmed, long pauses shortened, at the mixing rate, at the target loudness.
fn finish(raw: &Pcm) -> Pcm {
    let trimmed = audio::trim_silence(raw, SILENCE_DBFS, EDGE_MS);
    let shortened = audio::shorten_silences(&trimmed, SILENCE_DBFS, MAX_INNER_SILENCE_MS);
    let mut pcm = audio::resample(&shortened, SAMPLE_RATE);
    normalise(&mut pcm);
    pcm
}

/// Loudness needs 400 ms blocks: a shorter sentence is measured as if repeated to 1.2 s.
fn normalise(pcm: &mut Pcm) {
    let minimum = samples_for_ms(1_200);
    if pcm.samples.is_empty() || pcm.samples.len() >= minimum {
        audio::normalize_and_limit(pcm, TARGET_LUFS, CEILING_DBFS);
        return;
    }
    let mut tiled = Pcm {
        rate: pcm.rate,
        samples: Vec::with_capacity(minimum + pcm.samples.len()),
    };
    while tiled.samples.len() < minimum {
        tiled.samples.extend_from_slice(&pcm.samples);
    }
    let gain_db = audio::normalize_loudness(&mut tiled, TARGET_LUFS, CEILING_DBFS + 6.0);
    let gain = 10_f32.powf(gain_db as f32 / 20.0);
    for sample in &mut pcm.samples {
        *sample *= gain;
    }
    audio::limit_peaks(&mut pcm.samples, pcm.rate, CEILING_DBFS);
}

/// Word timings spread over the sentence by letters (engines here do not report them).
pub fn estimate_words(text: &str, start: usize, end: usize) -> Vec<WordTiming> {
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|word| word.chars().any(char::is_alphanumeric))
        .collect();
    let weight = |word: &str| word.chars().filter(|c| c.is_alphanumeric()).count() as f64 + 1.0;
    let total: f64 = words.iter().map(|word| weight(word)).sum();
    let span = end.saturating_sub(start) as f64;
    let mut at = start as f64;
    words
        .iter()
        .map(|word| {
            let length = span * weight(word) / total.max(1.0);
            let timing = WordTiming {
                word: word
                    .trim_matches(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
                    .to_owned(),
                start_ms: ms_for_samples(at.round() as usize),
                end_ms: ms_for_samples((at + length).round() as usize),
            };
            at += length;
            timing
        })
        .collect()
}

fn samples_for_ms(ms: u64) -> usize {
    (ms * u64::from(SAMPLE_RATE) / 1000) as usize
}

fn ms_for_samples(samples: usize) -> u64 {
    samples as u64 * 1000 / u64::from(SAMPLE_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lexicon_replaces_whole_words_only() {
        let lexicon = Lexicon::new(&[
            Pronunciation {
                term: "Gryphon".into(),
                say_as: "GRIFF-un".into(),
            },
            Pronunciation {
                term: "Mock Turtle".into(),
                say_as: "mock TUR-tul".into(),
            },
        ]);
        assert_eq!(
            lexicon.apply("The gryphon and the Mock Turtle; Gryphons."),
            "The griff-un and the mock tur-tul; Gryphons."
        );
    }

    #[test]
    fn spoken_text_drops_quotes_and_emphasis() {
        assert_eq!(spoken_text("‘Oh dear! Oh dear!’"), "Oh dear! Oh dear!");
        assert_eq!(
            spoken_text("'I _shall_ be late--' said the Rabbit."),
            "I shall be late, said the Rabbit."
        );
        assert_eq!(spoken_text("« Où est ma chatte ? »"), "Où est ma chatte ?");
        assert_eq!(spoken_text("don’t"), "don't");
    }

    #[test]
    fn words_are_spread_over_the_sentence_in_order() {
        let words = estimate_words("Oh, my ears!", 0, 24_000);
        assert_eq!(words.len(), 3);
        assert_eq!(words[0].word, "Oh");
        assert_eq!(words[2].word, "ears");
        assert_eq!(words[0].start_ms, 0);
        assert_eq!(words[2].end_ms, 1000);
        assert!(
            words
                .windows(2)
                .all(|pair| pair[0].end_ms == pair[1].start_ms)
        );
    }

    #[test]
    fn quality_checks_catch_silence_clipping_and_pace() {
        let rate = 24_000;
        let tone = |ms: u64, amplitude: f32| Pcm {
            rate,
            samples: (0..ms * 24)
                .map(|i| amplitude * (i as f32 * 0.05).sin())
                .collect(),
        };
        assert_eq!(
            quality_problems(&Pcm::silence(rate, 2_000), 5, 1.0),
            ["silent"]
        );
        assert!(quality_problems(&tone(2_000, 0.3), 5, 1.0).is_empty());
        assert_eq!(quality_problems(&tone(300, 0.3), 12, 1.0), ["too_short"]);
        assert_eq!(quality_problems(&tone(2_000, 1.5), 5, 1.0), ["clipping"]);
        let mut gap = tone(800, 0.3);
        gap.samples.extend(Pcm::silence(rate, 2_500).samples);
        gap.samples.extend(tone(800, 0.3).samples);
        assert_eq!(quality_problems(&gap, 5, 1.0), ["long_silence"]);
    }
}
