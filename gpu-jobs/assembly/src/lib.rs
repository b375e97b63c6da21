//! Assembly: `media.v1` to `timeline.v1`, and the timeline to every export: MP4 (H.264 + AAC,
//! chapters, soft subtitles, burned-in on request), WebM (VP9 + Opus, WebVTT), a GIF preview,
//! an M4B audiobook, SRT and WebVTT subtitles (sentence and word level), an EPUB 3 with Media
//! Overlays, and an offline storyboard page.
//!
//! Every export is rendered from the timeline alone (plus the media it names). The video is
//! made of one segment per shot, content-addressed in the blob store and rendered in parallel;
//! segments are joined without re-encoding, so editing one scene re-encodes one segment.

pub mod epub;
pub mod ffmpeg;
pub mod storyboard;
pub mod subtitles;
pub mod timeline;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};
use visiobook_domain::Timeline;
use visiobook_domain::artifacts::cache_key;
use visiobook_domain::timeline::{Cue, Shot};
use visiobook_ports::{BlobKey, BlobStore, StoreError, blob::download_to_file};

pub use timeline::{Canvas, build_timeline, camera_for};

/// Bumped whenever the way segments are drawn changes, so cached segments are made again.
pub const SEGMENT_VERSION: &str = "segment-v1";

/// How a render looks and how hard the encoder works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
    /// x264 preset (`veryfast`, `medium`...).
    pub x264_preset: &'static str,
    pub crf: u8,
}

impl Preset {
    /// `preview` (fast, small), `standard` (720p, x264 veryfast), `final` (1080p, slower).
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "preview" => Some(Self {
                name: "preview",
                width: 640,
                height: 360,
                frame_rate: 12,
                x264_preset: "ultrafast",
                crf: 30,
            }),
            "standard" => Some(Self {
                name: "standard",
                width: 1280,
                height: 720,
                frame_rate: 25,
                x264_preset: "veryfast",
                crf: 26,
            }),
            "final" => Some(Self {
                name: "final",
                width: 1920,
                height: 1080,
                frame_rate: 30,
                x264_preset: "medium",
                crf: 21,
            }),
            _ => None,
        }
    }

    pub fn canvas(self) -> Canvas {
        Canvas {
            width: self.width,
            height: self.height,
            frame_rate: self.frame_rate,
        }
    }
}

/// An export of the timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Mp4,
    Webm,
    Gif,
    M4b,
    Srt,
    Vtt,
    Epub,
    Storyboard,
}

impl Format {
    pub const ALL: [Format; 8] = [
        Format::Mp4,
        Format::Webm,
        Format::Gif,
        Format::M4b,
        Format::Srt,
        Format::Vtt,
        Format::Epub,
        Format::Storyboard,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Mp4 => "mp4",
            Format::Webm => "webm",
            Format::Gif => "gif",
            Format::M4b => "m4b",
            Format::Srt => "srt",
            Format::Vtt => "vtt",
            Format::Epub => "epub",
            Format::Storyboard => "storyboard",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|format| format.name() == name.trim())
    }

    /// `mp4,gif,epub` (or `all`); unknown names are an error that lists the valid ones.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        if list.trim() == "all" {
            return Ok(Self::ALL.to_vec());
        }
        let mut formats = Vec::new();
        for name in list.split(',').filter(|name| !name.trim().is_empty()) {
            let format = Self::parse(name).ok_or_else(|| {
                format!(
                    "{name:?} is not an export (choose from {} or all)",
                    Self::ALL.map(Format::name).join(", ")
                )
            })?;
            if !formats.contains(&format) {
                formats.push(format);
            }
        }
        if formats.is_empty() {
            return Err("no export chosen".to_owned());
        }
        formats.sort();
        Ok(formats)
    }
}

/// One file an export produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportFile {
    pub format: Format,
    /// `video.mp4`, `subtitles.vtt`, `words.vtt`...
    pub file_name: String,
    pub content_type: &'static str,
    pub path: PathBuf,
}

