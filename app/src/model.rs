//! Types shared between the server and the browser.

use serde::{Deserialize, Serialize};

/// The signed-in user, as the page needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    /// Unread notifications (the bell's count).
    #[serde(default)]
    pub unread: i64,
}

/// Mirror events a repository webhook can receive.
pub const WEBHOOK_EVENTS: [(&str, &str); 3] = [
    ("mirror.failed", "A mirror starts failing"),
    ("mirror.recovered", "A failing mirror works again"),
    ("mirror.synced", "Every successful sync"),
];

/// A repository webhook as Settings → Webhooks lists it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookView {
    pub id: i64,
    pub url: String,
    pub events: Vec<String>,
    pub created_at: i64,
    /// The latest deliveries, newest first.
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: i64,
    pub event: String,
    /// pending / delivered / failed
    pub status: String,
    pub attempts: i64,
    pub response_code: Option<i64>,
    pub error: Option<String>,
    pub created_at: i64,
}

/// A notification as the Notifications page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationView {
    pub id: i64,
    /// `mirror.failed`, `mirror.recovered`, `mirror.paused`
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: String,
    pub created_at: i64,
    pub read: bool,
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
    /// None when the instance serves no SSH.
    pub ssh_clone_url: Option<String>,
    pub default_branch: String,
    pub branches: Vec<BranchInfo>,
    pub tags: Vec<TagInfo>,
    pub commits: Vec<CommitInfo>,
    pub can_admin: bool,
    /// While the repository's import from GitHub is not done (or failed): what to tell visitors.
    #[serde(default)]
    pub import_notice: Option<String>,
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
/// The instance's SSH server, as Settings → SSH Keys shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshServerInfo {
    /// An example clone URL (`ssh://git@host:2222/<owner>/<repo>.git`).
    pub example_clone_url: String,
    /// `(key type, SHA256:…)`, as `ssh-keygen -lf` prints them.
    pub host_key_fingerprints: Vec<(String, String)>,
}

/// One of the user's SSH keys, on Settings → SSH Keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKeyInfo {
    pub id: i64,
    pub title: String,
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, …
    pub algorithm: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// The key as added: `<type> <base64>`.
    pub public_key: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// One of the user's sign-ins, on Settings → Sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Names the session for "Sign out" (not usable as a cookie).
    pub handle: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub user_agent: String,
    pub ip: String,
    /// The session of the page showing the list.
    pub current: bool,
}

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

/// Why connecting a GitHub account failed; travels to the Connected Accounts page as a code in the
/// URL (`?error=<code>`), never as free text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OAuthFailure {
    NotConfigured,
    BadState,
    StateExpired,
    Denied,
    BadCode,
    ClientCredentials,
    RedirectMismatch,
    Refused,
    Unreachable,
}

impl OAuthFailure {
    const ALL: [OAuthFailure; 9] = [
        OAuthFailure::NotConfigured,
        OAuthFailure::BadState,
        OAuthFailure::StateExpired,
        OAuthFailure::Denied,
        OAuthFailure::BadCode,
        OAuthFailure::ClientCredentials,
        OAuthFailure::RedirectMismatch,
        OAuthFailure::Refused,
        OAuthFailure::Unreachable,
    ];

    pub fn code(self) -> &'static str {
        match self {
            OAuthFailure::NotConfigured => "not_configured",
            OAuthFailure::BadState => "bad_state",
            OAuthFailure::StateExpired => "state_expired",
            OAuthFailure::Denied => "denied",
            OAuthFailure::BadCode => "bad_code",
            OAuthFailure::ClientCredentials => "client_credentials",
            OAuthFailure::RedirectMismatch => "redirect_mismatch",
            OAuthFailure::Refused => "refused",
            OAuthFailure::Unreachable => "unreachable",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            OAuthFailure::NotConfigured => {
                "GitHub is not configured on this instance: the administrator must set up a GitHub OAuth App (GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET)."
            }
            OAuthFailure::BadState => {
                "This GitHub authorization could not be verified (it was not started from this page, was already used, or belongs to another account). Nothing was connected; click Connect GitHub to try again."
            }
            OAuthFailure::StateExpired => {
                "The GitHub authorization took longer than 10 minutes and expired. Nothing was connected; click Connect GitHub to try again."
            }
            OAuthFailure::Denied => "You did not authorize GitBlixt on GitHub, so no account was connected.",
            OAuthFailure::BadCode => {
                "GitHub did not accept the authorization code (it was incorrect, already used or expired). Nothing was connected; click Connect GitHub to try again."
            }
            OAuthFailure::ClientCredentials => {
                "GitHub refused this instance's OAuth App credentials. Ask the administrator to check GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET."
            }
            OAuthFailure::RedirectMismatch => {
                "GitHub refused the callback URL. Ask the administrator to set the OAuth App's Authorization callback URL to this instance's /oauth/github/callback."
            }
            OAuthFailure::Refused => "GitHub refused the connection. Nothing was connected; click Connect GitHub to try again.",
            OAuthFailure::Unreachable => "GitHub could not be reached. Nothing was connected; try again in a moment.",
        }
    }
}

