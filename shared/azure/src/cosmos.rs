//! [`DocumentStore`] on Azure Cosmos DB for NoSQL through `azure_data_cosmos` 1.x.
//!
//! - **Shape**: every port document is stored as `{"id", "pk", "body"}` in a container
//!   partitioned on `/pk` (what `bicep/modules/cosmos.bicep` creates), so the caller's body is
//!   never mixed with Cosmos DB's system properties (`_etag`, `_ts`, ...) and may hold any field,
//!   `id` included.
//! - **Ids**: Cosmos DB refuses `/`, `\`, `?` and `#` in ids, so those and `%` are
//!   percent-encoded in the stored `id` and decoded on the way out. Ties in ordered queries are
//!   broken by the stored id, which orders like the port's id except around those characters.
//! - **Queries** stay in one partition (`FeedScope::partition` plus `c.pk = @pk`), compare with
//!   Cosmos DB's type-strict `=`, reach fields with bracket notation (`c.body["owner"]["id"]`, so
//!   keywords such as `value` are safe field names) and sort by `ORDER BY c.body[..] DIR, c.id DIR`,
//!   which needs a composite index `(/body/FIELD, /id)` per ordered field: the Bicep declares one
//!   for every field the code orders by (`scripts/check-bicep` compares them).
//! - **ETags**: the port's tag is the service's, base64url-encoded. Cosmos DB's tags carry
//!   their quotes (`"0000-..."`) and emulators' do not; the HTTP layer quotes the port's tag
//!   itself, and encoding keeps the exact service value for `If-Match` whichever form it had.
//! - **Paging**: a page is filled to the page size, asking the service for what is still missing
//!   with the SDK's continuation token (the service may answer short pages). The port's token
//!   wraps the SDK's with a fingerprint of the query, so a token is only accepted by the query
//!   that made it.
//! - **Auth**: an Entra ID credential (managed or workload identity, with the "Cosmos DB Built-in
//!   Data Contributor" role) in Azure; an account key only for emulators.
//! - **Wire format**: text JSON; the SDK's default, Cosmos binary JSON, is switched off because
//!   emulators do not speak it and the text path is the one the tests cover.
//! - **Emulators**: on a loopback endpoint the client speaks HTTP/1.1 to the standard gateway and
//!   accepts the emulator's self-signed certificate, as the SDK allows for emulator hosts only.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use async_trait::async_trait;
use azure_core::credentials::{Secret, TokenCredential};
use azure_core::http::{Etag, StatusCode, Url};
use azure_data_cosmos::clients::{ContainerClient, DatabaseClient};
use azure_data_cosmos::feed::ContinuationToken;
use azure_data_cosmos::options::{
    BinaryEncodingOptions, ConnectionPoolOptions, FeedOptions, ItemWriteOptions, MaxItemCountHint,
    Precondition, QueryOptions, ServerCertificateValidation,
};
use azure_data_cosmos::{
    AccountEndpoint, AccountReference, CosmosClientBuilder, CosmosError, CosmosRuntime, FeedScope,
    RoutingStrategy,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tokio::sync::{OnceCell, RwLock};
use visiobook_ports::document::field_segments;
use visiobook_ports::{Document, DocumentStore, ETag, Order, Page, Query, StoreError, StoreResult};

/// How the store authenticates.
#[derive(Clone)]
pub enum CosmosAuth {
    /// Entra ID (managed identity in Functions, workload identity in AKS).
    Entra(Arc<dyn TokenCredential>),
    /// An account key: for emulators; Azure accounts of this estate have local auth disabled.
    Key(Secret),
}

impl std::fmt::Debug for CosmosAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Entra(_) => "Entra",
            Self::Key(_) => "Key",
        })
    }
}

/// Where the store lives.
#[derive(Debug, Clone)]
pub struct CosmosConfig {
    /// `https://<account>.documents.azure.com:443/`, or an emulator's loopback URL.
    pub endpoint: String,
    /// The database holding every container.
    pub database: String,
    pub auth: CosmosAuth,
    /// The container whose metadata `ping` resolves (any container the estate creates).
    pub ping_container: String,
}

/// The stored form of a port document.
#[derive(Serialize)]
struct StoredItem<'a> {
    id: &'a str,
    pk: &'a str,
    body: &'a Value,
}

