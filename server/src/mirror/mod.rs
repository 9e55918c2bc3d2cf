//! The mirror engine: moving branches and tags between a local bare repository and a remote over
//! git smart HTTP, in pure Rust with gix (push assembled from gix-transport, gix-protocol and
//! gix-pack, since gix has no high-level push).
//!
//! Only `refs/heads/*` and `refs/tags/*` ever move. Every run returns a per-ref result with old
//! and new ids, and keeps every tip it replaces on either side ([`safety`]), so nothing a run
//! overwrites or deletes is lost.

pub mod cli;
mod delta;
pub mod error;
pub mod fetch;
mod http_client;
pub mod plan;
pub mod preview;
pub mod push;
pub mod remote;
pub mod report_text;
pub mod safety;
mod thin;

pub use error::MirrorError;
pub use safety::Safety;

use secrecy::SecretString;
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// What happened to one ref.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "outcome", content = "reason")]
pub enum RefOutcome {
    Created,
    Updated,
    ForceUpdated,
    Deleted,
    Unchanged,
    /// The remote refused this ref, with its reason (e.g. a hook declining, a protected branch).
    Rejected(String),
    /// Left as it is: it has commits the other side lacks (see [`plan`]).
    Diverged,
}

impl RefOutcome {
    pub fn label(&self) -> &'static str {
        match self {
            RefOutcome::Created => "created",
            RefOutcome::Updated => "updated",
            RefOutcome::ForceUpdated => "force-updated",
            RefOutcome::Deleted => "deleted",
            RefOutcome::Unchanged => "unchanged",
            RefOutcome::Rejected(_) => "rejected",
            RefOutcome::Diverged => "diverged",
        }
    }
}

/// One ref's result. Ids are full hex; `None` means "did not exist".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefResult {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
    #[serde(flatten)]
    pub outcome: RefOutcome,
    /// Where the replaced tip was kept (`refs/gitblixt/kept/<run>/<name>`), if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// What happened, in words, when it is more than the outcome says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A ref result with gix ids, as the push and fetch engines produce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EngineRef {
    pub name: String,
    pub old: Option<gix::ObjectId>,
    pub new: Option<gix::ObjectId>,
    pub outcome: RefOutcome,
    pub kept: Option<String>,
    pub note: Option<String>,
}

impl EngineRef {
    pub fn new(name: impl Into<String>, old: Option<gix::ObjectId>, new: Option<gix::ObjectId>, outcome: RefOutcome) -> Self {
        EngineRef { name: name.into(), old, new, outcome, kept: None, note: None }
    }
}

impl From<EngineRef> for RefResult {
    fn from(r: EngineRef) -> Self {
        RefResult {
            name: r.name,
            old: r.old.map(|id| id.to_string()),
            new: r.new.map(|id| id.to_string()),
            outcome: r.outcome,
            kept: r.kept,
            note: r.note,
        }
    }
}

/// The result of a whole transfer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransferReport {
    pub refs: Vec<RefResult>,
    /// Objects sent (push) or received (fetch).
    pub objects: u64,
    /// Pack bytes sent (push) or received (fetch).
    pub bytes: u64,
    pub seconds: f64,
}

impl TransferReport {
    pub fn changed(&self) -> impl Iterator<Item = &RefResult> {
        self.refs.iter().filter(|r| r.outcome != RefOutcome::Unchanged)
    }
    pub fn rejected(&self) -> impl Iterator<Item = &RefResult> {
        self.refs.iter().filter(|r| matches!(r.outcome, RefOutcome::Rejected(_)))
    }
    pub fn diverged(&self) -> impl Iterator<Item = &RefResult> {
        self.refs.iter().filter(|r| r.outcome == RefOutcome::Diverged)
    }
}

/// Where a transfer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Connecting,
    Counting,
    Sending,
    Receiving,
    Resolving,
    UpdatingRefs,
}

/// A progress report: `done` of `total` units (objects, or bytes while sending/receiving).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub phase: Phase,
    pub done: u64,
    pub total: Option<u64>,
}

pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How a fetch treats local refs (see [`plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FetchMode {
    /// Pull mirror: follows the remote where the local ref is still what the mirror wrote, and
    /// prunes refs the mirror brought in that the remote deleted.
    Mirror,
    /// One-time fetch: creates and fast-forwards, never deletes.
    Once,
}

/// Credentials and limits of one transfer.
#[derive(Clone)]
pub struct TransferOptions {
    /// Sent as HTTP Basic (`x-access-token`, token); anonymous when `None`.
    pub token: Option<SecretString>,
    /// The whole run may take at most this long.
    pub timeout: Duration,
    /// The run fails when no bytes move for this long.
    pub stall_timeout: Duration,
    /// Set to cancel the run.
    pub interrupt: Arc<AtomicBool>,
    pub progress: Option<ProgressFn>,
    /// What the run keeps, remembers, and may overwrite.
    pub safety: Safety,
    /// Fetches: the largest pack accepted; a larger one is discarded and the run fails.
    pub max_receive_bytes: Option<u64>,
}

impl std::fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOptions")
            .field("token", &self.token.as_ref().map(|_| "***"))
            .field("timeout", &self.timeout)
            .field("stall_timeout", &self.stall_timeout)
            .field("safety", &self.safety)
            .finish_non_exhaustive()
    }
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            token: None,
            timeout: Duration::from_secs(3600),
            stall_timeout: Duration::from_secs(120),
            interrupt: Arc::new(AtomicBool::new(false)),
            progress: None,
            safety: Safety::default(),
            max_receive_bytes: None,
        }
    }
}

/// The user name GitHub expects with an installation/OAuth token over HTTP Basic.
pub const TOKEN_USER: &str = "x-access-token";

/// Runs a blocking transfer off the async runtime, with the whole-run timeout: when it passes, the
/// interrupt flag is raised and the run ends as [`MirrorError::Timeout`]. (The stall timeout is
/// enforced inside the transfer, per read.)
async fn run_blocking<T, F>(opts: &TransferOptions, transfer: F) -> Result<T, MirrorError>
where
    T: Send + 'static,
    F: FnOnce(TransferOptions) -> Result<T, MirrorError> + Send + 'static,
{
    let timed_out = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let interrupt = opts.interrupt.clone();
        let timed_out = timed_out.clone();
        let timeout = opts.timeout;
        tokio::spawn(async move {
            tokio::time::sleep(timeout).await;
            timed_out.store(true, std::sync::atomic::Ordering::SeqCst);
            interrupt.store(true, std::sync::atomic::Ordering::SeqCst);
        })
    };
    let owned = opts.clone();
    let result = tokio::task::spawn_blocking(move || transfer(owned))
        .await
        .unwrap_or_else(|e| Err(MirrorError::Local { detail: format!("the transfer task failed: {e}") }));
    watchdog.abort();
    match result {
        Err(MirrorError::Interrupted) if timed_out.load(std::sync::atomic::Ordering::SeqCst) => {
            Err(MirrorError::Timeout { detail: format!("the run took longer than {} s", opts.timeout.as_secs()) })
        }
        other => other,
    }
}

/// Push mirror: makes the remote's heads and tags equal to the local repository's.
pub async fn push(local: &std::path::Path, remote_url: &str, opts: &TransferOptions) -> Result<TransferReport, MirrorError> {
    let local = local.to_path_buf();
    let url = remote_url.to_string();
    run_blocking(opts, move |o| push::push_mirror(&local, &url, &o)).await
}

/// Fetch heads and tags from the remote into the local repository (pull mirror or one-time fetch).
pub async fn fetch(
    remote_url: &str,
    local: &std::path::Path,
    mode: FetchMode,
    opts: &TransferOptions,
) -> Result<TransferReport, MirrorError> {
    let local = local.to_path_buf();
    let url = remote_url.to_string();
    run_blocking(opts, move |o| fetch::fetch(&url, &local, mode, &o)).await
}

/// What enabling a push mirror onto `remote_url` would replace there (see [`preview`]).
pub async fn preview_push(local: &std::path::Path, remote_url: &str, opts: &TransferOptions) -> Result<Vec<preview::Replacement>, MirrorError> {
    let local = local.to_path_buf();
    let url = remote_url.to_string();
    run_blocking(opts, move |o| preview::preview_push(&local, &url, &o)).await
}
