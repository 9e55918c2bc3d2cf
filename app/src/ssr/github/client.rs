//! GitHub's REST API through octocrab, on the configured API base URL: who the token belongs to,
//! whether a repository exists and can be pushed to, and the user's repositories. Failures map to
//! the spec's troubleshooting messages.

use super::{GithubEndpoints, TOKEN_EXPIRED};
use crate::github_repo::GithubRepo;
use octocrab::Octocrab;
use secrecy::SecretString;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// 401: the token is invalid, expired or revoked.
    #[error("{TOKEN_EXPIRED}")]
    BadCredentials,
    /// 403, or a repository the account cannot push to.
    #[error("{}", super::permission_denied(.0))]
    PermissionDenied(String),
    /// 404 (GitHub also answers 404 for private repositories the token cannot see).
    #[error("{}", super::repository_not_found(.0))]
    NotFound(String),
    #[error("GitHub could not be reached: {0}")]
    Unreachable(String),
    #[error("GitHub answered {status}: {message}")]
    Unexpected { status: u16, message: String },
    #[error("invalid GitHub API URL: {0}")]
    Config(String),
}

impl GithubError {
    /// Worth retrying later by itself (network trouble, GitHub's own 5xx).
    pub fn is_retryable(&self) -> bool {
        matches!(self, GithubError::Unreachable(_)) || matches!(self, GithubError::Unexpected { status, .. } if *status >= 500 || *status == 429)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubUser {
    pub login: String,
    pub id: i64,
}

/// What GitBlixt needs to know about a GitHub repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRepository {
    pub full_name: String,
    pub private: bool,
    pub can_push: bool,
    pub default_branch: Option<String>,
    pub description: Option<String>,
}

pub struct GithubClient {
    octocrab: Octocrab,
}

impl GithubClient {
    /// A client for the API at `endpoints.api_url`, authenticated with `token` when given.
    pub fn new(endpoints: &GithubEndpoints, token: Option<&SecretString>) -> Result<Self, GithubError> {
        let mut builder = Octocrab::builder()
            .base_uri(endpoints.api_url.as_str())
            .map_err(|e| GithubError::Config(e.to_string()))?
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)));
        if let Some(token) = token {
            builder = builder.personal_token(token.clone());
        }
        let octocrab = builder.build().map_err(|e| GithubError::Config(e.to_string()))?;
        Ok(GithubClient { octocrab })
    }

    pub async fn current_user(&self) -> Result<GithubUser, GithubError> {
        let user = self.octocrab.current().user().await.map_err(|e| classify(e, "your account"))?;
        Ok(GithubUser { login: user.login, id: user.id.0 as i64 })
    }

    pub async fn repository(&self, repo: &GithubRepo) -> Result<RemoteRepository, GithubError> {
        let r = self.octocrab.repos(repo.owner(), repo.name()).get().await.map_err(|e| classify(e, &repo.to_string()))?;
        Ok(RemoteRepository {
            full_name: r.full_name.unwrap_or_else(|| repo.to_string()),
            private: r.private.unwrap_or(false),
            can_push: r.permissions.as_ref().is_some_and(|p| p.push || p.admin || p.maintain),
            default_branch: r.default_branch,
            description: r.description,
        })
    }

    /// The repository, if the token may push to it; else the spec's permission message.
    pub async fn check_push_access(&self, repo: &GithubRepo) -> Result<RemoteRepository, GithubError> {
        let found = self.repository(repo).await?;
        if !found.can_push {
            return Err(GithubError::PermissionDenied(repo.to_string()));
        }
        Ok(found)
    }

    /// The repositories of the token's user (owned and collaborating), all pages up to `limit`.
    pub async fn user_repositories(&self, limit: usize) -> Result<Vec<RemoteRepository>, GithubError> {
        let mut page = self
            .octocrab
            .current()
            .list_repos_for_authenticated_user()
            .per_page(100)
            .send()
            .await
            .map_err(|e| classify(e, "your repositories"))?;
        let mut out = Vec::new();
        loop {
            for r in page.items.drain(..) {
                out.push(RemoteRepository {
                    full_name: r.full_name.clone().unwrap_or_else(|| r.name.clone()),
                    private: r.private.unwrap_or(false),
                    can_push: r.permissions.as_ref().is_some_and(|p| p.push || p.admin || p.maintain),
                    default_branch: r.default_branch.clone(),
                    description: r.description.clone(),
                });
            }
            if out.len() >= limit {
                out.truncate(limit);
                break;
            }
            match self.octocrab.get_page::<octocrab::models::Repository>(&page.next).await.map_err(|e| classify(e, "your repositories"))? {
                Some(next) => page = next,
                None => break,
            }
        }
        Ok(out)
    }
}

fn classify(err: octocrab::Error, what: &str) -> GithubError {
    match err {
        octocrab::Error::GitHub { source, .. } => match source.status_code.as_u16() {
            401 => GithubError::BadCredentials,
            403 if source.message.to_ascii_lowercase().contains("rate limit") => {
                GithubError::Unexpected { status: 403, message: source.message }
            }
            403 => GithubError::PermissionDenied(what.to_string()),
            404 => GithubError::NotFound(what.to_string()),
            status => GithubError::Unexpected { status, message: source.message },
        },
        octocrab::Error::Hyper { source, .. } => GithubError::Unreachable(source.to_string()),
        octocrab::Error::Service { source, .. } => GithubError::Unreachable(source.to_string()),
        other => {
            // Non-JSON error bodies (e.g. a proxy's 502 page) end up here.
            let text = other.to_string();
            tracing::debug!(error = %text, "GitHub API call failed");
            GithubError::Unreachable(text.lines().next().unwrap_or("request failed").chars().take(200).collect())
        }
    }
}
