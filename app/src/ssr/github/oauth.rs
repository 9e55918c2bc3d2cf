//! The GitHub OAuth web flow (oauth2 crate): authorize URL with a single-use, expiring state and
//! PKCE (S256), scope `repo`; code exchange and refresh through an HTTP client that follows no
//! redirects.

use super::connection::{self, ConnectionInfo, Tokens};
use super::{GithubEndpoints, GithubSettings, OAuthApp};
use crate::model::OAuthFailure;
use crate::ssr::crypto::Cipher;
use crate::ssr::db::{Db, DbError, now};
use crate::ssr::schema::oauth_states;
use crate::ssr::secrets::storage_hash;
use crate::with_conn;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;
use oauth2::basic::{BasicErrorResponse, BasicErrorResponseType, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// How long a started authorization stays valid.
pub const STATE_SECONDS: i64 = 10 * 60;
/// The scope mirrors need: read and write access to public and private repositories.
pub const SCOPE: &str = "repo";
const PROVIDER: &str = "github";

/// GitHub's extra token field for expiring user tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GithubTokenFields {
    #[serde(default)]
    refresh_token_expires_in: Option<u64>,
}
impl ExtraTokenFields for GithubTokenFields {}

type GithubTokenResponse = StandardTokenResponse<GithubTokenFields, BasicTokenType>;
type GithubOAuthClient = oauth2::Client<
    BasicErrorResponse,
    GithubTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{}", .0.message())]
    Failure(OAuthFailure),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] crate::ssr::crypto::CryptoError),
    #[error("invalid GitHub URL configuration: {0}")]
    Config(String),
}

impl From<OAuthFailure> for FlowError {
    fn from(f: OAuthFailure) -> Self {
        FlowError::Failure(f)
    }
}

