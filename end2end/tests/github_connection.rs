//! GitBlixt's GitHub connection against the GitHub double, over real HTTP: the OAuth round trip
//! through the consent page, every way it can fail (nothing stored), encrypted storage, expiry and
//! refresh, revocation, repository look-ups with the spec's messages, and no token in any log line.

use app::github_repo::GithubRepo;
use app::ssr::AppState;
use app::ssr::db::Db;
use app::ssr::github::client::{GithubClient, GithubError};
use app::ssr::github::connection::{self, ConnectionError};
use app::ssr::schema::{github_connections, oauth_states};
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;
use gitblixt::config::{Config, GithubConfig};
use github_double::github::{DoubleFault, GithubDouble, OAuthApp, Permission};
use secrecy::ExposeSecret;
use std::sync::{Arc, Mutex, OnceLock};

const CLIENT_ID: &str = "Iv1.gitblixt-test";
const CLIENT_SECRET: &str = "test-client-secret-5d1e";

/// Every log line of GitBlixt's code (and its HTTP/OAuth libraries) in this test binary.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = {
            let buf = buf.clone();
            move || LogWriter(buf.clone())
        };
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace,github_double=off"))
            .with_writer(writer)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber per test binary");
        buf
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Setup {
    _data: tempfile::TempDir,
    double: GithubDouble,
    server: gitblixt::Running,
}

impl Setup {
    async fn start(expiring_tokens: bool) -> Self {
        captured_logs();
        let double = GithubDouble::start().await.unwrap();
        double.add_user("octocat");
        double.set_browser_user(Some("octocat"));
        let data = tempfile::tempdir().unwrap();
        let mut config = Config::for_data_dir(data.path().to_path_buf());
        config.github = GithubConfig {
            web_url: double.web_url.clone(),
            api_url: double.api_url.clone(),
            oauth_app: Some((CLIENT_ID.into(), CLIENT_SECRET.to_string().into())),
        };
        let server = gitblixt::start(config).await.unwrap();
        double.add_oauth_app(OAuthApp {
            name: "GitBlixt".into(),
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            callback_url: format!("{}/oauth/github/callback", server.url()),
            expiring_tokens,
        });
        Setup { _data: data, double, server }
    }

    fn state(&self) -> &AppState {
        &self.server.state
    }

