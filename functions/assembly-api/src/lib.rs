//! The Storyboard Assembly service as functions:
//!
//! | function | trigger |
//! |---|---|
//! | `AssemblyExport` | `GET /api/v1/assembly/export/{format}?id=...`: an export, streamed, with byte ranges |
//! | `AssemblyCreateStoryboard` | `POST /api/v1/assembly/create-storyboard`: the storyboard of a book (chapters, scenes, times, links to pictures and exports) |
//! | `AssemblyRenderFinal` | `POST /api/v1/assembly/render-final`: renders a finished book again (preset, exports, burned-in subtitles) |
//! | `AssemblyProgress` | `GET /api/v1/assembly/progress/{id}`: percent, ETA and the exports ready so far |
//!
//! The `assembly` job does the rendering; these routes read its timeline and outputs.

mod export;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use visiobook_domain::Timeline;
use visiobook_domain::artifacts::timeline_key;
use visiobook_host::FunctionDef;
use visiobook_pipeline::{AssemblyOptions, RerenderError};
use visiobook_ports::{BlobKey, ErrorKind};
use visiobook_runtime::error::{ApiJson, ApiPath};
use visiobook_runtime::{ApiError, AppState, Caller};

pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http(
            "AssemblyExport",
            "v1/assembly/export/{format}",
            &[Method::GET],
            get(export::export),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::get(
                "Download an export (mp4, webm, gif, m4b, srt, vtt, words.vtt, epub, storyboard)",
            )
            .query(visiobook_host::openapi::schema::<export::ExportQuery>)
            .produces("application/octet-stream"),
        ),
        FunctionDef::http(
            "AssemblyCreateStoryboard",
            "v1/assembly/create-storyboard",
            &[Method::POST],
            post(create_storyboard),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("The storyboard of a book as JSON")
                .body(visiobook_host::openapi::schema::<BookRequest>),
        ),
        FunctionDef::http(
            "AssemblyRenderFinal",
            "v1/assembly/render-final",
            &[Method::POST],
            post(render_final),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post(
                "Render a finished book again (preset, formats)",
            )
            .body(visiobook_host::openapi::schema::<RenderRequest>)
            .status(202),
        ),
        FunctionDef::http(
            "AssemblyProgress",
            "v1/assembly/progress/{id}",
            &[Method::GET],
            get(progress),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "Assembly progress with percent and ETA",
        )),
    ]
}

fn book_not_found(id: &str) -> ApiError {
    ApiError::not_found("book_not_found", format!("no book with id {id:?}"))
}

async fn status_of(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<visiobook_domain::BookStatus, ApiError> {
    if !visiobook_domain::status::is_book_id(id) {
        return Err(book_not_found(id));
    }
    visiobook_pipeline::load_status_for(state, caller, id)
        .await?
        .ok_or_else(|| book_not_found(id))
}

/// Links to the exports a book has, by route name.
fn export_links(id: &str, status: &visiobook_domain::BookStatus) -> Value {
    let mut links = serde_json::Map::new();
    for (route, output) in export::FORMATS {
        if status.outputs.contains_key(output) {
            links.insert(
                route.to_owned(),
                json!(format!("/api/v1/assembly/export/{route}?id={id}")),
            );
        }
    }
    Value::Object(links)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct BookRequest {
    book_id: String,
}

async fn create_storyboard(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<BookRequest>,
) -> Result<ApiJson<Value>, ApiError> {
    let id = request.book_id;
    let status = status_of(&state, &caller, &id).await?;
    let timeline: Timeline = match state.blobs.get(&BlobKey::parse(&timeline_key(&id))?).await {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(ApiError::internal)?,
        Err(error) if error.kind == ErrorKind::NotFound => {
            return Err(ApiError::conflict(
                "not_assembled",
                "the book has no timeline yet; see /api/v1/assembly/progress/{id}",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let chapters: Vec<Value> = timeline
        .chapters
        .iter()
        .map(|chapter| {
            let scenes: Vec<Value> = timeline
                .shots
                .iter()
                .filter(|shot| shot.chapter_ordinal == chapter.ordinal)
                .map(|shot| {
                    let text: Vec<&str> = timeline
                        .cues
                        .iter()
                        .filter(|cue| cue.scene_id == shot.scene_id)
                        .map(|cue| cue.text.as_str())
                        .collect();
                    json!({
                        "scene_id": shot.scene_id,
                        "start_ms": shot.start_ms,
                        "duration_ms": shot.duration_ms,
                        "summary": shot.summary,
                        "mood": shot.mood,
                        "characters": shot.characters,
                        "camera": shot.camera,
                        "text": text,
                        "image": format!("/api/v1/media/generate-images?book_id={id}&scene_id={}", shot.scene_id),
                    })
                })
                .collect();
            json!({
                "ordinal": chapter.ordinal,
                "title": chapter.title,
                "start_ms": chapter.start_ms,
                "end_ms": chapter.end_ms,
                "scenes": scenes,
            })
        })
        .collect();
    Ok(ApiJson(json!({
        "book_id": id,
        "title": timeline.title,
        "author": timeline.author,
        "duration_ms": timeline.duration_ms,
        "chapters": chapters,
        "exports": export_links(&id, &status),
    })))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RenderRequest {
    book_id: String,
    /// `final` unless given.
    #[serde(default)]
    preset: Option<String>,
    #[serde(default)]
    formats: Option<Vec<String>>,
    #[serde(default)]
    burn_subtitles: Option<bool>,
}

async fn render_final(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<RenderRequest>,
) -> Result<Response, ApiError> {
    let id = request.book_id;
    status_of(&state, &caller, &id).await?;
    let options = AssemblyOptions {
        preset: Some(request.preset.unwrap_or_else(|| "final".to_owned())),
        formats: request.formats,
        burn_subtitles: request.burn_subtitles,
    };
    match visiobook_pipeline::render_again(&state, &id, options).await {
        Ok(status) => Ok((
            StatusCode::ACCEPTED,
            ApiJson(json!({
                "book_id": id,
                "state": status.state,
                "progress": format!("/api/v1/assembly/progress/{id}"),
            })),
        )
            .into_response()),
        Err(RerenderError::NotFound(_)) => Err(book_not_found(&id)),
        Err(RerenderError::NotReady(state)) => Err(ApiError::conflict(
            "not_ready",
            format!("the book is {state}; it can be rendered again once ready"),
        )),
        Err(RerenderError::Invalid(message)) => {
            Err(ApiError::bad_request("invalid_options", message))
        }
        Err(RerenderError::NotInPlan(reason)) => {
            Err(visiobook_runtime::billing::not_in_plan(reason))
        }
        Err(RerenderError::Store(error)) => Err(error.into()),
    }
}

async fn progress(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let status = status_of(&state, &caller, &id).await?;
    let assembly = status.record(visiobook_domain::Stage::Assembly);
    Ok(ApiJson(json!({
        "book_id": id,
        "book_state": status.state,
        "stage": status.stage,
        "percent": status.percent,
        "assembly": assembly,
        "eta_seconds": assembly.and_then(|record| record.eta_seconds),
        "exports": export_links(&id, &status),
        "error": status.error,
    })))
}
