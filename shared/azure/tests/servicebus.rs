//! The Service Bus REST client against a local server that follows the documented REST
//! protocol: `POST {queue}/messages` with `BrokerProperties`, peek-lock `POST
//! {queue}/messages/head?timeout=` answering 201 with `BrokerProperties` and `Location` (204
//! when empty), and `DELETE`/`PUT`/`POST` on `{queue}/messages/{sequence}/{lock}` to complete,
//! unlock and renew; bearer tokens required, locks that expire, scheduled messages, duplicate
//! detection by message id and dead-lettering at the max delivery count.

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use serde_json::{Value, json};
use visiobook_azure::TokenSource;
use visiobook_azure::servicebus::ServiceBusQueue;
use visiobook_ports::{ErrorKind, JobQueue, LockToken, OutgoingMessage, QueueSpec, StoreResult};

const TOKEN: &str = "entra-token-for-tests";
const LOCK: Duration = Duration::from_millis(600);
const MAX_DELIVERIES: u32 = 3;

#[derive(Debug)]
struct FixedToken(&'static str);

#[async_trait]
impl TokenSource for FixedToken {
    async fn bearer(&self, scope: &str) -> StoreResult<String> {
        assert_eq!(scope, "https://servicebus.azure.net/.default");
        Ok(self.0.to_owned())
    }
}

#[derive(Debug, Clone)]
struct Stored {
    sequence: i64,
    message_id: String,
    correlation_id: Option<String>,
    properties: BTreeMap<String, String>,
    body: Bytes,
    visible_at: Instant,
    deliveries: u32,
    lock: Option<(String, Instant)>,
}

#[derive(Debug, Default)]
struct Broker {
    next_sequence: i64,
    queue: Vec<Stored>,
    dead_letters: Vec<Stored>,
    seen_ids: Vec<String>,
    /// Every request's method and path, for the assertions on shapes.
    requests: Vec<String>,
}

type Shared = Arc<Mutex<Broker>>;

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

fn rfc1123(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

async fn send(
    State(broker): State<Shared>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if queue != "analysis" {
        return StatusCode::NOT_FOUND.into_response();
    }
    let properties: Value = headers
        .get("brokerproperties")
        .map(|v| serde_json::from_slice(v.as_bytes()).unwrap())
        .unwrap_or(json!({}));
    let mut broker = broker.lock().unwrap();
    broker.requests.push(format!("POST /{queue}/messages"));
    let message_id = properties["MessageId"].as_str().unwrap_or("").to_owned();
    // Duplicate detection: accepted, dropped.
    if broker.seen_ids.contains(&message_id) {
        return StatusCode::CREATED.into_response();
    }
    broker.seen_ids.push(message_id.clone());
    let visible_at = match properties["ScheduledEnqueueTimeUtc"].as_str() {
        Some(text) => {
            let at = chrono::DateTime::parse_from_rfc2822(text).unwrap();
            let wait = (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default();
            Instant::now() + wait
        }
        None => Instant::now(),
    };
    let custom = headers
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "brokerproperties"
                    | "authorization"
                    | "content-type"
                    | "content-length"
                    | "host"
                    | "accept"
                    | "accept-encoding"
                    | "user-agent"
            )
        })
        .map(|(name, value)| {
            let text: String = serde_json::from_slice(value.as_bytes())
                .unwrap_or_else(|_| panic!("header {name}: {value:?}"));
            (name.as_str().to_owned(), text)
        })
        .collect();
    broker.next_sequence += 1;
    let sequence = broker.next_sequence;
    broker.queue.push(Stored {
        sequence,
        message_id,
        correlation_id: properties["CorrelationId"].as_str().map(str::to_owned),
        properties: custom,
        body,
        visible_at,
        deliveries: 0,
        lock: None,
    });
    StatusCode::CREATED.into_response()
}

