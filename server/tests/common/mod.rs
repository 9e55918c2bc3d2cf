//! Test support: a GitBlixt server on port 0 with a temporary data directory, and the real `git`.
#![allow(dead_code)]

pub mod queue;

use app::names::{RepoName, UserName};
use app::ssr::accounts::{self, User};
use app::ssr::repos;
use gitblixt::Running;
use gitblixt::config::Config;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct TestServer {
    pub running: Running,
    pub data: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A server whose configuration `configure` adjusts first.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = Config::for_data_dir(data.path().to_path_buf());
        configure(&mut config);
        let running = gitblixt::start(config).await.expect("server starts");
        Self { running, data }
    }

    pub fn url(&self) -> String {
        self.running.url()
    }

    pub async fn user(&self, name: &str, password: &str) -> User {
        accounts::create_user(&self.running.state.db, &UserName::parse(name).unwrap(), password, false)
            .await
            .expect("user created")
    }

    pub async fn repo(&self, owner: &User, name: &str, private: bool) -> repos::FoundRepo {
        repos::create(&self.running.state.db, &self.running.state.store, owner, &RepoName::parse(name).unwrap(), "", private)
            .await
            .expect("repository created")
    }

    pub async fn token(&self, user: &User, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        accounts::create_token(&self.running.state.db, user.id, "test", &scopes, 30).await.expect("token").token
    }

    /// `http://user:secret@host/owner/repo.git`
    pub fn remote(&self, user: &str, secret: &str, path: &str) -> String {
        format!("http://{user}:{secret}@{}/{path}.git", self.running.addr)
    }

    pub fn anonymous_remote(&self, path: &str) -> String {
        format!("{}/{path}.git", self.url())
    }

    pub fn repo_path(&self, owner: &str, name: &str) -> PathBuf {
        self.running
            .state
            .store
            .path(&UserName::parse(owner).unwrap(), &RepoName::parse(name).unwrap())
    }
}

/// Runs the real `git` isolated from the machine's configuration, never prompting.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Committer")
        .env("GIT_COMMITTER_EMAIL", "committer@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .output()
        .expect("git runs")
}

/// Runs git and asserts success; returns stdout.
pub fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(
        out.status.success(),
        "git {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs git expecting failure; returns stderr.
pub fn git_err(dir: &Path, args: &[&str]) -> String {
    let out = git(dir, args);
    assert!(!out.status.success(), "git {args:?} unexpectedly succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `git for-each-ref` of heads and tags, with the object each ref points to and its type.
pub fn refs_of(git_dir: &Path) -> String {
    git_ok(
        git_dir,
        &["for-each-ref", "--format=%(objectname) %(objecttype) %(refname)", "refs/heads", "refs/tags"],
    )
}

pub fn rev(dir: &Path, rev: &str) -> String {
    git_ok(dir, &["rev-parse", rev]).trim().to_string()
}

/// A work tree with a history: merges, several branches, annotated and lightweight tags, and a
/// tag pointing at a tree and one at a blob.
pub fn rich_repository(dir: &Path) {
    git_ok(dir, &["init", "-q", "-b", "main"]);
    let commit = |msg: &str, file: &str| {
        std::fs::write(dir.join(file), format!("{msg}\n")).unwrap();
        git_ok(dir, &["add", "."]);
        git_ok(dir, &["commit", "-q", "-m", msg]);
    };
    commit("initial", "README");
    commit("second", "a.txt");
    git_ok(dir, &["checkout", "-q", "-b", "feature/x"]);
    commit("feature work", "feature.txt");
    commit("more feature work", "feature2.txt");
    git_ok(dir, &["checkout", "-q", "main"]);
    commit("main moves on", "b.txt");
    git_ok(dir, &["merge", "-q", "--no-ff", "-m", "merge feature", "feature/x"]);
    git_ok(dir, &["branch", "release-1.0", "HEAD~1"]);
    git_ok(dir, &["checkout", "-q", "--orphan", "gh-pages"]);
    git_ok(dir, &["rm", "-q", "-rf", "."]);
    commit("pages", "index.html");
    git_ok(dir, &["checkout", "-q", "main"]);
    git_ok(dir, &["tag", "light", "HEAD~1"]);
    git_ok(dir, &["tag", "-a", "v1.0", "-m", "release 1.0", "main"]);
    git_ok(dir, &["tag", "-a", "nested", "-m", "tag of a tag", "v1.0"]);
    let tree = rev(dir, "main^{tree}");
    git_ok(dir, &["tag", "-a", "tree-tag", "-m", "a tree", &tree]);
    let blob = rev(dir, "main:README");
    git_ok(dir, &["tag", "blob-tag", &blob]);
}

pub fn commit_file(dir: &Path, file: &str, content: &str, msg: &str) -> String {
    std::fs::write(dir.join(file), content).unwrap();
    git_ok(dir, &["add", "."]);
    git_ok(dir, &["commit", "-q", "-m", msg]);
    rev(dir, "HEAD")
}
