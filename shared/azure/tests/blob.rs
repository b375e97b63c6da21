//! The Blob Storage adapter passes the BlobStore conformance suite against Azurite (npm
//! `azurite`, installed pinned by `scripts/test`), one in-memory instance on loopback per test.
//! The SDK cannot sign with a shared key, so the tests sign SAS tokens with Azurite's published
//! development key, as a deployment without an identity would.

#![allow(clippy::unwrap_used, reason = "tests fail loudly by design")]

use std::sync::Arc;

use visiobook_azure::azurite::{ACCOUNT, Azurite, container_sas};
use visiobook_azure::blob::AzureBlobStore;

const CONTAINER: &str = "visiobook";

/// Starts Azurite, creates the container, and returns the adapter over a container SAS URL.
async fn azurite_store() -> (Arc<AzureBlobStore>, Azurite) {
    let azurite = Azurite::start().await;
    let url = azurite.container(CONTAINER).await;
    (
        Arc::new(AzureBlobStore::with_sas_url(&url).unwrap()),
        azurite,
    )
}

visiobook_ports::blob_store_conformance!(azurite_store());

#[tokio::test]
async fn a_url_without_a_sas_is_refused_and_the_debug_output_hides_it() {
    assert!(AzureBlobStore::with_sas_url("http://127.0.0.1:1/acct/container").is_err());
    let store = AzureBlobStore::with_sas_url(&format!(
        "http://127.0.0.1:1/{ACCOUNT}/{CONTAINER}?{}",
        container_sas(CONTAINER)
    ))
    .unwrap();
    let shown = format!("{store:?}");
    assert!(!shown.contains("sig="), "{shown}");
    assert!(shown.contains("/devstoreaccount1/visiobook"), "{shown}");
}
