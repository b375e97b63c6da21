//! The File Storage service: a user's files, streamed in and out, private by default, shared
//! through expiring signed links.
//!
//! A file is a record in the `files` container (partition key: the owner) and, for uploads, a
//! blob under `users/{owner}/files/{id}`. A shared render is a record of kind `render` that
//! points at the render's export blob, so the same routes (metadata, permissions, download,
//! delete) serve it without a copy.

use std::io::Write as _;

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use visiobook_ports::document::{query_all_typed, read_typed, to_body};
use visiobook_ports::{BlobKey, ErrorKind, Order, Query};
use visiobook_runtime::audit::{self, AuditEvent};
use visiobook_runtime::auth::now_unix;
use visiobook_runtime::error::{ApiJson, ApiPath, ApiQuery};
use visiobook_runtime::{ApiError, AppState, Caller, now_rfc3339};

use crate::sniff;

/// File records (partition key: the owner's user id; id: the file id).
pub const FILES_CONTAINER: &str = "files";
/// Default lifetime of a shared link.
pub const DEFAULT_LINK_SECONDS: u64 = 7 * 86_400;
/// Longest lifetime of a shared link.
pub const MAX_LINK_SECONDS: u64 = 30 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Only the owner, signed in.
    Private,
    /// Also whoever holds an unexpired signed link of the current generation.
    Link,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// Bytes the user uploaded (counted in their quota).
    Upload,
    /// A render's export, shared from a project (stored with the book, not counted twice).
    Render,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    pub id: String,
    pub owner: String,
    pub name: String,
    pub kind: FileKind,
    /// From the bytes, never from the client.
    pub content_type: String,
    pub size_bytes: u64,
    /// Lower-case hex SHA-256 of the content (uploads; renders are not hashed again).
    #[serde(default)]
    pub sha256: Option<String>,
    /// Changes whenever the content does: the SHA-256 for uploads, the blob's tag for renders.
    pub etag: String,
    pub blob_key: String,
    pub visibility: Visibility,
    /// Bumped when sharing stops: links signed for an older generation stop working.
    pub link_generation: u32,
    #[serde(default)]
    pub book_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl StoredFile {
    pub fn metadata(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "content_type": self.content_type,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "visibility": self.visibility,
            "book_id": self.book_id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "links": {
                "self": format!("/api/v1/storage/metadata/{}", self.id),
                "download": format!("/api/v1/storage/download/{}", self.id),
            },
        })
    }
}

