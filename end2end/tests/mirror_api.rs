//! The mirroring REST API (`/api/v4`) over real HTTP, against GitBlixt running in this process and
//! the GitHub double: personal access tokens and their scopes, who may see and change which
//! repository's mirrors, every mirror route (list, create, get, change, Sync now, runs, remove),
//! the Settings page's validation messages, and one-time fetches.

mod support;

use app::error::AppError;
use app::names::{RepoName, UserName};
use app::ssr::mirrors::{self, Direction};
use app::ssr::{AppState, accounts};
use github_double::github::Permission;
use github_double::gitcli::ok;
use reqwest::Method;
use serde_json::{Value, json};
use std::future::Future;
use std::time::{Duration, Instant};
use support::Setup;

/// `alice/project`, as the API's `{project}`.
const PROJECT: &str = "alice%2Fproject";

/// How a request proves who it is.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Anonymous,
    /// `PRIVATE-TOKEN: <token>`
    Private(&'a str),
    /// `Authorization: Bearer <token>`
    Bearer(&'a str),
}

/// A plain HTTP client of `/api/v4`.
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(s: &Setup) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Api { client, base: format!("{}/api/v4", s.server.url()) }
    }

    fn request(&self, method: Method, path: &str, auth: Auth<'_>) -> reqwest::RequestBuilder {
        let req = self.client.request(method, format!("{}{path}", self.base));
        match auth {
            Auth::Anonymous => req,
            Auth::Private(t) => req.header("PRIVATE-TOKEN", t),
            Auth::Bearer(t) => req.header("Authorization", format!("Bearer {t}")),
        }
    }

    /// Sends and returns the status and the JSON body (`Null` when empty). Every error answer must
    /// be JSON with a `message`.
    async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let content_type = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = res.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("answer {status} is not JSON ({e}): {text}"))
        };
        if status >= 400 {
            assert!(content_type.starts_with("application/json"), "error {status} as {content_type:?}: {text}");
            assert!(body["message"].is_string(), "error {status} without a message: {text}");
        }
        (status, body)
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(self.request(Method::GET, path, Auth::Private(token))).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.send(self.request(Method::POST, path, Auth::Private(token)).json(&body)).await
    }

    async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.send(self.request(Method::PATCH, path, Auth::Private(token)).json(&body)).await
    }

    async fn delete(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(self.request(Method::DELETE, path, Auth::Private(token))).await
    }

    /// A request with a raw (possibly broken) JSON body.
    async fn raw(&self, method: Method, path: &str, token: &str, body: &'static str) -> (u16, Value) {
        self.send(self.request(method, path, Auth::Private(token)).header("content-type", "application/json").body(body)).await
    }
}

/// A new personal access token of `user` with `scopes`.
async fn new_token(st: &AppState, user: &str, scopes: &[&str]) -> String {
    let u = accounts::find_user(&st.db, user).await.unwrap().unwrap();
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    accounts::create_token(&st.db, u.id, &format!("{user} {}", scopes.join(" ")), &scopes, 30).await.unwrap().token
}

/// Waits (bounded, 60 s) until `check` gives a value, polling.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The repository's mirror rows (every direction), in id order.
async fn rows(st: &AppState, owner: &str, repo: &str) -> Vec<mirrors::MirrorRow> {
    let found = app::ssr::repos::find(&st.db, owner, repo).await.unwrap().unwrap();
    mirrors::list_for_repository(&st.db, found.repo.id).await.unwrap()
}

/// Waits until no mirror of the repository has a request pending or a run going.
async fn settled(st: &AppState, owner: &str, repo: &str) -> Vec<mirrors::MirrorRow> {
    eventually("the mirrors settled", move || async move {
        let rows = rows(st, owner, repo).await;
        rows.iter().all(|m| m.sync_requested_at.is_none() && m.leased_by.is_none()).then_some(rows)
    })
    .await
}

/// Asserts that the repository's mirrors are still those of `before` (same ones, same settings)
/// and that nobody asked any of them to sync. (Their sync state itself is left out: a push made
/// just before a test may still be mirrored at any time.)
async fn unchanged(st: &AppState, owner: &str, repo: &str, before: &[mirrors::MirrorRow]) {
    let settings = |rows: &[mirrors::MirrorRow]| {
        rows.iter()
            .map(|m| (m.id, m.direction.clone(), m.remote_owner.clone(), m.remote_name.clone(), m.interval_minutes, m.paused))
            .collect::<Vec<_>>()
    };
    let now = rows(st, owner, repo).await;
    assert_eq!(settings(&now), settings(before));
    for m in &now {
        assert_ne!(m.requested_trigger.as_deref(), Some("manual"), "a sync was asked for: {m:?}");
        let runs = mirrors::recent_runs(&st.db, m.id, 100).await.unwrap();
        assert!(!runs.iter().any(|r| r.trigger == "manual"), "a sync was asked for: {m:?}");
    }
}

