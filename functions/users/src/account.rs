//! The signed-in user's own account: profile, data export and deletion.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use visiobook_auth::{PasswordPolicy, check_password};
use visiobook_ports::ErrorKind;
use visiobook_ports::document::to_body;
use visiobook_runtime::audit::{self, AuditEvent};
use visiobook_runtime::error::ApiJson;
use visiobook_runtime::{ApiError, AppState, Caller, now_rfc3339};

use crate::sessions::{revoke_all_sessions, sessions_of};
use crate::users::{
    EMAILS_CONTAINER, Preferences, USERS_CONTAINER, caller_user, clean_display_name, hash_password,
    index_id, verify_password,
};

/// `GET /api/v1/users/profile`.
pub async fn profile(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let (user, etag) = caller_user(&state, &caller.user_id).await?;
    Ok((
        [(header::ETAG, format!("\"{etag}\""))],
        ApiJson(user.profile()),
    )
        .into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileUpdate {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    preferences: Option<Preferences>,
    /// Changing the password needs the current one; it ends every other session.
    #[serde(default)]
    password: Option<PasswordChange>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// `PUT /api/v1/users/profile`: display name, preferences, password.
pub async fn update_profile(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(update): ApiJson<ProfileUpdate>,
) -> Result<Response, ApiError> {
    let (mut user, etag) = caller_user(&state, &caller.user_id).await?;
    let mut changed = Vec::new();
    if let Some(name) = update.display_name {
        user.display_name = clean_display_name(&name)?;
        changed.push("display_name");
    }
    if let Some(mut preferences) = update.preferences {
        if let Some(language) = &preferences.language {
            let primary = language.trim().to_ascii_lowercase();
            if !(2..=3).contains(&primary.len()) || !primary.chars().all(|c| c.is_ascii_lowercase())
            {
                return Err(ApiError::bad_request(
                    "invalid_language",
                    "a language is a code such as en or fr",
                ));
            }
            preferences.language = Some(primary);
        }
        user.preferences = preferences;
        changed.push("preferences");
    }
    let password_changed = if let Some(change) = update.password {
        let correct = verify_password(change.current, Some(user.password_hash.clone())).await?;
        if !correct {
            return Err(ApiError::forbidden(
                "invalid_credentials",
                "the current password is wrong",
            ));
        }
        check_password(&PasswordPolicy::default(), &change.new, &user.email).map_err(
            |problem| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    problem.code(),
                    problem.message(),
                )
            },
        )?;
        user.password_hash = hash_password(change.new).await?;
        changed.push("password");
        true
    } else {
        false
    };
    user.updated_at = now_rfc3339();
    let etag = state
        .documents
        .replace(
            USERS_CONTAINER,
            &user.id,
            &user.id,
            to_body(&user)?,
            Some(&etag),
        )
        .await?;
    if password_changed {
        // Every other session ends; this one goes on.
        for session in sessions_of(&state, &user.id).await? {
            if session.id != caller.session_id && session.revoked_at.is_none() {
                crate::sessions::revoke_session(&state, &user.id, &session.id, "password_changed")
                    .await?;
            }
        }
    }
    audit::record(
        &state,
        AuditEvent::new(
            &caller.user_id,
            "account.update",
            format!("user:{}", user.id),
        )
        .details(json!({ "changed": changed })),
    )
    .await;
    Ok((
        [(header::ETAG, format!("\"{etag}\""))],
        ApiJson(user.profile()),
    )
        .into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    /// The account's password, to confirm.
    password: String,
}

/// `DELETE /api/v1/users/account`: deletes everything the user owns and says what it did.
pub async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<DeleteRequest>,
) -> Result<ApiJson<Value>, ApiError> {
    let (user, _) = caller_user(&state, &caller.user_id).await?;
    let correct = verify_password(request.password, Some(user.password_hash.clone())).await?;
    if !correct {
        return Err(ApiError::forbidden(
            "invalid_credentials",
            "the password is wrong; the account was not deleted",
        ));
    }
    // Sessions end first so that nothing new arrives while the rest goes.
    let sessions = revoke_all_sessions(&state, &user.id, "account_deleted").await?;
    let owned = visiobook_projects::erase_user(&state, &user.id).await?;
    // Paid subscriptions end with the provider before the account goes.
    let billing = visiobook_payments::erase_user(&state, &user.id).await?;
    let mut sessions_deleted = 0u64;
    for session in sessions_of(&state, &user.id).await? {
        delete_if_present(
            &state,
            visiobook_runtime::auth::SESSIONS_CONTAINER,
            &user.id,
            &session.id,
        )
        .await?;
        sessions_deleted += 1;
    }
    let mut notifications = 0u64;
    for container in [
        visiobook_runtime::notify::NOTIFICATIONS_CONTAINER,
        visiobook_runtime::notify::NOTIFICATION_KEYS_CONTAINER,
        visiobook_runtime::notify::DELIVERIES_CONTAINER,
        visiobook_runtime::notify::WEBHOOKS_CONTAINER,
    ] {
        let query = visiobook_ports::Query::default().page_size(1000);
        let documents = visiobook_ports::document::query_all(
            state.documents.as_ref(),
            container,
            &user.id,
            &query,
        )
        .await?;
        for document in documents {
            delete_if_present(&state, container, &user.id, &document.id).await?;
            if container == visiobook_runtime::notify::NOTIFICATIONS_CONTAINER {
                notifications += 1;
            }
        }
    }
    let email_id = index_id(&user.email);
    delete_if_present(&state, EMAILS_CONTAINER, &email_id, &email_id).await?;
    delete_if_present(&state, USERS_CONTAINER, &user.id, &user.id).await?;
    audit::record(
        &state,
        AuditEvent::new(&user.id, "account.delete", format!("user:{}", user.id))
            .details(json!({ "projects": owned["projects"], "files": owned["files"], "books": owned["books"] })),
    )
    .await;
    Ok(ApiJson(json!({
        "deleted": {
            "account": true,
            "email": user.email,
            "sessions": sessions_deleted,
            "sessions_revoked": sessions,
            "notifications": notifications,
            "projects": owned["projects"],
            "project_versions": owned["project_versions"],
            "files": owned["files"],
            "books": owned["books"],
            "book_documents": owned["book_documents"],
            "blobs": owned["blobs"],
            "bytes": owned["bytes"],
            "billing": billing,
        },
        "kept": {
            "audit_log": "entries stay (the log is append-only and hash-chained); they name the account only by its random id, which nothing links to you any more",
            "analytics": "product events stay in their hourly aggregates; they name the account only by its random id",
            "payments": "the payment provider keeps its own records of past payments, as the law asks of it",
            "cache": "content-addressed narration and picture caches hold no link to the account and expire with the cache",
        },
    })))
}

async fn delete_if_present(
    state: &AppState,
    container: &str,
    partition: &str,
    id: &str,
) -> Result<(), ApiError> {
    match state.documents.delete(container, partition, id, None).await {
        Ok(()) => Ok(()),
        Err(error) if error.kind == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// `GET /api/v1/users/export`: everything stored about the user, as one JSON download.
pub async fn export(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let (user, _) = caller_user(&state, &caller.user_id).await?;
    let sessions: Vec<Value> = sessions_of(&state, &user.id)
        .await?
        .into_iter()
        .map(|session| {
            json!({
                "id": session.id,
                "created_at": session.created_at,
                "last_used_at": session.last_used_at,
                "revoked_at": session.revoked_at,
                "revoked_reason": session.revoked_reason,
                "user_agent": session.user_agent,
            })
        })
        .collect();
    let owned = visiobook_projects::export_user(&state, &user.id).await?;
    let audit = audit::entries_about(&state, &user.id).await?;
    let notifications: Vec<visiobook_runtime::notify::Notification> =
        visiobook_ports::document::query_all_typed(
            state.documents.as_ref(),
            visiobook_runtime::notify::NOTIFICATIONS_CONTAINER,
            &user.id,
            &visiobook_ports::Query::default().page_size(1000),
        )
        .await?;
    let body = json!({
        "exported_at": now_rfc3339(),
        "format": "visiobook-export.v1",
        "profile": user.profile(),
        "sessions": sessions,
        "projects": owned["projects"],
        "files": owned["files"],
        "books": owned["books"],
        "audit_log": audit,
        "notifications": notifications,
        "billing": visiobook_payments::export_user(&state, &user.id).await?,
    });
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"visiobook-export.json\"",
        )],
        ApiJson(body),
    )
        .into_response())
}
