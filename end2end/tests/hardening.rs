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
    let page = client().get(format!("{}/", s.server.url())).send().await.unwrap();
    assert_eq!(page.status(), 200);
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
    let again = client().get(format!("{}/", s.server.url())).send().await.unwrap();
    assert!(!again.headers()["content-security-policy"].to_str().unwrap().contains(&nonce));
    // Git and API answers cannot be framed or run as pages either.
    let git = client().get(format!("{}/alice/project.git/info/refs?service=git-upload-pack", s.server.url())).send().await.unwrap();
    assert_eq!(git.headers()["x-frame-options"], "DENY");
    assert_eq!(git.headers()["content-security-policy"], "default-src 'none'; frame-ancestors 'none'");
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
