//! Configuration, read once from the environment at start.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not a valid socket address (expected e.g. 127.0.0.1:3000): {value}")]
    BadAddr { var: &'static str, value: String },
    #[error("{var} must be an http:// or https:// URL without a trailing path, got: {value}")]
    BadUrl { var: &'static str, value: String },
    #[error("{var} must be IP addresses separated by commas (e.g. 10.0.0.1,::1), got: {value}")]
    BadIp { var: &'static str, value: String },
    #[error("GITBLIXT_REGISTRATION must be open or closed, got: {0}")]
    BadRegistration(String),
    #[error("{var} must not be empty")]
    Empty { var: &'static str },
    #[error("{var} must be a whole number in its allowed range (see the README), got: {value}")]
    BadNumber { var: &'static str, value: String },
    #[error("{var} could not be made an absolute path ({value}): {source}")]
    BadPath { var: &'static str, value: String, source: std::io::Error },
    #[error("GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET must be set together (the GitHub OAuth App's client ID and secret)")]
    HalfOAuthApp,
    #[error("{var} must be an http:// or https:// URL without credentials, query or fragment, got: {value}")]
    BadGithubUrl { var: &'static str, value: String },
    #[error("GITBLIXT_SMTP_URL must be smtp://host[:port] or smtps://user:password@host[:port] (the value is not shown)")]
    BadSmtpUrl,
    #[error("GITBLIXT_MAIL_FROM must be an address like \"GitBlixt <gitblixt@example.com>\", got: {0}")]
    BadMailFrom(String),
    #[error("GITBLIXT_MAIL_FROM must be set with GITBLIXT_SMTP_URL (the sender of notification e-mail)")]
    NoMailFrom,
    #[error("GITBLIXT_SSH_PUBLIC must be user@host (port 22) or ssh://user@host[:port], got: {0}")]
    BadSshPublic(String),
}

/// Git over SSH (see the README, "Git over SSH").
#[derive(Debug, Clone)]
pub struct SshConfig {
    /// `GITBLIXT_SSH_ADDR`: where the SSH server listens (default `127.0.0.1:2222`; set it empty
    /// to serve no SSH).
    pub addr: SocketAddr,
    /// `GITBLIXT_SSH_HOST_KEY`: the host's private key (OpenSSH format); default
    /// `<data>/ssh_host_ed25519_key`, generated at first start.
    pub host_key: Option<PathBuf>,
    /// `GITBLIXT_SSH_PUBLIC`: how users reach the SSH server, when it differs from this address.
    pub public: Option<SshPublic>,
    /// `GITBLIXT_SSH_MAX_CONNECTIONS`: SSH connections at once (default 256); one client address
    /// may hold an eighth of them (at least 4).
    pub max_connections: usize,
    /// `GITBLIXT_SSH_SESSION_TIMEOUT`: seconds one SSH connection may last (default 21600, 6 hours).
    pub session_timeout: std::time::Duration,
    /// How long a client has to authenticate after connecting (30 s, as OpenSSH's
    /// `LoginGraceTime` but shorter: git clients authenticate at once).
    pub login_grace: std::time::Duration,
}

impl SshConfig {
    /// SSH on `addr` (port 0: one the system picks), everything else as by default.
    pub fn on(addr: SocketAddr) -> Self {
        SshConfig {
            addr,
            host_key: None,
            public: None,
            max_connections: 256,
            session_timeout: std::time::Duration::from_secs(6 * 3600),
            login_grace: std::time::Duration::from_secs(30),
        }
    }
}

/// `GITBLIXT_SSH_PUBLIC`, parsed: the user name clients connect as, the host and the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshPublic {
    pub user: String,
    pub host: String,
    pub port: u16,
}

impl SshPublic {
    /// `user@host` (port 22, as git's scp-like syntax) or `ssh://user@host[:port]`.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim().trim_end_matches('/');
        let (rest, url_form) = match raw.strip_prefix("ssh://") {
            Some(rest) => (rest, true),
            None => (raw, false),
        };
        let (user, host_port) = rest.split_once('@')?;
        let (host, port) = match host_port.rsplit_once(':') {
            Some((host, port)) if url_form && !host.is_empty() && !port.contains(']') => (host, port.parse::<u16>().ok().filter(|p| *p > 0)?),
            _ => (host_port, 22),
        };
        let user_ok = !user.is_empty() && user.len() <= 32 && user.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) && !user.starts_with('-');
        let bare_host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'));
        let host_ok = match bare_host {
            Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => !host.is_empty() && !host.starts_with('-') && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-".contains(&b)),
        };
        (user_ok && host_ok).then(|| SshPublic { user: user.to_string(), host: host.to_string(), port })
    }

    /// What an SSH clone URL starts with: `user@host:` for port 22, else `ssh://user@host:port/`.
    pub fn clone_prefix(&self) -> String {
        if self.port == 22 { format!("{}@{}:", self.user, self.host) } else { format!("ssh://{}@{}:{}/", self.user, self.host, self.port) }
    }
}

/// Where notification e-mail goes out (`GITBLIXT_SMTP_URL`, `GITBLIXT_MAIL_FROM`).
#[derive(Clone)]
pub struct MailConfig {
    /// May contain the SMTP password.
    pub smtp_url: secrecy::SecretString,
    pub from: String,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig").field("smtp_url", &"***").field("from", &self.from).finish()
    }
}

/// Where GitHub is, and the instance's OAuth App (see the README, "Connecting GitHub").
#[derive(Clone)]
pub struct GithubConfig {
    /// `GITHUB_URL`: GitHub's web address (default `https://github.com`; a GitHub Enterprise server's URL otherwise).
    pub web_url: String,
    /// `GITHUB_API_URL`: GitHub's REST API base (default `https://api.github.com`; `https://<ghe>/api/v3` for GitHub Enterprise).
    pub api_url: String,
    /// `GITHUB_CLIENT_ID` + `GITHUB_CLIENT_SECRET`: the OAuth App; None when not configured.
    pub oauth_app: Option<(String, secrecy::SecretString)>,
}

impl std::fmt::Debug for GithubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubConfig")
            .field("web_url", &self.web_url)
            .field("api_url", &self.api_url)
            .field("client_id", &self.oauth_app.as_ref().map(|(id, _)| id))
            .finish_non_exhaustive()
    }
}

