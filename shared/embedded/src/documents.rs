//! [`DocumentStore`] on SQLite.

use std::path::Path;

use async_trait::async_trait;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params, params_from_iter};
use serde_json::{Value, json};
use visiobook_ports::document::field_segments;
use visiobook_ports::{Document, DocumentStore, ETag, Order, Page, Query, StoreError, StoreResult};

use crate::sqlite::{Database, map_error, now_ms};

const MIGRATIONS: &[&str] = &["CREATE TABLE documents (
        container TEXT NOT NULL,
        partition_key TEXT NOT NULL,
        id TEXT NOT NULL,
        etag TEXT NOT NULL,
        body TEXT NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (container, partition_key, id)
    ) WITHOUT ROWID;"];

/// JSON documents in one SQLite table, keyed by (container, partition key, id).
///
/// ETags are fresh UUIDs per write. Queries compile to `json_extract`/`json_type` over bound
/// parameters; continuation tokens are hex-encoded keyset positions.
#[derive(Debug, Clone)]
pub struct SqliteDocumentStore {
    database: Database,
}

impl SqliteDocumentStore {
    /// Opens (creating if needed) the database file at `path`, e.g. `<data-dir>/documents.sqlite3`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Ok(Self {
            database: Database::open(path, "documents", MIGRATIONS)?,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.database.path()
    }
}

fn new_etag() -> ETag {
    ETag(uuid::Uuid::new_v4().simple().to_string())
}

fn check_address(container: &str, id: &str) -> StoreResult<()> {
    if container.is_empty() {
        return Err(StoreError::invalid("the container name is empty"));
    }
    if id.is_empty() {
        return Err(StoreError::invalid("the document id is empty"));
    }
    Ok(())
}

fn encode_body(body: &Value) -> StoreResult<String> {
    serde_json::to_string(body)
        .map_err(|error| StoreError::invalid(format!("the body is not valid JSON: {error}")))
}

fn decode_body(id: &str, text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|error| {
        StoreError::unavailable(format!("document {id} holds corrupt JSON: {error}"))
    })
}

/// Reads the ETag of a document inside a transaction.
fn current_etag(
    connection: &Connection,
    container: &str,
    partition_key: &str,
    id: &str,
) -> StoreResult<Option<String>> {
    connection
        .query_row(
            "SELECT etag FROM documents WHERE container = ?1 AND partition_key = ?2 AND id = ?3",
            params![container, partition_key, id],
            |row| row.get(0),
        )
        .optional()
        .map_err(|error| map_error(&error, "reading an etag"))
}

/// Checks an `If-Match` condition against the stored ETag.
fn check_precondition(
    stored: Option<String>,
    if_match: Option<&ETag>,
    id: &str,
) -> StoreResult<()> {
    let Some(stored) = stored else {
        return Err(StoreError::not_found(format!(
            "document {id} does not exist"
        )));
    };
    match if_match {
        Some(expected) if expected.0 != stored => Err(StoreError::precondition_failed(format!(
            "document {id} changed: its etag is no longer {expected}"
        ))),
        _ => Ok(()),
    }
}

