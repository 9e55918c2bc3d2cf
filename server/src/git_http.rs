//! Git smart HTTP: `info/refs`, `git-upload-pack` and `git-receive-pack` under
//! `/<owner>/<repo>.git/`, served by `git upload-pack`/`git receive-pack --stateless-rpc`.
//!
//! After a push, the refs it changed (from the post-receive hook) go through
//! [`app::ssr::mirror_service::refs_changed`]: the push mirrors' sync requests are in the database
//! *before* the response to the git client completes, so a push the client saw succeed is never
//! forgotten by a crash (DESIGN.md "Never silent").

use crate::git_auth::{self, Credentials, GitPrincipal};
use app::names::{RepoName, UserName};
use app::ssr::AppState;
use app::ssr::events::{RefsUpdated, parse_post_receive};
use app::ssr::guard::{ClientIp, Refusal};
use app::ssr::repos::{self, FoundRepo};
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use app::ssr::store::isolated_git;
use tokio::process::Command;
use tokio_util::io::ReaderStream;

/// The post-receive hook: hands git's `<old> <new> <ref>` lines to the server through a file
/// whose path the server passes in the environment.
const POST_RECEIVE_HOOK: &str = "#!/bin/sh\n\
# Installed by GitBlixt: reports the refs a push updated to the server.\n\
if [ -n \"$GITBLIXT_PUSH_REPORT\" ]; then cat > \"$GITBLIXT_PUSH_REPORT\"; else cat > /dev/null; fi\n\
exit 0\n";

/// Writes the server's git hooks into `<data>/hooks` (used through `core.hooksPath`).
pub fn install_hooks(data_dir: &std::path::Path) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = data_dir.join("hooks");
    std::fs::create_dir_all(&dir)?;
    let hook = dir.join("post-receive");
    let tmp = dir.join(".post-receive.tmp");
    std::fs::write(&tmp, POST_RECEIVE_HOOK)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))?;
    std::fs::rename(&tmp, &hook)?;
    Ok(dir)
}

#[derive(Clone)]
pub struct GitState {
    pub app: AppState,
    pub hooks_dir: PathBuf,
    pub limits: GitLimits,
}

/// What one git HTTP client may hold (see the README, "Limits").
#[derive(Clone, Debug)]
pub struct GitLimits {
    /// `git` processes serving clients at once; over it, 503 with `Retry-After`.
    pub processes: Arc<Semaphore>,
    /// How long a request body may send nothing before git is stopped.
    pub idle: Duration,
    /// The largest push (`receive.maxInputSize`, and the request body's cap).
    pub max_push_bytes: u64,
}

impl GitLimits {
    pub fn new(processes: usize, idle: Duration, max_push_bytes: u64) -> Self {
        GitLimits { processes: Arc::new(Semaphore::new(processes.max(1))), idle, max_push_bytes }
    }

    /// The cap on a request body of `service`: a push's pack (with room for its commands), or
    /// a fetch's negotiation (`want`/`have` lines: large for big histories, never gigabytes).
    fn body_cap(&self, service: Service) -> u64 {
        match service {
            Service::ReceivePack => self.max_push_bytes.saturating_add(PUSH_COMMANDS_ROOM),
            Service::UploadPack => MAX_NEGOTIATION_BYTES,
        }
    }
}

/// Room for a push's ref update commands beside its pack.
const PUSH_COMMANDS_ROOM: u64 = 16 << 20;
/// The largest fetch negotiation a client may send.
const MAX_NEGOTIATION_BYTES: u64 = 256 << 20;
/// How long git gets to exit by itself after its input was cut before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

