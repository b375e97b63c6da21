//! The User Management and Security services as functions:
//!
//! | function | trigger |
//! |---|---|
//! | `AuthRegister` | `POST /api/v1/auth/register` |
//! | `AuthLogin` | `POST /api/v1/auth/login` (throttled per account and per address) |
//! | `AuthRefresh` | `POST /api/v1/auth/refresh` (rotates; a replayed token revokes the family) |
//! | `AuthLogout` | `POST /api/v1/auth/logout` |
//! | `Jwks` | `GET /api/.well-known/jwks.json` (also served at `/.well-known/jwks.json`) |
//! | `UserProfile` | `GET`/`PUT /api/v1/users/profile` |
//! | `UserAccountDelete` | `DELETE /api/v1/users/account` |
//! | `UserExport` | `GET /api/v1/users/export` |
//! | `SecurityValidateToken` | `POST /api/v1/security/validate-token` |
//! | `SecurityEncrypt` | `POST /api/v1/security/encrypt` |
//! | `SecurityDecrypt` | `POST /api/v1/security/decrypt` |
//! | `SecurityAuditLogs` | `GET /api/v1/security/audit-logs` (administrators) |

mod account;
mod security;
mod sessions;
mod throttle;
mod users;

use axum::http::Method;
use axum::routing::{delete, get, post};
use visiobook_host::FunctionDef;
use visiobook_runtime::AppState;

pub use users::{USERS_CONTAINER, User};

/// Every function of the two services.
pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http(
            "AuthRegister",
            "v1/auth/register",
            &[Method::POST],
            post(sessions::register),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("Create an account and sign in")
                .public()
                .body(visiobook_host::openapi::schema::<sessions::RegisterRequest>)
                .status(201),
        ),
        FunctionDef::http(
            "AuthLogin",
            "v1/auth/login",
            &[Method::POST],
            post(sessions::login),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post(
                "Sign in (throttled per account and address)",
            )
            .public()
            .body(visiobook_host::openapi::schema::<sessions::LoginRequest>),
        ),
        FunctionDef::http(
            "AuthRefresh",
            "v1/auth/refresh",
            &[Method::POST],
            post(sessions::refresh),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("Rotate a refresh token for new tokens")
                .public()
                .body(visiobook_host::openapi::schema::<sessions::RefreshRequest>),
        ),
        FunctionDef::http(
            "AuthLogout",
            "v1/auth/logout",
            &[Method::POST],
            post(sessions::logout),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("End this session (or every session)")
                .optional_body(visiobook_host::openapi::schema::<sessions::LogoutRequest>)
                .status(204),
        ),
        FunctionDef::http(
            "Jwks",
            ".well-known/jwks.json",
            &[Method::GET],
            get(visiobook_runtime::auth::jwks),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::get(
                "Public keys that verify access tokens (JWKS)",
            )
            .public(),
        ),
        FunctionDef::http(
            "UserProfile",
            "v1/users/profile",
            &[Method::GET, Method::PUT],
            get(account::profile).put(account::update_profile),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "The signed-in user's profile",
        ))
        .doc(
            visiobook_host::openapi::OperationDoc::put(
                "Change display name, preferences or password",
            )
            .body(visiobook_host::openapi::schema::<account::ProfileUpdate>),
        ),
        FunctionDef::http(
            "UserAccountDelete",
            "v1/users/account",
            &[Method::DELETE],
            delete(account::delete_account),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::delete(
                "Delete the account and everything it owns",
            )
            .body(visiobook_host::openapi::schema::<account::DeleteRequest>),
        ),
        FunctionDef::http(
            "UserExport",
            "v1/users/export",
            &[Method::GET],
            get(account::export),
        )
        .doc(visiobook_host::openapi::OperationDoc::get(
            "Everything stored about the user (GDPR export)",
        )),
        FunctionDef::http(
            "SecurityValidateToken",
            "v1/security/validate-token",
            &[Method::POST],
            post(security::validate_token),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("Whether an access token is valid now")
                .public()
                .body(visiobook_host::openapi::schema::<security::ValidateRequest>),
        ),
        FunctionDef::http(
            "SecurityEncrypt",
            "v1/security/encrypt",
            &[Method::POST],
            post(security::encrypt),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post(
                "Envelope-encrypt a secret for this account",
            )
            .body(visiobook_host::openapi::schema::<security::EncryptRequest>),
        ),
        FunctionDef::http(
            "SecurityDecrypt",
            "v1/security/decrypt",
            &[Method::POST],
            post(security::decrypt),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::post("Decrypt one of this account's envelopes")
                .body(visiobook_host::openapi::schema::<security::DecryptRequest>),
        ),
        FunctionDef::http(
            "SecurityAuditLogs",
            "v1/security/audit-logs",
            &[Method::GET],
            get(security::audit_logs),
        )
        .doc(
            visiobook_host::openapi::OperationDoc::get(
                "The audit log and its chain check (administrators)",
            )
            .query(visiobook_host::openapi::schema::<security::AuditLogQuery>),
        ),
    ]
}
