//! Speech engines behind one trait: `piper` (a VITS voice run by ONNX Runtime), `espeak`
//! (espeak-ng, every language, the fallback), `azure-speech` (REST with SSML) and `openai`
//! (an OpenAI-compatible `/v1/audio/speech`).
//!
//! The story bible casts voices in engine-neutral terms ([`Casting`]: a slot such as `narrator`,
//! `female-1` or `male-2`, a pitch shift and a rate); each engine maps a casting to one of its
//! own voices ([`EngineVoice`]), so a book keeps its cast when the engine changes. A slot that
//! is not one of those patterns is taken as the engine's own voice name (a user override such
//! as `en-US-JennyNeural` or `onyx`).

pub mod azure;
pub mod espeak;
pub mod openai;
pub mod piper;

use std::fmt;

use async_trait::async_trait;

use crate::audio::{AudioError, Pcm};

/// How the story bible wants a speaker to sound, whatever the engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Casting {
    /// `narrator`, `female-N`, `male-N`, `neutral-N`, or an engine's own voice name.
    pub slot: String,
    /// Pitch shift in percent of the engine's default (-50..=50).
    pub pitch: i32,
    /// Speaking-rate factor (0.5..=2.0).
    pub rate: f32,
}

impl Casting {
    /// The narrator: the engine's default voice at its default pitch and rate.
    pub fn narrator() -> Self {
        Self {
            slot: "narrator".to_owned(),
            pitch: 0,
            rate: 1.0,
        }
    }

    /// The slot, parsed.
    pub fn slot(&self) -> Slot<'_> {
        Slot::parse(&self.slot)
    }

    /// Pitch and rate brought into their documented ranges.
    pub fn clamped(&self) -> (i32, f32) {
        let rate = if self.rate.is_finite() {
            self.rate.clamp(0.5, 2.0)
        } else {
            1.0
        };
        (self.pitch.clamp(-50, 50), rate)
    }
}

/// An engine-neutral voice slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot<'a> {
    Narrator,
    /// 1-based rank among the female voices.
    Female(usize),
    Male(usize),
    Neutral(usize),
    /// Not a slot: the engine's own name for a voice.
    Named(&'a str),
}

impl<'a> Slot<'a> {
    pub fn parse(slot: &'a str) -> Self {
        if slot == "narrator" {
            return Slot::Narrator;
        }
        let ranked = |prefix: &str| {
            slot.strip_prefix(prefix)
                .and_then(|rank| rank.parse::<usize>().ok())
                .filter(|rank| *rank >= 1)
        };
        if let Some(rank) = ranked("female-") {
            Slot::Female(rank)
        } else if let Some(rank) = ranked("male-") {
            Slot::Male(rank)
        } else if let Some(rank) = ranked("neutral-") {
            Slot::Neutral(rank)
        } else {
            Slot::Named(slot)
        }
    }

    /// The `rank`-th entry of `choices` (cycling), for engines with a list of voices per kind.
    pub fn pick<T: Copy>(rank: usize, choices: &[T]) -> Option<T> {
        (!choices.is_empty()).then(|| choices[(rank.max(1) - 1) % choices.len()])
    }
}

/// One of an engine's voices, with the pitch and rate it is read at.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineVoice {
    /// The engine's name for the voice (`en-us+f2`, `joe`, `en-US-JennyNeural`, `nova`).
    pub name: String,
    /// Pitch shift in semitones (engines that shift pitch themselves) or percent (SSML).
    pub pitch: f32,
    /// Speaking-rate factor.
    pub rate: f32,
}

impl EngineVoice {
    /// Everything about the voice that changes the audio, for cache keys.
    pub fn fingerprint(&self) -> String {
        format!("{}|{:.3}|{:.3}", self.name, self.pitch, self.rate)
    }

    /// How the voice is reported: its name, with pitch and rate when they are not the
    /// default (`joe +4.3 x1.08`).
    pub fn label(&self) -> String {
        let mut label = self.name.clone();
        if self.pitch.abs() >= 0.05 {
            label.push_str(&format!(" {:+.1}", self.pitch));
        }
        if (self.rate - 1.0).abs() >= 0.005 {
            label.push_str(&format!(" x{:.2}", self.rate));
        }
        label
    }
}

/// What an engine returns for one sentence.
#[derive(Debug, Clone, PartialEq)]
pub struct Speech {
    pub pcm: Pcm,
    /// Word timings when the engine reports them (empty otherwise: they are estimated).
    pub words: Vec<WordMark>,
}