pub fn routes(state: GitState) -> Router {
    Router::new()
        .route("/{owner}/{repo}/info/refs", get(info_refs))
        .route("/{owner}/{repo}/git-upload-pack", post(upload_pack))
        .route("/{owner}/{repo}/git-receive-pack", post(receive_pack))
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "git-upload-pack" => Some(Service::UploadPack),
            "git-receive-pack" => Some(Service::ReceivePack),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }
    fn subcommand(self) -> &'static str {
        match self {
            Service::UploadPack => "upload-pack",
            Service::ReceivePack => "receive-pack",
        }
    }
}

/// A refusal, with the status git understands and a message it prints.
fn refuse(status: StatusCode, message: &str) -> Response {
    let mut response = (status, format!("{message}\n")).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"GitBlixt\", charset=\"UTF-8\""));
    }
    response
}

/// 429 (locked) or 503 (busy), with `Retry-After`.
fn try_later(refusal: &Refusal) -> Response {
    let status = match refusal {
        Refusal::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
        Refusal::Busy => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut response = refuse(status, &format!("GitBlixt: {refusal}"));
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(refusal.retry_after()));
    response
}

/// 507 for a push while the disk is below the free-space minimum (fetches go on).
fn low_disk_refusal(state: &GitState, service: Service) -> Option<Response> {
    if service != Service::ReceivePack {
        return None;
    }
    let message = app::ssr::quotas::check_disk(&state.app, app::ssr::quotas::Write::Push).err()?;
    Some(refuse(StatusCode::INSUFFICIENT_STORAGE, message))
}

/// 503 with `Retry-After` when every git process slot is taken.
fn git_busy() -> Response {
    let mut response = refuse(StatusCode::SERVICE_UNAVAILABLE, "GitBlixt: the server is busy serving other git clients; try again in a moment");
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    response
}

/// Who is asking: the request's headers and the client's address.
struct Client {
    headers: HeaderMap,
    ip: Option<std::net::IpAddr>,
}

impl Client {
    fn new(headers: HeaderMap, ip: Option<Extension<ClientIp>>) -> Self {
        Client { headers, ip: ip.map(|Extension(c)| c.0) }
    }
}

fn server_error(context: &str, err: impl std::fmt::Display) -> Response {
    tracing::error!(error = %err, "{context}");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "GitBlixt: internal server error")
}

/// Resolves the repository and checks access for the service. Answers follow what git and
/// users expect: 401 (with a challenge) when credentials are missing or wrong, 404 for unknown
/// repositories and private ones the user cannot see, 403 when the user lacks the right.
async fn authorize(
    state: &GitState,
    client: &Client,
    owner: &str,
    repo: &str,
    service: Service,
) -> Result<(FoundRepo, Option<GitPrincipal>), Response> {
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let authorization = client.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let creds = git_auth::authenticate(&state.app.guard, &state.app.db, client.ip, authorization)
        .await
        .map_err(|e| server_error("authenticating a git request", e))?;
    let principal = match creds {
        Credentials::Invalid => {
            return Err(refuse(StatusCode::UNAUTHORIZED, "GitBlixt: invalid username, password or token"));
        }
        Credentials::Refused(refusal) => return Err(try_later(&refusal)),
        Credentials::Valid(p) => Some(p),
        Credentials::None => None,
    };
    let found = match (UserName::parse(owner), RepoName::parse(repo)) {
        (Ok(o), Ok(r)) => repos::find(&state.app.db, o.as_str(), r.as_str())
            .await
            .map_err(|e| server_error("looking up a repository", e))?,
        _ => None,
    };
    let visible = found
        .as_ref()
        .filter(|f| repos::access(principal.as_ref().map(|p| &p.user), f) >= repos::Access::Read);
    let Some(found) = visible.cloned() else {
        // Anonymous clients are asked to authenticate, so a private repository's existence is not revealed.
        return Err(match principal {
            None => refuse(StatusCode::UNAUTHORIZED, "GitBlixt: authentication required"),
            Some(_) => refuse(StatusCode::NOT_FOUND, "GitBlixt: repository not found"),
        });
    };
    match service {
        Service::UploadPack => {
            if let Some(p) = &principal {
                if !p.may_read() {
                    return Err(refuse(StatusCode::FORBIDDEN, "GitBlixt: this token lacks the read_repository scope"));
                }
            }
        }
        Service::ReceivePack => {
            let Some(p) = &principal else {
                return Err(refuse(StatusCode::UNAUTHORIZED, "GitBlixt: authentication required to push"));
            };
            if repos::access(Some(&p.user), &found) != repos::Access::Admin {
                return Err(refuse(StatusCode::FORBIDDEN, "GitBlixt: you are not allowed to push to this repository"));
            }
            if !p.may_write() {
                return Err(refuse(StatusCode::FORBIDDEN, "GitBlixt: this token lacks the write_repository scope"));
            }
        }
    }
    Ok((found, principal))
}

