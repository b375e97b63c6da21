//! Configuration that changes at run time: one document per service in the `config` container,
//! each change a new version (kept in `config-versions`). Services read it when they need it
//! (one point read), so a change applies at once on every instance, without a redeploy.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use visiobook_ports::document::read_typed;
use visiobook_ports::{ETag, StoreError};

use crate::state::AppState;

/// Current configuration (partition key and id: the service name).
pub const CONFIG_CONTAINER: &str = "config";
/// Every version (partition key: the service; id: the zero-padded version).
pub const CONFIG_VERSIONS_CONTAINER: &str = "config-versions";
/// The service whose configuration is the feature flags.
pub const FEATURE_FLAGS: &str = "feature-flags";
/// The file-storage service: `quota_bytes` overrides `VISIOBOOK_STORAGE_QUOTA_BYTES`.
pub const STORAGE: &str = "storage";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigDocument {
    pub service: String,
    pub version: u64,
    pub values: Map<String, Value>,
    pub updated_at: String,
    /// The administrator who made the change.
    pub updated_by: String,
    /// `update` or `rollback`.
    pub change: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_to: Option<u64>,
}

pub fn version_id(version: u64) -> String {
    format!("{version:012}")
}

/// The current configuration of `service`, if any was ever set.
pub async fn current(
    state: &AppState,
    service: &str,
) -> Result<Option<(ConfigDocument, ETag)>, StoreError> {
    read_typed(state.documents.as_ref(), CONFIG_CONTAINER, service, service).await
}

/// The storage quota in force: the `storage` configuration's `quota_bytes`, else the setting.
pub async fn storage_quota_bytes(state: &AppState) -> Result<u64, StoreError> {
    Ok(current(state, STORAGE)
        .await?
        .and_then(|(document, _)| document.values.get("quota_bytes").and_then(Value::as_u64))
        .unwrap_or(state.settings.storage_quota_bytes))
}
