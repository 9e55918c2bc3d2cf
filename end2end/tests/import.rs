//! Importing from GitHub, end to end against the GitHub double with the real git: what an import
//! brings (every head and tag, never `refs/pull/*`, HEAD at GitHub's default branch, a sound
//! repository), private and public repositories, bad input refused with nothing created, GitHub
//! failing mid-import then Retry, two simultaneous imports making one repository, Keep in sync,
//! the listing of every page of the account's repositories, and pushes waiting for the import.

mod support;

use app::names::UserName;
use app::ssr::{accounts, imports, mirrors, repos};
use github_double::github::DoubleFault;
use github_double::gitcli::{git, ok};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::{Browser, PASSWORD, Setup, refs_of, until};

/// `/api/v4` as alice, with a token of the `api` scope.
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn for_user(s: &Setup, user: &str) -> Self {
        let st = &s.server.state;
        let u = accounts::find_user(&st.db, user).await.unwrap().unwrap();
        let token = accounts::create_token(&st.db, u.id, &format!("{user} import"), &["api".into()], 30).await.unwrap().token;
        Api { client: reqwest::Client::new(), base: format!("{}/api/v4", s.server.url()), token }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.header("PRIVATE-TOKEN", &self.token).send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or_else(|e| panic!("{status} not JSON ({e}): {text}")) })
    }

    async fn import(&self, body: Value) -> (u16, Value) {
        self.send(self.client.post(format!("{}/import/github", self.base)).json(&body)).await
    }

    async fn get(&self, id: i64) -> (u16, Value) {
        self.send(self.client.get(format!("{}/imports/{id}", self.base))).await
    }

    async fn retry(&self, id: i64) -> (u16, Value) {
        self.send(self.client.post(format!("{}/imports/{id}/retry", self.base))).await
    }

    /// Waits (bounded) until the import is in `state`; returns it.
    async fn wait_state(&self, id: i64, state: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, body) = self.get(id).await;
            assert_eq!(status, 200, "{body}");
            if body["state"] == state {
                return body;
            }
            assert!(Instant::now() < deadline, "the import never became {state}: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A GitHub repository with history on several branches (default `trunk`), lightweight and
/// annotated tags, and a pull request's ref.
fn rich_github_repo(s: &Setup, owner: &str, name: &str, private: bool) -> std::path::PathBuf {
    let bare = s.double.create_repo(owner, name, private);
    let up = tempfile::tempdir().unwrap();
    let w = up.path();
    ok(w, &["init", "-q", "-b", "trunk"]);
    for i in 0..5 {
        std::fs::write(w.join("file.txt"), format!("line {i}\n")).unwrap();
        ok(w, &["add", "-A"]);
        ok(w, &["commit", "-q", "-m", &format!("commit {i}")]);
    }
    ok(w, &["tag", "light"]);
    ok(w, &["tag", "-a", "v1.0", "-m", "release 1.0"]);
    for b in 0..12 {
        ok(w, &["checkout", "-q", "-b", &format!("feature/{b}"), "trunk"]);
        std::fs::write(w.join(format!("f{b}.txt")), format!("{b}\n")).unwrap();
        ok(w, &["add", "-A"]);
        ok(w, &["commit", "-q", "-m", &format!("feature {b}")]);
    }
    ok(w, &["tag", "-a", "v2.0", "-m", "on a feature"]);
    ok(w, &["checkout", "-q", "trunk"]);
    ok(w, &["push", "-q", bare.to_str().unwrap(), "--all"]);
    ok(w, &["push", "-q", bare.to_str().unwrap(), "--tags"]);
    // GitHub's pull request refs, which an import never brings.
    let head = ok(w, &["rev-parse", "feature/3"]).trim().to_string();
    ok(&bare, &["update-ref", "refs/pull/1/head", &head]);
    ok(&bare, &["symbolic-ref", "HEAD", "refs/heads/trunk"]);
    bare
}

fn repo_path(s: &Setup, owner: &str, name: &str) -> std::path::PathBuf {
    s.server.state.store.path(&UserName::parse(owner).unwrap(), &app::names::RepoName::parse(name).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_brings_every_branch_and_tag_and_nothing_else() {
    let (s, _) = Setup::start().await;
    let bare = rich_github_repo(&s, "octocat", "engine", true);
    s.double.set_description("octocat", "engine", Some("The engine\u{7} room"));
    let api = Api::for_user(&s, "alice").await;
    let (status, started) = api.import(json!({"remote": "octocat/engine"})).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!((started["repository"].as_str(), started["remote"].as_str()), (Some("alice/engine"), Some("octocat/engine")));
    assert!(matches!(started["state"].as_str(), Some("queued" | "importing")), "{started}");
    let id = started["id"].as_i64().unwrap();
    let done = api.wait_state(id, "done").await;
    assert!(done["error"].is_null() && done["finished_at"].is_i64(), "{done}");

    let path = repo_path(&s, "alice", "engine");
    let github = refs_of(&bare);
    assert_eq!(github.len(), 13 + 3, "the fixture: 13 branches and 3 tags");
    assert_eq!(refs_of(&path), github, "exactly GitHub's heads and tags");
    let all = ok(&path, &["for-each-ref", "--format=%(refname)"]);
    assert!(!all.contains("refs/pull/"), "no pull request refs: {all}");
    assert_eq!(ok(&path, &["symbolic-ref", "HEAD"]).trim(), "refs/heads/trunk", "HEAD at GitHub's default branch");
    let fsck = git(&path, &["fsck", "--strict", "--no-dangling"]);
    assert!(fsck.status.success(), "{}", String::from_utf8_lossy(&fsck.stderr));
    assert_eq!(ok(&path, &["cat-file", "-t", "refs/tags/v1.0"]).trim(), "tag", "annotated tags stay annotated");

    // The repository: private like GitHub's, the description copied (control characters dropped),
    // no pull mirror without Keep in sync, and Fetch from remote ready with the source.
    let st = &s.server.state;
    let found = repos::find(&st.db, "alice", "engine").await.unwrap().unwrap();
    assert!(found.repo.is_private);
    assert_eq!(found.repo.description, "The engine room");
    let rows = mirrors::list_for_repository(&st.db, found.repo.id).await.unwrap();
    assert_eq!(rows.iter().map(|m| (m.direction.as_str(), m.remote_name.as_str())).collect::<Vec<_>>(), [("fetch", "engine")]);
    let views = app::ssr::mirror_service::views(st, found.repo.id).await.unwrap();
    assert_eq!(views.import.map(|i| (i.remote, i.state)), Some(("octocat/engine".into(), "done".into())));

    // A clone from GitBlixt is what GitHub has, default branch included.
    let clone = tempfile::tempdir().unwrap();
    let url = format!("http://alice:{PASSWORD}@{}/alice/engine.git", s.server.addr);
    let out = git(clone.path(), &["clone", "-q", &url, "c"]);
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(ok(&clone.path().join("c"), &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "trunk");

    // Another user neither sees the import nor can retry it.
    let bob = accounts::create_user(&st.db, &UserName::parse("bob").unwrap(), "bob-password-1", false).await.unwrap();
    let _ = bob;
    let bob_api = Api::for_user(&s, "bob").await;
    assert_eq!(bob_api.get(id).await.0, 404);
    assert_eq!(bob_api.retry(id).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_repositories_import_without_a_connection_private_ones_do_not() {
    let (s, _) = Setup::start().await;
    let st = &s.server.state;
    accounts::create_user(&st.db, &UserName::parse("bob").unwrap(), "bob-password-1", false).await.unwrap();
    let api = Api::for_user(&s, "bob").await;
    let public = rich_github_repo(&s, "octocat", "open", false);
    rich_github_repo(&s, "octocat", "secret", true);

    // By URL, as pasted from the browser; no GitHub connection needed.
    let (status, started) = api.import(json!({"remote": format!("{}/octocat/open", s.double.web_url), "name": "open-copy"})).await;
    assert_eq!(status, 202, "{started}");
    api.wait_state(started["id"].as_i64().unwrap(), "done").await;
    assert_eq!(refs_of(&repo_path(&s, "bob", "open-copy")), refs_of(&public));
    assert!(!repos::find(&st.db, "bob", "open-copy").await.unwrap().unwrap().repo.is_private);

    // A private repository needs the connection: refused, and nothing is created.
    let (status, body) = api.import(json!({"remote": "octocat/secret"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["message"],
        "Repository not found (404): verify that octocat/secret is the correct owner/repo and that the repository exists on GitHub. If it is private, connect your GitHub account under Settings → Connected Accounts."
    );
    assert!(repos::find(&st.db, "bob", "secret").await.unwrap().is_none());
    // Keep in sync acts with the GitHub account: refused up front without one.
    let (status, body) = api.import(json!({"remote": "octocat/open", "name": "synced", "mirror_interval_minutes": 15})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("Keep in sync needs your GitHub account"), "{body}");
    assert!(repos::find(&st.db, "bob", "synced").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_creates_nothing() {
    let (s, _) = Setup::start().await;
    let st = &s.server.state;
    rich_github_repo(&s, "octocat", "engine", false);
    let api = Api::for_user(&s, "alice").await;
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let count = || async { repos::dashboard(&st.db, &alice).await.unwrap().0.len() };
    let before = count().await;
    let cases = [
        (json!({"remote": "octocat/engine", "name": "project"}), "You already have a repository named 'project'."),
        (json!({"remote": "octocat/engine", "name": "bad name!"}), ""),
        (json!({"remote": "octocat/engine", "name": "settings"}), ""),
        (json!({"remote": "octocat/engine", "visibility": "secret"}), "Visibility must be public or private."),
        (json!({"remote": "octocat/engine", "mirror_interval_minutes": 7}), "Choose a sync interval: 5, 10, 15, 30 or 60 minutes."),
        (json!({"remote": "not a repository"}), ""),
        (json!({"remote": "octocat/missing"}), "Repository not found (404): verify that octocat/missing is the correct owner/repo and that the repository exists on GitHub."),
        (json!({"remote": "octocat/engine", "description": "x".repeat(501)}), "Description is too long (at most 500 characters)."),
    ];
    for (body, message) in cases {
        let (status, answer) = api.import(body.clone()).await;
        assert_eq!(status, 400, "{body} → {answer}");
        if !message.is_empty() {
            assert_eq!(answer["message"], message, "{body}");
        } else {
            assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{answer}");
        }
    }
    let (status, answer) = api.import(json!({"remote": "octocat/engine", "unknown": 1})).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(count().await, before, "no repository was created");
    assert!(imports::of_user(&st.db, alice.id, 10).await.unwrap().is_empty(), "no import was recorded");
    assert!(repos::find(&st.db, "alice", "engine").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_failing_mid_import_fails_it_and_retry_completes_it() {
    let (s, _) = Setup::start().await;
    let st = &s.server.state;
    let bare = rich_github_repo(&s, "octocat", "engine", false);
    let api = Api::for_user(&s, "alice").await;
    // The pack transfer breaks after its first bytes.
    s.double.set_fault(DoubleFault { drop_git_transfers: true, ..DoubleFault::default() });
    let (status, started) = api.import(json!({"remote": "octocat/engine"})).await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_i64().unwrap();
    let failed = api.wait_state(id, "failed").await;
    assert!(failed["error"].as_str().is_some_and(|e| !e.is_empty()), "{failed}");
    // Nothing half-written, and the repository's page says the import failed.
    let path = repo_path(&s, "alice", "engine");
    assert!(refs_of(&path).is_empty(), "no ref from a broken transfer: {:?}", refs_of(&path));
    let browser = Browser::sign_in(&s.server.url(), "alice", PASSWORD).await;
    let page = browser.post("/api/get_repository", &[("owner", "alice"), ("repo", "engine")]).await.text().await.unwrap();
    assert!(page.contains("The import from GitHub (octocat/engine) failed"), "{page}");
    // Only a failed import can be retried; this one can.
    s.double.set_fault(DoubleFault::default());
    let (status, retried) = api.retry(id).await;
    assert_eq!(status, 202, "{retried}");
    api.wait_state(id, "done").await;
    assert_eq!(refs_of(&path), refs_of(&bare));
    let (status, again) = api.retry(id).await;
    assert_eq!((status, again["message"].as_str()), (400, Some("Only a failed import can be retried.")));
    let page = browser.post("/api/get_repository", &[("owner", "alice"), ("repo", "engine")]).await.text().await.unwrap();
    assert!(!page.contains("import from GitHub"), "{page}");
    let runs = mirrors::recent_runs(&st.db, imports::get(&st.db, id).await.unwrap().unwrap().mirror_id.unwrap(), 5).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.outcome.as_str()).collect::<Vec<_>>(), ["success", "error"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_import_can_be_deleted() {
    let (s, _) = Setup::start().await;
    let st = &s.server.state;
    rich_github_repo(&s, "octocat", "engine", false);
    let api = Api::for_user(&s, "alice").await;
    s.double.set_fault(DoubleFault { drop_git_transfers: true, ..DoubleFault::default() });
    let (_, started) = api.import(json!({"remote": "octocat/engine"})).await;
    let id = started["id"].as_i64().unwrap();
    api.wait_state(id, "failed").await;
    let (status, _) = api.send(api.client.delete(format!("{}/imports/{id}", api.base))).await;
    assert_eq!(status, 204);
    assert!(repos::find(&st.db, "alice", "engine").await.unwrap().is_none());
    assert!(!repo_path(&s, "alice", "engine").exists(), "the directory is gone too");
    assert_eq!(api.get(id).await.0, 404);
    // The same import can then start afresh.
    s.double.set_fault(DoubleFault::default());
    let (status, again) = api.import(json!({"remote": "octocat/engine"})).await;
    assert_eq!(status, 202, "{again}");
    api.wait_state(again["id"].as_i64().unwrap(), "done").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_simultaneous_imports_of_one_repository_make_one() {
    let (s, _) = Setup::start().await;
    let st = &s.server.state;
    rich_github_repo(&s, "octocat", "engine", false);
    // GitHub answers slowly, so both requests are in flight together.
    s.double.set_fault(DoubleFault { latency: Duration::from_millis(300), ..DoubleFault::default() });
    let api = Api::for_user(&s, "alice").await;
    let (a, b) = tokio::join!(api.import(json!({"remote": "octocat/engine"})), api.import(json!({"remote": "OctoCat/Engine", "name": "engine-2"})));
    assert_eq!((a.0, b.0), (202, 202), "{a:?} {b:?}");
    assert_eq!(a.1["id"], b.1["id"], "one import: {a:?} {b:?}");
    s.double.set_fault(DoubleFault::default());
    api.wait_state(a.1["id"].as_i64().unwrap(), "done").await;
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let names: Vec<String> = repos::dashboard(&st.db, &alice).await.unwrap().0.into_iter().map(|r| r.name).collect();
    assert_eq!(names.iter().filter(|n| n.starts_with("engine")).count(), 1, "{names:?}");
    assert_eq!(imports::of_user(&st.db, alice.id, 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_in_sync_leaves_a_pull_mirror_with_the_chosen_interval() {
    let (s, _) = Setup::start().await;
    let st = &s.server.state;
    rich_github_repo(&s, "octocat", "engine", false);
    let api = Api::for_user(&s, "alice").await;
    let (status, started) = api.import(json!({"remote": "octocat/engine", "visibility": "private", "mirror_interval_minutes": 30})).await;
    assert_eq!(status, 202, "{started}");
    let done = api.wait_state(started["id"].as_i64().unwrap(), "done").await;
    assert_eq!(done["mirror_interval_minutes"], 30);
    let found = repos::find(&st.db, "alice", "engine").await.unwrap().unwrap();
    assert!(found.repo.is_private, "visibility as chosen, not GitHub's");
    let pulls: Vec<_> = mirrors::list_for_repository(&st.db, found.repo.id).await.unwrap().into_iter().filter(|m| m.direction == "pull").collect();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pull = &pulls[0];
    assert_eq!((pull.interval_minutes, pull.status.as_str(), pull.sync_requested_at), (Some(30), "active", None));
    let next = pull.next_sync_at.unwrap() - app::ssr::db::now();
    assert!((1790..=1980).contains(&next), "first scheduled sync one interval later (plus up to a tenth): in {next} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_import_page_lists_every_page_of_the_accounts_repositories() {
    let (s, _) = Setup::start().await;
    for i in 0..120 {
        s.double.create_repo("octocat", &format!("repo-{i:03}"), i % 7 == 0);
    }
    rich_github_repo(&s, "octocat", "engine", false);
    let api = Api::for_user(&s, "alice").await;
    let (_, started) = api.import(json!({"remote": "octocat/engine", "name": "motor"})).await;
    api.wait_state(started["id"].as_i64().unwrap(), "done").await;
    let browser = Browser::sign_in(&s.server.url(), "alice", PASSWORD).await;
    let res = browser.post("/api/list_import_candidates", &[]).await;
    assert_eq!(res.status(), 200);
    let listed: Value = res.json().await.unwrap();
    assert!(listed["unavailable"].is_null(), "{listed}");
    let repos = listed["repositories"].as_array().unwrap();
    // 120 + engine + project (the mirror's), over two pages of GitHub's 100.
    assert_eq!(repos.len(), 122);
    assert_eq!(repos.iter().filter(|r| r["private"] == true).count(), 18);
    let engine = repos.iter().find(|r| r["full_name"] == "octocat/engine").unwrap();
    assert_eq!(engine["imported_to"], "alice/motor");
    assert!(repos.iter().filter(|r| r["full_name"] != "octocat/engine").all(|r| r["imported_to"].is_null()));
    // Requests to GitHub: the listing followed GitHub's pages.
    let pages = s.double.requests().iter().filter(|r| r.path == "/user/repos").count();
    assert!(pages >= 2, "{pages} page requests");
    // Signed out: refused.
    let res = Browser::new(&s.server.url()).post("/api/list_import_candidates", &[]).await;
    assert_eq!(res.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_wait_until_the_import_is_done() {
    let (s, _) = Setup::start().await;
    rich_github_repo(&s, "octocat", "engine", false);
    // GitHub answers slowly: the import stays running long enough to push into it.
    s.double.set_fault(DoubleFault { latency: Duration::from_millis(1500), ..DoubleFault::default() });
    let api = Api::for_user(&s, "alice").await;
    let (_, started) = api.import(json!({"remote": "octocat/engine"})).await;
    let id = started["id"].as_i64().unwrap();
    let url = format!("http://alice:{PASSWORD}@{}/alice/engine.git", s.server.addr);
    let out = git(s.work(), &["push", &url, "main:refs/heads/pushed"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GitBlixt: this repository is being imported from GitHub; push once the import is done"), "{stderr}");
    s.double.set_fault(DoubleFault::default());
    api.wait_state(id, "done").await;
    let st = s.server.state.clone();
    until("the import's run is recorded", || async { imports::get(&st.db, id).await.unwrap().unwrap().state == imports::ImportState::Done }).await;
    ok(s.work(), &["push", "-q", &url, "main:refs/heads/pushed"]);
    assert!(refs_of(&repo_path(&s, "alice", "engine")).contains_key("refs/heads/pushed"));
}
