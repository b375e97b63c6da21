//! The Project Management service: a project ties an uploaded book to how the user wants it
//! rendered (language, presets, formats, story-bible overrides) and to its renders. Every change
//! is a version in the history; any version can be restored; writes need the ETag they read.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use visiobook_ports::document::{query_all_typed, read_typed, to_body};
use visiobook_ports::{BlobKey, ETag, ErrorKind, Order, Query};
use visiobook_runtime::audit::{self, AuditEvent};
use visiobook_runtime::error::{ApiJson, ApiPath, ApiQuery};
use visiobook_runtime::{ApiError, AppState, Caller, now_rfc3339};

use crate::storage::{self, FileKind, StoredFile, Visibility};

/// Projects (partition key: the owner's user id; id: the project id).
pub const PROJECTS_CONTAINER: &str = "projects";
/// Versions (partition key: the project id; id: the zero-padded version number).
pub const VERSIONS_CONTAINER: &str = "project-versions";

/// What a version holds: everything the user edits.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectContent {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// The uploaded book (a file in storage).
    #[serde(default)]
    pub file_id: Option<String>,
    #[serde(default)]
    pub settings: ProjectSettings,
    /// Story-bible corrections (the analysis overrides: names, genders, voices, lexicon...).
    #[serde(default)]
    pub overrides: Option<Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    /// The book's language (`en`, `fr`); detected when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// `preview`, `standard` or `final`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Exports to make (`mp4`, `webm`, `gif`, `m4b`, `srt`, `vtt`, `epub`, `storyboard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formats: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burn_subtitles: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenderRef {
    pub book_id: String,
    /// The project version it was rendered from.
    pub version: u64,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub owner: String,
    pub version: u64,
    #[serde(flatten)]
    pub content: ProjectContent,
    #[serde(default)]
    pub renders: Vec<RenderRef>,
    pub created_at: String,
    pub updated_at: String,
}

impl Project {
    fn body(&self) -> Value {
        let mut body = serde_json::to_value(self).unwrap_or_else(|_| json!({}));
        body["links"] = json!({
            "self": format!("/api/v1/projects/{}", self.id),
            "history": format!("/api/v1/projects/{}/history", self.id),
            "render": format!("/api/v1/projects/{}/render", self.id),
        });
        body
    }
}

/// One entry of a project's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Version {
    pub project_id: String,
    pub version: u64,
    pub at: String,
    /// The user who made the change.
    pub actor: String,
    /// `create`, `update`, `restore`, `duplicate`.
    pub change: String,
    /// Top-level fields that differ from the previous version.
    pub changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicated_from: Option<String>,
    pub content: ProjectContent,
}

fn version_id(version: u64) -> String {
    format!("{version:012}")
}

pub fn project_not_found(id: &str) -> ApiError {
    ApiError::not_found("project_not_found", format!("no project with id {id:?}"))
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The caller's project; someone else's answers exactly like a missing one.
pub async fn load_project(
    state: &AppState,
    owner: &str,
    id: &str,
) -> Result<(Project, ETag), ApiError> {
    if !valid_id(id) {
        return Err(project_not_found(id));
    }
    read_typed(state.documents.as_ref(), PROJECTS_CONTAINER, owner, id)
        .await?
        .ok_or_else(|| project_not_found(id))
}

fn with_etag(status: StatusCode, etag: &ETag, body: Value) -> Response {
    (
        status,
        [(header::ETAG, format!("\"{etag}\""))],
        ApiJson(body),
    )
        .into_response()
}

/// `If-Match` is required on writes (RFC 6585's 428 when absent).
fn required_if_match(headers: &HeaderMap) -> Result<ETag, ApiError> {
    optional_if_match(headers)?.ok_or_else(|| {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "if_match_required",
            "send the ETag you read in If-Match, so that a concurrent change is not overwritten",
        )
    })
}

fn optional_if_match(headers: &HeaderMap) -> Result<Option<ETag>, ApiError> {
    visiobook_runtime::http::if_match(headers)
}