impl Default for GithubConfig {
    fn default() -> Self {
        GithubConfig { web_url: "https://github.com".into(), api_url: "https://api.github.com".into(), oauth_app: None }
    }
}

/// An http(s) base URL (a path is allowed, for GitHub Enterprise's `/api/v3`), without a trailing slash.
pub fn normalise_base_url(raw: &str) -> Option<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("http://").or_else(|| trimmed.strip_prefix("https://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() || rest.contains(['@', '?', '#']) || rest.contains(char::is_whitespace) {
        return None;
    }
    Some(trimmed.to_string())
}

/// Everything `gitblixt` reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `GITBLIXT_ADDR`: where the web server listens (default `127.0.0.1:3000`).
    pub addr: SocketAddr,
    /// `GITBLIXT_DATA`: the data directory (default `./data`): repositories, SQLite database, scratch.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: `sqlite://<path>` / a path, or `postgres://…` (default `<data>/gitblixt.db`).
    pub database_url: String,
    /// `GITBLIXT_PUBLIC_URL`: the URL users reach the instance at (default `http://<addr>`).
    pub public_url: Option<String>,
    /// `GITBLIXT_DB_POOL`: database connections (default 8).
    pub db_pool: u32,
    /// `GITBLIXT_SECRET_KEY`: the key that encrypts stored tokens (else `<data>/secret.key`).
    pub secret_key: Option<secrecy::SecretString>,
    pub github: GithubConfig,
    /// The sync service (`GITBLIXT_SYNC_WORKERS`: runs at the same time, default 32;
    /// `GITBLIXT_SYNC_TIMEOUT`: seconds a run may take, default 1800).
    pub sync: crate::sync::SyncConfig,
    /// `GITBLIXT_METRICS_TOKEN`: when set, `GET /metrics` needs `Authorization: Bearer <token>`.
    pub metrics_token: Option<secrecy::SecretString>,
    /// `GITBLIXT_SMTP_URL` + `GITBLIXT_MAIL_FROM`: notification e-mail; None: no e-mail.
    pub mail: Option<MailConfig>,
    /// Abuse limits and quotas (see [`Limits`]).
    pub limits: Limits,
    /// `GITBLIXT_REGISTRATION`: `open` (default: anyone may sign up) or `closed` (only
    /// administrators create accounts, with `gitblixt admin create-user`).
    pub registration_open: bool,
    /// `GITBLIXT_ALLOWED_ORIGINS`: comma-separated origins besides the public URL's that browsers
    /// may post from (another name of the same instance).
    pub allowed_origins: Vec<String>,
    /// Git over SSH; None: not served (`GITBLIXT_SSH_ADDR` set empty).
    pub ssh: Option<SshConfig>,
    /// `GITBLIXT_HOUSEKEEPING_DELAY`: seconds a repository's refs must have stayed unchanged
    /// before `git gc --auto` tidies it (default 60; see [`crate::housekeeping`]).
    pub housekeeping_delay: std::time::Duration,
}

