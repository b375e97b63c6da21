//! Generation: for every scene of `analysis.v1`, its narration (a voice per character, timed to
//! the sentence and estimated to the word), two illustrations (16:9 and 9:16) and a soundscape
//! (the chapter's music bed and the scene's ambience, ducked under the voices).
//!
//! Every artifact is content-addressed in the blob store under `cache/<kind>/<sha256>`: the
//! hash covers everything that determines it (engine, engine version, voice, text, settings,
//! style version). A re-run reuses all of it; an edited sentence is the only one synthesised
//! again; a killed job resumes where it stopped, since finished items are already stored.

pub mod audio;
pub mod illustration;
pub mod images;
pub mod narration;
pub mod soundscape;
pub mod speech;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use visiobook_domain::Analysis;
use visiobook_domain::analysis::Scene;
use visiobook_domain::artifacts::{MEDIA_SCHEMA, MediaManifest, SceneMedia, cache_key};
use visiobook_ports::{BlobKey, BlobStore, StoreError};

use crate::audio::{AudioError, Pcm, SAMPLE_RATE};
use crate::images::{ImageEngine, ImageError};
use crate::narration::{Cast, Lexicon, SentencePlan};
use crate::soundscape::{Ambience, MusicSpec};
use crate::speech::{SpeechEngine, SpeechError};

/// The bundled font (DejaVu Serif; licence in `assets/DejaVu-LICENSE.txt`).
pub const BUNDLED_FONT: &[u8] = include_bytes!("../assets/DejaVuSerif.ttf");

/// Bumped whenever the soundscape or the mix change, so cached mixes are made again.
pub const SOUNDSCAPE_VERSION: &str = "soundscape-v1";

/// The engines a run uses.
#[derive(Debug, Clone)]
pub struct Engines {
    pub speech: Arc<dyn SpeechEngine>,
    pub images: Arc<dyn ImageEngine>,
}

/// Sizes and pace of a run.
#[derive(Debug, Clone)]
pub struct GenerationConfig {
    /// The landscape frame; the portrait frame is its transpose.
    pub width: u32,
    pub height: u32,
    /// Sentences synthesised at once (remote engines gain from a few; local ones use every core
    /// already).
    pub speech_concurrency: usize,
}

/// What a run did, item by item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub sentences_synthesised: u64,
    pub sentences_reused: u64,
    pub images_drawn: u64,
    pub images_reused: u64,
    pub mixes_made: u64,
    pub mixes_reused: u64,
    pub sentences_flagged: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GenerationReport {
    pub manifest: MediaManifest,
    pub counts: Counts,
}

/// The work a run would do, before it runs (for quotas and payments).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Estimate {
    pub scenes: u64,
    pub sentences: u64,
    pub characters: u64,
    pub sentences_to_synthesise: u64,
    pub characters_to_synthesise: u64,
    pub images: u64,
    pub images_to_draw: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error("speech: {0}")]
    Speech(#[from] SpeechError),
    #[error("illustration: {0}")]
    Image(#[from] ImageError),
    #[error("audio: {0}")]
    Audio(#[from] AudioError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

impl GenerationError {
    /// Whether a later attempt may succeed (remote engines down, storage hiccups); a book whose
    /// audio cannot be decoded or whose voice cannot load will not do better next time.
    pub fn is_transient(&self) -> bool {
        match self {
            GenerationError::Speech(error) => error.is_transient(),
            GenerationError::Image(ImageError::Http { status, .. }) => {
                *status == 429 || *status >= 500
            }
            GenerationError::Image(ImageError::Unreachable { .. }) => true,
            GenerationError::Store(_) => true,
            _ => false,
        }
    }
}

/// Everything planned for one scene.
struct ScenePlan<'a> {
    scene: &'a Scene,
    sentences: Vec<SentencePlan>,
    arts: [images::SceneArt; 2],
}

fn plan<'a>(
    analysis: &'a Analysis,
    engines: &Engines,
    config: &GenerationConfig,
) -> Result<Vec<ScenePlan<'a>>, GenerationError> {
    let cast = Cast::new(engines.speech.as_ref(), analysis);
    let lexicon = Lexicon::new(&analysis.pronunciations);
    analysis
        .scenes
        .iter()
        .map(|scene| {
            Ok(ScenePlan {
                scene,
                sentences: narration::plan_scene(
                    scene,
                    &cast,
                    &lexicon,
                    engines.speech.as_ref(),
                    &analysis.language,
                )?,
                arts: [
                    images::scene_art(analysis, scene, config.width, config.height),
                    images::scene_art(analysis, scene, config.height, config.width),
                ],
            })
        })
        .collect()
}

