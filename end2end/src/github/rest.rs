//! The REST API origin: `GET /user`, `GET /repos/{owner}/{repo}`, `GET /user/repos`, and an OAuth
//! app's `DELETE /applications/{client_id}/token`, with GitHub's authentication, errors, headers
//! and pagination (docs.github.com/rest).

use super::Shared;
use super::json::{private_user, repository};
use super::state::{Caller, State, random_hex};
use axum::Router;
use axum::extract::{Path, RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use serde_json::{Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/user", get(get_user))
        .route("/user/repos", get(list_user_repos))
        .route("/repos/{owner}/{repo}", get(get_repo))
        .route("/applications/{client_id}/token", delete(delete_app_token))
        .fallback(not_found_anywhere)
}

/// An API answer: status, JSON body, and what the headers say about the caller.
struct Answer {
    status: StatusCode,
    body: Value,
    caller: Option<Caller>,
    accepted_scopes: &'static str,
    link: Option<String>,
}

impl Answer {
    fn ok(body: Value, caller: Option<Caller>, accepted_scopes: &'static str) -> Self {
        Answer { status: StatusCode::OK, body, caller, accepted_scopes, link: None }
    }

    fn error(status: StatusCode, message: &str, documentation_url: &str, caller: Option<Caller>) -> Self {
        let body = json!({ "message": message, "documentation_url": documentation_url, "status": status.as_u16().to_string() });
        Answer { status, body, caller, accepted_scopes: "", link: None }
    }

    /// 204 No Content: no body.
    fn no_content() -> Self {
        Answer { status: StatusCode::NO_CONTENT, body: Value::Null, caller: None, accepted_scopes: "", link: None }
    }

    /// With GitHub's headers: media type, OAuth scopes, rate limit, request id.
    fn into_response(self, shared: &Shared) -> Response {
        let (limit, used, reset) = shared.lock().count_api_request(self.caller.as_ref().map(|c| c.login.as_str()));
        let empty = self.status == StatusCode::NO_CONTENT;
        let body = if empty { String::new() } else { self.body.to_string() };
        let mut response = (self.status, body).into_response();
        let h = response.headers_mut();
        let mut set = |name: &'static str, value: String| {
            if let Ok(v) = HeaderValue::from_str(&value) {
                h.insert(HeaderName::from_static(name), v);
            }
        };
        if !empty {
            set("content-type", "application/json; charset=utf-8".into());
        }
        set("x-github-media-type", "github.v3; format=json".into());
        set("x-github-api-version-selected", "2022-11-28".into());
        set("x-ratelimit-limit", limit.to_string());
        set("x-ratelimit-remaining", limit.saturating_sub(used).to_string());
        set("x-ratelimit-reset", reset.to_string());
        set("x-ratelimit-used", used.to_string());
        set("x-ratelimit-resource", "core".into());
        set("x-github-request-id", random_hex(8).to_uppercase());
        set("x-accepted-oauth-scopes", self.accepted_scopes.into());
        set("vary", "Accept, Authorization, Cookie, X-GitHub-OTP".into());
        if let Some(caller) = &self.caller {
            set("x-oauth-scopes", caller.scopes.join(", "));
        }
        if let Some(link) = self.link {
            set("link", link);
        }
        response
    }
}

const BAD_CREDENTIALS_DOC: &str = "https://docs.github.com/rest";

/// The caller, from `Authorization: Bearer|token <t>` (or Basic with the token as password);
/// anonymous without the header; a 401 "Bad credentials" for a token that does not work.
fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<Option<Caller>, Box<Answer>> {
    let Some(value) = headers.get(header::AUTHORIZATION) else { return Ok(None) };
    let value = value.to_str().unwrap_or("").trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    let token = match scheme.to_ascii_lowercase().as_str() {
        "bearer" | "token" => Some(rest.to_string()),
        "basic" => super::token_of_basic(rest),
        _ => None,
    };
    let bad = || Box::new(Answer::error(StatusCode::UNAUTHORIZED, "Bad credentials", BAD_CREDENTIALS_DOC, None));
    let token = token.filter(|t| !t.is_empty()).ok_or_else(bad)?;
    shared.lock().caller(&token).map(Some).map_err(|_| bad())
}

/// The 401 an endpoint that needs a user answers anonymous callers.
fn requires_authentication(documentation_url: &str) -> Answer {
    Answer::error(StatusCode::UNAUTHORIZED, "Requires authentication", documentation_url, None)
}

async fn get_user(AxumState(shared): AxumState<Arc<Shared>>, headers: HeaderMap) -> Response {
    let answer = match authenticate(&shared, &headers) {
        Err(answer) => *answer,
        Ok(None) => requires_authentication("https://docs.github.com/rest/users/users#get-the-authenticated-user"),
        Ok(Some(caller)) => {
            let body = {
                let state = shared.lock();
                state.user(&caller.login).map(|user| private_user(&shared, &state, user))
            };
            match body {
                Some(body) => Answer::ok(body, Some(caller), ""),
                None => Answer::error(StatusCode::UNAUTHORIZED, "Bad credentials", BAD_CREDENTIALS_DOC, None),
            }
        }
    };
    answer.into_response(&shared)
}

