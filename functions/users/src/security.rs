//! The Security service: token validation for other services, envelope encryption for
//! callers' secrets, and the audit log for administrators.

use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::{Value, json};
use visiobook_auth::crypto::Envelope;
use visiobook_ports::document::read_typed;
use visiobook_runtime::audit::{self, AuditQuery};
use visiobook_runtime::auth::{SESSIONS_CONTAINER, Session, now_unix};
use visiobook_runtime::error::{ApiJson, ApiQuery};
use visiobook_runtime::{ApiError, AppState, Caller};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ValidateRequest {
    token: String,
}

/// `POST /api/v1/security/validate-token`: whether an access token is valid now (signature,
/// algorithm, key, times, audience, and a live session), with its claims when it is. Always
/// 200 for a well-formed request: the answer is in the body.
pub async fn validate_token(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ValidateRequest>,
) -> Result<ApiJson<Value>, ApiError> {
    let claims = match state
        .auth
        .signing
        .verify_access(request.token.trim(), now_unix())
    {
        Ok(claims) => claims,
        Err(error) => {
            return Ok(ApiJson(json!({ "valid": false, "reason": error.code() })));
        }
    };
    let session = read_typed::<Session>(
        state.documents.as_ref(),
        SESSIONS_CONTAINER,
        &claims.sub,
        &claims.sid,
    )
    .await?;
    let live = matches!(session, Some((session, _)) if session.revoked_at.is_none());
    if !live {
        return Ok(ApiJson(
            json!({ "valid": false, "reason": "session_revoked" }),
        ));
    }
    Ok(ApiJson(json!({
        "valid": true,
        "claims": claims,
        "expires_in": claims.exp.saturating_sub(now_unix()),
    })))
}

/// Encryption requests: text, or bytes in base64; an optional context (a label such as
/// `"webhook-secret"`) that decryption must repeat.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptRequest {
    #[serde(default)]
    plaintext: Option<String>,
    #[serde(default)]
    data_base64: Option<String>,
    #[serde(default)]
    context: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecryptRequest {
    ciphertext: String,
    #[serde(default)]
    context: Option<String>,
}

/// Most bytes one request may encrypt.
pub const MAX_ENCRYPT_BYTES: usize = 64 * 1024;

/// The associated data of a caller's envelopes: their user id and the context, so that an
/// envelope cannot be decrypted by another user or under another label.
fn associated_data(caller: &Caller, context: Option<&str>) -> Result<Vec<u8>, ApiError> {
    let context = context.unwrap_or("");
    if context.len() > 200 {
        return Err(ApiError::bad_request(
            "invalid_context",
            "a context label has at most 200 bytes",
        ));
    }
    Ok(format!("visiobook.v1\u{0}user:{}\u{0}{context}", caller.user_id).into_bytes())
}

/// `POST /api/v1/security/encrypt`: AES-256-GCM under a fresh data key, wrapped by the current
/// key version.
pub async fn encrypt(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<EncryptRequest>,
) -> Result<ApiJson<Value>, ApiError> {
    let bytes = match (request.plaintext, request.data_base64) {
        (Some(text), None) => text.into_bytes(),
        (None, Some(encoded)) => STANDARD.decode(encoded.trim()).map_err(|_| {
            ApiError::bad_request("invalid_base64", "\"data_base64\" is not base64")
        })?,
        _ => {
            return Err(ApiError::bad_request(
                "invalid_body",
                "give either \"plaintext\" or \"data_base64\"",
            ));
        }
    };
    if bytes.len() > MAX_ENCRYPT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "plaintext_too_large",
            format!("encrypt takes at most {MAX_ENCRYPT_BYTES} bytes"),
        ));
    }
    let aad = associated_data(&caller, request.context.as_deref())?;
    let envelope = state
        .auth
        .data_keys
        .encrypt(&bytes, &aad)
        .map_err(ApiError::internal)?;
    let token = envelope.to_token().map_err(ApiError::internal)?;
    Ok(ApiJson(json!({
        "ciphertext": token,
        "key_version": envelope.kek_version,
        "algorithm": "AES-256-GCM (envelope)",
    })))
}

/// `POST /api/v1/security/decrypt`: only the user who encrypted, with the same context.
pub async fn decrypt(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<DecryptRequest>,
) -> Result<ApiJson<Value>, ApiError> {
    let refused = |code: &'static str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            "the ciphertext cannot be decrypted by this account with this context",
        )
    };
    let envelope = Envelope::from_token(request.ciphertext.trim())
        .map_err(|error| ApiError::bad_request("invalid_ciphertext", error.to_string()))?;
    let aad = associated_data(&caller, request.context.as_deref())?;
    let bytes = state
        .auth
        .data_keys
        .decrypt(&envelope, &aad)
        .map_err(|error| refused(error.code()))?;
    let body = match String::from_utf8(bytes) {
        Ok(text) => json!({ "plaintext": text, "key_version": envelope.kek_version }),
        Err(error) => json!({
            "data_base64": STANDARD.encode(error.into_bytes()),
            "key_version": envelope.kek_version,
        }),
    };
    Ok(ApiJson(body))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditLogQuery {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    page_size: Option<usize>,
    #[serde(default)]
    continuation: Option<String>,
}

/// `GET /api/v1/security/audit-logs` (administrators): newest first, filtered by action or
/// actor, with the verdict of a full hash-chain check.
pub async fn audit_logs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<AuditLogQuery>,
) -> Result<ApiJson<Value>, ApiError> {
    caller.require_admin()?;
    let page_size = query.page_size.unwrap_or(50);
    if !(1..=500).contains(&page_size) {
        return Err(ApiError::bad_request(
            "invalid_page_size",
            "page_size is 1 to 500",
        ));
    }
    let (entries, continuation) = audit::list(
        &state,
        &AuditQuery {
            action: query.action,
            actor: query.actor,
            page_size,
        },
        query.continuation.as_deref(),
    )
    .await?;
    let chain = audit::verify(&state).await?;
    Ok(ApiJson(json!({
        "entries": entries,
        "continuation": continuation,
        "chain": chain,
    })))
}
