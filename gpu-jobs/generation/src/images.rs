//! Image engines behind one trait: `procedural` (drawn here on the CPU, deterministic) and
//! `openai` (an OpenAI-compatible or Azure OpenAI images API).
//!
//! Both receive the same [`SceneArt`]: the picture description the procedural engine draws, and
//! a prompt built from the story bible for remote engines. Character consistency for remote
//! engines comes from the bible: every character is described by the same sentence in every
//! prompt (colour, shape, emblem, description), and the request's seed derives from the seeds of
//! the characters present, so a scene with the same cast starts from the same noise.

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use visiobook_domain::Analysis;
use visiobook_domain::analysis::{Character, Scene};

use crate::illustration::{self, Figure, MoodLook, Picture, Scenery, Shape, TimeOfDay};

/// At most this many characters are drawn in one picture.
pub const MAX_FIGURES: usize = 4;

/// What one illustration shows.
#[derive(Debug, Clone, PartialEq)]
pub struct SceneArt {
    pub picture: Picture,
    /// The prompt for remote engines.
    pub prompt: String,
    /// The seed for remote engines.
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("drawing failed: {0}")]
    Draw(#[from] illustration::DrawError),
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
    #[error("{engine} returned no usable image: {message}")]
    BadImage {
        engine: &'static str,
        message: String,
    },
}

/// An illustration engine.
#[async_trait]
pub trait ImageEngine: Send + Sync + fmt::Debug {
    /// `procedural`, `openai`.
    fn name(&self) -> &'static str;
    /// What, besides the art, decides the image (for cache keys).
    fn fingerprint(&self) -> String;
    /// The part of a scene's art this engine's output depends on (for cache keys).
    fn key_of(&self, art: &SceneArt) -> String;
    /// A PNG of `art.picture.width` by `art.picture.height`.
    async fn draw(&self, art: &SceneArt) -> Result<Bytes, ImageError>;
}

/// The default engine: flat storybook scenery, the cast as consistent tokens, the heading and a
/// quote set in the bundled font.
#[derive(Debug, Clone, Copy, Default)]
pub struct Procedural;

#[async_trait]
impl ImageEngine for Procedural {
    fn name(&self) -> &'static str {
        "procedural"
    }

    fn fingerprint(&self) -> String {
        illustration::STYLE_VERSION.to_owned()
    }

    fn key_of(&self, art: &SceneArt) -> String {
        format!("{:?}", art.picture)
    }

    async fn draw(&self, art: &SceneArt) -> Result<Bytes, ImageError> {
        let picture = art.picture.clone();
        // Drawing is CPU work of a few tens of milliseconds: off the async threads.
        tokio::task::spawn_blocking(move || illustration::draw(&picture))
            .await
            .map_err(|error| ImageError::BadImage {
                engine: "procedural",
                message: error.to_string(),
            })?
            .map(Bytes::from)
            .map_err(ImageError::from)
    }
}

/// Where a remote images API lives and how it is called.
#[derive(Debug, Clone)]
pub struct OpenAiImages {
    url: String,
    api_key: Option<String>,
    azure: bool,
    model: String,
    client: reqwest::Client,
}

impl OpenAiImages {
    /// An OpenAI-compatible API: `POST {base_url}/images/generations` with a bearer key.
    pub fn openai(base_url: &str, api_key: Option<&str>, model: &str) -> Self {
        Self {
            url: format!("{}/images/generations", base_url.trim_end_matches('/')),
            api_key: api_key.map(str::to_owned),
            azure: false,
            model: model.to_owned(),
            client: crate::speech::http_client(),
        }
    }

    /// Azure OpenAI: `POST {endpoint}/openai/deployments/{deployment}/images/generations
    /// ?api-version=...` with an `api-key` header.
    pub fn azure(
        endpoint: &str,
        api_key: Option<&str>,
        deployment: &str,
        api_version: &str,
    ) -> Self {
        Self {
            url: format!(
                "{}/openai/deployments/{deployment}/images/generations?api-version={api_version}",
                endpoint.trim_end_matches('/')
            ),
            api_key: api_key.map(str::to_owned),
            azure: true,
            model: deployment.to_owned(),
            client: crate::speech::http_client(),
        }
    }
}

/// The size to ask for: the API's landscape or portrait size for the picture's orientation.
fn api_size(picture: &Picture) -> &'static str {
    if picture.width >= picture.height {
        "1792x1024"
    } else {
        "1024x1792"
    }
}

#[async_trait]
impl ImageEngine for OpenAiImages {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn fingerprint(&self) -> String {
        format!("openai-images {} {}", self.model, self.url)
    }

    fn key_of(&self, art: &SceneArt) -> String {
        format!(
            "{}|{}|{}x{}|{}",
            art.prompt,
            art.seed,
            art.picture.width,
            art.picture.height,
            api_size(&art.picture)
        )
    }

