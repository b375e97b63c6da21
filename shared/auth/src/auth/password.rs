//! Password policy, hashing and verification.
//!
//! Hashes are argon2id PHC strings with the OWASP-recommended parameters
//! (m = 19456 KiB, t = 2, p = 1) and a random 16-byte salt.

use std::collections::HashSet;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand_core::OsRng;

use super::AuthError;

/// Argon2 memory cost in KiB (OWASP: 19 MiB).
pub const ARGON2_M_COST_KIB: u32 = 19_456;
/// Argon2 number of passes.
pub const ARGON2_T_COST: u32 = 2;
/// Argon2 degree of parallelism.
pub const ARGON2_P_COST: u32 = 1;

/// The bundled list of common passwords, one per line (lower case, `#` comments).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

/// An argon2id hash (same parameters as [`hash_password`]) of a random
/// password that was thrown away: [`dummy_verify`] checks against it so that a
/// login for an unknown email costs as much as one for a known email.
/// (Made once from 32 random bytes and a random salt with an independent
/// Argon2id implementation; the input was never stored.)
const DUMMY_PHC: &str = "$argon2id$v=19$m=19456,t=2,p=1$i59YLRVBccdjiWtYVdvdaw$9SrEP3G1AuohOsasHH9TLhUJgvYwaXAzS65BelHKEpw";

/// Local parts of an email shorter than this are not searched for in passwords
/// (a one- or two-letter local part would forbid far too many passwords).
const MIN_EMAIL_LOCAL_PART: usize = 3;

/// Length limits for new passwords, counted in Unicode scalar values (`char`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Shortest accepted password (default 12).
    pub min_length: usize,
    /// Longest accepted password (default 256), which also bounds hashing work.
    pub max_length: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 256,
        }
    }
}

/// Why a new password was refused. [`PasswordProblem::code`] is stable and
/// meant for API clients; `Display` is a human message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordProblem {
    /// Fewer characters than the policy's minimum.
    #[error("Password must be at least {min} characters long.")]
    TooShort {
        /// The policy's minimum length.
        min: usize,
    },
    /// More characters than the policy's maximum.
    #[error("Password must be at most {max} characters long.")]
    TooLong {
        /// The policy's maximum length.
        max: usize,
    },
    /// The password is in the bundled list of common passwords (any letter case).
    #[error("This password is too common and easy to guess; please choose another one.")]
    TooCommon,
    /// The password contains the local part of the account's email address.
    #[error("Password must not contain your email address.")]
    ContainsEmail,
}

impl PasswordProblem {
    /// Stable machine-readable code: `password_too_short`, `password_too_long`,
    /// `password_too_common` or `password_contains_email`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "password_too_short",
            Self::TooLong { .. } => "password_too_long",
            Self::TooCommon => "password_too_common",
            Self::ContainsEmail => "password_contains_email",
        }
    }

    /// Human-readable explanation (the same text as `Display`).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// The common-password list as a set, built on first use.
fn common_passwords() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_PASSWORDS
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_lowercase)
            .collect()
    })
}

/// Checks a new password against `policy`, the common-password list and the
/// account's `email`. Checks run in this order: too short, too long, too
/// common, contains the email's local part (also without a `+tag`; local
/// parts shorter than 3 characters are not checked). Comparisons ignore case.
pub fn check_password(
    policy: &PasswordPolicy,
    password: &str,
    email: &str,
) -> Result<(), PasswordProblem> {
    let length = password.chars().count();
    if length < policy.min_length {
        return Err(PasswordProblem::TooShort {
            min: policy.min_length,
        });
    }
    if length > policy.max_length {
        return Err(PasswordProblem::TooLong {
            max: policy.max_length,
        });
    }
    let lowered = password.to_lowercase();
    if common_passwords().contains(&lowered) {
        return Err(PasswordProblem::TooCommon);
    }
    let local = email
        .rsplit_once('@')
        .map_or(email, |(local, _domain)| local)
        .trim()
        .to_lowercase();
    let untagged = local.split('+').next().unwrap_or_default();
    for candidate in [local.as_str(), untagged] {
        if candidate.chars().count() >= MIN_EMAIL_LOCAL_PART && lowered.contains(candidate) {
            return Err(PasswordProblem::ContainsEmail);
        }
    }
    Ok(())
}

