//! The reference server the benchmarks (and later the GitHub double) stand on: the real `git`
//! pushes to and clones from `git http-backend` behind it.

use github_double::gitcli::{git, ok};
use github_double::http_backend::HttpBackend;
use std::path::Path;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_pushes_to_and_clones_from_http_backend() {
    let root = tempfile::tempdir().unwrap();
    ok(root.path(), &["init", "-q", "--bare", "r.git"]);
    let backend = HttpBackend::start(root.path().to_path_buf(), github_double::http_backend::Auth::AnyCredentials).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    ok(work.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(work.path().join("f"), "x").unwrap();
    ok(work.path(), &["add", "."]);
    ok(work.path(), &["commit", "-q", "-m", "one"]);
    ok(work.path(), &["tag", "-a", "v1", "-m", "v1"]);

    // Without credentials the push is challenged; with them it lands.
    let anonymous = git(work.path(), &["push", &backend.url("r.git"), "main"]);
    assert!(!anonymous.status.success());
    let authed = format!("http://u:p@{}/r.git", backend.addr);
    ok(work.path(), &["push", "-q", &authed, "main", "v1"]);
    ok(work.path(), &["clone", "-q", "--mirror", &authed, "c.git"]);
    let refs = |d: &Path| ok(d, &["for-each-ref", "--format=%(objectname) %(refname)"]);
    assert_eq!(refs(&work.path().join("c.git")), refs(work.path()));
    let missing = git(work.path(), &["clone", &format!("http://u:p@{}/missing.git", backend.addr), "m"]);
    assert!(!missing.status.success());
}
