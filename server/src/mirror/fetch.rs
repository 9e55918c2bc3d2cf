//! Fetch (pull mirror and one-time fetch) of `refs/heads/*` and `refs/tags/*` into a local bare
//! repository using gix 0.90.
//!
//! * refspecs: exactly `+refs/heads/*:refs/heads/*` and `+refs/tags/*:refs/tags/*`, no tag-following.
//! * credentials: HTTP Basic `x-access-token:<token>` via a credentials callback (never in the URL);
//!   without a token, a callback that refuses, so no prompt/helper is ever run.
//! * HTTP: [`super::http_client`], with `stall_timeout` (per read, not total) and an explicit connect
//!   timeout.
//! * `FetchMode::Mirror` additionally prunes local heads/tags the remote no longer advertises.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use gix::{
    bstr::ByteSlice,
    progress::{Count, Id, MessageLevel, NestedProgress, Progress, Step, StepShared, Unit},
    refs::{
        transaction::{Change, PreviousValue, RefEdit, RefLog},
        FullName, Target,
    },
    remote::{
        fetch::{RefLogMessage, Status, Tags},
        Direction,
    },
    ObjectId,
};

use super::{EngineRef, FetchMode, MirrorError, Phase, RefOutcome, RefResult, TransferOptions, TransferReport};
use secrecy::ExposeSecret;

mod changed;

/// Fetches the remote's heads and tags into `local_bare_repo` and updates local refs as
/// [`super::plan`] decides for `mode` ([`FetchMode::Mirror`] also prunes); every tip replaced is
/// kept first. Blocking: run it off the async runtime.
pub fn fetch(remote_url: &str, local_bare_repo: &Path, mode: FetchMode, opts: &TransferOptions) -> Result<TransferReport, MirrorError> {
    let what = What::Apply { mode, safety: opts.safety.clone() };
    fetch_what(remote_url, local_bare_repo, what, opts).map(|(report, _)| report)
}

/// Fetches the remote's heads and tags' objects without changing any ref; returns the remote's
/// heads and tags.
pub fn fetch_objects(remote_url: &str, local_bare_repo: &Path, opts: &TransferOptions) -> Result<BTreeMap<String, ObjectId>, MirrorError> {
    fetch_what(remote_url, local_bare_repo, What::ObjectsOnly, opts).map(|(_, remote)| remote)
}

/// Fetches the remote refs `names` into local refs (`(remote name, local name)`, forced).
pub fn fetch_into(remote_url: &str, local_bare_repo: &Path, names: &[(String, String)], opts: &TransferOptions) -> Result<(), MirrorError> {
    let specs = names.iter().map(|(remote, local)| format!("+{remote}:{local}")).collect();
    fetch_what(remote_url, local_bare_repo, What::Refspecs(specs), opts).map(|_| ())
}

/// What a fetch does with what it receives.
#[derive(Debug, Clone)]
enum What {
    /// Plan and apply the heads and tags (pull mirror, one-time fetch).
    Apply { mode: FetchMode, safety: super::Safety },
    /// Receive the objects of the heads and tags; write no ref.
    ObjectsOnly,
    /// Fetch with these refspecs, letting gix write the refs.
    Refspecs(Vec<String>),
}

fn fetch_what(
    remote_url: &str,
    local_bare_repo: &Path,
    what: What,
    opts: &TransferOptions,
) -> Result<(TransferReport, BTreeMap<String, ObjectId>), MirrorError> {
    let started = std::time::Instant::now();
    let secret = opts.token.as_ref().map(|t| t.expose_secret().to_string());
    super::remote::check_url(remote_url, secret.is_some())?;
    let user_progress = opts.progress.clone();
    let callback: Option<ProgressCallback> = user_progress.map(|f| {
        Arc::new(move |event: &ProgressEvent| {
            if let ProgressEvent::Message { name, level, text } = event {
                tracing::debug!(progress = %name, level = ?level, "{text}");
            }
            if let ProgressEvent::Snapshot(items) = event {
                if let Some(item) = items.iter().rev().find(|i| i.step > 0) {
                    let name = item.name.to_ascii_lowercase();
                    let phase = if name.contains("resolv") || name.contains("index") || name.contains("decompress") {
                        Phase::Resolving
                    } else if name.contains("update") {
                        Phase::UpdatingRefs
                    } else {
                        Phase::Receiving
                    };
                    f(super::Progress { phase, done: item.step as u64, total: item.max.map(|m| m as u64) });
                }
            }
        }) as ProgressCallback
    });
    let raw = FetchOptions {
        token: secret.clone(),
        should_interrupt: opts.interrupt.clone(),
        stall_timeout: opts.stall_timeout,
        connect_timeout: Duration::from_secs(20),
        progress: callback,
        progress_interval: Duration::from_millis(250),
        max_receive_bytes: opts.max_receive_bytes,
    };
    match fetch_raw(remote_url, local_bare_repo, &what, raw) {
        Ok(r) => Ok((
            TransferReport {
                refs: r.refs.into_iter().map(RefResult::from).collect(),
                objects: r.objects as u64,
                bytes: r.bytes,
                seconds: started.elapsed().as_secs_f64(),
            },
            r.remote,
        )),
        Err(e) => Err(classify_fetch_error(&e, secret.as_deref())),
    }
}