fn precondition_failed() -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "etag_mismatch",
        "the project changed since you read it; read it again and retry",
    )
}

/// Checks what a user may put in a project, normalising it.
async fn validate(
    state: &AppState,
    caller: &Caller,
    mut content: ProjectContent,
) -> Result<ProjectContent, ApiError> {
    content.name = content
        .name
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    if content.name.is_empty() || content.name.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "invalid_name",
            "a project name has 1 to 200 characters",
        ));
    }
    if content.description.chars().count() > 5000 {
        return Err(ApiError::bad_request(
            "invalid_description",
            "a description has at most 5000 characters",
        ));
    }
    if let Some(file_id) = &content.file_id {
        let (file, _) = storage::load_file(state, &caller.user_id, file_id).await?;
        if file.kind != FileKind::Upload {
            return Err(ApiError::bad_request(
                "invalid_file",
                "a project's book is an uploaded file, not a render",
            ));
        }
    }
    let settings = &mut content.settings;
    if let Some(language) = &settings.language {
        let primary = language.trim().to_ascii_lowercase();
        if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_lowercase()) {
            return Err(ApiError::bad_request(
                "invalid_language",
                "a language is a code such as en or fr",
            ));
        }
        settings.language = Some(primary);
    }
    let options = assembly_options(settings);
    visiobook_pipeline::assembly_config(&state.settings, Some(&options))
        .map_err(|message| ApiError::bad_request("invalid_settings", message))?;
    if let Some(overrides) = &content.overrides {
        serde_json::from_value::<visiobook_analysis::overrides::StoryOverrides>(overrides.clone())
            .map_err(|error| ApiError::bad_request("invalid_overrides", error.to_string()))?;
    }
    Ok(content)
}

fn assembly_options(settings: &ProjectSettings) -> visiobook_pipeline::AssemblyOptions {
    visiobook_pipeline::AssemblyOptions {
        preset: settings.preset.clone(),
        formats: settings.formats.clone(),
        burn_subtitles: settings.burn_subtitles,
    }
}

/// Top-level fields of `after` that differ from `before`.
fn changed_fields(before: &ProjectContent, after: &ProjectContent) -> Vec<String> {
    let before = serde_json::to_value(before).unwrap_or_default();
    let after = serde_json::to_value(after).unwrap_or_default();
    let keys: BTreeSet<&String> = before
        .as_object()
        .into_iter()
        .chain(after.as_object())
        .flat_map(|object| object.keys())
        .collect();
    keys.into_iter()
        .filter(|key| before.get(key.as_str()) != after.get(key.as_str()))
        .cloned()
        .collect()
}

async fn write_version(state: &AppState, version: &Version) -> Result<(), ApiError> {
    state
        .documents
        .upsert(
            VERSIONS_CONTAINER,
            &version.project_id,
            &version_id(version.version),
            to_body(version)?,
        )
        .await?;
    Ok(())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    continuation: Option<String>,
    /// `created_at` (default), `updated_at` or `name`.
    #[serde(default)]
    sort: Option<String>,
    /// `desc` (default) or `asc`.
    #[serde(default)]
    order: Option<String>,
}

/// The fields projects can be listed by (each needs a composite index in Cosmos DB, which
/// `scripts/check-bicep` checks by this constant's name).
const ORDERED_FIELDS: [&str; 3] = ["created_at", "updated_at", "name"];

/// `GET /api/v1/projects`: the caller's projects, paged and sorted.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<ApiJson<Value>, ApiError> {
    let page_size = query.page_size.unwrap_or(20);
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_request(
            "invalid_page_size",
            "page_size is 1 to 100",
        ));
    }
    let sort = query.sort.as_deref().unwrap_or("created_at");
    if !ORDERED_FIELDS.contains(&sort) {
        return Err(ApiError::bad_request(
            "invalid_sort",
            "sort by created_at, updated_at or name",
        ));
    }
    let order = match query.order.as_deref() {
        None | Some("desc") => Order::Descending,
        Some("asc") => Order::Ascending,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_order",
                "order is asc or desc",
            ));
        }
    };
    let store_query = Query::default().order_by(sort, order).page_size(page_size);
    let page = state
        .documents
        .query(
            PROJECTS_CONTAINER,
            &caller.user_id,
            &store_query,
            query.continuation.as_deref(),
        )
        .await?;
    let items = page
        .items
        .iter()
        .map(|item| item.parse::<Project>().map(|project| project.body()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApiJson(
        json!({ "items": items, "continuation": page.continuation }),
    ))
}

