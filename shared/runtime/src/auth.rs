//! Who is asking. The [`Authority`] holds the keys (loaded from the keys directory, created on
//! first start); the `authenticate` middleware verifies a bearer token once per request; the
//! [`Caller`] extractor turns the verdict into a signed-in user whose session is still live.
//!
//! Every route that touches user data takes a [`Caller`]; routes without one are public by
//! design (health, metrics, the JWKS, sign-up and sign-in, signed download links).

use std::path::Path;

use anyhow::Context;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use visiobook_auth::crypto::Keyring;
use visiobook_auth::{Claims, ROLE_ADMIN, SigningKeys, TokenError};
use visiobook_ports::document::read_typed;

use crate::error::ApiError;
use crate::state::AppState;

/// Sign-in sessions (partition key: the user id; id: the session id, which is also the
/// refresh-token family).
pub const SESSIONS_CONTAINER: &str = "sessions";

/// A sign-in session: one refresh-token family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub user_id: String,
    /// SHA-256 of the refresh token that may be used next.
    pub current_hash: String,
    /// Hashes of refresh tokens already used: presenting one again revokes the family.
    #[serde(default)]
    pub used_hashes: Vec<String>,
    pub created_at: String,
    /// Unix seconds after which the session cannot be refreshed.
    pub expires_at_unix: u64,
    #[serde(default)]
    pub last_used_at: Option<String>,
    #[serde(default)]
    pub revoked_at: Option<String>,
    /// `logout`, `refresh_token_reuse`, `password_changed`, `account_deleted`.
    #[serde(default)]
    pub revoked_reason: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

impl Session {
    pub fn is_live(&self, now_unix: u64) -> bool {
        self.revoked_at.is_none() && now_unix < self.expires_at_unix
    }
}

/// The keys of this deployment: token signing (ES256 with key ids), download-link signing
/// (HMAC-SHA256) and the data keys of envelope encryption.
pub struct Authority {
    pub signing: SigningKeys,
    link_key: Vec<u8>,
    pub data_keys: Keyring,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("signing_kid", &self.signing.current_kid())
            .field("data_key_version", &self.data_keys.current_version())
            .finish_non_exhaustive()
    }
}

/// The keys as text, from settings rather than the keys directory.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyMaterial {
    /// The current ES256 signing key, PEM.
    pub signing_pem: crate::settings::Secret,
    /// Retired signing keys still in the JWKS, PEMs one after another.
    pub previous_signing_pems: Option<String>,
    /// The download-link HMAC key, hex (at least 32 bytes).
    pub link_key_hex: crate::settings::Secret,
    /// The data-key ring, as `rotate-key data` writes it.
    pub data_keys_json: crate::settings::Secret,
}