async fn get_repo(AxumState(shared): AxumState<Arc<Shared>>, Path((owner, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let answer = match authenticate(&shared, &headers) {
        Err(answer) => *answer,
        Ok(caller) => {
            let body = {
                let state = shared.lock();
                state
                    .repo(&owner, &name)
                    .filter(|repo| State::can_see(repo, caller.as_ref()))
                    .map(|repo| repository(&shared, &state, repo, caller.as_ref()))
            };
            match body {
                Some(body) => Answer::ok(body, caller, "repo"),
                None => {
                    Answer::error(StatusCode::NOT_FOUND, "Not Found", "https://docs.github.com/rest/repos/repos#get-a-repository", caller)
                }
            }
        }
    };
    answer.into_response(&shared)
}

/// The query of `GET /user/repos`.
struct ListQuery {
    pairs: Vec<(String, String)>,
    per_page: usize,
    page: usize,
}

impl ListQuery {
    fn parse(query: Option<&str>) -> Self {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let number = |name: &str| pairs.iter().find(|(k, _)| k == name).and_then(|(_, v)| v.parse::<usize>().ok());
        let per_page = number("per_page").unwrap_or(30).clamp(1, 100);
        let page = number("page").unwrap_or(1).max(1);
        ListQuery { pairs, per_page, page }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The same query on another page: `page` replaced in place, or appended.
    fn url_for_page(&self, api_url: &str, path: &str, page: usize) -> String {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        let mut replaced = false;
        for (k, v) in &self.pairs {
            if k == "page" {
                if !replaced {
                    form.append_pair("page", &page.to_string());
                    replaced = true;
                }
            } else {
                form.append_pair(k, v);
            }
        }
        if !replaced {
            form.append_pair("page", &page.to_string());
        }
        format!("{api_url}{path}?{}", form.finish())
    }
}

/// GitHub's `Link` header: `<url>; rel="prev", <url>; rel="next", <url>; rel="last", <url>; rel="first"`.
fn link_header(query: &ListQuery, api_url: &str, path: &str, last: usize) -> Option<String> {
    let page = query.page;
    let mut links = Vec::new();
    if page > 1 {
        links.push((page - 1, "prev"));
    }
    if page < last {
        links.push((page + 1, "next"));
        links.push((last, "last"));
    }
    if page > 1 {
        links.push((1, "first"));
    }
    if links.is_empty() {
        return None;
    }
    Some(links.iter().map(|(p, rel)| format!("<{}>; rel=\"{rel}\"", query.url_for_page(api_url, path, *p))).collect::<Vec<_>>().join(", "))
}

/// `GET /user/repos`: the repositories the caller owns or collaborates on (private ones only with
/// the `repo` scope), filtered by `visibility`, `affiliation` or `type`, sorted by `sort` and
/// `direction`, paginated by `per_page` and `page`.
async fn list_user_repos(AxumState(shared): AxumState<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let caller = match authenticate(&shared, &headers) {
        Err(answer) => return answer.into_response(&shared),
        Ok(None) => {
            return requires_authentication("https://docs.github.com/rest/repos/repos#list-repositories-for-the-authenticated-user")
                .into_response(&shared);
        }
        Ok(Some(caller)) => caller,
    };
    let query = ListQuery::parse(query.as_deref());
    let (mut visibility, mut affiliation) = (
        query.get("visibility").unwrap_or("all").to_string(),
        query.get("affiliation").unwrap_or("owner,collaborator,organization_member").to_string(),
    );
    match query.get("type") {
        Some("owner") => affiliation = "owner".into(),
        Some("member") => affiliation = "collaborator".into(),
        Some("public") => visibility = "public".into(),
        Some("private") => visibility = "private".into(),
        _ => {}
    }
    let sort = query.get("sort").unwrap_or("full_name");
    let ascending = match query.get("direction") {
        Some("asc") => true,
        Some("desc") => false,
        _ => sort == "full_name",
    };
    let (items, total) = {
        let state = shared.lock();
        let mut repos: Vec<_> = state
            .repos()
            .filter(|repo| {
                let owner = repo.owner.eq_ignore_ascii_case(&caller.login);
                let collaborator = !owner && repo.collaborators.contains_key(&caller.login.to_ascii_lowercase());
                let affiliated = (owner && affiliation.contains("owner")) || (collaborator && affiliation.contains("collaborator"));
                let visible = match visibility.as_str() {
                    "public" => !repo.private,
                    "private" => repo.private,
                    _ => true,
                };
                affiliated && visible && State::can_see(repo, Some(&caller))
            })
            .collect();
        repos.sort_by(|a, b| {
            let order = match sort {
                "created" => a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)),
                "updated" | "pushed" => a.pushed_at.cmp(&b.pushed_at).then(a.id.cmp(&b.id)),
                _ => a.full_name().to_ascii_lowercase().cmp(&b.full_name().to_ascii_lowercase()),
            };
            if ascending { order } else { order.reverse() }
        });
        let total = repos.len();
        let items: Vec<Value> = repos
            .into_iter()
            .skip((query.page - 1).saturating_mul(query.per_page))
            .take(query.per_page)
            .map(|repo| repository(&shared, &state, repo, Some(&caller)))
            .collect();
        (items, total)
    };
    let last = total.div_ceil(query.per_page).max(1);
    let mut answer = Answer::ok(Value::Array(items), Some(caller), "");
    answer.link = link_header(&query, &shared.api_url, "/user/repos", last);
    answer.into_response(&shared)
}

const DELETE_APP_TOKEN_DOC: &str = "https://docs.github.com/rest/apps/oauth-applications#delete-an-app-token";

/// The OAuth app whose `client_id:client_secret` the request carries as Basic credentials; a 401
/// without them ("Requires authentication") or with credentials of no app ("Bad credentials").
fn authenticate_app(state: &State, headers: &HeaderMap) -> Result<String, Box<Answer>> {
    let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::trim);
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Err(Box::new(requires_authentication(DELETE_APP_TOKEN_DOC)));
    };
    let bad = || Box::new(Answer::error(StatusCode::UNAUTHORIZED, "Bad credentials", BAD_CREDENTIALS_DOC, None));
    let (scheme, encoded) = value.split_once(' ').ok_or_else(bad)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(bad());
    }
    let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, encoded.trim()).map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (client_id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    match state.apps.get(client_id) {
        Some(app) if app.client_secret == secret => Ok(app.client_id.clone()),
        _ => Err(bad()),
    }
}

