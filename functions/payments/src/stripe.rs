//! Stripe, as far as Visiobook uses it: Checkout sessions and cancellation through the REST
//! API (form-encoded, `Authorization: Bearer sk_...`, an `Idempotency-Key` on every write so a
//! retried call never makes two), and the verification of webhook signatures.

use std::time::Duration;

use hmac::{Hmac, Mac as _};
use serde::Deserialize;
use sha2::Sha256;

/// How far a signature's timestamp may be from now (Stripe's libraries use five minutes).
pub const TOLERANCE_SECONDS: i64 = 300;

/// Why a `Stripe-Signature` header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing or has no timestamp and v1 signature")]
    Malformed,
    #[error(
        "the signature timestamp is {0} s from now, beyond the {TOLERANCE_SECONDS} s tolerance"
    )]
    OutsideTolerance(i64),
    #[error("no v1 signature matches the payload")]
    Mismatch,
}

/// Checks `header` (`t=<unix seconds>,v1=<hex>[,v1=...]`) against `payload` signed with
/// `secret`: HMAC-SHA256 of `"{t}.{payload}"`, compared in constant time with each `v1`, and
/// the timestamp within [`TOLERANCE_SECONDS`] of `now` (which stops replays of old events).
pub fn verify_signature(
    payload: &[u8],
    header: &str,
    secret: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => {
                if let Ok(bytes) = hex::decode(value) {
                    signatures.push(bytes);
                }
            }
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return Err(SignatureError::Malformed);
    };
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let drift = now - timestamp;
    if drift.abs() > TOLERANCE_SECONDS {
        return Err(SignatureError::OutsideTolerance(drift));
    }
    let matches = signatures.iter().any(|signature| {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        // `verify_slice` compares in constant time.
        mac.verify_slice(signature).is_ok()
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// A Stripe API client.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: String,
}

/// What Visiobook reads of a Checkout Session.
#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub url: Option<String>,
}

/// Stripe's error envelope, `{"error": {"type", "message"}}`.
#[derive(Debug, Deserialize)]
struct StripeErrorBody {
    error: StripeErrorDetail,
}

#[derive(Debug, Deserialize)]
struct StripeErrorDetail {
    #[serde(default)]
    message: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe could not be reached: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("Stripe refused the request ({status}, {kind}): {message}")]
    Refused {
        status: u16,
        kind: String,
        message: String,
    },
}

impl Client {
    pub fn new(base: &str, api_key: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a reqwest client with a timeout builds");
        Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            api_key: api_key.to_owned(),
        }
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.api_key)
            .header("Idempotency-Key", idempotency_key)
            .form(form)
            .send()
            .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(response.json().await?);
        }
        let body = response.json::<StripeErrorBody>().await.ok();
        Err(StripeError::Refused {
            status: status.as_u16(),
            kind: body
                .as_ref()
                .and_then(|b| b.error.kind.clone())
                .unwrap_or_else(|| "unknown".into()),
            message: body
                .and_then(|b| b.error.message)
                .unwrap_or_else(|| "no message".into()),
        })
    }

    /// Creates a Checkout Session with `form` (already holding mode, line items, URLs and
    /// metadata).
    pub async fn create_checkout_session(
        &self,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        self.post("/v1/checkout/sessions", form, idempotency_key)
            .await
    }

    /// Ends an open Checkout Session, so that it can no longer be paid.
    pub async fn expire_checkout_session(&self, id: &str) -> Result<(), StripeError> {
        self.post::<serde_json::Value>(
            &format!("/v1/checkout/sessions/{id}/expire"),
            &[],
            &format!("expire-{id}"),
        )
        .await
        .map(drop)
    }

    /// Cancels a subscription now (the account that pays for it is being deleted).
    pub async fn cancel_now(&self, subscription: &str) -> Result<(), StripeError> {
        let response = self
            .http
            .delete(format!("{}/v1/subscriptions/{subscription}", self.base))
            .bearer_auth(&self.api_key)
            .send()
            .await?;
        let status = response.status();
        // Already gone is as good as canceled.
        if status.is_success() || status == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(StripeError::Refused {
            status: status.as_u16(),
            kind: "cancel".into(),
            message: response.text().await.unwrap_or_default(),
        })
    }

    /// Cancels a subscription at the end of the period already paid for.
    pub async fn cancel_at_period_end(&self, subscription: &str) -> Result<(), StripeError> {
        self.post::<serde_json::Value>(
            &format!("/v1/subscriptions/{subscription}"),
            &[("cancel_at_period_end".into(), "true".into())],
            &format!("cancel-{subscription}"),
        )
        .await
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(payload);
        hex::encode(mac.finalize().into_bytes())
    }

    #[test]
    fn a_signature_verifies_only_with_its_secret_payload_and_time() {
        let payload = br#"{"id":"evt_1"}"#;
        let now = 1_800_000_000;
        let header = format!("t={now},v1={}", sign(payload, "whsec_a", now));
        assert_eq!(verify_signature(payload, &header, "whsec_a", now), Ok(()));
        assert_eq!(
            verify_signature(payload, &header, "whsec_b", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(br#"{"id":"evt_2"}"#, &header, "whsec_a", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(payload, &header, "whsec_a", now + 301),
            Err(SignatureError::OutsideTolerance(301))
        );
        assert_eq!(
            verify_signature(payload, "v1=00", "whsec_a", now),
            Err(SignatureError::Malformed)
        );
    }

    #[test]
    fn any_of_several_v1_signatures_may_match_during_a_secret_rotation() {
        let payload = b"{}";
        let now = 1_800_000_000;
        let header = format!(
            "t={now},v1={},v1={},v0=ignored",
            sign(payload, "whsec_old", now),
            sign(payload, "whsec_new", now)
        );
        assert_eq!(verify_signature(payload, &header, "whsec_new", now), Ok(()));
    }
}
