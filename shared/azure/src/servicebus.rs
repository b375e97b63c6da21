//! [`JobQueue`] over the Service Bus REST protocol, for the AKS jobs (functions use the host's
//! Service Bus bindings instead). Documented operations only:
//!
//! | port | REST |
//! |---|---|
//! | `send` | `POST /{queue}/messages`, `BrokerProperties` with `MessageId`, `CorrelationId`, `ScheduledEnqueueTimeUtc`; application properties as headers |
//! | `receive` | `POST /{queue}/messages/head?timeout=N` (peek-lock): 201 with the body and `BrokerProperties`, 204 when empty |
//! | `complete` | `DELETE /{queue}/messages/{sequence}/{lock token}` |
//! | `abandon` | `PUT` on the same URL (unlock) |
//! | `renew_lock` | `POST` on the same URL |
//!
//! What REST cannot do, and what this client does instead:
//! - **Dead-lettering with a reason** has no REST operation. `dead_letter` logs the reason and
//!   unlocks the message; the queue's `maxDeliveryCount` (Bicep) then moves it to the
//!   dead-letter queue with `MaxDeliveryCountExceeded`. The worker only dead-letters on a final
//!   delivery, so in practice the broker does so on the next receive.
//! - **Duplicates** are dropped by the broker's duplicate detection silently, so `send` always
//!   answers `Enqueued`.
//! - **Counts** (`stats`) and **peeking dead letters** need management rights the jobs'
//!   identity does not have (KEDA reads queue lengths itself): they answer `Invalid`.
//!
//! Every request carries `Authorization: Bearer` from a [`TokenSource`] (Entra ID, scope
//! `https://servicebus.azure.net/.default`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use visiobook_ports::{
    DeadLetter, JobQueue, LockToken, OutgoingMessage, QueueSpec, QueueStats, ReceivedMessage,
    SendOutcome, StoreError, StoreResult,
};

use crate::TokenSource;

/// The scope of Service Bus data-plane tokens.
pub const SCOPE: &str = "https://servicebus.azure.net/.default";

/// Headers that are the protocol's own, never application properties.
const RESERVED_HEADERS: [&str; 14] = [
    "brokerproperties",
    "content-encoding",
    "vary",
    "content-type",
    "content-length",
    "date",
    "location",
    "server",
    "transfer-encoding",
    "strict-transport-security",
    "connection",
    "keep-alive",
    "authorization",
    "x-ms-request-id",
];

/// Service Bus's per-message properties, as the REST protocol names them.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BrokerProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    correlation_id: Option<String>,
    /// RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scheduled_enqueue_time_utc: Option<String>,
    #[serde(default, skip_serializing)]
    delivery_count: Option<u32>,
    #[serde(default, skip_serializing)]
    lock_token: Option<String>,
    #[serde(default, skip_serializing)]
    locked_until_utc: Option<String>,
    #[serde(default, skip_serializing)]
    sequence_number: Option<i64>,
    #[serde(default, skip_serializing)]
    enqueued_time_utc: Option<String>,
}

/// A Service Bus namespace's queues over REST.
#[derive(Debug, Clone)]
pub struct ServiceBusQueue {
    http: reqwest::Client,
    /// `https://<namespace>.servicebus.windows.net`, no trailing slash.
    endpoint: String,
    tokens: Arc<dyn TokenSource>,
    specs: HashMap<String, QueueSpec>,
    /// How long a receive waits on the broker for a message.
    receive_wait: Duration,
}

impl ServiceBusQueue {
    /// `namespace` is the fully qualified name (`<name>.servicebus.windows.net`) or a base URL
    /// (tests use `http://127.0.0.1:<port>`).
    pub fn new(
        http: reqwest::Client,
        namespace: &str,
        tokens: Arc<dyn TokenSource>,
        specs: Vec<QueueSpec>,
        receive_wait: Duration,
    ) -> Self {
        let endpoint = if namespace.starts_with("http://") || namespace.starts_with("https://") {
            namespace.trim_end_matches('/').to_owned()
        } else {
            format!("https://{}", namespace.trim_end_matches('/'))
        };
        Self {
            http,
            endpoint,
            tokens,
            specs: specs.into_iter().map(|s| (s.name.clone(), s)).collect(),
            receive_wait,
        }
    }

