//! espeak-ng: text on stdin, a WAV file out. Every language, and distinct voices through its
//! variants (`+f2`, `+m3`), pitch (`-p`) and rate (`-s`).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use async_trait::async_trait;
use tokio::io::AsyncWriteExt;

use super::{Casting, EngineVoice, Slot, Speech, SpeechEngine, SpeechError, primary_language};
use crate::audio::decode_wav;

/// espeak-ng's default pitch (`-p`, 0..=99) and rate (`-s`, words per minute).
const DEFAULT_PITCH: f32 = 50.0;
const DEFAULT_WPM: f32 = 165.0;

/// Variants that sound unlike the narrator (who reads with the language's default voice).
const FEMALE_VARIANTS: &[&str] = &["f2", "f1", "f3", "f4", "f5"];
const MALE_VARIANTS: &[&str] = &["m3", "m7", "m2", "m4", "m6", "m5"];
const NEUTRAL_VARIANTS: &[&str] = &["klatt", "klatt3", "klatt4", "klatt2"];

#[derive(Debug, Clone)]
pub struct Espeak {
    program: PathBuf,
    version: String,
}

impl Espeak {
    /// Checks the executable and records its version (part of every cache key).
    pub async fn new(program: &Path) -> Result<Self, SpeechError> {
        let output = tokio::process::Command::new(program)
            .arg("--version")
            .output()
            .await
            .map_err(|error| tool_error(program, &error.to_string()))?;
        if !output.status.success() {
            return Err(tool_error(program, "--version failed"));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        let version = text
            .split_whitespace()
            .take(5)
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Self {
            program: program.to_path_buf(),
            version,
        })
    }

    pub fn program(&self) -> &Path {
        &self.program
    }
}

/// espeak-ng's voice for a language.
pub fn language_voice(language: &str) -> &'static str {
    match primary_language(language).as_str() {
        "fr" => "fr-fr",
        "de" => "de",
        "es" => "es",
        "it" => "it",
        "pt" => "pt",
        "nl" => "nl",
        _ => "en-us",
    }
}

fn tool_error(program: &Path, message: &str) -> SpeechError {
    SpeechError::Tool {
        tool: "espeak-ng",
        message: format!("{}: {message}", program.display()),
    }
}

#[async_trait]
impl SpeechEngine for Espeak {
    fn name(&self) -> &'static str {
        "espeak"
    }

    fn fingerprint(&self) -> String {
        format!("espeak-ng {}", self.version)
    }

    fn cast(&self, casting: &Casting, language: &str) -> EngineVoice {
        let base = language_voice(language);
        let variant = match casting.slot() {
            Slot::Narrator => None,
            Slot::Female(rank) => Slot::pick(rank, FEMALE_VARIANTS),
            Slot::Male(rank) => Slot::pick(rank, MALE_VARIANTS),
            Slot::Neutral(rank) => Slot::pick(rank, NEUTRAL_VARIANTS),
            Slot::Named(name) => {
                let (pitch, rate) = casting.clamped();
                return EngineVoice {
                    name: name.to_owned(),
                    pitch: pitch as f32,
                    rate,
                };
            }
        };
        let (pitch, rate) = casting.clamped();
        EngineVoice {
            name: variant.map_or_else(|| base.to_owned(), |v| format!("{base}+{v}")),
            pitch: pitch as f32,
            rate,
        }
    }

    async fn synthesize(
        &self,
        text: &str,
        voice: &EngineVoice,
        _language: &str,
    ) -> Result<Speech, SpeechError> {
        let file = tempfile::Builder::new()
            .prefix("espeak-")
            .suffix(".wav")
            .tempfile()?;
        let pitch = (DEFAULT_PITCH + voice.pitch).clamp(0.0, 99.0).round();
        let wpm = (DEFAULT_WPM * voice.rate).clamp(80.0, 450.0).round();
        let mut child = tokio::process::Command::new(&self.program)
            .args(["-b", "1", "-v", &voice.name, "-p", &pitch.to_string()])
            .args(["-s", &wpm.to_string()])
            .arg("-w")
            .arg(file.path())
            .arg("--stdin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| tool_error(&self.program, &error.to_string()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes()).await?;
            stdin.shutdown().await?;
        }
        let output = child.wait_with_output().await?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() || stderr.contains("Error") {
            return Err(tool_error(
                &self.program,
                &format!(
                    "voice {:?}: exit {}: {}",
                    voice.name,
                    output.status,
                    stderr.trim()
                ),
            ));
        }
        let bytes = tokio::fs::read(file.path()).await?;
        Ok(Speech {
            pcm: decode_wav(&bytes)?,
            words: Vec::new(),
        })
    }
}

/// Phonemes for `text` in IPA, one line per clause (`espeak-ng -q --ipa`), as Piper voices
/// expect them.
pub async fn phonemize(
    program: &Path,
    voice: &str,
    text: &str,
) -> Result<Vec<String>, SpeechError> {
    let mut child = tokio::process::Command::new(program)
        .args(["-q", "--ipa", "-b", "1", "-v", voice, "--stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| tool_error(program, &error.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).await?;
        stdin.shutdown().await?;
    }
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        return Err(tool_error(
            program,
            &format!(
                "--ipa exit {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect())
}
