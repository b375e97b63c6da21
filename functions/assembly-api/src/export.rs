//! `GET /api/v1/assembly/export/{format}?id=BOOK`: streams a rendered export (`mp4`, `webm`,
//! `gif`, `m4b`, `srt`, `vtt`, `words.vtt`, `epub`, `storyboard`), with single byte-range
//! support so that players can seek. It belongs to the Storyboard Assembly service
//! and moves to its own crate when that service grows.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use visiobook_ports::{BlobKey, ByteRange};
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
    if let Some(range) = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
    {
        let Some((start, end)) = parse_range(range, size) else {
            return Ok((
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{size}"))],
            )
                .into_response());
        };
        let bytes = state
            .blobs
            .get_range(
                &key,
                ByteRange {
                    start,
                    end: Some(end + 1),
                },
            )
            .await?;
        return Ok((
            StatusCode::PARTIAL_CONTENT,
            [
                (header::CONTENT_TYPE, output.content_type.clone()),
                (header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}")),
                (header::ACCEPT_RANGES, "bytes".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response());
    }
    let (meta, reader) = state.blobs.open(&key).await?;
    let stream = tokio_util_stream(reader);
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, meta.content_type),
            (header::CONTENT_LENGTH, meta.size_bytes.to_string()),
            (header::ACCEPT_RANGES, "bytes".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

fn tokio_util_stream(
    reader: visiobook_ports::blob::BlobReader,
) -> tokio_util::io::ReaderStream<visiobook_ports::blob::BlobReader> {
    tokio_util::io::ReaderStream::new(reader)
}

/// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range, inclusive, within `size`.
fn parse_range(header: &str, size: u64) -> Option<(u64, u64)> {
    let spec = header.strip_prefix("bytes=")?.trim();
    if spec.contains(',') || size == 0 {
        return None;
    }
    let (start, end) = spec.split_once('-')?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let length: u64 = suffix.parse().ok()?;
            (size.checked_sub(length.min(size))?, size - 1)
        }
        (start, "") => (start.parse().ok()?, size - 1),
        (start, end) => (start.parse().ok()?, end.parse::<u64>().ok()?.min(size - 1)),
    };
    (start <= end && start < size).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_parse_within_the_size() {
        let check = |header: &str, expected: Option<(u64, u64)>| {
            assert_eq!(parse_range(header, 100), expected, "{header}")
        };
        check("bytes=0-9", Some((0, 9)));
        check("bytes=90-", Some((90, 99)));
        check("bytes=-10", Some((90, 99)));
        check("bytes=50-500", Some((50, 99)));
        check("bytes=100-", None);
        check("bytes=9-3", None);
        check("bytes=0-1,5-6", None);
        check("items=0-1", None);
    }
}
