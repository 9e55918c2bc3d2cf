//! Cross-site request refusal: a state-changing request from a browser, and every live socket,
//! must come from one of this instance's origins ([`Settings::allowed_origins`]: the public URL's,
//! `GITBLIXT_ALLOWED_ORIGINS`). The request's `Host` is never trusted for this: a DNS-rebinding
//! page names its own host there, and a proxy may rewrite it. (Session cookies are SameSite=Lax
//! as well; this closes the remaining gaps.)

use app::ssr::Settings;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// `scheme://host[:port]` of a URL, lower-cased, with the scheme's default port left out; None
/// if it is not an http(s) URL.
pub fn origin_of(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    let (scheme, rest) = lower.split_once("://")?;
    let default_port = match scheme {
        "http" => ":80",
        "https" => ":443",
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let authority = authority.strip_suffix(default_port).unwrap_or(authority);
    Some(format!("{scheme}://{authority}"))
}

/// The origins an instance answers to: its public URL's, the extra ones configured, and — for
/// an instance on a loopback address without a configured public URL — the `localhost` and
/// `127.0.0.1` spellings of it, so the README's address works whichever a user types.
pub fn allowed_origins(public_url: &str, configured_public_url: bool, extra: &[String]) -> Vec<String> {
    let mut origins: Vec<String> = origin_of(public_url).into_iter().collect();
    if !configured_public_url {
        if let Some(port) = public_url.rsplit_once(':').map(|(_, p)| p.to_string()) {
            let loopback = ["127.0.0.1", "localhost", "[::1]"];
            if loopback.iter().any(|h| public_url == format!("http://{h}:{port}")) {
                origins.extend(loopback.iter().map(|h| format!("http://{h}:{port}")));
            }
        }
    }
    origins.extend(extra.iter().filter_map(|o| origin_of(o)));
    origins.sort();
    origins.dedup();
    origins
}

/// Whether `headers` carry an `Origin` that is one of the instance's (browsers always send one
/// with a websocket upgrade; a missing one is refused there).
pub fn is_allowed_origin(settings: &Settings, headers: &HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    origin.is_some_and(|o| origin_permitted(settings, o))
}

fn origin_permitted(settings: &Settings, origin: &str) -> bool {
    origin != "null" && origin_of(origin).is_some_and(|o| settings.allowed_origins.contains(&o))
}

/// Refuses POST/PUT/PATCH/DELETE whose `Origin` is not one of the instance's. Requests without
/// `Origin` (git, API clients) pass: they carry no ambient browser credentials.
pub async fn check_origin(State(settings): State<Arc<Settings>>, request: Request, next: Next) -> Response {
    let state_changing = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if state_changing {
        if let Some(origin) = request.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            if !origin_permitted(&settings, origin) {
                tracing::warn!(origin, path = %request.uri().path(), "cross-origin request refused");
                return (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response();
            }
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        assert_eq!(origin_of("HTTPS://Git.Example.com:443/x").as_deref(), Some("https://git.example.com"));
        assert_eq!(origin_of("http://127.0.0.1:3000").as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(origin_of("ftp://x"), None);
        assert_eq!(origin_of("http://u@x"), None);
    }

    #[test]
    fn loopback_instances_answer_to_localhost_too() {
        let o = allowed_origins("http://127.0.0.1:3000", false, &[]);
        assert!(o.contains(&"http://localhost:3000".to_string()) && o.contains(&"http://127.0.0.1:3000".to_string()));
        let o = allowed_origins("https://git.example.com", true, &["https://git.example.org".into()]);
        assert_eq!(o, ["https://git.example.com", "https://git.example.org"]);
        // A configured public URL on loopback is taken as it is.
        assert_eq!(allowed_origins("http://127.0.0.1:3000", true, &[]), ["http://127.0.0.1:3000"]);
    }
}
