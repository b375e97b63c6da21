//! ES256 (ECDSA P-256 / SHA-256) signing keys with key ids and rotation.
//!
//! One key is *current*: it signs new tokens. Earlier keys are kept for
//! verification only, until every token they signed has expired. Each key's
//! `kid` is the first 16 hex characters of the SHA-256 of its public key in
//! uncompressed SEC1 form (`04 || x || y`), so it is stable across restarts.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{DecodingKey, EncodingKey};
use p256::ecdsa::{SigningKey, VerifyingKey};
use p256::pkcs8::der::zeroize::Zeroizing;
use p256::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, LineEnding,
};
use rand_core::OsRng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AuthError;

/// Number of hex characters of the public key's SHA-256 used as `kid`.
const KID_HEX_LEN: usize = 16;

/// The public half of a key: everything needed to verify and to publish it.
pub(super) struct PublicKey {
    /// Key id, as written in token headers and in the JWKS.
    pub(super) kid: String,
    /// base64url (no padding) of the 32-byte x coordinate.
    x: String,
    /// base64url (no padding) of the 32-byte y coordinate.
    y: String,
    /// The key as p256 knows it (for PEM export).
    verifying: VerifyingKey,
    /// The key as jsonwebtoken knows it (for verification).
    pub(super) decoding: DecodingKey,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl PublicKey {
    fn new(verifying: VerifyingKey) -> Result<Self, AuthError> {
        let point = verifying.to_encoded_point(false);
        let (Some(x), Some(y)) = (point.x(), point.y()) else {
            return Err(AuthError::Key(
                "public key is not an uncompressed point".into(),
            ));
        };
        let digest = Sha256::digest(point.as_bytes());
        let mut kid = hex::encode(digest);
        kid.truncate(KID_HEX_LEN);
        let x = URL_SAFE_NO_PAD.encode(x);
        let y = URL_SAFE_NO_PAD.encode(y);
        let decoding = DecodingKey::from_ec_components(&x, &y)
            .map_err(|e| AuthError::Key(format!("public key rejected by JWT library: {e}")))?;
        Ok(Self {
            kid,
            x,
            y,
            verifying,
            decoding,
        })
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "EC",
            "crv": "P-256",
            "x": self.x,
            "y": self.y,
            "kid": self.kid,
            "alg": "ES256",
            "use": "sig",
        })
    }
}

/// The current key: signs tokens.
pub(super) struct CurrentKey {
    pub(super) public: PublicKey,
    pub(super) encoding: EncodingKey,
    /// PKCS#8 PEM of the private key, kept so that [`SigningKeys::current_pem`]
    /// cannot fail; wiped from memory on drop.
    pem: Zeroizing<String>,
}

impl fmt::Debug for CurrentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CurrentKey")
            .field("kid", &self.public.kid)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl CurrentKey {
    fn new(signing: &SigningKey) -> Result<Self, AuthError> {
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| AuthError::Key(format!("cannot encode private key: {e}")))?;
        let pem = signing
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| AuthError::Key(format!("cannot encode private key: {e}")))?;
        Ok(Self {
            public: PublicKey::new(*signing.verifying_key())?,
            encoding: EncodingKey::from_ec_der(der.as_bytes()),
            pem,
        })
    }
}

/// A set of ES256 key pairs: one current key that signs, and any number of
/// previous keys that only verify (key rotation). `Debug` prints only `kid`s.
pub struct SigningKeys {
    pub(super) current: CurrentKey,
    pub(super) previous: Vec<PublicKey>,
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("current_kid", &self.current.public.kid)
            .field("previous_kids", &self.previous_kids())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl SigningKeys {
    /// Generates a fresh P-256 key pair (from the OS random number generator)
    /// as the only, current key. Persist it with [`SigningKeys::current_pem`].
    pub fn generate() -> Result<Self, AuthError> {
        install_crypto_provider();
        let signing = SigningKey::random(&mut OsRng);
        Ok(Self {
            current: CurrentKey::new(&signing)?,
            previous: Vec::new(),
        })
    }

    /// Loads the current key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`,
    /// P-256 only) and the previous, verify-only keys from `previous`, each
    /// either a PKCS#8 private key PEM (an old current key file) or an SPKI
    /// public key PEM (`-----BEGIN PUBLIC KEY-----`). A previous key equal to
    /// the current one, or repeated, is kept once.
    pub fn from_pem(current_pkcs8_pem: &str, previous: &[&str]) -> Result<Self, AuthError> {
        install_crypto_provider();
        let signing = SigningKey::from_pkcs8_pem(current_pkcs8_pem.trim()).map_err(|_| {
            AuthError::Key("current key is not a P-256 PKCS#8 private key PEM".into())
        })?;
        let current = CurrentKey::new(&signing)?;
        let mut keys = Self {
            current,
            previous: Vec::with_capacity(previous.len()),
        };
        for (index, pem) in previous.iter().enumerate() {
            let verifying = parse_verifying_pem(pem.trim()).ok_or_else(|| {
                AuthError::Key(format!(
                    "previous key #{index} is neither a P-256 PKCS#8 private key PEM \
                     nor a P-256 public key PEM"
                ))
            })?;
            let public = PublicKey::new(verifying)?;
            if keys.find(&public.kid).is_none() {
                keys.previous.push(public);
            }
        }
        Ok(keys)
    }

    /// The current private key as PKCS#8 PEM, for the caller to persist (in a
    /// file readable by the service only, mode 0600). Handle as a secret.
    pub fn current_pem(&self) -> String {
        self.current.pem.as_str().to_owned()
    }

    /// The current public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`), which
    /// [`SigningKeys::from_pem`] accepts as a previous key after a rotation.
    pub fn current_public_pem(&self) -> Result<String, AuthError> {
        self.current
            .public
            .verifying
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| AuthError::Key(format!("cannot encode public key: {e}")))
    }

