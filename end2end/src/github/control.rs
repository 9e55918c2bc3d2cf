//! The control API under `/_double/` (JSON): what the Rust methods of [`super::GithubDouble`] do,
//! for Playwright and the demo.

use super::{DoubleFault, OAuthApp, Permission, RequestRecord, Shared, TokenInfo, create_repo, delete_repo, git, valid_login};
use axum::Json;
use axum::Router;
use axum::extract::{Path, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/users", post(add_user))
        .route("/users/{login}/tokens", get(tokens_of))
        .route("/browser-user", post(browser_user))
        .route("/oauth-apps", post(add_oauth_app))
        .route("/repos", post(add_repo))
        .route("/repos/{owner}/{name}", axum::routing::delete(remove_repo))
        .route("/repos/{owner}/{name}/collaborators/{login}", put(collaborator))
        .route("/repos/{owner}/{name}/refs", get(refs))
        .route("/tokens", post(issue_token))
        .route("/tokens/expire", post(expire_token))
        .route("/tokens/revoke", post(revoke_token))
        .route("/refresh-tokens/expire", post(expire_refresh_token))
        .route("/fault", post(set_fault))
        .route("/requests", get(requests))
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "message": message }))).into_response()
}

#[derive(Deserialize)]
struct LoginBody {
    login: String,
}

async fn add_user(AxumState(shared): AxumState<Arc<Shared>>, Json(body): Json<LoginBody>) -> Response {
    if !valid_login(&body.login) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, format!("invalid login {:?}", body.login));
    }
    let id = shared.lock().add_user(&body.login);
    Json(json!({ "login": body.login, "id": id })).into_response()
}

async fn tokens_of(AxumState(shared): AxumState<Arc<Shared>>, Path(login): Path<String>) -> Response {
    let tokens: Vec<Value> = shared.lock().tokens_of(&login).into_iter().map(token_json).collect();
    Json(Value::Array(tokens)).into_response()
}

fn token_json(t: TokenInfo) -> Value {
    json!({ "token": t.token, "scopes": t.scopes, "expired": t.expired, "revoked": t.revoked, "client_id": t.client_id })
}

#[derive(Deserialize)]
struct BrowserUserBody {
    login: Option<String>,
}

async fn browser_user(AxumState(shared): AxumState<Arc<Shared>>, Json(body): Json<BrowserUserBody>) -> Response {
    if let Some(login) = body.login.as_deref().filter(|l| !valid_login(l)) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, format!("invalid login {login:?}"));
    }
    let mut state = shared.lock();
    if let Some(login) = &body.login {
        state.add_user(login);
    }
    state.browser_user = body.login;
    state.sessions.clear();
    StatusCode::NO_CONTENT.into_response()
}

async fn add_oauth_app(AxumState(shared): AxumState<Arc<Shared>>, Json(app): Json<OAuthApp>) -> Response {
    if url::Url::parse(&app.callback_url).is_err() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, format!("callback_url {:?} is not a URL", app.callback_url));
    }
    shared.lock().apps.insert(app.client_id.clone(), app);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct RepoBody {
    owner: String,
    name: String,
    #[serde(default)]
    private: bool,
}

async fn add_repo(AxumState(shared): AxumState<Arc<Shared>>, Json(body): Json<RepoBody>) -> Response {
    match create_repo(&shared, &body.owner, &body.name, body.private) {
        Ok(path) => Json(json!({
            "full_name": format!("{}/{}", body.owner, body.name),
            "clone_url": format!("{}/{}/{}.git", shared.web_url, body.owner, body.name),
            "path": path.display().to_string(),
        }))
        .into_response(),
        Err(e) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn remove_repo(AxumState(shared): AxumState<Arc<Shared>>, Path((owner, name)): Path<(String, String)>) -> Response {
    match delete_repo(&shared, &owner, &name) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => error(StatusCode::NOT_FOUND, format!("no repository {owner}/{name}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Deserialize)]
struct PermissionBody {
    permission: Option<Permission>,
}

async fn collaborator(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path((owner, name, login)): Path<(String, String, String)>,
    Json(body): Json<PermissionBody>,
) -> Response {
    if !valid_login(&login) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, format!("invalid login {login:?}"));
    }
    if shared.lock().set_permission(&owner, &name, &login, body.permission) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        error(StatusCode::NOT_FOUND, format!("no repository {owner}/{name}"))
    }
}

async fn refs(AxumState(shared): AxumState<Arc<Shared>>, Path((owner, name)): Path<(String, String)>) -> Response {
    if shared.lock().repo(&owner, &name).is_none() {
        return error(StatusCode::NOT_FOUND, format!("no repository {owner}/{name}"));
    }
    match git::refs(&shared.repo_path(&owner, &name)) {
        Ok(refs) => Json(refs).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    login: String,
    #[serde(default)]
    scopes: Vec<String>,
}

async fn issue_token(AxumState(shared): AxumState<Arc<Shared>>, Json(body): Json<TokenRequest>) -> Response {
    if !valid_login(&body.login) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, format!("invalid login {:?}", body.login));
    }
    let mut state = shared.lock();
    state.add_user(&body.login);
    let (token, _) = state.issue_token(&body.login, body.scopes, None, false);
    Json(json!({ "token": token })).into_response()
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn expire_token(AxumState(shared): AxumState<Arc<Shared>>, Json(body): Json<TokenBody>) -> Response {
    match shared.lock().tokens.get_mut(&body.token) {
        Some(t) => {
            t.expired = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(StatusCode::NOT_FOUND, "no such token".into()),
    }
}

async fn revoke_token(AxumState(shared): AxumState<Arc<Shared>>, Json(body): Json<TokenBody>) -> Response {
    let mut state = shared.lock();
    if !state.tokens.contains_key(&body.token) {
        return error(StatusCode::NOT_FOUND, "no such token".into());
    }
    state.revoke_token(&body.token);
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct RefreshTokenBody {
    refresh_token: String,
}

async fn expire_refresh_token(AxumState(shared): AxumState<Arc<Shared>>, Json(body): Json<RefreshTokenBody>) -> Response {
    match shared.lock().refresh_tokens.get_mut(&body.refresh_token) {
        Some(r) => {
            r.expired = true;
            StatusCode::NO_CONTENT.into_response()
        }
        None => error(StatusCode::NOT_FOUND, "no such refresh token".into()),
    }
}

#[derive(Deserialize)]
struct FaultBody {
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    drop_git_transfers: bool,
}

async fn set_fault(AxumState(shared): AxumState<Arc<Shared>>, Json(body): Json<FaultBody>) -> Response {
    if let Some(status) = body.status.filter(|s| StatusCode::from_u16(*s).is_err()) {
        return error(StatusCode::UNPROCESSABLE_ENTITY, format!("{status} is not an HTTP status"));
    }
    shared.lock().fault =
        DoubleFault { latency: Duration::from_millis(body.latency_ms), status: body.status, drop_git_transfers: body.drop_git_transfers };
    StatusCode::NO_CONTENT.into_response()
}

fn request_json(r: RequestRecord) -> Value {
    let origin = match r.origin {
        super::Origin::Web => "web",
        super::Origin::Api => "api",
    };
    json!({ "method": r.method, "path": r.path, "query": r.query, "authorization": r.authorization, "origin": origin })
}

async fn requests(AxumState(shared): AxumState<Arc<Shared>>) -> Response {
    let records: Vec<Value> = shared.lock().requests.clone().into_iter().map(request_json).collect();
    Json(Value::Array(records)).into_response()
}