#[async_trait]
impl DocumentStore for SqliteDocumentStore {
    async fn read(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
    ) -> StoreResult<Option<Document>> {
        check_address(container, id)?;
        let (container, partition_key, id) = (
            container.to_owned(),
            partition_key.to_owned(),
            id.to_owned(),
        );
        self.database
            .call(move |connection| {
                let row: Option<(String, String)> = connection
                    .query_row(
                        "SELECT etag, body FROM documents WHERE container = ?1 AND partition_key = ?2 AND id = ?3",
                        params![container, partition_key, id],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()
                    .map_err(|error| map_error(&error, "reading a document"))?;
                row.map(|(etag, body)| {
                    Ok(Document {
                        body: decode_body(&id, &body)?,
                        id,
                        partition_key,
                        etag: ETag(etag),
                    })
                })
                .transpose()
            })
            .await
    }

    async fn create(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        body: Value,
    ) -> StoreResult<ETag> {
        check_address(container, id)?;
        let text = encode_body(&body)?;
        let (container, partition_key, id) = (
            container.to_owned(),
            partition_key.to_owned(),
            id.to_owned(),
        );
        self.database
            .call(move |connection| {
                let etag = new_etag();
                connection
                    .execute(
                        "INSERT INTO documents (container, partition_key, id, etag, body, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![container, partition_key, id, etag.0, text, now_ms()],
                    )
                    .map_err(|error| {
                        let mapped = map_error(&error, "creating a document");
                        if mapped.kind == visiobook_ports::ErrorKind::Conflict {
                            StoreError::conflict(format!("document {id} already exists in {container}/{partition_key}"))
                        } else {
                            mapped
                        }
                    })?;
                Ok(etag)
            })
            .await
    }

    async fn upsert(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        body: Value,
    ) -> StoreResult<ETag> {
        check_address(container, id)?;
        let text = encode_body(&body)?;
        let (container, partition_key, id) = (
            container.to_owned(),
            partition_key.to_owned(),
            id.to_owned(),
        );
        self.database
            .call(move |connection| {
                let etag = new_etag();
                connection
                    .execute(
                        "INSERT INTO documents (container, partition_key, id, etag, body, updated_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (container, partition_key, id) DO UPDATE SET
                             etag = excluded.etag, body = excluded.body, updated_at = excluded.updated_at",
                        params![container, partition_key, id, etag.0, text, now_ms()],
                    )
                    .map_err(|error| map_error(&error, "upserting a document"))?;
                Ok(etag)
            })
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
        check_address(container, id)?;
        let text = encode_body(&body)?;
        let (container, partition_key, id) = (
            container.to_owned(),
            partition_key.to_owned(),
            id.to_owned(),
        );
        let if_match = if_match.cloned();
        self.database
            .call(move |connection| {
                let fail = |error: rusqlite::Error| map_error(&error, "replacing a document");
                let transaction = connection
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(fail)?;
                let stored = current_etag(&transaction, &container, &partition_key, &id)?;
                check_precondition(stored, if_match.as_ref(), &id)?;
                let etag = new_etag();
                transaction
                    .execute(
                        "UPDATE documents SET etag = ?4, body = ?5, updated_at = ?6
                         WHERE container = ?1 AND partition_key = ?2 AND id = ?3",
                        params![container, partition_key, id, etag.0, text, now_ms()],
                    )
                    .map_err(fail)?;
                transaction.commit().map_err(fail)?;
                Ok(etag)
            })
            .await
    }

    async fn delete(
        &self,
        container: &str,
        partition_key: &str,
        id: &str,
        if_match: Option<&ETag>,
    ) -> StoreResult<()> {
        check_address(container, id)?;
        let (container, partition_key, id) = (
            container.to_owned(),
            partition_key.to_owned(),
            id.to_owned(),
        );
        let if_match = if_match.cloned();
        self.database
            .call(move |connection| {
                let fail = |error: rusqlite::Error| map_error(&error, "deleting a document");
                let transaction = connection
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(fail)?;
                let stored = current_etag(&transaction, &container, &partition_key, &id)?;
                check_precondition(stored, if_match.as_ref(), &id)?;
                transaction
                    .execute(
                        "DELETE FROM documents WHERE container = ?1 AND partition_key = ?2 AND id = ?3",
                        params![container, partition_key, id],
                    )
                    .map_err(fail)?;
                transaction.commit().map_err(fail)
            })
            .await
    }

    async fn query(
        &self,
        container: &str,
        partition_key: &str,
        query: &Query,
        continuation: Option<&str>,
    ) -> StoreResult<Page> {
        if container.is_empty() {
            return Err(StoreError::invalid("the container name is empty"));
        }
        let plan = QueryPlan::build(container, partition_key, query, continuation)?;
        let (container, partition_key) = (container.to_owned(), partition_key.to_owned());
        self.database
            .call(move |connection| plan.run(connection, &partition_key, &container))
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.database
            .call(|connection| {
                connection
                    .query_row("SELECT 1", [], |row| row.get::<_, i64>(0))
                    .map(drop)
                    .map_err(|error| map_error(&error, "ping"))
            })
            .await
    }
}

/// Turns a field path checked by [`field_segments`] into a JSON path.
fn json_path(field: &str) -> StoreResult<String> {
    field_segments(field).map(|segments| format!("$.{}", segments.join(".")))
}

/// The position after the last item of a page: its sort value and id.
#[derive(Debug, Clone, PartialEq)]
struct Cursor {
    sort: Option<SqlValue>,
    id: String,
}

/// What a continuation token records, so a token is only accepted by the query it came from.
fn encode_continuation(order: Option<&(String, Order)>, cursor: &Cursor) -> String {
    let sort = match &cursor.sort {
        None => Value::Null,
        Some(SqlValue::Null) => json!({"null": true}),
        Some(SqlValue::Integer(value)) => json!({"int": value}),
        Some(SqlValue::Real(value)) => json!({"real": value}),
        Some(SqlValue::Text(value)) => json!({"text": value}),
        Some(SqlValue::Blob(value)) => json!({"blob": hex_encode(value)}),
    };
    let token = json!({
        "v": 1,
        "order": order.map(|(field, direction)| json!([field, direction_name(*direction)])),
        "sort": sort,
        "id": cursor.id,
    });
    hex_encode(token.to_string().as_bytes())
}

fn decode_continuation(token: &str, order: Option<&(String, Order)>) -> StoreResult<Cursor> {
    let invalid =
        || StoreError::invalid("the continuation token is malformed or belongs to another query");
    let bytes = hex_decode(token).ok_or_else(invalid)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if value.get("v") != Some(&json!(1)) {
        return Err(invalid());
    }
    let expected_order = order.map(|(field, direction)| json!([field, direction_name(*direction)]));
    if value.get("order") != Some(&expected_order.unwrap_or(Value::Null)) {
        return Err(invalid());
    }
    let id = value
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?
        .to_owned();
    let sort_value = value.get("sort").ok_or_else(invalid)?;
    let sort = match (order, sort_value) {
        (None, Value::Null) => None,
        (None, _) => return Err(invalid()),
        (Some(_), Value::Object(map)) if map.len() == 1 => {
            let decoded = if map.get("null") == Some(&Value::Bool(true)) {
                SqlValue::Null
            } else if let Some(value) = map.get("int").and_then(Value::as_i64) {
                SqlValue::Integer(value)
            } else if let Some(value) = map.get("real").and_then(Value::as_f64) {
                SqlValue::Real(value)
            } else if let Some(value) = map.get("text").and_then(Value::as_str) {
                SqlValue::Text(value.to_owned())
            } else if let Some(value) = map.get("blob").and_then(Value::as_str) {
                SqlValue::Blob(hex_decode(value).ok_or_else(invalid)?)
            } else {
                return Err(invalid());
            };
            Some(decoded)
        }
        (Some(_), _) => return Err(invalid()),
    };
    Ok(Cursor { sort, id })
}

fn direction_name(order: Order) -> &'static str {
    match order {
        Order::Ascending => "asc",
        Order::Descending => "desc",
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |byte: u8| {
        char::from(byte)
            .to_digit(16)
            .and_then(|value| u8::try_from(value).ok())
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

/// A query compiled to SQL with its bound parameters.
#[derive(Debug)]
struct QueryPlan {
    sql: String,
    parameters: Vec<SqlValue>,
    page_size: usize,
    order: Option<(String, Order)>,
}

impl QueryPlan {
    fn build(
        container: &str,
        partition_key: &str,
        query: &Query,
        continuation: Option<&str>,
    ) -> StoreResult<Self> {
        query.validate()?;
        let mut parameters = vec![
            SqlValue::Text(container.to_owned()),
            SqlValue::Text(partition_key.to_owned()),
        ];
        let sort_path = query
            .order_by
            .as_ref()
            .map(|(field, _)| json_path(field))
            .transpose()?;
        let mut sql = String::from("SELECT id, etag, body, ");
        match &sort_path {
            Some(path) => {
                sql.push_str("json_extract(body, ?) AS sort_value");
                parameters.insert(0, SqlValue::Text(path.clone()));
            }
            None => sql.push_str("NULL AS sort_value"),
        }
        sql.push_str(" FROM documents WHERE container = ? AND partition_key = ?");

        for filter in &query.filters {
            let path = SqlValue::Text(json_path(&filter.field)?);
            match &filter.equals {
                Value::Null => {
                    sql.push_str(" AND json_type(body, ?) = 'null'");
                    parameters.push(path);
                }
                Value::Bool(flag) => {
                    sql.push_str(" AND json_type(body, ?) = ?");
                    parameters.push(path);
                    parameters.push(SqlValue::Text(
                        if *flag { "true" } else { "false" }.to_owned(),
                    ));
                }
                Value::Number(number) => {
                    let bound = if let Some(value) = number.as_i64() {
                        SqlValue::Integer(value)
                    } else if let Some(value) = number.as_f64() {
                        SqlValue::Real(value)
                    } else {
                        return Err(StoreError::invalid(format!(
                            "unsupported number {number} in a filter"
                        )));
                    };
                    sql.push_str(" AND json_type(body, ?) IN ('integer', 'real') AND json_extract(body, ?) = ?");
                    parameters.push(path.clone());
                    parameters.push(path);
                    parameters.push(bound);
                }
                Value::String(text) => {
                    sql.push_str(" AND json_type(body, ?) = 'text' AND json_extract(body, ?) = ?");
                    parameters.push(path.clone());
                    parameters.push(path);
                    parameters.push(SqlValue::Text(text.clone()));
                }
                Value::Array(_) | Value::Object(_) => {
                    let kind = if filter.equals.is_array() {
                        "array"
                    } else {
                        "object"
                    };
                    sql.push_str(" AND json_type(body, ?) = ? AND json_extract(body, ?) = json(?)");
                    parameters.push(path.clone());
                    parameters.push(SqlValue::Text(kind.to_owned()));
                    parameters.push(path);
                    parameters.push(SqlValue::Text(filter.equals.to_string()));
                }
            }
        }

        let direction = query
            .order_by
            .as_ref()
            .map_or(Order::Ascending, |(_, order)| *order);
        if let Some(token) = continuation {
            let cursor = decode_continuation(token, query.order_by.as_ref())?;
            let id_after = match direction {
                Order::Ascending => "id > ?",
                Order::Descending => "id < ?",
            };
            match (&sort_path, cursor.sort) {
                (None, _) => {
                    sql.push_str(&format!(" AND {id_after}"));
                    parameters.push(SqlValue::Text(cursor.id));
                }
                // SQLite sorts NULL first: ascending, everything non-NULL follows a NULL.
                (Some(path), Some(SqlValue::Null)) => {
                    let extract = "json_extract(body, ?)";
                    match direction {
                        Order::Ascending => {
                            sql.push_str(&format!(
                                " AND ({extract} IS NOT NULL OR ({extract} IS NULL AND {id_after}))"
                            ));
                            parameters.push(SqlValue::Text(path.clone()));
                        }
                        Order::Descending => {
                            sql.push_str(&format!(" AND ({extract} IS NULL AND {id_after})"))
                        }
                    }
                    parameters.push(SqlValue::Text(path.clone()));
                    parameters.push(SqlValue::Text(cursor.id));
                }
                (Some(path), Some(last)) => {
                    let path = SqlValue::Text(path.clone());
                    match direction {
                        Order::Ascending => {
                            sql.push_str(
                                " AND (json_extract(body, ?) > ? OR (json_extract(body, ?) = ? AND id > ?))",
                            );
                            parameters.extend([path.clone(), last.clone(), path, last]);
                        }
                        Order::Descending => {
                            sql.push_str(
                                " AND (json_extract(body, ?) < ? OR json_extract(body, ?) IS NULL \
                                 OR (json_extract(body, ?) = ? AND id < ?))",
                            );
                            parameters.extend([
                                path.clone(),
                                last.clone(),
                                path.clone(),
                                path,
                                last,
                            ]);
                        }
                    }
                    parameters.push(SqlValue::Text(cursor.id));
                }
                (Some(_), None) => {
                    return Err(StoreError::invalid(
                        "the continuation token belongs to another query",
                    ));
                }
            }
        }

        let keyword = match direction {
            Order::Ascending => "ASC",
            Order::Descending => "DESC",
        };
        if sort_path.is_some() {
            sql.push_str(&format!(" ORDER BY sort_value {keyword}, id {keyword}"));
        } else {
            sql.push_str(" ORDER BY id ASC");
        }
        sql.push_str(" LIMIT ?");
        // One extra row tells whether another page follows.
        parameters.push(SqlValue::Integer(
            i64::try_from(query.page_size + 1).unwrap_or(i64::MAX),
        ));
        Ok(Self {
            sql,
            parameters,
            page_size: query.page_size,
            order: query.order_by.clone(),
        })
    }

    fn run(
        &self,
        connection: &Connection,
        partition_key: &str,
        container: &str,
    ) -> StoreResult<Page> {
        let fail = |error: rusqlite::Error| map_error(&error, &format!("querying {container}"));
        let mut statement = connection.prepare_cached(&self.sql).map_err(fail)?;
        let mut rows = statement
            .query(params_from_iter(self.parameters.iter()))
            .map_err(fail)?;
        let mut items = Vec::new();
        let mut last_sort = None;
        let mut more = false;
        while let Some(row) = rows.next().map_err(fail)? {
            if items.len() == self.page_size {
                more = true;
                break;
            }
            let id: String = row.get(0).map_err(fail)?;
            let etag: String = row.get(1).map_err(fail)?;
            let body: String = row.get(2).map_err(fail)?;
            last_sort = Some(row.get::<_, SqlValue>(3).map_err(fail)?);
            items.push(Document {
                body: decode_body(&id, &body)?,
                id,
                partition_key: partition_key.to_owned(),
                etag: ETag(etag),
            });
        }
        let continuation = match (more, items.last()) {
            (true, Some(last)) => Some(encode_continuation(
                self.order.as_ref(),
                &Cursor {
                    sort: self.order.as_ref().and(last_sort),
                    id: last.id.clone(),
                },
            )),
            _ => None,
        };
        Ok(Page {
            items,
            continuation,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_are_validated() {
        assert_eq!(json_path("a").unwrap(), "$.a");
        assert_eq!(json_path("owner.id_2").unwrap(), "$.owner.id_2");
        for bad in [
            "", ".", "a.", ".a", "a..b", "a b", "a-b", "a'", "$.a", "a[0]",
        ] {
            assert!(json_path(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn continuation_tokens_round_trip_and_reject_other_queries() {
        let order = ("rank".to_owned(), Order::Descending);
        for sort in [
            SqlValue::Null,
            SqlValue::Integer(-3),
            SqlValue::Real(2.5),
            SqlValue::Text("é".into()),
        ] {
            let cursor = Cursor {
                sort: Some(sort),
                id: "doc".into(),
            };
            let token = encode_continuation(Some(&order), &cursor);
            assert_eq!(decode_continuation(&token, Some(&order)).unwrap(), cursor);
            assert!(decode_continuation(&token, None).is_err());
            let other = ("rank".to_owned(), Order::Ascending);
            assert!(decode_continuation(&token, Some(&other)).is_err());
        }
        let plain = Cursor {
            sort: None,
            id: "x".into(),
        };
        let token = encode_continuation(None, &plain);
        assert_eq!(decode_continuation(&token, None).unwrap(), plain);
        for bad in ["", "0", "zz", "00", "7b7d"] {
            assert!(decode_continuation(bad, None).is_err(), "{bad:?}");
        }
    }
}
