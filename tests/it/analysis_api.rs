//! The AI Analysis service's HTTP functions and the story-bible overrides.

use reqwest::StatusCode;
use serde_json::{Value, json};
use visiobook_host::worker::Outcome;

use crate::support::{TestApp, error_code, fixture_bytes};

const FRENCH: &str = "CHAPITRE PREMIER\n\nMarie entra dans le jardin. Elle était heureuse et elle souriait.\n\n« Bonjour, Pierre ! » dit Marie.\n\n« Bonjour, Marie », répondit Pierre.\n\nMarie et Pierre marchèrent dans le jardin jusqu'au soir, et Marie parla longtemps à Pierre du jardin.";

async fn analysed_book(app: &TestApp) -> String {
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    assert!(matches!(
        app.step("ingestion").await,
        Outcome::Completed { .. }
    ));
    assert!(matches!(
        app.step("analysis").await,
        Outcome::Completed { .. }
    ));
    id
}

#[tokio::test]
async fn a_text_is_analysed_on_the_spot() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(app.url("/api/v1/analysis/semantic"))
        .json(&json!({ "text": FRENCH }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["language"], "fr");
    let names: Vec<&str> = body["characters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"Marie") && names.contains(&"Pierre"),
        "{names:?}"
    );

    let scenes: Value = app
        .client
        .post(app.url("/api/v1/analysis/extract-scenes"))
        .json(&json!({ "text": FRENCH, "language": "fr" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let speakers: Vec<&str> = scenes["scenes"][0]["narration"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|line| line["speaker"].as_str())
        .collect();
    assert!(
        speakers.contains(&"marie") && speakers.contains(&"pierre"),
        "{speakers:?}"
    );
}

#[tokio::test]
async fn a_stored_book_is_summarised_and_its_status_shown() {
    let app = TestApp::spawn().await;
    let id = analysed_book(&app).await;
    let summary = app
        .post_json("/api/v1/analysis/summarize", &json!({ "book_id": id }))
        .await;
    assert_eq!(summary["chapters"].as_array().unwrap().len(), 2);
    assert!(!summary["summary"].as_str().unwrap().is_empty());
    assert!(!summary["scenes"].as_array().unwrap().is_empty());
    let status: Value = app
        .get(&format!("/api/v1/analysis/status/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["analysis"]["state"], "done");
    assert_eq!(
        status["analysis"]["progress"],
        json!({ "done": 2, "total": 2, "unit": "chapters" }),
        "the job published its progress"
    );
    assert_eq!(status["analysed"], true);
}

#[tokio::test]
async fn bad_analysis_requests_get_the_envelope() {
    let app = TestApp::spawn().await;
    let post = |body: String| {
        app.client
            .post(app.url("/api/v1/analysis/semantic"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let check = |response: reqwest::Response, status: StatusCode, code: &'static str| async move {
        assert_eq!(error_code(response, status).await, code);
    };
    check(
        post("{not json".into()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "malformed_json",
    )
    .await;
    check(
        post(r#"{"text": 5}"#.into()).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    check(
        post(r#"{"txt": "hello"}"#.into()).await.unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
    )
    .await;
    check(
        post(r#"{"text": "a", "book_id": "b"}"#.into())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    check(
        post("{}".into()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_body",
    )
    .await;
    check(
        post(r#"{"book_id": "0123456789abcdef0123456789abcdef"}"#.into())
            .await
            .unwrap(),
        StatusCode::NOT_FOUND,
        "book_not_found",
    )
    .await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    check(
        post(json!({ "book_id": id }).to_string()).await.unwrap(),
        StatusCode::CONFLICT,
        "not_analysed",
    )
    .await;
}

#[tokio::test]
async fn overrides_are_checked_stored_applied_and_kept_on_reanalysis() {
    let app = TestApp::spawn().await;
    let early = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let url = |id: &str| app.url(&format!("/api/v1/analysis/overrides/{id}"));
    let response = app
        .client
        .put(url(&early))
        .json(&json!({ "renames": { "alice": "Alicia" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::CONFLICT).await,
        "not_analysed"
    );

    // Now analyse that book.
    let id = early;
    assert!(matches!(
        app.step("ingestion").await,
        Outcome::Completed { .. }
    ));
    assert!(matches!(
        app.step("analysis").await,
        Outcome::Completed { .. }
    ));
    let response = app
        .client
        .put(url(&id))
        .json(&json!({ "renames": { "nobody": "X" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::BAD_REQUEST).await,
        "invalid_overrides"
    );
    let response = app
        .client
        .put(url(&id))
        .json(&json!({ "renames": {}, "colour": "red" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response, StatusCode::UNPROCESSABLE_ENTITY).await,
        "invalid_body"
    );

    let overrides = json!({
        "renames": { "alice": "Alicia" },
        "voices": { "alice": { "voice": "female-9", "pitch": 12, "rate": 1.1 } },
        "pronunciations": [{ "term": "Alicia", "say_as": "a-LEE-see-a" }]
    });
    let response = app
        .client
        .put(url(&id))
        .json(&overrides)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let stored = app.get(&format!("/api/v1/analysis/overrides/{id}")).await;
    assert_eq!(stored.headers()["etag"].to_str().unwrap(), etag);
    assert_eq!(
        stored.json::<Value>().await.unwrap()["renames"]["alice"],
        "Alicia"
    );

    let stale = app
        .client
        .put(url(&id))
        .header("if-match", "\"stale\"")
        .json(&overrides)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(stale, StatusCode::PRECONDITION_FAILED).await,
        "precondition_failed"
    );

    let semantic: Value = app
        .client
        .post(app.url("/api/v1/analysis/semantic"))
        .json(&json!({ "book_id": id }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let alice = semantic["characters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice["name"], "Alicia");
    assert_eq!(alice["voice"]["voice"], "female-9");
    assert!(
        semantic["pronunciations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["term"] == "Alicia")
    );

    // A redelivered analysis of this book (its result now from the cache) applies them again.
    let body = json!({ "book_id": id, "correlation_id": "again" }).to_string();
    let mut status_doc: Value = app.status(&id).await;
    assert_eq!(status_doc["stages"]["analysis"]["state"], "done");
    // Force the stage to run again, as after a crash before its completion was recorded.
    visiobook_pipeline::update_status(&app.state, &id, |status| {
        if let Some(record) = status.stages.get_mut(&visiobook_domain::Stage::Analysis) {
            record.state = visiobook_domain::status::StageState::Running;
        }
    })
    .await
    .unwrap();
    app.state
        .queue
        .send(
            "analysis",
            visiobook_ports::OutgoingMessage::new("analysis-rerun", body.into_bytes()),
        )
        .await
        .unwrap();
    assert!(matches!(
        app.step("analysis").await,
        Outcome::Completed { .. }
    ));
    status_doc = app.status(&id).await;
    assert_eq!(status_doc["stages"]["analysis"]["counts"]["cached"], 1);
    let semantic: Value = app
        .client
        .post(app.url("/api/v1/analysis/semantic"))
        .json(&json!({ "book_id": id }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        semantic["characters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "Alicia")
    );
}

#[tokio::test]
async fn the_llm_engine_falls_back_to_local_when_its_endpoint_is_down() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let endpoint = format!("http://{closed}/v1");
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_ANALYSIS_ENGINE", "llm"),
        ("VISIOBOOK_LLM_ENDPOINT", endpoint.as_str()),
        ("VISIOBOOK_LLM_API_KEY", "sk-test"),
    ])
    .await;
    let id = analysed_book(&app).await;
    let status = app.status(&id).await;
    assert_eq!(status["stages"]["analysis"]["state"], "done", "{status}");
    let semantic: Value = app
        .client
        .post(app.url("/api/v1/analysis/semantic"))
        .json(&json!({ "book_id": id }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        semantic["engine"].as_str().unwrap().starts_with("local"),
        "{}",
        semantic["engine"]
    );
    let codes: Vec<&str> = semantic["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["code"].as_str())
        .collect();
    assert!(codes.contains(&"llm_fallback"), "{codes:?}");
    assert!(
        !semantic.to_string().contains("sk-test"),
        "the key never leaks"
    );
}