fn classify_fetch_error(err: &FetchError, secret: Option<&str>) -> MirrorError {
    use gix::error::Class;
    let scrubbed = || super::error::scrub(&err.to_string(), secret);
    match err {
        FetchError::Interrupted => return MirrorError::Interrupted,
        FetchError::TooLarge(max) => return MirrorError::TooLarge { limit_bytes: *max },
        FetchError::EmptyRemote => return MirrorError::EmptyRemote,
        FetchError::RefsMoved => return MirrorError::RefsMoved,
        FetchError::InvalidUrl(_) => return MirrorError::InvalidUrl { detail: scrubbed() },
        FetchError::NotBare(_) | FetchError::Refs(_) => return MirrorError::Local { detail: scrubbed() },
        FetchError::Gix { stage: Stage::OpenRepo | Stage::Configure | Stage::UpdateRefs, .. } => {
            return MirrorError::Local { detail: scrubbed() };
        }
        FetchError::Gix { .. } => {}
    }
    if err.is_timeout() {
        return MirrorError::Timeout { detail: format!("no data from the remote for too long ({})", scrubbed()) };
    }
    match err.http_status() {
        Some(401) => return MirrorError::Authentication,
        Some(403) => return MirrorError::Permission,
        Some(404) => return MirrorError::NotFound,
        Some(s) if s >= 500 => return MirrorError::Server { status: s },
        _ => {}
    }
    match err.class() {
        Some(Class::Unauthenticated) => MirrorError::Authentication,
        Some(Class::PermissionDenied) => MirrorError::Permission,
        Some(Class::NotFound) => MirrorError::NotFound,
        Some(Class::Cancelled) => MirrorError::Interrupted,
        _ => super::error::classify_text(&err.to_string(), secret),
    }
}

/// The remote's heads and tags land in a hidden staging namespace (`<prefix>refs/heads/*`, …;
/// gix needs a destination for a glob): only it is written by gix, into packed-refs. The heads and
/// tags themselves are then updated as [`super::plan`] decides, in one transaction of our own.
fn staging_refspecs(prefix: &str) -> Vec<String> {
    vec![format!("+refs/heads/*:{prefix}refs/heads/*"), format!("+refs/tags/*:{prefix}refs/tags/*")]
}

/// A mirror's staging namespace persists (its view of the remote, so an unchanged remote writes
/// nothing); a fetch without memory stages under its run and drops the staging refs afterwards.
fn staging_prefix(what: &What) -> Option<(String, bool)> {
    match what {
        What::Apply { safety, .. } => Some(match &safety.memory {
            Some(memory) => (format!("{}{memory}/", super::safety::REMOTE_PREFIX), false),
            None => (format!("{}{}/", super::safety::INCOMING_PREFIX, safety.keep_key), true),
        }),
        What::ObjectsOnly => Some((format!("{}preview-{}/", super::safety::INCOMING_PREFIX, std::process::id()), true)),
        What::Refspecs(_) => None,
    }
}

#[derive(Debug, Clone, Default)]
struct FetchReport {
    pub refs: Vec<EngineRef>,
    /// Objects in the received pack (0 if no pack was received).
    pub objects: usize,
    /// Size of the received pack on disk, in bytes (0 if no pack was received).
    pub bytes: u64,
    /// Path of the pack written by this fetch, if any.
    pub pack_path: Option<PathBuf>,
    /// The remote's heads and tags.
    pub remote: BTreeMap<String, ObjectId>,
}

/// One progress item as sampled by the progress reporter.
#[derive(Debug, Clone)]
struct ProgressItem {
    pub name: String,
    pub step: usize,
    pub max: Option<usize>,
}

#[derive(Debug, Clone)]
enum ProgressEvent {
    /// Periodic snapshot of all progress items that were created so far.
    Snapshot(Vec<ProgressItem>),
    /// A message emitted by gix or the remote side.
    Message { name: String, level: MessageLevel, text: String },
}

type ProgressCallback = Arc<dyn Fn(&ProgressEvent) + Send + Sync>;