pub fn file_not_found(id: &str) -> ApiError {
    ApiError::not_found("file_not_found", format!("no file with id {id:?}"))
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The caller's file `id`; someone else's file answers exactly like a missing one.
pub async fn load_file(
    state: &AppState,
    owner: &str,
    id: &str,
) -> Result<(StoredFile, visiobook_ports::ETag), ApiError> {
    if !valid_id(id) {
        return Err(file_not_found(id));
    }
    read_typed(state.documents.as_ref(), FILES_CONTAINER, owner, id)
        .await?
        .ok_or_else(|| file_not_found(id))
}

/// Every file record of `owner`.
pub async fn files_of(state: &AppState, owner: &str) -> Result<Vec<StoredFile>, ApiError> {
    let query = Query::default()
        .order_by("created_at", Order::Ascending)
        .page_size(1000);
    Ok(query_all_typed(state.documents.as_ref(), FILES_CONTAINER, owner, &query).await?)
}

/// Bytes `owner` keeps in uploads.
pub async fn usage_of(state: &AppState, owner: &str) -> Result<u64, ApiError> {
    Ok(files_of(state, owner)
        .await?
        .iter()
        .filter(|file| file.kind == FileKind::Upload)
        .map(|file| file.size_bytes)
        .sum())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct UploadQuery {
    filename: Option<String>,
}

/// `POST /api/v1/storage/upload`: the raw body (`?filename=`) or a multipart `file` field,
/// streamed to disk while hashed and counted against the quota, typed from its bytes, then
/// stored. 201 with the metadata.
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<UploadQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let used = usage_of(&state, &caller.user_id).await?;
    // Read at run time: an administrator may change it in the `storage` configuration.
    let quota = visiobook_runtime::config::storage_quota_bytes(&state).await?;
    let allowed = quota
        .saturating_sub(used)
        .min(state.settings.max_body_bytes as u64);
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("multipart/form-data"));
    let temporary_dir = state.settings.data_dir.join("tmp");
    std::fs::create_dir_all(&temporary_dir).map_err(ApiError::internal)?;
    let mut spool = Spool::new(&temporary_dir, allowed)?;
    let mut name = query.filename;
    if is_multipart {
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
        let mut found = false;
        while let Some(mut field) = multipart.next_field().await.map_err(|error| {
            ApiError::new(error.status(), "invalid_multipart", error.body_text())
        })? {
            if field.name() != Some("file") {
                continue;
            }
            if let Some(file_name) = field.file_name() {
                name = Some(file_name.to_owned());
            }
            while let Some(chunk) = field.chunk().await.map_err(|error| {
                ApiError::new(error.status(), "invalid_multipart", error.body_text())
            })? {
                spool.write(&chunk, used, quota)?;
            }
            found = true;
            break;
        }
        if !found {
            return Err(ApiError::bad_request(
                "missing_file",
                "the form has no \"file\" field",
            ));
        }
    } else {
        let mut stream = request.into_body().into_data_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| {
                ApiError::bad_request("invalid_body", format!("the upload broke off: {error}"))
            })?;
            spool.write(&chunk, used, quota)?;
        }
    }
    if spool.size == 0 {
        return Err(ApiError::bad_request(
            "empty_upload",
            "the uploaded file is empty",
        ));
    }
    let name = clean_name(name.as_deref().unwrap_or("upload"));
    let id = uuid::Uuid::new_v4().simple().to_string();
    let key = BlobKey::parse(&format!("users/{}/files/{id}", caller.user_id))?;
    let (size, sha256, content_type, path) = spool.finish()?;
    state
        .blobs
        .put_file(&key, path.path(), content_type)
        .await?;
    let now = now_rfc3339();
    let file = StoredFile {
        id: id.clone(),
        owner: caller.user_id.clone(),
        name,
        kind: FileKind::Upload,
        content_type: content_type.to_owned(),
        size_bytes: size,
        etag: sha256.clone(),
        sha256: Some(sha256),
        blob_key: key.to_string(),
        visibility: Visibility::Private,
        link_generation: 0,
        book_id: None,
        created_at: now.clone(),
        updated_at: now,
    };
    if let Err(error) = state
        .documents
        .create(FILES_CONTAINER, &caller.user_id, &id, to_body(&file)?)
        .await
    {
        let _ = state.blobs.delete(&key).await;
        return Err(error.into());
    }
    state.metrics.book_event("file_uploaded");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/v1/storage/metadata/{id}"))],
        ApiJson(file.metadata()),
    )
        .into_response())
}

/// An upload on its way to disk: hashed, counted and limited as it arrives.
struct Spool {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
}

impl Spool {
    fn new(dir: &std::path::Path, limit: u64) -> Result<Self, ApiError> {
        Ok(Self {
            file: tempfile::NamedTempFile::new_in(dir).map_err(ApiError::internal)?,
            hasher: Sha256::new(),
            size: 0,
            limit,
            head: Vec::with_capacity(sniff::SNIFF_BYTES),
        })
    }