/// `POST /api/v1/projects`: 201 with the project, its `ETag` and version 1 in the history.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(content): ApiJson<ProjectContent>,
) -> Result<Response, ApiError> {
    let content = validate(&state, &caller, content).await?;
    let (project, etag) = insert(&state, &caller, content, "create", None).await?;
    let mut response = with_etag(StatusCode::CREATED, &etag, project.body());
    if let Ok(value) = format!("/api/v1/projects/{}", project.id).parse() {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn insert(
    state: &AppState,
    caller: &Caller,
    content: ProjectContent,
    change: &str,
    duplicated_from: Option<String>,
) -> Result<(Project, ETag), ApiError> {
    let now = now_rfc3339();
    let project = Project {
        id: uuid::Uuid::new_v4().simple().to_string(),
        owner: caller.user_id.clone(),
        version: 1,
        content: content.clone(),
        renders: Vec::new(),
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    write_version(
        state,
        &Version {
            project_id: project.id.clone(),
            version: 1,
            at: now,
            actor: caller.user_id.clone(),
            change: change.to_owned(),
            changed: changed_fields(&ProjectContent::default(), &content),
            restored_from: None,
            duplicated_from,
            content,
        },
    )
    .await?;
    let etag = state
        .documents
        .create(
            PROJECTS_CONTAINER,
            &caller.user_id,
            &project.id,
            to_body(&project)?,
        )
        .await?;
    Ok((project, etag))
}

/// `GET /api/v1/projects/{id}`.
pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (project, etag) = load_project(&state, &caller.user_id, &id).await?;
    Ok(with_etag(StatusCode::OK, &etag, project.body()))
}

/// A change to a project: every field optional; what is given replaces what was there.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectUpdate {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    file_id: Option<Option<String>>,
    #[serde(default)]
    settings: Option<ProjectSettings>,
    #[serde(default)]
    overrides: Option<Option<Value>>,
}

/// `PUT /api/v1/projects/{id}` with `If-Match`: a new version.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(update): ApiJson<ProjectUpdate>,
) -> Result<Response, ApiError> {
    let (project, current) = load_project(&state, &caller.user_id, &id).await?;
    let if_match = required_if_match(&headers)?;
    if if_match != current {
        return Err(precondition_failed());
    }
    let mut content = project.content.clone();
    if let Some(name) = update.name {
        content.name = name;
    }
    if let Some(description) = update.description {
        content.description = description;
    }
    if let Some(file_id) = update.file_id {
        content.file_id = file_id;
    }
    if let Some(settings) = update.settings {
        content.settings = settings;
    }
    if let Some(overrides) = update.overrides {
        content.overrides = overrides;
    }
    let content = validate(&state, &caller, content).await?;
    let (project, etag) =
        commit(&state, &caller, project, &if_match, content, "update", None).await?;
    Ok(with_etag(StatusCode::OK, &etag, project.body()))
}

