//! [`JobQueue`] on SQLite, with Service Bus peek-lock semantics.
//!
//! Every state change runs in a `BEGIN IMMEDIATE` transaction, so several processes (or several
//! instances in one process) may share the database file and never deliver one message to two
//! receivers at once.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use visiobook_ports::queue::MAX_DELIVERY_COUNT_EXCEEDED;
use visiobook_ports::{
    DeadLetter, JobQueue, LockToken, OutgoingMessage, QueueSpec, QueueStats, ReceivedMessage,
    SendOutcome, StoreError, StoreResult,
};

use crate::sqlite::{Database, duration_ms, map_error, now_ms};

const MIGRATIONS: &[&str] = &["CREATE TABLE messages (
        sequence INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        body BLOB NOT NULL,
        correlation_id TEXT,
        properties TEXT NOT NULL,
        enqueued_at_ms INTEGER NOT NULL,
        visible_at_ms INTEGER NOT NULL,
        delivery_count INTEGER NOT NULL DEFAULT 0,
        lock_token TEXT,
        locked_until_ms INTEGER
    );
    CREATE INDEX messages_by_queue ON messages (queue, sequence);
    CREATE INDEX messages_by_lock ON messages (lock_token) WHERE lock_token IS NOT NULL;
    CREATE TABLE dead_letters (
        dead_letter_sequence INTEGER PRIMARY KEY AUTOINCREMENT,
        queue TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        message_id TEXT NOT NULL,
        body BLOB NOT NULL,
        correlation_id TEXT,
        properties TEXT NOT NULL,
        enqueued_at_ms INTEGER NOT NULL,
        delivery_count INTEGER NOT NULL,
        reason TEXT NOT NULL,
        description TEXT NOT NULL,
        dead_lettered_at_ms INTEGER NOT NULL
    );
    CREATE INDEX dead_letters_by_queue ON dead_letters (queue, dead_letter_sequence);
    CREATE TABLE duplicate_ids (
        queue TEXT NOT NULL,
        message_id TEXT NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        PRIMARY KEY (queue, message_id)
    ) WITHOUT ROWID;"];

/// Copies a message row into the dead letters; `?1` reason, `?2` description, `?3` now.
const DEAD_LETTER_COLUMNS: &str = "INSERT INTO dead_letters (
        queue, sequence, message_id, body, correlation_id, properties, enqueued_at_ms,
        delivery_count, reason, description, dead_lettered_at_ms)
    SELECT queue, sequence, message_id, body, correlation_id, properties, enqueued_at_ms,
        delivery_count, ?1, ?2, ?3 FROM messages";

/// Peek-lock queues in SQLite. Only the queues named in the specs exist.
#[derive(Debug, Clone)]
pub struct SqliteJobQueue {
    database: Database,
    specs: Arc<HashMap<String, QueueSpec>>,
}

