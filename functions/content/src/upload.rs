//! `POST /api/v1/content/upload`.

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use visiobook_pipeline::SubmitError;
use visiobook_runtime::error::ApiQuery;
use visiobook_runtime::{ApiError, AppState, Caller};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct UploadQuery {
    /// The original file name when the body is the raw file.
    filename: Option<String>,
    /// The book's language (`en`, `fr`); detected when absent.
    lang: Option<String>,
}

/// What the caller insists on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    AnyBook,
    /// `scan-ocr`: scanned pages only (an image or a PDF).
    Scan,
}

/// `POST /api/v1/content/upload`: accepts a book as a multipart form (`file` field, optional
/// `lang` field) or as the raw request body (`?filename=`, `?lang=`), stores it, queues its
/// ingestion and answers 202 with the status URL.
pub async fn upload(
    state: State<AppState>,
    caller: Caller,
    query: ApiQuery<UploadQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    accept(state, caller, query, request, Expect::AnyBook).await
}

/// `POST /api/v1/content/scan-ocr`: the same for scanned pages (PNG, JPEG, TIFF or a PDF),
/// which are read by OCR in the language given (`lang`) or detected.
pub async fn scan_ocr(
    state: State<AppState>,
    caller: Caller,
    query: ApiQuery<UploadQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    accept(state, caller, query, request, Expect::Scan).await
}

async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UploadQuery>,
    request: Request,
    expect: Expect,
) -> Result<Response, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let limit = state.settings.max_body_bytes;
    let (bytes, file_name, form_language) = if content_type.starts_with("multipart/form-data") {
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
        read_form(&mut multipart, limit).await?
    } else {
        let bytes = Bytes::from_request(request, &state)
            .await
            .map_err(|rejection| body_error(rejection.status(), rejection.body_text(), limit))?;
        (bytes, query.filename, None)
    };
    let language = match form_language.or(query.lang) {
        Some(tag) => Some(valid_language(&tag)?),
        None => None,
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
    if expect == Expect::Scan {
        let format = visiobook_ingestion::sniff_format(&bytes).map_err(rejected)?;
        if !matches!(
            format,
            visiobook_ingestion::Format::Png
                | visiobook_ingestion::Format::Jpeg
                | visiobook_ingestion::Format::Tiff
                | visiobook_ingestion::Format::Pdf
        ) {
            return Err(ApiError::unsupported_media_type(
                "not_a_scan",
                "scan-ocr takes scanned pages: a PNG, JPEG or TIFF image, or a PDF",
            ));
        }
    }
    let status =
        visiobook_pipeline::submit_book(&state, bytes, file_name, language, Some(caller.user_id))
            .await
            .map_err(|error| match error {
                SubmitError::Rejected(error) => rejected(error),
                SubmitError::Store(error) => ApiError::from(error),
                SubmitError::OverQuota(error) => ApiError::from(error),
                SubmitError::NotInPlan(reason) => visiobook_runtime::billing::not_in_plan(reason),
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

/// The `file` field (required) and the `lang` field (optional) of an upload form.
async fn read_form(
    multipart: &mut Multipart,
    limit: usize,
) -> Result<(Bytes, Option<String>, Option<String>), ApiError> {
    let mut language = None;
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
        match field.name() {
            Some("file") => {
                let file_name = field.file_name().map(str::to_owned);
                let bytes = field
                    .bytes()
                    .await
                    .map_err(|error| body_error(error.status(), error.body_text(), limit))?;
                return Ok((bytes, file_name, language));
            }
            Some("lang" | "language") => {
                let text = field
                    .text()
                    .await
                    .map_err(|error| body_error(error.status(), error.body_text(), limit))?;
                language = Some(text);
            }
            _ => {}
        }
    }
}

/// Why the bytes are not a book, as a 4xx with the reader's code.
fn rejected(error: visiobook_ingestion::IngestError) -> ApiError {
    use visiobook_ingestion::IngestError;
    let status = match &error {
        IngestError::Empty => {
            return ApiError::bad_request("empty_upload", "the uploaded file is empty");
        }
        IngestError::UnsupportedFormat(_) | IngestError::Encrypted(_) => {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        }
        IngestError::Tool { .. } => return ApiError::unavailable(error),
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    ApiError::new(status, error.code(), error.to_string())
}

/// A BCP 47 primary language tag, lower-cased (`en`, `fr`, `fr-CA` becomes `fr`).
fn valid_language(tag: &str) -> Result<String, ApiError> {
    let primary = tag
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if (2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_lowercase()) {
        Ok(primary)
    } else {
        Err(ApiError::bad_request(
            "invalid_language",
            format!("{tag:?} is not a language code such as en or fr"),
        ))
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
