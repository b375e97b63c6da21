//! The document port: JSON documents in named containers, addressed by partition key and id.
//!
//! Semantics follow Cosmos DB for NoSQL so that the Azure adapter is a thin translation:
//! every write returns a new opaque [`ETag`]; `replace` with an ETag fails with
//! [`ErrorKind::PreconditionFailed`](crate::ErrorKind::PreconditionFailed) when the document
//! changed since it was read; queries stay inside one partition and page with an opaque
//! continuation token.

use async_trait::async_trait;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::error::{StoreError, StoreResult};

/// An opaque version tag. Two reads of an unchanged document return equal tags.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ETag(pub String);

impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored document with its version.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub id: String,
    pub partition_key: String,
    pub etag: ETag,
    /// The JSON body as the caller wrote it (adapters never add fields to it).
    pub body: Value,
}

impl Document {
    /// Deserialises the body into a typed value.
    pub fn parse<T: DeserializeOwned>(&self) -> StoreResult<T> {
        serde_json::from_value(self.body.clone()).map_err(|error| {
            StoreError::invalid(format!(
                "document {} has an unexpected shape: {error}",
                self.id
            ))
        })
    }
}

/// An equality filter on a top-level or dotted field path (`"state"`, `"owner.id"`).
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub field: String,
    pub equals: Value,
}

/// Sort direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// A single-partition query: all filters must hold; results sorted by `order_by` then by id.
/// Field paths are restricted to `[A-Za-z0-9_]` segments separated by dots.
///
/// Ties in `order_by` are broken by id in the same direction (a descending query is the exact
/// reverse of the ascending one); without `order_by` results come by id ascending. Filters are
/// type-strict equality (`1` never matches `"1"` or `true`); a missing field matches nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub filters: Vec<Filter>,
    pub order_by: Option<(String, Order)>,
    /// Maximum number of items in one page (1..=1000).
    pub page_size: usize,
}

impl Default for Query {
    fn default() -> Self {
        Self {
            filters: Vec::new(),
            order_by: None,
            page_size: 100,
        }
    }
}

/// The largest page a query may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;

impl Query {
    /// Checks what every adapter refuses the same way: a page size outside
    /// `1..=`[`MAX_PAGE_SIZE`] and field paths that [`field_segments`] rejects.
    pub fn validate(&self) -> StoreResult<()> {
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            return Err(StoreError::invalid(format!(
                "page size {} is outside 1..={MAX_PAGE_SIZE}",
                self.page_size
            )));
        }
        for filter in &self.filters {
            field_segments(&filter.field)?;
        }
        if let Some((field, _)) = &self.order_by {
            field_segments(field)?;
        }
        Ok(())
    }

    pub fn filter(mut self, field: impl Into<String>, equals: impl Into<Value>) -> Self {
        self.filters.push(Filter {
            field: field.into(),
            equals: equals.into(),
        });
        self
    }
    pub fn order_by(mut self, field: impl Into<String>, order: Order) -> Self {
        self.order_by = Some((field.into(), order));
        self
    }
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }
}

/// The segments of a field path, which must match `^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`; anything
/// else (quotes, brackets, spaces, empty segments) is `Invalid`, so adapters can splice the
/// segments into their query language.
pub fn field_segments(field: &str) -> StoreResult<Vec<&str>> {
    let segments: Vec<&str> = field.split('.').collect();
    let valid = segments.iter().all(|segment| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    });
    if valid {
        Ok(segments)
    } else {
        Err(StoreError::invalid(format!(
            "invalid field path {field:?}: use letters, digits and '_' in segments separated by '.'"
        )))
    }
}

/// One page of query results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Document>,
    /// Pass back to get the next page; `None` on the last page.
    pub continuation: Option<String>,
}

/// JSON documents in containers, partitioned, with optimistic concurrency.
#[async_trait]
pub trait DocumentStore: Send + Sync + std::fmt::Debug {
    /// Point read. `Ok(None)` when absent.
    async fn read(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
    ) -> StoreResult<Option<Document>>;

    /// Inserts a new document; `Conflict` when the id exists in that partition.
    async fn create(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        body: Value,
    ) -> StoreResult<ETag>;

    /// Inserts or overwrites unconditionally.
    async fn upsert(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        body: Value,
    ) -> StoreResult<ETag>;

    /// Overwrites an existing document. With `if_match`, fails with `PreconditionFailed` unless
    /// the stored ETag equals it; `NotFound` when the document does not exist.
    async fn replace(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        body: Value,
        if_match: Option<&ETag>,
    ) -> StoreResult<ETag>;

    /// Deletes a document; `NotFound` when absent, `PreconditionFailed` on an ETag mismatch.
    async fn delete(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        if_match: Option<&ETag>,
    ) -> StoreResult<()>;

    /// Runs a query inside one partition. `continuation` comes from a previous [`Page`].
    async fn query(
        &self,
        container: &str,
        partition_key: &str,
        query: &Query,
        continuation: Option<&str>,
    ) -> StoreResult<Page>;

    /// A cheap round trip proving the store answers (used by `/ready`).
    async fn ping(&self) -> StoreResult<()>;
}

/// Typed helpers over any [`DocumentStore`].
pub async fn read_typed<T: DeserializeOwned>(
    store: &dyn DocumentStore,
    container: &str,
    partition_key: &str,
    id: &str,
) -> StoreResult<Option<(T, ETag)>> {
    match store.read(container, partition_key, id).await? {
        Some(document) => Ok(Some((document.parse()?, document.etag))),
        None => Ok(None),
    }
}

/// Serialises a typed value into a JSON body for the store.
pub fn to_body<T: Serialize>(value: &T) -> StoreResult<Value> {
    serde_json::to_value(value)
        .map_err(|error| StoreError::invalid(format!("value cannot be stored as JSON: {error}")))
}

/// Every document of one partition that `query` selects, following continuation tokens (for
/// partitions known to be small: one user's projects, sessions or files).
pub async fn query_all(
    store: &dyn DocumentStore,
    container: &str,
    partition_key: &str,
    query: &Query,
) -> StoreResult<Vec<Document>> {
    let mut documents = Vec::new();
    let mut continuation = None;
    loop {
        let page = store
            .query(container, partition_key, query, continuation.as_deref())
            .await?;
        documents.extend(page.items);
        match page.continuation {
            Some(next) => continuation = Some(next),
            None => return Ok(documents),
        }
    }
}

/// [`query_all`], each document deserialised into `T`.
pub async fn query_all_typed<T: DeserializeOwned>(
    store: &dyn DocumentStore,
    container: &str,
    partition_key: &str,
    query: &Query,
) -> StoreResult<Vec<T>> {
    query_all(store, container, partition_key, query)
        .await?
        .iter()
        .map(Document::parse)
        .collect()
}
