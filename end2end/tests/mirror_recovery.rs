//! A GitBlixt process killed in the middle of a sync loses nothing: the restarted server (SQLite:
//! the only process, so it releases the dead one's leases at start) runs the sync to completion
//! at once; a run killed after
//! it changed refs but before it recorded its end leaves what it replaced kept. Uses the real
//! `gitblixt` binary, killed with SIGKILL.

mod support;

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::mirrors::{self, Direction};
use github_double::github::{DoubleFault, GithubDouble};
use github_double::gitcli::ok;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use support::{gitblixt_bin, until};

fn serve(data: &std::path::Path, double: &GithubDouble, log: &str) -> Child {
    let log = std::fs::File::create(data.join(log)).unwrap();
    Command::new(gitblixt_bin())
        .arg("serve")
        .env("GITBLIXT_DATA", data)
        .env("GITBLIXT_ADDR", "127.0.0.1:0")
        .env("GITBLIXT_SSH_ADDR", "127.0.0.1:0")
        .env("GITHUB_URL", &double.web_url)
        .env("GITHUB_API_URL", &double.api_url)
        // A run may take 4 s, so a dead run's lease lasts 8 s.
        .env("GITBLIXT_SYNC_TIMEOUT", "4")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_killed_midway_is_completed_at_once_by_the_restarted_server() {
    let double = GithubDouble::start().await.unwrap();
    double.create_repo("octocat", "project", false);
    // This process only prepares and observes the database; the servers are child processes.
    let support::Prepared { data, st, alice, repo, .. } = support::prepare_for_binary(&double).await;
    let work = tempfile::tempdir().unwrap();
    ok(work.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(work.path().join("README"), "hello\n").unwrap();
    ok(work.path(), &["add", "-A"]);
    ok(work.path(), &["commit", "-q", "-m", "hello"]);
    ok(work.path(), &["tag", "v1"]);
    let local = st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("project").unwrap());
    ok(work.path(), &["push", "-q", local.to_str().unwrap(), "main", "--tags"]);

    // GitHub answers slowly, so the first server is surely mid-sync when it is killed.
    double.set_fault(DoubleFault { latency: Duration::from_secs(3), ..DoubleFault::default() });
    let mirror = mirrors::create(&st.db, repo.repo.id, alice.id, Direction::Push, &GithubRepo::parse("octocat/project").unwrap(), None, false).await.unwrap();
    let mut first = serve(data.path(), &double, "first.log");
    // Syncing: the lease taken and the run recorded (the first thing a run does; killing the
    // server between the two would test nothing more).
    until("the first server is syncing", || async {
        mirrors::get(&st.db, mirror).await.unwrap().unwrap().leased_by.is_some()
            && mirrors::recent_runs(&st.db, mirror, 1).await.unwrap().first().is_some_and(|r| r.outcome == "running")
    })
    .await;
    first.kill().unwrap();
    first.wait().unwrap();
    let dead = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    assert!(dead.leased_by.is_some() && dead.sync_requested_at.is_some(), "the killed run left its lease and request: {dead:?}");
    assert!(double.refs("octocat", "project").is_empty(), "nothing reached GitHub before the kill");
    let killed = mirrors::recent_runs(&st.db, mirror, 10).await.unwrap();
    assert_eq!(killed.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(), vec!["running"], "the run was recorded when it started");

    // A new server takes the work over at once (the dead process's lease is released at start), and completes it.
    double.set_fault(DoubleFault::default());
    let mut second = serve(data.path(), &double, "second.log");
    let local_refs = support::refs_of(&local);
    until("GitHub has every ref", || async { double.refs("octocat", "project") == local_refs }).await;
    until("the mirror is active", || async {
        let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
        m.status == "active" && m.leased_by.is_none() && m.sync_requested_at.is_none()
    })
    .await;
    second.kill().unwrap();
    second.wait().unwrap();
    let runs = mirrors::recent_runs(&st.db, mirror, 10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(), vec!["success", "interrupted"], "one completed run after the killed one");
    assert_eq!(runs[1].error.as_deref(), Some(mirrors::INTERRUPTED));
    assert!(runs[0].started_at < dead.leased_until.unwrap(), "the restarted server did not wait for the dead process's lease");
    let log = std::fs::read_to_string(data.path().join("second.log")).unwrap_or_default();
    assert!(log.contains("mirror synced"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_between_changing_refs_and_recording_them_leaves_the_keep() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let double = GithubDouble::start().await.unwrap();
    let (up, upstream) = support::github_repo_with_commit(&double, "octocat", "upstream", false);
    let support::Prepared { data, config, st, alice, repo } = support::prepare_for_binary(&double).await;
    let local = st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("project").unwrap());
    let mirror = mirrors::create(&st.db, repo.repo.id, alice.id, Direction::Pull, &GithubRepo::parse("octocat/upstream").unwrap(), Some(60), false).await.unwrap();
    let mut server = serve(data.path(), &double, "first.log");
    until("the first pull ran", || async { support::refs_of(&local) == support::refs_of(&upstream) }).await;
    until("the first run was recorded", || async { mirrors::get(&st.db, mirror).await.unwrap().unwrap().status == "active" }).await;
    let before = ok(&local, &["rev-parse", "main"]).trim().to_string();

    // GitHub rewrites main; the next run applies it (keeping GitBlixt's old main). The test holds
    // the database's write lock from the moment that run is recorded as started, so the run can
    // change refs but never record its end: it is killed right after changing them.
    ok(up.path(), &["commit", "-q", "--amend", "-m", "rewritten"]);
    ok(up.path(), &["push", "-q", "--force", upstream.to_str().unwrap(), "main"]);
    let rewritten = ok(up.path(), &["rev-parse", "main"]).trim().to_string();
    let mut blocker = diesel::sqlite::SqliteConnection::establish(&config.database_url).unwrap();
    mirrors::request_sync(&st.db, mirror, mirrors::Trigger::Manual).await.unwrap();
    until("the run started", || async { mirrors::recent_runs(&st.db, mirror, 1).await.unwrap()[0].outcome == "running" }).await;
    blocker.batch_execute("BEGIN IMMEDIATE").unwrap();
    until("the run changed main", || async { ok(&local, &["rev-parse", "main"]).trim() == rewritten }).await;
    server.kill().unwrap();
    server.wait().unwrap();
    blocker.batch_execute("ROLLBACK").unwrap();
    let run = mirrors::recent_runs(&st.db, mirror, 1).await.unwrap().remove(0);
    assert_eq!(run.outcome, "running", "the run never recorded its end");
    let kept = format!("refs/gitblixt/kept/{}/refs/heads/main", run.id);
    assert_eq!(ok(&local, &["rev-parse", &kept]).trim(), before, "GitBlixt's old main was kept before it was replaced");

    // Restarted, GitBlixt shows the run as interrupted with what it kept, restorable.
    let mut server = serve(data.path(), &double, "second.log");
    until("the cut-off run is marked interrupted", || async { mirrors::recent_runs(&st.db, mirror, 5).await.unwrap().iter().any(|r| r.id == run.id && r.outcome == "interrupted") }).await;
    let views = app::ssr::mirror_service::views(&st, repo.repo.id).await.unwrap();
    let shown = views.pull[0].runs.iter().find(|r| r.id == run.id).unwrap();
    assert_eq!(shown.kept.iter().map(|k| (k.name.as_str(), k.id.as_str())).collect::<Vec<_>>(), vec![("refs/heads/main", before.as_str())]);
    server.kill().unwrap();
    server.wait().unwrap();
}