async fn peek_lock(
    State(broker): State<Shared>,
    Path(queue): Path<String>,
    Query(query): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    assert!(query.contains_key("timeout"), "a receive names its timeout");
    let mut broker = broker.lock().unwrap();
    broker.requests.push(format!("POST /{queue}/messages/head"));
    let now = Instant::now();
    loop {
        let Some(index) = broker.queue.iter().position(|m| {
            m.visible_at <= now && m.lock.as_ref().is_none_or(|(_, until)| *until <= now)
        }) else {
            return StatusCode::NO_CONTENT.into_response();
        };
        if broker.queue[index].deliveries >= MAX_DELIVERIES {
            let dead = broker.queue.remove(index);
            broker.dead_letters.push(dead);
            continue;
        }
        let message = &mut broker.queue[index];
        message.deliveries += 1;
        let lock = uuid::Uuid::new_v4().to_string();
        message.lock = Some((lock.clone(), now + LOCK));
        let properties = json!({
            "MessageId": message.message_id,
            "CorrelationId": message.correlation_id,
            "DeliveryCount": message.deliveries,
            "LockToken": lock,
            "LockedUntilUtc": rfc1123(chrono::Utc::now() + chrono::Duration::from_std(LOCK).unwrap()),
            "SequenceNumber": message.sequence,
            "EnqueuedTimeUtc": rfc1123(chrono::Utc::now()),
        });
        let mut response = (StatusCode::CREATED, message.body.clone()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            "BrokerProperties",
            HeaderValue::from_str(&properties.to_string()).unwrap(),
        );
        headers.insert(
            "Location",
            HeaderValue::from_str(&format!("/{queue}/messages/{}/{lock}", message.sequence))
                .unwrap(),
        );
        for (name, value) in &message.properties {
            headers.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(&serde_json::to_string(value).unwrap()).unwrap(),
            );
        }
        return response;
    }
}

async fn settle(
    State(broker): State<Shared>,
    Path((queue, sequence, lock)): Path<(String, i64, String)>,
    method: axum::http::Method,
    headers: HeaderMap,
) -> StatusCode {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED;
    }
    let mut broker = broker.lock().unwrap();
    broker
        .requests
        .push(format!("{method} /{queue}/messages/{{sequence}}/{{lock}}"));
    let now = Instant::now();
    let Some(index) = broker.queue.iter().position(|m| {
        m.sequence == sequence
            && m.lock
                .as_ref()
                .is_some_and(|(token, until)| *token == lock && *until > now)
    }) else {
        return StatusCode::GONE;
    };
    match method.as_str() {
        "DELETE" => {
            broker.queue.remove(index);
        }
        "PUT" => broker.queue[index].lock = None,
        "POST" => {
            if let Some((_, until)) = &mut broker.queue[index].lock {
                *until = now + LOCK;
            }
        }
        _ => return StatusCode::METHOD_NOT_ALLOWED,
    }
    StatusCode::OK
}

async fn fake_service_bus() -> (SocketAddr, Shared) {
    let broker: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/{queue}/messages", post(send))
        .route("/{queue}/messages/head", post(peek_lock))
        .route(
            "/{queue}/messages/{sequence}/{lock}",
            axum::routing::delete(settle).put(settle).post(settle),
        )
        .with_state(broker.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, broker)
}

fn client(address: SocketAddr, token: &'static str) -> ServiceBusQueue {
    let spec = QueueSpec {
        lock_duration: LOCK,
        max_delivery_count: MAX_DELIVERIES,
        ..QueueSpec::new("analysis")
    };
    ServiceBusQueue::new(
        reqwest::Client::new(),
        &format!("http://{address}"),
        Arc::new(FixedToken(token)),
        vec![spec],
        Duration::from_secs(1),
    )
}

fn message(id: &str) -> OutgoingMessage {
    let mut message = OutgoingMessage::new(id, format!("{{\"book_id\":\"{id}\"}}"));
    message.correlation_id = Some(format!("corr-{id}"));
    message
        .properties
        .insert("stage".to_owned(), "analysis".to_owned());
    message
}

#[tokio::test]
async fn messages_go_round_the_documented_peek_lock_protocol() {
    let (address, broker) = fake_service_bus().await;
    let queue = client(address, TOKEN);
    queue.send("analysis", message("m1")).await.unwrap();
    // The same id again is dropped by the broker's duplicate detection.
    queue.send("analysis", message("m1")).await.unwrap();
    assert_eq!(broker.lock().unwrap().queue.len(), 1);

    let received = queue.receive("analysis").await.unwrap().expect("a message");
    assert_eq!(received.message_id, "m1");
    assert_eq!(received.body, Bytes::from_static(b"{\"book_id\":\"m1\"}"));
    assert_eq!(received.correlation_id.as_deref(), Some("corr-m1"));
    assert_eq!(received.properties["stage"], "analysis");
    assert_eq!(received.delivery_count, 1);
    // LockedUntilUtc is RFC 1123: whole seconds.
    assert!(received.locked_until_ms > chrono::Utc::now().timestamp_millis() - 1_000);
    // Locked: nobody else gets it.
    assert!(queue.receive("analysis").await.unwrap().is_none());

    // Renewing keeps it past its first lock's end; then completing removes it.
    for _ in 0..3 {
        tokio::time::sleep(LOCK / 3).await;
        queue
            .renew_lock("analysis", &received.lock_token)
            .await
            .unwrap();
    }
    queue
        .complete("analysis", &received.lock_token)
        .await
        .unwrap();
    assert!(broker.lock().unwrap().queue.is_empty());
    let again = queue
        .complete("analysis", &received.lock_token)
        .await
        .unwrap_err();
    assert_eq!(again.kind, ErrorKind::LockLost);

    let requests = broker.lock().unwrap().requests.clone();
    assert!(requests.contains(&"DELETE /analysis/messages/{sequence}/{lock}".to_owned()));
    assert!(requests.contains(&"POST /analysis/messages/{sequence}/{lock}".to_owned()));
}

