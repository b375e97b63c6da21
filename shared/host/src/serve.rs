//! `visiobook serve`: the custom-handler contract of the Azure Functions host.
//!
//! - `GET /` answers 200 so the host knows the handler is up.
//! - `POST /{FunctionName}` carries an invocation envelope `{"Data": {...}, "Metadata": {...}}`
//!   for queue and timer triggers, and for HTTP triggers when forwarding is off
//!   (`Data.req = {Url, Method, Query, Headers, Params, Body}`). The answer is
//!   `{"Outputs": {...}, "Logs": [...], "ReturnValue": ...}`; a non-2xx status fails the
//!   invocation (a queue message is then abandoned and, in the end, dead-lettered).
//! - Everything else is a forwarded HTTP request at its original path (`/api/...`), answered
//!   by the HTTP functions directly.
//!
//! Output values are always JSON objects (or arrays of them): the host base64-decodes any
//! output string that happens to be valid base64.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use tower::ServiceExt;
use tracing::Instrument;

use crate::registry::{
    Handler, OutMessage, QUEUE_BINDING, QueueInvocation, Registry, TIMER_BINDING, TimerInvocation,
};

/// What serve mode needs to know that the envelope does not carry.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The queues' `maxDeliveryCount` (as provisioned), so handlers know a final delivery.
    pub max_delivery_count: u32,
    /// Largest accepted HTTP request body carried inside `Data.req`, in bytes.
    pub max_body_bytes: usize,
}

struct Invoker<S> {
    registry: Arc<Registry<S>>,
    state: S,
    http: Router,
    options: ServeOptions,
}

/// The complete custom-handler router. `http` is the app's HTTP router (with state and
/// middleware applied), used both for forwarded requests and for `Data.req` envelopes.
pub fn custom_handler_router<S: Clone + Send + Sync + 'static>(
    registry: Arc<Registry<S>>,
    state: S,
    http: Router,
    options: ServeOptions,
) -> Router {
    let invoker = Arc::new(Invoker {
        registry,
        state,
        http: http.clone(),
        options,
    });
    // Envelopes carry HTTP bodies as JSON strings, so they may be somewhat larger than the
    // bodies themselves.
    let envelope_limit = invoker
        .options
        .max_body_bytes
        .saturating_mul(2)
        .saturating_add(64 * 1024);
    let envelope = Router::new()
        .route("/", get(|| async { "visiobook custom handler" }))
        .route("/{function}", post(invoke::<S>))
        .layer(axum::extract::DefaultBodyLimit::max(envelope_limit))
        .with_state(invoker);
    envelope.merge(http)
}

/// Errors of the envelope itself (not of the function): bad envelopes, unknown functions.
fn envelope_error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, axum::Json(crate::error_body(code, message))).into_response()
}

fn invocation_result(outputs: Map<String, Value>, logs: Vec<String>, return_value: Value) -> Value {
    json!({ "Outputs": outputs, "Logs": logs, "ReturnValue": return_value })
}

async fn invoke<S: Clone + Send + Sync + 'static>(
    State(invoker): State<Arc<Invoker<S>>>,
    Path(name): Path<String>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let code = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                "payload_too_large"
            } else {
                "invalid_envelope"
            };
            return envelope_error(rejection.status(), code, &rejection.body_text());
        }
    };
    let span = tracing::info_span!("invocation", function = %name);
    invoke_inner(&invoker, &name, &body).instrument(span).await
}

