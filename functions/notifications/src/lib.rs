//! The Notification service as functions:
//!
//! | function | trigger |
//! |---|---|
//! | `NotificationProgress` | `GET /api/v1/notifications/progress/{id}`: Server-Sent Events for a project or a book, resuming after `Last-Event-ID` |
//! | `NotificationHistory` | `GET /api/v1/notifications/history` |
//! | `NotificationSend` | `POST /api/v1/notifications/send` |
//! | `NotificationNegotiate` | `GET /api/v1/notifications/negotiate`: where the browser connects for pushed events |
//! | `NotificationWebhook` | `GET`, `PUT`, `DELETE /api/v1/notifications/webhook`: the caller's signed webhook |
//! | `NotificationDeliver` | queue `notifications`: e-mail and the user's webhook for ready and failed books and messages |
//!
//! Outside the functions, [`socket_routes`] serves `WebSocket /ws/notifications` for the local
//! estate; in Azure, Web PubSub carries the same frames.
//!
//! Events are published by the pipeline as it works (stage started, a tenth of a stage done,
//! stage finished, retrying, book ready or failed) and stored per user
//! ([`visiobook_runtime::notify`]); the stream reads the store, so it works whichever instance
//! or job published them, and a page that reconnects misses nothing.

mod delivery;
mod socket;
pub mod webhook;

pub use socket::routes as socket_routes;

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use visiobook_host::FunctionDef;
use visiobook_host::openapi::{OperationDoc, schema};
use visiobook_ports::{Order, Query};
use visiobook_runtime::error::{ApiJson, ApiPath, ApiQuery};
use visiobook_runtime::notify::{self, NOTIFICATIONS_CONTAINER, Notification};
use visiobook_runtime::{ApiError, AppState, Caller};

/// How often an open stream looks for new events.
const POLL: Duration = Duration::from_millis(250);
/// A stream closes after this long; `EventSource` reconnects with `Last-Event-ID` on its own,
/// so nothing is lost, and no connection holds an instance forever.
const STREAM_LIFETIME: Duration = Duration::from_secs(300);

pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http(
            "NotificationProgress",
            "v1/notifications/progress/{id}",
            &[Method::GET],
            get(progress),
        )
        .doc(
            OperationDoc::get(
                "Progress of a project's renders or of a book, as Server-Sent Events (resumes after Last-Event-ID)",
            )
            .query(schema::<ProgressQuery>)
            .produces("text/event-stream"),
        ),
        FunctionDef::http(
            "NotificationHistory",
            "v1/notifications/history",
            &[Method::GET],
            get(history),
        )
        .doc(OperationDoc::get("The caller's notifications, newest first").query(schema::<HistoryQuery>)),
        FunctionDef::http(
            "NotificationNegotiate",
            "v1/notifications/negotiate",
            &[Method::GET],
            get(socket::negotiate),
        )
        .doc(OperationDoc::get(
            "Where to connect for pushed notifications: Web PubSub in Azure, /ws/notifications locally",
        )),
        FunctionDef::http(
            "NotificationWebhook",
            "v1/notifications/webhook",
            &[Method::GET, Method::PUT, Method::DELETE],
            get(webhook::show).put(webhook::set).delete(webhook::remove),
        )
        .doc(OperationDoc::get("Your webhook (never its secret)"))
        .doc(
            OperationDoc::put("Set your webhook; the answer carries its signing secret, this once")
                .body(schema::<webhook::WebhookRequest>),
        )
        .doc(OperationDoc::delete("Remove your webhook").status(204)),
        FunctionDef::queue(
            "NotificationDeliver",
            visiobook_runtime::notify::DELIVERY_QUEUE,
            &[],
            delivery::deliver,
        ),
        FunctionDef::http(
            "NotificationSend",
            "v1/notifications/send",
            &[Method::POST],
            post(send),
        )
        .doc(
            OperationDoc::post("Send a notification (to yourself; administrators to anyone)")
                .body(schema::<SendRequest>)
                .status(201),
        ),
    ]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressQuery {
    /// For clients that cannot set the `Last-Event-ID` header.
    #[serde(default)]
    last_event_id: Option<String>,
    /// Close the stream after the book is ready or failed (default: stay open).
    #[serde(default)]
    until_done: Option<bool>,
}

