//! Git smart HTTP: `info/refs`, `git-upload-pack` and `git-receive-pack` under
//! `/<owner>/<repo>.git/`, served by `git upload-pack`/`git receive-pack --stateless-rpc`.
//!
//! After a push, the refs it changed (from the post-receive hook) go through
//! [`app::ssr::mirror_service::refs_changed`]: the push mirrors' sync requests are in the database
//! *before* the response to the git client completes, so a push the client saw succeed is never
//! forgotten by a crash (DESIGN.md "Never silent").

use crate::git_auth::{self, Credentials, GitPrincipal};
pub use crate::git_service::{GitLimits, GitState};
use crate::git_service::{Denied, Mode, Service, after_push, check_access, git_command, log_git_exit, push_report, wait_for_git};
use app::ssr::guard::{ClientIp, Refusal};
use app::ssr::repos::FoundRepo;
use axum::Router;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tokio_util::io::ReaderStream;

/// Room for a push's ref update commands beside its pack.
const PUSH_COMMANDS_ROOM: u64 = 16 << 20;
/// The largest fetch negotiation a client may send.
const MAX_NEGOTIATION_BYTES: u64 = 256 << 20;

/// The cap on a request body of `service`: a push's pack (with room for its commands), or a
/// fetch's negotiation (`want`/`have` lines: large for big histories, never gigabytes).
fn body_cap(limits: &GitLimits, service: Service) -> u64 {
    match service {
        Service::ReceivePack => limits.max_push_bytes.saturating_add(PUSH_COMMANDS_ROOM),
        Service::UploadPack => MAX_NEGOTIATION_BYTES,
    }
}

pub fn routes(state: GitState) -> Router {
    Router::new()
        .route("/{owner}/{repo}/info/refs", get(info_refs))
        .route("/{owner}/{repo}/git-upload-pack", post(upload_pack))
        .route("/{owner}/{repo}/git-receive-pack", post(receive_pack))
        .layer(tower_http::decompression::RequestDecompressionLayer::new())
        .with_state(state)
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
    crate::git_service::disk_refusal(&state.app, service).map(|message| refuse(StatusCode::INSUFFICIENT_STORAGE, message))
}

/// 503 with `Retry-After` when every git process slot is taken.
fn git_busy() -> Response {
    let mut response = refuse(StatusCode::SERVICE_UNAVAILABLE, crate::git_service::BUSY);
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
    let decision = check_access(&state.app, principal.as_ref(), owner, repo, service)
        .await
        .map_err(|e| server_error("looking up a repository", e))?;
    let found = decision.map_err(|denied| {
        let status = match denied {
            Denied::AuthRequired => StatusCode::UNAUTHORIZED,
            Denied::NotFound => StatusCode::NOT_FOUND,
            Denied::NoReadScope | Denied::NoWriteScope | Denied::ReadOnly | Denied::Importing => StatusCode::FORBIDDEN,
        };
        refuse(status, denied.message())
    })?;
    Ok((found, principal))
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
    headers.get("git-protocol").and_then(|v| v.to_str().ok()).and_then(crate::git_service::git_protocol)
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
    let protocol = git_protocol(headers);
    if service == Service::ReceivePack
        && let Some(refs) = advertise_in_process(&state, &found, protocol.as_deref()).await
    {
        return advertisement(service, refs);
    }
    let Ok(_permit) = state.limits.processes.clone().try_acquire_owned() else { return git_busy() };
    let mut cmd = git_command(&state, service, Mode::StatelessRpc);
    cmd.arg("--advertise-refs").arg(found.path(&state.app.store));
    if let Some(proto) = protocol {
        cmd.env("GIT_PROTOCOL", proto);
    }
    let output = match cmd.stdin(Stdio::null()).output().await {
        Ok(o) => o,
        Err(e) => return server_error("starting git", e),
    };
    if !output.status.success() {
        return server_error("git --advertise-refs failed", String::from_utf8_lossy(&output.stderr));
    }
    advertisement(service, output.stdout)
}

/// receive-pack's advertisement written by GitBlixt (see [`crate::advertise`]); `None` when git
/// must write it (the repository's configuration asks for it, or reading it failed: git then
/// says what is wrong).
async fn advertise_in_process(state: &GitState, found: &FoundRepo, protocol: Option<&str>) -> Option<Vec<u8>> {
    let capabilities = match state.receive_capabilities.get(state).await {
        Ok(c) => c.to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "could not learn git's receive-pack capabilities; git advertises the refs");
            return None;
        }
    };
    let path = found.path(&state.app.store);
    let protocol = protocol.map(str::to_string);
    let written = tokio::task::spawn_blocking(move || crate::advertise::advertise(&path, &capabilities, protocol.as_deref())).await;
    match written {
        Ok(Ok(refs)) => refs,
        Ok(Err(e)) => {
            tracing::warn!(repository = %found.full_name(), error = %e, "could not advertise the refs; git advertises them");
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "the ref advertisement task failed");
            None
        }
    }
}

/// The `info/refs` response: git's advertisement `refs`, after the service announcement that
/// protocol versions 0 and 1 need.
fn advertisement(service: Service, refs: Vec<u8>) -> Response {
    let mut body = Vec::with_capacity(refs.len() + 64);
    // Protocol v2 answers start with "version 2"; v0 needs the service announcement first.
    if !refs.starts_with(b"000eversion 2") {
        crate::advertise::pkt_line(&mut body, format!("# service={}\n", service.name()).as_bytes());
        body.extend_from_slice(b"0000");
    }
    body.extend_from_slice(&refs);
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
    let mut cmd = git_command(&state, service, Mode::StatelessRpc);
    cmd.arg(&path);
    if let Some(proto) = git_protocol(headers) {
        cmd.env("GIT_PROTOCOL", proto);
    }
    let report = match service {
        Service::ReceivePack => {
            match push_report(&state.app, &mut cmd) {
                Ok(f) => Some(f),
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
    tokio::spawn(feed(body, stdin, BodyLimits { idle: state.limits.idle, cap: body_cap(&state.limits, service) }, cut.clone(), repository.clone()));
    // git exits after its stdout is closed; wait for it, then record what the push changed. This
    // runs in its own task, so a client that hangs up cannot stop it. The process slot is held
    // until git is gone.
    let app = state.app.clone();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _permit = permit;
        let (status, err) = wait_for_git(child, stderr, cut).await;
        log_git_exit(&repository, service, status, &err);
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

