//! `POST /login/oauth/access_token`: authorization codes and refresh tokens for access tokens.
//!
//! As on github.com: parameters in the query, a form body or a JSON body; client credentials in
//! the parameters or HTTP Basic; the answer is JSON with `Accept: application/json`, else
//! form-urlencoded; errors are status 200 with an `error` field.

use super::Shared;
use super::oauth::{pairs, redirect_allowed};
use super::state::{CODE_LIFETIME, State};
use axum::extract::{RawQuery, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use url::Url;

const TOKEN_ERRORS: &str = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/";

/// A token request that did not succeed: GitHub's `error`, `error_description`, `error_uri`.
struct TokenError {
    error: &'static str,
    description: &'static str,
    anchor: &'static str,
}

const BAD_VERIFICATION_CODE: TokenError = TokenError {
    error: "bad_verification_code",
    description: "The code passed is incorrect or expired.",
    anchor: "#bad-verification-code",
};
const INCORRECT_CLIENT_CREDENTIALS: TokenError = TokenError {
    error: "incorrect_client_credentials",
    description: "The client_id and/or client_secret passed are incorrect.",
    anchor: "#incorrect-client-credentials",
};
const REDIRECT_URI_MISMATCH: TokenError = TokenError {
    error: "redirect_uri_mismatch",
    description: "The redirect_uri MUST match the registered callback URL for this application.",
    anchor: "#redirect-uri-mismatch2",
};
const BAD_REFRESH_TOKEN: TokenError = TokenError {
    error: "bad_refresh_token",
    description: "The refresh token passed is incorrect or expired.",
    anchor: "#bad-refresh-token",
};
const UNSUPPORTED_GRANT_TYPE: TokenError =
    TokenError { error: "unsupported_grant_type", description: "The grant type is not supported.", anchor: "#unsupported-grant-type" };

/// The request's parameters: the query's, then the body's (form or JSON), then Basic credentials
/// for `client_id`/`client_secret` if the parameters lack them.
fn parameters(headers: &HeaderMap, query: Option<&str>, body: &str) -> HashMap<String, String> {
    let mut params = query.map(pairs).unwrap_or_default();
    let is_json = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().contains("json"));
    if is_json {
        if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) {
            for (k, v) in map {
                let v = match v {
                    Value::String(s) => s,
                    Value::Null => continue,
                    other => other.to_string(),
                };
                params.insert(k, v);
            }
        }
    } else {
        params.extend(pairs(body));
    }
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok());
    if let Some((id, secret)) = basic.as_deref().and_then(|b| b.split_once(':')) {
        params.entry("client_id".into()).or_insert_with(|| id.to_string());
        params.entry("client_secret".into()).or_insert_with(|| secret.to_string());
    }
    params.retain(|_, v| !v.is_empty());
    params
}

/// base64url(SHA-256(verifier)), unpadded: the S256 challenge of a PKCE verifier.
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A granted token, as the answer lists it.
struct Grant {
    access_token: String,
    scopes: Vec<String>,
    refresh_token: Option<String>,
}

