//! Sign-up, sign-in, token refresh and sign-out.
//!
//! A session is one refresh-token family. The refresh token handed out is
//! `<user id>.<session id>.<secret>`; only the SHA-256 of the whole token is stored. Each
//! refresh replaces it (rotation); presenting a token that was already replaced means it was
//! copied, so the whole family is revoked and both holders must sign in again.

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use visiobook_auth::{PasswordPolicy, check_password, refresh_token_hash};
use visiobook_ports::document::{read_typed, to_body};
use visiobook_ports::{ErrorKind, StoreError};
use visiobook_runtime::audit::{self, AuditEvent};
use visiobook_runtime::auth::{SESSIONS_CONTAINER, Session, now_unix};
use visiobook_runtime::error::ApiJson;
use visiobook_runtime::{ApiError, AppState, Caller, now_rfc3339};

use crate::throttle;
use crate::users::{
    EMAILS_CONTAINER, EmailEntry, Preferences, USERS_CONTAINER, User, clean_display_name, index_id,
    normalise_email, role_for, user_by_email,
};

/// Spent refresh tokens remembered per session (a replay of an older one is refused as
/// invalid rather than detected as reuse).
const MAX_USED_HASHES: usize = 64;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    email: String,
    password: String,
    #[serde(default)]
    display_name: Option<String>,
}

/// `POST /api/v1/auth/register`: creates an account and signs it in (201).
pub async fn register(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let user_agent = user_agent(&request);
    let ApiJson(body) = ApiJson::<RegisterRequest>::from_request(request, &state).await?;
    let email = normalise_email(&body.email)?;
    check_password(&PasswordPolicy::default(), &body.password, &email).map_err(|problem| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            problem.code(),
            problem.message(),
        )
    })?;
    let display_name = match body.display_name {
        Some(name) => clean_display_name(&name)?,
        None => email.split('@').next().unwrap_or("reader").to_owned(),
    };
    let password_hash = crate::users::hash_password(body.password).await?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let now = now_rfc3339();
    let user = User {
        id: id.clone(),
        email: email.clone(),
        display_name,
        password_hash,
        role: role_for(&state, &email).to_owned(),
        preferences: Preferences {
            language: None,
            notify_by_email: true,
        },
        created_at: now.clone(),
        updated_at: now,
    };
    // The email index entry first: its creation is what makes the email unique.
    let email_id = index_id(&email);
    match state
        .documents
        .create(
            EMAILS_CONTAINER,
            &email_id,
            &email_id,
            to_body(&EmailEntry {
                user_id: id.clone(),
            })?,
        )
        .await
    {
        Ok(_) => {}
        Err(error) if error.kind == ErrorKind::Conflict => {
            return Err(ApiError::conflict(
                "email_taken",
                "an account with this email exists; sign in instead",
            ));
        }
        Err(error) => return Err(error.into()),
    }
    if let Err(error) = state
        .documents
        .create(USERS_CONTAINER, &id, &id, to_body(&user)?)
        .await
    {
        let _ = state
            .documents
            .delete(EMAILS_CONTAINER, &email_id, &email_id, None)
            .await;
        return Err(error.into());
    }
    audit::record(
        &state,
        AuditEvent::new(&id, "account.register", format!("user:{id}"))
            .details(json!({ "role": user.role })),
    )
    .await;
    visiobook_runtime::analytics::record(&state, "user.registered", Some(&id), json!({})).await;
    let tokens = start_session(&state, &user, user_agent).await?;
    let mut body = tokens;
    body["user"] = user.profile();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, "/api/v1/users/profile")],
        ApiJson(body),
    )
        .into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    email: String,
    password: String,
}

