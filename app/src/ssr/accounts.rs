//! Accounts: users, sign-in sessions and personal access tokens.

use super::db::{Db, DbError, now};
use super::schema::{personal_access_tokens, sessions, users};
use super::secrets;
use crate::model::{MAX_TOKEN_DAYS, NewToken, TokenInfo, TokenScope};
use crate::names::UserName;
use crate::with_conn;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;

/// How long a sign-in lasts.
pub const SESSION_SECONDS: i64 = 14 * 24 * 3600;
pub const MIN_PASSWORD: usize = 8;
pub const MAX_PASSWORD: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub name_key: String,
    #[diesel(column_name = password_hash)]
    password_hash: String,
    pub is_admin: bool,
    pub created_at: i64,
}

#[derive(Debug, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = personal_access_tokens)]
struct TokenRow {
    id: i64,
    name: String,
    scopes: String,
    created_at: i64,
    expires_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenRow {
    fn scopes(&self) -> Vec<TokenScope> {
        self.scopes.split(',').filter_map(TokenScope::parse).collect()
    }

    fn info(&self, at: i64) -> TokenInfo {
        TokenInfo {
            id: self.id,
            name: self.name.clone(),
            scopes: self.scopes(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked: self.revoked_at.is_some(),
            expired: self.expires_at <= at,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("{0}")]
    Invalid(String),
    #[error("The username '{0}' is already taken.")]
    NameTaken(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

impl From<diesel::result::Error> for AccountError {
    fn from(e: diesel::result::Error) -> Self {
        AccountError::Db(DbError::Query(e))
    }
}

impl From<crate::names::NameError> for AccountError {
    fn from(e: crate::names::NameError) -> Self {
        AccountError::Invalid(e.to_string())
    }
}

fn check_password(password: &str) -> Result<(), AccountError> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        return Err(AccountError::Invalid(format!("Password is too short (at least {MIN_PASSWORD} characters).")));
    }
    if password.len() > MAX_PASSWORD {
        return Err(AccountError::Invalid(format!("Password is too long (at most {MAX_PASSWORD} bytes).")));
    }
    Ok(())
}

async fn hash_blocking(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || secrets::hash_password(&password))
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))?
        .map_err(|e| AccountError::Hash(e.to_string()))
}

/// Creates a user. The first account of the instance becomes its administrator.
pub async fn create_user(db: &Db, name: &UserName, password: &str, admin: bool) -> Result<User, AccountError> {
    check_password(password)?;
    let hash = hash_blocking(password.to_string()).await?;
    let created: Result<User, DbError> = with_conn!(db, |conn| {
        let inserted = diesel::insert_into(users::table)
            .values((
                users::name.eq(name.as_str()),
                users::name_key.eq(name.key()),
                users::password_hash.eq(&hash),
                users::is_admin.eq(admin),
                users::created_at.eq(now()),
            ))
            .returning(User::as_returning())
            .get_result(conn)
            .await;
        match inserted {
            Ok(user) => {
                // The lowest id is the first account: it is the administrator.
                let first: Option<i64> = users::table.select(diesel::dsl::min(users::id)).first(conn).await?;
                if first == Some(user.id) && !user.is_admin {
                    diesel::update(users::table.find(user.id)).set(users::is_admin.eq(true)).execute(conn).await?;
                    Ok(User { is_admin: true, ..user })
                } else {
                    Ok(user)
                }
            }
            Err(e) => Err(DbError::Query(e)),
        }
    });
    match created {
        Err(e) if e.is_unique_violation() => Err(AccountError::NameTaken(name.to_string())),
        other => Ok(other?),
    }
}

pub async fn find_user(db: &Db, name: &str) -> Result<Option<User>, DbError> {
    let key = name.to_ascii_lowercase();
    with_conn!(db, |conn| Ok(users::table
        .filter(users::name_key.eq(&key))
        .select(User::as_select())
        .first(conn)
        .await
        .optional()?))
}

pub async fn count_users(db: &Db) -> Result<i64, DbError> {
    with_conn!(db, |conn| Ok(users::table.count().get_result(conn).await?))
}

/// Checks a user name and password. Unknown users take as long as wrong passwords.
pub async fn authenticate_password(db: &Db, name: &str, password: &str) -> Result<Option<User>, AccountError> {
    if password.len() > MAX_PASSWORD || name.len() > 200 {
        return Ok(None);
    }
    let user = find_user(db, name).await?;
    let stored = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(|| secrets::dummy_password_hash().to_string());
    let password = password.to_string();
    let ok = tokio::task::spawn_blocking(move || secrets::verify_password(&password, &stored))
        .await
        .map_err(|e| AccountError::Hash(e.to_string()))?;
    Ok(if ok { user } else { None })
}