async fn invoke_inner<S: Clone + Send + Sync + 'static>(
    invoker: &Invoker<S>,
    name: &str,
    body: &[u8],
) -> Response {
    let Some(function) = invoker.registry.get(name) else {
        return envelope_error(
            StatusCode::NOT_FOUND,
            "function_not_found",
            &format!("no function named {name:?} is declared"),
        );
    };
    let envelope: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(error) => {
            return envelope_error(
                StatusCode::BAD_REQUEST,
                "invalid_envelope",
                &format!("the invocation body is not JSON: {error}"),
            );
        }
    };
    let (Some(data), metadata) = (
        envelope.get("Data").and_then(Value::as_object),
        envelope
            .get("Metadata")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default(),
    ) else {
        return envelope_error(
            StatusCode::BAD_REQUEST,
            "invalid_envelope",
            "the invocation body must be an object with an object \"Data\"",
        );
    };
    match &function.handler {
        Handler::Queue(handler) => {
            let invocation =
                match queue_invocation(&function.trigger, data, &metadata, &invoker.options) {
                    Ok(invocation) => invocation,
                    Err(message) => {
                        return envelope_error(
                            StatusCode::BAD_REQUEST,
                            "invalid_envelope",
                            &message,
                        );
                    }
                };
            let message_id = invocation.message_id.clone();
            match handler(invoker.state.clone(), invocation).await {
                Ok(messages) => match outputs_for(&function.output_queues, messages) {
                    Ok(outputs) => axum::Json(invocation_result(outputs, Vec::new(), Value::Null))
                        .into_response(),
                    Err(message) => failed_invocation(function.name, &message),
                },
                Err(error) => {
                    tracing::warn!(message.id = %message_id, error = %error, "queue invocation failed");
                    failed_invocation(function.name, &error.to_string())
                }
            }
        }
        Handler::Timer(handler) => {
            let invocation = match timer_invocation(data) {
                Ok(invocation) => invocation,
                Err(message) => {
                    return envelope_error(StatusCode::BAD_REQUEST, "invalid_envelope", &message);
                }
            };
            match handler(invoker.state.clone(), invocation).await {
                Ok(()) => axum::Json(invocation_result(Map::new(), Vec::new(), Value::Null))
                    .into_response(),
                Err(error) => {
                    tracing::warn!(error = %error, "timer invocation failed");
                    failed_invocation(function.name, &error.to_string())
                }
            }
        }
        Handler::Http(_) => {
            let request = match http_request(data, invoker.options.max_body_bytes) {
                Ok(request) => request,
                Err((status, code, message)) => return envelope_error(status, code, &message),
            };
            let response = match invoker.http.clone().oneshot(request).await {
                Ok(response) => response,
                Err(infallible) => match infallible {},
            };
            match http_output(response).await {
                Ok(res) => {
                    let mut outputs = Map::new();
                    outputs.insert("res".into(), res);
                    axum::Json(invocation_result(outputs, Vec::new(), Value::Null)).into_response()
                }
                Err(message) => failed_invocation(function.name, &message),
            }
        }
    }
}

