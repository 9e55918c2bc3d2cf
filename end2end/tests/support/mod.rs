//! Shared by the mirroring tests: GitBlixt started in this process against the GitHub double,
//! with alice, her repository `alice/project`, her GitHub connection (a token of octocat) and a
//! push mirror to `octocat/project`; waiting helpers with bounded timeouts; signed-in HTTP clients.

#![allow(dead_code)]

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::accounts;
use app::ssr::github::connection::{self, Tokens};
use app::ssr::mirrors::{self, Direction};
use gitblixt::config::{Config, GithubConfig};
use github_double::github::GithubDouble;
use github_double::gitcli::ok;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct Setup {
    pub data: tempfile::TempDir,
    pub double: GithubDouble,
    pub server: gitblixt::Running,
    pub work: tempfile::TempDir,
    /// alice's GitHub token (octocat's)
    pub token: String,
}

pub const PASSWORD: &str = "alice-password-1";

impl Setup {
    /// GitBlixt with `alice/project` whose push mirror points at `octocat/project` on the double,
    /// alice's GitHub connection holding a token of octocat.
    pub async fn start() -> (Self, i64) {
        Self::start_with(|_| {}).await
    }

    /// Like [`Setup::start`], with the configuration adjusted first (the scheduler looks at the
    /// queue every 200 ms unless changed).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> (Self, i64) {
        // The server's logs, when asked for (RUST_LOG=…, with --nocapture).
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
        }
        let double = GithubDouble::start().await.unwrap();
        double.create_repo("octocat", "project", false);
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(data.path().to_path_buf());
        config.github = GithubConfig { web_url: double.web_url.clone(), api_url: double.api_url.clone(), oauth_app: None };
        config.sync.poll = Duration::from_millis(200);
        adjust(&mut config);
        let server = gitblixt::start(config).await.unwrap();
        let st = server.state.clone();
        let alice = accounts::create_user(&st.db, &UserName::parse("alice").unwrap(), PASSWORD, false).await.unwrap();
        let repo = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("project").unwrap(), "", false).await.unwrap();
        let token = double.issue_token("octocat", &["repo"]);
        let tokens = Tokens { access: token.clone().into(), refresh: None, scopes: vec!["repo".into()], expires_at: None, refresh_expires_at: None };
        connection::store(&st.db, &st.cipher, alice.id, "octocat", 1, &tokens).await.unwrap();

        let work = tempfile::tempdir().unwrap();
        ok(work.path(), &["init", "-q", "-b", "main"]);
        let setup = Setup { data, double, server, work, token };
        setup.commit("README", "hello\n");
        setup.push(&["push", "-q", "origin", "main"]);
        let remote = GithubRepo::parse("octocat/project").unwrap();
        let mirror = mirrors::create(&st.db, repo.repo.id, alice.id, Direction::Push, &remote, None, false).await.unwrap();
        (setup, mirror)
    }

    pub fn work(&self) -> &Path {
        self.work.path()
    }

    pub fn commit(&self, file: &str, content: &str) -> String {
        std::fs::write(self.work().join(file), content).unwrap();
        ok(self.work(), &["add", "-A"]);
        ok(self.work(), &["commit", "-q", "-m", file]);
        ok(self.work(), &["rev-parse", "HEAD"]).trim().to_string()
    }

    pub fn push(&self, args: &[&str]) {
        let url = format!("http://alice:{PASSWORD}@{}/alice/project.git", self.server.addr);
        if !ok(self.work(), &["remote"]).contains("origin") {
            ok(self.work(), &["remote", "add", "origin", &url]);
        }
        ok(self.work(), args);
    }

    pub fn gitblixt_refs(&self) -> std::collections::BTreeMap<String, String> {
        refs_of(&self.server.state.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("project").unwrap()))
    }

    /// Waits (bounded) until GitHub's refs equal GitBlixt's.
    pub async fn wait_in_sync(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ours = self.gitblixt_refs();
            let theirs = self.double.refs("octocat", "project");
            if ours == theirs {
                return;
            }
            assert!(Instant::now() < deadline, "GitHub never caught up:\nGitBlixt {ours:?}\nGitHub {theirs:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the queue has settled (no request pending, no lease held) in `status`.
    pub async fn wait_settled(&self, mirror: i64, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = mirrors::get(&self.server.state.db, mirror).await.unwrap().unwrap();
            if m.sync_requested_at.is_none() && m.leased_by.is_none() && m.status == status {
                return;
            }
            assert!(Instant::now() < deadline, "the mirror never settled in {status}: {m:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the mirror is in error with exactly `expected`.
    pub async fn expect_error(&self, mirror: i64, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = mirrors::get(&self.server.state.db, mirror).await.unwrap().unwrap();
            if m.status == "error" && m.last_error.as_deref() == Some(expected) {
                return;
            }
            assert!(Instant::now() < deadline, "the mirror never showed {expected:?}: {m:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}


/// The `gitblixt` binary: `GITBLIXT_BIN`, else the one cargo built next to this test.
pub fn gitblixt_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("GITBLIXT_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|deps| deps.parent()).unwrap().join("gitblixt");
    assert!(bin.exists(), "{} is missing: build it with `cargo build -p gitblixt` (make cargo-test does)", bin.display());
    bin
}

/// Starts `command` (a `gitblixt serve` with its environment set) with GitHub at `double` and an
/// address the system picks; returns the child and the URL it prints it is running at.
pub fn spawn_serve(command: std::process::Command, double: &GithubDouble) -> (std::process::Child, String) {
    let (child, url, _) = spawn_serve_with_ssh(command, double);
    (child, url)
}

/// Like [`spawn_serve`], also returning where it serves git over SSH. SSH listens on a port the
/// system picks unless the command sets (or removes) `GITBLIXT_SSH_ADDR` itself.
pub fn spawn_serve_with_ssh(mut command: std::process::Command, double: &GithubDouble) -> (std::process::Child, String, Option<std::net::SocketAddr>) {
    use std::process::Stdio;
    if !command.get_envs().any(|(k, _)| k == "GITBLIXT_SSH_ADDR") {
        command.env("GITBLIXT_SSH_ADDR", "127.0.0.1:0");
    }
    let mut child = command
        .env("GITBLIXT_ADDR", "127.0.0.1:0")
        .env("GITHUB_URL", &double.web_url)
        .env("GITHUB_API_URL", &double.api_url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (url, ssh) = running_addresses(&mut child);
    (child, url, ssh)
}

/// The URL a `gitblixt serve` child (stderr piped) prints it is running at; the rest of its log is
/// drained so the server never blocks on a full pipe.
pub fn running_url(child: &mut std::process::Child) -> String {
    running_addresses(child).0
}

/// The URL a `gitblixt serve` child prints it is running at, and the SSH address it prints
/// before that (if it serves SSH).
pub fn running_addresses(child: &mut std::process::Child) -> (String, Option<std::net::SocketAddr>) {
    use std::io::{BufRead, BufReader};
    let mut lines = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
    let mut ssh = None;
    let url = loop {
        let line = lines.next().expect("gitblixt exited before it was running").unwrap();
        if let Some(addr) = line.strip_prefix("GitBlixt serves git over SSH at ") {
            ssh = Some(addr.trim().parse().unwrap());
        }
        if let Some(url) = line.strip_prefix("GitBlixt is running at ") {
            break url.trim().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (url, ssh)
}

/// A data directory prepared for the real binary: alice (password `alice-password-1`), her
/// repository `alice/project` and her GitHub connection (a token of octocat on `double`).
pub struct Prepared {
    pub data: tempfile::TempDir,
    pub config: Config,
    /// This process's view of the same database and repositories.
    pub st: app::ssr::AppState,
    pub alice: accounts::User,
    pub repo: app::ssr::repos::FoundRepo,
}

pub async fn prepare_for_binary(double: &GithubDouble) -> Prepared {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::for_data_dir(data.path().to_path_buf());
    config.github = GithubConfig { web_url: double.web_url.clone(), api_url: double.api_url.clone(), oauth_app: None };
    let st = gitblixt::open_state(&config, "http://127.0.0.1".into()).await.unwrap();
    let alice = accounts::create_user(&st.db, &UserName::parse("alice").unwrap(), PASSWORD, false).await.unwrap();
    let repo = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("project").unwrap(), "", false).await.unwrap();
    let tokens = Tokens { access: double.issue_token("octocat", &["repo"]).into(), refresh: None, scopes: vec!["repo".into()], expires_at: None, refresh_expires_at: None };
    connection::store(&st.db, &st.cipher, alice.id, "octocat", 1, &tokens).await.unwrap();
    Prepared { data, config, st, alice, repo }
}

/// Waits (bounded, 30 s) until `check` holds, polling every 20 ms.
pub async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// heads and tags of a bare repository, `name -> id`
pub fn refs_of(path: &Path) -> std::collections::BTreeMap<String, String> {
    ok(path, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"])
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(r, id)| (r.to_string(), id.to_string()))
        .collect()
}

/// A repository on the double filled from a fresh local clone: returns (work tree, bare path).
pub fn github_repo_with_commit(double: &GithubDouble, owner: &str, name: &str, private: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let bare = double.create_repo(owner, name, private);
    let up = tempfile::tempdir().unwrap();
    ok(up.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(up.path().join("a.txt"), "a\n").unwrap();
    ok(up.path(), &["add", "-A"]);
    ok(up.path(), &["commit", "-q", "-m", "a"]);
    ok(up.path(), &["tag", "-a", "v1", "-m", "v1"]);
    ok(up.path(), &["push", "-q", bare.to_str().unwrap(), "main", "--tags"]);
    (up, bare)
}

/// An HTTP client for GitBlixt's server functions, signed in (cookie) or not.
pub struct Browser {
    pub base: String,
    pub cookie: Option<String>,
    client: reqwest::Client,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { base: base.to_string(), cookie: None, client }
    }

    /// Signs up `name` (password `<name>-password-1`) and keeps the session cookie.
    pub async fn sign_up(base: &str, name: &str) -> Self {
        let mut b = Browser::new(base);
        let password = format!("{name}-password-1");
        let res = b.post("/api/sign_up", &[("username", name), ("password", &password)]).await;
        assert!(res.status().is_success() || res.status().is_redirection(), "sign up {name}: {}", res.status());
        b.cookie = Some(res.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string());
        b
    }

    /// Signs in `name` with `password`.
    pub async fn sign_in(base: &str, name: &str, password: &str) -> Self {
        let mut b = Browser::new(base);
        let res = b.post("/api/sign_in", &[("username", name), ("password", password)]).await;
        b.cookie = Some(res.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string());
        b
    }

    /// POSTs a form to a server function (with this host as `Origin`, as a browser would).
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut req = self.client.post(format!("{}{path}", self.base)).header("Origin", &self.base).form(form);
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        req.send().await.unwrap()
    }

    /// The server function's error message (its JSON error body), or panics if it succeeded.
    pub async fn post_err(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let res = self.post(path, form).await;
        let status = res.status().as_u16();
        assert!(status >= 400, "{path} succeeded but should not have");
        (status, res.text().await.unwrap())
    }
}
