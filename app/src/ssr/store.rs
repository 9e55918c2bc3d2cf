//! The repository store on disk: `<data>/repos/<owner>/<name>.git`, bare repositories.
//!
//! Paths are only ever built from parsed names ([`UserName`], [`RepoName`]), so nothing
//! outside the store can be addressed.

use crate::names::{RepoName, UserName};
use std::path::{Path, PathBuf};
use std::process::Stdio;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("creating the repository on disk failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("`git init` failed: {0}")]
    Init(String),
    #[error("a directory for this repository already exists on disk: {0}")]
    AlreadyOnDisk(PathBuf),
}

/// The configuration every hosted repository has (written at creation, brought up to date at
/// start, and passed on every `git` and gix use): pushes kept as packs so mirrors can reuse their
/// deltas; GitBlixt's hidden refs (`refs/gitblixt/`: kept tips, mirrors' memory) never shown to
/// nor changed by git clients; every ref update logged, and reflogs never expired by gc — so no
/// commit that was a ref tip is ever pruned (DESIGN.md "Nothing lost"); no `gc` in a push (the
/// server's housekeeping runs it once the repository is quiet).
pub const HOSTED_CONFIG: [(&str, &str); 10] = [
    ("receive.unpackLimit", "1"),
    ("receive.autogc", "false"),
    ("transfer.unpackLimit", "1"),
    ("http.receivepack", "true"),
    ("uploadpack.hideRefs", "refs/gitblixt"),
    ("receive.hideRefs", "refs/gitblixt"),
    ("core.logAllRefUpdates", "always"),
    ("gc.reflogExpire", "never"),
    ("gc.reflogExpireUnreachable", "never"),
    ("gitblixt.configVersion", CONFIG_VERSION),
];

/// Bumped whenever [`HOSTED_CONFIG`] changes, so start-up brings older repositories up to date.
pub const CONFIG_VERSION: &str = "3";

/// `-c key=value` arguments with [`HOSTED_CONFIG`], for `git` commands on hosted repositories.
pub fn hosted_config_args() -> Vec<String> {
    HOSTED_CONFIG.iter().flat_map(|(k, v)| ["-c".to_string(), format!("{k}={v}")]).collect()
}

/// Opens a hosted repository with gix: isolated from the host's configuration, with
/// [`HOSTED_CONFIG`] (so its ref updates are logged whatever the repository's own config says).
pub fn open_hosted(path: &Path) -> Result<gix::Repository, gix::Error> {
    let overrides = HOSTED_CONFIG.iter().map(|(k, v)| format!("{k}={v}"));
    let mut repo = gix::open_opts(path, gix::open::Options::isolated().config_overrides(overrides))?;
    // Reflog entries need a committer; isolated repositories have none.
    if repo.committer_or_set_fallback("GitBlixt", "gitblixt@localhost").is_err() {
        tracing::debug!(path = %path.display(), "no fallback committer for reflogs");
    }
    Ok(repo)
}

/// Writes [`HOSTED_CONFIG`] into the repository's own config if it is older than
/// [`CONFIG_VERSION`] (so `git gc` run by an administrator keeps what GitBlixt keeps, too).
pub async fn upgrade_config(repo: &Path) -> Result<bool, StoreError> {
    let file = repo.join("config");
    let current = isolated_git().args(["config", "--file"]).arg(&file).args(["--get", "gitblixt.configVersion"]).stdin(Stdio::null()).output().await?;
    if String::from_utf8_lossy(&current.stdout).trim() == CONFIG_VERSION {
        return Ok(false);
    }
    write_config(&file).await?;
    Ok(true)
}

async fn write_config(file: &Path) -> Result<(), StoreError> {
    for (key, value) in HOSTED_CONFIG {
        let status = isolated_git().args(["config", "--file"]).arg(file).args([key, value]).stdin(Stdio::null()).status().await?;
        if !status.success() {
            return Err(StoreError::Init(format!("git config {key} failed")));
        }
    }
    Ok(())
}

/// The variables a `git` child keeps from the server's environment: where programs are and
/// where scratch files go. Everything else — `GITHUB_CLIENT_SECRET`, `GITBLIXT_SECRET_KEY`, a
/// database password in `DATABASE_URL`, `GIT_DIR` — stays out of git, its hooks and `gc`.
const GIT_ENV_KEPT: [&str; 4] = ["PATH", "TMPDIR", "GIT_EXEC_PATH", "LANG"];