#[derive(Clone)]
struct FetchOptions {
    /// GitHub-style installation/PAT token, sent as HTTP Basic `x-access-token:<token>` only when the server asks (401).
    pub token: Option<String>,
    /// Set to `true` to abort; checked by gix between reads/objects.
    pub should_interrupt: Arc<AtomicBool>,
    /// HTTP: maximum time to wait for response headers and for *each* body read (stall detection).
    pub stall_timeout: Duration,
    /// HTTP: TCP/TLS connect timeout.
    pub connect_timeout: Duration,
    /// Optional progress sink, called from a reporter thread every `progress_interval` and for messages.
    pub progress: Option<ProgressCallback>,
    pub progress_interval: Duration,
    /// A received pack larger than this is discarded and the fetch fails.
    pub max_receive_bytes: Option<u64>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            token: None,
            should_interrupt: Arc::new(AtomicBool::new(false)),
            stall_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(20),
            progress: None,
            progress_interval: Duration::from_millis(500),
            max_receive_bytes: None,
        }
    }
}

impl std::fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("stall_timeout", &self.stall_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    OpenRepo,
    Configure,
    Connect,
    /// Handshake + ls-refs (auth / not-found errors show up here).
    ListRefs,
    /// Negotiation, pack download/indexing and the ref update transaction.
    Receive,
    /// Pointing an unborn HEAD at the remote's default branch.
    UpdateRefs,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("invalid remote url: {0}")]
    InvalidUrl(String),
    #[error("{0:?} is not a bare repository")]
    NotBare(PathBuf),
    #[error("fetch interrupted")]
    Interrupted,
    #[error("the fetched pack is larger than {0} bytes")]
    TooLarge(u64),
    #[error("the remote has no branches or tags")]
    EmptyRemote,
    #[error("a local ref moved during the fetch")]
    RefsMoved,
    #[error("updating local refs failed: {0}")]
    Refs(Box<dyn std::error::Error + Send + Sync + 'static>),
    #[error("{stage:?} failed: {}", join_chain(source))]
    Gix {
        stage: Stage,
        #[source]
        source: gix::Error,
    },
}

/// `outer: inner: innermost`, skipping consecutive duplicates (gix/reqwest repeat messages across layers).
fn join_chain(err: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in err.iter_errors() {
        let msg = e.to_string();
        if parts.last() != Some(&msg) {
            parts.push(msg);
        }
    }
    parts.join(": ")
}

impl FetchError {
    fn gix(stage: Stage) -> impl FnOnce(gix::Error) -> FetchError {
        move |source| FetchError::Gix { stage, source }
    }

    /// The dominant gix classification, if any (e.g. `Unauthenticated`, `Retryable`, `Cancelled`).
    pub fn class(&self) -> Option<gix::error::Class> {
        match self {
            FetchError::Gix { source, .. } => source.dominant_class(),
            FetchError::Interrupted => Some(gix::error::Class::Cancelled),
            _ => None,
        }
    }

