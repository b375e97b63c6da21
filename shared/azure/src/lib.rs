//! The Azure adapters of the storage ports: [`cosmos::CosmosDocumentStore`] (Cosmos DB for
//! NoSQL through `azure_data_cosmos` 1.x), [`blob::AzureBlobStore`] (Blob Storage through
//! `azure_storage_blob` 1.x), [`servicebus::ServiceBusQueue`] (the jobs' queue over the Service
//! Bus REST protocol), and the Entra ID credentials they use ([`identity`], `azure_identity`).
//! Feature `emulators` adds test support: [`azurite`] and [`cosmos_emulator`].

#[cfg(feature = "emulators")]
pub mod azurite;
pub mod blob;
pub mod cosmos;
#[cfg(feature = "emulators")]
pub mod cosmos_emulator;
#[cfg(feature = "emulators")]
mod emulator_process;
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
