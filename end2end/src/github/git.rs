//! Git smart HTTP at `/{owner}/{repo}.git/...` (and without `.git`), answered by the real
//! `git http-backend` once GitHub's rules are applied: Basic auth with a token as the password,
//! anonymous reads of public repositories, 401/403/404 as github.com answers them.

use super::state::{Caller, State};
use super::{Shared, pages};
use crate::http_backend::{CgiOptions, git_http_backend};
use axum::body::Body;
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::SystemTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    InfoRefs,
    UploadPack,
    ReceivePack,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::InfoRefs => "info/refs",
            Endpoint::UploadPack => "git-upload-pack",
            Endpoint::ReceivePack => "git-receive-pack",
        }
    }
}

/// `/{owner}/{repo}[.git]/{info/refs|git-upload-pack|git-receive-pack}` -> (owner, repo, endpoint).
fn parse(path: &str) -> Option<(&str, &str, Endpoint)> {
    let mut parts = path.strip_prefix('/')?.splitn(3, '/');
    let (owner, repo, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let endpoint = match rest {
        "info/refs" => Endpoint::InfoRefs,
        "git-upload-pack" => Endpoint::UploadPack,
        "git-receive-pack" => Endpoint::ReceivePack,
        _ => return None,
    };
    let name = match repo.len().checked_sub(4) {
        Some(cut) if repo.is_char_boundary(cut) && repo[cut..].eq_ignore_ascii_case(".git") => &repo[..cut],
        _ => repo,
    };
    (!owner.is_empty() && !name.is_empty()).then_some((owner, name, endpoint))
}

/// Whether the path is one of the git smart HTTP endpoints.
pub fn is_git_request(path: &str) -> bool {
    parse(path).is_some()
}

/// What to do with a git request.
enum Decision {
    Serve {
        path_info: String,
        remote_user: Option<String>,
    },
    /// 401 with GitHub's Basic challenge.
    Challenge(&'static str),
    /// 403 with this message.
    Forbidden(String),
    NotFound,
}

fn plain(status: StatusCode, body: String) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// The token in the request's Basic credentials.
fn basic_token(request: &Request) -> Option<String> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    super::token_of_basic(value.strip_prefix("Basic ")?)
}

fn decide(state: &State, owner: &str, name: &str, endpoint: Endpoint, push: bool, token: Option<&str>) -> Decision {
    let caller: Option<Caller> = match token {
        Some(token) => match state.caller(token) {
            Ok(c) => Some(c),
            Err(_) => {
                return Decision::Challenge("Invalid username or token. Password authentication is not supported for Git operations.\n");
            }
        },
        None => None,
    };
    let repo = state.repo(owner, name);
    let Some(caller) = caller else {
        return match repo {
            Some(repo) if !repo.private && !push => Decision::Serve { path_info: path_info(owner, name, endpoint), remote_user: None },
            _ => Decision::Challenge(""),
        };
    };
    let Some(repo) = repo.filter(|r| State::can_see(r, Some(&caller))) else {
        return Decision::NotFound;
    };
    if push && !State::can_push(repo, &caller) {
        return Decision::Forbidden(format!("Permission to {}.git denied to {}.\n", repo.full_name(), caller.login));
    }
    Decision::Serve { path_info: path_info(owner, name, endpoint), remote_user: Some(caller.login) }
}

fn path_info(owner: &str, name: &str, endpoint: Endpoint) -> String {
    format!("/{}/{}.git/{}", owner.to_ascii_lowercase(), name.to_ascii_lowercase(), endpoint.path())
}

/// The web origin's fallback: git requests, else the 404 page.
pub async fn serve(AxumState(shared): AxumState<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let Some((owner, name, endpoint)) = parse(&path) else {
        return pages::not_found();
    };
    let service = request
        .uri()
        .query()
        .and_then(|q| url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "service").map(|(_, v)| v.into_owned()));
    if endpoint == Endpoint::InfoRefs && service.is_none() {
        return plain(StatusCode::FORBIDDEN, "Please upgrade your git client.\nGitHub does not support the dumb HTTP protocol.\n".into());
    }
    let push = endpoint == Endpoint::ReceivePack || service.as_deref() == Some("git-receive-pack");
    let is_post = request.method() == axum::http::Method::POST;
    let token = basic_token(&request);
    let (decision, drop_transfer) = {
        let mut state = shared.lock();
        let decision = decide(&state, owner, name, endpoint, push, token.as_deref());
        if let (Decision::Serve { .. }, true, true) = (&decision, push, is_post)
            && let Some(repo) = state.repo_mut(owner, name)
        {
            repo.pushed_at = SystemTime::now();
        }
        (decision, state.fault.drop_git_transfers && is_post)
    };
    match decision {
        Decision::Challenge(body) => {
            tracing::debug!(path, "github double: git credentials required");
            let mut r = plain(StatusCode::UNAUTHORIZED, body.to_string());
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"GitHub\""));
            r
        }
        Decision::Forbidden(message) => plain(StatusCode::FORBIDDEN, message),
        Decision::NotFound => plain(StatusCode::NOT_FOUND, "Repository not found.\n".into()),
        Decision::Serve { path_info, remote_user } => {
            let (parts, body): (_, Body) = request.into_parts();
            let options =
                CgiOptions { root: &shared.root, path_info: &path_info, remote_user: remote_user.as_deref(), drop_transfer, seen: None, autogc: false };
            git_http_backend(&parts, body, options).await
        }
    }
}

fn git_command() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

/// Creates an empty bare repository whose HEAD is `refs/heads/main`.
pub fn init_bare(path: &Path) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    let out = git_command()
        .args(["init", "-q", "--bare", "--initial-branch=main"])
        .arg(path)
        .output()
        .map_err(|e| format!("running git init: {e}"))?;
    if !out.status.success() {
        return Err(format!("git init: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// The branches and tags of a bare repository.
pub fn refs(path: &Path) -> Result<BTreeMap<String, String>, String> {
    let out = git_command()
        .arg("--git-dir")
        .arg(path)
        .args(["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags"])
        .output()
        .map_err(|e| format!("running git for-each-ref: {e}"))?;
    if !out.status.success() {
        return Err(format!("git for-each-ref: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(id, name)| (name.to_string(), id.to_string()))
        .collect())
}

/// The branch HEAD names (`main` unless changed), read from the repository's HEAD file.
pub fn default_branch(path: &Path) -> String {
    std::fs::read_to_string(path.join("HEAD"))
        .ok()
        .and_then(|head| head.trim().strip_prefix("ref: refs/heads/").map(str::to_string))
        .unwrap_or_else(|| "main".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_git_paths_with_and_without_dot_git() {
        assert_eq!(parse("/o/r.git/info/refs"), Some(("o", "r", Endpoint::InfoRefs)));
        assert_eq!(parse("/o/r/git-upload-pack"), Some(("o", "r", Endpoint::UploadPack)));
        assert_eq!(parse("/o/R.GIT/git-receive-pack"), Some(("o", "R", Endpoint::ReceivePack)));
        assert_eq!(parse("/login/oauth/authorize"), None);
        assert_eq!(parse("/o/r.git/objects/info/packs"), None);
        assert_eq!(parse("/o/.git/info/refs"), None);
    }
}