    fn write(&mut self, chunk: &Bytes, used: u64, quota: u64) -> Result<(), ApiError> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(if used.saturating_add(self.size) > quota {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "storage_quota_exceeded",
                    format!(
                        "this upload does not fit in your storage: {used} of {quota} bytes are used"
                    ),
                )
            } else {
                ApiError::payload_too_large(usize::try_from(self.limit).unwrap_or(usize::MAX))
            });
        }
        if self.head.len() < sniff::SNIFF_BYTES {
            let take = (sniff::SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        self.hasher.update(chunk);
        // Small synchronous writes to a local temporary file; the chunks are at most a few KiB.
        self.file.write_all(chunk).map_err(ApiError::internal)
    }

    fn finish(mut self) -> Result<(u64, String, &'static str, tempfile::NamedTempFile), ApiError> {
        self.file.flush().map_err(ApiError::internal)?;
        let content_type = sniff::content_type(&self.head);
        Ok((
            self.size,
            hex::encode(self.hasher.finalize()),
            content_type,
            self.file,
        ))
    }
}

/// The last path component, printable, at most 200 characters.
fn clean_name(name: &str) -> String {
    let cleaned: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(200)
        .collect();
    if cleaned.trim().is_empty() {
        "upload".to_owned()
    } else {
        cleaned
    }
}

/// `GET /api/v1/storage/metadata/{id}`.
pub async fn metadata(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<ApiJson<Value>, ApiError> {
    let (file, _) = load_file(&state, &caller.user_id, &id).await?;
    Ok(ApiJson(file.metadata()))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct DownloadQuery {
    /// A signed link token, for downloads without signing in.
    link: Option<String>,
}

/// `GET /api/v1/storage/download/{id}`: the owner signed in, or anyone with a valid signed
/// link. Honours a single `Range: bytes=...` (206, or 416 when unsatisfiable) and
/// `If-None-Match`.
pub async fn download(
    State(state): State<AppState>,
    caller: Option<Caller>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<DownloadQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = match (&query.link, &caller) {
        (Some(link), _) => file_by_link(&state, &id, link).await?,
        (None, Some(caller)) => load_file(&state, &caller.user_id, &id).await?.0,
        (None, None) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign in, or use a shared link",
            ));
        }
    };
    let key = BlobKey::parse(&file.blob_key)?;
    let etag = format!("\"{}\"", file.etag);
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        })
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file.name.replace(|c: char| !c.is_ascii() || c == '\\', "_")
    );
    visiobook_runtime::http::serve_blob(
        &state,
        &key,
        file.size_bytes,
        &headers,
        vec![
            (header::CONTENT_TYPE, file.content_type.clone()),
            (header::ETAG, etag),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        file_not_found(&id),
    )
    .await
}

/// The lifetime asked for a link (7 days when absent), within 1 s to 30 days.
pub fn link_lifetime(requested: Option<u64>) -> Result<u64, ApiError> {
    let lifetime = requested.unwrap_or(DEFAULT_LINK_SECONDS);
    if (1..=MAX_LINK_SECONDS).contains(&lifetime) {
        Ok(lifetime)
    } else {
        Err(ApiError::bad_request(
            "invalid_expiry",
            format!("a link lives 1 to {MAX_LINK_SECONDS} seconds"),
        ))
    }
}

/// The message a link signature covers.
fn link_message(file: &StoredFile, expires: u64) -> String {
    format!(
        "download\u{0}{}\u{0}{}\u{0}{expires}\u{0}{}",
        file.id, file.owner, file.link_generation
    )
}

/// A signed link to `file` valid until `expires` (Unix seconds).
pub fn signed_link(state: &AppState, file: &StoredFile, expires: u64) -> String {
    let signature = state.auth.sign_link(&link_message(file, expires));
    format!(
        "/api/v1/storage/download/{}?link={}.{expires}.{signature}",
        file.id, file.owner
    )
}

