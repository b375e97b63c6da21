//! Narration with espeak-ng: text on stdin, a WAV file out.

use std::path::Path;
use std::process::Stdio;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use crate::GenerationError;

/// An espeak-ng voice and speaking rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voice {
    pub name: &'static str,
    pub words_per_minute: u32,
}

/// The narrator voice for a book language (BCP 47 primary tag).
pub fn voice_for_language(language: &str) -> Voice {
    let name = match language.split('-').next().unwrap_or("en") {
        "fr" => "fr-fr",
        "de" => "de",
        "es" => "es",
        "it" => "it",
        _ => "en-us",
    };
    Voice {
        name,
        words_per_minute: 165,
    }
}

/// `espeak-ng --version`, part of every narration's cache key.
pub async fn engine_version(espeak: &Path) -> Result<String, GenerationError> {
    let output = tokio::process::Command::new(espeak)
        .arg("--version")
        .output()
        .await
        .map_err(|error| tool_error(espeak, &error.to_string()))?;
    if !output.status.success() {
        return Err(tool_error(espeak, "--version failed"));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text
        .split_whitespace()
        .take(5)
        .collect::<Vec<_>>()
        .join(" "))
}

fn tool_error(espeak: &Path, message: &str) -> GenerationError {
    GenerationError::Tool {
        tool: "espeak-ng",
        message: format!("{}: {message}", espeak.display()),
    }
}

/// Synthesises `text` to WAV bytes.
pub async fn synthesize(
    espeak: &Path,
    voice: &Voice,
    text: &str,
    work_dir: &Path,
) -> Result<Bytes, GenerationError> {
    let file = tempfile::Builder::new()
        .prefix("narration-")
        .suffix(".wav")
        .tempfile_in(work_dir)?;
    let mut child = tokio::process::Command::new(espeak)
        .args(["-b", "1", "-v", voice.name, "-s"])
        .arg(voice.words_per_minute.to_string())
        .arg("-w")
        .arg(file.path())
        .arg("--stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| tool_error(espeak, &error.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).await?;
        stdin.shutdown().await?;
    }
    let output = child.wait_with_output().await?;
    if !output.status.success() {
        return Err(tool_error(
            espeak,
            &format!(
                "exit {}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        ));
    }
    let bytes = tokio::fs::read(file.path()).await?;
    duration_ms(&bytes)?;
    Ok(Bytes::from(bytes))
}

/// Exact duration of a PCM WAV from its sample count.
pub fn duration_ms(wav: &[u8]) -> Result<u64, GenerationError> {
    let reader = hound::WavReader::new(std::io::Cursor::new(wav))
        .map_err(|error| GenerationError::Audio(error.to_string()))?;
    let spec = reader.spec();
    if spec.sample_rate == 0 {
        return Err(GenerationError::Audio("sample rate is zero".into()));
    }
    Ok(u64::from(reader.duration()) * 1000 / u64::from(spec.sample_rate))
}
