//! Who is talking to git over HTTP: HTTP Basic with a password or a personal access token.

use app::model::TokenScope;
use app::ssr::accounts::{self, AccountError, User};
use app::ssr::db::Db;
use app::ssr::guard::{self, AuthGuard, GuardError, Refusal};
use std::net::IpAddr;
use base64::Engine;

/// An authenticated git client.
#[derive(Debug, Clone)]
pub struct GitPrincipal {
    pub user: User,
    /// `None` for a password (full access); the token's scopes otherwise.
    pub scopes: Option<Vec<TokenScope>>,
}

impl GitPrincipal {
    pub fn may_read(&self) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.iter().any(|s| s.grants_git_read()))
    }
    pub fn may_write(&self) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.iter().any(|s| s.grants_git_write()))
    }
}

/// The result of looking at the `Authorization` header.
#[derive(Debug)]
pub enum Credentials {
    None,
    Valid(GitPrincipal),
    Invalid,
    /// Not checked: the address or account is locked, or the server is checking too many
    /// passwords already.
    Refused(Refusal),
}

/// `(user, password)` from an `Authorization: Basic …` header value.
pub fn parse_basic(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Checks the credentials of a request from `ip`. A personal access token is accepted with the
/// token's owner or `oauth2` as the user name; anything else is checked as a password (under the
/// limits of [`guard`]: a failure counts against the address and the account).
pub async fn authenticate(guard: &AuthGuard, db: &Db, ip: Option<IpAddr>, authorization: Option<&str>) -> Result<Credentials, AccountError> {
    let Some(value) = authorization else { return Ok(Credentials::None) };
    let Some((user, secret)) = parse_basic(value) else { return Ok(Credentials::Invalid) };
    if secret.starts_with(app::ssr::secrets::TOKEN_PREFIX) {
        if let Err(refusal) = guard.check(ip, None) {
            return Ok(Credentials::Refused(refusal));
        }
        if let Some((owner, scopes)) = accounts::authenticate_token(db, &secret).await? {
            if user == "oauth2" || user.eq_ignore_ascii_case(&owner.name) {
                return Ok(Credentials::Valid(GitPrincipal { user: owner, scopes: Some(scopes) }));
            }
        }
        guard.failed(ip, None);
        return Ok(Credentials::Invalid);
    }
    match guard::verify_password(guard, db, ip, &user, &secret).await {
        Ok(Some(user)) => Ok(Credentials::Valid(GitPrincipal { user, scopes: None })),
        Ok(None) => Ok(Credentials::Invalid),
        Err(GuardError::Refused(refusal)) => Ok(Credentials::Refused(refusal)),
        Err(GuardError::Account(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_basic_headers() {
        let v = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("alice:pa:ss"));
        assert_eq!(parse_basic(&v), Some(("alice".into(), "pa:ss".into())));
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }
}