    pub fn gix_error(&self) -> Option<&gix::Error> {
        match self {
            FetchError::Gix { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The HTTP status code if the failure was an HTTP error response (e.g. 404, 500).
    /// A 401 instead surfaces as `class() == Some(Unauthenticated)` since gix handles it itself.
    pub fn http_status(&self) -> Option<u16> {
        self.gix_error()?
            .iter_errors()
            .find_map(|e| e.downcast_ref::<reqwest::Error>().and_then(|e| e.status()))
            .map(|s| s.as_u16())
    }

    /// `true` if an HTTP connect or read timeout (our stall detection) fired.
    pub fn is_timeout(&self) -> bool {
        self.gix_error().is_some_and(|e| {
            e.iter_errors().any(|e| {
                e.downcast_ref::<reqwest::Error>().is_some_and(|e| e.is_timeout())
                    || e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::TimedOut)
            })
        })
    }

}

fn fetch_raw(
    remote_url: &str,
    local_bare_repo: &Path,
    what: &What,
    opts: FetchOptions,
) -> Result<FetchReport, FetchError> {
    // --- URL sanity: never accept credentials in the URL (they would end up in errors/logs).
    let url = gix::url::parse(remote_url.as_bytes().as_bstr()).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
    if url.password().is_some() {
        return Err(FetchError::InvalidUrl(
            "the URL must not contain a password; pass the token via FetchOptions::token".into(),
        ));
    }

    // --- Local repository, isolated from global/system config and environment.
    // Isolated from the host's configuration, with the hosted repositories' (reflogs for every ref).
    let mut repo = app::ssr::store::open_hosted(local_bare_repo).map_err(FetchError::gix(Stage::OpenRepo))?;
    if !repo.is_bare() {
        return Err(FetchError::NotBare(local_bare_repo.to_owned()));
    }
    // Reflog writes (if core.logAllRefUpdates is on) need a committer; isolated repos usually have none.
    repo.committer_or_set_fallback("GitBlixt", "gitblixt@localhost")
        .map_err(FetchError::gix(Stage::Configure))?;

    let progress_root = ProgressRoot::new(opts.progress.clone());
    let reporter = progress_root.spawn_reporter(opts.progress_interval);
    let result = fetch_inner(&repo, url, what, &opts, &progress_root);
    drop(reporter); // stops thread, emits the final snapshot

    match result {
        // gix surfaces interruption in many shapes ("Interrupted", broken pipes, ...); normalize.
        Err(_) if opts.should_interrupt.load(Ordering::Relaxed) => Err(FetchError::Interrupted),
        other => other,
    }
}

fn fetch_inner(
    repo: &gix::Repository,
    url: gix::Url,
    what: &What,
    opts: &FetchOptions,
    progress_root: &ProgressRoot,
) -> Result<FetchReport, FetchError> {
    let staging = staging_prefix(what);
    let refspecs: Vec<String> = match (what, &staging) {
        (What::Refspecs(specs), _) => specs.clone(),
        (_, Some((prefix, _))) => staging_refspecs(prefix),
        (_, None) => Vec::new(),
    };
    let remote = remote_with(repo, url, &refspecs)?;
    if let (What::Apply { .. }, Some(persistent @ (prefix, false))) = (what, &staging) {
        let staged = super::safety::refs_under(repo, prefix).map_err(FetchError::Refs)?;
        if !staged.is_empty() {
            return fetch_changed(repo, &remote, what, persistent, &staged, opts, progress_root);
        }
    }
    let prepare = list_refs(&remote, opts, progress_root)?;
    let advertised = advertised_heads_and_tags(&prepare.ref_map().remote_refs);
    receive(repo, prepare, what, staging.as_ref(), advertised, opts, progress_root)
}

/// A mirror that synced before (its view of the remote, the staging refs, is in place): only the
/// refs whose remote tip changed since are fetched and their staging refs written (see
/// [`changed`]). When none changed, the ref listing is the whole cost of the pull — no
/// negotiation, no pack, no ref written. Either way the local refs are then planned against the
/// remote as after any fetch (a push may have moved them; a deletion is applied, and its staging
/// ref dropped).
fn fetch_changed(
    repo: &gix::Repository,
    remote: &gix::Remote<'_>,
    what: &What,
    staging: &(String, bool),
    staged: &BTreeMap<String, ObjectId>,
    opts: &FetchOptions,
    progress_root: &ProgressRoot,
) -> Result<FetchReport, FetchError> {
    let listed = changed::list(remote, opts, progress_root)?;
    let remote_refs = listed.ref_map.remote_refs.clone();
    let changed = changed::changed_staging(&listed.ref_map, &staging.0, staged);
    let mut report = FetchReport { remote: advertised_heads_and_tags(&remote_refs), ..FetchReport::default() };
    let mut keep_file = None;
    if !changed.is_empty() {
        let haves = changed::haves(&repo.objects, &listed.ref_map, &staging.0, staged, &changed);
        if let Some(pack) = changed::receive(repo, listed, &changed, haves, opts, progress_root)? {
            // No staging ref is written before the size check: none points into the pack.
            keep_file = take_pack(repo, &mut report, &pack, None, opts)?;
        }
        changed::write_staging(repo, &changed)?;
    }
    apply_then_release(repo, what, Some(staging), &mut report, keep_file)?;
    adopt_remote_head(repo, &remote_refs)?;
    Ok(report)
}

/// The remote at `url` with these fetch refspecs and no tag-following.
fn remote_with<'repo>(repo: &'repo gix::Repository, url: gix::Url, refspecs: &[String]) -> Result<gix::Remote<'repo>, FetchError> {
    Ok(repo
        .remote_at(url)
        .map_err(FetchError::gix(Stage::Configure))?
        .with_refspecs(refspecs.iter().map(String::as_str), Direction::Fetch)
        .map_err(FetchError::gix(Stage::Configure))?
        .with_fetch_tags(Tags::None))
}

type Prepared<'remote, 'repo> = gix::remote::fetch::Prepare<'remote, 'repo, Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>>;

/// Connects (with the transfer's HTTP client and the credentials callback) and lists the remote's refs
/// that `remote`'s refspecs name, and its HEAD.
fn list_refs<'remote, 'repo>(
    remote: &'remote gix::Remote<'repo>,
    opts: &FetchOptions,
    progress_root: &ProgressRoot,
) -> Result<Prepared<'remote, 'repo>, FetchError> {
    let connection = remote
        .to_connection_with_transport(open_transport(remote, opts)?)
        .with_credentials(token_credentials(opts.token.clone()));

    let prepare = connection
        .prepare_fetch(
            progress_root.child("list refs", *b"MLSR"),
            gix::remote::ref_map::Options {
                prefix_from_spec_as_filter_on_remote: true,
                handshake_parameters: Vec::new(),
                // Lists the remote's HEAD too (no local destination: nothing is written for it),
                // so an empty repository can take the remote's default branch.
                extra_refspecs: vec![head_refspec()?],
            },
        )
        .map_err(FetchError::gix(Stage::ListRefs))?;
    if opts.should_interrupt.load(Ordering::Relaxed) {
        return Err(FetchError::Interrupted);
    }
    Ok(prepare)
}

