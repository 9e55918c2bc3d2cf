//! A user's connected GitHub account: stored encrypted, handed out as a usable access token
//! (refreshed first when it is about to expire and GitHub issued a refresh token).

use super::{GithubSettings, NO_TOKEN, TOKEN_EXPIRED};
use crate::ssr::crypto::{Cipher, CryptoError};
use crate::ssr::db::{Db, DbError, now};
use crate::ssr::schema::github_connections;
use crate::with_conn;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use secrecy::{ExposeSecret, SecretString};

/// Tokens are refreshed when they expire within this many seconds.
pub const REFRESH_MARGIN: i64 = 5 * 60;

/// Serialises refreshes: GitHub rotates refresh tokens, so two concurrent refreshes with the same
/// one would make the second fail.
static REFRESH: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("{NO_TOKEN}")]
    NotConnected,
    #[error("{TOKEN_EXPIRED}")]
    Expired,
    #[error("GitHub could not be reached to refresh the OAuth token: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<diesel::result::Error> for ConnectionError {
    fn from(e: diesel::result::Error) -> Self {
        ConnectionError::Db(DbError::Query(e))
    }
}

/// Tokens as GitHub issued them (times absolute, seconds since the epoch).
pub struct Tokens {
    pub access: SecretString,
    pub refresh: Option<SecretString>,
    pub scopes: Vec<String>,
    pub expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("scopes", &self.scopes)
            .field("expires_at", &self.expires_at)
            .field("refresh_expires_at", &self.refresh_expires_at)
            .finish_non_exhaustive()
    }
}

/// What may be shown about a connection (no secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    pub login: String,
    pub github_id: i64,
    pub scopes: Vec<String>,
    pub connected_at: i64,
    pub expires_at: Option<i64>,
    pub refresh_expires_at: Option<i64>,
    pub has_refresh_token: bool,
    pub refreshed_at: Option<i64>,
}

impl ConnectionInfo {
    /// Expired for good: past its expiry with no usable refresh token.
    pub fn is_expired(&self, at: i64) -> bool {
        let refreshable = self.has_refresh_token && self.refresh_expires_at.is_none_or(|r| r > at);
        self.expires_at.is_some_and(|e| e <= at) && !refreshable
    }
}

#[derive(Debug, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = github_connections)]
struct Row {
    user_id: i64,
    github_login: String,
    github_id: i64,
    access_token: String,
    refresh_token: Option<String>,
    scopes: String,
    expires_at: Option<i64>,
    refresh_expires_at: Option<i64>,
    connected_at: i64,
    refreshed_at: Option<i64>,
}

impl Row {
    fn info(&self) -> ConnectionInfo {
        ConnectionInfo {
            login: self.github_login.clone(),
            github_id: self.github_id,
            scopes: split_scopes(&self.scopes),
            connected_at: self.connected_at,
            expires_at: self.expires_at,
            refresh_expires_at: self.refresh_expires_at,
            has_refresh_token: self.refresh_token.is_some(),
            refreshed_at: self.refreshed_at,
        }
    }

    fn needs_refresh(&self, at: i64) -> bool {
        self.expires_at.is_some_and(|e| e - at < REFRESH_MARGIN)
    }
}

