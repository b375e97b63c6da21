//! Envelope encryption: AES-256-GCM under versioned key-encryption keys.
//!
//! Each message gets its own random 256-bit data key (DEK). The plaintext is
//! encrypted with the DEK (AES-256-GCM, random 96-bit nonce, the caller's
//! associated data as AAD); the DEK is then *wrapped*, i.e. encrypted with the
//! current key-encryption key (KEK) of a [`Keyring`] (AES-256-GCM again, its
//! own random nonce). Only the wrapped DEK is stored, in an [`Envelope`], next
//! to the ciphertext. Rotating the KEK ([`Keyring::rotate`]) does not touch
//! old envelopes: they still name their KEK version and decrypt, and
//! [`Keyring::rewrap`] moves one to the current KEK without re-encrypting
//! the data, after which the old KEK can be retired.
//!
//! # Format (version 1)
//!
//! * Data: `ciphertext = AES-256-GCM(DEK, nonce, plaintext, aad = associated data)`,
//!   the 16-byte tag appended.
//! * DEK wrapping: `wrapped_key = AES-256-GCM(KEK, key_nonce, DEK, aad =
//!   "visiobook/dek/v1" || kek_version as 4 bytes big-endian)`, 48 bytes, so a
//!   wrapped key only unwraps under the KEK version it names.
//! * JSON ([`Envelope`]'s serde form):
//!   `{"v":1,"kek_version":N,"wrapped_key":B64,"key_nonce":B64,"nonce":B64,"ciphertext":B64}`,
//!   standard base64 with padding.
//! * Token ([`Envelope::to_token`]): `"vb1."` followed by base64url (no padding)
//!   of `0x01 || kek_version (4 bytes, big-endian) || key_nonce (12) ||
//!   wrapped_key (48) || nonce (12) || ciphertext (16 or more)`.
//!
//! # Limits
//!
//! Nonces are random, so one KEK should wrap fewer than 2^32 data keys
//! (NIST SP 800-38D); rotate well before that. Every DEK encrypts exactly one
//! message, so data nonces never repeat under a key. Plaintexts are capped at
//! [`MAX_PLAINTEXT_LEN`].
//!
//! Nothing here reads the disk or the environment: the caller stores the key
//! file that [`Keyring::to_json`] produces (mode 0600) and loads it back with
//! [`Keyring::from_json`].
#![warn(missing_docs)]

use std::fmt;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::pkcs8::der::zeroize::{Zeroize, Zeroizing};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};

/// The envelope format this module writes and reads (`v`).
pub const ENVELOPE_FORMAT_VERSION: u32 = 1;
/// The largest plaintext [`Keyring::encrypt`] accepts and [`Keyring::decrypt`]
/// returns: 1 MiB.
pub const MAX_PLAINTEXT_LEN: usize = 1024 * 1024;
/// Prefix of the compact form, [`Envelope::to_token`].
pub const TOKEN_PREFIX: &str = "vb1.";
/// The key file format ([`Keyring::to_json`]) this module writes and reads.
pub const KEY_FILE_FORMAT_VERSION: u32 = 1;

/// AES-256 key length (KEK and DEK), in bytes.
const KEY_LEN: usize = 32;
/// AES-GCM nonce length, in bytes.
const NONCE_LEN: usize = 12;
/// AES-GCM tag length, in bytes.
const TAG_LEN: usize = 16;
/// A wrapped DEK: the encrypted key and its tag.
const WRAPPED_KEY_LEN: usize = KEY_LEN + TAG_LEN;
/// Domain separation for the DEK-wrapping AAD (followed by the KEK version).
const WRAP_AAD_PREFIX: &[u8] = b"visiobook/dek/v1";
/// Bytes before the ciphertext in the token's binary layout.
const TOKEN_HEADER_LEN: usize = 1 + 4 + NONCE_LEN + WRAPPED_KEY_LEN + NONCE_LEN;
/// Longest token accepted by [`Envelope::from_token`]: the largest allowed
/// envelope, base64url-encoded, plus the prefix.
const MAX_TOKEN_LEN: usize =
    TOKEN_PREFIX.len() + (TOKEN_HEADER_LEN + MAX_PLAINTEXT_LEN + TAG_LEN).div_ceil(3) * 4;

/// Why an encryption, a decryption or a key operation failed.
/// [`CryptoError::code`] is stable. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The envelope or token is not well formed: bad base64, wrong lengths,
    /// unknown format version, missing prefix.
    #[error("encrypted envelope is malformed")]
    Malformed,
    /// The envelope names a KEK version the keyring does not hold (never
    /// created, or retired).
    #[error("encrypted envelope names unknown key version {0}")]
    UnknownKeyVersion(u32),
    /// AES-GCM authentication failed: the ciphertext, the wrapped key, a nonce
    /// or the associated data is not the one that was encrypted (or the KEK
    /// with that version is a different key).
    #[error("decryption failed: authentication failed")]
    AuthenticationFailed,
    /// The plaintext (or the ciphertext, or the token) exceeds
    /// [`MAX_PLAINTEXT_LEN`].
    #[error("plaintext of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Length found (for a token: its length in characters).
        len: usize,
        /// The limit that applied.
        max: usize,
    },
    /// A key file could not be read or written (shape, version, key lengths,
    /// duplicate versions).
    #[error("key file problem: {0}")]
    KeyFile(String),
    /// A keyring operation was refused (retiring the current key, version
    /// overflow).
    #[error("keyring problem: {0}")]
    Keyring(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
}

