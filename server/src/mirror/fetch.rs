//! Fetch (pull mirror and one-time fetch) of `refs/heads/*` and `refs/tags/*` into a local bare
//! repository using gix 0.90.
//!
//! * refspecs: exactly `+refs/heads/*:refs/heads/*` and `+refs/tags/*:refs/tags/*`, no tag-following.
//! * credentials: HTTP Basic `x-access-token:<token>` via a credentials callback (never in the URL);
//!   without a token, a callback that refuses, so no prompt/helper is ever run.
//! * HTTP (reqwest backend): reqwest's default 30s timeout replaced by `stall_timeout` (per read, not total)
//!   and an explicit connect timeout.
//! * `FetchMode::Mirror` additionally prunes local heads/tags the remote no longer advertises.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use gix::{
    bstr::{BStr, ByteSlice},
    progress::{Count, Id, MessageLevel, NestedProgress, Progress, Step, StepShared, Unit},
    refs::{
        transaction::{Change, PreviousValue, RefEdit, RefLog},
        FullName, Target,
    },
    remote::{
        fetch::{refs::update::Mode, RefLogMessage, Status, Tags},
        Direction,
    },
    ObjectId,
};

use super::{EngineRef, FetchMode, MirrorError, Phase, RefOutcome, RefResult, TransferOptions, TransferReport};
use secrecy::ExposeSecret;

/// Fetches the remote's heads and tags into `local_bare_repo`. [`FetchMode::Mirror`] also deletes
/// local heads and tags the remote no longer has; [`FetchMode::Once`] never deletes. Every
/// overwritten or deleted ref's old id is in the result. Blocking: run it off the async runtime.
pub fn fetch(remote_url: &str, local_bare_repo: &Path, mode: FetchMode, opts: &TransferOptions) -> Result<TransferReport, MirrorError> {
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
    };
    match fetch_raw(remote_url, local_bare_repo, mode, raw) {
        Ok(r) => Ok(TransferReport {
            refs: r
                .refs
                .into_iter()
                .map(RefResult::from)
                .collect(),
            objects: r.objects as u64,
            bytes: r.bytes,
            seconds: started.elapsed().as_secs_f64(),
        }),
        Err(e) => Err(classify_fetch_error(&e, secret.as_deref())),
    }
}

