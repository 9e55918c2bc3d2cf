//! The double's world: users, OAuth apps, repositories, tokens and authorization codes, and the
//! rules that decide who may see and change what.

use super::{DoubleFault, OAuthApp, Permission, RequestRecord, TokenInfo};
use rand::Rng;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

/// How long an access token of an app with expiring tokens lives (GitHub: 8 hours).
pub const ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(28_800);
/// How long a refresh token lives (GitHub: 6 months).
pub const REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(15_897_600);
/// How long an authorization code may be exchanged (GitHub: 10 minutes).
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);

pub struct User {
    pub id: u64,
    pub login: String,
    pub created_at: SystemTime,
}

pub struct Repo {
    pub id: u64,
    /// The owner's login as spelled at creation.
    pub owner: String,
    pub name: String,
    pub private: bool,
    pub description: Option<String>,
    /// Collaborators by lowercased login.
    pub collaborators: BTreeMap<String, Permission>,
    pub created_at: SystemTime,
    pub pushed_at: SystemTime,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

pub struct Token {
    /// Issue order.
    pub seq: u64,
    pub login: String,
    pub scopes: Vec<String>,
    pub client_id: Option<String>,
    /// When the token stops working by itself (apps with expiring tokens).
    pub expires_at: Option<Instant>,
    /// Expired on request ([`super::GithubDouble::expire_token`]).
    pub expired: bool,
    /// Revoked, or replaced by a refresh.
    pub revoked: bool,
}

impl Token {
    pub fn is_expired(&self) -> bool {
        self.expired || self.expires_at.is_some_and(|t| Instant::now() >= t)
    }
}

pub struct RefreshToken {
    pub access_token: String,
    pub client_id: String,
    pub expires_at: Instant,
    pub expired: bool,
    /// Spent (a refresh token works once) or revoked with its access token.
    pub used: bool,
}

pub struct Code {
    pub client_id: String,
    pub login: String,
    pub scopes: Vec<String>,
    /// The `redirect_uri` given to the authorize endpoint, if one was.
    pub redirect_uri: Option<String>,
    /// The PKCE `code_challenge` (method S256, the only one GitHub accepts).
    pub challenge: Option<String>,
    pub issued: Instant,
    pub used: bool,
}

/// The caller of a request, once its credentials are checked.
#[derive(Clone)]
pub struct Caller {
    pub login: String,
    pub scopes: Vec<String>,
}

/// Credentials that did not check out.
pub struct BadCredentials;

#[derive(Default)]
pub struct State {
    users: BTreeMap<String, User>,
    next_user_id: u64,
    pub apps: HashMap<String, OAuthApp>,
    repos: BTreeMap<(String, String), Repo>,
    next_repo_id: u64,
    pub tokens: HashMap<String, Token>,
    next_token_seq: u64,
    pub refresh_tokens: HashMap<String, RefreshToken>,
    pub codes: HashMap<String, Code>,
    pub browser_user: Option<String>,
    /// Sign-in cookies of the double's web pages: session id -> lowercased login.
    pub sessions: HashMap<String, String>,
    pub fault: DoubleFault,
    pub requests: Vec<RequestRecord>,
    /// API requests per rate-limit key (login or "anonymous") in the current hour.
    pub rate: HashMap<String, (u64, u64)>,
}

fn key(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// `len` random ASCII letters and digits.
pub fn random_alphanumeric(len: usize) -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
}

/// `bytes` random bytes as lowercase hex.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill(&mut buf[..]);
    hex::encode(buf)
}

/// Splits a scope list as GitHub reads it (spaces or commas), without duplicates, in order.
pub fn parse_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for scope in s.split([' ', ',']).map(str::trim).filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == scope) {
            out.push(scope.to_string());
        }
    }
    out
}

