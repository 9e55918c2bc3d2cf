//! Push mirror: a `git push --mirror` of heads and tags assembled from gix (0.90) building blocks:
//! `gix-transport` (connection), `gix-protocol` (V0/V1 handshake + ref advertisement parsing),
//! `gix-pack` (object counting, entry generation with pack-to-pack copies, pack streaming).
//!
//! gix has no high-level push, so the receive-pack conversation (commands, pack, report-status,
//! side-band demultiplexing) is implemented here directly.

use std::{
    collections::{BTreeMap, HashSet},
    io::Write,
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use super::thin::{self, ThinPack};
#[path = "count_all.rs"]
mod count_all;
#[path = "bitmap.rs"]
mod bitmap;
#[path = "whole_pack.rs"]
mod whole_pack;
use super::{EngineRef, MirrorError, Phase, Progress, RefOutcome, RefResult, TOKEN_USER, TransferOptions, TransferReport};
use secrecy::ExposeSecret;
use gix::{
    odb::pack,
    parallel::InOrderIter,
    prelude::Finalize,
    protocol::{
        handshake::Ref,
        transport::{
            client::{
                blocking_io::Transport,
                MessageKind, TransportWithoutIO, WriteMode,
            },
            packetline::PacketLineRef,
            Protocol, Service,
        },
    },
    ObjectId,
};

/// Progress events emitted while pushing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PushProgress {
    /// The remote advertised this many references.
    Handshake,
    /// The amount of objects that will be put into the pack.
    Counted { objects: usize },
    /// Pack bytes written so far.
    Writing { objects_total: usize, bytes: u64 },
    /// A message from the remote, on side-band 2 (progress) or 3 (errors).
    Remote,
}

/// Fetches GitHub's `(ref, kept ref)` tips that the push is about to replace and the local
/// repository lacks, into the kept namespace.
type FetchKept = Box<dyn FnMut(&[(String, String)]) -> Result<(), MirrorError> + Send>;

struct PushOptions {
    token: Option<String>,
    safety: super::Safety,
    fetch_kept: FetchKept,
    should_interrupt: Arc<AtomicBool>,
    /// Per-read (stall) timeout of the HTTP client.
    timeout: std::time::Duration,
    progress: Box<dyn FnMut(PushProgress) + Send>,
}

#[derive(Default)]
struct PushReport {
    refs: Vec<EngineRef>,
    objects: usize,
    bytes: u64,
    remote_messages: Vec<String>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Internal errors of a push, turned into [`MirrorError`] at the end. Per-ref rejections are *not*
/// errors, see [`RefOutcome::Rejected`].
#[derive(Debug)]
enum PushError {
    OpenRepository(BoxError),
    LocalRefs(BoxError),
    Connect(BoxError),
    Handshake(BoxError),
    Objects(BoxError),
    Pack(BoxError),
    Io(std::io::Error),
    Protocol(String),
    Unsupported(String),
    Interrupted,
    /// Keeping the tips the push replaces failed: nothing was pushed.
    Keep(MirrorError),
}

impl std::fmt::Display for PushError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (ctx, src): (&str, Option<&(dyn std::error::Error + 'static)>) = match self {
            PushError::OpenRepository(e) => ("could not open local repository", Some(e.as_ref())),
            PushError::LocalRefs(e) => ("could not read local references", Some(e.as_ref())),
            PushError::Connect(e) => ("could not connect to remote", Some(e.as_ref())),
            PushError::Handshake(e) => ("handshake with remote failed", Some(e.as_ref())),
            PushError::Objects(e) => ("could not access local objects", Some(e.as_ref())),
            PushError::Pack(e) => ("could not generate pack", Some(e.as_ref())),
            PushError::Io(e) => ("I/O error while talking to the remote", Some(e)),
            PushError::Protocol(msg) => return write!(f, "protocol error: {msg}"),
            PushError::Unsupported(msg) => return write!(f, "unsupported: {msg}"),
            PushError::Interrupted => return f.write_str("interrupted"),
            PushError::Keep(e) => return write!(f, "keeping GitHub's replaced tips failed: {e}"),
        };
        f.write_str(ctx)?;
        let mut cur = src;
        while let Some(err) = cur {
            write!(f, ": {err}")?;
            cur = err.source();
        }
        Ok(())
    }
}

impl std::error::Error for PushError {}

impl From<std::io::Error> for PushError {
    fn from(err: std::io::Error) -> Self {
        PushError::Io(err)
    }
}

fn boxed(err: impl std::error::Error + Send + Sync + 'static) -> BoxError {
    Box::new(err)
}

fn objects_error(err: impl std::error::Error + Send + Sync + 'static) -> PushError {
    PushError::Objects(boxed(err))
}

/// A handle on the repository's objects for packing: no object cache, so objects keep their pack
/// location and entries can be copied; packs stay loaded while it lives; no replacements.
fn pack_handle(repo: &gix::Repository) -> gix::odb::Handle {
    let mut handle = (*repo.objects).clone();
    handle.unset_object_cache();
    handle.prevent_pack_unload();
    handle.ignore_replacements = true;
    handle
}