/// What reads and queries get back (system properties other than `_etag` are ignored).
#[derive(Deserialize)]
struct ReadItem {
    id: String,
    pk: String,
    #[serde(default)]
    body: Value,
    #[serde(rename = "_etag", default)]
    etag: Option<String>,
}

impl ReadItem {
    fn into_document(self, etag_header: Option<String>) -> StoreResult<Document> {
        let etag = etag_header.or(self.etag).ok_or_else(|| {
            StoreError::unavailable(format!("document {} came back without an ETag", self.id))
        })?;
        Ok(Document {
            id: decode_id(&self.id)?,
            partition_key: self.pk,
            etag: port_etag(&etag),
            body: self.body,
        })
    }
}

/// Cosmos DB for NoSQL, one database.
pub struct CosmosDocumentStore {
    account: AccountReference,
    endpoint: Url,
    database_name: String,
    ping_container: String,
    /// Built on first use: building reads the account's regions from the service.
    database: OnceCell<DatabaseClient>,
    containers: RwLock<HashMap<String, ContainerClient>>,
}

impl std::fmt::Debug for CosmosDocumentStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosmosDocumentStore")
            .field("endpoint", &self.endpoint.as_str())
            .field("database", &self.database_name)
            .finish()
    }
}

/// Hosts the SDK treats as emulators (it relaxes certificate checks for these only).
fn is_emulator_host(url: &Url) -> bool {
    matches!(
        url.host_str(),
        Some("localhost" | "127.0.0.1" | "[::1]" | "::1")
    )
}

impl CosmosDocumentStore {
    /// Checks the configuration; the client connects on first use (see [`Self::connect`]).
    pub fn new(config: CosmosConfig) -> StoreResult<Self> {
        let endpoint = Url::parse(&config.endpoint).map_err(|error| {
            StoreError::invalid(format!("Cosmos DB endpoint {:?}: {error}", config.endpoint))
        })?;
        if endpoint.scheme() != "https" {
            return Err(StoreError::invalid(format!(
                "Cosmos DB endpoint {:?} is not https",
                config.endpoint
            )));
        }
        if config.database.is_empty() || config.ping_container.is_empty() {
            return Err(StoreError::invalid(
                "the Cosmos DB database and ping container must be named",
            ));
        }
        let account_endpoint = AccountEndpoint::from(endpoint.clone());
        let account = match config.auth {
            CosmosAuth::Entra(credential) => {
                AccountReference::with_credential(account_endpoint, credential)
            }
            CosmosAuth::Key(key) => {
                AccountReference::with_authentication_key(account_endpoint, key)
            }
        };
        Ok(Self {
            account,
            endpoint,
            database_name: config.database,
            ping_container: config.ping_container,
            database: OnceCell::new(),
            containers: RwLock::new(HashMap::new()),
        })
    }

    /// [`Self::new`], then connects at once (reads the account's regions).
    pub async fn connect(config: CosmosConfig) -> StoreResult<Self> {
        let store = Self::new(config)?;
        store.database().await?;
        Ok(store)
    }

    async fn database(&self) -> StoreResult<&DatabaseClient> {
        self.database
            .get_or_try_init(|| async {
                // Text JSON on the wire: the SDK defaults to Cosmos binary JSON, which emulators
                // do not speak, and the text path is the one the tests cover.
                let mut builder = CosmosClientBuilder::new()
                    .with_binary_encoding_options(BinaryEncodingOptions::new().with_enabled(false));
                if is_emulator_host(&self.endpoint) {
                    let pool = ConnectionPoolOptions::builder()
                        .with_is_http2_allowed(false)
                        .with_gateway_v2_disabled(true)
                        .with_server_certificate_validation(
                            ServerCertificateValidation::RequiredUnlessEmulator,
                        )
                        .build()
                        .map_err(|error| {
                            unavailable("the emulator's connection options", &error)
                        })?;
                    let runtime = CosmosRuntime::builder()
                        .with_connection_pool(pool)
                        .build()
                        .await
                        .map_err(|error| unavailable("the Cosmos DB runtime", &error))?;
                    builder = builder.with_runtime(runtime);
                }
                // The account's own region order: this estate deploys one region.
                let client = builder
                    .build(
                        self.account.clone(),
                        RoutingStrategy::PreferredRegions(Vec::new()),
                    )
                    .await
                    .map_err(|error| unavailable("connecting to Cosmos DB", &error))?;
                Ok(client.database_client(self.database_name.as_str()))
            })
            .await
    }

