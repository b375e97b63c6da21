//! Users' webhooks: each event that is delivered by e-mail is also POSTed to the user's URL,
//! signed, and retried with exponential back-off until it is accepted or the attempts run out.
//!
//! The body is `{"id", "type", "created_at", "data"}`; the headers carry
//! `Visiobook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` under the
//! secret shown once when the webhook was set, `Visiobook-Event-Id` (receivers drop what they
//! saw already: delivery is at least once) and `Visiobook-Delivery-Attempt`.
//!
//! The secret is stored encrypted ([`visiobook_auth::crypto::Keyring`]). URLs must be
//! `https` and resolve to public addresses, checked when set and again before every attempt
//! (`VISIOBOOK_WEBHOOK_ALLOW_PRIVATE` lifts both for development and tests).

use std::net::IpAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use visiobook_auth::crypto::Envelope;
use visiobook_ports::document::{read_typed, to_body};
use visiobook_ports::{ErrorKind, OutgoingMessage, StoreError};
use visiobook_runtime::error::ApiJson;
use visiobook_runtime::notify::{
    DELIVERIES_CONTAINER, DELIVERY_QUEUE, Notification, WEBHOOKS_CONTAINER,
};
use visiobook_runtime::{ApiError, AppState, Caller, now_rfc3339};

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: u32 = 6;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Webhook {
    url: String,
    secret: Envelope,
    created_at: String,
}

/// The queue message of one webhook attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebhookAttempt {
    pub user_id: String,
    pub event_id: String,
    pub attempt: u32,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    /// Where events are POSTed: `https://`, a public address.
    url: String,
}

fn associated_data(user_id: &str) -> Vec<u8> {
    format!("webhook-secret:{user_id}").into_bytes()
}

/// `PUT /api/v1/notifications/webhook`: sets the caller's webhook and answers its new signing
/// secret, shown this once.
pub async fn set(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<WebhookRequest>,
) -> Result<Response, ApiError> {
    let url = check_url(&request.url, state.settings.webhook_allow_private)
        .await
        .map_err(|reason| ApiError::bad_request("invalid_webhook_url", reason))?;
    let secret = format!("whsec_{}", hex::encode(random_bytes()));
    let envelope = state
        .auth
        .data_keys
        .encrypt(secret.as_bytes(), &associated_data(&caller.user_id))
        .map_err(ApiError::internal)?;
    let webhook = Webhook {
        url: url.clone(),
        secret: envelope,
        created_at: now_rfc3339(),
    };
    state
        .documents
        .upsert(
            WEBHOOKS_CONTAINER,
            &caller.user_id,
            &caller.user_id,
            to_body(&webhook)?,
        )
        .await?;
    Ok((
        StatusCode::OK,
        ApiJson(json!({
            "url": url,
            "secret": secret,
            "signature_header": "Visiobook-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">",
            "created_at": webhook.created_at,
        })),
    )
        .into_response())
}

/// `GET /api/v1/notifications/webhook`: the caller's webhook (never its secret).
pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Value>, ApiError> {
    match load(&state, &caller.user_id).await? {
        Some(webhook) => Ok(ApiJson(
            json!({ "url": webhook.url, "created_at": webhook.created_at }),
        )),
        None => Err(ApiError::not_found(
            "no_webhook",
            "no webhook is set; PUT one first",
        )),
    }
}

