//! The SSH server's host key: an Ed25519 key generated at first start in the data directory
//! (mode 0600), or the file `GITBLIXT_SSH_HOST_KEY` names.

use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Where the generated key lives in the data directory.
pub const DEFAULT_FILE: &str = "ssh_host_ed25519_key";

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("the SSH host key {path} could not be read: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the SSH host key {path} is not an unencrypted OpenSSH private key: {reason}")]
    Invalid { path: String, reason: String },
    #[error("the SSH host key {path} could not be written: {source}")]
    Write { path: String, source: std::io::Error },
}

/// The configured key, or the data directory's (generated when missing).
pub fn load(configured: Option<&Path>, data_dir: &Path) -> Result<PrivateKey, HostKeyError> {
    match configured {
        Some(path) => read(path),
        None => {
            let path = data_dir.join(DEFAULT_FILE);
            if !path.exists() {
                generate(&path)?;
            }
            read(&path)
        }
    }
}

/// The key's fingerprint as `ssh-keygen -lf` prints it, with its type (`ED25519`).
pub fn fingerprint(key: &PrivateKey) -> (String, String) {
    let public = key.public_key();
    let kind = match public.algorithm().as_str() {
        "ssh-ed25519" => "ED25519".to_string(),
        "ssh-rsa" => "RSA".to_string(),
        other if other.starts_with("ecdsa-") => "ECDSA".to_string(),
        other => other.to_string(),
    };
    (kind, public.fingerprint(HashAlg::Sha256).to_string())
}

fn read(path: &Path) -> Result<PrivateKey, HostKeyError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| HostKeyError::Read { path: shown.clone(), source })?;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %shown, "the SSH host key can be read by other users of this machine: chmod 600 it");
    }
    let key = PrivateKey::from_openssh(&text).map_err(|e| HostKeyError::Invalid { path: shown.clone(), reason: e.to_string() })?;
    if key.is_encrypted() {
        return Err(HostKeyError::Invalid { path: shown, reason: "it is encrypted with a passphrase".into() });
    }
    Ok(key)
}

/// A new Ed25519 key at `path`, readable by this user only. Written to a scratch file first and
/// linked into place, so a crash or a second process starting at the same moment never leaves a
/// half-written key (the second keeps the first's).
fn generate(path: &Path) -> Result<(), HostKeyError> {
    let shown = path.display().to_string();
    let write_err = |source| HostKeyError::Write { path: shown.clone(), source };
    let mut seed = [0u8; 32];
    rand::Rng::fill(&mut rand::rng(), &mut seed);
    let key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    let pem = key.to_openssh(LineEnding::LF).map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
    app::ssr::files::create_private(path, pem.as_bytes()).map_err(write_err)?;
    tracing::info!(path = %shown, fingerprint = %fingerprint(&key).1, "generated the SSH host key");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_is_private_and_stays_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let first = load(None, dir.path()).unwrap();
        let file = dir.path().join(DEFAULT_FILE);
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
        let again = load(None, dir.path()).unwrap();
        assert_eq!(fingerprint(&first), fingerprint(&again));
        assert_eq!(fingerprint(&first).0, "ED25519");
        assert!(fingerprint(&first).1.starts_with("SHA256:"));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no scratch file is left");
    }

    #[test]
    fn a_configured_key_must_exist_and_be_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(Some(&dir.path().join("missing")), dir.path()), Err(HostKeyError::Read { .. })));
        let bad = dir.path().join("bad");
        std::fs::write(&bad, "ssh-ed25519 AAAA not a private key").unwrap();
        assert!(matches!(load(Some(&bad), dir.path()), Err(HostKeyError::Invalid { .. })));
        assert!(!dir.path().join(DEFAULT_FILE).exists(), "nothing generated when a key is configured");
    }
}
