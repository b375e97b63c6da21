//! `GET /api/v1/content/preview/{id}`: what ingestion understood of the book.

use axum::extract::State;
use serde_json::{Value, json};
use visiobook_domain::Book;
use visiobook_domain::artifacts::book_key;
use visiobook_ports::{BlobKey, ErrorKind};
use visiobook_runtime::error::{ApiJson, ApiPath};
use visiobook_runtime::{ApiError, AppState, Caller};

/// How many characters of each chapter's opening the preview shows.
const OPENING_CHARS: usize = 280;

pub async fn preview(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    if !crate::valid_book_id(&id) {
        return Err(crate::book_not_found(&id));
    }
    if visiobook_pipeline::load_status_for(&state, &caller, &id)
        .await?
        .is_none()
    {
        return Err(crate::book_not_found(&id));
    }
    let key = BlobKey::parse(&book_key(&id))?;
    let bytes = match state.blobs.get(&key).await {
        Ok(bytes) => bytes,
        Err(error) if error.kind == ErrorKind::NotFound => {
            return Err(ApiError::conflict(
                "not_ingested",
                "the book has not been ingested yet; try again shortly",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let book: Book = serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    let chapters: Vec<Value> = book
        .chapters
        .iter()
        .map(|chapter| {
            let opening: String = chapter
                .paragraphs
                .first()
                .map(|p| p.text.chars().take(OPENING_CHARS).collect())
                .unwrap_or_default();
            json!({
                "ordinal": chapter.ordinal,
                "title": chapter.title,
                "matter": chapter.matter,
                "paragraphs": chapter.paragraphs.len(),
                "word_count": chapter.word_count,
                "opening": opening,
            })
        })
        .collect();
    Ok(ApiJson(json!({
        "id": id,
        "title": book.title,
        "author": book.author,
        "language": book.language,
        "source_format": book.source_format,
        "word_count": book.word_count,
        "warnings": book.warnings,
        "chapters": chapters,
    })))
}
