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

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the HTTP request being handled (`X-Request-Id`, given or made), inside a handler;
/// work the request starts (an upload's pipeline) carries it on as its correlation id, so one
/// id finds every log record from the upload to the exports.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
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
    let mut response = REQUEST_ID
        .scope(
            request_id.clone(),
            next.run(request).instrument(span.clone()),
        )
        .await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    if status >= 500 {
        state.metrics.error("http_5xx");
    }
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
    // Browsers cannot set headers on a WebSocket, so the socket routes (and only they) also
    // take the access token from `?access_token=`.
    let query_token = request
        .uri()
        .path()
        .starts_with(SOCKET_PREFIX)
        .then(|| query_access_token(request.uri().query()))
        .flatten();
    let bearer = bearer_token(request.headers())
        .or(query_token.as_deref())
        .map(
            |token| match state.auth.signing.verify_access(token, now_unix()) {
                Ok(claims) => Bearer::Valid(claims),
                Err(error) => Bearer::Invalid(error),
            },
        );
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

/// Where the WebSocket routes of the local estate live (outside `/api`, as in the seed).
pub const SOCKET_PREFIX: &str = "/ws/";

/// The `access_token` parameter of a query string, percent-decoded.
fn query_access_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == "access_token" && !value.is_empty()).then(|| percent_decode(value))
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let decoded = (bytes[index] == b'%')
            .then(|| text.get(index + 1..index + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                index += 3;
            }
            None => {
                out.push(if bytes[index] == b'+' {
                    b' '
                } else {
                    bytes[index]
                });
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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

/// What to do with a `Range` header (RFC 9110 §14): one byte range, or the whole thing.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// Serve the whole body (not a bytes range, malformed, or several ranges).
    Ignore,
    /// 416: the range starts past the end.
    Unsatisfiable,
    /// Inclusive bounds within the size.
    Part { start: u64, end: u64 },
}

/// Reads one `bytes=a-b`, `bytes=a-` or `bytes=-n` range against a body of `size` bytes.
pub fn parse_range(header: &str, size: u64) -> RangeAnswer {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Ignore;
    };
    if spec.contains(',') {
        return RangeAnswer::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    let parse = |text: &str| text.parse::<u64>().ok();
    let (start, end) = match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse(last) {
            Some(0) => return RangeAnswer::Unsatisfiable,
            Some(n) => (size.saturating_sub(n), size.saturating_sub(1)),
            None => return RangeAnswer::Ignore,
        },
        (false, true) => match parse(first) {
            Some(start) => (start, size.saturating_sub(1)),
            None => return RangeAnswer::Ignore,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(start), Some(end)) if start <= end => (start, end.min(size.saturating_sub(1))),
            _ => return RangeAnswer::Ignore,
        },
        (true, true) => return RangeAnswer::Ignore,
    };
    if size == 0 || start >= size {
        RangeAnswer::Unsatisfiable
    } else {
        RangeAnswer::Part { start, end }
    }
}

/// Streams the blob `key` of `size` bytes, honouring a single `Range` of the request (206 with
/// `Content-Range`, 416 when it starts past the end), with `Accept-Ranges` and the `extra`
/// headers (content type, disposition, ETag...). A blob gone meanwhile is `not_found`.
pub async fn serve_blob(
    state: &AppState,
    key: &visiobook_ports::BlobKey,
    size: u64,
    request_headers: &axum::http::HeaderMap,
    extra: Vec<(header::HeaderName, String)>,
    not_found: ApiError,
) -> Result<Response, ApiError> {
    use visiobook_ports::{ByteRange, ErrorKind};
    let range = request_headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .map_or(RangeAnswer::Ignore, |text| parse_range(text, size));
    let mut response = match range {
        RangeAnswer::Ignore => {
            let reader = match state.blobs.open(key).await {
                Ok((_, reader)) => reader,
                Err(error) if error.kind == ErrorKind::NotFound => return Err(not_found),
                Err(error) => return Err(error.into()),
            };
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(reader));
            let mut response = (StatusCode::OK, body).into_response();
            response
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(size));
            response
        }
        RangeAnswer::Unsatisfiable => {
            return Ok(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the range is outside the {size} bytes"),
            )
            .with_header("content-range", format!("bytes */{size}"))
            .into_response());
        }
        RangeAnswer::Part { start, end } => {
            let bytes = match state
                .blobs
                .get_range(
                    key,
                    ByteRange {
                        start,
                        end: Some(end + 1),
                    },
                )
                .await
            {
                Ok(bytes) => bytes,
                Err(error) if error.kind == ErrorKind::NotFound => return Err(not_found),
                Err(error) => return Err(error.into()),
            };
            let mut response = (StatusCode::PARTIAL_CONTENT, bytes).into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{end}/{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}

/// `If-Match` as an ETag (quotes and a weak prefix removed); `None` when absent.
pub fn if_match(
    headers: &axum::http::HeaderMap,
) -> Result<Option<visiobook_ports::ETag>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request("invalid_if_match", "If-Match is not text"))?;
    let tag = text.trim().trim_start_matches("W/").trim_matches('"');
    if tag.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_if_match",
            "If-Match is empty",
        ));
    }
    Ok(Some(visiobook_ports::ETag(tag.to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        use RangeAnswer::*;
        assert_eq!(parse_range("bytes=0-9", 100), Part { start: 0, end: 9 });
        assert_eq!(parse_range("bytes=90-", 100), Part { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-10", 100), Part { start: 90, end: 99 });
        assert_eq!(parse_range("bytes=-500", 100), Part { start: 0, end: 99 });
        assert_eq!(
            parse_range("bytes=50-500", 100),
            Part { start: 50, end: 99 }
        );
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_range("bytes=9-0", 100), Ignore);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignore);
        assert_eq!(parse_range("items=0-1", 100), Ignore);
        assert_eq!(parse_range("bytes=x-y", 100), Ignore);
    }
}
