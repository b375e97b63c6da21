//! `GET /ws/notifications`: the caller's notifications over a WebSocket, for the local estate
//! (`visiobook dev`). In Azure the Functions host cannot hold sockets, so `negotiate` hands out
//! a Web PubSub client URL instead and [`visiobook_runtime::notify`] pushes through it; both
//! carry the same JSON, one notification per text frame.
//!
//! The token comes from `Authorization` or, as browsers cannot set headers on a socket,
//! `?access_token=`. The socket starts after `last_event_id` when given (a reconnecting client
//! misses nothing) and otherwise after the newest event at the time of the handshake.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};
use visiobook_runtime::error::{ApiJson, ApiQuery};
use visiobook_runtime::notify;
use visiobook_runtime::{ApiError, AppState, Caller};

/// How often an open socket looks for new events.
const POLL: Duration = Duration::from_millis(250);
/// A socket closes after this long (close code 4000, "reconnect"); the client reconnects with
/// the last id it saw, and a revoked session stops being served within this time.
const SOCKET_LIFETIME: Duration = Duration::from_secs(3600);
/// How long a Web PubSub client URL is valid.
const CLIENT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route("/ws/notifications", axum::routing::get(socket))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketQuery {
    /// Read by the authentication layer.
    #[serde(default)]
    #[allow(dead_code)]
    access_token: Option<String>,
    #[serde(default)]
    last_event_id: Option<String>,
}

async fn socket(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    // The starting point is fixed before the handshake answers, so an event published right
    // after the client connected is never missed.
    let start = match query.last_event_id {
        Some(last) => last,
        None => notify::events_since(&state, &caller.user_id, None)
            .await?
            .pop()
            .map(|event| event.id)
            .unwrap_or_default(),
    };
    Ok(upgrade.on_upgrade(move |socket| serve(state, caller.user_id, start, socket)))
}

async fn serve(state: AppState, user_id: String, mut last: String, mut socket: WebSocket) {
    let opened = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                // Pings are answered by the socket itself; clients have nothing else to say.
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
            _ = tick.tick() => {
                if opened.elapsed() > SOCKET_LIFETIME {
                    let frame = axum::extract::ws::CloseFrame {
                        code: 4000,
                        reason: "reconnect with last_event_id".into(),
                    };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    return;
                }
                let events = match notify::events_since(&state, &user_id, Some(&last)).await {
                    Ok(events) => events,
                    Err(error) => {
                        tracing::warn!(%error, "notifications could not be read; retrying");
                        continue;
                    }
                };
                for event in events {
                    let text = serde_json::to_string(&event).unwrap_or_default();
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                    last = event.id;
                }
            }
        }
    }
}

/// `GET /api/v1/notifications/negotiate`: where this caller's browser connects for pushed
/// notifications: a Web PubSub client URL when the estate has one, else this app's socket.
pub async fn negotiate(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<ApiJson<Value>, ApiError> {
    if let Some(hub) = &state.settings.web_pubsub {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        return Ok(ApiJson(json!({
            "transport": "web_pubsub",
            "url": hub.client_url(&caller.user_id, CLIENT_TOKEN_LIFETIME, now),
            "expires_in": CLIENT_TOKEN_LIFETIME.as_secs(),
        })));
    }
    // The caller's own access token: the socket checks it once, at the handshake.
    let token = visiobook_runtime::auth::bearer_token(&headers).unwrap_or_default();
    let base = state.settings.public_url.replacen("http", "ws", 1);
    Ok(ApiJson(json!({
        "transport": "websocket",
        "url": format!("{base}/ws/notifications?access_token={token}"),
        "expires_in": state.settings.access_token_ttl.as_secs(),
    })))
}
