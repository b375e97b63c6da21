//! `media.v1` (plus the story bible) to `timeline.v1`: shots end to end with their camera
//! moves, chapter marks, audio tracks and a subtitle cue per sentence.

use visiobook_domain::Analysis;
use visiobook_domain::analysis::Scene;
use visiobook_domain::artifacts::{MediaManifest, SceneMedia};
use visiobook_domain::timeline::{
    AudioSegment, AudioTrack, Camera, ChapterMark, Cue, Frame, Shot, ShotCharacter,
    TIMELINE_SCHEMA, Timeline, WordCue,
};

/// Loudness of the music and ambience beds relative to the voices, and how far they dip
/// under them (the generation stage's mix levels: voices -16 LUFS, music -30, ambience -36,
/// ducked by 12 dB).
const MUSIC_GAIN_DB: f64 = -14.0;
const AMBIENCE_GAIN_DB: f64 = -20.0;
const DUCKING_DB: f64 = 12.0;

/// The frame and time base of a render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Canvas {
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
}

/// Lays the scenes end to end: one shot per scene, as long as its narration.
pub fn build_timeline(
    analysis: &Analysis,
    author: Option<&str>,
    manifest: &MediaManifest,
    canvas: Canvas,
) -> Timeline {
    let mut shots = Vec::with_capacity(manifest.scenes.len());
    let mut cues = Vec::new();
    let mut start_ms = 0;
    let mut paragraph = 0_u32;
    let mut last_paragraph: Option<(u32, Option<String>)> = None;
    for (index, media) in manifest.scenes.iter().enumerate() {
        let scene = analysis
            .scenes
            .iter()
            .find(|scene| scene.id == media.scene_id);
        shots.push(Shot {
            scene_id: media.scene_id.clone(),
            chapter_ordinal: media.chapter_ordinal,
            chapter_title: media.chapter_title.clone(),
            image_key: media.image_key.clone(),
            portrait_image_key: media.portrait_image_key.clone(),
            audio_key: program_key(media).to_owned(),
            narration_key: media.narration_key.clone(),
            start_ms,
            duration_ms: media.narration_ms,
            camera: camera_for(&media.scene_id, index, media.focus, scene),
            summary: scene.map(|s| s.summary.clone()).unwrap_or_default(),
            mood: scene.map(|s| s.mood.label.clone()).unwrap_or_default(),
            characters: scene.map_or_else(Vec::new, |s| characters_of(analysis, s)),
        });
        for sentence in &media.sentences {
            // Sentences of one paragraph share its index; a chapter restarts the count.
            let key = (media.chapter_ordinal, sentence.paragraph_id.clone());
            match &last_paragraph {
                Some((chapter, _)) if *chapter != media.chapter_ordinal => paragraph = 0,
                Some(previous) if *previous != key || sentence.paragraph_id.is_none() => {
                    paragraph += 1;
                }
                _ => {}
            }
            last_paragraph = Some(key);
            cues.push(Cue {
                scene_id: media.scene_id.clone(),
                chapter_ordinal: media.chapter_ordinal,
                paragraph,
                speaker: sentence.speaker.clone(),
                text: sentence.text.clone(),
                start_ms: start_ms + sentence.start_ms,
                end_ms: start_ms + sentence.end_ms,
                words: sentence
                    .words
                    .iter()
                    .map(|word| WordCue {
                        text: word.word.clone(),
                        start_ms: start_ms + word.start_ms,
                        end_ms: start_ms + word.end_ms,
                    })
                    .collect(),
            });
        }
        start_ms += media.narration_ms;
    }
    Timeline {
        schema: TIMELINE_SCHEMA.to_owned(),
        title: analysis.title.clone(),
        author: author.map(str::to_owned),
        language: analysis.language.clone(),
        width: canvas.width,
        height: canvas.height,
        frame_rate: canvas.frame_rate,
        duration_ms: start_ms,
        chapters: chapter_marks(&shots),
        audio: audio_tracks(&shots, manifest),
        shots,
        cues,
    }
}

/// The audio the exports play for a scene: the mix when the stage made one.
fn program_key(media: &SceneMedia) -> &str {
    if media.audio_key.is_empty() {
        &media.narration_key
    } else {
        &media.audio_key
    }
}

fn characters_of(analysis: &Analysis, scene: &Scene) -> Vec<ShotCharacter> {
    analysis
        .characters
        .iter()
        .filter(|character| scene.characters.contains(&character.id))
        .map(|character| ShotCharacter {
            name: character.name.clone(),
            color: character.visual.color.clone(),
        })
        .collect()
}