    async fn draw(&self, art: &SceneArt) -> Result<Bytes, ImageError> {
        const ENGINE: &str = "openai";
        let mut body = serde_json::json!({
            "prompt": art.prompt,
            "n": 1,
            "size": api_size(&art.picture),
            "response_format": "b64_json",
            "seed": art.seed,
        });
        if !self.azure {
            body["model"] = self.model.clone().into();
        }
        let mut request = self.client.post(&self.url).json(&body);
        if let Some(key) = &self.api_key {
            request = if self.azure {
                request.header("api-key", key)
            } else {
                request.bearer_auth(key)
            };
        }
        let unreachable = |error: reqwest::Error| ImageError::Unreachable {
            engine: ENGINE,
            message: error.to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            let message = response.text().await.unwrap_or_default();
            return Err(ImageError::Http {
                engine: ENGINE,
                status: status.as_u16(),
                message: message.chars().take(300).collect(),
            });
        }
        let answer: serde_json::Value = response.json().await.map_err(unreachable)?;
        let bad = |message: &str| ImageError::BadImage {
            engine: ENGINE,
            message: message.to_owned(),
        };
        let first = answer
            .get("data")
            .and_then(|data| data.get(0))
            .ok_or_else(|| bad("the answer has no data[0]"))?;
        let png = if let Some(encoded) = first.get("b64_json").and_then(|v| v.as_str()) {
            base64_decode(encoded).ok_or_else(|| bad("data[0].b64_json is not base64"))?
        } else if let Some(url) = first.get("url").and_then(|v| v.as_str()) {
            let response = self.client.get(url).send().await.map_err(unreachable)?;
            if !response.status().is_success() {
                return Err(bad(&format!(
                    "the image URL answered {}",
                    response.status()
                )));
            }
            response.bytes().await.map_err(unreachable)?.to_vec()
        } else {
            return Err(bad("data[0] has neither b64_json nor url"));
        };
        // The picture is fitted to the requested frame, so every engine's output has one size.
        let (width, height) = (art.picture.width, art.picture.height);
        tokio::task::spawn_blocking(move || fit_png(&png, width, height))
            .await
            .map_err(|error| bad(&error.to_string()))?
            .map(Bytes::from)
            .map_err(|error| bad(&error.to_string()))
    }
}

/// Scales a PNG to cover `width` x `height` and crops the overflow evenly.
pub fn fit_png(png: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    use tiny_skia::{FilterQuality, Pixmap, PixmapPaint, Transform};
    let source = Pixmap::decode_png(png).map_err(|error| format!("not a PNG: {error}"))?;
    if source.width() == width && source.height() == height {
        return Ok(png.to_vec());
    }
    let mut frame = Pixmap::new(width, height).ok_or("the frame size is invalid")?;
    let scale = (width as f32 / source.width() as f32).max(height as f32 / source.height() as f32);
    let dx = (width as f32 - source.width() as f32 * scale) / 2.0;
    let dy = (height as f32 - source.height() as f32 * scale) / 2.0;
    let paint = PixmapPaint {
        quality: FilterQuality::Bicubic,
        ..PixmapPaint::default()
    };
    frame.draw_pixmap(
        0,
        0,
        source.as_ref(),
        &paint,
        Transform::from_row(scale, 0.0, 0.0, scale, dx, dy),
        None,
    );
    frame.encode_png().map_err(|error| error.to_string())
}

/// Standard base64 (with or without padding); `None` on anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer = 0_u32;
    let mut bits = 0;
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// A scene's illustration from the cache, or drawn and stored; `true` when it was cached.
pub async fn draw_cached(
    blobs: &dyn visiobook_ports::BlobStore,
    engine: &dyn ImageEngine,
    art: &SceneArt,
) -> Result<(Bytes, bool), crate::GenerationError> {
    let key = image_key(engine, art)?;
    if let Some(png) = crate::cached(blobs, &key).await? {
        return Ok((png, true));
    }
    let png = engine.draw(art).await?;
    blobs.put(&key, png.clone(), "image/png").await?;
    Ok((png, false))
}

/// Where an illustration is stored: the hash of the engine, its version and the art.
pub fn image_key(
    engine: &dyn ImageEngine,
    art: &SceneArt,
) -> Result<visiobook_ports::BlobKey, visiobook_ports::StoreError> {
    crate::key_for(
        "images",
        &[engine.name(), &engine.fingerprint(), &engine.key_of(art)],
        "png",
    )
}

