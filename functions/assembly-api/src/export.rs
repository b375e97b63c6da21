//! `GET /api/v1/assembly/export/{format}?id=BOOK`: streams a rendered export (`mp4`, `webm`,
//! `gif`, `m4b`, `srt`, `vtt`, `words.vtt`, `epub`, `storyboard`), with single byte-range
//! support so that players can seek. It belongs to the Storyboard Assembly service
//! and moves to its own crate when that service grows.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Deserialize;
use visiobook_ports::BlobKey;
use visiobook_runtime::error::{ApiPath, ApiQuery};
use visiobook_runtime::{ApiError, AppState, Caller};

use crate::book_not_found;

/// Export names in the route and the status outputs they serve.
pub(crate) const FORMATS: [(&str, &str); 9] = [
    ("mp4", "video"),
    ("webm", "webm"),
    ("gif", "gif"),
    ("m4b", "audiobook"),
    ("srt", "srt"),
    ("vtt", "vtt"),
    ("words.vtt", "words_vtt"),
    ("epub", "epub"),
    ("storyboard", "storyboard"),
];

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ExportQuery {
    id: String,
}

pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(format): ApiPath<String>,
    ApiQuery(query): ApiQuery<ExportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Some(&(_, output_name)) = FORMATS.iter().find(|(name, _)| *name == format) else {
        return Err(ApiError::not_found(
            "unknown_format",
            format!(
                "no export format {format:?}; available: {}",
                FORMATS.map(|(name, _)| name).join(", ")
            ),
        ));
    };
    if !visiobook_domain::status::is_book_id(&query.id) {
        return Err(book_not_found(&query.id));
    }
    let status = visiobook_pipeline::load_status_for(&state, &caller, &query.id)
        .await?
        .ok_or_else(|| book_not_found(&query.id))?;
    let output = status.outputs.get(output_name).ok_or_else(|| {
        ApiError::conflict(
            "export_not_ready",
            format!("the {format} export is not ready yet"),
        )
    })?;
    let key = BlobKey::parse(&output.blob_key)?;
    let size = output.size_bytes;
    let file_name = output
        .blob_key
        .rsplit('/')
        .next()
        .unwrap_or("export")
        .to_owned();
    let disposition = format!("inline; filename=\"{}-{file_name}\"", query.id);
    visiobook_runtime::http::serve_blob(
        &state,
        &key,
        size,
        &headers,
        vec![
            (header::CONTENT_TYPE, output.content_type.clone()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        ApiError::conflict(
            "export_not_ready",
            "the export is being replaced; try again",
        ),
    )
    .await
}
