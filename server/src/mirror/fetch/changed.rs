//! A mirror's later syncs at the protocol level: one upload-pack conversation (handshake, ls-refs
//! of the heads and tags, fetch) that wants only the refs whose tip on the remote differs from the
//! mirror's view of the remote (its staging refs), and writes only those staging refs.
//!
//! gix's `Prepare::receive` writes one ref edit for every listed ref, changed or not, each behind a
//! lock file of its own: on a repository of 556 branches and tags a one-commit fetch created and
//! removed 556 lock files and their directories, which was half of the fetch's CPU time (profiled
//! with `perf`). Here the ref map is narrowed to the changed refs before negotiation, so the wants,
//! the edits and the locks are the change's only. The negotiation sends the staging refs' tips as
//! haves, in one round (see [`StagedHaves`]): gix's walk of every local ref read a commit per ref,
//! the larger part of a one-commit fetch's remaining time.

use super::{FetchError, FetchOptions, ProgressRoot, Stage};
use gix::bstr::ByteSlice;
use gix::error::ResultExt;
use gix::protocol::fetch::{negotiate, refmap, Arguments, RefMap, Response, Shallow, Tags};
use gix::protocol::transport::client::blocking_io::Transport;
use gix::refs::transaction::RefEdit;
use gix::remote::Direction;
use gix::ObjectId;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

/// A connection after the ref listing, ready to fetch.
pub(super) struct Listed {
    transport: Box<dyn Transport + Send>,
    handshake: gix::protocol::Handshake,
    pub ref_map: RefMap,
}

/// How GitBlixt names itself in the protocol (`agent=`).
fn agent() -> gix::protocol::command::Feature {
    ("agent", Some(concat!("git/gitblixt-", env!("CARGO_PKG_VERSION")).to_string()))
}

/// Connects to `remote` (its fetch URL, the transfer's HTTP client and the token as for any fetch),
/// performs the handshake and lists the refs its refspecs name, and the remote's HEAD.
pub(super) fn list(remote: &gix::Remote<'_>, opts: &FetchOptions, progress_root: &ProgressRoot) -> Result<Listed, FetchError> {
    let mut transport = super::open_transport(remote, opts)?;
    let mut progress = progress_root.child("list refs", *b"MLSR");
    let mut handshake = gix::protocol::handshake(
        &mut transport,
        gix::protocol::transport::Service::UploadPack,
        super::token_credentials(opts.token.clone()),
        Vec::new(),
        &mut progress,
    )
    .map_err(FetchError::gix(Stage::ListRefs))?;
    let context = refmap::init::Context { fetch_refspecs: remote.refspecs(Direction::Fetch).to_vec(), extra_refspecs: vec![super::head_refspec()?] };
    let ref_map = handshake
        .prepare_lsrefs_or_extract_refmap(agent(), true, context)
        .map_err(FetchError::gix(Stage::ListRefs))?
        .fetch_blocking(&mut progress, &mut transport, false)
        .map_err(FetchError::gix(Stage::ListRefs))?;
    if opts.should_interrupt.load(Ordering::Relaxed) {
        return Err(FetchError::Interrupted);
    }
    Ok(Listed { transport, handshake, ref_map })
}

/// The staging refs to write: each listed ref whose remote tip differs from what `staged` (the
/// mirror's view, names without `prefix`) holds, as `(staging ref, remote tip)`.
pub(super) fn changed_staging(ref_map: &RefMap, prefix: &str, staged: &BTreeMap<String, ObjectId>) -> BTreeMap<String, ObjectId> {
    ref_map
        .mappings
        .iter()
        .filter_map(|m| {
            let local = m.local.as_ref()?.to_str().ok()?;
            let id = m.remote.as_id()?.to_owned();
            let name = local.strip_prefix(prefix)?;
            (staged.get(name) != Some(&id)).then(|| (local.to_string(), id))
        })
        .collect()
}

/// Fetches the objects of the refs in `changed` (staging ref → remote tip) only, saying `haves`
/// are here, and ends the conversation. Returns the pack written, if the remote sent one (none when every wanted object
/// is here already).
pub(super) fn receive(
    repo: &gix::Repository,
    listed: Listed,
    changed: &BTreeMap<String, ObjectId>,
    haves: Vec<ObjectId>,
    opts: &FetchOptions,
    progress_root: &ProgressRoot,
) -> Result<Option<gix::odb::pack::bundle::write::Outcome>, FetchError> {
    let Listed { mut transport, mut handshake, mut ref_map } = listed;
    ref_map
        .mappings
        .retain(|m| m.local.as_ref().and_then(|l| l.to_str().ok()).is_some_and(|l| changed.contains_key(l)));
    let mut negotiation = StagedHaves { objects: &repo.objects, ref_map: &ref_map, haves };
    let mut pack = None;
    let pack_dir = repo.objects.store_ref().path().join("pack");
    let shallow_file = repo.shallow_file().map_err(FetchError::gix(Stage::Receive))?;
    let fetched = gix::protocol::fetch(
        &mut negotiation,
        |reader, progress, interrupt| -> gix::Result<bool> {
            let written = gix::odb::pack::Bundle::write_to_directory(
                reader,
                Some(&pack_dir),
                progress,
                interrupt,
                Some(repo.objects.clone()),
                repo.object_hash(),
                gix::odb::pack::bundle::write::Options {
                    iteration_mode: gix::odb::pack::data::input::Mode::Verify,
                    ..Default::default()
                },
            )
            .or_raise(|| gix::error::message("Failed to write the received pack"))?;
            pack = Some(written);
            Ok(true)
        },
        progress_root.child("fetch", *b"MFET"),
        &opts.should_interrupt,
        gix::protocol::fetch::Context { handshake: &mut handshake, transport: &mut transport, user_agent: agent(), trace_packetlines: false },
        gix::protocol::fetch::Options { shallow_file, shallow: &Shallow::NoChange, tags: Tags::None, reject_shallow_remote: false },
    );
    if handshake.server_protocol_version == gix::protocol::transport::Protocol::V2 {
        gix::protocol::indicate_end_of_interaction(&mut transport, false).ok();
    }
    fetched.map_err(FetchError::gix(Stage::Receive))?;
    Ok(pack)
}

