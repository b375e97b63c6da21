//! Authentication building blocks for Visiobook.
//!
//! * [`password`]: password policy, argon2id hashing and verification (with a
//!   dummy verification to keep unknown-email logins as slow as real ones).
//! * [`keys`]: ES256 signing keys with `kid`s, rotation and a public JWKS.
//! * [`tokens`]: short-lived access tokens (JWT, ES256 only) and opaque
//!   refresh tokens (random, stored as a SHA-256 hash).
//!
//! Nothing here reads the clock, the environment or the disk: callers pass
//! `now_unix` and persist keys themselves, which keeps the module testable.
#![warn(missing_docs)]

pub mod keys;
pub mod password;
pub mod tokens;

pub use keys::SigningKeys;
pub use password::{
    PasswordPolicy, PasswordProblem, check_password, dummy_verify, hash_password, needs_rehash,
    verify_password,
};
pub use tokens::{
    AUDIENCE, Claims, ISSUER, LEEWAY_SECONDS, ROLE_ADMIN, ROLE_USER, TokenError, new_refresh_token,
    refresh_token_hash,
};

/// Errors from the operations that *produce* secrets: hashing a password,
/// generating, loading or exporting keys, and signing tokens.
///
/// Messages never contain a password, a private key or a token.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The password hasher failed (bad parameters or internal error).
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// A key could not be generated, parsed or encoded.
    #[error("signing key problem: {0}")]
    Key(String),
    /// A token could not be signed or encoded.
    #[error("token signing failed: {0}")]
    Sign(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// An argument was rejected (for example an unknown role or an overflowing expiry).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

/// `len` bytes from the operating system's random number generator.
pub fn random_bytes(len: usize) -> Result<Vec<u8>, AuthError> {
    use rand_core::RngCore as _;
    let mut bytes = vec![0u8; len];
    rand_core::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| AuthError::Random)?;
    Ok(bytes)
}
