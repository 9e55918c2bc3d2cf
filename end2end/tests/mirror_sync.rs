//! The sync service end to end, against the GitHub double and the real `git` client: a push
//! mirror's initial sync, every push to GitBlixt reaching GitHub, bursts coalescing, and the
//! spec's error messages on the mirror.

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::accounts;
use app::ssr::github::connection::{self, Tokens};
use app::ssr::mirrors::{self, Direction};
use gitblixt::config::{Config, GithubConfig};
use github_double::github::{DoubleFault, GithubDouble, Permission};
use github_double::gitcli::ok;
use std::path::Path;
use std::time::{Duration, Instant};

struct Setup {
    _data: tempfile::TempDir,
    double: GithubDouble,
    server: gitblixt::Running,
    work: tempfile::TempDir,
}

const PASSWORD: &str = "alice-password-1";

impl Setup {
    /// GitBlixt with `alice/project` whose push mirror points at `octocat/project` on the double,
    /// alice's GitHub connection holding a token of octocat.
    async fn start() -> (Self, i64) {
        let double = GithubDouble::start().await.unwrap();
        double.create_repo("octocat", "project", false);
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(data.path().to_path_buf());
        config.github = GithubConfig { web_url: double.web_url.clone(), api_url: double.api_url.clone(), oauth_app: None };
        let server = gitblixt::start(config).await.unwrap();
        let st = server.state.clone();
        let alice = accounts::create_user(&st.db, &UserName::parse("alice").unwrap(), PASSWORD, false).await.unwrap();
        let repo = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("project").unwrap(), "", false).await.unwrap();
        let token = double.issue_token("octocat", &["repo"]);
        let tokens = Tokens { access: token.into(), refresh: None, scopes: vec!["repo".into()], expires_at: None, refresh_expires_at: None };
        connection::store(&st.db, &st.cipher, alice.id, "octocat", 1, &tokens).await.unwrap();

        let work = tempfile::tempdir().unwrap();
        ok(work.path(), &["init", "-q", "-b", "main"]);
        let setup = Setup { _data: data, double, server, work };
        setup.commit("README", "hello\n");
        setup.push(&["push", "-q", "origin", "main"]);
        let remote = GithubRepo::parse("octocat/project").unwrap();
        let mirror = mirrors::create(&st.db, repo.repo.id, alice.id, Direction::Push, &remote, None).await.unwrap();
        (setup, mirror)
    }

    fn work(&self) -> &Path {
        self.work.path()
    }

    fn commit(&self, file: &str, content: &str) -> String {
        std::fs::write(self.work().join(file), content).unwrap();
        ok(self.work(), &["add", "-A"]);
        ok(self.work(), &["commit", "-q", "-m", file]);
        ok(self.work(), &["rev-parse", "HEAD"]).trim().to_string()
    }

    fn push(&self, args: &[&str]) {
        let url = format!("http://alice:{PASSWORD}@{}/alice/project.git", self.server.addr);
        if !ok(self.work(), &["remote"]).contains("origin") {
            ok(self.work(), &["remote", "add", "origin", &url]);
        }
        ok(self.work(), args);
    }

    fn gitblixt_refs(&self) -> std::collections::BTreeMap<String, String> {
        let path = self.server.state.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("project").unwrap());
        ok(&path, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"])
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(r, id)| (r.to_string(), id.to_string()))
            .collect()
    }

    /// Waits (bounded) until GitHub's refs equal GitBlixt's.
    async fn wait_in_sync(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ours = self.gitblixt_refs();
            let theirs = self.double.refs("octocat", "project");
            if ours == theirs {
                return;
            }
            assert!(Instant::now() < deadline, "GitHub never caught up:\nGitBlixt {ours:?}\nGitHub {theirs:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the queue has settled (no request pending, no lease held) in `status`.
    async fn wait_settled(&self, mirror: i64, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = mirrors::get(&self.server.state.db, mirror).await.unwrap().unwrap();
            if m.sync_requested_at.is_none() && m.leased_by.is_none() && m.status == status {
                return;
            }
            assert!(Instant::now() < deadline, "the mirror never settled in {status}: {m:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (bounded) until the mirror is in error with exactly `expected`.
    async fn expect_error(&self, mirror: i64, expected: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = mirrors::get(&self.server.state.db, mirror).await.unwrap().unwrap();
            if m.status == "error" && m.last_error.as_deref() == Some(expected) {
                return;
            }
            assert!(Instant::now() < deadline, "the mirror never showed {expected:?}: {m:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

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
        let other = mirrors::create(&st.db, m.repository_id, m.user_id, Direction::Push, &remote, None).await.unwrap();
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
    assert_eq!(post("/api/get_mirrors", None, &repo).await.unwrap().status(), 403, "public repository: visible, not administrable");
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
    let upstream = s.double.create_repo("octocat", "upstream", true);
    let up = tempfile::tempdir().unwrap();
    ok(up.path(), &["init", "-q", "-b", "main"]);
    std::fs::write(up.path().join("a.txt"), "a\n").unwrap();
    ok(up.path(), &["add", "-A"]);
    ok(up.path(), &["commit", "-q", "-m", "a"]);
    ok(up.path(), &["tag", "-a", "v1", "-m", "v1"]);
    ok(up.path(), &["push", "-q", upstream.to_str().unwrap(), "main", "--tags"]);

    let alice = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    let local = app::ssr::repos::create(&st.db, &st.store, &alice, &RepoName::parse("downstream").unwrap(), "", false).await.unwrap();
    let remote = GithubRepo::parse("octocat/upstream").unwrap();
    let mirror = mirrors::create(&st.db, local.repo.id, alice.id, Direction::Pull, &remote, Some(5)).await.unwrap();
    st.sync_wake.notify_waiters();
    let local_path = st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("downstream").unwrap());
    let refs_of = |p: &Path| ok(p, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"]);
    let wait_equal = || async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while refs_of(&local_path) != refs_of(&upstream) {
            assert!(Instant::now() < deadline, "the pull mirror never caught up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    wait_equal().await;
    s.wait_settled(mirror, "active").await;
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    assert!(m.next_sync_at.unwrap() >= m.last_sync_at.unwrap() + 5 * 60, "next sync one interval later");

    // A force push and a deletion on GitHub; "Sync now" brings them, the overwritten id recorded.
    let old = ok(up.path(), &["rev-parse", "main"]).trim().to_string();
    ok(up.path(), &["commit", "-q", "--amend", "-m", "rewritten"]);
    ok(up.path(), &["push", "-q", "--force", upstream.to_str().unwrap(), "main"]);
    ok(&upstream, &["tag", "-d", "v1"]);
    mirrors::request_sync(&st.db, mirror, mirrors::Trigger::Manual).await.unwrap();
    st.sync_wake.notify_waiters();
    wait_equal().await;
    s.wait_settled(mirror, "active").await;
    let runs = mirrors::recent_runs(&st.db, mirror, 1).await.unwrap();
    let refs: serde_json::Value = serde_json::from_str(&runs[0].refs).unwrap();
    let main = refs.as_array().unwrap().iter().find(|r| r["name"] == "refs/heads/main").unwrap();
    assert_eq!(main["outcome"], "force-updated");
    assert_eq!(main["old"], old.as_str());
    let tag = refs.as_array().unwrap().iter().find(|r| r["name"] == "refs/tags/v1").unwrap();
    assert_eq!(tag["outcome"], "deleted");
}