/// A word and where it starts and ends in the sentence's audio, in samples at the audio's rate.
#[derive(Debug, Clone, PartialEq)]
pub struct WordMark {
    pub word: String,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SpeechError {
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },
    #[error("{engine} answered HTTP {status}: {message}")]
    Http {
        engine: &'static str,
        status: u16,
        message: String,
    },
    #[error("{engine} could not be reached: {message}")]
    Unreachable {
        engine: &'static str,
        message: String,
    },
    #[error("the voice model failed: {0}")]
    Model(String),
    #[error("the engine returned unreadable audio: {0}")]
    Audio(#[from] AudioError),
    #[error("the engine returned unreadable samples: {0}")]
    Samples(String),
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
}

impl SpeechError {
    /// Whether trying again later may succeed (a remote engine's 429 or 5xx, a network error).
    pub fn is_transient(&self) -> bool {
        match self {
            SpeechError::Http { status, .. } => *status == 429 || *status >= 500,
            // A tool that will not start or crashes is a node's problem (a retry may land on
            // a healthy one), not the book's.
            SpeechError::Unreachable { .. } | SpeechError::Io(_) | SpeechError::Tool { .. } => true,
            _ => false,
        }
    }
}

/// A text-to-speech engine.
#[async_trait]
pub trait SpeechEngine: Send + Sync + fmt::Debug {
    /// `piper`, `espeak`, `azure-speech`, `openai`.
    fn name(&self) -> &'static str;

    /// Everything besides the text and the voice that changes the audio (engine version, model
    /// hash, output format), for cache keys.
    fn fingerprint(&self) -> String;

    /// The engine's voice for a casting in a book of `language` (BCP 47).
    fn cast(&self, casting: &Casting, language: &str) -> EngineVoice;

    /// Reads one sentence.
    async fn synthesize(
        &self,
        text: &str,
        voice: &EngineVoice,
        language: &str,
    ) -> Result<Speech, SpeechError>;
}

/// The primary subtag of a BCP 47 language tag, lower-cased (`fr` for `fr-CA`).
pub fn primary_language(language: &str) -> String {
    language
        .split(['-', '_'])
        .next()
        .unwrap_or("en")
        .to_ascii_lowercase()
}

/// Sends a request to a remote engine and returns the body of a 2xx answer.
pub(crate) async fn fetch_audio(
    engine: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<bytes::Bytes, SpeechError> {
    let unreachable = |error: reqwest::Error| SpeechError::Unreachable {
        engine,
        message: error.to_string(),
    };
    let response = request.send().await.map_err(unreachable)?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(SpeechError::Http {
            engine,
            status: status.as_u16(),
            message: body.chars().take(300).collect(),
        });
    }
    response.bytes().await.map_err(unreachable)
}

/// Raw 16-bit little-endian mono samples (the `pcm` formats of the remote engines).
pub(crate) fn pcm_from_s16le(bytes: &[u8], rate: u32) -> Result<Pcm, SpeechError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(SpeechError::Samples(format!(
            "{} bytes is not a whole number of 16-bit samples",
            bytes.len()
        )));
    }
    Ok(Pcm {
        rate,
        samples: bytes
            .chunks_exact(2)
            .map(|pair| f32::from(i16::from_le_bytes([pair[0], pair[1]])) / 32768.0)
            .collect(),
    })
}

/// The client remote engines share: bounded time, a user agent.
pub(crate) fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .user_agent(concat!("visiobook/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_parse_and_anything_else_is_a_voice_name() {
        assert_eq!(Slot::parse("narrator"), Slot::Narrator);
        assert_eq!(Slot::parse("female-2"), Slot::Female(2));
        assert_eq!(Slot::parse("male-1"), Slot::Male(1));
        assert_eq!(Slot::parse("neutral-3"), Slot::Neutral(3));
        assert_eq!(Slot::parse("male-0"), Slot::Named("male-0"));
        assert_eq!(Slot::parse("onyx"), Slot::Named("onyx"));
        assert_eq!(Slot::pick(4, &["a", "b", "c"]), Some("a"));
        assert_eq!(Slot::pick::<&str>(1, &[]), None);
    }

    #[test]
    fn castings_are_clamped_to_their_ranges() {
        let casting = Casting {
            slot: "male-1".into(),
            pitch: 90,
            rate: f32::NAN,
        };
        assert_eq!(casting.clamped(), (50, 1.0));
        assert_eq!(primary_language("fr-CA"), "fr");
    }
}
