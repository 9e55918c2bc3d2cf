//! User and repository names: the one place that decides what a valid name is.
//!
//! Names appear in URLs and on disk (`<data>/repos/<owner>/<name>.git`), so they are parsed
//! once into these types and trusted everywhere after.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest user name we accept (GitHub's limit).
pub const MAX_USER_NAME: usize = 39;
/// Longest repository name we accept (GitHub's limit).
pub const MAX_REPO_NAME: usize = 100;

/// User names that would collide with the application's own top-level routes.
const RESERVED_USER: &[&str] = &[
    "about", "admin", "api", "assets", "dashboard", "explore", "favicon.ico", "help", "import",
    "login", "logout", "new", "oauth", "pkg", "public", "robots.txt", "settings", "signin",
    "signout", "signup", "static", "user", "users", "ws",
];

/// Repository names that would be confusing next to the application's own routes.
const RESERVED_REPO: &[&str] = &["api", "login", "logout", "new", "oauth", "settings", "signin", "signout", "signup"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("{what} can't be blank.")]
    Empty { what: &'static str },
    #[error("{what} is too long (at most {max} characters).")]
    TooLong { what: &'static str, max: usize },
    #[error("{what} may only contain letters, digits, '-', '_' and '.'.")]
    BadCharacter { what: &'static str },
    #[error("{what} can't start with '-' or '.'.")]
    BadStart { what: &'static str },
    #[error("{what} can't contain '..' or end with '.git' or '.'.")]
    BadSequence { what: &'static str },
    #[error("'{name}' is reserved; choose another {what_lower}.")]
    Reserved { name: String, what_lower: &'static str },
}

fn check(raw: &str, what: &'static str, what_lower: &'static str, max: usize, reserved: &[&str]) -> Result<(), NameError> {
    if raw.is_empty() {
        return Err(NameError::Empty { what });
    }
    if raw.chars().count() > max {
        return Err(NameError::TooLong { what, max });
    }
    if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(NameError::BadCharacter { what });
    }
    if raw.starts_with('-') || raw.starts_with('.') {
        return Err(NameError::BadStart { what });
    }
    let lower = raw.to_ascii_lowercase();
    if raw.contains("..") || lower.ends_with(".git") || raw.ends_with('.') {
        return Err(NameError::BadSequence { what });
    }
    if reserved.contains(&lower.as_str()) {
        return Err(NameError::Reserved { name: raw.to_string(), what_lower });
    }
    Ok(())
}

/// A valid user name, as typed (case preserved). Unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserName(String);

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        check(raw, "Username", "username", MAX_USER_NAME, RESERVED_USER)?;
        Ok(Self(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The case-insensitive key used for uniqueness and look-ups.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A valid repository name, as typed (case preserved). Unique per owner case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoName(String);

impl RepoName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        check(raw, "Repository name", "repository name", MAX_REPO_NAME, RESERVED_REPO)?;
        Ok(Self(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `owner/name`, both parts valid.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RepoPath {
    pub owner: UserName,
    pub name: RepoName,
}

impl RepoPath {
    /// Parses `owner/name` (as given to `gitblixt admin create-repo`).
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let (owner, name) = raw.split_once('/').ok_or(NameError::BadCharacter { what: "Repository path" })?;
        Ok(Self { owner: UserName::parse(owner)?, name: RepoName::parse(name)? })
    }
}

impl fmt::Display for RepoPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        for ok in ["alice", "Bob_2", "my-repo", "my.repo", "a", "x_y-z.1"] {
            assert!(RepoName::parse(ok).is_ok(), "{ok}");
            assert!(UserName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_bad_names_with_a_reason() {
        let cases: &[(&str, NameError)] = &[
            ("", NameError::Empty { what: "Repository name" }),
            ("-x", NameError::BadStart { what: "Repository name" }),
            (".hidden", NameError::BadStart { what: "Repository name" }),
            ("a..b", NameError::BadSequence { what: "Repository name" }),
            ("repo.git", NameError::BadSequence { what: "Repository name" }),
            ("a/b", NameError::BadCharacter { what: "Repository name" }),
            ("a b", NameError::BadCharacter { what: "Repository name" }),
            ("é", NameError::BadCharacter { what: "Repository name" }),
            ("a\0", NameError::BadCharacter { what: "Repository name" }),
            ("Settings", NameError::Reserved { name: "Settings".into(), what_lower: "repository name" }),
        ];
        for (raw, want) in cases {
            assert_eq!(RepoName::parse(raw).as_ref().err(), Some(want), "{raw:?}");
        }
        assert_eq!(
            UserName::parse(&"a".repeat(40)).err(),
            Some(NameError::TooLong { what: "Username", max: 39 })
        );
        assert!(RepoName::parse(&"a".repeat(100)).is_ok());
        assert!(RepoName::parse(&"a".repeat(101)).is_err());
        assert!(UserName::parse("api").is_err());
        assert!(UserName::parse("oauth").is_err());
        assert!(UserName::parse("login").is_err());
        assert!(UserName::parse("public").is_err());
        assert!(RepoName::parse("public").is_ok());
    }

    #[test]
    fn keys_are_case_insensitive() {
        assert_eq!(UserName::parse("Alice").unwrap().key(), "alice");
        assert_eq!(RepoPath::parse("Alice/Repo").unwrap().to_string(), "Alice/Repo");
    }
}