#[derive(Debug, Clone)]
pub struct AssemblyConfig {
    pub ffmpeg: PathBuf,
    pub preset: Preset,
    pub formats: Vec<Format>,
    /// Subtitles drawn into the picture of the MP4 (and the WebM made from it).
    pub burn_subtitles: bool,
    /// Segments rendered at once.
    pub jobs: usize,
    /// `dcterms:modified` of the EPUB (`2026-11-24T12:00:00Z`).
    pub modified: String,
}

/// What a run made.
#[derive(Debug)]
pub struct AssemblyReport {
    pub files: Vec<ExportFile>,
    pub segments_encoded: u64,
    pub segments_reused: u64,
    /// Holds the files until the caller has stored them.
    pub work: tempfile::TempDir,
}

#[derive(Debug, thiserror::Error)]
pub enum AssemblyError {
    #[error("nothing to assemble: the book has no scenes")]
    Empty,
    #[error("ffmpeg failed: {0}")]
    Ffmpeg(String),
    #[error("read-along EPUB: {0}")]
    Epub(#[from] epub::EpubError),
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("local file: {0}")]
    Io(#[from] std::io::Error),
}

/// Shares progress between parallel parts: each part reports its own fraction, weighted.
struct Progress<'a> {
    sink: &'a (dyn Fn(f64) + Send + Sync),
    parts: Mutex<Vec<f64>>,
    weights: Vec<f64>,
}

impl<'a> Progress<'a> {
    fn new(sink: &'a (dyn Fn(f64) + Send + Sync), weights: Vec<f64>) -> Self {
        Self {
            sink,
            parts: Mutex::new(vec![0.0; weights.len()]),
            weights,
        }
    }

    fn set(&self, part: usize, fraction: f64) {
        let total: f64 = self.weights.iter().sum::<f64>().max(f64::EPSILON);
        let done = {
            let mut parts = self
                .parts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(slot) = parts.get_mut(part) {
                *slot = fraction.clamp(0.0, 1.0).max(*slot);
            }
            parts
                .iter()
                .zip(&self.weights)
                .map(|(p, w)| p * w)
                .sum::<f64>()
        };
        (self.sink)(done / total);
    }
}

