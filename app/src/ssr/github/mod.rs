//! The GitHub connection: where GitHub is (github.com or a GitHub Enterprise server), the OAuth App
//! that connects accounts, the stored (encrypted) tokens, and the REST client mirrors use.

pub mod client;
pub mod connection;
pub mod oauth;

use secrecy::SecretString;

/// The path of the OAuth callback on this instance.
pub const CALLBACK_PATH: &str = "/oauth/github/callback";

/// Messages of the spec (`spec/mirroring.md`, Troubleshooting), word for word.
pub const NO_TOKEN: &str = "No github OAuth token found";
pub const TOKEN_EXPIRED: &str = "OAuth token has expired";

/// The spec's "Permission denied / 403" for a repository.
pub fn permission_denied(repo: &str) -> String {
    format!("Permission denied (403): ensure your GitHub account has push access to {repo}.")
}

/// The spec's "Repository not found / 404" for a repository.
pub fn repository_not_found(repo: &str) -> String {
    format!("Repository not found (404): verify that {repo} is the correct owner/repo and that the repository exists on GitHub.")
}

/// What the user is told when Disconnect could not revoke the token at GitHub.
pub fn not_revoked(web_url: &str) -> String {
    format!("Disconnected. GitHub could not be reached to revoke GitBlixt's access; revoke it yourself at {web_url}/settings/applications.")
}

/// Where GitHub is. Always known (defaults to github.com), so public repositories can be fetched
/// without any OAuth configuration.
#[derive(Debug, Clone)]
pub struct GithubEndpoints {
    /// Web origin, e.g. `https://github.com` (OAuth pages and git over HTTP).
    pub web_url: String,
    /// REST API base, e.g. `https://api.github.com` or `https://ghe.example.com/api/v3`.
    pub api_url: String,
}

impl GithubEndpoints {
    /// The host of the web URL (to accept pasted repository URLs of this GitHub).
    pub fn web_host(&self) -> Option<&str> {
        let rest = self.web_url.split_once("://")?.1;
        let host = rest.split(['/', ':']).next()?;
        (!host.is_empty()).then_some(host)
    }

    /// The git smart HTTP URL of a repository; credentials never go into it.
    pub fn git_url(&self, repo: &crate::github_repo::GithubRepo) -> String {
        format!("{}/{}/{}.git", self.web_url, repo.owner(), repo.name())
    }
}

/// The instance's GitHub OAuth App (`GITHUB_CLIENT_ID`, `GITHUB_CLIENT_SECRET`).
#[derive(Debug, Clone)]
pub struct OAuthApp {
    pub client_id: String,
    pub client_secret: SecretString,
    /// `<public url>/oauth/github/callback`: must be the App's "Authorization callback URL".
    pub callback_url: String,
}

/// GitHub settings of the instance.
#[derive(Debug, Clone)]
pub struct GithubSettings {
    pub endpoints: GithubEndpoints,
    /// None when the administrator has not configured an OAuth App.
    pub oauth: Option<OAuthApp>,
}
