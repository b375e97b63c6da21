//! The Project Management and File Storage services as functions:
//!
//! | function | trigger |
//! |---|---|
//! | `Projects` | `GET`/`POST /api/v1/projects` |
//! | `Project` | `GET`/`PUT`/`DELETE /api/v1/projects/{id}` (`If-Match` on `PUT`) |
//! | `ProjectHistory` | `GET /api/v1/projects/{id}/history` |
//! | `ProjectRestore` | `POST /api/v1/projects/{id}/restore` |
//! | `ProjectDuplicate` | `POST /api/v1/projects/{id}/duplicate` |
//! | `ProjectRender` | `POST /api/v1/projects/{id}/render` |
//! | `ProjectShare` | `POST /api/v1/projects/{id}/share` |
//! | `StorageUpload` | `POST /api/v1/storage/upload` |
//! | `StorageFiles` | `GET /api/v1/storage/files` |
//! | `StorageDownload` | `GET /api/v1/storage/download/{id}` (signed in, or `?link=`) |
//! | `StorageDelete` | `DELETE /api/v1/storage/delete/{id}` |
//! | `StorageMetadata` | `GET /api/v1/storage/metadata/{id}` |
//! | `StoragePermissions` | `PUT /api/v1/storage/permissions/{id}` |

mod projects;
mod sniff;
mod storage;

use axum::http::Method;
use axum::routing::{delete, get, post, put};
use serde_json::{Value, json};
use visiobook_host::FunctionDef;
use visiobook_runtime::{ApiError, AppState};

pub use projects::{PROJECTS_CONTAINER, Project, VERSIONS_CONTAINER, load_project};
pub use storage::{FILES_CONTAINER, StoredFile};

/// Every function of the two services.
pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http(
            "Projects",
            "v1/projects",
            &[Method::GET, Method::POST],
            get(projects::list).post(projects::create),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::get("The caller's projects, paged and sorted")
                .query(visiobook_host::openapi::schema::<projects::ListQuery>),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("Create a project")
                .body(visiobook_host::openapi::schema::<projects::ProjectContent>)
                .status(201),
        ),
        FunctionDef::http(
            "Project",
            "v1/projects/{id}",
            &[Method::GET, Method::PUT, Method::DELETE],
            get(projects::read)
                .put(projects::update)
                .delete(projects::delete),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "A project, with its ETag",
        ))
        .doc(
            visiobook_host::openapi::OperationDoc::put("Change a project (If-Match required)")
                .body(visiobook_host::openapi::schema::<projects::ProjectUpdate>),
        )
        .doc(visiobook_host::openapi::OperationDoc::delete(
            "Delete a project, its history and its renders",
        )),
        FunctionDef::http(
            "ProjectHistory",
            "v1/projects/{id}/history",
            &[Method::GET],
            get(projects::history),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::get("A project's versions, newest first")
                .query(visiobook_host::openapi::schema::<projects::HistoryQuery>),
        ),
        FunctionDef::http(
            "ProjectRestore",
            "v1/projects/{id}/restore",
            &[Method::POST],
            post(projects::restore),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("Make an old version current again")
                .body(visiobook_host::openapi::schema::<projects::RestoreRequest>),
        ),
        FunctionDef::http(
            "ProjectDuplicate",
            "v1/projects/{id}/duplicate",
            &[Method::POST],
            post(projects::duplicate),
        )
        .doc(visiobook_host::openapi::OperationDoc::post("Copy a project").status(201)),
        FunctionDef::http(
            "ProjectRender",
            "v1/projects/{id}/render",
            &[Method::POST],
            post(projects::render),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post(
                "Render the project's book with its settings",
            )
            .status(202),
        ),
        FunctionDef::http(
            "ProjectShare",
            "v1/projects/{id}/share",
            &[Method::POST],
            post(projects::share),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post(
                "A signed, expiring link to one export of a render",
            )
            .body(visiobook_host::openapi::schema::<projects::ShareRequest>)
            .status(201),
        ),
        FunctionDef::http(
            "StorageUpload",
            "v1/storage/upload",
            &[Method::POST],
            post(storage::upload),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post(
                "Upload a file (streamed, typed from its bytes)",
            )
            .query(visiobook_host::openapi::schema::<storage::UploadQuery>)
            .raw_body(&["application/octet-stream", "multipart/form-data"])
            .status(201),
        ),
        FunctionDef::http(
            "StorageFiles",
            "v1/storage/files",
            &[Method::GET],
            get(storage::list),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "The caller's files and quota",
        )),
        FunctionDef::http(
            "StorageDownload",
            "v1/storage/download/{id}",
            &[Method::GET],
            get(storage::download),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::get(
                "Download a file (ranges; signed in or with a link)",
            )
            .public()
            .query(visiobook_host::openapi::schema::<storage::DownloadQuery>)
            .produces("application/octet-stream"),
        ),
        FunctionDef::http(
            "StorageDelete",
            "v1/storage/delete/{id}",
            &[Method::DELETE],
            delete(storage::delete),
        )
        .doc(visiobook_host::openapi::OperationDoc::delete("Delete a file").status(204)),
        FunctionDef::http(
            "StorageMetadata",
            "v1/storage/metadata/{id}",
            &[Method::GET],
            get(storage::metadata),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "A file's metadata",
        )),
        FunctionDef::http(
            "StoragePermissions",
            "v1/storage/permissions/{id}",
            &[Method::PUT],
            put(storage::permissions),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::put("Share with a signed link, or make private")
                .body(visiobook_host::openapi::schema::<storage::PermissionsRequest>),
        ),
    ]
}