/// `git` with the host's system and global configuration shut out, and our hooks.
fn git_command(state: &GitState, service: Service) -> Command {
    let mut cmd = isolated_git();
    cmd.arg("-c").arg(format!("core.hooksPath={}", state.hooks_dir.display()));
    // Packs kept as packs, hidden refs hidden, every ref update logged (also for a repository
    // whose own config predates this).
    cmd.args(app::ssr::store::hosted_config_args());
    // git refuses a larger push itself, with a message the client prints.
    cmd.arg("-c").arg(format!("receive.maxInputSize={}", state.limits.max_push_bytes));
    cmd.arg(service.subcommand()).arg("--stateless-rpc");
    cmd.kill_on_drop(true);
    cmd
}

#[derive(serde::Deserialize)]
struct ServiceQuery {
    service: Option<String>,
}

fn no_cache(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, max-age=0, must-revalidate"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(header::EXPIRES, HeaderValue::from_static("Fri, 01 Jan 1980 00:00:00 GMT"));
}

fn git_protocol(headers: &HeaderMap) -> Option<String> {
    headers
        .get("git-protocol")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() < 256 && v.bytes().all(|b| b.is_ascii_graphic() || b == b' '))
        .map(str::to_string)
}

async fn info_refs(
    State(state): State<GitState>,
    Path((owner, repo)): Path<(String, String)>,
    Query(query): Query<ServiceQuery>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
) -> Response {
    let Some(service) = query.service.as_deref().and_then(Service::parse) else {
        return refuse(StatusCode::FORBIDDEN, "GitBlixt: only the smart HTTP protocol is supported; use a newer git");
    };
    let client = Client::new(headers, ip);
    let headers = &client.headers;
    let (found, _principal) = match authorize(&state, &client, &owner, &repo, service).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    if let Some(refusal) = low_disk_refusal(&state, service) {
        return refusal;
    }
    let Ok(_permit) = state.limits.processes.clone().try_acquire_owned() else { return git_busy() };
    let mut cmd = git_command(&state, service);
    cmd.arg("--advertise-refs").arg(found.path(&state.app.store));
    if let Some(proto) = git_protocol(headers) {
        cmd.env("GIT_PROTOCOL", proto);
    }
    let output = match cmd.stdin(Stdio::null()).output().await {
        Ok(o) => o,
        Err(e) => return server_error("starting git", e),
    };
    if !output.status.success() {
        return server_error("git --advertise-refs failed", String::from_utf8_lossy(&output.stderr));
    }
    let mut body = Vec::with_capacity(output.stdout.len() + 64);
    // Protocol v2 answers start with "version 2"; v0 needs the service announcement first.
    if !output.stdout.starts_with(b"000eversion 2") {
        let line = format!("# service={}\n", service.name());
        body.extend_from_slice(format!("{:04x}{line}0000", line.len() + 4).as_bytes());
    }
    body.extend_from_slice(&output.stdout);
    let mut response = Response::new(Body::from(body));
    let content_type = format!("application/x-{}-advertisement", service.name());
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    no_cache(response.headers_mut());
    response
}

