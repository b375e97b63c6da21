//! The one error type every port returns, with a transport-neutral kind.

/// What went wrong, independent of the backend. HTTP boundaries map these to statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The document, blob or message does not exist.
    NotFound,
    /// The item already exists (create of an existing id).
    Conflict,
    /// An `If-Match` ETag did not match the stored version.
    PreconditionFailed,
    /// The caller passed something the port refuses (bad key, bad query, oversize item).
    Invalid,
    /// A peek-lock token is unknown or its lock has expired.
    LockLost,
    /// The backend could not be reached or failed; retrying later may work.
    Unavailable,
}

/// An error from a storage port.
#[derive(Debug, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct StoreError {
    /// The transport-neutral kind.
    pub kind: ErrorKind,
    /// A human-readable explanation, safe to log (never returned in a 5xx body).
    pub message: String,
}

impl StoreError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    pub fn precondition_failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::PreconditionFailed, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Invalid, message)
    }
    pub fn lock_lost(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::LockLost, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