    async fn container(&self, name: &str) -> StoreResult<ContainerClient> {
        if name.is_empty() {
            return Err(StoreError::invalid("the container name is empty"));
        }
        if let Some(client) = self.containers.read().await.get(name) {
            return Ok(client.clone());
        }
        let client = self
            .database()
            .await?
            .container_client(name, None)
            .await
            .map_err(|error| {
                if error.status().status_code() == StatusCode::NotFound {
                    StoreError::unavailable(format!(
                        "container {name:?} does not exist in Cosmos DB database {:?}",
                        self.database_name
                    ))
                } else {
                    unavailable(&format!("resolving container {name:?}"), &error)
                }
            })?;
        self.containers
            .write()
            .await
            .insert(name.to_owned(), client.clone());
        Ok(client)
    }

    /// Writes `body` as a new document (`create`), over any (`upsert`), or over an existing one
    /// (`replace`, optionally conditional).
    async fn write(
        &self,
        write: Write<'_>,
        container: &str,
        partition_key: &str,
        id: &str,
        body: Value,
    ) -> StoreResult<ETag> {
        let client = self.container(container).await?;
        let stored_id = encode_id(id)?;
        let item = StoredItem {
            id: &stored_id,
            pk: partition_key,
            body: &body,
        };
        let what = format!("{} of {container}/{partition_key}/{id}", write.name());
        let result = match write {
            Write::Create => {
                client
                    .create_item(partition_key.to_owned(), &stored_id, &item, None)
                    .await
            }
            Write::Upsert => {
                client
                    .upsert_item(partition_key.to_owned(), &stored_id, &item, None)
                    .await
            }
            Write::Replace(if_match) => {
                client
                    .replace_item(
                        partition_key.to_owned(),
                        &stored_id,
                        &item,
                        write_options(if_match),
                    )
                    .await
            }
        };
        let response = result.map_err(|error| map_error(&what, &error))?;
        response
            .headers()
            .etag()
            .map(|etag| port_etag(etag.as_ref()))
            .ok_or_else(|| StoreError::unavailable(format!("{what}: the answer has no ETag")))
    }
}

#[derive(Clone, Copy)]
enum Write<'a> {
    Create,
    Upsert,
    Replace(Option<&'a ETag>),
}

impl Write<'_> {
    fn name(&self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Upsert => "upsert",
            Self::Replace(_) => "replace",
        }
    }
}

/// The port's tag for the service's.
fn port_etag(service: &str) -> ETag {
    ETag(URL_SAFE_NO_PAD.encode(service))
}

/// The service's tag for an `If-Match`. One this store never handed out (forged or mangled)
/// becomes a tag no document has, so the service answers as for any stale tag: 412, or 404
/// when the document is missing.
fn service_etag(etag: &ETag) -> Etag {
    URL_SAFE_NO_PAD
        .decode(&etag.0)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .map_or_else(|| Etag::from(format!("unknown:{}", etag.0)), Etag::from)
}

fn write_options(if_match: Option<&ETag>) -> Option<ItemWriteOptions> {
    if_match.map(|etag| {
        ItemWriteOptions::default().with_precondition(Precondition::IfMatch(service_etag(etag)))
    })
}

fn unavailable(what: &str, error: &CosmosError) -> StoreError {
    StoreError::unavailable(format!("{what}: {error}"))
}

/// The port's kind for a Cosmos DB answer.
fn map_error(what: &str, error: &CosmosError) -> StoreError {
    let status = error.status().status_code();
    let message = format!("{what}: {error}");
    match status {
        StatusCode::NotFound => StoreError::not_found(message),
        StatusCode::Conflict => StoreError::conflict(message),
        StatusCode::PreconditionFailed => StoreError::precondition_failed(message),
        StatusCode::BadRequest | StatusCode::PayloadTooLarge => StoreError::invalid(message),
        _ => StoreError::unavailable(message),
    }
}