/// Splits concatenated PEM blocks.
fn split_pems(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END ") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

/// File names inside the keys directory.
const SIGNING_KEY_FILE: &str = "jwt-es256.pem";
/// Retired signing keys, still published in the JWKS until the tokens they signed expire.
const PREVIOUS_SIGNING_KEYS_DIR: &str = "jwt-es256.previous";
const LINK_KEY_FILE: &str = "download-links.key";
const DATA_KEYS_FILE: &str = "data-keys.json";

impl Authority {
    /// Loads the keys from `dir`, creating any that is missing (mode 0600).
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        create_private_dir(dir)?;
        let signing_path = dir.join(SIGNING_KEY_FILE);
        let current = match std::fs::read_to_string(&signing_path) {
            Ok(pem) => pem,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let keys = SigningKeys::generate().context("generating the signing key")?;
                let pem = keys.current_pem();
                write_secret(&signing_path, pem.as_bytes())?;
                pem
            }
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", signing_path.display()));
            }
        };
        let mut previous = Vec::new();
        let previous_dir = dir.join(PREVIOUS_SIGNING_KEYS_DIR);
        if previous_dir.is_dir() {
            let mut paths: Vec<_> = std::fs::read_dir(&previous_dir)?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
                .collect();
            paths.sort();
            for path in paths {
                previous.push(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                );
            }
        }
        let previous: Vec<&str> = previous.iter().map(String::as_str).collect();
        let signing = SigningKeys::from_pem(&current, &previous)
            .with_context(|| format!("loading the signing keys from {}", dir.display()))?;

        let link_path = dir.join(LINK_KEY_FILE);
        let link_key = match std::fs::read(&link_path) {
            Ok(key) if key.len() >= 32 => key,
            Ok(_) => anyhow::bail!("{} is shorter than 32 bytes", link_path.display()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = visiobook_auth::random_bytes(32).context("generating the link key")?;
                write_secret(&link_path, &key)?;
                key
            }
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", link_path.display()));
            }
        };

        let data_path = dir.join(DATA_KEYS_FILE);
        let data_keys = match std::fs::read_to_string(&data_path) {
            Ok(json) => Keyring::from_json(&json)
                .with_context(|| format!("loading the data keys from {}", data_path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let keyring = Keyring::generate().context("generating the data key")?;
                write_secret(&data_path, keyring.to_json()?.as_bytes())?;
                keyring
            }
            Err(error) => {
                return Err(error).with_context(|| format!("reading {}", data_path.display()));
            }
        };
        Ok(Self {
            signing,
            link_key,
            data_keys,
        })
    }

    /// The keys from their text, as [`KeyMaterial`] carries them (app settings that are Key
    /// Vault references in Azure, so that every instance signs, verifies and decrypts alike).
    pub fn from_material(material: &KeyMaterial) -> anyhow::Result<Self> {
        let previous = split_pems(material.previous_signing_pems.as_deref().unwrap_or(""));
        let previous: Vec<&str> = previous.iter().map(String::as_str).collect();
        let signing = SigningKeys::from_pem(material.signing_pem.expose(), &previous)
            .context("VISIOBOOK_SIGNING_KEY_PEM")?;
        let link_key = hex::decode(material.link_key_hex.expose().trim())
            .context("VISIOBOOK_LINK_KEY is not hex")?;
        anyhow::ensure!(
            link_key.len() >= 32,
            "VISIOBOOK_LINK_KEY is shorter than 32 bytes"
        );
        let data_keys =
            Keyring::from_json(material.data_keys_json.expose()).context("VISIOBOOK_DATA_KEYS")?;
        Ok(Self {
            signing,
            link_key,
            data_keys,
        })
    }

    /// The keys in `dir` (made if missing) as the settings that carry them elsewhere:
    /// `(variable, value)` pairs for `VISIOBOOK_SIGNING_KEY_PEM`,
    /// `VISIOBOOK_PREVIOUS_SIGNING_KEYS_PEM`, `VISIOBOOK_LINK_KEY` and `VISIOBOOK_DATA_KEYS`.
    pub fn export(dir: &Path) -> anyhow::Result<Vec<(&'static str, String)>> {
        let authority = Self::load_or_create(dir)?;
        let mut previous = String::new();
        let previous_dir = dir.join(PREVIOUS_SIGNING_KEYS_DIR);
        if previous_dir.is_dir() {
            let mut paths: Vec<_> = std::fs::read_dir(&previous_dir)?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "pem"))
                .collect();
            paths.sort();
            for path in paths {
                previous.push_str(&std::fs::read_to_string(&path)?);
            }
        }
        Ok(vec![
            ("VISIOBOOK_SIGNING_KEY_PEM", authority.signing.current_pem()),
            ("VISIOBOOK_PREVIOUS_SIGNING_KEYS_PEM", previous),
            ("VISIOBOOK_LINK_KEY", hex::encode(&authority.link_key)),
            ("VISIOBOOK_DATA_KEYS", authority.data_keys.to_json()?),
        ])
    }

    /// Retires the current signing key (kept in the JWKS so that tokens it signed stay valid
    /// until they expire) and makes a new one current. Takes effect at the next start.
    pub fn rotate_signing_key(dir: &Path) -> anyhow::Result<String> {
        let authority = Self::load_or_create(dir)?;
        let previous_dir = dir.join(PREVIOUS_SIGNING_KEYS_DIR);
        create_private_dir(&previous_dir)?;
        let retired = previous_dir.join(format!("{}.pem", authority.signing.current_kid()));
        write_secret(&retired, authority.signing.current_pem().as_bytes())?;
        let fresh = SigningKeys::generate().context("generating the signing key")?;
        write_secret(&dir.join(SIGNING_KEY_FILE), fresh.current_pem().as_bytes())?;
        Ok(fresh.current_kid().to_owned())
    }

    /// Adds a new data key version (old versions stay to decrypt). Takes effect at the next
    /// start.
    pub fn rotate_data_key(dir: &Path) -> anyhow::Result<u32> {
        let mut authority = Self::load_or_create(dir)?;
        authority
            .data_keys
            .rotate()
            .context("generating the data key")?;
        write_secret(
            &dir.join(DATA_KEYS_FILE),
            authority.data_keys.to_json()?.as_bytes(),
        )?;
        Ok(authority.data_keys.current_version())
    }

    /// HMAC-SHA256 of `message` under the link key, lower-case hex.
    pub fn sign_link(&self, message: &str) -> String {
        hex::encode(self.link_mac(message).finalize().into_bytes())
    }

    /// Whether `signature` (hex) is the link signature of `message`, compared in constant time.
    pub fn verify_link(&self, message: &str, signature: &str) -> bool {
        let Ok(bytes) = hex::decode(signature) else {
            return false;
        };
        self.link_mac(message).verify_slice(&bytes).is_ok()
    }

    fn link_mac(&self, message: &str) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.link_key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(message.as_bytes());
        mac
    }
}

