//! The `gitblixt` binary as a user starts it: from a fresh working directory, with no
//! `GITBLIXT_DATA` and no `DATABASE_URL` (the defaults, `./data`). Pushes with the real git client
//! must run the post-receive hook (default branch set, push mirrors triggered) exactly as with an
//! absolute data directory.

mod support;

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::accounts;
use app::ssr::github::connection::{self, Tokens};
use app::ssr::mirrors::{self, Direction};
use gitblixt::config::{Config, GithubConfig};
use github_double::github::GithubDouble;
use github_double::gitcli::ok;
use std::process::{Child, Command};
use support::{gitblixt_bin, until};

/// Starts `gitblixt serve` in `cwd` with only the web address and GitHub's URLs set (SSH on its
/// default address); returns the child, the URL it prints and where it serves SSH.
fn serve_with_defaults(cwd: &std::path::Path, double: &GithubDouble) -> (Child, String, Option<std::net::SocketAddr>) {
    let mut command = Command::new(gitblixt_bin());
    command
        .arg("serve")
        .current_dir(cwd)
        .env_remove("GITBLIXT_DATA")
        .env_remove("DATABASE_URL")
        .env_remove("GITBLIXT_SSH_ADDR")
        .env("RUST_LOG", "info");
    support::spawn_serve_with_ssh(command, double)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_relative_data_dir_runs_hooks_and_push_mirrors() {
    let double = GithubDouble::start().await.unwrap();
    double.create_repo("octocat", "project", false);
    let cwd = tempfile::tempdir().unwrap();
    let (mut server, url, ssh) = serve_with_defaults(cwd.path(), &double);
    assert_eq!(ssh, Some("127.0.0.1:2222".parse().unwrap()), "git over SSH on its default address");

    // The defaults put everything under ./data of the working directory.
    let data = cwd.path().join("data");
    assert!(data.join("gitblixt.db").exists(), "the SQLite database is in ./data");
    let mut config = Config::for_data_dir(data.clone());
    config.github = GithubConfig { web_url: double.web_url.clone(), api_url: double.api_url.clone(), oauth_app: None };
    let st = gitblixt::open_state(&config, url.clone()).await.unwrap();
    let alice = accounts::create_user(&st.db, &UserName::parse("alice").unwrap(), "alice-password-1", false).await.unwrap();
    let repo = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("project").unwrap(), "", false).await.unwrap();
    let bare = st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("project").unwrap());
    assert!(bare.starts_with(&data), "{} is under ./data", bare.display());

    // First push of a branch that is not `main`: the hook points HEAD at it.
    let work = tempfile::tempdir().unwrap();
    ok(work.path(), &["init", "-q", "-b", "trunk"]);
    ok(work.path(), &["-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "--allow-empty", "-m", "one"]);
    let remote = format!("{}/alice/project.git", url.replacen("http://", "http://alice:alice-password-1@", 1));
    ok(work.path(), &["remote", "add", "origin", &remote]);
    ok(work.path(), &["push", "-q", "origin", "trunk"]);
    until("HEAD names the first pushed branch", || async { ok(&bare, &["symbolic-ref", "HEAD"]).trim() == "refs/heads/trunk" }).await;

    // A push mirror; once its first sync is done, only the hook can bring the next push to GitHub.
    let tokens = Tokens { access: double.issue_token("octocat", &["repo"]).into(), refresh: None, scopes: vec!["repo".into()], expires_at: None, refresh_expires_at: None };
    connection::store(&st.db, &st.cipher, alice.id, "octocat", 1, &tokens).await.unwrap();
    let mirror = mirrors::create(&st.db, repo.repo.id, alice.id, Direction::Push, &GithubRepo::parse("octocat/project").unwrap(), None, false).await.unwrap();
    until("the first sync is done", || async {
        let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
        m.status == "active" && m.sync_requested_at.is_none() && m.leased_by.is_none()
    })
    .await;
    ok(work.path(), &["-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "--allow-empty", "-m", "two"]);
    ok(work.path(), &["push", "-q", "origin", "trunk"]);
    let pushed = ok(work.path(), &["rev-parse", "HEAD"]).trim().to_string();
    until("GitHub has the pushed commit", || async { double.refs("octocat", "project").get("refs/heads/trunk") == Some(&pushed) }).await;

    // Over SSH too: the host key was generated in ./data, readable by this user only; a key
    // added with `gitblixt admin add-ssh-key` from the same directory pushes, and the push
    // mirror follows.
    use std::os::unix::fs::PermissionsExt;
    let host_key = data.join("ssh_host_ed25519_key");
    assert_eq!(std::fs::metadata(&host_key).unwrap().permissions().mode() & 0o777, 0o600);
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("id");
    github_double::sshcli::keygen(&key, "laptop").unwrap();
    let mut admin = Command::new(gitblixt_bin())
        .args(["admin", "add-ssh-key", "alice", "--title", "laptop"])
        .current_dir(cwd.path())
        .env_remove("GITBLIXT_DATA")
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    admin.stdin.take().unwrap().write_all(&std::fs::read(key.with_extension("pub")).unwrap()).unwrap();
    let added = admin.wait_with_output().unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stdout));
    let known_hosts = keys.path().join("known_hosts");
    let public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap_or_default();
    github_double::sshcli::pin_host(2222, &known_hosts).unwrap();
    assert!(public.is_empty(), "only the private key file is written");
    let ssh = github_double::sshcli::ssh_command(&key, &known_hosts);
    ok(work.path(), &["-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-q", "--allow-empty", "-m", "three"]);
    let pushed = ok(work.path(), &["rev-parse", "HEAD"]).trim().to_string();
    let push = Command::new("git")
        .args(["push", "-q", "ssh://git@127.0.0.1:2222/alice/project.git", "trunk"])
        .current_dir(work.path())
        .env("GIT_SSH_COMMAND", &ssh)
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", String::from_utf8_lossy(&push.stderr));
    until("GitHub has the commit pushed over SSH", || async { double.refs("octocat", "project").get("refs/heads/trunk") == Some(&pushed) }).await;

    server.kill().unwrap();
    server.wait().unwrap();
}