/// Counts what a run would synthesise and draw, looking in the cache.
pub async fn estimate(
    blobs: &dyn BlobStore,
    analysis: &Analysis,
    engines: &Engines,
    config: &GenerationConfig,
) -> Result<Estimate, GenerationError> {
    let mut estimate = Estimate::default();
    let mut seen = std::collections::HashSet::new();
    for scene in plan(analysis, engines, config)? {
        estimate.scenes += 1;
        for sentence in &scene.sentences {
            let characters = sentence.spoken.chars().count() as u64;
            estimate.sentences += 1;
            estimate.characters += characters;
            // A sentence said twice with the same voice is synthesised once.
            if seen.insert(sentence.key.as_str().to_owned())
                && blobs.head(&sentence.key).await?.is_none()
            {
                estimate.sentences_to_synthesise += 1;
                estimate.characters_to_synthesise += characters;
            }
        }
        for art in &scene.arts {
            estimate.images += 1;
            if blobs
                .head(&images::image_key(engines.images.as_ref(), art)?)
                .await?
                .is_none()
            {
                estimate.images_to_draw += 1;
            }
        }
    }
    Ok(estimate)
}

/// Generates (or reuses) every scene's media; `progress` gets the scenes done of the total.
pub async fn generate(
    blobs: &dyn BlobStore,
    analysis: &Analysis,
    engines: &Engines,
    config: &GenerationConfig,
    progress: &(dyn Fn(u64, u64) + Send + Sync),
) -> Result<GenerationReport, GenerationError> {
    let plans = plan(analysis, engines, config)?;
    let total = plans.len() as u64;
    let mut counts = Counts::default();
    let mut flagged = Vec::new();
    let mut scenes = Vec::with_capacity(plans.len());
    let mut voices: Vec<Pcm> = Vec::with_capacity(plans.len());
    for (done, plan) in plans.iter().enumerate() {
        let scene = plan.scene;
        let narration = narration::narrate_scene(
            blobs,
            engines.speech.as_ref(),
            &scene.id,
            &plan.sentences,
            &analysis.language,
            config.speech_concurrency,
        )
        .await?;
        counts.sentences_synthesised += narration.synthesised;
        counts.sentences_reused += narration.reused;
        counts.sentences_flagged += narration.flagged.len() as u64;
        flagged.extend(narration.flagged);
        let narration_key = key_for(
            "narration",
            &plan
                .sentences
                .iter()
                .flat_map(|s| [s.key.as_str().to_owned(), s.pause_before_ms.to_string()])
                .chain(narration.sentences.iter().flat_map(|s| s.qa.clone()))
                .collect::<Vec<_>>()
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            "wav",
        )?;
        if blobs.head(&narration_key).await?.is_none() {
            blobs
                .put(
                    &narration_key,
                    Bytes::from(audio::encode_wav(&narration.pcm)),
                    "audio/wav",
                )
                .await?;
        }
        let mut image_keys = Vec::with_capacity(2);
        for art in &plan.arts {
            let key = images::image_key(engines.images.as_ref(), art)?;
            if blobs.head(&key).await?.is_some() {
                counts.images_reused += 1;
            } else {
                let png = engines.images.draw(art).await?;
                blobs.put(&key, png, "image/png").await?;
                counts.images_drawn += 1;
            }
            image_keys.push(key.to_string());
        }
        scenes.push(SceneMedia {
            scene_id: scene.id.clone(),
            chapter_ordinal: scene.chapter_ordinal,
            chapter_title: scene.chapter_title.clone(),
            narration_key: narration_key.to_string(),
            narration_ms: narration.pcm.duration_ms(),
            audio_key: String::new(),
            image_key: image_keys[0].clone(),
            portrait_image_key: image_keys[1].clone(),
            music: String::new(),
            ambience: String::new(),
            focus: illustration::focus(&plan.arts[0].picture),
            sentences: narration.sentences,
        });
        voices.push(narration.pcm);
        progress(done as u64 + 1, total);
    }
    mix_chapters(blobs, &plans, &voices, &mut scenes, &mut counts).await?;
    Ok(GenerationReport {
        manifest: MediaManifest {
            schema: MEDIA_SCHEMA.to_owned(),
            narration_ms: scenes.iter().map(|scene| scene.narration_ms).sum(),
            scenes,
            speech_engine: engines.speech.name().to_owned(),
            image_engine: engines.images.name().to_owned(),
            flagged,
        },
        counts,
    })
}

