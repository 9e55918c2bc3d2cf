//! Types shared between the server and the browser.

use serde::{Deserialize, Serialize};

/// The signed-in user, as the page needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
}

/// A repository in a list (dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoSummary {
    pub owner: String,
    pub name: String,
    pub description: String,
    pub is_private: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BranchInfo {
    pub name: String,
    pub commit: String,
    pub is_default: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagInfo {
    pub name: String,
    /// The object the tag finally points at (a commit, usually).
    pub target: String,
    pub annotated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitInfo {
    pub id: String,
    pub summary: String,
    pub author: String,
    /// Seconds since the epoch (author time).
    pub time: i64,
}

/// Everything the repository page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoView {
    pub summary: RepoSummary,
    pub clone_url: String,
    pub default_branch: String,
    pub branches: Vec<BranchInfo>,
    pub tags: Vec<TagInfo>,
    pub commits: Vec<CommitInfo>,
    pub can_admin: bool,
}

/// Scopes of a personal access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TokenScope {
    Api,
    ReadApi,
    ReadRepository,
    WriteRepository,
}

impl TokenScope {
    pub const ALL: [TokenScope; 4] =
        [TokenScope::Api, TokenScope::ReadApi, TokenScope::ReadRepository, TokenScope::WriteRepository];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Api => "api",
            TokenScope::ReadApi => "read_api",
            TokenScope::ReadRepository => "read_repository",
            TokenScope::WriteRepository => "write_repository",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    pub fn description(self) -> &'static str {
        match self {
            TokenScope::Api => "Full read/write access to the API and to repositories.",
            TokenScope::ReadApi => "Read access to the API.",
            TokenScope::ReadRepository => "Clone and fetch repositories over HTTP.",
            TokenScope::WriteRepository => "Clone, fetch and push to repositories over HTTP.",
        }
    }

    /// Whether a token with this scope may read repositories over git.
    pub fn grants_git_read(self) -> bool {
        matches!(self, TokenScope::Api | TokenScope::ReadRepository | TokenScope::WriteRepository)
    }

    /// Whether a token with this scope may push over git.
    pub fn grants_git_write(self) -> bool {
        matches!(self, TokenScope::Api | TokenScope::WriteRepository)
    }
}

/// A personal access token as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<TokenScope>,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked: bool,
    pub expired: bool,
}

/// The answer to creating a token: the secret, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub name: String,
    pub token: String,
    pub expires_at: i64,
}

/// Most days a token may live.
pub const MAX_TOKEN_DAYS: i64 = 365;