    async fn browser(&self, name: &str) -> Browser {
        let mut b = Browser::new(&self.server.url());
        let a = b.post("/api/sign_up", &[("username", name), ("password", "long-enough-password")]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        b
    }

    async fn user_id(&self, name: &str) -> i64 {
        app::ssr::accounts::find_user(&self.state().db, name).await.unwrap().unwrap().id
    }

    /// Connect: start at GitBlixt, consent at the double, come back to the callback.
    async fn connect(&self, b: &mut Browser) -> Answer {
        let authorize = b.post("/oauth/github/connect", &[]).await;
        assert_eq!(authorize.status, 303, "{}", authorize.body);
        let url = authorize.location.clone().unwrap();
        let back = self.double.consent(&url, true).await.unwrap();
        b.get_absolute(&back).await
    }

    async fn stored_rows(&self) -> Vec<(i64, String, Option<String>)> {
        let Db::Sqlite(pool) = &self.state().db else { panic!("tests use SQLite") };
        let mut conn = pool.get().await.unwrap();
        github_connections::table
            .select((github_connections::user_id, github_connections::access_token, github_connections::refresh_token))
            .load(&mut *conn)
            .await
            .unwrap()
    }

    async fn pending_states(&self) -> i64 {
        let Db::Sqlite(pool) = &self.state().db else { panic!("tests use SQLite") };
        let mut conn = pool.get().await.unwrap();
        oauth_states::table.count().get_result(&mut *conn).await.unwrap()
    }

    async fn set_expiry(&self, user_id: i64, expires_at: i64) {
        let Db::Sqlite(pool) = &self.state().db else { panic!("tests use SQLite") };
        let mut conn = pool.get().await.unwrap();
        diesel::update(github_connections::table.filter(github_connections::user_id.eq(user_id)))
            .set(github_connections::expires_at.eq(Some(expires_at)))
            .execute(&mut *conn)
            .await
            .unwrap();
    }

    async fn token(&self, user_id: i64) -> Result<secrecy::SecretString, ConnectionError> {
        let s = self.state();
        connection::access_token(&s.github, &s.db, &s.cipher, user_id).await
    }

    async fn account(&self, b: &mut Browser) -> serde_json::Value {
        let a = b.post("/api/get_github_account", &[]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        serde_json::from_str(&a.body).unwrap()
    }
}

struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Browser {
    fn new(base: &str) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { client, base: base.to_string(), cookie: None }
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut req = self.client.post(format!("{}{path}", self.base)).form(form).header("Origin", &self.base);
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        self.finish(req).await
    }

    async fn get_absolute(&mut self, url: &str) -> Answer {
        let mut req = self.client.get(url);
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        self.finish(req).await
    }

    async fn finish(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        for c in resp.headers().get_all("set-cookie") {
            let pair = c.to_str().unwrap().split(';').next().unwrap().to_string();
            self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
        }
        let location = resp.headers().get("location").map(|l| l.to_str().unwrap().to_string());
        Answer { status, location, body: resp.text().await.unwrap_or_default() }
    }
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
}

fn replace_param(url: &str, name: &str, value: &str) -> String {
    let (base, query) = url.split_once('?').unwrap();
    let query: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if k == name => format!("{k}={value}"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", query.join("&"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_shows_the_login_stores_tokens_encrypted_and_disconnect_forgets_them() {
    let s = Setup::start(false).await;
    let mut alice = s.browser("alice").await;
    assert_eq!(s.account(&mut alice).await, serde_json::json!("NotConnected"));

    // The authorize URL: GitHub's, scope repo, PKCE S256, a state; no secret in it.
    let start = alice.post("/oauth/github/connect", &[]).await;
    let url = start.location.clone().unwrap();
    assert!(url.starts_with(&format!("{}/login/oauth/authorize?", s.double.web_url)), "{url}");
    assert_eq!(query_param(&url, "scope").as_deref(), Some("repo"));
    assert_eq!(query_param(&url, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query_param(&url, "client_id").as_deref(), Some(CLIENT_ID));
    assert!(query_param(&url, "state").is_some_and(|s| s.len() >= 20));
    assert!(!url.contains(CLIENT_SECRET));
    let back = s.double.consent(&url, true).await.unwrap();
    let done = alice.get_absolute(&back).await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location.as_deref(), Some("/settings/connected-accounts?connected=github"));

    let account = s.account(&mut alice).await;
    assert_eq!(account["Connected"]["login"], "octocat", "{account}");
    assert_eq!(account["Connected"]["scopes"], serde_json::json!(["repo"]));
    assert_eq!(account["Connected"]["expired"], false);

    // Stored encrypted: no plaintext token in the row, and it decrypts to the token GitHub issued.
    let issued = s.double.tokens_of("octocat");
    assert_eq!(issued.len(), 1);
    let rows = s.stored_rows().await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0].1.starts_with("v1:") && !rows[0].1.contains(&issued[0].token), "{}", rows[0].1);
    let alice_id = s.user_id("alice").await;
    assert_eq!(s.token(alice_id).await.unwrap().expose_secret(), issued[0].token);
    assert_eq!(s.pending_states().await, 0, "the state is used up");

    // The token works against the API.
    let client = GithubClient::new(&s.state().github.endpoints, Some(&s.token(alice_id).await.unwrap())).unwrap();
    assert_eq!(client.current_user().await.unwrap().login, "octocat");

    // Reconnecting replaces the token.
    let again = s.connect(&mut alice).await;
    assert_eq!(again.location.as_deref(), Some("/settings/connected-accounts?connected=github"));
    let issued = s.double.tokens_of("octocat");
    assert_eq!(issued.len(), 2);
    assert_eq!(s.token(alice_id).await.unwrap().expose_secret(), issued[1].token);
    assert_eq!(s.stored_rows().await.len(), 1);