/// The signed-in user's GitHub connection, as the Connected Accounts page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GithubAccount {
    /// The instance has no GitHub OAuth App.
    NotConfigured,
    NotConnected,
    Connected {
        login: String,
        connected_at: i64,
        scopes: Vec<String>,
        /// Expired with no way to refresh: the user must reconnect.
        expired: bool,
    },
}

/// What a mirror is doing, as its status line shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MirrorState {
    Queued,
    Syncing,
    Active,
    Error,
    Paused,
}

impl MirrorState {
    pub fn label(self) -> &'static str {
        match self {
            MirrorState::Queued => "Queued",
            MirrorState::Syncing => "Syncing",
            MirrorState::Active => "Active",
            MirrorState::Error => "Error",
            MirrorState::Paused => "Paused",
        }
    }
}

/// One ref a run changed (or that the remote rejected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefChange {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
    /// created / updated / force-updated / deleted / rejected / diverged
    pub outcome: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// The hidden ref the replaced tip was kept under, if it was.
    #[serde(default)]
    pub kept: Option<String>,
    /// What happened, in words, when it is more than the outcome says.
    #[serde(default)]
    pub note: Option<String>,
}

impl RefChange {
    /// `main` for `refs/heads/main`, `v1.0` for `refs/tags/v1.0`.
    pub fn short_name(&self) -> &str {
        short_ref(&self.name)
    }
}

/// `main` for `refs/heads/main`, `v1.0` for `refs/tags/v1.0`.
pub fn short_ref(name: &str) -> &str {
    name.strip_prefix("refs/heads/").or_else(|| name.strip_prefix("refs/tags/")).unwrap_or(name)
}

/// A tip a sync replaced or deleted, kept in the GitBlixt repository until restored or discarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptRef {
    /// The run that replaced it.
    pub run_id: i64,
    /// The branch or tag it was (`refs/heads/main`).
    pub name: String,
    /// The commit (or tag object) kept.
    pub id: String,
}

/// A GitHub branch or tag that enabling a push mirror would overwrite or delete on its first sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replacement {
    pub name: String,
    /// GitHub's id now.
    pub github: String,
    /// GitBlixt's id it would be overwritten with; `None`: it would be deleted.
    pub gitblixt: Option<String>,
    /// Commits reachable from GitHub's tip and from no GitBlixt branch or tag.
    pub commits_only_on_github: u64,
}

/// The answer to Enable mirror: enabled, or what GitHub would lose, to confirm first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnableAnswer {
    Enabled { id: i64 },
    /// `remote` is the GitHub repository as GitBlixt understood it (`owner/repo`).
    ConfirmReplace { remote: String, replacements: Vec<Replacement> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunView {
    pub id: i64,
    pub trigger: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
    pub refs: Vec<RefChange>,
    pub objects: i64,
    pub bytes: i64,
    /// Tips this run replaced that are still kept (restorable).
    #[serde(default)]
    pub kept: Vec<KeptRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorView {
    pub id: i64,
    /// `push` or `pull`
    pub direction: String,
    /// `owner/repo` on GitHub
    pub remote: String,
    pub interval_minutes: Option<i64>,
    pub paused: bool,
    pub state: MirrorState,
    pub last_sync_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub next_sync_at: Option<i64>,
    pub error: Option<String>,
    /// Pull mirrors: overwrite branches that diverged in GitBlixt (keeping their tips).
    #[serde(default)]
    pub overwrite_diverged: bool,
    /// Push mirrors: when a run last ended with GitHub equal to GitBlixt.
    #[serde(default)]
    pub in_sync_at: Option<i64>,
    /// Tips this mirror's runs replaced that are still kept (restorable), newest run first.
    #[serde(default)]
    pub kept: Vec<KeptRef>,
    pub runs: Vec<RunView>,
    /// While syncing: how far the transfer is.
    #[serde(default)]
    pub progress: Option<SyncProgress>,
}

/// How far a running sync is: the phase, and `done` of `total` objects (counting, resolving) or
/// bytes (sending, receiving).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncProgress {
    /// connecting / counting / sending / receiving / resolving / updating-refs
    pub phase: String,
    pub done: u64,
    pub total: Option<u64>,
    /// Objects counted or received so far.
    pub objects: u64,
    /// Bytes sent or received so far.
    pub bytes: u64,
}

impl SyncProgress {
    pub fn percent(&self) -> Option<u64> {
        self.total.filter(|t| *t > 0).map(|t| (self.done.min(t) * 100) / t)
    }

    /// "Receiving · 1,234 objects · 56.7 KiB · 40%"
    pub fn describe(&self) -> String {
        let phase = match self.phase.as_str() {
            "connecting" => "Connecting",
            "counting" => "Counting objects",
            "sending" => "Sending objects",
            "receiving" => "Receiving objects",
            "resolving" => "Resolving deltas",
            "updating-refs" => "Updating refs",
            other => other,
        };
        let mut parts = vec![phase.to_string()];
        if self.objects > 0 {
            parts.push(format!("{} objects", self.objects));
        }
        if self.bytes > 0 {
            parts.push(human_bytes(self.bytes));
        }
        if let Some(p) = self.percent() {
            parts.push(format!("{p}%"));
        }
        parts.join(" · ")
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    // Integer arithmetic, rounded to tenths: float formatting would add ~20 KB to the wasm.
    let mut unit = 0;
    let mut divisor: u128 = 1024;
    while u128::from(n) >= divisor * 1024 && unit + 1 < UNITS.len() {
        divisor *= 1024;
        unit += 1;
    }
    let tenths = (u128::from(n) * 10 + divisor / 2) / divisor;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
}

/// A frame of the mirrors websocket (`/-/live/<owner>/<repo>/mirrors`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum LiveFrame {
    /// The whole truth, sent on connect and after every change.
    Snapshot { mirrors: MirrorsView },
    /// Progress of one running sync.
    Progress { mirror: i64, progress: SyncProgress },
}

/// The mirroring sections of a repository's Settings page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MirrorsView {
    pub push: Vec<MirrorView>,
    pub pull: Vec<MirrorView>,
    /// One-time fetches (Fetch from remote), one per GitHub repository, with their last runs.
    #[serde(default)]
    pub fetches: Vec<MirrorView>,
    /// The spec's warning when a push and a pull mirror point at the same GitHub repository.
    pub warning: Option<String>,
    /// Runs of mirrors that were removed, with what they kept.
    #[serde(default)]
    pub removed: Vec<RemovedMirror>,
    /// The import from GitHub that created the repository, if one did.
    #[serde(default)]
    pub import: Option<ImportView>,
}