impl CryptoError {
    /// Stable machine-readable code: `crypto_malformed`,
    /// `crypto_unknown_key_version`, `crypto_authentication_failed`,
    /// `crypto_too_large`, `crypto_key_file`, `crypto_keyring` or
    /// `crypto_random`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "crypto_malformed",
            Self::UnknownKeyVersion(_) => "crypto_unknown_key_version",
            Self::AuthenticationFailed => "crypto_authentication_failed",
            Self::TooLarge { .. } => "crypto_too_large",
            Self::KeyFile(_) => "crypto_key_file",
            Self::Keyring(_) => "crypto_keyring",
            Self::Random => "crypto_random",
        }
    }
}

/// `N` random bytes from the OS.
fn random_bytes<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut bytes = [0u8; N];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| CryptoError::Random)?;
    Ok(bytes)
}

/// A fresh random 256-bit key, wiped from memory on drop.
fn random_key() -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    OsRng
        .try_fill_bytes(key.as_mut())
        .map_err(|_| CryptoError::Random)?;
    Ok(key)
}

/// The AAD that binds a wrapped DEK to its KEK version.
fn wrap_aad(kek_version: u32) -> [u8; WRAP_AAD_PREFIX.len() + 4] {
    let mut aad = [0u8; WRAP_AAD_PREFIX.len() + 4];
    aad[..WRAP_AAD_PREFIX.len()].copy_from_slice(WRAP_AAD_PREFIX);
    aad[WRAP_AAD_PREFIX.len()..].copy_from_slice(&kek_version.to_be_bytes());
    aad
}

/// AES-256-GCM encryption of `msg` (tag appended).
fn seal(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    msg: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .encrypt(&Nonce::from(*nonce), Payload { msg, aad })
        // Only possible for messages far beyond MAX_PLAINTEXT_LEN.
        .map_err(|_| CryptoError::TooLarge {
            len: msg.len(),
            max: MAX_PLAINTEXT_LEN,
        })
}

/// AES-256-GCM decryption and authentication of `msg` (tag appended).
fn open(
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    msg: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = Aes256Gcm::new(key.into());
    cipher
        .decrypt(&Nonce::from(*nonce), Payload { msg, aad })
        .map_err(|_| CryptoError::AuthenticationFailed)
}

/// One key-encryption key.
#[derive(Clone)]
struct Kek {
    version: u32,
    key: Zeroizing<[u8; KEY_LEN]>,
}

/// An ordered set of key-encryption keys, each with a version; the highest
/// version is *current* and wraps new data keys, the others only unwrap
/// (until retired). `Debug` prints versions only, never key bytes.
#[derive(Clone)]
pub struct Keyring {
    /// The highest version: wraps new data keys.
    current: Kek,
    /// The others, sorted by version, ascending, all below `current`'s.
    previous: Vec<Kek>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current_version", &self.current_version())
            .field("versions", &self.versions())
            .field("keys", &"<redacted>")
            .finish()
    }
}

/// The key file's serde form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    v: u32,
    keys: Vec<KeyFileEntry>,
}

/// One key in the key file; its base64 text is wiped on drop.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFileEntry {
    version: u32,
    /// Standard base64 (with padding) of the 32 key bytes.
    key: String,
}