fn classify_fetch_error(err: &FetchError, secret: Option<&str>) -> MirrorError {
    use gix::error::Class;
    let scrubbed = || super::error::scrub(&err.to_string(), secret);
    match err {
        FetchError::Interrupted => return MirrorError::Interrupted,
        FetchError::EmptyRemote => return MirrorError::EmptyRemote,
        FetchError::InvalidUrl(_) => return MirrorError::InvalidUrl { detail: scrubbed() },
        FetchError::NotBare(_) => return MirrorError::Local { detail: scrubbed() },
        FetchError::Gix { stage: Stage::OpenRepo | Stage::Configure | Stage::Prune | Stage::UpdateRefs, .. } => {
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

pub const REFSPECS: [&str; 2] = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];
const PRUNE_PREFIXES: [&str; 2] = ["refs/heads/", "refs/tags/"];

#[derive(Debug, Clone, Default)]
struct FetchReport {
    pub refs: Vec<EngineRef>,
    /// Objects in the received pack (0 if no pack was received).
    pub objects: usize,
    /// Size of the received pack on disk, in bytes (0 if no pack was received).
    pub bytes: u64,
    /// Path of the pack written by this fetch, if any.
    pub pack_path: Option<PathBuf>,
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
    Prune,
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
    #[error("the remote has no branches or tags")]
    EmptyRemote,
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
    mode: FetchMode,
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
    let mut repo = gix::open_opts(local_bare_repo, gix::open::Options::isolated()).map_err(FetchError::gix(Stage::OpenRepo))?;
    if !repo.is_bare() {
        return Err(FetchError::NotBare(local_bare_repo.to_owned()));
    }
    // Reflog writes (if core.logAllRefUpdates is on) need a committer; isolated repos usually have none.
    repo.committer_or_set_fallback("GitBlixt", "gitblixt@localhost")
        .map_err(FetchError::gix(Stage::Configure))?;

    let progress_root = ProgressRoot::new(opts.progress.clone());
    let reporter = progress_root.spawn_reporter(opts.progress_interval);
    let result = fetch_inner(&repo, url, mode, &opts, &progress_root);
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
    mode: FetchMode,
    opts: &FetchOptions,
    progress_root: &ProgressRoot,
) -> Result<FetchReport, FetchError> {
    let url_string = url.to_bstring();
    let remote = repo
        .remote_at(url)
        .map_err(FetchError::gix(Stage::Configure))?
        .with_refspecs(REFSPECS, Direction::Fetch)
        .map_err(FetchError::gix(Stage::Configure))?
        .with_fetch_tags(Tags::None);

    let connection = remote.connect(Direction::Fetch).map_err(FetchError::gix(Stage::Connect))?;

    // --- Transport options: start from what the repo config says, then override what we need.
    let transport_options = http_transport_options(repo, url_string.as_ref(), opts)?;
    let connection = match transport_options {
        Some(o) => connection.with_transport_options(o),
        None => connection,
    };

    // --- Credentials. Called by gix only after the server answered 401.
    let token = opts.token.clone();
    let connection = connection.with_credentials(move |action| {
        use gix::credentials::helper::Action;
        match action {
            Action::Get(ctx) => match &token {
                Some(token) => Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: super::TOKEN_USER.into(),
                        password: token.clone(),
                        oauth_refresh_token: None,
                    },
                    next: ctx.into(),
                })),
                // Refuse: gix turns `None` into an "unauthenticated" classified error, no prompt.
                None => Ok(None),
            },
            Action::Store(_) | Action::Erase(_) => Ok(None),
        }
    });

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

    let outcome = prepare
        .with_reflog_message(RefLogMessage::Prefixed { action: "gitblixt mirror".into() })
        .receive(progress_root.child("fetch", *b"MFET"), &opts.should_interrupt)
        .map_err(FetchError::gix(Stage::Receive))?;

    let mut report = FetchReport::default();
    let update_refs = match &outcome.status {
        Status::Change {
            write_pack_bundle,
            update_refs,
            ..
        } => {
            report.objects = write_pack_bundle.index.num_objects as usize;
            report.pack_path = write_pack_bundle.data_path.clone();
            report.bytes = write_pack_bundle
                .data_path
                .as_ref()
                .and_then(|p| std::fs::metadata(p).ok())
                .map_or(0, |m| m.len());
            // gix only removes the .keep file if refs were edited or the pack is empty; never leave one behind.
            if let Some(keep) = &write_pack_bundle.keep_path {
                std::fs::remove_file(keep).ok();
            }
            update_refs
        }
        Status::NoPackReceived { update_refs, .. } => update_refs,
    };

    let refspecs = remote.refspecs(Direction::Fetch);
    for (update, mapping, _spec, edit) in
        update_refs.iter_mapping_updates(&outcome.ref_map.mappings, refspecs, &outcome.ref_map.extra_refspecs)
    {
        if mapping.local.is_none() {
            continue; // the remote's HEAD, listed only to learn its default branch
        }
        let name = mapping
            .local
            .as_ref()
            .map(|n| n.to_string())
            .unwrap_or_else(|| remote_ref_name(&mapping.remote).to_string());
        let new = mapping.remote.as_id().map(ToOwned::to_owned);
        let old = edit.and_then(previous_id);
        let outcome = match &update.mode {
            Mode::New => RefOutcome::Created,
            Mode::FastForward => RefOutcome::Updated,
            Mode::Forced if old.is_none() && edit.is_some_and(|e| !matches!(e.change, Change::Update { expected: PreviousValue::MustExistAndMatch(_), .. })) => {
                RefOutcome::Created
            }
            Mode::Forced => RefOutcome::ForceUpdated,
            Mode::NoChangeNeeded | Mode::ImplicitTagNotSentByRemote => RefOutcome::Unchanged,
            rejected => RefOutcome::Rejected(rejected.to_string()),
        };
        let old = match outcome {
            RefOutcome::Unchanged => old.or(new),
            _ => old,
        };
        report.refs.push(EngineRef { name, old, new, outcome });
    }

    if mode == FetchMode::Mirror {
        // Everything the remote advertised under the prune prefixes (rejected updates included: never prune those).
        let advertised: BTreeSet<&BStr> = outcome
            .ref_map
            .remote_refs
            .iter()
            .map(|r| r.unpack().0)
            .filter(|name| PRUNE_PREFIXES.iter().any(|p| name.starts_with(p.as_bytes())))
            .collect();
        // A remote that suddenly has nothing (emptied, or re-created) would prune every branch and
        // tag here: refuse instead, so the mirror shows an error and nothing is lost.
        if advertised.is_empty() && has_heads_or_tags(repo)? {
            return Err(FetchError::EmptyRemote);
        }
        report.refs.extend(prune(repo, &advertised)?);
    }

    adopt_remote_head(repo, &outcome.ref_map.remote_refs)?;
    report.refs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(report)
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