/// The credentials gix asks for after the server answered 401: the token as HTTP Basic
/// `x-access-token:<token>`; without a token a refusal, which gix reports as unauthenticated
/// (never a prompt or a credential helper).
fn token_credentials(
    token: Option<String>,
) -> impl FnMut(gix::credentials::helper::Action) -> gix::Result<Option<gix::credentials::protocol::Outcome>> {
    move |action| {
        use gix::credentials::helper::Action;
        match action {
            Action::Get(ctx) => Ok(token.as_ref().map(|token| gix::credentials::protocol::Outcome {
                identity: gix::sec::identity::Account {
                    username: super::TOKEN_USER.into(),
                    password: token.clone(),
                    oauth_refresh_token: None,
                },
                next: ctx.into(),
            })),
            Action::Store(_) | Action::Erase(_) => Ok(None),
        }
    }
}

/// Negotiates, receives the pack, writes the staging refs (gix) and applies the heads and tags.
fn receive(
    repo: &gix::Repository,
    prepare: Prepared<'_, '_>,
    what: &What,
    staging: Option<&(String, bool)>,
    advertised: BTreeMap<String, ObjectId>,
    opts: &FetchOptions,
    progress_root: &ProgressRoot,
) -> Result<FetchReport, FetchError> {
    let outcome = prepare
        .with_reflog_message(RefLogMessage::Prefixed { action: "gitblixt mirror".into() })
        .with_write_packed_refs_only(staging.is_some())
        .receive(progress_root.child("fetch", *b"MFET"), &opts.should_interrupt)
        .map_err(FetchError::gix(Stage::Receive))?;

    let mut report = FetchReport { remote: advertised, ..FetchReport::default() };
    let keep_file = match &outcome.status {
        Status::Change { write_pack_bundle, .. } => take_pack(repo, &mut report, write_pack_bundle, staging, opts)?,
        _ => None,
    };
    apply_then_release(repo, what, staging, &mut report, keep_file)?;
    if matches!(what, What::Apply { .. }) {
        adopt_remote_head(repo, &outcome.ref_map.remote_refs)?;
    }
    Ok(report)
}

/// Records the received pack in the report (objects, path, size on disk) and returns its `.keep`
/// file. A pack over `max_receive_bytes` is dropped, with the `staging` refs that point into it,
/// and the fetch fails.
fn take_pack(
    repo: &gix::Repository,
    report: &mut FetchReport,
    pack: &gix::odb::pack::bundle::write::Outcome,
    staging: Option<&(String, bool)>,
    opts: &FetchOptions,
) -> Result<Option<PathBuf>, FetchError> {
    report.objects = pack.index.num_objects as usize;
    report.pack_path = pack.data_path.clone();
    report.bytes = pack.data_path.as_ref().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
    if let Some(max) = opts.max_receive_bytes.filter(|max| report.bytes > *max) {
        discard_received(repo, staging, pack);
        return Err(FetchError::TooLarge(max));
    }
    Ok(pack.keep_path.clone())
}

/// [`apply_what`], then the pack's `.keep` goes: it protected the pack until refs point into it,
/// and none is ever left behind (whether applying succeeded or not).
fn apply_then_release(repo: &gix::Repository, what: &What, staging: Option<&(String, bool)>, report: &mut FetchReport, keep_file: Option<PathBuf>) -> Result<(), FetchError> {
    let applied = apply_what(repo, what, staging, report);
    if let Some(keep) = keep_file {
        std::fs::remove_file(keep).ok();
    }
    applied
}

/// What a fetch does with the refs once the objects are here.
fn apply_what(repo: &gix::Repository, what: &What, staging: Option<&(String, bool)>, report: &mut FetchReport) -> Result<(), FetchError> {
    match what {
        What::Apply { mode, safety } => apply(repo, *mode, safety, &report.remote, staging).map(|refs| report.refs = refs),
        What::ObjectsOnly => staging.map_or(Ok(()), |s| drop_staging(repo, s, &report.remote)),
        What::Refspecs(_) => Ok(()),
    }
}

/// Undoes a fetch whose pack is over the limit: its staging refs (the only refs pointing into the
/// pack) and the pack itself go, so the repository is as it was before the run.
fn discard_received(repo: &gix::Repository, staging: Option<&(String, bool)>, pack: &gix::odb::pack::bundle::write::Outcome) {
    if let Some((prefix, _)) = staging {
        if let Err(e) = drop_staging(repo, &(prefix.clone(), true), &BTreeMap::new()) {
            tracing::warn!(error = %e, "could not drop the staging refs of a fetch over the limit");
        }
    }
    for path in [&pack.data_path, &pack.index_path, &pack.keep_path].into_iter().flatten() {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(error = %e, "could not remove the pack of a fetch over the limit");
        }
    }
}