/// `git` with a clean environment ([`GIT_ENV_KEPT`] only), shut off from the host's system and
/// global configuration, so hosted repositories behave the same on every machine and no secret
/// of the server reaches a git process.
pub fn isolated_git() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(git_program());
    cmd.env_clear();
    for name in GIT_ENV_KEPT {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    cmd.env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null");
    cmd
}

/// `git` by its absolute path on the server's PATH (looked up once). Named by a bare `git` with
/// the child's PATH set, std's `Command` cannot use `posix_spawn` (it would search the parent's
/// PATH) and forks instead: a copy of the server's page tables for every git process, which on
/// a burst of pushes cost more CPU than the git processes themselves. Not found: plain `git`,
/// which then fails to start with the usual error.
pub fn git_program() -> &'static std::ffi::OsStr {
    static GIT: std::sync::OnceLock<std::ffi::OsString> = std::sync::OnceLock::new();
    GIT.get_or_init(|| which::which("git").map(std::ffi::OsString::from).unwrap_or_else(|_| "git".into()))
}

#[derive(Debug, Clone)]
pub struct RepoStore {
    root: PathBuf,
    tmp: PathBuf,
}

impl RepoStore {
    /// The store under `data_dir`; creates its folders.
    pub fn open(data_dir: &Path) -> std::io::Result<Self> {
        let root = data_dir.join("repos");
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&tmp)?;
        Ok(Self { root, tmp })
    }

    /// Where a repository lives. Keys are lower-cased so that names differing only in case
    /// cannot be two folders.
    pub fn path(&self, owner: &UserName, name: &RepoName) -> PathBuf {
        self.root.join(owner.key()).join(format!("{}.git", name.key()))
    }

    /// Free space for unprivileged writers on the repositories' file system, in bytes.
    pub fn free_bytes(&self) -> std::io::Result<u64> {
        let stats = rustix::fs::statvfs(&self.root).map_err(std::io::Error::from)?;
        Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
    }

    /// A scratch folder on the same file system (for atomic renames and push reports).
    pub fn tmp_dir(&self) -> &Path {
        &self.tmp
    }

    /// Creates an empty bare repository in a scratch folder; [`Self::install`] moves it into place.
    pub async fn init_scratch(&self) -> Result<tempfile::TempDir, StoreError> {
        let dir = tempfile::Builder::new().prefix("init-").tempdir_in(&self.tmp)?;
        let out = isolated_git()
            .arg("init")
            .arg("--bare")
            .arg("--quiet")
            .arg("--initial-branch=main")
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .await?;
        if !out.status.success() {
            return Err(StoreError::Init(String::from_utf8_lossy(&out.stderr).trim().to_string()));
        }
        write_config(&dir.path().join("config")).await?;
        Ok(dir)
    }

    /// Moves a scratch repository to its final place. Fails if something is already there.
    pub fn install(&self, scratch: tempfile::TempDir, owner: &UserName, name: &RepoName) -> Result<PathBuf, StoreError> {
        let dest = self.path(owner, name);
        if dest.exists() {
            return Err(StoreError::AlreadyOnDisk(dest));
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let src = scratch.keep();
        if let Err(e) = std::fs::rename(&src, &dest) {
            let _ = std::fs::remove_dir_all(&src);
            return Err(e.into());
        }
        Ok(dest)
    }

    /// Every repository folder in the store (`<owner>/<name>.git`).
    pub fn all_paths(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for owner in std::fs::read_dir(&self.root)? {
            let owner = owner?.path();
            if !owner.is_dir() {
                continue;
            }
            for repo in std::fs::read_dir(&owner)? {
                let repo = repo?.path();
                if repo.extension().is_some_and(|e| e == "git") && repo.is_dir() {
                    out.push(repo);
                }
            }
        }
        Ok(out)
    }

    /// Brings every repository's config up to [`CONFIG_VERSION`]; returns how many changed.
    pub async fn upgrade_all(&self) -> Result<usize, StoreError> {
        let mut changed = 0;
        for path in self.all_paths()? {
            if upgrade_config(&path).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Removes a repository from disk (used to undo a creation whose database row failed).
    pub fn remove(&self, owner: &UserName, name: &RepoName) -> std::io::Result<()> {
        let path = self.path(owner, name);
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    /// Spawned by a bare name with its own PATH, git would be started by fork (see
    /// [`super::git_program`]); by its absolute path, std spawns it without copying the server.
    #[test]
    fn git_is_started_by_its_absolute_path() {
        let git = std::path::Path::new(super::git_program());
        assert!(git.is_absolute(), "{}", git.display());
        assert_eq!(git.file_name().and_then(|n| n.to_str()), Some("git"));
        assert_eq!(super::isolated_git().as_std().get_program(), git.as_os_str());
    }
}