fn var(name: &'static str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Err(ConfigError::Empty { var: name }),
        Ok(v) => Ok(Some(v)),
        Err(_) => Ok(None),
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let addr = match var("GITBLIXT_ADDR")? {
            Some(v) => v.parse().map_err(|_| ConfigError::BadAddr { var: "GITBLIXT_ADDR", value: v })?,
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
        };
        // Made absolute once, here: git resolves relative paths (core.hooksPath among them)
        // against the repository it runs in, not against our working directory.
        let data_dir = absolute("GITBLIXT_DATA", var("GITBLIXT_DATA")?.as_deref().unwrap_or("data"))?;
        let database_url = match var("DATABASE_URL")? {
            Some(v) => absolute_sqlite_url(&v)?,
            None => data_dir.join("gitblixt.db").to_string_lossy().into_owned(),
        };
        let public_url = match var("GITBLIXT_PUBLIC_URL")? {
            Some(v) => Some(normalise_public_url(&v).ok_or(ConfigError::BadUrl { var: "GITBLIXT_PUBLIC_URL", value: v })?),
            None => None,
        };
        let db_pool = match var("GITBLIXT_DB_POOL")? {
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(ConfigError::BadNumber { var: "GITBLIXT_DB_POOL", value: v })?,
            None => 8,
        };
        let secret_key = var("GITBLIXT_SECRET_KEY")?.map(secrecy::SecretString::from);
        let github_url = |name: &'static str, default: &str| -> Result<String, ConfigError> {
            match var(name)? {
                Some(v) => normalise_base_url(&v).ok_or(ConfigError::BadGithubUrl { var: name, value: v }),
                None => Ok(default.to_string()),
            }
        };
        let defaults = GithubConfig::default();
        let web_url = github_url("GITHUB_URL", &defaults.web_url)?;
        let api_url = github_url("GITHUB_API_URL", &defaults.api_url)?;
        let oauth_app = match (var("GITHUB_CLIENT_ID")?, var("GITHUB_CLIENT_SECRET")?) {
            (Some(id), Some(secret)) => Some((id.trim().to_string(), secrecy::SecretString::from(secret.trim().to_string()))),
            (None, None) => None,
            _ => return Err(ConfigError::HalfOAuthApp),
        };
        let mut sync = crate::sync::SyncConfig::default();
        if let Some(v) = var("GITBLIXT_SYNC_WORKERS")? {
            sync.workers = v
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .ok_or(ConfigError::BadNumber { var: "GITBLIXT_SYNC_WORKERS", value: v })?;
        }
        if let Some(v) = var("GITBLIXT_SYNC_TIMEOUT")? {
            sync.run_timeout = v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=86_400).contains(n))
                .map(std::time::Duration::from_secs)
                .ok_or(ConfigError::BadNumber { var: "GITBLIXT_SYNC_TIMEOUT", value: v })?;
        }
        let mail = match (var("GITBLIXT_SMTP_URL")?, var("GITBLIXT_MAIL_FROM")?) {
            (Some(url), Some(from)) => {
                let mail = MailConfig { smtp_url: secrecy::SecretString::from(url.trim().to_string()), from: from.trim().to_string() };
                crate::mail::Mailer::new(&mail)?;
                Some(mail)
            }
            (Some(_), None) => return Err(ConfigError::NoMailFrom),
            (None, _) => None,
        };
        let metrics_token = var("GITBLIXT_METRICS_TOKEN")?.map(|t| secrecy::SecretString::from(t.trim().to_string()));
        if let Some(v) = var("GITBLIXT_DEAD_UPSTREAM_DAYS")? {
            sync.dead_after = v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=3650).contains(n))
                .map(|days| std::time::Duration::from_secs(days * 24 * 3600))
                .ok_or(ConfigError::BadNumber { var: "GITBLIXT_DEAD_UPSTREAM_DAYS", value: v })?;
        }
        let allowed_origins = match var("GITBLIXT_ALLOWED_ORIGINS")? {
            Some(v) => parse_origins(&v)?,
            None => Vec::new(),
        };
        let limits = Limits::from_env()?;
        let ssh = ssh_from_env()?;
        let registration_open = match var("GITBLIXT_REGISTRATION")?.as_deref().map(str::trim) {
            None | Some("open") => true,
            Some("closed") => false,
            Some(other) => return Err(ConfigError::BadRegistration(other.to_string())),
        };
        let housekeeping_delay = housekeeping_delay(var("GITBLIXT_HOUSEKEEPING_DELAY")?)?;
        Ok(Self {
            housekeeping_delay,
            ssh,
            registration_open,
            limits,
            allowed_origins,
            mail,
            metrics_token,
            addr,
            data_dir,
            database_url,
            public_url,
            db_pool,
            secret_key,
            github: GithubConfig { web_url, api_url, oauth_app },
            sync,
        })
    }

    /// A configuration for tests and embedding: data in `data_dir`, SQLite inside it.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: data_dir.join("gitblixt.db").to_string_lossy().into_owned(),
            data_dir,
            public_url: None,
            db_pool: 8,
            secret_key: None,
            github: GithubConfig::default(),
            sync: crate::sync::SyncConfig::default(),
            metrics_token: None,
            mail: None,
            allowed_origins: Vec::new(),
            limits: Limits::default(),
            registration_open: true,
            ssh: None,
            housekeeping_delay: crate::housekeeping::DEFAULT_DELAY,
        }
    }
}

