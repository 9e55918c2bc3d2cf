//! The web side over real HTTP: accounts, sessions, repositories, settings access, bad input.

mod common;

use common::*;

struct Browser {
    client: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

struct Answer {
    status: u16,
    set_cookie: Vec<String>,
    body: String,
}

impl Browser {
    fn new(server: &TestServer) -> Self {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Self { client, base: server.url(), cookie: None }
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut req = self.client.post(format!("{}{path}", self.base)).form(form).header("Origin", &self.base);
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        self.finish(req).await
    }

    async fn get(&mut self, path: &str) -> Answer {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(c) = &self.cookie {
            req = req.header("Cookie", c);
        }
        self.finish(req).await
    }

    async fn finish(&mut self, req: reqwest::RequestBuilder) -> Answer {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let set_cookie: Vec<String> =
            resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        for c in &set_cookie {
            let pair = c.split(';').next().unwrap().to_string();
            self.cookie = if pair.ends_with('=') { None } else { Some(pair) };
        }
        Answer { status, set_cookie, body: resp.text().await.unwrap_or_default() }
    }

    async fn sign_up(&mut self, name: &str, password: &str) -> Answer {
        self.post("/api/sign_up", &[("username", name), ("password", password)]).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_sign_in_sign_out_with_rotating_server_side_sessions() {
    let server = TestServer::start().await;
    let mut alice = Browser::new(&server);
    let a = alice.sign_up("alice", "alice-password").await;
    assert!(a.status < 400, "{} {}", a.status, a.body);
    let cookie = a.set_cookie.first().expect("session cookie");
    assert!(cookie.starts_with("gitblixt_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let first_session = alice.cookie.clone().unwrap();
    // The first account is the instance admin; the next is not.
    let admin = app::ssr::accounts::find_user(&server.running.state.db, "alice").await.unwrap().unwrap();
    assert!(admin.is_admin);
    let mut bob = Browser::new(&server);
    bob.sign_up("bob", "bob-password").await;
    assert!(!app::ssr::accounts::find_user(&server.running.state.db, "bob").await.unwrap().unwrap().is_admin);

    let home = alice.get("/").await;
    assert!(home.body.contains("alice") && home.body.contains("Sign out"), "{}", home.body);

    // Signing in again gives a new session id and ends the old one.
    let again = alice.post("/api/sign_in", &[("username", "alice"), ("password", "alice-password")]).await;
    assert!(again.status < 400);
    let second_session = alice.cookie.clone().unwrap();
    assert_ne!(first_session, second_session);
    let mut stale = Browser::new(&server);
    stale.cookie = Some(first_session);
    assert!(!stale.get("/").await.body.contains("Sign out"));

    // Wrong password: a clear message and no session.
    let mut mallory = Browser::new(&server);
    let wrong = mallory.post("/api/sign_in", &[("username", "alice"), ("password", "nope-nope")]).await;
    assert!(wrong.body.contains("Incorrect username or password."), "{}", wrong.body);
    assert!(mallory.cookie.is_none());

    // Sign out clears the cookie and the server-side session.
    alice.post("/api/sign_out", &[]).await;
    assert!(alice.cookie.is_none());
    let mut replay = Browser::new(&server);
    replay.cookie = Some(second_session);
    assert!(!replay.get("/").await.body.contains("Sign out"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_sign_up_input_is_refused_and_creates_nothing() {
    let server = TestServer::start().await;
    let mut b = Browser::new(&server);
    for (name, password, message) in [
        ("bad name", "long-enough", "Username may only contain letters, digits, '-', '_' and '.'."),
        ("settings", "long-enough", "'settings' is reserved; choose another username."),
        ("-dash", "long-enough", "Username can't start with '-' or '.'."),
        ("carol", "short", "Password is too short (at least 8 characters)."),
    ] {
        let a = b.sign_up(name, password).await;
        assert_eq!(a.status, 400, "{name}");
        assert!(a.body.contains(message), "{name}: {}", a.body);
        assert!(b.cookie.is_none());
    }
    assert_eq!(app::ssr::accounts::count_users(&server.running.state.db).await.unwrap(), 0);
    b.sign_up("carol", "long-enough").await;
    let mut c = Browser::new(&server);
    let dup = c.sign_up("CAROL", "long-enough").await;
    assert!(dup.body.contains("The username 'CAROL' is already taken."), "{}", dup.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repositories_and_their_settings_page_are_guarded() {
    let server = TestServer::start().await;
    let mut alice = Browser::new(&server);
    alice.sign_up("alice", "alice-password").await;
    let mut bob = Browser::new(&server);
    bob.sign_up("bob", "bob-password").await;
    let mut anon = Browser::new(&server);

    let made = alice.post("/api/create_repository", &[("name", "open"), ("description", "An open one"), ("visibility", "public")]).await;
    assert!(made.status < 400, "{}", made.body);
    alice.post("/api/create_repository", &[("name", "hidden"), ("description", ""), ("visibility", "private")]).await;

    let page = alice.get("/alice/open").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("{}/alice/open.git", server.url())), "clone URL shown");
    assert!(page.body.contains("An open one"));
    assert_eq!(alice.get("/alice/open/settings").await.status, 200);
    assert_eq!(alice.get("/alice/hidden/settings").await.status, 200);

    assert_eq!(bob.get("/alice/open").await.status, 200);
    assert_eq!(bob.get("/alice/open/settings").await.status, 403);
    assert_eq!(bob.get("/alice/hidden").await.status, 404);
    assert_eq!(bob.get("/alice/hidden/settings").await.status, 404);
    assert_eq!(anon.get("/alice/hidden").await.status, 404);
    // Signed out: asked to sign in (the page says "You need to sign in first.").
    let settings = anon.get("/alice/open/settings").await;
    assert_eq!(settings.status, 401);
    assert!(settings.body.contains("You need to sign in first."));
    assert_eq!(anon.get("/alice/nothing").await.status, 404);
    // Server functions refuse too.
    let sneaky = bob
        .post("/api/update_repository", &[("owner", "alice"), ("repo", "open"), ("description", "pwned"), ("visibility", "public")])
        .await;
    assert_eq!(sneaky.status, 403);
    let page = anon.get("/alice/open").await;
    assert!(!page.body.contains("pwned"));

    // The dashboard lists your repositories, and others' public ones.
    let dash = bob.post("/api/get_dashboard", &[]).await;
    assert!(dash.body.contains("open") && !dash.body.contains("hidden"), "{}", dash.body);

    // A cross-site form post is refused.
    let evil = bob
        .client
        .post(format!("{}/api/create_repository", server.url()))
        .header("Origin", "http://evil.example")
        .header("Cookie", bob.cookie.clone().unwrap())
        .form(&[("name", "x"), ("description", ""), ("visibility", "public")])
        .send()
        .await
        .unwrap();
    assert_eq!(evil.status().as_u16(), 403);
    assert!(app::ssr::repos::find(&server.running.state.db, "bob", "x").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_repository_creation_leaves_nothing_behind() {
    let server = TestServer::start().await;
    let mut alice = Browser::new(&server);
    alice.sign_up("alice", "alice-password").await;

    // Bad names are refused before anything is written.
    for (name, message) in [
        ("../escape", "Repository name may only contain letters, digits, '-', '_' and '.'."),
        ("x.git", "Repository name can't contain '..' or end with '.git' or '.'."),
        (&"a".repeat(101), "Repository name is too long (at most 100 characters)."),
    ] {
        let a = alice.post("/api/create_repository", &[("name", name), ("description", ""), ("visibility", "public")]).await;
        assert!(a.body.contains(message), "{name}: {}", a.body);
    }
    let bad_vis = alice.post("/api/create_repository", &[("name", "ok"), ("description", ""), ("visibility", "secret")]).await;
    assert!(bad_vis.body.contains("Visibility must be public or private."));

    // A stale directory where the repository would go: creation fails, and no row stays behind.
    let stale = server.repo_path("alice", "clash");
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("junk"), "x").unwrap();
    let a = alice.post("/api/create_repository", &[("name", "clash"), ("description", ""), ("visibility", "public")]).await;
    assert_eq!(a.status, 500);
    assert!(a.body.contains("Internal"), "{}", a.body);
    assert!(app::ssr::repos::find(&server.running.state.db, "alice", "clash").await.unwrap().is_none());
    assert!(stale.join("junk").exists(), "the stale directory is left untouched");

    // A duplicate name (any case) is refused; the first repository is intact.
    alice.post("/api/create_repository", &[("name", "dup"), ("description", ""), ("visibility", "public")]).await;
    let again = alice.post("/api/create_repository", &[("name", "DUP"), ("description", ""), ("visibility", "public")]).await;
    assert!(again.body.contains("You already have a repository named 'DUP'."), "{}", again.body);
    assert!(server.repo_path("alice", "dup").join("HEAD").exists());

    // No scratch directories are left in the data dir.
    let leftovers: Vec<_> = std::fs::read_dir(server.data.path().join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_pages_are_404_and_keep_the_signed_in_header() {
    let server = TestServer::start().await;
    let mut alice = Browser::new(&server);
    alice.sign_up("alice", "alice-password").await;
    // Unknown paths of one and of several segments (a repository page needs exactly two).
    for path in ["/robots.txt", "/a/b/c/d"] {
        let page = alice.get(path).await;
        assert_eq!(page.status, 404, "{path}");
        assert!(page.body.contains("Page not found"), "{path}: {}", page.body);
        assert!(page.body.contains("Sign out") && page.body.contains("alice"), "{path}: header signed out: {}", page.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_page_says_up_front_that_github_is_not_configured() {
    let server = TestServer::start().await;
    let mut alice = Browser::new(&server);
    alice.sign_up("alice", "alice-password").await;
    let owner = app::ssr::accounts::find_user(&server.running.state.db, "alice").await.unwrap().unwrap();
    server.repo(&owner, "project", false).await;
    let page = alice.get("/alice/project/settings").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("GitHub is not configured on this instance, so push and pull mirrors cannot be enabled yet"),
        "{}",
        page.body
    );
}
