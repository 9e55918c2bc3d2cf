//! Helpers for server functions and SSR: the state, the signed-in user, the session cookie,
//! and turning server errors into [`AppError`] (logging the cause, showing a person's message).

use super::AppState;
use super::accounts::{self, AccountError, User};
use super::db::DbError;
use super::repos::RepoError;
use crate::error::AppError;
use crate::model::CurrentUser;
use leptos::prelude::*;

/// The session cookie's name on an http instance.
pub const SESSION_COOKIE: &str = "gitblixt_session";
/// Its name on an https instance: browsers accept a `__Host-` cookie only from the host itself
/// (`Secure`, `Path=/`, no `Domain`), so a sibling subdomain cannot plant one (cookie tossing).
pub const SECURE_SESSION_COOKIE: &str = "__Host-gitblixt_session";

/// The session cookie's name for this instance.
pub fn session_cookie_name(settings: &super::Settings) -> &'static str {
    if settings.secure_cookies { SECURE_SESSION_COOKIE } else { SESSION_COOKIE }
}

/// How many cookies named `name` the request carries. A browser sends two when another site on
/// a parent domain planted one beside ours; such a request is refused, never guessed at.
pub fn cookie_count(headers: &http::HeaderMap, name: &str) -> usize {
    cookie_pairs(headers).filter(|(k, _)| *k == name).count()
}

fn cookie_pairs(headers: &http::HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
}

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from the Leptos context");
        AppError::Internal
    })
}

/// Logs an unexpected error with its cause chain and returns the generic message.
pub fn internal(context: &str, err: impl std::fmt::Display) -> AppError {
    tracing::error!(error = %err, "{context}");
    AppError::Internal
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        internal("database error", e)
    }
}

impl From<super::guard::Refusal> for AppError {
    fn from(r: super::guard::Refusal) -> Self {
        match r {
            super::guard::Refusal::Limited(_) => AppError::TooManyAttempts(r.retry_after()),
            super::guard::Refusal::Busy => AppError::Busy,
        }
    }
}

impl From<super::guard::GuardError> for AppError {
    fn from(e: super::guard::GuardError) -> Self {
        match e {
            super::guard::GuardError::Refused(r) => r.into(),
            super::guard::GuardError::Account(a) => a.into(),
        }
    }
}

/// The client's address (see [`super::guard::ClientIp`]), if the server recorded it.
pub fn client_ip() -> Option<std::net::IpAddr> {
    let parts = use_context::<http::request::Parts>()?;
    parts.extensions.get::<super::guard::ClientIp>().map(|c| c.0)
}

impl From<AccountError> for AppError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid(msg) => AppError::Invalid(msg),
            e @ AccountError::NameTaken(_) => AppError::Invalid(e.to_string()),
            other => internal("account error", other),
        }
    }
}

impl From<RepoError> for AppError {
    fn from(e: RepoError) -> Self {
        match e {
            RepoError::Invalid(msg) => AppError::Invalid(msg),
            e @ RepoError::Exists(_) => AppError::Invalid(e.to_string()),
            other => internal("repository error", other),
        }
    }
}

/// The value of a cookie in a `Cookie` request header.
pub fn cookie_value<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    cookie_pairs(headers).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The session id the request presents: only from a request with exactly one session cookie
/// (the server refuses the others before they get here; see `server::session_guard`).
pub fn session_id(settings: &super::Settings, headers: &http::HeaderMap) -> Option<String> {
    let name = session_cookie_name(settings);
    if cookie_count(headers, name) != 1 {
        return None;
    }
    cookie_value(headers, name).map(str::to_string)
}

/// The session id of the request being served, if it has one.
pub fn current_session_id() -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    let state = use_context::<AppState>()?;
    session_id(&state.settings, &parts.headers)
}

/// The user whose session cookie is in `headers`, if any (for handlers outside Leptos too).
pub async fn user_from_headers(state: &AppState, headers: &http::HeaderMap) -> Result<Option<User>, DbError> {
    let Some(id) = session_id(&state.settings, headers) else { return Ok(None) };
    accounts::session_user(&state.db, &id).await
}

/// The signed-in user, if any.
pub async fn current_user() -> Result<Option<User>, AppError> {
    let Some(parts) = use_context::<http::request::Parts>() else { return Ok(None) };
    let state = state()?;
    Ok(user_from_headers(&state, &parts.headers).await?)
}

