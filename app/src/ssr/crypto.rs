//! Encryption of secrets at rest (OAuth access and refresh tokens, PKCE verifiers): AES-256-GCM
//! with a random 96-bit nonce per value, and a version prefix so the scheme can change later.
//!
//! Stored form: `v1:` + base64(nonce ‖ ciphertext ‖ tag). The associated data binds a ciphertext
//! to where it belongs (e.g. `github_connections.access_token:42`), so a value copied into
//! another row or column fails to decrypt.
//!
//! The key comes from `GITBLIXT_SECRET_KEY` (32 bytes, base64 or hex), else from the key file
//! `<data>/secret.key`, created with mode 0600 on first start.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use std::path::Path;

const VERSION: &str = "v1:";
const NONCE_LEN: usize = 12;
pub const KEY_FILE: &str = "secret.key";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "GITBLIXT_SECRET_KEY must be 32 bytes written as base64 (44 characters) or hex (64 characters); generate one with `openssl rand -base64 32`"
    )]
    BadKey,
    #[error("the key file {path} is not a valid key (32 bytes, base64): remove it only if no secrets were stored with it")]
    BadKeyFile { path: String },
    #[error("could not read or create the key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("a stored secret could not be decrypted (wrong key, or the value was altered)")]
    Decrypt,
    #[error("encryption failed")]
    Encrypt,
}

/// The instance's secret-encryption key. Debug never shows it.
#[derive(Clone)]
pub struct Cipher {
    key: std::sync::Arc<SecretBox<[u8; 32]>>,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

fn decode_key(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        hex::decode(text).ok()?
    } else {
        STANDARD.decode(text).ok()?
    };
    bytes.try_into().ok()
}

impl Cipher {
    pub fn from_key(key: [u8; 32]) -> Self {
        Cipher { key: std::sync::Arc::new(SecretBox::new(Box::new(key))) }
    }

    /// The key from `GITBLIXT_SECRET_KEY`'s value if given, else from (or into) `<data_dir>/secret.key`.
    pub fn load(env_key: Option<&SecretString>, data_dir: &Path) -> Result<Self, CryptoError> {
        if let Some(key) = env_key {
            return decode_key(key.expose_secret()).map(Self::from_key).ok_or(CryptoError::BadKey);
        }
        let path = data_dir.join(KEY_FILE);
        let shown = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => decode_key(&text).map(Self::from_key).ok_or(CryptoError::BadKeyFile { path: shown }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                rand::rng().fill_bytes(&mut key);
                write_key_file(&path, &key).map_err(|source| CryptoError::KeyFile { path: shown.clone(), source })?;
                // Another process may have won the race: use what is on disk.
                let text = std::fs::read_to_string(&path).map_err(|source| CryptoError::KeyFile { path: shown.clone(), source })?;
                decode_key(&text).map(Self::from_key).ok_or(CryptoError::BadKeyFile { path: shown })
            }
            Err(source) => Err(CryptoError::KeyFile { path: shown, source }),
        }
    }

    /// Encrypts `plaintext` for the place `context` names.
    pub fn encrypt(&self, plaintext: &str, context: &str) -> Result<String, CryptoError> {
        let cipher = Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(self.key.expose_secret()));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() })
            .map_err(|_| CryptoError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", STANDARD.encode(out)))
    }

    /// Decrypts a value made by [`Self::encrypt`] for the same `context`.
    pub fn decrypt(&self, stored: &str, context: &str) -> Result<SecretString, CryptoError> {
        let data = stored.strip_prefix(VERSION).ok_or(CryptoError::Decrypt)?;
        let data = STANDARD.decode(data).map_err(|_| CryptoError::Decrypt)?;
        if data.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let cipher = Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(self.key.expose_secret()));
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: context.as_bytes() })
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(unix)]
fn write_key_file(path: &Path, key: &[u8; 32]) -> std::io::Result<()> {
    super::files::create_private(path, format!("{}\n", STANDARD.encode(key)).as_bytes())
}

#[cfg(not(unix))]
fn write_key_file(path: &Path, key: &[u8; 32]) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(path, STANDARD.encode(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_context_and_detects_tampering() {
        let c = Cipher::from_key([7; 32]);
        let stored = c.encrypt("gho_secret", "t:1").unwrap();
        assert!(stored.starts_with("v1:") && !stored.contains("gho_secret"));
        assert_ne!(stored, c.encrypt("gho_secret", "t:1").unwrap(), "random nonce");
        assert_eq!(c.decrypt(&stored, "t:1").unwrap().expose_secret(), "gho_secret");
        assert!(c.decrypt(&stored, "t:2").is_err(), "other row");
        let mut raw = STANDARD.decode(&stored[3..]).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert!(c.decrypt(&format!("v1:{}", STANDARD.encode(raw)), "t:1").is_err(), "tampered");
        assert!(Cipher::from_key([8; 32]).decrypt(&stored, "t:1").is_err(), "other key");
        assert!(c.decrypt("gho_secret", "t:1").is_err(), "plaintext is not accepted");
    }

    #[test]
    fn key_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Cipher::load(None, dir.path()).unwrap();
        let stored = a.encrypt("x", "c").unwrap();
        let b = Cipher::load(None, dir.path()).unwrap();
        assert_eq!(b.decrypt(&stored, "c").unwrap().expose_secret(), "x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(KEY_FILE), "short").unwrap();
        assert!(matches!(Cipher::load(None, dir.path()), Err(CryptoError::BadKeyFile { .. })));
    }

    /// Instances starting at once on a fresh shared data directory all end up with the one key
    /// on disk; none reads a key file another is still writing.
    #[test]
    fn instances_starting_together_share_one_key() {
        for _ in 0..50 {
            let dir = tempfile::tempdir().unwrap();
            let barrier = std::sync::Barrier::new(6);
            let ciphers: Vec<Cipher> = std::thread::scope(|scope| {
                let starts: Vec<_> = (0..6)
                    .map(|_| {
                        scope.spawn(|| {
                            barrier.wait();
                            Cipher::load(None, dir.path())
                        })
                    })
                    .collect();
                starts.into_iter().map(|s| s.join().unwrap().expect("every start loads the key")).collect()
            });
            let stored = ciphers[0].encrypt("x", "c").unwrap();
            for c in &ciphers {
                assert_eq!(c.decrypt(&stored, "c").unwrap().expose_secret(), "x", "one key for all");
            }
            let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(files, vec![std::ffi::OsString::from(KEY_FILE)], "no temporary file stays behind");
        }
    }

    #[test]
    fn env_key_formats() {
        let dir = tempfile::tempdir().unwrap();
        let b64 = SecretString::from(STANDARD.encode([1u8; 32]));
        let hex = SecretString::from("01".repeat(32));
        let a = Cipher::load(Some(&b64), dir.path()).unwrap();
        let b = Cipher::load(Some(&hex), dir.path()).unwrap();
        assert_eq!(b.decrypt(&a.encrypt("x", "c").unwrap(), "c").unwrap().expose_secret(), "x");
        assert!(matches!(Cipher::load(Some(&SecretString::from("nope".to_string())), dir.path()), Err(CryptoError::BadKey)));
        assert!(!dir.path().join(KEY_FILE).exists(), "no key file when the key is configured");
    }
}