fn exchange(state: &mut State, params: &HashMap<String, String>) -> Result<Grant, TokenError> {
    let get = |name: &str| params.get(name).map(String::as_str);
    let app = get("client_id").and_then(|id| state.apps.get(id)).cloned().ok_or(INCORRECT_CLIENT_CREDENTIALS)?;
    if get("client_secret") != Some(app.client_secret.as_str()) {
        return Err(INCORRECT_CLIENT_CREDENTIALS);
    }
    match get("grant_type") {
        None | Some("authorization_code") => {
            let code_value = get("code").ok_or(BAD_VERIFICATION_CODE)?;
            let code = state.codes.get(code_value).ok_or(BAD_VERIFICATION_CODE)?;
            if code.used || code.client_id != app.client_id || code.issued.elapsed() >= CODE_LIFETIME {
                return Err(BAD_VERIFICATION_CODE);
            }
            match (&code.redirect_uri, get("redirect_uri")) {
                (Some(at_authorize), given) if given != Some(at_authorize.as_str()) => return Err(REDIRECT_URI_MISMATCH),
                (None, Some(given)) => {
                    let ok =
                        Url::parse(&app.callback_url).ok().zip(Url::parse(given).ok()).is_some_and(|(cb, r)| redirect_allowed(&cb, &r));
                    if !ok {
                        return Err(REDIRECT_URI_MISMATCH);
                    }
                }
                _ => {}
            }
            if let Some(challenge) = &code.challenge
                && get("code_verifier").map(s256).as_deref() != Some(challenge.as_str())
            {
                return Err(BAD_VERIFICATION_CODE);
            }
            let (login, scopes) = (code.login.clone(), code.scopes.clone());
            if let Some(code) = state.codes.get_mut(code_value) {
                code.used = true;
            }
            let (access_token, refresh_token) = state.issue_token(&login, scopes.clone(), Some(&app.client_id), app.expiring_tokens);
            Ok(Grant { access_token, scopes, refresh_token })
        }
        Some("refresh_token") => {
            let value = get("refresh_token").ok_or(BAD_REFRESH_TOKEN)?;
            let refresh = state.refresh_tokens.get(value).ok_or(BAD_REFRESH_TOKEN)?;
            if refresh.used || refresh.expired || Instant::now() >= refresh.expires_at || refresh.client_id != app.client_id {
                return Err(BAD_REFRESH_TOKEN);
            }
            let old = refresh.access_token.clone();
            let (login, scopes) = state.tokens.get(&old).map(|t| (t.login.clone(), t.scopes.clone())).ok_or(BAD_REFRESH_TOKEN)?;
            // "Once you use a refresh token, that refresh token and the old user access token will
            // no longer work."
            state.revoke_token(&old);
            let (access_token, refresh_token) = state.issue_token(&login, scopes.clone(), Some(&app.client_id), app.expiring_tokens);
            Ok(Grant { access_token, scopes, refresh_token })
        }
        Some(_) => Err(UNSUPPORTED_GRANT_TYPE),
    }
}

/// The answer's fields, in GitHub's (alphabetical) order.
fn fields(result: &Result<Grant, TokenError>) -> Vec<(&'static str, Value)> {
    match result {
        Ok(grant) => {
            let mut out = vec![("access_token", Value::from(grant.access_token.clone()))];
            if let Some(refresh) = &grant.refresh_token {
                out.push(("expires_in", Value::from(super::state::ACCESS_TOKEN_LIFETIME.as_secs())));
                out.push(("refresh_token", Value::from(refresh.clone())));
                out.push(("refresh_token_expires_in", Value::from(super::state::REFRESH_TOKEN_LIFETIME.as_secs())));
            }
            out.push(("scope", Value::from(grant.scopes.join(","))));
            out.push(("token_type", Value::from("bearer")));
            out
        }
        Err(e) => vec![
            ("error", Value::from(e.error)),
            ("error_description", Value::from(e.description)),
            ("error_uri", Value::from(format!("{TOKEN_ERRORS}{}", e.anchor))),
        ],
    }
}

pub async fn access_token(
    AxumState(shared): AxumState<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: String,
) -> Response {
    let params = parameters(&headers, query.as_deref(), &body);
    let result = exchange(&mut shared.lock(), &params);
    match &result {
        Ok(_) => tracing::debug!(client_id = params.get("client_id"), "github double: access token issued"),
        Err(e) => tracing::debug!(error = e.error, "github double: token request refused"),
    }
    let fields = fields(&result);
    let wants_json =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.to_ascii_lowercase().contains("application/json"));
    let (body, content_type) = if wants_json {
        let map: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        (Value::Object(map).to_string(), "application/json; charset=utf-8")
    } else {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            match v {
                Value::String(s) => form.append_pair(k, s),
                other => form.append_pair(k, &other.to_string()),
            };
        }
        (form.finish(), "application/x-www-form-urlencoded; charset=utf-8")
    };
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(super::s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }
}