/// The SSH server's settings: `GITBLIXT_SSH_ADDR` (empty: none), `GITBLIXT_SSH_HOST_KEY`,
/// `GITBLIXT_SSH_PUBLIC`, `GITBLIXT_SSH_MAX_CONNECTIONS`, `GITBLIXT_SSH_SESSION_TIMEOUT`.
fn ssh_from_env() -> Result<Option<SshConfig>, ConfigError> {
    let addr = match std::env::var("GITBLIXT_SSH_ADDR") {
        Ok(v) if v.trim().is_empty() => return Ok(None),
        Ok(v) => v.trim().parse().map_err(|_| ConfigError::BadAddr { var: "GITBLIXT_SSH_ADDR", value: v })?,
        Err(_) => SocketAddr::from(([127, 0, 0, 1], 2222)),
    };
    let mut ssh = SshConfig::on(addr);
    if let Some(v) = var("GITBLIXT_SSH_HOST_KEY")? {
        ssh.host_key = Some(absolute("GITBLIXT_SSH_HOST_KEY", v.trim())?);
    }
    if let Some(v) = var("GITBLIXT_SSH_PUBLIC")? {
        ssh.public = Some(SshPublic::parse(&v).ok_or(ConfigError::BadSshPublic(v))?);
    }
    if let Some(v) = var("GITBLIXT_SSH_MAX_CONNECTIONS")? {
        ssh.max_connections = number_in("GITBLIXT_SSH_MAX_CONNECTIONS", v, 1..=100_000)? as usize;
    }
    if let Some(v) = var("GITBLIXT_SSH_SESSION_TIMEOUT")? {
        ssh.session_timeout = std::time::Duration::from_secs(number_in("GITBLIXT_SSH_SESSION_TIMEOUT", v, 10..=7 * 24 * 3600)?);
    }
    Ok(Some(ssh))
}