impl From<diesel::result::Error> for FlowError {
    fn from(e: diesel::result::Error) -> Self {
        FlowError::Db(DbError::Query(e))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("GitHub refused the refresh token")]
    Rejected,
    #[error("{0}")]
    Unreachable(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

fn client(endpoints: &GithubEndpoints, app: &OAuthApp) -> Result<GithubOAuthClient, FlowError> {
    let web = &endpoints.web_url;
    Ok(oauth2::Client::new(ClientId::new(app.client_id.clone()))
        .set_client_secret(ClientSecret::new(app.client_secret.expose_secret().to_string()))
        .set_auth_type(AuthType::RequestBody)
        .set_auth_uri(AuthUrl::new(format!("{web}/login/oauth/authorize")).map_err(|e| FlowError::Config(e.to_string()))?)
        .set_token_uri(TokenUrl::new(format!("{web}/login/oauth/access_token")).map_err(|e| FlowError::Config(e.to_string()))?)
        .set_redirect_uri(RedirectUrl::new(app.callback_url.clone()).map_err(|e| FlowError::Config(e.to_string()))?))
}

/// The token endpoint's HTTP client: no redirects (a redirected token request could carry the
/// code and secret elsewhere), bounded time.
fn http_client() -> Result<reqwest::Client, HttpError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("GitBlixt/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| HttpError(e.to_string()))
}

async fn send(http: reqwest::Client, request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let response = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .map_err(|e| HttpError(e.without_url().to_string()))?;
    let mut status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| HttpError(e.without_url().to_string()))?.to_vec();
    // GitHub answers token errors with status 200 and an `error` field; give the oauth2 crate the
    // 400 of RFC 6749 so it reads the body as an error response.
    if status == http::StatusCode::OK && is_error_body(&body) {
        status = http::StatusCode::BAD_REQUEST;
    }
    let mut out = http::Response::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

fn is_error_body(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .is_some_and(|v| v.get("error").is_some() && v.get("access_token").is_none())
}

fn tokens_from(response: &GithubTokenResponse) -> Tokens {
    let at = now();
    let scopes = response
        .scopes()
        .map(|s| s.iter().flat_map(|s| connection::split_scopes(s)).collect())
        .unwrap_or_default();
    Tokens {
        access: SecretString::from(response.access_token().secret().clone()),
        refresh: response.refresh_token().map(|r| SecretString::from(r.secret().clone())),
        scopes,
        expires_at: response.expires_in().map(|d| at + d.as_secs() as i64),
        refresh_expires_at: response.extra_fields().refresh_token_expires_in.map(|s| at + s as i64),
    }
}

fn failure_of(err: RequestTokenError<HttpError, BasicErrorResponse>) -> OAuthFailure {
    match err {
        RequestTokenError::ServerResponse(resp) => {
            let code = match resp.error() {
                BasicErrorResponseType::Extension(code) => code.as_str(),
                BasicErrorResponseType::InvalidGrant => "invalid_grant",
                BasicErrorResponseType::InvalidClient | BasicErrorResponseType::UnauthorizedClient => "incorrect_client_credentials",
                _ => "other",
            };
            match code {
                "bad_verification_code" | "invalid_grant" => OAuthFailure::BadCode,
                "incorrect_client_credentials" => OAuthFailure::ClientCredentials,
                "redirect_uri_mismatch" => OAuthFailure::RedirectMismatch,
                _ => OAuthFailure::Refused,
            }
        }
        RequestTokenError::Request(e) => {
            tracing::warn!(error = %e, "GitHub token endpoint unreachable");
            OAuthFailure::Unreachable
        }
        RequestTokenError::Parse(e, _) => {
            tracing::warn!(error = %e, "unexpected answer from GitHub's token endpoint");
            OAuthFailure::Refused
        }
        RequestTokenError::Other(e) => {
            tracing::warn!(error = %e, "GitHub token exchange failed");
            OAuthFailure::Refused
        }
    }
}

/// Starts connecting `user_id`'s GitHub account: remembers the state and PKCE verifier and returns
/// the URL of GitHub's consent page.
pub async fn begin(settings: &GithubSettings, db: &Db, cipher: &Cipher, user_id: i64) -> Result<String, FlowError> {
    let app = settings.oauth.as_ref().ok_or(OAuthFailure::NotConfigured)?;
    let client = client(&settings.endpoints, app)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new(SCOPE.into()))
        .set_pkce_challenge(challenge)
        .url();
    let state_hash = storage_hash(state.secret());
    let verifier = cipher.encrypt(verifier.secret(), &verifier_context(&state_hash))?;
    let at = now();
    with_conn!(db, |conn| {
        diesel::delete(oauth_states::table.filter(oauth_states::expires_at.le(at))).execute(conn).await?;
        diesel::insert_into(oauth_states::table)
            .values((
                oauth_states::state_hash.eq(&state_hash),
                oauth_states::user_id.eq(user_id),
                oauth_states::provider.eq(PROVIDER),
                oauth_states::pkce_verifier.eq(&verifier),
                oauth_states::created_at.eq(at),
                oauth_states::expires_at.eq(at + STATE_SECONDS),
            ))
            .execute(conn)
            .await?;
        Ok::<_, FlowError>(())
    })?;
    Ok(url.to_string())
}

fn verifier_context(state_hash: &str) -> String {
    format!("oauth_states.pkce_verifier:{state_hash}")
}

/// The query string GitHub sends to the callback.
#[derive(Debug, Default, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// Takes the pending authorization of `state` out of the database (so it is used at most once).
async fn take_state(db: &Db, state: &str) -> Result<Option<(i64, String, i64)>, FlowError> {
    let hash = storage_hash(state);
    with_conn!(db, |conn| {
        let row: Option<(i64, String, i64)> = oauth_states::table
            .filter(oauth_states::state_hash.eq(&hash))
            .filter(oauth_states::provider.eq(PROVIDER))
            .select((oauth_states::user_id, oauth_states::pkce_verifier, oauth_states::expires_at))
            .first(conn)
            .await
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        // Only the request that deletes the row may use it.
        let deleted = diesel::delete(oauth_states::table.filter(oauth_states::state_hash.eq(&hash))).execute(conn).await?;
        Ok::<_, FlowError>((deleted == 1).then_some(row))
    })
}

/// Completes the flow for the signed-in `user_id`: checks the state, exchanges the code, reads the
/// GitHub login and stores the (encrypted) tokens, replacing an earlier connection.
pub async fn complete(
    settings: &GithubSettings,
    db: &Db,
    cipher: &Cipher,
    user_id: i64,
    callback: &Callback,
) -> Result<ConnectionInfo, FlowError> {
    let app = settings.oauth.as_ref().ok_or(OAuthFailure::NotConfigured)?;
    let state = callback.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 256).ok_or(OAuthFailure::BadState)?;
    let (owner, verifier, expires_at) = take_state(db, state).await?.ok_or(OAuthFailure::BadState)?;
    if owner != user_id {
        return Err(OAuthFailure::BadState.into());
    }
    if expires_at <= now() {
        return Err(OAuthFailure::StateExpired.into());
    }
    if let Some(error) = &callback.error {
        return Err(match error.as_str() {
            "access_denied" => OAuthFailure::Denied,
            "redirect_uri_mismatch" => OAuthFailure::RedirectMismatch,
            _ => OAuthFailure::Refused,
        }
        .into());
    }
    let code = callback.code.as_deref().filter(|c| !c.is_empty() && c.len() <= 256).ok_or(OAuthFailure::BadCode)?;
    let verifier = cipher.decrypt(&verifier, &verifier_context(&storage_hash(state)))?;
    let http = http_client().map_err(|e| FlowError::Config(e.to_string()))?;
    let call = move |request: HttpRequest| send(http.clone(), request);
    let response = client(&settings.endpoints, app)?
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose_secret().to_string()))
        .request_async(&call)
        .await
        .map_err(failure_of)?;
    let tokens = tokens_from(&response);
    let github = super::client::GithubClient::new(&settings.endpoints, Some(&tokens.access))
        .map_err(|e| FlowError::Config(e.to_string()))?;
    let user = github.current_user().await.map_err(|e| {
        tracing::warn!(error = %e, "reading the GitHub user after the token exchange failed");
        OAuthFailure::Refused
    })?;
    let previous = connection::stored_access_token(db, cipher, user_id).await?;
    connection::store(db, cipher, user_id, &user.login, user.id, &tokens).await.map_err(|e| match e {
        connection::ConnectionError::Db(e) => FlowError::Db(e),
        connection::ConnectionError::Crypto(e) => FlowError::Crypto(e),
        other => FlowError::Config(other.to_string()),
    })?;
    if let Some(old) = previous.filter(|old| old.expose_secret() != tokens.access.expose_secret()) {
        connection::revoke_replaced(settings, user_id, &old).await;
    }
    tracing::info!(user_id, login = %user.login, scopes = %tokens.scopes.join(","), "GitHub account connected");
    Ok(connection::info(db, user_id).await?.ok_or(OAuthFailure::Refused)?)
}

