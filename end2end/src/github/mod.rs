//! The GitHub double: a local stand-in for github.com, for what GitBlixt uses of it.
//!
//! Two loopback listeners, like github.com:
//! - the **web** origin ([`GithubDouble::web_url`]): the OAuth web flow (`/login/oauth/...`, with a
//!   sign-in form and a consent page), git smart HTTP at `/{owner}/{repo}.git` (the real
//!   `git http-backend`), small HTML pages for users and repositories, and the control API under
//!   `/_double/` that Playwright and the demo drive the double with;
//! - the **API** origin ([`GithubDouble::api_url`]): a subset of the REST API.
//!
//! Tests drive it through the methods of [`GithubDouble`]; the `github-double` binary serves it for
//! the browser tests and the demo.
//!
//! Deliberate choices where GitHub is unspecified or the double is stricter:
//! - PKCE: only `code_challenge_method=S256` (GitHub accepts only S256); a wrong or missing
//!   `code_verifier` is `bad_verification_code`. Bad PKCE parameters at authorize redirect with
//!   `error=invalid_request`.
//! - A `redirect_uri` given at authorize must be repeated, identical, at the token request
//!   (RFC 6749 §4.1.3), else `redirect_uri_mismatch`. A failed exchange does not use up the code.
//! - Loopback callback URLs without a port admit any port (GitHub's "loopback redirect URLs");
//!   with a port, the port must match.
//! - The consent page is shown on every authorization (GitHub skips it for an app the user already
//!   authorized with the same scopes).
//! - Rate-limit headers count requests per user per hour but are never enforced.

mod browser;
mod control;
mod git;
mod json;
mod oauth;
mod pages;
mod rest;
mod state;
mod token;

use axum::Router;
use axum::serve::ListenerExt;
use axum::extract::{Request, State as AxumState};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use state::State;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// An OAuth app registered on the double.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthApp {
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    /// The app's "Authorization callback URL".
    pub callback_url: String,
    /// Whether the app's user tokens expire (`ghu_` tokens for 8 hours, with `ghr_` refresh tokens),
    /// as GitHub Apps with "user-to-server token expiration" do; else `gho_` tokens that do not.
    #[serde(default)]
    pub expiring_tokens: bool,
}

/// A collaborator's role on a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    Pull,
    Push,
    Admin,
}

/// An access token as the double sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub token: String,
    pub scopes: Vec<String>,
    /// Past its lifetime, or expired with [`GithubDouble::expire_token`].
    pub expired: bool,
    /// Revoked with [`GithubDouble::revoke_token`], or replaced by a refresh.
    pub revoked: bool,
    /// The OAuth app it was issued to (`None` for [`GithubDouble::issue_token`]'s).
    pub client_id: Option<String>,
}

/// Misbehaviour on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoubleFault {
    /// Added before answering every request (both origins; not the control API).
    pub latency: Duration,
    /// The status every API request, git request and token request (`POST /login/oauth/access_token`)
    /// answers with.
    pub status: Option<u16>,
    /// Send the first bytes of git pack transfers (POST `git-upload-pack` / `git-receive-pack`),
    /// then break the connection.
    pub drop_git_transfers: bool,
}

/// Which listener a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Web,
    Api,
}

/// A request the double received (control API requests excluded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    pub authorization: Option<String>,
    pub query: Option<String>,
    pub origin: Origin,
}

/// What the handlers share.
pub(crate) struct Shared {
    state: Mutex<State>,
    /// Where the bare repositories are: `{root}/{owner}/{name}.git`, lowercased.
    root: PathBuf,
    web_url: String,
    api_url: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where the bare repository `owner/name` is on disk (whether or not it exists).
    fn repo_path(&self, owner: &str, name: &str) -> PathBuf {
        self.root.join(owner.to_ascii_lowercase()).join(format!("{}.git", name.to_ascii_lowercase()))
    }
}