/// Writes the changed staging refs, into packed-refs like gix's fetch did (one transaction).
pub(super) fn write_staging(repo: &gix::Repository, changed: &BTreeMap<String, ObjectId>) -> Result<(), FetchError> {
    use gix::refs::file::transaction::PackedRefs;
    if changed.is_empty() {
        return Ok(());
    }
    let edits = changed
        .iter()
        .map(|(name, id)| super::super::safety::set_edit(name, *id, "gitblixt mirror: the remote's tip"))
        .collect::<Result<Vec<RefEdit>, _>>()
        .map_err(FetchError::Refs)?;
    let committer = repo.committer().transpose().map_err(|e| FetchError::Refs(Box::new(e)))?;
    repo.refs
        .transaction()
        .packed_refs(PackedRefs::DeletionsAndNonSymbolicUpdates(Box::new(&repo.objects)))
        .prepare(edits, gix::lock::acquire::Fail::Immediately, gix::lock::acquire::Fail::Immediately)
        .map_err(|e| FetchError::Refs(Box::new(e)))?
        .commit(committer)
        .map_err(|e| FetchError::Refs(Box::new(e)))?;
    Ok(())
}

/// The negotiation of a mirror's later pull. Its staging refs are the remote's tips as it last
/// fetched them: what the remote most likely still has, and each here with its whole history (a
/// staging ref is written only once its pack is in). Some of them (see [`haves`]) are sent as the
/// haves, all in the first round, with `done`: no walk of the local history and no commit read,
/// one fetch request. The remote ignores a have it no longer has; if it has none of them it sends
/// everything the wants reach, as to a new mirror — more bytes, never a missing object.
struct StagedHaves<'a> {
    objects: &'a gix::OdbHandle,
    ref_map: &'a RefMap,
    haves: Vec<ObjectId>,
}

impl gix::protocol::fetch::Negotiate for StagedHaves<'_> {
    fn mark_complete_and_common_ref(&mut self) -> gix::Result<negotiate::Action> {
        use gix::objs::Exists;
        if self.ref_map.mappings.is_empty() {
            return Ok(negotiate::Action::NoChange);
        }
        let known: Vec<bool> =
            self.ref_map.mappings.iter().map(|m| m.remote.as_id().is_some_and(|id| self.objects.exists(id))).collect();
        if known.iter().all(|k| *k) {
            return Ok(negotiate::Action::SkipToRefUpdate);
        }
        Ok(negotiate::Action::MustNegotiate { remote_ref_target_known: known })
    }

    fn add_wants(&mut self, arguments: &mut Arguments, remote_ref_target_known: &[bool]) -> bool {
        negotiate::add_wants(self.objects, arguments, self.ref_map, remote_ref_target_known, &Shallow::NoChange, |_| false)
    }

    fn one_round(
        &mut self,
        _state: &mut negotiate::one_round::State,
        arguments: &mut Arguments,
        _previous_response: Option<&Response>,
    ) -> gix::Result<(negotiate::Round, bool)> {
        for id in &self.haves {
            arguments.have(id);
        }
        let sent = self.haves.len();
        let round = negotiate::Round { haves_sent: sent, in_vain: 0, haves_to_send: sent, previous_response_had_at_least_one_in_common: false };
        Ok((round, true))
    }
}

/// Most staging tips sent as haves when every one is (each costs the remote a lookup, about as
/// much as git's own first round of 16 to 32 haves costs it).
const ALL_HAVES_UP_TO: usize = 32;

/// The haves of a later pull, from `staged` (the mirror's view, names without `prefix`): every
/// staging tip when there are few; else the previous tips of the refs in `changed` and of the
/// remote's default branch, which a fast-forward, a new branch off the default one or a
/// force-push start from. A merge of another branch may then bring objects that are here again
/// (bytes, not correctness). Only objects that are here: a have must never name a missing one.
pub(super) fn haves(
    objects: &gix::OdbHandle,
    ref_map: &RefMap,
    prefix: &str,
    staged: &BTreeMap<String, ObjectId>,
    changed: &BTreeMap<String, ObjectId>,
) -> Vec<ObjectId> {
    use gix::objs::Exists;
    let distinct: std::collections::BTreeSet<ObjectId> = if staged.len() <= ALL_HAVES_UP_TO {
        staged.values().copied().collect()
    } else {
        let head = ref_map.remote_refs.iter().find_map(|r| match r {
            gix::protocol::handshake::Ref::Symbolic { full_ref_name, target, .. } if full_ref_name == "HEAD" => target.to_str().ok(),
            _ => None,
        });
        changed
            .keys()
            .filter_map(|name| name.strip_prefix(prefix))
            .chain(head)
            .filter_map(|name| staged.get(name).copied())
            .collect()
    };
    distinct.into_iter().filter(|id| objects.exists(id)).collect()
}