/// Writes `content` as the next version of `project`, guarded by `if_match`.
async fn commit(
    state: &AppState,
    caller: &Caller,
    mut project: Project,
    if_match: &ETag,
    content: ProjectContent,
    change: &str,
    restored_from: Option<u64>,
) -> Result<(Project, ETag), ApiError> {
    let changed = changed_fields(&project.content, &content);
    let now = now_rfc3339();
    project.version += 1;
    project.content = content.clone();
    project.updated_at = now.clone();
    // The version is written first: if the project write then loses the race, the version
    // number is taken again by the winner's next write (upsert), so the history never shows a
    // version the project never had for long.
    let version = Version {
        project_id: project.id.clone(),
        version: project.version,
        at: now,
        actor: caller.user_id.clone(),
        change: change.to_owned(),
        changed,
        restored_from,
        duplicated_from: None,
        content,
    };
    let etag = match state
        .documents
        .replace(
            PROJECTS_CONTAINER,
            &caller.user_id,
            &project.id,
            to_body(&project)?,
            Some(if_match),
        )
        .await
    {
        Ok(etag) => etag,
        Err(error) if error.kind == ErrorKind::PreconditionFailed => {
            return Err(precondition_failed());
        }
        Err(error) => return Err(error.into()),
    };
    write_version(state, &version).await?;
    Ok((project, etag))
}

/// `DELETE /api/v1/projects/{id}` (`If-Match` optional): the project, its history and its
/// renders.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<ApiJson<Value>, ApiError> {
    let (project, current) = load_project(&state, &caller.user_id, &id).await?;
    if let Some(if_match) = optional_if_match(&headers)?
        && if_match != current
    {
        return Err(precondition_failed());
    }
    let removed = remove_project(&state, &project).await?;
    audit::record(
        &state,
        AuditEvent::new(&caller.user_id, "project.delete", format!("project:{id}"))
            .details(removed.clone()),
    )
    .await;
    Ok(ApiJson(json!({ "deleted": removed })))
}

/// Deletes a project with its versions, renders and the files that shared them.
pub async fn remove_project(state: &AppState, project: &Project) -> Result<Value, ApiError> {
    let mut versions = 0u64;
    let mut books = 0u64;
    let mut blobs = 0u64;
    let mut bytes = 0u64;
    let mut book_documents = 0u64;
    for render in &project.renders {
        let deleted = visiobook_pipeline::delete_book(state, &render.book_id).await?;
        books += 1;
        book_documents += deleted.documents;
        blobs += deleted.blobs;
        bytes += deleted.bytes;
        // Shared links to the render stop with it.
        for file in storage::files_of(state, &project.owner).await? {
            if file.book_id.as_deref() == Some(render.book_id.as_str()) {
                storage::remove_file(state, &file).await?;
            }
        }
    }
    for version in all_versions_of(state, &project.id).await? {
        match state
            .documents
            .delete(
                VERSIONS_CONTAINER,
                &project.id,
                &version_id(version.version),
                None,
            )
            .await
        {
            Ok(()) => versions += 1,
            Err(error) if error.kind == ErrorKind::NotFound => {}
            Err(error) => return Err(error.into()),
        }
    }
    match state
        .documents
        .delete(PROJECTS_CONTAINER, &project.owner, &project.id, None)
        .await
    {
        Ok(()) => {}
        Err(error) if error.kind == ErrorKind::NotFound => {}
        Err(error) => return Err(error.into()),
    }
    Ok(json!({
        "project": project.id,
        "versions": versions,
        "renders": books,
        "book_documents": book_documents,
        "blobs": blobs,
        "bytes": bytes,
    }))
}

pub async fn all_versions_of(state: &AppState, project_id: &str) -> Result<Vec<Version>, ApiError> {
    let query = Query::default()
        .order_by("version", Order::Ascending)
        .page_size(1000);
    Ok(query_all_typed(
        state.documents.as_ref(),
        VERSIONS_CONTAINER,
        project_id,
        &query,
    )
    .await?)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    continuation: Option<String>,
}

/// `GET /api/v1/projects/{id}/history`: versions, newest first.
pub async fn history(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<ApiJson<Value>, ApiError> {
    let (project, _) = load_project(&state, &caller.user_id, &id).await?;
    let page_size = query.page_size.unwrap_or(20);
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_request(
            "invalid_page_size",
            "page_size is 1 to 100",
        ));
    }
    let store_query = Query::default()
        .order_by("version", Order::Descending)
        .page_size(page_size);
    let page = state
        .documents
        .query(
            VERSIONS_CONTAINER,
            &id,
            &store_query,
            query.continuation.as_deref(),
        )
        .await?;
    let items = page
        .items
        .iter()
        .map(|item| item.parse::<Version>())
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ApiJson(json!({
        "project_id": id,
        "current_version": project.version,
        "items": items,
        "continuation": page.continuation,
    })))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreRequest {
    version: u64,
}

