//! A real `git http-backend` (CGI) behind a loopback axum server: the reference git smart HTTP
//! server that GitBlixt is measured and tested against.
//!
//! Repositories are the bare repositories under `root`, served at `/<path>`. [`Auth`] decides what
//! credentials are needed; [`Fault`] makes the server misbehave on purpose (status codes, a stall,
//! a connection dropped mid-transfer) so clients can be tested against failures.
//!
//! [`git_http_backend`] runs the CGI for one request; the GitHub double's git endpoint uses it too.

use axum::Router;
use axum::serve::ListenerExt;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio_util::io::{ReaderStream, StreamReader};

/// What the server asks of clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// Everything anonymous.
    Anonymous,
    /// Every request needs some Basic credentials (any); a 401 challenge otherwise.
    AnyCredentials,
    /// Reads are anonymous; every request that carries credentials, and every push, needs this
    /// password (with any user name), else 401.
    Password(String),
    /// Like a private repository: every request needs this password (any user name), else 401.
    Private(String),
}

/// A failure to inject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Answer every request with this status.
    Status(u16),
    /// Answer the POSTs (the transfer itself) with headers and then nothing, forever.
    StallTransfer,
    /// Send the first bytes of the POST answers, then drop the connection.
    DropTransfer,
    /// The repository `from` was renamed to `to`: what GitHub answers for a renamed repository's
    /// old URL, a 301 to the same path under the new name, for every request.
    Moved { from: String, to: String },
}

/// Counters of what the server saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub receive_pack_posts: AtomicU64,
    pub upload_pack_posts: AtomicU64,
    pub request_bytes: AtomicU64,
}

#[derive(Clone)]
struct Backend {
    root: PathBuf,
    auth: Arc<Mutex<Auth>>,
    fault: Arc<Mutex<Fault>>,
    seen: Arc<Seen>,
}

/// A running `git http-backend` server.
pub struct HttpBackend {
    pub addr: SocketAddr,
    pub root: PathBuf,
    auth: Arc<Mutex<Auth>>,
    fault: Arc<Mutex<Fault>>,
    pub seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl HttpBackend {
    /// Serves the bare repositories under `root` on 127.0.0.1, on a port of its own choosing.
    pub async fn start(root: PathBuf, auth: Auth) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let auth = Arc::new(Mutex::new(auth));
        let fault = Arc::new(Mutex::new(Fault::None));
        let seen = Arc::new(Seen::default());
        let state = Backend { root: root.clone(), auth: auth.clone(), fault: fault.clone(), seen: seen.clone() };
        let app = Router::new().fallback(cgi).with_state(state);
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener.tap_io(crate::no_delay), app).await {
                tracing::error!(error = %e, "http-backend server stopped");
            }
        });
        Ok(Self { addr, root, auth, fault, seen, task })
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    pub fn set_auth(&self, auth: Auth) {
        *self.auth.lock().unwrap_or_else(|p| p.into_inner()) = auth;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{path}", self.addr)
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn challenge() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"http-backend\""));
    r
}

async fn cgi(State(backend): State<Backend>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let credentials = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())));
    let is_push = parts.uri.path().ends_with("/git-receive-pack")
        || parts.uri.query().is_some_and(|q| q.contains("service=git-receive-pack"));
    let auth = backend.auth.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match (&auth, &credentials) {
        (Auth::Anonymous, _) => {}
        (Auth::AnyCredentials, None) => return challenge(),
        (Auth::AnyCredentials, Some(_)) => {}
        (Auth::Password(expected), Some((_, given))) if given != expected => return challenge(),
        (Auth::Password(_), None) if is_push => return challenge(),
        (Auth::Password(_), _) => {}
        (Auth::Private(expected), Some((_, given))) if given == expected => {}
        (Auth::Private(_), _) => return challenge(),
    }
    let auth_user = credentials.map(|(u, _)| u);
    let fault = backend.fault.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Fault::Status(code) = fault {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (status, format!("injected failure {code}\n")).into_response();
    }
    if let Fault::Moved { from, to } = &fault
        && let Some(rest) = parts.uri.path().strip_prefix(&format!("/{from}/"))
    {
        let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
        let location = format!("/{to}/{rest}{query}");
        let mut response = StatusCode::MOVED_PERMANENTLY.into_response();
        if let Ok(value) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, value);
        }
        return response;
    }
    let is_post = parts.method == axum::http::Method::POST;
    if is_post {
        let counter = if is_push { &backend.seen.receive_pack_posts } else { &backend.seen.upload_pack_posts };
        counter.fetch_add(1, Ordering::SeqCst);
    }
    if is_post && fault == Fault::StallTransfer {
        let never = futures_util::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
        let mut response = Response::new(Body::from_stream(never));
        let kind = if is_push { "application/x-git-receive-pack-result" } else { "application/x-git-upload-pack-result" };
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
        return response;
    }
    let options = CgiOptions {
        root: &backend.root,
        path_info: parts.uri.path(),
        remote_user: auth_user.as_deref(),
        drop_transfer: is_post && fault == Fault::DropTransfer,
        seen: Some(backend.seen.clone()),
        autogc: true,
    };
    git_http_backend(&parts, body, options).await
}

