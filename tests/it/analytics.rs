//! Analytics: events are validated and taken in batches, the KPIs match exactly the events that
//! were sent, before and after the rollup, and the services' own event names are theirs.

use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, error_code};

async fn json_of(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

#[tokio::test]
async fn the_dashboard_kpis_match_the_events_that_were_sent() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_ADMIN_EMAILS", "admin@example.com")]).await;
    let admin_session = app.register("admin@example.com").await;
    let admin = app.client_for(&admin_session);
    let track = |client: &reqwest::Client, body: Value| {
        client
            .post(app.url("/api/v1/analytics/track-event"))
            .json(&body)
            .send()
    };

    // What a service reports for its users (administrators may send the reserved names).
    let mut events = Vec::new();
    for user in ["u1", "u2", "u3"] {
        events.push(json!({ "name": "user.registered", "user_id": user }));
    }
    events.push(json!({ "name": "subscription.activated", "user_id": "u1", "properties": { "plan": "creator" } }));
    for _ in 0..4 {
        events.push(json!({ "name": "stage.started", "user_id": "u1", "properties": { "stage": "analysis" } }));
    }
    events.push(
        json!({ "name": "stage.failed", "user_id": "u1", "properties": { "stage": "analysis" } }),
    );
    for (video, waited) in [(60, 100), (120, 300), (180, 200)] {
        events.push(json!({
            "name": "book.ready",
            "user_id": "u2",
            "properties": { "video_seconds": video, "upload_to_video_seconds": waited },
        }));
    }
    let accepted = json_of(track(&admin, json!({ "events": events })).await.unwrap()).await;
    assert_eq!(accepted, json!({ "accepted": 12, "duplicates": 0 }));

    // A client's own events; the same client id twice counts once.
    let page =
        json!({ "name": "page.view", "id": "view-1", "properties": { "path": "/projects" } });
    assert_eq!(
        json_of(track(&app.client, page.clone()).await.unwrap()).await,
        json!({ "accepted": 1, "duplicates": 0 })
    );
    assert_eq!(
        json_of(
            track(
                &app.client,
                json!({ "events": [page, { "name": "page.view" }] })
            )
            .await
            .unwrap()
        )
        .await,
        json!({ "accepted": 1, "duplicates": 1 })
    );

    // Refused, and a refused batch stores nothing of itself.
    for (body, status, code) in [
        (
            json!({ "name": "book.ready" }),
            StatusCode::FORBIDDEN,
            "reserved_event",
        ),
        (
            json!({ "name": "Page View" }),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            json!({ "events": [{ "name": "ok.one" }, { "name": "nested", "properties": { "a": { "b": 1 } } }] }),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            json!({ "name": "late", "timestamp": (Utc::now() - Duration::days(8)).to_rfc3339() }),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            json!({ "name": "soon", "timestamp": (Utc::now() + Duration::hours(1)).to_rfc3339() }),
            StatusCode::BAD_REQUEST,
            "invalid_event",
        ),
        (
            json!({ "events": vec![json!({ "name": "x" }); 101] }),
            StatusCode::BAD_REQUEST,
            "invalid_batch",
        ),
        (
            json!({ "name": 7 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_body",
        ),
    ] {
        let response = track(&app.client, body.clone()).await.unwrap();
        assert_eq!(error_code(response, status).await, code, "{body}");
    }
    let refused = app.get("/api/v1/analytics/kpis").await;
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "admin_only"
    );

    // reader and admin registered for real (server events), u1..u3 were reported: five new
    // users, one of them paid; five active users (the page views are the reader's).
    let expected = json!({
        "books_processed": 3,
        "books_submitted": 0,
        "books_failed": 0,
        "render_minutes": 6.0,
        "active_users": 5,
        "new_users": 5,
        "new_paid_users": 1,
        "conversion_to_paid": 0.2,
        "failure_rate_by_stage": { "analysis": { "runs": 4, "failures": 1, "rate": 0.25 } },
        "median_upload_to_video_seconds": 200.0,
        "events": 12 + 2 + 2,
    });
    let kpis = json_of(
        admin
            .get(app.url("/api/v1/analytics/kpis"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(kpis["kpis"], expected);
    let dashboard = json_of(
        admin
            .get(app.url("/api/v1/analytics/dashboard"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(dashboard["kpis"]["last_24_hours"], expected);
    assert_eq!(dashboard["kpis"]["last_30_days"], expected);
    assert_eq!(
        dashboard["top_events_30_days"][0],
        json!({ "name": "user.registered", "count": 5 })
    );
    assert_eq!(
        dashboard["top_events_30_days"][1],
        json!({ "name": "stage.started", "count": 4 })
    );
    let today = dashboard["daily"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(today["events"], 16);

    // The rollup writes hourly and daily aggregates; the same KPIs come out of them.
    let rolled = visiobook_runtime::analytics::roll_up(&app.state, Utc::now() + Duration::hours(2))
        .await
        .unwrap();
    assert!(!rolled.is_empty());
    let hour = visiobook_runtime::analytics::hour_key(Utc::now());
    assert!(rolled.contains(&hour), "{rolled:?}");
    let stored = app
        .state
        .documents
        .read(
            visiobook_runtime::analytics::HOURLY_CONTAINER,
            &hour[..10],
            &hour,
        )
        .await
        .unwrap()
        .expect("the hour was rolled up");
    assert_eq!(stored.body["events"], 16);
    let after = json_of(
        admin
            .get(app.url("/api/v1/analytics/kpis"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(after["kpis"], expected);

    let report = json_of(
        admin
            .get(app.url("/api/v1/analytics/reports?granularity=hour&name=page.view"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let points = report["series"].as_array().unwrap();
    assert_eq!(points.len(), 30 * 24);
    let current = points.iter().find(|point| point["period"] == hour).unwrap();
    assert_eq!(current["counts"], json!({ "page.view": 2 }));
    let bad = admin
        .get(app.url("/api/v1/analytics/reports?granularity=minute"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(bad, StatusCode::BAD_REQUEST).await,
        "invalid_granularity"
    );
}