impl Drop for KeyFileEntry {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl Keyring {
    /// A keyring with one fresh random KEK, version 1, from the OS random
    /// number generator.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self {
            current: Kek {
                version: 1,
                key: random_key()?,
            },
            previous: Vec::new(),
        })
    }

    /// Adds a fresh random KEK with the next version, which becomes current,
    /// and returns that version. Older KEKs stay, to decrypt and rewrap what
    /// they wrapped.
    pub fn rotate(&mut self) -> Result<u32, CryptoError> {
        let version = self
            .current_version()
            .checked_add(1)
            .ok_or_else(|| CryptoError::Keyring("key version overflows".into()))?;
        let new = Kek {
            version,
            key: random_key()?,
        };
        let old = std::mem::replace(&mut self.current, new);
        self.previous.push(old);
        Ok(version)
    }

    /// Removes an old KEK, once every envelope it wrapped has been rewrapped
    /// ([`Keyring::rewrap`]). The current KEK cannot be retired.
    pub fn retire(&mut self, version: u32) -> Result<(), CryptoError> {
        if version == self.current_version() {
            return Err(CryptoError::Keyring(
                "the current key cannot be retired".into(),
            ));
        }
        let index = self
            .previous
            .iter()
            .position(|k| k.version == version)
            .ok_or(CryptoError::UnknownKeyVersion(version))?;
        self.previous.remove(index);
        Ok(())
    }

    /// The version of the current KEK (the highest).
    pub fn current_version(&self) -> u32 {
        self.current.version
    }

    /// Every KEK version held, ascending.
    pub fn versions(&self) -> Vec<u32> {
        self.all().map(|k| k.version).collect()
    }

    /// The key file: `{"v":1,"keys":[{"version":1,"key":"<base64>"},..]}`
    /// (pretty-printed, versions ascending). It holds every KEK in clear:
    /// the caller writes it where only the service can read it.
    pub fn to_json(&self) -> Result<String, CryptoError> {
        let file = KeyFile {
            v: KEY_FILE_FORMAT_VERSION,
            keys: self
                .all()
                .map(|k| KeyFileEntry {
                    version: k.version,
                    key: STANDARD.encode(k.key.as_ref()),
                })
                .collect(),
        };
        serde_json::to_string_pretty(&file)
            .map_err(|_| CryptoError::KeyFile("cannot encode key file".into()))
    }

    /// Loads a key file written by [`Keyring::to_json`]. Keys may come in any
    /// order; there must be at least one, each exactly 32 bytes, versions
    /// distinct and at least 1. The highest version is current.
    pub fn from_json(json: &str) -> Result<Self, CryptoError> {
        // serde_json's messages may quote the input: report positions only.
        let file: KeyFile = serde_json::from_str(json).map_err(|e| {
            CryptoError::KeyFile(format!(
                "not a key file (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        if file.v != KEY_FILE_FORMAT_VERSION {
            return Err(CryptoError::KeyFile(format!(
                "unsupported key file version {}",
                file.v
            )));
        }
        let mut keys = Vec::with_capacity(file.keys.len());
        for entry in &file.keys {
            if entry.version == 0 {
                return Err(CryptoError::KeyFile("key version 0 is not allowed".into()));
            }
            let bytes = Zeroizing::new(STANDARD.decode(entry.key.trim()).map_err(|_| {
                CryptoError::KeyFile(format!("key version {} is not base64", entry.version))
            })?);
            let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
                CryptoError::KeyFile(format!(
                    "key version {} is not {KEY_LEN} bytes",
                    entry.version
                ))
            })?;
            keys.push(Kek {
                version: entry.version,
                key: Zeroizing::new(key),
            });
        }
        keys.sort_by_key(|k| k.version);
        if keys
            .windows(2)
            .any(|pair| pair[0].version == pair[1].version)
        {
            return Err(CryptoError::KeyFile("duplicate key version".into()));
        }
        let current = keys
            .pop()
            .ok_or_else(|| CryptoError::KeyFile("no keys".into()))?;
        Ok(Self {
            current,
            previous: keys,
        })
    }

    /// Encrypts `plaintext` (at most [`MAX_PLAINTEXT_LEN`] bytes) under a
    /// fresh data key, wrapped with the current KEK. `associated_data` is
    /// authenticated, not stored: decryption needs the same bytes (bind the
    /// record id and field name here, so an envelope cannot be moved).
    pub fn encrypt(
        &self,
        plaintext: &[u8],
        associated_data: &[u8],
    ) -> Result<Envelope, CryptoError> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(CryptoError::TooLarge {
                len: plaintext.len(),
                max: MAX_PLAINTEXT_LEN,
            });
        }
        let dek = random_key()?;
        let nonce = random_bytes::<NONCE_LEN>()?;
        let ciphertext = seal(&dek, &nonce, plaintext, associated_data)?;
        let kek = &self.current;
        let (key_nonce, wrapped_key) = wrap(kek, &dek)?;
        Ok(Envelope {
            v: ENVELOPE_FORMAT_VERSION,
            kek_version: kek.version,
            wrapped_key: STANDARD.encode(wrapped_key),
            key_nonce: STANDARD.encode(key_nonce),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        })
    }

    /// Decrypts an envelope with the KEK it names and the same
    /// `associated_data` it was encrypted with.
    ///
    /// Errors: [`CryptoError::Malformed`] (format version, base64, lengths),
    /// [`CryptoError::TooLarge`], [`CryptoError::UnknownKeyVersion`], and
    /// [`CryptoError::AuthenticationFailed`] for any change to the wrapped
    /// key, a nonce, the ciphertext or the associated data.
    pub fn decrypt(
        &self,
        envelope: &Envelope,
        associated_data: &[u8],
    ) -> Result<Vec<u8>, CryptoError> {
        let parts = envelope.decode()?;
        let dek = self.unwrap_key(&parts)?;
        open(&dek, &parts.nonce, &parts.ciphertext, associated_data)
    }

    /// Re-wraps the envelope's data key under the current KEK (fresh key
    /// nonce), leaving the nonce and ciphertext as they are: the step of a
    /// key rotation. The wrapped key is authenticated on the way (errors as
    /// for [`Keyring::decrypt`]); the ciphertext is not, as that needs the
    /// associated data. An envelope already under the current KEK is
    /// re-wrapped all the same.
    pub fn rewrap(&self, envelope: &Envelope) -> Result<Envelope, CryptoError> {
        let parts = envelope.decode()?;
        let dek = self.unwrap_key(&parts)?;
        let kek = &self.current;
        let (key_nonce, wrapped_key) = wrap(kek, &dek)?;
        Ok(Envelope {
            v: ENVELOPE_FORMAT_VERSION,
            kek_version: kek.version,
            wrapped_key: STANDARD.encode(wrapped_key),
            key_nonce: STANDARD.encode(key_nonce),
            nonce: envelope.nonce.clone(),
            ciphertext: envelope.ciphertext.clone(),
        })
    }

    /// Every KEK, versions ascending (the current one last).
    fn all(&self) -> impl Iterator<Item = &Kek> {
        self.previous.iter().chain(std::iter::once(&self.current))
    }

    /// The KEK with this version.
    fn find(&self, version: u32) -> Option<&Kek> {
        self.all().find(|k| k.version == version)
    }

    /// Unwraps the data key of a decoded envelope.
    fn unwrap_key(&self, parts: &Decoded) -> Result<Zeroizing<[u8; KEY_LEN]>, CryptoError> {
        let kek = self
            .find(parts.kek_version)
            .ok_or(CryptoError::UnknownKeyVersion(parts.kek_version))?;
        let dek = Zeroizing::new(open(
            &kek.key,
            &parts.key_nonce,
            &parts.wrapped_key,
            &wrap_aad(kek.version),
        )?);
        let dek: [u8; KEY_LEN] = dek
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        Ok(Zeroizing::new(dek))
    }
}