/// Characters Cosmos DB refuses in ids, and `%` so that the encoding can be undone.
fn encode_id(id: &str) -> StoreResult<String> {
    if id.is_empty() {
        return Err(StoreError::invalid("the document id is empty"));
    }
    let mut encoded = String::with_capacity(id.len());
    for character in id.chars() {
        match character {
            '%' => encoded.push_str("%25"),
            '/' => encoded.push_str("%2F"),
            '\\' => encoded.push_str("%5C"),
            '?' => encoded.push_str("%3F"),
            '#' => encoded.push_str("%23"),
            other => encoded.push(other),
        }
    }
    // Cosmos DB's limit on ids is 1,023 bytes.
    if encoded.len() > 1023 {
        return Err(StoreError::invalid(format!(
            "document id of {} bytes is longer than Cosmos DB allows",
            id.len()
        )));
    }
    Ok(encoded)
}

fn decode_id(stored: &str) -> StoreResult<String> {
    let mut decoded = String::with_capacity(stored.len());
    let mut rest = stored;
    while let Some(index) = rest.find('%') {
        decoded.push_str(&rest[..index]);
        let code = rest.get(index + 1..index + 3);
        decoded.push(match code {
            Some("25") => '%',
            Some("2F") => '/',
            Some("5C") => '\\',
            Some("3F") => '?',
            Some("23") => '#',
            _ => {
                return Err(StoreError::unavailable(format!(
                    "stored id {stored:?} is not one this store wrote"
                )));
            }
        });
        rest = &rest[index + 3..];
    }
    decoded.push_str(rest);
    Ok(decoded)
}

/// `c.body["a"]["b"]` for `a.b`.
fn body_path(field: &str) -> StoreResult<String> {
    let mut path = String::from("c.body");
    for segment in field_segments(field)? {
        path.push_str("[\"");
        path.push_str(segment);
        path.push_str("\"]");
    }
    Ok(path)
}

/// The SQL text and parameters of a port query (the partition key is `@pk`).
fn query_sql(query: &Query) -> StoreResult<(String, Vec<(String, Value)>)> {
    query.validate()?;
    let mut sql = String::from("SELECT c.id, c.pk, c.body, c._etag FROM c WHERE c.pk = @pk");
    let mut parameters = Vec::new();
    for (index, filter) in query.filters.iter().enumerate() {
        let name = format!("@f{index}");
        sql.push_str(&format!(" AND {} = {name}", body_path(&filter.field)?));
        parameters.push((name, filter.equals.clone()));
    }
    match &query.order_by {
        Some((field, order)) => {
            let direction = match order {
                Order::Ascending => "ASC",
                Order::Descending => "DESC",
            };
            sql.push_str(&format!(
                " ORDER BY {} {direction}, c.id {direction}",
                body_path(field)?
            ));
        }
        None => sql.push_str(" ORDER BY c.id ASC"),
    }
    Ok((sql, parameters))
}

/// What the port's continuation token carries: the query it belongs to and the SDK's token.
#[derive(Serialize, Deserialize)]
struct Continuation {
    /// Fingerprint of (container, partition key, SQL, parameters).
    q: String,
    /// The SDK's continuation token.
    c: String,
}

fn fingerprint(
    container: &str,
    partition_key: &str,
    sql: &str,
    parameters: &[(String, Value)],
) -> String {
    let mut hash = Sha256::new();
    for part in [container, partition_key, sql] {
        hash.update(part.len().to_le_bytes());
        hash.update(part.as_bytes());
    }
    for (name, value) in parameters {
        hash.update(name.as_bytes());
        hash.update(value.to_string().as_bytes());
    }
    URL_SAFE_NO_PAD.encode(&hash.finalize()[..12])
}

fn decode_continuation(token: &str, expected: &str) -> StoreResult<String> {
    let invalid =
        || StoreError::invalid("the continuation token is malformed or belongs to another query");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let continuation: Continuation = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if continuation.q != expected || continuation.c.is_empty() {
        return Err(invalid());
    }
    Ok(continuation.c)
}

