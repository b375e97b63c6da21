//! Access tokens (JWT signed with ES256) and opaque refresh tokens.
//!
//! Access tokens are short-lived JWTs whose header is
//! `{"typ":"JWT","alg":"ES256","kid":..}` and whose claims are [`Claims`].
//! Verification accepts ES256 only and checks the times against the
//! `now_unix` the caller passes, not the system clock.
//!
//! Refresh tokens are 32 random bytes (base64url) handed to the client; only
//! their SHA-256 is stored, so a database leak does not leak usable tokens.
//! Rotation and reuse detection are up to the caller.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use rand_core::{OsRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AuthError;
use super::keys::SigningKeys;

/// `iss` of every access token.
pub const ISSUER: &str = "visiobook";
/// `aud` of every access token.
pub const AUDIENCE: &str = "visiobook-api";
/// Clock skew tolerated on `exp` and `iat`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;
/// The ordinary user role.
pub const ROLE_USER: &str = "user";
/// The administrator role.
pub const ROLE_ADMIN: &str = "admin";

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_LEN: usize = 8 * 1024;
/// Random bytes in a `jti`.
const JTI_BYTES: usize = 16;
/// Random bytes in a refresh token.
const REFRESH_TOKEN_BYTES: usize = 32;
/// Length of an ES256 JWS signature (`r || s`).
const ES256_SIGNATURE_LEN: usize = 64;

/// The claims of a Visiobook access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user id.
    pub sub: String,
    /// `"user"` or `"admin"` ([`ROLE_USER`], [`ROLE_ADMIN`]).
    pub role: String,
    /// Session id, i.e. the refresh-token family this token was issued for.
    pub sid: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Issuer, always [`ISSUER`].
    pub iss: String,
    /// Audience, always [`AUDIENCE`].
    pub aud: String,
    /// Unique token id (random, base64url).
    pub jti: String,
}

/// Why an access token was refused. [`TokenError::code`] is stable; clients
/// should get a 401 whatever the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a compact JWS with base64url JSON parts (or too long).
    #[error("access token is malformed")]
    Malformed,
    /// The header's `alg` is not `ES256` (this includes `none`, `HS256`, `RS256`...).
    #[error("access token algorithm is not accepted")]
    Algorithm,
    /// The header has no `kid`, or one that is not among the known keys.
    #[error("access token was signed by an unknown key")]
    UnknownKey,
    /// The signature does not match the header and claims.
    #[error("access token signature is invalid")]
    Signature,
    /// `exp` is past (beyond the leeway).
    #[error("access token has expired")]
    Expired,
    /// A claim is missing or wrong: `iss`, `aud`, `iat` in the future, unknown role...
    #[error("access token claims are invalid")]
    Claims,
}

impl TokenError {
    /// Stable machine-readable code: `token_malformed`, `token_algorithm`,
    /// `token_unknown_key`, `token_signature`, `token_expired` or `token_claims`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed => "token_malformed",
            Self::Algorithm => "token_algorithm",
            Self::UnknownKey => "token_unknown_key",
            Self::Signature => "token_signature",
            Self::Expired => "token_expired",
            Self::Claims => "token_claims",
        }
    }
}

/// Whether `role` is one of the roles a token may carry.
fn known_role(role: &str) -> bool {
    role == ROLE_USER || role == ROLE_ADMIN
}

/// `len` random bytes from the OS, base64url without padding.
fn random_b64(len: usize) -> Result<String, AuthError> {
    let mut bytes = vec![0u8; len];
    OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|_| AuthError::Random)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

