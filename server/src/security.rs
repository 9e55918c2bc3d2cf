//! Response headers that keep pages from being framed, sniffed or leaking their address, the
//! Content-Security-Policy of pages, and the refusal of requests carrying two session cookies.

use app::ssr::Settings;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;

/// The message of a request with two session cookies.
pub const DUPLICATE_SESSION: &str =
    "Your browser sent two GitBlixt session cookies (another site under the same domain set one). Clear this site's cookies and sign in again.";

/// The Content-Security-Policy of a page whose inline scripts (hydration, streamed resources)
/// carry `nonce`: scripts only from this origin or with the nonce, WebAssembly compiled from
/// them, no framing, no plugins, forms posting only here (and to GitHub, where Connect goes).
pub fn page_policy(nonce: &str, github_web_url: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self' {github_web_url}"
    )
}

/// For every other response (git, API, files): nothing may load from it as a page.
const DEFAULT_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Headers on every response unless the handler set its own.
pub fn header_layers<S: Clone + Send + Sync + 'static>(router: axum::Router<S>) -> axum::Router<S> {
    let fixed: [(HeaderName, &'static str); 4] = [
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CONTENT_SECURITY_POLICY, DEFAULT_POLICY),
    ];
    fixed.into_iter().fold(router, |router, (name, value)| {
        router.layer(SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value)))
    })
}

/// Refuses (400) a request that carries the session cookie twice: a sibling subdomain planted
/// one beside ours (cookie tossing), and choosing either could sign the user into the wrong
/// account — on `/oauth/github/callback`, connecting their GitHub account to someone else's.
pub async fn refuse_duplicate_session(State(settings): State<Arc<Settings>>, request: Request, next: Next) -> Response {
    let name = app::ssr::web::session_cookie_name(&settings);
    if app::ssr::web::cookie_count(request.headers(), name) > 1 {
        tracing::warn!(path = %request.uri().path(), "request with two session cookies refused");
        return (StatusCode::BAD_REQUEST, DUPLICATE_SESSION).into_response();
    }
    next.run(request).await
}
