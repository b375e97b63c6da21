//! The Azure adapters of the storage ports. So far: [`servicebus::ServiceBusQueue`], the
//! [`JobQueue`](visiobook_ports::JobQueue) of the AKS jobs over the Service Bus REST protocol.
//! Cosmos DB and Blob Storage adapters (through the Azure SDK's 1.x crates) and the Entra ID
//! token source (through `azure_identity`) come next.

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