fn encode_continuation(fingerprint: String, sdk_token: String) -> String {
    let continuation = Continuation {
        q: fingerprint,
        c: sdk_token,
    };
    // Serialising two strings cannot fail.
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&continuation).unwrap_or_default())
}

#[async_trait]
impl DocumentStore for CosmosDocumentStore {
    async fn read(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
    ) -> StoreResult<Option<Document>> {
        let client = self.container(container).await?;
        let stored_id = encode_id(id)?;
        let response = match client
            .read_item(partition_key.to_owned(), &stored_id, None)
            .await
        {
            Ok(response) => response,
            Err(error) if error.status().status_code() == StatusCode::NotFound => return Ok(None),
            Err(error) => {
                return Err(map_error(
                    &format!("read of {container}/{partition_key}/{id}"),
                    &error,
                ));
            }
        };
        let etag = response
            .headers()
            .etag()
            .map(|etag| etag.as_ref().to_owned());
        let item: ReadItem = response.into_body().into_single().map_err(|error| {
            StoreError::unavailable(format!("document {id} could not be decoded: {error}"))
        })?;
        item.into_document(etag).map(Some)
    }

    async fn create(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        body: Value,
    ) -> StoreResult<ETag> {
        self.write(Write::Create, container, partition_key, id, body)
            .await
    }

    async fn upsert(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        body: Value,
    ) -> StoreResult<ETag> {
        self.write(Write::Upsert, container, partition_key, id, body)
            .await
    }

    async fn replace(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        body: Value,
        if_match: Option<&ETag>,
    ) -> StoreResult<ETag> {
        self.write(Write::Replace(if_match), container, partition_key, id, body)
            .await
    }

    async fn delete(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        if_match: Option<&ETag>,
    ) -> StoreResult<()> {
        let client = self.container(container).await?;
        let stored_id = encode_id(id)?;
        client
            .delete_item(
                partition_key.to_owned(),
                &stored_id,
                write_options(if_match),
            )
            .await
            .map_err(|error| {
                map_error(
                    &format!("delete of {container}/{partition_key}/{id}"),
                    &error,
                )
            })?;
        Ok(())
    }

