//! Helpers for server functions and SSR: the state, the signed-in user, the session cookie,
//! and turning server errors into [`AppError`] (logging the cause, showing a person's message).

use super::AppState;
use super::accounts::{self, AccountError, User};
use super::db::DbError;
use super::repos::RepoError;
use crate::error::AppError;
use crate::model::CurrentUser;
use leptos::prelude::*;

pub const SESSION_COOKIE: &str = "gitblixt_session";

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
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn session_id_from_request() -> Option<String> {
    let parts = use_context::<http::request::Parts>()?;
    cookie_value(&parts.headers, SESSION_COOKIE).map(str::to_string)
}

/// The user whose session cookie is in `headers`, if any (for handlers outside Leptos too).
pub async fn user_from_headers(db: &super::db::Db, headers: &http::HeaderMap) -> Result<Option<User>, DbError> {
    let Some(id) = cookie_value(headers, SESSION_COOKIE) else { return Ok(None) };
    accounts::session_user(db, id).await
}

/// The signed-in user, if any.
pub async fn current_user() -> Result<Option<User>, AppError> {
    let Some(parts) = use_context::<http::request::Parts>() else { return Ok(None) };
    let state = state()?;
    Ok(user_from_headers(&state.db, &parts.headers).await?)
}

/// The signed-in user, or `Unauthenticated`.
pub async fn require_user() -> Result<User, AppError> {
    current_user().await?.ok_or(AppError::Unauthenticated)
}

pub fn to_current(user: &User) -> CurrentUser {
    CurrentUser { id: user.id, name: user.name.clone(), is_admin: user.is_admin, unread: 0 }
}

fn session_cookie(value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Signs a user in: a new session (a new id every time) in an HttpOnly, SameSite=Lax cookie.
/// Any session the browser presented before is ended.
pub async fn start_session(user: &User) -> Result<(), AppError> {
    let state = state()?;
    if let Some(old) = session_id_from_request() {
        accounts::delete_session(&state.db, &old).await?;
    }
    let id = accounts::create_session(&state.db, user.id).await?;
    set_cookie(&session_cookie(&id, accounts::SESSION_SECONDS, state.settings.secure_cookies));
    tracing::info!(user = %user.name, "signed in");
    Ok(())
}

/// Ends the current session and clears the cookie.
pub async fn end_session() -> Result<(), AppError> {
    let state = state()?;
    if let Some(old) = session_id_from_request() {
        accounts::delete_session(&state.db, &old).await?;
    }
    set_cookie(&session_cookie("", 0, state.settings.secure_cookies));
    Ok(())
}

fn set_cookie(value: &str) {
    if let (Some(response), Ok(value)) = (use_context::<leptos_axum::ResponseOptions>(), http::HeaderValue::from_str(value)) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}

/// Sets the HTTP status of the page being rendered (for 403/404 pages).
pub fn set_status(status: u16) {
    if let (Some(response), Ok(code)) = (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(status)) {
        response.set_status(code);
    }
}

/// Gives a server function's error answer the HTTP status it stands for (400, 401, 403, 404, 500)
/// instead of server_fn's blanket 500.
pub fn answer<T>(result: Result<T, AppError>) -> Result<T, AppError> {
    if let Err(e) = &result {
        set_status(e.status());
    }
    result
}