/// The remote's heads and tags as advertised (an annotated tag by its tag object's id).
fn advertised_heads_and_tags(remote_refs: &[gix::protocol::handshake::Ref]) -> BTreeMap<String, ObjectId> {
    remote_refs
        .iter()
        .filter_map(|r| {
            let (name, target, _peeled) = r.unpack();
            let name = name.to_str().ok()?;
            (super::safety::is_mirrored(name)).then(|| Some((name.to_string(), target?.to_owned())))?
        })
        .collect()
}

/// Plans and applies the local ref changes: kept tips first (their own transaction), then every
/// change together with the mirror's memory of it (one transaction).
fn apply(
    repo: &gix::Repository,
    mode: FetchMode,
    safety: &super::Safety,
    remote: &BTreeMap<String, ObjectId>,
    staging: Option<&(String, bool)>,
) -> Result<Vec<EngineRef>, FetchError> {
    use super::plan::{self, Action};
    use super::safety as s;
    let local = s::mirrored_refs(repo).map_err(FetchError::Refs)?;
    // A remote that suddenly has nothing (emptied, or re-created) would prune every branch the
    // mirror brought in: refuse instead, so the mirror shows an error and nothing changes.
    if mode == FetchMode::Mirror && remote.is_empty() && !local.is_empty() {
        return Err(FetchError::EmptyRemote);
    }
    let memory = s::memory(repo, safety).map_err(FetchError::Refs)?;
    let planned = plan::plan(mode, remote, &local, &memory, safety.overwrite_diverged, |old, new| s::is_fast_forward(repo, old, new));

    let kept: BTreeMap<String, ObjectId> = planned.iter().filter_map(|p| p.kept().map(|id| (p.name.clone(), id))).collect();
    s::keep(repo, safety, &kept).map_err(FetchError::Refs)?;

    let mut edits = Vec::new();
    for p in &planned {
        let change = match p.action {
            Action::Create => (None, p.remote),
            Action::FastForward | Action::Force(_) => (p.local, p.remote),
            Action::Delete(_) => (p.local, None),
            Action::Unchanged | Action::Diverged => continue,
        };
        edits.push(s::cas_edit(&p.name, change.0, change.1, "gitblixt mirror").map_err(FetchError::Refs)?);
    }
    let mut after: BTreeMap<String, Option<ObjectId>> =
        planned.iter().map(|p| (p.name.clone(), p.remembered(memory.get(&p.name).copied()))).collect();
    for name in memory.keys() {
        after.entry(name.clone()).or_insert(None); // neither here nor there any more: forget it
    }
    edits.extend(s::memory_edits(safety, &memory, &after).map_err(FetchError::Refs)?);
    if let Some(staging) = staging {
        edits.extend(staging_edits(repo, staging, remote)?);
    }
    if !edits.is_empty() {
        if let Err(e) = repo.edit_references(edits) {
            // A push moved a ref since we looked: change nothing, try again later.
            return Err(match s::mirrored_refs(repo) {
                Ok(now) if now != local => FetchError::RefsMoved,
                _ => FetchError::Refs(Box::new(e)),
            });
        }
    }
    Ok(planned.into_iter().map(|p| report_of(p, mode, &safety.keep_key)).collect())
}

/// Deletes the staging refs that are not kept (all of them for a one-off fetch; those of refs the
/// remote no longer has for a mirror's persistent staging).
fn staging_edits(repo: &gix::Repository, (prefix, drop_all): &(String, bool), remote: &BTreeMap<String, ObjectId>) -> Result<Vec<RefEdit>, FetchError> {
    let staged = super::safety::refs_under(repo, prefix).map_err(FetchError::Refs)?;
    staged
        .keys()
        .filter(|name| *drop_all || !remote.contains_key(*name))
        .map(|name| super::safety::delete_edit(&format!("{prefix}{name}")).map_err(FetchError::Refs))
        .collect()
}

fn drop_staging(repo: &gix::Repository, staging: &(String, bool), remote: &BTreeMap<String, ObjectId>) -> Result<(), FetchError> {
    let edits = staging_edits(repo, staging, remote)?;
    if !edits.is_empty() {
        repo.edit_references(edits).map_err(|e| FetchError::Refs(Box::new(e)))?;
    }
    Ok(())
}

