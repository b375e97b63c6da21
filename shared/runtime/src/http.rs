//! The middleware every HTTP app gets: request ids, a span per request, metrics, the body
//! limit, a JSON 404 for unknown routes, and the error envelope for every error answer (even
//! those produced outside our handlers, such as 405 or a body over the limit).

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tracing::Instrument;

use crate::error::ApiError;
use crate::metrics::{HttpLabels, RouteLabels};
use crate::state::AppState;

/// The header carrying the request id, accepted from callers and always answered.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Wraps the app's HTTP routes with the shared middleware and binds the state.
pub fn finish_router(routes: Router<AppState>, state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    routes
        .fallback(route_not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(envelope_errors))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
}

async fn route_not_found(request: Request) -> ApiError {
    ApiError::not_found(
        "route_not_found",
        format!("no route for {} {}", request.method(), request.uri().path()),
    )
}

/// Request id, span, access log and metrics.
async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= 128 && value.is_ascii())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        request.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let span = tracing::info_span!(
        "http_request",
        request.id = %request_id,
        http.method = %method,
        http.route = %route,
        http.status = tracing::field::Empty,
        duration_ms = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    span.record("http.status", status);
    span.record("duration_ms", elapsed.as_millis() as u64);
    span.in_scope(|| tracing::info!("request answered"));
    state
        .metrics
        .http_requests
        .get_or_create(&HttpLabels {
            method,
            route: route.clone(),
            status,
        })
        .inc();
    state
        .metrics
        .http_request_duration
        .get_or_create(&RouteLabels { route })
        .observe(elapsed.as_secs_f64());
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Turns any error answer that is not already JSON into the error envelope, keeping its status.
async fn envelope_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (
            "payload_too_large",
            "the request body is larger than the limit".to_owned(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            "method_not_allowed",
            "this route does not accept that method".to_owned(),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", text),
        status if status.is_server_error() => (
            "internal_error",
            "the server failed to handle the request".to_owned(),
        ),
        _ => ("invalid_request", text),
    };
    let mut enveloped = ApiError::new(status, code, message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            enveloped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    *enveloped.status_mut() = status;
    enveloped
}

/// An empty body helper for HEAD-like answers.
pub fn empty(status: StatusCode) -> Response {
    (status, Body::empty()).into_response()
}
