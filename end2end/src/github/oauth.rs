//! The OAuth web application flow on the web origin, as docs.github.com ("Authorizing OAuth apps")
//! describes it: `GET /login/oauth/authorize` (sign-in form, consent page), its form's
//! `POST /login/oauth/authorize`, and the token endpoint `POST /login/oauth/access_token`.

use super::pages::page;
use super::state::{CODE_LIFETIME, Code, parse_scopes, random_alphanumeric, random_hex};
use super::{OAuthApp, Shared, escape_html, token};
use axum::Router;
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use url::Url;

const SESSION_COOKIE: &str = "_gh_double_session";
const AUTHORIZE_ERRORS: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/";

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/login/oauth/authorize", get(authorize_page).post(authorize_submit))
        .route("/login/oauth/access_token", post(token::access_token))
        .route("/session", post(sign_in))
}

/// Name/value pairs of a query string or form body; the first occurrence of a name wins.
pub fn pairs(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(s.as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// The double's sign-in cookie, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// A valid authorization request.
struct AuthorizeRequest {
    app: OAuthApp,
    /// Where to send the user back: `redirect_uri`, else the app's callback URL.
    target: Url,
    /// The parameters to carry through the consent form (only those given).
    carried: Vec<(&'static str, String)>,
    redirect_uri: Option<String>,
    scopes: Vec<String>,
    state: Option<String>,
    challenge: Option<String>,
}

/// A 302 to `target` with `pairs` (and `state`, if any) added to its query.
fn redirect_with(target: &Url, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    let mut url = target.clone();
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
    }
    redirect(url.as_str())
}

pub fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(header::LOCATION, value);
            r
        }
        Err(_) => (StatusCode::BAD_REQUEST, "bad redirect").into_response(),
    }
}

/// Whether `redirect` may stand for `callback`: same scheme; same host or a subdomain of it; same
/// port (except for a loopback callback URL without a port, which admits any port, as GitHub's
/// "Loopback redirect urls" allow); a path equal to the callback's or below it.
pub fn redirect_allowed(callback: &Url, redirect: &Url) -> bool {
    let (Some(ch), Some(rh)) = (callback.host_str(), redirect.host_str()) else { return false };
    let is_domain = matches!(callback.host(), Some(url::Host::Domain(_)));
    let host_ok = ch.eq_ignore_ascii_case(rh) || (is_domain && rh.to_ascii_lowercase().ends_with(&format!(".{}", ch.to_ascii_lowercase())));
    let loopback = matches!(ch, "127.0.0.1" | "localhost" | "[::1]");
    let port_ok = (loopback && callback.port().is_none()) || callback.port_or_known_default() == redirect.port_or_known_default();
    let (cp, rp) = (callback.path(), redirect.path());
    let path_ok = rp == cp || if cp.ends_with('/') { rp.starts_with(cp) } else { rp.starts_with(&format!("{cp}/")) };
    callback.scheme() == redirect.scheme() && host_ok && port_ok && path_ok
}

/// Checks an authorization request; a rejection is the response to send (an error page, or a
/// redirect with an `error` to the app).
fn check(shared: &Shared, params: &HashMap<String, String>) -> Result<AuthorizeRequest, Box<Response>> {
    let given = |name: &str| params.get(name).filter(|v| !v.is_empty()).cloned();
    let app = given("client_id").and_then(|id| shared.lock().apps.get(&id).cloned()).ok_or_else(|| {
        Box::new(page(StatusCode::NOT_FOUND, "Page not found", "<h1>404</h1><p>No OAuth application has this client ID.</p>"))
    })?;
    let callback = Url::parse(&app.callback_url).map_err(|_| {
        Box::new(page(StatusCode::NOT_FOUND, "Page not found", "<h1>404</h1><p>The application's callback URL is not a URL.</p>"))
    })?;
    let state = given("state");
    let redirect_uri = given("redirect_uri");
    let target = match &redirect_uri {
        None => callback.clone(),
        Some(r) => match Url::parse(r) {
            Ok(url) if redirect_allowed(&callback, &url) => url,
            _ => {
                let uri = format!("{AUTHORIZE_ERRORS}#redirect-uri-mismatch");
                let pairs = [
                    ("error", "redirect_uri_mismatch"),
                    ("error_description", "The redirect_uri is not associated with this application."),
                    ("error_uri", uri.as_str()),
                ];
                return Err(Box::new(redirect_with(&callback, &pairs, state.as_deref())));
            }
        },
    };
    let challenge = given("code_challenge");
    let method = given("code_challenge_method");
    let pkce_error = match (&challenge, method.as_deref()) {
        (None, None) | (Some(_), Some("S256")) => None,
        (None, Some(_)) => Some("code_challenge is required when code_challenge_method is given."),
        (Some(_), None) => Some("code_challenge_method is required; only S256 is supported."),
        (Some(_), Some(_)) => Some("Only the S256 code_challenge_method is supported."),
    };
    if let Some(description) = pkce_error {
        return Err(Box::new(redirect_with(
            &target,
            &[("error", "invalid_request"), ("error_description", description)],
            state.as_deref(),
        )));
    }
    let mut carried = Vec::new();
    for name in ["client_id", "redirect_uri", "scope", "state", "code_challenge", "code_challenge_method"] {
        if let Some(v) = given(name) {
            carried.push((name, v));
        }
    }
    let scopes = parse_scopes(params.get("scope").map(String::as_str).unwrap_or(""));
    Ok(AuthorizeRequest { app, target, carried, redirect_uri, scopes, state, challenge })
}