/// `POST /api/v1/projects/{id}/restore` (`If-Match` optional): makes an old version's content
/// current again, as a new version.
pub async fn restore(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RestoreRequest>,
) -> Result<Response, ApiError> {
    let (project, current) = load_project(&state, &caller.user_id, &id).await?;
    let if_match = match optional_if_match(&headers)? {
        Some(tag) if tag != current => return Err(precondition_failed()),
        _ => current,
    };
    let Some((old, _)) = read_typed::<Version>(
        state.documents.as_ref(),
        VERSIONS_CONTAINER,
        &id,
        &version_id(request.version),
    )
    .await?
    else {
        return Err(ApiError::not_found(
            "version_not_found",
            format!("project {id} has no version {}", request.version),
        ));
    };
    // The file it names may have been deleted since.
    let content = validate(&state, &caller, old.content).await?;
    let (project, etag) = commit(
        &state,
        &caller,
        project,
        &if_match,
        content,
        "restore",
        Some(request.version),
    )
    .await?;
    Ok(with_etag(StatusCode::OK, &etag, project.body()))
}

/// `POST /api/v1/projects/{id}/duplicate`: a new project with the same content (not the
/// renders), whose history starts by naming the original.
pub async fn duplicate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (project, _) = load_project(&state, &caller.user_id, &id).await?;
    let mut content = project.content.clone();
    let name: String = format!("{} (copy)", content.name)
        .chars()
        .take(200)
        .collect();
    content.name = name;
    let (copy, etag) = insert(&state, &caller, content, "duplicate", Some(id)).await?;
    Ok(with_etag(StatusCode::CREATED, &etag, copy.body()))
}

/// `POST /api/v1/projects/{id}/render`: renders the project's book with its settings and
/// overrides; 202 with the status link.
pub async fn render(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (project, _) = load_project(&state, &caller.user_id, &id).await?;
    let Some(file_id) = &project.content.file_id else {
        return Err(ApiError::conflict(
            "no_book",
            "the project has no book yet: upload one and set file_id",
        ));
    };
    let (file, _) = storage::load_file(&state, &caller.user_id, file_id).await?;
    let bytes = state.blobs.get(&BlobKey::parse(&file.blob_key)?).await?;
    let extras = visiobook_pipeline::BookExtras {
        project_id: Some(id.clone()),
        overrides: project.content.overrides.clone(),
        options: Some(assembly_options(&project.content.settings)),
    };
    let status = visiobook_pipeline::submit_book_with(
        &state,
        bytes,
        Some(file.name.clone()),
        project.content.settings.language.clone(),
        Some(caller.user_id.clone()),
        extras,
    )
    .await
    .map_err(|error| match error {
        visiobook_pipeline::SubmitError::Rejected(error) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            error.code(),
            error.to_string(),
        ),
        visiobook_pipeline::SubmitError::Store(error) => ApiError::from(error),
        visiobook_pipeline::SubmitError::OverQuota(error) => ApiError::from(error),
        visiobook_pipeline::SubmitError::NotInPlan(reason) => {
            visiobook_runtime::billing::not_in_plan(reason)
        }
    })?;
    // Record the render on the project without making a new version (renders are not edits).
    let render = RenderRef {
        book_id: status.id.clone(),
        version: project.version,
        created_at: now_rfc3339(),
    };
    for _ in 0..16 {
        let (mut latest, etag) = load_project(&state, &caller.user_id, &id).await?;
        latest.renders.push(render.clone());
        match state
            .documents
            .replace(
                PROJECTS_CONTAINER,
                &caller.user_id,
                &id,
                to_body(&latest)?,
                Some(&etag),
            )
            .await
        {
            Ok(_) => break,
            Err(error) if error.kind == ErrorKind::PreconditionFailed => continue,
            Err(error) => return Err(error.into()),
        }
    }
    let status_url = format!("/api/v1/content/status/{}", status.id);
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, status_url.clone())],
        ApiJson(json!({
            "project_id": id,
            "book_id": status.id,
            "version": project.version,
            "status_url": status_url,
        })),
    )
        .into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// The render (a book id from the project's renders); the latest when absent.
    #[serde(default)]
    book_id: Option<String>,
    /// An export: `mp4` (default), `webm`, `gif`, `m4b`, `epub`, `srt`, `vtt`.
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    expires_in_seconds: Option<u64>,
}

