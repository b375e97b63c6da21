//! The alerting rules shipped for the AKS side are valid for Prometheus.

#[test]
fn the_alert_rules_pass_promtool() {
    let rules =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("aks/monitoring/visiobook-rules.yml");
    let output = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules)
        .output()
        .expect("promtool (scripts/test installs Debian's prometheus package)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("SUCCESS: 9 rules found"), "{text}");
}

#[tokio::test]
async fn the_monitoring_routes_are_for_admins_and_take_alertmanager_payloads() {
    use reqwest::StatusCode;
    use serde_json::{Value, json};

    use crate::support::{TestApp, error_code, fixture_bytes};

    let app = TestApp::spawn_with(&[("VISIOBOOK_ADMIN_EMAILS", "admin@example.com")]).await;
    for path in ["/api/v1/metrics/system", "/api/v1/metrics/business"] {
        let refused = app.get(path).await;
        assert_eq!(
            error_code(refused, StatusCode::FORBIDDEN).await,
            "admin_only",
            "{path}"
        );
    }
    app.upload_ok(fixture_bytes("alice-short.txt")).await;
    app.drain().await;
    let admin = app.client_for(&app.register("admin@example.com").await);
    let system: Value = admin
        .get(app.url("/api/v1/metrics/system"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        system["process"]["resident_memory_bytes"].as_u64().unwrap() > 1_000_000,
        "{system}"
    );
    assert_eq!(system["queues"]["ingestion"]["active"], 0, "{system}");
    assert_eq!(
        system["queues"]["notifications"]["dead_letter"], 0,
        "{system}"
    );
    let business: Value = admin
        .get(app.url("/api/v1/metrics/business"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let processed = &business["series"]["visiobook_content_processed_total"][0];
    assert_eq!(processed["labels"]["format"], "text", "{business}");
    assert_eq!(processed["value"], 1.0);
    assert!(
        business["series"]["visiobook_animations_generated_total"][0]["value"]
            .as_f64()
            .unwrap()
            >= 1.0
    );

    // An Alertmanager (version 4) notification, firing then resolved.
    let payload = |status: &str| {
        json!({
            "version": "4",
            "groupKey": "{}:{alertname=\"BooksFailing\"}",
            "status": status,
            "receiver": "visiobook",
            "groupLabels": { "alertname": "BooksFailing" },
            "commonLabels": { "alertname": "BooksFailing", "severity": "warning" },
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": [{
                "status": status,
                "labels": { "alertname": "BooksFailing", "severity": "warning" },
                "annotations": { "summary": "Books are failing" },
                "startsAt": "2026-11-24T15:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "c2b8f2d1e3a4b5c6"
            }]
        })
    };
    let refused = app
        .client
        .post(app.url("/api/v1/alerts/webhook"))
        .json(&payload("firing"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    for status in ["firing", "resolved"] {
        let accepted = admin
            .post(app.url("/api/v1/alerts/webhook"))
            .json(&payload(status))
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    }
    let stored = app
        .state
        .documents
        .query("alerts", "alerts", &visiobook_ports::Query::default(), None)
        .await
        .unwrap();
    assert_eq!(
        stored.items.len(),
        1,
        "the resolution updates the same alert"
    );
    assert_eq!(stored.items[0].body["status"], "resolved");
    let wrong = admin
        .post(app.url("/api/v1/alerts/webhook"))
        .json(&json!({ "version": "3", "status": "firing", "alerts": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(wrong, StatusCode::BAD_REQUEST).await,
        "unsupported_version"
    );
}

#[tokio::test]
async fn queue_counts_service_bus_rest_cannot_give_are_reported_missing_not_as_a_failure() {
    use reqwest::StatusCode;
    use serde_json::Value;
    use visiobook_host::{Handler, TimerInvocation};

    use crate::support::TestApp;

    // The REST queue answers counts without a request (REST cannot count), so the namespace
    // is never contacted.
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_ADMIN_EMAILS", "admin@example.com"),
        ("VISIOBOOK_QUEUE", "azure"),
        (
            "VISIOBOOK_SERVICEBUS_NAMESPACE",
            "visiobook-test.servicebus.windows.net",
        ),
    ])
    .await;
    let admin = app.client_for(&app.register("admin@example.com").await);
    let response = admin
        .get(app.url("/api/v1/metrics/system"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let system: Value = response.json().await.unwrap();
    let ingestion = &system["queues"]["ingestion"];
    assert!(ingestion["active"].is_null(), "{system}");
    assert!(
        ingestion["unavailable"]
            .as_str()
            .unwrap()
            .contains("management rights"),
        "{system}"
    );

    // The metrics timer carries on without the queue gauges.
    let Some(Handler::Timer(handler)) = app.registry.get("QueueMetrics").map(|f| &f.handler) else {
        panic!("QueueMetrics is a timer function");
    };
    let tick = TimerInvocation {
        is_past_due: false,
        last: None,
        next: None,
    };
    handler(app.state.clone(), tick).await.unwrap();
    let metrics = app.get("/api/metrics").await.text().await.unwrap();
    assert!(metrics.contains("visiobook_"), "{metrics}");
    assert!(
        !metrics.contains("queue_active_messages{queue=\"ingestion\"}"),
        "{metrics}"
    );
}
