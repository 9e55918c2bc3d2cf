//! The OAuth endpoints of the GitHub connection: `POST /oauth/github/connect` (from the Connected
//! Accounts page) redirects to GitHub's consent page; GitHub sends the browser back to
//! `GET /oauth/github/callback`, which completes the connection and returns to the page with the
//! outcome as a code (never free text) in the URL. Also the background token refresher.

use app::model::OAuthFailure;
use app::ssr::AppState;
use app::ssr::accounts::User;
use app::ssr::github::{CALLBACK_PATH, connection, oauth};
use app::ssr::web::user_from_headers;
use axum::{
    Router,
    extract::{Query, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use std::time::Duration;

pub const CONNECT_PATH: &str = "/oauth/github/connect";
/// The page the flow returns to.
pub const ACCOUNTS_PAGE: &str = "/settings/connected-accounts";

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route(CONNECT_PATH, post(connect))
        .route(CALLBACK_PATH, get(callback))
        .with_state(state)
}

async fn signed_in(state: &AppState, headers: &HeaderMap) -> Option<User> {
    match user_from_headers(state, headers).await {
        Ok(user) => user,
        Err(e) => {
            tracing::error!(error = %e, "session lookup failed");
            None
        }
    }
}

fn back_with(failure: OAuthFailure) -> Response {
    Redirect::to(&format!("{ACCOUNTS_PAGE}?error={}", failure.code())).into_response()
}

async fn connect(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(user) = signed_in(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    match oauth::begin(&state.github, &state.db, &state.cipher, user.id).await {
        Ok(url) => {
            tracing::info!(user = %user.name, "GitHub authorization started");
            Redirect::to(&url).into_response()
        }
        Err(oauth::FlowError::Failure(f)) => back_with(f),
        Err(e) => {
            tracing::error!(error = %e, "could not start the GitHub authorization");
            back_with(OAuthFailure::Refused)
        }
    }
}

async fn callback(State(state): State<AppState>, headers: HeaderMap, query: Result<Query<oauth::Callback>, axum::extract::rejection::QueryRejection>) -> Response {
    let Some(user) = signed_in(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let query = query.map(|Query(q)| q).unwrap_or_default();
    match oauth::complete(&state.github, &state.db, &state.cipher, user.id, &query).await {
        Ok(_) => Redirect::to(&format!("{ACCOUNTS_PAGE}?connected=github")).into_response(),
        Err(oauth::FlowError::Failure(f)) => {
            tracing::info!(user = %user.name, reason = f.code(), "GitHub connection not made");
            back_with(f)
        }
        Err(e) => {
            tracing::error!(error = %e, "completing the GitHub authorization failed");
            back_with(OAuthFailure::Refused)
        }
    }
}

/// How often expiring tokens are looked for, and how far ahead.
const REFRESH_EVERY: Duration = Duration::from_secs(10 * 60);
const REFRESH_AHEAD_SECONDS: i64 = 30 * 60;

/// Renews expiring GitHub tokens that have a refresh token, so connections stay usable even when
/// nothing uses them for a while (GitHub's user tokens live 8 hours).
pub async fn refresh_tokens_in_background(state: AppState, mailer: Option<crate::mail::Mailer>) {
    if state.github.oauth.is_none() {
        return;
    }
    let mut tick = tokio::time::interval(REFRESH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        refresh_pass(&state, mailer.as_ref()).await;
    }
}

/// One pass: renews tokens expiring within `REFRESH_AHEAD_SECONDS`, and tells each user whose
/// token could not be renewed — once per connection — before their mirrors start failing.
/// Returns how many users were told.
pub async fn refresh_pass(state: &AppState, mailer: Option<&crate::mail::Mailer>) -> usize {
    let refreshed = match connection::refresh_expiring(&state.github, &state.db, &state.cipher, REFRESH_AHEAD_SECONDS).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "background refresh of GitHub tokens failed");
            return 0;
        }
    };
    if refreshed.renewed > 0 {
        tracing::info!(renewed = refreshed.renewed, "GitHub tokens refreshed in the background");
    }
    let mut told = 0;
    for expiring in refreshed.failing {
        match app::ssr::notifications::told_since(&state.db, expiring.user_id, EXPIRING_KIND, expiring.since).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "could not check earlier notifications");
                continue;
            }
        }
        let body = format!(
            "GitBlixt could not renew your GitHub token, which expires {}. Reconnect GitHub under Settings → Connected Accounts so your mirrors keep working.",
            app::format::date_time(expiring.expires_at)
        );
        let new = app::ssr::notifications::New {
            user_id: expiring.user_id,
            repository_id: None,
            mirror_id: None,
            kind: EXPIRING_KIND,
            title: "Your GitHub connection is about to expire",
            body: &body,
            link: ACCOUNTS_PAGE,
        };
        match app::ssr::notifications::create(&state.db, &new).await {
            Ok(_) => told += 1,
            Err(e) => tracing::error!(error = %e, "could not store a notification"),
        }
        if let (Some(mailer), Ok(Some(to))) = (mailer, app::ssr::notifications::email_of(&state.db, expiring.user_id).await) {
            mailer.send(&to, new.title, &body, ACCOUNTS_PAGE);
        }
    }
    told
}

/// The notification kind of a GitHub connection about to expire.
pub const EXPIRING_KIND: &str = "github.expiring";