/// Renders the chosen exports of `timeline`; `progress` gets 0..=1.
pub async fn assemble(
    blobs: &dyn BlobStore,
    timeline: &Timeline,
    config: &AssemblyConfig,
    progress: &(dyn Fn(f64) + Send + Sync),
) -> Result<AssemblyReport, AssemblyError> {
    if timeline.shots.is_empty() {
        return Err(AssemblyError::Empty);
    }
    let work = tempfile::tempdir()?;
    let dir = work.path();
    let wants = |format: Format| config.formats.contains(&format);
    let needs_video = wants(Format::Mp4) || wants(Format::Webm) || wants(Format::Gif);
    let mut files = Vec::new();

    // Subtitles and chapters first: the video mux uses them.
    let srt = dir.join("subtitles.srt");
    let vtt = dir.join("subtitles.vtt");
    let words = dir.join("words.vtt");
    let metadata = dir.join("chapters.ffmeta");
    tokio::fs::write(&srt, subtitles::srt(&timeline.cues)).await?;
    tokio::fs::write(&vtt, subtitles::vtt(&timeline.cues)).await?;
    tokio::fs::write(&words, subtitles::words_vtt(&timeline.cues)).await?;
    tokio::fs::write(
        &metadata,
        subtitles::ffmetadata(
            &timeline.title,
            timeline.author.as_deref(),
            &timeline.chapters,
        ),
    )
    .await?;
    if wants(Format::Srt) {
        files.push(file(
            Format::Srt,
            "subtitles.srt",
            "application/x-subrip",
            &srt,
        ));
    }
    if wants(Format::Vtt) {
        files.push(file(Format::Vtt, "subtitles.vtt", "text/vtt", &vtt));
        files.push(file(Format::Vtt, "words.vtt", "text/vtt", &words));
    }

    // The program audio of every shot, local.
    let mut audio = Vec::with_capacity(timeline.shots.len());
    for (index, shot) in timeline.shots.iter().enumerate() {
        let path = dir.join(format!("audio-{index:05}.wav"));
        download_to_file(blobs, &BlobKey::parse(&shot.audio_key)?, &path).await?;
        audio.push(path);
    }
    let audio_refs: Vec<&Path> = audio.iter().map(PathBuf::as_path).collect();
    let audio_list = dir.join("audio.ffconcat");
    tokio::fs::write(&audio_list, ffmpeg::concat_list(&audio_refs)).await?;

    let total_s = timeline.duration_ms as f64 / 1000.0;
    // Rough relative costs, to weigh progress: segments dominate.
    let progress = Progress::new(
        progress,
        vec![
            if needs_video { 10.0 } else { 0.0 },
            if needs_video { 0.5 } else { 0.0 },
            if wants(Format::Webm) { 4.0 } else { 0.0 },
            if wants(Format::M4b) { 0.4 } else { 0.0 },
            if wants(Format::Epub) { 0.4 } else { 0.0 },
            if wants(Format::Storyboard) { 0.6 } else { 0.0 },
            if wants(Format::Gif) { 0.3 } else { 0.0 },
        ],
    );
    let (mut encoded, mut reused) = (0, 0);
    let video = dir.join("video.mp4");
    if needs_video {
        let segments = render_segments(blobs, timeline, config, dir, &progress).await?;
        encoded = segments.encoded;
        reused = segments.reused;
        let list = dir.join("segments.ffconcat");
        let timed: Vec<(&Path, u64)> = segments
            .paths
            .iter()
            .zip(&timeline.shots)
            .map(|(path, shot)| (path.as_path(), shot.duration_ms))
            .collect();
        tokio::fs::write(&list, ffmpeg::timed_concat_list(&timed)).await?;
        let mut args = strings(&["-f", "concat", "-safe", "0", "-i"]);
        args.push(path_arg(&list));
        args.extend(strings(&["-f", "concat", "-safe", "0", "-i"]));
        args.push(path_arg(&audio_list));
        args.push("-i".into());
        args.push(path_arg(&metadata));
        // A subtitle track when there is something to show (ffmpeg refuses an empty SRT).
        let subtitled = !timeline.cues.is_empty();
        if subtitled {
            args.push("-i".into());
            args.push(path_arg(&srt));
        }
        args.extend(strings(&[
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-map_metadata",
            "2",
            "-map_chapters",
            "2",
            "-c:v",
            "copy",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-ar",
            "48000",
            "-ac",
            "2",
        ]));
        if subtitled {
            args.extend(strings(&[
                "-map",
                "3:s",
                "-c:s",
                "mov_text",
                "-metadata:s:s:0",
            ]));
            args.push(format!("language={}", iso639_2(&timeline.language)));
        }
        args.extend(strings(&["-movflags", "+faststart", "-t"]));
        args.push(ffmpeg::seconds(timeline.duration_ms));
        args.push(path_arg(&video));
        ffmpeg::run(&config.ffmpeg, args, total_s, &|f| progress.set(1, f)).await?;
        if wants(Format::Mp4) {
            files.push(file(Format::Mp4, "video.mp4", "video/mp4", &video));
        }
    }
    if wants(Format::Webm) {
        let webm = dir.join("video.webm");
        let mut args = vec!["-i".to_owned(), path_arg(&video)];
        let subtitled = !timeline.cues.is_empty();
        if subtitled {
            args.extend(["-i".to_owned(), path_arg(&vtt)]);
        }
        args.extend(strings(&[
            "-map",
            "0:v",
            "-map",
            "0:a",
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-row-mt",
            "1",
            "-crf",
            "36",
            "-b:v",
            "0",
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
        ]));
        if subtitled {
            args.extend(strings(&["-map", "1:s", "-c:s", "webvtt"]));
        }
        args.push(path_arg(&webm));
        ffmpeg::run(&config.ffmpeg, args, total_s, &|f| progress.set(2, f)).await?;
        files.push(file(Format::Webm, "video.webm", "video/webm", &webm));
    }
    if wants(Format::Gif) {
        let gif = dir.join("preview.gif");
        let (start, length) = gif_window(timeline);
        let mut args = vec![
            "-ss".to_owned(),
            ffmpeg::seconds(start),
            "-t".into(),
            ffmpeg::seconds(length),
            "-i".into(),
            path_arg(&video),
        ];
        args.extend(strings(&[
            "-filter_complex",
            "fps=10,scale=480:-2:flags=lanczos,split[a][b];[a]palettegen=max_colors=128:stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=3",
            "-loop",
            "0",
        ]));
        args.push(path_arg(&gif));
        ffmpeg::run(&config.ffmpeg, args, length as f64 / 1000.0, &|f| {
            progress.set(6, f);
        })
        .await?;
        files.push(file(Format::Gif, "preview.gif", "image/gif", &gif));
    }
    let cover = dir.join("cover.png");
    if wants(Format::M4b) || wants(Format::Epub) {
        let key = timeline
            .shots
            .iter()
            .map(|shot| shot.portrait_image_key.as_str())
            .find(|key| !key.is_empty())
            .unwrap_or(&timeline.shots[0].image_key);
        download_to_file(blobs, &BlobKey::parse(key)?, &cover).await?;
    }
    if wants(Format::M4b) {
        let m4b = dir.join("audiobook.m4b");
        let mut args = strings(&["-f", "concat", "-safe", "0", "-i"]);
        args.push(path_arg(&audio_list));
        args.extend([
            "-i".to_owned(),
            path_arg(&cover),
            "-i".into(),
            path_arg(&metadata),
        ]);
        args.extend(strings(&[
            "-map",
            "0:a",
            "-map",
            "1:v",
            "-map_metadata",
            "2",
            "-map_chapters",
            "2",
            "-c:a",
            "aac",
            "-b:a",
            "96k",
            "-ar",
            "44100",
            "-c:v",
            "mjpeg",
            "-disposition:v:0",
            "attached_pic",
            "-f",
            "mp4",
            "-movflags",
            "+faststart",
        ]));
        args.push(path_arg(&m4b));
        ffmpeg::run(&config.ffmpeg, args, total_s, &|f| progress.set(3, f)).await?;
        files.push(file(Format::M4b, "audiobook.m4b", "audio/mp4", &m4b));
    }
    if wants(Format::Epub) {
        let path = dir.join("read-along.epub");
        let book = read_along(timeline, config, dir, &audio, &cover, &|f| {
            progress.set(4, f)
        })
        .await?;
        tokio::fs::write(&path, epub::write_epub(&book)?).await?;
        files.push(file(
            Format::Epub,
            "read-along.epub",
            "application/epub+zip",
            &path,
        ));
    }
    if wants(Format::Storyboard) {
        let path = dir.join("storyboard.zip");
        storyboard_zip(blobs, timeline, config, dir, &audio, &path, &|f| {
            progress.set(5, f)
        })
        .await?;
        files.push(file(
            Format::Storyboard,
            "storyboard.zip",
            "application/zip",
            &path,
        ));
    }
    (progress.sink)(1.0);
    Ok(AssemblyReport {
        files,
        segments_encoded: encoded,
        segments_reused: reused,
        work,
    })
}

