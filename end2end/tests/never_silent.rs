//! Never silent: every push the git client saw succeed reaches GitHub — across SIGKILL right after
//! the push, a lost trigger, and a stop in the middle of a sync — without another push. Real
//! `git`, the GitHub double; the kill trials use the real `gitblixt` binary.

mod support;

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::mirrors::{self, Direction};
use gitblixt::config::{Config, GithubConfig};
use github_double::github::{DoubleFault, GithubDouble};
use github_double::gitcli::{git, ok};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Setup, gitblixt_bin, until};

/// The real binary on `data`, and the address it listens on (from its "GitBlixt is running at"
/// line on stderr; the rest of its output is drained).
fn serve(data: &std::path::Path, double: &GithubDouble) -> (Child, String) {
    let mut command = Command::new(gitblixt_bin());
    command.arg("serve").env("GITBLIXT_DATA", data).env("RUST_LOG", "warn");
    support::spawn_serve(command, double)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_right_after_an_acknowledged_push_still_reaches_github_20_times_in_a_row() {
    let double = GithubDouble::start().await.unwrap();
    double.create_repo("octocat", "project", false);
    let support::Prepared { data, config, st, alice, repo } = support::prepare_for_binary(&double).await;
    mirrors::create(&st.db, repo.repo.id, alice.id, Direction::Push, &GithubRepo::parse("octocat/project").unwrap(), None, false).await.unwrap();
    let work = tempfile::tempdir().unwrap();
    ok(work.path(), &["init", "-q", "-b", "main"]);
    let local = st.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("project").unwrap());
    use diesel::Connection;
    use diesel::connection::SimpleConnection;

    let trials = 20;
    let mut converged = 0;
    for n in 0..trials {
        let (mut server, url) = serve(data.path(), &double);
        std::fs::write(work.path().join("file"), format!("{n}\n")).unwrap();
        ok(work.path(), &["add", "-A"]);
        ok(work.path(), &["commit", "-q", "-m", &format!("trial {n}")]);
        let pushed = ok(work.path(), &["rev-parse", "HEAD"]).trim().to_string();
        let remote = url.replace("http://", "http://alice:alice-password-1@") + "/alice/project.git";
        // The database is slow to write (its write lock held): the push must not be acknowledged
        // before its mirror request is written.
        let mut blocker = diesel::sqlite::SqliteConnection::establish(&config.database_url).unwrap();
        blocker.batch_execute("BEGIN IMMEDIATE").unwrap();
        let mut push = Command::new("git").args(["push", "-q", &remote, "main"]).current_dir(work.path()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        until("receive-pack updated main", || async { String::from_utf8_lossy(&git(&local, &["rev-parse", "-q", "--verify", "main"]).stdout).trim() == pushed }).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(push.try_wait().unwrap().is_none(), "trial {n}: the push was acknowledged before its mirror request was written");
        blocker.batch_execute("ROLLBACK").unwrap();
        assert!(push.wait().unwrap().success());
        // The push was acknowledged: kill at once, before the sync can have got far.
        server.kill().unwrap();
        server.wait().unwrap();
        let (mut restarted, _) = serve(data.path(), &double);
        let deadline = Instant::now() + Duration::from_secs(30);
        while double.refs("octocat", "project").get("refs/heads/main") != Some(&pushed) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if double.refs("octocat", "project").get("refs/heads/main") == Some(&pushed) {
            converged += 1;
        }
        restarted.kill().unwrap();
        restarted.wait().unwrap();
    }
    eprintln!("kill right after an acknowledged push: GitHub converged {converged} of {trials} times");
    assert_eq!(converged, trials);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_trigger_converges_through_the_sweep() {
    let (s, mirror) = Setup::start_with(|c| c.sync.sweep = Duration::from_millis(300)).await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    // A ref change GitBlixt never heard of (as if receive-pack died before its hook, or the
    // process crashed between the push and its request): written straight into the repository.
    let local = s.server.state.store.path(&UserName::parse("alice").unwrap(), &RepoName::parse("project").unwrap());
    s.commit("unannounced", "x");
    ok(s.work(), &["push", "-q", local.to_str().unwrap(), "main", "main:refs/heads/side"]);
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let runs = mirrors::recent_runs(&s.server.state.db, mirror, 1).await.unwrap();
    assert_eq!(runs[0].trigger, "sweep");
    let m = mirrors::get(&s.server.state.db, mirror).await.unwrap().unwrap();
    assert!(m.in_sync_at.is_some() && m.pushed_digest.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_mid_sync_records_it_as_interrupted_and_the_next_start_resumes_at_once() {
    let (s, mirror) = Setup::start().await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    // Slow enough (every GitHub request 5 s) that a loaded machine cannot finish the run between
    // seeing it start and stopping the server.
    s.double.set_fault(DoubleFault { latency: Duration::from_secs(5), ..DoubleFault::default() });
    s.commit("slow", "slow");
    s.push(&["push", "-q", "origin", "main"]);
    let st = s.server.state.clone();
    until("the sync is running", || async {
        mirrors::get(&st.db, mirror).await.unwrap().unwrap().leased_by.is_some()
            && mirrors::recent_runs(&st.db, mirror, 1).await.unwrap().first().is_some_and(|r| r.outcome == "running")
    })
    .await;
    let Setup { data, double, server, work, token } = s;
    server.stop().await.unwrap();
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    assert_eq!((m.leased_by.as_deref(), m.sync_requested_at.is_some(), m.status.as_str()), (None, true, "active"), "{m:?}");
    let run = mirrors::recent_runs(&st.db, mirror, 1).await.unwrap().remove(0);
    assert_eq!((run.outcome.as_str(), run.error.as_deref()), ("interrupted", Some(gitblixt::sync::STOPPED)));

    // Started again: the interrupted sync runs at once, and GitHub catches up.
    double.set_fault(DoubleFault::default());
    let mut config = Config::for_data_dir(data.path().to_path_buf());
    config.github = GithubConfig { web_url: double.web_url.clone(), api_url: double.api_url.clone(), oauth_app: None };
    let started = Instant::now();
    let server = gitblixt::start(config).await.unwrap();
    let s = Setup { data, double, server, work, token };
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    assert!(started.elapsed() < Duration::from_secs(10), "resumed in seconds, not after a lease: {:?}", started.elapsed());
    let runs = mirrors::recent_runs(&s.server.state.db, mirror, 2).await.unwrap();
    assert_eq!((runs[0].outcome.as_str(), runs[1].outcome.as_str()), ("success", "interrupted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_expiring_under_a_slow_github_never_makes_two_runs_overlap() {
    use diesel::Connection;
    use diesel::connection::SimpleConnection;
    let (s, mirror) = Setup::start_with(|c| c.sync.lease = Duration::from_secs(3)).await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let requests_before = s.double.requests().len();
    s.double.set_fault(DoubleFault { latency: Duration::from_millis(1500), ..DoubleFault::default() });
    s.commit("one", "1");
    s.push(&["push", "-q", "origin", "main"]);
    let st = s.server.state.clone();
    until("the sync is running", || async { mirrors::get(&st.db, mirror).await.unwrap().unwrap().leased_by.is_some() }).await;
    // The lease is forced to expire while the run goes on, and another push asks for a run: every
    // other worker could now claim the mirror.
    let mut db = diesel::sqlite::SqliteConnection::establish(s.data.path().join("gitblixt.db").to_str().unwrap()).unwrap();
    db.batch_execute(&format!("UPDATE mirrors SET leased_until = 0 WHERE id = {mirror}")).unwrap();
    s.commit("two", "2");
    s.push(&["push", "-q", "origin", "main"]);
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    s.double.set_fault(DoubleFault::default());
    // GitHub saw the runs one after the other: each push's advertisement is followed by its pack
    // before the next run's advertisement.
    let sequence: Vec<&'static str> = s.double.requests()[requests_before..]
        .iter()
        .filter(|r| r.path == "/octocat/project.git/info/refs" && r.query.as_deref() == Some("service=git-receive-pack") || r.path == "/octocat/project.git/git-receive-pack")
        .map(|r| if r.method == "GET" { "advertise" } else { "pack" })
        .collect();
    assert!(sequence.len() >= 2, "{sequence:?}");
    for pair in sequence.windows(2) {
        assert_ne!(pair[0], pair[1], "two runs overlapped: {sequence:?}");
    }
    assert_eq!(sequence.first(), Some(&"advertise"));
    let runs = mirrors::recent_runs(&st.db, mirror, 10).await.unwrap();
    assert!(runs.iter().all(|r| r.outcome == "success"), "{runs:?}");
}

/// The value of the first sample of `metric` whose labels include every one of `labels` (0 if none).
fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| (l.starts_with(&format!("{metric}{{")) || l.starts_with(&format!("{metric} "))) && labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_move_as_runs_happen_behind_their_token() {
    let (s, mirror) = Setup::start_with(|c| c.metrics_token = Some("metrics-secret".to_string().into())).await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let client = reqwest::Client::new();
    let url = format!("{}/metrics", s.server.url());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(client.get(&url).bearer_auth("metrics-secreT").send().await.unwrap().status(), 401);
    let scrape = || async { client.get(&url).bearer_auth("metrics-secret").send().await.unwrap().text().await.unwrap() };
    let before = scrape().await;
    let successes = |t: &str| sample(t, "gitblixt_mirror_runs_total", &["direction=\"push\"", "outcome=\"success\"", "class=\"none\""]);
    let lags = |t: &str| sample(t, "gitblixt_mirror_lag_seconds_count", &["trigger=\"push\""]);
    s.commit("measured", "m");
    s.push(&["push", "-q", "origin", "main"]);
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let after = scrape().await;
    assert!(successes(&after) >= successes(&before) + 1.0, "{after}");
    assert!(lags(&after) >= lags(&before) + 1.0, "{after}");
    assert_eq!((sample(&after, "gitblixt_mirror_queue_depth", &[]), sample(&after, "gitblixt_mirror_leases_held", &[])), (0.0, 0.0));
    // A failing run is counted by its error class.
    s.double.delete_repo("octocat", "project");
    s.commit("failing", "f");
    s.push(&["push", "-q", "origin", "main"]);
    s.expect_error(mirror, "Repository not found (404): verify that octocat/project is the correct owner/repo and that the repository exists on GitHub.").await;
    until("the failure is counted", || async { sample(&scrape().await, "gitblixt_mirror_runs_total", &["outcome=\"error\"", "class=\"not_found\""]) >= 1.0 }).await;
}

/// alice's notifications, newest first: (kind, title).
async fn notifications_of_alice(s: &Setup) -> Vec<(String, String)> {
    let st = &s.server.state;
    let alice = app::ssr::accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    app::ssr::notifications::list(&st.db, alice.id, 50).await.unwrap().into_iter().map(|n| (n.kind, n.title)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_is_told_once_per_state_change_not_per_failed_retry() {
    let (s, mirror) = Setup::start().await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    assert!(notifications_of_alice(&s).await.is_empty(), "a working mirror says nothing");
    s.double.delete_repo("octocat", "project");
    let not_found = "Repository not found (404): verify that octocat/project is the correct owner/repo and that the repository exists on GitHub.";
    for n in 0..3 {
        s.commit(&format!("failing-{n}"), "f");
        s.push(&["push", "-q", "origin", "main"]);
        s.expect_error(mirror, not_found).await;
        s.wait_settled(mirror, "error").await;
    }
    assert_eq!(mirrors::count_runs(&s.server.state.db, mirror).await.unwrap(), 4);
    until("the failure is told", || async { !notifications_of_alice(&s).await.is_empty() }).await;
    let told = notifications_of_alice(&s).await;
    assert_eq!(told, vec![("mirror.failed".to_string(), "The push mirror of alice/project to octocat/project is failing".to_string())]);
    // Fixed on GitHub: the next push recovers it, and that is said once too.
    s.double.create_repo("octocat", "project", false);
    s.commit("recovering", "r");
    s.push(&["push", "-q", "origin", "main"]);
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    until("the recovery is told", || async { notifications_of_alice(&s).await.len() >= 2 }).await;
    let kinds: Vec<String> = notifications_of_alice(&s).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, vec!["mirror.recovered", "mirror.failed"]);
    // The bell counts them; reading clears it.
    let st = &s.server.state;
    let alice = app::ssr::accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    assert_eq!(app::ssr::notifications::unread_count(&st.db, alice.id).await.unwrap(), 2);
    let browser = support::Browser::sign_in(&s.server.url(), "alice", support::PASSWORD).await;
    let me: serde_json::Value = browser.post("/api/get_current_user", &[]).await.json().await.unwrap();
    assert_eq!(me["unread"], 2, "{me}");
    assert!(browser.post("/api/mark_notifications_read", &[]).await.status().is_success());
    assert_eq!(app::ssr::notifications::unread_count(&st.db, alice.id).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_whose_github_repository_is_gone_is_paused_and_says_why() {
    let (s, mirror) = Setup::start_with(|c| c.sync.dead_after = Duration::ZERO).await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    s.double.delete_repo("octocat", "project");
    s.commit("gone", "g");
    s.push(&["push", "-q", "origin", "main"]);
    let st = s.server.state.clone();
    until("the mirror is paused by GitBlixt", || async { mirrors::get(&st.db, mirror).await.unwrap().unwrap().paused }).await;
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    let reason = m.paused_reason.clone().unwrap();
    assert!(reason.starts_with("Paused by GitBlixt: GitHub has answered 404 for octocat/project since "), "{reason}");
    assert!(reason.ends_with("then click Resume."), "{reason}");
    until("the pause is told", || async { notifications_of_alice(&s).await.len() >= 2 }).await;
    let kinds: Vec<String> = notifications_of_alice(&s).await.into_iter().map(|(k, _)| k).collect();
    assert_eq!(kinds, vec!["mirror.paused", "mirror.failed"]);
    // The page shows why, under the mirror.
    let views = app::ssr::mirror_service::views(&st, m.repository_id).await.unwrap();
    assert_eq!((views.push[0].state, views.push[0].error.as_deref()), (app::model::MirrorState::Paused, Some(reason.as_str())));
    // Resumed once GitHub is back: it syncs, and the reason is gone.
    s.double.create_repo("octocat", "project", false);
    let found = app::ssr::repos::find(&st.db, "alice", "project").await.unwrap().unwrap();
    app::ssr::mirror_service::command(&st, &found, mirror, app::ssr::mirror_service::Command::Resume).await.unwrap();
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let m = mirrors::get(&st.db, mirror).await.unwrap().unwrap();
    assert_eq!((m.paused, m.paused_reason, m.dead_since), (false, None, None));
}

/// A webhook receiver: records every request; answers 500 to the first, 200 afterwards.
struct Receiver {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>>,
}

async fn receiver() -> Receiver {
    let seen: std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, String)>>> = Default::default();
    let record = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let record = record.clone();
            async move {
                let mut seen = record.lock().unwrap();
                seen.push((headers, body));
                if seen.len() == 1 { axum::http::StatusCode::INTERNAL_SERVER_ERROR } else { axum::http::StatusCode::OK }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, seen }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_get_signed_state_changes_retried_until_answered() {
    use hmac::Mac;
    let (s, mirror) = Setup::start_with(|c| c.sync.webhook_retry = Duration::from_secs(1)).await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let hook = receiver().await;
    let browser = support::Browser::sign_in(&s.server.url(), "alice", support::PASSWORD).await;
    let secret = "a-webhook-secret";
    let (status, body) = browser.post_err("/api/add_webhook", &[("owner", "alice"), ("repo", "project"), ("url", "ftp://x"), ("secret", secret), ("failed", "on")]).await;
    assert!(status == 400 && body.contains("starting with https://"), "{status} {body}");
    let res = browser
        .post("/api/add_webhook", &[("owner", "alice"), ("repo", "project"), ("url", &hook.url), ("secret", secret), ("failed", "on"), ("recovered", "on")])
        .await;
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());

    // Failing: one mirror.failed, refused once by the receiver, delivered on the retry.
    s.double.delete_repo("octocat", "project");
    s.commit("failing", "f");
    s.push(&["push", "-q", "origin", "main"]);
    s.expect_error(mirror, "Repository not found (404): verify that octocat/project is the correct owner/repo and that the repository exists on GitHub.").await;
    until("the failure was delivered on a retry", || async { hook.seen.lock().unwrap().len() == 2 }).await;
    // Working again: one mirror.recovered.
    s.double.create_repo("octocat", "project", false);
    s.commit("recovering", "r");
    s.push(&["push", "-q", "origin", "main"]);
    s.wait_in_sync().await;
    until("the recovery was delivered", || async { hook.seen.lock().unwrap().len() == 3 }).await;

    let seen = hook.seen.lock().unwrap().clone();
    let events: Vec<&str> = seen.iter().map(|(h, _)| h["x-gitblixt-event"].to_str().unwrap()).collect();
    assert_eq!(events, vec!["mirror.failed", "mirror.failed", "mirror.recovered"], "no mirror.synced: not subscribed");
    assert_eq!(seen[0].0["x-gitblixt-delivery"], seen[1].0["x-gitblixt-delivery"], "the retry is the same delivery");
    for (headers, body) in &seen {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(headers["x-gitblixt-signature-256"].to_str().unwrap(), expected);
        assert!(!body.contains(&s.token), "no token in a payload");
    }
    let failed: serde_json::Value = serde_json::from_str(&seen[0].1).unwrap();
    assert_eq!((failed["event"].as_str(), failed["mirror"]["remote"].as_str(), failed["repository"]["full_name"].as_str()), (Some("mirror.failed"), Some("octocat/project"), Some("alice/project")));
    assert!(failed["mirror"]["error"].as_str().unwrap().starts_with("Repository not found (404)"));
    assert_eq!(failed["run"]["outcome"], "error");
    let recovered: serde_json::Value = serde_json::from_str(&seen[2].1).unwrap();
    assert!(recovered["run"]["refs"].as_array().unwrap().iter().any(|r| r["name"] == "refs/heads/main"), "{recovered}");

    // The delivery history on the page: both delivered, the first after two attempts.
    let hooks: serde_json::Value = browser.post("/api/get_webhooks", &[("owner", "alice"), ("repo", "project")]).await.json().await.unwrap();
    let deliveries = hooks[0]["deliveries"].as_array().unwrap();
    let summary: Vec<(&str, &str, i64, i64)> = deliveries
        .iter()
        .map(|d| (d["event"].as_str().unwrap(), d["status"].as_str().unwrap(), d["attempts"].as_i64().unwrap(), d["response_code"].as_i64().unwrap()))
        .collect();
    assert_eq!(summary, vec![("mirror.recovered", "delivered", 1, 200), ("mirror.failed", "delivered", 2, 200)]);
    // …and counted in /metrics.
    let metrics = reqwest::get(format!("{}/metrics", s.server.url())).await.unwrap().text().await.unwrap();
    assert!(sample(&metrics, "gitblixt_webhook_deliveries_total", &["result=\"delivered\""]) >= 2.0, "{metrics}");
    assert!(sample(&metrics, "gitblixt_webhook_deliveries_total", &["result=\"retrying\""]) >= 1.0, "{metrics}");
}

/// A minimal SMTP server that accepts every message: its port, and each message's DATA.
async fn smtp_sink() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let store = messages.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { return };
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            store.lock().unwrap().push(data.take().unwrap());
                            write.write_all(b"250 queued\r\n").await.ok();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                    let answer: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(answer).await.ok();
                }
            });
        }
    });
    (port, messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_with_an_address_are_emailed_once_per_state_change() {
    let (port, mail) = smtp_sink().await;
    let (s, mirror) = Setup::start_with(|c| {
        c.mail = Some(gitblixt::config::MailConfig { smtp_url: format!("smtp://127.0.0.1:{port}").into(), from: "GitBlixt <gitblixt@example.com>".into() })
    })
    .await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let browser = support::Browser::sign_in(&s.server.url(), "alice", support::PASSWORD).await;
    let (status, body) = browser.post_err("/api/set_notification_email", &[("email", "not an address")]).await;
    assert!(status == 400 && body.contains("Enter an e-mail address"), "{body}");
    assert!(browser.post("/api/set_notification_email", &[("email", "alice@example.com")]).await.status().is_success());

    s.double.delete_repo("octocat", "project");
    for n in 0..2 {
        s.commit(&format!("failing-{n}"), "f");
        s.push(&["push", "-q", "origin", "main"]);
        s.wait_settled(mirror, "error").await;
    }
    until("the failure was e-mailed", || async { mail.lock().unwrap().len() == 1 }).await;
    s.double.create_repo("octocat", "project", false);
    s.commit("recovering", "r");
    s.push(&["push", "-q", "origin", "main"]);
    s.wait_in_sync().await;
    until("the recovery was e-mailed", || async { mail.lock().unwrap().len() == 2 }).await;
    let sent = mail.lock().unwrap().clone();
    assert!(sent[0].contains("To: alice@example.com") && sent[0].contains("From: GitBlixt <gitblixt@example.com>"), "{}", sent[0]);
    assert!(sent[0].contains("Subject: The push mirror of alice/project to octocat/project is failing"), "{}", sent[0]);
    assert!(sent[0].contains("Repository not found (404)"), "{}", sent[0]);
    assert!(sent[0].contains(&format!("{}/alice/project/settings#push-mirroring", s.server.url())), "{}", sent[0]);
    assert!(sent[1].contains("Subject: The push mirror of alice/project to octocat/project works again"), "{}", sent[1]);
    assert!(sent.iter().all(|m| !m.contains(&s.token)), "no token in a mail");
}
