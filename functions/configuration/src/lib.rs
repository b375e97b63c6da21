//! The Configuration service as functions:
//!
//! | function | trigger |
//! |---|---|
//! | `Config` | `GET`/`PUT /api/v1/config/{service}` (administrators; versioned, audited) |
//! | `ConfigRollback` | `POST /api/v1/config/{service}/rollback` (administrators) |
//! | `FeatureFlags` | `GET /api/v1/feature-flags`: every flag, evaluated for the caller |
//!
//! Services read their configuration at run time ([`visiobook_runtime::config`]); the file
//! storage quota is the first setting that can change this way without a redeploy.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};
use visiobook_host::FunctionDef;
use visiobook_host::openapi::{OperationDoc, schema};
use visiobook_ports::document::{read_typed, to_body};
use visiobook_ports::{ETag, ErrorKind};
use visiobook_runtime::audit::{self, AuditEvent};
use visiobook_runtime::config::{
    CONFIG_CONTAINER, CONFIG_VERSIONS_CONTAINER, ConfigDocument, FEATURE_FLAGS, STORAGE, current,
    version_id,
};
use visiobook_runtime::error::{ApiJson, ApiPath};
use visiobook_runtime::{ApiError, AppState, Caller, now_rfc3339};

pub fn functions() -> Vec<FunctionDef<AppState>> {
    vec![
        FunctionDef::http(
            "Config",
            "v1/config/{service}",
            &[Method::GET, Method::PUT],
            get(read).put(write),
        )
        .doc(OperationDoc::get(
            "A service's configuration (administrators)",
        ))
        .doc(
            OperationDoc::put("Change a service's configuration: a new version (administrators)")
                .body(schema::<ConfigUpdate>),
        ),
        FunctionDef::http(
            "ConfigRollback",
            "v1/config/{service}/rollback",
            &[Method::POST],
            post(rollback),
        )
        .doc(
            OperationDoc::post("Make an earlier version current again (administrators)")
                .body(schema::<RollbackRequest>),
        ),
        FunctionDef::http(
            "FeatureFlags",
            "v1/feature-flags",
            &[Method::GET],
            get(feature_flags),
        )
        .doc(OperationDoc::get(
            "Every feature flag, evaluated for the caller",
        )),
    ]
}

/// A service name: 1 to 40 of `[a-z0-9-]`.
fn valid_service(service: &str) -> Result<(), ApiError> {
    let ok = (1..=40).contains(&service.len())
        && service
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "unknown_service",
            "a service name is 1 to 40 lower-case letters, digits and hyphens",
        ))
    }
}

fn with_etag(etag: &ETag, body: Value) -> Response {
    ([(header::ETAG, format!("\"{etag}\""))], ApiJson(body)).into_response()
}

/// `GET /api/v1/config/{service}`: the current version (404 if never set).
async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(service): ApiPath<String>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    valid_service(&service)?;
    let (document, etag) = current(&state, &service).await?.ok_or_else(|| {
        ApiError::not_found(
            "config_not_found",
            format!("{service} has no configuration yet"),
        )
    })?;
    Ok(with_etag(
        &etag,
        serde_json::to_value(document).map_err(ApiError::internal)?,
    ))
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigUpdate {
    values: Map<String, Value>,
}

/// One feature flag.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flag {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub description: String,
    /// Always on for these user ids (when enabled).
    #[serde(default)]
    pub users: Vec<String>,
    /// Only for users on these plans (empty: every plan).
    #[serde(default)]
    pub plans: Vec<String>,
    /// On for this share of the users, chosen by a stable hash of flag and user.
    #[serde(default)]
    pub percentage: Option<u8>,
}