/// Abuse limits and quotas, each from its variable (see the README, "Limits").
#[derive(Debug, Clone)]
pub struct Limits {
    /// `GITBLIXT_AUTH_FAILURES_PER_MINUTE`: failed sign-ins (web, git, API) per client address
    /// and per account before they are refused for a while (default 10).
    pub auth_failures_per_minute: std::num::NonZeroU32,
    /// Password checks at once (the number of cores; over it, 503 at once).
    pub password_hashes: usize,
    /// `GITBLIXT_TRUSTED_PROXIES`: addresses of reverse proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// `GITBLIXT_GIT_PROCESSES`: git processes serving clients at once (default 4 per core).
    pub git_processes: usize,
    /// `GITBLIXT_GIT_IDLE_TIMEOUT`: seconds a git request body may send nothing (default 60).
    pub git_idle: std::time::Duration,
    /// `GITBLIXT_MAX_PUSH_MB`: the largest push, in MiB (default 2048, as GitHub's 2 GB).
    pub max_push_bytes: u64,
    /// Repositories, mirrors, fetch size and free disk space (`GITBLIXT_MAX_REPOS_PER_USER`,
    /// `GITBLIXT_MAX_MIRRORS_PER_REPO`, `GITBLIXT_MAX_PULL_MIRRORS_PER_USER`,
    /// `GITBLIXT_MAX_FETCH_MB`, `GITBLIXT_MIN_FREE_MB`).
    pub quotas: app::ssr::quotas::Quotas,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            auth_failures_per_minute: std::num::NonZeroU32::new(10).unwrap_or(std::num::NonZeroU32::MIN),
            password_hashes: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2),
            trusted_proxies: Vec::new(),
            git_processes: 4 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            git_idle: std::time::Duration::from_secs(60),
            max_push_bytes: 2048 << 20,
            quotas: app::ssr::quotas::Quotas::default(),
        }
    }
}

/// `GITBLIXT_HOUSEKEEPING_DELAY`: 1 s to a day, default [`crate::housekeeping::DEFAULT_DELAY`].
fn housekeeping_delay(value: Option<String>) -> Result<std::time::Duration, ConfigError> {
    match value {
        Some(v) => Ok(std::time::Duration::from_secs(number_in("GITBLIXT_HOUSEKEEPING_DELAY", v, 1..=86_400)?)),
        None => Ok(crate::housekeeping::DEFAULT_DELAY),
    }
}

/// A whole number from `value` within `range`, or the variable's error.
fn number_in(var: &'static str, value: String, range: std::ops::RangeInclusive<u64>) -> Result<u64, ConfigError> {
    value.trim().parse::<u64>().ok().filter(|n| range.contains(n)).ok_or(ConfigError::BadNumber { var, value })
}