/// `POST /api/v1/auth/login`: checks the password (as slowly for unknown emails as for known
/// ones) and starts a session.
pub async fn login(State(state): State<AppState>, request: Request) -> Result<Response, ApiError> {
    let user_agent = user_agent(&request);
    let address =
        visiobook_runtime::http::client_address(&request, state.settings.trust_forwarded_for);
    let ApiJson(body) = ApiJson::<LoginRequest>::from_request(request, &state).await?;
    // A malformed email can never sign in; it is counted like any other failure.
    let email = normalise_email(&body.email).unwrap_or_else(|_| body.email.trim().to_lowercase());
    let keys = throttle::Keys::new(&email, &address);
    throttle::check(&state, &keys, throttle::now_ms()).await?;
    let found = user_by_email(state.documents.as_ref(), &email).await?;
    let stored_hash = found.as_ref().map(|(user, _)| user.password_hash.clone());
    let verified = crate::users::verify_password(body.password, stored_hash).await?;
    let Some((mut user, etag)) = found.filter(|_| verified) else {
        throttle::failed(&state, &keys, throttle::now_ms()).await?;
        audit::record(
            &state,
            AuditEvent::new(
                "anonymous",
                "auth.login",
                format!("email:{}", index_id(&email)),
            )
            .failure()
            .details(json!({ "address": address })),
        )
        .await;
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the email or the password is wrong",
        ));
    };
    throttle::succeeded(&state, &keys).await?;
    let role = role_for(&state, &user.email);
    if user.role != role {
        let previous = std::mem::replace(&mut user.role, role.to_owned());
        user.updated_at = now_rfc3339();
        state
            .documents
            .replace(
                USERS_CONTAINER,
                &user.id,
                &user.id,
                to_body(&user)?,
                Some(&etag),
            )
            .await?;
        audit::record(
            &state,
            AuditEvent::new("system", "permission.change", format!("user:{}", user.id))
                .details(json!({ "from": previous, "to": role, "why": "VISIOBOOK_ADMIN_EMAILS" })),
        )
        .await;
    }
    let mut body = start_session(&state, &user, user_agent).await?;
    audit::record(
        &state,
        AuditEvent::new(
            &user.id,
            "auth.login",
            format!("session:{}", body["session_id"]),
        )
        .details(json!({ "address": address })),
    )
    .await;
    visiobook_runtime::analytics::record(&state, "user.signed_in", Some(&user.id), json!({})).await;
    body["user"] = user.profile();
    Ok(ApiJson(body).into_response())
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// `POST /api/v1/auth/refresh`: a new access token and a new refresh token for the old one.
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<ApiJson<Value>, ApiError> {
    let invalid = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
            "the refresh token is not valid; sign in again",
        )
    };
    let token = body.refresh_token.trim();
    let mut parts = token.splitn(3, '.');
    let (Some(user_id), Some(session_id), Some(_secret)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let plain_id = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if !plain_id(user_id) || !plain_id(session_id) {
        return Err(invalid());
    }
    let presented = refresh_token_hash(token);
    let now = now_unix();
    let Some((mut session, etag)) = read_typed::<Session>(
        state.documents.as_ref(),
        SESSIONS_CONTAINER,
        user_id,
        session_id,
    )
    .await?
    else {
        return Err(invalid());
    };
    if session.used_hashes.contains(&presented) {
        // A replaced token came back: someone holds a copy. End the family for everyone.
        if session.revoked_at.is_none() {
            session.revoked_at = Some(now_rfc3339());
            session.revoked_reason = Some("refresh_token_reuse".into());
            write_session(&state, &session, None).await?;
            audit::record(
                &state,
                AuditEvent::new(
                    user_id,
                    "auth.refresh_token_reuse",
                    format!("session:{session_id}"),
                )
                .failure()
                .details(json!({ "revoked": "session" })),
            )
            .await;
        }
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "refresh_token_reused",
            "this refresh token was already used; the session is revoked, sign in again",
        ));
    }
    if session.current_hash != presented {
        return Err(invalid());
    }
    if !session.is_live(now) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "session_revoked",
            "this session has ended; sign in again",
        ));
    }
    let (user, _) = crate::users::caller_user(&state, user_id).await?;
    let (new_token, new_hash) = new_refresh_token(user_id, session_id);
    let used = std::mem::replace(&mut session.current_hash, new_hash);
    session.used_hashes.push(used);
    // Remember the last few spent tokens: enough to catch a copy in use, bounded in size.
    if session.used_hashes.len() > MAX_USED_HASHES {
        let excess = session.used_hashes.len() - MAX_USED_HASHES;
        session.used_hashes.drain(..excess);
    }
    session.last_used_at = Some(now_rfc3339());
    match write_session(&state, &session, Some(&etag)).await {
        Ok(()) => {}
        // Another refresh with the same token won the race: this one is the replay.
        Err(error) if error.kind == ErrorKind::PreconditionFailed => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "this refresh token was already used",
            ));
        }
        Err(error) => return Err(error.into()),
    }
    let access = issue_access(&state, &user, session_id)?;
    Ok(ApiJson(token_body(&state, access, new_token, session_id)))
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    /// End every session of the account, not only this one.
    #[serde(default)]
    everywhere: bool,
}

