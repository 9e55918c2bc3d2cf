//! The GitHub double against real clients: the `git` CLI (credential helper, 401 challenges),
//! octocrab (REST models, pagination), plain HTTP for the OAuth web flow, and its own binary.

use base64::Engine;
use github_double::gitcli::ok;
use github_double::github::{DoubleFault, GithubDouble, OAuthApp, Permission};
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A credential helper answering with `x-access-token` and the token in `$GH_DOUBLE_TOKEN`: the
/// token reaches git only through the 401 challenge, never the URL.
const HELPER: &str =
    "credential.helper=!f() { test \"$1\" = get && echo username=x-access-token && echo \"password=$GH_DOUBLE_TOKEN\"; }; f";

/// Runs the real git, isolated from the machine's configuration, with `token` (if any) offered
/// through the credential helper.
fn git_as(dir: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env("SSH_ASKPASS", "")
        .env("GIT_AUTHOR_NAME", "A")
        .env("GIT_AUTHOR_EMAIL", "a@example.com")
        .env("GIT_COMMITTER_NAME", "C")
        .env("GIT_COMMITTER_EMAIL", "c@example.com");
    if let Some(token) = token {
        cmd.args(["-c", HELPER]).env("GH_DOUBLE_TOKEN", token);
    }
    cmd.args(args).output().expect("git runs")
}