impl Limits {
    fn from_env() -> Result<Self, ConfigError> {
        let mut limits = Limits::default();
        if let Some(v) = var("GITBLIXT_AUTH_FAILURES_PER_MINUTE")? {
            let n = number_in("GITBLIXT_AUTH_FAILURES_PER_MINUTE", v, 1..=10_000)?;
            limits.auth_failures_per_minute = std::num::NonZeroU32::new(n as u32).unwrap_or(std::num::NonZeroU32::MIN);
        }
        if let Some(v) = var("GITBLIXT_TRUSTED_PROXIES")? {
            limits.trusted_proxies = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().map_err(|_| ConfigError::BadIp { var: "GITBLIXT_TRUSTED_PROXIES", value: s.to_string() }))
                .collect::<Result<_, _>>()?;
        }
        if let Some(v) = var("GITBLIXT_GIT_PROCESSES")? {
            limits.git_processes = number_in("GITBLIXT_GIT_PROCESSES", v, 1..=10_000)? as usize;
        }
        if let Some(v) = var("GITBLIXT_GIT_IDLE_TIMEOUT")? {
            limits.git_idle = std::time::Duration::from_secs(number_in("GITBLIXT_GIT_IDLE_TIMEOUT", v, 1..=86_400)?);
        }
        if let Some(v) = var("GITBLIXT_MAX_PUSH_MB")? {
            limits.max_push_bytes = number_in("GITBLIXT_MAX_PUSH_MB", v, 1..=1_048_576)? << 20;
        }
        let q = &mut limits.quotas;
        if let Some(v) = var("GITBLIXT_MAX_REPOS_PER_USER")? {
            q.repos_per_user = number_in("GITBLIXT_MAX_REPOS_PER_USER", v, 1..=1_000_000)? as i64;
        }
        if let Some(v) = var("GITBLIXT_MAX_MIRRORS_PER_REPO")? {
            q.mirrors_per_repo = number_in("GITBLIXT_MAX_MIRRORS_PER_REPO", v, 1..=1_000)? as i64;
        }
        if let Some(v) = var("GITBLIXT_MAX_PULL_MIRRORS_PER_USER")? {
            q.pull_mirrors_per_user = number_in("GITBLIXT_MAX_PULL_MIRRORS_PER_USER", v, 1..=1_000_000)? as i64;
        }
        if let Some(v) = var("GITBLIXT_MAX_FETCH_MB")? {
            q.max_fetch_bytes = number_in("GITBLIXT_MAX_FETCH_MB", v, 1..=16_777_216)? << 20;
        }
        if let Some(v) = var("GITBLIXT_MIN_FREE_MB")? {
            // 0 turns the guard off.
            q.min_free_bytes = number_in("GITBLIXT_MIN_FREE_MB", v, 0..=16_777_216)? << 20;
        }
        Ok(limits)
    }
}

/// `GITBLIXT_ALLOWED_ORIGINS`: `https://host[:port]` entries separated by commas.
fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            normalise_public_url(o)
                .and_then(|u| crate::origin_check::origin_of(&u))
                .ok_or(ConfigError::BadUrl { var: "GITBLIXT_ALLOWED_ORIGINS", value: o.to_string() })
        })
        .collect()
}

/// `path` as an absolute path (relative to the working directory at start), without touching the disk.
fn absolute(var: &'static str, path: &str) -> Result<PathBuf, ConfigError> {
    std::path::absolute(path).map_err(|source| ConfigError::BadPath { var, value: path.to_string(), source })
}

/// A SQLite `DATABASE_URL` (`sqlite://<path>` or a plain path) with its path made absolute;
/// other URLs (PostgreSQL) unchanged.
fn absolute_sqlite_url(url: &str) -> Result<String, ConfigError> {
    if url.contains("://") && !url.starts_with("sqlite://") {
        return Ok(url.to_string());
    }
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    if path == ":memory:" || path.starts_with("file:") {
        return Ok(url.to_string());
    }
    let absolute = absolute("DATABASE_URL", path)?;
    Ok(format!("sqlite://{}", absolute.display()))
}