/// The status output an export file is recorded under (`video`, `webm`, `words_vtt`...).
pub fn output_name(file_name: &str) -> &'static str {
    match file_name {
        "video.mp4" => "video",
        "video.webm" => "webm",
        "preview.gif" => "gif",
        "audiobook.m4b" => "audiobook",
        "subtitles.srt" => "srt",
        "subtitles.vtt" => "vtt",
        "words.vtt" => "words_vtt",
        "read-along.epub" => "epub",
        "storyboard.zip" => "storyboard",
        _ => "export",
    }
}

fn file(format: Format, name: &str, content_type: &'static str, path: &Path) -> ExportFile {
    ExportFile {
        format,
        file_name: name.to_owned(),
        content_type,
        path: path.to_path_buf(),
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

/// ISO 639-2 code of a BCP 47 tag, for MP4 track languages.
fn iso639_2(language: &str) -> &'static str {
    match language.split(['-', '_']).next().unwrap_or("") {
        "en" => "eng",
        "fr" => "fra",
        "de" => "deu",
        "es" => "spa",
        "it" => "ita",
        "pt" => "por",
        "nl" => "nld",
        _ => "und",
    }
}

/// The GIF shows up to 10 s from the first shot with characters in it (else the start).
fn gif_window(timeline: &Timeline) -> (u64, u64) {
    let shot = timeline
        .shots
        .iter()
        .find(|shot| !shot.characters.is_empty())
        .unwrap_or(&timeline.shots[0]);
    let start = shot.start_ms;
    (start, (timeline.duration_ms - start).clamp(1, 10_000))
}

struct Segments {
    paths: Vec<PathBuf>,
    encoded: u64,
    reused: u64,
}

/// The cues of a shot, in shot time (for burned-in subtitles).
fn shot_cues(timeline: &Timeline, shot: &Shot) -> Vec<Cue> {
    timeline
        .cues
        .iter()
        .filter(|cue| cue.scene_id == shot.scene_id)
        .map(|cue| Cue {
            start_ms: cue.start_ms.saturating_sub(shot.start_ms),
            end_ms: cue.end_ms.saturating_sub(shot.start_ms),
            words: Vec::new(),
            ..cue.clone()
        })
        .collect()
}

/// Frames of a shot, from its own duration only (so that a shot's segment does not change
/// when an earlier shot does); the join places every segment at its shot's start, so rounding
/// never accumulates.
pub fn frames_of(timeline: &Timeline, shot: &Shot) -> u64 {
    let fps = u64::from(timeline.frame_rate.max(1));
    ((shot.duration_ms * fps + 500) / 1000).max(1)
}

fn segment_key(
    timeline: &Timeline,
    shot: &Shot,
    config: &AssemblyConfig,
    cues: &[Cue],
) -> Result<BlobKey, StoreError> {
    let mut hasher = Sha256::new();
    let burned = if config.burn_subtitles {
        subtitles::srt(cues)
    } else {
        String::new()
    };
    for part in [
        SEGMENT_VERSION.to_owned(),
        shot.image_key.clone(),
        format!("{:?}", shot.camera),
        frames_of(timeline, shot).to_string(),
        format!(
            "{}x{}@{} {} crf{}",
            config.preset.width,
            config.preset.height,
            timeline.frame_rate,
            config.preset.x264_preset,
            config.preset.crf
        ),
        burned,
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    BlobKey::parse(&cache_key(
        "segments",
        &hex::encode(hasher.finalize()),
        "mp4",
    ))
}

/// Every shot's video segment, from the cache or rendered, `config.jobs` at a time.
async fn render_segments(
    blobs: &dyn BlobStore,
    timeline: &Timeline,
    config: &AssemblyConfig,
    dir: &Path,
    progress: &Progress<'_>,
) -> Result<Segments, AssemblyError> {
    let shots = &timeline.shots;
    let paths: Vec<PathBuf> = (0..shots.len())
        .map(|index| dir.join(format!("segment-{index:05}.mp4")))
        .collect();
    let mut keys = Vec::with_capacity(shots.len());
    let mut missing = Vec::new();
    for (index, shot) in shots.iter().enumerate() {
        let key = segment_key(timeline, shot, config, &shot_cues(timeline, shot))?;
        if blobs.head(&key).await?.is_some() {
            download_to_file(blobs, &key, &paths[index]).await?;
        } else {
            missing.push(index);
        }
        keys.push(key);
    }
    let total_ms: u64 = missing
        .iter()
        .map(|&i| shots[i].duration_ms)
        .sum::<u64>()
        .max(1);
    let done_ms = Mutex::new(vec![0_u64; shots.len()]);
    let report = |index: usize, fraction: f64| {
        let mut done = done_ms
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        done[index] = (fraction * shots[index].duration_ms as f64) as u64;
        progress.set(0, done.iter().sum::<u64>() as f64 / total_ms as f64);
    };
    let next = AtomicUsize::new(0);
    let mut workers = Vec::new();
    for _ in 0..config.jobs.max(1).min(missing.len().max(1)) {
        workers.push(segment_worker(
            blobs, timeline, config, dir, &paths, &keys, &missing, &next, &report,
        ));
    }
    for result in futures_util::future::join_all(workers).await {
        result?;
    }
    progress.set(0, 1.0);
    Ok(Segments {
        paths,
        encoded: missing.len() as u64,
        reused: (shots.len() - missing.len()) as u64,
    })
}

#[expect(
    clippy::too_many_arguments,
    reason = "one worker of a pool shares all of its inputs"
)]
async fn segment_worker(
    blobs: &dyn BlobStore,
    timeline: &Timeline,
    config: &AssemblyConfig,
    dir: &Path,
    paths: &[PathBuf],
    keys: &[BlobKey],
    missing: &[usize],
    next: &AtomicUsize,
    report: &(dyn Fn(usize, f64) + Send + Sync),
) -> Result<(), AssemblyError> {
    loop {
        let Some(&index) = missing.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return Ok(());
        };
        let shot = &timeline.shots[index];
        let still = dir.join(format!("still-{index:05}.png"));
        download_to_file(blobs, &BlobKey::parse(&shot.image_key)?, &still).await?;
        let cues = shot_cues(timeline, shot);
        let burned = if config.burn_subtitles && !cues.is_empty() {
            let path = dir.join(format!("segment-{index:05}.srt"));
            tokio::fs::write(&path, subtitles::srt(&cues)).await?;
            Some(path)
        } else {
            None
        };
        let frames = frames_of(timeline, shot);
        let args = segment_args(
            timeline,
            shot,
            config,
            &still,
            burned.as_deref(),
            frames,
            &paths[index],
        );
        let seconds = frames as f64 / f64::from(timeline.frame_rate.max(1));
        ffmpeg::run(&config.ffmpeg, args, seconds, &|f| report(index, f)).await?;
        blobs
            .put_file(&keys[index], &paths[index], "video/mp4")
            .await?;
    }
}