/// Whether `scopes` grant `wanted`, counting GitHub's scope hierarchy (`repo` includes
/// `public_repo`, `user` includes `read:user`, ...).
pub fn has_scope(scopes: &[String], wanted: &str) -> bool {
    scopes.iter().any(|s| {
        s == wanted
            || match s.as_str() {
                "repo" => matches!(wanted, "public_repo" | "repo:status" | "repo_deployment" | "repo:invite" | "security_events"),
                "user" => matches!(wanted, "read:user" | "user:email" | "user:follow"),
                "admin:org" => matches!(wanted, "write:org" | "read:org"),
                "write:org" => wanted == "read:org",
                "admin:public_key" => matches!(wanted, "write:public_key" | "read:public_key"),
                "write:public_key" => wanted == "read:public_key",
                "admin:repo_hook" => matches!(wanted, "write:repo_hook" | "read:repo_hook"),
                "write:repo_hook" => wanted == "read:repo_hook",
                "write:packages" => wanted == "read:packages",
                _ => false,
            }
    })
}

/// What a user may do with a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    pub admin: bool,
    pub maintain: bool,
    pub push: bool,
    pub triage: bool,
    pub pull: bool,
}

impl State {
    pub fn add_user(&mut self, login: &str) -> u64 {
        if let Some(user) = self.users.get(&key(login)) {
            return user.id;
        }
        self.next_user_id += 1;
        let id = 1000 + self.next_user_id;
        self.users.insert(key(login), User { id, login: login.to_string(), created_at: SystemTime::now() });
        id
    }

    pub fn login_by_id(&self, id: u64) -> Option<&str> {
        self.users.values().find(|u| u.id == id).map(|u| u.login.as_str())
    }

    pub fn user(&self, login: &str) -> Option<&User> {
        self.users.get(&key(login))
    }

