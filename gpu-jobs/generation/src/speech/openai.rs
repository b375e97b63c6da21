//! An OpenAI-compatible speech API: `POST {base}/audio/speech` with
//! `{"model", "input", "voice", "response_format": "pcm", "speed"}`; `pcm` answers are 24 kHz
//! 16-bit little-endian mono samples without a header.

use async_trait::async_trait;

use super::{
    Casting, EngineVoice, Slot, Speech, SpeechEngine, SpeechError, fetch_audio, http_client,
    pcm_from_s16le,
};

const OUTPUT_RATE: u32 = 24_000;
const NARRATOR: &str = "alloy";
const FEMALE: &[&str] = &["nova", "shimmer", "coral"];
const MALE: &[&str] = &["onyx", "echo", "ash"];
const NEUTRAL: &[&str] = &["fable", "sage"];

#[derive(Debug, Clone)]
pub struct OpenAiSpeech {
    base_url: String,
    api_key: Option<String>,
    model: String,
    client: reqwest::Client,
}

impl OpenAiSpeech {
    /// `base_url` ends before `/audio/speech` (`https://api.openai.com/v1`).
    pub fn new(base_url: &str, api_key: Option<&str>, model: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key: api_key.map(str::to_owned),
            model: model.to_owned(),
            client: http_client(),
        }
    }
}

#[async_trait]
impl SpeechEngine for OpenAiSpeech {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn fingerprint(&self) -> String {
        format!("openai {} pcm", self.model)
    }

    fn cast(&self, casting: &Casting, _language: &str) -> EngineVoice {
        let name = match casting.slot() {
            Slot::Narrator => Some(NARRATOR),
            Slot::Female(rank) => Slot::pick(rank, FEMALE),
            Slot::Male(rank) => Slot::pick(rank, MALE),
            Slot::Neutral(rank) => Slot::pick(rank, NEUTRAL),
            Slot::Named(name) => Some(name),
        };
        let (_, rate) = casting.clamped();
        // The API has no pitch control: the voice choice carries it.
        EngineVoice {
            name: name.unwrap_or(NARRATOR).to_owned(),
            pitch: 0.0,
            rate: rate.clamp(0.25, 4.0),
        }
    }

    async fn synthesize(
        &self,
        text: &str,
        voice: &EngineVoice,
        _language: &str,
    ) -> Result<Speech, SpeechError> {
        let mut request = self
            .client
            .post(format!("{}/audio/speech", self.base_url))
            .json(&serde_json::json!({
                "model": self.model,
                "input": text,
                "voice": voice.name,
                "response_format": "pcm",
                "speed": voice.rate,
            }));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let body = fetch_audio("openai", request).await?;
        Ok(Speech {
            pcm: pcm_from_s16le(&body, OUTPUT_RATE)?,
            words: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn https_endpoints_are_spoken_to_over_tls() {
        // Nothing listens there: the error must be a connection failure, not a client
        // without TLS refusing the scheme.
        let engine = OpenAiSpeech::new("https://127.0.0.1:9/v1", Some("k"), "tts-1");
        let voice = engine.cast(&Casting::narrator(), "en");
        let error = engine
            .synthesize("Hello.", &voice, "en")
            .await
            .expect_err("nothing listens");
        assert!(matches!(error, SpeechError::Unreachable { .. }), "{error}");
        assert!(error.is_transient());
        assert!(!error.to_string().contains("scheme"), "{error}");
    }
}
