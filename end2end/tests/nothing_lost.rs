//! Nothing lost, end to end: GitBlixt running in this process, the real `git` client over HTTP,
//! the GitHub double. Each of the four losses issue 12 found, asserting exact refs on both sides
//! after the sync and after Restore; kept refs hidden from git clients and surviving gc; a removed
//! mirror's history kept.

mod support;

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::mirrors::{self, Direction, Trigger};
use app::ssr::{AppState, accounts};
use github_double::gitcli::{git, ok};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use support::{Setup, until};

const PROJECT: &str = "alice%2Fproject";

/// `/api/v4` with alice's `api` token.
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn new(s: &Setup) -> Self {
        let st = &s.server.state;
        let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
        let token = accounts::create_token(&st.db, alice.id, "nothing lost", &["api".to_string()], 30).await.unwrap().token;
        Api { client: reqwest::Client::new(), base: format!("{}/api/v4", s.server.url()), token }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base)).header("PRIVATE-TOKEN", &self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }
}

fn repo_path(st: &AppState, name: &str) -> PathBuf {
    st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse(name).unwrap())
}

fn rev(dir: &Path, name: &str) -> String {
    ok(dir, &["rev-parse", name]).trim().to_string()
}

fn has_object(dir: &Path, id: &str) -> bool {
    git(dir, &["cat-file", "-e", id]).status.success()
}

/// A clone of GitBlixt's `alice/<name>` over HTTP, as alice.
fn clone_from_gitblixt(s: &Setup, name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://alice:{}@{}/alice/{name}.git", support::PASSWORD, s.server.addr);
    ok(dir.path(), &["clone", "-q", &url, "c"]);
    ok(&dir.path().join("c"), &["config", "user.email", "alice@example.com"]);
    ok(&dir.path().join("c"), &["config", "user.name", "alice"]);
    dir
}

fn commit_in(dir: &Path, file: &str) -> String {
    std::fs::write(dir.join(file), file).unwrap();
    ok(dir, &["add", "-A"]);
    ok(dir, &["commit", "-q", "-m", file]);
    rev(dir, "HEAD")
}

/// Requests a sync and waits until it ran and the mirror settled in `status`.
async fn sync_and_settle(s: &Setup, mirror: i64, status: &str) {
    let st = &s.server.state;
    let before = mirrors::count_runs(&st.db, mirror).await.unwrap();
    mirrors::clear_backoff(&st.db, mirror).await.unwrap();
    mirrors::request_sync(&st.db, mirror, Trigger::Manual).await.unwrap();
    st.sync_wake.everyone();
    until("the sync ran", || async { mirrors::count_runs(&st.db, mirror).await.unwrap() > before }).await;
    s.wait_settled(mirror, status).await;
}

/// The latest run of a mirror, as the API shows it.
async fn latest_run(api: &Api, mirror: i64) -> Value {
    let (status, runs) = api.get(&format!("/projects/{PROJECT}/mirrors/{mirror}/runs?per_page=1")).await;
    assert_eq!(status, 200, "{runs}");
    runs[0].clone()
}

fn ref_in<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["refs"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("{name} in {run}"))
}

fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_mirror_never_overwrites_work_pushed_to_gitblixt_unless_told_and_keeps_it_then() {
    let (s, push_mirror) = Setup::start().await;
    let st = s.server.state.clone();
    let api = Api::new(&s).await;
    let found = app::ssr::repos::find(&st.db, "alice", "project").await.unwrap().unwrap();
    // The push mirror of alice/project is not part of this story.
    s.wait_settled(push_mirror, "active").await;
    mirrors::delete(&st.db, found.repo.id, push_mirror).await.unwrap();

    // GitHub's octocat/upstream → a pull mirror into alice/project.
    let (up, upstream) = support::github_repo_with_commit(&s.double, "octocat", "upstream", false);
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let remote = GithubRepo::parse("octocat/upstream").unwrap();
    // alice/project already has a `main` of its own: the first sync must not overwrite it.
    let local = repo_path(&st, "project");
    let own_main = rev(&local, "main");
    let mirror = mirrors::create(&st.db, found.repo.id, alice.id, Direction::Pull, &remote, Some(5), false).await.unwrap();
    st.sync_wake.everyone();
    s.wait_settled(mirror, "error").await;
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    assert_eq!(
        m.last_error.as_deref(),
        Some("main has diverged: it has commits pushed to GitBlixt that GitHub doesn't have. Push them to GitHub, or turn on Overwrite diverged branches")
    );
    assert_eq!(rev(&local, "main"), own_main, "GitBlixt's main is left as it is");
    assert_eq!(rev(&local, "v1"), rev(&upstream, "v1"), "what did not diverge is brought in");

    // alice pushes more work to GitBlixt, and a branch of her own.
    let clone = clone_from_gitblixt(&s, "project");
    let c = clone.path().join("c");
    let pushed = commit_in(&c, "local-work");
    ok(&c, &["push", "-q", "origin", "main", "main:refs/heads/feature"]);
    // GitHub moves on too.
    let upstream_tip = commit_in(up.path(), "upstream-work");
    ok(up.path(), &["push", "-q", upstream.to_str().unwrap(), "main"]);
    sync_and_settle(&s, mirror, "error").await;
    assert_eq!(rev(&local, "main"), pushed, "the diverged branch is still GitBlixt's");
    assert_eq!(rev(&local, "feature"), pushed, "a branch created in GitBlixt is never pruned");
    // Hosted repositories log every ref update, pushes included.
    let reflog = ok(&local, &["reflog", "show", "--format=%H", "refs/heads/feature"]);
    assert_eq!(reflog.trim(), pushed, "{reflog}");
    let run = latest_run(&api, mirror).await;
    assert_eq!(ref_in(&run, "refs/heads/main")["outcome"], "diverged");

    // Turned on: GitHub's main wins, GitBlixt's tip is kept and restorable.
    let (status, body) = api.send(reqwest::Method::PATCH, &format!("/projects/{PROJECT}/mirrors/{mirror}"), Some(json!({"overwrite_diverged": true}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["overwrite_diverged"], true);
    sync_and_settle(&s, mirror, "active").await;
    assert_eq!(rev(&local, "main"), upstream_tip);
    let run = latest_run(&api, mirror).await;
    let run_id = run["id"].as_i64().unwrap();
    let main = ref_in(&run, "refs/heads/main");
    assert_eq!((main["outcome"].as_str(), main["old"].as_str()), (Some("force-updated"), Some(pushed.as_str())));
    assert_eq!(run["kept"], json!([{"run_id": run_id, "name": "refs/heads/main", "id": pushed}]));
    assert_eq!(rev(&local, &format!("refs/gitblixt/kept/{run_id}/refs/heads/main")), pushed);

    // Kept refs are invisible to git clients and cannot be pushed to.
    let url = format!("http://alice:{}@{}/alice/project.git", support::PASSWORD, s.server.addr);
    let advertised = ok(&c, &["ls-remote", &url]);
    assert!(!advertised.contains("refs/gitblixt"), "{advertised}");
    let mirror_clone = tempfile::tempdir().unwrap();
    ok(mirror_clone.path(), &["clone", "-q", "--mirror", &url, "m.git"]);
    assert!(!ok(&mirror_clone.path().join("m.git"), &["for-each-ref"]).contains("refs/gitblixt"));
    let out = git(&c, &["push", &url, &format!("{upstream_tip}:refs/gitblixt/kept/{run_id}/refs/heads/main")]);
    assert!(!out.status.success(), "a push to a hidden ref is refused");
    assert_eq!(rev(&local, &format!("refs/gitblixt/kept/{run_id}/refs/heads/main")), pushed);

    // They survive the most aggressive gc, reflogs included.
    let gc = std::process::Command::new("git").arg("--git-dir").arg(&local).args(["gc", "-q", "--prune=now"]).status().unwrap();
    assert!(gc.success());
    assert!(has_object(&local, &pushed));

    // Restore: main is taken now, so it comes back as main-restored-<date>; then Discard is refused
    // (nothing left to discard).
    let (status, body) = api.post(&format!("/projects/{PROJECT}/runs/{run_id}/restore"), json!({"ref": "refs/heads/main"})).await;
    assert_eq!(status, 200, "{body}");
    let restored = format!("refs/heads/main-restored-{}", today());
    assert_eq!(body["restored_as"], restored.as_str());
    assert_eq!(rev(&local, &restored), pushed);
    assert!(!git(&local, &["rev-parse", "--verify", "-q", &format!("refs/gitblixt/kept/{run_id}/refs/heads/main")]).status.success());
    let (status, body) = api.post(&format!("/projects/{PROJECT}/runs/{run_id}/discard"), json!({"ref": "refs/heads/main"})).await;
    assert_eq!(status, 400, "{body}");
    // The restored branch is not the mirror's: the next sync leaves it alone.
    sync_and_settle(&s, mirror, "active").await;
    assert_eq!(rev(&local, &restored), pushed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enabling_a_push_mirror_onto_a_github_repository_with_content_asks_first() {
    let (s, push_mirror) = Setup::start().await;
    let st = s.server.state.clone();
    let api = Api::new(&s).await;
    s.wait_settled(push_mirror, "active").await;
    // octocat/existing: 3 branches and 3 tags GitBlixt's alice/project does not have.
    let (up, existing) = support::github_repo_with_commit(&s.double, "octocat", "existing", false);
    for b in ["dev", "release"] {
        ok(up.path(), &["checkout", "-q", "-b", b]);
        commit_in(up.path(), b);
    }
    ok(up.path(), &["tag", "v2"]);
    ok(up.path(), &["tag", "-a", "v3", "-m", "v3"]);
    ok(up.path(), &["push", "-q", existing.to_str().unwrap(), "--all"]);
    ok(up.path(), &["push", "-q", existing.to_str().unwrap(), "--tags"]);
    let github_before = s.double.refs("octocat", "existing");
    assert_eq!(github_before.len(), 6);

    let (status, body) = api.post(&format!("/projects/{PROJECT}/mirrors"), json!({"direction": "push", "remote": "octocat/existing"})).await;
    assert_eq!(status, 409, "{body}");
    let names: Vec<&str> = body["replace"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["refs/heads/dev", "refs/heads/main", "refs/heads/release", "refs/tags/v1", "refs/tags/v2", "refs/tags/v3"]);
    assert!(body["message"].as_str().unwrap().contains("confirm_replace"), "{body}");
    let main = body["replace"].as_array().unwrap().iter().find(|r| r["name"] == "refs/heads/main").unwrap();
    assert_eq!(main["commits_only_on_github"], 1);
    // Nothing changed: no mirror, GitHub as it was.
    let found = app::ssr::repos::find(&st.db, "alice", "project").await.unwrap().unwrap();
    assert_eq!(mirrors::list_for_repository(&st.db, found.repo.id).await.unwrap().len(), 1);
    assert_eq!(s.double.refs("octocat", "existing"), github_before);

    // Confirmed: GitHub equals GitBlixt, and every replaced GitHub tip is kept in GitBlixt.
    let (status, body) = api.post(&format!("/projects/{PROJECT}/mirrors"), json!({"direction": "push", "remote": "octocat/existing", "confirm_replace": true})).await;
    assert_eq!(status, 201, "{body}");
    let mirror = body["id"].as_i64().unwrap();
    s.wait_settled(mirror, "active").await;
    let ours = s.gitblixt_refs();
    assert_eq!(s.double.refs("octocat", "existing"), ours);
    let (_, kept) = api.get(&format!("/projects/{PROJECT}/kept_refs")).await;
    let kept: BTreeMap<String, String> = kept.as_array().unwrap().iter().map(|k| (k["name"].as_str().unwrap().to_string(), k["id"].as_str().unwrap().to_string())).collect();
    let replaced: BTreeMap<String, String> = github_before.into_iter().filter(|(name, id)| ours.get(name) != Some(id)).collect();
    assert_eq!(kept, replaced, "every replaced GitHub tip is kept");
    let run = latest_run(&api, mirror).await;
    assert!(ref_in(&run, "refs/heads/dev")["note"].as_str().unwrap().starts_with("deleted GitHub's dev"), "{run}");

    // Restore one: the branch is back in GitBlixt, and the push mirror brings it back to GitHub.
    let run_id = run["id"].as_i64().unwrap();
    let (status, body) = api.post(&format!("/projects/{PROJECT}/runs/{run_id}/restore"), json!({"ref": "refs/heads/dev"})).await;
    assert_eq!((status, body["restored_as"].as_str()), (200, Some("refs/heads/dev")), "{body}");
    until("the restored branch reached GitHub", || async { s.double.refs("octocat", "existing").get("refs/heads/dev") == Some(&kept["refs/heads/dev"]) }).await;
    // Discard another.
    let (status, _) = api.post(&format!("/projects/{PROJECT}/runs/{run_id}/discard"), json!({"ref": "refs/tags/v3"})).await;
    assert_eq!(status, 204);
    let (_, left) = api.get(&format!("/projects/{PROJECT}/kept_refs")).await;
    assert!(left.as_array().unwrap().iter().all(|k| k["name"] != "refs/tags/v3" && k["name"] != "refs/heads/dev"), "{left}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_mirror_keeps_what_was_pushed_to_github_directly_and_says_so() {
    let (s, mirror) = Setup::start().await;
    let api = Api::new(&s).await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    // Someone pushes to GitHub directly.
    let direct = tempfile::tempdir().unwrap();
    let github = s.double.repo_path("octocat", "project");
    ok(direct.path(), &["clone", "-q", github.to_str().unwrap(), "d"]);
    let d = direct.path().join("d");
    ok(&d, &["checkout", "-q", "-B", "main", "origin/main"]);
    commit_in(&d, "direct-1");
    let direct_tip = commit_in(&d, "direct-2");
    ok(&d, &["push", "-q", "origin", "main"]);
    // Then a push to GitBlixt: mirror semantics overwrite GitHub's main, keeping its tip.
    s.commit("here", "here");
    s.push(&["push", "-q", "origin", "main"]);
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let run = latest_run(&api, mirror).await;
    let main = ref_in(&run, "refs/heads/main");
    assert_eq!(main["note"], "overwrote 2 commits pushed directly to GitHub on main; kept, restore from this run");
    let local = repo_path(&s.server.state, "project");
    assert_eq!(rev(&local, &format!("refs/gitblixt/kept/{}/refs/heads/main", run["id"])), direct_tip);
    assert!(has_object(&local, &direct_tip));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_mirror_keeps_its_history_and_what_it_kept() {
    let (s, _push) = Setup::start().await;
    let st = s.server.state.clone();
    let api = Api::new(&s).await;
    let (up, upstream) = support::github_repo_with_commit(&s.double, "octocat", "upstream", false);
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let downstream = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("downstream").unwrap(), "", false).await.unwrap();
    let mirror = mirrors::create(&st.db, downstream.repo.id, alice.id, Direction::Pull, &GithubRepo::parse("octocat/upstream").unwrap(), Some(5), false)
        .await
        .unwrap();
    st.sync_wake.everyone();
    s.wait_settled(mirror, "active").await;
    // An upstream force push: the mirror applies it and keeps GitBlixt's old main.
    let old = rev(up.path(), "main");
    ok(up.path(), &["commit", "-q", "--amend", "-m", "rewritten"]);
    ok(up.path(), &["push", "-q", "--force", upstream.to_str().unwrap(), "main"]);
    sync_and_settle(&s, mirror, "active").await;
    let (status, _) = api.send(reqwest::Method::DELETE, &format!("/projects/alice%2Fdownstream/mirrors/{mirror}"), None).await;
    assert_eq!(status, 204);
    let (status, removed) = api.get("/projects/alice%2Fdownstream/removed_mirrors").await;
    assert_eq!(status, 200);
    assert_eq!((removed[0]["direction"].as_str(), removed[0]["remote"].as_str()), (Some("pull"), Some("octocat/upstream")));
    let runs = removed[0]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{removed}");
    assert_eq!(runs[0]["kept"][0]["id"], old.as_str());
    let run_id = runs[0]["id"].as_i64().unwrap();
    let (status, run) = api.get(&format!("/projects/alice%2Fdownstream/runs/{run_id}")).await;
    assert_eq!((status, ref_in(&run, "refs/heads/main")["old"].as_str()), (200, Some(old.as_str())));
    // The mirror's memory goes with it; its kept tips stay, and restore works.
    let local = repo_path(&st, "downstream");
    assert!(!ok(&local, &["for-each-ref", &format!("refs/gitblixt/synced/{mirror}/"), &format!("refs/gitblixt/remote/{mirror}/")]).contains("refs/"));
    let (status, body) = api.post(&format!("/projects/alice%2Fdownstream/runs/{run_id}/restore"), json!({"ref": "refs/heads/main"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(rev(&local, body["restored_as"].as_str().unwrap()), old);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_from_remote_never_overwrites_unless_asked_and_then_keeps() {
    let (s, push_mirror) = Setup::start().await;
    let st = s.server.state.clone();
    let api = Api::new(&s).await;
    s.wait_settled(push_mirror, "active").await;
    let found = app::ssr::repos::find(&st.db, "alice", "project").await.unwrap().unwrap();
    mirrors::delete(&st.db, found.repo.id, push_mirror).await.unwrap();
    // octocat/lib (public) has its own `main` and a tag; alice/project has a different `main`.
    let (_up, lib) = support::github_repo_with_commit(&s.double, "octocat", "lib", false);
    let local = repo_path(&st, "project");
    let own_main = rev(&local, "main");
    let (status, body) = api.post(&format!("/projects/{PROJECT}/fetches"), json!({"remote": "octocat/lib"})).await;
    assert_eq!(status, 202, "{body}");
    let fetch = body["id"].as_i64().unwrap();
    s.wait_settled(fetch, "active").await;
    let run = &api.get(&format!("/projects/{PROJECT}/fetches/{fetch}/runs")).await.1[0];
    assert_eq!((ref_in(run, "refs/heads/main")["outcome"].as_str(), ref_in(run, "refs/heads/main")["note"].as_str()), (Some("diverged"), Some("kept GitBlixt's (diverged)")));
    assert_eq!(ref_in(run, "refs/tags/v1")["outcome"], "created");
    assert_eq!(rev(&local, "main"), own_main, "nothing overwritten");
    assert!(run["kept"].as_array().unwrap().is_empty());

    // Asked to overwrite: GitHub's main, GitBlixt's kept under the run.
    let (status, _) = api.post(&format!("/projects/{PROJECT}/fetches"), json!({"remote": "octocat/lib", "overwrite_diverged": true})).await;
    assert_eq!(status, 202);
    until("the second fetch ran", || async { mirrors::count_runs(&st.db, fetch).await.unwrap() == 2 }).await;
    s.wait_settled(fetch, "active").await;
    let run = &api.get(&format!("/projects/{PROJECT}/fetches/{fetch}/runs")).await.1[0];
    assert_eq!(ref_in(run, "refs/heads/main")["outcome"], "force-updated");
    assert_eq!(rev(&local, "main"), rev(&lib, "main"));
    assert_eq!(run["kept"][0]["id"], own_main.as_str());
}