/// `GET /api/v1/notifications/progress/{id}`: the caller's project or book; someone else's
/// answers 404.
async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<ProgressQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let field = if visiobook_projects::load_project(&state, &caller.user_id, &id)
        .await
        .is_ok()
    {
        "project_id"
    } else if visiobook_domain_is_book_id(&id)
        && visiobook_pipeline::load_status_for(&state, &caller, &id)
            .await?
            .is_some()
    {
        "book_id"
    } else {
        return Err(ApiError::not_found(
            "not_found",
            format!("no project or book with id {id:?}"),
        ));
    };
    let last = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or(query.last_event_id);
    let stream = events(
        state,
        caller.user_id,
        field,
        id,
        last,
        query.until_done.unwrap_or(false),
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn visiobook_domain_is_book_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

struct Cursor {
    state: AppState,
    user_id: String,
    field: &'static str,
    id: String,
    last: Option<String>,
    pending: std::collections::VecDeque<Notification>,
    until_done: bool,
    done: bool,
    opened: tokio::time::Instant,
}

/// The events after `last`, then each new one as it is stored.
fn events(
    state: AppState,
    user_id: String,
    field: &'static str,
    id: String,
    last: Option<String>,
    until_done: bool,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let cursor = Cursor {
        state,
        user_id,
        field,
        id,
        last,
        pending: Default::default(),
        until_done,
        done: false,
        opened: tokio::time::Instant::now(),
    };
    futures_util::stream::unfold(cursor, |mut cursor| async move {
        loop {
            if let Some(event) = cursor.pending.pop_front() {
                cursor.last = Some(event.id.clone());
                if cursor.until_done && matches!(event.kind.as_str(), "book.ready" | "book.failed")
                {
                    cursor.done = true;
                }
                let data = serde_json::to_string(&event).unwrap_or_default();
                let sse = Event::default().id(event.id).event(event.kind).data(data);
                return Some((Ok(sse), cursor));
            }
            if cursor.done || cursor.opened.elapsed() > STREAM_LIFETIME {
                return None;
            }
            match notify::events_after(
                &cursor.state,
                &cursor.user_id,
                cursor.field,
                &cursor.id,
                cursor.last.as_deref(),
            )
            .await
            {
                Ok(events) if !events.is_empty() => cursor.pending.extend(events),
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(error) => {
                    tracing::warn!(%error, "notifications could not be read; retrying");
                    tokio::time::sleep(POLL * 4).await;
                }
            }
        }
    })
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    continuation: Option<String>,
}

/// `GET /api/v1/notifications/history`: newest first, paged.
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<ApiJson<Value>, ApiError> {
    let page_size = query.page_size.unwrap_or(50);
    if !(1..=500).contains(&page_size) {
        return Err(ApiError::bad_request(
            "invalid_page_size",
            "page_size is 1 to 500",
        ));
    }
    let store_query = Query::default()
        .order_by("id", Order::Descending)
        .page_size(page_size);
    let page = state
        .documents
        .query(
            NOTIFICATIONS_CONTAINER,
            &caller.user_id,
            &store_query,
            query.continuation.as_deref(),
        )
        .await?;
    let items = page
        .items
        .iter()
        .map(|item| item.parse::<Notification>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApiJson(
        json!({ "items": items, "continuation": page.continuation }),
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    message: String,
    /// The recipient; yourself when absent. Only administrators may name someone else.
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    links: Option<serde_json::Map<String, Value>>,
}

/// `POST /api/v1/notifications/send`: 201 with the stored event.
async fn send(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<SendRequest>,
) -> Result<Response, ApiError> {
    let recipient = request
        .user_id
        .clone()
        .unwrap_or_else(|| caller.user_id.clone());
    if recipient != caller.user_id {
        caller.require_admin()?;
    }
    let message = request.message.trim();
    if message.is_empty() || message.chars().count() > 2000 {
        return Err(ApiError::bad_request(
            "invalid_message",
            "a message has 1 to 2000 characters",
        ));
    }
    let mut event = Notification::new(&recipient, "message", message);
    if let Some(links) = request.links {
        event.links = Value::Object(links);
    }
    notify::publish(&state, &event, None).await?;
    Ok((StatusCode::CREATED, ApiJson(event)).into_response())
}
