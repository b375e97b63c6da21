//! Pushed notifications: the local WebSocket (token in the query, someone else's events never
//! shown, a reconnect after the last id misses nothing), Azure Web PubSub through a local
//! server speaking its REST protocol (HS256 tokens whose audience is the request URL), and
//! users' webhooks, signed and retried with back-off until accepted, delivered once.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode as AxumStatus, Uri};
use futures_util::StreamExt as _;
use hmac::{Hmac, Mac as _};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{TestApp, error_code};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn send_message(client: &reqwest::Client, app: &TestApp, message: &str) -> Value {
    let sent = client
        .post(app.url("/api/v1/notifications/send"))
        .json(&json!({ "message": message }))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::CREATED);
    sent.json().await.unwrap()
}

/// The next notification on the socket (skipping control frames), within five seconds.
async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a notification within five seconds")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_socket_pushes_the_callers_events_and_resumes_after_the_last_id() {
    let app = TestApp::spawn().await;
    let negotiated: Value = app
        .get("/api/v1/notifications/negotiate")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(negotiated["transport"], "websocket");
    let url = negotiated["url"].as_str().unwrap();
    let query = url
        .split_once("/ws/notifications?")
        .expect("the local socket")
        .1;
    let socket_url = format!("ws://{}/ws/notifications?{query}", app.address);
    let (mut socket, _) = tokio_tungstenite::connect_async(&socket_url).await.unwrap();

    let first = send_message(&app.client, &app, "First chapter read").await;
    let pushed = next_event(&mut socket).await;
    assert_eq!(pushed["id"], first["id"]);
    assert_eq!(pushed["message"], "First chapter read");

    // Another user's event never reaches this socket.
    let other = app.register("other@example.com").await;
    send_message(&app.client_for(&other), &app, "Not for the reader").await;
    let second = send_message(&app.client, &app, "Second chapter read").await;
    assert_eq!(next_event(&mut socket).await["id"], second["id"]);
    socket.close(None).await.unwrap();

    // Published while disconnected; the reconnect names the last id it saw.
    let third = send_message(&app.client, &app, "Third chapter read").await;
    let resumed = format!(
        "{socket_url}&last_event_id={}",
        second["id"].as_str().unwrap()
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(&resumed).await.unwrap();
    let event = next_event(&mut socket).await;
    assert_eq!(event["id"], third["id"]);
    assert_eq!(event["message"], "Third chapter read");

    // No token, or a forged one: the handshake is refused.
    for bad in [
        format!("ws://{}/ws/notifications", app.address),
        format!(
            "ws://{}/ws/notifications?access_token=forged.token.here",
            app.address
        ),
    ] {
        match tokio_tungstenite::connect_async(&bad).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{bad}");
            }
            other => panic!("{bad} was not refused: {other:?}"),
        }
    }
    // The query token is for sockets only: the API's routes still want the header.
    let token = query.trim_start_matches("access_token=");
    let history = reqwest::Client::new()
        .get(app.url(&format!(
            "/api/v1/notifications/history?access_token={token}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(history.status(), StatusCode::UNAUTHORIZED);
}

/// What the fake service saw: `(path and query, Authorization, body)`.
type Seen = Arc<Mutex<Vec<(String, String, String, Instant)>>>;

/// A local server that records every request and answers each with the next status of
/// `statuses` (the last one repeating).
async fn recorder(statuses: Vec<u16>) -> (SocketAddr, Seen) {
    let seen: Seen = Arc::default();
    let recorded = seen.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: String| {
        let recorded = recorded.clone();
        let statuses = statuses.clone();
        async move {
            let mut seen = recorded.lock().unwrap();
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            };
            let summary = format!(
                "{}|{}|{}|{}",
                header("authorization"),
                header("visiobook-signature"),
                header("visiobook-event-id"),
                header("visiobook-delivery-attempt")
            );
            let status = statuses[seen.len().min(statuses.len() - 1)];
            seen.push((uri.to_string(), summary, body, Instant::now()));
            AxumStatus::from_u16(status).unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, seen)
}

fn claims_of(token: &str, key: &[u8], audience: &str) -> Value {
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "aud"]);
    jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(key),
        &validation,
    )
    .expect("a token signed with the access key, for this audience")
    .claims
}