/// The message of a server function's error answer (an [`AppError`] as JSON).
fn page_message(body: &str) -> String {
    match serde_json::from_str::<AppError>(body) {
        Ok(AppError::Invalid(message)) => message,
        other => panic!("not a validation error: {other:?} from {body}"),
    }
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array().unwrap_or_else(|| panic!("not a list: {list}")).iter().map(|m| m["id"].as_i64().unwrap()).collect()
}

/// The per-ref result `name` of a run.
fn ref_of<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["refs"].as_array().unwrap().iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("{name} is not in {run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_authenticate_and_their_scopes_limit_what_they_may_do() {
    let (s, mirror) = Setup::start().await;
    let st = s.server.state.clone();
    let api = Api::new(&s);
    let list = format!("/projects/{PROJECT}/mirrors");
    let one = format!("/projects/{PROJECT}/mirrors/{mirror}");
    let full = new_token(&st, "alice", &["api"]).await;
    let read = new_token(&st, "alice", &["read_api"]).await;
    let git_read = new_token(&st, "alice", &["read_repository"]).await;
    let git_write = new_token(&st, "alice", &["read_repository", "write_repository"]).await;

    // No token, an unknown one, a malformed one: 401 with a JSON message and a challenge.
    for auth in [Auth::Anonymous, Auth::Private("gbpat_0123456789012345678901234567890123456789"), Auth::Bearer("nonsense")] {
        let res = api.request(Method::GET, &list, auth).send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert!(res.headers().get("www-authenticate").unwrap().to_str().unwrap().starts_with("Bearer"));
        let (status, body) = api.send(api.request(Method::GET, &list, auth)).await;
        assert_eq!((status, body["message"].as_str()), (401, Some("401 Unauthorized")));
    }
    let (status, _) = api.send(api.request(Method::POST, &list, Auth::Anonymous).json(&json!({"direction": "push", "remote": "octocat/x"}))).await;
    assert_eq!(status, 401);

    // Both ways of presenting a token work.
    let (status, by_header) = api.send(api.request(Method::GET, &list, Auth::Private(&full))).await;
    assert_eq!(status, 200, "{by_header}");
    assert_eq!(ids(&by_header), vec![mirror]);
    let (status, by_bearer) = api.send(api.request(Method::GET, &list, Auth::Bearer(&full))).await;
    assert_eq!(status, 200, "{by_bearer}");
    assert_eq!(ids(&by_bearer), vec![mirror]);

    // read_api reads everything, and changes nothing.
    let (status, _) = api.send(api.request(Method::GET, &list, Auth::Bearer(&read))).await;
    assert_eq!(status, 200);
    assert_eq!(api.get(&one, &read).await.0, 200);
    assert_eq!(api.get(&format!("{one}/runs"), &read).await.0, 200);
    assert_eq!(api.get(&format!("/projects/{PROJECT}/fetches"), &read).await.0, 200);
    let before = settled(&st, "alice", "project").await;
    let needs_api = "403 Forbidden - insufficient scope: this request needs a token with the api scope.";
    let writes = [
        api.post(&list, &read, json!({"direction": "pull", "remote": "octocat/project", "interval_minutes": 15})).await,
        api.patch(&one, &read, json!({"paused": true})).await,
        api.delete(&one, &read).await,
        api.post(&format!("{one}/sync"), &read, json!({})).await,
        api.post(&format!("/projects/{PROJECT}/fetches"), &read, json!({"remote": "octocat/project"})).await,
        api.send(api.request(Method::DELETE, &one, Auth::Bearer(&read))).await,
    ];
    for (status, body) in writes {
        assert_eq!((status, body["message"].as_str()), (403, Some(needs_api)));
    }
    unchanged(&st, "alice", "project", &before).await;

    // Git scopes do not open the API at all, not even for reading.
    let needs_read = "403 Forbidden - insufficient scope: this request needs a token with the api or read_api scope.";
    for git in [&git_read, &git_write] {
        for (status, body) in [api.get(&list, git).await, api.get(&one, git).await, api.get(&format!("{one}/runs"), git).await] {
            assert_eq!((status, body["message"].as_str()), (403, Some(needs_read)));
        }
        let (status, body) = api.delete(&one, git).await;
        assert_eq!((status, body["message"].as_str()), (403, Some(needs_api)));
    }
    unchanged(&st, "alice", "project", &before).await;

    // A revoked token stops working at once.
    let doomed = new_token(&st, "alice", &["api"]).await;
    assert_eq!(api.get(&list, &doomed).await.0, 200);
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let info = accounts::list_tokens(&st.db, alice.id).await.unwrap();
    assert!(info.iter().any(|t| t.last_used_at.is_some()), "use is recorded");
    let newest = info.iter().map(|t| t.id).max().unwrap();
    assert!(accounts::revoke_token(&st.db, alice.id, newest).await.unwrap());
    for (status, body) in [api.get(&list, &doomed).await, api.delete(&one, &doomed).await] {
        assert_eq!((status, body["message"].as_str()), (401, Some("401 Unauthorized")));
    }
    unchanged(&st, "alice", "project", &before).await;

    // Unknown routes under the API answer JSON too.
    let (status, body) = api.get("/projects/alice%2Fproject/wikis", &full).await;
    assert_eq!((status, body["message"].as_str()), (404, Some("404 Not Found")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_users_get_403_or_404_and_change_nothing() {
    let (s, mirror) = Setup::start().await;
    let st = s.server.state.clone();
    let api = Api::new(&s);
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    accounts::create_user(&st.db, &UserName::parse("bob").unwrap(), "bob-password-1", false).await.unwrap();
    let bob = new_token(&st, "bob", &["api"]).await;

    // alice's private repository, with a mirror of its own.
    let secret = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("secret").unwrap(), "", true).await.unwrap();
    let (_up, _bare) = support::github_repo_with_commit(&s.double, "octocat", "secret-upstream", true);
    let remote = app::github_repo::GithubRepo::parse("octocat/secret-upstream").unwrap();
    let secret_mirror = mirrors::create(&st.db, secret.repo.id, alice.id, Direction::Pull, &remote, Some(60), false).await.unwrap();
    st.sync_wake.everyone();
    let project_before = settled(&st, "alice", "project").await;
    let secret_before = settled(&st, "alice", "secret").await;
    assert_eq!(project_before.len(), 1);
    assert_eq!(secret_before.len(), 1);

    // Public: bob may read the repository but not administer it: 403 everywhere.
    let public = |path: &str| format!("/projects/{PROJECT}{path}");
    let m = format!("/mirrors/{mirror}");
    let refused = [
        api.get(&public("/mirrors"), &bob).await,
        api.post(&public("/mirrors"), &bob, json!({"direction": "pull", "remote": "octocat/project", "interval_minutes": 5})).await,
        api.get(&public(&m), &bob).await,
        api.patch(&public(&m), &bob, json!({"paused": true})).await,
        api.delete(&public(&m), &bob).await,
        api.post(&public(&format!("{m}/sync")), &bob, json!({})).await,
        api.get(&public(&format!("{m}/runs")), &bob).await,
        api.get(&public("/fetches"), &bob).await,
        api.post(&public("/fetches"), &bob, json!({"remote": "octocat/project"})).await,
        // the same repository by its numeric id
        api.get(&format!("/projects/{}/mirrors", project_before[0].repository_id), &bob).await,
        api.delete(&format!("/projects/{}/mirrors/{mirror}", project_before[0].repository_id), &bob).await,
    ];
    for (i, (status, body)) in refused.into_iter().enumerate() {
        assert_eq!((status, body["message"].as_str()), (403, Some("403 Forbidden")), "request {i}");
    }

    // Private: not even shown to exist, by name or by id: 404 like a repository that does not.
    let private = |path: &str| format!("/projects/alice%2Fsecret{path}");
    let m = format!("/mirrors/{secret_mirror}");
    let hidden = [
        api.get(&private("/mirrors"), &bob).await,
        api.post(&private("/mirrors"), &bob, json!({"direction": "push", "remote": "octocat/project"})).await,
        api.get(&private(&m), &bob).await,
        api.patch(&private(&m), &bob, json!({"paused": true})).await,
        api.delete(&private(&m), &bob).await,
        api.post(&private(&format!("{m}/sync")), &bob, json!({})).await,
        api.post(&private("/fetches"), &bob, json!({"remote": "octocat/project"})).await,
        api.get(&format!("/projects/{}/mirrors", secret.repo.id), &bob).await,
        api.delete(&format!("/projects/{}/mirrors/{secret_mirror}", secret.repo.id), &bob).await,
        api.get("/projects/alice%2Fno-such-repository/mirrors", &bob).await,
        api.get("/projects/999999/mirrors", &bob).await,
    ];
    for (i, (status, body)) in hidden.into_iter().enumerate() {
        assert_eq!((status, body["message"].as_str()), (404, Some("404 Not Found")), "request {i}");
    }

    // Nothing changed.
    unchanged(&st, "alice", "project", &project_before).await;
    unchanged(&st, "alice", "secret", &secret_before).await;

    // While alice, the owner, sees both.
    let own = new_token(&st, "alice", &["read_api"]).await;
    assert_eq!(ids(&api.get(&private("/mirrors"), &own).await.1), vec![secret_mirror]);
    assert_eq!(ids(&api.get(&format!("/projects/{}/mirrors", secret.repo.id), &own).await.1), vec![secret_mirror]);
    assert_eq!(ids(&api.get(&public("/mirrors"), &own).await.1), vec![mirror]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_requests_get_the_page_messages_and_create_nothing() {
    let (s, mirror) = Setup::start().await;
    let st = s.server.state.clone();
    let api = Api::new(&s);
    let token = new_token(&st, "alice", &["api"]).await;
    let page = support::Browser::sign_in(&s.server.url(), "alice", support::PASSWORD).await;
    let list = format!("/projects/{PROJECT}/mirrors");
    // A repository octocat may read but not push to.
    s.double.add_user("hubot");
    s.double.create_repo("hubot", "locked", false);
    s.double.set_permission("hubot", "locked", "octocat", Some(Permission::Pull));
    let before = settled(&st, "alice", "project").await;
    assert_eq!(before.len(), 1);

    // (direction, remote, interval) -> the message, from the API and from the Settings page alike.
    let cases: [(&str, &str, Option<i64>, &str); 9] = [
        ("pull", "not a repo", Some(15), "Enter the GitHub repository as owner/repo, for example octocat/hello-world."),
        ("push", "octocat/", None, "Enter the GitHub repository as owner/repo, for example octocat/hello-world."),
        ("pull", "octocat/project", Some(7), "Choose a sync interval: 5, 10, 15, 30 or 60 minutes."),
        ("push", "octocat/elsewhere", Some(15), "Only pull mirrors have a sync interval."),
        ("push", "octocat/project", None, "This repository already has a push mirror to octocat/project."),
        ("push", "https://github.com/octocat/project.git", None, "This repository already has a push mirror to octocat/project."),
        ("sideways", "octocat/project", None, "The mirror direction must be push or pull."),
        ("push", "hubot/locked", None, "Permission denied (403): ensure your GitHub account has push access to hubot/locked."),
        (
            "pull",
            "octocat/missing",
            Some(15),
            "Repository not found (404): verify that octocat/missing is the correct owner/repo and that the repository exists on GitHub.",
        ),
    ];
    for (direction, remote, interval, expected) in cases {
        let mut body = json!({"direction": direction, "remote": remote});
        if let Some(i) = interval {
            body["interval_minutes"] = json!(i);
        }
        let (status, answer) = api.post(&list, &token, body).await;
        assert_eq!((status, answer["message"].as_str()), (400, Some(expected)), "{direction} {remote} {interval:?}");
        let interval = interval.map(|i| i.to_string());
        let mut form = vec![("owner", "alice"), ("repo", "project"), ("direction", direction), ("remote", remote)];
        if let Some(i) = &interval {
            form.push(("interval", i));
        }
        let (status, text) = page.post_err("/api/enable_mirror", &form).await;
        assert_eq!((status, page_message(&text)), (400, expected.to_string()), "the page, for {direction} {remote}");
    }
    // A one-time fetch is not a mirror.
    let (status, answer) = api.post(&list, &token, json!({"direction": "fetch", "remote": "octocat/project"})).await;
    assert_eq!((status, answer["message"].as_str()), (400, Some("The mirror direction must be push or pull.")));

    // Bodies that are not what the API takes.
    let (status, answer) = api.post(&list, &token, json!({"direction": "pull", "remote": "octocat/project", "interval": 15})).await;
    assert_eq!(status, 400);
    let message = answer["message"].as_str().unwrap();
    assert!(message.starts_with("The request body is not valid:") && message.contains("unknown field `interval`"), "{message}");
    let (status, answer) = api.post(&list, &token, json!({"direction": "push"})).await;
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().unwrap().contains("remote"), "{answer}");
    let (status, answer) = api.raw(Method::POST, &list, &token, r#"{"direction": "push", "remote": "#).await;
    assert_eq!(status, 400);
    assert!(answer["message"].as_str().unwrap().starts_with("The request body is not valid:"), "{answer}");
    let (status, _) = api.raw(Method::POST, &list, &token, r#"{"direction": "pull", "remote": "octocat/project", "interval_minutes": "often"}"#).await;
    assert_eq!(status, 400);

    // Nothing was created by any of them, and GitHub saw no push.
    unchanged(&st, "alice", "project", &before).await;
    assert_eq!(ids(&api.get(&list, &token).await.1), vec![mirror]);
    assert!(!s.double.requests().iter().any(|r| r.path.contains("locked") && r.path.ends_with("git-receive-pack")));
    assert!(s.double.refs("hubot", "locked").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirrors_are_listed_created_changed_synced_and_removed() {
    let (s, push_mirror) = Setup::start().await;
    let st = s.server.state.clone();
    let api = Api::new(&s);
    let token = new_token(&st, "alice", &["api"]).await;
    let page = support::Browser::sign_in(&s.server.url(), "alice", support::PASSWORD).await;

    // The list has Setup's push mirror, as the Settings page shows it.
    s.wait_in_sync().await;
    s.wait_settled(push_mirror, "active").await;
    let (status, list) = api.get(&format!("/projects/{PROJECT}/mirrors"), &token).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(ids(&list), vec![push_mirror]);
    let pushed = &list[0];
    assert_eq!((pushed["direction"].as_str(), pushed["remote"].as_str()), (Some("push"), Some("octocat/project")));
    assert_eq!(pushed["interval_minutes"], Value::Null);
    assert_eq!(pushed["paused"], false);
    assert_eq!(pushed["error"], Value::Null);
    assert_eq!(pushed["runs"][0]["outcome"], "success", "{pushed}");
    let res = page.post("/api/get_mirrors", &[("owner", "alice"), ("repo", "project")]).await;
    assert!(res.status().is_success());
    let on_page: app::model::MirrorsView = res.json().await.unwrap();
    let listed: Vec<app::model::MirrorView> = serde_json::from_value(list.clone()).unwrap();
    let settings = |views: &[app::model::MirrorView]| {
        views.iter().map(|m| (m.id, m.direction.clone(), m.remote.clone(), m.interval_minutes, m.paused)).collect::<Vec<_>>()
    };
    let on_page: Vec<_> = on_page.push.into_iter().chain(on_page.pull).collect();
    assert_eq!(settings(&listed), settings(&on_page), "the API lists what the Settings page shows");

    // A pull mirror of a GitHub repository into a new repository: 201, then it syncs.
    let (up, upstream) = support::github_repo_with_commit(&s.double, "octocat", "upstream", false);
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let downstream = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("downstream").unwrap(), "", false).await.unwrap();
    let local = st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("downstream").unwrap());
    let project = "alice%2Fdownstream";
    let (status, created) =
        api.post(&format!("/projects/{project}/mirrors"), &token, json!({"direction": "pull", "remote": "octocat/upstream", "interval_minutes": 30})).await;
    assert_eq!(status, 201, "{created}");
    let pull = created["id"].as_i64().unwrap();
    assert_eq!((created["direction"].as_str(), created["remote"].as_str()), (Some("pull"), Some("octocat/upstream")));
    assert_eq!(created["interval_minutes"], 30);
    assert!(["Queued", "Syncing", "Active"].contains(&created["state"].as_str().unwrap()), "{created}");
    let row = mirrors::get(&st.db, pull).await.unwrap().unwrap();
    assert_eq!((row.repository_id, row.direction.as_str(), row.interval_minutes), (downstream.repo.id, "pull", Some(30)));
    let one = format!("/projects/{project}/mirrors/{pull}");
    support::until("the pull mirror brought GitHub's refs", || async { support::refs_of(&local) == support::refs_of(&upstream) }).await;
    let (api, one, token) = (&api, &one, &token);
    let first = eventually("the pull mirror's first run is shown", move || {
        async move {
            let (_, m) = api.get(one, token).await;
            assert_ne!(m["state"], "Error", "{m}");
            (m["state"] == "Active" && m["runs"].as_array().unwrap().len() == 1).then_some(m)
        }
    })
    .await;
    assert_eq!(first["runs"][0]["trigger"], "initial");
    assert!(first["last_success_at"].is_i64() && first["next_sync_at"].is_i64(), "{first}");
    let (status, runs) = api.get(&format!("{one}/runs"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(runs.as_array().unwrap().len(), 1);
    let initial = &runs[0];
    assert_eq!(initial["outcome"], "success");
    let main = ref_of(initial, "refs/heads/main");
    assert_eq!((main["outcome"].as_str(), &main["old"]), (Some("created"), &Value::Null));
    assert_eq!(main["new"].as_str().unwrap(), support::refs_of(&upstream)["refs/heads/main"]);
    assert_eq!(ref_of(initial, "refs/tags/v1")["outcome"], "created");

    // GitHub moves on; Sync now: 202, and a second run with what changed.
    let old = ok(up.path(), &["rev-parse", "main"]).trim().to_string();
    std::fs::write(up.path().join("b.txt"), "b\n").unwrap();
    ok(up.path(), &["add", "-A"]);
    ok(up.path(), &["commit", "-q", "-m", "b"]);
    ok(up.path(), &["push", "-q", upstream.to_str().unwrap(), "main"]);
    let new = ok(up.path(), &["rev-parse", "main"]).trim().to_string();
    let (status, synced) = api.post(&format!("{one}/sync"), &token, json!({})).await;
    assert_eq!(status, 202, "{synced}");
    assert_eq!(synced["id"], pull);
    let (api, one, token) = (&api, &one, &token);
    let runs = eventually("the manual run is listed", move || {
        async move {
            let (_, runs) = api.get(&format!("{one}/runs"), token).await;
            let n = runs.as_array().unwrap().len();
            assert!(n <= 2, "one Sync now, one run: {runs}");
            (n == 2 && runs[0]["finished_at"].is_i64()).then_some(runs)
        }
    })
    .await;
    let manual = &runs[0];
    assert_eq!((manual["trigger"].as_str(), manual["outcome"].as_str()), (Some("manual"), Some("success")), "{manual}");
    let main = ref_of(manual, "refs/heads/main");
    assert_eq!((main["outcome"].as_str(), main["old"].as_str(), main["new"].as_str()), (Some("updated"), Some(old.as_str()), Some(new.as_str())));
    assert_eq!(runs[1]["id"], initial["id"], "newest first");
    assert_eq!(support::refs_of(&local), support::refs_of(&upstream));
    settled(&st, "alice", "downstream").await;

    // Pages of runs.
    let page_of = |q: &str| format!("{one}/runs?{q}");
    assert_eq!(ids(&api.get(&page_of("per_page=1"), &token).await.1), vec![manual["id"].as_i64().unwrap()]);
    assert_eq!(ids(&api.get(&page_of("page=2&per_page=1"), &token).await.1), vec![initial["id"].as_i64().unwrap()]);
    assert_eq!(ids(&api.get(&page_of("page=3&per_page=1"), &token).await.1), Vec::<i64>::new());
    assert_eq!(api.get(&page_of("page=1&per_page=100"), &token).await.1.as_array().unwrap().len(), 2);
    assert_eq!(api.get(&page_of(""), &token).await.1.as_array().unwrap().len(), 2, "20 per page by default");
    // A page far past the end is empty, however large its number.
    assert_eq!(api.get(&page_of("page=9223372036854775807&per_page=100"), &token).await, (200, json!([])));
    for bad in ["per_page=0", "page=0", "per_page=101", "page=-1&per_page=5"] {
        let (status, body) = api.get(&page_of(bad), &token).await;
        assert_eq!(
            (status, body["message"].as_str()),
            (400, Some("page must be at least 1 and per_page between 1 and 100.")),
            "{bad}"
        );
    }

    // Change the interval and pause: both shown by GET.
    let (status, changed) = api.patch(&one, &token, json!({"interval_minutes": 60, "paused": true})).await;
    assert_eq!(status, 200, "{changed}");
    let (status, got) = api.get(&one, &token).await;
    assert_eq!(status, 200);
    assert_eq!(got, changed);
    assert_eq!((got["interval_minutes"].as_i64(), got["paused"].as_bool(), got["state"].as_str()), (Some(60), Some(true), Some("Paused")));
    let row = mirrors::get(&st.db, pull).await.unwrap().unwrap();
    assert_eq!((row.interval_minutes, row.paused), (Some(60), true));
    let after_last = row.next_sync_at.unwrap() - row.last_sync_at.unwrap();
    assert!((3600..=3960).contains(&after_last), "the next sync is one new interval after the last (plus up to a tenth): {after_last} s");

    // A bad interval changes nothing at all (not even the pause given with it).
    let (status, body) = api.patch(&one, &token, json!({"interval_minutes": 7, "paused": false})).await;
    assert_eq!((status, body["message"].as_str()), (400, Some("Choose a sync interval: 5, 10, 15, 30 or 60 minutes.")));
    assert_eq!(api.get(&one, &token).await.1, got);
    assert_eq!(mirrors::get(&st.db, pull).await.unwrap().unwrap(), row);
    let (status, body) = api.patch(&one, &token, json!({})).await;
    assert_eq!((status, body["message"].as_str()), (400, Some("Nothing to change: give interval_minutes, paused and/or overwrite_diverged.")));
    let (status, _) = api.patch(&one, &token, json!({"interval_minutes": 60, "paused": true, "remote": "octocat/other"})).await;
    assert_eq!(status, 400);
    // A paused mirror does not sync.
    let (status, body) = api.post(&format!("{one}/sync"), &token, json!({})).await;
    assert_eq!((status, body["message"].as_str()), (400, Some("This mirror is paused: resume it to sync.")));
    assert_eq!(mirrors::get(&st.db, pull).await.unwrap().unwrap(), row);

    // Push mirrors have no interval.
    let push_one = format!("/projects/{PROJECT}/mirrors/{push_mirror}");
    let (status, body) = api.patch(&push_one, &token, json!({"interval_minutes": 30})).await;
    assert_eq!((status, body["message"].as_str()), (400, Some("Only pull mirrors have a sync interval.")));
    let push_row = mirrors::get(&st.db, push_mirror).await.unwrap().unwrap();
    assert_eq!((push_row.interval_minutes, push_row.paused), (None, false));
    // Nor does a bad interval given with it pause it.
    let (status, _) = api.patch(&push_one, &token, json!({"interval_minutes": 15, "paused": true})).await;
    assert_eq!(status, 400);
    assert!(!mirrors::get(&st.db, push_mirror).await.unwrap().unwrap().paused);

    // The numeric project id works like owner%2Frepo; a mirror is only found under its own repository.
    let by_id = format!("/projects/{}/mirrors/{pull}", downstream.repo.id);
    assert_eq!(api.get(&by_id, &token).await, (200, got.clone()));
    assert_eq!(ids(&api.get(&format!("/projects/{}/mirrors", downstream.repo.id), &token).await.1), vec![pull]);
    let (status, body) = api.get(&format!("/projects/{PROJECT}/mirrors/{pull}"), &token).await;
    assert_eq!((status, body["message"].as_str()), (404, Some("404 Not Found")));
    assert_eq!(api.delete(&format!("/projects/{PROJECT}/mirrors/{pull}"), &token).await.0, 404);
    assert_eq!(api.get(&format!("/projects/{project}/mirrors/{push_mirror}"), &token).await.0, 404);
    assert_eq!(api.get(&format!("/projects/{project}/mirrors/987654"), &token).await.0, 404);
    assert!(mirrors::get(&st.db, pull).await.unwrap().is_some());

    // DELETE: 204, then gone (its runs with it).
    let (status, body) = api.delete(&by_id, &token).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, body) = api.get(&one, &token).await;
    assert_eq!((status, body["message"].as_str()), (404, Some("404 Not Found")));
    assert_eq!(api.get(&format!("{one}/runs"), &token).await.0, 404);
    assert_eq!(api.delete(&one, &token).await.0, 404);
    assert!(mirrors::get(&st.db, pull).await.unwrap().is_none());
    assert_eq!(mirrors::count_runs(&st.db, pull).await.unwrap(), 0);
    assert_eq!(ids(&api.get(&format!("/projects/{project}/mirrors"), &token).await.1), Vec::<i64>::new());
    // Setup's push mirror is untouched.
    assert_eq!(ids(&api.get(&format!("/projects/{PROJECT}/mirrors"), &token).await.1), vec![push_mirror]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_fetch_runs_and_is_found_under_fetches_only() {
    let (s, push_mirror) = Setup::start().await;
    let st = s.server.state.clone();
    let api = Api::new(&s);
    let token = new_token(&st, "alice", &["api"]).await;
    let (_up, public) = support::github_repo_with_commit(&s.double, "octocat", "pubrepo", false);
    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("fetched").unwrap(), "", false).await.unwrap();
    let local = st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("fetched").unwrap());
    let project = "alice%2Ffetched";

    // A repository that does not exist: refused at once, nothing queued.
    let (status, body) = api.post(&format!("/projects/{project}/fetches"), &token, json!({"remote": "octocat/nothing-here"})).await;
    assert_eq!(status, 400);
    assert!(
        body["message"].as_str().unwrap().starts_with(
            "Repository not found (404): verify that octocat/nothing-here is the correct owner/repo and that the repository exists on GitHub."
        ),
        "{body}"
    );
    let (status, body) = api.post(&format!("/projects/{project}/fetches"), &token, json!({"remote": "octocat/pubrepo", "direction": "pull"})).await;
    assert_eq!(status, 400, "{body}");
    assert!(rows(&st, "alice", "fetched").await.is_empty());

    // Fetch a public repository: 202, then done, every branch and tag created.
    let (status, started) = api.post(&format!("/projects/{project}/fetches"), &token, json!({"remote": "octocat/pubrepo"})).await;
    assert_eq!(status, 202, "{started}");
    let fetch = started["id"].as_i64().unwrap();
    assert_eq!((started["direction"].as_str(), started["remote"].as_str()), (Some("fetch"), Some("octocat/pubrepo")));
    let one = format!("/projects/{project}/fetches/{fetch}");
    let (api, one, token) = (&api, &one, &token);
    let done = eventually("the fetch is done", move || {
        async move {
            let (status, f) = api.get(one, token).await;
            assert_eq!(status, 200, "{f}");
            assert_ne!(f["state"], "Error", "{f}");
            let runs = f["runs"].as_array().unwrap().len();
            assert!(runs <= 1, "one Fetch, one run: {f}");
            (f["state"] == "Active" && runs == 1).then_some(f)
        }
    })
    .await;
    assert_eq!(done["runs"][0]["trigger"], "fetch");
    let (status, runs) = api.get(&format!("{one}/runs"), &token).await;
    assert_eq!(status, 200, "{runs}");
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["outcome"], "success");
    let upstream = support::refs_of(&public);
    for name in ["refs/heads/main", "refs/tags/v1"] {
        let r = ref_of(&runs[0], name);
        assert_eq!((r["outcome"].as_str(), &r["old"], r["new"].as_str()), (Some("created"), &Value::Null, Some(upstream[name].as_str())), "{name}");
    }
    assert_eq!(support::refs_of(&local), upstream);
    assert_eq!(api.get(&format!("{one}/runs?per_page=0"), &token).await.0, 400);

    // Listed under fetches, never under mirrors.
    assert_eq!(ids(&api.get(&format!("/projects/{project}/fetches"), &token).await.1), vec![fetch]);
    assert_eq!(ids(&api.get(&format!("/projects/{project}/mirrors"), &token).await.1), Vec::<i64>::new());
    let as_mirror = format!("/projects/{project}/mirrors/{fetch}");
    let not_mirrors = [
        api.get(&as_mirror, &token).await,
        api.get(&format!("{as_mirror}/runs"), &token).await,
        api.patch(&as_mirror, &token, json!({"paused": true})).await,
        api.post(&format!("{as_mirror}/sync"), &token, json!({})).await,
        api.delete(&as_mirror, &token).await,
    ];
    for (i, (status, body)) in not_mirrors.into_iter().enumerate() {
        assert_eq!((status, body["message"].as_str()), (404, Some("404 Not Found")), "request {i}");
    }
    assert!(mirrors::get(&st.db, fetch).await.unwrap().is_some(), "the fetch is still there");
    // And a mirror is not a fetch.
    assert_eq!(api.get(&format!("/projects/{PROJECT}/fetches/{push_mirror}"), &token).await.0, 404);
    assert_eq!(api.get(&format!("/projects/{PROJECT}/fetches/{push_mirror}/runs"), &token).await.0, 404);
    // Nor is a fetch found under another repository.
    assert_eq!(api.get(&format!("/projects/{PROJECT}/fetches/{fetch}"), &token).await.0, 404);

    // Fetching again reuses the same fetch and records a second run.
    let (status, again) = api.post(&format!("/projects/{project}/fetches"), &token, json!({"remote": "https://github.com/octocat/pubrepo"})).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["id"], fetch);
    let (api, one, token) = (&api, &one, &token);
    eventually("the second fetch is done", move || {
        async move {
            let (_, f) = api.get(one, token).await;
            let runs = f["runs"].as_array().unwrap().len();
            assert!(runs <= 2, "one Fetch, one run: {f}");
            assert_ne!(f["state"], "Error", "{f}");
            (f["state"] == "Active" && runs == 2).then_some(())
        }
    })
    .await;
    assert_eq!(rows(&st, "alice", "fetched").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_paths_and_queries_get_json_errors_too() {
    let (s, _mirror) = Setup::start().await;
    let st = &s.server.state;
    let alice = app::ssr::accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let token = app::ssr::accounts::create_token(&st.db, alice.id, "json", &["api".into()], 5).await.unwrap().token;
    let client = reqwest::Client::new();
    for path in ["/api/v4/projects/alice%2Fproject/mirrors/abc", "/api/v4/projects/alice%2Fproject/mirrors/1/runs?page=abc"] {
        let res = client.get(format!("{}{path}", s.server.url())).header("PRIVATE-TOKEN", &token).send().await.unwrap();
        assert_eq!(res.status(), 400, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}: {body}");
    }
}
