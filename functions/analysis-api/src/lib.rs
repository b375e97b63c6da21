//! The AI Analysis service as functions:
//!
//! | function | trigger |
//! |---|---|
//! | `AnalysisSemantic` | `POST /api/v1/analysis/semantic`: the story bible (cast, places, summary) |
//! | `AnalysisExtractScenes` | `POST /api/v1/analysis/extract-scenes`: scenes with settings, moods, speakers |
//! | `AnalysisSummarize` | `POST /api/v1/analysis/summarize`: book, chapter and scene summaries |
//! | `AnalysisStatus` | `GET /api/v1/analysis/status/{id}`: where a book's analysis is |
//! | `AnalysisOverrides` | `GET`/`PUT /api/v1/analysis/overrides/{id}`: the user's corrections to the story bible |
//!
//! The three `POST` routes take either `{"book_id": "..."}` (the stored analysis of an uploaded
//! book) or `{"text": "...", "language": "fr"}` (analysed on the spot, for short texts).

use axum::extract::State;
use axum::http::Method;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use visiobook_domain::Analysis;
use visiobook_host::FunctionDef;
use visiobook_runtime::error::{ApiJson, ApiPath};
use visiobook_runtime::{ApiError, AppState, Caller};

/// Longest text analysed on the spot, in characters; longer books go through upload.
pub const MAX_INLINE_TEXT_CHARS: usize = 200_000;

pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http(
            "AnalysisSemantic",
            "v1/analysis/semantic",
            &[Method::POST],
            post(semantic),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post(
                "Characters, places and moods of a stored book or a text",
            )
            .body(visiobook_host::openapi::schema::<Subject>),
        ),
        FunctionDef::http(
            "AnalysisExtractScenes",
            "v1/analysis/extract-scenes",
            &[Method::POST],
            post(extract_scenes),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("Scenes of a stored book or a text")
                .body(visiobook_host::openapi::schema::<Subject>),
        ),
        FunctionDef::http(
            "AnalysisSummarize",
            "v1/analysis/summarize",
            &[Method::POST],
            post(summarize),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("Summaries of a stored book or a text")
                .body(visiobook_host::openapi::schema::<Subject>),
        ),
        FunctionDef::http(
            "AnalysisStatus",
            "v1/analysis/status/{id}",
            &[Method::GET],
            get(status),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "A book's analysis status",
        )),
        FunctionDef::http(
            "AnalysisOverrides",
            "v1/analysis/overrides/{id}",
            &[Method::GET, Method::PUT],
            get(overrides::read).put(overrides::write),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "A book's story-bible overrides",
        ))
        .doc(
            visiobook_host::openapi::OperationDoc::put(
                "Correct the story bible (names, genders, voices, lexicon)",
            )
            .body(visiobook_host::openapi::schema::<serde_json::Map<String, serde_json::Value>>),
        ),
    ]
}

mod overrides;

/// What to analyse.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct Subject {
    book_id: Option<String>,
    text: Option<String>,
    language: Option<String>,
}

async fn analysis_of(
    state: &AppState,
    caller: &Caller,
    subject: Subject,
) -> Result<Analysis, ApiError> {
    match (subject.book_id, subject.text) {
        (Some(id), None) => visiobook_pipeline::stored_analysis(state, caller, &id).await,
        (None, Some(text)) => {
            if text.chars().count() > MAX_INLINE_TEXT_CHARS {
                return Err(ApiError::new(
                    axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                    "text_too_long",
                    format!(
                        "texts over {MAX_INLINE_TEXT_CHARS} characters must be uploaded as a book"
                    ),
                ));
            }
            let language = subject.language;
            let settings = state.settings.clone();
            tokio::task::spawn_blocking(move || {
                let extracted = visiobook_ingestion::text::read(text.as_bytes())?;
                let book = visiobook_ingestion::assemble(extracted, language.as_deref())?;
                let options = visiobook_analysis::AnalysisOptions {
                    embedder: visiobook_pipeline::embedder(&settings),
                    progress: None,
                };
                Ok::<_, visiobook_ingestion::IngestError>(visiobook_analysis::analyse_with(
                    &book, options,
                ))
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(|error| {
                ApiError::new(
                    axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    error.code(),
                    error.to_string(),
                )
            })
        }
        _ => Err(ApiError::bad_request(
            "invalid_body",
            "give either \"book_id\" or \"text\" (with an optional \"language\"), not both",
        )),
    }
}

async fn semantic(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(subject): ApiJson<Subject>,
) -> Result<ApiJson<Value>, ApiError> {
    let analysis = analysis_of(&state, &caller, subject).await?;
    Ok(ApiJson(json!({
        "schema": analysis.schema,
        "title": analysis.title,
        "language": analysis.language,
        "engine": analysis.engine,
        "summary": analysis.summary,
        "characters": analysis.characters,
        "places": analysis.places,
        "pronunciations": analysis.pronunciations,
        "warnings": analysis.warnings,
    })))
}

async fn extract_scenes(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(subject): ApiJson<Subject>,
) -> Result<ApiJson<Value>, ApiError> {
    let analysis = analysis_of(&state, &caller, subject).await?;
    Ok(ApiJson(
        json!({ "language": analysis.language, "engine": analysis.engine, "scenes": analysis.scenes }),
    ))
}

async fn summarize(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(subject): ApiJson<Subject>,
) -> Result<ApiJson<Value>, ApiError> {
    let analysis = analysis_of(&state, &caller, subject).await?;
    let scenes: Vec<Value> = analysis
        .scenes
        .iter()
        .map(|scene| json!({ "id": scene.id, "chapter_ordinal": scene.chapter_ordinal, "summary": scene.summary }))
        .collect();
    Ok(ApiJson(json!({
        "summary": analysis.summary,
        "chapters": analysis.chapters,
        "scenes": scenes,
    })))
}

async fn status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let not_found = || ApiError::not_found("book_not_found", format!("no book with id {id:?}"));
    if !visiobook_domain::status::is_book_id(&id) {
        return Err(not_found());
    }
    let status = visiobook_pipeline::load_status_for(&state, &caller, &id)
        .await?
        .ok_or_else(not_found)?;
    let record = status.record(visiobook_domain::Stage::Analysis);
    Ok(ApiJson(json!({
        "id": id,
        "book_state": status.state,
        "analysis": record,
        "analysed": status.outputs.contains_key("analysis"),
        "error": status.error.filter(|error| error.stage == visiobook_domain::Stage::Analysis),
    })))
}