/// A failed invocation: 500 so the host fails it, with the reason in `Logs` for the host's log.
fn failed_invocation(function: &str, message: &str) -> Response {
    let body = invocation_result(
        Map::new(),
        vec![format!("function {function} failed: {message}")],
        Value::Null,
    );
    (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
}

fn queue_invocation(
    trigger: &crate::Trigger,
    data: &Map<String, Value>,
    metadata: &Map<String, Value>,
    options: &ServeOptions,
) -> Result<QueueInvocation, String> {
    let crate::Trigger::Queue { queue } = trigger else {
        return Err("not a queue trigger".into());
    };
    let body = match data.get(QUEUE_BINDING) {
        // The host passes a Service Bus body as a JSON string holding the message text.
        Some(Value::String(text)) => Bytes::from(text.clone().into_bytes()),
        Some(Value::Null) | None => {
            return Err(format!(
                "Data.{QUEUE_BINDING} (the message body) is missing"
            ));
        }
        Some(other) => Bytes::from(other.to_string().into_bytes()),
    };
    let message_id = metadata
        .get("MessageId")
        .and_then(Value::as_str)
        .ok_or("Metadata.MessageId must be a string")?
        .to_owned();
    let delivery_count = match metadata.get("DeliveryCount") {
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.parse().ok(),
        _ => None,
    }
    .and_then(|count| u32::try_from(count).ok())
    .filter(|count| *count >= 1)
    .ok_or("Metadata.DeliveryCount must be a positive integer")?;
    let correlation_id = metadata
        .get("CorrelationId")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .map(str::to_owned);
    let properties = match metadata.get("ApplicationProperties") {
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect(),
        Some(Value::Null) | None => BTreeMap::new(),
        Some(_) => return Err("Metadata.ApplicationProperties must be an object".into()),
    };
    Ok(QueueInvocation {
        queue: (*queue).to_owned(),
        message_id,
        body,
        correlation_id,
        properties,
        delivery_count,
        max_delivery_count: options.max_delivery_count,
    })
}

fn timer_invocation(data: &Map<String, Value>) -> Result<TimerInvocation, String> {
    let timer = data
        .get(TIMER_BINDING)
        .and_then(Value::as_object)
        .ok_or_else(|| format!("Data.{TIMER_BINDING} must be an object"))?;
    let status = timer.get("ScheduleStatus").and_then(Value::as_object);
    let field = |name: &str| {
        status
            .and_then(|status| status.get(name))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let is_past_due = match timer.get("IsPastDue") {
        Some(Value::Bool(flag)) => *flag,
        None | Some(Value::Null) => false,
        Some(_) => return Err("Data.timer.IsPastDue must be a boolean".into()),
    };
    Ok(TimerInvocation {
        is_past_due,
        last: field("Last"),
        next: field("Next"),
    })
}

type RequestError = (StatusCode, &'static str, String);

/// Rebuilds an HTTP request from `Data.req` so the same axum handlers answer it.
fn http_request(
    data: &Map<String, Value>,
    max_body_bytes: usize,
) -> Result<Request<Body>, RequestError> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, "invalid_envelope", message);
    let req = data
        .get("req")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("Data.req must be an object".into()))?;
    let method = req
        .get("Method")
        .and_then(Value::as_str)
        .and_then(|method| Method::from_bytes(method.to_ascii_uppercase().as_bytes()).ok())
        .ok_or_else(|| bad("Data.req.Method must be an HTTP method".into()))?;
    let url = req
        .get("Url")
        .and_then(Value::as_str)
        .and_then(|url| url.parse::<Uri>().ok())
        .ok_or_else(|| bad("Data.req.Url must be a URL".into()))?;
    let path_and_query = url
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |pq| pq.as_str().to_owned());
    let mut builder = Request::builder().method(method).uri(path_and_query);
    if let Some(Value::Object(headers)) = req.get("Headers") {
        for (name, values) in headers {
            let values: Vec<&str> = match values {
                Value::String(text) => vec![text.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
                continue;
            };
            for value in values {
                if let Ok(value) = HeaderValue::from_str(value) {
                    builder = builder.header(name.clone(), value);
                }
            }
        }
    }
    let body = match req.get("Body") {
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(Value::Null) | None => Vec::new(),
        Some(other) => other.to_string().into_bytes(),
    };
    if body.len() > max_body_bytes {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than {max_body_bytes} bytes"),
        ));
    }
    builder
        .body(Body::from(body))
        .map_err(|error| bad(format!("Data.req cannot form a request: {error}")))
}

/// `Outputs.res` for the host: status, headers, and the body as JSON when it is JSON.
async fn http_output(response: Response) -> Result<Value, String> {
    let (parts, body) = response.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(|error| format!("reading the response body: {error}"))?
        .to_bytes();
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    let headers: Map<String, Value> = parts
        .headers
        .iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|value| (name.as_str().to_owned(), Value::String(value.to_owned())))
        })
        .collect();
    let body = if is_json {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    };
    Ok(json!({ "statusCode": parts.status.as_u16(), "headers": headers, "body": body }))
}

/// Groups outgoing messages by output binding (named after their queue).
fn outputs_for(
    declared: &[&'static str],
    messages: Vec<OutMessage>,
) -> Result<Map<String, Value>, String> {
    let mut grouped: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for message in messages {
        if !declared.contains(&message.queue.as_str()) {
            return Err(format!(
                "the handler sent to queue {:?}, which has no output binding",
                message.queue
            ));
        }
        if !message.body.is_object() {
            return Err("output messages must be JSON objects".into());
        }
        grouped.entry(message.queue).or_default().push(message.body);
    }
    Ok(grouped
        .into_iter()
        .map(|(binding, mut bodies)| {
            let value = if bodies.len() == 1 {
                bodies.remove(0)
            } else {
                Value::Array(bodies)
            };
            (binding, value)
        })
        .collect())
}
