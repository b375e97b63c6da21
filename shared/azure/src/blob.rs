//! [`BlobStore`] on Azure Blob Storage through `azure_storage_blob` 1.x: one container, keys as
//! blob names.
//!
//! - **Atomic visibility**: a whole object is one `Put Blob`; a stream is staged as blocks and
//!   becomes visible only when the block list is committed, so a stream that fails half-way
//!   leaves the previous object as it was (uncommitted blocks are discarded by the service).
//! - **Auth**: an Entra ID credential (managed or workload identity) in Azure; a SAS-bearing
//!   container URL where there is no identity (Azurite in the tests, which the SDK cannot reach
//!   with a shared key).

use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use azure_core::http::{RequestContent, StatusCode, Url};
use azure_storage_blob::models::{
    BlobClientDownloadOptions, BlobClientGetPropertiesResultHeaders as _, BlobClientUploadOptions,
    BlobContainerClientListBlobsOptions, BlockBlobClientCommitBlockListOptions, BlockLookupList,
};
use azure_storage_blob::{BlobClient, BlobContainerClient};
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt as _, TryStreamExt as _};
use tokio::io::AsyncReadExt as _;
use visiobook_ports::blob::BlobReader;
use visiobook_ports::{BlobKey, BlobMeta, BlobStore, ByteRange, StoreError, StoreResult};

/// Bytes per staged block of a streamed upload.
const BLOCK_BYTES: usize = 4 * 1024 * 1024;

/// One container of a storage account.
#[derive(Clone)]
pub struct AzureBlobStore {
    container: Arc<BlobContainerClient>,
}

impl std::fmt::Debug for AzureBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL without its query: a SAS is a credential.
        let mut url = self.container.url().clone();
        url.set_query(None);
        f.debug_struct("AzureBlobStore")
            .field("container", &url.as_str())
            .finish()
    }
}

impl AzureBlobStore {
    /// The container at `container_url` (`https://<account>.blob.core.windows.net/<container>`)
    /// with an Entra ID credential.
    pub fn with_credential(
        container_url: &str,
        credential: Arc<dyn TokenCredential>,
    ) -> StoreResult<Self> {
        let url = Url::parse(container_url)
            .map_err(|error| StoreError::invalid(format!("{container_url:?}: {error}")))?;
        let container = BlobContainerClient::new(url, Some(credential), None)
            .map_err(|error| StoreError::invalid(format!("the blob container client: {error}")))?;
        Ok(Self {
            container: Arc::new(container),
        })
    }

    /// The container at a URL that carries a SAS in its query.
    pub fn with_sas_url(container_sas_url: &str) -> StoreResult<Self> {
        let url = Url::parse(container_sas_url)
            .map_err(|error| StoreError::invalid(format!("the container SAS URL: {error}")))?;
        if !url.query().is_some_and(|query| query.contains("sig=")) {
            return Err(StoreError::invalid(
                "the container URL carries no SAS (sig=...)",
            ));
        }
        let container = BlobContainerClient::new(url, None, None)
            .map_err(|error| StoreError::invalid(format!("the blob container client: {error}")))?;
        Ok(Self {
            container: Arc::new(container),
        })
    }

    fn blob(&self, key: &BlobKey) -> BlobClient {
        self.container.blob_client(key.as_str())
    }

    async fn meta(&self, key: &BlobKey) -> StoreResult<Option<BlobMeta>> {
        match self.blob(key).get_properties(None).await {
            Ok(response) => Ok(Some(BlobMeta {
                key: key.clone(),
                size_bytes: response.content_length().map_err(unavailable)?.unwrap_or(0),
                content_type: response
                    .content_type()
                    .map_err(unavailable)?
                    .unwrap_or_else(|| "application/octet-stream".to_owned()),
                etag: response
                    .etag()
                    .map_err(unavailable)?
                    .map(|etag| bare_etag(etag.as_ref()))
                    .unwrap_or_default(),
                last_modified_ms: response
                    .last_modified()
                    .map_err(unavailable)?
                    .map_or(0, millis),
            })),
            Err(error) if error.http_status() == Some(StatusCode::NotFound) => Ok(None),
            Err(error) => Err(classify(error, key.as_str())),
        }
    }

    async fn written(&self, key: &BlobKey) -> StoreResult<BlobMeta> {
        self.meta(key).await?.ok_or_else(|| {
            StoreError::unavailable(format!(
                "{} vanished right after it was written",
                key.as_str()
            ))
        })
    }
}

/// The ETag without the quotes the headers carry (listings give it bare).
fn bare_etag(text: &str) -> String {
    text.trim_matches('"').to_owned()
}

