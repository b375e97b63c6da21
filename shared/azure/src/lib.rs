//! The Azure adapters of the storage ports: [`blob::AzureBlobStore`] (Blob Storage through
//! `azure_storage_blob` 1.x), [`servicebus::ServiceBusQueue`] (the jobs' queue over the Service
//! Bus REST protocol), and the Entra ID credentials they use ([`identity`], `azure_identity`).
//! The Cosmos DB document store comes next.

#[cfg(feature = "azurite")]
pub mod azurite;
pub mod blob;
pub mod identity;
pub mod servicebus;

use async_trait::async_trait;
use visiobook_ports::StoreResult;

/// Where bearer tokens for Azure data planes come from (Entra ID: managed identity in
/// Functions, workload identity in AKS).
#[async_trait]
pub trait TokenSource: Send + Sync + std::fmt::Debug {
    /// A bearer token for `scope` (such as `https://servicebus.azure.net/.default`), cached and
    /// refreshed by the implementation.
    async fn bearer(&self, scope: &str) -> StoreResult<String>;
}
