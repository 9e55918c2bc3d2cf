//! The mirroring REST API under `/api/v4`, authenticated by a personal access token
//! (`PRIVATE-TOKEN: <token>` or `Authorization: Bearer <token>`): `api` scope for changes,
//! `api` or `read_api` for reading. Same validation, permissions and messages as the Settings
//! page (both go through [`app::ssr::mirror_service`]). Errors are `{"message": "..."}`.
//!
//! `{project}` is the repository as `owner%2Frepo` (URL-encoded path) or its numeric id.
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/projects/{project}/mirrors` | push and pull mirrors |
//! | POST | `/projects/{project}/mirrors` | `{"direction": "push"\|"pull", "remote": "owner/repo", "interval_minutes": 15, "overwrite_diverged": false, "confirm_replace": false}`; 409 with `replace` listing what GitHub would lose unless `confirm_replace` |
//! | GET, PATCH, DELETE | `/projects/{project}/mirrors/{id}` | PATCH: `{"interval_minutes": 30, "paused": true, "overwrite_diverged": true}`; DELETE keeps the runs |
//! | POST | `/projects/{project}/mirrors/{id}/sync` | Sync now |
//! | GET | `/projects/{project}/mirrors/{id}/runs?page=1&per_page=20` | runs with per-ref results |
//! | GET, POST | `/projects/{project}/fetches` | POST `{"remote": "owner/repo", "overwrite_diverged": false}` starts a one-time fetch |
//! | GET | `/projects/{project}/fetches/{id}`, `/projects/{project}/fetches/{id}/runs` | |
//! | GET | `/projects/{project}/runs/{run}` | one run (of any mirror, removed ones included) with what it kept |
//! | GET | `/projects/{project}/removed_mirrors` | removed mirrors' runs |
//! | GET | `/projects/{project}/kept_refs` | every kept tip: `[{"run_id", "name", "id"}]` |
//! | POST | `/projects/{project}/runs/{run}/restore`, `…/discard` | `{"ref": "refs/heads/main"}`; restore answers `{"restored_as": "refs/heads/main"}` |
//! | POST | `/import/github` | `{"remote": "owner/repo", "name": "…", "visibility": "private", "description": "…", "mirror_interval_minutes": 15}` (all but `remote` optional: GitHub's name, visibility and description, no pull mirror); 202 with the import |
//! | GET | `/imports/{id}` | the import: `state` (`queued`, `importing`, `done`, `failed`), `error`, `progress` |
//! | POST | `/imports/{id}/retry` | a failed import runs again; DELETE `/imports/{id}` deletes the repository of an import that is not running |

use app::error::AppError;
use app::model::{EnableAnswer, ImportView, KeptRef, MirrorView, RemovedMirror, RunView};
use app::ssr::import_service::{self, ImportRequest};
use app::model::TokenScope;
use app::ssr::accounts::{self, User};
use app::ssr::mirror_service::{self, Command, EnableRequest, KeptAction};
use app::ssr::mirrors::{self, Direction};
use app::ssr::repos::{self, FoundRepo};
use app::ssr::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/v4/projects/{project}/mirrors", get(list_mirrors).post(create_mirror))
        .route("/api/v4/projects/{project}/mirrors/{id}", get(get_mirror).patch(update_mirror).delete(delete_mirror))
        .route("/api/v4/projects/{project}/mirrors/{id}/sync", post(sync_mirror))
        .route("/api/v4/projects/{project}/mirrors/{id}/runs", get(mirror_runs))
        .route("/api/v4/projects/{project}/fetches", get(list_fetches).post(start_fetch))
        .route("/api/v4/projects/{project}/fetches/{id}", get(get_fetch))
        .route("/api/v4/projects/{project}/fetches/{id}/runs", get(fetch_runs))
        .route("/api/v4/projects/{project}/runs/{run}", get(get_run))
        .route("/api/v4/projects/{project}/runs/{run}/restore", post(restore_kept))
        .route("/api/v4/projects/{project}/runs/{run}/discard", post(discard_kept))
        .route("/api/v4/projects/{project}/removed_mirrors", get(removed_mirrors))
        .route("/api/v4/projects/{project}/kept_refs", get(kept_refs))
        .route("/api/v4/import/github", post(start_import))
        .route("/api/v4/imports/{id}", get(get_import).delete(delete_import))
        .route("/api/v4/imports/{id}/retry", post(retry_import))
        .route("/api/v4/user/keys", get(list_ssh_keys).post(add_ssh_key))
        .route("/api/v4/user/keys/{id}", get(get_ssh_key).delete(delete_ssh_key))
        .route("/api/v4/{*rest}", axum::routing::any(|| async { ApiError::from(AppError::NotFound) }))
        .layer(axum::middleware::map_response(json_errors))
        .layer(axum::middleware::from_fn_with_state(state.clone(), limit_failures))
        .with_state(state)
}

/// Failed authentication is rate limited per client address: a locked address gets 429 with
/// `Retry-After` before its token is looked at; every 401 answer counts against it.
async fn limit_failures(State(state): State<AppState>, request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let ip = request.extensions().get::<app::ssr::guard::ClientIp>().map(|c| c.0);
    if let Err(refusal) = state.guard.check(ip, None) {
        let mut response = ApiError::from(AppError::from(refusal)).into_response();
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(refusal.retry_after()));
        return response;
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        state.guard.failed(ip, None);
    }
    response
}

/// Errors the extractors answer by themselves (a malformed id in the path, a bad query string)
/// come as plain text: give them the API's `{"message": ...}` shape too.
async fn json_errors(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !response.status().is_client_error() || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    let message = String::from_utf8_lossy(&text).trim().to_string();
    ApiError::new(parts.status, if message.is_empty() { parts.status.to_string() } else { message }).into_response()
}

/// An API error: the status and `{"message": ...}`.
pub struct ApiError {
    status: StatusCode,
    message: String,
    /// More fields of the error body (e.g. `replace`).
    extra: Option<(&'static str, serde_json::Value)>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), extra: None }
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match e {
            AppError::Unauthenticated => "401 Unauthorized".to_string(),
            AppError::Forbidden => "403 Forbidden".to_string(),
            AppError::NotFound => "404 Not Found".to_string(),
            other => other.to_string(),
        };
        ApiError { status, message, extra: None }
    }
}

impl From<app::ssr::db::DbError> for ApiError {
    fn from(e: app::ssr::db::DbError) -> Self {
        tracing::error!(error = %e, "API: database error");
        AppError::Internal.into()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, format!("The request body is not valid: {}", e.body_text()))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "message": self.message });
        if let (Some((key, value)), Some(map)) = (self.extra, body.as_object_mut()) {
            map.insert(key.to_string(), value);
        }
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer realm=\"GitBlixt API\""));
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// Reading or changing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    Read,
    Write,
}

fn token_of(headers: &HeaderMap) -> Option<&str> {
    if let Some(v) = headers.get("private-token").and_then(|v| v.to_str().ok()) {
        return Some(v.trim());
    }
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    auth.strip_prefix("Bearer ").or_else(|| auth.strip_prefix("bearer ")).map(str::trim)
}

/// The token's user, if its scopes allow `need`.
async fn authenticate(state: &AppState, headers: &HeaderMap, need: Need) -> ApiResult<User> {
    let token = token_of(headers).ok_or(AppError::Unauthenticated)?;
    let (user, scopes) = accounts::authenticate_token(&state.db, token).await?.ok_or(AppError::Unauthenticated)?;
    let allowed = scopes.iter().any(|s| match need {
        Need::Read => matches!(s, TokenScope::Api | TokenScope::ReadApi),
        Need::Write => *s == TokenScope::Api,
    });
    if !allowed {
        let wanted = if need == Need::Read { "api or read_api" } else { "api" };
        return Err(ApiError::new(StatusCode::FORBIDDEN, format!("403 Forbidden - insufficient scope: this request needs a token with the {wanted} scope.")));
    }
    Ok(user)
}

/// The user and the repository they administer.
async fn project(state: &AppState, headers: &HeaderMap, project: &str, need: Need) -> ApiResult<(User, FoundRepo)> {
    let user = authenticate(state, headers, need).await?;
    let (owner, name) = match project.split_once('/') {
        Some((o, n)) => (o.to_string(), n.to_string()),
        None => {
            let id: i64 = project.parse().map_err(|_| AppError::NotFound)?;
            let found = repos::find_by_id(&state.db, id).await?.ok_or(AppError::NotFound)?;
            (found.owner.name.clone(), found.repo.name.clone())
        }
    };
    let found = mirror_service::administrable(state, Some(&user), &owner, &name).await?;
    Ok((user, found))
}

/// The mirror `id` of the repository, if it is of the kind the path names (`fetches` or `mirrors`).
async fn row(state: &AppState, repo: &FoundRepo, id: i64, fetch: bool) -> ApiResult<mirrors::MirrorRow> {
    let m = mirror_service::mirror_of(state, repo, id).await?;
    if (m.direction == Direction::Fetch.as_str()) != fetch {
        return Err(AppError::NotFound.into());
    }
    Ok(m)
}

async fn one(state: &AppState, repo: &FoundRepo, id: i64, fetch: bool) -> ApiResult<Json<MirrorView>> {
    let m = row(state, repo, id, fetch).await?;
    let kept = mirror_service::kept_refs(state, repo.repo.id).await?;
    Ok(Json(mirror_service::view(state, m, &kept).await?))
}

async fn list_mirrors(State(state): State<AppState>, Path(p): Path<String>, headers: HeaderMap) -> ApiResult<Json<Vec<MirrorView>>> {
    let (_, repo) = project(&state, &headers, &p, Need::Read).await?;
    let views = mirror_service::views(&state, repo.repo.id).await?;
    Ok(Json(views.push.into_iter().chain(views.pull).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewMirror {
    direction: String,
    remote: String,
    interval_minutes: Option<i64>,
    #[serde(default)]
    overwrite_diverged: bool,
    #[serde(default)]
    confirm_replace: bool,
}

async fn create_mirror(
    State(state): State<AppState>,
    Path(p): Path<String>,
    headers: HeaderMap,
    body: Result<Json<NewMirror>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<MirrorView>)> {
    let (user, repo) = project(&state, &headers, &p, Need::Write).await?;
    let Json(new) = body?;
    let interval = new.interval_minutes.map(|m| m.to_string());
    let request = EnableRequest {
        direction: &new.direction,
        remote: &new.remote,
        interval: interval.as_deref(),
        confirm_replace: new.confirm_replace,
        overwrite_diverged: new.overwrite_diverged,
    };
    match mirror_service::enable(&state, &user, &repo, &request).await? {
        EnableAnswer::Enabled { id } => {
            let Json(view) = one(&state, &repo, id, false).await?;
            Ok((StatusCode::CREATED, Json(view)))
        }
        EnableAnswer::ConfirmReplace { replacements, .. } => Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!(
                "The first sync would overwrite or delete {} on GitHub (listed in `replace`; their tips would be kept in GitBlixt). Send \"confirm_replace\": true to enable the mirror anyway.",
                app::format::count(replacements.len(), "branch or tag", "branches and tags")
            ),
            extra: Some(("replace", serde_json::to_value(&replacements).unwrap_or_default())),
        }),
    }
}

async fn get_mirror(State(state): State<AppState>, Path((p, id)): Path<(String, i64)>, headers: HeaderMap) -> ApiResult<Json<MirrorView>> {
    let (_, repo) = project(&state, &headers, &p, Need::Read).await?;
    one(&state, &repo, id, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MirrorUpdate {
    interval_minutes: Option<i64>,
    paused: Option<bool>,
    overwrite_diverged: Option<bool>,
}

async fn update_mirror(
    State(state): State<AppState>,
    Path((p, id)): Path<(String, i64)>,
    headers: HeaderMap,
    body: Result<Json<MirrorUpdate>, JsonRejection>,
) -> ApiResult<Json<MirrorView>> {
    let (_, repo) = project(&state, &headers, &p, Need::Write).await?;
    let Json(update) = body?;
    let m = row(&state, &repo, id, false).await?;
    if update.interval_minutes.is_none() && update.paused.is_none() && update.overwrite_diverged.is_none() {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "Nothing to change: give interval_minutes, paused and/or overwrite_diverged."));
    }
    if update.overwrite_diverged.is_some() && m.direction != Direction::Pull.as_str() {
        return Err(AppError::invalid("Only pull mirrors can overwrite diverged branches.").into());
    }
    // The interval is validated before anything is written.
    if let Some(minutes) = update.interval_minutes {
        mirror_service::change_interval(&state, &repo, id, &minutes.to_string()).await?;
    }
    if let Some(on) = update.overwrite_diverged {
        mirror_service::set_overwrite_diverged(&state, &repo, id, on).await?;
    }
    if let Some(paused) = update.paused {
        mirror_service::command(&state, &repo, id, if paused { Command::Pause } else { Command::Resume }).await?;
    }
    one(&state, &repo, id, false).await
}

async fn delete_mirror(State(state): State<AppState>, Path((p, id)): Path<(String, i64)>, headers: HeaderMap) -> ApiResult<StatusCode> {
    let (_, repo) = project(&state, &headers, &p, Need::Write).await?;
    row(&state, &repo, id, false).await?;
    mirror_service::command(&state, &repo, id, Command::Remove).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn sync_mirror(
    State(state): State<AppState>,
    Path((p, id)): Path<(String, i64)>,
    headers: HeaderMap,
) -> ApiResult<(StatusCode, Json<MirrorView>)> {
    let (_, repo) = project(&state, &headers, &p, Need::Write).await?;
    row(&state, &repo, id, false).await?;
    mirror_service::command(&state, &repo, id, Command::Sync).await?;
    let Json(view) = one(&state, &repo, id, false).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

#[derive(Deserialize)]
struct Page {
    page: Option<i64>,
    per_page: Option<i64>,
}

async fn runs(state: &AppState, repo: &FoundRepo, id: i64, fetch: bool, page: &Page) -> ApiResult<Json<Vec<RunView>>> {
    row(state, repo, id, fetch).await?;
    let per_page = page.per_page.unwrap_or(20);
    let number = page.page.unwrap_or(1);
    if !(1..=100).contains(&per_page) || number < 1 {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "page must be at least 1 and per_page between 1 and 100."));
    }
    // A page far past the end is empty (saturating: a huge page number must not overflow).
    let rows = mirrors::runs(&state.db, id, (number - 1).saturating_mul(per_page), per_page).await?;
    let kept = mirror_service::kept_refs(state, repo.repo.id).await?;
    Ok(Json(rows.into_iter().map(|r| mirror_service::run_view(r, &kept)).collect()))
}

async fn mirror_runs(
    State(state): State<AppState>,
    Path((p, id)): Path<(String, i64)>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<RunView>>> {
    let (_, repo) = project(&state, &headers, &p, Need::Read).await?;
    runs(&state, &repo, id, false, &page).await
}

async fn list_fetches(State(state): State<AppState>, Path(p): Path<String>, headers: HeaderMap) -> ApiResult<Json<Vec<MirrorView>>> {
    let (_, repo) = project(&state, &headers, &p, Need::Read).await?;
    Ok(Json(mirror_service::views(&state, repo.repo.id).await?.fetches))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFetch {
    remote: String,
    #[serde(default)]
    overwrite_diverged: bool,
}

async fn start_fetch(
    State(state): State<AppState>,
    Path(p): Path<String>,
    headers: HeaderMap,
    body: Result<Json<NewFetch>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<MirrorView>)> {
    let (user, repo) = project(&state, &headers, &p, Need::Write).await?;
    let Json(new) = body?;
    let id = mirror_service::fetch(&state, &user, &repo, &new.remote, new.overwrite_diverged).await?;
    let Json(view) = one(&state, &repo, id, true).await?;
    Ok((StatusCode::ACCEPTED, Json(view)))
}

async fn get_fetch(State(state): State<AppState>, Path((p, id)): Path<(String, i64)>, headers: HeaderMap) -> ApiResult<Json<MirrorView>> {
    let (_, repo) = project(&state, &headers, &p, Need::Read).await?;
    one(&state, &repo, id, true).await
}

async fn fetch_runs(
    State(state): State<AppState>,
    Path((p, id)): Path<(String, i64)>,
    Query(page): Query<Page>,
    headers: HeaderMap,
) -> ApiResult<Json<Vec<RunView>>> {
    let (_, repo) = project(&state, &headers, &p, Need::Read).await?;
    runs(&state, &repo, id, true, &page).await
}

async fn get_run(State(state): State<AppState>, Path((p, run)): Path<(String, i64)>, headers: HeaderMap) -> ApiResult<Json<RunView>> {
    let (_, repo) = project(&state, &headers, &p, Need::Read).await?;
    let row = mirrors::run_of(&state.db, repo.repo.id, run).await?.ok_or(AppError::NotFound)?;
    let kept = mirror_service::kept_refs(&state, repo.repo.id).await?;
    Ok(Json(mirror_service::run_view(row, &kept)))
}

async fn removed_mirrors(State(state): State<AppState>, Path(p): Path<String>, headers: HeaderMap) -> ApiResult<Json<Vec<RemovedMirror>>> {
    let (_, repo) = project(&state, &headers, &p, Need::Read).await?;
    Ok(Json(mirror_service::views(&state, repo.repo.id).await?.removed))
}

async fn kept_refs(State(state): State<AppState>, Path(p): Path<String>, headers: HeaderMap) -> ApiResult<Json<Vec<KeptRef>>> {
    let (_, repo) = project(&state, &headers, &p, Need::Read).await?;
    Ok(Json(mirror_service::kept_refs(&state, repo.repo.id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeptTarget {
    #[serde(rename = "ref")]
    name: String,
}

async fn restore_kept(
    State(state): State<AppState>,
    Path((p, run)): Path<(String, i64)>,
    headers: HeaderMap,
    body: Result<Json<KeptTarget>, JsonRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let (user, repo) = project(&state, &headers, &p, Need::Write).await?;
    let Json(target) = body?;
    let restored = mirror_service::kept_action(&state, &user, &repo, run, &target.name, KeptAction::Restore).await?;
    Ok(Json(serde_json::json!({ "restored_as": restored })))
}

async fn discard_kept(
    State(state): State<AppState>,
    Path((p, run)): Path<(String, i64)>,
    headers: HeaderMap,
    body: Result<Json<KeptTarget>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let (user, repo) = project(&state, &headers, &p, Need::Write).await?;
    let Json(target) = body?;
    mirror_service::kept_action(&state, &user, &repo, run, &target.name, KeptAction::Discard).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl From<app::ssr::ssh_keys::SshKeyError> for ApiError {
    fn from(e: app::ssr::ssh_keys::SshKeyError) -> Self {
        match e {
            app::ssr::ssh_keys::SshKeyError::Invalid(message) => ApiError::new(StatusCode::BAD_REQUEST, message),
            app::ssr::ssh_keys::SshKeyError::Db(e) => e.into(),
        }
    }
}

/// `GET /user/keys`: the token owner's SSH keys.
async fn list_ssh_keys(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Json<Vec<app::model::SshKeyInfo>>> {
    let user = authenticate(&state, &headers, Need::Read).await?;
    Ok(Json(app::ssr::ssh_keys::list(&state.db, user.id).await?))
}

async fn get_ssh_key(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> ApiResult<Json<app::model::SshKeyInfo>> {
    let user = authenticate(&state, &headers, Need::Read).await?;
    let key = app::ssr::ssh_keys::list(&state.db, user.id).await?.into_iter().find(|k| k.id == id).ok_or(AppError::NotFound)?;
    Ok(Json(key))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSshKey {
    #[serde(default)]
    title: String,
    key: String,
}

/// `POST /user/keys` `{"title": …, "key": "ssh-ed25519 …"}` → 201 with the key.
async fn add_ssh_key(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<NewSshKey>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<app::model::SshKeyInfo>)> {
    let user = authenticate(&state, &headers, Need::Write).await?;
    let Json(new) = body?;
    let key = app::ssr::ssh_keys::add(&state.db, &user, &new.title, &new.key).await?;
    Ok((StatusCode::CREATED, Json(key)))
}

/// `DELETE /user/keys/{id}` → 204, or 404 for a key that is not the token owner's.
async fn delete_ssh_key(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> ApiResult<StatusCode> {
    let user = authenticate(&state, &headers, Need::Write).await?;
    if !app::ssr::ssh_keys::remove(&state.db, user.id, id).await? {
        return Err(AppError::NotFound.into());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewImport {
    remote: String,
    name: Option<String>,
    visibility: Option<String>,
    description: Option<String>,
    mirror_interval_minutes: Option<i64>,
}

async fn start_import(State(state): State<AppState>, headers: HeaderMap, body: Result<Json<NewImport>, JsonRejection>) -> ApiResult<(StatusCode, Json<ImportView>)> {
    let user = authenticate(&state, &headers, Need::Write).await?;
    let Json(new) = body?;
    let request = ImportRequest {
        remote: new.remote,
        name: new.name,
        visibility: new.visibility,
        description: new.description,
        mirror_interval_minutes: new.mirror_interval_minutes,
    };
    let import = import_service::start(&state, &user, &request).await?;
    Ok((StatusCode::ACCEPTED, Json(import_service::view(&state, &import))))
}

async fn get_import(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> ApiResult<Json<ImportView>> {
    let user = authenticate(&state, &headers, Need::Read).await?;
    let import = import_service::visible(&state, &user, id).await?;
    Ok(Json(import_service::view(&state, &import)))
}

async fn retry_import(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> ApiResult<(StatusCode, Json<ImportView>)> {
    let user = authenticate(&state, &headers, Need::Write).await?;
    let import = import_service::retry(&state, &user, id).await?;
    Ok((StatusCode::ACCEPTED, Json(import_service::view(&state, &import))))
}

async fn delete_import(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> ApiResult<StatusCode> {
    let user = authenticate(&state, &headers, Need::Write).await?;
    import_service::delete(&state, &user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