    pub fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&(key(owner), key(name)))
    }

    pub fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&(key(owner), key(name)))
    }

    pub fn repos(&self) -> impl Iterator<Item = &Repo> {
        self.repos.values()
    }

    /// Registers the repository (or changes its visibility if it exists); the owner becomes a user.
    pub fn create_repo(&mut self, owner: &str, name: &str, private: bool) {
        self.add_user(owner);
        let owner_login = self.user(owner).map(|u| u.login.clone()).unwrap_or_else(|| owner.to_string());
        if let Some(repo) = self.repo_mut(owner, name) {
            repo.private = private;
            return;
        }
        self.next_repo_id += 1;
        let now = SystemTime::now();
        let repo = Repo {
            id: 700_000 + self.next_repo_id,
            owner: owner_login,
            name: name.to_string(),
            private,
            description: None,
            collaborators: BTreeMap::new(),
            created_at: now,
            pushed_at: now,
        };
        self.repos.insert((key(owner), key(name)), repo);
    }

    pub fn delete_repo(&mut self, owner: &str, name: &str) -> bool {
        self.repos.remove(&(key(owner), key(name))).is_some()
    }

    pub fn set_permission(&mut self, owner: &str, name: &str, login: &str, permission: Option<Permission>) -> bool {
        if permission.is_some() {
            self.add_user(login);
        }
        let Some(repo) = self.repo_mut(owner, name) else { return false };
        match permission {
            Some(p) => repo.collaborators.insert(key(login), p),
            None => repo.collaborators.remove(&key(login)),
        };
        true
    }

    /// What `login` may do with `repo`, whatever the token's scopes.
    pub fn access(repo: &Repo, login: &str) -> Access {
        let all = Access { admin: true, maintain: true, push: true, triage: true, pull: true };
        if key(&repo.owner) == key(login) {
            return all;
        }
        match repo.collaborators.get(&key(login)) {
            Some(Permission::Admin) => all,
            Some(Permission::Push) => Access { push: true, triage: true, pull: true, ..Access::default() },
            Some(Permission::Pull) => Access { pull: true, ..Access::default() },
            None => Access { pull: !repo.private, ..Access::default() },
        }
    }

    /// Whether the caller sees the repository: public ones everyone does; private ones only the
    /// owner and collaborators, through a token with the `repo` scope.
    pub fn can_see(repo: &Repo, caller: Option<&Caller>) -> bool {
        if !repo.private {
            return true;
        }
        caller.is_some_and(|c| has_scope(&c.scopes, "repo") && Self::access(repo, &c.login).pull)
    }

    /// Whether the caller may push: push permission, and the `repo` scope (`public_repo` suffices
    /// for a public repository).
    pub fn can_push(repo: &Repo, caller: &Caller) -> bool {
        let scoped = has_scope(&caller.scopes, "repo") || (!repo.private && has_scope(&caller.scopes, "public_repo"));
        scoped && Self::access(repo, &caller.login).push
    }

    /// The caller behind an access token, if it is valid.
    pub fn caller(&self, token: &str) -> Result<Caller, BadCredentials> {
        let t = self.tokens.get(token).ok_or(BadCredentials)?;
        if t.revoked || t.is_expired() {
            return Err(BadCredentials);
        }
        let user = self.user(&t.login).ok_or(BadCredentials)?;
        Ok(Caller { login: user.login.clone(), scopes: t.scopes.clone() })
    }

    /// A new access token; with `expiring`, a `ghu_` token that lives 8 hours and a refresh token
    /// (returned too), else a `gho_` token that lives until revoked.
    pub fn issue_token(&mut self, login: &str, scopes: Vec<String>, client_id: Option<&str>, expiring: bool) -> (String, Option<String>) {
        let prefix = if expiring { "ghu_" } else { "gho_" };
        let token = format!("{prefix}{}", random_alphanumeric(36));
        let now = Instant::now();
        self.next_token_seq += 1;
        self.tokens.insert(
            token.clone(),
            Token {
                seq: self.next_token_seq,
                login: login.to_string(),
                scopes,
                client_id: client_id.map(str::to_string),
                expires_at: expiring.then(|| now + ACCESS_TOKEN_LIFETIME),
                expired: false,
                revoked: false,
            },
        );
        let refresh = match (expiring, client_id) {
            (true, Some(client_id)) => {
                let refresh = format!("ghr_{}", random_alphanumeric(76));
                self.refresh_tokens.insert(
                    refresh.clone(),
                    RefreshToken {
                        access_token: token.clone(),
                        client_id: client_id.to_string(),
                        expires_at: now + REFRESH_TOKEN_LIFETIME,
                        expired: false,
                        used: false,
                    },
                );
                Some(refresh)
            }
            _ => None,
        };
        (token, refresh)
    }

    /// Revokes an access token and the refresh token that came with it.
    pub fn revoke_token(&mut self, token: &str) {
        if let Some(t) = self.tokens.get_mut(token) {
            t.revoked = true;
        }
        for r in self.refresh_tokens.values_mut().filter(|r| r.access_token == token) {
            r.used = true;
        }
    }

    /// The user's access tokens, oldest first.
    pub fn tokens_of(&self, login: &str) -> Vec<TokenInfo> {
        let mut tokens: Vec<(&String, &Token)> = self.tokens.iter().filter(|(_, t)| key(&t.login) == key(login)).collect();
        tokens.sort_by_key(|(_, t)| t.seq);
        tokens
            .into_iter()
            .map(|(token, t)| TokenInfo {
                token: token.clone(),
                scopes: t.scopes.clone(),
                expired: t.is_expired(),
                revoked: t.revoked,
                client_id: t.client_id.clone(),
            })
            .collect()
    }

    /// The login signed in to the double's web pages: a sign-in cookie's, else the browser user.
    pub fn signed_in(&self, session: Option<&str>) -> Option<String> {
        let login = match session.and_then(|s| self.sessions.get(s)) {
            Some(login) => Some(login.clone()),
            None => self.browser_user.clone(),
        }?;
        self.user(&login).map(|u| u.login.clone())
    }

    /// Counts an API request against the caller's hourly budget; returns (limit, used, reset epoch).
    pub fn count_api_request(&mut self, caller: Option<&str>) -> (u64, u64, u64) {
        let limit = if caller.is_some() { 5000 } else { 60 };
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let entry = self.rate.entry(caller.map(key).unwrap_or_else(|| "anonymous".into())).or_insert((now + 3600, 0));
        if now >= entry.0 {
            *entry = (now + 3600, 0);
        }
        entry.1 += 1;
        (limit, entry.1, entry.0)
    }
}
