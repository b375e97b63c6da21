//! The middleware every HTTP app gets: request ids, a span per request, metrics, the body
//! limit, a JSON 404 for unknown routes, and the error envelope for every error answer (even
//! those produced outside our handlers, such as 405 or a body over the limit).

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use tracing::Instrument;

use crate::auth::{Bearer, bearer_token, now_unix};
use crate::error::ApiError;
use crate::metrics::{HttpLabels, RouteLabels};
use crate::state::AppState;

/// The header carrying the request id, accepted from callers and always answered.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Wraps the app's HTTP routes with the shared middleware and binds the state.
pub fn finish_router(routes: Router<AppState>, state: AppState) -> Router {
    let limit = state.settings.max_body_bytes;
    routes
        .route(
            "/.well-known/jwks.json",
            axum::routing::get(crate::auth::jwks),
        )
        .fallback(route_not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
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

/// Verifies the bearer token once (the [`Caller`](crate::auth::Caller) extractor reads the
/// verdict) and applies the rate limits: per user when the token is valid, and per client
/// address always. Over a limit the answer is 429 with `Retry-After`.
async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let bearer = bearer_token(request.headers()).map(|token| {
        match state.auth.signing.verify_access(token, now_unix()) {
            Ok(claims) => Bearer::Valid(claims),
            Err(error) => Bearer::Invalid(error),
        }
    });
    let settings = &state.settings;
    let now = Instant::now();
    let address = client_address(&request, settings.trust_forwarded_for);
    let mut verdict = state.limiter.check(
        &format!("address:{address}"),
        settings.rate_limit_address_per_minute,
        now,
    );
    if let (Ok(()), Some(Bearer::Valid(claims))) = (&verdict, &bearer) {
        verdict = state.limiter.check(
            &format!("user:{}", claims.sub),
            settings.rate_limit_user_per_minute,
            now,
        );
    }
    if let Err(wait) = verdict {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; try again in {seconds} s"),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        return response;
    }
    if let Some(bearer) = bearer {
        request.extensions_mut().insert(bearer);
    }
    next.run(request).await
}

/// The client's address: the first `X-Forwarded-For` entry behind a trusted gateway, else the
/// peer address of the connection.
pub fn client_address(request: &Request, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for
        && let Some(first) = request
            .headers()
            .get("x-forwarded-for")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(',').next())
            .map(str::trim)
            .filter(|value| !value.is_empty())
    {
        return first.to_owned();
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string())
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