/// The planned change as the run reports it.
fn report_of(p: super::plan::Planned, mode: FetchMode, keep_key: &str) -> EngineRef {
    use super::plan::{Action, ForceReason};
    use super::safety::{is_branch, kept_ref, short_name};
    let short = short_name(&p.name).to_string();
    let what = if is_branch(&p.name) { format!("branch {short}") } else { format!("tag {short}") };
    let (outcome, note) = match p.action {
        Action::Create => (RefOutcome::Created, None),
        Action::FastForward => (RefOutcome::Updated, None),
        Action::Unchanged => (RefOutcome::Unchanged, None),
        Action::Force(ForceReason::Upstream) => (
            RefOutcome::ForceUpdated,
            Some(format!("{what} was rewritten on GitHub; GitBlixt's previous tip is kept: restore it from this run")),
        ),
        Action::Force(ForceReason::OverwroteDiverged) => (
            RefOutcome::ForceUpdated,
            Some(format!("{what} had diverged and was overwritten with GitHub's; GitBlixt's tip is kept: restore it from this run")),
        ),
        Action::Delete(ForceReason::Upstream) => {
            (RefOutcome::Deleted, Some(format!("{what} was deleted on GitHub; kept: restore it from this run")))
        }
        Action::Delete(ForceReason::OverwroteDiverged) => (
            RefOutcome::Deleted,
            Some(format!("{what} was deleted on GitHub and had commits pushed to GitBlixt; kept: restore it from this run")),
        ),
        Action::Diverged if mode == FetchMode::Once => (RefOutcome::Diverged, Some("kept GitBlixt's (diverged)".to_string())),
        Action::Diverged if p.remote.is_none() => {
            (RefOutcome::Diverged, Some(format!("{short} was deleted on GitHub but has commits pushed to GitBlixt; left as it is")))
        }
        Action::Diverged => (
            RefOutcome::Diverged,
            Some(format!("{short} has diverged: it has commits pushed to GitBlixt that GitHub doesn't have; left as it is")),
        ),
    };
    let kept = p.kept().map(|_| kept_ref(keep_key, &p.name));
    let (old, new) = match p.action {
        Action::Unchanged => (p.remote, p.remote),
        _ => (p.local, p.remote),
    };
    EngineRef { name: p.name, old, new, outcome, kept, note }
}

/// The fetch refspec that lists the remote's HEAD without writing anything locally.
fn head_refspec() -> Result<gix::refspec::RefSpec, FetchError> {
    gix::refspec::parse("HEAD".into(), gix::refspec::parse::Operation::Fetch)
        .map(|spec| spec.to_owned())
        .map_err(|e| FetchError::InvalidUrl(format!("internal refspec: {e}")))
}

/// Like `git clone`: when the local HEAD names a branch that does not exist (an empty repository)
/// and the remote's HEAD names one that now exists locally, point HEAD at it — so the repository's
/// default branch is GitHub's, whatever its name. A HEAD that names an existing branch is kept.
fn adopt_remote_head(repo: &gix::Repository, remote_refs: &[gix::protocol::handshake::Ref]) -> Result<(), FetchError> {
    let Some(target) = remote_refs.iter().find_map(|r| match r {
        gix::protocol::handshake::Ref::Symbolic { full_ref_name, target, .. } if full_ref_name == "HEAD" => Some(target),
        gix::protocol::handshake::Ref::Unborn { full_ref_name, target } if full_ref_name == "HEAD" => Some(target),
        _ => None,
    }) else {
        return Ok(());
    };
    if !target.starts_with(b"refs/heads/") || !repo.head().map_err(FetchError::gix(Stage::UpdateRefs))?.is_unborn() {
        return Ok(());
    }
    let Ok(target) = FullName::try_from(target.as_bstr()) else { return Ok(()) };
    if repo.try_find_reference(target.as_ref()).map_err(FetchError::gix(Stage::UpdateRefs))?.is_none() {
        return Ok(());
    }
    let head = FullName::try_from("HEAD").map_err(|e| FetchError::InvalidUrl(format!("internal ref name: {e}")))?;
    repo.edit_reference(RefEdit {
        change: Change::Update {
            log: gix::refs::transaction::LogChange {
                mode: RefLog::AndReference,
                force_create_reflog: false,
                message: "gitblixt mirror: HEAD follows the remote's default branch".into(),
            },
            expected: PreviousValue::Any,
            new: Target::Symbolic(target),
        },
        name: head,
        deref: false,
    })
    .map_err(FetchError::gix(Stage::UpdateRefs))?;
    Ok(())
}

/// The transport to `remote`'s fetch URL: [`super::http_client`] for http(s) with the fetch's stall
/// and connect timeouts, gix's own for `file://`.
fn open_transport(
    remote: &gix::Remote<'_>,
    opts: &FetchOptions,
) -> Result<Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>, FetchError> {
    let (url, version) = remote.sanitized_url_and_version(Direction::Fetch).map_err(FetchError::gix(Stage::Connect))?;
    let timeouts = super::http_client::Timeouts { connect: opts.connect_timeout, stall: opts.stall_timeout };
    super::http_client::connect(url, version, timeouts).map_err(FetchError::gix(Stage::Connect))
}

// ---------------------------------------------------------------------------------------------
// Progress: a minimal `NestedProgress` implementation whose counters are sampled by a thread.
// gix hands out `counter()` (shared atomics) to worker threads, so sampling is the only reliable way.