/// A running GitHub double; it stops when dropped.
pub struct GithubDouble {
    /// `http://127.0.0.1:PORT`, no trailing slash: OAuth pages, git, the control API.
    pub web_url: String,
    /// `http://127.0.0.1:PORT`, no trailing slash: the REST API.
    pub api_url: String,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

/// Whether `name` can be a GitHub login (letters, digits, single hyphens inside).
pub(crate) fn valid_login(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 39
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// Whether `name` can be a GitHub repository name (letters, digits, `.`, `-`, `_`).
pub(crate) fn valid_repo_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && !name.to_ascii_lowercase().ends_with(".git")
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

impl GithubDouble {
    /// Starts both listeners on 127.0.0.1, on ports of their own choosing; the repositories
    /// live in the system's temporary directory.
    pub async fn start() -> std::io::Result<GithubDouble> {
        Self::start_in(&std::env::temp_dir()).await
    }

    /// [`Self::start`], with the repositories in a new directory under `parent` (the bench puts
    /// them on a file system apart from GitBlixt's, as GitHub's disks are).
    pub async fn start_in(parent: &std::path::Path) -> std::io::Result<GithubDouble> {
        let dir = tempfile::Builder::new().prefix("github-double-").tempdir_in(parent)?;
        let web = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let web_url = format!("http://{}", web.local_addr()?);
        let api_url = format!("http://{}", api.local_addr()?);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            root: dir.path().join("repositories"),
            web_url: web_url.clone(),
            api_url: api_url.clone(),
        });
        std::fs::create_dir_all(&shared.root)?;
        let web_app = Router::new()
            .merge(oauth::routes())
            .merge(pages::routes())
            .nest("/_double", control::routes())
            .fallback(git::serve)
            .layer(axum::middleware::from_fn_with_state((shared.clone(), Origin::Web), observe))
            .with_state(shared.clone());
        let api_app =
            rest::routes().layer(axum::middleware::from_fn_with_state((shared.clone(), Origin::Api), observe)).with_state(shared.clone());
        let mut tasks = Vec::new();
        for (name, listener, app) in [("web", web, web_app), ("api", api, api_app)] {
            tasks.push(tokio::spawn(async move {
                if let Err(e) = axum::serve(listener.tap_io(crate::no_delay), app).await {
                    tracing::error!(error = %e, origin = name, "github double stopped");
                }
            }));
        }
        tracing::info!(%web_url, %api_url, "github double started");
        Ok(GithubDouble { web_url, api_url, shared, tasks, _dir: dir })
    }

    /// Adds a user (no-op if the login exists, in any case); returns its numeric id.
    pub fn add_user(&self, login: &str) -> u64 {
        self.shared.lock().add_user(login)
    }

    /// Signs `login` in to the double's web pages for every browser (and signs out everyone who
    /// used the sign-in form); `None` signs everybody out.
    pub fn set_browser_user(&self, login: Option<&str>) {
        let mut state = self.shared.lock();
        if let Some(login) = login {
            state.add_user(login);
        }
        state.browser_user = login.map(str::to_string);
        state.sessions.clear();
    }

    /// Registers an OAuth app (replacing one with the same client id).
    pub fn add_oauth_app(&self, app: OAuthApp) {
        self.shared.lock().apps.insert(app.client_id.clone(), app);
    }

    /// Creates an empty bare repository (`main` as its default branch) owned by `owner` (added as a
    /// user if new), or sets the visibility of the existing one; returns its path.
    pub fn create_repo(&self, owner: &str, name: &str, private: bool) -> PathBuf {
        match create_repo(&self.shared, owner, name, private) {
            Ok(path) => path,
            Err(e) => {
                tracing::error!(owner, name, error = %e, "github double: creating the repository failed");
                self.shared.repo_path(owner, name)
            }
        }
    }

    /// Sets the repository's description (`None`: none), as its owner would on GitHub.
    pub fn set_description(&self, owner: &str, name: &str, description: Option<&str>) {
        if let Some(repo) = self.shared.lock().repo_mut(owner, name) {
            repo.description = description.map(str::to_string);
        }
    }

    /// Deletes the repository and its files.
    pub fn delete_repo(&self, owner: &str, name: &str) {
        if let Err(e) = delete_repo(&self.shared, owner, name) {
            tracing::error!(owner, name, error = %e, "github double: deleting the repository failed");
        }
    }

    /// Makes `login` a collaborator with `permission`, or removes it (`None`).
    pub fn set_permission(&self, owner: &str, name: &str, login: &str, permission: Option<Permission>) {
        if !self.shared.lock().set_permission(owner, name, login, permission) {
            tracing::error!(owner, name, "github double: set_permission on a repository that does not exist");
        }
    }

    /// A non-expiring OAuth token (`gho_…`) for `login` with `scopes`, as if the user had
    /// authorized an app; the user is added if new.
    pub fn issue_token(&self, login: &str, scopes: &[&str]) -> String {
        let mut state = self.shared.lock();
        state.add_user(login);
        state.issue_token(login, scopes.iter().map(|s| s.to_string()).collect(), None, false).0
    }

    /// The access token expires now.
    pub fn expire_token(&self, token: &str) {
        if let Some(t) = self.shared.lock().tokens.get_mut(token) {
            t.expired = true;
        }
    }

