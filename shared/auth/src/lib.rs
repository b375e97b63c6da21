//! The security core of accounts (issue 7): password policy and argon2id hashing, ES256 access
//! tokens with key ids, the JWKS that publishes their public keys, and refresh tokens. Pure
//! logic, no storage and no HTTP: the user service built on it stores users and sessions in the
//! document store and serves the routes.
//!
//! Also [`crypto`], envelope encryption (AES-256-GCM data keys wrapped by versioned
//! key-encryption keys), and [`audit`], a hash-chained append-only audit log.

pub mod audit;
pub mod auth;
pub mod crypto;

pub use auth::*;
