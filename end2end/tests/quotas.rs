//! What one user may hold, the disk-space guard, and the fair sharing of the sync workers.

mod support;

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::accounts;
use app::ssr::db::Db;
use app::ssr::mirrors::{self, Direction, Trigger};
use app::ssr::schema::mirrors as mirrors_table;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use github_double::gitcli::ok;
use support::{Browser, Setup};

/// `n` MiB that do not compress.
fn noise(mib: u32) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..mib << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_quota_refuses_with_its_message_and_creates_nothing() {
    let (s, _) = Setup::start_with(|c| {
        c.limits.quotas.repos_per_user = 2;
        c.limits.quotas.mirrors_per_repo = 2;
        c.limits.quotas.pull_mirrors_per_user = 1;
    })
    .await;
    let _upstream = support::github_repo_with_commit(&s.double, "octocat", "upstream", false);
    let _other = support::github_repo_with_commit(&s.double, "octocat", "other", false);
    let alice = Browser::sign_in(&s.server.url(), "alice", support::PASSWORD).await;
    let create = |name: &'static str| {
        let alice = &alice;
        async move { alice.post("/api/create_repository", &[("name", name), ("description", ""), ("visibility", "public")]).await }
    };

    // Repositories: alice has one; a second is fine, a third is refused.
    assert!(create("second").await.status().is_success());
    let refused = create("third").await;
    assert_eq!(refused.status(), 400);
    assert!(refused.text().await.unwrap().contains("You have reached this instance's limit of 2 repositories. Delete one, or ask an administrator to raise GITBLIXT_MAX_REPOS_PER_USER."));
    assert!(app::ssr::repos::find(&s.server.state.db, "alice", "third").await.unwrap().is_none());

    let enable = |repo: &'static str, direction: &'static str, remote: &'static str| {
        let alice = &alice;
        async move {
            let interval = if direction == "pull" { "15" } else { "" };
            alice.post("/api/enable_mirror", &[("owner", "alice"), ("repo", repo), ("direction", direction), ("remote", remote), ("interval", interval)]).await
        }
    };
    // Pull mirrors per user: one.
    assert!(enable("project", "pull", "octocat/upstream").await.status().is_success());
    let (status, text) = (|r: reqwest::Response| async move { (r.status().as_u16(), r.text().await.unwrap()) })(enable("second", "pull", "octocat/other").await).await;
    assert_eq!(status, 400);
    assert!(text.contains("You have reached this instance's limit of 1 pull mirrors. Remove one, or ask an administrator to raise GITBLIXT_MAX_PULL_MIRRORS_PER_USER."), "{text}");
    // Mirrors per repository: alice/project has its push mirror and the pull mirror.
    let third_mirror = enable("project", "push", "octocat/other").await;
    assert_eq!(third_mirror.status(), 400);
    assert!(third_mirror.text().await.unwrap().contains("This repository has reached this instance's limit of 2 mirrors. Remove one first."));
    let repo = app::ssr::repos::find(&s.server.state.db, "alice", "project").await.unwrap().unwrap();
    assert_eq!(mirrors::list_for_repository(&s.server.state.db, repo.repo.id).await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_over_the_size_limit_fails_and_leaves_the_repository_as_it_was() {
    let (s, _) = Setup::start_with(|c| c.limits.quotas.max_fetch_bytes = 1 << 20).await;
    let (up, bare) = support::github_repo_with_commit(&s.double, "octocat", "big", false);
    std::fs::write(up.path().join("big.bin"), noise(3)).unwrap();
    ok(up.path(), &["add", "big.bin"]);
    ok(up.path(), &["commit", "-q", "-m", "big"]);
    ok(up.path(), &["push", "-q", bare.to_str().unwrap(), "main"]);
    let st = &s.server.state;
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let repo = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("copy").unwrap(), "", false).await.unwrap();
    let local = repo.path(&st.store);
    let packs_before = std::fs::read_dir(local.join("objects/pack")).unwrap().count();
    let mirror = mirrors::create(&st.db, repo.repo.id, alice.id, Direction::Pull, &GithubRepo::parse("octocat/big").unwrap(), Some(60), false).await.unwrap();
    s.expect_error(mirror, "The GitHub repository is larger than this instance allows (1 MiB).").await;
    // Nothing stayed: no branch, no staging ref, no pack.
    let refs = ok(&local, &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(refs.trim(), "", "{refs}");
    assert_eq!(std::fs::read_dir(local.join("objects/pack")).unwrap().count(), packs_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn below_the_free_space_minimum_pushes_fetches_and_new_repositories_are_refused() {
    let double = github_double::github::GithubDouble::start().await.unwrap();
    let _up = support::github_repo_with_commit(&double, "octocat", "upstream", false);
    let prepared = support::prepare_for_binary(&double).await;
    let mut command = std::process::Command::new(support::gitblixt_bin());
    // More free space than this disk has (16 TiB): everything that writes is refused.
    command.arg("serve").env("GITBLIXT_DATA", prepared.data.path()).env("GITBLIXT_MIN_FREE_MB", "16777216");
    let (mut child, base) = support::spawn_serve(command, &double);
    let local = prepared.repo.path(&prepared.st.store);

    let work = tempfile::tempdir().unwrap();
    ok(work.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(work.path().join("a"), "a\n").unwrap();
    ok(work.path(), &["add", "a"]);
    ok(work.path(), &["-c", "user.name=a", "-c", "user.email=a@x", "commit", "-qm", "a"]);
    let url = base.replace("http://", &format!("http://alice:{}@", support::PASSWORD));
    let out = std::process::Command::new("git").current_dir(work.path()).args(["push", &format!("{url}/alice/project.git"), "main"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("remote: GitBlixt: the server is low on disk space, so pushes are refused until an administrator frees space"), "{stderr}");
    assert!(support::refs_of(&local).is_empty());

    let alice = Browser::sign_in(&base, "alice", support::PASSWORD).await;
    let (_, text) = alice.post_err("/api/create_repository", &[("name", "more"), ("description", ""), ("visibility", "public")]).await;
    assert!(text.contains("The server is low on disk space, so new repositories can't be created until an administrator frees space."), "{text}");
    let (_, text) = alice.post_err("/api/fetch_from_remote", &[("owner", "alice"), ("repo", "project"), ("remote", "octocat/upstream")]).await;
    assert!(text.contains("GitBlixt is low on disk space, so nothing was fetched"), "{text}");
    // A pull mirror already set up fails its run with the same words (and is retried later).
    let st = &prepared.st;
    let pull = mirrors::create(&st.db, prepared.repo.repo.id, prepared.alice.id, Direction::Pull, &GithubRepo::parse("octocat/upstream").unwrap(), Some(60), false).await.unwrap();
    support::until("the pull mirror's run failed", || async {
        let m = mirrors::get(&st.db, pull).await.unwrap().unwrap();
        m.status == "error" && m.last_error.as_deref() == Some(app::ssr::quotas::low_disk_message(app::ssr::quotas::Write::Fetch))
    })
    .await;
    assert!(support::refs_of(&local).is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The run ids of `mirror_ids`, in start order.
async fn run_ids(db: &Db, mirror_ids: &[i64]) -> Vec<i64> {
    use app::ssr::schema::mirror_syncs;
    let Db::Sqlite(pool) = db else { unreachable!() };
    let mut conn = pool.get().await.unwrap();
    mirror_syncs::table
        .filter(mirror_syncs::mirror_id.eq_any(mirror_ids.iter().map(|id| Some(*id)).collect::<Vec<_>>()))
        .order(mirror_syncs::id.asc())
        .select(mirror_syncs::id)
        .load(&mut *conn)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_due_pull_mirrors_do_not_hold_up_anothers_push_or_pull() {
    let (s, push_mirror) = Setup::start_with(|c| c.sync.workers = 1).await;
    let st = s.server.state.clone();
    let _upstream = support::github_repo_with_commit(&s.double, "octocat", "upstream", false);
    // Let alice's push mirror's first sync finish, so only the bulk of pulls is queued; from then
    // on GitHub answers slowly (150 ms a request), so the queue takes a while to drain.
    s.wait_settled(push_mirror, "active").await;
    s.double.set_fault(github_double::github::DoubleFault { latency: std::time::Duration::from_millis(150), ..Default::default() });

    // bulk: 200 pull mirrors, all due now (their scheduled sync requested).
    let bulk = accounts::create_user(&st.db, &UserName::parse("bulk").unwrap(), "bulk-password-1", false).await.unwrap();
    for i in 0..200 {
        app::ssr::repos::create(&st.db, &st.store, &bulk, &RepoName::parse(&format!("r{i}")).unwrap(), "", false).await.unwrap();
    }
    // All 200 appear at once, their scheduled syncs due (one statement: no worker sees half).
    let pulls: Vec<i64> = {
        let Db::Sqlite(pool) = &st.db else { unreachable!() };
        let mut conn = pool.get().await.unwrap();
        let at = app::ssr::db::now();
        diesel::sql_query(format!(
            "INSERT INTO mirrors (repository_id, user_id, direction, remote_owner, remote_name, remote_key, interval_minutes, status, \
             sync_requested_at, requested_trigger, request_seq, created_at) \
             SELECT id, {bulk}, 'pull', 'octocat', 'upstream', 'octocat/upstream', 5, 'new', {at}, 'schedule', 1, {at} \
             FROM repositories WHERE owner_id = {bulk}",
            bulk = bulk.id
        ))
        .execute(&mut *conn)
        .await
        .unwrap();
        mirrors_table::table.filter(mirrors_table::user_id.eq(bulk.id)).select(mirrors_table::id).load(&mut *conn).await.unwrap()
    };
    st.sync_wake.everyone();
    support::until("bulk's pulls run", || async { run_ids(&st.db, &pulls).await.len() >= 3 }).await;

    // carol's one scheduled pull, requested after bulk's 200, and alice's push.
    let carol = accounts::create_user(&st.db, &UserName::parse("carol").unwrap(), "carol-password-1", false).await.unwrap();
    let carol_repo = app::ssr::repos::create(&st.db, &st.store, &carol, &RepoName::parse("c").unwrap(), "", false).await.unwrap();
    let carol_pull = mirrors::create(&st.db, carol_repo.repo.id, carol.id, Direction::Pull, &GithubRepo::parse("octocat/upstream").unwrap(), Some(5), false).await.unwrap();
    mirrors::request_sync(&st.db, carol_pull, Trigger::Schedule).await.unwrap();
    let bulk_runs_before = run_ids(&st.db, &pulls).await.len();
    s.commit("f", "pushed\n");
    s.push(&["push", "-q", "origin", "main"]);
    let push_requested_after = run_ids(&st.db, &pulls).await.len();

    support::until("alice's push mirror ran", || async { mirrors::recent_runs(&st.db, push_mirror, 10).await.unwrap().len() >= 2 }).await;
    support::until("carol's pull ran", || async { !mirrors::recent_runs(&st.db, carol_pull, 1).await.unwrap().is_empty() }).await;
    let push_run = mirrors::recent_runs(&st.db, push_mirror, 1).await.unwrap()[0].id;
    let carol_run = mirrors::recent_runs(&st.db, carol_pull, 1).await.unwrap()[0].id;
    let bulk_runs = run_ids(&st.db, &pulls).await;
    let bulk_before_push = bulk_runs.iter().filter(|id| **id < push_run).count();
    let bulk_before_carol = bulk_runs.iter().filter(|id| **id < carol_run).count();
    println!("bulk runs: {bulk_runs_before} when carol asked, {push_requested_after} when alice pushed, {bulk_before_push} before alice's push ran, {bulk_before_carol} before carol's pull ran");
    assert!(bulk_before_push <= push_requested_after + 1, "alice's push waited for more than the one run going");
    assert!(bulk_before_carol <= bulk_runs_before + 2, "carol's pull waited for more than one run besides alice's push");
    assert!(bulk_runs.len() < 200, "the test measured a queue that was still full");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_long_runs_always_leave_a_worker_for_others() {
    let (s, push_mirror) = Setup::start_with(|c| c.sync.workers = 2).await;
    let st = s.server.state.clone();
    let _upstream = support::github_repo_with_commit(&s.double, "octocat", "upstream", false);
    s.wait_settled(push_mirror, "active").await;
    // GitHub is slow from now on: every run takes seconds.
    s.double.set_fault(github_double::github::DoubleFault { latency: std::time::Duration::from_millis(1500), ..Default::default() });
    let bulk = accounts::create_user(&st.db, &UserName::parse("bulk").unwrap(), "bulk-password-1", false).await.unwrap();
    let mut fetches = Vec::new();
    for i in 0..3 {
        let repo = app::ssr::repos::create(&st.db, &st.store, &bulk, &RepoName::parse(&format!("f{i}")).unwrap(), "", false).await.unwrap();
        fetches.push(mirrors::create(&st.db, repo.repo.id, bulk.id, Direction::Fetch, &GithubRepo::parse("octocat/upstream").unwrap(), None, false).await.unwrap());
    }
    support::until("bulk's first fetch runs", || async { !run_ids(&st.db, &fetches).await.is_empty() }).await;
    s.commit("g", "pushed\n");
    s.push(&["push", "-q", "origin", "main"]);
    support::until("alice's push mirror ran", || async { mirrors::recent_runs(&st.db, push_mirror, 10).await.unwrap().len() >= 2 }).await;
    let push_run = mirrors::recent_runs(&st.db, push_mirror, 1).await.unwrap()[0].id;
    let bulk_runs = run_ids(&st.db, &fetches).await;
    // Two workers: bulk holds one, the other stayed free for alice.
    assert_eq!(bulk_runs.iter().filter(|id| **id < push_run).count(), 1, "bulk took both workers: {bulk_runs:?} before {push_run}");
}
