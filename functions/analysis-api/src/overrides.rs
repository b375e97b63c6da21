//! `GET`/`PUT /api/v1/analysis/overrides/{id}`: the user's corrections to a book's story bible.
//! A `PUT` is checked against the book's analysis, stored (with `If-Match` when given), and
//! applied at once to the stored `analysis.v1`, so every later stage reads it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use visiobook_analysis::overrides::{StoryOverrides, apply};
use visiobook_domain::Analysis;
use visiobook_ports::BlobKey;
use visiobook_ports::document::{read_typed, to_body};
use visiobook_runtime::error::{ApiJson, ApiPath};
use visiobook_runtime::{ApiError, AppState, Caller};

pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    if !visiobook_domain::status::is_book_id(&id)
        || visiobook_pipeline::load_status_for(&state, &caller, &id)
            .await?
            .is_none()
    {
        return Err(ApiError::not_found(
            "book_not_found",
            format!("no book with id {id:?}"),
        ));
    }
    let stored = read_typed::<StoryOverrides>(
        state.documents.as_ref(),
        visiobook_pipeline::OVERRIDES_CONTAINER,
        &id,
        &id,
    )
    .await?;
    let (overrides, etag) = stored.map_or((StoryOverrides::default(), None), |(o, e)| (o, Some(e)));
    let mut response = ApiJson(overrides).into_response();
    if let Some(etag) = etag
        && let Ok(value) = format!("\"{etag}\"").parse()
    {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}

pub async fn write(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(overrides): ApiJson<StoryOverrides>,
) -> Result<Response, ApiError> {
    let status = visiobook_pipeline::load_status_for(&state, &caller, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("book_not_found", format!("no book with id {id:?}")))?;
    let raw_key = status
        .outputs
        .get("analysis_raw")
        .map(|output| output.blob_key.clone())
        .ok_or_else(|| {
            ApiError::conflict(
                "not_analysed",
                "the book has not been analysed yet; overrides need its cast",
            )
        })?;
    let raw: Analysis = serde_json::from_slice(&state.blobs.get(&BlobKey::parse(&raw_key)?).await?)
        .map_err(ApiError::internal)?;
    let applied = apply(raw, &overrides)
        .map_err(|error| ApiError::bad_request("invalid_overrides", error.to_string()))?;

    let if_match = visiobook_runtime::http::if_match(&headers)?;
    let body = to_body(&overrides)?;
    let documents = state.documents.as_ref();
    let container = visiobook_pipeline::OVERRIDES_CONTAINER;
    let etag = match &if_match {
        Some(etag) => {
            documents
                .replace(container, &id, &id, body, Some(etag))
                .await?
        }
        None => documents.upsert(container, &id, &id, body).await?,
    };
    let bytes = serde_json::to_vec_pretty(&applied).map_err(ApiError::internal)?;
    state
        .blobs
        .put(
            &BlobKey::parse(&visiobook_domain::artifacts::analysis_key(&id))?,
            bytes.into(),
            "application/json",
        )
        .await?;
    let mut response = (
        StatusCode::OK,
        ApiJson(json!({ "overrides": overrides, "characters": applied.characters })),
    )
        .into_response();
    if let Ok(value) = format!("\"{etag}\"").parse() {
        response.headers_mut().insert(header::ETAG, value);
    }
    Ok(response)
}