/// One shot: the camera move over its still ([`ken_burns`]), optional burned-in cues, x264.
fn segment_args(
    timeline: &Timeline,
    shot: &Shot,
    config: &AssemblyConfig,
    still: &Path,
    burned: Option<&Path>,
    frames: u64,
    out: &Path,
) -> Vec<String> {
    let (w, h) = (config.preset.width, config.preset.height);
    let fps = timeline.frame_rate.max(1);
    let mut filter = format!("[0:v]{}", ken_burns(shot.camera, frames, w, h, fps));
    if let Some(srt) = burned {
        // libass sizes in a 288-line script space; the cue sits above the picture's own caption
        // band (the bottom fifth of every illustration), on the scenery.
        filter.push_str(&format!(
            ",subtitles=filename='{}':force_style='FontName=DejaVu Sans,FontSize=14,Outline=1.5,Shadow=0,MarginV=66'",
            srt.display()
        ));
    }
    filter.push_str(",format=yuv420p[v]");
    let mut args = vec![
        "-i".to_owned(),
        path_arg(still),
        "-filter_complex".into(),
        filter,
    ];
    args.extend(strings(&["-map", "[v]", "-frames:v"]));
    args.push(frames.to_string());
    args.extend(strings(&[
        "-c:v",
        "libx264",
        "-preset",
        config.preset.x264_preset,
        "-crf",
    ]));
    args.push(config.preset.crf.to_string());
    args.push("-g".into());
    args.push((fps * 4).to_string());
    args.push("-r".into());
    args.push(fps.to_string());
    args.extend(strings(&["-an", "-movflags", "+faststart"]));
    args.push(path_arg(out));
    args
}

