//! Cross-site request refusal: a state-changing request from a browser must come from our own
//! origin. (Session cookies are SameSite=Lax as well; this closes the remaining gaps.)

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

fn host_of_origin(origin: &str) -> Option<&str> {
    let rest = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"))?;
    Some(rest.split('/').next().unwrap_or(rest))
}

/// Whether `headers` carry an `Origin` naming the request's own host (browsers always send one
/// with a websocket upgrade; a missing one is refused there).
pub fn is_same_origin(headers: &axum::http::HeaderMap) -> bool {
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    matches!((origin, host), (Some(o), Some(h)) if o != "null" && host_of_origin(o) == Some(h))
}

/// Refuses POST/PUT/PATCH/DELETE whose `Origin` names another host than the request's `Host`.
/// Requests without `Origin` (git, API clients) pass: they carry no ambient browser credentials.
pub async fn check_origin(request: Request, next: Next) -> Response {
    let state_changing = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    if state_changing {
        let headers = request.headers();
        if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
            if origin == "null" || host_of_origin(origin) != host {
                tracing::warn!(origin, host = host.unwrap_or(""), path = %request.uri().path(), "cross-origin request refused");
                return (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response();
            }
        }
    }
    next.run(request).await
}
