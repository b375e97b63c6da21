//! Azure Web PubSub through its data-plane REST API: how notifications reach browsers in the
//! cloud, where the Functions host cannot hold WebSockets. (Locally, `visiobook dev` serves
//! `/ws/notifications` itself.)
//!
//! With an access key, every request carries a JWT signed with HS256 whose audience is the
//! request's own URL; a client connects to `wss://<host>/client/hubs/<hub>?access_token=` with
//! a token whose audience is the hub's client URL and whose subject is the user id, so that
//! messages sent to that user reach each of their connections.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac as _};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::settings::Secret;

/// The data-plane API version the requests name.
pub const API_VERSION: &str = "2024-12-01";

/// A Web PubSub hub reached with an access key.
#[derive(Debug, Clone, PartialEq)]
pub struct WebPubSub {
    /// `https://<name>.webpubsub.azure.com`, without a trailing slash.
    pub endpoint: String,
    pub hub: String,
    pub access_key: Secret,
}

impl WebPubSub {
    /// Reads `Endpoint=https://...;AccessKey=...;Version=1.0;` (the portal's connection string).
    pub fn from_connection_string(text: &str, hub: &str) -> Result<Self, String> {
        let mut endpoint = None;
        let mut access_key = None;
        let mut port = None;
        for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not key=value"))?;
            match key.to_ascii_lowercase().as_str() {
                "endpoint" => endpoint = Some(value.trim_end_matches('/').to_owned()),
                "accesskey" => access_key = Some(value.to_owned()),
                "port" => port = Some(value.to_owned()),
                _ => {}
            }
        }
        let mut endpoint = endpoint.ok_or("the connection string has no Endpoint")?;
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(format!("Endpoint {endpoint:?} is not an http(s) URL"));
        }
        if let Some(port) = port {
            endpoint = format!("{endpoint}:{port}");
        }
        let access_key = access_key.ok_or(
            "the connection string has no AccessKey (identity-based access is configured in Azure)",
        )?;
        if hub.is_empty() || !hub.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(format!(
                "hub {hub:?} must be letters, digits and underscores"
            ));
        }
        Ok(Self {
            endpoint,
            hub: hub.to_owned(),
            access_key: Secret::new(access_key),
        })
    }

    /// The URL of "send to all of a user's connections".
    pub fn send_to_user_url(&self, user_id: &str) -> String {
        format!(
            "{}/api/hubs/{}/users/{}/:send?api-version={API_VERSION}",
            self.endpoint,
            self.hub,
            percent_encode(user_id)
        )
    }

    /// Sends `message` (JSON) to every connection of `user_id`; Web PubSub answers 202.
    pub async fn send_to_user(
        &self,
        http: &reqwest::Client,
        user_id: &str,
        message: &Value,
    ) -> anyhow::Result<()> {
        let url = self.send_to_user_url(user_id);
        let token = self.service_token(&url, now_unix());
        let response = http
            .post(&url)
            .bearer_auth(token)
            .json(message)
            .timeout(Duration::from_secs(5))
            .send()
            .await?;
        let status = response.status();
        anyhow::ensure!(
            status.is_success(),
            "Web PubSub answered {status} to a send"
        );
        Ok(())
    }

    /// The bearer token of one REST request: audience the request URL, valid a minute.
    pub fn service_token(&self, url: &str, now: u64) -> String {
        hs256(
            &json!({ "aud": url, "iat": now, "exp": now + 60 }),
            self.access_key.expose().as_bytes(),
        )
    }

    /// The URL a browser connects to as `user_id`, valid for `ttl`.
    pub fn client_url(&self, user_id: &str, ttl: Duration, now: u64) -> String {
        let audience = format!("{}/client/hubs/{}", self.endpoint, self.hub);
        let token = hs256(
            &json!({ "aud": audience, "sub": user_id, "iat": now, "exp": now + ttl.as_secs() }),
            self.access_key.expose().as_bytes(),
        );
        let socket = audience
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        format!("{socket}?access_token={token}")
    }
}

/// A compact JWT signed with HMAC-SHA256.
pub fn hs256(claims: &Value, key: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Percent-encodes everything but unreserved characters (user ids are hex, but the hub path
/// must never be broken by one that is not).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub() -> WebPubSub {
        WebPubSub::from_connection_string(
            "Endpoint=https://example.webpubsub.azure.com;AccessKey=c2VjcmV0;Version=1.0;",
            "notifications",
        )
        .expect("a valid connection string")
    }

    #[test]
    fn connection_strings_are_read_and_checked() {
        let hub = hub();
        assert_eq!(hub.endpoint, "https://example.webpubsub.azure.com");
        assert_eq!(hub.access_key.expose(), "c2VjcmV0");
        let local = WebPubSub::from_connection_string(
            "Endpoint=http://127.0.0.1;Port=8080;AccessKey=k;Version=1.0;",
            "h",
        )
        .expect("with a port");
        assert_eq!(local.endpoint, "http://127.0.0.1:8080");
        assert!(WebPubSub::from_connection_string("Endpoint=https://x;Version=1.0", "h").is_err());
        assert!(WebPubSub::from_connection_string("AccessKey=k", "h").is_err());
        assert!(
            WebPubSub::from_connection_string("Endpoint=https://x;AccessKey=k", "a/b").is_err()
        );
    }

    #[test]
    fn tokens_are_hs256_with_the_request_url_as_audience() {
        let hub = hub();
        let url = hub.send_to_user_url("user 1");
        assert_eq!(
            url,
            "https://example.webpubsub.azure.com/api/hubs/notifications/users/user%201/:send?api-version=2024-12-01"
        );
        let token = hub.service_token(&url, 1_000);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64url"))
                .expect("JSON claims");
        assert_eq!(claims["aud"], url.as_str());
        assert_eq!(claims["exp"], 1_060);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"c2VjcmV0").expect("key");
        mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).expect("base64url"))
            .expect("the signature verifies with the access key");
    }

    #[test]
    fn client_urls_name_the_user_and_the_hub() {
        let url = hub().client_url("u1", Duration::from_secs(3600), 100);
        let (socket, token) = url.split_once("?access_token=").expect("a token");
        assert_eq!(
            socket,
            "wss://example.webpubsub.azure.com/client/hubs/notifications"
        );
        let payload = token.split('.').nth(1).expect("claims");
        let claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
                .expect("JSON");
        assert_eq!(claims["sub"], "u1");
        assert_eq!(
            claims["aud"],
            "https://example.webpubsub.azure.com/client/hubs/notifications"
        );
        assert_eq!(claims["exp"], 3_700);
    }
}
