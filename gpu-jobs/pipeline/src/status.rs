//! Reading and updating status documents with optimistic concurrency.

use visiobook_domain::BookStatus;
use visiobook_ports::document::{read_typed, to_body};
use visiobook_ports::{ErrorKind, StoreError};
use visiobook_runtime::AppState;

/// The container of status documents (partition key: the book id).
pub const BOOKS_CONTAINER: &str = "books";

/// How many read-modify-write rounds an update tries before giving up.
const UPDATE_ATTEMPTS: usize = 16;

pub async fn load_status(
    state: &AppState,
    book_id: &str,
) -> Result<Option<BookStatus>, StoreError> {
    Ok(
        read_typed(state.documents.as_ref(), BOOKS_CONTAINER, book_id, book_id)
            .await?
            .map(|(status, _)| status),
    )
}

/// Applies `change` to the stored status with `If-Match`, re-reading on conflicts.
/// Returns `Ok(None)` when the book does not exist.
pub async fn update_status(
    state: &AppState,
    book_id: &str,
    change: impl Fn(&mut BookStatus),
) -> Result<Option<BookStatus>, StoreError> {
    for _ in 0..UPDATE_ATTEMPTS {
        let Some((mut status, etag)) =
            read_typed::<BookStatus>(state.documents.as_ref(), BOOKS_CONTAINER, book_id, book_id)
                .await?
        else {
            return Ok(None);
        };
        change(&mut status);
        match state
            .documents
            .replace(
                BOOKS_CONTAINER,
                book_id,
                book_id,
                to_body(&status)?,
                Some(&etag),
            )
            .await
        {
            Ok(_) => return Ok(Some(status)),
            Err(error) if error.kind == ErrorKind::PreconditionFailed => continue,
            Err(error) if error.kind == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        }
    }
    Err(StoreError::unavailable(format!(
        "status of book {book_id} kept changing; gave up after {UPDATE_ATTEMPTS} attempts"
    )))
}
