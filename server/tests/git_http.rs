//! Git over HTTP against a real server, driven by the real `git` client.

mod common;

use common::*;
use std::time::Duration;

const ZERO: &str = "0000000000000000000000000000000000000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_repository_clones_back_identically() {
    let server = TestServer::start().await;
    let alice = server.user("alice", "alice-password").await;
    server.repo(&alice, "project", false).await;

    let work = tempfile::tempdir().unwrap();
    rich_repository(work.path());
    let remote = server.remote("alice", "alice-password", "alice/project");
    git_ok(work.path(), &["push", "-q", &remote, "--all"]);
    git_ok(work.path(), &["push", "-q", &remote, "--tags"]);

    let clone = tempfile::tempdir().unwrap();
    git_ok(clone.path(), &["clone", "-q", "--mirror", &server.anonymous_remote("alice/project"), "c.git"]);
    let cloned = clone.path().join("c.git");
    assert_eq!(refs_of(&cloned), refs_of(work.path()));
    git_ok(&cloned, &["fsck", "--strict"]);

    // The server kept the push as a pack (no loose objects) and chose `main` as HEAD.
    let stored = server.repo_path("alice", "project");
    let counts = git_ok(&stored, &["count-objects", "-v"]);
    assert!(counts.lines().any(|l| l == "count: 0"), "{counts}");
    assert!(counts.lines().any(|l| l == "packs: 1") || counts.lines().any(|l| l == "packs: 2"), "{counts}");
    assert_eq!(git_ok(&stored, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/main");

    // The repository page shows branches, tags and the latest commits of the default branch (read with gix).
    let page = reqwest::get(format!("{}/alice/project", server.url())).await.unwrap().text().await.unwrap();
    for branch in ["main", "feature/x", "release-1.0", "gh-pages"] {
        assert!(page.contains(&format!("<span class=\"ref-name\">{branch}</span>")), "branch {branch} listed");
    }
    for tag in ["v1.0", "light", "nested", "tree-tag", "blob-tag"] {
        assert!(page.contains(&format!("<span class=\"ref-name\">{tag}</span>")), "tag {tag} listed");
    }
    assert!(page.contains("Latest commits on main"));
    assert!(page.contains("merge feature") && page.contains("feature work") && page.contains("initial"));
    assert!(!page.contains(">pages<"), "gh-pages is not on the default branch");

    // A plain clone checks out the default branch.
    git_ok(clone.path(), &["clone", "-q", &server.anonymous_remote("alice/project"), "wt"]);
    assert_eq!(rev(&clone.path().join("wt"), "HEAD"), rev(work.path(), "main"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_push_of_master_only_becomes_the_default_branch() {
    let server = TestServer::start().await;
    let alice = server.user("alice", "alice-password").await;
    server.repo(&alice, "legacy", false).await;
    let work = tempfile::tempdir().unwrap();
    git_ok(work.path(), &["init", "-q", "-b", "master"]);
    commit_file(work.path(), "f", "x", "one");
    let mut events = server.running.state.events.subscribe_refs_updated();
    git_ok(work.path(), &["push", "-q", &server.remote("alice", "alice-password", "alice/legacy"), "master"]);
    tokio::time::timeout(Duration::from_secs(10), events.recv()).await.expect("event").expect("event");
    let stored = server.repo_path("alice", "legacy");
    assert_eq!(git_ok(&stored, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/master");
}

/// Each push is kept as a pack and git's gc does not run inside the push; once the repository
/// has been quiet for the housekeeping delay, the server's housekeeping consolidates its packs,
/// every ref and reflog entry kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_consolidates_a_quiet_repositorys_packs() {
    let server = TestServer::start_with(|config| config.housekeeping_delay = Duration::from_secs(1)).await;
    let alice = server.user("alice", "alice-password").await;
    server.repo(&alice, "busy", false).await;
    let stored = server.repo_path("alice", "busy");
    // gc --auto consolidates once there are more than two packs.
    git_ok(&stored, &["config", "gc.autoPackLimit", "2"]);
    let work = tempfile::tempdir().unwrap();
    git_ok(work.path(), &["init", "-q", "-b", "main"]);
    let remote = server.remote("alice", "alice-password", "alice/busy");
    for n in 0..4 {
        commit_file(work.path(), "f", &format!("{n}\n"), &format!("change {n}"));
        git_ok(work.path(), &["push", "-q", &remote, "main"]);
    }
    let packs = |dir: &std::path::Path| -> usize {
        let counts = git_ok(dir, &["count-objects", "-v"]);
        counts.lines().find_map(|l| l.strip_prefix("packs: ")).and_then(|n| n.parse().ok()).expect("a pack count")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while packs(&stored) > 1 {
        assert!(std::time::Instant::now() < deadline, "the four pushes' packs were never consolidated: {}", packs(&stored));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rev(&stored, "refs/heads/main"), rev(work.path(), "main"));
    assert_eq!(git_ok(&stored, &["reflog", "show", "refs/heads/main"]).lines().count(), 4, "every push's reflog entry kept");
    git_ok(&stored, &["fsck", "--strict", "--no-dangling"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refs_updated_event_carries_exact_ids_for_create_update_force_and_delete() {
    let server = TestServer::start().await;
    let alice = server.user("alice", "alice-password").await;
    let found = server.repo(&alice, "events", false).await;
    let mut events = server.running.state.events.subscribe_refs_updated();
    let remote = server.remote("alice", "alice-password", "alice/events");
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    git_ok(dir, &["init", "-q", "-b", "main"]);
    let c1 = commit_file(dir, "f", "1", "one");
    git_ok(dir, &["branch", "topic"]);
    git_ok(dir, &["tag", "v1"]);

    async fn next(rx: &mut tokio::sync::broadcast::Receiver<app::ssr::events::RefsUpdated>) -> app::ssr::events::RefsUpdated {
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("event in time").expect("event")
    }
    let sorted = |e: &app::ssr::events::RefsUpdated| {
        let mut v: Vec<(String, String, String)> =
            e.updates.iter().map(|u| (u.name.clone(), u.old.clone(), u.new.clone())).collect();
        v.sort();
        v
    };

    // create
    git_ok(dir, &["push", "-q", &remote, "main", "topic", "v1"]);
    let e = next(&mut events).await;
    assert_eq!(e.repository_id, found.repo.id);
    assert_eq!(e.repository, "alice/events");
    assert_eq!(e.pusher, "alice");
    assert_eq!(
        sorted(&e),
        vec![
            ("refs/heads/main".into(), ZERO.into(), c1.clone()),
            ("refs/heads/topic".into(), ZERO.into(), c1.clone()),
            ("refs/tags/v1".into(), ZERO.into(), c1.clone()),
        ]
    );

    // fast-forward update
    let c2 = commit_file(dir, "f", "2", "two");
    git_ok(dir, &["push", "-q", &remote, "main"]);
    assert_eq!(sorted(&next(&mut events).await), vec![("refs/heads/main".into(), c1.clone(), c2.clone())]);

    // force update (rewritten history)
    git_ok(dir, &["commit", "-q", "--amend", "-m", "two, rewritten"]);
    let c2b = rev(dir, "HEAD");
    assert_ne!(c2, c2b);
    git_err(dir, &["push", "-q", &remote, "main"]); // refused by the client without --force
    git_ok(dir, &["push", "-q", "--force", &remote, "main"]);
    assert_eq!(sorted(&next(&mut events).await), vec![("refs/heads/main".into(), c2.clone(), c2b.clone())]);

    // delete a branch and a tag
    git_ok(dir, &["push", "-q", &remote, "--delete", "topic", "v1"]);
    assert_eq!(
        sorted(&next(&mut events).await),
        vec![("refs/heads/topic".into(), c1.clone(), ZERO.into()), ("refs/tags/v1".into(), c1.clone(), ZERO.into())]
    );

    let stored = server.repo_path("alice", "events");
    assert_eq!(refs_of(&stored), format!("{c2b} commit refs/heads/main\n"));
}

/// `(status, www-authenticate present)` of an info/refs request.
async fn probe(url: &str, auth: Option<(&str, &str)>) -> (u16, bool) {
    let client = reqwest::Client::new();
    let mut req = client.get(url);
    if let Some((u, p)) = auth {
        req = req.basic_auth(u, Some(p));
    }
    let resp = req.send().await.expect("request");
    (resp.status().as_u16(), resp.headers().contains_key("www-authenticate"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_and_access_answers() {
    let server = TestServer::start().await;
    let alice = server.user("alice", "alice-password").await;
    let bob = server.user("bob", "bob-password").await;
    server.repo(&alice, "public", false).await;
    server.repo(&alice, "secret", true).await;
    let read_token = server.token(&alice, &["read_repository"]).await;
    let write_token = server.token(&alice, &["write_repository"]).await;
    let api_token = server.token(&alice, &["api"]).await;
    let read_api_token = server.token(&alice, &["read_api"]).await;
    let bob_token = server.token(&bob, &["write_repository"]).await;

    let refs = |path: &str, service: &str| format!("{}/{path}.git/info/refs?service={service}", server.url());
    let (up, rp) = ("git-upload-pack", "git-receive-pack");

    // Public repository: anyone reads; pushing needs credentials, and the owner's rights.
    assert_eq!(probe(&refs("alice/public", up), None).await, (200, false));
    assert_eq!(probe(&refs("alice/public", rp), None).await, (401, true));
    assert_eq!(probe(&refs("alice/public", rp), Some(("alice", "wrong"))).await, (401, true));
    assert_eq!(probe(&refs("alice/public", rp), Some(("alice", "alice-password"))).await.0, 200);
    assert_eq!(probe(&refs("alice/public", rp), Some(("bob", "bob-password"))).await.0, 403);
    assert_eq!(probe(&refs("alice/public", rp), Some(("oauth2", &write_token))).await.0, 200);
    assert_eq!(probe(&refs("alice/public", rp), Some(("alice", &api_token))).await.0, 200);
    assert_eq!(probe(&refs("alice/public", rp), Some(("oauth2", &read_token))).await.0, 403);
    assert_eq!(probe(&refs("alice/public", up), Some(("oauth2", &read_token))).await.0, 200);
    assert_eq!(probe(&refs("alice/public", up), Some(("oauth2", &read_api_token))).await.0, 403);
    // A token only works with its owner's name or `oauth2`.
    assert_eq!(probe(&refs("alice/public", up), Some(("bob", &read_token))).await, (401, true));

    // Private repository: invisible to others, a challenge for anonymous clients.
    assert_eq!(probe(&refs("alice/secret", up), None).await, (401, true));
    assert_eq!(probe(&refs("alice/secret", up), Some(("bob", "bob-password"))).await.0, 404);
    assert_eq!(probe(&refs("alice/secret", up), Some(("oauth2", &bob_token))).await.0, 404);
    assert_eq!(probe(&refs("alice/secret", up), Some(("alice", "alice-password"))).await.0, 200);

    // Unknown repositories: a challenge without credentials, 404 with them.
    assert_eq!(probe(&refs("alice/nothing", up), None).await, (401, true));
    assert_eq!(probe(&refs("alice/nothing", up), Some(("alice", "alice-password"))).await.0, 404);

    // Revoked and expired tokens are refused like wrong passwords.
    let tokens = app::ssr::accounts::list_tokens(&server.running.state.db, alice.id).await.unwrap();
    let write_id = tokens.iter().find(|t| t.scopes == vec![app::model::TokenScope::WriteRepository]).unwrap().id;
    assert!(app::ssr::accounts::revoke_token(&server.running.state.db, alice.id, write_id).await.unwrap());
    assert_eq!(probe(&refs("alice/public", rp), Some(("oauth2", &write_token))).await, (401, true));
    expire_tokens(&server, alice.id).await;
    assert_eq!(probe(&refs("alice/public", rp), Some(("oauth2", &api_token))).await, (401, true));

    // Bad paths never reach the disk.
    for bad in ["alice/..%2f..%2fetc", "alice/.hidden", "-x/y", "alice/a..b"] {
        assert!(matches!(probe(&refs(bad, up), Some(("alice", "alice-password"))).await.0, 400 | 404), "{bad}");
    }
    let long = "a".repeat(300);
    assert_eq!(probe(&refs(&format!("alice/{long}"), up), Some(("alice", "alice-password"))).await.0, 404);
    // Dumb HTTP is refused.
    assert_eq!(probe(&format!("{}/alice/public.git/info/refs", server.url()), None).await.0, 403);
}

async fn expire_tokens(server: &TestServer, user_id: i64) {
    use app::ssr::schema::personal_access_tokens as t;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;
    let db = &server.running.state.db;
    let done: Result<usize, app::ssr::db::DbError> = async {
        app::with_conn!(db, |conn| diesel::update(t::table.filter(t::user_id.eq(user_id)))
            .set(t::expires_at.eq(1))
            .execute(conn)
            .await
            .map_err(app::ssr::db::DbError::Query))
    }
    .await;
    done.expect("tokens expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn git_client_reports_clear_failures() {
    let server = TestServer::start().await;
    let alice = server.user("alice", "alice-password").await;
    let _bob = server.user("bob", "bob-password").await;
    server.repo(&alice, "repo", false).await;
    server.repo(&alice, "private", true).await;
    let read_token = server.token(&alice, &["read_repository"]).await;
    let work = tempfile::tempdir().unwrap();
    git_ok(work.path(), &["init", "-q", "-b", "main"]);
    commit_file(work.path(), "f", "x", "one");

    let err = git_err(work.path(), &["push", &server.anonymous_remote("alice/repo"), "main"]);
    assert!(err.contains("could not read Username") || err.contains("Authentication failed"), "{err}");
    let err = git_err(work.path(), &["push", &server.remote("alice", "nope", "alice/repo"), "main"]);
    assert!(err.contains("Authentication failed"), "{err}");
    let err = git_err(work.path(), &["push", &server.remote("oauth2", &read_token, "alice/repo"), "main"]);
    assert!(err.contains("403"), "{err}");
    let err = git_err(work.path(), &["push", &server.remote("bob", "bob-password", "alice/repo"), "main"]);
    assert!(err.contains("403"), "{err}");
    let err = git_err(work.path(), &["clone", &server.remote("bob", "bob-password", "alice/private"), "x"]);
    assert!(err.contains("not found") || err.contains("404"), "{err}");
    let err = git_err(work.path(), &["clone", &server.remote("alice", "alice-password", "alice/missing"), "y"]);
    assert!(err.contains("not found") || err.contains("404"), "{err}");

    // The owner's token pushes and clones the private repository.
    let write_token = server.token(&alice, &["write_repository"]).await;
    git_ok(work.path(), &["push", "-q", &server.remote("oauth2", &write_token, "alice/private"), "main"]);
    git_ok(work.path(), &["clone", "-q", &server.remote("alice", &write_token, "alice/private"), "z"]);
    assert_eq!(rev(&work.path().join("z"), "HEAD"), rev(work.path(), "HEAD"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_sees_new_commits_and_protocol_v2_works() {
    let server = TestServer::start().await;
    let alice = server.user("alice", "alice-password").await;
    server.repo(&alice, "repo", false).await;
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("src");
    std::fs::create_dir(&dir).unwrap();
    git_ok(&dir, &["init", "-q", "-b", "main"]);
    commit_file(&dir, "f", "1", "one");
    let remote = server.remote("alice", "alice-password", "alice/repo");
    git_ok(&dir, &["push", "-q", &remote, "main"]);
    git_ok(work.path(), &["-c", "protocol.version=2", "clone", "-q", &server.anonymous_remote("alice/repo"), "c"]);
    let c2 = commit_file(&dir, "f", "2", "two");
    git_ok(&dir, &["push", "-q", &remote, "main"]);
    let clone = work.path().join("c");
    git_ok(&clone, &["-c", "protocol.version=0", "fetch", "-q", "origin"]);
    assert_eq!(rev(&clone, "origin/main"), c2);
    git_ok(&clone, &["-c", "protocol.version=2", "fetch", "-q", "origin"]);
}

/// `git receive-pack --advertise-refs` on the stored repository as the server runs it, with the
/// announcement smart HTTP puts first: what `info/refs?service=git-receive-pack` must answer.
fn gits_push_advertisement(stored: &std::path::Path, protocol: Option<&str>) -> Vec<u8> {
    let mut cmd = std::process::Command::new(app::ssr::store::git_program());
    cmd.env_clear().env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null");
    if let Some(p) = protocol {
        cmd.env("GIT_PROTOCOL", p);
    }
    let out = cmd.args(app::ssr::store::hosted_config_args()).args(["receive-pack", "--stateless-rpc", "--advertise-refs"]).arg(stored).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut expected = b"001f# service=git-receive-pack\n0000".to_vec();
    expected.extend_from_slice(&out.stdout);
    expected
}

/// The server's push advertisement is git's, byte for byte, for protocol versions 0, 1 and 2;
/// GitBlixt writes it itself unless the repository's configuration needs git (`by_gitblixt`).
async fn assert_push_advertisement_is_gits(server: &TestServer, stored: &std::path::Path, stage: &str, by_gitblixt: bool) {
    let url = format!("{}/alice/project.git/info/refs?service=git-receive-pack", server.url());
    for protocol in [None, Some("version=1"), Some("version=2")] {
        let mut request = reqwest::Client::new().get(&url).basic_auth("alice", Some("alice-password"));
        if let Some(p) = protocol {
            request = request.header("Git-Protocol", p);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{stage}");
        assert_eq!(response.headers()["content-type"], "application/x-git-receive-pack-advertisement");
        let served = response.bytes().await.unwrap();
        let expected = gits_push_advertisement(stored, protocol);
        assert_eq!(String::from_utf8_lossy(&served), String::from_utf8_lossy(&expected), "{stage}, GIT_PROTOCOL {protocol:?}");
        let capabilities = gitblixt::advertise::capabilities_of(&expected).unwrap();
        let written = gitblixt::advertise::advertise(stored, &capabilities, protocol).unwrap();
        assert_eq!(written.is_some(), by_gitblixt, "{stage}: written by GitBlixt, not git");
    }
}

/// GitBlixt writes the ref advertisement of a push itself (no git process per push): for every
/// shape of repository it is exactly what git would have written, and git pushes against it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_advertisement_is_gits_own_byte_for_byte() {
    let server = TestServer::start().await;
    let alice = server.user("alice", "alice-password").await;
    server.repo(&alice, "project", false).await;
    let stored = server.repo_path("alice", "project");
    assert_push_advertisement_is_gits(&server, &stored, "empty repository", true).await;

    let work = tempfile::tempdir().unwrap();
    rich_repository(work.path());
    let remote = server.remote("alice", "alice-password", "alice/project");
    git_ok(work.path(), &["push", "-q", &remote, "--all"]);
    git_ok(work.path(), &["push", "-q", &remote, "--tags"]);
    assert_push_advertisement_is_gits(&server, &stored, "branches and tags, loose", true).await;

    git_ok(&stored, &["pack-refs", "--all"]);
    commit_file(work.path(), "later.txt", "later", "after pack-refs");
    git_ok(work.path(), &["push", "-q", &remote, "main", "main:refs/heads/late/branch"]);
    assert_push_advertisement_is_gits(&server, &stored, "packed and loose refs", true).await;

    let main = rev(&stored, "refs/heads/main");
    git_ok(&stored, &["update-ref", "refs/gitblixt/kept/1", &main]);
    git_ok(&stored, &["update-ref", "refs/pull/1/head", &main]);
    git_ok(&stored, &["symbolic-ref", "refs/heads/alias", "refs/heads/feature/x"]);
    git_ok(&stored, &["symbolic-ref", "refs/heads/dangling", "refs/heads/nowhere"]);
    std::fs::write(stored.join("refs/heads/missing-object"), "1234567890123456789012345678901234567890\n").unwrap();
    assert_push_advertisement_is_gits(&server, &stored, "hidden, symbolic and broken refs", true).await;
    let served = reqwest::Client::new()
        .get(format!("{}/alice/project.git/info/refs?service=git-receive-pack", server.url()))
        .basic_auth("alice", Some("alice-password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!served.contains("refs/gitblixt"), "GitBlixt's own refs are never shown: {served}");
    std::fs::remove_file(stored.join("refs/heads/missing-object")).unwrap();

    git_ok(&stored, &["config", "--add", "receive.hideRefs", "refs/tags"]);
    git_ok(&stored, &["config", "--add", "receive.hideRefs", "!refs/tags/v1.0"]);
    assert_push_advertisement_is_gits(&server, &stored, "the repository hides refs of its own", true).await;
    git_ok(&stored, &["config", "--add", "transfer.hideRefs", "refs/pull"]);
    git_ok(&stored, &["config", "receive.advertisePushOptions", "true"]);
    assert_push_advertisement_is_gits(&server, &stored, "configuration git must answer for", false).await;

    // git pushes against the advertisement: an update, a new branch and a deletion.
    commit_file(work.path(), "last.txt", "last", "last");
    git_ok(work.path(), &["push", "-q", &remote, "main", "main:refs/heads/new", ":refs/heads/late/branch"]);
    assert_eq!(rev(&stored, "refs/heads/main"), rev(work.path(), "main"));
    assert_eq!(rev(&stored, "refs/heads/new"), rev(work.path(), "main"));
    assert!(git(&stored, &["rev-parse", "--verify", "-q", "refs/heads/late/branch"]).stdout.is_empty());
}