/// The music of a chapter: the mood most of its words carry, valence and intensity averaged
/// by words.
pub fn chapter_music(scenes: &[&Scene], chapter_ordinal: u32) -> MusicSpec {
    let mut labels: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut valence, mut intensity, mut words) = (0.0_f64, 0.0_f64, 0_usize);
    for scene in scenes {
        let weight = scene.word_count.max(1);
        *labels.entry(scene.mood.label.as_str()).or_default() += weight;
        valence += f64::from(scene.mood.valence) * weight as f64;
        intensity += f64::from(scene.mood.intensity) * weight as f64;
        words += weight;
    }
    let label = labels
        .iter()
        .max_by_key(|(label, weight)| (**weight, std::cmp::Reverse(**label)))
        .map_or("calm", |(label, _)| *label);
    let words = words.max(1) as f64;
    MusicSpec {
        mood: label.to_owned(),
        valence: (valence / words) as f32,
        intensity: (intensity / words) as f32,
        seed: images::seed_of(&format!("chapter-{chapter_ordinal}")),
    }
}

/// The ambience under a scene: weather words win, then the scenery.
pub fn scene_ambience(art: &images::SceneArt, scene: &Scene) -> Ambience {
    use crate::illustration::{Scenery, TimeOfDay};
    let text = format!("{} {}", scene.summary, scene.visual_brief.what).to_lowercase();
    let has = |words: &[&str]| {
        text.split(|c: char| !c.is_alphanumeric())
            .any(|word| words.contains(&word))
    };
    if has(&["rain", "storm", "pluie", "orage"]) {
        return Ambience::Rain;
    }
    if has(&["fire", "fireplace", "hearth", "feu", "cheminée"]) {
        return Ambience::Fire;
    }
    let picture = &art.picture;
    match picture.scenery {
        Scenery::Forest | Scenery::Garden if picture.time_of_day == TimeOfDay::Night => {
            Ambience::Night
        }
        Scenery::Forest | Scenery::Garden => Ambience::Forest,
        Scenery::Sea => Ambience::Sea,
        Scenery::River => Ambience::River,
        Scenery::City | Scenery::Court => Ambience::Crowd,
        Scenery::Room | Scenery::Hall => Ambience::Room,
        Scenery::NightSky => Ambience::Night,
        Scenery::Field | Scenery::Cave | Scenery::Sky => Ambience::Wind,
    }
}

