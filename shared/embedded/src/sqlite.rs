//! What the SQLite adapters share: opening a tuned connection, migrations, error mapping and
//! running calls on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, TransactionBehavior, params};
use visiobook_ports::{StoreError, StoreResult};

/// How long a statement waits for another connection's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection behind a mutex; every call runs on tokio's blocking pool.
#[derive(Debug, Clone)]
pub(crate) struct Database {
    connection: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

impl Database {
    /// Opens (creating if needed) the database at `path`, tunes it and applies the
    /// `component`'s migrations that are not applied yet.
    pub(crate) fn open(path: &Path, component: &str, migrations: &[&str]) -> StoreResult<Self> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::unavailable(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let context = format!("opening {}", path.display());
        let mut connection = Connection::open(path).map_err(|error| map_error(&error, &context))?;
        connection
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|error| map_error(&error, &context))?;
        let mode: String = connection
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|error| map_error(&error, &context))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %path.display(), mode, "SQLite refused WAL journal mode");
        }
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|error| map_error(&error, &context))?;
        connection
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(|error| map_error(&error, &context))?;
        migrate(&mut connection, path, component, migrations)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            path: Arc::new(path.to_owned()),
        })
    }

    /// Runs `call` with the connection on the blocking pool.
    pub(crate) async fn call<T, F>(&self, call: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the connection usable: any open transaction
            // was rolled back when it was dropped.
            let mut guard = connection.lock().unwrap_or_else(PoisonError::into_inner);
            call(&mut guard)
        })
        .await
        .map_err(|error| StoreError::unavailable(format!("SQLite task failed: {error}")))?
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// Applies the migrations of one component in order, recording the version reached.
fn migrate(
    connection: &mut Connection,
    path: &Path,
    component: &str,
    migrations: &[&str],
) -> StoreResult<()> {
    let context = format!("migrating {component} in {}", path.display());
    let fail = |error: rusqlite::Error| map_error(&error, &context);
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(fail)?;
    transaction
        .execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                component TEXT PRIMARY KEY NOT NULL,
                version INTEGER NOT NULL,
                applied_at_ms INTEGER NOT NULL
            )",
        )
        .map_err(fail)?;
    let current: i64 = transaction
        .query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?1",
            params![component],
            |row| row.get(0),
        )
        .map_err(fail)?;
    let known = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    if current > known {
        return Err(StoreError::unavailable(format!(
            "{}: the {component} schema is at version {current}, newer than this build knows ({known})",
            path.display()
        )));
    }
    let already = usize::try_from(current).unwrap_or(0);
    for (index, migration) in migrations.iter().enumerate().skip(already) {
        let version = index + 1;
        tracing::debug!(component, version, path = %path.display(), "applying SQLite schema migration");
        transaction.execute_batch(migration).map_err(fail)?;
    }
    if current < known {
        transaction
            .execute(
                "INSERT INTO schema_migrations (component, version, applied_at_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at_ms = excluded.applied_at_ms",
                params![component, known, now_ms()],
            )
            .map_err(fail)?;
        tracing::debug!(component, version = known, path = %path.display(), "SQLite schema is up to date");
    }
    transaction.commit().map_err(fail)
}

/// Maps a SQLite error to a port error: busy or locked is `Unavailable`, a constraint
/// violation is `Conflict`, an oversize value is `Invalid`, anything else `Unavailable`.
pub(crate) fn map_error(error: &rusqlite::Error, context: &str) -> StoreError {
    if let rusqlite::Error::SqliteFailure(failure, _) = error {
        match failure.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                return StoreError::unavailable(format!(
                    "{context}: the database is busy ({error})"
                ));
            }
            ErrorCode::ConstraintViolation => {
                return StoreError::conflict(format!("{context}: {error}"));
            }
            ErrorCode::TooBig => return StoreError::invalid(format!("{context}: {error}")),
            _ => {}
        }
    }
    StoreError::unavailable(format!("{context}: {error}"))
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
