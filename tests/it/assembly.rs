//! Storyboard Assembly: every export checked by a validator someone else wrote (ffprobe,
//! epubcheck, the webvtt-py parser), the export route, and a one-scene edit that re-encodes
//! exactly one segment.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, fixture_bytes};

/// Runs ffprobe and returns its JSON (format, streams, chapters).
fn probe(path: &Path) -> Value {
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-show_chapters",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success(), "ffprobe {}", path.display());
    serde_json::from_slice(&output.stdout).unwrap()
}

fn codecs(probe: &Value) -> Vec<(String, String)> {
    probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap_or("").to_owned(),
                s["codec_name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn duration(probe: &Value) -> f64 {
    probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Parses a WebVTT file with webvtt-py (installed by scripts/test) and returns each cue's
/// start and end in seconds.
fn webvtt_cues(path: &Path) -> Vec<(f64, f64)> {
    let validators = std::env::var("VISIOBOOK_VALIDATORS").unwrap_or_else(|_| {
        format!(
            "{}/.cache/visiobook/validators",
            std::env::var("HOME").unwrap_or_default()
        )
    });
    let output = std::process::Command::new("python3")
        .env("PYTHONPATH", validators)
        .args([
            "-c",
            "import sys, webvtt\nfor c in webvtt.read(sys.argv[1]): print(c.start_in_seconds + c.start_time.milliseconds / 1000, c.end_in_seconds + c.end_time.milliseconds / 1000)",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "webvtt-py rejected {} (scripts/test installs it): {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let mut parts = line.split_whitespace().map(|v| v.parse::<f64>().unwrap());
            (parts.next().unwrap(), parts.next().unwrap())
        })
        .collect()
}

/// EPUBCheck, installed by scripts/test (Debian's package is a jar; run it with Java).
pub fn epubcheck(path: &Path) -> std::process::Output {
    let jar = Path::new("/usr/share/java/epubcheck.jar");
    let mut command = if jar.is_file() {
        let mut java = std::process::Command::new("java");
        java.arg("-jar").arg(jar);
        java
    } else {
        std::process::Command::new("epubcheck")
    };
    command
        .arg(path)
        .output()
        .expect("epubcheck is installed by scripts/test")
}

fn srt_cues(text: &str) -> Vec<(f64, f64)> {
    let clock = |t: &str| {
        let (hms, ms) = t.trim().split_once(',').unwrap();
        let parts: Vec<f64> = hms.split(':').map(|p| p.parse().unwrap()).collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2] + ms.parse::<f64>().unwrap() / 1000.0
    };
    text.lines()
        .filter_map(|line| line.split_once(" --> "))
        .map(|(a, b)| (clock(a), clock(b)))
        .collect()
}

fn assert_cues_in_order(cues: &[(f64, f64)], media_seconds: f64, what: &str) {
    assert!(!cues.is_empty(), "{what} has cues");
    for (index, (start, end)) in cues.iter().enumerate() {
        assert!(start < end, "{what} cue {index}: {start} >= {end}");
        assert!(
            *end <= media_seconds + 0.05,
            "{what} cue {index} ends after the media"
        );
        if index > 0 {
            assert!(cues[index - 1].1 <= *start, "{what} cue {index} overlaps");
        }
    }
}

async fn download(app: &TestApp, id: &str, format: &str, dir: &Path, name: &str) -> PathBuf {
    let response = app
        .get(&format!("/api/v1/assembly/export/{format}?id={id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK, "{format}");
    let path = dir.join(name);
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
    path
}

#[tokio::test]
async fn every_export_passes_its_validator() {
    let app = TestApp::spawn().await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    app.drain().await;
    let status = app.status(&id).await;
    assert_eq!(status["state"], "ready", "{status}");
    let chapters = status["stages"]["ingestion"]["counts"]["chapters"]
        .as_u64()
        .unwrap();
    let assembly = &status["stages"]["assembly"]["counts"];
    assert_eq!(assembly["exports"], 9, "{assembly}");
    assert_eq!(assembly["chapters"].as_u64(), Some(chapters));
    let seconds = assembly["duration_ms"].as_u64().unwrap() as f64 / 1000.0;
    let dir = tempfile::tempdir().unwrap();

    let mp4 = probe(&download(&app, &id, "mp4", dir.path(), "video.mp4").await);
    let streams = codecs(&mp4);
    for wanted in [
        ("video", "h264"),
        ("audio", "aac"),
        ("subtitle", "mov_text"),
    ] {
        assert!(
            streams.contains(&(wanted.0.into(), wanted.1.into())),
            "{streams:?}"
        );
    }
    assert!(
        (duration(&mp4) - seconds).abs() < 0.5,
        "{} vs {seconds}",
        duration(&mp4)
    );
    assert_eq!(mp4["chapters"].as_array().unwrap().len() as u64, chapters);
    assert!(
        mp4["format"]["tags"]["title"]
            .as_str()
            .is_some_and(|title| title.to_lowercase().contains("alice")),
        "{mp4}"
    );

    let webm = probe(&download(&app, &id, "webm", dir.path(), "video.webm").await);
    let streams = codecs(&webm);
    for wanted in [("video", "vp9"), ("audio", "opus"), ("subtitle", "webvtt")] {
        assert!(
            streams.contains(&(wanted.0.into(), wanted.1.into())),
            "{streams:?}"
        );
    }
    assert!((duration(&webm) - seconds).abs() < 0.5);

    let gif = probe(&download(&app, &id, "gif", dir.path(), "preview.gif").await);
    assert_eq!(codecs(&gif), [("video".to_owned(), "gif".to_owned())]);
    assert!(duration(&gif) <= 10.05, "{}", duration(&gif));
    assert!(gif["streams"][0]["width"].as_u64() == Some(480));

    let m4b = probe(&download(&app, &id, "m4b", dir.path(), "audiobook.m4b").await);
    let streams = codecs(&m4b);
    assert!(
        streams.contains(&("audio".into(), "aac".into())),
        "{streams:?}"
    );
    assert!(
        m4b["streams"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["disposition"]["attached_pic"] == 1),
        "a cover"
    );
    assert_eq!(m4b["chapters"].as_array().unwrap().len() as u64, chapters);
    assert!((duration(&m4b) - seconds).abs() < 0.5);

    let srt = download(&app, &id, "srt", dir.path(), "subtitles.srt").await;
    assert_cues_in_order(
        &srt_cues(&std::fs::read_to_string(&srt).unwrap()),
        seconds,
        "srt",
    );
    let vtt = download(&app, &id, "vtt", dir.path(), "subtitles.vtt").await;
    let sentence_cues = webvtt_cues(&vtt);
    assert_cues_in_order(&sentence_cues, seconds, "vtt");
    let words = download(&app, &id, "words.vtt", dir.path(), "words.vtt").await;
    assert_eq!(
        webvtt_cues(&words),
        sentence_cues,
        "the same cues, with word timings"
    );
    assert!(std::fs::read_to_string(&words).unwrap().contains("> <c>"));

    let epub = download(&app, &id, "epub", dir.path(), "read-along.epub").await;
    let output = epubcheck(&epub);
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{report}");
    assert!(
        !report.contains("ERROR") && !report.contains("FATAL"),
        "{report}"
    );

    let board = download(&app, &id, "storyboard", dir.path(), "storyboard.zip").await;
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&board).unwrap()).unwrap();
    let mut page = String::new();
    archive
        .by_name("index.html")
        .unwrap()
        .read_to_string(&mut page)
        .unwrap();
    let names: Vec<String> = archive.file_names().map(str::to_owned).collect();
    // Every file the page points at is in the archive, so it works offline.
    for attribute in ["src=\"", "href=\""] {
        for reference in page.split(attribute).skip(1) {
            let target = reference.split('"').next().unwrap();
            if target.starts_with('#') {
                continue;
            }
            assert!(
                names.iter().any(|n| n == target),
                "{target} missing from {names:?}"
            );
        }
    }
    let shots = assembly["shots"].as_u64().unwrap() as usize;
    assert_eq!(page.matches("<audio").count(), shots);
}

#[tokio::test]
async fn the_export_route_refuses_unknown_formats_and_unready_books() {
    let app = TestApp::spawn().await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let early = app
        .get(&format!("/api/v1/assembly/export/webm?id={id}"))
        .await;
    assert_eq!(early.status(), StatusCode::CONFLICT);
    let unknown = app
        .get(&format!("/api/v1/assembly/export/avi?id={id}"))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let body: Value = unknown.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains("epub"));
}

