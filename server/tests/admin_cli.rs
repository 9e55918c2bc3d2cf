//! `gitblixt admin …`: operators create users, repositories and tokens without a browser.

mod common;

use common::*;
use std::io::Write;
use std::process::{Command, Stdio};

fn gitblixt(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_gitblixt"))
        .args(args)
        .env("GITBLIXT_DATA", data)
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gitblixt runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    assert!(o.status.success(), "failed: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_creates_user_repository_and_token_then_pushes_with_it() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path();
    assert_eq!(stdout(&gitblixt(d, &["admin", "create-user", "root", "--admin"], Some("root-password\n"))), "created user root (admin)");
    assert_eq!(stdout(&gitblixt(d, &["admin", "create-user", "dev"], Some("dev-password\n"))), "created user dev");
    let made = stdout(&gitblixt(d, &["admin", "create-repo", "dev/tool", "--private", "--description", "A tool"], None));
    assert!(made.starts_with("created repository dev/tool (private)"), "{made}");
    let token = stdout(&gitblixt(
        d,
        &["admin", "create-token", "dev", "--name", "ci", "--scopes", "read_repository,write_repository", "--expires-days", "30"],
        None,
    ));
    assert!(token.starts_with("gbpat_"), "{token}");

    // Refusals say why and change nothing.
    let dup = gitblixt(d, &["admin", "create-user", "DEV"], Some("another-password\n"));
    assert!(!dup.status.success());
    assert!(String::from_utf8_lossy(&dup.stderr).contains("The username 'DEV' is already taken."));
    let no_pw = gitblixt(d, &["admin", "create-user", "x"], Some(""));
    assert!(String::from_utf8_lossy(&no_pw.stderr).contains("No password given"));
    let bad = gitblixt(d, &["admin", "create-repo", "nobody/x"], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("No such user: 'nobody'."));
    let bad = gitblixt(d, &["admin", "create-token", "dev", "--name", "t", "--scopes", "root", "--expires-days", "30"], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Unknown scope 'root'"));
    let bad = gitblixt(d, &["admin", "create-token", "dev", "--name", "t", "--scopes", "api", "--expires-days", "400"], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Expiry must be between 1 and 365 days."));

    // The server started on the same data directory accepts the token for a push.
    let mut config = gitblixt::config::Config::for_data_dir(d.to_path_buf());
    config.addr = "127.0.0.1:0".parse().unwrap();
    let running = gitblixt::start(config).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    git_ok(work.path(), &["init", "-q", "-b", "main"]);
    let head = commit_file(work.path(), "f", "x", "one");
    let remote = format!("http://oauth2:{token}@{}/dev/tool.git", running.addr);
    git_ok(work.path(), &["push", "-q", &remote, "main"]);
    git_ok(work.path(), &["clone", "-q", &remote, "back"]);
    assert_eq!(rev(&work.path().join("back"), "HEAD"), head);
    running.stop().await.unwrap();
}