/// GitHub's 422 for a token that is not one of the app's (live) tokens.
fn validation_failed() -> Answer {
    let mut answer = Answer::error(StatusCode::UNPROCESSABLE_ENTITY, "Validation Failed", DELETE_APP_TOKEN_DOC, None);
    if let Value::Object(map) = &mut answer.body {
        map.insert("errors".into(), json!([{ "resource": "OauthAccess", "field": "access_token", "code": "invalid" }]));
    }
    answer
}

/// Revokes `access_token` (JSON body) of the app `client_id` (path), authenticated as that app.
fn revoke_app_token(state: &mut State, client_id: &str, headers: &HeaderMap, body: &str) -> Answer {
    let app = match authenticate_app(state, headers) {
        Ok(app) => app,
        Err(answer) => return *answer,
    };
    if app != client_id {
        return Answer::error(StatusCode::NOT_FOUND, "Not Found", DELETE_APP_TOKEN_DOC, None);
    }
    let Ok(body) = serde_json::from_str::<Value>(body) else {
        return Answer::error(StatusCode::BAD_REQUEST, "Problems parsing JSON", DELETE_APP_TOKEN_DOC, None);
    };
    let token = body.get("access_token").and_then(Value::as_str).unwrap_or("");
    let live = state.tokens.get(token).is_some_and(|t| t.client_id.as_deref() == Some(app.as_str()) && !t.revoked);
    if !live {
        return validation_failed();
    }
    state.revoke_token(token);
    Answer::no_content()
}

/// `DELETE /applications/{client_id}/token`: "Delete an app token". Basic authentication with the
/// app's client id and secret; 204 once the token (and its refresh token) no longer works.
async fn delete_app_token(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let answer = revoke_app_token(&mut shared.lock(), &client_id, &headers, &body);
    if answer.status == StatusCode::NO_CONTENT {
        tracing::debug!(client_id, "github double: app token revoked");
    }
    answer.into_response(&shared)
}

async fn not_found_anywhere(AxumState(shared): AxumState<Arc<Shared>>, headers: HeaderMap) -> Response {
    let caller = authenticate(&shared, &headers).ok().flatten();
    Answer::error(StatusCode::NOT_FOUND, "Not Found", "https://docs.github.com/rest", caller).into_response(&shared)
}

/// The answer to every API request while a status fault is set.
pub fn fault_response(status: StatusCode) -> Response {
    let message = status.canonical_reason().unwrap_or("Server Error");
    let mut r = (status, json!({ "message": message, "status": status.as_u16().to_string() }).to_string()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_githubs_format() {
        let q = ListQuery::parse(Some("per_page=2&page=3&sort=created"));
        assert_eq!(
            link_header(&q, "http://a", "/user/repos", 5).unwrap(),
            "<http://a/user/repos?per_page=2&page=2&sort=created>; rel=\"prev\", \
             <http://a/user/repos?per_page=2&page=4&sort=created>; rel=\"next\", \
             <http://a/user/repos?per_page=2&page=5&sort=created>; rel=\"last\", \
             <http://a/user/repos?per_page=2&page=1&sort=created>; rel=\"first\""
        );
        let first = ListQuery::parse(Some("per_page=2"));
        assert_eq!(
            link_header(&first, "http://a", "/user/repos", 2).unwrap(),
            "<http://a/user/repos?per_page=2&page=2>; rel=\"next\", <http://a/user/repos?per_page=2&page=2>; rel=\"last\""
        );
        assert_eq!(link_header(&first, "http://a", "/user/repos", 1), None);
    }
}