/// Export names as routes call them, and the status output each one is.
const SHAREABLE: [(&str, &str); 7] = [
    ("mp4", "video"),
    ("webm", "webm"),
    ("gif", "gif"),
    ("m4b", "audiobook"),
    ("epub", "epub"),
    ("srt", "srt"),
    ("vtt", "vtt"),
];

/// `POST /api/v1/projects/{id}/share`: a signed, expiring download link to one export of a
/// finished render (a storage file of kind `render`, managed with the storage routes).
pub async fn share(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<ShareRequest>,
) -> Result<Response, ApiError> {
    let (project, _) = load_project(&state, &caller.user_id, &id).await?;
    let render = match &request.book_id {
        Some(book_id) => project.renders.iter().find(|r| &r.book_id == book_id),
        None => project.renders.last(),
    }
    .ok_or_else(|| ApiError::not_found("render_not_found", "the project has no such render"))?;
    let format = request.format.as_deref().unwrap_or("mp4");
    let Some(&(_, output)) = SHAREABLE.iter().find(|(name, _)| *name == format) else {
        return Err(ApiError::bad_request(
            "invalid_format",
            format!(
                "share one of: {}",
                SHAREABLE.map(|(name, _)| name).join(", ")
            ),
        ));
    };
    let status = visiobook_pipeline::load_status_for(&state, &caller, &render.book_id)
        .await?
        .ok_or_else(|| ApiError::not_found("render_not_found", "the render is gone"))?;
    let output = status.outputs.get(output).ok_or_else(|| {
        ApiError::conflict(
            "export_not_ready",
            format!("the {format} export is not ready yet"),
        )
    })?;
    let key = BlobKey::parse(&output.blob_key)?;
    let meta =
        state.blobs.head(&key).await?.ok_or_else(|| {
            ApiError::conflict("export_not_ready", "the export is not stored yet")
        })?;
    let lifetime = storage::link_lifetime(request.expires_in_seconds)?;
    let now = now_rfc3339();
    let title = status
        .title
        .clone()
        .unwrap_or_else(|| project.content.name.clone());
    let file = StoredFile {
        id: uuid::Uuid::new_v4().simple().to_string(),
        owner: caller.user_id.clone(),
        name: format!("{title}.{format}"),
        kind: FileKind::Render,
        content_type: output.content_type.clone(),
        size_bytes: meta.size_bytes,
        sha256: None,
        etag: meta.etag.trim_matches('"').to_owned(),
        blob_key: key.to_string(),
        visibility: Visibility::Link,
        link_generation: 0,
        book_id: Some(render.book_id.clone()),
        created_at: now.clone(),
        updated_at: now,
    };
    state
        .documents
        .create(
            storage::FILES_CONTAINER,
            &caller.user_id,
            &file.id,
            to_body(&file)?,
        )
        .await?;
    let expires = visiobook_runtime::auth::now_unix() + lifetime;
    audit::record(
        &state,
        AuditEvent::new(
            &caller.user_id,
            "permission.change",
            format!("file:{}", file.id),
        )
        .details(
            json!({ "shared": format, "book_id": render.book_id, "expires_at_unix": expires }),
        ),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        ApiJson(json!({
            "file": file.metadata(),
            "link": storage::signed_link(&state, &file, expires),
            "expires_at_unix": expires,
        })),
    )
        .into_response())
}