/// `POST /api/v1/auth/logout`: revokes this session (or all of them); its access tokens stop
/// working at once, since every request checks the session.
pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: none means this session only.
    let everywhere = if body.iter().all(u8::is_ascii_whitespace) {
        false
    } else {
        serde_json::from_slice::<LogoutRequest>(&body)
            .map_err(|error| ApiError::bad_request("invalid_body", error.to_string()))?
            .everywhere
    };
    let ended = if everywhere {
        revoke_all_sessions(&state, &caller.user_id, "logout").await?
    } else {
        revoke_session(&state, &caller.user_id, &caller.session_id, "logout").await?;
        1
    };
    audit::record(
        &state,
        AuditEvent::new(
            &caller.user_id,
            "auth.logout",
            format!("session:{}", caller.session_id),
        )
        .details(json!({ "sessions_ended": ended })),
    )
    .await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Revokes one session; absent sessions are fine (already gone).
pub async fn revoke_session(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    reason: &str,
) -> Result<(), ApiError> {
    if let Some((mut session, _)) = read_typed::<Session>(
        state.documents.as_ref(),
        SESSIONS_CONTAINER,
        user_id,
        session_id,
    )
    .await?
        && session.revoked_at.is_none()
    {
        session.revoked_at = Some(now_rfc3339());
        session.revoked_reason = Some(reason.to_owned());
        write_session(state, &session, None).await?;
    }
    Ok(())
}

/// Every session of a user, oldest first.
pub async fn sessions_of(state: &AppState, user_id: &str) -> Result<Vec<Session>, ApiError> {
    let query = visiobook_ports::Query::default()
        .order_by("created_at", visiobook_ports::Order::Ascending)
        .page_size(1000);
    Ok(visiobook_ports::document::query_all_typed(
        state.documents.as_ref(),
        SESSIONS_CONTAINER,
        user_id,
        &query,
    )
    .await?)
}

/// Revokes every live session of a user; returns how many it ended.
pub async fn revoke_all_sessions(
    state: &AppState,
    user_id: &str,
    reason: &str,
) -> Result<u64, ApiError> {
    let mut ended = 0;
    for session in sessions_of(state, user_id).await? {
        if session.revoked_at.is_none() {
            revoke_session(state, user_id, &session.id, reason).await?;
            ended += 1;
        }
    }
    Ok(ended)
}

async fn write_session(
    state: &AppState,
    session: &Session,
    if_match: Option<&visiobook_ports::ETag>,
) -> Result<(), StoreError> {
    state
        .documents
        .replace(
            SESSIONS_CONTAINER,
            &session.user_id,
            &session.id,
            to_body(session)?,
            if_match,
        )
        .await
        .map(|_| ())
}

fn new_refresh_token(user_id: &str, session_id: &str) -> (String, String) {
    let (secret, _) = visiobook_auth::new_refresh_token();
    let token = format!("{user_id}.{session_id}.{secret}");
    let hash = refresh_token_hash(&token);
    (token, hash)
}

fn issue_access(state: &AppState, user: &User, session_id: &str) -> Result<String, ApiError> {
    state
        .auth
        .signing
        .issue_access(
            &user.id,
            &user.role,
            session_id,
            now_unix(),
            state.settings.access_token_ttl.as_secs(),
        )
        .map_err(ApiError::internal)
}

fn token_body(state: &AppState, access: String, refresh: String, session_id: &str) -> Value {
    json!({
        "token_type": "Bearer",
        "access_token": access,
        "expires_in": state.settings.access_token_ttl.as_secs(),
        "refresh_token": refresh,
        "session_id": session_id,
    })
}

/// Creates a session for `user` and returns the token body.
async fn start_session(
    state: &AppState,
    user: &User,
    user_agent: Option<String>,
) -> Result<Value, ApiError> {
    let session_id = uuid::Uuid::new_v4().simple().to_string();
    let (refresh, hash) = new_refresh_token(&user.id, &session_id);
    let session = Session {
        id: session_id.clone(),
        user_id: user.id.clone(),
        current_hash: hash,
        used_hashes: Vec::new(),
        created_at: now_rfc3339(),
        expires_at_unix: now_unix() + state.settings.session_ttl.as_secs(),
        last_used_at: None,
        revoked_at: None,
        revoked_reason: None,
        user_agent,
    };
    state
        .documents
        .create(
            SESSIONS_CONTAINER,
            &user.id,
            &session_id,
            to_body(&session)?,
        )
        .await?;
    let access = issue_access(state, user, &session_id)?;
    Ok(token_body(state, access, refresh, &session_id))
}

fn user_agent(request: &Request) -> Option<String> {
    request
        .headers()
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(200).collect())
}

use axum::extract::FromRequest as _;
