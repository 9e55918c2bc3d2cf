//! `gitblixt mirror push|fetch` from the command line: per-ref lines, summary, JSON, exit codes,
//! token from the environment only.

mod common;

use common::*;
use std::process::Command;

fn gitblixt(args: &[&str], token: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gitblixt"));
    cmd.args(args).env("RUST_LOG", "warn").env_remove("GITBLIXT_REMOTE_TOKEN");
    if let Some(t) = token {
        cmd.env("GITBLIXT_REMOTE_TOKEN", t);
    }
    cmd.output().unwrap()
}

#[test]
fn mirror_push_and_fetch_print_per_ref_results() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    git_ok(&work, &["init", "-q", "-b", "main"]);
    let head = commit_file(&work, "f", "1", "one");
    git_ok(tmp.path(), &["clone", "-q", "--mirror", work.to_str().unwrap(), "local.git"]);
    git_ok(tmp.path(), &["init", "-q", "--bare", "remote.git"]);
    let local = tmp.path().join("local.git");
    let remote_url = format!("file://{}", tmp.path().join("remote.git").display());

    let out = gitblixt(&["mirror", "push", local.to_str().unwrap(), &remote_url], None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("created refs/heads/main 0000000..{}", &head[..7])), "{stdout}");
    assert!(stdout.contains("1 changed, 0 unchanged, 0 rejected; 3 objects"), "{stdout}");

    let back = tmp.path().join("back.git");
    git_ok(tmp.path(), &["init", "-q", "--bare", "back.git"]);
    let out = gitblixt(&["mirror", "fetch", &remote_url, back.to_str().unwrap(), "--prune", "--json"], None);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["refs"][0]["name"], "refs/heads/main");
    assert_eq!(json["refs"][0]["outcome"], "created");
    assert_eq!(json["refs"][0]["new"], head.as_str());
    assert_eq!(refs_of(&back), refs_of(&local));

    // A failure exits non-zero with the classified error, and never shows the token.
    let out = gitblixt(&["mirror", "fetch", "file:///nonexistent/repo.git", back.to_str().unwrap(), "--json"], Some("secret-token-123"));
    assert!(!out.status.success());
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(all.contains("not_found"), "{all}");
    assert!(!all.contains("secret-token-123"));
    let out = gitblixt(&["mirror", "push", local.to_str().unwrap(), "http://example.com/o/r.git"], Some("secret-token-123"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid_url"));
}