/// Wraps a data key with a KEK: returns the key nonce and the wrapped key.
fn wrap(kek: &Kek, dek: &[u8; KEY_LEN]) -> Result<([u8; NONCE_LEN], Vec<u8>), CryptoError> {
    let key_nonce = random_bytes::<NONCE_LEN>()?;
    let wrapped = seal(&kek.key, &key_nonce, dek, &wrap_aad(kek.version))?;
    Ok((key_nonce, wrapped))
}

/// An encrypted message: the ciphertext, its nonce, and its data key wrapped
/// by the KEK `kek_version`. Serialises to JSON as described in the
/// [module documentation](self); [`Envelope::to_token`] gives a compact
/// single-string form. Nothing in it is secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Format version, [`ENVELOPE_FORMAT_VERSION`].
    pub v: u32,
    /// Version of the KEK that wrapped the data key.
    pub kek_version: u32,
    /// Base64 of the wrapped data key (48 bytes: encrypted key and tag).
    pub wrapped_key: String,
    /// Base64 of the 12-byte nonce used to wrap the data key.
    pub key_nonce: String,
    /// Base64 of the 12-byte nonce used to encrypt the data.
    pub nonce: String,
    /// Base64 of the encrypted data followed by its 16-byte tag.
    pub ciphertext: String,
}