/// Checks the values of services whose shape the code relies on.
fn check_values(service: &str, values: &Map<String, Value>) -> Result<(), ApiError> {
    let invalid = |message: String| ApiError::bad_request("invalid_config", message);
    if serde_json::to_vec(values).map_or(0, |bytes| bytes.len()) > 64 * 1024 {
        return Err(invalid("a configuration has at most 64 KiB".into()));
    }
    match service {
        FEATURE_FLAGS => {
            for (name, flag) in values {
                let flag: Flag = serde_json::from_value(flag.clone())
                    .map_err(|error| invalid(format!("flag {name:?}: {error}")))?;
                if flag.percentage.is_some_and(|p| p > 100) {
                    return Err(invalid(format!("flag {name:?}: percentage is 0 to 100")));
                }
            }
        }
        STORAGE => {
            for (key, value) in values {
                match (key.as_str(), value) {
                    ("quota_bytes", value) if value.as_u64().is_some() => {}
                    (key, _) => {
                        return Err(invalid(format!(
                            "storage takes quota_bytes (a byte count), not {key:?}"
                        )));
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Writes `values` as the next version of `service` (guarded by `if_match` when given).
async fn commit(
    state: &AppState,
    caller: &Caller,
    service: &str,
    values: Map<String, Value>,
    if_match: Option<ETag>,
    rolled_back_to: Option<u64>,
) -> Result<Response, ApiError> {
    let existing = current(state, service).await?;
    if let (Some(expected), Some((_, etag))) = (&if_match, &existing)
        && expected != etag
    {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "etag_mismatch",
            "the configuration changed since you read it",
        ));
    }
    let previous = existing
        .as_ref()
        .map(|(document, _)| document.values.clone());
    let document = ConfigDocument {
        service: service.to_owned(),
        version: existing
            .as_ref()
            .map_or(1, |(document, _)| document.version + 1),
        values,
        updated_at: now_rfc3339(),
        updated_by: caller.user_id.clone(),
        change: if rolled_back_to.is_some() {
            "rollback"
        } else {
            "update"
        }
        .to_owned(),
        rolled_back_to,
    };
    let body = to_body(&document)?;
    let store = state.documents.as_ref();
    store
        .upsert(
            CONFIG_VERSIONS_CONTAINER,
            service,
            &version_id(document.version),
            body.clone(),
        )
        .await?;
    let etag = match &existing {
        Some((_, etag)) => {
            match store
                .replace(CONFIG_CONTAINER, service, service, body, Some(etag))
                .await
            {
                Ok(etag) => etag,
                Err(error) if error.kind == ErrorKind::PreconditionFailed => {
                    return Err(ApiError::new(
                        StatusCode::PRECONDITION_FAILED,
                        "etag_mismatch",
                        "the configuration changed meanwhile; read it again",
                    ));
                }
                Err(error) => return Err(error.into()),
            }
        }
        None => {
            store
                .create(CONFIG_CONTAINER, service, service, body)
                .await?
        }
    };
    audit::record(
        state,
        AuditEvent::new(
            &caller.user_id,
            "config.change",
            format!("config:{service}"),
        )
        .details(json!({
            "version": document.version,
            "from": previous,
            "to": document.values,
            "rolled_back_to": rolled_back_to,
        })),
    )
    .await;
    Ok(with_etag(
        &etag,
        serde_json::to_value(document).map_err(ApiError::internal)?,
    ))
}

/// `PUT /api/v1/config/{service}` (`If-Match` honoured when sent).
async fn write(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(service): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(update): ApiJson<ConfigUpdate>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    valid_service(&service)?;
    check_values(&service, &update.values)?;
    let if_match = visiobook_runtime::http::if_match(&headers)?;
    commit(&state, &caller, &service, update.values, if_match, None).await
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    version: u64,
}

/// `POST /api/v1/config/{service}/rollback`: the values of `version` become a new version.
async fn rollback(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(service): ApiPath<String>,
    ApiJson(request): ApiJson<RollbackRequest>,
) -> Result<Response, ApiError> {
    caller.require_admin()?;
    valid_service(&service)?;
    let (old, _) = read_typed::<ConfigDocument>(
        state.documents.as_ref(),
        CONFIG_VERSIONS_CONTAINER,
        &service,
        &version_id(request.version),
    )
    .await?
    .ok_or_else(|| {
        ApiError::not_found(
            "version_not_found",
            format!("{service} has no version {}", request.version),
        )
    })?;
    commit(
        &state,
        &caller,
        &service,
        old.values,
        None,
        Some(request.version),
    )
    .await
}

/// Where `user_id` falls for `flag`, 0 to 99: stable for a user and a flag, independent
/// between flags.
pub fn bucket(flag: &str, user_id: &str) -> u8 {
    let digest = Sha256::digest(format!("{flag}\u{0}{user_id}").as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % 100) as u8
}

/// Whether `flag` is on for a user on `plan`.
pub fn evaluate(name: &str, flag: &Flag, user_id: &str, plan: &str) -> bool {
    if !flag.enabled {
        return false;
    }
    if flag.users.iter().any(|user| user == user_id) {
        return true;
    }
    if !flag.plans.is_empty() && !flag.plans.iter().any(|p| p == plan) {
        return false;
    }
    flag.percentage
        .is_none_or(|percentage| bucket(name, user_id) < percentage)
}

/// `GET /api/v1/feature-flags`: `{"plan", "flags": {name: bool}}` for the caller.
async fn feature_flags(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<ApiJson<Value>, ApiError> {
    let plan = visiobook_runtime::billing::plan_of(&state, &caller.user_id).await?;
    let flags: BTreeMap<String, bool> = match current(&state, FEATURE_FLAGS).await? {
        Some((document, _)) => document
            .values
            .iter()
            .filter_map(|(name, value)| {
                let flag: Flag = serde_json::from_value(value.clone()).ok()?;
                Some((name.clone(), evaluate(name, &flag, &caller.user_id, &plan)))
            })
            .collect(),
        None => BTreeMap::new(),
    };
    Ok(ApiJson(json!({ "plan": plan, "flags": flags })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollouts_split_users_stably_and_independently() {
        let users: Vec<String> = (0..2000).map(|n| format!("user-{n}")).collect();
        let half = Flag {
            enabled: true,
            percentage: Some(50),
            ..Flag::default()
        };
        let on: Vec<bool> = users
            .iter()
            .map(|u| evaluate("player", &half, u, "free"))
            .collect();
        let share = on.iter().filter(|on| **on).count();
        assert!((900..=1100).contains(&share), "{share} of 2000");
        // Same answer every time.
        assert!(
            users
                .iter()
                .zip(&on)
                .all(|(u, on)| evaluate("player", &half, u, "free") == *on)
        );
        // Another flag splits the users differently.
        let other: usize = users
            .iter()
            .zip(&on)
            .filter(|(u, on)| evaluate("editor", &half, u, "free") == **on)
            .count();
        assert!((900..=1100).contains(&other), "{other}");
        // Growing the rollout keeps everyone who had it.
        let more = Flag {
            percentage: Some(80),
            ..half.clone()
        };
        assert!(
            users
                .iter()
                .zip(&on)
                .all(|(u, on)| !on || evaluate("player", &more, u, "free"))
        );
    }

    #[test]
    fn plans_users_and_the_switch_apply() {
        let flag = Flag {
            enabled: true,
            plans: vec!["pro".into()],
            users: vec!["tester".into()],
            ..Flag::default()
        };
        assert!(evaluate("f", &flag, "someone", "pro"));
        assert!(!evaluate("f", &flag, "someone", "free"));
        assert!(evaluate("f", &flag, "tester", "free"));
        let off = Flag {
            enabled: false,
            ..flag
        };
        assert!(!evaluate("f", &off, "tester", "pro"));
    }
}
