//! Payments, subscriptions and metering: the labelled local provider, Stripe Checkout through a
//! local server speaking Stripe's API, webhooks signed by the official `stripe` Python library
//! (forged, tampered, stale and replayed ones refused or ignored), quotas refused with 402
//! before any work, and renders charged once whatever is delivered again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::{Value, json};
use visiobook_domain::{Stage, StageMessage};
use visiobook_ports::OutgoingMessage;

use visiobook_host::worker::Outcome;

use crate::support::{TestApp, error_code, fixture_bytes, validators_dir};

const WEBHOOK_SECRET: &str = "whsec_visiobook_test_secret";

/// What the fake Stripe saw: `(method and path, Authorization, Idempotency-Key, form)`.
type Seen = Arc<Mutex<Vec<(String, String, String, Vec<(String, String)>)>>>;

/// A local server answering the parts of Stripe's API Visiobook calls, as documented:
/// form-encoded bodies, bearer secret keys, JSON objects back.
async fn fake_stripe() -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    fn remember(seen: &Seen, what: String, headers: &HeaderMap, body: &str) {
        let form = form_urlencoded::parse(body.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        seen.lock().unwrap().push((
            what,
            header("authorization"),
            header("idempotency-key"),
            form,
        ));
    }
    let app = axum::Router::new()
        .route(
            "/v1/checkout/sessions",
            post(
                |State(seen): State<Seen>, headers: HeaderMap, body: String| async move {
                    remember(&seen, "POST /v1/checkout/sessions".into(), &headers, &body);
                    let id = format!("cs_test_{}", seen.lock().unwrap().len());
                    axum::Json(json!({
                        "id": id,
                        "object": "checkout.session",
                        "url": format!("https://checkout.stripe.com/c/pay/{id}"),
                    }))
                },
            ),
        )
        .route(
            "/v1/subscriptions/{id}",
            post(
                |State(seen): State<Seen>,
                 Path(id): Path<String>,
                 headers: HeaderMap,
                 body: String| async move {
                    remember(
                        &seen,
                        format!("POST /v1/subscriptions/{id}"),
                        &headers,
                        &body,
                    );
                    axum::Json(json!({
                        "id": id,
                        "object": "subscription",
                        "status": "active",
                        "cancel_at_period_end": true,
                    }))
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, seen)
}

/// `Stripe-Signature` for `payload`, made by the official library
/// (`stripe.WebhookSignature.generate_signature_header`).
fn stripe_signature(payload: &str, secret: &str, timestamp: i64) -> String {
    let output = std::process::Command::new("python3")
        .env("PYTHONPATH", validators_dir())
        .args([
            "-c",
            "import sys, stripe; print(stripe.WebhookSignature.generate_signature_header(sys.stdin.read(), sys.argv[1], int(sys.argv[2])))",
            secret,
            &timestamp.to_string(),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child.stdin.take().unwrap().write_all(payload.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(output.status.success(), "the stripe library signs");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

async fn send_event(app: &TestApp, payload: &str, signature: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(app.url("/api/v1/payments/webhook"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(payload.to_owned())
        .send()
        .await
        .unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_local_provider_activates_at_once_says_so_and_sells_minutes_once_per_key() {
    let app = TestApp::spawn().await;
    let plans = json_of(
        reqwest::Client::new()
            .get(app.url("/api/v1/billing/plans"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(plans["provider"], "local");
    assert_eq!(plans["plans"][0]["name"], "free");

    let free = app
        .client
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({ "plan": "free" }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(free, StatusCode::BAD_REQUEST).await, "free_plan");
    let created = app
        .client
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({ "plan": "creator" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let subscription = json_of(created).await;
    assert_eq!(subscription["status"], "active");
    assert_eq!(subscription["provider"], "local");
    assert!(
        subscription["note"]
            .as_str()
            .unwrap()
            .contains("no money was taken")
    );
    let id = subscription["id"].as_str().unwrap().to_owned();
    let again = app
        .client
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({ "plan": "studio" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(again, StatusCode::CONFLICT).await,
        "already_subscribed"
    );

    let status = json_of(app.get(&format!("/api/v1/subscriptions/{id}/status")).await).await;
    assert_eq!(status["plan_in_force"], "creator");
    assert_eq!(status["entitlements"]["max_resolution"], 1080);
    assert_eq!(status["usage"]["books"]["allowed"], 30);
    let flags = json_of(app.get("/api/v1/feature-flags").await).await;
    assert_eq!(flags["plan"], "creator", "flags target the plan in force");

    // Someone else's subscription does not exist for them.
    let other = app.client_for(&app.register("other@example.com").await);
    for response in [
        other
            .get(app.url(&format!("/api/v1/subscriptions/{id}/status")))
            .send()
            .await
            .unwrap(),
        other
            .put(app.url(&format!("/api/v1/subscriptions/{id}/cancel")))
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(
            error_code(response, StatusCode::NOT_FOUND).await,
            "subscription_not_found"
        );
    }

    // Minutes: an Idempotency-Key is required, and the same key pays once.
    let buy = |key: Option<&'static str>, minutes: u32| {
        let mut request = app
            .client
            .post(app.url("/api/v1/payments/process"))
            .json(&json!({ "minutes": minutes }));
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        request.send()
    };
    assert_eq!(
        error_code(buy(None, 100).await.unwrap(), StatusCode::BAD_REQUEST).await,
        "idempotency_key_required"
    );
    let first = buy(Some("order-1"), 100).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = json_of(first).await;
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["amount_cents"], 400);
    let retried = buy(Some("order-1"), 100).await.unwrap();
    assert_eq!(retried.status(), StatusCode::OK);
    assert_eq!(json_of(retried).await["id"], first["id"]);
    assert_eq!(
        error_code(
            buy(Some("order-1"), 200).await.unwrap(),
            StatusCode::CONFLICT
        )
        .await,
        "idempotency_key_reused"
    );
    let history = json_of(app.get("/api/v1/billing/history").await).await;
    assert_eq!(
        history["usage"]["narration_minutes"]["allowed"],
        1_200 + 100,
        "the minutes were added once: {history}"
    );
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["payment.succeeded", "subscription.activated"]);

    let canceled = json_of(
        app.client
            .put(app.url(&format!("/api/v1/subscriptions/{id}/cancel")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(canceled["status"], "canceled");
    let flags = json_of(app.get("/api/v1/feature-flags").await).await;
    assert_eq!(flags["plan"], "free");
}

#[tokio::test]
async fn stripe_checkout_and_signed_webhooks_drive_the_subscription_and_forgeries_are_refused() {
    let (stripe, seen) = fake_stripe().await;
    let api_base = format!("http://{stripe}");
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_PAYMENT_PROVIDER", "stripe"),
        ("STRIPE_API_KEY", "sk_test_visiobook"),
        ("VISIOBOOK_STRIPE_API_BASE", &api_base),
        (
            "VISIOBOOK_STRIPE_PRICES",
            "creator=price_creator,studio=price_studio",
        ),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
    ])
    .await;
    let user = app.session.user_id.clone();

    let created = app
        .client
        .post(app.url("/api/v1/subscriptions"))
        .json(&json!({ "plan": "creator" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let subscription = json_of(created).await;
    assert_eq!(subscription["status"], "incomplete");
    assert_eq!(subscription["provider"], "stripe");
    assert!(
        subscription.get("note").is_none(),
        "real payments carry no local label"
    );
    let id = subscription["id"].as_str().unwrap().to_owned();
    let checkout_url = subscription["checkout_url"].as_str().unwrap();
    assert!(checkout_url.starts_with("https://checkout.stripe.com/"));
    {
        let seen = seen.lock().unwrap();
        let (what, authorization, idempotency, form) = &seen[0];
        assert_eq!(what, "POST /v1/checkout/sessions");
        assert_eq!(authorization, "Bearer sk_test_visiobook");
        assert_eq!(idempotency, &id, "the subscription id keys the call");
        let field = |name: &str| {
            form.iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
        };
        assert_eq!(field("mode"), Some("subscription"));
        assert_eq!(field("line_items[0][price]"), Some("price_creator"));
        assert_eq!(field("client_reference_id"), Some(user.as_str()));
        assert_eq!(field("metadata[subscription_id]"), Some(id.as_str()));
        assert_eq!(
            field("subscription_data[metadata][subscription_id]"),
            Some(id.as_str())
        );
    }
    let flags = json_of(app.get("/api/v1/feature-flags").await).await;
    assert_eq!(flags["plan"], "free", "nothing is granted before payment");

    let completed = json!({
        "id": "evt_checkout_1",
        "object": "event",
        "type": "checkout.session.completed",
        "created": now(),
        "data": { "object": {
            "id": "cs_test_1",
            "object": "checkout.session",
            "mode": "subscription",
            "payment_status": "paid",
            "status": "complete",
            "subscription": "sub_stripe_1",
            "customer": "cus_1",
            "client_reference_id": user,
            "amount_total": 900,
            "currency": "eur",
            "metadata": { "user_id": user, "subscription_id": id },
        }},
    })
    .to_string();

    // Forgeries first: none of them changes anything.
    let wrong_secret = stripe_signature(&completed, "whsec_someone_else", now());
    assert_eq!(
        error_code(
            send_event(&app, &completed, &wrong_secret).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid_signature"
    );
    let signed = stripe_signature(&completed, WEBHOOK_SECRET, now());
    let tampered = completed.replace("\"paid\"", "\"unpaid\"");
    assert_eq!(
        error_code(
            send_event(&app, &tampered, &signed).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid_signature"
    );
    let stale = stripe_signature(&completed, WEBHOOK_SECRET, now() - 600);
    assert_eq!(
        error_code(
            send_event(&app, &completed, &stale).await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "signature_expired"
    );
    assert_eq!(
        error_code(
            send_event(&app, &completed, "").await,
            StatusCode::BAD_REQUEST
        )
        .await,
        "invalid_signature"
    );
    let status_url = format!("/api/v1/subscriptions/{id}/status");
    assert_eq!(
        json_of(app.get(&status_url).await).await["status"],
        "incomplete"
    );

    // The genuine event activates the subscription; a replay of it is acknowledged and ignored.
    let accepted = send_event(&app, &completed, &signed).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(json_of(accepted).await["outcome"], "subscription activated");
    let replayed = send_event(
        &app,
        &completed,
        &stripe_signature(&completed, WEBHOOK_SECRET, now()),
    )
    .await;
    assert_eq!(replayed.status(), StatusCode::OK);
    assert_eq!(json_of(replayed).await["duplicate"], true);
    let status = json_of(app.get(&status_url).await).await;
    assert_eq!(status["status"], "active");
    assert_eq!(status["plan_in_force"], "creator");

    // An invoice in the shape of recent API versions (the subscription under `parent`).
    let invoice = json!({
        "id": "evt_invoice_1",
        "object": "event",
        "type": "invoice.paid",
        "created": now(),
        "data": { "object": {
            "id": "in_1",
            "object": "invoice",
            "number": "VB-0001",
            "amount_paid": 900,
            "currency": "eur",
            "customer": "cus_1",
            "parent": { "type": "subscription_details",
                        "subscription_details": { "subscription": "sub_stripe_1" } },
        }},
    })
    .to_string();
    for _ in 0..2 {
        let response = send_event(
            &app,
            &invoice,
            &stripe_signature(&invoice, WEBHOOK_SECRET, now()),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let history = json_of(app.get("/api/v1/billing/history").await).await;
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "invoice.paid",
            "subscription.activated",
            "subscription.created"
        ],
        "one line per event, however often it arrives"
    );
    assert_eq!(history["items"][0]["amount_cents"], 900);
    let metrics = app.get("/api/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(
            r#"visiobook_payment_transactions_total{provider="stripe",outcome="succeeded"} 1"#
        ),
        "{metrics}"
    );

    // Cancelling asks Stripe to end at the period's end; the deletion event ends the plan.
    let canceled = json_of(
        app.client
            .put(app.url(&format!("/api/v1/subscriptions/{id}/cancel")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(canceled["status"], "active");
    assert_eq!(canceled["cancel_at_period_end"], true);
    {
        let seen = seen.lock().unwrap();
        let (what, _, _, form) = seen.last().unwrap();
        assert_eq!(what, "POST /v1/subscriptions/sub_stripe_1");
        assert_eq!(
            form,
            &vec![("cancel_at_period_end".to_owned(), "true".to_owned())]
        );
    }
    let deleted = json!({
        "id": "evt_deleted_1",
        "object": "event",
        "type": "customer.subscription.deleted",
        "created": now(),
        "data": { "object": {
            "id": "sub_stripe_1",
            "object": "subscription",
            "status": "canceled",
            "customer": "cus_1",
            "items": { "data": [ { "current_period_end": now() } ] },
        }},
    })
    .to_string();
    let response = send_event(
        &app,
        &deleted,
        &stripe_signature(&deleted, WEBHOOK_SECRET, now()),
    )
    .await;
    assert_eq!(json_of(response).await["outcome"], "subscription canceled");
    // A late `updated` event cannot bring it back.
    let late = deleted
        .replace("evt_deleted_1", "evt_late_1")
        .replace(
            "customer.subscription.deleted",
            "customer.subscription.updated",
        )
        .replace("\"canceled\"", "\"active\"");
    send_event(&app, &late, &stripe_signature(&late, WEBHOOK_SECRET, now())).await;
    let status = json_of(app.get(&status_url).await).await;
    assert_eq!(status["status"], "canceled");
    assert_eq!(status["plan_in_force"], "free");
}

/// Sets the free plan's allowance through the configuration service, as an operator would.
async fn limit_free_plan(app: &TestApp, admin: &reqwest::Client, limits: Value) {
    let url = app.url("/api/v1/config/billing");
    let etag = admin
        .get(&url)
        .send()
        .await
        .unwrap()
        .headers()
        .get("etag")
        .map(|etag| etag.to_str().unwrap().to_owned());
    let mut request = admin
        .put(&url)
        .json(&json!({ "values": { "plans": { "free": limits } } }));
    if let Some(etag) = etag {
        request = request.header("if-match", etag);
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "{}",
        response.text().await.unwrap()
    );
}

#[tokio::test]
async fn renders_over_quota_are_refused_with_402_before_any_work_starts() {
    let app = TestApp::spawn_with(&[("VISIOBOOK_ADMIN_EMAILS", "admin@example.com")]).await;
    let admin = app.client_for(&app.register("admin@example.com").await);
    limit_free_plan(&app, &admin, json!({ "books_per_month": 1 })).await;

    let book = fixture_bytes("alice-chapter-1.txt");
    let admitted = app.upload_ok(book.clone()).await;
    let refused = app.upload(book.clone()).await;
    assert_eq!(refused.status(), StatusCode::PAYMENT_REQUIRED);
    let body = json_of(refused).await;
    assert_eq!(body["error"]["code"], "quota_exceeded");
    assert_eq!(
        body["error"]["details"],
        json!({ "plan": "free", "resource": "books", "left": 0, "needed": 1,
                "period": body["error"]["details"]["period"] })
    );
    // Nothing was stored or queued for the refused render: one ingestion message, the admitted
    // book's.
    assert_ne!(app.step(Stage::Ingestion.queue()).await, Outcome::Idle);
    assert_eq!(app.step(Stage::Ingestion.queue()).await, Outcome::Idle);
    assert_eq!(
        app.status(&admitted).await["stages"]["ingestion"]["state"],
        "done"
    );

    // Minutes: a book that needs more narration than is left is refused with both numbers.
    limit_free_plan(
        &app,
        &admin,
        json!({ "books_per_month": 10, "narration_minutes": 3 }),
    )
    .await;
    let refused = json_of(app.upload(book.clone()).await).await;
    assert_eq!(refused["error"]["code"], "quota_exceeded");
    assert_eq!(refused["error"]["details"]["resource"], "narration_minutes");
    let needed = refused["error"]["details"]["needed"].as_u64().unwrap();
    let left = refused["error"]["details"]["left"].as_u64().unwrap();
    assert!(needed > left, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{left} narration_minutes left")),
        "{message}"
    );

    // A preset taller than the plan allows is refused for what it is.
    let file = json_of(
        app.client
            .post(app.url("/api/v1/storage/upload?filename=alice.txt"))
            .body(book)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let project = app
        .client
        .post(app.url("/api/v1/projects"))
        .json(&json!({ "name": "tall", "file_id": file["id"], "settings": { "preset": "final" } }))
        .send()
        .await
        .unwrap();
    assert_eq!(project.status(), StatusCode::CREATED);
    let project = json_of(project).await;
    let project_id = project["id"].as_str().unwrap();
    let render = app
        .client
        .post(app.url(&format!("/api/v1/projects/{project_id}/render")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(render, StatusCode::PAYMENT_REQUIRED).await,
        "not_in_plan"
    );
}

#[tokio::test]
async fn a_finished_render_is_charged_its_narration_once_whatever_is_delivered_again() {
    let app = TestApp::spawn().await;
    let id = app.upload_ok(fixture_bytes("alice-short.txt")).await;
    let reserved = json_of(app.get("/api/v1/billing/history").await).await;
    assert_eq!(reserved["usage"]["books"]["used"], 1);
    let estimate = reserved["usage"]["narration_minutes"]["reserved"]
        .as_u64()
        .unwrap();
    assert!(estimate >= 1);
    assert_eq!(reserved["usage"]["narration_minutes"]["used"], 0);

    app.drain().await;
    let status = app.status(&id).await;
    assert_eq!(status["state"], "ready");
    let narration_ms = status["stages"]["generation"]["counts"]["narration_ms"]
        .as_u64()
        .unwrap();
    let minutes = narration_ms.div_ceil(60_000);
    let settled = json_of(app.get("/api/v1/billing/history").await).await;
    let expected = json!({ "allowed": 120, "used": minutes, "reserved": 0, "left": 120 - minutes });
    assert_eq!(settled["usage"]["narration_minutes"], expected);

    // The assembly message delivered again (a redelivery after a lost lock, a resumed job):
    // the stage is done, the book is handed over again, and nothing more is charged.
    let message = StageMessage {
        book_id: id.clone(),
        correlation_id: status["correlation_id"].as_str().unwrap().to_owned(),
    };
    app.state
        .queue
        .send(
            Stage::Assembly.queue(),
            OutgoingMessage::new(
                "assembly-again".to_owned(),
                serde_json::to_vec(&message).unwrap(),
            ),
        )
        .await
        .unwrap();
    app.drain().await;
    let again = json_of(app.get("/api/v1/billing/history").await).await;
    assert_eq!(again["usage"]["narration_minutes"], expected);
    assert_eq!(again["usage"]["books"]["used"], 1);

    // The pipeline reported the book to analytics once, with its video's length.
    let now = chrono::Utc::now();
    let seen = visiobook_runtime::analytics::window(
        &app.state,
        now - chrono::Duration::hours(2),
        now + chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    let kpis = seen.kpis();
    assert_eq!(kpis["books_submitted"], 1);
    assert_eq!(kpis["books_processed"], 1);
    let video_ms = status["stages"]["assembly"]["counts"]["duration_ms"]
        .as_f64()
        .unwrap();
    let minutes = (video_ms / 60_000.0 * 100.0).round() / 100.0;
    assert_eq!(kpis["render_minutes"], minutes);
    for stage in ["ingestion", "analysis", "generation", "assembly"] {
        assert_eq!(kpis["failure_rate_by_stage"][stage]["runs"], 1, "{kpis}");
    }
}