struct Item {
    name: Mutex<String>,
    id: Id,
    step: StepShared,
    max: AtomicUsize, // usize::MAX = unbounded
    unit: Mutex<Option<Unit>>,
}

struct Shared {
    items: Mutex<Vec<Arc<Item>>>,
    callback: Option<ProgressCallback>,
}

#[derive(Clone)]
struct ProgressRoot {
    shared: Arc<Shared>,
}

impl ProgressRoot {
    fn new(callback: Option<ProgressCallback>) -> Self {
        ProgressRoot {
            shared: Arc::new(Shared {
                items: Mutex::new(Vec::new()),
                callback,
            }),
        }
    }

    fn child(&self, name: &str, id: Id) -> Prog {
        Prog::new(self.shared.clone(), name.into(), id)
    }

    fn snapshot(shared: &Shared) -> Vec<ProgressItem> {
        shared
            .items
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|i| {
                let max = i.max.load(Ordering::Relaxed);
                ProgressItem {
                    name: i.name.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                    step: i.step.load(Ordering::Relaxed),
                    max: (max != usize::MAX).then_some(max),
                }
            })
            .collect()
    }

    fn spawn_reporter(&self, interval: Duration) -> Option<Reporter> {
        let cb = self.shared.callback.clone()?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = std::thread::spawn({
            let stop = stop.clone();
            let shared = self.shared.clone();
            move || {
                loop {
                    let deadline = std::time::Instant::now() + interval;
                    while std::time::Instant::now() < deadline {
                        if stop.load(Ordering::Relaxed) {
                            cb(&ProgressEvent::Snapshot(Self::snapshot(&shared)));
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(20).min(interval));
                    }
                    cb(&ProgressEvent::Snapshot(Self::snapshot(&shared)));
                }
            }
        });
        Some(Reporter {
            stop,
            handle: Some(handle),
        })
    }
}

struct Reporter {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().ok();
        }
    }
}

#[derive(Clone)]
struct Prog {
    shared: Arc<Shared>,
    item: Arc<Item>,
}

impl Prog {
    fn new(shared: Arc<Shared>, name: String, id: Id) -> Self {
        let item = Arc::new(Item {
            name: Mutex::new(name),
            id,
            step: Arc::new(AtomicUsize::new(0)),
            max: AtomicUsize::new(usize::MAX),
            unit: Mutex::new(None),
        });
        if shared.callback.is_some() {
            shared.items.lock().unwrap_or_else(|p| p.into_inner()).push(item.clone());
        }
        Prog { shared, item }
    }
}

impl Count for Prog {
    fn set(&self, step: Step) {
        self.item.step.store(step, Ordering::Relaxed);
    }
    fn step(&self) -> Step {
        self.item.step.load(Ordering::Relaxed)
    }
    fn inc_by(&self, step: Step) {
        self.item.step.fetch_add(step, Ordering::Relaxed);
    }
    fn counter(&self) -> StepShared {
        self.item.step.clone()
    }
}

impl Progress for Prog {
    fn init(&mut self, max: Option<Step>, unit: Option<Unit>) {
        self.item.max.store(max.unwrap_or(usize::MAX), Ordering::Relaxed);
        *self.item.unit.lock().unwrap_or_else(|p| p.into_inner()) = unit;
        self.item.step.store(0, Ordering::Relaxed);
    }
    fn unit(&self) -> Option<Unit> {
        self.item.unit.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    fn max(&self) -> Option<Step> {
        let m = self.item.max.load(Ordering::Relaxed);
        (m != usize::MAX).then_some(m)
    }
    fn set_max(&mut self, max: Option<Step>) -> Option<Step> {
        let prev = self.item.max.swap(max.unwrap_or(usize::MAX), Ordering::Relaxed);
        (prev != usize::MAX).then_some(prev)
    }
    fn set_name(&mut self, name: String) {
        *self.item.name.lock().unwrap_or_else(|p| p.into_inner()) = name;
    }
    fn name(&self) -> Option<String> {
        Some(self.item.name.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
    fn id(&self) -> Id {
        self.item.id
    }
    fn message(&self, level: MessageLevel, message: String) {
        if let Some(cb) = &self.shared.callback {
            cb(&ProgressEvent::Message {
                name: self.item.name.lock().unwrap_or_else(|p| p.into_inner()).clone(),
                level,
                text: message,
            });
        }
    }
}

impl NestedProgress for Prog {
    type SubProgress = Prog;
    fn add_child(&mut self, name: impl Into<String>) -> Self::SubProgress {
        Prog::new(self.shared.clone(), name.into(), gix::progress::UNKNOWN)
    }
    fn add_child_with_id(&mut self, name: impl Into<String>, id: Id) -> Self::SubProgress {
        Prog::new(self.shared.clone(), name.into(), id)
    }
}
