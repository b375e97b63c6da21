//! The `standard` render (1280x720, 25 fps, x264 veryfast) of a 10-minute chapter, eight
//! shots with camera moves, against plain ffmpeg encoding the same stills, moves and audio in
//! one command in the same run; then the re-render after one shot changed.
//!
//! `cargo bench -p visiobook-assembly --bench render`

#![allow(
    clippy::print_stdout,
    clippy::unwrap_used,
    reason = "a benchmark prints its table and fails loudly"
)]

use std::process::Command;
use std::time::Instant;

use visiobook_assembly::{AssemblyConfig, Format, Preset, assemble, camera_for, ken_burns};
use visiobook_domain::timeline::{ChapterMark, Shot, TIMELINE_SCHEMA, Timeline};
use visiobook_embedded::FsBlobStore;
use visiobook_ports::{BlobKey, BlobStore};

const SHOTS: u64 = 8;
const SHOT_MS: u64 = 75_000;

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg {args:?}");
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let blobs = FsBlobStore::open(&dir.path().join("blobs")).unwrap();
    let preset = Preset::named("standard").unwrap();
    let mut shots = Vec::new();
    let mut stills = Vec::new();
    let mut audios = Vec::new();
    for index in 0..SHOTS {
        let still = dir.path().join(format!("still-{index}.png"));
        let audio = dir.path().join(format!("audio-{index}.wav"));
        let source = format!("testsrc2=size=1280x720:rate=1,hue=h={}", index * 40);
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &source,
            "-frames:v",
            "1",
            still.to_str().unwrap(),
        ]);
        let tone = format!(
            "sine=frequency={}:duration={}:sample_rate=24000",
            180 + index * 20,
            SHOT_MS / 1000
        );
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            &tone,
            "-ac",
            "1",
            audio.to_str().unwrap(),
        ]);
        let (image_key, audio_key) = (format!("stills/{index}.png"), format!("audio/{index}.wav"));
        runtime.block_on(async {
            let key = BlobKey::parse(&image_key).unwrap();
            blobs.put_file(&key, &still, "image/png").await.unwrap();
            let key = BlobKey::parse(&audio_key).unwrap();
            blobs.put_file(&key, &audio, "audio/wav").await.unwrap();
        });
        let scene_id = format!("c1-s{}", index + 1);
        shots.push(Shot {
            camera: camera_for(&scene_id, index as usize, (0.5, 0.6), None),
            scene_id,
            chapter_ordinal: 1,
            chapter_title: "Chapter I".into(),
            image_key,
            portrait_image_key: String::new(),
            audio_key: audio_key.clone(),
            narration_key: audio_key,
            start_ms: index * SHOT_MS,
            duration_ms: SHOT_MS,
            summary: String::new(),
            mood: "calm".into(),
            characters: Vec::new(),
        });
        stills.push(still);
        audios.push(audio);
    }
    let duration_ms = SHOTS * SHOT_MS;
    let mut timeline = Timeline {
        schema: TIMELINE_SCHEMA.into(),
        title: "Benchmark".into(),
        author: None,
        language: "en".into(),
        width: preset.width,
        height: preset.height,
        frame_rate: preset.frame_rate,
        duration_ms,
        chapters: vec![ChapterMark {
            ordinal: 1,
            title: "Chapter I".into(),
            start_ms: 0,
            end_ms: duration_ms,
        }],
        shots,
        audio: Vec::new(),
        cues: Vec::new(),
    };
    let config = AssemblyConfig {
        ffmpeg: "ffmpeg".into(),
        preset,
        formats: vec![Format::Mp4],
        burn_subtitles: false,
        jobs: 2,
        modified: "2026-11-24T00:00:00Z".into(),
    };

    // Plain ffmpeg: the same stills, moves and audio in one command (no segments, no cache).
    let mut args: Vec<String> = Vec::new();
    for still in &stills {
        args.extend(["-i".into(), still.display().to_string()]);
    }
    let list = dir.path().join("audio.txt");
    let entries: String = audios
        .iter()
        .map(|a| format!("file '{}'\n", a.display()))
        .collect();
    std::fs::write(&list, entries).unwrap();
    args.extend(["-f", "concat", "-safe", "0", "-i"].map(String::from));
    args.push(list.display().to_string());
    let mut graph = String::new();
    for (index, shot) in timeline.shots.iter().enumerate() {
        let frames = visiobook_assembly::frames_of(&timeline, shot);
        graph.push_str(&format!(
            "[{index}:v]{},format=yuv420p[v{index}];",
            ken_burns(
                shot.camera,
                frames,
                preset.width,
                preset.height,
                preset.frame_rate
            )
        ));
    }
    for index in 0..SHOTS {
        graph.push_str(&format!("[v{index}]"));
    }
    graph.push_str(&format!("concat=n={SHOTS}:v=1:a=0[v]"));
    args.extend(["-filter_complex".into(), graph]);
    args.extend(
        [
            "-map",
            "[v]",
            "-map",
            &format!("{SHOTS}:a"),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-crf",
            "26",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-movflags",
            "+faststart",
        ]
        .map(String::from),
    );
    args.push(dir.path().join("plain.mp4").display().to_string());
    let started = Instant::now();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ffmpeg(&refs);
    let plain = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let report = runtime
        .block_on(assemble(&blobs, &timeline, &config, &|_| {}))
        .unwrap();
    let ours = started.elapsed().as_secs_f64();
    assert_eq!(report.segments_encoded, SHOTS);

    // One shot edited (another picture): one segment re-encoded, the rest from the cache.
    timeline.shots[3].image_key = "stills/0.png".into();
    let started = Instant::now();
    let report = runtime
        .block_on(assemble(&blobs, &timeline, &config, &|_| {}))
        .unwrap();
    let edit = started.elapsed().as_secs_f64();
    assert_eq!(
        (report.segments_encoded, report.segments_reused),
        (1, SHOTS - 1)
    );

    let seconds = duration_ms as f64 / 1000.0;
    println!("{SHOTS} shots, {seconds:.0} s, standard preset (1280x720, 25 fps, x264 veryfast)");
    println!();
    println!("| case | time | vs plain ffmpeg (same run) | speed |");
    println!("|---|---|---|---|");
    println!(
        "| plain ffmpeg, one command (baseline) | {plain:.1} s | 1.00x | {:.1}x real time |",
        seconds / plain
    );
    println!(
        "| Visiobook MP4 export (segments in parallel, joined, chapters, subtitles) | {ours:.1} s | {:.2}x | {:.1}x real time |",
        ours / plain,
        seconds / ours
    );
    println!(
        "| after one shot changed (1 segment re-encoded, {} reused) | {edit:.1} s | {:.2}x | {:.1}x real time |",
        SHOTS - 1,
        edit / plain,
        seconds / edit
    );
}