    // A tampered ciphertext does not decrypt (and is not used).
    {
        let Db::Sqlite(pool) = &s.state().db else { unreachable!() };
        let mut conn = pool.get().await.unwrap();
        let stored: String = github_connections::table.select(github_connections::access_token).first(&mut *conn).await.unwrap();
        let mut chars: Vec<char> = stored.chars().collect();
        let i = chars.len() - 5;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered: String = chars.into_iter().collect();
        diesel::update(github_connections::table).set(github_connections::access_token.eq(&tampered)).execute(&mut *conn).await.unwrap();
    }
    assert!(matches!(s.token(alice_id).await, Err(ConnectionError::Crypto(_))));

    // Disconnect: nothing stored, and using the connection says what the spec says.
    let d = alice.post("/api/disconnect_github", &[]).await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(s.account(&mut alice).await, serde_json::json!("NotConnected"));
    assert!(s.stored_rows().await.is_empty());
    assert_eq!(s.token(alice_id).await.unwrap_err().to_string(), "No github OAuth token found");

    // Another user is not connected by any of this.
    let mut bob = s.browser("bob").await;
    assert_eq!(s.account(&mut bob).await, serde_json::json!("NotConnected"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authorizations_say_why_and_store_nothing() {
    let s = Setup::start(false).await;
    let mut alice = s.browser("alice").await;
    let mut bob = s.browser("bob").await;
    let failed = |a: &Answer, code: &str| {
        assert_eq!(a.status, 303, "{a:?}");
        assert_eq!(a.location.as_deref(), Some(format!("/settings/connected-accounts?error={code}").as_str()), "{a:?}");
    };

    // Denied consent.
    let url = alice.post("/oauth/github/connect", &[]).await.location.unwrap();
    let back = s.double.consent(&url, false).await.unwrap();
    assert_eq!(query_param(&back, "error").as_deref(), Some("access_denied"));
    failed(&alice.get_absolute(&back).await, "denied");

    // A state GitBlixt never issued.
    let url = alice.post("/oauth/github/connect", &[]).await.location.unwrap();
    let back = s.double.consent(&url, true).await.unwrap();
    failed(&alice.get_absolute(&replace_param(&back, "state", "forged-state-value-1234567890")).await, "bad_state");
    // ... the real one still works once, and a replay of it is refused.
    let ok = alice.get_absolute(&back).await;
    assert_eq!(ok.location.as_deref(), Some("/settings/connected-accounts?connected=github"));
    alice.post("/api/disconnect_github", &[]).await;
    failed(&alice.get_absolute(&back).await, "bad_state");

    // Alice's callback opened by Bob: not his authorization.
    let url = alice.post("/oauth/github/connect", &[]).await.location.unwrap();
    let back = s.double.consent(&url, true).await.unwrap();
    failed(&bob.get_absolute(&back).await, "bad_state");

    // A wrong code with a valid state.
    let url = alice.post("/oauth/github/connect", &[]).await.location.unwrap();
    let back = s.double.consent(&url, true).await.unwrap();
    failed(&alice.get_absolute(&replace_param(&back, "code", "0123456789abcdef0123")).await, "bad_code");

    // An authorization that took too long.
    let url = alice.post("/oauth/github/connect", &[]).await.location.unwrap();
    let back = s.double.consent(&url, true).await.unwrap();
    {
        let Db::Sqlite(pool) = &s.state().db else { unreachable!() };
        let mut conn = pool.get().await.unwrap();
        diesel::update(oauth_states::table).set(oauth_states::expires_at.eq(1_i64)).execute(&mut *conn).await.unwrap();
    }
    failed(&alice.get_absolute(&back).await, "state_expired");

    assert!(s.stored_rows().await.is_empty(), "no failed attempt stored a token");
    assert_eq!(s.account(&mut alice).await, serde_json::json!("NotConnected"));
    assert_eq!(s.account(&mut bob).await, serde_json::json!("NotConnected"));

    // Signed out: the flow can't start and the callback doesn't connect anyone.
    let mut nobody = Browser::new(&s.server.url());
    assert_eq!(nobody.post("/oauth/github/connect", &[]).await.location.as_deref(), Some("/login"));
    // A cross-site POST can't start it either.
    let cross = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/oauth/github/connect", s.server.url()))
        .header("Origin", "https://evil.example")
        .header("Cookie", alice.cookie.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_client_secret_is_reported_for_the_administrator() {
    let s = Setup::start(false).await;
    // The app at "GitHub" has another secret than the one GitBlixt is configured with.
    s.double.add_oauth_app(OAuthApp {
        name: "GitBlixt".into(),
        client_id: CLIENT_ID.into(),
        client_secret: "rotated-secret".into(),
        callback_url: format!("{}/oauth/github/callback", s.server.url()),
        expiring_tokens: false,
    });
    let mut alice = s.browser("alice").await;
    let answer = s.connect(&mut alice).await;
    assert_eq!(answer.location.as_deref(), Some("/settings/connected-accounts?error=client_credentials"));
    assert!(s.stored_rows().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_tokens_are_refreshed_and_a_dead_connection_says_the_token_expired() {
    let s = Setup::start(true).await;
    let mut alice = s.browser("alice").await;
    s.connect(&mut alice).await;
    let alice_id = s.user_id("alice").await;
    let first = s.token(alice_id).await.unwrap().expose_secret().to_string();
    assert!(first.starts_with("ghu_"), "an expiring user token");
    assert!(s.stored_rows().await[0].2.is_some(), "refresh token stored");

    // About to expire: the next use refreshes first (GitHub rotates both tokens).
    s.set_expiry(alice_id, app::ssr::db::now() + 30).await;
    let second = s.token(alice_id).await.unwrap().expose_secret().to_string();
    assert_ne!(first, second);
    let client = GithubClient::new(&s.state().github.endpoints, Some(&second.clone().into())).unwrap();
    assert_eq!(client.current_user().await.unwrap().login, "octocat");
    // Not due: no further refresh.
    assert_eq!(s.token(alice_id).await.unwrap().expose_secret(), second);

    // The background refresher renews tokens that expire soon.
    s.set_expiry(alice_id, app::ssr::db::now() + 600).await;
    let st = s.state();
    assert_eq!(connection::refresh_expiring(&st.github, &st.db, &st.cipher, 1800).await.unwrap().renewed, 1);
    let third = s.token(alice_id).await.unwrap().expose_secret().to_string();
    assert_ne!(third, second);

    // GitHub no longer accepts the refresh token and the access token ran out.
    let refresh = s.double.tokens_of("octocat").into_iter().find(|t| t.token == third).unwrap();
    assert!(!refresh.expired);
    for t in s.double.tokens_of("octocat") {
        s.double.expire_token(&t.token);
    }
    s.double.revoke_token(&third);
    // (expire every refresh token the double issued for this user)
    expire_all_refresh_tokens(&s).await;
    // Before it runs out, alice is told once (not at every pass) to reconnect.
    s.set_expiry(alice_id, app::ssr::db::now() + 600).await;
    assert_eq!(gitblixt::oauth_routes::refresh_pass(st, None).await, 1);
    assert_eq!(gitblixt::oauth_routes::refresh_pass(st, None).await, 0);
    let told = app::ssr::notifications::list(&st.db, alice_id, 10).await.unwrap();
    assert_eq!(told.iter().map(|n| (n.kind.as_str(), n.title.as_str(), n.link.as_str())).collect::<Vec<_>>(), vec![(
        "github.expiring",
        "Your GitHub connection is about to expire",
        "/settings/connected-accounts"
    )]);
    assert!(told[0].body.contains("Reconnect GitHub under Settings → Connected Accounts"), "{}", told[0].body);
    s.set_expiry(alice_id, app::ssr::db::now() - 10).await;
    assert_eq!(s.token(alice_id).await.unwrap_err().to_string(), "OAuth token has expired");
    let account = s.account(&mut alice).await;
    assert_eq!(account["Connected"]["expired"], true, "the page says to reconnect");
}

/// Expires the refresh tokens of the stored connection at the double.
async fn expire_all_refresh_tokens(s: &Setup) {
    let rows = s.stored_rows().await;
    for (user_id, _, refresh) in rows {
        if let Some(stored) = refresh {
            let plain = s.state().cipher.decrypt(&stored, &format!("github_connections.refresh_token:{user_id}")).unwrap();
            s.double.expire_refresh_token(plain.expose_secret());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_means_reconnect() {
    let s = Setup::start(false).await;
    let mut alice = s.browser("alice").await;
    s.connect(&mut alice).await;
    let alice_id = s.user_id("alice").await;
    let token = s.token(alice_id).await.unwrap();
    s.double.revoke_token(token.expose_secret());
    let client = GithubClient::new(&s.state().github.endpoints, Some(&token)).unwrap();
    let err = client.repository(&GithubRepo::parse("octocat/anything").unwrap()).await.unwrap_err();
    assert!(matches!(err, GithubError::BadCredentials));
    assert_eq!(err.to_string(), "OAuth token has expired");
}

/// The app's `DELETE /applications/{client_id}/token` requests the double received.
fn revocations(s: &Setup) -> Vec<github_double::github::RequestRecord> {
    let path = format!("/applications/{CLIENT_ID}/token");
    s.double.requests().into_iter().filter(|r| r.method == "DELETE" && r.path == path).collect()
}

/// What Disconnect tells the user when GitHub could not revoke the token.
fn not_revoked(s: &Setup) -> serde_json::Value {
    serde_json::json!(format!(
        "Disconnected. GitHub could not be reached to revoke GitBlixt's access; revoke it yourself at {}/settings/applications.",
        s.double.web_url
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_revokes_the_token_at_github() {
    let s = Setup::start(true).await;
    let mut alice = s.browser("alice").await;
    s.connect(&mut alice).await;
    let alice_id = s.user_id("alice").await;
    let token = s.token(alice_id).await.unwrap();
    let client = GithubClient::new(&s.state().github.endpoints, Some(&token)).unwrap();
    assert_eq!(client.current_user().await.unwrap().login, "octocat");
    let (_, _, stored_refresh) = s.stored_rows().await.remove(0);
    let refresh = s.state().cipher.decrypt(&stored_refresh.unwrap(), &format!("github_connections.refresh_token:{alice_id}")).unwrap();

    let d = alice.post("/api/disconnect_github", &[]).await;
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&d.body).unwrap(), serde_json::Value::Null, "nothing to add to the success");
    assert_eq!(s.account(&mut alice).await, serde_json::json!("NotConnected"));
    assert!(s.stored_rows().await.is_empty());

    // GitHub was asked, as the OAuth App (Basic client_id:client_secret), on its API.
    let asked = revocations(&s);
    assert_eq!(asked.len(), 1, "{asked:?}");
    let basic = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    assert_eq!(asked[0].authorization.as_deref(), Some(format!("Basic {basic}").as_str()));
    assert_eq!(asked[0].origin, github_double::github::Origin::Api);
    assert!(asked[0].query.is_none(), "the token travels in the body, not the URL");

    // The token (and its refresh token) no longer work at GitHub.
    let issued = s.double.tokens_of("octocat");
    assert!(issued.iter().any(|t| t.token == token.expose_secret() && t.revoked), "revoked at the double");
    assert!(matches!(client.current_user().await, Err(GithubError::BadCredentials)));
    let user = reqwest::Client::new().get(format!("{}/user", s.double.api_url)).bearer_auth(token.expose_secret()).send().await.unwrap();
    assert_eq!(user.status(), 401);
    let github = &s.state().github;
    let renewed = app::ssr::github::oauth::refresh(&github.endpoints, github.oauth.as_ref().unwrap(), &refresh).await;
    assert!(matches!(renewed, Err(app::ssr::github::oauth::RefreshError::Rejected)), "the refresh token died with it");

    // Disconnecting again: nothing to revoke, nothing asked.
    let again = alice.post("/api/disconnect_github", &[]).await;
    assert_eq!((again.status, again.body.as_str()), (200, "null"));
    assert_eq!(revocations(&s).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_while_github_fails_still_disconnects_and_says_to_revoke_there() {
    let logs = captured_logs();
    let s = Setup::start(false).await;
    let mut alice = s.browser("alice").await;
    s.connect(&mut alice).await;
    let alice_id = s.user_id("alice").await;
    let token = s.token(alice_id).await.unwrap();

    // GitHub answers the revocation with an error.
    s.double.set_fault(DoubleFault { status: Some(502), ..DoubleFault::default() });
    let d = alice.post("/api/disconnect_github", &[]).await;
    s.double.set_fault(DoubleFault::default());
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&d.body).unwrap(), not_revoked(&s));
    assert_eq!(revocations(&s).len(), 1, "GitHub was asked");
    assert_eq!(s.account(&mut alice).await, serde_json::json!("NotConnected"));
    assert!(s.stored_rows().await.is_empty(), "forgotten regardless");
    // ... which is why the user is told: the token still works at GitHub.
    let client = GithubClient::new(&s.state().github.endpoints, Some(&token)).unwrap();
    assert_eq!(client.current_user().await.unwrap().login, "octocat");

    // GitHub not reachable at all (nothing listens at its API any more).
    s.connect(&mut alice).await;
    let mut unreachable = (*s.state().github).clone();
    unreachable.endpoints.api_url = "http://127.0.0.1:9".into();
    let st = s.state();
    assert_eq!(
        connection::disconnect(&unreachable, &st.db, &st.cipher, alice_id).await.unwrap(),
        connection::Disconnected::NotRevoked
    );
    assert!(s.stored_rows().await.is_empty());

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(text.contains("revoking the GitHub token failed"), "the failure is logged");
    assert!(text.contains("GitHub answered 502"), "with its cause");
    assert!(!text.contains(CLIENT_SECRET), "never the client secret");
    for t in s.double.tokens_of("octocat") {
        assert!(!text.contains(&t.token), "never a token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_waits_at_most_ten_seconds_for_github() {
    let s = Setup::start(false).await;
    let mut alice = s.browser("alice").await;
    s.connect(&mut alice).await;
    s.double.set_fault(DoubleFault { latency: std::time::Duration::from_secs(30), ..DoubleFault::default() });
    let started = std::time::Instant::now();
    let d = alice.post("/api/disconnect_github", &[]).await;
    let took = started.elapsed();
    s.double.set_fault(DoubleFault::default());
    assert!(took >= std::time::Duration::from_secs(10) && took < std::time::Duration::from_secs(15), "took {took:?}");
    assert_eq!(d.status, 200, "{}", d.body);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&d.body).unwrap(), not_revoked(&s));
    assert!(s.stored_rows().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repository_lookups_are_classified_with_the_spec_messages() {
    let s = Setup::start(false).await;
    let d = &s.double;
    d.add_user("hubot");
    d.create_repo("octocat", "own", false);
    d.create_repo("octocat", "own-private", true);
    d.create_repo("hubot", "secret", true);
    d.create_repo("hubot", "read-only", false);
    d.set_permission("hubot", "read-only", "octocat", Some(Permission::Pull));
    d.create_repo("hubot", "shared", true);
    d.set_permission("hubot", "shared", "octocat", Some(Permission::Push));
    let token: secrecy::SecretString = d.issue_token("octocat", &["repo"]).into();
    let client = GithubClient::new(&s.state().github.endpoints, Some(&token)).unwrap();
    let repo = |r: &str| GithubRepo::parse(r).unwrap();

    let own = client.check_push_access(&repo("octocat/own")).await.unwrap();
    assert!(!own.private && own.can_push);
    let private = client.check_push_access(&repo("octocat/own-private")).await.unwrap();
    assert!(private.private);
    assert!(client.check_push_access(&repo("hubot/shared")).await.unwrap().private);
    let denied = client.check_push_access(&repo("hubot/read-only")).await.unwrap_err();
    assert_eq!(
        denied.to_string(),
        "Permission denied (403): ensure your GitHub account has push access to hubot/read-only."
    );
    for missing in ["hubot/secret", "hubot/nope", "nobody-here/x"] {
        let err = client.check_push_access(&repo(missing)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Repository not found (404): verify that {missing} is the correct owner/repo and that the repository exists on GitHub.")
        );
    }

    // Anonymous: public repositories only, no push.
    let anonymous = GithubClient::new(&s.state().github.endpoints, None).unwrap();
    assert!(!anonymous.repository(&repo("octocat/own")).await.unwrap().can_push);
    assert!(matches!(anonymous.repository(&repo("octocat/own-private")).await, Err(GithubError::NotFound(_))));

    // The user's repositories, across pages.
    for i in 0..105 {
        d.create_repo("octocat", &format!("many-{i:03}"), i % 2 == 0);
    }
    let listed = client.user_repositories(1000).await.unwrap();
    assert_eq!(listed.iter().filter(|r| r.full_name.starts_with("octocat/many-")).count(), 105);
    assert!(listed.iter().any(|r| r.full_name == "hubot/shared"));

    // GitHub having trouble: retryable, not a permission problem.
    d.set_fault(DoubleFault { status: Some(502), ..DoubleFault::default() });
    let err = client.repository(&repo("octocat/own")).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    d.set_fault(DoubleFault::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_or_secret_reaches_a_log_line() {
    let logs = captured_logs();
    let s = Setup::start(true).await;
    let mut alice = s.browser("alice").await;
    let start = alice.post("/oauth/github/connect", &[]).await;
    let url = start.location.unwrap();
    let back = s.double.consent(&url, true).await.unwrap();
    let code = query_param(&back, "code").unwrap();
    alice.get_absolute(&back).await;
    let alice_id = s.user_id("alice").await;
    s.set_expiry(alice_id, app::ssr::db::now()).await;
    let token = s.token(alice_id).await.unwrap();
    let client = GithubClient::new(&s.state().github.endpoints, Some(&token)).unwrap();
    let _ = client.repository(&GithubRepo::parse("octocat/missing").unwrap()).await;

    let text = String::from_utf8_lossy(&logs.lock().unwrap()).to_string();
    assert!(text.contains("GitHub account connected"), "the flow was logged");
    assert!(text.contains("GitHub OAuth token refreshed"));
    let mut secrets = vec![CLIENT_SECRET.to_string(), code];
    for t in s.double.tokens_of("octocat") {
        secrets.push(t.token);
    }
    for row in s.stored_rows().await {
        if let Some(r) = row.2 {
            secrets.push(s.state().cipher.decrypt(&r, &format!("github_connections.refresh_token:{}", row.0)).unwrap().expose_secret().to_string());
        }
    }
    for secret in secrets {
        assert!(!text.contains(&secret), "a secret reached the log: {secret}");
    }
    for prefix in ["gho_", "ghu_", "ghr_"] {
        assert!(!text.contains(prefix), "a token-like string ({prefix}) reached the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_pushes_to_github_through_the_connected_account() {
    use gitblixt::mirror::{self, RefOutcome, TransferOptions};
    use github_double::gitcli::ok;
    let s = Setup::start(false).await;
    let mut alice = s.browser("alice").await;
    s.connect(&mut alice).await;
    let alice_id = s.user_id("alice").await;
    s.double.create_repo("octocat", "mirror", true);
    let repo = GithubRepo::parse("octocat/mirror").unwrap();

    let tmp = tempfile::tempdir().unwrap();
    ok(tmp.path(), &["init", "-q", "--bare", "-b", "main", "local.git"]);
    let local = tmp.path().join("local.git");
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    ok(&work, &["init", "-q", "-b", "main"]);
    std::fs::write(work.join("README"), "hello\n").unwrap();
    ok(&work, &["add", "README"]);
    ok(&work, &["commit", "-q", "-m", "first"]);
    ok(&work, &["tag", "v1"]);
    ok(&work, &["push", "-q", "--mirror", local.to_str().unwrap()]);

    let st = s.state();
    let remote = connection::authenticated_remote(&st.github, &st.db, &st.cipher, alice_id, &repo).await.unwrap();
    assert_eq!(remote.url, format!("{}/octocat/mirror.git", s.double.web_url));
    assert!(!format!("{remote:?}").contains(remote.token.expose_secret()));
    let opts = TransferOptions { token: Some(remote.token.clone()), ..TransferOptions::default() };
    let report = mirror::push(&local, &remote.url, &opts).await.unwrap();
    assert!(report.refs.iter().all(|r| r.outcome == RefOutcome::Created), "{report:?}");
    let head = ok(&local, &["rev-parse", "main"]).trim().to_string();
    assert_eq!(s.double.refs("octocat", "mirror").get("refs/heads/main"), Some(&head));
    assert!(s.double.refs("octocat", "mirror").contains_key("refs/tags/v1"));

    // Disconnected: the spec's message, before anything reaches GitHub.
    alice.post("/api/disconnect_github", &[]).await;
    let err = connection::authenticated_remote(&st.github, &st.db, &st.cipher, alice_id, &repo).await.unwrap_err();
    assert_eq!(err.to_string(), "No github OAuth token found");
}
