//! The double's plain web pages: the HTML frame, the 404 page, avatars, and minimal user and
//! repository pages (what `html_url` and `avatar_url` point at).

use super::state::State;
use super::{Shared, escape_html};
use axum::Router;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use std::sync::Arc;

pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/avatars/u/{id}", get(avatar)).route("/{owner}", get(user_page)).route("/{owner}/{repo}", get(repo_page))
}

/// A complete HTML page around `body` (already escaped).
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} · GitHub double</title>\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1f2328}}\
         .box{{border:1px solid #d0d7de;border-radius:6px;padding:1rem 1.25rem}}\
         button{{font:inherit;padding:.35rem 1rem;border-radius:6px;border:1px solid #d0d7de;background:#f6f8fa;cursor:pointer}}\
         button.primary{{background:#1f883d;color:#fff;border-color:#1a7f37}}\
         input[type=text]{{font:inherit;width:100%;box-sizing:border-box;padding:.35rem;margin:.25rem 0 1rem}}\
         .error{{color:#d1242f}} code{{background:#f6f8fa;padding:0 .25rem}}</style></head>\
         <body>{body}</body></html>\n",
        title = escape_html(title),
    );
    (status, Html(html)).into_response()
}

pub fn not_found() -> Response {
    page(StatusCode::NOT_FOUND, "Page not found", "<h1>404</h1><p>This is not the web page you are looking for.</p>")
}

/// A generated SVG avatar: the user's initial on a colour of its id.
async fn avatar(AxumState(shared): AxumState<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else { return not_found() };
    let initial = {
        let state = shared.lock();
        let Some(login) = state.login_by_id(id) else { return not_found() };
        login.chars().next().map(|c| c.to_ascii_uppercase()).unwrap_or('?')
    };
    let hue = (id * 47) % 360;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"96\" height=\"96\" viewBox=\"0 0 96 96\">\
         <rect width=\"96\" height=\"96\" fill=\"hsl({hue},55%,55%)\"/>\
         <text x=\"48\" y=\"64\" font-size=\"48\" font-family=\"sans-serif\" text-anchor=\"middle\" fill=\"#fff\">{}</text></svg>",
        escape_html(&initial.to_string())
    );
    let mut r = svg.into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    r
}

async fn user_page(AxumState(shared): AxumState<Arc<Shared>>, Path(owner): Path<String>) -> Response {
    let state = shared.lock();
    let Some(user) = state.user(&owner) else { return not_found() };
    let mut repos: Vec<String> = state
        .repos()
        .filter(|r| r.owner.eq_ignore_ascii_case(&user.login) && !r.private)
        .map(|r| format!("<li><a href=\"/{0}\">{0}</a></li>", escape_html(&r.full_name())))
        .collect();
    repos.sort();
    let body = format!("<h1>{}</h1><h2>Public repositories</h2><ul>{}</ul>", escape_html(&user.login), repos.concat());
    page(StatusCode::OK, &user.login, &body)
}

/// The repository's page, for who may see it (the signed-in browser user for a private one).
async fn repo_page(
    AxumState(shared): AxumState<Arc<Shared>>,
    Path((owner, repo)): Path<(String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    let (full_name, private, path) = {
        let state = shared.lock();
        let Some(r) = state.repo(&owner, &repo) else { return not_found() };
        if r.private {
            let viewer = state.signed_in(super::oauth::session_cookie(&headers).as_deref());
            if !viewer.is_some_and(|login| State::access(r, &login).pull) {
                return not_found();
            }
        }
        (r.full_name(), r.private, shared.repo_path(&owner, &repo))
    };
    let refs = super::git::refs(&path).unwrap_or_default();
    let list: String = refs.iter().map(|(name, id)| format!("<li><code>{}</code> {}</li>", escape_html(name), escape_html(id))).collect();
    let body = format!(
        "<h1>{}</h1><p>{}</p><p>Clone: <code>{}/{}.git</code></p><ul>{}</ul>",
        escape_html(&full_name),
        if private { "Private" } else { "Public" },
        escape_html(&shared.web_url),
        escape_html(&full_name),
        if list.is_empty() { "<li>This repository is empty.</li>".to_string() } else { list },
    );
    page(StatusCode::OK, &full_name, &body)
}
