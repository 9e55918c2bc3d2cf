//! The real OpenSSH client tools, as the SSH tests and the bench drive them: a key pair from
//! `ssh-keygen`, a server's host key from `ssh-keyscan`, and the `ssh` command line a careful user
//! runs (this key only, the host pinned and checked strictly, nothing from the machine's ssh
//! configuration or agent).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A new Ed25519 key pair at `path` (and `path.pub`) with `comment`; returns the public key line.
pub fn keygen(path: &Path, comment: &str) -> Result<String, String> {
    let out = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"]).arg(path).output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("ssh-keygen: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let public = std::fs::read_to_string(path.with_extension("pub")).map_err(|e| e.to_string())?;
    Ok(public.trim().to_string())
}

/// The known_hosts line of the Ed25519 host key the SSH server on 127.0.0.1:`port` presents,
/// waiting (at most 10 s) for it to answer.
pub fn keyscan(port: u16) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = Command::new("ssh-keyscan").args(["-p", &port.to_string(), "-t", "ed25519", "127.0.0.1"]).output().map_err(|e| e.to_string())?;
        if let Some(line) = String::from_utf8_lossy(&out.stdout).lines().find(|l| !l.starts_with('#') && !l.trim().is_empty()) {
            return Ok(line.to_string());
        }
        if Instant::now() > deadline {
            return Err(format!("no SSH server answered on port {port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Appends the Ed25519 host key of the SSH server on 127.0.0.1:`port` to `known_hosts`.
pub fn pin_host(port: u16, known_hosts: &Path) -> Result<(), String> {
    let line = keyscan(port)?;
    let mut all = std::fs::read_to_string(known_hosts).unwrap_or_default();
    all.push_str(&line);
    all.push('\n');
    std::fs::write(known_hosts, all).map_err(|e| e.to_string())
}

/// The `ssh` command line (for `GIT_SSH_COMMAND` or `core.sshCommand`) with this key only and
/// the hosts pinned in `known_hosts`, checked strictly.
pub fn ssh_command(key: &Path, known_hosts: &Path) -> String {
    format!(
        "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes",
        key.display(),
        known_hosts.display()
    )
}
