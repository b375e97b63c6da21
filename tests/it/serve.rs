//! `visiobook serve` answers payloads shaped exactly like the Functions host's.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, fixture_bytes};

fn service_bus_payload(body: &Value, message_id: &str, delivery_count: u32) -> Value {
    json!({
        "Data": { "message": body.to_string() },
        "Metadata": {
            "MessageId": message_id,
            "DeliveryCount": delivery_count,
            "EnqueuedTimeUtc": "2026-11-24T10:00:00Z",
            "CorrelationId": "corr-1",
            "SessionId": null,
            "ApplicationProperties": { "source": "test", "attempt": 1 },
            "sys": { "MethodName": "ContentIngest", "UtcNow": "2026-11-24T10:00:01Z", "RandGuid": "6b1c3e9c-0000-0000-0000-000000000000" }
        }
    })
}

#[tokio::test]
async fn the_handler_answers_the_host_start_probe_and_forwarded_http() {
    let app = TestApp::spawn().await;
    let host = app.spawn_custom_handler().await;
    let client = &app.client;
    let root = client.get(format!("http://{host}/")).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::OK);
    let health = client
        .get(format!("http://{host}/api/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let upload = client
        .post(format!("http://{host}/api/v1/content/upload"))
        .body(fixture_bytes("alice-short.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_service_bus_invocation_runs_the_stage_and_returns_object_outputs() {
    let app = TestApp::spawn().await;
    let host = app.spawn_custom_handler().await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let message = json!({ "book_id": id, "correlation_id": "corr-1" });
    let response = app
        .client
        .post(format!("http://{host}/ContentIngest"))
        .json(&service_bus_payload(
            &message,
            &format!("ingestion-{id}"),
            1,
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let result: Value = response.json().await.unwrap();
    assert_eq!(
        result["Outputs"]["analysis"],
        json!({ "book_id": id, "correlation_id": "corr-1" })
    );
    assert!(
        result["Outputs"]["analysis"].is_object(),
        "outputs are objects, never strings"
    );
    assert_eq!(result["Logs"], json!([]));
    assert_eq!(
        app.status(&id).await["stages"]["ingestion"]["state"],
        "done"
    );
}

#[tokio::test]
async fn a_failed_invocation_is_non_2xx_and_final_deliveries_fail_the_book() {
    // OCR without tesseract: a failure that a retry on another node could fix.
    let app = TestApp::spawn_with(&[("VISIOBOOK_TESSERACT", "/nonexistent/tesseract")]).await;
    let host = app.spawn_custom_handler().await;
    let id = app
        .upload_ok(b"\x89PNG\r\n\x1a\nnot really an image".to_vec())
        .await;
    let message = json!({ "book_id": id, "correlation_id": "c" });
    let invoke = |count: u32| {
        app.client
            .post(format!("http://{host}/ContentIngest"))
            .json(&service_bus_payload(&message, "m1", count))
            .send()
    };
    let response = invoke(1).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let result: Value = response.json().await.unwrap();
    assert!(
        result["Logs"][0].as_str().unwrap().contains("tesseract"),
        "{result}"
    );
    assert_eq!(
        app.status(&id).await["state"],
        "processing",
        "will be retried"
    );
    // Delivery 3 of 3 is the last: the book is marked failed.
    assert_eq!(
        invoke(3).await.unwrap().status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(app.status(&id).await["state"], "failed");
}

#[tokio::test]
async fn a_timer_invocation_runs() {
    let app = TestApp::spawn().await;
    let host = app.spawn_custom_handler().await;
    app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let payload = json!({
        "Data": { "timer": {
            "Schedule": { "AdjustForDST": true },
            "ScheduleStatus": { "Last": "2026-11-24T09:59:30Z", "Next": "2026-11-24T10:00:30Z", "LastUpdated": "2026-11-24T09:59:30Z" },
            "IsPastDue": false
        } },
        "Metadata": { "sys": { "MethodName": "QueueMetrics" } }
    });
    let response = app
        .client
        .post(format!("http://{host}/QueueMetrics"))
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let result: Value = response.json().await.unwrap();
    assert_eq!(result["Outputs"], json!({}));
    let metrics = app
        .client
        .get(format!("http://{host}/api/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("visiobook_queue_active_messages{queue=\"ingestion\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_non_forwarded_http_invocation_answers_in_outputs_res() {
    let app = TestApp::spawn().await;
    let host = app.spawn_custom_handler().await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let payload = json!({
        "Data": { "req": {
            "Url": format!("http://localhost:7071/api/v1/content/status/{id}"),
            "Method": "GET",
            "Query": {},
            "Headers": {
                "Accept": ["application/json"],
                "X-Request-Id": ["req-42"],
                "Authorization": [format!("Bearer {}", app.session.access_token)],
            },
            "Params": { "id": id },
            "Body": null
        } },
        "Metadata": {}
    });
    let response = app
        .client
        .post(format!("http://{host}/ContentStatus"))
        .json(&payload)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let result: Value = response.json().await.unwrap();
    let res = &result["Outputs"]["res"];
    assert_eq!(res["statusCode"], 200);
    assert_eq!(res["body"]["id"], id.as_str());
    assert_eq!(res["headers"]["x-request-id"], "req-42");

    let missing = json!({ "Data": { "req": {
        "Url": "http://localhost:7071/api/v1/content/status/0123456789abcdef0123456789abcdef",
        "Method": "GET",
        "Headers": { "Authorization": [format!("Bearer {}", app.session.access_token)] },
        "Body": null
    } }, "Metadata": {} });
    let result: Value = app
        .client
        .post(format!("http://{host}/ContentStatus"))
        .json(&missing)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(result["Outputs"]["res"]["statusCode"], 404);
    assert_eq!(
        result["Outputs"]["res"]["body"]["error"]["code"],
        "book_not_found"
    );
}

#[tokio::test]
async fn bad_envelopes_get_4xx_envelope_errors() {
    let app = TestApp::spawn().await;
    let host = app.spawn_custom_handler().await;
    let post = |function: &str, body: String| {
        app.client
            .post(format!("http://{host}/{function}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let check = |response: reqwest::Response, status: StatusCode, code: &'static str| async move {
        assert_eq!(response.status(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code);
    };
    check(
        post("NoSuchFunction", "{}".into()).await.unwrap(),
        StatusCode::NOT_FOUND,
        "function_not_found",
    )
    .await;
    check(
        post("ContentIngest", "{not json".into()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_envelope",
    )
    .await;
    check(
        post("ContentIngest", "[1,2]".into()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_envelope",
    )
    .await;
    check(
        post("ContentIngest", r#"{"Data":{}}"#.into())
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_envelope",
    )
    .await;
    let wrong_type = json!({ "Data": { "message": "{}" }, "Metadata": { "MessageId": "m", "DeliveryCount": "many" } });
    check(
        post("ContentIngest", wrong_type.to_string()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_envelope",
    )
    .await;
    let no_id = json!({ "Data": { "message": "{}" }, "Metadata": { "DeliveryCount": 1 } });
    check(
        post("ContentIngest", no_id.to_string()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_envelope",
    )
    .await;
    let bad_timer = json!({ "Data": { "timer": { "IsPastDue": "yes" } }, "Metadata": {} });
    check(
        post("QueueMetrics", bad_timer.to_string()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_envelope",
    )
    .await;
    let bad_req =
        json!({ "Data": { "req": { "Method": "FETCH ME", "Url": "/x" } }, "Metadata": {} });
    check(
        post("ContentStatus", bad_req.to_string()).await.unwrap(),
        StatusCode::BAD_REQUEST,
        "invalid_envelope",
    )
    .await;
}