#[tokio::test]
async fn abandoned_and_expired_messages_come_back_until_the_broker_dead_letters_them() {
    let (address, broker) = fake_service_bus().await;
    let queue = client(address, TOKEN);
    queue.send("analysis", message("m2")).await.unwrap();

    let first = queue.receive("analysis").await.unwrap().unwrap();
    queue.abandon("analysis", &first.lock_token).await.unwrap();
    let second = queue.receive("analysis").await.unwrap().unwrap();
    assert_eq!(second.delivery_count, 2);
    // A lock left to expire: settling it afterwards is refused as lost.
    tokio::time::sleep(LOCK + Duration::from_millis(100)).await;
    let lost = queue
        .complete("analysis", &second.lock_token)
        .await
        .unwrap_err();
    assert_eq!(lost.kind, ErrorKind::LockLost);
    let third = queue.receive("analysis").await.unwrap().unwrap();
    assert_eq!(third.delivery_count, 3);
    // Dead-lettering over REST unlocks; at the max delivery count the broker moves it.
    queue
        .dead_letter(
            "analysis",
            &third.lock_token,
            "Unreadable",
            "not a stage message",
        )
        .await
        .unwrap();
    assert!(queue.receive("analysis").await.unwrap().is_none());
    assert_eq!(broker.lock().unwrap().dead_letters.len(), 1);
}

#[tokio::test]
async fn scheduled_messages_wait_and_bad_requests_fail_clearly() {
    let (address, _broker) = fake_service_bus().await;
    let queue = client(address, TOKEN);
    let mut later = message("m3");
    later.scheduled_enqueue_time_ms = Some(chrono::Utc::now().timestamp_millis() + 2_000);
    queue.send("analysis", later).await.unwrap();
    assert!(queue.receive("analysis").await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    assert_eq!(
        queue.receive("analysis").await.unwrap().unwrap().message_id,
        "m3"
    );

    let unknown = queue.send("nowhere", message("m4")).await.unwrap_err();
    assert_eq!(unknown.kind, ErrorKind::NotFound);
    let forged = queue
        .complete("analysis", &LockToken("1/../../x".into()))
        .await
        .unwrap_err();
    assert_eq!(forged.kind, ErrorKind::LockLost);
    let denied = client(address, "someone-elses-token")
        .send("analysis", message("m5"))
        .await
        .unwrap_err();
    assert_eq!(denied.kind, ErrorKind::Unavailable);
    assert!(denied.message.contains("401"), "{}", denied.message);
    let mut reserved = message("m6");
    reserved
        .properties
        .insert("Authorization".into(), "x".into());
    assert_eq!(
        queue.send("analysis", reserved).await.unwrap_err().kind,
        ErrorKind::Invalid
    );
}

/// A long job through the host's worker: the lock (600 ms) is renewed while the handler works
/// for three times as long, so the message is completed once and never delivered again.
#[tokio::test]
async fn a_long_job_keeps_its_lock_and_is_completed_once() {
    let (address, broker) = fake_service_bus().await;
    let queue: Arc<dyn JobQueue> = Arc::new(client(address, TOKEN));
    queue.send("analysis", message("long")).await.unwrap();
    let runs = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = runs.clone();
    let handler: visiobook_host::QueueHandler<()> = Arc::new(move |(), _invocation| {
        let counted = counted.clone();
        Box::pin(async move {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(LOCK * 3).await;
            Ok(Vec::new())
        })
    });
    let worker = visiobook_host::worker::QueueWorker {
        function: "AnalysisJob",
        queue_name: "analysis".to_owned(),
        queue: queue.clone(),
        handler,
        state: (),
    };
    let outcome = worker.try_process_next().await.unwrap();
    assert!(
        matches!(outcome, visiobook_host::worker::Outcome::Completed { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        worker.try_process_next().await.unwrap(),
        visiobook_host::worker::Outcome::Idle
    );
    assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
    let requests = broker.lock().unwrap().requests.clone();
    let renewals = requests
        .iter()
        .filter(|r| *r == "POST /analysis/messages/{sequence}/{lock}")
        .count();
    assert!(renewals >= 2, "{requests:?}");
    assert!(broker.lock().unwrap().queue.is_empty());
}
