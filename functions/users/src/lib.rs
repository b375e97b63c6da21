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
        ),
        FunctionDef::http(
            "AuthLogin",
            "v1/auth/login",
            &[Method::POST],
            post(sessions::login),
        ),
        FunctionDef::http(
            "AuthRefresh",
            "v1/auth/refresh",
            &[Method::POST],
            post(sessions::refresh),
        ),
        FunctionDef::http(
            "AuthLogout",
            "v1/auth/logout",
            &[Method::POST],
            post(sessions::logout),
        ),
        FunctionDef::http(
            "Jwks",
            ".well-known/jwks.json",
            &[Method::GET],
            get(visiobook_runtime::auth::jwks),
        ),
        FunctionDef::http(
            "UserProfile",
            "v1/users/profile",
            &[Method::GET, Method::PUT],
            get(account::profile).put(account::update_profile),
        ),
        FunctionDef::http(
            "UserAccountDelete",
            "v1/users/account",
            &[Method::DELETE],
            delete(account::delete_account),
        ),
        FunctionDef::http(
            "UserExport",
            "v1/users/export",
            &[Method::GET],
            get(account::export),
        ),
        FunctionDef::http(
            "SecurityValidateToken",
            "v1/security/validate-token",
            &[Method::POST],
            post(security::validate_token),
        ),
        FunctionDef::http(
            "SecurityEncrypt",
            "v1/security/encrypt",
            &[Method::POST],
            post(security::encrypt),
        ),
        FunctionDef::http(
            "SecurityDecrypt",
            "v1/security/decrypt",
            &[Method::POST],
            post(security::decrypt),
        ),
        FunctionDef::http(
            "SecurityAuditLogs",
            "v1/security/audit-logs",
            &[Method::GET],
            get(security::audit_logs),
        ),
    ]
}