/// Creates a directory (and its parents) that only its owner may enter.
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("creating the keys directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {}", dir.display()))?;
    Ok(())
}

/// Writes a secret file readable by its owner only, atomically.
fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .with_context(|| format!("creating {}", temporary.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The middleware's verdict on the request's bearer token, kept in the request extensions.
#[derive(Debug, Clone)]
pub enum Bearer {
    Valid(Claims),
    Invalid(TokenError),
}

/// Reads `Authorization: Bearer <token>`; `None` when the header is absent or another scheme.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// A signed-in user with a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: String,
    pub role: String,
    pub session_id: String,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == ROLE_ADMIN
    }

    /// Whether this caller may see something owned by `owner` (its owner or an admin).
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        self.is_admin() || owner == Some(self.user_id.as_str())
    }

    /// 403 unless the caller is an administrator.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "admin_only",
                "this route is for administrators",
            ))
        }
    }
}

/// The 401 of every route that needs a signed-in user, with the `WWW-Authenticate` challenge
/// RFC 6750 describes.
#[derive(Debug)]
pub struct Unauthenticated {
    code: &'static str,
    message: &'static str,
}

impl Unauthenticated {
    pub fn new(code: &'static str, message: &'static str) -> Self {
        Self { code, message }
    }
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        let mut response =
            ApiError::new(StatusCode::UNAUTHORIZED, self.code, self.message).into_response();
        let challenge = if self.code == "unauthenticated" {
            "Bearer realm=\"visiobook\"".to_owned()
        } else {
            format!(
                "Bearer realm=\"visiobook\", error=\"invalid_token\", error_description=\"{}\"",
                self.code
            )
        };
        if let Ok(value) = HeaderValue::from_str(&challenge) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let claims = match parts.extensions.get::<Bearer>() {
            None => {
                return Err(Unauthenticated::new(
                    "unauthenticated",
                    "sign in first: send Authorization: Bearer <access token>",
                )
                .into_response());
            }
            Some(Bearer::Invalid(error)) => {
                return Err(
                    Unauthenticated::new(error.code(), "the access token was refused")
                        .into_response(),
                );
            }
            Some(Bearer::Valid(claims)) => claims.clone(),
        };
        let session = read_typed::<Session>(
            state.documents.as_ref(),
            SESSIONS_CONTAINER,
            &claims.sub,
            &claims.sid,
        )
        .await
        .map_err(|error| ApiError::from(error).into_response())?;
        match session {
            Some((session, _)) if session.revoked_at.is_none() => {
                state.metrics.session_seen(&claims.sid);
                Ok(Caller {
                    user_id: claims.sub,
                    role: claims.role,
                    session_id: claims.sid,
                })
            }
            _ => Err(Unauthenticated::new(
                "session_revoked",
                "this session has ended; sign in again",
            )
            .into_response()),
        }
    }
}

/// `GET /.well-known/jwks.json` (and `/api/.well-known/jwks.json`): the public keys that verify
/// access tokens, the current one and those retired but still within a token's lifetime.
pub async fn jwks(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        axum::Json(state.auth.signing.jwks()),
    )
        .into_response()
}