/// The art of a scene at one size.
pub fn scene_art(analysis: &Analysis, scene: &Scene, width: u32, height: u32) -> SceneArt {
    let place = scene
        .setting
        .place
        .as_ref()
        .and_then(|id| analysis.places.iter().find(|place| &place.id == id));
    let time_of_day = TimeOfDay::from_label(scene.setting.time_of_day.as_deref());
    let words = format!(
        "{} {} {} {}",
        place.map_or("", |place| place.name.as_str()),
        place.map_or("", |place| place.description.as_str()),
        scene.visual_brief.place,
        scene.summary
    );
    let indoor = scene
        .setting
        .indoor
        .or_else(|| place.and_then(|place| place.indoor));
    let scenery = illustration::scenery_for(&words, indoor, time_of_day);
    let cast = figures_of(analysis, scene);
    let figures: Vec<Figure> = cast.iter().map(|character| figure(character)).collect();
    let caption = if scene.key_quote.trim().is_empty() {
        scene.summary.clone()
    } else {
        scene.key_quote.clone()
    };
    let picture = Picture {
        width,
        height,
        scenery,
        time_of_day,
        mood: MoodLook {
            label: scene.mood.label.clone(),
            valence: scene.mood.valence,
            intensity: scene.mood.intensity,
        },
        palette: scene
            .visual_brief
            .palette
            .iter()
            .filter_map(|hex| parse_hex(hex))
            .collect(),
        figures,
        heading: scene.chapter_title.clone(),
        caption,
        seed: seed_of(&scene.id),
    };
    let seed = cast
        .iter()
        .fold(seed_of(&format!("{scenery:?}")), |seed, character| {
            seed.rotate_left(7) ^ character.visual.seed
        });
    SceneArt {
        prompt: prompt(
            scene,
            place.map(|p| p.name.as_str()),
            scenery,
            time_of_day,
            &cast,
        ),
        picture,
        seed,
    }
}

/// The main characters present, most mentioned first.
fn figures_of<'a>(analysis: &'a Analysis, scene: &Scene) -> Vec<&'a Character> {
    let mut present: Vec<&Character> = analysis
        .characters
        .iter()
        .filter(|character| scene.characters.contains(&character.id))
        .collect();
    present.sort_by(|a, b| b.mentions.cmp(&a.mentions).then(a.id.cmp(&b.id)));
    present.truncate(MAX_FIGURES);
    present
}

fn figure(character: &Character) -> Figure {
    Figure {
        name: character.name.clone(),
        color: parse_hex(&character.visual.color).unwrap_or([200, 200, 200]),
        shape: Shape::from_name(&character.visual.shape),
        emblem: character.visual.emblem.clone(),
        seed: character.visual.seed,
    }
}

/// The sentence that describes a character in every prompt, word for word.
pub fn character_reference(character: &Character) -> String {
    let mut reference = format!(
        "{} (always the same design: signature colour {}, a {} motif, carries or wears a {})",
        character.name, character.visual.color, character.visual.shape, character.visual.emblem
    );
    if !character.description.trim().is_empty() {
        reference.push_str(": ");
        reference.push_str(character.description.trim());
    }
    reference
}

fn prompt(
    scene: &Scene,
    place: Option<&str>,
    scenery: Scenery,
    time_of_day: TimeOfDay,
    cast: &[&Character],
) -> String {
    let mut prompt = format!(
        "Storybook illustration, flat vector style, no text or lettering. Setting: {}{:?}, {:?}. \
         Mood: {}.",
        place.map(|place| format!("{place}, ")).unwrap_or_default(),
        scenery,
        time_of_day,
        scene.mood.label
    );
    if !cast.is_empty() {
        prompt.push_str(" Characters: ");
        let references: Vec<String> = cast.iter().map(|c| character_reference(c)).collect();
        prompt.push_str(&references.join("; "));
        prompt.push('.');
    }
    if !scene.summary.trim().is_empty() {
        prompt.push_str(" Scene: ");
        prompt.push_str(scene.summary.trim());
    }
    if !scene.visual_brief.palette.is_empty() {
        prompt.push_str(" Palette: ");
        prompt.push_str(&scene.visual_brief.palette.join(", "));
        prompt.push('.');
    }
    prompt
}

fn parse_hex(hex: &str) -> Option<[u8; 3]> {
    let digits = hex.strip_prefix('#')?;
    if digits.len() != 6 || !digits.is_ascii() {
        return None;
    }
    let channel = |at: usize| u8::from_str_radix(&digits[at..at + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?])
}

pub use visiobook_domain::stable_seed as seed_of;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_standard_text() {
        assert_eq!(base64_decode("aGVsbG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("aGk").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64_decode("a$b"), None);
    }

    #[test]
    fn colours_parse() {
        assert_eq!(parse_hex("#e4572e"), Some([0xe4, 0x57, 0x2e]));
        assert_eq!(parse_hex("e4572e"), None);
        assert_eq!(parse_hex("#zz0000"), None);
    }
}
