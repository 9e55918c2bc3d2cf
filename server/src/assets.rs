//! The compiled site — the hydrate wasm, its JS glue, the CSS (under `pkg/`, names carrying a
//! content hash) and the public files — as `frontend/build-site.sh` leaves it in `target/site`.
//!
//! Release builds embed it in the binary, so `gitblixt serve` runs from any directory with nothing
//! beside it; debug builds read `target/site` at run time, so a rebuilt site needs no server rebuild.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

#[derive(rust_embed::Embed)]
#[folder = "../target/site/"]
#[allow_missing = true]
struct Site;

/// Where hashed assets live; their names change whenever their content does.
pub const PKG_DIR: &str = "pkg";

/// The name the site build gave the bundle (`gitblixt-<hash>`, see `app::bundles`): from its
/// `pkg/*.js`. `None` when the site was not built (the pages then render without their script).
pub fn bundle_name() -> Option<String> {
    Site::iter().find_map(|path| {
        let name = path.strip_prefix("pkg/gitblixt-")?.strip_suffix(".js")?;
        (!name.contains('/')).then(|| format!("gitblixt-{name}"))
    })
}

/// The file at `path` (relative to the site root) as a response, gzip-compressed when the client
/// accepts it and a `.gz` twin exists; `None` when there is no such file.
pub fn response(path: &str, request_headers: &HeaderMap) -> Option<Response> {
    let path = path.trim_start_matches('/');
    // Only plain relative names: debug builds read these from the disk.
    let odd_segment = path.split('/').any(|s| s.is_empty() || s == "." || s == "..");
    if path.is_empty() || path.ends_with(".gz") || path.contains('\\') || odd_segment {
        return None;
    }
    let file = Site::get(path)?;
    let etag = format!("\"{}\"", hex_prefix(&file.metadata.sha256_hash()));
    let mut response = if if_none_match(request_headers, &etag) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        match Site::get(&format!("{path}.gz")).filter(|_| accepts_gzip(request_headers)) {
            Some(gz) => {
                let mut r = Response::new(body(gz.data));
                r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            None => Response::new(body(file.data)),
        }
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache_control(path)));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, v);
    }
    Some(response)
}

/// A static slice (release: embedded) is sent without copying.
fn body(data: std::borrow::Cow<'static, [u8]>) -> Body {
    match data {
        std::borrow::Cow::Borrowed(bytes) => Body::from(bytes::Bytes::from_static(bytes)),
        std::borrow::Cow::Owned(bytes) => Body::from(bytes),
    }
}

/// Hashed names never change content: browsers keep them for a year without asking again.
/// Other public files (favicon, robots.txt) are revalidated after an hour.
fn cache_control(path: &str) -> &'static str {
    if path.starts_with("pkg/") { "public, max-age=31536000, immutable" } else { "public, max-age=3600" }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| matches!(p.trim().strip_prefix("q="), Some(q) if q.trim().parse::<f32>().is_ok_and(|q| q == 0.0)));
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn gzip_is_sent_only_when_accepted() {
        assert!(accepts_gzip(&with("accept-encoding", "gzip, deflate, br")));
        assert!(accepts_gzip(&with("accept-encoding", "br;q=1.0, gzip;q=0.8")));
        assert!(!accepts_gzip(&with("accept-encoding", "gzip;q=0")));
        assert!(!accepts_gzip(&with("accept-encoding", "br")));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn only_plain_names_are_looked_up() {
        let none = HeaderMap::new();
        for path in ["/", "/../Cargo.toml", "/pkg/../../server/Cargo.toml", "/pkg//x.js", "/./favicon.svg", "/favicon.svg.gz", "/a\\b"] {
            assert!(response(path, &none).is_none(), "{path}");
        }
    }

    #[test]
    fn hashed_assets_are_immutable() {
        assert_eq!(cache_control("pkg/gitblixt-0123abcd_bg.wasm"), "public, max-age=31536000, immutable");
        assert_eq!(cache_control("favicon.ico"), "public, max-age=3600");
        assert_eq!(content_type("pkg/x.wasm"), "application/wasm");
    }
}
