//! Entra ID credentials through `azure_identity`: workload identity in AKS pods (the webhook
//! mounts `AZURE_FEDERATED_TOKEN_FILE` and sets `AZURE_CLIENT_ID` and `AZURE_TENANT_ID`), the
//! managed identity elsewhere (Functions; user-assigned when a client id is given). No key or
//! secret is ever configured.

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_identity::{
    ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId,
    WorkloadIdentityCredential,
};
use visiobook_ports::{StoreError, StoreResult};

use crate::TokenSource;

/// The credential of this process: workload identity when `workload_identity` (a federated
/// token file is mounted), else the managed identity, user-assigned when `client_id` is set.
pub fn credential(
    client_id: Option<&str>,
    workload_identity: bool,
) -> StoreResult<Arc<dyn TokenCredential>> {
    let made: azure_core::Result<Arc<dyn TokenCredential>> = if workload_identity {
        WorkloadIdentityCredential::new(None).map(|c| c as Arc<dyn TokenCredential>)
    } else {
        let options = ManagedIdentityCredentialOptions {
            user_assigned_id: client_id.map(|id| UserAssignedId::ClientId(id.to_owned())),
            ..Default::default()
        };
        ManagedIdentityCredential::new(Some(options)).map(|c| c as Arc<dyn TokenCredential>)
    };
    made.map_err(|error| StoreError::invalid(format!("the Entra ID credential: {error}")))
}

/// Bearer tokens from an Entra ID credential (which caches and refreshes them).
#[derive(Debug, Clone)]
pub struct EntraTokens(pub Arc<dyn TokenCredential>);

#[async_trait]
impl TokenSource for EntraTokens {
    async fn bearer(&self, scope: &str) -> StoreResult<String> {
        self.0
            .get_token(&[scope], None)
            .await
            .map(|token| token.token.secret().to_owned())
            .map_err(|error| {
                StoreError::unavailable(format!("no Entra ID token for {scope}: {error}"))
            })
    }
}
