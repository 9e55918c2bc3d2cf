//! A mirror's later syncs at the protocol level: one upload-pack conversation (handshake, ls-refs
//! of the heads and tags, fetch) that wants only the refs whose tip on the remote differs from the
//! mirror's view of the remote (its staging refs), and writes only those staging refs.
//!
//! gix's `Prepare::receive` writes one ref edit for every listed ref, changed or not, each behind a
//! lock file of its own: on a repository of 556 branches and tags a one-commit fetch created and
//! removed 556 lock files and their directories, which was half of the fetch's CPU time (profiled
//! with `perf`). Here the ref map is narrowed to the changed refs before negotiation, so the wants,
//! the edits and the locks are the change's only. The negotiation is gix-protocol's (the functions
//! gix's own fetch uses), with every local ref as a have.

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

/// Connects to `remote` (its fetch URL, the transport options and the token as for any fetch),
/// performs the handshake and lists the refs its refspecs name, and the remote's HEAD.
pub(super) fn list(repo: &gix::Repository, remote: &gix::Remote<'_>, opts: &FetchOptions, progress_root: &ProgressRoot) -> Result<Listed, FetchError> {
    use gix::protocol::transport::client::blocking_io::connect;
    let (url, version) = remote.sanitized_url_and_version(Direction::Fetch).map_err(FetchError::gix(Stage::Connect))?;
    let options = super::http_transport_options(repo, url.to_bstring().as_ref(), opts)?;
    let mut transport = connect::connect(url, connect::Options { version, ..Default::default() }).map_err(FetchError::gix(Stage::Connect))?;
    if let Some(options) = options {
        transport
            .configure(&*options)
            .or_raise(|| gix::error::message("Failed to configure the transport layer"))
            .map_err(|e| FetchError::Gix { stage: Stage::Configure, source: e })?;
    }
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

/// Fetches the objects of the refs in `changed` (staging ref → remote tip) only, and ends the
/// conversation. Returns the pack written, if the remote sent one (none when every wanted object
/// is here already).
pub(super) fn receive(
    repo: &gix::Repository,
    listed: Listed,
    changed: &BTreeMap<String, ObjectId>,
    opts: &FetchOptions,
    progress_root: &ProgressRoot,
) -> Result<Option<gix::odb::pack::bundle::write::Outcome>, FetchError> {
    let Listed { mut transport, mut handshake, mut ref_map } = listed;
    ref_map
        .mappings
        .retain(|m| m.local.as_ref().and_then(|l| l.to_str().ok()).is_some_and(|l| changed.contains_key(l)));
    let cache = repo.commit_graph_if_enabled().ok().flatten();
    let mut graph = repo.revision_graph(cache.as_ref());
    let mut negotiator = gix::negotiate::Algorithm::Consecutive.into_negotiator();
    let mut negotiation = Negotiation { objects: &repo.objects, refs: &repo.refs, graph: &mut graph, ref_map: &ref_map, negotiator: negotiator.as_mut() };
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

/// gix-protocol's negotiation over the narrowed ref map: every local ref counts as a have; no
/// alternates, no shallow history, no tag-following (hosted repositories have none of these).
struct Negotiation<'a, 'b, 'c> {
    objects: &'a gix::OdbHandle,
    refs: &'a gix::refs::file::Store,
    graph: &'a mut gix::negotiate::Graph<'b, 'c>,
    ref_map: &'a RefMap,
    negotiator: &'a mut dyn gix::negotiate::Negotiator,
}

impl gix::protocol::fetch::Negotiate for Negotiation<'_, '_, '_> {
    fn mark_complete_and_common_ref(&mut self) -> gix::Result<negotiate::Action> {
        negotiate::mark_complete_and_common_ref(
            self.objects,
            self.refs,
            || Ok(std::iter::empty::<(gix::refs::file::Store, gix::OdbHandle)>()),
            self.negotiator,
            self.graph,
            self.ref_map,
            &Shallow::NoChange,
            |_| false,
        )
    }

    fn add_wants(&mut self, arguments: &mut Arguments, remote_ref_target_known: &[bool]) -> bool {
        negotiate::add_wants(self.objects, arguments, self.ref_map, remote_ref_target_known, &Shallow::NoChange, |_| false)
    }

    fn one_round(
        &mut self,
        state: &mut negotiate::one_round::State,
        arguments: &mut Arguments,
        previous_response: Option<&Response>,
    ) -> gix::Result<(negotiate::Round, bool)> {
        negotiate::one_round(self.negotiator, self.graph, state, arguments, previous_response)
    }
}
