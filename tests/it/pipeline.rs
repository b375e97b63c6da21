//! A book from upload to video through the HTTP functions and the queue, step by step.

use reqwest::StatusCode;
use serde_json::Value;
use visiobook_host::worker::Outcome;

use crate::support::{TestApp, assert_playable_video, fixture_bytes};

#[tokio::test]
async fn an_uploaded_book_walks_through_every_stage_to_a_playable_video() {
    let app = TestApp::spawn().await;
    let response = app.upload(fixture_bytes("alice-short.txt")).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/content/status/{id}"));
    assert_eq!(body["status_url"], location.as_str());

    let status = app.status(&id).await;
    assert_eq!(status["state"], "queued");
    assert_eq!(status["stage"], "ingestion");
    assert_eq!(status["source"]["file_name"], "book.txt");

    assert_eq!(
        app.step("ingestion").await,
        Outcome::Completed {
            message_id: format!("ingestion-{id}")
        }
    );
    let status = app.status(&id).await;
    assert_eq!(status["state"], "processing");
    assert_eq!(status["stage"], "analysis");
    assert_eq!(status["percent"], 10);
    assert_eq!(status["title"], "Alice's Adventures In Wonderland");
    assert_eq!(status["stages"]["ingestion"]["state"], "done");
    assert_eq!(status["stages"]["ingestion"]["counts"]["chapters"], 2);

    let preview: Value = app
        .get(&format!("/api/v1/content/preview/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["author"], "Lewis Carroll");
    assert_eq!(
        preview["chapters"][0]["matter"], "front",
        "the edition line is front matter"
    );
    assert_eq!(
        preview["chapters"][1]["title"],
        "Chapter I — Down the Rabbit-Hole"
    );
    assert_eq!(preview["chapters"][1]["matter"], "body");
    assert!(
        preview["chapters"][2]["opening"]
            .as_str()
            .unwrap()
            .contains("Curiouser and curiouser")
    );
    assert!(preview["warnings"].is_array());

    assert!(matches!(
        app.step("analysis").await,
        Outcome::Completed { .. }
    ));
    let status = app.status(&id).await;
    assert_eq!(status["stage"], "generation");
    let scenes = status["stages"]["analysis"]["counts"]["scenes"]
        .as_u64()
        .unwrap();
    assert!(scenes >= 2, "{scenes} scenes");

    assert!(matches!(
        app.step("generation").await,
        Outcome::Completed { .. }
    ));
    let status = app.status(&id).await;
    assert_eq!(status["stage"], "assembly");
    let generation = &status["stages"]["generation"]["counts"];
    assert_eq!(
        generation["images_drawn"].as_u64(),
        Some(2 * scenes),
        "a landscape and a portrait illustration per scene"
    );
    assert_eq!(generation["mixes_made"].as_u64(), Some(scenes));
    assert!(generation["sentences_synthesised"].as_u64().unwrap() > scenes);
    assert_eq!(generation["sentences_flagged"], 0);
    assert_eq!(generation["images_reused"], 0);

    assert!(matches!(
        app.step("assembly").await,
        Outcome::Completed { .. }
    ));
    let status = app.status(&id).await;
    assert_eq!(status["state"], "ready");
    assert_eq!(status["percent"], 100);
    assert_eq!(status["stage"], Value::Null);
    // Only the e-mail that the book is ready is left to deliver.
    let rest: Vec<String> = app
        .drain()
        .await
        .into_iter()
        .map(|(queue, _)| queue)
        .collect();
    assert_eq!(rest, ["notifications"], "nothing else is left in any queue");

    let video_url = status["links"]["video"].as_str().unwrap();
    let response = app.get(video_url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(
        bytes.len() as u64,
        status["outputs"]["video"]["size_bytes"].as_u64().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("video.mp4");
    std::fs::write(&path, &bytes).unwrap();
    let narration_ms = status["stages"]["generation"]["counts"]["narration_ms"]
        .as_u64()
        .unwrap();
    assert_playable_video(&path, narration_ms as f64 / 1000.0);

    let ranged = app
        .client
        .get(app.url(video_url))
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        ranged.headers()["content-range"].to_str().unwrap(),
        format!("bytes 0-99/{}", bytes.len())
    );
    assert_eq!(ranged.bytes().await.unwrap(), bytes.slice(0..100));

    let metrics = app.get("/api/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("visiobook_books_total{event=\"ready\"} 1"),
        "{metrics}"
    );
    // The seed's business metrics, in the classic text format that promtool lints.
    for name in [
        "visiobook_content_processed_total",
        "visiobook_animations_generated_total",
        "visiobook_generation_duration_seconds",
        "visiobook_ai_model_inference_duration_seconds",
        "visiobook_storage_usage_bytes",
        "visiobook_user_sessions_active",
        "visiobook_payment_transactions_total",
        "visiobook_api_requests_total",
        "visiobook_errors_total",
    ] {
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "{name} missing:\n{metrics}"
        );
    }
    assert!(
        metrics
            .contains("visiobook_content_processed_total{format=\"text\",outcome=\"success\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("visiobook_user_sessions_active 1"),
        "{metrics}"
    );
    let animations = metrics
        .lines()
        .find_map(|line| line.strip_prefix("visiobook_animations_generated_total "))
        .unwrap();
    assert_eq!(
        animations.parse::<u64>().unwrap(),
        scenes,
        "one segment per scene"
    );
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (scripts/test installs Debian's prometheus package)");
    std::io::Write::write_all(&mut promtool.stdin.take().unwrap(), metrics.as_bytes()).unwrap();
    let linted = promtool.wait_with_output().unwrap();
    assert!(
        linted.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&linted.stdout),
        String::from_utf8_lossy(&linted.stderr)
    );

    // The same book again: every sentence, picture and mix comes from the content-addressed
    // cache.
    let again = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    app.drain().await;
    let status = app.status(&again).await;
    assert_eq!(status["state"], "ready");
    assert_eq!(
        status["stages"]["analysis"]["counts"]["cached"], 1,
        "the analysis is reused"
    );
    let counts = &status["stages"]["generation"]["counts"];
    assert_eq!(counts["sentences_synthesised"], 0, "{counts}");
    assert_eq!(counts["images_drawn"], 0);
    assert_eq!(counts["mixes_made"], 0);
    assert_eq!(counts["images_reused"].as_u64(), Some(2 * scenes));
    assert_eq!(
        counts["sentences_reused"],
        generation["sentences_synthesised"].as_u64().unwrap()
            + generation["sentences_reused"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn probes_answer_with_real_checks() {
    let app = TestApp::spawn().await;
    let health: Value = app.get("/api/health").await.json().await.unwrap();
    assert_eq!(health["status"], "UP");
    let response = app.get("/api/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    let ready: Value = response.json().await.unwrap();
    assert_eq!(ready["status"], "READY");
    for check in ["documents", "blobs", "queue", "ffmpeg", "espeak"] {
        assert_eq!(ready["checks"][check]["status"], "READY", "{check}");
    }
    let response = app
        .client
        .get(app.url("/api/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!request_id.is_empty());
    let echoed = app
        .client
        .get(app.url("/api/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn readiness_fails_when_a_tool_is_missing() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_FFMPEG", "/nonexistent/ffmpeg")]).await;
    let response = app.get("/api/ready").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let ready: Value = response.json().await.unwrap();
    assert_eq!(ready["checks"]["ffmpeg"]["status"], "DOWN");
    assert_eq!(ready["checks"]["documents"]["status"], "READY");

    // Where no stage runs (the Function App), the tools are not checked.
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_FFMPEG", "/nonexistent/ffmpeg"),
        ("VISIOBOOK_READY_TOOLS", "false"),
    ])
    .await;
    let response = app.get("/api/ready").await;
    assert_eq!(response.status(), StatusCode::OK);
    let ready: Value = response.json().await.unwrap();
    assert!(ready["checks"].get("ffmpeg").is_none(), "{ready}");
    assert_eq!(ready["checks"]["queue"]["status"], "READY");
}

fn ingestion_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("gpu-jobs/ingestion/tests/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

#[tokio::test]
async fn an_epub_upload_is_read_with_its_chapters_and_language() {
    let app = TestApp::spawn().await;
    // The novella needs more narration than the free plan's two hours.
    app.subscribe("creator").await;
    let id = app.upload_ok(ingestion_fixture("metamorphosis.epub")).await;
    assert!(matches!(
        app.step("ingestion").await,
        Outcome::Completed { .. }
    ));
    let status = app.status(&id).await;
    assert_eq!(status["source"]["format"], "epub");
    assert_eq!(status["stages"]["ingestion"]["counts"]["chapters"], 3);
    let preview: Value = app
        .get(&format!("/api/v1/content/preview/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["author"], "Franz Kafka");
    assert_eq!(preview["language"], "en");
    let body: Vec<&Value> = preview["chapters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["matter"] == "body")
        .collect();
    assert_eq!(body.len(), 3);
    assert!(
        body[0]["opening"]
            .as_str()
            .unwrap()
            .contains("Gregor Samsa")
    );
}

#[tokio::test]
async fn the_uploader_chooses_the_language() {
    let app = TestApp::spawn().await;
    let form = reqwest::multipart::Form::new().text("lang", "fr").part(
        "file",
        reqwest::multipart::Part::bytes(fixture_bytes("alice-short.txt")).file_name("alice.txt"),
    );
    let response = app
        .client
        .post(app.url("/api/v1/content/upload"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(matches!(
        app.step("ingestion").await,
        Outcome::Completed { .. }
    ));
    let preview: Value = app
        .get(&format!("/api/v1/content/preview/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(preview["language"], "fr");
}

#[tokio::test]
async fn a_pdf_reports_its_pages_as_it_is_read() {
    let app = TestApp::spawn().await;
    let id = app.upload_ok(ingestion_fixture("alice.pdf")).await;
    assert!(matches!(
        app.step("ingestion").await,
        Outcome::Completed { .. }
    ));
    let status = app.status(&id).await;
    assert_eq!(status["source"]["format"], "pdf");
    assert_eq!(
        status["stages"]["ingestion"]["progress"],
        serde_json::json!({ "done": 86, "total": 86, "unit": "pages" })
    );
    assert_eq!(status["stages"]["ingestion"]["counts"]["chapters"], 12);
}
