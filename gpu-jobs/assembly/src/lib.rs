//! Assembly: the media manifest to `timeline.v1`, and the timeline to an MP4 (H.264 + AAC,
//! `faststart`) rendered by the system ffmpeg through `ffmpeg-sidecar`, whose progress events
//! drive the stage's percent.
//!
//! The render reads only the timeline (plus the media it names) and writes the video to a
//! temporary file that the pipeline then stores atomically.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use ffmpeg_sidecar::command::FfmpegCommand;
use ffmpeg_sidecar::event::{FfmpegEvent, LogLevel};
use visiobook_domain::artifacts::MediaManifest;
use visiobook_domain::timeline::TIMELINE_SCHEMA;
use visiobook_domain::{Shot, Timeline};
use visiobook_ports::{BlobKey, BlobStore, StoreError, blob::download_to_file};

/// Frame rate of still-card videos (motion arrives with camera moves).
pub const FRAME_RATE: u32 = 5;

#[derive(Debug, Clone)]
pub struct AssemblyConfig {
    pub ffmpeg: PathBuf,
    pub width: u32,
    pub height: u32,
    /// x264 preset (`veryfast`, `medium`...).
    pub x264_preset: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error("nothing to assemble: the book has no scenes")]
    Empty,
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(String),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
}

/// Lays the scenes end to end: one shot per scene, as long as its narration.
pub fn build_timeline(title: &str, manifest: &MediaManifest, width: u32, height: u32) -> Timeline {
    let mut start_ms = 0;
    let shots = manifest
        .scenes
        .iter()
        .map(|scene| {
            let shot = Shot {
                scene_id: scene.scene_id.clone(),
                chapter_ordinal: scene.chapter_ordinal,
                chapter_title: scene.chapter_title.clone(),
                image_key: scene.image_key.clone(),
                // The mix (voices over the soundscape) when the stage made one.
                narration_key: if scene.audio_key.is_empty() {
                    scene.narration_key.clone()
                } else {
                    scene.audio_key.clone()
                },
                start_ms,
                duration_ms: scene.narration_ms,
            };
            start_ms += scene.narration_ms;
            shot
        })
        .collect();
    Timeline {
        schema: TIMELINE_SCHEMA.to_owned(),
        title: title.to_owned(),
        width,
        height,
        frame_rate: FRAME_RATE,
        shots,
        duration_ms: start_ms,
    }
}