pub fn split_scopes(raw: &str) -> Vec<String> {
    raw.split([',', ' ']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn access_context(user_id: i64) -> String {
    format!("github_connections.access_token:{user_id}")
}

fn refresh_context(user_id: i64) -> String {
    format!("github_connections.refresh_token:{user_id}")
}

async fn load(db: &Db, user_id: i64) -> Result<Option<Row>, DbError> {
    with_conn!(db, |conn| Ok(github_connections::table
        .filter(github_connections::user_id.eq(user_id))
        .select(Row::as_select())
        .first(conn)
        .await
        .optional()?))
}

/// The access and refresh token encrypted for `user_id`'s row.
fn seal(cipher: &Cipher, user_id: i64, tokens: &Tokens) -> Result<(String, Option<String>), CryptoError> {
    let access = cipher.encrypt(tokens.access.expose_secret(), &access_context(user_id))?;
    let refresh = match &tokens.refresh {
        Some(r) => Some(cipher.encrypt(r.expose_secret(), &refresh_context(user_id))?),
        None => None,
    };
    Ok((access, refresh))
}

/// The user's connection, if any.
pub async fn info(db: &Db, user_id: i64) -> Result<Option<ConnectionInfo>, DbError> {
    Ok(load(db, user_id).await?.map(|r| r.info()))
}

/// Saves a (new or re-made) connection, replacing any previous one of the user.
pub async fn store(
    db: &Db,
    cipher: &Cipher,
    user_id: i64,
    login: &str,
    github_id: i64,
    tokens: &Tokens,
) -> Result<(), ConnectionError> {
    let (access, refresh) = seal(cipher, user_id, tokens)?;
    let scopes = tokens.scopes.join(",");
    let at = now();
    // Connecting again replaces every column but the user.
    let connection = (
        github_connections::github_login.eq(login),
        github_connections::github_id.eq(github_id),
        github_connections::access_token.eq(&access),
        github_connections::refresh_token.eq(refresh.as_deref()),
        github_connections::scopes.eq(&scopes),
        github_connections::expires_at.eq(tokens.expires_at),
        github_connections::refresh_expires_at.eq(tokens.refresh_expires_at),
        github_connections::connected_at.eq(at),
        github_connections::refreshed_at.eq(None::<i64>),
    );
    with_conn!(db, |conn| {
        diesel::insert_into(github_connections::table)
            .values((github_connections::user_id.eq(user_id), connection.clone()))
            .on_conflict(github_connections::user_id)
            .do_update()
            .set(connection.clone())
            .execute(conn)
            .await?;
        Ok::<_, ConnectionError>(())
    })
}

async fn update_tokens(db: &Db, cipher: &Cipher, user_id: i64, tokens: &Tokens) -> Result<(), ConnectionError> {
    let (access, refresh) = seal(cipher, user_id, tokens)?;
    let at = now();
    with_conn!(db, |conn| {
        diesel::update(github_connections::table.filter(github_connections::user_id.eq(user_id)))
            .set((
                github_connections::access_token.eq(&access),
                github_connections::refresh_token.eq(refresh.as_deref()),
                github_connections::expires_at.eq(tokens.expires_at),
                github_connections::refresh_expires_at.eq(tokens.refresh_expires_at),
                github_connections::refreshed_at.eq(Some(at)),
            ))
            .execute(conn)
            .await?;
        Ok::<_, ConnectionError>(())
    })
}

async fn forget_refresh_token(db: &Db, user_id: i64) -> Result<(), DbError> {
    with_conn!(db, |conn| {
        diesel::update(github_connections::table.filter(github_connections::user_id.eq(user_id)))
            .set((
                github_connections::refresh_token.eq(None::<String>),
                github_connections::refresh_expires_at.eq(None::<i64>),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// What [`disconnect`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnected {
    /// There was no connection.
    NotConnected,
    /// The token is revoked at GitHub (or GitHub no longer knew it) and forgotten.
    Revoked,
    /// The token is forgotten, but may still work at GitHub: the user must revoke it there.
    NotRevoked,
}

/// Disconnects: revokes the access token at GitHub (bounded in time), then forgets the tokens
/// whatever GitHub answered. Holds the refresh lock so no refresh swaps the token meanwhile.
pub async fn disconnect(settings: &GithubSettings, db: &Db, cipher: &Cipher, user_id: i64) -> Result<Disconnected, DbError> {
    let _guard = REFRESH.lock().await;
    let Some(row) = load(db, user_id).await? else { return Ok(Disconnected::NotConnected) };
    let revoked = revoke_at_github(settings, cipher, &row).await;
    remove(db, user_id).await?;
    Ok(if revoked { Disconnected::Revoked } else { Disconnected::NotRevoked })
}

/// Whether the row's access token is revoked at GitHub; failures are logged (without the token).
async fn revoke_at_github(settings: &GithubSettings, cipher: &Cipher, row: &Row) -> bool {
    let Some(app) = settings.oauth.as_ref() else {
        tracing::warn!(user_id = row.user_id, "no GitHub OAuth App is configured; the token was not revoked at GitHub");
        return false;
    };
    let token = match cipher.decrypt(&row.access_token, &access_context(row.user_id)) {
        Ok(token) => token,
        Err(e) => {
            tracing::warn!(user_id = row.user_id, error = %e, "the stored GitHub token could not be decrypted; it was not revoked at GitHub");
            return false;
        }
    };
    match super::oauth::revoke(&settings.endpoints, app, &token).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(user_id = row.user_id, login = %row.github_login, error = %e, "revoking the GitHub token failed");
            false
        }
    }
}

/// The access token stored for the user now, if there is one and it can be read.
pub async fn stored_access_token(db: &Db, cipher: &Cipher, user_id: i64) -> Result<Option<SecretString>, DbError> {
    let Some(row) = load(db, user_id).await? else { return Ok(None) };
    Ok(cipher.decrypt(&row.access_token, &access_context(user_id)).ok())
}

/// Revokes `token` at GitHub after a new connection replaced it (connecting again must not leave
/// the old token valid there); a failure is logged, without the token.
pub async fn revoke_replaced(settings: &GithubSettings, user_id: i64, token: &SecretString) {
    let Some(app) = settings.oauth.as_ref() else { return };
    if let Err(e) = super::oauth::revoke(&settings.endpoints, app, token).await {
        tracing::warn!(user_id, error = %e, "revoking the GitHub token a new connection replaced failed");
    }
}

/// Forgets the tokens. Returns whether there was a connection.
pub async fn remove(db: &Db, user_id: i64) -> Result<bool, DbError> {
    with_conn!(db, |conn| Ok(diesel::delete(github_connections::table.filter(github_connections::user_id.eq(user_id)))
        .execute(conn)
        .await?
        > 0))
}

/// A usable access token of the user's GitHub connection, refreshed first if it expires soon.
/// Errors are the spec's: [`NO_TOKEN`] without a connection, [`TOKEN_EXPIRED`] when it expired and
/// cannot be refreshed (or GitHub refused the refresh).
pub async fn access_token(
    settings: &GithubSettings,
    db: &Db,
    cipher: &Cipher,
    user_id: i64,
) -> Result<SecretString, ConnectionError> {
    let row = load(db, user_id).await?.ok_or(ConnectionError::NotConnected)?;
    if !row.needs_refresh(now()) {
        return Ok(cipher.decrypt(&row.access_token, &access_context(user_id))?);
    }
    let _guard = REFRESH.lock().await;
    // Someone else may have refreshed while we waited.
    let row = load(db, user_id).await?.ok_or(ConnectionError::NotConnected)?;
    refresh_row(settings, db, cipher, row).await
}

async fn refresh_row(settings: &GithubSettings, db: &Db, cipher: &Cipher, row: Row) -> Result<SecretString, ConnectionError> {
    let at = now();
    if !row.needs_refresh(at) {
        return Ok(cipher.decrypt(&row.access_token, &access_context(row.user_id))?);
    }
    let still_valid = row.expires_at.is_some_and(|e| e > at);
    let refresh = match (&row.refresh_token, row.refresh_expires_at) {
        (Some(token), expires) if expires.is_none_or(|e| e > at) => Some(token),
        _ => None,
    };
    let (Some(refresh), Some(app)) = (refresh, settings.oauth.as_ref()) else {
        return if still_valid {
            Ok(cipher.decrypt(&row.access_token, &access_context(row.user_id))?)
        } else {
            Err(ConnectionError::Expired)
        };
    };
    let refresh = cipher.decrypt(refresh, &refresh_context(row.user_id))?;
    match super::oauth::refresh(&settings.endpoints, app, &refresh).await {
        Ok(tokens) => {
            update_tokens(db, cipher, row.user_id, &tokens).await?;
            tracing::info!(user_id = row.user_id, login = %row.github_login, "GitHub OAuth token refreshed");
            Ok(tokens.access)
        }
        Err(super::oauth::RefreshError::Rejected) => {
            tracing::warn!(user_id = row.user_id, login = %row.github_login, "GitHub refused to refresh the OAuth token");
            if !still_valid {
                // Dead for good: forget the refresh token so the page says to reconnect.
                forget_refresh_token(db, row.user_id).await?;
                return Err(ConnectionError::Expired);
            }
            Ok(cipher.decrypt(&row.access_token, &access_context(row.user_id))?)
        }
        Err(super::oauth::RefreshError::Unreachable(e)) if still_valid => {
            tracing::warn!(user_id = row.user_id, error = %e, "could not refresh the GitHub OAuth token; using the current one");
            Ok(cipher.decrypt(&row.access_token, &access_context(row.user_id))?)
        }
        Err(super::oauth::RefreshError::Unreachable(e)) => Err(ConnectionError::Unreachable(e)),
    }
}

/// Background refresh: renews every token that expires within `within` seconds and can be
/// refreshed. Returns how many were renewed.
/// A connection about to expire that could not be renewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expiring {
    pub user_id: i64,
    /// When its access token expires (or expired).
    pub expires_at: i64,
    /// When the connection was made or last renewed.
    pub since: i64,
}

/// What a background refresh pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refreshed {
    pub renewed: usize,
    /// Connections expiring soon whose refresh failed or is no longer possible.
    pub failing: Vec<Expiring>,
}

pub async fn refresh_expiring(settings: &GithubSettings, db: &Db, cipher: &Cipher, within: i64) -> Result<Refreshed, ConnectionError> {
    let mut out = Refreshed::default();
    if settings.oauth.is_none() {
        return Ok(out);
    }
    let at = now();
    let rows: Vec<Row> = with_conn!(db, |conn| github_connections::table
        .filter(github_connections::expires_at.le(at + within))
        .filter(github_connections::refresh_token.is_not_null())
        .select(Row::as_select())
        .load(conn)
        .await
        .map_err(DbError::from))?;
    for row in rows {
        let expiring = Expiring { user_id: row.user_id, expires_at: row.expires_at.unwrap_or(at), since: row.refreshed_at.unwrap_or(row.connected_at) };
        if row.refresh_expires_at.is_some_and(|e| e <= at) {
            out.failing.push(expiring);
            continue;
        }
        let _guard = REFRESH.lock().await;
        let Some(current) = load(db, row.user_id).await? else { continue };
        if current.expires_at.is_some_and(|e| e > at + within) {
            continue;
        }
        // Treat it as due now so refresh_row renews it.
        let due = Row { expires_at: Some(at), ..current };
        match refresh_row(settings, db, cipher, due).await {
            Ok(_) => out.renewed += 1,
            Err(e) => {
                tracing::warn!(user_id = row.user_id, error = %e, "background refresh of a GitHub token failed");
                out.failing.push(expiring);
            }
        }
    }
    Ok(out)
}

/// What the mirror engine needs to reach a GitHub repository as the user: its git URL (no
/// credentials in it) and the user's current access token.
pub struct AuthenticatedRemote {
    pub url: String,
    pub token: SecretString,
}

impl std::fmt::Debug for AuthenticatedRemote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatedRemote").field("url", &self.url).finish_non_exhaustive()
    }
}

/// The remote of `repo` authenticated with `user_id`'s connection (refreshed if needed).
pub async fn authenticated_remote(
    settings: &GithubSettings,
    db: &Db,
    cipher: &Cipher,
    user_id: i64,
    repo: &crate::github_repo::GithubRepo,
) -> Result<AuthenticatedRemote, ConnectionError> {
    let token = access_token(settings, db, cipher, user_id).await?;
    Ok(AuthenticatedRemote { url: settings.endpoints.git_url(repo), token })
}