/// Exchanges a refresh token for new tokens (GitHub rotates the refresh token too).
pub async fn refresh(endpoints: &GithubEndpoints, app: &OAuthApp, refresh_token: &SecretString) -> Result<Tokens, RefreshError> {
    let client = client(endpoints, app).map_err(|e| RefreshError::Unreachable(e.to_string()))?;
    let http = http_client().map_err(|e| RefreshError::Unreachable(e.to_string()))?;
    let call = move |request: HttpRequest| send(http.clone(), request);
    let response = client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.expose_secret().to_string()))
        .request_async(&call)
        .await
        .map_err(|e| match e {
            RequestTokenError::Request(e) => RefreshError::Unreachable(e.to_string()),
            _ => RefreshError::Rejected,
        })?;
    let mut tokens = tokens_from(&response);
    if tokens.refresh.is_none() {
        // Not rotated: keep using the one we have.
        tokens.refresh = Some(refresh_token.clone());
    }
    Ok(tokens)
}

/// How long revoking a token at GitHub may take before GitBlixt gives up.
pub const REVOKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Why a token could not be revoked at GitHub (no secret in any of it).
#[derive(Debug, thiserror::Error)]
pub enum RevokeError {
    #[error("GitHub could not be reached: {0}")]
    Unreachable(String),
    #[error("GitHub answered {0}")]
    Status(u16),
    #[error("invalid GitHub API URL: {0}")]
    Config(String),
}

/// `<api>/applications/{client_id}/token`, the client id as one path segment.
fn app_token_url(endpoints: &GithubEndpoints, app: &OAuthApp) -> Result<reqwest::Url, RevokeError> {
    let mut url = reqwest::Url::parse(&endpoints.api_url).map_err(|e| RevokeError::Config(e.to_string()))?;
    url.path_segments_mut()
        .map_err(|_| RevokeError::Config("the API URL cannot have a path".into()))?
        .pop_if_empty()
        .extend(["applications", app.client_id.as_str(), "token"]);
    Ok(url)
}

/// Revokes `token` at GitHub ("Delete an app token": `DELETE /applications/{client_id}/token`,
/// Basic authentication with the OAuth App's client id and secret, the token in the JSON body).
/// 404 and 422 mean GitHub no longer knows the token: already gone, which is what we want.
pub async fn revoke(endpoints: &GithubEndpoints, app: &OAuthApp, token: &SecretString) -> Result<(), RevokeError> {
    let url = app_token_url(endpoints, app)?;
    let http = http_client().map_err(|e| RevokeError::Config(e.to_string()))?;
    let body = serde_json::json!({ "access_token": token.expose_secret() }).to_string();
    let response = http
        .delete(url)
        .timeout(REVOKE_TIMEOUT)
        .basic_auth(&app.client_id, Some(app.client_secret.expose_secret()))
        .header(http::header::ACCEPT, "application/vnd.github+json")
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("X-GitHub-Api-Version", "2022-11-28")
        .body(body)
        .send()
        .await
        .map_err(|e| RevokeError::Unreachable(e.without_url().to_string()))?;
    match response.status().as_u16() {
        204 | 404 | 422 => Ok(()),
        status => Err(RevokeError::Status(status)),
    }
}
