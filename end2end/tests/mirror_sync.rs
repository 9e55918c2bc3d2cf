//! The sync service end to end, against the GitHub double and the real `git` client: a push
//! mirror's initial sync, every push to GitBlixt reaching GitHub, bursts coalescing, and the
//! spec's error messages on the mirror.

mod support;

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::accounts;
use app::ssr::github::connection;
use app::ssr::mirrors::{self, Direction};
use github_double::github::{DoubleFault, Permission};
use github_double::gitcli::ok;
use std::time::Duration;
use support::{Setup, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_gitblixt_reach_github() {
    let (s, mirror) = Setup::start().await;
    // The initial sync, queued at creation.
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;

    // New branch, tags, force push, deletions — each push is replayed.
    ok(s.work(), &["checkout", "-q", "-b", "topic"]);
    s.commit("topic.txt", "topic\n");
    ok(s.work(), &["tag", "-a", "v1", "-m", "v1"]);
    ok(s.work(), &["tag", "light"]);
    s.push(&["push", "-q", "origin", "topic", "--tags"]);
    s.wait_in_sync().await;
    ok(s.work(), &["commit", "-q", "--amend", "-m", "rewritten"]);
    s.push(&["push", "-q", "--force", "origin", "topic"]);
    s.wait_in_sync().await;
    s.push(&["push", "-q", "origin", "--delete", "topic", "light"]);
    s.wait_in_sync().await;
    assert!(!s.double.refs("octocat", "project").contains_key("refs/heads/topic"));

    // A burst of pushes while GitHub is slow (each run takes seconds) coalesces into a few runs,
    // and the final state matches.
    s.double.set_fault(DoubleFault { latency: Duration::from_secs(1), ..DoubleFault::default() });
    ok(s.work(), &["checkout", "-q", "main"]);
    let runs_before = mirrors::count_runs(&s.server.state.db, mirror).await.unwrap();
    for i in 0..15 {
        s.commit("burst.txt", &format!("{i}\n"));
        s.push(&["push", "-q", "origin", "main"]);
    }
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let runs = mirrors::count_runs(&s.server.state.db, mirror).await.unwrap() - runs_before;
    assert!((1..=8).contains(&runs), "{runs} runs for 15 pushes");
    s.double.set_fault(DoubleFault::default());
    s.wait_in_sync().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_use_the_spec_messages_and_a_later_push_recovers() {
    let (s, mirror) = Setup::start().await;
    s.wait_in_sync().await;

    // The mirror's GitHub account loses push access.
    s.double.add_user("hubot");
    s.double.create_repo("hubot", "project", false);
    s.double.set_permission("hubot", "project", "octocat", Some(Permission::Pull));
    {
        let st = &s.server.state;
        let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
        let remote = GithubRepo::parse("hubot/project").unwrap();
        let other = mirrors::create(&st.db, m.repository_id, m.user_id, Direction::Push, &remote, None, false).await.unwrap();
        s.expect_error(other, "Permission denied (403): ensure your GitHub account has push access to hubot/project.").await;
    }

    // The remote repository is deleted.
    s.double.delete_repo("octocat", "project");
    s.commit("a.txt", "a\n");
    s.push(&["push", "-q", "origin", "main"]);
    s.expect_error(
        mirror,
        "Repository not found (404): verify that octocat/project is the correct owner/repo and that the repository exists on GitHub.",
    )
    .await;

    // It comes back: the next push retries and succeeds.
    s.double.create_repo("octocat", "project", false);
    s.commit("b.txt", "b\n");
    s.push(&["push", "-q", "origin", "main"]);
    s.wait_in_sync().await;

    // The account is disconnected.
    let st = &s.server.state;
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    connection::remove(&st.db, m.user_id).await.unwrap();
    s.commit("c.txt", "c\n");
    s.push(&["push", "-q", "origin", "main"]);
    s.expect_error(mirror, "No github OAuth token found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_sees_and_changes_mirrors() {
    let (s, mirror) = Setup::start().await;
    let base = s.server.url();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let post = |path: &str, cookie: Option<&str>, form: &[(&str, &str)]| {
        let mut req = client.post(format!("{base}{path}")).header("Origin", &base).form(form);
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        req.send()
    };
    let sign_up = post("/api/sign_up", None, &[("username", "bob"), ("password", "bob-password-1")]).await.unwrap();
    let bob = sign_up.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_string();
    let id = mirror.to_string();
    let repo = [("owner", "alice"), ("repo", "project")];

    assert_eq!(post("/api/get_mirrors", Some(&bob), &repo).await.unwrap().status(), 403);
    assert_eq!(post("/api/get_mirrors", None, &repo).await.unwrap().status(), 401, "public repository: visible, but signed out");
    let remove = [("owner", "alice"), ("repo", "project"), ("id", id.as_str()), ("action", "remove")];
    assert_eq!(post("/api/mirror_action", Some(&bob), &remove).await.unwrap().status(), 403);
    let enable = [("owner", "alice"), ("repo", "project"), ("direction", "pull"), ("remote", "octocat/project"), ("interval", "5")];
    assert_eq!(post("/api/enable_mirror", Some(&bob), &enable).await.unwrap().status(), 403);
    assert!(mirrors::get(&s.server.state.db, mirror).await.unwrap().is_some(), "Bob removed nothing");
    assert_eq!(mirrors::list_for_repository(&s.server.state.db, mirrors::get(&s.server.state.db, mirror).await.unwrap().unwrap().repository_id).await.unwrap().len(), 1);

    // Private repositories are not even shown to be there.
    let st = &s.server.state;
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("secret").unwrap(), "", true).await.unwrap();
    assert_eq!(post("/api/get_mirrors", Some(&bob), &[("owner", "alice"), ("repo", "secret")]).await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_mirror_fetches_github_into_gitblixt() {
    let (s, _push_mirror) = Setup::start().await;
    let st = s.server.state.clone();
    // GitHub's side: octocat/upstream with a branch and a tag (written straight into the double's repository).
    let (up, upstream) = support::github_repo_with_commit(&s.double, "octocat", "upstream", true);

    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let local = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("downstream").unwrap(), "", false).await.unwrap();
    let remote = GithubRepo::parse("octocat/upstream").unwrap();
    let mirror = mirrors::create(&st.db, local.repo.id, alice.id, Direction::Pull, &remote, Some(5), false).await.unwrap();
    st.sync_wake.everyone();
    let local_path = st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("downstream").unwrap());
    let wait_equal = || until("the pull mirror caught up", || async { support::refs_of(&local_path) == support::refs_of(&upstream) });
    wait_equal().await;
    s.wait_settled(mirror, "active").await;
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    let after_last = m.next_sync_at.unwrap() - m.last_sync_at.unwrap();
    assert!((300..=330).contains(&after_last), "next sync one interval later, plus up to a tenth: {after_last} s");

    // A force push and a deletion on GitHub; "Sync now" brings them, the overwritten id recorded.
    let old = ok(up.path(), &["rev-parse", "main"]).trim().to_string();
    ok(up.path(), &["commit", "-q", "--amend", "-m", "rewritten"]);
    ok(up.path(), &["push", "-q", "--force", upstream.to_str().unwrap(), "main"]);
    ok(&upstream, &["tag", "-d", "v1"]);
    mirrors::request_sync(&st.db, mirror, mirrors::Trigger::Manual).await.unwrap();
    st.sync_wake.everyone();
    wait_equal().await;
    s.wait_settled(mirror, "active").await;
    let runs = mirrors::recent_runs(&st.db, mirror, 1).await.unwrap();
    assert_eq!(runs[0].scheduled_at, None, "a Sync now was due at no scheduled time");
    let refs: serde_json::Value = serde_json::from_str(&runs[0].refs).unwrap();
    let main = refs.as_array().unwrap().iter().find(|r| r["name"] == "refs/heads/main").unwrap();
    assert_eq!(main["outcome"], "force-updated");
    assert_eq!(main["old"], old.as_str());
    let tag = refs.as_array().unwrap().iter().find(|r| r["name"] == "refs/tags/v1").unwrap();
    assert_eq!(tag["outcome"], "deleted");
}

/// The fetch row of `remote` on a repository, once it exists.
async fn fetch_row(st: &app::ssr::AppState, repository_id: i64, remote: &str) -> Option<mirrors::MirrorRow> {
    mirrors::list_for_repository(&st.db, repository_id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.direction == "fetch" && format!("{}/{}", m.remote_owner, m.remote_name) == remote)
}

/// Waits until the fetch of `remote` has run `runs` times and settled; returns its latest run's refs.
async fn fetched(st: &app::ssr::AppState, repository_id: i64, remote: &str, runs: i64) -> Vec<serde_json::Value> {
    until("the fetch ran", || async {
        match fetch_row(st, repository_id, remote).await {
            Some(m) => m.sync_requested_at.is_none() && m.leased_by.is_none() && mirrors::count_runs(&st.db, m.id).await.unwrap() == runs,
            None => false,
        }
    })
    .await;
    let m = fetch_row(st, repository_id, remote).await.unwrap();
    assert_eq!(m.status, "active", "the fetch failed: {:?}", m.last_error);
    let run = mirrors::recent_runs(&st.db, m.id, 1).await.unwrap().remove(0);
    serde_json::from_str::<Vec<serde_json::Value>>(&run.refs).unwrap()
}

fn outcome_of<'a>(refs: &'a [serde_json::Value], name: &str) -> Option<&'a str> {
    refs.iter().find(|r| r["name"] == name).and_then(|r| r["outcome"].as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_time_fetch_public_without_a_connection_private_with_the_token() {
    let (s, _) = Setup::start().await;
    let st = s.server.state.clone();
    let base = s.server.url();
    let (up, public) = support::github_repo_with_commit(&s.double, "octocat", "public-lib", false);
    let (_up2, private) = support::github_repo_with_commit(&s.double, "octocat", "private-lib", true);

    // dave has no GitHub connection at all.
    let dave = support::Browser::sign_up(&base, "dave").await;
    let created = dave.post("/api/create_repository", &[("name", "copy"), ("description", ""), ("visibility", "public")]).await;
    assert!(created.status().is_success(), "{}", created.status());
    let copy = app::ssr::repos::find(&st.db, "dave", "copy").await.unwrap().unwrap();
    let copy_path = st.store.path(&UserName::parse("dave").unwrap(), &RepoName::parse("copy").unwrap());
    let fetch = |remote: &'static str| {
        let dave = &dave;
        async move { dave.post("/api/fetch_from_remote", &[("owner", "dave"), ("repo", "copy"), ("remote", remote)]).await }
    };

    // Public: fetched anonymously, every branch and tag created.
    assert!(fetch("octocat/public-lib").await.status().is_success());
    let refs = fetched(&st, copy.repo.id, "octocat/public-lib", 1).await;
    assert_eq!(support::refs_of(&copy_path), support::refs_of(&public));
    assert_eq!(outcome_of(&refs, "refs/heads/main"), Some("created"));
    assert_eq!(outcome_of(&refs, "refs/tags/v1"), Some("created"));
    assert!(
        s.double.requests().iter().filter(|r| r.path.starts_with("/octocat/public-lib.git")).all(|r| r.authorization.is_none()),
        "a public repository is fetched without authentication"
    );

    // GitHub moves on (a new commit, a new branch, a deleted tag); Fetch again brings the new
    // refs, and deletes nothing.
    std::fs::write(up.path().join("b.txt"), "b\n").unwrap();
    ok(up.path(), &["add", "-A"]);
    ok(up.path(), &["commit", "-q", "-m", "b"]);
    ok(up.path(), &["push", "-q", public.to_str().unwrap(), "main", "main:refs/heads/feature"]);
    ok(&public, &["tag", "-d", "v1"]);
    let v1 = support::refs_of(&copy_path)["refs/tags/v1"].clone();
    assert!(fetch("octocat/public-lib").await.status().is_success());
    let refs = fetched(&st, copy.repo.id, "octocat/public-lib", 2).await;
    assert_eq!(outcome_of(&refs, "refs/heads/main"), Some("updated"));
    assert_eq!(outcome_of(&refs, "refs/heads/feature"), Some("created"));
    let local = support::refs_of(&copy_path);
    assert_eq!(local["refs/heads/main"], support::refs_of(&public)["refs/heads/main"]);
    assert_eq!(local["refs/tags/v1"], v1, "a one-time fetch never deletes");
    assert!(!refs.iter().any(|r| r["outcome"] == "deleted"));

    // Private without a connection: refused at once with what to do, nothing queued.
    let (status, body) = dave.post_err("/api/fetch_from_remote", &[("owner", "dave"), ("repo", "copy"), ("remote", "octocat/private-lib")]).await;
    assert_eq!(status, 400);
    assert!(body.contains("Repository not found (404): verify that octocat/private-lib is the correct owner/repo and that the repository exists on GitHub."), "{body}");
    assert!(body.contains("connect your GitHub account"), "{body}");
    assert!(fetch_row(&st, copy.repo.id, "octocat/private-lib").await.is_none());

    // Private with alice's connection (octocat's token): fetched with the token.
    let alice = support::Browser::sign_in(&base, "alice", support::PASSWORD).await;
    let res = alice.post("/api/fetch_from_remote", &[("owner", "alice"), ("repo", "project"), ("remote", "https://github.com/octocat/private-lib.git")]).await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let project = app::ssr::repos::find(&st.db, "alice", "project").await.unwrap().unwrap();
    let refs = fetched(&st, project.repo.id, "octocat/private-lib", 1).await;
    assert_eq!(outcome_of(&refs, "refs/tags/v1"), Some("created"));
    assert_eq!(s.gitblixt_refs()["refs/tags/v1"], support::refs_of(&private)["refs/tags/v1"]);
    assert!(
        s.double.requests().iter().filter(|r| r.path.starts_with("/octocat/private-lib.git")).any(|r| r.authorization.is_some()),
        "a private repository is fetched with the connected token"
    );
    // A fetch never writes to GitHub.
    assert!(!s.double.requests().iter().any(|r| r.path.ends_with("git-receive-pack") && r.path.contains("-lib")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_sync_now_clicks_make_one_run() {
    // One worker, kept busy by a slow sync of another mirror, so both clicks land while queued.
    let (s, mirror) = Setup::start_with(|c| c.sync.workers = 1).await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let st = s.server.state.clone();
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    s.double.create_repo("octocat", "slow", false);
    s.double.set_fault(DoubleFault { latency: Duration::from_millis(1500), ..DoubleFault::default() });
    let slow = mirrors::create(&st.db, m.repository_id, m.user_id, Direction::Push, &GithubRepo::parse("octocat/slow").unwrap(), None, false).await.unwrap();
    st.sync_wake.everyone();
    until("the other mirror is syncing", || async { mirrors::get(&st.db, slow).await.unwrap().unwrap().leased_by.is_some() }).await;

    let before = mirrors::count_runs(&st.db, mirror).await.unwrap();
    let alice = support::Browser::sign_in(&s.server.url(), "alice", support::PASSWORD).await;
    let id = mirror.to_string();
    let click = [("owner", "alice"), ("repo", "project"), ("id", id.as_str()), ("action", "sync")];
    assert!(alice.post("/api/mirror_action", &click).await.status().is_success());
    assert!(alice.post("/api/mirror_action", &click).await.status().is_success());
    assert!(mirrors::get(&st.db, mirror).await.unwrap().unwrap().leased_by.is_none(), "both clicks landed while queued");
    s.double.set_fault(DoubleFault::default());
    s.wait_settled(slow, "active").await;
    s.wait_settled(mirror, "active").await;
    assert_eq!(mirrors::count_runs(&st.db, mirror).await.unwrap() - before, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_mirror_never_runs_and_resume_catches_up() {
    let (s, mirror) = Setup::start().await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let st = s.server.state.clone();
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    // A second push mirror of the same repository shows when the push has been handled.
    s.double.create_repo("octocat", "sentinel", false);
    let sentinel = mirrors::create(&st.db, m.repository_id, m.user_id, Direction::Push, &GithubRepo::parse("octocat/sentinel").unwrap(), None, false).await.unwrap();
    st.sync_wake.everyone();
    s.wait_settled(sentinel, "active").await;

    let alice = support::Browser::sign_in(&s.server.url(), "alice", support::PASSWORD).await;
    let id = mirror.to_string();
    let action = |a: &'static str| [("owner", "alice"), ("repo", "project"), ("id", id.as_str()), ("action", a)];
    assert!(alice.post("/api/mirror_action", &action("pause")).await.status().is_success());
    let runs = mirrors::count_runs(&st.db, mirror).await.unwrap();
    let before = s.double.refs("octocat", "project");

    s.commit("while-paused.txt", "x\n");
    s.push(&["push", "-q", "origin", "main"]);
    until("the sentinel mirror has the push", || async { s.double.refs("octocat", "sentinel") == s.gitblixt_refs() }).await;
    s.wait_settled(sentinel, "active").await;
    let paused = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    assert!(paused.paused && paused.sync_requested_at.is_none() && paused.leased_by.is_none());
    assert_eq!(mirrors::count_runs(&st.db, mirror).await.unwrap(), runs, "a paused mirror never runs");
    assert_eq!(s.double.refs("octocat", "project"), before);
    let (status, body) = alice.post_err("/api/mirror_action", &action("sync")).await;
    assert_eq!(status, 400);
    assert!(body.contains("This mirror is paused: resume it to sync."), "{body}");

    assert!(alice.post("/api/mirror_action", &action("resume")).await.status().is_success());
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_or_revoked_tokens_say_so_and_reconnecting_recovers() {
    let (s, mirror) = Setup::start().await;
    s.wait_in_sync().await;
    let st = s.server.state.clone();
    let user_id = mirrors::get(&st.db, mirror).await.unwrap().unwrap().user_id;
    let reconnect = |token: String| {
        let st = st.clone();
        async move {
            let tokens = connection::Tokens { access: token.into(), refresh: None, scopes: vec!["repo".into()], expires_at: None, refresh_expires_at: None };
            connection::store(&st.db, &st.cipher, user_id, "octocat", 1, &tokens).await.unwrap();
        }
    };

    s.double.expire_token(&s.token);
    s.commit("a.txt", "a\n");
    s.push(&["push", "-q", "origin", "main"]);
    s.expect_error(mirror, "OAuth token has expired").await;

    let fresh = s.double.issue_token("octocat", &["repo"]);
    reconnect(fresh.clone()).await;
    s.commit("b.txt", "b\n");
    s.push(&["push", "-q", "origin", "main"]);
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;

    s.double.revoke_token(&fresh);
    s.commit("c.txt", "c\n");
    s.push(&["push", "-q", "origin", "main"]);
    s.expect_error(mirror, "OAuth token has expired").await;
    // Auth errors wait for the next trigger: no retry is scheduled by itself.
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    assert!(m.retry_at.is_none() && m.sync_requested_at.is_none(), "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_mirror_syncs_on_its_interval_and_never_empties_the_repository() {
    let (s, _) = Setup::start().await;
    let st = s.server.state.clone();
    let (up, upstream) = support::github_repo_with_commit(&s.double, "octocat", "scheduled", false);
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let local = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("scheduled").unwrap(), "", false).await.unwrap();
    let local_path = st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("scheduled").unwrap());
    let mirror = mirrors::create(&st.db, local.repo.id, alice.id, Direction::Pull, &GithubRepo::parse("octocat/scheduled").unwrap(), Some(5), false).await.unwrap();
    st.sync_wake.everyone();
    s.wait_settled(mirror, "active").await;
    assert_eq!(support::refs_of(&local_path), support::refs_of(&upstream));

    // GitHub gets a commit; the interval passes (the next sync time is moved to now, as if five
    // minutes went by): the scheduler syncs by itself.
    std::fs::write(up.path().join("b.txt"), "b\n").unwrap();
    ok(up.path(), &["add", "-A"]);
    ok(up.path(), &["commit", "-q", "-m", "b"]);
    ok(up.path(), &["push", "-q", upstream.to_str().unwrap(), "main"]);
    let due = app::ssr::db::now() - 1;
    set_next_sync(&st, mirror, due).await;
    until("the scheduled sync brought the commit", || async { support::refs_of(&local_path) == support::refs_of(&upstream) }).await;
    s.wait_settled(mirror, "active").await;
    let run = mirrors::recent_runs(&st.db, mirror, 1).await.unwrap().remove(0);
    assert_eq!(run.trigger, "schedule");
    // The run records when it was due, so its lateness can be told (the bench's p50/p99).
    assert_eq!(run.scheduled_at, Some(due));
    assert!(run.started_at >= due, "{run:?}");

    // The GitHub repository is emptied (deleted and re-created): the mirror refuses to delete
    // every branch and tag here and says why.
    let before = support::refs_of(&local_path);
    s.double.delete_repo("octocat", "scheduled");
    s.double.create_repo("octocat", "scheduled", false);
    mirrors::request_sync(&st.db, mirror, mirrors::Trigger::Manual).await.unwrap();
    st.sync_wake.everyone();
    s.expect_error(
        mirror,
        "The GitHub repository has no branches or tags, so nothing was fetched and nothing here was deleted. Push to the GitHub repository, or pause or remove this pull mirror.",
    )
    .await;
    assert_eq!(support::refs_of(&local_path), before);
    // A pull mirror never writes to GitHub.
    assert!(!s.double.requests().iter().any(|r| r.path.starts_with("/octocat/scheduled.git") && r.path.ends_with("git-receive-pack")));
}

async fn set_next_sync(st: &app::ssr::AppState, mirror: i64, at: i64) {
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    let app::ssr::db::Db::Sqlite(pool) = &st.db else { panic!("tests use SQLite") };
    let mut conn = pool.get().await.unwrap();
    diesel::update(app::ssr::schema::mirrors::table.find(mirror))
        .set(app::ssr::schema::mirrors::next_sync_at.eq(Some(at)))
        .execute(&mut *conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_pushes_makes_a_few_runs_and_the_final_state() {
    let (s, mirror) = Setup::start().await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let st = s.server.state.clone();
    let repository_id = mirrors::get(&st.db, mirror).await.unwrap().unwrap().repository_id;
    let before = mirrors::count_runs(&st.db, mirror).await.unwrap();
    // One real push changes the refs; then the "refs updated" events of 29 more pushes arrive,
    // one every 150 ms (about 4.5 s in all — each alone would be a run of its own, since a run
    // takes less than that here).
    s.commit("burst.txt", "burst\n");
    s.push(&["push", "-q", "origin", "main"]);
    let mut pace = tokio::time::interval(Duration::from_millis(150));
    for _ in 0..29 {
        pace.tick().await;
        st.events.publish_refs_updated(app::ssr::events::RefsUpdated {
            repository_id,
            repository: "alice/project".into(),
            pusher_id: 1,
            pusher: "alice".into(),
            updates: Vec::new(),
        });
    }
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let runs = mirrors::count_runs(&st.db, mirror).await.unwrap() - before;
    assert!((1..=5).contains(&runs), "{runs} runs for 30 pushes");
}