/// `GET /login/oauth/authorize`: the sign-in form, or the consent page.
async fn authorize_page(AxumState(shared): AxumState<Arc<Shared>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let params = pairs(&query);
    let request = match check(&shared, &params) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let login = shared.lock().signed_in(session_cookie(&headers).as_deref());
    match login {
        None => sign_in_page(&format!("/login/oauth/authorize?{query}"), params.get("login").map(String::as_str).unwrap_or(""), None),
        Some(login) => consent_page(&request, &login),
    }
}

fn scope_description(scope: &str) -> &'static str {
    match scope {
        "repo" => "Full control of private repositories",
        "public_repo" => "Access public repositories",
        "repo:status" => "Access commit status",
        "read:user" => "Read all user profile data",
        "user:email" => "Access user email addresses (read-only)",
        "user" => "Update all user data",
        "read:org" => "Read org and team membership, read org projects",
        "workflow" => "Update GitHub Action workflows",
        "gist" => "Create gists",
        "delete_repo" => "Delete repositories",
        _ => "",
    }
}

fn consent_page(request: &AuthorizeRequest, login: &str) -> Response {
    let name = escape_html(&request.app.name);
    let scopes: String = if request.scopes.is_empty() {
        "<li>Public information (read-only)</li>".to_string()
    } else {
        request.scopes.iter().map(|s| format!("<li><code>{}</code> {}</li>", escape_html(s), escape_html(scope_description(s)))).collect()
    };
    let hidden: String =
        request.carried.iter().map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", escape_html(v))).collect();
    let body = format!(
        "<h1>Authorize {name}</h1><div class=\"box\">\
         <p><strong>{name}</strong> wants to access your <strong>{login}</strong> account.</p>\
         <ul>{scopes}</ul>\
         <form method=\"post\" action=\"/login/oauth/authorize\">{hidden}\
         <button type=\"submit\" name=\"authorize\" value=\"0\">Cancel</button> \
         <button type=\"submit\" name=\"authorize\" value=\"1\" class=\"primary\">Authorize</button></form>\
         <p>Authorizing will redirect to <strong>{origin}</strong></p></div>\
         <p>Signed in as <strong>{login}</strong></p>",
        login = escape_html(login),
        origin = escape_html(&request.target.origin().ascii_serialization()),
    );
    page(StatusCode::OK, &format!("Authorize {}", request.app.name), &body)
}

fn sign_in_page(return_to: &str, login: &str, error: Option<&str>) -> Response {
    let error = error.map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape_html(e))).unwrap_or_default();
    let body = format!(
        "<h1>Sign in to GitHub</h1>{error}<div class=\"box\"><form method=\"post\" action=\"/session\">\
         <label for=\"login_field\">Username or email address</label>\
         <input type=\"text\" name=\"login\" id=\"login_field\" value=\"{login}\" autocapitalize=\"off\" autofocus>\
         <input type=\"hidden\" name=\"return_to\" value=\"{return_to}\">\
         <button type=\"submit\" class=\"primary\">Sign in</button></form></div>",
        login = escape_html(login),
        return_to = escape_html(return_to),
    );
    page(StatusCode::OK, "Sign in to GitHub", &body)
}