/// `Option<Caller>`: `None` when no valid signed-in user is asking (for routes that also serve
/// other credentials, such as signed links).
impl axum::extract::OptionalFromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<Bearer>() {
            Some(Bearer::Valid(_)) => Ok(
                <Caller as FromRequestParts<AppState>>::from_request_parts(parts, state)
                    .await
                    .ok(),
            ),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_created_once_and_rotate_without_losing_old_tokens_or_data() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let first = Authority::load_or_create(dir.path()).expect("keys are created");
        let again = Authority::load_or_create(dir.path()).expect("keys are loaded");
        assert_eq!(first.signing.current_kid(), again.signing.current_kid());
        use std::os::unix::fs::PermissionsExt as _;
        for file in [".", SIGNING_KEY_FILE, LINK_KEY_FILE, DATA_KEYS_FILE] {
            let mode = std::fs::metadata(dir.path().join(file))
                .expect("exists")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{file} is readable by others: {mode:o}");
        }
        let now = now_unix();
        let token = first
            .signing
            .issue_access("user-1", "user", "session-1", now, 600)
            .expect("signs");
        let envelope = first
            .data_keys
            .encrypt(b"secret", b"aad")
            .expect("encrypts");
        let link = first.sign_link("download|x");

        let new_kid = Authority::rotate_signing_key(dir.path()).expect("rotates");
        assert_eq!(Authority::rotate_data_key(dir.path()).expect("rotates"), 2);
        let rotated = Authority::load_or_create(dir.path()).expect("loads");
        assert_eq!(rotated.signing.current_kid(), new_kid);
        assert_ne!(new_kid, first.signing.current_kid());
        // The old token still verifies, and its key is still published.
        assert_eq!(
            rotated
                .signing
                .verify_access(&token, now)
                .expect("verifies")
                .sub,
            "user-1"
        );
        assert_eq!(
            rotated.signing.jwks()["keys"].as_array().map(Vec::len),
            Some(2)
        );
        // Old data still decrypts; new data uses version 2.
        assert_eq!(
            rotated
                .data_keys
                .decrypt(&envelope, b"aad")
                .expect("decrypts"),
            b"secret"
        );
        assert_eq!(
            rotated
                .data_keys
                .encrypt(b"x", b"")
                .expect("encrypts")
                .kek_version,
            2
        );
        // Links keep their key: it does not rotate with the others.
        assert!(rotated.verify_link("download|x", &link));
        assert!(!rotated.verify_link("download|y", &link));
    }

    #[test]
    fn keys_exported_as_settings_load_as_the_same_keys() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Authority::rotate_signing_key(dir.path()).expect("a retired key");
        let on_disk = Authority::load_or_create(dir.path()).expect("the keys");
        let exported = Authority::export(dir.path()).expect("exported");
        let value = |name: &str| {
            exported
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
                .expect(name)
        };
        assert!(value("VISIOBOOK_PREVIOUS_SIGNING_KEYS_PEM").contains("-----BEGIN"));
        let material = KeyMaterial {
            signing_pem: crate::settings::Secret::new(value("VISIOBOOK_SIGNING_KEY_PEM")),
            previous_signing_pems: Some(value("VISIOBOOK_PREVIOUS_SIGNING_KEYS_PEM")),
            link_key_hex: crate::settings::Secret::new(value("VISIOBOOK_LINK_KEY")),
            data_keys_json: crate::settings::Secret::new(value("VISIOBOOK_DATA_KEYS")),
        };
        let from_settings = Authority::from_material(&material).expect("loaded from settings");
        assert_eq!(
            from_settings.signing.current_kid(),
            on_disk.signing.current_kid()
        );
        assert_eq!(from_settings.signing.jwks(), on_disk.signing.jwks());
        assert_eq!(
            from_settings.sign_link("file-1"),
            on_disk.sign_link("file-1")
        );
        let sealed = on_disk
            .data_keys
            .encrypt(b"secret", b"aad")
            .expect("encrypted");
        assert_eq!(
            from_settings
                .data_keys
                .decrypt(&sealed, b"aad")
                .expect("decrypted with the exported ring"),
            b"secret"
        );
        let short = KeyMaterial {
            link_key_hex: crate::settings::Secret::new("abcd"),
            ..material
        };
        assert!(Authority::from_material(&short).is_err());
    }
}
