//! `owner/repo` of a GitHub repository, parsed once with GitHub's naming rules. Used by the
//! browser (form checks) and the server (the only way a remote repository name gets in).

use serde::{Deserialize, Serialize};
use std::fmt;

pub const MAX_OWNER: usize = 39;
pub const MAX_REPO: usize = 100;

const EXPECTED: &str = "Enter the GitHub repository as owner/repo, for example octocat/hello-world.";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GithubRepoError {
    #[error("{EXPECTED}")]
    Format,
    #[error(
        "'{0}' is not a valid GitHub owner: use 1 to 39 letters, digits or single hyphens, not starting or ending with a hyphen. {EXPECTED}"
    )]
    Owner(String),
    #[error(
        "'{0}' is not a valid GitHub repository name: use 1 to 100 letters, digits, '.', '_' or '-' (not '.' or '..'). {EXPECTED}"
    )]
    Repo(String),
    #[error("{0} is not a GitHub URL. {EXPECTED}")]
    Host(String),
}

/// A GitHub repository's `owner/name`, valid by GitHub's rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GithubRepo {
    owner: String,
    name: String,
}

impl GithubRepo {
    /// Parses `owner/repo`, `owner/repo.git`, or a pasted `https://github.com/owner/repo[.git][/]`
    /// URL. `web_host` is the host of the configured GitHub (e.g. a GitHub Enterprise server), whose
    /// URLs are accepted too.
    pub fn parse_for(input: &str, web_host: Option<&str>) -> Result<Self, GithubRepoError> {
        let input = input.trim();
        let path = match url_path(input) {
            Some((host, path)) => {
                let host_lower = host.to_ascii_lowercase();
                let known = ["github.com", "www.github.com"].contains(&host_lower.as_str())
                    || web_host.is_some_and(|h| h.eq_ignore_ascii_case(&host_lower));
                if !known {
                    return Err(GithubRepoError::Host(host.to_string()));
                }
                path
            }
            None => input,
        };
        let path = path.trim_end_matches('/');
        let mut parts = path.split('/');
        let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(GithubRepoError::Format);
        };
        if owner.is_empty() || name.is_empty() {
            return Err(GithubRepoError::Format);
        }
        let name = match name.strip_suffix(".git") {
            Some(stripped) if !stripped.is_empty() => stripped,
            _ => name,
        };
        if !valid_owner(owner) {
            return Err(GithubRepoError::Owner(owner.to_string()));
        }
        if !valid_repo(name) {
            return Err(GithubRepoError::Repo(name.to_string()));
        }
        Ok(GithubRepo { owner: owner.to_string(), name: name.to_string() })
    }

    /// [`Self::parse_for`] accepting github.com URLs only.
    pub fn parse(input: &str) -> Result<Self, GithubRepoError> {
        Self::parse_for(input, None)
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Case-insensitive identity (GitHub treats names so).
    pub fn same_as(&self, other: &GithubRepo) -> bool {
        self.owner.eq_ignore_ascii_case(&other.owner) && self.name.eq_ignore_ascii_case(&other.name)
    }
}

impl fmt::Display for GithubRepo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// `(host, path)` of an `http(s)://host/path` or `host.tld/path` input that looks like a URL.
fn url_path(input: &str) -> Option<(&str, &str)> {
    let rest = input
        .strip_prefix("https://")
        .or_else(|| input.strip_prefix("http://"))
        .or_else(|| {
            // "github.com/owner/repo" without a scheme
            let first = input.split('/').next()?;
            first.contains('.').then_some(input)
        })?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.split(':').next().unwrap_or(host);
    let path = path.split(['?', '#']).next().unwrap_or(path);
    Some((host, path))
}

fn valid_owner(owner: &str) -> bool {
    owner.len() <= MAX_OWNER
        && !owner.starts_with('-')
        && !owner.ends_with('-')
        && !owner.contains("--")
        && owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn valid_repo(name: &str) -> bool {
    name.len() <= MAX_REPO
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        for (input, expected) in [
            ("octocat/hello-world", "octocat/hello-world"),
            ("  octocat/hello-world  ", "octocat/hello-world"),
            ("octocat/hello-world.git", "octocat/hello-world"),
            ("https://github.com/octocat/hello-world", "octocat/hello-world"),
            ("https://github.com/octocat/hello-world.git", "octocat/hello-world"),
            ("https://github.com/octocat/hello-world/", "octocat/hello-world"),
            ("http://www.github.com/octocat/hello-world", "octocat/hello-world"),
            ("github.com/octocat/hello-world", "octocat/hello-world"),
            ("https://GitHub.com/Octo-Cat/Repo_1.x", "Octo-Cat/Repo_1.x"),
            ("a/b", "a/b"),
            ("a/.github", "a/.github"),
            ("a/...", "a/..."),
            ("a/.git", "a/.git"),
            (&format!("{}/{}", "o".repeat(39), "r".repeat(100)), &format!("{}/{}", "o".repeat(39), "r".repeat(100))),
        ] {
            assert_eq!(GithubRepo::parse(input).map(|r| r.to_string()).as_deref(), Ok(expected), "{input}");
        }
        let ghe = GithubRepo::parse_for("https://ghe.example.com/team/app.git", Some("ghe.example.com")).unwrap();
        assert_eq!((ghe.owner(), ghe.name()), ("team", "app"));
    }

    #[test]
    fn refuses_with_the_expected_format() {
        for input in [
            "", "octocat", "/repo", "owner/", "owner//repo", "owner/repo/extra", "-owner/repo", "owner-/repo",
            "ow--ner/repo", "own_er/repo", "owner/re po", "owner/.", "owner/..", "owner/repo!",
            "https://github.com/owner", "https://github.com/owner/repo/tree/main", "https://gitlab.com/owner/repo",
            "git@github.com:owner/repo.git", "owner/répo",
        ] {
            let err = GithubRepo::parse(input).expect_err(input);
            assert!(err.to_string().contains("owner/repo"), "{input}: {err}");
        }
        assert!(GithubRepo::parse(&format!("{}/r", "o".repeat(40))).is_err());
        assert!(GithubRepo::parse(&format!("o/{}", "r".repeat(101))).is_err());
        assert!(matches!(GithubRepo::parse("https://gitlab.com/a/b"), Err(GithubRepoError::Host(_))));
    }

    #[test]
    fn identity_ignores_case() {
        assert!(GithubRepo::parse("Octocat/Hello").unwrap().same_as(&GithubRepo::parse("octocat/hello").unwrap()));
    }
}