/// Deletes everything `user_id` owns here: projects (with versions and renders), files, and
/// any other book they uploaded. Returns counts of what went.
pub async fn erase_user(state: &AppState, user_id: &str) -> Result<Value, ApiError> {
    let mut projects = 0u64;
    let mut versions = 0u64;
    let mut books = 0u64;
    let mut blobs = 0u64;
    let mut bytes = 0u64;
    let mut book_documents = 0u64;
    let count = |value: &Value, field: &str| value[field].as_u64().unwrap_or(0);
    for project in projects_of(state, user_id).await? {
        let removed = projects::remove_project(state, &project).await?;
        projects += 1;
        versions += count(&removed, "versions");
        books += count(&removed, "renders");
        book_documents += count(&removed, "book_documents");
        blobs += count(&removed, "blobs");
        bytes += count(&removed, "bytes");
    }
    let mut files = 0u64;
    for file in storage::files_of(state, user_id).await? {
        let freed = storage::remove_file(state, &file).await?;
        if freed > 0 {
            blobs += 1;
        }
        bytes += freed;
        files += 1;
    }
    for book_id in visiobook_pipeline::owned_book_ids(state, user_id).await? {
        let deleted = visiobook_pipeline::delete_book(state, &book_id).await?;
        books += 1;
        book_documents += deleted.documents;
        blobs += deleted.blobs;
        bytes += deleted.bytes;
    }
    Ok(json!({
        "projects": projects,
        "project_versions": versions,
        "files": files,
        "books": books,
        "book_documents": book_documents,
        "blobs": blobs,
        "bytes": bytes,
    }))
}

/// Everything `user_id` owns here, for their data export.
pub async fn export_user(state: &AppState, user_id: &str) -> Result<Value, ApiError> {
    let mut projects = Vec::new();
    for project in projects_of(state, user_id).await? {
        let mut body = serde_json::to_value(&project).map_err(ApiError::internal)?;
        body["history"] = json!(projects::all_versions_of(state, &project.id).await?);
        projects.push(body);
    }
    let files: Vec<Value> = storage::files_of(state, user_id)
        .await?
        .iter()
        .map(StoredFile::metadata)
        .collect();
    let mut books = Vec::new();
    for book_id in visiobook_pipeline::owned_book_ids(state, user_id).await? {
        if let Some(status) = visiobook_pipeline::load_status(state, &book_id).await? {
            books.push(serde_json::to_value(status).map_err(ApiError::internal)?);
        }
    }
    Ok(json!({ "projects": projects, "files": files, "books": books }))
}

async fn projects_of(state: &AppState, user_id: &str) -> Result<Vec<Project>, ApiError> {
    let query = visiobook_ports::Query::default().page_size(1000);
    Ok(visiobook_ports::document::query_all_typed(
        state.documents.as_ref(),
        PROJECTS_CONTAINER,
        user_id,
        &query,
    )
    .await?)
}