impl SigningKeys {
    /// Signs an access token with the current key: header
    /// `{"typ":"JWT","alg":"ES256","kid":..}`, issuer [`ISSUER`], audience
    /// [`AUDIENCE`], `iat = now_unix`, `exp = now_unix + ttl_seconds` and a
    /// random `jti`. `role` must be `"user"` or `"admin"`, `subject` and
    /// `session_id` non-empty and `ttl_seconds` positive.
    pub fn issue_access(
        &self,
        subject: &str,
        role: &str,
        session_id: &str,
        now_unix: u64,
        ttl_seconds: u64,
    ) -> Result<String, AuthError> {
        if subject.is_empty() || session_id.is_empty() {
            return Err(AuthError::InvalidInput(
                "subject and session id must not be empty".into(),
            ));
        }
        if !known_role(role) {
            return Err(AuthError::InvalidInput(format!("unknown role {role:?}")));
        }
        if ttl_seconds == 0 {
            return Err(AuthError::InvalidInput("ttl must be positive".into()));
        }
        let exp = now_unix
            .checked_add(ttl_seconds)
            .ok_or_else(|| AuthError::InvalidInput("expiry overflows".into()))?;
        let claims = Claims {
            sub: subject.to_owned(),
            role: role.to_owned(),
            sid: session_id.to_owned(),
            iat: now_unix,
            exp,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            jti: random_b64(JTI_BYTES)?,
        };
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.current.public.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.current.encoding)
            .map_err(|e| AuthError::Sign(e.to_string()))
    }

    /// Verifies an access token and returns its claims.
    ///
    /// In order: the token must be a compact JWS whose header says
    /// `"alg":"ES256"` ([`TokenError::Algorithm`] otherwise, so `none`, HMAC
    /// and RSA tokens never reach a verifier) and names a known `kid`
    /// ([`TokenError::UnknownKey`]); the signature must verify with that key
    /// ([`TokenError::Signature`]); `iss`, `aud` must be exactly [`ISSUER`],
    /// [`AUDIENCE`], the role known and `iat` not after
    /// `now_unix + LEEWAY_SECONDS` ([`TokenError::Claims`]); and `now_unix`
    /// must be before `exp + LEEWAY_SECONDS` ([`TokenError::Expired`]).
    pub fn verify_access(&self, token: &str, now_unix: u64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };

        // Our own look at the header, before jsonwebtoken sees the token.
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| TokenError::Malformed)?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
        if header.get("alg").and_then(serde_json::Value::as_str) != Some("ES256") {
            return Err(TokenError::Algorithm);
        }
        if header.contains_key("crit") {
            // We understand no JWS extensions (RFC 7515, section 4.1.11).
            return Err(TokenError::Malformed);
        }
        let key = header
            .get("kid")
            .and_then(serde_json::Value::as_str)
            .and_then(|kid| self.find(kid))
            .ok_or(TokenError::UnknownKey)?;
        // The header must also be one jsonwebtoken can read, so that any JSON
        // error it reports later can only come from the claims.
        jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if payload_b64.is_empty() || URL_SAFE_NO_PAD.decode(payload_b64).is_err() {
            return Err(TokenError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| TokenError::Malformed)?;
        if signature.len() != ES256_SIGNATURE_LEN {
            return Err(TokenError::Signature);
        }

        // Signature, issuer and audience by jsonwebtoken; its clock-based
        // checks are off because time comes from `now_unix`.
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|e| map_jwt_error(e.kind()))?
            .claims;

        // Our own checks, with the caller's clock.
        if claims.iss != ISSUER
            || claims.aud != AUDIENCE
            || claims.sub.is_empty()
            || claims.sid.is_empty()
            || !known_role(&claims.role)
            || claims.iat > now_unix.saturating_add(LEEWAY_SECONDS)
            || claims.exp <= claims.iat
        {
            return Err(TokenError::Claims);
        }
        if now_unix >= claims.exp.saturating_add(LEEWAY_SECONDS) {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Maps a jsonwebtoken error (after our own header checks) to a [`TokenError`].
fn map_jwt_error(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::UnsupportedAlgorithm
        | ErrorKind::InvalidAlgorithmName => TokenError::Algorithm,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        // The header was checked above and the signature is verified before
        // the claims are parsed, so a JSON error here is about the claims.
        ErrorKind::Json(_)
        | ErrorKind::InvalidIssuer
        | ErrorKind::InvalidAudience
        | ErrorKind::InvalidSubject
        | ErrorKind::MissingRequiredClaim(_)
        | ErrorKind::InvalidClaimFormat(_)
        | ErrorKind::ImmatureSignature => TokenError::Claims,
        _ => TokenError::Malformed,
    }
}