use super::safety::{self, is_mirrored};

/// A ref update to send to receive-pack.
struct Command {
    name: String,
    old: Option<ObjectId>,
    new: Option<ObjectId>,
    /// The outcome if the remote accepts it.
    on_success: RefOutcome,
}

/// Mirrors all local `refs/heads/*` and `refs/tags/*` of `local_bare_repo` to `remote_url`
/// (`file://`, `http://` or `https://`): creates, updates (force included) and deletes remote heads
/// and tags so they equal the local ones. A remote tip it overwrites or deletes that is not the
/// one this mirror last pushed (someone pushed to GitHub directly) is kept in the local
/// repository first, fetched if need be. Blocking: run it off the async runtime.
pub fn push_mirror(local_bare_repo: &Path, remote_url: &str, opts: &TransferOptions) -> Result<TransferReport, MirrorError> {
    let started = std::time::Instant::now();
    let secret = opts.token.as_ref().map(|t| t.expose_secret().to_string());
    super::remote::check_url(remote_url, secret.is_some())?;
    let user_progress = opts.progress.clone();
    let report = move |p: Progress| {
        if let Some(f) = &user_progress {
            f(p)
        }
    };
    let fetch_kept: FetchKept = {
        let (url, local, opts) = (remote_url.to_string(), local_bare_repo.to_path_buf(), TransferOptions { progress: None, ..opts.clone() });
        Box::new(move |names| super::fetch::fetch_into(&url, &local, names, &opts))
    };
    let inner = PushOptions {
        token: secret.clone(),
        safety: opts.safety.clone(),
        fetch_kept,
        should_interrupt: opts.interrupt.clone(),
        timeout: opts.stall_timeout,
        progress: Box::new(move |p| match p {
            PushProgress::Handshake => report(Progress { phase: Phase::Counting, done: 0, total: None }),
            PushProgress::Counted { objects } => {
                report(Progress { phase: Phase::Counting, done: objects as u64, total: Some(objects as u64) })
            }
            PushProgress::Writing { objects_total, bytes } => {
                report(Progress { phase: Phase::Sending, done: bytes, total: None });
                let _ = objects_total;
            }
            PushProgress::Remote => report(Progress { phase: Phase::Resolving, done: 0, total: None }),
        }),
    };
    match push_inner(local_bare_repo, remote_url, inner) {
        Ok(r) => {
            if !r.remote_messages.is_empty() {
                tracing::debug!(messages = %super::error::scrub(&r.remote_messages.join(" | "), secret.as_deref()), "remote said");
            }
            Ok(TransferReport {
                refs: r
                    .refs
                    .into_iter()
                    .map(|p| {
                        RefResult::from(EngineRef {
                            outcome: match p.outcome {
                                RefOutcome::Rejected(reason) => {
                                    RefOutcome::Rejected(super::error::scrub(&reason, secret.as_deref()))
                                }
                                other => other,
                            },
                            ..p
                        })
                    })
                    .collect(),
                objects: r.objects as u64,
                bytes: r.bytes,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        Err(e) => Err(to_mirror_error(e, secret.as_deref())),
    }
}

fn to_mirror_error(err: PushError, secret: Option<&str>) -> MirrorError {
    match err {
        PushError::Interrupted => MirrorError::Interrupted,
        PushError::Keep(e) => e,
        PushError::OpenRepository(_) | PushError::LocalRefs(_) | PushError::Objects(_) | PushError::Pack(_) => {
            MirrorError::Local { detail: super::error::scrub(&err.to_string(), secret) }
        }
        PushError::Protocol(msg) if msg.starts_with("remote error:") => {
            MirrorError::Refused { detail: super::error::scrub(&msg, secret) }
        }
        PushError::Protocol(msg) | PushError::Unsupported(msg) => {
            MirrorError::Protocol { detail: super::error::scrub(&msg, secret) }
        }
        PushError::Connect(_) | PushError::Handshake(_) | PushError::Io(_) => super::error::classify(&err, secret),
    }
}

fn push_inner(local_bare_repo: &Path, remote_url: &str, mut opts: PushOptions) -> Result<PushReport, PushError> {
    let interrupted = || opts.should_interrupt.load(Ordering::Relaxed);
    let repo = app::ssr::store::open_hosted(local_bare_repo).map_err(|e| PushError::OpenRepository(boxed(e)))?;
    let object_hash = repo.object_hash();
    if object_hash != gix::hash::Kind::Sha1 {
        return Err(PushError::Unsupported(format!(
            "object hash {object_hash:?}"
        )));
    }

    // --- local refs (direct refs only; symbolic refs are skipped)
    let mut local = BTreeMap::<String, ObjectId>::new();
    {
        let platform = repo
            .references()
            .map_err(|e| PushError::LocalRefs(boxed(e)))?;
        let branches = platform
            .local_branches()
            .map_err(|e| PushError::LocalRefs(boxed(e)))?;
        let tags = platform
            .tags()
            .map_err(|e| PushError::LocalRefs(boxed(e)))?;
        for r in branches.chain(tags) {
            let r = r.map_err(|e| PushError::LocalRefs(boxed(e)))?;
            if let gix::refs::TargetRef::Object(id) = r.target() {
                local.insert(r.name().as_bstr().to_string(), id.to_owned());
            }
        }
    }

    // --- connect + handshake
    let url = gix::url::Url::try_from(remote_url).map_err(|e| PushError::Connect(boxed(e)))?;
    if url.password().is_some() {
        return Err(PushError::Unsupported(
            "credentials in the URL; use the token option".into(),
        ));
    }
    let is_http = matches!(url.scheme, gix::url::Scheme::Http | gix::url::Scheme::Https);
    // The stall timeout bounds the wait for each answer and each read of it, not the whole push.
    let timeouts = super::http_client::Timeouts { connect: std::time::Duration::from_secs(20), stall: opts.timeout };
    let mut transport = super::http_client::connect(url, Protocol::V1, timeouts).map_err(|e| PushError::Connect(boxed(e)))?;
    if is_http {
        if let Some(token) = opts.token.as_ref() {
            transport
                .set_identity(gix::sec::identity::Account {
                    username: TOKEN_USER.into(),
                    password: token.clone(),
                    oauth_refresh_token: None,
                })
                .map_err(|e| PushError::Connect(boxed(e)))?;
        }
    }
    let handshake = gix::protocol::handshake(
        &mut transport,
        Service::ReceivePack,
        // Never prompt: without (valid) token, authentication simply fails.
        |_action| Ok(None),
        Vec::new(),
        &mut gix::progress::Discard,
    )
    .map_err(|e| PushError::Handshake(boxed(e)))?;
    if matches!(handshake.server_protocol_version, Protocol::V2) {
        return Err(PushError::Protocol(
            "remote answered receive-pack with protocol V2".into(),
        ));
    }
    let caps = &handshake.capabilities;
    if let Some(format) = caps
        .capability("object-format")
        .and_then(|c| c.value().map(|v| v.to_string()))
    {
        if format != "sha1" {
            return Err(PushError::Unsupported(format!(
                "remote object-format {format}"
            )));
        }
    }
    let cap_report_status = caps.contains("report-status");
    let cap_side_band = caps.contains("side-band-64k");
    let cap_delete_refs = caps.contains("delete-refs");
    let cap_ofs_delta = caps.contains("ofs-delta");
    let cap_object_format = caps.capability("object-format").is_some();
    let cap_agent = caps.contains("agent");
    // receive-pack completes thin packs (`index-pack --fix-thin`) unless it says it can't.
    let cap_thin = !caps.contains("no-thin");

    let advertised = handshake.refs.clone().unwrap_or_default();
    (opts.progress)(PushProgress::Handshake);
    // All ids the remote told us about (including .have and refs outside heads/tags) - they exist remotely.
    let mut remote_tips = Vec::<ObjectId>::new();
    let mut remote = BTreeMap::<String, ObjectId>::new();
    for r in &advertised {
        let (name, id) = match r {
            Ref::Direct {
                full_ref_name,
                object,
            } => (full_ref_name, object),
            Ref::Peeled {
                full_ref_name, tag, ..
            } => (full_ref_name, tag),
            // symbolic refs are skipped entirely (receive-pack doesn't advertise them anyway)
            Ref::Symbolic { object, .. } => {
                remote_tips.push(*object);
                continue;
            }
            Ref::Unborn { .. } => continue,
        };
        if id.is_null() {
            continue;
        }
        remote_tips.push(*id);
        let name = name.to_string();
        if is_mirrored(&name) {
            remote.insert(name, *id);
        }
    }

    // --- compute commands
    let mut results = Vec::<EngineRef>::new();
    let mut commands = Vec::<Command>::new();
    for (name, new) in &local {
        match remote.get(name) {
            Some(old) if old == new => results.push(EngineRef::new(name.clone(), Some(*old), Some(*new), RefOutcome::Unchanged)),
            Some(old) => {
                let on_success = if safety::is_fast_forward(&repo, *old, *new) {
                    RefOutcome::Updated
                } else {
                    RefOutcome::ForceUpdated
                };
                commands.push(Command {
                    name: name.clone(),
                    old: Some(*old),
                    new: Some(*new),
                    on_success,
                })
            }
            None => commands.push(Command {
                name: name.clone(),
                old: None,
                new: Some(*new),
                on_success: RefOutcome::Created,
            }),
        }
    }
    for (name, old) in &remote {
        if local.contains_key(name) {
            continue;
        }
        if !cap_delete_refs {
            results.push(EngineRef::new(
                name.clone(),
                Some(*old),
                None,
                RefOutcome::Rejected("remote does not support deleting refs".into()),
            ));
            continue;
        }
        commands.push(Command {
            name: name.clone(),
            old: Some(*old),
            new: None,
            on_success: RefOutcome::Deleted,
        });
    }

    let memory = safety::memory(&repo, &opts.safety).map_err(PushError::LocalRefs)?;
    let kept = keep_replaced(&repo, &commands, &memory, &local, &opts.safety, &mut opts.fetch_kept)?;

    let mut report = PushReport::default();
    if commands.is_empty() {
        remember(&repo, &opts.safety, &memory, &local, &remote, &results);
        // Nothing to do: like `git push`, send no pack. Stateful connections (file://, ssh) get a
        // flush-pkt so receive-pack terminates cleanly; over HTTP no POST is made at all.
        if transport.connection_persists_across_multiple_requests() {
            let writer = transport
                .request(WriteMode::Binary, MessageKind::Flush, false)
                .map_err(|e| PushError::Io(std::io::Error::other(e)))?;
            let (mut w, _r) = writer.into_parts();
            w.write_all(b"0000")?;
            w.flush()?;
        }
        results.sort_by(|a, b| a.name.cmp(&b.name));
        report.refs = results;
        return Ok(report);
    }
    if interrupted() {
        return Err(PushError::Interrupted);
    }

    // --- compute the pack contents (only when at least one command isn't a deletion, like git)
    let needs_pack = commands.iter().any(|c| c.new.is_some());
    let counts = if needs_pack {
        if !cap_ofs_delta {
            return Err(PushError::Unsupported(
                "remote doesn't advertise ofs-delta, which reused pack entries require".into(),
            ));
        }
        let new_tips: Vec<ObjectId> = commands.iter().filter_map(|c| c.new).collect();
        let (contents, thin_pack) = count_objects(&repo, &new_tips, &remote_tips, &opts.should_interrupt)?;
        (opts.progress)(PushProgress::Counted {
            objects: contents.objects(),
        });
        Some((contents, cap_thin.then_some(thin_pack)))
    } else {
        None
    };

    // --- send commands
    let request = transport
        .request(WriteMode::Binary, MessageKind::Flush, false)
        .map_err(|e| PushError::Io(std::io::Error::other(e)))?;
    let (mut writer, mut reader) = request.into_parts();
    {
        let mut caps_line = String::new();
        if cap_report_status {
            caps_line.push_str(" report-status");
        }
        if cap_side_band {
            caps_line.push_str(" side-band-64k");
        }
        if cap_ofs_delta {
            caps_line.push_str(" ofs-delta");
        }
        if cap_object_format {
            caps_line.push_str(" object-format=sha1");
        }
        if cap_agent {
            caps_line.push_str(concat!(" agent=gitblixt/", env!("CARGO_PKG_VERSION")));
        }
        let null = ObjectId::null(object_hash);
        for (idx, cmd) in commands.iter().enumerate() {
            let mut line = format!(
                "{} {} {}",
                cmd.old.unwrap_or(null),
                cmd.new.unwrap_or(null),
                cmd.name
            )
            .into_bytes();
            if idx == 0 {
                line.push(0);
                line.extend_from_slice(caps_line.trim_start().as_bytes());
            }
            line.push(b'\n');
            write_pkt_line(&mut writer, &line)?;
        }
        writer.write_all(b"0000")?;
    }

    // --- send the pack
    if let Some((contents, thin_pack)) = counts {
        // The pack is produced in many small writes (a header, then the data, per entry); unbuffered,
        // each becomes its own chunk on the HTTP transport's pipe.
        let mut buffered = std::io::BufWriter::with_capacity(256 * 1024, &mut writer);
        let (objects, bytes, copied) = match contents {
            PackContents::Counted(counts) => {
                write_pack(&repo, counts, thin_pack, &mut buffered, &opts.should_interrupt, &mut opts.progress)?
            }
            PackContents::WholePack(whole) => {
                let stored = whole.objects as usize;
                let (objects, bytes) = whole_pack::write(&repo, whole, &mut buffered, &opts.should_interrupt, &mut opts.progress)?;
                (objects, bytes, stored)
            }
        };
        buffered.flush()?;
        drop(buffered);
        tracing::debug!(objects, bytes, copied_from_pack = copied, "pack sent");
        report.objects = objects;
        report.bytes = bytes;
    }
    writer.flush()?;
    // For HTTP, dropping the writer finishes the streamed request body.
    drop(writer);

    // --- read the response
    reader.reset(Protocol::V1);
    let mut status_lines = Vec::<String>::new();
    if cap_report_status || cap_side_band {
        let mut band1 = Vec::<u8>::new();
        let mut partial_msg = String::new();
        while let Some(line) = reader.readline() {
            let line = line?
                .map_err(|e| PushError::Protocol(format!("could not decode response: {e}")))?;
            let PacketLineRef::Data(data) = line else {
                break;
            };
            if cap_side_band {
                let Some((&band, payload)) = data.split_first() else {
                    continue;
                };
                match band {
                    1 => band1.extend_from_slice(payload),
                    2 | 3 => {
                        let is_error = band == 3;
                        partial_msg.push_str(&String::from_utf8_lossy(payload));
                        // progress messages are terminated by \n or \r
                        while let Some(pos) = partial_msg.find(['\n', '\r']) {
                            let text: String = partial_msg.drain(..=pos).collect();
                            let text = text.trim_end_matches(['\n', '\r']).to_string();
                            if text.is_empty() {
                                continue;
                            }
                            (opts.progress)(PushProgress::Remote);
                            report.remote_messages.push(text);
                        }
                        if is_error {
                            let rest = std::mem::take(&mut partial_msg);
                            if !rest.trim().is_empty() {
                                report.remote_messages.push(rest.clone());
                            }
                            return Err(PushError::Protocol(format!(
                                "remote error: {}",
                                report.remote_messages.last().cloned().unwrap_or(rest)
                            )));
                        }
                    }
                    other => return Err(PushError::Protocol(format!("invalid side-band {other}"))),
                }
            } else {
                status_lines.push(String::from_utf8_lossy(data).trim_end().to_string());
            }
        }
        if cap_side_band {
            status_lines = parse_pkt_lines(&band1)?;
        }
    }

    // --- interpret report-status
    let mut unpack_error = None::<String>;
    let mut statuses = BTreeMap::<String, Result<(), String>>::new();
    if cap_report_status {
        let mut lines = status_lines.iter();
        match lines.next().map(String::as_str) {
            Some("unpack ok") => {}
            Some(l) if l.starts_with("unpack ") => {
                unpack_error = Some(l["unpack ".len()..].to_string())
            }
            other => {
                return Err(PushError::Protocol(format!(
                    "expected 'unpack' status, got {other:?}"
                )))
            }
        }
        for line in lines {
            if let Some(name) = line.strip_prefix("ok ") {
                statuses.insert(name.to_string(), Ok(()));
            } else if let Some(rest) = line.strip_prefix("ng ") {
                let (name, reason) = rest.split_once(' ').unwrap_or((rest, "rejected"));
                statuses.insert(name.to_string(), Err(reason.to_string()));
            }
        }
    }
    for cmd in commands {
        let outcome = if !cap_report_status {
            // Without report-status we can't know better; assume success (like ancient gits).
            cmd.on_success
        } else if let Some(err) = &unpack_error {
            RefOutcome::Rejected(format!("unpack failed: {err}"))
        } else {
            match statuses.remove(&cmd.name) {
                Some(Ok(())) => cmd.on_success,
                Some(Err(reason)) => RefOutcome::Rejected(reason),
                None => RefOutcome::Rejected("remote did not report a status for this ref".into()),
            }
        };
        let mut result = EngineRef::new(cmd.name, cmd.old, cmd.new, outcome);
        if let Some(k) = kept.get(&result.name) {
            result.kept = Some(k.kept_ref.clone());
            result.note = Some(k.note.clone());
        }
        results.push(result);
    }
    drop(reader);
    drop(transport);
    remember(&repo, &opts.safety, &memory, &local, &remote, &results);
    results.sort_by(|a, b| a.name.cmp(&b.name));
    report.refs = results;
    Ok(report)
}

/// A GitHub tip the push replaces, kept in the local repository.
struct Kept {
    kept_ref: String,
    note: String,
}

/// Keeps every remote tip a command overwrites (not as a fast-forward) or deletes, unless it is
/// the tip this mirror itself last pushed there: those the local repository lacks are fetched
/// first. Fails (and nothing is pushed) when a tip cannot be kept.
fn keep_replaced(
    repo: &gix::Repository,
    commands: &[Command],
    memory: &BTreeMap<String, ObjectId>,
    local: &BTreeMap<String, ObjectId>,
    keep_safety: &super::Safety,
    fetch_kept: &mut FetchKept,
) -> Result<BTreeMap<String, Kept>, PushError> {
    let replaced: Vec<(&Command, ObjectId)> = commands
        .iter()
        .filter_map(|c| c.old.map(|old| (c, old)))
        .filter(|(c, old)| {
            let fast_forward = c.new.is_some() && safety::is_branch(&c.name) && c.on_success == RefOutcome::Updated;
            !fast_forward && memory.get(&c.name) != Some(old)
        })
        .collect();
    if replaced.is_empty() {
        return Ok(BTreeMap::new());
    }
    let key = keep_safety.keep_key.clone();
    let missing: Vec<(String, String)> = replaced
        .iter()
        .filter(|(_, old)| !repo.has_object(old))
        .map(|(c, _)| (c.name.clone(), safety::kept_ref(&key, &c.name)))
        .collect();
    if !missing.is_empty() {
        fetch_kept(&missing).map_err(PushError::Keep)?;
    }
    let present: BTreeMap<String, ObjectId> =
        replaced.iter().filter(|(_, old)| repo.has_object(old)).map(|(c, old)| (c.name.clone(), *old)).collect();
    let fetched: std::collections::BTreeSet<&String> = missing.iter().map(|(name, _)| name).collect();
    let to_write: BTreeMap<String, ObjectId> = present.into_iter().filter(|(name, _)| !fetched.contains(name)).collect();
    safety::keep(repo, keep_safety, &to_write).map_err(|e| PushError::Keep(MirrorError::Local { detail: e.to_string() }))?;
    let mut out = BTreeMap::new();
    for (cmd, old) in replaced {
        let kept_ref = safety::kept_ref(&key, &cmd.name);
        // The fetched tip must be the one the command replaces (GitHub may have moved since; then
        // GitHub rejects the stale command and nothing is lost).
        if !repo.has_object(old) {
            return Err(PushError::Keep(MirrorError::Local { detail: format!("{} could not be fetched from the remote to keep it", cmd.name) }));
        }
        let only_there = safety::commits_only_in(repo, old, local.values().copied(), 100_000);
        let short = safety::short_name(&cmd.name);
        let commits = match only_there {
            1 => "1 commit".to_string(),
            n => format!("{n} commits"),
        };
        let verb = if cmd.new.is_some() { "overwrote" } else { "deleted" };
        let note = match memory.get(&cmd.name) {
            Some(_) => format!("{verb} {commits} pushed directly to GitHub on {short}; kept, restore from this run"),
            None if only_there > 0 => format!("{verb} GitHub's {short} ({commits} only on GitHub); kept, restore from this run"),
            None => format!("{verb} GitHub's {short}; kept, restore from this run"),
        };
        out.insert(cmd.name.clone(), Kept { kept_ref, note });
    }
    Ok(out)
}

/// Records what GitHub has now for every ref the push settled, as the mirror's memory. A failure
/// is only logged: the next run then keeps more than it needs to, never less.
fn remember(
    repo: &gix::Repository,
    safety: &super::Safety,
    memory: &BTreeMap<String, ObjectId>,
    local: &BTreeMap<String, ObjectId>,
    remote: &BTreeMap<String, ObjectId>,
    results: &[EngineRef],
) {
    if safety.memory.is_none() {
        return;
    }
    let mut after: BTreeMap<String, Option<ObjectId>> = BTreeMap::new();
    for r in results {
        match r.outcome {
            RefOutcome::Created | RefOutcome::Updated | RefOutcome::ForceUpdated | RefOutcome::Unchanged => {
                after.insert(r.name.clone(), r.new);
            }
            RefOutcome::Deleted => {
                after.insert(r.name.clone(), None);
            }
            RefOutcome::Rejected(_) | RefOutcome::Diverged => {}
        }
    }
    for name in memory.keys().filter(|n| !local.contains_key(*n) && !remote.contains_key(*n)) {
        after.insert(name.clone(), None);
    }
    let result = safety::memory_edits(safety, memory, &after).and_then(|edits| {
        if !edits.is_empty() {
            repo.edit_references(edits)?;
        }
        Ok(())
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not record what the push mirror pushed");
    }
}

fn write_pkt_line(out: &mut dyn Write, data: &[u8]) -> std::io::Result<()> {
    const MAX_DATA_LEN: usize = 65516;
    if data.len() > MAX_DATA_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "packet line too long",
        ));
    }
    write!(out, "{:04x}", data.len() + 4)?;
    out.write_all(data)
}

/// Parse a buffer of pkt-lines (the content of side-band 1) up to the first flush-pkt.
fn parse_pkt_lines(mut buf: &[u8]) -> Result<Vec<String>, PushError> {
    let mut out = Vec::new();
    while buf.len() >= 4 {
        let len = std::str::from_utf8(&buf[..4])
            .ok()
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or_else(|| {
                PushError::Protocol("invalid pkt-line length in report-status".into())
            })?;
        if len == 0 {
            break;
        }
        if len < 4 || len > buf.len() {
            return Err(PushError::Protocol(
                "truncated pkt-line in report-status".into(),
            ));
        }
        out.push(String::from_utf8_lossy(&buf[4..len]).trim_end().to_string());
        buf = &buf[len..];
    }
    Ok(out)
}

/// Peel `id` through annotated tags, returning the chain of tag objects and the final target and kind.
fn peel(
    repo: &gix::Repository,
    mut id: ObjectId,
) -> Result<(Vec<ObjectId>, ObjectId, gix::object::Kind), PushError> {
    let mut tags = Vec::new();
    loop {
        let obj = repo
            .find_object(id)
            .map_err(|e| PushError::Objects(boxed(e)))?;
        match obj.kind {
            gix::object::Kind::Tag => {
                tags.push(id);
                id = obj
                    .into_tag()
                    .target_id()
                    .map_err(|e| PushError::Objects(boxed(e)))?
                    .detach();
            }
            kind => return Ok((tags, id, kind)),
        }
    }
}

/// Determine all objects reachable from `new_tips` but not from any of `remote_tips` that exist
/// locally, and what a thin pack may be made against (see [`ThinPack`]).
fn count_objects(
    repo: &gix::Repository,
    new_tips: &[ObjectId],
    remote_tips: &[ObjectId],
    should_interrupt: &AtomicBool,
) -> Result<(PackContents, ThinPack), PushError> {
    // Everything the remote is known to have, as far as we can tell locally.
    let mut remote_has = HashSet::<ObjectId>::new();
    let mut hidden_commits = Vec::new();
    for id in remote_tips {
        if !repo.has_object(id) {
            continue;
        }
        let (tags, target, kind) = peel(repo, *id)?;
        remote_has.insert(*id);
        remote_has.extend(tags);
        remote_has.insert(target);
        if kind == gix::object::Kind::Commit {
            hidden_commits.push(target);
        }
    }

    let mut tag_objects = Vec::new();
    let mut commit_tips = Vec::new();
    let mut tree_or_blob = Vec::new();
    for id in new_tips {
        if remote_has.contains(id) {
            continue;
        }
        let (tags, target, kind) = peel(repo, *id)?;
        tag_objects.extend(tags.into_iter().filter(|t| !remote_has.contains(t)));
        if remote_has.contains(&target) {
            continue;
        }
        match kind {
            gix::object::Kind::Commit => commit_tips.push(target),
            _ => tree_or_blob.push(target),
        }
    }

    // A push sharing no history with the remote sends everything the tips reach: the pack's
    // reachability bitmap has that, where there is one.
    let shares_history = !hidden_commits.is_empty();
    if !shares_history {
        // The stored pack goes whole only if the remote has none of it.
        let whole_pack = remote_has.is_empty();
        if let Some(mut contents) = bitmap::count(repo, &commit_tips, &tag_objects, &tree_or_blob, whole_pack, should_interrupt)? {
            if let PackContents::Counted(counts) = &mut contents {
                counts.retain(|c| !remote_has.contains(&c.id));
            }
            tracing::debug!(objects = contents.objects(), whole_pack = matches!(contents, PackContents::WholePack(_)), "counted with the reachability bitmap");
            return Ok((contents, ThinPack::new(Vec::new(), Vec::new())));
        }
    }
    // Commits reachable from the new tips, but not from what the remote has.
    let mut commits = Vec::new();
    let mut commit_set = HashSet::new();
    let mut parents = Vec::new();
    if !commit_tips.is_empty() {
        let walk = repo
            .rev_walk(commit_tips)
            .with_hidden(hidden_commits)
            .all()
            .map_err(|e| PushError::Objects(boxed(e)))?;
        for info in walk {
            if should_interrupt.load(Ordering::Relaxed) {
                return Err(PushError::Interrupted);
            }
            let info = info.map_err(|e| PushError::Objects(boxed(e)))?;
            parents.extend(info.parent_ids.iter().copied());
            commit_set.insert(info.id);
            commits.push(info.id);
        }
    }
    // Parents of the new commits that aren't new themselves are on the remote (boundary commits).
    // `TreeAdditionsComparedToAncestor` adds them and their root trees to the counts, so remove them again.
    let mut boundary_trees = Vec::new();
    let mut boundary = HashSet::new();
    for parent in parents {
        if commit_set.contains(&parent) || !boundary.insert(parent) {
            continue;
        }
        remote_has.insert(parent);
        if let Ok(commit) = repo.find_commit(parent) {
            if let Ok(tree) = commit.tree_id() {
                remote_has.insert(tree.detach());
                if boundary_trees.len() < thin::MAX_BOUNDARY_TREES {
                    boundary_trees.push(tree.detach());
                }
            }
        }
    }

    // The trees a thin pack's deltas may be made against (before the counting takes the commits).
    let sent_trees = commit_trees(repo, &commits[..commits.len().min(thin::MAX_SENT_TREES)])?;
    let mut all = if shares_history {
        count_with_gix(repo, tag_objects, commits, tree_or_blob, should_interrupt)?
    } else {
        // Everything reachable goes: read each tree once, locate entries from the pack indexes.
        count_all::count(repo, &commits, tag_objects, tree_or_blob, should_interrupt)?
    };
    let mut seen = HashSet::new();
    all.retain(|c| !remote_has.contains(&c.id) && seen.insert(c.id));
    Ok((PackContents::Counted(all), ThinPack::new(boundary_trees, sent_trees)))
}

/// What a push's pack holds.
enum PackContents {
    /// Objects located one by one, their entries copied from packs or compressed.
    Counted(Vec<pack::data::output::Count>),
    /// A stored pack as it is, and a few objects beside it.
    WholePack(whole_pack::WholePack),
}

impl PackContents {
    fn objects(&self) -> usize {
        match self {
            PackContents::Counted(counts) => counts.len(),
            PackContents::WholePack(whole) => whole.objects(),
        }
    }
}

/// gix's counting, for a push on top of history the remote has: each new commit's tree is diffed
/// against its parent's, so only what changed is read.
fn count_with_gix(
    repo: &gix::Repository,
    tag_objects: Vec<ObjectId>,
    commits: Vec<ObjectId>,
    tree_or_blob: Vec<ObjectId>,
    should_interrupt: &AtomicBool,
) -> Result<Vec<pack::data::output::Count>, PushError> {
    use pack::data::output::count::{self, objects::ObjectExpansion};
    let handle = pack_handle(repo);

    let progress = gix::progress::Discard;
    let mut all = Vec::new();
    for (ids, expansion) in [
        (tag_objects, ObjectExpansion::AsIs),
        (commits, ObjectExpansion::TreeAdditionsComparedToAncestor),
        (tree_or_blob, ObjectExpansion::TreeContents),
    ] {
        if ids.is_empty() {
            continue;
        }
        // Counting runs on all cores (commits' tree diffs are independent); it also records each
        // object's pack location, which entry generation needs to copy entries as they are.
        let input: Box<dyn Iterator<Item = _> + Send> = Box::new(ids.into_iter().map(Ok));
        let options = count::objects::Options { thread_limit: None, chunk_size: 50, input_object_expansion: expansion };
        let (counts, _outcome) =
            count::objects(handle.clone(), input, &progress, should_interrupt, options)
                .map_err(|e| {
                    if should_interrupt.load(Ordering::Relaxed) {
                        PushError::Interrupted
                    } else {
                        PushError::Pack(boxed(e))
                    }
                })?;
        all.extend(counts);
    }
    Ok(all)
}

/// The root trees of `commits`.
fn commit_trees(repo: &gix::Repository, commits: &[ObjectId]) -> Result<Vec<ObjectId>, PushError> {
    commits
        .iter()
        .map(|id| repo.find_commit(*id).and_then(|c| Ok(c.tree_id()?.detach())).map_err(|e| PushError::Objects(boxed(e))))
        .collect()
}

struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    bytes: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Stream a pack made of `counts` into `out`, returning `(objects, bytes, entries_copied_from_pack)`.
///
/// With `thin_pack`, objects may be sent as deltas against objects the remote has (ref-deltas,
/// completed by the remote's `index-pack --fix-thin`) like `git push` does, see [`ThinPack`];
/// without, every delta whose base isn't in the pack is sent as a whole object.
fn write_pack(
    repo: &gix::Repository,
    counts: Vec<pack::data::output::Count>,
    mut thin_pack: Option<ThinPack>,
    out: &mut dyn Write,
    should_interrupt: &AtomicBool,
    progress: &mut Box<dyn FnMut(PushProgress) + Send>,
) -> Result<(usize, u64, usize), PushError> {
    use pack::data::output;

    let handle = pack_handle(repo);

    let num_objects = counts.len();
    let compression = repo
        .pack_compression()
        .map_err(|e| PushError::Pack(boxed(e)))?;
    let mut entries = InOrderIter::from(
        output::entry::iter_from_counts(
            counts,
            handle,
            Box::new(gix::progress::Discard),
            output::entry::iter_from_counts::Options {
                thread_limit: None,
                mode: output::entry::iter_from_counts::Mode::PackCopyAndBaseObjects,
                allow_thin_pack: thin_pack.is_some(),
                chunk_size: 50,
                version: pack::data::Version::V2,
                compression,
            },
        )
        .map_err(|e| PushError::Pack(boxed(e)))?,
    );
    let mut counting = CountingWriter {
        inner: out,
        bytes: 0,
    };
    {
        // A failure while deciding about a delta aborts the push (the remote gets a truncated pack
        // and updates nothing).
        let thin_error = std::cell::RefCell::new(None::<PushError>);
        let mut thinned = entries.by_ref().map(|chunk| {
            let mut chunk = chunk?;
            if let Some(thin) = thin_pack.as_mut() {
                for entry in chunk.iter_mut() {
                    if let Err(err) = thin.prepare(repo, entry, compression) {
                        thin_error.replace(Some(PushError::Pack(err)));
                        *entry = output::Entry::invalid();
                    }
                }
            }
            Ok(chunk)
        });
        let mut pack_iter = output::bytes::FromEntriesIter::new(
            thinned.by_ref(),
            &mut counting,
            num_objects as u32,
            pack::data::Version::V2,
            repo.object_hash(),
        );
        let mut written = 0u64;
        for res in pack_iter.by_ref() {
            if should_interrupt.load(Ordering::Relaxed) {
                return Err(PushError::Interrupted);
            }
            if let Some(err) = thin_error.borrow_mut().take() {
                return Err(err);
            }
            written += res.map_err(|e| PushError::Pack(boxed(e)))?;
            progress(PushProgress::Writing {
                objects_total: num_objects,
                bytes: written,
            });
        }
        if pack_iter.digest().is_none() {
            return Err(PushError::Pack("pack writing did not complete".into()));
        }
    }
    let stats = entries
        .inner
        .finalize()
        .map_err(|e| PushError::Pack(boxed(e)))?;
    if stats.missing_objects != 0 {
        return Err(PushError::Pack(
            format!("{} objects were missing locally", stats.missing_objects).into(),
        ));
    }
    Ok((num_objects, counting.bytes, stats.objects_copied_from_pack))
}