#[tokio::test(flavor = "multi_thread")]
async fn web_pubsub_gets_each_event_for_its_user_with_a_token_for_that_request() {
    let (address, seen) = recorder(vec![202]).await;
    let key = "dGhlLWFjY2Vzcy1rZXktb2YtdGhlLWh1Yg==";
    let connection = format!("Endpoint=http://{address};AccessKey={key};Version=1.0;");
    let app = TestApp::spawn_with(&[
        (
            "VISIOBOOK_WEB_PUBSUB_CONNECTION_STRING",
            connection.as_str(),
        ),
        ("VISIOBOOK_WEB_PUBSUB_HUB", "books"),
    ])
    .await;
    let sent = send_message(&app.client, &app, "Your book is on its way").await;

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    let (path, headers, body, _) = &requests[0];
    let user = &app.session.user_id;
    assert_eq!(
        path,
        &format!("/api/hubs/books/users/{user}/:send?api-version=2024-12-01")
    );
    let token = headers
        .split('|')
        .next()
        .unwrap()
        .strip_prefix("Bearer ")
        .unwrap();
    let claims = claims_of(token, key.as_bytes(), &format!("http://{address}{path}"));
    assert!(claims["exp"].as_u64().unwrap() <= claims["iat"].as_u64().unwrap() + 60);
    let pushed: Value = serde_json::from_str(body).unwrap();
    assert_eq!(pushed["id"], sent["id"]);
    assert_eq!(pushed["message"], "Your book is on its way");

    // The browser is sent to the hub with a token naming the user.
    let negotiated: Value = app
        .get("/api/v1/notifications/negotiate")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(negotiated["transport"], "web_pubsub");
    let (socket, token) = negotiated["url"]
        .as_str()
        .unwrap()
        .split_once("?access_token=")
        .unwrap();
    assert_eq!(socket, format!("ws://{address}/client/hubs/books"));
    let claims = claims_of(
        token,
        key.as_bytes(),
        &format!("http://{address}/client/hubs/books"),
    );
    assert_eq!(claims["sub"], user.as_str());

    // Web PubSub down: the event is still stored, and the stream and history have it.
    let down = TestApp::spawn_with(&[(
        "VISIOBOOK_WEB_PUBSUB_CONNECTION_STRING",
        "Endpoint=http://127.0.0.1:9;AccessKey=k;Version=1.0;",
    )])
    .await;
    let kept = send_message(&down.client, &down, "Stored all the same").await;
    let history: Value = down
        .get("/api/v1/notifications/history")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["items"][0]["id"], kept["id"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn webhooks_are_signed_retried_with_back_off_and_delivered_once() {
    // Refused twice, then accepted.
    let (address, seen) = recorder(vec![503, 500, 200]).await;
    let app = TestApp::spawn_with(&[
        ("VISIOBOOK_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("VISIOBOOK_WEBHOOK_BACKOFF_MS", "300"),
    ])
    .await;
    let webhook = "/api/v1/notifications/webhook";
    let bad = app
        .client
        .put(app.url(webhook))
        .json(&json!({ "url": "ftp://example.com/hook" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(bad, StatusCode::BAD_REQUEST).await,
        "invalid_webhook_url"
    );
    let none = app.get(webhook).await;
    assert_eq!(error_code(none, StatusCode::NOT_FOUND).await, "no_webhook");
    let hook_url = format!("http://{address}/hooks/visiobook");
    let set: Value = app
        .client
        .put(app.url(webhook))
        .json(&json!({ "url": hook_url }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = set["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{set}");
    let shown: Value = app.get(webhook).await.json().await.unwrap();
    assert_eq!(shown["url"], hook_url.as_str());
    assert!(shown.get("secret").is_none(), "{shown}");

    let event = send_message(&app.client, &app, "The audiobook is ready").await;
    let event_id = event["id"].as_str().unwrap();
    let started = Instant::now();
    while seen.lock().unwrap().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "three attempts within 20 s: {:?}",
            seen.lock().unwrap()
        );
        app.drain().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Nothing more once accepted, even when the last attempt's message comes again.
    let again = json!({ "webhook": { "user_id": app.session.user_id, "event_id": event_id, "attempt": 3 } });
    app.state
        .queue
        .send(
            "notifications",
            visiobook_ports::OutgoingMessage::new("replayed-attempt", again.to_string()),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.drain().await;

    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 3, "{requests:?}");
    for (index, (path, headers, body, _)) in requests.iter().enumerate() {
        assert_eq!(path, "/hooks/visiobook");
        let parts: Vec<&str> = headers.split('|').collect();
        let (signature, id, attempt) = (parts[1], parts[2], parts[3]);
        assert_eq!(id, event_id);
        assert_eq!(attempt, (index + 1).to_string());
        let (t, v1) = signature
            .strip_prefix("t=")
            .unwrap()
            .split_once(",v1=")
            .unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{body}").as_bytes());
        mac.verify_slice(&hex::decode(v1).unwrap())
            .expect("the signature verifies with the webhook's secret");
        let payload: Value = serde_json::from_str(body).unwrap();
        assert_eq!(payload["id"], event_id);
        assert_eq!(payload["type"], "message");
        assert_eq!(payload["data"]["message"], "The audiobook is ready");
    }
    // The waits double: at least 300 ms, then at least 600 ms.
    assert!(requests[1].3 - requests[0].3 >= Duration::from_millis(300));
    assert!(requests[2].3 - requests[1].3 >= Duration::from_millis(600));
    let record = app
        .state
        .documents
        .read(
            visiobook_runtime::notify::DELIVERIES_CONTAINER,
            &app.session.user_id,
            &format!("{event_id}-webhook"),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.body["outcome"], "delivered");
    assert_eq!(record.body["attempts"], 3);

    let removed = app.client.delete(app.url(webhook)).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.get(webhook).await.status(), StatusCode::NOT_FOUND);
}