fn has_heads_or_tags(repo: &gix::Repository) -> Result<bool, FetchError> {
    let platform = repo.references().map_err(FetchError::gix(Stage::Prune))?;
    for prefix in PRUNE_PREFIXES {
        let mut iter = platform.prefixed(prefix.as_bytes().as_bstr()).map_err(FetchError::gix(Stage::Prune))?;
        if iter.next().is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn remote_ref_name(source: &gix::remote::fetch::refmap::Source) -> &BStr {
    match source {
        gix::remote::fetch::refmap::Source::Ref(r) => r.unpack().0,
        gix::remote::fetch::refmap::Source::ObjectId(_) => "<object id>".into(),
    }
}

/// The object id the ref had before the edit, as recorded in the committed ref edit.
fn previous_id(edit: &RefEdit) -> Option<ObjectId> {
    match &edit.change {
        Change::Update {
            expected: PreviousValue::MustExistAndMatch(Target::Object(id)),
            ..
        } => Some(*id),
        Change::Delete {
            expected: PreviousValue::MustExistAndMatch(Target::Object(id)),
            ..
        } => Some(*id),
        _ => None,
    }
}

/// Delete local refs under `refs/heads/` and `refs/tags/` that are not in `advertised`, atomically.
fn prune(repo: &gix::Repository, advertised: &BTreeSet<&BStr>) -> Result<Vec<EngineRef>, FetchError> {
    let err = FetchError::gix(Stage::Prune);
    let mut doomed: BTreeMap<FullName, Target> = BTreeMap::new();
    let platform = repo.references().map_err(err)?;
    for prefix in PRUNE_PREFIXES {
        let iter = platform
            .prefixed(prefix.as_bytes().as_bstr())
            .map_err(FetchError::gix(Stage::Prune))?;
        for reference in iter {
            let reference = reference.map_err(FetchError::gix(Stage::Prune))?;
            if !advertised.contains(reference.name().as_bstr()) {
                doomed.insert(reference.name().to_owned(), reference.target().into_owned());
            }
        }
    }
    if doomed.is_empty() {
        return Ok(Vec::new());
    }
    let edits: Vec<RefEdit> = doomed
        .iter()
        .map(|(name, target)| RefEdit {
            change: Change::Delete {
                expected: PreviousValue::MustExistAndMatch(target.clone()),
                log: RefLog::AndReference,
            },
            name: name.clone(),
            deref: false,
        })
        .collect();
    repo.edit_references(edits).map_err(FetchError::gix(Stage::Prune))?;
    Ok(doomed
        .into_iter()
        .map(|(name, target)| EngineRef {
            name: name.as_bstr().to_string(),
            old: match target {
                Target::Object(id) => Some(id),
                Target::Symbolic(_) => None,
            },
            new: None,
            outcome: RefOutcome::Deleted,
        })
        .collect())
}

/// For http(s) URLs: derive options from the repo config, then configure the reqwest client via
/// `http::reqwest::Options::configure_client` (the only hook the reqwest backend honours):
/// * `.connect_timeout(connect_timeout)` (gix hardcodes 20s otherwise),
/// * `.timeout(stall_timeout)` instead of reqwest's default 30s. In reqwest's *blocking* client this
///   bounds "send request + receive response headers" and then **each individual body read** (reqwest
///   `blocking::Response::read` re-arms it per call); it is not a whole-transfer deadline, so it acts as
///   a stall detector. Verified: a 48s trickling transfer succeeds with a 5s stall timeout; a stalled
///   server fails after ~2s with a 2s stall timeout.
///
/// The `low_speed_*` / `connect_timeout` fields of `http::Options` (and thus `http.lowSpeedLimit`,
/// `http.lowSpeedTime`, `gitoxide.http.connectTimeout`) are only honoured by the curl backend;
/// they are set anyway so switching backends keeps the intent.
fn http_transport_options(
    repo: &gix::Repository,
    url: &BStr,
    opts: &FetchOptions,
) -> Result<Option<Box<dyn std::any::Any>>, FetchError> {
    use gix::protocol::transport::client::blocking_io::http;
    let Some(mut boxed) = repo.transport_options(url, None).map_err(FetchError::gix(Stage::Configure))? else {
        return Ok(None);
    };
    if let Some(o) = boxed.downcast_mut::<http::Options>() {
        let stall = opts.stall_timeout;
        let connect = opts.connect_timeout;
        o.connect_timeout = Some(connect);
        o.low_speed_limit_bytes_per_second = 1;
        o.low_speed_time_seconds = stall.as_secs().max(1);
        o.user_agent = Some(concat!("gitblixt/", env!("CARGO_PKG_VERSION")).into());
        let configure_client: Box<http::reqwest::ConfigureClientFn> =
            Box::new(move |builder: reqwest::blocking::ClientBuilder| Ok(builder.timeout(stall).connect_timeout(connect)));
        o.backend = Some(Arc::new(Mutex::new(http::reqwest::Options {
            configure_client: Some(configure_client),
            configure_request: None,
        })));
    }
    Ok(Some(boxed))
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