/// How to run one `git http-backend` request.
pub struct CgiOptions<'a> {
    /// `GIT_PROJECT_ROOT`: the directory the repositories are under.
    pub root: &'a Path,
    /// `PATH_INFO`: `/<repository path under root>/<info/refs | git-upload-pack | git-receive-pack>`.
    pub path_info: &'a str,
    /// `REMOTE_USER`: set, it also enables `git-receive-pack` (pushes).
    pub remote_user: Option<&'a str>,
    /// Send the first bytes of the answer, then break the connection.
    pub drop_transfer: bool,
    /// Where to count the request body's bytes.
    pub seen: Option<Arc<Seen>>,
    /// `false`: no `gc --auto` at the end of a push (git's `receive.autogc`), which would hold the
    /// pusher's connection open until it is done. The GitHub double's choice, as GitHub runs its
    /// repository maintenance apart from pushes; the reference server keeps git's default.
    pub autogc: bool,
}

/// git's `git-http-backend` program, started directly as web servers start it: `git
/// http-backend` is the `git` wrapper starting that program, a process more per request. By
/// absolute path: with PATH set for the child, a bare program name makes std fork the whole test
/// process instead of spawning (see `git_program`). `git http-backend` if git names no exec path.
fn http_backend_command() -> tokio::process::Command {
    static PROGRAM: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let program = PROGRAM.get_or_init(|| {
        let out = std::process::Command::new(app::ssr::store::git_program()).arg("--exec-path").output().ok()?;
        let program = Path::new(String::from_utf8(out.stdout).ok()?.trim()).join("git-http-backend");
        program.is_file().then_some(program)
    });
    match program {
        Some(program) => tokio::process::Command::new(program),
        None => {
            let mut cmd = tokio::process::Command::new(app::ssr::store::git_program());
            cmd.arg("http-backend");
            cmd
        }
    }
}

/// Runs the real `git http-backend` CGI for one request and streams its answer back.
pub async fn git_http_backend(parts: &Parts, body: Body, options: CgiOptions<'_>) -> Response {
    let header_str = |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut cmd = http_backend_command();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", options.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", options.path_info)
        .env("QUERY_STRING", parts.uri.query().unwrap_or(""))
        .env("CONTENT_TYPE", header_str(header::CONTENT_TYPE))
        .env("HTTP_CONTENT_ENCODING", header_str(header::CONTENT_ENCODING))
        .env("GIT_PROTOCOL", parts.headers.get("git-protocol").and_then(|v| v.to_str().ok()).unwrap_or(""))
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(user) = options.remote_user {
        cmd.env("REMOTE_USER", user);
    }
    if !options.autogc {
        cmd.env("GIT_CONFIG_COUNT", "1").env("GIT_CONFIG_KEY_0", "receive.autogc").env("GIT_CONFIG_VALUE_0", "false");
    }
    if let Some(len) = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()) {
        cmd.env("CONTENT_LENGTH", len);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, format!("spawning git http-backend: {e}")).into_response(),
    };
    let (Some(mut stdin), Some(stdout), Some(mut stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let seen = options.seen;
    tokio::spawn(async move {
        let mut reader = StreamReader::new(body.into_data_stream().map_err(std::io::Error::other));
        if let (Ok(n), Some(seen)) = (tokio::io::copy(&mut reader, &mut stdin).await, seen) {
            seen.request_bytes.fetch_add(n, Ordering::SeqCst);
        }
    });
    tokio::spawn(async move {
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err).await;
        let _ = child.wait().await;
        if !err.is_empty() {
            tracing::debug!(stderr = %String::from_utf8_lossy(&err), "git http-backend");
        }
    });
    // CGI response: headers, a blank line, the body.
    let mut out = BufReader::new(stdout);
    let mut response = Response::builder();
    let mut status = StatusCode::OK;
    loop {
        let mut line = String::new();
        match out.read_line(&mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => return (StatusCode::BAD_GATEWAY, format!("reading git http-backend: {e}")).into_response(),
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("status") {
                status = value
                    .split_whitespace()
                    .next()
                    .and_then(|c| c.parse::<u16>().ok())
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .unwrap_or(StatusCode::BAD_GATEWAY);
            } else {
                response = response.header(name, value);
            }
        }
    }
    let body = if options.drop_transfer {
        // Some bytes, then a broken connection.
        let mut sent = 0usize;
        Body::from_stream(ReaderStream::new(out).map(move |chunk| {
            let chunk = chunk?;
            if sent > 64 {
                return Err(std::io::Error::other("injected connection drop"));
            }
            sent += chunk.len();
            Ok(chunk.slice(..chunk.len().min(96)))
        }))
    } else {
        Body::from_stream(ReaderStream::new(out))
    };
    response.status(status).body(body).unwrap_or_else(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())
}
