//! `GET /api/v1/content/status/{id}`.

use axum::extract::State;
use serde_json::{Value, json};
use visiobook_domain::status::BookState;
use visiobook_runtime::error::{ApiJson, ApiPath};
use visiobook_runtime::{ApiError, AppState, Caller};

/// The status document with links: to itself, and to the video once ready.
pub async fn status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    if !crate::valid_book_id(&id) {
        return Err(crate::book_not_found(&id));
    }
    let status = visiobook_pipeline::load_status_for(&state, &caller, &id)
        .await?
        .ok_or_else(|| crate::book_not_found(&id))?;
    let mut links = json!({ "self": format!("/api/v1/content/status/{id}") });
    if status.state == BookState::Ready && status.outputs.contains_key("video") {
        links["video"] = json!(format!("/api/v1/assembly/export/mp4?id={id}"));
    }
    if status.outputs.contains_key("book") {
        links["preview"] = json!(format!("/api/v1/content/preview/{id}"));
    }
    let mut body = serde_json::to_value(&status).map_err(ApiError::internal)?;
    body["links"] = links;
    Ok(ApiJson(body))
}