/// An envelope's fields, decoded and length-checked.
struct Decoded {
    kek_version: u32,
    wrapped_key: [u8; WRAPPED_KEY_LEN],
    key_nonce: [u8; NONCE_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

/// Base64 text decoded into exactly `N` bytes.
fn decode_fixed<const N: usize>(text: &str) -> Result<[u8; N], CryptoError> {
    let bytes = STANDARD.decode(text).map_err(|_| CryptoError::Malformed)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| CryptoError::Malformed)
}

impl Envelope {
    /// The compact form: [`TOKEN_PREFIX`] then base64url (no padding) of the
    /// binary layout given in the [module documentation](self). Fails with
    /// [`CryptoError::Malformed`] or [`CryptoError::TooLarge`] if the fields
    /// do not decode (an envelope from [`Keyring::encrypt`] always does).
    pub fn to_token(&self) -> Result<String, CryptoError> {
        let parts = self.decode()?;
        let mut raw = Vec::with_capacity(TOKEN_HEADER_LEN + parts.ciphertext.len());
        raw.push(1u8);
        raw.extend_from_slice(&parts.kek_version.to_be_bytes());
        raw.extend_from_slice(&parts.key_nonce);
        raw.extend_from_slice(&parts.wrapped_key);
        raw.extend_from_slice(&parts.nonce);
        raw.extend_from_slice(&parts.ciphertext);
        Ok(format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)))
    }

    /// Parses [`Envelope::to_token`]'s form. Tokens longer than the largest
    /// envelope are refused before decoding ([`CryptoError::TooLarge`]);
    /// anything else that is not a token is [`CryptoError::Malformed`].
    pub fn from_token(token: &str) -> Result<Self, CryptoError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(CryptoError::TooLarge {
                len: token.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        let body = token
            .strip_prefix(TOKEN_PREFIX)
            .ok_or(CryptoError::Malformed)?;
        let raw = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CryptoError::Malformed)?;
        if raw.len() < TOKEN_HEADER_LEN + TAG_LEN || raw.first() != Some(&1) {
            return Err(CryptoError::Malformed);
        }
        let (version, rest) = raw[1..].split_at(4);
        let (key_nonce, rest) = rest.split_at(NONCE_LEN);
        let (wrapped_key, rest) = rest.split_at(WRAPPED_KEY_LEN);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let version: [u8; 4] = version.try_into().map_err(|_| CryptoError::Malformed)?;
        Ok(Self {
            v: ENVELOPE_FORMAT_VERSION,
            kek_version: u32::from_be_bytes(version),
            wrapped_key: STANDARD.encode(wrapped_key),
            key_nonce: STANDARD.encode(key_nonce),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        })
    }

    /// Checks the format version and decodes the fields with their lengths.
    fn decode(&self) -> Result<Decoded, CryptoError> {
        if self.v != ENVELOPE_FORMAT_VERSION {
            return Err(CryptoError::Malformed);
        }
        // Base64 is 4 characters per 3 bytes: refuse oversize text before decoding it.
        let max_ciphertext = MAX_PLAINTEXT_LEN + TAG_LEN;
        if self.ciphertext.len() > max_ciphertext.div_ceil(3) * 4 {
            return Err(CryptoError::TooLarge {
                len: self.ciphertext.len() / 4 * 3,
                max: MAX_PLAINTEXT_LEN,
            });
        }
        let ciphertext = STANDARD
            .decode(&self.ciphertext)
            .map_err(|_| CryptoError::Malformed)?;
        if ciphertext.len() < TAG_LEN {
            return Err(CryptoError::Malformed);
        }
        if ciphertext.len() > max_ciphertext {
            return Err(CryptoError::TooLarge {
                len: ciphertext.len() - TAG_LEN,
                max: MAX_PLAINTEXT_LEN,
            });
        }
        Ok(Decoded {
            kek_version: self.kek_version,
            wrapped_key: decode_fixed(&self.wrapped_key)?,
            key_nonce: decode_fixed(&self.key_nonce)?,
            nonce: decode_fixed(&self.nonce)?,
            ciphertext,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Write as _;
    use std::process::{Command, Stdio};

    use serde_json::Value;

    use super::*;

    const AAD: &[u8] = b"project:42/field:notes";

    /// The envelope with one base64 field's decoded bytes changed by `edit`.
    fn tamper(text: &str, edit: impl FnOnce(&mut [u8])) -> String {
        let mut bytes = STANDARD.decode(text).unwrap();
        edit(&mut bytes);
        STANDARD.encode(bytes)
    }

    fn flip_first(bytes: &mut [u8]) {
        bytes[0] ^= 0x01;
    }

    #[test]
    fn round_trip() {
        let ring = Keyring::generate().unwrap();
        for plaintext in [&b""[..], b"x", b"hello, visiobook", &[7u8; 4096][..]] {
            let envelope = ring.encrypt(plaintext, AAD).unwrap();
            assert_eq!(envelope.v, 1);
            assert_eq!(envelope.kek_version, 1);
            assert_eq!(ring.decrypt(&envelope, AAD).unwrap(), plaintext);
            // JSON and token forms survive the trip.
            let json = serde_json::to_string(&envelope).unwrap();
            let back: Envelope = serde_json::from_str(&json).unwrap();
            assert_eq!(back, envelope);
            let token = envelope.to_token().unwrap();
            assert!(token.starts_with(TOKEN_PREFIX));
            assert!(
                token[TOKEN_PREFIX.len()..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            let from_token = Envelope::from_token(&token).unwrap();
            assert_eq!(from_token, envelope);
            assert_eq!(ring.decrypt(&from_token, AAD).unwrap(), plaintext);
        }
    }

    #[test]
    fn envelope_field_lengths() {
        let ring = Keyring::generate().unwrap();
        let envelope = ring.encrypt(b"abc", AAD).unwrap();
        let len = |text: &str| STANDARD.decode(text).unwrap().len();
        assert_eq!(len(&envelope.wrapped_key), 48);
        assert_eq!(len(&envelope.key_nonce), 12);
        assert_eq!(len(&envelope.nonce), 12);
        assert_eq!(len(&envelope.ciphertext), 3 + 16);
        let json: Value = serde_json::to_value(&envelope).unwrap();
        let mut fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "ciphertext",
                "kek_version",
                "key_nonce",
                "nonce",
                "v",
                "wrapped_key"
            ]
        );
    }

    #[test]
    fn decrypts_after_rotation() {
        let mut ring = Keyring::generate().unwrap();
        let before = ring.encrypt(b"old secret", AAD).unwrap();
        assert_eq!(ring.rotate().unwrap(), 2);
        assert_eq!(ring.current_version(), 2);
        assert_eq!(ring.versions(), [1, 2]);
        let after = ring.encrypt(b"new secret", AAD).unwrap();
        assert_eq!(before.kek_version, 1);
        assert_eq!(after.kek_version, 2);
        assert_eq!(ring.decrypt(&before, AAD).unwrap(), b"old secret");
        assert_eq!(ring.decrypt(&after, AAD).unwrap(), b"new secret");
        // Through the key file as well.
        let loaded = Keyring::from_json(&ring.to_json().unwrap()).unwrap();
        assert_eq!(loaded.versions(), [1, 2]);
        assert_eq!(loaded.decrypt(&before, AAD).unwrap(), b"old secret");
        assert_eq!(loaded.decrypt(&after, AAD).unwrap(), b"new secret");
    }

    #[test]
    fn rewrap_then_retire_old_key() {
        let mut ring = Keyring::generate().unwrap();
        let old = ring.encrypt(b"payload", AAD).unwrap();
        ring.rotate().unwrap();
        let rewrapped = ring.rewrap(&old).unwrap();
        assert_eq!(rewrapped.kek_version, 2);
        assert_eq!(rewrapped.ciphertext, old.ciphertext);
        assert_eq!(rewrapped.nonce, old.nonce);
        assert_ne!(rewrapped.wrapped_key, old.wrapped_key);
        assert_ne!(rewrapped.key_nonce, old.key_nonce);

        assert_eq!(
            ring.retire(2).unwrap_err().code(),
            "crypto_keyring",
            "the current key cannot be retired"
        );
        ring.retire(1).unwrap();
        assert_eq!(ring.versions(), [2]);
        assert_eq!(
            ring.retire(1).unwrap_err(),
            CryptoError::UnknownKeyVersion(1)
        );
        assert_eq!(ring.decrypt(&rewrapped, AAD).unwrap(), b"payload");
        assert_eq!(
            ring.decrypt(&old, AAD).unwrap_err(),
            CryptoError::UnknownKeyVersion(1)
        );
        // Versions keep counting up after a retirement.
        assert_eq!(ring.rotate().unwrap(), 3);
    }

    #[test]
    fn tampering_fails_authentication() {
        let ring = Keyring::generate().unwrap();
        let envelope = ring.encrypt(b"the plaintext", AAD).unwrap();
        let mut cases = Vec::new();

        let mut e = envelope.clone();
        e.ciphertext = tamper(&e.ciphertext, flip_first);
        cases.push(("ciphertext", e, AAD));
        let mut e = envelope.clone();
        e.ciphertext = tamper(&e.ciphertext, |b| {
            let last = b.len() - 1;
            b[last] ^= 0x80;
        });
        cases.push(("tag", e, AAD));
        let mut e = envelope.clone();
        e.wrapped_key = tamper(&e.wrapped_key, flip_first);
        cases.push(("wrapped key", e, AAD));
        let mut e = envelope.clone();
        e.key_nonce = tamper(&e.key_nonce, flip_first);
        cases.push(("key nonce", e, AAD));
        let mut e = envelope.clone();
        e.nonce = tamper(&e.nonce, flip_first);
        cases.push(("nonce", e, AAD));
        cases.push(("aad", envelope.clone(), b"project:43/field:notes"));
        cases.push(("empty aad", envelope.clone(), b""));

        for (what, e, aad) in cases {
            let err = ring.decrypt(&e, aad).unwrap_err();
            assert_eq!(err, CryptoError::AuthenticationFailed, "{what}");
            assert_eq!(err.code(), "crypto_authentication_failed", "{what}");
        }
        // Tampering the wrapped key also fails a rewrap.
        let mut e = envelope.clone();
        e.wrapped_key = tamper(&e.wrapped_key, flip_first);
        assert_eq!(
            ring.rewrap(&e).unwrap_err().code(),
            "crypto_authentication_failed"
        );
    }

    #[test]
    fn wrapped_key_is_bound_to_its_kek_version() {
        // Same key bytes under two versions: relabelling the version must fail.
        let mut ring = Keyring::generate().unwrap();
        ring.rotate().unwrap();
        let key = ring.current.key.clone();
        ring.previous[0].key = key;
        let mut envelope = ring.encrypt(b"bound", AAD).unwrap();
        assert_eq!(envelope.kek_version, 2);
        envelope.kek_version = 1;
        assert_eq!(
            ring.decrypt(&envelope, AAD).unwrap_err(),
            CryptoError::AuthenticationFailed
        );
    }

    #[test]
    fn wrong_keyring_fails_authentication() {
        let ring = Keyring::generate().unwrap();
        let other = Keyring::generate().unwrap();
        let envelope = ring.encrypt(b"mine", AAD).unwrap();
        assert_eq!(
            other.decrypt(&envelope, AAD).unwrap_err().code(),
            "crypto_authentication_failed"
        );
    }

    #[test]
    fn unknown_version() {
        let ring = Keyring::generate().unwrap();
        let mut envelope = ring.encrypt(b"x", AAD).unwrap();
        envelope.kek_version = 7;
        let err = ring.decrypt(&envelope, AAD).unwrap_err();
        assert_eq!(err, CryptoError::UnknownKeyVersion(7));
        assert_eq!(err.code(), "crypto_unknown_key_version");
        assert_eq!(ring.rewrap(&envelope).unwrap_err().code(), err.code());
    }

    #[test]
    fn malformed_envelopes() {
        let ring = Keyring::generate().unwrap();
        let good = ring.encrypt(b"x", AAD).unwrap();
        let mut cases = Vec::new();
        let mut e = good.clone();
        e.v = 2;
        cases.push(e);
        let mut e = good.clone();
        e.nonce = "not base64!".into();
        cases.push(e);
        let mut e = good.clone();
        e.nonce = STANDARD.encode([0u8; 16]);
        cases.push(e);
        let mut e = good.clone();
        e.key_nonce = STANDARD.encode([0u8; 11]);
        cases.push(e);
        let mut e = good.clone();
        e.wrapped_key = STANDARD.encode([0u8; 32]);
        cases.push(e);
        let mut e = good.clone();
        e.ciphertext = STANDARD.encode([0u8; 15]);
        cases.push(e);
        for e in cases {
            let err = ring.decrypt(&e, AAD).unwrap_err();
            assert_eq!(err.code(), "crypto_malformed", "{e:?}");
            assert!(e.to_token().is_err());
        }
        assert!(serde_json::from_str::<Envelope>(r#"{"v":1}"#).is_err());
    }

    #[test]
    fn from_token_rejects_garbage() {
        let ring = Keyring::generate().unwrap();
        let token = ring
            .encrypt(b"long enough to cut", AAD)
            .unwrap()
            .to_token()
            .unwrap();
        let short = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode([1u8; 40]));
        let mut bad_version = URL_SAFE_NO_PAD
            .decode(&token[TOKEN_PREFIX.len()..])
            .unwrap();
        bad_version[0] = 2;
        let bad_version = format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bad_version));
        for garbage in [
            "",
            "vb1.",
            "vb1",
            "hello",
            "vb2.AAAA",
            "vb1.!!!!",
            "vb1.AAAA=",
            &token[TOKEN_PREFIX.len()..],
            &token.replace("vb1.", "vb1.."),
            &format!("{token}="),
            &short,
            &bad_version,
        ] {
            let err = Envelope::from_token(garbage).unwrap_err();
            assert_eq!(err.code(), "crypto_malformed", "{garbage:?}");
        }
        let huge = format!("{TOKEN_PREFIX}{}", "A".repeat(MAX_TOKEN_LEN));
        assert_eq!(
            Envelope::from_token(&huge).unwrap_err().code(),
            "crypto_too_large"
        );
        // A token cut short but still long enough parses, and fails authentication.
        let cut = Envelope::from_token(&token[..token.len() - 4]).unwrap();
        assert_eq!(
            ring.decrypt(&cut, AAD).unwrap_err().code(),
            "crypto_authentication_failed"
        );
    }

    #[test]
    fn plaintext_size_cap() {
        let ring = Keyring::generate().unwrap();
        let max = vec![0u8; MAX_PLAINTEXT_LEN];
        let envelope = ring.encrypt(&max, AAD).unwrap();
        let token = envelope.to_token().unwrap();
        assert!(token.len() <= MAX_TOKEN_LEN);
        let parsed = Envelope::from_token(&token).unwrap();
        assert_eq!(ring.decrypt(&parsed, AAD).unwrap().len(), MAX_PLAINTEXT_LEN);

        let err = ring
            .encrypt(&vec![0u8; MAX_PLAINTEXT_LEN + 1], AAD)
            .unwrap_err();
        assert_eq!(
            err,
            CryptoError::TooLarge {
                len: MAX_PLAINTEXT_LEN + 1,
                max: MAX_PLAINTEXT_LEN
            }
        );
        assert_eq!(err.code(), "crypto_too_large");

        let mut oversize = envelope;
        oversize.ciphertext = STANDARD.encode(vec![0u8; MAX_PLAINTEXT_LEN + TAG_LEN + 1]);
        assert_eq!(
            ring.decrypt(&oversize, AAD).unwrap_err().code(),
            "crypto_too_large"
        );
    }

    #[test]
    fn same_plaintext_encrypts_differently() {
        let ring = Keyring::generate().unwrap();
        let a = ring.encrypt(b"same", AAD).unwrap();
        let b = ring.encrypt(b"same", AAD).unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.wrapped_key, b.wrapped_key);
        assert_ne!(a.key_nonce, b.key_nonce);
        assert_ne!(a.to_token().unwrap(), b.to_token().unwrap());
    }

    #[test]
    fn debug_never_prints_key_bytes() {
        let mut ring = Keyring::generate().unwrap();
        ring.rotate().unwrap();
        let debug = format!("{ring:?} {ring:#?}");
        assert!(debug.contains("<redacted>"));
        assert!(debug.contains("current_version: 2"));
        for kek in ring.all() {
            let key: &[u8] = kek.key.as_ref();
            for encoded in [
                STANDARD.encode(key),
                URL_SAFE_NO_PAD.encode(key),
                hex::encode(key),
                hex::encode_upper(key),
                format!("{key:?}"),
            ] {
                assert!(!debug.contains(&encoded), "key bytes in {debug}");
            }
            // Not even a prefix of it.
            assert!(!debug.contains(&STANDARD.encode(key)[..12]));
            assert!(!debug.contains(&hex::encode(key)[..12]));
        }
    }

    #[test]
    fn key_file_round_trip_and_errors() {
        let mut ring = Keyring::generate().unwrap();
        ring.rotate().unwrap();
        ring.rotate().unwrap();
        let json = ring.to_json().unwrap();
        let value: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["v"], 1);
        assert_eq!(value["keys"].as_array().unwrap().len(), 3);
        assert_eq!(
            STANDARD
                .decode(value["keys"][2]["key"].as_str().unwrap())
                .unwrap(),
            ring.current.key.as_ref()
        );
        let loaded = Keyring::from_json(&json).unwrap();
        assert_eq!(loaded.versions(), [1, 2, 3]);
        assert_eq!(loaded.current_version(), 3);

        // Order in the file does not matter; the highest version is current.
        let key = |byte: u8| STANDARD.encode([byte; 32]);
        let shuffled = format!(
            r#"{{"v":1,"keys":[{{"version":5,"key":"{}"}},{{"version":2,"key":"{}"}}]}}"#,
            key(5),
            key(2)
        );
        let loaded = Keyring::from_json(&shuffled).unwrap();
        assert_eq!(loaded.versions(), [2, 5]);
        assert_eq!(loaded.current_version(), 5);
        let envelope = loaded.encrypt(b"x", AAD).unwrap();
        assert_eq!(envelope.kek_version, 5);

        let secret = STANDARD.encode([9u8; 31]);
        for bad in [
            String::new(),
            "{}".to_owned(),
            r#"{"v":1,"keys":[]}"#.to_owned(),
            format!(r#"{{"v":2,"keys":[{{"version":1,"key":"{}"}}]}}"#, key(1)),
            format!(r#"{{"v":1,"keys":[{{"version":0,"key":"{}"}}]}}"#, key(1)),
            format!(r#"{{"v":1,"keys":[{{"version":1,"key":"{secret}"}}]}}"#),
            r#"{"v":1,"keys":[{"version":1,"key":"%%%"}]}"#.to_owned(),
            format!(
                r#"{{"v":1,"keys":[{{"version":1,"key":"{}"}},{{"version":1,"key":"{}"}}]}}"#,
                key(1),
                key(2)
            ),
            format!(r#"{{"v":1,"keys":[{{"version":"{secret}","key":"{secret}"}}]}}"#),
            format!(
                r#"{{"v":1,"keys":[{{"version":1,"key":"{}","x":1}}]}}"#,
                key(1)
            ),
        ] {
            let err = Keyring::from_json(&bad).unwrap_err();
            assert_eq!(err.code(), "crypto_key_file", "{bad}");
            assert!(!err.to_string().contains(&secret[..8]), "{err}");
        }
    }

    /// `PYTHONPATH` for the independent validators: `VISIOBOOK_VALIDATORS`,
    /// or `$HOME/.cache/visiobook/validators`.
    fn validators_path() -> String {
        std::env::var("VISIOBOOK_VALIDATORS").unwrap_or_else(|_| {
            let home = std::env::var("HOME").unwrap_or_default();
            format!("{home}/.cache/visiobook/validators")
        })
    }

    /// Reads the request on stdin; decrypts the Rust envelope (JSON and token
    /// forms) with the KEK, and makes an envelope of its own for Rust to read.
    const PYTHON_CHECK: &str = r#"
import base64, json, os, struct, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

req = json.load(sys.stdin)
keks = {int(v): bytes.fromhex(k) for v, k in req["keks"].items()}
aad = bytes.fromhex(req["aad"])

def wrap_aad(version):
    return b"visiobook/dek/v1" + struct.pack(">I", version)

def open_parts(version, key_nonce, wrapped, nonce, ciphertext):
    dek = AESGCM(keks[version]).decrypt(key_nonce, wrapped, wrap_aad(version))
    assert len(dek) == 32
    return AESGCM(dek).decrypt(nonce, ciphertext, aad)

env = req["envelope"]
assert env["v"] == 1
b64 = base64.b64decode
from_json = open_parts(env["kek_version"], b64(env["key_nonce"]), b64(env["wrapped_key"]),
                       b64(env["nonce"]), b64(env["ciphertext"]))

token = req["token"]
assert token.startswith("vb1.")
body = token[4:]
raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
assert raw[0] == 1
version = struct.unpack(">I", raw[1:5])[0]
from_token = open_parts(version, raw[5:17], raw[17:65], raw[65:77], raw[77:])
assert from_token == from_json

# An envelope made here, for Rust to decrypt.
version = max(keks)
dek = AESGCM.generate_key(bit_length=256)
key_nonce, nonce = os.urandom(12), os.urandom(12)
wrapped = AESGCM(keks[version]).encrypt(key_nonce, dek, wrap_aad(version))
ciphertext = AESGCM(dek).encrypt(nonce, bytes.fromhex(req["reply_plaintext"]), aad)
raw = bytes([1]) + struct.pack(">I", version) + key_nonce + wrapped + nonce + ciphertext
reply = "vb1." + base64.urlsafe_b64encode(raw).decode().rstrip("=")
json.dump({"plaintext": from_json.hex(), "token": reply}, sys.stdout)
"#;

    #[test]
    fn cross_check_with_python_cryptography() {
        let mut ring = Keyring::generate().unwrap();
        let before_rotation = ring.encrypt(b"encrypted under v1", AAD).unwrap();
        ring.rotate().unwrap();
        let plaintext = "Visiobook \u{1F4D6} cross-check: \0 binary \u{ff} too".as_bytes();
        let reply_plaintext = b"made by python cryptography";
        let keks: serde_json::Map<String, Value> = ring
            .all()
            .map(|k| {
                (
                    k.version.to_string(),
                    Value::from(hex::encode(k.key.as_ref())),
                )
            })
            .collect();

        let validators = validators_path();
        for envelope in [ring.encrypt(plaintext, AAD).unwrap(), before_rotation] {
            let expected = ring.decrypt(&envelope, AAD).unwrap();
            let request = serde_json::json!({
                "keks": keks,
                "aad": hex::encode(AAD),
                "envelope": envelope,
                "token": envelope.to_token().unwrap(),
                "reply_plaintext": hex::encode(reply_plaintext),
            });
            let mut child = Command::new("python3")
                .arg("-c")
                .arg(PYTHON_CHECK)
                .env("PYTHONPATH", &validators)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run python3 ({e}): the crypto cross-check needs python3 \
                         with the `cryptography` package under VISIOBOOK_VALIDATORS \
                         (now {validators:?}); the project's test script installs it"
                    )
                });
            child
                .stdin
                .take()
                .unwrap()
                .write_all(request.to_string().as_bytes())
                .unwrap();
            let output = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !stderr.contains("No module named 'cryptography'"),
                "python3 cannot import `cryptography` from VISIOBOOK_VALIDATORS \
                 ({validators:?}); install it there (the project's test script does):\n{stderr}"
            );
            assert!(
                output.status.success(),
                "python cross-check failed:\n{stderr}"
            );
            let reply: Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(
                hex::decode(reply["plaintext"].as_str().unwrap()).unwrap(),
                expected
            );
            let theirs = Envelope::from_token(reply["token"].as_str().unwrap()).unwrap();
            assert_eq!(theirs.kek_version, 2);
            assert_eq!(ring.decrypt(&theirs, AAD).unwrap(), reply_plaintext);
        }
    }
}
