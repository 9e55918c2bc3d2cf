//! Server-only code: the database, accounts, repositories, git reading and the helpers server
//! functions use. Gated once, here, behind the `ssr` feature.

pub mod accounts;
pub mod crypto;
pub mod github;
pub mod mirror_service;
pub mod mirrors;
pub mod notifications;
pub mod pg_pool;
pub mod quotas;
pub mod db;
pub mod events;
pub mod files;
pub mod git_read;
pub mod guard;
pub mod import_service;
pub mod imports;
pub mod kept;
pub mod repos;
pub mod schema;
pub mod secrets;
pub mod ssh_keys;
pub mod store;
pub mod wake;
pub mod web;
pub mod webhooks;

use std::sync::Arc;

/// Instance settings the web code needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The public base URL (no trailing slash), e.g. `http://127.0.0.1:3000`; used for clone URLs.
    pub public_url: String,
    /// Mark cookies `Secure` and name the session cookie `__Host-…` (when the public URL is https).
    pub secure_cookies: bool,
    /// The origins (`scheme://host[:port]`) a browser's state-changing request or websocket may
    /// come from: the public URL's, `GITBLIXT_ALLOWED_ORIGINS`, and for a loopback instance
    /// without a configured public URL its `localhost` aliases. Never the request's `Host`.
    pub allowed_origins: Vec<String>,
    /// The instance sends e-mail (`GITBLIXT_SMTP_URL` is set).
    pub mail: bool,
    /// What one user may hold, and the disk-space guard.
    pub quotas: quotas::Quotas,
    /// Anyone may sign up (`GITBLIXT_REGISTRATION=open`, the default); else only administrators
    /// create accounts (`gitblixt admin create-user`).
    pub registration_open: bool,
    /// Git over SSH, when it is served (`GITBLIXT_SSH_ADDR` not empty).
    pub ssh: Option<SshSettings>,
}

/// What users need to know about the instance's SSH server.
#[derive(Debug, Clone)]
pub struct SshSettings {
    /// What a repository's SSH clone URL starts with: `ssh://git@host:2222/` or the scp-like
    /// `git@host:` (port 22).
    pub clone_prefix: String,
    /// The host key's fingerprints as `ssh-keygen -lf` prints them (`SHA256:…`), with the key
    /// type: users compare them on their first connection.
    pub host_key_fingerprints: Vec<(String, String)>,
}

impl SshSettings {
    /// The SSH clone URL of `owner/repo`.
    pub fn clone_url(&self, owner: &str, repo: &str) -> String {
        format!("{}{owner}/{repo}.git", self.clone_prefix)
    }
}

/// The mirror engine, as the web code needs it (implemented by the server with gix).
pub trait Engine: Send + Sync {
    /// What a push mirror of the repository at `local` would overwrite or delete at `remote_url`
    /// on its first sync (fetching the remote's objects, changing no ref). The error is a
    /// message for the owner.
    fn preview_push(
        &self,
        local: std::path::PathBuf,
        remote_url: String,
        token: secrecy::SecretString,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<crate::model::Replacement>, String>>;
}

/// Everything a request handler or server function needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: db::Db,
    pub store: store::RepoStore,
    pub events: events::Events,
    pub settings: Arc<Settings>,
    /// Encrypts and decrypts stored secrets (OAuth tokens).
    pub cipher: crypto::Cipher,
    /// Where GitHub is and the instance's OAuth App.
    pub github: Arc<github::GithubSettings>,
    /// Wakes sync workers after syncs were requested, one per run.
    pub sync_wake: wake::SyncWake,
    pub engine: Arc<dyn Engine>,
    /// Rate limits and the password-hash cap (see [`guard`]).
    pub guard: Arc<guard::AuthGuard>,
}