/// Mixes each scene's voices over its chapter's music (one continuous bed per chapter, cut at
/// the scene boundaries) and its ambience.
async fn mix_chapters(
    blobs: &dyn BlobStore,
    plans: &[ScenePlan<'_>],
    voices: &[Pcm],
    scenes: &mut [SceneMedia],
    counts: &mut Counts,
) -> Result<(), GenerationError> {
    let levels = soundscape::MixLevels::default();
    let ducking = soundscape::Ducking::default();
    let mut start = 0;
    while start < plans.len() {
        let chapter = plans[start].scene.chapter_ordinal;
        let end = plans[start..]
            .iter()
            .position(|plan| plan.scene.chapter_ordinal != chapter)
            .map_or(plans.len(), |offset| start + offset);
        let chapter_scenes: Vec<&Scene> = plans[start..end].iter().map(|p| p.scene).collect();
        let music = chapter_music(&chapter_scenes, chapter);
        let chapter_samples: usize = voices[start..end].iter().map(|v| v.samples.len()).sum();
        let mut keys = Vec::with_capacity(end - start);
        let mut offset = 0_usize;
        for index in start..end {
            let ambience = scene_ambience(&plans[index].arts[0], plans[index].scene);
            let key = key_for(
                "mixes",
                &[
                    SOUNDSCAPE_VERSION,
                    &scenes[index].narration_key,
                    &format!("{music:?}"),
                    // Where the scene sits in its chapter's bed, not the chapter's length:
                    // an edit in one scene remixes it and the scenes after it, no others.
                    &format!(
                        "{offset}+{}{}",
                        voices[index].samples.len(),
                        if index + 1 == end { " last" } else { "" }
                    ),
                    ambience.name(),
                    &format!("{levels:?} {ducking:?}"),
                ],
                "wav",
            )?;
            keys.push((key, ambience, offset));
            offset += voices[index].samples.len();
        }
        let mut missing = Vec::new();
        for (key, _, _) in &keys {
            missing.push(blobs.head(key).await?.is_none());
        }
        let bed = if missing.iter().any(|m| *m) {
            let ms = chapter_samples as u64 * 1000 / u64::from(SAMPLE_RATE) + 1;
            let mut bed = soundscape::music_bed(&music, ms, SAMPLE_RATE);
            bed.resize(chapter_samples, 0.0);
            bed
        } else {
            Vec::new()
        };
        for (slot, index) in (start..end).enumerate() {
            let (key, ambience, offset) = &keys[slot];
            if missing[slot] {
                let voice = &voices[index];
                let length = voice.samples.len();
                let music_part = &bed[*offset..*offset + length];
                let ambience_samples = soundscape::ambience(
                    *ambience,
                    images::seed_of(&plans[index].scene.id),
                    voice.duration_ms() + 1,
                    SAMPLE_RATE,
                );
                // Quiet settings (a room, a night) stay quieter than rain or a crowd.
                let scene_levels = soundscape::MixLevels {
                    ambience_lufs: levels.ambience_lufs + ambience.relative_level_db(),
                    ..levels
                };
                let mixed = soundscape::mix_scene(
                    voice,
                    music_part,
                    &ambience_samples[..length.min(ambience_samples.len())],
                    &scene_levels,
                    &ducking,
                );
                blobs
                    .put(key, Bytes::from(audio::encode_wav(&mixed)), "audio/wav")
                    .await?;
                counts.mixes_made += 1;
            } else {
                counts.mixes_reused += 1;
            }
            scenes[index].audio_key = key.to_string();
            scenes[index].music = music.mood.clone();
            scenes[index].ambience = ambience.name().to_owned();
        }
        start = end;
    }
    Ok(())
}

/// `cache/<kind>/<sha256 of the parts>.<extension>`.
pub(crate) fn key_for(kind: &str, parts: &[&str], extension: &str) -> Result<BlobKey, StoreError> {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    BlobKey::parse(&cache_key(kind, &hex::encode(hasher.finalize()), extension))
}

pub(crate) async fn cached(
    blobs: &dyn BlobStore,
    key: &BlobKey,
) -> Result<Option<Bytes>, StoreError> {
    match blobs.get(key).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind == visiobook_ports::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}