/// Where a sign-in came from, as the Sessions page shows it.
#[derive(Debug, Clone, Default)]
pub struct SessionOrigin {
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// How stale a session's "last seen" may get before a request updates it (no write per request).
const LAST_SEEN_STEP: i64 = 300;

/// Starts a session; returns the secret session id for the cookie (only its hash is stored).
pub async fn create_session(db: &Db, user_id: i64) -> Result<String, DbError> {
    create_session_from(db, user_id, &SessionOrigin::default()).await
}

/// Starts a session recording where it came from (user agent cut to 200 characters).
pub async fn create_session_from(db: &Db, user_id: i64, origin: &SessionOrigin) -> Result<String, DbError> {
    let id = secrets::new_session_id();
    let at = now();
    let user_agent = origin.user_agent.as_deref().map(|ua| ua.chars().take(200).collect::<String>());
    with_conn!(db, |conn| {
        // Sweep expired sessions now and then (cheap, indexed by primary key scan on small tables).
        diesel::delete(sessions::table.filter(sessions::expires_at.le(at))).execute(conn).await?;
        diesel::insert_into(sessions::table)
            .values((
                sessions::id_hash.eq(secrets::storage_hash(&id)),
                sessions::user_id.eq(user_id),
                sessions::created_at.eq(at),
                sessions::expires_at.eq(at + SESSION_SECONDS),
                sessions::last_seen_at.eq(Some(at)),
                sessions::user_agent.eq(&user_agent),
                sessions::ip.eq(&origin.ip),
            ))
            .execute(conn)
            .await?;
        Ok::<_, DbError>(())
    })?;
    Ok(id)
}

/// The user of a live session (its "last seen" moved on now and then).
pub async fn session_user(db: &Db, session_id: &str) -> Result<Option<User>, DbError> {
    if session_id.is_empty() || session_id.len() > 128 {
        return Ok(None);
    }
    let hash = secrets::storage_hash(session_id);
    let at = now();
    let found: Option<(User, Option<i64>)> = with_conn!(db, |conn| Ok::<_, DbError>(
        sessions::table
            .inner_join(users::table)
            .filter(sessions::id_hash.eq(&hash))
            .filter(sessions::expires_at.gt(at))
            .select((User::as_select(), sessions::last_seen_at))
            .first(conn)
            .await
            .optional()?
    ))?;
    let Some((user, last_seen)) = found else { return Ok(None) };
    if last_seen.is_none_or(|seen| seen < at - LAST_SEEN_STEP) {
        with_conn!(db, |conn| {
            diesel::update(sessions::table.find(&hash)).set(sessions::last_seen_at.eq(Some(at))).execute(conn).await?;
            Ok::<_, DbError>(())
        })?;
    }
    Ok(Some(user))
}

#[derive(Debug, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id_hash: String,
    created_at: i64,
    last_seen_at: Option<i64>,
    user_agent: Option<String>,
    ip: Option<String>,
}

/// The user's live sessions, newest first; `current` (the session id of the request) is marked.
pub async fn list_sessions(db: &Db, user_id: i64, current: Option<&str>) -> Result<Vec<crate::model::SessionInfo>, DbError> {
    let current = current.map(secrets::storage_hash);
    let at = now();
    let rows: Vec<SessionRow> = with_conn!(db, |conn| Ok::<_, DbError>(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::expires_at.gt(at))
            .order(sessions::created_at.desc())
            .select(SessionRow::as_select())
            .load(conn)
            .await?
    ))?;
    Ok(rows
        .into_iter()
        .map(|r| crate::model::SessionInfo {
            current: current.as_deref() == Some(r.id_hash.as_str()),
            // The stored hash names the session to the page; it can't be used as a cookie.
            handle: r.id_hash,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at.unwrap_or(r.created_at),
            user_agent: r.user_agent.unwrap_or_default(),
            ip: r.ip.unwrap_or_default(),
        })
        .collect())
}

/// Ends the user's session named by `handle` (see [`list_sessions`]); whether there was one.
pub async fn end_session_by_handle(db: &Db, user_id: i64, handle: &str) -> Result<bool, DbError> {
    with_conn!(db, |conn| Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::id_hash.eq(handle)))
        .execute(conn)
        .await?
        == 1))
}

/// Ends every session of the user but `keep` (a session id); how many ended.
pub async fn end_other_sessions(db: &Db, user_id: i64, keep: Option<&str>) -> Result<usize, DbError> {
    let keep = keep.map(secrets::storage_hash).unwrap_or_default();
    with_conn!(db, |conn| Ok(diesel::delete(sessions::table.filter(sessions::user_id.eq(user_id)).filter(sessions::id_hash.ne(&keep)))
        .execute(conn)
        .await?))
}

/// Sets a new password (checked like at sign-up) for the user.
pub async fn set_password(db: &Db, user_id: i64, password: &str) -> Result<(), AccountError> {
    check_password(password)?;
    let hash = hash_blocking(password.to_string()).await?;
    with_conn!(db, |conn| {
        diesel::update(users::table.find(user_id)).set(users::password_hash.eq(&hash)).execute(conn).await?;
        Ok::<_, DbError>(())
    })?;
    Ok(())
}