/// A new refresh token: `(token, hash)`. Give `token` (32 random bytes,
/// base64url without padding) to the client; store only `hash`, the lower-case
/// hex SHA-256 of the token, equal to [`refresh_token_hash`]`(&token)`.
///
/// # Panics
/// Only if the operating system's random number generator fails.
pub fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; REFRESH_TOKEN_BYTES];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = refresh_token_hash(&token);
    (token, hash)
}

/// The stored form of a refresh token: lower-case hex SHA-256 of its text.
/// Look a presented token up by this hash; the raw token is never stored.
pub fn refresh_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use jsonwebtoken::EncodingKey;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::{SystemTime, UNIX_EPOCH};

    const NOW: u64 = 1_800_000_000;
    const TTL: u64 = 900;

    fn keys() -> SigningKeys {
        SigningKeys::generate().unwrap()
    }

    fn b64_json(value: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn parts(token: &str) -> Vec<String> {
        token.split('.').map(str::to_owned).collect()
    }

    fn decode_part(part: &str) -> serde_json::Value {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
    }

    fn valid_claims(now: u64) -> serde_json::Value {
        serde_json::json!({
            "sub": "user-1", "role": "user", "sid": "sess-1",
            "iat": now, "exp": now + TTL, "iss": ISSUER, "aud": AUDIENCE, "jti": "j1",
        })
    }

    #[test]
    fn round_trip() {
        let keys = keys();
        let token = keys
            .issue_access("user-42", ROLE_ADMIN, "sess-7", NOW, TTL)
            .unwrap();
        let claims = keys.verify_access(&token, NOW + 1).unwrap();
        assert_eq!(claims.sub, "user-42");
        assert_eq!(claims.role, "admin");
        assert_eq!(claims.sid, "sess-7");
        assert_eq!(claims.iat, NOW);
        assert_eq!(claims.exp, NOW + TTL);
        assert_eq!(claims.iss, "visiobook");
        assert_eq!(claims.aud, "visiobook-api");
        assert_eq!(URL_SAFE_NO_PAD.decode(&claims.jti).unwrap().len(), 16);

        let header = decode_part(&parts(&token)[0]);
        assert_eq!(
            header,
            serde_json::json!({"typ": "JWT", "alg": "ES256", "kid": keys.current_kid()})
        );
        // jti is random per token.
        let other = keys
            .issue_access("user-42", ROLE_ADMIN, "sess-7", NOW, TTL)
            .unwrap();
        assert_ne!(keys.verify_access(&other, NOW).unwrap().jti, claims.jti);
    }

    #[test]
    fn issue_rejects_bad_input() {
        let keys = keys();
        for (sub, role, sid, ttl) in [
            ("u", "root", "s", TTL),
            ("", "user", "s", TTL),
            ("u", "user", "", TTL),
            ("u", "user", "s", 0),
            ("u", "user", "s", u64::MAX),
        ] {
            assert!(
                matches!(
                    keys.issue_access(sub, role, sid, NOW, ttl),
                    Err(AuthError::InvalidInput(_))
                ),
                "{sub:?} {role:?} {sid:?} {ttl}"
            );
        }
    }

    #[test]
    fn expiry_and_leeway() {
        let keys = keys();
        let token = keys.issue_access("u", ROLE_USER, "s", NOW, TTL).unwrap();
        let exp = NOW + TTL;
        // Within the leeway after exp: still accepted.
        assert!(keys.verify_access(&token, exp).is_ok());
        assert!(keys.verify_access(&token, exp + LEEWAY_SECONDS - 1).is_ok());
        // At and past exp + leeway: expired.
        for now in [exp + LEEWAY_SECONDS, exp + LEEWAY_SECONDS + 1, exp + 86_400] {
            let err = keys.verify_access(&token, now).unwrap_err();
            assert_eq!(err, TokenError::Expired);
            assert_eq!(err.code(), "token_expired");
        }
    }

    #[test]
    fn issued_in_the_future_is_refused() {
        let keys = keys();
        let token = keys.issue_access("u", ROLE_USER, "s", NOW, TTL).unwrap();
        // Verifier's clock is behind the issuer's by up to the leeway: fine.
        assert!(keys.verify_access(&token, NOW - LEEWAY_SECONDS).is_ok());
        // More than that: the token claims to come from the future.
        let err = keys
            .verify_access(&token, NOW - LEEWAY_SECONDS - 1)
            .unwrap_err();
        assert_eq!(err.code(), "token_claims");
    }

    #[test]
    fn other_keys_are_refused() {
        let keys = keys();
        let stranger = SigningKeys::generate().unwrap();
        let token = stranger
            .issue_access("u", ROLE_USER, "s", NOW, TTL)
            .unwrap();
        let err = keys.verify_access(&token, NOW).unwrap_err();
        assert_eq!(err.code(), "token_unknown_key");

        // The stranger claims our kid: the signature does not verify.
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(keys.current_kid().to_owned());
        let forged =
            jsonwebtoken::encode(&header, &valid_claims(NOW), &stranger.current.encoding).unwrap();
        let err = keys.verify_access(&forged, NOW).unwrap_err();
        assert_eq!(err, TokenError::Signature);
        assert_eq!(err.code(), "token_signature");
    }

    #[test]
    fn missing_kid_is_unknown_key() {
        let keys = keys();
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::ES256),
            &valid_claims(NOW),
            &keys.current.encoding,
        )
        .unwrap();
        assert_eq!(
            keys.verify_access(&forged, NOW).unwrap_err().code(),
            "token_unknown_key"
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = keys();
        let header = serde_json::json!({"alg": "none", "typ": "JWT", "kid": keys.current_kid()});
        let body = b64_json(&valid_claims(NOW));
        for token in [
            format!("{}.{}.", b64_json(&header), body),
            format!("{}.{}", b64_json(&header), body),
        ] {
            let err = keys.verify_access(&token, NOW).unwrap_err();
            if token.ends_with('.') {
                assert_eq!(err.code(), "token_algorithm");
            } else {
                assert_eq!(err.code(), "token_malformed");
            }
        }
        // "None", "NONE", missing alg and a non-string alg are refused too.
        for alg in [
            serde_json::json!("None"),
            serde_json::json!("NONE"),
            serde_json::json!("es256"),
            serde_json::json!(null),
            serde_json::json!(["ES256"]),
        ] {
            let header = serde_json::json!({"alg": alg, "kid": keys.current_kid()});
            let token = format!("{}.{}.", b64_json(&header), body);
            assert_eq!(
                keys.verify_access(&token, NOW).unwrap_err().code(),
                "token_algorithm",
                "{alg}"
            );
        }
    }

    #[test]
    fn hs256_with_public_key_as_secret_is_refused() {
        let keys = keys();
        let public_pem = keys.current_public_pem().unwrap();
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(keys.current_kid().to_owned());
        let token = jsonwebtoken::encode(
            &header,
            &valid_claims(NOW),
            &EncodingKey::from_secret(public_pem.as_bytes()),
        )
        .unwrap();
        let err = keys.verify_access(&token, NOW).unwrap_err();
        assert_eq!(err, TokenError::Algorithm);
        assert_eq!(err.code(), "token_algorithm");

        // Same with the JWKS text and the raw SEC1 point as the HMAC secret.
        let point = keys.current.public.decoding.try_get_as_bytes().unwrap();
        for secret in [keys.jwks().to_string().into_bytes(), point.to_vec()] {
            let token = jsonwebtoken::encode(
                &header,
                &valid_claims(NOW),
                &EncodingKey::from_secret(&secret),
            )
            .unwrap();
            assert_eq!(
                keys.verify_access(&token, NOW).unwrap_err().code(),
                "token_algorithm"
            );
        }
    }

    #[test]
    fn other_algorithms_are_refused() {
        let keys = keys();
        let body = b64_json(&valid_claims(NOW));
        let fake_sig = URL_SAFE_NO_PAD.encode([7u8; 64]);
        for alg in ["RS256", "PS256", "ES384", "ES512", "EdDSA", "HS512"] {
            let header = serde_json::json!({"alg": alg, "typ": "JWT", "kid": keys.current_kid()});
            let token = format!("{}.{}.{}", b64_json(&header), body, fake_sig);
            assert_eq!(
                keys.verify_access(&token, NOW).unwrap_err().code(),
                "token_algorithm",
                "{alg}"
            );
        }
    }

    #[test]
    fn tampered_payload_is_refused() {
        let keys = keys();
        let token = keys
            .issue_access("user-1", ROLE_USER, "s", NOW, TTL)
            .unwrap();
        let p = parts(&token);
        let mut claims = decode_part(&p[1]);
        claims["sub"] = serde_json::json!("user-2");
        let tampered = format!("{}.{}.{}", p[0], b64_json(&claims), p[2]);
        let err = keys.verify_access(&tampered, NOW).unwrap_err();
        assert_eq!(err, TokenError::Signature);
        assert_eq!(err.code(), "token_signature");

        // Escalating the role is the same story.
        let mut claims = decode_part(&p[1]);
        claims["role"] = serde_json::json!("admin");
        let tampered = format!("{}.{}.{}", p[0], b64_json(&claims), p[2]);
        assert_eq!(
            keys.verify_access(&tampered, NOW).unwrap_err().code(),
            "token_signature"
        );

        // A flipped signature byte, and a truncated signature.
        let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap();
        sig[10] ^= 1;
        let flipped = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(&sig));
        assert_eq!(
            keys.verify_access(&flipped, NOW).unwrap_err().code(),
            "token_signature"
        );
        let short = format!("{}.{}.{}", p[0], p[1], URL_SAFE_NO_PAD.encode(&sig[..63]));
        assert_eq!(
            keys.verify_access(&short, NOW).unwrap_err().code(),
            "token_signature"
        );
    }

    #[test]
    fn wrong_audience_issuer_or_role_is_refused() {
        let keys = keys();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(keys.current_kid().to_owned());
        let cases = [
            ("aud", serde_json::json!("someone-else")),
            ("aud", serde_json::json!(["visiobook-api", "other"])),
            ("iss", serde_json::json!("evil")),
            ("role", serde_json::json!("superuser")),
            ("sub", serde_json::json!("")),
            ("exp", serde_json::json!("soon")),
        ];
        for (field, value) in cases {
            let mut claims = valid_claims(NOW);
            claims[field] = value.clone();
            let token = jsonwebtoken::encode(&header, &claims, &keys.current.encoding).unwrap();
            let err = keys.verify_access(&token, NOW).unwrap_err();
            assert_eq!(err.code(), "token_claims", "{field}={value}");
        }
        // A missing audience too.
        let mut claims = valid_claims(NOW);
        claims.as_object_mut().unwrap().remove("aud");
        let token = jsonwebtoken::encode(&header, &claims, &keys.current.encoding).unwrap();
        assert_eq!(
            keys.verify_access(&token, NOW).unwrap_err().code(),
            "token_claims"
        );
    }

    #[test]
    fn malformed_tokens() {
        let keys = keys();
        let token = keys.issue_access("u", ROLE_USER, "s", NOW, TTL).unwrap();
        let p = parts(&token);
        let too_long = "a".repeat(10_000);
        let cases = [
            String::new(),
            "abc".to_owned(),
            "a.b".to_owned(),
            format!("{token}.extra"),
            format!("!!.{}.{}", p[1], p[2]),
            format!("{}.{}.{}", URL_SAFE_NO_PAD.encode("not json"), p[1], p[2]),
            format!("{}.!!.{}", p[0], p[2]),
            format!("{}..{}", p[0], p[2]),
            format!("{}.{}.!!", p[0], p[1]),
            format!("{}=.{}.{}", p[0], p[1], p[2]),
            too_long,
        ];
        for bad in cases {
            assert_eq!(
                keys.verify_access(&bad, NOW).unwrap_err().code(),
                "token_malformed",
                "{bad}"
            );
        }
    }

    #[test]
    fn rotation_verifies_tokens_of_previous_keys() {
        let old = keys();
        let old_token = old.issue_access("u-old", ROLE_USER, "s", NOW, TTL).unwrap();
        let new = keys();
        let rotated = SigningKeys::from_pem(&new.current_pem(), &[&old.current_pem()]).unwrap();
        // The old key's token still verifies; new tokens carry the new kid.
        assert_eq!(rotated.verify_access(&old_token, NOW).unwrap().sub, "u-old");
        let new_token = rotated
            .issue_access("u-new", ROLE_USER, "s", NOW, TTL)
            .unwrap();
        assert_eq!(decode_part(&parts(&new_token)[0])["kid"], new.current_kid());
        assert_eq!(rotated.verify_access(&new_token, NOW).unwrap().sub, "u-new");
        // The old key set alone does not know the new key.
        assert_eq!(
            old.verify_access(&new_token, NOW).unwrap_err().code(),
            "token_unknown_key"
        );
        let jwks = rotated.jwks();
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids, vec![new.current_kid(), old.current_kid()]);
    }

    #[test]
    fn refresh_tokens() {
        let (token, hash) = new_refresh_token();
        assert_eq!(URL_SAFE_NO_PAD.decode(&token).unwrap().len(), 32);
        assert_eq!(token.len(), 43);
        assert_eq!(hash, refresh_token_hash(&token));
        assert_eq!(hash.len(), 64);
        assert!(
            hash.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        let (other, other_hash) = new_refresh_token();
        assert_ne!(token, other);
        assert_ne!(hash, other_hash);
        // Known vector: SHA-256("abc").
        assert_eq!(
            refresh_token_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn token_error_codes_are_stable() {
        let all = [
            (TokenError::Malformed, "token_malformed"),
            (TokenError::Algorithm, "token_algorithm"),
            (TokenError::UnknownKey, "token_unknown_key"),
            (TokenError::Signature, "token_signature"),
            (TokenError::Expired, "token_expired"),
            (TokenError::Claims, "token_claims"),
        ];
        for (err, code) in all {
            assert_eq!(err.code(), code);
            assert!(!err.to_string().is_empty());
        }
    }

    /// Where PyJWT (with `cryptography`) is installed: `VISIOBOOK_VALIDATORS`
    /// or `/root/.cache/visiobook/validators`.
    fn validators_dir() -> PathBuf {
        std::env::var_os("VISIOBOOK_VALIDATORS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/root/.cache/visiobook/validators"))
    }

    const PYJWT_SCRIPT: &str = r#"
import json, sys
try:
    import jwt
    import cryptography  # ES256 needs PyJWT's "crypto" extra
except Exception as exc:
    sys.stderr.write("PYJWT_IMPORT_ERROR %r\n" % (exc,))
    sys.exit(3)
with open(sys.argv[1]) as f:
    jwks = jwt.PyJWKSet.from_dict(json.load(f))
for token in sys.argv[2:]:
    kid = jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(token, jwks[kid], algorithms=["ES256"],
                        audience="visiobook-api", issuer="visiobook")
    print(claims["sub"])
"#;

    #[test]
    fn pyjwt_verifies_our_tokens_through_our_jwks() {
        let old = keys();
        let new = keys();
        let rotated = SigningKeys::from_pem(&new.current_pem(), &[&old.current_pem()]).unwrap();
        // PyJWT checks times against the real clock.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let by_new = rotated
            .issue_access("pyjwt-subject-new", ROLE_USER, "s", now, TTL)
            .unwrap();
        let by_old = old
            .issue_access("pyjwt-subject-old", ROLE_ADMIN, "s", now, TTL)
            .unwrap();

        let jwks_path = std::env::temp_dir().join(format!(
            "visiobook-auth-jwks-{}-{}.json",
            std::process::id(),
            random_b64(6).unwrap()
        ));
        std::fs::write(&jwks_path, rotated.jwks().to_string()).unwrap();
        let validators = validators_dir();
        let output = Command::new("python3")
            .arg("-c")
            .arg(PYJWT_SCRIPT)
            .arg(&jwks_path)
            .arg(&by_new)
            .arg(&by_old)
            .env("PYTHONPATH", &validators)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output();
        let _ = std::fs::remove_file(&jwks_path);
        let output = output.unwrap_or_else(|e| panic!("cannot run python3: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() == Some(3) {
            panic!(
                "PyJWT with its crypto extra is not importable from {} ({}). Install it with: \
                 python3 -m pip install --target {} 'PyJWT[crypto]' (or set VISIOBOOK_VALIDATORS)",
                validators.display(),
                stderr.trim(),
                validators.display()
            );
        }
        assert!(output.status.success(), "PyJWT refused our token: {stderr}");
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines, vec!["pyjwt-subject-new", "pyjwt-subject-old"]);
    }
}
