//! Random secrets, their storage hashes, and password hashing.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

/// Prefix of personal access tokens, so they are recognisable (and scannable) when leaked.
pub const TOKEN_PREFIX: &str = "gbpat_";

/// A new random personal access token (`gbpat_` + 40 alphanumerics, ~238 bits).
pub fn new_access_token() -> String {
    format!("{TOKEN_PREFIX}{}", Alphanumeric.sample_string(&mut rand::rng(), 40))
}

/// A new random session id (43 alphanumerics, ~256 bits).
pub fn new_session_id() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 43)
}

/// How high-entropy secrets (tokens, session ids) are stored: SHA-256, hex.
/// A fast hash is right here: the secrets are random, not guessable like passwords.
pub fn storage_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Argon2id (the crate's default parameters: m=19 MiB, t=2, p=1). CPU-heavy: call from a blocking task.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let mut salt_bytes = [0u8; 16];
    rand::Rng::fill(&mut rand::rng(), &mut salt_bytes);
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| HashError(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Checks a password against a stored Argon2 hash. CPU-heavy: call from a blocking task.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash to verify against when the user does not exist, so that an unknown user name
/// takes as long to refuse as a wrong password.
pub fn dummy_password_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_password("not-a-real-password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_and_use_argon2id() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "garbage"));
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = new_access_token();
        let b = new_access_token();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 40);
        assert_eq!(storage_hash(&a).len(), 64);
    }
}

/// A short random reference (8 hex digits) that ties a message shown to a person to the log line
/// with the details.
pub fn short_reference() -> String {
    let mut bytes = [0u8; 4];
    rand::Rng::fill(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}