#[tokio::test]
async fn editing_one_scene_re_encodes_one_segment() {
    let app = TestApp::spawn().await;
    let original = String::from_utf8(fixture_bytes("alice-short.txt")).unwrap();
    let first = app.upload_ok(original.clone().into_bytes()).await;
    app.drain().await;
    let status = app.status(&first).await;
    let counts = &status["stages"]["assembly"]["counts"];
    let shots = counts["shots"].as_u64().unwrap();
    assert!(shots >= 2, "{counts}");
    assert_eq!(counts["segments_encoded"].as_u64(), Some(shots));

    // The same book with one sentence of its last scene changed.
    let edited = original.replacen(
        "and burning with curiosity",
        "and quite burning with curiosity",
        1,
    );
    assert_ne!(edited, original, "the fixture holds the sentence");
    let second = app.upload_ok(edited.into_bytes()).await;
    app.drain().await;
    let status = app.status(&second).await;
    assert_eq!(status["state"], "ready");
    let generation = &status["stages"]["generation"]["counts"];
    assert_eq!(generation["sentences_synthesised"], 1, "{generation}");
    let counts = &status["stages"]["assembly"]["counts"];
    assert_eq!(counts["shots"].as_u64(), Some(shots));
    assert_eq!(counts["segments_encoded"], 1, "{counts}");
    assert_eq!(counts["segments_reused"].as_u64(), Some(shots - 1));
}