/// The filter that turns one still into `frames` frames of a camera move: the still scaled up
/// twice (so the move is smooth), then a zoompan from the camera's first frame to its last
/// with an ease in and out.
pub fn ken_burns(
    camera: visiobook_domain::timeline::Camera,
    frames: u64,
    width: u32,
    height: u32,
    fps: u32,
) -> String {
    let (a, b) = (camera.from, camera.to);
    let last = (frames.max(2) - 1) as f64;
    // Smoothstep of the frame's position in the shot.
    let ease = format!("(on/{last:.1})*(on/{last:.1})*(3-2*(on/{last:.1}))");
    let lerp = |from: f64, to: f64| format!("({from:.5}+({:.5})*{ease})", to - from);
    let zoom = lerp(a.zoom, b.zoom);
    let x = format!("{}*iw-iw/zoom/2", lerp(a.x, b.x));
    let y = format!("{}*ih-ih/zoom/2", lerp(a.y, b.y));
    format!(
        "scale={}:{}:flags=bicubic,zoompan=z='{zoom}':x='{x}':y='{y}':d={frames}:s={width}x{height}:fps={fps}",
        width * 2,
        height * 2
    )
}

/// The chapters' narration as `.m4a` files and the sentences timed in them, for the EPUB.
async fn read_along(
    timeline: &Timeline,
    config: &AssemblyConfig,
    dir: &Path,
    audio: &[PathBuf],
    cover: &Path,
    progress: &(dyn Fn(f64) + Send + Sync),
) -> Result<epub::ReadAlong, AssemblyError> {
    let mut chapters = Vec::with_capacity(timeline.chapters.len());
    for (number, mark) in timeline.chapters.iter().enumerate() {
        let parts: Vec<&Path> = timeline
            .shots
            .iter()
            .zip(audio)
            .filter(|(shot, _)| shot.chapter_ordinal == mark.ordinal)
            .map(|(_, path)| path.as_path())
            .collect();
        let list = dir.join(format!("chapter-{number}.ffconcat"));
        tokio::fs::write(&list, ffmpeg::concat_list(&parts)).await?;
        let m4a = dir.join(format!("chapter-{number}.m4a"));
        let mut args = strings(&["-f", "concat", "-safe", "0", "-i"]);
        args.push(path_arg(&list));
        args.extend(strings(&[
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-movflags",
            "+faststart",
        ]));
        args.push(path_arg(&m4a));
        let length_ms = mark.end_ms - mark.start_ms;
        ffmpeg::run(&config.ffmpeg, args, length_ms as f64 / 1000.0, &|_| {}).await?;
        let mut paragraphs: Vec<Vec<epub::ReadAlongSentence>> = Vec::new();
        let mut current: Option<u32> = None;
        for cue in timeline
            .cues
            .iter()
            .filter(|cue| cue.chapter_ordinal == mark.ordinal)
        {
            let (start_ms, end_ms) = (
                cue.start_ms.saturating_sub(mark.start_ms),
                cue.end_ms.saturating_sub(mark.start_ms).min(length_ms),
            );
            if end_ms <= start_ms {
                // Past the chapter's audio (rounding at its very end): nothing to highlight.
                continue;
            }
            let sentence = epub::ReadAlongSentence {
                text: cue.text.clone(),
                start_ms,
                end_ms,
            };
            match paragraphs.last_mut() {
                Some(last) if current == Some(cue.paragraph) => last.push(sentence),
                _ => paragraphs.push(vec![sentence]),
            }
            current = Some(cue.paragraph);
        }
        chapters.push(epub::ReadAlongChapter {
            title: mark.title.clone(),
            audio_m4a: tokio::fs::read(&m4a).await?,
            audio_duration_ms: length_ms,
            paragraphs,
        });
        progress((number + 1) as f64 / timeline.chapters.len().max(1) as f64);
    }
    Ok(epub::ReadAlong {
        identifier: format!(
            "urn:visiobook:{}",
            hex::encode(&Sha256::digest(timeline.title.as_bytes())[..8])
        ),
        title: timeline.title.clone(),
        author: timeline.author.clone(),
        language: if timeline.language.is_empty() {
            "en".to_owned()
        } else {
            timeline.language.clone()
        },
        modified: config.modified.clone(),
        cover_png: Some(tokio::fs::read(cover).await?),
        chapters,
    })
}