    fn known(&self, queue: &str) -> StoreResult<&QueueSpec> {
        self.specs
            .get(queue)
            .ok_or_else(|| StoreError::not_found(format!("no queue {queue:?}")))
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> StoreResult<reqwest::RequestBuilder> {
        let token = self.tokens.bearer(SCOPE).await?;
        Ok(self
            .http
            .request(method, format!("{}/{path}", self.endpoint))
            .bearer_auth(token))
    }

    /// The lock URL's path of a received message: `{queue}/messages/{sequence}/{lock}`.
    fn lock_path(queue: &str, lock: &LockToken) -> StoreResult<String> {
        let (sequence, token) = lock
            .0
            .split_once('/')
            .ok_or_else(|| StoreError::lock_lost(format!("malformed lock token {:?}", lock.0)))?;
        if sequence.parse::<i64>().is_err()
            || token.is_empty()
            || !token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        {
            return Err(StoreError::lock_lost(format!(
                "malformed lock token {:?}",
                lock.0
            )));
        }
        Ok(format!("{queue}/messages/{sequence}/{token}"))
    }

    async fn settle(
        &self,
        method: reqwest::Method,
        queue: &str,
        lock: &LockToken,
    ) -> StoreResult<()> {
        self.known(queue)?;
        let path = Self::lock_path(queue, lock)?;
        let response = self
            .request(method, &path)
            .await?
            .send()
            .await
            .map_err(unavailable)?;
        match response.status().as_u16() {
            200..=299 => Ok(()),
            // The lock expired or the message is gone (settled by someone else).
            404 | 410 => Err(StoreError::lock_lost(format!(
                "the lock on {path} is no longer held"
            ))),
            status => Err(status_error(status, &path)),
        }
    }
}

fn unavailable(error: reqwest::Error) -> StoreError {
    StoreError::unavailable(format!("Service Bus: {error}"))
}

fn status_error(status: u16, what: &str) -> StoreError {
    match status {
        400 => StoreError::invalid(format!("Service Bus refused {what} (400)")),
        401 | 403 => StoreError::unavailable(format!(
            "Service Bus denied {what} ({status}): check the identity's data roles"
        )),
        404 => StoreError::not_found(format!("Service Bus has no {what}")),
        other => StoreError::unavailable(format!("Service Bus answered {other} to {what}")),
    }
}

/// Milliseconds since the epoch as RFC 1123, the format `BrokerProperties` dates use.
fn rfc1123(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn parse_rfc1123(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|time| time.timestamp_millis())
}

#[async_trait]
impl JobQueue for ServiceBusQueue {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> StoreResult<SendOutcome> {
        self.known(queue)?;
        let broker = BrokerProperties {
            message_id: Some(message.message_id.clone()),
            correlation_id: message.correlation_id.clone(),
            scheduled_enqueue_time_utc: message.scheduled_enqueue_time_ms.map(rfc1123),
            ..BrokerProperties::default()
        };
        let broker = serde_json::to_string(&broker)
            .map_err(|error| StoreError::invalid(format!("broker properties: {error}")))?;
        let mut request = self
            .request(reqwest::Method::POST, &format!("{queue}/messages"))
            .await?
            .header("BrokerProperties", broker)
            .header("Content-Type", "application/json");
        for (name, value) in &message.properties {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str())
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(StoreError::invalid(format!(
                    "{name:?} cannot be an application property over REST"
                )));
            }
            // Custom properties travel as headers whose values are JSON (a quoted string).
            let quoted = serde_json::to_string(value)
                .map_err(|error| StoreError::invalid(format!("property {name}: {error}")))?;
            request = request.header(name.as_str(), quoted);
        }
        let response = request
            .body(message.body.to_vec())
            .send()
            .await
            .map_err(unavailable)?;
        match response.status().as_u16() {
            200..=299 => Ok(SendOutcome::Enqueued),
            status => Err(status_error(status, &format!("a send to {queue}"))),
        }
    }

    async fn receive(&self, queue: &str) -> StoreResult<Option<ReceivedMessage>> {
        let spec = self.known(queue)?.clone();
        let response = self
            .request(
                reqwest::Method::POST,
                &format!(
                    "{queue}/messages/head?timeout={}",
                    self.receive_wait.as_secs().max(1)
                ),
            )
            .await?
            .header("Content-Length", "0")
            .timeout(self.receive_wait + Duration::from_secs(30))
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status().as_u16();
        if status == 204 {
            return Ok(None);
        }
        if !(200..=299).contains(&status) {
            return Err(status_error(status, &format!("a receive from {queue}")));
        }
        let headers = response.headers().clone();
        let broker: BrokerProperties = headers
            .get("BrokerProperties")
            .and_then(|value| value.to_str().ok())
            .map(serde_json::from_str)
            .transpose()
            .map_err(|error| StoreError::unavailable(format!("BrokerProperties: {error}")))?
            .ok_or_else(|| {
                StoreError::unavailable("a received message without BrokerProperties")
            })?;
        let (Some(sequence), Some(lock)) = (broker.sequence_number, broker.lock_token.clone())
        else {
            return Err(StoreError::unavailable(
                "a peek-locked message without a sequence number or lock token",
            ));
        };
        let mut properties = BTreeMap::new();
        for (name, value) in &headers {
            let name = name.as_str();
            if RESERVED_HEADERS.contains(&name) {
                continue;
            }
            if let Ok(text) = value.to_str() {
                let text = serde_json::from_str::<String>(text).unwrap_or_else(|_| text.to_owned());
                properties.insert(name.to_owned(), text);
            }
        }
        let body = response.bytes().await.map_err(unavailable)?;
        let now = chrono::Utc::now().timestamp_millis();
        Ok(Some(ReceivedMessage {
            message_id: broker.message_id.unwrap_or_default(),
            body: Bytes::from(body.to_vec()),
            correlation_id: broker.correlation_id,
            properties,
            delivery_count: broker.delivery_count.unwrap_or(1),
            sequence_number: sequence,
            enqueued_time_ms: broker
                .enqueued_time_utc
                .as_deref()
                .and_then(parse_rfc1123)
                .unwrap_or(now),
            lock_token: LockToken(format!("{sequence}/{lock}")),
            locked_until_ms: broker
                .locked_until_utc
                .as_deref()
                .and_then(parse_rfc1123)
                .unwrap_or(now + i64::try_from(spec.lock_duration.as_millis()).unwrap_or(0)),
        }))
    }

    async fn complete(&self, queue: &str, lock: &LockToken) -> StoreResult<()> {
        self.settle(reqwest::Method::DELETE, queue, lock).await
    }

    async fn abandon(&self, queue: &str, lock: &LockToken) -> StoreResult<()> {
        self.settle(reqwest::Method::PUT, queue, lock).await
    }

    async fn renew_lock(&self, queue: &str, lock: &LockToken) -> StoreResult<i64> {
        let spec = self.known(queue)?.clone();
        self.settle(reqwest::Method::POST, queue, lock).await?;
        Ok(chrono::Utc::now().timestamp_millis()
            + i64::try_from(spec.lock_duration.as_millis()).unwrap_or(0))
    }

    async fn dead_letter(
        &self,
        queue: &str,
        lock: &LockToken,
        reason: &str,
        description: &str,
    ) -> StoreResult<()> {
        tracing::warn!(
            queue,
            reason,
            description,
            "dead-lettering is not a REST operation: unlocking, the broker dead-letters at the max delivery count"
        );
        self.settle(reqwest::Method::PUT, queue, lock).await
    }

    async fn peek_dead_letters(&self, queue: &str, _max: usize) -> StoreResult<Vec<DeadLetter>> {
        self.known(queue)?;
        Err(StoreError::invalid(
            "dead letters are read in the portal or with management rights, not by the jobs",
        ))
    }

    async fn stats(&self, queue: &str) -> StoreResult<QueueStats> {
        self.known(queue)?;
        Err(StoreError::invalid(
            "queue counts need management rights; KEDA and Azure Monitor read them in Azure",
        ))
    }

    fn spec(&self, queue: &str) -> StoreResult<QueueSpec> {
        self.known(queue).cloned()
    }

    async fn ping(&self) -> StoreResult<()> {
        // A token is the cheapest proof that the identity works; the namespace answers below.
        self.tokens.bearer(SCOPE).await?;
        let response = self
            .http
            .get(format!("{}/", self.endpoint))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .map_err(unavailable)?;
        if response.status().is_server_error() {
            return Err(status_error(response.status().as_u16(), "a ping"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc1123_both_ways() {
        let text = rfc1123(784_111_777_000);
        assert_eq!(text, "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(parse_rfc1123(&text), Some(784_111_777_000));
    }

    #[test]
    fn lock_tokens_are_checked_before_they_become_paths() {
        let good = LockToken("42/7a1b2c3d-0000-4000-8000-00000000abcd".into());
        assert_eq!(
            ServiceBusQueue::lock_path("analysis", &good).expect("a good token"),
            "analysis/messages/42/7a1b2c3d-0000-4000-8000-00000000abcd"
        );
        for bad in ["", "42", "x/abc", "42/../../admin", "42/abc?x=1"] {
            assert!(
                ServiceBusQueue::lock_path("analysis", &LockToken(bad.into())).is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
