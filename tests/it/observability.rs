//! Logs and traces: the logging endpoints (administrators only, records redacted before they
//! are stored, full-text search with filters, NDJSON export, retention), one correlation id
//! from the upload request through every queue message to the exports, and traces exported to
//! a local server speaking Application Insights' ingestion protocol.

use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Uri};
use chrono::Utc;
use reqwest::StatusCode;
use serde_json::{Value, json};
use visiobook_runtime::settings::LogFormat;

use crate::support::{TestApp, error_code, fixture_bytes};

const ADMIN: &str = "admin@example.com";

async fn search(app: &TestApp, client: &reqwest::Client, query: &str) -> Value {
    let response = client
        .get(app.url(&format!("/api/v1/logs/search?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "search {query}");
    response.json().await.unwrap()
}

fn encoded(time: chrono::DateTime<Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .replace('+', "%2B")
}

#[tokio::test]
async fn logs_are_redacted_before_storage_searched_exported_and_expire() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_ADMIN_EMAILS", ADMIN)]).await;
    let admin = app.client_for(&app.register(ADMIN).await);
    let ingest = "/api/v1/logs/ingest";
    let two_days_ago = Utc::now() - chrono::Duration::days(2);
    let records = json!({ "records": [
        {
            "level": "error", "service": "payments", "correlation_id": "corr-42",
            "message": "charge failed for alice@example.com with card 4242 4242 4242 4242"
        },
        {
            "level": "info", "service": "users",
            "message": "signed in with password=hunter2 from 203.0.113.9",
            "fields": { "authorization": "Bearer abc", "attempts": 2, "user": { "email": "bob@example.org" } }
        },
        {
            "level": "warn", "service": "content", "at": two_days_ago.to_rfc3339(),
            "message": "an old warning about a slow upload"
        }
    ]});
    let refused = app
        .client
        .post(app.url(ingest))
        .json(&records)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "admin_only"
    );
    let bad = admin
        .post(app.url(ingest))
        .json(&json!({ "records": [
            { "level": "info", "service": "users", "message": "fine" },
            { "level": "fatal", "service": "users", "message": "not a level" }
        ]}))
        .send()
        .await
        .unwrap();
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_record");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("records[1]")
    );
    let stored = admin
        .post(app.url(ingest))
        .json(&records)
        .send()
        .await
        .unwrap();
    assert_eq!(stored.status(), StatusCode::ACCEPTED);

    let three_days = format!("from={}", encoded(Utc::now() - chrono::Duration::days(3)));
    let all = search(&app, &admin, &three_days).await;
    // The refused batch stored nothing, not even its valid first record.
    assert_eq!(all["count"], 3, "{all}");
    let everything = all.to_string();
    for secret in [
        "alice@example.com",
        "4242 4242",
        "hunter2",
        "203.0.113.9",
        "Bearer abc",
        "bob@example.org",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} was stored: {everything}"
        );
    }

    let charge = search(&app, &admin, "q=CHARGE%20failed").await;
    assert_eq!(charge["count"], 1);
    assert_eq!(
        charge["records"][0]["message"],
        "charge failed for [EMAIL] with card [CARD]"
    );
    let users = search(&app, &admin, "service=users").await;
    let record = &users["records"][0];
    assert_eq!(
        record["message"],
        "signed in with password=[REDACTED] from [IP]"
    );
    assert_eq!(record["fields"]["authorization"], "[REDACTED]");
    assert_eq!(record["fields"]["user"]["email"], "[EMAIL]");
    assert_eq!(record["fields"]["attempts"], 2);
    let severe = search(&app, &admin, &format!("level=warn&{three_days}")).await;
    let levels: Vec<&str> = severe["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["error", "warn"], "newest first, info left out");
    let correlated = search(&app, &admin, "correlation_id=corr-42").await;
    assert_eq!(correlated["count"], 1);
    // The default window is the last day: the old warning is not in it.
    assert_eq!(search(&app, &admin, "").await["count"], 2);
    for bad_query in [
        "level=loud",
        "from=yesterday",
        "limit=0",
        "from=2020-01-01T00:00:00Z",
    ] {
        let response = admin
            .get(app.url(&format!("/api/v1/logs/search?{bad_query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad_query}");
    }

    let export = admin
        .get(app.url(&format!("/api/v1/logs/export?{three_days}")))
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), StatusCode::OK);
    assert_eq!(
        export.headers()["content-type"].to_str().unwrap(),
        "application/x-ndjson"
    );
    let lines: Vec<Value> = export
        .text()
        .await
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines[0]["message"], "an old warning about a slow upload",
        "oldest first"
    );
    let forbidden = app
        .client
        .get(app.url("/api/v1/logs/export"))
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);

    // Retention of one day removes the day-old partition, and only it.
    let deleted = visiobook_runtime::logs::apply_retention(&app.state, Utc::now(), 1)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(search(&app, &admin, &three_days).await["count"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_correlation_id_follows_a_book_from_the_upload_to_the_exports() {
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_ADMIN_EMAILS", ADMIN),
        ("VISIOBOOK_STORE_LOGS", "info"),
        ("VISIOBOOK_EXPORT_FORMATS", "mp4,srt"),
    ])
    .await;
    // This test's process logs as `visiobook dev` does, into the app's log store.
    let _telemetry = visiobook::telemetry::init(LogFormat::Json, "info", None);
    visiobook::telemetry::forward_to_store(&app.state);
    let admin = app.client_for(&app.register(ADMIN).await);

    let correlation = "upload-7f3a9c";
    let uploaded = app
        .client
        .post(app.url("/api/v1/content/upload?filename=alice.txt"))
        .header("x-request-id", correlation)
        .body(fixture_bytes("alice-short.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::ACCEPTED);
    assert_eq!(uploaded.headers()["x-request-id"], correlation);
    let book: Value = uploaded.json().await.unwrap();
    let book_id = book["id"].as_str().unwrap().to_owned();
    app.drain().await;
    assert_eq!(app.status(&book_id).await["state"], "ready");

    // The forwarder writes in batches: wait for the assembly's records.
    let started = Instant::now();
    let found = loop {
        let found = search(
            &app,
            &admin,
            &format!("correlation_id={correlation}&limit=1000"),
        )
        .await;
        let text = found.to_string();
        if text.contains("\"assembly\"") || started.elapsed() > Duration::from_secs(15) {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let records = found["records"].as_array().unwrap();
    let services: std::collections::BTreeSet<&str> = records
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    let stages: std::collections::BTreeSet<&str> = records
        .iter()
        .filter_map(|r| r["fields"]["stage"].as_str())
        .collect();
    assert!(
        records.iter().any(|r| r["message"] == "book submitted"),
        "the upload's own record: {services:?}"
    );
    for stage in ["ingestion", "analysis", "generation", "assembly"] {
        assert!(
            stages.contains(stage) || services.contains(stage),
            "nothing from {stage} carries the upload's id: {services:?} {stages:?} {}",
            serde_json::to_string_pretty(records).unwrap()
        );
    }
    assert!(
        records.iter().all(|r| r["correlation_id"] == correlation),
        "the filter is exact"
    );
}

/// What the fake ingestion endpoint received: `(path, body, Content-Encoding)`.
type Batches = Arc<Mutex<Vec<(String, Vec<u8>, String)>>>;

#[test]
fn traces_reach_application_insights_when_its_connection_string_is_set() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let seen: Batches = Arc::default();
    let recorded = seen.clone();
    let address = runtime.block_on(async move {
        let app = axum::Router::new().fallback(
            move |uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let recorded = recorded.clone();
                async move {
                    let encoding = headers
                        .get("content-encoding")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    recorded
                        .lock()
                        .unwrap()
                        .push((uri.to_string(), body.to_vec(), encoding));
                    axum::Json(json!({ "itemsReceived": 1, "itemsAccepted": 1, "errors": [] }))
                }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        address
    });
    let key = "6f1c2a3b-0000-4000-8000-00000000abcd";
    let out = tempfile::tempdir().unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_visiobook"))
        .env_remove("VISIOBOOK_DATA_DIR")
        .env("VISIOBOOK_LOG", "info")
        .env(
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            format!("InstrumentationKey={key};IngestionEndpoint=http://{address}/"),
        )
        .arg("package")
        .arg("--out")
        .arg(out.path())
        .status()
        .unwrap();
    assert!(status.success());

    let requests = seen.lock().unwrap().clone();
    assert!(
        !requests.is_empty(),
        "nothing reached the ingestion endpoint"
    );
    let (path, body, encoding) = &requests[0];
    assert_eq!(path, "/v2/track");
    assert_eq!(encoding, "gzip");
    let mut json = String::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .read_to_string(&mut json)
        .unwrap();
    let envelopes: Value = serde_json::from_str(&json).unwrap();
    let envelopes = envelopes.as_array().unwrap();
    let command = envelopes
        .iter()
        .find(|envelope| envelope["data"]["baseData"]["name"] == "visiobook")
        .unwrap_or_else(|| panic!("no span of the command: {json}"));
    assert_eq!(command["iKey"], key);
    assert_eq!(command["tags"]["ai.cloud.role"], "visiobook");
    assert_eq!(
        command["data"]["baseData"]["properties"]["command"],
        "package"
    );
    runtime.shutdown_background();
}
