//! Configuration, read once from the environment at start.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not a valid socket address (expected e.g. 127.0.0.1:3000): {value}")]
    BadAddr { var: &'static str, value: String },
    #[error("{var} must be an http:// or https:// URL without a trailing path, got: {value}")]
    BadUrl { var: &'static str, value: String },
    #[error("{var} must not be empty")]
    Empty { var: &'static str },
    #[error("{var} must be a positive integer, got: {value}")]
    BadNumber { var: &'static str, value: String },
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
        let data_dir = PathBuf::from(var("GITBLIXT_DATA")?.unwrap_or_else(|| "data".into()));
        let database_url = match var("DATABASE_URL")? {
            Some(v) => v,
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
        Ok(Self { addr, data_dir, database_url, public_url, db_pool })
    }

    /// A configuration for tests and embedding: data in `data_dir`, SQLite inside it.
    pub fn for_data_dir(data_dir: PathBuf) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: data_dir.join("gitblixt.db").to_string_lossy().into_owned(),
            data_dir,
            public_url: None,
            db_pool: 8,
        }
    }
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
}