async fn upload_pack(
    State(state): State<GitState>,
    Path((owner, repo)): Path<(String, String)>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    rpc(state, owner, repo, Client::new(headers, ip), body, Service::UploadPack).await
}

async fn receive_pack(
    State(state): State<GitState>,
    Path((owner, repo)): Path<(String, String)>,
    ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    rpc(state, owner, repo, Client::new(headers, ip), body, Service::ReceivePack).await
}

async fn rpc(state: GitState, owner: String, repo: String, client: Client, body: Body, service: Service) -> Response {
    let (found, principal) = match authorize(&state, &client, &owner, &repo, service).await {
        Ok(v) => v,
        Err(response) => return response,
    };
    let headers = &client.headers;
    let expected = format!("application/x-{}-request", service.name());
    if headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return refuse(StatusCode::UNSUPPORTED_MEDIA_TYPE, "GitBlixt: unexpected content type");
    }
    if let Some(refusal) = low_disk_refusal(&state, service) {
        return refusal;
    }
    let Ok(permit) = state.limits.processes.clone().try_acquire_owned() else { return git_busy() };
    let path = found.path(&state.app.store);
    let mut cmd = git_command(&state, service);
    cmd.arg(&path);
    if let Some(proto) = git_protocol(headers) {
        cmd.env("GIT_PROTOCOL", proto);
    }
    let report = match service {
        Service::ReceivePack => {
            match tempfile::Builder::new().prefix("push-").tempfile_in(state.app.store.tmp_dir()) {
                Ok(f) => {
                    cmd.env("GITBLIXT_PUSH_REPORT", f.path());
                    Some(f)
                }
                Err(e) => return server_error("creating a push report file", e),
            }
        }
        Service::UploadPack => None,
    };
    let mut child = match cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => return server_error("starting git", e),
    };
    let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
        return server_error("starting git", "missing pipe");
    };
    let repository = found.full_name();
    // Request body → git's stdin, cut when the client stalls, goes away or sends too much.
    let cut = CancellationToken::new();
    tokio::spawn(feed(body, stdin, BodyLimits { idle: state.limits.idle, cap: state.limits.body_cap(service) }, cut.clone(), repository.clone()));
    // git exits after its stdout is closed; wait for it, then record what the push changed. This
    // runs in its own task, so a client that hangs up cannot stop it. The process slot is held
    // until git is gone.
    let app = state.app.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _permit = permit;
        let (status, err) = wait_for_git(child, stderr, cut).await;
        if !err.is_empty() {
            tracing::warn!(repository = %repository, stderr = %String::from_utf8_lossy(&err).trim(), "git {} wrote to stderr", service.subcommand());
        }
        match status {
            Some(s) if s.success() => {}
            Some(s) => tracing::warn!(repository = %repository, status = %s, "git {} failed", service.subcommand()),
            None => tracing::error!(repository = %repository, "waiting for git failed"),
        }
        if let (Some(report), Some(principal)) = (report, principal) {
            after_push(&app, &found, &principal, report).await;
        }
        let _ = done_tx.send(());
    });
    // receive-pack: the response ends only once the push's mirror requests are recorded, so
    // `git push` returns after they are durable. (git has sent its report by then; the client
    // waits for the end of the response.)
    let stdout = ReaderStream::new(stdout);
    let body = match service {
        Service::ReceivePack => {
            let recorded = futures_util::stream::once(async move {
                let _ = done_rx.await;
                None::<Result<bytes::Bytes, std::io::Error>>
            })
            .filter_map(std::future::ready);
            Body::from_stream(stdout.chain(recorded))
        }
        Service::UploadPack => Body::from_stream(stdout),
    };
    let mut response = Response::new(body);
    let content_type = format!("application/x-{}-result", service.name());
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    no_cache(response.headers_mut());
    response
}