    async fn query(
        &self,
        container: &str,
        partition_key: &str,
        query: &Query,
        continuation: Option<&str>,
    ) -> StoreResult<Page> {
        let (sql, parameters) = query_sql(query)?;
        let fingerprint = fingerprint(container, partition_key, &sql, &parameters);
        let mut sdk_token = continuation
            .map(|token| decode_continuation(token, &fingerprint))
            .transpose()?;
        let client = self.container(container).await?;
        let mut items: Vec<Document> = Vec::with_capacity(query.page_size.min(100));
        let what = format!("query of {container}/{partition_key}");
        // Fill the page: ask for what is missing until it is full or the results end.
        loop {
            let missing = query.page_size - items.len();
            let mut cosmos_query = azure_data_cosmos::Query::from(sql.as_str())
                .with_parameter("@pk", partition_key)
                .map_err(|error| map_error(&what, &error))?;
            for (name, value) in &parameters {
                cosmos_query = cosmos_query
                    .with_parameter(name.as_str(), value)
                    .map_err(|error| map_error(&what, &error))?;
            }
            let mut feed = FeedOptions::default().with_max_item_count(MaxItemCountHint::Limit(
                NonZeroU32::new(u32::try_from(missing).unwrap_or(u32::MAX))
                    .unwrap_or(NonZeroU32::MIN),
            ));
            if let Some(token) = sdk_token.take() {
                feed = feed.with_continuation_token(ContinuationToken::from_string(token));
            }
            let options = QueryOptions::default().with_feed_options(feed);
            let mut pages = client
                .query_items::<ReadItem>(
                    cosmos_query,
                    FeedScope::partition(partition_key.to_owned()),
                    Some(options),
                )
                .await
                .map_err(|error| map_error(&what, &error))?
                .into_pages();
            let Some(page) = pages.next().await else {
                break;
            };
            let page = page.map_err(|error| map_error(&what, &error))?;
            let more = page.headers().continuation().is_some();
            let fetched = page.into_items();
            if fetched.len() > missing {
                return Err(StoreError::unavailable(format!(
                    "{what}: the service answered {} items where {missing} were asked for",
                    fetched.len()
                )));
            }
            for item in fetched {
                items.push(item.into_document(None)?);
            }
            if !more {
                break;
            }
            let token = pages
                .to_continuation_token()
                .map_err(|error| map_error(&what, &error))?;
            if items.len() == query.page_size {
                return Ok(Page {
                    items,
                    continuation: Some(encode_continuation(fingerprint, token.as_str().to_owned())),
                });
            }
            sdk_token = Some(token.as_str().to_owned());
        }
        Ok(Page {
            items,
            continuation: None,
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        let ping_container = self.ping_container.clone();
        // Resolving a container reads its metadata from the service; a point read of an id that
        // is never written proves the data plane answers for this identity.
        let client = self.container(&ping_container).await?;
        match client.read_item("ping", "ping", None).await {
            Ok(_) => Ok(()),
            Err(error) if error.status().status_code() == StatusCode::NotFound => Ok(()),
            Err(error) => Err(map_error("ping", &error)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_round_trip_through_the_encoding() {
        for id in [
            "plain",
            "a/b",
            "100%",
            "a\\b?c#d",
            "%2F",
            "émile@example.org",
        ] {
            let encoded = encode_id(id).unwrap();
            assert!(!encoded.contains(['/', '\\', '?', '#']), "{encoded}");
            assert_eq!(decode_id(&encoded).unwrap(), id);
        }
        assert_eq!(encode_id("a/b").unwrap(), "a%2Fb");
        assert!(encode_id("").is_err());
        assert!(encode_id(&"x".repeat(1024)).is_err());
        assert!(decode_id("bad%zz").is_err());
    }

    #[test]
    fn queries_become_single_partition_sql_with_parameters() {
        let query = Query::default()
            .filter("owner.id", "u1")
            .filter("value", 2)
            .order_by("created_at", Order::Descending);
        let (sql, parameters) = query_sql(&query).unwrap();
        assert_eq!(
            sql,
            "SELECT c.id, c.pk, c.body, c._etag FROM c WHERE c.pk = @pk \
             AND c.body[\"owner\"][\"id\"] = @f0 AND c.body[\"value\"] = @f1 \
             ORDER BY c.body[\"created_at\"] DESC, c.id DESC"
        );
        assert_eq!(
            parameters,
            vec![
                ("@f0".to_owned(), json!("u1")),
                ("@f1".to_owned(), json!(2))
            ]
        );
        let (sql, parameters) = query_sql(&Query::default()).unwrap();
        assert!(sql.ends_with("WHERE c.pk = @pk ORDER BY c.id ASC"), "{sql}");
        assert!(parameters.is_empty());
        assert!(query_sql(&Query::default().filter("a\"]", 1)).is_err());
        assert!(query_sql(&Query::default().page_size(0)).is_err());
    }

    #[test]
    fn etags_keep_the_service_form_and_forged_ones_match_nothing() {
        for service in ["\"00000000-0000-0000-1c55-a0d3d1a601da\"", "6f1b2c3d-bare"] {
            let port = port_etag(service);
            assert!(!port.0.contains('"'), "{port}");
            assert_eq!(service_etag(&port).as_ref(), service);
        }
        assert_eq!(service_etag(&ETag("x".into())).as_ref(), "unknown:x");
    }

    #[test]
    fn continuation_tokens_belong_to_one_query() {
        let (sql, parameters) = query_sql(&Query::default().filter("a", 1)).unwrap();
        let mine = fingerprint("c", "p", &sql, &parameters);
        let token = encode_continuation(mine.clone(), "sdk-token".to_owned());
        assert_eq!(decode_continuation(&token, &mine).unwrap(), "sdk-token");
        let other = fingerprint("c", "other", &sql, &parameters);
        assert!(decode_continuation(&token, &other).is_err());
        let (other_sql, other_parameters) = query_sql(&Query::default().filter("a", 2)).unwrap();
        assert!(
            decode_continuation(
                &token,
                &fingerprint("c", "p", &other_sql, &other_parameters)
            )
            .is_err()
        );
        for garbage in ["", "garbage", "%%%", "0000"] {
            assert!(decode_continuation(garbage, &mine).is_err(), "{garbage:?}");
        }
    }
}
