//! Azure AI Speech, text to speech over REST: `POST {endpoint}/cognitiveservices/v1` with an SSML
//! body, the key in `Ocp-Apim-Subscription-Key`, and `X-Microsoft-OutputFormat:
//! raw-24khz-16bit-mono-pcm`, so the answer is bare samples.

use async_trait::async_trait;

use super::{
    Casting, EngineVoice, Slot, Speech, SpeechEngine, SpeechError, fetch_audio, http_client,
    pcm_from_s16le, primary_language,
};

const OUTPUT_FORMAT: &str = "raw-24khz-16bit-mono-pcm";
const OUTPUT_RATE: u32 = 24_000;

/// Neural voices per language: narrator, then female, male and neutral choices by rank.
struct Voices {
    narrator: &'static str,
    female: &'static [&'static str],
    male: &'static [&'static str],
}

const ENGLISH: Voices = Voices {
    narrator: "en-US-ChristopherNeural",
    female: &[
        "en-US-JennyNeural",
        "en-US-AriaNeural",
        "en-US-SaraNeural",
        "en-US-MichelleNeural",
    ],
    male: &[
        "en-US-GuyNeural",
        "en-US-DavisNeural",
        "en-US-TonyNeural",
        "en-US-JasonNeural",
    ],
};
const FRENCH: Voices = Voices {
    narrator: "fr-FR-HenriNeural",
    female: &[
        "fr-FR-DeniseNeural",
        "fr-FR-EloiseNeural",
        "fr-FR-BrigitteNeural",
    ],
    male: &[
        "fr-FR-AlainNeural",
        "fr-FR-ClaudeNeural",
        "fr-FR-JeromeNeural",
    ],
};
const GERMAN: Voices = Voices {
    narrator: "de-DE-ConradNeural",
    female: &["de-DE-KatjaNeural", "de-DE-AmalaNeural"],
    male: &["de-DE-KillianNeural", "de-DE-BerndNeural"],
};
const SPANISH: Voices = Voices {
    narrator: "es-ES-AlvaroNeural",
    female: &["es-ES-ElviraNeural", "es-ES-AbrilNeural"],
    male: &["es-ES-ArnauNeural", "es-ES-DarioNeural"],
};

fn voices(language: &str) -> &'static Voices {
    match primary_language(language).as_str() {
        "fr" => &FRENCH,
        "de" => &GERMAN,
        "es" => &SPANISH,
        _ => &ENGLISH,
    }
}

#[derive(Debug, Clone)]
pub struct AzureSpeech {
    endpoint: String,
    key: String,
    client: reqwest::Client,
}

impl AzureSpeech {
    /// `endpoint` is the resource's speech endpoint (`https://westeurope.tts.speech.microsoft.com`).
    pub fn new(endpoint: &str, key: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            client: http_client(),
        }
    }
}

/// The SSML document for one sentence.
pub fn ssml(text: &str, voice: &EngineVoice, language: &str) -> String {
    let pitch = voice.pitch.round() as i32;
    format!(
        "<speak version=\"1.0\" xmlns=\"http://www.w3.org/2001/10/synthesis\" xml:lang=\"{}\">\
         <voice name=\"{}\"><prosody pitch=\"{}{pitch}%\" rate=\"{:.2}\">{}</prosody></voice></speak>",
        escape(language),
        escape(&voice.name),
        if pitch >= 0 { "+" } else { "" },
        voice.rate,
        escape(text)
    )
}

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => escaped.push(c),
        }
    }
    escaped
}

#[async_trait]
impl SpeechEngine for AzureSpeech {
    fn name(&self) -> &'static str {
        "azure-speech"
    }

    fn fingerprint(&self) -> String {
        format!("azure-speech {OUTPUT_FORMAT}")
    }

    fn cast(&self, casting: &Casting, language: &str) -> EngineVoice {
        let table = voices(language);
        let name = match casting.slot() {
            Slot::Narrator => Some(table.narrator),
            Slot::Female(rank) => Slot::pick(rank, table.female),
            Slot::Male(rank) => Slot::pick(rank, table.male),
            // Neutral voices alternate between the two lists, from their far end.
            Slot::Neutral(rank) => {
                let list = if rank % 2 == 1 {
                    table.female
                } else {
                    table.male
                };
                list.iter()
                    .rev()
                    .nth((rank - 1) / 2 % list.len().max(1))
                    .copied()
            }
            Slot::Named(name) => Some(name),
        };
        let (pitch, rate) = casting.clamped();
        EngineVoice {
            name: name.unwrap_or(table.narrator).to_owned(),
            pitch: pitch as f32,
            rate,
        }
    }

    async fn synthesize(
        &self,
        text: &str,
        voice: &EngineVoice,
        language: &str,
    ) -> Result<Speech, SpeechError> {
        let request = self
            .client
            .post(format!("{}/cognitiveservices/v1", self.endpoint))
            .header("Ocp-Apim-Subscription-Key", &self.key)
            .header("Content-Type", "application/ssml+xml")
            .header("X-Microsoft-OutputFormat", OUTPUT_FORMAT)
            .body(ssml(text, voice, language));
        let body = fetch_audio("azure-speech", request).await?;
        Ok(Speech {
            pcm: pcm_from_s16le(&body, OUTPUT_RATE)?,
            words: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssml_escapes_the_text_and_carries_the_prosody() {
        let voice = EngineVoice {
            name: "en-US-JennyNeural".into(),
            pitch: -12.0,
            rate: 1.1,
        };
        let document = ssml("Tom & \"Jerry\" <run>", &voice, "en");
        assert!(document.contains("<voice name=\"en-US-JennyNeural\">"));
        assert!(document.contains("pitch=\"-12%\" rate=\"1.10\""));
        assert!(document.contains("Tom &amp; &quot;Jerry&quot; &lt;run&gt;"));
    }

    #[test]
    fn casting_picks_language_voices_and_keeps_named_ones() {
        let engine = AzureSpeech::new("http://127.0.0.1:9/", "k");
        let cast = |slot: &str, language: &str| {
            engine
                .cast(
                    &Casting {
                        slot: slot.into(),
                        pitch: 0,
                        rate: 1.0,
                    },
                    language,
                )
                .name
        };
        assert_eq!(cast("narrator", "fr"), "fr-FR-HenriNeural");
        assert_eq!(cast("female-1", "en"), "en-US-JennyNeural");
        assert_eq!(cast("male-2", "en-GB"), "en-US-DavisNeural");
        assert_ne!(cast("neutral-1", "en"), cast("neutral-2", "en"));
        assert_eq!(cast("en-GB-SoniaNeural", "en"), "en-GB-SoniaNeural");
    }
}