/// The limits on one request body.
struct BodyLimits {
    /// Longest wait for the next bytes.
    idle: Duration,
    /// Most bytes (after decompression).
    cap: u64,
}

/// Copies the request body into git's stdin. When the client stalls longer than `idle`, goes
/// away, or sends more than `cap`, the copy stops and `cut` is cancelled: git's stdin closes, so
/// it ends by itself (a push is abandoned before any ref changes), and is killed if it does not.
async fn feed(body: Body, mut stdin: tokio::process::ChildStdin, limits: BodyLimits, cut: CancellationToken, repository: String) {
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    loop {
        let chunk = match tokio::time::timeout(limits.idle, stream.next()).await {
            Err(_) => {
                tracing::warn!(repository = %repository, seconds = limits.idle.as_secs(), "git client sent nothing for too long; stopping git");
                break cut.cancel();
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                tracing::debug!(repository = %repository, error = %e, "git client went away");
                break cut.cancel();
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        total = total.saturating_add(chunk.len() as u64);
        if total > limits.cap {
            tracing::warn!(repository = %repository, bytes = total, "git request body over the limit; stopping git");
            break cut.cancel();
        }
        if stdin.write_all(&chunk).await.is_err() {
            // git stopped reading: it ended, and says why itself.
            return;
        }
    }
}

/// Waits for git to exit, collecting its stderr. Once `cut` is cancelled it gets [`EXIT_GRACE`]
/// to end by itself (its stdin is closed by then), then it is killed.
async fn wait_for_git(
    mut child: tokio::process::Child,
    mut stderr: tokio::process::ChildStderr,
    cut: CancellationToken,
) -> (Option<std::process::ExitStatus>, Vec<u8>) {
    let collect = tokio::spawn(async move {
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err).await;
        err
    });
    let status = tokio::select! {
        status = child.wait() => status.ok(),
        _ = cut.cancelled() => match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                tracing::warn!("git did not end after its input was cut; killing it");
                let _ = child.kill().await;
                child.wait().await.ok()
            }
        },
    };
    (status, collect.await.unwrap_or_default())
}

/// Reads the hook's report and records the refs that changed (push mirror requests first, then
/// the event); gives an empty repository's HEAD a branch that exists.
async fn after_push(app: &AppState, found: &FoundRepo, principal: &GitPrincipal, report: tempfile::NamedTempFile) {
    let text = match tokio::fs::read_to_string(report.path()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "reading the push report");
            return;
        }
    };
    drop(report);
    let updates = parse_post_receive(&text);
    if updates.is_empty() {
        return;
    }
    let path = found.path(&app.store);
    if let Err(e) = fix_unborn_head(path).await {
        tracing::warn!(repository = %found.full_name(), error = %e, "could not set the default branch");
    }
    let event = RefsUpdated {
        repository_id: found.repo.id,
        repository: found.full_name(),
        pusher_id: principal.user.id,
        pusher: principal.user.name.clone(),
        updates,
    };
    if let Err(e) = app::ssr::mirror_service::refs_changed(app, event).await {
        // The convergence sweep requests the sync within a minute.
        tracing::error!(repository = %found.full_name(), error = %e, "could not request push mirror syncs after a push");
    }
}

/// If HEAD names a branch that does not exist but others do, point it at one that does (as hosts
/// do after the first push).
async fn fix_unborn_head(path: PathBuf) -> Result<(), String> {
    let repo_path = path.clone();
    let choice = tokio::task::spawn_blocking(move || app::ssr::git_read::branch_for_unborn_head(&repo_path))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let Some(branch) = choice else { return Ok(()) };
    let status = isolated_git()
        .arg("--git-dir")
        .arg(&path)
        .args(["symbolic-ref", "HEAD"])
        .arg(format!("refs/heads/{branch}"))
        .status()
        .await
        .map_err(|e| e.to_string())?;
    if status.success() { Ok(()) } else { Err(format!("git symbolic-ref exited with {status}")) }
}