impl SqliteJobQueue {
    /// Opens (creating if needed) the database file at `path`, e.g. `<data-dir>/queue.sqlite3`,
    /// serving the queues in `specs`. Another instance (or process) may open the same file.
    pub fn open(path: &Path, specs: Vec<QueueSpec>) -> StoreResult<Self> {
        let mut by_name = HashMap::new();
        for spec in specs {
            if spec.name.is_empty() {
                return Err(StoreError::invalid("a queue spec has an empty name"));
            }
            if spec.max_delivery_count == 0 {
                return Err(StoreError::invalid(format!(
                    "queue {} allows zero deliveries",
                    spec.name
                )));
            }
            if spec.lock_duration.is_zero() {
                return Err(StoreError::invalid(format!(
                    "queue {} has a zero lock duration",
                    spec.name
                )));
            }
            if let Some(previous) = by_name.insert(spec.name.clone(), spec) {
                return Err(StoreError::invalid(format!(
                    "queue {} is specified twice",
                    previous.name
                )));
            }
        }
        Ok(Self {
            database: Database::open(path, "queue", MIGRATIONS)?,
            specs: Arc::new(by_name),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.database.path()
    }

    fn known(&self, queue: &str) -> StoreResult<QueueSpec> {
        self.specs
            .get(queue)
            .cloned()
            .ok_or_else(|| StoreError::not_found(format!("queue {queue} does not exist")))
    }

    /// Runs `call` inside a `BEGIN IMMEDIATE` transaction that commits when it succeeds.
    async fn write<T, F>(&self, what: &'static str, call: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.database
            .call(move |connection: &mut Connection| {
                let fail = |error: rusqlite::Error| map_error(&error, what);
                let transaction = connection
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(fail)?;
                let value = call(&transaction)?;
                transaction.commit().map_err(fail)?;
                Ok(value)
            })
            .await
    }
}

fn sql(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| map_error(&error, what)
}

fn lock_lost(queue: &str) -> StoreError {
    StoreError::lock_lost(format!(
        "the lock token is unknown in queue {queue} or its lock expired"
    ))
}

fn decode_properties(text: &str) -> StoreResult<BTreeMap<String, String>> {
    serde_json::from_str(text).map_err(|error| {
        StoreError::unavailable(format!("a stored message has corrupt properties: {error}"))
    })
}

fn count(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

/// Dead-letters every message of `queue` whose lock is gone (expired or never taken) and whose
/// delivery count has reached the maximum, oldest first.
fn sweep(transaction: &Transaction<'_>, spec: &QueueSpec, now: i64) -> StoreResult<()> {
    let max = i64::from(spec.max_delivery_count);
    let description = format!("the message was delivered {max} times without being settled");
    let condition = "queue = ?4 AND delivery_count >= ?5 AND (locked_until_ms IS NULL OR locked_until_ms <= ?3)";
    let moved = transaction
        .execute(
            &format!("{DEAD_LETTER_COLUMNS} WHERE {condition} ORDER BY sequence"),
            params![
                MAX_DELIVERY_COUNT_EXCEEDED,
                description,
                now,
                spec.name,
                max
            ],
        )
        .map_err(sql("dead-lettering exhausted messages"))?;
    if moved > 0 {
        transaction
            .execute(
                &format!("DELETE FROM messages WHERE {condition}"),
                params![
                    MAX_DELIVERY_COUNT_EXCEEDED,
                    description,
                    now,
                    spec.name,
                    max
                ],
            )
            .map_err(sql("dead-lettering exhausted messages"))?;
        tracing::debug!(queue = %spec.name, moved, "dead-lettered messages past their delivery count");
    }
    Ok(())
}

/// The sequence of the message locked by `lock` in `queue`, with its delivery count, if the
/// lock is still held.
fn locked(
    transaction: &Transaction<'_>,
    queue: &str,
    lock: &str,
    now: i64,
) -> StoreResult<Option<(i64, i64)>> {
    transaction
        .query_row(
            "SELECT sequence, delivery_count FROM messages
             WHERE queue = ?1 AND lock_token = ?2 AND locked_until_ms > ?3",
            params![queue, lock, now],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(sql("finding a lock"))
}

fn move_to_dead_letters(
    transaction: &Transaction<'_>,
    sequence: i64,
    reason: &str,
    description: &str,
    now: i64,
) -> StoreResult<()> {
    transaction
        .execute(
            &format!("{DEAD_LETTER_COLUMNS} WHERE sequence = ?4"),
            params![reason, description, now, sequence],
        )
        .map_err(sql("dead-lettering a message"))?;
    transaction
        .execute(
            "DELETE FROM messages WHERE sequence = ?1",
            params![sequence],
        )
        .map_err(sql("dead-lettering a message"))?;
    Ok(())
}

#[async_trait]
impl JobQueue for SqliteJobQueue {
    async fn send(&self, queue: &str, message: OutgoingMessage) -> StoreResult<SendOutcome> {
        let spec = self.known(queue)?;
        if message.message_id.is_empty() {
            return Err(StoreError::invalid("the message id is empty"));
        }
        let properties = serde_json::to_string(&message.properties).map_err(|error| {
            StoreError::invalid(format!("properties cannot be stored: {error}"))
        })?;
        self.write("sending a message", move |transaction| {
            let now = now_ms();
            if !spec.duplicate_detection_window.is_zero() {
                transaction
                    .execute(
                        "DELETE FROM duplicate_ids WHERE queue = ?1 AND expires_at_ms <= ?2",
                        params![spec.name, now],
                    )
                    .map_err(sql("expiring duplicate ids"))?;
                let inserted = transaction
                    .execute(
                        "INSERT INTO duplicate_ids (queue, message_id, expires_at_ms) VALUES (?1, ?2, ?3)
                         ON CONFLICT (queue, message_id) DO NOTHING",
                        params![
                            spec.name,
                            message.message_id,
                            now.saturating_add(duration_ms(spec.duplicate_detection_window))
                        ],
                    )
                    .map_err(sql("recording a message id"))?;
                if inserted == 0 {
                    tracing::debug!(queue = %spec.name, message_id = %message.message_id, "dropped a duplicate message");
                    return Ok(SendOutcome::Duplicate);
                }
            }
            let visible_at = message.scheduled_enqueue_time_ms.map_or(now, |at| at.max(now));
            transaction
                .execute(
                    "INSERT INTO messages (queue, message_id, body, correlation_id, properties,
                         enqueued_at_ms, visible_at_ms, delivery_count)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 0)",
                    params![
                        spec.name,
                        message.message_id,
                        &message.body[..],
                        message.correlation_id,
                        properties,
                        now,
                        visible_at
                    ],
                )
                .map_err(sql("enqueueing a message"))?;
            Ok(SendOutcome::Enqueued)
        })
        .await
    }

    async fn receive(&self, queue: &str) -> StoreResult<Option<ReceivedMessage>> {
        let spec = self.known(queue)?;
        self.write("receiving a message", move |transaction| {
            let now = now_ms();
            sweep(transaction, &spec, now)?;
            let candidate: Option<i64> = transaction
                .query_row(
                    "SELECT sequence FROM messages
                     WHERE queue = ?1 AND visible_at_ms <= ?2 AND (locked_until_ms IS NULL OR locked_until_ms <= ?2)
                     ORDER BY sequence LIMIT 1",
                    params![spec.name, now],
                    |row| row.get(0),
                )
                .optional()
                .map_err(sql("finding a visible message"))?;
            let Some(sequence) = candidate else {
                return Ok(None);
            };
            let token = uuid::Uuid::new_v4().to_string();
            let locked_until = now.saturating_add(duration_ms(spec.lock_duration));
            let row = transaction
                .query_row(
                    "UPDATE messages SET delivery_count = delivery_count + 1, lock_token = ?2, locked_until_ms = ?3
                     WHERE sequence = ?1
                     RETURNING message_id, body, correlation_id, properties, delivery_count, enqueued_at_ms",
                    params![sequence, token, locked_until],
                    |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, Vec<u8>>(1)?,
                            row.get::<_, Option<String>>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, i64>(4)?,
                            row.get::<_, i64>(5)?,
                        ))
                    },
                )
                .map_err(sql("locking a message"))?;
            let (message_id, body, correlation_id, properties, delivery_count, enqueued_time_ms) = row;
            Ok(Some(ReceivedMessage {
                message_id,
                body: Bytes::from(body),
                correlation_id,
                properties: decode_properties(&properties)?,
                delivery_count: count(delivery_count),
                sequence_number: sequence,
                enqueued_time_ms,
                lock_token: LockToken(token),
                locked_until_ms: locked_until,
            }))
        })
        .await
    }

    async fn complete(&self, queue: &str, lock: &LockToken) -> StoreResult<()> {
        let spec = self.known(queue)?;
        let lock = lock.0.clone();
        self.write("completing a message", move |transaction| {
            let deleted = transaction
                .execute(
                    "DELETE FROM messages WHERE queue = ?1 AND lock_token = ?2 AND locked_until_ms > ?3",
                    params![spec.name, lock, now_ms()],
                )
                .map_err(sql("completing a message"))?;
            if deleted == 0 { Err(lock_lost(&spec.name)) } else { Ok(()) }
        })
        .await
    }

    async fn abandon(&self, queue: &str, lock: &LockToken) -> StoreResult<()> {
        let spec = self.known(queue)?;
        let lock = lock.0.clone();
        self.write("abandoning a message", move |transaction| {
            let now = now_ms();
            let Some((sequence, delivery_count)) = locked(transaction, &spec.name, &lock, now)? else {
                return Err(lock_lost(&spec.name));
            };
            if delivery_count >= i64::from(spec.max_delivery_count) {
                let description =
                    format!("the message was delivered {delivery_count} times without being settled");
                move_to_dead_letters(transaction, sequence, MAX_DELIVERY_COUNT_EXCEEDED, &description, now)?;
                tracing::debug!(queue = %spec.name, sequence, "dead-lettered a message past its delivery count");
            } else {
                transaction
                    .execute(
                        "UPDATE messages SET lock_token = NULL, locked_until_ms = NULL WHERE sequence = ?1",
                        params![sequence],
                    )
                    .map_err(sql("abandoning a message"))?;
            }
            Ok(())
        })
        .await
    }

    async fn renew_lock(&self, queue: &str, lock: &LockToken) -> StoreResult<i64> {
        let spec = self.known(queue)?;
        let lock = lock.0.clone();
        self.write("renewing a lock", move |transaction| {
            let now = now_ms();
            let until = now.saturating_add(duration_ms(spec.lock_duration));
            let renewed = transaction
                .execute(
                    "UPDATE messages SET locked_until_ms = ?4
                     WHERE queue = ?1 AND lock_token = ?2 AND locked_until_ms > ?3",
                    params![spec.name, lock, now, until],
                )
                .map_err(sql("renewing a lock"))?;
            if renewed == 0 {
                Err(lock_lost(&spec.name))
            } else {
                Ok(until)
            }
        })
        .await
    }

    async fn dead_letter(
        &self,
        queue: &str,
        lock: &LockToken,
        reason: &str,
        description: &str,
    ) -> StoreResult<()> {
        let spec = self.known(queue)?;
        let (lock, reason, description) =
            (lock.0.clone(), reason.to_owned(), description.to_owned());
        self.write("dead-lettering a message", move |transaction| {
            let now = now_ms();
            let Some((sequence, _)) = locked(transaction, &spec.name, &lock, now)? else {
                return Err(lock_lost(&spec.name));
            };
            move_to_dead_letters(transaction, sequence, &reason, &description, now)
        })
        .await
    }

    async fn peek_dead_letters(&self, queue: &str, max: usize) -> StoreResult<Vec<DeadLetter>> {
        let spec = self.known(queue)?;
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.write("peeking dead letters", move |transaction| {
            sweep(transaction, &spec, now_ms())?;
            let mut statement = transaction
                .prepare_cached(
                    "SELECT message_id, body, correlation_id, properties, delivery_count, reason, description,
                         dead_lettered_at_ms
                     FROM dead_letters WHERE queue = ?1 ORDER BY dead_letter_sequence LIMIT ?2",
                )
                .map_err(sql("peeking dead letters"))?;
            let rows = statement
                .query_map(params![spec.name, limit], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, Vec<u8>>(1)?,
                        row.get::<_, Option<String>>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, String>(5)?,
                        row.get::<_, String>(6)?,
                        row.get::<_, i64>(7)?,
                    ))
                })
                .map_err(sql("peeking dead letters"))?;
            let mut dead = Vec::new();
            for row in rows {
                let (message_id, body, correlation_id, properties, delivery_count, reason, description, at) =
                    row.map_err(sql("peeking dead letters"))?;
                dead.push(DeadLetter {
                    message_id,
                    body: Bytes::from(body),
                    correlation_id,
                    properties: decode_properties(&properties)?,
                    delivery_count: count(delivery_count),
                    reason,
                    description,
                    dead_lettered_time_ms: at,
                });
            }
            Ok(dead)
        })
        .await
    }

    async fn stats(&self, queue: &str) -> StoreResult<QueueStats> {
        let spec = self.known(queue)?;
        self.write("counting messages", move |transaction| {
            let now = now_ms();
            sweep(transaction, &spec, now)?;
            let (active, scheduled): (i64, i64) = transaction
                .query_row(
                    "SELECT COALESCE(SUM(visible_at_ms <= ?2), 0), COALESCE(SUM(visible_at_ms > ?2), 0)
                     FROM messages WHERE queue = ?1",
                    params![spec.name, now],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .map_err(sql("counting messages"))?;
            let dead_letter: i64 = transaction
                .query_row("SELECT COUNT(*) FROM dead_letters WHERE queue = ?1", params![spec.name], |row| {
                    row.get(0)
                })
                .map_err(sql("counting dead letters"))?;
            let unsigned = |value: i64| u64::try_from(value).unwrap_or(0);
            Ok(QueueStats {
                active: unsigned(active),
                scheduled: unsigned(scheduled),
                dead_letter: unsigned(dead_letter),
            })
        })
        .await
    }

    fn spec(&self, queue: &str) -> StoreResult<QueueSpec> {
        self.known(queue)
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
