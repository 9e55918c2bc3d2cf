//! Hardening of the host: origins, session cookies, security headers, what git children see,
//! rate limits, timeouts, quotas and fair sharing of the sync workers.

mod support;

use support::{Browser, Setup};

/// A client that follows no redirects.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The session cookie (`name=value`) a sign-in answer sets.
fn set_cookie(res: &reqwest::Response) -> String {
    res.headers().get("set-cookie").unwrap().to_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_security_headers_and_a_nonce_policy() {
    let (s, _) = Setup::start().await;
    // An interactive page: it loads the wasm, through inline scripts (signed out, it answers 401
    // and asks to sign in — a page all the same).
    let page = client().get(format!("{}/settings/tokens", s.server.url())).send().await.unwrap();
    assert_eq!(page.status(), 401);
    let h = page.headers().clone();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    let csp = h["content-security-policy"].to_str().unwrap().to_string();
    let nonce = csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce in the policy").to_string();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("'wasm-unsafe-eval'"), "{csp}");
    let html = page.text().await.unwrap();
    // Every inline script of the page carries the policy's nonce (or the browser would not run it).
    let inline_scripts = html.matches("<script").count();
    assert!(inline_scripts > 0);
    assert_eq!(html.matches(&format!("nonce=\"{nonce}\"")).count(), inline_scripts, "{html}");
    // A second render gets a fresh nonce.
    let again = client().get(format!("{}/settings/tokens", s.server.url())).send().await.unwrap();
    assert!(!again.headers()["content-security-policy"].to_str().unwrap().contains(&nonce));
    // Git and API answers cannot be framed or run as pages either.
    let git = client().get(format!("{}/alice/project.git/info/refs?service=git-upload-pack", s.server.url())).send().await.unwrap();
    assert_eq!(git.headers()["x-frame-options"], "DENY");
    assert_eq!(git.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
}

/// The plain pages (app/src/bundles.rs) load no code, and their forms work as HTML forms: an
/// error comes back on the form's page, a success goes where the server function says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_pages_load_no_code_and_their_forms_post_without_it() {
    let (s, _) = Setup::start().await;
    let base = s.server.url();
    let login = format!("{base}/login");
    let page = client().get(&login).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("data-static") && !html.contains("modulepreload") && !html.contains(".wasm"), "{html}");
    assert!(html.contains(r#"action="/api/sign_in""#) && html.contains(r#"method="post""#), "{html}");

    // What a browser sends for a form without a script: it accepts HTML, names the page.
    let post = |password: &'static str| {
        client()
            .post(format!("{base}/api/sign_in"))
            .header("Accept", "text/html,application/xhtml+xml")
            .header("Origin", &base)
            .header("Referer", &login)
            .form(&[("username", "alice"), ("password", password)])
            .send()
    };
    let wrong = post("not-the-password").await.unwrap();
    assert_eq!(wrong.status(), 302, "the answer must stay a redirect back to the form");
    assert!(wrong.headers().get("set-cookie").is_none());
    let back = wrong.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with("/login?") && back.contains("__err=") && back.contains("username=alice"), "{back}");
    let again = client().get(format!("{base}{back}")).send().await.unwrap().text().await.unwrap();
    // The error on the form, the username kept, the password not.
    assert!(again.contains("Incorrect username or password."), "{again}");
    assert!(again.contains(r#"value="alice""#) && !again.contains("not-the-password"), "{again}");

    let right = post(support::PASSWORD).await.unwrap();
    assert_eq!(right.status(), 302);
    assert_eq!(right.headers()["location"], "/");
    let cookie = set_cookie(&right);
    let session = cookie.split(';').next().unwrap();
    let home = client().get(format!("{base}/")).header("Cookie", session).send().await.unwrap().text().await.unwrap();
    assert!(home.contains("alice / project") && !home.contains("modulepreload"), "{home}");
    // An interactive page loads the bundle.
    let settings = client().get(format!("{base}/alice/project/settings")).header("Cookie", session).send().await.unwrap();
    assert!(settings.text().await.unwrap().contains("modulepreload"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_is_checked_against_the_public_url_not_the_host_header() {
    let (s, _) = Setup::start_with(|c| {
        c.public_url = Some("https://git.example.test".into());
        c.allowed_origins = vec!["https://git.example.org".into()];
    })
    .await;
    let url = format!("{}/api/sign_in", s.server.url());
    let form = [("username", "alice"), ("password", support::PASSWORD)];
    let post = |origin: &'static str, host: &'static str| {
        client().post(&url).header("Origin", origin).header("Host", host).form(&form).send()
    };
    // DNS rebinding: a page of evil.test whose name now resolves to the instance; Host and
    // Origin agree, and the request is still refused.
    let rebinding = post("http://evil.test:3000", "evil.test:3000").await.unwrap();
    assert_eq!(rebinding.status(), 403);
    assert_eq!(rebinding.text().await.unwrap(), "Cross-origin request refused.");
    // Behind a proxy that rewrites Host, the instance's own pages still post.
    for origin in ["https://git.example.test", "https://git.example.org"] {
        let proxied = post(origin, "127.0.0.1:8080").await.unwrap();
        assert!(proxied.status().is_redirection() || proxied.status().is_success(), "{origin}: {}", proxied.status());
    }
    // The instance's bare listen address is not one of its origins when a public URL is set.
    let direct = client().post(&url).header("Origin", s.server.url()).form(&form).send().await.unwrap();
    assert_eq!(direct.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_instance_answers_to_localhost_and_127_0_0_1() {
    let (s, _) = Setup::start().await;
    let port = s.server.addr.port();
    for origin in [format!("http://localhost:{port}"), format!("http://127.0.0.1:{port}")] {
        let res = client()
            .post(format!("{}/api/sign_in", s.server.url()))
            .header("Origin", &origin)
            .form(&[("username", "alice"), ("password", support::PASSWORD)])
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection() || res.status().is_success(), "{origin}: {}", res.status());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_session_cookies_are_refused_and_tossing_cannot_capture_a_github_connection() {
    let (s, _) = Setup::start().await;
    let base = s.server.url();
    let alice = Browser::sign_in(&base, "alice", support::PASSWORD).await;
    let mallory = Browser::sign_up(&base, "mallory").await;
    // mallory controls a sibling subdomain and planted her session beside alice's; the GitHub
    // callback alice's browser then makes carries both.
    let both = format!("{}; {}", mallory.cookie.as_ref().unwrap(), alice.cookie.as_ref().unwrap());
    for (method, path) in [("GET", "/oauth/github/callback?code=c&state=s"), ("POST", "/oauth/github/connect"), ("GET", "/settings/connected-accounts")] {
        let req = client().request(method.parse().unwrap(), format!("{base}{path}")).header("Cookie", &both).header("Origin", &base);
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 400, "{method} {path}");
        assert_eq!(res.text().await.unwrap(), gitblixt::security::DUPLICATE_SESSION);
    }
    // One cookie: served as usual.
    let one = client().get(format!("{base}/settings/connected-accounts")).header("Cookie", alice.cookie.as_ref().unwrap()).send().await.unwrap();
    assert_eq!(one.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_instance_uses_a_host_prefixed_cookie_and_ignores_planted_ones() {
    let public = "https://git.example.test";
    let (s, _) = Setup::start_with(|c| c.public_url = Some(public.into())).await;
    let base = s.server.url();
    let res = client()
        .post(format!("{base}/api/sign_in"))
        .header("Origin", public)
        .form(&[("username", "alice"), ("password", support::PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = set_cookie(&res);
    assert!(cookie.starts_with("__Host-gitblixt_session="), "{cookie}");
    assert!(cookie.contains("; Secure") && cookie.contains("Path=/") && !cookie.to_ascii_lowercase().contains("domain="), "{cookie}");
    let alice = cookie.split(';').next().unwrap().to_string();
    let who = |cookies: String| {
        let base = base.clone();
        async move {
            let res = client()
                .post(format!("{base}/api/get_current_user"))
                .header("Origin", public)
                .header("Cookie", cookies)
                .send()
                .await
                .unwrap();
            res.text().await.unwrap()
        }
    };
    assert!(who(alice.clone()).await.contains("\"alice\""));
    // A plain `gitblixt_session` (all a sibling subdomain can set) names nobody here.
    let mallory_session = app::ssr::accounts::create_session(&s.server.state.db, 1).await.unwrap();
    assert_eq!(who(format!("gitblixt_session={mallory_session}")).await, "null");
    assert!(who(format!("gitblixt_session={mallory_session}; {alice}")).await.contains("\"alice\""));
}

/// The peak resident memory of process `pid`, in bytes (`VmHWM`).
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).unwrap().trim().trim_end_matches(" kB").trim().parse().unwrap();
    kb * 1024
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

/// The bound on the server's peak memory during the flood below. Before the limits, every bad
/// credential ran an Argon2id check (19 MiB) on up to 512 blocking threads: gigabytes.
const FLOOD_RSS_BOUND: u64 = 400 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_bad_git_credentials_is_refused_cheaply_while_pages_answer() {
    let double = github_double::github::GithubDouble::start().await.unwrap();
    let prepared = support::prepare_for_binary(&double).await;
    let mut command = std::process::Command::new(support::gitblixt_bin());
    command.arg("serve").env("GITBLIXT_DATA", prepared.data.path()).env("RUST_LOG", "warn");
    let (mut child, base) = support::spawn_serve(command, &double);
    let alice = Browser::sign_in(&base, "alice", support::PASSWORD).await;
    let cookie = alice.cookie.clone().unwrap();
    println!("server peak RSS before the flood: {} MiB", peak_rss(child.id()) / (1024 * 1024));

    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let url = format!("{base}/alice/project.git/info/refs?service=git-upload-pack");
    let flood: Vec<_> = (0..2000)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            tokio::spawn(async move {
                let res = http.get(&url).header("Authorization", basic("mallory", &format!("guess-{i}"))).send().await.unwrap();
                (res.status().as_u16(), res.headers().contains_key("retry-after"))
            })
        })
        .collect();
    // Meanwhile alice's page answers.
    let page = client().get(format!("{base}/alice/project")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let mut counts = std::collections::BTreeMap::new();
    for task in flood {
        let (status, retry_after) = task.await.unwrap();
        if status == 429 || status == 503 {
            assert!(retry_after, "{status} without Retry-After");
        }
        *counts.entry(status).or_insert(0) += 1;
    }
    let peak = peak_rss(child.id());
    println!("flood of 2000 bad credentials: {counts:?}, server peak RSS {} MiB", peak / (1024 * 1024));
    let checked = counts.get(&401).copied().unwrap_or(0);
    assert!(checked <= 16, "at most the limit (10) plus the hashes in flight were checked: {counts:?}");
    assert_eq!(counts.values().sum::<i32>(), 2000);
    assert_eq!(counts.keys().filter(|s| ![401, 429, 503].contains(*s)).count(), 0, "{counts:?}");
    assert!(peak < FLOOD_RSS_BOUND, "peak RSS {} MiB", peak / (1024 * 1024));
    // The address stays locked for a while, the right password included; alice's session is not.
    let locked = http.get(&url).header("Authorization", basic("alice", support::PASSWORD)).send().await.unwrap();
    assert_eq!(locked.status(), 429);
    let page = client().get(format!("{base}/alice/project")).header("Cookie", &cookie).send().await.unwrap();
    assert_eq!(page.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brute_forced_account_is_locked_from_every_address_and_unlocks_by_itself() {
    let (s, _) = Setup::start_with(|c| c.limits.trusted_proxies = vec!["127.0.0.1".parse().unwrap()]).await;
    let base = s.server.url();
    let attempt = |from: String, user: &'static str, password: String| {
        let base = base.clone();
        async move {
            client()
                .post(format!("{base}/api/sign_in"))
                .header("Origin", &base)
                .header("X-Forwarded-For", from)
                .form(&[("username", user), ("password", password.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    // The attacker rotates addresses (as a botnet would): each address fails once.
    for i in 0..10 {
        let res = attempt(format!("198.51.100.{i}"), "alice", format!("wrong-{i}")).await;
        assert_eq!(res.status(), 400, "attempt {i}");
        assert!(res.text().await.unwrap().contains("Incorrect username or password."));
    }
    let eleventh = attempt("198.51.100.200".into(), "alice", "wrong".into()).await;
    assert_eq!(eleventh.status(), 400, "the eleventh failure is checked, and locks the account");
    let locked = attempt("203.0.113.1".into(), "alice", support::PASSWORD.into()).await;
    assert_eq!(locked.status(), 429, "locked: even the right password from a new address");
    let wait: u64 = locked.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // The page shows it as "Too many failed sign-in attempts. Try again in N seconds."
    assert_eq!(locked.text().await.unwrap(), format!("{{\"TooManyAttempts\":{wait}}}"));
    // Another account is not affected.
    accounts_create(&s, "bob").await;
    let bob = attempt("203.0.113.2".into(), "bob", "bob-password-1".into()).await;
    assert!(bob.status().is_success(), "{}: {}", bob.status(), bob.text().await.unwrap());
    // The lock lifts by itself (one failure's worth of the limit frees every 6 s).
    support::until("alice's account unlocks", || async {
        attempt("203.0.113.1".into(), "alice", support::PASSWORD.into()).await.status().is_success()
    })
    .await;
}

async fn accounts_create(s: &Setup, name: &str) {
    let st = &s.server.state;
    app::ssr::accounts::create_user(&st.db, &app::names::UserName::parse(name).unwrap(), &format!("{name}-password-1"), false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clone_checks_its_password_once() {
    let (s, _) = Setup::start().await;
    let guard = s.server.state.guard.clone();
    // Setup's own push remembered alice's credential: start from nothing remembered.
    guard.forget_credentials();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://alice:{}@{}/alice/project.git", support::PASSWORD, s.server.addr);
    let before = guard.hashes_run();
    github_double::gitcli::ok(dir.path(), &["clone", "-q", &url, "c"]);
    let work = dir.path().join("c");
    for i in 0..2 {
        std::fs::write(work.join("f"), format!("{i}")).unwrap();
        github_double::gitcli::ok(&work, &["add", "f"]);
        github_double::gitcli::ok(&work, &["-c", "user.name=a", "-c", "user.email=a@x", "commit", "-qm", "x"]);
        github_double::gitcli::ok(&work, &["push", "-q", "origin", "main"]);
    }
    assert_eq!(guard.hashes_run() - before, 1, "a clone and two pushes (six requests) hash the password once");
}

/// The `git` processes whose parent is `pid`.
fn git_children(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { return false };
            // "pid (comm) state ppid …"; comm may hold spaces, so split after its closing parenthesis.
            let Some((head, rest)) = stat.rsplit_once(") ") else { return false };
            let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
            head.ends_with("(git") && ppid == Some(pid)
        })
        .collect()
}

/// Starts an upload-pack POST that sends its headers and a few bytes of body, then nothing.
async fn stalled_upload_pack(addr: &str) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /alice/project.git/git-upload-pack HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-git-upload-pack-request\r\nContent-Length: 100000\r\n\r\n0032want "
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_git_client_is_cut_off_git_processes_are_bounded_and_see_no_secret() {
    let double = github_double::github::GithubDouble::start().await.unwrap();
    let prepared = support::prepare_for_binary(&double).await;
    let key = std::fs::read_to_string(prepared.data.path().join("secret.key")).unwrap();
    let secrets = [("GITHUB_CLIENT_SECRET", "client-secret-value-1234"), ("GITBLIXT_SECRET_KEY", key.trim())];
    let database_url = format!("sqlite://{}", prepared.data.path().join("gitblixt.db").display());
    let mut command = std::process::Command::new(support::gitblixt_bin());
    command
        .arg("serve")
        .env("GITBLIXT_DATA", prepared.data.path())
        .env("DATABASE_URL", &database_url)
        .env("GITHUB_CLIENT_ID", "client-id")
        .env("GITBLIXT_GIT_IDLE_TIMEOUT", "3")
        .env("GITBLIXT_GIT_PROCESSES", "2");
    for (name, value) in secrets {
        command.env(name, value);
    }
    let (mut child, base) = support::spawn_serve(command, &double);
    let addr = base.trim_start_matches("http://").to_string();

    let first = stalled_upload_pack(&addr).await;
    support::until("git serves the stalled request", || async { git_children(child.id()).len() == 1 }).await;
    let git = git_children(child.id())[0];
    // What git was started with: no secret of the server, no database URL.
    let environ = std::fs::read(format!("/proc/{git}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    for (name, value) in secrets.iter().chain([("DATABASE_URL", database_url.as_str())].iter()) {
        assert!(!environ.contains(name) && !environ.contains(value), "{name} reached git: {environ}");
    }
    assert!(environ.contains("PATH="));

    // Two git processes at most: the third client is told to come back.
    let second = stalled_upload_pack(&addr).await;
    support::until("the second git runs", || async { git_children(child.id()).len() == 2 }).await;
    let third = reqwest::Client::new()
        .post(format!("{base}/alice/project.git/git-upload-pack"))
        .header("Content-Type", "application/x-git-upload-pack-request")
        .body("0000")
        .send()
        .await
        .unwrap();
    assert_eq!(third.status(), 503);
    assert_eq!(third.headers()["retry-after"], "5");
    assert!(third.text().await.unwrap().contains("the server is busy serving other git clients"));

    // After 3 s of silence both are cut off and their git processes are gone; the slots are free.
    support::until("the stalled clients' git processes are gone", || async { git_children(child.id()).is_empty() }).await;
    drop((first, second));
    let dir = tempfile::tempdir().unwrap();
    github_double::gitcli::ok(dir.path(), &["clone", "-q", &format!("{base}/alice/project.git"), "c"]);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_over_the_size_limit_is_refused_and_changes_nothing() {
    let (s, _) = Setup::start_with(|c| c.limits.max_push_bytes = 1 << 20).await;
    let before = s.gitblixt_refs();
    // 3 MiB that do not compress.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..3u32 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect();
    std::fs::write(s.work().join("big.bin"), noise).unwrap();
    github_double::gitcli::ok(s.work(), &["add", "big.bin"]);
    github_double::gitcli::ok(s.work(), &["-c", "user.name=a", "-c", "user.email=a@x", "commit", "-qm", "big"]);
    let out = std::process::Command::new("git").current_dir(s.work()).args(["push", "origin", "main"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pack exceeds maximum allowed size"), "{stderr}");
    assert_eq!(s.gitblixt_refs(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sockets_take_no_big_messages_and_a_user_holds_a_bounded_number() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue, Message};
    let (s, _) = Setup::start().await;
    let alice = Browser::sign_in(&s.server.url(), "alice", support::PASSWORD).await;
    let request = || {
        let mut req = format!("ws://{}/ws/mirrors/alice/project", s.server.addr).into_client_request().unwrap();
        req.headers_mut().insert("Origin", HeaderValue::from_str(&s.server.url()).unwrap());
        req.headers_mut().insert("Cookie", HeaderValue::from_str(alice.cookie.as_ref().unwrap()).unwrap());
        req
    };
    let (mut socket, _) = tokio_tungstenite::connect_async(request()).await.unwrap();
    socket.send(Message::Text("x".repeat(64 * 1024).into())).await.unwrap();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the socket is closed");
    assert!(matches!(closed, Some(1009) | None), "{closed:?}");

    // 20 open sockets at most per user.
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(tokio_tungstenite::connect_async(request()).await.unwrap().0);
    }
    match tokio_tungstenite::connect_async(request()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status().as_u16(), 429),
        other => panic!("the 21st socket was not refused: {:?}", other.map(|(_, r)| r.status())),
    }
    // Closing one frees its place.
    let mut one = open.pop().unwrap();
    one.close(None).await.unwrap();
    drop(one);
    support::until("a place is free again", || async { tokio_tungstenite::connect_async(request()).await.is_ok() }).await;
}

/// Signs alice in with a browser called `agent`; the session cookie.
async fn sign_in_as(base: &str, agent: &str, password: &str) -> String {
    let res = client()
        .post(format!("{base}/api/sign_in"))
        .header("Origin", base)
        .header("User-Agent", agent)
        .form(&[("username", "alice"), ("password", password)])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sign in: {}", res.status());
    set_cookie(&res).split(';').next().unwrap().to_string()
}

/// Calls a server function as the holder of `cookie`; (status, body).
async fn call(base: &str, cookie: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let mut browser = Browser::new(base);
    browser.cookie = Some(cookie.to_string());
    let res = browser.post(path, form).await;
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn signed_in(base: &str, cookie: &str) -> bool {
    call(base, cookie, "/api/get_current_user", &[]).await.1.contains("\"alice\"")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_and_ended_and_a_password_change_ends_the_others() {
    let (s, _) = Setup::start().await;
    let base = s.server.url();
    let laptop = sign_in_as(&base, "Laptop Browser", support::PASSWORD).await;
    let phone = sign_in_as(&base, "Phone Browser", support::PASSWORD).await;
    let tablet = sign_in_as(&base, "Tablet Browser", support::PASSWORD).await;

    let (status, list) = call(&base, &laptop, "/api/list_sessions", &[]).await;
    assert_eq!(status, 200);
    let list: Vec<app::model::SessionInfo> = serde_json::from_str(&list).unwrap();
    assert_eq!(list.len(), 3);
    let current: Vec<_> = list.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].user_agent, "Laptop Browser");
    assert!(list.iter().all(|s| s.ip == "127.0.0.1"));
    // The handle names a session but is no cookie.
    let phone_session = list.iter().find(|s| s.user_agent == "Phone Browser").unwrap();
    assert!(!signed_in(&base, &format!("gitblixt_session={}", phone_session.handle)).await);

    // Sign out the phone from the laptop.
    assert_eq!(call(&base, &laptop, "/api/end_session", &[("handle", &phone_session.handle)]).await.0, 200);
    assert!(!signed_in(&base, &phone).await);
    assert!(signed_in(&base, &tablet).await);
    // Someone else cannot end alice's sessions by handle.
    let bob = Browser::sign_up(&base, "bob").await;
    let tablet_handle = {
        let list: Vec<app::model::SessionInfo> = serde_json::from_str(&call(&base, &laptop, "/api/list_sessions", &[]).await.1).unwrap();
        list.into_iter().find(|s| s.user_agent == "Tablet Browser").unwrap().handle
    };
    assert_eq!(call(&base, bob.cookie.as_ref().unwrap(), "/api/end_session", &[("handle", &tablet_handle)]).await.0, 400);
    assert!(signed_in(&base, &tablet).await);

    // Password change: the current password is checked, the new one confirmed.
    let new = "a-brand-new-password";
    let (status, body) = call(&base, &laptop, "/api/change_password", &[("current_password", "wrong"), ("new_password", new), ("confirm_password", new)]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("The current password is not correct."));
    let (_, body) = call(&base, &laptop, "/api/change_password", &[("current_password", support::PASSWORD), ("new_password", new), ("confirm_password", "other")]).await;
    assert!(body.contains("The new password and its confirmation don't match."));
    // git remembered the old password (Setup pushed with it) …
    let repo_url = |password: &str| format!("http://alice:{password}@{}/alice/project.git", s.server.addr);
    let dir = tempfile::tempdir().unwrap();
    github_double::gitcli::ok(dir.path(), &["clone", "-q", &repo_url(support::PASSWORD), "c"]);
    let (status, _) = call(&base, &laptop, "/api/change_password", &[("current_password", support::PASSWORD), ("new_password", new), ("confirm_password", new)]).await;
    assert_eq!(status, 200);
    // … every other session ended, this one goes on; the old password is refused everywhere.
    assert!(signed_in(&base, &laptop).await);
    assert!(!signed_in(&base, &tablet).await);
    let pushed = std::process::Command::new("git")
        .current_dir(dir.path().join("c"))
        .args(["push", &repo_url(support::PASSWORD), "main:refs/heads/other"])
        .output()
        .unwrap();
    assert!(!pushed.status.success(), "the old password still pushes");
    github_double::gitcli::ok(&dir.path().join("c"), &["push", "-q", &repo_url(new), "main:refs/heads/other"]);
    let (status, _) = call(&base, &laptop, "/api/end_other_sessions", &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_registration_refuses_sign_up_and_creates_nobody() {
    let (s, _) = Setup::start_with(|c| c.registration_open = false).await;
    let base = s.server.url();
    let res = client()
        .post(format!("{base}/api/sign_up"))
        .header("Origin", &base)
        .form(&[("username", "mallory"), ("password", "mallory-password-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains(app::api::REGISTRATION_CLOSED));
    assert!(app::ssr::accounts::find_user(&s.server.state.db, "mallory").await.unwrap().is_none());
    // Existing users still sign in.
    sign_in_as(&base, "Browser", support::PASSWORD).await;
}