/// `POST /session`: the sign-in form. Known login (or `login@…`) -> a session cookie and back to
/// `return_to`.
async fn sign_in(AxumState(shared): AxumState<Arc<Shared>>, body: String) -> Response {
    let fields = pairs(&body);
    let given = fields.get("login").map(|s| s.trim()).unwrap_or("");
    let login = given.split_once('@').map(|(local, _)| local).unwrap_or(given);
    let return_to = fields
        .get("return_to")
        .filter(|r| r.starts_with('/') && !r.starts_with("//") && !r.contains('\\'))
        .cloned()
        .unwrap_or_else(|| "/".to_string());
    let known = {
        let mut state = shared.lock();
        match state.user(login).map(|u| u.login.to_ascii_lowercase()) {
            Some(login) => {
                let session = random_alphanumeric(32);
                state.sessions.insert(session.clone(), login);
                Some(session)
            }
            None => None,
        }
    };
    let Some(session) = known else {
        return sign_in_page(&return_to, given, Some("Incorrect username or password."));
    };
    let mut response = redirect(&return_to);
    let cookie = format!("{SESSION_COOKIE}={session}; Path=/; HttpOnly; SameSite=Lax");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// `POST /login/oauth/authorize`: the consent form's answer.
async fn authorize_submit(AxumState(shared): AxumState<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    let fields = pairs(&body);
    let request = match check(&shared, &fields) {
        Ok(r) => r,
        Err(response) => return *response,
    };
    let mut state = shared.lock();
    let Some(login) = state.signed_in(session_cookie(&headers).as_deref()) else {
        drop(state);
        let query =
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(request.carried.iter().map(|(k, v)| (*k, v))).finish();
        return sign_in_page(&format!("/login/oauth/authorize?{query}"), "", None);
    };
    if fields.get("authorize").map(String::as_str) != Some("1") {
        drop(state);
        let uri = format!("{AUTHORIZE_ERRORS}#access-denied");
        let pairs = [
            ("error", "access_denied"),
            ("error_description", "The user has denied your application access."),
            ("error_uri", uri.as_str()),
        ];
        return redirect_with(&request.target, &pairs, request.state.as_deref());
    }
    let code = random_hex(10);
    state.codes.insert(
        code.clone(),
        Code {
            client_id: request.app.client_id.clone(),
            login: login.clone(),
            scopes: request.scopes.clone(),
            redirect_uri: request.redirect_uri.clone(),
            challenge: request.challenge.clone(),
            issued: Instant::now(),
            used: false,
        },
    );
    state.codes.retain(|_, c| !c.used && c.issued.elapsed() < CODE_LIFETIME);
    drop(state);
    tracing::debug!(login, client_id = request.app.client_id, "github double: authorization code issued");
    redirect_with(&request.target, &[("code", &code)], request.state.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(callback: &str, redirect: &str) -> bool {
        redirect_allowed(&Url::parse(callback).unwrap(), &Url::parse(redirect).unwrap())
    }

    #[test]
    fn redirect_uri_rules_follow_githubs_examples() {
        let cb = "http://example.com/path";
        assert!(allowed(cb, "http://example.com/path"));
        assert!(allowed(cb, "http://example.com/path/subdir/other"));
        assert!(allowed(cb, "http://oauth.example.com/path"));
        assert!(!allowed(cb, "http://example.com/bar"));
        assert!(!allowed(cb, "http://example.com/"));
        assert!(!allowed(cb, "http://example.com:8080/path"));
        assert!(!allowed(cb, "http://oauth.example.com:8080/path"));
        assert!(!allowed(cb, "http://example.org"));
        assert!(!allowed(cb, "https://example.com/path"));
        assert!(!allowed(cb, "http://example.com/pathology"));
        assert!(!allowed(cb, "http://example.com/path/../bar"));
        // A loopback callback without a port admits any port; with a port, only that one.
        assert!(allowed("http://127.0.0.1/path", "http://127.0.0.1:1234/path"));
        assert!(allowed("http://127.0.0.1:4000/cb", "http://127.0.0.1:4000/cb/x"));
        assert!(!allowed("http://127.0.0.1:4000/cb", "http://127.0.0.1:4001/cb"));
        assert!(!allowed("http://127.0.0.1:4000/cb", "http://localhost:4000/cb"));
    }
}