fn millis(time: time::OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

fn unavailable(error: azure_core::Error) -> StoreError {
    StoreError::unavailable(format!("Blob Storage: {error}"))
}

/// Maps a service error to the port's kinds.
fn classify(error: azure_core::Error, what: &str) -> StoreError {
    match error.http_status().map(u16::from) {
        Some(404) => StoreError::not_found(format!("no blob {what}")),
        Some(416) => StoreError::invalid(format!("the range is outside {what}")),
        Some(400) => StoreError::invalid(format!("Blob Storage refused {what}: {error}")),
        Some(409) => StoreError::conflict(format!("{what}: {error}")),
        Some(412) => StoreError::precondition_failed(format!("{what}: {error}")),
        _ => unavailable(error),
    }
}

/// Block ids: fixed width (the service wants every id of a blob the same length).
fn block_id(index: usize) -> Vec<u8> {
    format!("block-{index:08}").into_bytes()
}

#[async_trait]
impl BlobStore for AzureBlobStore {
    async fn put(&self, key: &BlobKey, data: Bytes, content_type: &str) -> StoreResult<BlobMeta> {
        let options = BlobClientUploadOptions {
            blob_content_type: Some(content_type.to_owned()),
            ..Default::default()
        };
        self.blob(key)
            .upload(RequestContent::from(data.to_vec()), Some(options))
            .await
            .map_err(|error| classify(error, key.as_str()))?;
        self.written(key).await
    }

    async fn put_stream(
        &self,
        key: &BlobKey,
        mut reader: BlobReader,
        content_type: &str,
    ) -> StoreResult<BlobMeta> {
        let blocks = self.blob(key).block_blob_client();
        let mut ids = Vec::new();
        loop {
            let mut block = BytesMut::with_capacity(BLOCK_BYTES);
            while block.len() < BLOCK_BYTES {
                let read = reader.read_buf(&mut block).await.map_err(|error| {
                    StoreError::invalid(format!("reading the upload stream: {error}"))
                })?;
                if read == 0 {
                    break;
                }
            }
            if block.is_empty() && !ids.is_empty() {
                break;
            }
            let id = block_id(ids.len());
            let length = block.len() as u64;
            let last = block.len() < BLOCK_BYTES;
            blocks
                .stage_block(&id, length, RequestContent::from(block.to_vec()), None)
                .await
                .map_err(|error| classify(error, key.as_str()))?;
            ids.push(id);
            if last {
                break;
            }
        }
        // Nothing is visible until this commit; a failed stream above never gets here.
        let list = BlockLookupList {
            latest: Some(ids),
            ..Default::default()
        };
        let options = BlockBlobClientCommitBlockListOptions {
            blob_content_type: Some(content_type.to_owned()),
            ..Default::default()
        };
        let content = RequestContent::try_from(list)
            .map_err(|error| StoreError::invalid(format!("the block list: {error}")))?;
        blocks
            .commit_block_list(content, Some(options))
            .await
            .map_err(|error| classify(error, key.as_str()))?;
        self.written(key).await
    }

    async fn get(&self, key: &BlobKey) -> StoreResult<Bytes> {
        let response = self
            .blob(key)
            .download(None)
            .await
            .map_err(|error| classify(error, key.as_str()))?;
        response.body.collect().await.map_err(unavailable)
    }

    async fn get_range(&self, key: &BlobKey, range: ByteRange) -> StoreResult<Bytes> {
        let meta = self
            .meta(key)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("no blob {}", key.as_str())))?;
        let end = range.end.unwrap_or(meta.size_bytes);
        if range.start > end || end > meta.size_bytes {
            return Err(StoreError::invalid(format!(
                "range {}..{end} is outside the {} bytes of {}",
                range.start,
                meta.size_bytes,
                key.as_str()
            )));
        }
        if range.start == end {
            return Ok(Bytes::new());
        }
        let options = BlobClientDownloadOptions {
            range: Some((range.start..end).into()),
            ..Default::default()
        };
        let response = self
            .blob(key)
            .download(Some(options))
            .await
            .map_err(|error| classify(error, key.as_str()))?;
        response.body.collect().await.map_err(unavailable)
    }

    async fn open(&self, key: &BlobKey) -> StoreResult<(BlobMeta, BlobReader)> {
        let meta = self
            .meta(key)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("no blob {}", key.as_str())))?;
        let response = self
            .blob(key)
            .download(None)
            .await
            .map_err(|error| classify(error, key.as_str()))?;
        let stream = response
            .body
            .map_err(|error| std::io::Error::other(error.to_string()));
        let reader = tokio_util::io::StreamReader::new(stream);
        Ok((meta, Box::new(reader)))
    }

    async fn head(&self, key: &BlobKey) -> StoreResult<Option<BlobMeta>> {
        self.meta(key).await
    }

    async fn delete(&self, key: &BlobKey) -> StoreResult<bool> {
        match self.blob(key).delete(None).await {
            Ok(_) => Ok(true),
            Err(error) if error.http_status() == Some(StatusCode::NotFound) => Ok(false),
            Err(error) => Err(classify(error, key.as_str())),
        }
    }

    async fn list(&self, prefix: &str) -> StoreResult<Vec<BlobMeta>> {
        let options = BlobContainerClientListBlobsOptions {
            prefix: (!prefix.is_empty()).then(|| prefix.to_owned()),
            ..Default::default()
        };
        let mut items = self
            .container
            .list_blobs(Some(options))
            .map_err(|error| classify(error, prefix))?;
        let mut found = Vec::new();
        while let Some(item) = items.next().await {
            let item = item.map_err(|error| classify(error, prefix))?;
            let Some(name) = item.name else { continue };
            let Ok(key) = BlobKey::parse(&name) else {
                // Not a key this app writes (someone else's file in the container).
                continue;
            };
            let properties = item.properties.unwrap_or_default();
            found.push(BlobMeta {
                key,
                size_bytes: properties.content_length.unwrap_or(0),
                content_type: properties
                    .content_type
                    .unwrap_or_else(|| "application/octet-stream".to_owned()),
                etag: properties
                    .etag
                    .map(|etag| bare_etag(etag.as_ref()))
                    .unwrap_or_default(),
                last_modified_ms: properties.last_modified.map_or(0, millis),
            });
        }
        found.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
        Ok(found)
    }

    async fn ping(&self) -> StoreResult<()> {
        // Listing one name needs only what the app's identity (or SAS) already has.
        let options = BlobContainerClientListBlobsOptions {
            maxresults: Some(1),
            ..Default::default()
        };
        let mut pages = self
            .container
            .list_blobs(Some(options))
            .map_err(|error| classify(error, "the container"))?
            .into_pages();
        match pages.next().await {
            Some(Err(error)) => Err(classify(error, "the container")),
            _ => Ok(()),
        }
    }
}