/// The storyboard folder (page, pictures, per-scene audio) zipped.
async fn storyboard_zip(
    blobs: &dyn BlobStore,
    timeline: &Timeline,
    config: &AssemblyConfig,
    dir: &Path,
    audio: &[PathBuf],
    out: &Path,
    progress: &(dyn Fn(f64) + Send + Sync),
) -> Result<(), AssemblyError> {
    let board = dir.join("storyboard");
    tokio::fs::create_dir_all(board.join("images")).await?;
    tokio::fs::create_dir_all(board.join("audio")).await?;
    let mut chapters: Vec<storyboard::BoardChapter> = Vec::new();
    for (index, (shot, wav)) in timeline.shots.iter().zip(audio).enumerate() {
        let still = dir.join(format!("board-{index:05}.png"));
        download_to_file(blobs, &BlobKey::parse(&shot.image_key)?, &still).await?;
        let id = &shot.scene_id;
        let (image, thumbnail, sound) = (
            format!("images/{id}.jpg"),
            format!("images/{id}-thumb.jpg"),
            format!("audio/{id}.m4a"),
        );
        let mut args = vec![
            "-i".to_owned(),
            path_arg(&still),
            "-i".into(),
            path_arg(wav),
        ];
        args.extend(strings(&["-map", "0:v", "-q:v", "3"]));
        args.push(path_arg(&board.join(&image)));
        args.extend(strings(&[
            "-map",
            "0:v",
            "-vf",
            "scale=480:-2",
            "-q:v",
            "4",
        ]));
        args.push(path_arg(&board.join(&thumbnail)));
        args.extend(strings(&["-map", "1:a", "-c:a", "aac", "-b:a", "64k"]));
        args.push(path_arg(&board.join(&sound)));
        ffmpeg::run(&config.ffmpeg, args, 0.0, &|_| {}).await?;
        let scene = storyboard::BoardScene {
            id: id.clone(),
            title: format!("Scene {}", scene_number(id)),
            start_ms: shot.start_ms,
            duration_ms: shot.duration_ms,
            summary: shot.summary.clone(),
            mood: shot.mood.clone(),
            characters: shot
                .characters
                .iter()
                .map(|c| storyboard::BoardCharacter {
                    name: c.name.clone(),
                    color: c.color.clone(),
                })
                .collect(),
            sentences: timeline
                .cues
                .iter()
                .filter(|cue| &cue.scene_id == id)
                .map(|cue| cue.text.clone())
                .collect(),
            image,
            thumbnail,
            audio: sound,
        };
        match chapters.last_mut() {
            Some(chapter) if chapter.ordinal == shot.chapter_ordinal => chapter.scenes.push(scene),
            _ => chapters.push(storyboard::BoardChapter {
                ordinal: shot.chapter_ordinal,
                title: shot.chapter_title.clone(),
                start_ms: shot.start_ms,
                scenes: vec![scene],
            }),
        }
        progress((index + 1) as f64 / timeline.shots.len() as f64);
    }
    let page = storyboard::render_html(&storyboard::Storyboard {
        title: timeline.title.clone(),
        author: timeline.author.clone(),
        language: timeline.language.clone(),
        duration_ms: timeline.duration_ms,
        chapters,
    });
    tokio::fs::write(board.join("index.html"), page).await?;
    let board_dir = board.clone();
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || zip_folder(&board_dir, &out))
        .await
        .map_err(|error| AssemblyError::Io(std::io::Error::other(error.to_string())))??;
    Ok(())
}