/// Renders the timeline to `out` (an MP4 path). `progress` gets 0..=1 from ffmpeg's events.
pub async fn render_mp4(
    blobs: &dyn BlobStore,
    timeline: &Timeline,
    config: &AssemblyConfig,
    out: &Path,
    progress: &(dyn Fn(f64) + Send + Sync),
) -> Result<(), AssemblyError> {
    if timeline.shots.is_empty() {
        return Err(AssemblyError::Empty);
    }
    let work = tempfile::tempdir()?;
    let mut images = String::from("ffconcat version 1.0\n");
    let mut audio = String::from("ffconcat version 1.0\n");
    let mut last_image = None;
    for (index, shot) in timeline.shots.iter().enumerate() {
        let image = work.path().join(format!("shot-{index:05}.png"));
        let narration = work.path().join(format!("shot-{index:05}.wav"));
        download_to_file(blobs, &BlobKey::parse(&shot.image_key)?, &image).await?;
        download_to_file(blobs, &BlobKey::parse(&shot.narration_key)?, &narration).await?;
        // Writing into a String cannot fail.
        let _ = writeln!(
            images,
            "file '{}'\nduration {:.3}",
            image.display(),
            shot.duration_ms as f64 / 1000.0
        );
        let _ = writeln!(audio, "file '{}'", narration.display());
        last_image = Some(image);
    }
    // The concat demuxer ignores the last entry's duration unless the file is repeated.
    if let Some(image) = last_image {
        let _ = writeln!(images, "file '{}'", image.display());
    }
    let images_list = work.path().join("images.ffconcat");
    let audio_list = work.path().join("audio.ffconcat");
    tokio::fs::write(&images_list, images).await?;
    tokio::fs::write(&audio_list, audio).await?;

    let total_seconds = timeline.duration_ms as f64 / 1000.0;
    let mut command = FfmpegCommand::new_with_path(&config.ffmpeg);
    command
        .hide_banner()
        .overwrite()
        .args(["-f", "concat", "-safe", "0", "-i"])
        .arg(images_list.display().to_string())
        .args(["-f", "concat", "-safe", "0", "-i"])
        .arg(audio_list.display().to_string())
        .args(["-map", "0:v:0", "-map", "1:a:0", "-vf"])
        .arg(format!(
            "scale={}:{}:force_original_aspect_ratio=decrease,pad={}:{}:(ow-iw)/2:(oh-ih)/2,fps={FRAME_RATE},format=yuv420p",
            config.width, config.height, config.width, config.height
        ))
        .args(["-c:v", "libx264", "-preset", config.x264_preset, "-tune", "stillimage", "-crf", "26"])
        .args(["-c:a", "aac", "-b:a", "96k", "-ar", "44100", "-ac", "1"])
        .args(["-movflags", "+faststart", "-t"])
        .arg(format!("{total_seconds:.3}"))
        .args(["-f", "mp4"])
        .arg(out.display().to_string());
    let mut child = command
        .spawn()
        .map_err(|error| AssemblyError::Ffmpeg(format!("{}: {error}", config.ffmpeg.display())))?;
    // The event iterator blocks on ffmpeg's output, so it runs on a blocking thread and
    // sends progress back over a channel.
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel::<f64>();
    let watcher = tokio::task::spawn_blocking(move || -> Result<(), AssemblyError> {
        let iterator = child
            .iter()
            .map_err(|error| AssemblyError::Ffmpeg(error.to_string()))?;
        let mut errors = Vec::new();
        for event in iterator {
            match event {
                FfmpegEvent::Progress(report) => {
                    if let Some(seconds) = parse_clock(&report.time)
                        && total_seconds > 0.0
                    {
                        // A closed receiver only means nobody listens to progress any more.
                        let _ = sender.send((seconds / total_seconds).min(1.0));
                    }
                }
                FfmpegEvent::Log(LogLevel::Error | LogLevel::Fatal, line)
                | FfmpegEvent::Error(line) => {
                    errors.push(line);
                }
                _ => {}
            }
        }
        let status = child
            .wait()
            .map_err(|error| AssemblyError::Ffmpeg(error.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            Err(AssemblyError::Ffmpeg(format!(
                "exit {status}: {}",
                errors.join("; ")
            )))
        }
    });
    while let Some(fraction) = receiver.recv().await {
        progress(fraction);
    }
    watcher
        .await
        .map_err(|error| AssemblyError::Ffmpeg(format!("ffmpeg watcher stopped: {error}")))??;
    progress(1.0);
    Ok(())
}

/// `"00:01:02.50"` to 62.5 seconds.
fn parse_clock(text: &str) -> Option<f64> {
    let mut seconds = 0.0;
    for part in text.trim().split(':') {
        seconds = seconds * 60.0 + part.parse::<f64>().ok()?;
    }
    Some(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use visiobook_domain::artifacts::SceneMedia;

    #[test]
    fn clocks_parse() {
        assert_eq!(parse_clock("00:01:02.50"), Some(62.5));
        assert_eq!(parse_clock("N/A"), None);
    }

    #[test]
    fn shots_follow_each_other_without_gaps() {
        let scene = |id: &str, ms: u64| SceneMedia {
            scene_id: id.into(),
            chapter_ordinal: 1,
            chapter_title: "One".into(),
            narration_key: format!("cache/narration/{id}.wav"),
            narration_ms: ms,
            audio_key: format!("cache/mixes/{id}.wav"),
            image_key: format!("cache/images/{id}.png"),
            portrait_image_key: String::new(),
            music: "calm".into(),
            ambience: "room".into(),
            sentences: Vec::new(),
        };
        let manifest = MediaManifest {
            schema: "visiobook.media.v1".into(),
            scenes: vec![scene("a", 1500), scene("b", 2500)],
            narration_ms: 4000,
            speech_engine: "espeak".into(),
            image_engine: "procedural".into(),
            flagged: Vec::new(),
        };
        let timeline = build_timeline("T", &manifest, 640, 360);
        assert_eq!(timeline.duration_ms, 4000);
        assert_eq!(timeline.shots[1].start_ms, 1500);
        assert_eq!(timeline.shots[1].duration_ms, 2500);
        assert_eq!(timeline.shots[1].narration_key, "cache/mixes/b.wav");
    }
}
