//! The user document, the email index and the rules for emails.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use unicode_normalization::UnicodeNormalization;
use visiobook_ports::document::read_typed;
use visiobook_ports::{DocumentStore, ETag};
use visiobook_runtime::{ApiError, AppState};

/// Users (partition key and id: the user id).
pub const USERS_CONTAINER: &str = "users";
/// The unique index of emails (partition key and id: the [`index_id`] of the normalised
/// email), so that two accounts can never share one and sign-in finds the user with one point
/// read.
pub const EMAILS_CONTAINER: &str = "user-emails";

/// Longest accepted email (RFC 5321's path limit).
const MAX_EMAIL_LEN: usize = 254;
/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// Normalised: trimmed, NFKC, lower-case.
    pub email: String,
    pub display_name: String,
    pub password_hash: String,
    /// `user` or `admin`.
    pub role: String,
    #[serde(default)]
    pub preferences: Preferences,
    pub created_at: String,
    pub updated_at: String,
}

/// What the user chose for new projects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// BCP 47 primary tag of the user's books by default (`en`, `fr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Email when a render finishes or fails.
    #[serde(default = "yes")]
    pub notify_by_email: bool,
}

fn yes() -> bool {
    true
}

impl User {
    /// What the user may see of their account (never the password hash).
    pub fn profile(&self) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "display_name": self.display_name,
            "role": self.role,
            "preferences": self.preferences,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }
}

/// The index entry of one email.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmailEntry {
    pub user_id: String,
}

/// Normalises an email for storage and comparison: trimmed, Unicode NFKC, lower-case; then
/// checks its shape (one `@`, a non-empty local part, a dotted domain, no spaces or controls).
pub fn normalise_email(raw: &str) -> Result<String, ApiError> {
    let email: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    let invalid = || ApiError::bad_request("invalid_email", "that is not an email address");
    if email.is_empty() || email.len() > MAX_EMAIL_LEN {
        return Err(invalid());
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(invalid());
    };
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !domain.contains('@');
    let chars_ok = !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if local.is_empty() || local.len() > 64 || !domain_ok || !chars_ok {
        return Err(invalid());
    }
    Ok(email)
}

/// A display name: trimmed, without control characters, 1 to 100 characters.
pub fn clean_display_name(raw: &str) -> Result<String, ApiError> {
    let name: String = raw.trim().chars().filter(|c| !c.is_control()).collect();
    if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME {
        return Err(ApiError::bad_request(
            "invalid_display_name",
            format!("a display name has 1 to {MAX_DISPLAY_NAME} characters"),
        ));
    }
    Ok(name)
}

pub async fn load_user(state: &AppState, id: &str) -> Result<Option<(User, ETag)>, ApiError> {
    Ok(read_typed(state.documents.as_ref(), USERS_CONTAINER, id, id).await?)
}

/// The user of a signed-in caller; their account may have been deleted meanwhile.
pub async fn caller_user(state: &AppState, id: &str) -> Result<(User, ETag), ApiError> {
    load_user(state, id).await?.ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "account_deleted",
            "this account no longer exists",
        )
    })
}

/// Checks a password against a stored hash off the async workers (argon2id takes tens of
/// milliseconds of CPU); `None` for the hash runs a dummy verification that takes as long.
pub async fn verify_password(password: String, hash: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => visiobook_auth::verify_password(&password, &hash),
        None => {
            visiobook_auth::dummy_verify(&password);
            false
        }
    })
    .await
    .map_err(ApiError::internal)
}

/// Hashes a new password off the async workers.
pub async fn hash_password(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || visiobook_auth::hash_password(&password))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
}

/// A document id for free text such as an email (which may hold characters Cosmos DB refuses
/// in ids): the hex SHA-256 of the text.
pub fn index_id(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

pub async fn user_by_email(
    store: &dyn DocumentStore,
    email: &str,
) -> Result<Option<(User, ETag)>, ApiError> {
    let id = index_id(email);
    let Some((entry, _)) = read_typed::<EmailEntry>(store, EMAILS_CONTAINER, &id, &id).await?
    else {
        return Ok(None);
    };
    Ok(read_typed(store, USERS_CONTAINER, &entry.user_id, &entry.user_id).await?)
}

/// The role an account should have: admin when its email is listed in the settings.
pub fn role_for(state: &AppState, email: &str) -> &'static str {
    if state
        .settings
        .admin_emails
        .iter()
        .any(|admin| admin == email)
    {
        visiobook_auth::ROLE_ADMIN
    } else {
        visiobook_auth::ROLE_USER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalise_email("  Alice@Example.COM ").ok().as_deref(),
            Some("alice@example.com")
        );
        // Full-width letters fold to ASCII under NFKC.
        assert_eq!(
            normalise_email("ＡＬＩＣＥ@example.com").ok().as_deref(),
            Some("alice@example.com")
        );
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@example",
            "a b@example.com",
            "alice@@example.com",
            "alice@example..com",
            "alice@.example.com",
        ] {
            assert!(normalise_email(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn display_names_are_cleaned() {
        assert_eq!(
            clean_display_name(" Ada\u{7}  ").ok().as_deref(),
            Some("Ada")
        );
        assert!(clean_display_name("   ").is_err());
        assert!(clean_display_name(&"x".repeat(101)).is_err());
    }
}