    /// The `kid` of the current (signing) key.
    pub fn current_kid(&self) -> &str {
        &self.current.public.kid
    }

    /// The `kid`s of the previous (verify-only) keys, in the order given.
    pub fn previous_kids(&self) -> Vec<&str> {
        self.previous.iter().map(|k| k.kid.as_str()).collect()
    }

    /// The public JSON Web Key Set for every key, current first:
    /// `{"keys":[{"kty":"EC","crv":"P-256","x":..,"y":..,"kid":..,"alg":"ES256","use":"sig"},..]}`.
    pub fn jwks(&self) -> Value {
        let keys: Vec<Value> = self.public_keys().map(PublicKey::jwk).collect();
        json!({ "keys": keys })
    }

    /// Every public key, current first.
    fn public_keys(&self) -> impl Iterator<Item = &PublicKey> {
        std::iter::once(&self.current.public).chain(self.previous.iter())
    }

    /// The public key with this `kid`, current or previous.
    pub(super) fn find(&self, kid: &str) -> Option<&PublicKey> {
        self.public_keys().find(|k| k.kid == kid)
    }
}

/// Makes jsonwebtoken use its RustCrypto backend. Its automatic choice
/// panics when both of its backends are compiled in (Cargo unifies features
/// across a workspace), so the choice is made explicitly; if a provider was
/// already installed by someone else, that one stays.
fn install_crypto_provider() {
    use jsonwebtoken::crypto::{CryptoProvider, rust_crypto};
    let _already_installed = CryptoProvider::install_default(&rust_crypto::DEFAULT_PROVIDER);
}

/// A P-256 public key from a PKCS#8 private key PEM or an SPKI public key PEM.
fn parse_verifying_pem(pem: &str) -> Option<VerifyingKey> {
    if let Ok(signing) = SigningKey::from_pkcs8_pem(pem) {
        return Some(*signing.verifying_key());
    }
    VerifyingKey::from_public_key_pem(pem).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn generated_pem_round_trips_with_same_kid() {
        let keys = SigningKeys::generate().unwrap();
        let pem = keys.current_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let loaded = SigningKeys::from_pem(&pem, &[]).unwrap();
        assert_eq!(loaded.current_kid(), keys.current_kid());
        assert_eq!(loaded.jwks(), keys.jwks());
    }

    #[test]
    fn kid_is_sha256_prefix_of_sec1_public_key() {
        let keys = SigningKeys::generate().unwrap();
        let point = keys.current.public.verifying.to_encoded_point(false);
        assert_eq!(point.as_bytes().len(), 65);
        let expected = &hex::encode(Sha256::digest(point.as_bytes()))[..16];
        assert_eq!(keys.current_kid(), expected);
        assert_eq!(keys.current_kid().len(), 16);
    }

    #[test]
    fn jwks_shape() {
        let keys = SigningKeys::generate().unwrap();
        let jwks = keys.jwks();
        let list = jwks["keys"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        let jwk = list[0].as_object().unwrap();
        assert_eq!(jwk.len(), 7);
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], keys.current_kid());
        for coord in ["x", "y"] {
            let text = jwk[coord].as_str().unwrap();
            assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
            assert_eq!(URL_SAFE_NO_PAD.decode(text).unwrap().len(), 32);
        }
        assert!(!jwks.to_string().contains("\"d\""), "private part leaked");
    }

    #[test]
    fn rotation_lists_every_kid_once() {
        let old = SigningKeys::generate().unwrap();
        let older = SigningKeys::generate().unwrap();
        let new = SigningKeys::generate().unwrap();
        let older_public = older.current_public_pem().unwrap();
        assert!(older_public.starts_with("-----BEGIN PUBLIC KEY-----"));
        let keys = SigningKeys::from_pem(
            &new.current_pem(),
            &[&old.current_pem(), &older_public, &new.current_pem()],
        )
        .unwrap();
        assert_eq!(keys.current_kid(), new.current_kid());
        assert_eq!(
            keys.previous_kids(),
            vec![old.current_kid(), older.current_kid()]
        );
        let kids: Vec<String> = keys.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            kids,
            vec![new.current_kid(), old.current_kid(), older.current_kid()]
        );
    }

    #[test]
    fn bad_pems_are_errors() {
        let good = SigningKeys::generate().unwrap().current_pem();
        assert!(matches!(
            SigningKeys::from_pem("not a pem", &[]),
            Err(AuthError::Key(_))
        ));
        let public = SigningKeys::generate()
            .unwrap()
            .current_public_pem()
            .unwrap();
        // A public key cannot be the current (signing) key.
        assert!(SigningKeys::from_pem(&public, &[]).is_err());
        assert!(matches!(
            SigningKeys::from_pem(&good, &["garbage"]),
            Err(AuthError::Key(m)) if m.contains("#0")
        ));
    }

    #[test]
    fn debug_redacts_private_key() {
        let keys = SigningKeys::generate().unwrap();
        let debug = format!("{keys:?}");
        assert!(debug.contains("<redacted>"));
        assert!(debug.contains(keys.current_kid()));
        assert!(!debug.contains("PRIVATE"));
        let pem = keys.current_pem();
        let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
        assert!(!debug.contains(&body));
    }
}