    /// The refresh token expires now.
    pub fn expire_refresh_token(&self, refresh_token: &str) {
        if let Some(r) = self.shared.lock().refresh_tokens.get_mut(refresh_token) {
            r.expired = true;
        }
    }

    /// Like the user revoking the app: the access token (and its refresh token) stop working.
    pub fn revoke_token(&self, token: &str) {
        self.shared.lock().revoke_token(token);
    }

    /// Every access token issued to `login`, oldest first.
    pub fn tokens_of(&self, login: &str) -> Vec<TokenInfo> {
        self.shared.lock().tokens_of(login)
    }

    /// The repository's branches and tags: refname -> object id (hex); empty if it does not exist.
    pub fn refs(&self, owner: &str, name: &str) -> BTreeMap<String, String> {
        match git::refs(&self.shared.repo_path(owner, name)) {
            Ok(refs) => refs,
            Err(e) => {
                tracing::warn!(owner, name, error = %e, "github double: reading refs failed");
                BTreeMap::new()
            }
        }
    }

    /// Where the bare repository is (or would be) on disk.
    pub fn repo_path(&self, owner: &str, name: &str) -> PathBuf {
        self.shared.repo_path(owner, name)
    }

    /// `{web_url}/{owner}/{name}.git`.
    pub fn git_url(&self, owner: &str, name: &str) -> String {
        format!("{}/{owner}/{name}.git", self.web_url)
    }

    /// Sets (or with `DoubleFault::default()`, clears) the misbehaviour.
    pub fn set_fault(&self, fault: DoubleFault) {
        self.shared.lock().fault = fault;
    }

    /// Every request received so far, in order (control API requests excluded).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.lock().requests.clone()
    }

    /// Acts as the browser user: opens the consent page at `authorize_url` and submits it
    /// (Authorize if `approve`, else Cancel) as a browser would; returns where the double redirects
    /// to (the app's callback URL with `code` and `state`, or with `error`). An error page, or the
    /// sign-in form (no browser user), is an `Err` with the page's text.
    pub async fn consent(&self, authorize_url: &str, approve: bool) -> Result<String, String> {
        browser::consent(authorize_url, approve).await
    }
}

impl Drop for GithubDouble {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub(crate) fn create_repo(shared: &Shared, owner: &str, name: &str, private: bool) -> Result<PathBuf, String> {
    if !valid_login(owner) {
        return Err(format!("invalid owner {owner:?}"));
    }
    if !valid_repo_name(name) {
        return Err(format!("invalid repository name {name:?}"));
    }
    let path = shared.repo_path(owner, name);
    if !path.exists() {
        git::init_bare(&path)?;
    }
    shared.lock().create_repo(owner, name, private);
    Ok(path)
}

pub(crate) fn delete_repo(shared: &Shared, owner: &str, name: &str) -> Result<bool, String> {
    let existed = shared.lock().delete_repo(owner, name);
    let path = shared.repo_path(owner, name);
    if valid_login(owner) && valid_repo_name(name) && path.exists() {
        std::fs::remove_dir_all(&path).map_err(|e| format!("removing {}: {e}", path.display()))?;
    }
    Ok(existed)
}

/// Records every request, then applies the fault: latency first, then the status (API, git and
/// token requests). The control API is exempt from both.
async fn observe(AxumState((shared, origin)): AxumState<(Arc<Shared>, Origin)>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    if origin == Origin::Web && (path == "/_double" || path.starts_with("/_double/")) {
        return next.run(request).await;
    }
    let fault = {
        let mut state = shared.lock();
        state.requests.push(RequestRecord {
            method: request.method().to_string(),
            path: path.clone(),
            authorization: request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string),
            query: request.uri().query().map(str::to_string),
            origin,
        });
        state.fault.clone()
    };
    if !fault.latency.is_zero() {
        tokio::time::sleep(fault.latency).await;
    }
    if let Some(code) = fault.status {
        let is_token_request = path == "/login/oauth/access_token";
        if origin == Origin::Api || is_token_request || git::is_git_request(&path) {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return if origin == Origin::Api {
                rest::fault_response(status)
            } else {
                (status, format!("injected fault: {code}\n")).into_response()
            };
        }
    }
    next.run(request).await
}

/// Escapes text for HTML.
pub(crate) fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The token in Basic credentials (base64 `user:password`): the password, or the user name when
/// the password is empty or `x-oauth-basic` (`https://<token>@github.com/...`,
/// `https://<token>:x-oauth-basic@github.com/...`).
pub(crate) fn token_of_basic(encoded: &str) -> Option<String> {
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
    Some(if password.is_empty() || password == "x-oauth-basic" { user } else { password }.to_string())
}