/// The argon2id hasher with the OWASP parameters.
fn hasher() -> Result<Argon2<'static>, AuthError> {
    let params = Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None)
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Hashes `password` with argon2id (m=19456 KiB, t=2, p=1) and a random salt
/// from the OS, returning a PHC string such as `$argon2id$v=19$m=19456,t=2,p=1$...`.
///
/// # Panics
/// Only if the operating system's random number generator fails.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::generate(&mut OsRng);
    let hash = hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| AuthError::Hash(e.to_string()))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the argon2id PHC string `phc`. The comparison is
/// constant-time (argon2's verifier); a malformed hash, or one that is not
/// argon2id, gives `false`. The parameters stored in `phc` are used.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether a stored hash should be replaced (after a successful login) because
/// it is malformed, not argon2id, or uses parameters other than the current ones.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    if parsed.algorithm != Algorithm::Argon2id.ident() {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(params) => {
            params.m_cost() != ARGON2_M_COST_KIB
                || params.t_cost() != ARGON2_T_COST
                || params.p_cost() != ARGON2_P_COST
        }
        Err(_) => true,
    }
}

/// Spends the same time as [`verify_password`] on a real hash, and always
/// "fails". Call it when a login names an unknown email so that response
/// times do not reveal which emails have accounts.
pub fn dummy_verify(password: &str) {
    // The result is meaningless: no one knows the dummy hash's password.
    let _ = std::hint::black_box(verify_password(password, DUMMY_PHC));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::time::Instant;

    const EMAIL: &str = "Jane.Doe+books@example.com";

    #[test]
    fn policy_defaults() {
        let policy = PasswordPolicy::default();
        assert_eq!(policy.min_length, 12);
        assert_eq!(policy.max_length, 256);
    }

    #[test]
    fn too_short_counts_chars_not_bytes() {
        let policy = PasswordPolicy::default();
        let err = check_password(&policy, "short1!", EMAIL).unwrap_err();
        assert_eq!(err, PasswordProblem::TooShort { min: 12 });
        assert_eq!(err.code(), "password_too_short");
        assert!(err.message().contains("12"));
        // 11 multi-byte characters are 33 bytes but still too short.
        let eleven = "é".repeat(11);
        assert_eq!(
            check_password(&policy, &eleven, EMAIL).unwrap_err().code(),
            "password_too_short"
        );
        // 12 of them pass the length check.
        assert!(check_password(&policy, &"é".repeat(12), EMAIL).is_ok());
    }

    #[test]
    fn too_long() {
        let policy = PasswordPolicy::default();
        let long = "Zq8#".repeat(65); // 260 chars
        let err = check_password(&policy, &long, EMAIL).unwrap_err();
        assert_eq!(err, PasswordProblem::TooLong { max: 256 });
        assert_eq!(err.code(), "password_too_long");
        assert!(check_password(&policy, &long[..256], EMAIL).is_ok());
    }

    #[test]
    fn common_passwords_in_any_case() {
        let policy = PasswordPolicy::default();
        for pw in [
            "passwordpassword",
            "QwertyQwerty",
            "CorrectHorseBatteryStaple",
        ] {
            let err = check_password(&policy, pw, EMAIL).unwrap_err();
            assert_eq!(err, PasswordProblem::TooCommon, "{pw}");
            assert_eq!(err.code(), "password_too_common");
        }
        let lenient = PasswordPolicy {
            min_length: 4,
            max_length: 256,
        };
        for pw in [
            "123456", "PASSWORD", "qwerty", "LetMeIn", "1q2w3e4r", "2024",
        ] {
            assert_eq!(
                check_password(&lenient, pw, EMAIL),
                Err(PasswordProblem::TooCommon),
                "{pw}"
            );
        }
    }

    #[test]
    fn common_list_is_large_and_clean() {
        let set = common_passwords();
        assert!(set.len() >= 1000, "only {} common passwords", set.len());
        assert!(set.contains("123456"));
        assert!(set.contains("password"));
        assert!(set.iter().all(|p| !p.is_empty() && p.trim() == p));
    }

    #[test]
    fn contains_email_local_part() {
        let policy = PasswordPolicy::default();
        // Local part with tag, any case.
        let err = check_password(&policy, "my-JANE.DOE+BOOKS-pass", EMAIL).unwrap_err();
        assert_eq!(err, PasswordProblem::ContainsEmail);
        assert_eq!(err.code(), "password_contains_email");
        // Local part without the +tag.
        assert_eq!(
            check_password(&policy, "xx jane.doe yy zz", EMAIL),
            Err(PasswordProblem::ContainsEmail)
        );
        // A two-letter local part is not checked.
        assert!(check_password(&policy, "blue jo river stones", "jo@example.com").is_ok());
    }

    #[test]
    fn acceptable_password() {
        let policy = PasswordPolicy::default();
        assert_eq!(
            check_password(&policy, "violet-otter-carries-41-maps", EMAIL),
            Ok(())
        );
    }

    #[test]
    fn hash_and_verify_round_trip() {
        let phc = hash_password("violet-otter-carries-41-maps").unwrap();
        assert!(verify_password("violet-otter-carries-41-maps", &phc));
        assert!(!verify_password("violet-otter-carries-41-mapS", &phc));
        assert!(!verify_password("", &phc));
        assert!(!needs_rehash(&phc));
        // Salts are random: the same password hashes differently.
        let again = hash_password("violet-otter-carries-41-maps").unwrap();
        assert_ne!(phc, again);
    }

    #[test]
    fn malformed_hashes_are_false() {
        for bad in [
            "",
            "not a hash",
            "$argon2id$v=19$m=19456,t=2,p=1$",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
            "$2b$12$abcdefghijklmnopqrstuuP9lGmYdBKzwJmFvY7r3OZ3ZbE0hUAi",
        ] {
            assert!(!verify_password("anything at all", bad), "{bad}");
            assert!(needs_rehash(bad), "{bad}");
        }
    }

    #[test]
    fn non_argon2id_hash_is_refused() {
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let phc = argon2i
            .hash_password(b"violet-otter", &salt)
            .unwrap()
            .to_string();
        assert!(phc.starts_with("$argon2i$"));
        assert!(!verify_password("violet-otter", &phc));
        assert!(needs_rehash(&phc));
    }

    #[test]
    fn hash_uses_owasp_argon2id_parameters() {
        let phc = hash_password("violet-otter-carries-41-maps").unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(parsed.version, Some(0x13));
        assert_eq!(parsed.params.get_decimal("m"), Some(19_456));
        assert_eq!(parsed.params.get_decimal("t"), Some(2));
        assert_eq!(parsed.params.get_decimal("p"), Some(1));
        let salt = parsed.salt.unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(salt.decode_b64(&mut buf).unwrap().len(), 16);
        assert_eq!(parsed.hash.unwrap().len(), 32);
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    }

    #[test]
    fn dummy_hash_matches_current_parameters() {
        assert!(!needs_rehash(DUMMY_PHC));
        let ours = PasswordHash::new(&hash_password("x").unwrap())
            .unwrap()
            .hash
            .unwrap()
            .len();
        assert_eq!(
            PasswordHash::new(DUMMY_PHC).unwrap().hash.unwrap().len(),
            ours
        );
    }

    #[test]
    fn dummy_verify_costs_about_as_much_as_a_real_verify() {
        let phc = hash_password("violet-otter-carries-41-maps").unwrap();
        // Warm up both paths once.
        dummy_verify("warm up");
        let _ = verify_password("warm up", &phc);
        let rounds = 3;
        let start = Instant::now();
        for _ in 0..rounds {
            let _ = verify_password("wrong password here", &phc);
        }
        let real = start.elapsed();
        let start = Instant::now();
        for _ in 0..rounds {
            dummy_verify("wrong password here");
        }
        let dummy = start.elapsed();
        // Generous bounds: the machine may be busy, but a dummy that skipped
        // the hashing would be orders of magnitude faster.
        assert!(
            dummy * 10 >= real && dummy <= real * 10,
            "real {real:?} vs dummy {dummy:?}"
        );
    }
}