/// The signed-in user, or `Unauthenticated`.
pub async fn require_user() -> Result<User, AppError> {
    current_user().await?.ok_or(AppError::Unauthenticated)
}

pub fn to_current(user: &User) -> CurrentUser {
    CurrentUser { id: user.id, name: user.name.clone(), is_admin: user.is_admin, unread: 0 }
}

fn session_cookie(settings: &super::Settings, value: &str, max_age: i64) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        session_cookie_name(settings),
        if settings.secure_cookies { "; Secure" } else { "" }
    )
}

/// Signs a user in: a new session (a new id every time) in an HttpOnly, SameSite=Lax cookie.
/// Any session the browser presented before is ended.
pub async fn start_session(user: &User) -> Result<(), AppError> {
    let state = state()?;
    if let Some(old) = current_session_id() {
        accounts::delete_session(&state.db, &old).await?;
    }
    let id = accounts::create_session_from(&state.db, user.id, &session_origin()).await?;
    set_cookie(&session_cookie(&state.settings, &id, accounts::SESSION_SECONDS));
    tracing::info!(user = %user.name, "signed in");
    Ok(())
}

/// The browser and address of the request, for the Sessions page.
fn session_origin() -> accounts::SessionOrigin {
    let user_agent = use_context::<http::request::Parts>()
        .and_then(|p| p.headers.get(http::header::USER_AGENT).and_then(|v| v.to_str().ok()).map(str::to_string));
    accounts::SessionOrigin { user_agent, ip: client_ip().map(|ip| ip.to_string()) }
}

/// Ends the current session and clears the cookie.
pub async fn end_session() -> Result<(), AppError> {
    let state = state()?;
    if let Some(old) = current_session_id() {
        accounts::delete_session(&state.db, &old).await?;
    }
    set_cookie(&session_cookie(&state.settings, "", 0));
    Ok(())
}

fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(value)) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

/// Sets the HTTP status of the page being rendered (for 403/404 pages) or of a server function's
/// answer — except the answer to a plain HTML form (a page without the wasm, see
/// `crate::bundles`): that one must stay the redirect back to the form, which carries the error.
pub fn set_status(status: u16) {
    if is_plain_form_post() {
        return;
    }
    if let (Some(response), Ok(code)) = (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(status)) {
        response.set_status(code);
    }
}

/// Whether the request being answered is an HTML form posted to a server function by the browser
/// itself (it accepts HTML; the server function client asks for its encoding instead).
fn is_plain_form_post() -> bool {
    use_context::<http::request::Parts>().is_some_and(|parts| {
        let accepts_html = parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        parts.method == http::Method::POST && parts.uri.path().starts_with(SERVER_FN_PREFIX) && accepts_html
    })
}

/// For a form posted without the wasm (see `crate::bundles`) to the server function `S` that
/// failed: sends the browser back to the form's `page` with the error (as leptos does, `__path`
/// and `__err`) and `keep`, the fields the page fills in again (never a password), so a typo
/// costs one field, not the form.
pub fn back_to_form<S: server_fn::ServerFn, T>(result: Result<T, AppError>, page: &str, keep: &[(&str, String)]) -> Result<T, AppError> {
    let Err(error) = &result else { return result };
    if !is_plain_form_post() {
        return result;
    }
    // Only the path and query are kept: the host is whatever the browser used.
    match server_fn::error::ServerFnUrlError::new(S::PATH, error.clone()).to_url(&format!("http://page.invalid{page}")) {
        Ok(mut url) => {
            url.query_pairs_mut().extend_pairs(keep);
            let location = format!("{}?{}", url.path(), url.query().unwrap_or_default());
            if let (Some(response), Ok(value)) = (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(&location)) {
                response.insert_header(http::header::LOCATION, value);
            }
        }
        Err(e) => tracing::warn!(error = %e, page, "could not build the address back to a form"),
    }
    result
}

/// Where server functions are served (`#[server]`'s default prefix).
const SERVER_FN_PREFIX: &str = "/api/";

/// Gives a server function's error answer the HTTP status it stands for (400, 401, 403, 404, 500)
/// instead of server_fn's blanket 500.
pub fn answer<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        set_status(e.status());
        if let (Some(seconds), Some(response)) = (e.retry_after(), use_context::<leptos_axum::ResponseOptions>()) {
            response.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds));
        }
    }
    result
}