async fn file_by_link(state: &AppState, id: &str, link: &str) -> Result<StoredFile, ApiError> {
    // Every failure but expiry looks like a missing file: a forged link learns nothing.
    let mut parts = link.split('.');
    let (Some(owner), Some(expires), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(file_not_found(id));
    };
    let Ok(expires) = expires.parse::<u64>() else {
        return Err(file_not_found(id));
    };
    if !valid_id(owner) {
        return Err(file_not_found(id));
    }
    let (file, _) = load_file(state, owner, id).await?;
    if file.visibility != Visibility::Link
        || !state
            .auth
            .verify_link(&link_message(&file, expires), signature)
    {
        return Err(file_not_found(id));
    }
    if now_unix() >= expires {
        return Err(ApiError::new(
            StatusCode::GONE,
            "link_expired",
            "this shared link has expired; ask the owner for a new one",
        ));
    }
    Ok(file)
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionsRequest {
    visibility: Visibility,
    /// Lifetime of the link when sharing (default 7 days, at most 30).
    #[serde(default)]
    expires_in_seconds: Option<u64>,
}

/// `PUT /api/v1/storage/permissions/{id}`: `private` (ends every link given so far) or `link`
/// (answers a new signed link).
pub async fn permissions(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<PermissionsRequest>,
) -> Result<ApiJson<Value>, ApiError> {
    let (mut file, etag) = load_file(&state, &caller.user_id, &id).await?;
    let lifetime = link_lifetime(request.expires_in_seconds)?;
    let before = file.visibility;
    if request.visibility == Visibility::Private && before == Visibility::Link {
        file.link_generation = file.link_generation.saturating_add(1);
    }
    file.visibility = request.visibility;
    file.updated_at = now_rfc3339();
    state
        .documents
        .replace(
            FILES_CONTAINER,
            &caller.user_id,
            &id,
            to_body(&file)?,
            Some(&etag),
        )
        .await?;
    audit::record(
        &state,
        AuditEvent::new(&caller.user_id, "permission.change", format!("file:{id}"))
            .details(json!({ "from": before, "to": file.visibility })),
    )
    .await;
    let mut body = json!({ "id": id, "visibility": file.visibility });
    if file.visibility == Visibility::Link {
        let expires = now_unix() + lifetime;
        body["link"] = json!(signed_link(&state, &file, expires));
        body["expires_at_unix"] = json!(expires);
    }
    Ok(ApiJson(body))
}

/// `DELETE /api/v1/storage/delete/{id}`: the record and, for uploads, the bytes.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let (file, _) = load_file(&state, &caller.user_id, &id).await?;
    remove_file(&state, &file).await?;
    audit::record(
        &state,
        AuditEvent::new(&caller.user_id, "file.delete", format!("file:{id}"))
            .details(json!({ "size_bytes": file.size_bytes, "kind": file.kind })),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Removes a file record and, for uploads, its blob. Returns the bytes freed.
pub async fn remove_file(state: &AppState, file: &StoredFile) -> Result<u64, ApiError> {
    let mut freed = 0;
    if file.kind == FileKind::Upload {
        let key = BlobKey::parse(&file.blob_key)?;
        if state.blobs.delete(&key).await? {
            freed = file.size_bytes;
        }
    }
    match state
        .documents
        .delete(FILES_CONTAINER, &file.owner, &file.id, None)
        .await
    {
        Ok(()) => Ok(freed),
        Err(error) if error.kind == ErrorKind::NotFound => Ok(freed),
        Err(error) => Err(error.into()),
    }
}

/// `GET /api/v1/storage/files`: the caller's files and their quota.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Value>, ApiError> {
    let files = files_of(&state, &caller.user_id).await?;
    let used: u64 = files
        .iter()
        .filter(|file| file.kind == FileKind::Upload)
        .map(|file| file.size_bytes)
        .sum();
    Ok(ApiJson(json!({
        "items": files.iter().map(StoredFile::metadata).collect::<Vec<_>>(),
        "quota": {
            "used_bytes": used,
            "limit_bytes": visiobook_runtime::config::storage_quota_bytes(&state).await?,
        },
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_the_last_component() {
        assert_eq!(clean_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_name("C:\\books\\alice.epub"), "alice.epub");
        assert_eq!(clean_name("\"quoted\".txt"), "quoted.txt");
        assert_eq!(clean_name("/"), "upload");
    }
}