fn scene_number(id: &str) -> &str {
    id.rsplit_once("-s").map_or(id, |(_, number)| number)
}

/// A zip of `folder` (its files at the archive's root), stored without recompression for
/// media that is compressed already.
fn zip_folder(folder: &Path, out: &Path) -> Result<(), AssemblyError> {
    use std::io::Write as _;
    use zip::write::SimpleFileOptions;
    let zip_error = |error: zip::result::ZipError| std::io::Error::other(error.to_string());
    let mut writer = zip::ZipWriter::new(std::fs::File::create(out)?);
    let mut stack = vec![folder.to_path_buf()];
    let mut entries = Vec::new();
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                entries.push(path);
            }
        }
    }
    entries.sort();
    for path in entries {
        let name = path
            .strip_prefix(folder)
            .map_err(|error| std::io::Error::other(error.to_string()))?
            .to_string_lossy()
            .replace('\\', "/");
        let compressed = path
            .extension()
            .is_some_and(|extension| extension == "html");
        let options = SimpleFileOptions::default().compression_method(if compressed {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        });
        writer.start_file(name, options).map_err(zip_error)?;
        writer.write_all(&std::fs::read(&path)?)?;
    }
    writer.finish().map_err(zip_error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_lists_parse() {
        assert_eq!(
            Format::parse_list("all").expect("all"),
            Format::ALL.to_vec()
        );
        assert_eq!(
            Format::parse_list("gif, mp4,mp4").expect("a list"),
            vec![Format::Mp4, Format::Gif]
        );
        let error = Format::parse_list("mp4,avi").expect_err("avi");
        assert!(
            error.contains("\"avi\"") && error.contains("storyboard"),
            "{error}"
        );
        assert!(Format::parse_list("").is_err());
        assert_eq!(Preset::named("final").map(|p| p.height), Some(1080));
        assert_eq!(Preset::named("4k"), None);
    }
}
