//! Response headers that keep pages from being framed, sniffed or leaking their address, the
//! Content-Security-Policy of pages, and the refusal of requests carrying two session cookies.

use app::ssr::Settings;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use app::ssr::guard::ClientIp;
use axum::extract::ConnectInfo;
use std::net::{IpAddr, SocketAddr};
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

/// Records the client's address in the request's extensions ([`ClientIp`]): the peer's, or —
/// when the peer is one of `trusted` proxies — the last address of `X-Forwarded-For` that is not
/// a trusted proxy itself (the one the outermost trusted proxy saw).
pub async fn client_ip(State(trusted): State<Arc<Vec<IpAddr>>>, mut request: Request, next: Next) -> Response {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(peer) = peer {
        let ip = if trusted.contains(&peer) { forwarded_client(request.headers(), &trusted).unwrap_or(peer) } else { peer };
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

fn forwarded_client(headers: &axum::http::HeaderMap, trusted: &[IpAddr]) -> Option<IpAddr> {
    let hops: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|h| h.trim().parse().ok())
        .collect();
    hops.into_iter().rev().find(|ip| !trusted.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_behind_trusted_proxies_is_the_last_untrusted_hop() {
        let mut h = axum::http::HeaderMap::new();
        h.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.0.0.2".parse().unwrap());
        let trusted: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap()];
        // 203.0.113.9 is what the client claimed; 198.51.100.7 is who reached our proxy.
        assert_eq!(forwarded_client(&h, &trusted), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(forwarded_client(&axum::http::HeaderMap::new(), &trusted), None);
    }
}