#[tokio::test]
async fn the_storyboard_progress_and_render_again_routes() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_EXPORT_FORMATS", "mp4,srt")]).await;
    // Rendering again at the final preset's 1080 lines needs a paid plan.
    app.subscribe("creator").await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let storyboard = "/api/v1/assembly/create-storyboard";
    let early = app
        .client
        .post(app.url(storyboard))
        .json(&json!({ "book_id": id }))
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), StatusCode::CONFLICT);
    let again = "/api/v1/assembly/render-final";
    let not_ready = app
        .client
        .post(app.url(again))
        .json(&json!({ "book_id": id }))
        .send()
        .await
        .unwrap();
    assert_eq!(not_ready.status(), StatusCode::CONFLICT);
    app.drain().await;

    let board = app.post_json(storyboard, &json!({ "book_id": id })).await;
    let chapters = board["chapters"].as_array().unwrap();
    assert!(!chapters.is_empty(), "{board}");
    let scene = &chapters[0]["scenes"][0];
    assert!(scene["text"].as_array().is_some_and(|t| !t.is_empty()));
    assert!(scene["camera"]["to"]["zoom"].as_f64().is_some());
    assert_eq!(
        board["exports"]["mp4"],
        format!("/api/v1/assembly/export/mp4?id={id}")
    );
    assert!(board["exports"].get("gif").is_none(), "not made");

    let progress = app.get(&format!("/api/v1/assembly/progress/{id}")).await;
    let progress: Value = progress.json().await.unwrap();
    assert_eq!(progress["percent"], 100);
    assert_eq!(progress["assembly"]["state"], "done");

    // Bad options are refused before anything happens.
    let bad = app
        .client
        .post(app.url(again))
        .json(&json!({ "book_id": id, "preset": "8k" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let bad = app
        .client
        .post(app.url(again))
        .json(&json!({ "book_id": id, "formats": ["avi"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);

    // Rendered again with a GIF: only assembly runs (its segments come from the cache), and the
    // book is ready again with the GIF.
    let accepted = app
        .client
        .post(app.url(again))
        .json(&json!({ "book_id": id, "preset": "preview", "formats": ["gif"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(app.status(&id).await["state"], "processing");
    // Only assembly runs again (and the e-mail that the book is ready once more goes out).
    let outcomes = app.drain().await;
    assert!(
        outcomes
            .iter()
            .all(|(queue, _)| queue == "assembly" || queue == "notifications"),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|(queue, _)| queue == "assembly")
            .count(),
        1,
        "{outcomes:?}"
    );
    let status = app.status(&id).await;
    assert_eq!(status["state"], "ready", "{status}");
    assert_eq!(status["stages"]["assembly"]["completions"], 2);
    let gif = app
        .get(&format!("/api/v1/assembly/export/gif?id={id}"))
        .await;
    assert_eq!(gif.status(), StatusCode::OK);
    assert_eq!(gif.headers()["content-type"], "image/gif");
    assert_eq!(
        status["stages"]["assembly"]["counts"]["segments_encoded"], 0,
        "from the cache"
    );

    // Subtitles burned into the picture: every segment is drawn again (it looks different).
    let accepted = app
        .client
        .post(app.url(again))
        .json(&json!({
            "book_id": id, "preset": "preview", "formats": ["mp4"], "burn_subtitles": true
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    app.drain().await;
    let status = app.status(&id).await;
    assert_eq!(status["state"], "ready", "{status}");
    let counts = &status["stages"]["assembly"]["counts"];
    assert_eq!(counts["segments_encoded"], counts["shots"], "{counts}");
    assert_eq!(counts["segments_reused"], 0);
}
