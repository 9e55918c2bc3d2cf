//! A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's `postgresql`, installed by `make test`),
//! in a temporary directory, stopped on drop: for the tests and the bench on PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_user: Option<&'static str>,
}

/// The newest installed PostgreSQL's programs.
fn pg_bin() -> Result<PathBuf, String> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "PostgreSQL is not installed (Debian package `postgresql`; `make test` installs it)".to_string())?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin".to_string())
}

fn run(as_user: Option<&str>, program: &Path, args: &[&str]) -> Result<(), String> {
    let out = match as_user {
        Some(user) => Command::new("runuser").arg("-u").arg(user).arg("--").arg(program).args(args).output(),
        None => Command::new(program).args(args).output(),
    }
    .map_err(|e| format!("running {}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(format!("{program:?} {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

impl Cluster {
    /// initdb and start; as the `postgres` account when running as root (PostgreSQL refuses root).
    pub fn start() -> Result<Self, String> {
        let bin = pg_bin()?;
        let is_root = uid_is_root();
        let as_user = is_root.then_some("postgres");
        let dir = tempfile::Builder::new().prefix("gitblixt-pg-").tempdir().map_err(|e| e.to_string())?;
        if is_root {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().map_err(|e| e.to_string())?;
            if !status.success() {
                return Err("chown of the cluster's directory failed".into());
            }
        }
        let data = dir.path().join("data");
        let data_s = data.to_str().ok_or("a non-UTF-8 temporary path")?.to_string();
        run(as_user, &bin.join("initdb"), &["-D", &data_s, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])?;
        let port = crate::free_port()?;
        // Checkpoints and autovacuum runs are logged, to tell a benchmark's pauses apart.
        let opts = format!(
            "-h 127.0.0.1 -p {port} -k {} -F -c max_connections=200 -c log_checkpoints=on -c log_autovacuum_min_duration=0",
            dir.path().display()
        );
        let log = dir.path().join("log").to_str().ok_or("a non-UTF-8 temporary path")?.to_string();
        run(as_user, &bin.join("pg_ctl"), &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"])?;
        Ok(Self { bin, dir, port, as_user })
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server's log (gone with the cluster).
    pub fn log(&self) -> std::path::PathBuf {
        self.dir.path().join("log")
    }
}

fn uid_is_root() -> bool {
    // SAFETY: getuid cannot fail and has no preconditions.
    unsafe { libc::getuid() == 0 }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        if let Err(e) = run(self.as_user, &self.bin.join("pg_ctl"), &["-D", &data.to_string_lossy(), "-m", "immediate", "-w", "stop"]) {
            tracing::warn!(error = %e, "stopping the PostgreSQL cluster failed");
        }
    }
}