pub async fn delete_session(db: &Db, session_id: &str) -> Result<(), DbError> {
    let hash = secrets::storage_hash(session_id);
    with_conn!(db, |conn| {
        diesel::delete(sessions::table.filter(sessions::id_hash.eq(&hash))).execute(conn).await?;
        Ok(())
    })
}

/// Parses and checks a token request: name, scopes, expiry in days.
pub fn parse_token_request(name: &str, scopes: &[String], expires_days: i64) -> Result<(String, Vec<TokenScope>), AccountError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AccountError::Invalid("Token name can't be blank.".into()));
    }
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AccountError::Invalid("Token name must be at most 100 printable characters.".into()));
    }
    let mut parsed = Vec::new();
    for raw in scopes {
        let scope = TokenScope::parse(raw.trim()).ok_or_else(|| {
            AccountError::Invalid(format!(
                "Unknown scope '{}': choose from api, read_api, read_repository, write_repository.",
                raw.trim()
            ))
        })?;
        if !parsed.contains(&scope) {
            parsed.push(scope);
        }
    }
    if parsed.is_empty() {
        return Err(AccountError::Invalid("Select at least one scope.".into()));
    }
    if !(1..=MAX_TOKEN_DAYS).contains(&expires_days) {
        return Err(AccountError::Invalid(format!("Expiry must be between 1 and {MAX_TOKEN_DAYS} days.")));
    }
    Ok((name.to_string(), parsed))
}

/// Creates a personal access token; the secret is in the answer and nowhere else.
pub async fn create_token(
    db: &Db,
    user_id: i64,
    name: &str,
    scopes: &[String],
    expires_days: i64,
) -> Result<NewToken, AccountError> {
    let (name, scopes) = parse_token_request(name, scopes, expires_days)?;
    let token = secrets::new_access_token();
    let at = now();
    let expires_at = at + expires_days * 24 * 3600;
    let scopes_text = scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
    with_conn!(db, |conn| {
        diesel::insert_into(personal_access_tokens::table)
            .values((
                personal_access_tokens::user_id.eq(user_id),
                personal_access_tokens::name.eq(&name),
                personal_access_tokens::token_hash.eq(secrets::storage_hash(&token)),
                personal_access_tokens::scopes.eq(&scopes_text),
                personal_access_tokens::created_at.eq(at),
                personal_access_tokens::expires_at.eq(expires_at),
            ))
            .execute(conn)
            .await
            .map_err(DbError::Query)
    })?;
    Ok(NewToken { name, token, expires_at })
}

pub async fn list_tokens(db: &Db, user_id: i64) -> Result<Vec<TokenInfo>, DbError> {
    let rows: Vec<TokenRow> = with_conn!(db, |conn| personal_access_tokens::table
        .filter(personal_access_tokens::user_id.eq(user_id))
        .order(personal_access_tokens::id.desc())
        .select(TokenRow::as_select())
        .load(conn)
        .await
        .map_err(DbError::Query))?;
    let at = now();
    Ok(rows.iter().map(|r| r.info(at)).collect())
}

/// Revokes one of the user's tokens. Returns false when there is no such token of theirs.
pub async fn revoke_token(db: &Db, user_id: i64, token_id: i64) -> Result<bool, DbError> {
    let at = now();
    let n = with_conn!(db, |conn| diesel::update(
        personal_access_tokens::table
            .filter(personal_access_tokens::id.eq(token_id))
            .filter(personal_access_tokens::user_id.eq(user_id))
            .filter(personal_access_tokens::revoked_at.is_null())
    )
    .set(personal_access_tokens::revoked_at.eq(at))
    .execute(conn)
    .await
    .map_err(DbError::Query))?;
    Ok(n == 1)
}

/// The user and scopes of a live (not revoked, not expired) token; records its use.
pub async fn authenticate_token(db: &Db, token: &str) -> Result<Option<(User, Vec<TokenScope>)>, DbError> {
    if !token.starts_with(secrets::TOKEN_PREFIX) || token.len() > 100 {
        return Ok(None);
    }
    let hash = secrets::storage_hash(token);
    let at = now();
    let found: Option<(TokenRow, User)> = with_conn!(db, |conn| personal_access_tokens::table
        .inner_join(users::table)
        .filter(personal_access_tokens::token_hash.eq(&hash))
        .filter(personal_access_tokens::revoked_at.is_null())
        .filter(personal_access_tokens::expires_at.gt(at))
        .select((TokenRow::as_select(), User::as_select()))
        .first(conn)
        .await
        .optional()
        .map_err(DbError::Query))?;
    let Some((row, user)) = found else { return Ok(None) };
    with_conn!(db, |conn| diesel::update(personal_access_tokens::table.find(row.id))
        .set(personal_access_tokens::last_used_at.eq(at))
        .execute(conn)
        .await
        .map_err(DbError::Query))?;
    Ok(Some((user, row.scopes())))
}