/// `https://host[:port]` with no trailing slash, or None if it is not such a URL.
pub fn normalise_public_url(raw: &str) -> Option<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let rest = trimmed.strip_prefix("http://").or_else(|| trimmed.strip_prefix("https://"))?;
    if rest.is_empty() || rest.contains('/') || rest.contains('@') || rest.contains(char::is_whitespace) {
        return None;
    }
    Some(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_checked() {
        assert_eq!(normalise_public_url("https://git.example.com/").as_deref(), Some("https://git.example.com"));
        assert_eq!(normalise_public_url("http://127.0.0.1:3000").as_deref(), Some("http://127.0.0.1:3000"));
        assert_eq!(normalise_public_url("ftp://x"), None);
        assert_eq!(normalise_public_url("https://x/y"), None);
        assert_eq!(normalise_public_url("https://user:pw@x"), None);
    }

    #[test]
    fn relative_paths_become_absolute() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(absolute("GITBLIXT_DATA", "data").unwrap(), cwd.join("data"));
        assert_eq!(absolute("GITBLIXT_DATA", "/srv/gitblixt").unwrap(), PathBuf::from("/srv/gitblixt"));
        assert_eq!(absolute_sqlite_url("sqlite://x.db").unwrap(), format!("sqlite://{}", cwd.join("x.db").display()));
        assert_eq!(absolute_sqlite_url("db/x.db").unwrap(), format!("sqlite://{}", cwd.join("db/x.db").display()));
        assert_eq!(absolute_sqlite_url("postgres://u:p@h/db").unwrap(), "postgres://u:p@h/db");
    }

    #[test]
    fn ssh_public_addresses_are_checked() {
        let p = SshPublic::parse("git@git.example.com").unwrap();
        assert_eq!((p.user.as_str(), p.host.as_str(), p.port), ("git", "git.example.com", 22));
        assert_eq!(p.clone_prefix(), "git@git.example.com:");
        let p = SshPublic::parse("ssh://git@git.example.com:2222/").unwrap();
        assert_eq!(p.clone_prefix(), "ssh://git@git.example.com:2222/");
        assert_eq!(SshPublic::parse("ssh://git@[::1]:2222").unwrap().host, "[::1]");
        for bad in ["git.example.com", "git@", "@host", "ssh://git@host:0", "ssh://git@host:x", "git@host/path", "-oProxyCommand=x@host", "git@-host", "git@host:2222", "a b@host"] {
            assert_eq!(SshPublic::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_housekeeping_delay_is_checked() {
        assert_eq!(housekeeping_delay(None).unwrap(), std::time::Duration::from_secs(60));
        assert_eq!(housekeeping_delay(Some(" 5 ".into())).unwrap(), std::time::Duration::from_secs(5));
        for bad in ["0", "-1", "86401", "1.5", "a minute"] {
            let err = housekeeping_delay(Some(bad.into())).unwrap_err().to_string();
            assert_eq!(err, format!("GITBLIXT_HOUSEKEEPING_DELAY must be a whole number in its allowed range (see the README), got: {bad}"));
        }
    }

    #[test]
    fn github_urls_are_checked() {
        assert_eq!(normalise_base_url("https://ghe.example.com/api/v3/").as_deref(), Some("https://ghe.example.com/api/v3"));
        assert_eq!(normalise_base_url("http://127.0.0.1:9000").as_deref(), Some("http://127.0.0.1:9000"));
        for bad in ["github.com", "https://", "https://u:p@github.com", "https://github.com?x=1", "ftp://github.com"] {
            assert_eq!(normalise_base_url(bad), None, "{bad}");
        }
    }
}
