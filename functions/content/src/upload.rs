//! `POST /api/v1/content/upload`.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use visiobook_pipeline::SubmitError;
use visiobook_runtime::error::ApiQuery;
use visiobook_runtime::{ApiError, AppState};

#[derive(Debug, Deserialize)]
pub struct UploadQuery {
    /// The original file name when the body is the raw file.
    filename: Option<String>,
}

/// Accepts a book as a multipart form (`file` field) or as the raw request body, stores it,
/// queues its ingestion and answers 202 with the status URL.
pub async fn upload(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let limit = state.settings.max_body_bytes;
    let (bytes, file_name) = if content_type.starts_with("multipart/form-data") {
        let mut multipart =
            Multipart::from_request(request, &state)
                .await
                .map_err(|rejection| {
                    ApiError::new(
                        rejection.status(),
                        "invalid_multipart",
                        rejection.body_text(),
                    )
                })?;
        read_file_field(&mut multipart, limit).await?
    } else {
        let bytes = Bytes::from_request(request, &state)
            .await
            .map_err(|rejection| body_error(rejection.status(), rejection.body_text(), limit))?;
        (bytes, query.filename)
    };
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "empty_upload",
            "the uploaded file is empty",
        ));
    }
    let file_name = file_name
        .map(|name| sanitise_file_name(&name))
        .filter(|name| !name.is_empty());
    let status =
        visiobook_pipeline::submit_book(&state, bytes, file_name, "application/octet-stream")
            .await
            .map_err(|error| match error {
                SubmitError::Rejected(visiobook_ingestion_error) => {
                    ApiError::unsupported_media_type(
                        "unsupported_format",
                        visiobook_ingestion_error.to_string(),
                    )
                }
                SubmitError::Store(error) => ApiError::from(error),
            })?;
    let status_url = format!("/api/v1/content/status/{}", status.id);
    let body = json!({
        "id": status.id,
        "state": status.state,
        "status_url": status_url,
    });
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, status_url)],
        axum::Json(body),
    )
        .into_response())
}

async fn read_file_field(
    multipart: &mut Multipart,
    limit: usize,
) -> Result<(Bytes, Option<String>), ApiError> {
    loop {
        let field = multipart
            .next_field()
            .await
            .map_err(|error| body_error(error.status(), error.body_text(), limit))?;
        let Some(field) = field else {
            return Err(ApiError::bad_request(
                "missing_file",
                "the form has no \"file\" field with the book",
            ));
        };
        if field.name() == Some("file") {
            let file_name = field.file_name().map(str::to_owned);
            let bytes = field
                .bytes()
                .await
                .map_err(|error| body_error(error.status(), error.body_text(), limit))?;
            return Ok((bytes, file_name));
        }
    }
}

fn body_error(status: StatusCode, text: String, limit: usize) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::payload_too_large(limit)
    } else {
        ApiError::new(status, "invalid_body", text)
    }
}

/// Keeps the last path component and printable characters, at most 200 of them.
fn sanitise_file_name(name: &str) -> String {
    name.rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}
