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

/// `git`, shut off from the host's system and global configuration (and any inherited `GIT_DIR`),
/// so hosted repositories behave the same on every machine.
pub fn isolated_git() -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new("git");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").env_remove("GIT_DIR");
    cmd
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
        // Pushes are kept as packs (never exploded into loose objects) so that mirrors can
        // reuse their deltas; the web server's own hooks are used, not the repository's.
        for (key, value) in [("receive.unpackLimit", "1"), ("transfer.unpackLimit", "1"), ("http.receivepack", "true")]
        {
            let status = isolated_git()
                .args(["config", "--file"])
                .arg(dir.path().join("config"))
                .args([key, value])
                .stdin(Stdio::null())
                .status()
                .await?;
            if !status.success() {
                return Err(StoreError::Init(format!("git config {key} failed")));
            }
        }
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

    /// Removes a repository from disk (used to undo a creation whose database row failed).
    pub fn remove(&self, owner: &UserName, name: &RepoName) -> std::io::Result<()> {
        let path = self.path(owner, name);
        match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }
}