/// `DELETE /api/v1/notifications/webhook`: 204, whether or not one was set.
pub async fn remove(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    match state
        .documents
        .delete(WEBHOOKS_CONTAINER, &caller.user_id, &caller.user_id, None)
        .await
    {
        Ok(()) => {}
        Err(error) if error.kind == ErrorKind::NotFound => {}
        Err(error) => return Err(error.into()),
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn load(state: &AppState, user_id: &str) -> Result<Option<Webhook>, StoreError> {
    Ok(read_typed::<Webhook>(
        state.documents.as_ref(),
        WEBHOOKS_CONTAINER,
        user_id,
        user_id,
    )
    .await?
    .map(|(webhook, _)| webhook))
}

/// Queues the first attempt of `event` when its user has a webhook.
pub async fn schedule_first(state: &AppState, event: &Notification) -> anyhow::Result<()> {
    if load(state, &event.user_id).await?.is_none() {
        return Ok(());
    }
    enqueue(
        state,
        &WebhookAttempt {
            user_id: event.user_id.clone(),
            event_id: event.id.clone(),
            attempt: 1,
        },
        None,
    )
    .await
}

async fn enqueue(
    state: &AppState,
    attempt: &WebhookAttempt,
    delay: Option<Duration>,
) -> anyhow::Result<()> {
    let body = json!({ "webhook": attempt });
    let mut message = OutgoingMessage::new(
        format!("webhook-{}-{}", attempt.event_id, attempt.attempt),
        body.to_string().into_bytes(),
    );
    if let Some(delay) = delay {
        let at = chrono::Utc::now().timestamp_millis()
            + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
        message.scheduled_enqueue_time_ms = Some(at);
    }
    state.queue.send(DELIVERY_QUEUE, message).await?;
    Ok(())
}

/// The wait before attempt `next` (2, 3, ...): the base doubled each time, at most an hour.
pub fn backoff(base: Duration, next: u32) -> Duration {
    let factor = 1u32 << next.saturating_sub(2).min(12);
    (base * factor).min(Duration::from_secs(3600))
}

/// One attempt: POST, then record success, or queue the next attempt after the back-off, or
/// record that delivery was given up.
pub async fn attempt(state: &AppState, attempt: WebhookAttempt) -> anyhow::Result<()> {
    let record_id = format!("{}-webhook", attempt.event_id);
    let store = state.documents.as_ref();
    if let Some((record, _)) =
        read_typed::<Value>(store, DELIVERIES_CONTAINER, &attempt.user_id, &record_id).await?
        && record["outcome"] != "retrying"
    {
        tracing::info!(event.id = %attempt.event_id, "webhook already settled; nothing sent");
        return Ok(());
    }
    let Some(webhook) = load(state, &attempt.user_id).await? else {
        return Ok(());
    };
    let Some((event, _)) = read_typed::<Notification>(
        store,
        visiobook_runtime::notify::NOTIFICATIONS_CONTAINER,
        &attempt.user_id,
        &attempt.event_id,
    )
    .await?
    else {
        return Ok(());
    };
    let secret = state
        .auth
        .data_keys
        .decrypt(&webhook.secret, &associated_data(&attempt.user_id))
        .map_err(|error| anyhow::anyhow!("the webhook secret cannot be read: {error}"))?;
    let result = post(state, &webhook.url, &secret, &event, attempt.attempt).await;
    let (outcome, error) = match &result {
        Ok(()) => ("delivered", None),
        Err(error) if attempt.attempt < MAX_ATTEMPTS => ("retrying", Some(format!("{error:#}"))),
        Err(error) => ("failed", Some(format!("{error:#}"))),
    };
    let record = json!({
        "channel": "webhook",
        "outcome": outcome,
        "attempts": attempt.attempt,
        "last_error": error,
        "at": now_rfc3339(),
    });
    store
        .upsert(DELIVERIES_CONTAINER, &attempt.user_id, &record_id, record)
        .await?;
    match outcome {
        "retrying" => {
            let delay = backoff(state.settings.webhook_backoff, attempt.attempt + 1);
            tracing::warn!(
                event.id = %attempt.event_id,
                attempt = attempt.attempt,
                retry_in_ms = delay.as_millis() as u64,
                error = error.as_deref().unwrap_or(""),
                "webhook delivery failed; retrying later"
            );
            enqueue(
                state,
                &WebhookAttempt {
                    attempt: attempt.attempt + 1,
                    ..attempt
                },
                Some(delay),
            )
            .await?;
        }
        "failed" => {
            state.metrics.error("webhook_given_up");
            tracing::warn!(event.id = %attempt.event_id, "webhook delivery given up");
        }
        _ => {
            tracing::info!(event.id = %attempt.event_id, attempt = attempt.attempt, "webhook delivered")
        }
    }
    Ok(())
}

async fn post(
    state: &AppState,
    url: &str,
    secret: &[u8],
    event: &Notification,
    attempt: u32,
) -> anyhow::Result<()> {
    check_url(url, state.settings.webhook_allow_private)
        .await
        .map_err(anyhow::Error::msg)?;
    let body = json!({
        "id": event.id,
        "type": event.kind,
        "created_at": event.created_at,
        "data": event,
    })
    .to_string();
    let timestamp = chrono::Utc::now().timestamp();
    let signature = sign(secret, timestamp, &body);
    let response = state
        .http
        .post(url)
        .header("content-type", "application/json")
        .header(
            "visiobook-signature",
            format!("t={timestamp},v1={signature}"),
        )
        .header("visiobook-event-id", &event.id)
        .header("visiobook-delivery-attempt", attempt.to_string())
        .timeout(Duration::from_secs(10))
        .body(body)
        .send()
        .await?;
    let status = response.status();
    anyhow::ensure!(status.is_success(), "the webhook answered {status}");
    Ok(())
}

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn sign(secret: &[u8], timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a webhook URL: http(s), at most 2,000 characters, and (unless `allow_private`)
/// `https` to a host whose every address is public.
pub async fn check_url(url: &str, allow_private: bool) -> Result<String, String> {
    let url = url.trim();
    if url.len() > 2000 {
        return Err("the URL is longer than 2,000 characters".into());
    }
    let parsed =
        reqwest::Url::parse(url).map_err(|error| format!("{url:?} is not a URL: {error}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_private => {}
        _ => return Err("the URL must be https".into()),
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the URL must not carry credentials".into());
    }
    let host = parsed.host_str().ok_or("the URL has no host")?.to_owned();
    if allow_private {
        return Ok(parsed.to_string());
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let host_for_lookup = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let lookup = tokio::net::lookup_host((host_for_lookup.as_str(), port));
    let addresses: Vec<IpAddr> = tokio::time::timeout(Duration::from_secs(3), lookup)
        .await
        .map_err(|_| format!("{host} did not resolve within 3 s"))?
        .map_err(|error| format!("{host} does not resolve: {error}"))?
        .map(|address| address.ip())
        .collect();
    if addresses.is_empty() {
        return Err(format!("{host} does not resolve"));
    }
    if let Some(private) = addresses.iter().find(|ip| !is_public(ip)) {
        return Err(format!(
            "{host} resolves to {private}, which is not a public address"
        ));
    }
    Ok(parsed.to_string())
}

/// Whether `ip` is a public unicast address (not loopback, private, link-local, shared,
/// documentation, unspecified or multicast).
pub fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

fn random_bytes() -> [u8; 24] {
    let mut bytes = [0u8; 24];
    for chunk in bytes.chunks_mut(16) {
        let random = uuid::Uuid::new_v4().into_bytes();
        chunk.copy_from_slice(&random[..chunk.len()]);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_and_is_capped() {
        let base = Duration::from_secs(30);
        assert_eq!(backoff(base, 2), Duration::from_secs(30));
        assert_eq!(backoff(base, 3), Duration::from_secs(60));
        assert_eq!(backoff(base, 6), Duration::from_secs(480));
        assert_eq!(backoff(base, 30), Duration::from_secs(3600));
    }

    #[test]
    fn private_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = private.parse().expect("an address");
            assert!(!is_public(&ip), "{private} counted as public");
        }
        for public in ["93.184.216.34", "2606:4700::1111"] {
            let ip: IpAddr = public.parse().expect("an address");
            assert!(is_public(&ip), "{public} counted as private");
        }
    }

    #[tokio::test]
    async fn urls_must_be_https_to_public_hosts() {
        assert!(check_url("http://example.com/hook", false).await.is_err());
        assert!(check_url("https://127.0.0.1/hook", false).await.is_err());
        assert!(check_url("https://[::1]/hook", false).await.is_err());
        assert!(
            check_url("https://user:pw@example.com/", false)
                .await
                .is_err()
        );
        assert!(check_url("ftp://example.com/", true).await.is_err());
        assert!(check_url("not a url", true).await.is_err());
        assert_eq!(
            check_url("http://127.0.0.1:9/hook", true).await.as_deref(),
            Ok("http://127.0.0.1:9/hook")
        );
    }

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let one = sign(b"whsec_x", 10, "{}");
        assert_eq!(one.len(), 64);
        assert_ne!(one, sign(b"whsec_x", 11, "{}"));
        assert_ne!(one, sign(b"whsec_x", 10, "{ }"));
        assert_ne!(one, sign(b"whsec_y", 10, "{}"));
    }
}