/// An import from GitHub, as the import page, the repository's pages and the REST API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportView {
    pub id: i64,
    /// `owner/name` in GitBlixt.
    pub repository: String,
    /// `owner/name` on GitHub.
    pub remote: String,
    /// The one-time fetch doing the work (its live progress frames name it).
    pub mirror_id: Option<i64>,
    /// `queued`, `importing`, `done` or `failed`
    pub state: String,
    pub error: Option<String>,
    /// Keep in sync: the pull mirror's interval.
    pub mirror_interval_minutes: Option<i64>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
    /// While importing: how far the transfer is.
    pub progress: Option<SyncProgress>,
}

/// A GitHub repository the import page offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCandidate {
    /// `owner/name`
    pub full_name: String,
    /// The default GitBlixt name (GitHub's).
    pub name: String,
    pub private: bool,
    pub description: String,
    /// The GitBlixt repository (`owner/name`) it was imported to, if it was.
    pub imported_to: Option<String>,
}

/// What the import page knows before listing: whether GitHub can be used at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCandidates {
    /// The account's repositories (empty without a connection).
    pub repositories: Vec<ImportCandidate>,
    /// Why they are not listed, if they are not: no OAuth App, no connection, an expired token.
    pub unavailable: Option<String>,
}

/// One repository picked on the import page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportChoice {
    /// `owner/repo` or a GitHub URL.
    pub remote: String,
    pub name: String,
    /// `public`, `private`, or empty for GitHub's.
    pub visibility: String,
    /// Keep in sync: the pull mirror's interval.
    pub mirror_interval_minutes: Option<i64>,
}

/// What became of one picked repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportStarted {
    pub remote: String,
    pub import: Option<ImportView>,
    pub error: Option<String>,
}

/// The facts the help pages compute for this instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpFacts {
    /// `GITBLIXT_PUBLIC_URL`
    pub public_url: String,
    /// The OAuth App's Authorization callback URL.
    pub callback_url: String,
    /// Whether the instance has an OAuth App configured.
    pub oauth_configured: bool,
    /// GitHub's web address (github.com, or the configured one).
    pub github_url: String,
}

/// A removed mirror's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedMirror {
    /// `push`, `pull` or `fetch`
    pub direction: String,
    pub remote: String,
    pub runs: Vec<RunView>,
}

/// Pull mirror intervals the page offers, in minutes (15 is the default).
pub const PULL_INTERVALS: [(i64, &str); 5] =
    [(5, "5 minutes"), (10, "10 minutes"), (15, "15 minutes"), (30, "30 minutes"), (60, "1 hour")];

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_are_shown_in_binary_units_to_a_tenth() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(58_061), "56.7 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 + 104_858), "5.1 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_bytes(u64::MAX), "16777216.0 TiB");
    }
}