fn succeeds(o: &Output) -> bool {
    o.status.success()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_ok(o: Output, what: &str) {
    assert!(o.status.success(), "{what}: {}", stderr(&o));
}

fn assert_fails_with(o: Output, what: &str, needle: &str) {
    assert!(!o.status.success(), "{what} should fail");
    assert!(stderr(&o).contains(needle), "{what}: expected {needle:?} in {}", stderr(&o));
}

/// A working repository with one commit on `main` and a tag.
fn work_repo(dir: &Path) {
    ok(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README"), "hello\n").unwrap();
    ok(dir, &["add", "."]);
    ok(dir, &["commit", "-q", "-m", "first"]);
    ok(dir, &["tag", "v1"]);
}

fn commit(dir: &Path, message: &str) {
    std::fs::write(dir.join(message), message).unwrap();
    ok(dir, &["add", "."]);
    ok(dir, &["commit", "-q", "-m", message]);
}

fn head(dir: &Path) -> String {
    ok(dir, &["rev-parse", "HEAD"]).trim().to_string()
}

fn basic(token: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}")))
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The status of `GET info/refs?service=git-upload-pack` with these credentials.
async fn info_refs_status(double: &GithubDouble, owner: &str, name: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = http().get(format!("{}/info/refs?service=git-upload-pack", double.git_url(owner, name)));
    if let Some(token) = token {
        request = request.header("authorization", basic(token));
    }
    request.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn git_clones_pushes_and_is_refused_like_on_github() {
    let double = GithubDouble::start().await.unwrap();
    for login in ["alice", "bob", "carol", "mallory"] {
        double.add_user(login);
    }
    let public = double.create_repo("alice", "pub", false);
    assert!(public.join("HEAD").is_file(), "a bare repository at {}", public.display());
    double.create_repo("alice", "priv", true);
    double.set_permission("alice", "priv", "bob", Some(Permission::Push));
    double.set_permission("alice", "priv", "carol", Some(Permission::Pull));
    let alice = double.issue_token("alice", &["repo"]);
    let bob = double.issue_token("bob", &["repo"]);
    let carol = double.issue_token("carol", &["repo"]);
    let mallory = double.issue_token("mallory", &["repo"]);

    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir(&work).unwrap();
    work_repo(&work);

    // Pushes need credentials: anonymous is challenged; the owner's token lands everything.
    let pub_url = double.git_url("alice", "pub");
    let priv_url = double.git_url("alice", "priv");
    assert_fails_with(git_as(&work, None, &["push", &pub_url, "main"]), "anonymous push", "could not read Username");
    assert_ok(git_as(&work, Some(&alice), &["push", "-q", &pub_url, "main", "v1"]), "owner pushes to pub");
    assert_ok(git_as(&work, Some(&alice), &["push", "-q", &priv_url, "main", "v1"]), "owner pushes to priv");
    let expected: std::collections::BTreeMap<String, String> =
        [("refs/heads/main".to_string(), head(&work)), ("refs/tags/v1".to_string(), head(&work))].into();
    assert_eq!(double.refs("alice", "pub"), expected);
    assert_eq!(double.refs("alice", "priv"), expected);

    // Public: anonymous clones, with and without `.git`, in any case.
    assert_ok(git_as(tmp.path(), None, &["clone", "-q", &pub_url, "anon"]), "anonymous clone of a public repository");
    assert_eq!(head(&tmp.path().join("anon")), head(&work));
    let other_case = format!("{}/ALICE/Pub", double.web_url);
    assert_ok(git_as(tmp.path(), None, &["clone", "-q", &other_case, "anon2"]), "clone without .git, other case");

    // Private: refused without credentials (401 with GitHub's challenge), cloned with a token.
    assert_fails_with(
        git_as(tmp.path(), None, &["clone", "-q", &priv_url, "no"]),
        "anonymous clone of a private repository",
        "could not read Username",
    );
    let r = info_refs_status(&double, "alice", "priv", None).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"GitHub\"");
    assert_ok(git_as(tmp.path(), Some(&carol), &["clone", "-q", &priv_url, "carol"]), "pull collaborator clones");

    // Push permission: bob (push) lands a commit; carol (pull) is refused with GitHub's message.
    assert_ok(git_as(tmp.path(), Some(&bob), &["clone", "-q", &priv_url, "bob"]), "push collaborator clones");
    let bob_dir = tmp.path().join("bob");
    commit(&bob_dir, "from-bob");
    assert_ok(git_as(&bob_dir, Some(&bob), &["push", "-q", "origin", "main"]), "push collaborator pushes");
    assert_eq!(double.refs("alice", "priv")["refs/heads/main"], head(&bob_dir));
    let carol_dir = tmp.path().join("carol");
    commit(&carol_dir, "from-carol");
    assert_fails_with(
        git_as(&carol_dir, Some(&carol), &["push", "origin", "main"]),
        "pull collaborator pushes",
        "Permission to alice/priv.git denied to carol.",
    );
    assert_fails_with(
        git_as(&carol_dir, Some(&bob), &["push", &pub_url, "main"]),
        "stranger pushes to a public repository",
        "denied to bob",
    );

    // Strangers, and unknown repositories, are "not found".
    assert_fails_with(
        git_as(tmp.path(), Some(&mallory), &["clone", "-q", &priv_url, "m"]),
        "stranger clones a private repository",
        "Repository not found.",
    );
    let missing = double.git_url("alice", "missing");
    assert_fails_with(
        git_as(tmp.path(), Some(&alice), &["clone", "-q", &missing, "x"]),
        "clone of an unknown repository",
        "Repository not found.",
    );
    assert_eq!(info_refs_status(&double, "alice", "missing", Some(&alice)).await.status(), 404);

    // Scopes: without `repo` the owner does not see the private repository; `public_repo` pushes to public ones.
    let no_scope = double.issue_token("alice", &[]);
    assert_fails_with(
        git_as(tmp.path(), Some(&no_scope), &["clone", "-q", &priv_url, "ns"]),
        "token without the repo scope",
        "Repository not found.",
    );
    let public_repo = double.issue_token("alice", &["public_repo"]);
    commit(&work, "second");
    assert_ok(git_as(&work, Some(&public_repo), &["push", "-q", &pub_url, "main"]), "public_repo pushes to a public repository");
    assert_fails_with(
        git_as(&work, Some(&public_repo), &["push", &priv_url, "main"]),
        "public_repo pushes to a private repository",
        "Repository not found.",
    );

    // Expired and revoked tokens are refused with 401.
    double.expire_token(&bob);
    assert_fails_with(git_as(tmp.path(), Some(&bob), &["clone", "-q", &priv_url, "b2"]), "expired token", "Authentication failed");
    assert_eq!(info_refs_status(&double, "alice", "priv", Some(&bob)).await.status(), 401);
    double.revoke_token(&carol);
    assert_fails_with(git_as(tmp.path(), Some(&carol), &["clone", "-q", &priv_url, "c2"]), "revoked token", "Authentication failed");
    assert_eq!(
        info_refs_status(&double, "alice", "pub", Some(&carol)).await.status(),
        401,
        "a bad token is refused even for a public repository"
    );

    // Removing a collaborator and deleting a repository take effect.
    double.set_permission("alice", "priv", "bob", None);
    let bob2 = double.issue_token("bob", &["repo"]);
    assert_eq!(info_refs_status(&double, "alice", "priv", Some(&bob2)).await.status(), 404);
    double.delete_repo("alice", "pub");
    assert!(!double.repo_path("alice", "pub").exists());
    assert_eq!(info_refs_status(&double, "alice", "pub", Some(&alice)).await.status(), 404);
    assert!(double.refs("alice", "pub").is_empty());
}

fn crab(double: &GithubDouble, token: Option<&str>) -> octocrab::Octocrab {
    let builder = octocrab::Octocrab::builder().base_uri(double.api_url.as_str()).unwrap();
    match token {
        Some(token) => builder.personal_token(token.to_string()).build().unwrap(),
        None => builder.build().unwrap(),
    }
}

fn status_of(e: &octocrab::Error) -> u16 {
    match e {
        octocrab::Error::GitHub { source, .. } => source.status_code.as_u16(),
        other => panic!("not a GitHub error: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn octocrab_reads_users_and_repositories() {
    let double = GithubDouble::start().await.unwrap();
    let alice_id = double.add_user("alice");
    assert_eq!(double.add_user("Alice"), alice_id, "logins are case-insensitive and add_user idempotent");
    double.create_repo("alice", "hello", false);
    double.create_repo("alice", "secret", true);
    double.set_permission("alice", "secret", "bob", Some(Permission::Push));
    double.set_permission("alice", "hello", "carol", Some(Permission::Pull));
    let alice = double.issue_token("alice", &["repo", "read:user"]);
    let bob = double.issue_token("bob", &["repo"]);
    let carol = double.issue_token("carol", &["repo"]);
    let mallory = double.issue_token("mallory", &["repo"]);

    let me = crab(&double, Some(&alice)).current().user().await.unwrap();
    assert_eq!(me.login, "alice");
    assert_eq!(me.id.0, alice_id);
    assert_eq!(me.html_url.as_str(), format!("{}/alice", double.web_url));
    let avatar = http().get(me.avatar_url.as_str()).send().await.unwrap();
    assert_eq!(avatar.headers()["content-type"], "image/svg+xml");

    let repo = crab(&double, Some(&bob)).repos("alice", "secret").get().await.unwrap();
    assert_eq!(repo.full_name.as_deref(), Some("alice/secret"));
    assert_eq!(repo.private, Some(true));
    assert_eq!(repo.visibility.as_deref(), Some("private"));
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
    assert_eq!(repo.clone_url.as_ref().map(|u| u.as_str().to_string()), Some(double.git_url("alice", "secret")));
    assert_eq!(repo.owner.as_ref().map(|o| o.login.as_str()), Some("alice"));
    let permissions = repo.permissions.unwrap();
    assert!(permissions.push && permissions.pull && !permissions.admin);
    let as_carol = crab(&double, Some(&carol)).repos("ALICE", "Hello").get().await.unwrap();
    assert_eq!(as_carol.name, "hello", "names are case-insensitive; the answer spells them as created");
    let permissions = as_carol.permissions.unwrap();
    assert!(!permissions.push && permissions.pull);
    assert!(crab(&double, Some(&alice)).repos("alice", "secret").get().await.unwrap().permissions.unwrap().admin);

    // A stranger, anonymous callers and a token without `repo` do not see the private repository.
    let e = crab(&double, Some(&mallory)).repos("alice", "secret").get().await.unwrap_err();
    assert_eq!(status_of(&e), 404);
    assert_eq!(status_of(&crab(&double, None).repos("alice", "secret").get().await.unwrap_err()), 404);
    let no_repo_scope = double.issue_token("alice", &["read:user"]);
    assert_eq!(status_of(&crab(&double, Some(&no_repo_scope)).repos("alice", "secret").get().await.unwrap_err()), 404);
    let anonymous = crab(&double, None).repos("alice", "hello").get().await.unwrap();
    assert!(anonymous.permissions.is_none(), "no permissions for anonymous callers");
    assert_eq!(status_of(&crab(&double, Some(&alice)).repos("alice", "nope").get().await.unwrap_err()), 404);

    // Bad and missing credentials.
    assert_eq!(status_of(&crab(&double, None).current().user().await.unwrap_err()), 401);
    let bad = crab(&double, Some("gho_nope")).current().user().await.unwrap_err();
    assert_eq!(status_of(&bad), 401);
    let raw = http().get(format!("{}/user", double.api_url)).bearer_auth("gho_nope").send().await.unwrap();
    assert_eq!(raw.status(), 401);
    assert_eq!(
        raw.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"})
    );

    // GitHub's headers; `token <t>` works like `Bearer <t>`.
    let r =
        http().get(format!("{}/repos/alice/hello", double.api_url)).header("authorization", format!("token {alice}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-oauth-scopes"], "repo, read:user");
    assert_eq!(r.headers()["content-type"], "application/json; charset=utf-8");
    assert!(r.headers()["x-github-media-type"].to_str().unwrap().starts_with("github.v3"));
    assert_eq!(r.headers()["x-ratelimit-limit"], "5000");
    let remaining: u64 = r.headers()["x-ratelimit-remaining"].to_str().unwrap().parse().unwrap();
    assert!(remaining < 5000);
    let missing = http().get(format!("{}/repos/alice/nope", double.api_url)).send().await.unwrap();
    assert_eq!(
        missing.json::<serde_json::Value>().await.unwrap(),
        serde_json::json!({"message":"Not Found","documentation_url":"https://docs.github.com/rest/repos/repos#get-a-repository","status":"404"})
    );

    // Pagination over 35 own repositories, 2 of them private, plus one as a collaborator.
    for i in 0..33 {
        double.create_repo("dave", &format!("repo-{i:02}"), false);
    }
    double.create_repo("dave", "private-1", true);
    double.create_repo("dave", "private-2", true);
    double.set_permission("alice", "hello", "dave", Some(Permission::Push));
    let dave = double.issue_token("dave", &["repo"]);
    let octo = crab(&double, Some(&dave));
    let first = octo.current().list_repos_for_authenticated_user().per_page(10u8).send().await.unwrap();
    assert_eq!(first.items.len(), 10);
    assert!(first.next.is_some() && first.last.is_some() && first.prev.is_none());
    let mut names: Vec<String> = first.items.iter().map(|r| r.full_name.clone().unwrap()).collect();
    let mut next = first.next.clone();
    let mut pages = 1;
    while let Some(page) = octo.get_page::<octocrab::models::Repository>(&next).await.unwrap() {
        pages += 1;
        names.extend(page.items.iter().map(|r| r.full_name.clone().unwrap()));
        next = page.next;
    }
    assert_eq!(pages, 4);
    assert_eq!(names.len(), 36);
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| n.to_lowercase());
    assert_eq!(names, sorted, "sorted by full_name by default");
    assert!(names.contains(&"alice/hello".to_string()) && names.contains(&"dave/private-2".to_string()));
    let default_page = octo.current().list_repos_for_authenticated_user().send().await.unwrap();
    assert_eq!(default_page.items.len(), 30, "30 per page by default");

    let link =
        http().get(format!("{}/user/repos?per_page=10&page=2", double.api_url)).bearer_auth(&dave).send().await.unwrap().headers()["link"]
            .to_str()
            .unwrap()
            .to_string();
    let api = &double.api_url;
    assert_eq!(
        link,
        format!(
            "<{api}/user/repos?per_page=10&page=1>; rel=\"prev\", <{api}/user/repos?per_page=10&page=3>; rel=\"next\", \
             <{api}/user/repos?per_page=10&page=4>; rel=\"last\", <{api}/user/repos?per_page=10&page=1>; rel=\"first\""
        )
    );
    // Without the `repo` scope private repositories are left out.
    let public_only = double.issue_token("dave", &["public_repo"]);
    let all = crab(&double, Some(&public_only));
    let page = all.current().list_repos_for_authenticated_user().per_page(100u8).send().await.unwrap();
    assert_eq!(page.items.len(), 34);
    assert!(page.items.iter().all(|r| r.private == Some(false)));
}

/// What the app does: the authorize URL with state and S256 PKCE.
struct Client {
    client_id: String,
    secret: String,
    callback: String,
}

fn authorize_url(double: &GithubDouble, client: &Client, extra: &[(&str, &str)]) -> String {
    let mut url = url::Url::parse(&format!("{}/login/oauth/authorize", double.web_url)).unwrap();
    url.query_pairs_mut().append_pair("client_id", &client.client_id);
    for (k, v) in extra {
        url.query_pairs_mut().append_pair(k, v);
    }
    url.to_string()
}

fn s256(verifier: &str) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

/// `POST /login/oauth/access_token` with a JSON body, asking for JSON; returns (status, body).
async fn exchange_json(double: &GithubDouble, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = http()
        .post(format!("{}/login/oauth/access_token", double.web_url))
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Runs authorize + consent, returns the code.
async fn code_for(double: &GithubDouble, client: &Client, state: &str, verifier: &str) -> String {
    let challenge = s256(verifier);
    let url = authorize_url(
        double,
        client,
        &[
            ("redirect_uri", &client.callback),
            ("scope", "repo read:user"),
            ("state", state),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    );
    let location = double.consent(&url, true).await.unwrap();
    assert!(location.starts_with(&format!("{}?", client.callback)), "{location}");
    let q = query_of(&location);
    assert_eq!(q["state"], state);
    q["code"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_web_flow_end_to_end() {
    let double = GithubDouble::start().await.unwrap();
    let alice_id = double.add_user("alice");
    let client =
        Client { client_id: "Iv1.abc".into(), secret: "s3cret".into(), callback: "http://127.0.0.1:4567/oauth/github/callback".into() };
    double.add_oauth_app(OAuthApp {
        name: "GitBlixt".into(),
        client_id: client.client_id.clone(),
        client_secret: client.secret.clone(),
        callback_url: client.callback.clone(),
        expiring_tokens: false,
    });

    // Nobody signed in: the sign-in form, not a consent page.
    let url = authorize_url(&double, &client, &[("state", "s0")]);
    let e = double.consent(&url, true).await.unwrap_err();
    assert!(e.contains("Username or email address"), "{e}");
    double.set_browser_user(Some("alice"));

    // The consent page names the app, the user and the scopes.
    let page =
        http().get(authorize_url(&double, &client, &[("scope", "repo"), ("state", "s1")])).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Authorize GitBlixt") && page.contains("alice") && page.contains("<code>repo</code>"), "{page}");
    assert!(page.contains(">Authorize</button>") && page.contains(">Cancel</button>"));

    // Authorize, exchange with the verifier, use the token.
    let verifier = "a-verifier-that-is-long-enough-0123456789-abcdefghijkl";
    let code = code_for(&double, &client, "xyz", verifier).await;
    assert_eq!(code.len(), 20);
    assert!(code.chars().all(|c| c.is_ascii_hexdigit()));
    let request = serde_json::json!({
        "client_id": client.client_id, "client_secret": client.secret, "code": code,
        "redirect_uri": client.callback, "code_verifier": verifier,
    });
    let (status, body) = exchange_json(&double, request.clone()).await;
    assert_eq!(status, 200);
    let token = body["access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("gho_") && token.len() == 40, "{token}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["scope"], "repo,read:user");
    assert!(body.get("refresh_token").is_none() && body.get("expires_in").is_none());
    let me = crab(&double, Some(&token)).current().user().await.unwrap();
    assert_eq!((me.login.as_str(), me.id.0), ("alice", alice_id));
    let info = double.tokens_of("alice").into_iter().find(|t| t.token == token).unwrap();
    assert_eq!(info.client_id.as_deref(), Some("Iv1.abc"));
    assert_eq!(info.scopes, ["repo", "read:user"]);
    assert!(!info.expired && !info.revoked);

    // A code works once; errors are status 200 with GitHub's bodies.
    let (status, body) = exchange_json(&double, request).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
            "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"
        })
    );

    // Wrong secret; wrong or missing verifier; another redirect_uri than at authorize.
    let code = code_for(&double, &client, "s2", verifier).await;
    let (_, body) = exchange_json(&double, serde_json::json!({"client_id": client.client_id, "client_secret": "wrong", "code": code, "code_verifier": verifier, "redirect_uri": client.callback})).await;
    assert_eq!(body["error"], "incorrect_client_credentials");
    assert_eq!(body["error_description"], "The client_id and/or client_secret passed are incorrect.");
    let (_, body) = exchange_json(&double, serde_json::json!({"client_id": client.client_id, "client_secret": client.secret, "code": code, "code_verifier": "another-verifier-another-verifier-another-verifier", "redirect_uri": client.callback})).await;
    assert_eq!(body["error"], "bad_verification_code");
    let (_, body) = exchange_json(
        &double,
        serde_json::json!({"client_id": client.client_id, "client_secret": client.secret, "code": code, "redirect_uri": client.callback}),
    )
    .await;
    assert_eq!(body["error"], "bad_verification_code");
    let (_, body) = exchange_json(&double, serde_json::json!({"client_id": client.client_id, "client_secret": client.secret, "code": code, "code_verifier": verifier, "redirect_uri": format!("{}/deeper", client.callback)})).await;
    assert_eq!(body["error"], "redirect_uri_mismatch");

    // Form-encoded answer without an Accept header; client credentials by HTTP Basic.
    let r = http()
        .post(format!("{}/login/oauth/access_token", double.web_url))
        .basic_auth(&client.client_id, Some(&client.secret))
        .form(&[("code", code.as_str()), ("code_verifier", verifier), ("redirect_uri", client.callback.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-www-form-urlencoded; charset=utf-8");
    let form: HashMap<String, String> = url::form_urlencoded::parse(r.text().await.unwrap().as_bytes()).into_owned().collect();
    assert!(form["access_token"].starts_with("gho_"));
    assert_eq!((form["scope"].as_str(), form["token_type"].as_str()), ("repo,read:user", "bearer"));
    let r = http()
        .post(format!("{}/login/oauth/access_token", double.web_url))
        .form(&[("client_id", "Iv1.abc"), ("client_secret", "s3cret"), ("code", "0000")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = r.text().await.unwrap();
    assert!(body.starts_with("error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired."), "{body}");

    // Cancel: access_denied with the state.
    let url = authorize_url(&double, &client, &[("state", "cancel-me")]);
    let location = double.consent(&url, false).await.unwrap();
    assert!(location.starts_with(&client.callback));
    let q = query_of(&location);
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["error_description"], "The user has denied your application access.");
    assert_eq!(q["state"], "cancel-me");
    assert!(location.contains("error_description=The+user+has+denied+your+application+access."), "{location}");

    // redirect_uri on another port (or host, or path) -> back to the callback URL with redirect_uri_mismatch.
    for bad in
        ["http://127.0.0.1:4568/oauth/github/callback", "http://localhost:4567/oauth/github/callback", "http://127.0.0.1:4567/elsewhere"]
    {
        let url = authorize_url(&double, &client, &[("redirect_uri", bad), ("state", "st")]);
        let location = double.consent(&url, true).await.unwrap();
        assert!(
            location.starts_with(&format!(
                "{}?error=redirect_uri_mismatch&error_description=The+redirect_uri+is+not+associated+with+this+application.",
                client.callback
            )),
            "{location}"
        );
        assert_eq!(query_of(&location)["state"], "st");
    }
    // A subdirectory of the callback path is fine.
    let deeper = format!("{}/deeper", client.callback);
    let location = double.consent(&authorize_url(&double, &client, &[("redirect_uri", &deeper)]), true).await.unwrap();
    assert!(location.starts_with(&format!("{deeper}?code=")), "{location}");
    // Only S256 challenges are accepted.
    let location = double
        .consent(&authorize_url(&double, &client, &[("code_challenge", "abc"), ("code_challenge_method", "plain"), ("state", "p")]), true)
        .await
        .unwrap();
    assert_eq!(query_of(&location)["error"], "invalid_request");

    // An unknown client id is an error page.
    let e = double.consent(&format!("{}/login/oauth/authorize?client_id=nope", double.web_url), true).await.unwrap_err();
    assert!(e.starts_with("404"), "{e}");

    // The sign-in form: a cookie, then the consent page for that user.
    double.set_browser_user(None);
    double.add_user("bob");
    let authorize = authorize_url(&double, &client, &[("state", "b")]);
    let return_to = authorize.trim_start_matches(&double.web_url).to_string();
    let r = http()
        .post(format!("{}/session", double.web_url))
        .form(&[("login", "bob"), ("return_to", return_to.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], return_to.as_str());
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
    let page = http().get(&authorize).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Signed in as <strong>bob</strong>"), "{page}");
    let r = http().post(format!("{}/session", double.web_url)).form(&[("login", "nobody"), ("return_to", "/")]).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("Incorrect username or password."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_tokens_refresh_and_rotate() {
    let double = GithubDouble::start().await.unwrap();
    double.set_browser_user(Some("alice"));
    let client = Client { client_id: "Iv1.exp".into(), secret: "sec".into(), callback: "http://127.0.0.1:4567/cb".into() };
    double.add_oauth_app(OAuthApp {
        name: "Expiring".into(),
        client_id: client.client_id.clone(),
        client_secret: client.secret.clone(),
        callback_url: client.callback.clone(),
        expiring_tokens: true,
    });
    let verifier = "0123456789012345678901234567890123456789012345";
    let code = code_for(&double, &client, "s", verifier).await;
    let (_, body) = exchange_json(&double, serde_json::json!({"client_id": client.client_id, "client_secret": client.secret, "code": code, "code_verifier": verifier, "redirect_uri": client.callback})).await;
    let access = body["access_token"].as_str().unwrap().to_string();
    let refresh = body["refresh_token"].as_str().unwrap().to_string();
    assert!(access.starts_with("ghu_") && refresh.starts_with("ghr_"), "{body}");
    assert_eq!(body["expires_in"], 28800);
    assert_eq!(body["refresh_token_expires_in"], 15897600);
    assert_eq!(crab(&double, Some(&access)).current().user().await.unwrap().login, "alice");

    // A refresh rotates both; the old access and refresh tokens stop working.
    let refresh_request = |token: &str| serde_json::json!({"client_id": client.client_id, "client_secret": client.secret, "grant_type": "refresh_token", "refresh_token": token});
    let (status, body) = exchange_json(&double, refresh_request(&refresh)).await;
    assert_eq!(status, 200);
    let access2 = body["access_token"].as_str().unwrap().to_string();
    let refresh2 = body["refresh_token"].as_str().unwrap().to_string();
    assert!(access2 != access && refresh2 != refresh);
    assert_eq!(body["scope"], "repo,read:user");
    assert_eq!(crab(&double, Some(&access2)).current().user().await.unwrap().login, "alice");
    assert_eq!(status_of(&crab(&double, Some(&access)).current().user().await.unwrap_err()), 401);
    let (status, body) = exchange_json(&double, refresh_request(&refresh)).await;
    assert_eq!(status, 200);
    assert_eq!(body["error"], "bad_refresh_token");
    assert_eq!(body["error_description"], "The refresh token passed is incorrect or expired.");

    // An expired refresh token; an unknown grant type.
    double.expire_refresh_token(&refresh2);
    assert_eq!(exchange_json(&double, refresh_request(&refresh2)).await.1["error"], "bad_refresh_token");
    let (_, body) = exchange_json(
        &double,
        serde_json::json!({"client_id": client.client_id, "client_secret": client.secret, "grant_type": "password"}),
    )
    .await;
    assert_eq!(body["error"], "unsupported_grant_type");

    // Expiring the access token: 401 on the API.
    double.expire_token(&access2);
    assert_eq!(status_of(&crab(&double, Some(&access2)).current().user().await.unwrap_err()), 401);
    let infos = double.tokens_of("alice");
    assert_eq!(infos.len(), 2);
    assert!(infos[0].token == access && infos[0].revoked, "oldest first");
    assert!(infos[1].token == access2 && infos[1].expired && !infos[1].revoked);
}

/// `DELETE /applications/{client_id}/token` with `credentials` as Basic auth; returns (status, body).
async fn delete_app_token(double: &GithubDouble, client_id: &str, credentials: Option<(&str, &str)>, token: &str) -> (u16, String) {
    let mut request = http()
        .delete(format!("{}/applications/{client_id}/token", double.api_url))
        .header("accept", "application/vnd.github+json")
        .json(&serde_json::json!({ "access_token": token }));
    if let Some((id, secret)) = credentials {
        request = request.basic_auth(id, Some(secret));
    }
    let r = request.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_oauth_app_revokes_its_token_like_on_github() {
    let double = GithubDouble::start().await.unwrap();
    double.set_browser_user(Some("alice"));
    double.create_repo("alice", "private", true);
    let app = Client { client_id: "Iv1.revoking".into(), secret: "app-secret".into(), callback: "http://127.0.0.1:4567/cb".into() };
    let other = Client { client_id: "Iv1.other".into(), secret: "other-secret".into(), callback: "http://127.0.0.1:4568/cb".into() };
    for c in [&app, &other] {
        double.add_oauth_app(OAuthApp {
            name: c.client_id.clone(),
            client_id: c.client_id.clone(),
            client_secret: c.secret.clone(),
            callback_url: c.callback.clone(),
            expiring_tokens: true,
        });
    }
    let verifier = "0123456789012345678901234567890123456789012345";
    let mut grants = Vec::new();
    for c in [&app, &other] {
        let code = code_for(&double, c, "s", verifier).await;
        let (_, body) = exchange_json(&double, serde_json::json!({"client_id": c.client_id, "client_secret": c.secret, "code": code, "code_verifier": verifier, "redirect_uri": c.callback})).await;
        grants.push((body["access_token"].as_str().unwrap().to_string(), body["refresh_token"].as_str().unwrap().to_string()));
    }
    let ((token, refresh), (others_token, _)) = (grants[0].clone(), grants[1].clone());
    let unrelated = double.issue_token("alice", &["repo"]);
    let creds = Some((app.client_id.as_str(), app.secret.as_str()));
    assert_eq!(info_refs_status(&double, "alice", "private", Some(&token)).await.status(), 200);

    // Without the app's credentials: 401, GitHub's JSON; nothing revoked.
    let (status, body) = delete_app_token(&double, &app.client_id, None, &token).await;
    assert_eq!(status, 401);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"], "Requires authentication");
    let (status, body) = delete_app_token(&double, &app.client_id, Some((&app.client_id, "wrong")), &token).await;
    assert_eq!(status, 401);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"], "Bad credentials");
    assert_eq!(delete_app_token(&double, &app.client_id, Some((&app.client_id, &token)), &token).await.0, 401, "a user token is no app credential");
    // Another app's path: 404; not the app's token, or no token it knows: 422 Validation Failed.
    assert_eq!(delete_app_token(&double, &other.client_id, creds, &others_token).await.0, 404);
    for not_its_own in [others_token.as_str(), unrelated.as_str(), "gho_unknown"] {
        let (status, body) = delete_app_token(&double, &app.client_id, creds, not_its_own).await;
        assert_eq!(status, 422);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["message"], "Validation Failed");
    }
    assert!(double.tokens_of("alice").iter().all(|t| !t.revoked));

    // The app revokes its token: 204, and the token and its refresh token stop working everywhere.
    assert_eq!(delete_app_token(&double, &app.client_id, creds, &token).await, (204, String::new()));
    assert!(double.tokens_of("alice").iter().any(|t| t.token == token && t.revoked));
    let r = http().get(format!("{}/user", double.api_url)).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["message"], "Bad credentials");
    assert_eq!(info_refs_status(&double, "alice", "private", Some(&token)).await.status(), 401);
    let (_, body) = exchange_json(&double, serde_json::json!({"client_id": app.client_id, "client_secret": app.secret, "grant_type": "refresh_token", "refresh_token": refresh})).await;
    assert_eq!(body["error"], "bad_refresh_token");
    // Once gone, it is not the app's token any more; the other app's and the unrelated token still work.
    assert_eq!(delete_app_token(&double, &app.client_id, creds, &token).await.0, 422);
    assert_eq!(crab(&double, Some(&others_token)).current().user().await.unwrap().login, "alice");
    assert_eq!(crab(&double, Some(&unrelated)).current().user().await.unwrap().login, "alice");

    // On record with the app's Basic credentials; a status fault answers it too.
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", app.client_id, app.secret)));
    let path = format!("/applications/{}/token", app.client_id);
    let requests = double.requests();
    let revocations: Vec<_> = requests.iter().filter(|r| r.method == "DELETE" && r.path == path).collect();
    assert!(revocations.iter().any(|r| r.authorization.as_deref() == Some(expected.as_str())), "{revocations:?}");
    assert!(revocations.iter().all(|r| r.origin == github_double::github::Origin::Api));
    double.set_fault(DoubleFault { status: Some(503), ..DoubleFault::default() });
    assert_eq!(delete_app_token(&double, &other.client_id, Some((&other.client_id, &other.secret)), &others_token).await.0, 503);
    double.set_fault(DoubleFault::default());
    assert!(double.tokens_of("alice").iter().any(|t| t.token == others_token && !t.revoked));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_reach_clients() {
    let double = GithubDouble::start().await.unwrap();
    double.create_repo("alice", "r", false);
    let token = double.issue_token("alice", &["repo"]);
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("w");
    std::fs::create_dir(&work).unwrap();
    work_repo(&work);
    // Enough content that the pack outgrows the first bytes a dropped transfer lets through.
    for i in 0..20 {
        std::fs::write(work.join(format!("f{i}")), format!("{i}").repeat(5000 + i)).unwrap();
    }
    ok(&work, &["add", "."]);
    ok(&work, &["commit", "-q", "-m", "more"]);
    let url = double.git_url("alice", "r");
    assert_ok(git_as(&work, Some(&token), &["push", "-q", &url, "main"]), "push");
    let octo = crab(&double, Some(&token));

    double.set_fault(DoubleFault { status: Some(502), ..DoubleFault::default() });
    assert_eq!(status_of(&octo.current().user().await.unwrap_err()), 502);
    assert_fails_with(git_as(tmp.path(), None, &["clone", "-q", &url, "c502"]), "clone during a 502", "502");
    let r = http().post(format!("{}/login/oauth/access_token", double.web_url)).send().await.unwrap();
    assert_eq!(r.status(), 502);

    let latency = Duration::from_millis(400);
    double.set_fault(DoubleFault { latency, ..DoubleFault::default() });
    let started = Instant::now();
    octo.current().user().await.unwrap();
    assert!(started.elapsed() >= latency, "answered after {:?}", started.elapsed());

    double.set_fault(DoubleFault { drop_git_transfers: true, ..DoubleFault::default() });
    assert!(!succeeds(&git_as(tmp.path(), None, &["clone", "-q", &url, "dropped"])), "a clone whose pack is cut short fails");

    double.set_fault(DoubleFault::default());
    assert_ok(git_as(tmp.path(), None, &["clone", "-q", &url, "fine"]), "clone without faults");
    assert_eq!(octo.current().user().await.unwrap().login, "alice");

    // Every request is on record, with its credentials.
    let requests = double.requests();
    let user_calls: Vec<_> = requests.iter().filter(|r| r.path == "/user").collect();
    assert_eq!(user_calls.len(), 3);
    assert!(user_calls.iter().all(|r| r.authorization.as_deref() == Some(&format!("Bearer {token}"))));
    assert!(requests.iter().any(|r| r.path == "/alice/r.git/git-upload-pack" && r.method == "POST"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn control_api_mirrors_the_rust_methods() {
    let double = GithubDouble::start().await.unwrap();
    let c = http();
    let control = |path: &str| format!("{}/_double{path}", double.web_url);
    let r = c.post(control("/users")).json(&serde_json::json!({"login": "alice"})).send().await.unwrap();
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["id"], double.add_user("alice"));
    let r = c.post(control("/repos")).json(&serde_json::json!({"owner": "alice", "name": "r", "private": true})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["clone_url"], double.git_url("alice", "r"));
    let r = c.post(control("/repos")).json(&serde_json::json!({"owner": "alice", "name": "../x", "private": true})).send().await.unwrap();
    assert_eq!(r.status(), 422);
    let r = c.put(control("/repos/alice/r/collaborators/bob")).json(&serde_json::json!({"permission": "push"})).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let r = c.post(control("/tokens")).json(&serde_json::json!({"login": "bob", "scopes": ["repo"]})).send().await.unwrap();
    let bob = r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    assert!(bob.starts_with("gho_"));

    // bob pushes through git; the refs show up through the control API.
    let tmp = tempfile::tempdir().unwrap();
    work_repo(tmp.path());
    assert_ok(git_as(tmp.path(), Some(&bob), &["push", "-q", &double.git_url("alice", "r"), "main"]), "push");
    let refs: HashMap<String, String> = c.get(control("/repos/alice/r/refs")).send().await.unwrap().json().await.unwrap();
    assert_eq!(refs["refs/heads/main"], head(tmp.path()));
    let repo = crab(&double, Some(&bob)).repos("alice", "r").get().await.unwrap();
    assert!(repo.permissions.unwrap().push);

    // Permission removed; token expired and revoked; fault set and cleared.
    c.put(control("/repos/alice/r/collaborators/bob")).json(&serde_json::json!({"permission": null})).send().await.unwrap();
    assert_eq!(status_of(&crab(&double, Some(&bob)).repos("alice", "r").get().await.unwrap_err()), 404);
    assert_eq!(c.post(control("/tokens/expire")).json(&serde_json::json!({"token": bob})).send().await.unwrap().status(), 204);
    assert_eq!(status_of(&crab(&double, Some(&bob)).current().user().await.unwrap_err()), 401);
    let other = double.issue_token("bob", &[]);
    assert_eq!(c.post(control("/tokens/revoke")).json(&serde_json::json!({"token": other})).send().await.unwrap().status(), 204);
    assert!(double.tokens_of("bob").iter().any(|t| t.token == other && t.revoked));
    let tokens: Vec<serde_json::Value> = c.get(control("/users/bob/tokens")).send().await.unwrap().json().await.unwrap();
    assert_eq!(tokens.len(), 2);
    c.post(control("/fault")).json(&serde_json::json!({"latency_ms": 0, "status": 503, "drop_git_transfers": false})).send().await.unwrap();
    let alice = double.issue_token("alice", &["repo"]);
    assert_eq!(status_of(&crab(&double, Some(&alice)).current().user().await.unwrap_err()), 503);
    assert_eq!(
        c.post(control("/fault")).json(&serde_json::json!({})).send().await.unwrap().status(),
        204,
        "the control API is exempt from faults"
    );
    assert_eq!(crab(&double, Some(&alice)).current().user().await.unwrap().login, "alice");

    // Browser user, OAuth app, repository deletion.
    c.post(control("/browser-user")).json(&serde_json::json!({"login": "alice"})).send().await.unwrap();
    c.post(control("/oauth-apps"))
        .json(&serde_json::json!({"name": "App", "client_id": "cid", "client_secret": "cs", "callback_url": "http://127.0.0.1:9/cb", "expiring_tokens": false}))
        .send()
        .await
        .unwrap();
    let location = double.consent(&format!("{}/login/oauth/authorize?client_id=cid&state=q", double.web_url), true).await.unwrap();
    assert!(location.starts_with("http://127.0.0.1:9/cb?code="), "{location}");
    assert_eq!(c.delete(control("/repos/alice/r")).send().await.unwrap().status(), 204);
    assert_eq!(status_of(&crab(&double, Some(&alice)).repos("alice", "r").get().await.unwrap_err()), 404);
    assert!(double.requests().iter().all(|r| !r.path.starts_with("/_double")), "control requests are not recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_announces_its_urls_and_stops_when_stdin_closes_or_on_sigterm() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_github-double"))
        .arg("--seed")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    let announced: serde_json::Value = serde_json::from_str(&line).unwrap();
    let (web, api, token) =
        (announced["web_url"].as_str().unwrap(), announced["api_url"].as_str().unwrap(), announced["token"].as_str().unwrap());
    assert!(web.starts_with("http://127.0.0.1:") && api.starts_with("http://127.0.0.1:"));
    let me: serde_json::Value = http().get(format!("{api}/user")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    assert_eq!(me["login"], "octocat");
    let page = http().get(format!("{web}/login/oauth/authorize?client_id=none")).send().await.unwrap();
    assert_eq!(page.status(), 404);
    drop(child.stdin.take());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("stops once stdin closes").unwrap();
    assert!(status.success());

    // SIGTERM stops it too, while stdin stays open.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_github-double"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    let announced: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert!(announced.get("token").is_none(), "no seed without --seed");
    let pid = child.id().unwrap().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.expect("stops on SIGTERM").unwrap();
    assert!(status.success());
    drop(child.stdin.take());
}