fn chapter_marks(shots: &[Shot]) -> Vec<ChapterMark> {
    let mut marks: Vec<ChapterMark> = Vec::new();
    for shot in shots {
        match marks.last_mut() {
            Some(mark) if mark.ordinal == shot.chapter_ordinal => {
                mark.end_ms = shot.start_ms + shot.duration_ms;
            }
            _ => marks.push(ChapterMark {
                ordinal: shot.chapter_ordinal,
                title: shot.chapter_title.clone(),
                start_ms: shot.start_ms,
                end_ms: shot.start_ms + shot.duration_ms,
            }),
        }
    }
    marks
}

fn audio_tracks(shots: &[Shot], manifest: &MediaManifest) -> Vec<AudioTrack> {
    let segment = |shot: &Shot, blob_key: &str, label: &str| AudioSegment {
        start_ms: shot.start_ms,
        duration_ms: shot.duration_ms,
        blob_key: blob_key.to_owned(),
        label: label.to_owned(),
    };
    let track =
        |kind: &str, gain_db: f64, ducking_db: f64, segments: Vec<AudioSegment>| AudioTrack {
            kind: kind.to_owned(),
            gain_db,
            ducking_db,
            segments,
        };
    let pairs = || shots.iter().zip(&manifest.scenes);
    vec![
        track(
            "program",
            0.0,
            0.0,
            pairs()
                .map(|(shot, _)| segment(shot, &shot.audio_key, "mix"))
                .collect(),
        ),
        track(
            "narration",
            0.0,
            0.0,
            pairs()
                .map(|(shot, _)| segment(shot, &shot.narration_key, "voices"))
                .collect(),
        ),
        track(
            "music",
            MUSIC_GAIN_DB,
            DUCKING_DB,
            pairs()
                .map(|(shot, media)| segment(shot, "", &media.music))
                .collect(),
        ),
        track(
            "ambience",
            AMBIENCE_GAIN_DB,
            DUCKING_DB,
            pairs()
                .map(|(shot, media)| segment(shot, "", &media.ambience))
                .collect(),
        ),
    ]
}

/// A Ken Burns move for a shot, toward the picture's focus (where the cast stands), varied
/// from shot to shot: a push in, a pull out, or a slow pan at a constant zoom; livelier when
/// the scene is intense. The illustrations carry text (the chapter heading at the top, a quote
/// at the bottom), so the camera moves sideways, never up or down, and zooms at most 9%: the
/// text stays in the frame. Deterministic per scene.
pub fn camera_for(
    scene_id: &str,
    index: usize,
    focus: (f32, f32),
    scene: Option<&Scene>,
) -> Camera {
    let seed = visiobook_domain::stable_seed(scene_id);
    let unit = |shift: u32| ((seed >> shift) & 0xffff) as f64 / 65_535.0;
    let intensity = scene.map_or(0.3, |scene| f64::from(scene.mood.intensity.clamp(0.0, 1.0)));
    let zoom = 1.05 + 0.025 * intensity + 0.015 * unit(0);
    let whole = Frame {
        x: 0.5,
        y: 0.5,
        zoom: 1.0,
    };
    let toward = |zoom: f64, x: f64| {
        // The view must stay inside the picture: its centre at least half a view from an edge.
        let margin = 0.5 / zoom;
        Frame {
            x: x.clamp(margin, 1.0 - margin),
            y: 0.5,
            zoom,
        }
    };
    let fx = f64::from(focus.0);
    // Consecutive shots never move the same way.
    match index % 3 {
        0 => Camera {
            from: whole,
            to: toward(zoom, fx),
        },
        1 => Camera {
            from: toward(zoom, fx),
            to: whole,
        },
        _ => {
            let zoom = zoom.max(1.08);
            let pan = 0.025 + 0.015 * unit(16);
            let direction = if unit(32) < 0.5 { -1.0 } else { 1.0 };
            Camera {
                from: toward(zoom, fx - pan * direction),
                to: toward(zoom, fx + pan * direction),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cameras_stay_inside_the_picture_and_vary() {
        let mut kinds = std::collections::BTreeSet::new();
        for index in 0..12 {
            let camera = camera_for(&format!("c1-s{index}"), index, (0.9, 0.95), None);
            for frame in [camera.from, camera.to] {
                let margin = 0.5 / frame.zoom;
                assert!(frame.zoom >= 1.0 && frame.zoom <= 1.09, "{frame:?}");
                assert_eq!(frame.y, 0.5, "text at the top and bottom stays in view");
                assert!(frame.x >= margin - 1e-9 && frame.x <= 1.0 - margin + 1e-9);
                assert!(frame.y >= margin - 1e-9 && frame.y <= 1.0 - margin + 1e-9);
            }
            kinds.insert((
                camera.from.zoom < camera.to.zoom,
                camera.from.zoom > camera.to.zoom,
            ));
        }
        assert_eq!(kinds.len(), 3, "push in, pull out and pan all occur");
    }
}
