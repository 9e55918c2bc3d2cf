//! GitBlixt's hidden ref namespaces (under `refs/gitblixt/`: hidden from git clients, never
//! mirrored), shared by the web code and the mirror engine; and kept tips (DESIGN.md "Nothing
//! lost"): what syncs replaced, under
//! `refs/gitblixt/kept/<run>/<ref>` in the repository, restored or discarded by the owner.
//! Blocking (gix): call through `spawn_blocking`.

use crate::model::KeptRef;
use gix::bstr::ByteSlice;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog};
use gix::refs::{FullName, Target};
use gix::ObjectId;
use std::path::Path;

/// Tips a sync replaced: `<prefix><run>/<ref>`.
pub const KEPT_PREFIX: &str = "refs/gitblixt/kept/";
/// What a mirror last synced per ref: `<prefix><mirror>/<ref>`.
pub const SYNCED_PREFIX: &str = "refs/gitblixt/synced/";
/// A pull mirror's view of GitHub's refs (the fetch's staging namespace): `<prefix><mirror>/<ref>`.
pub const REMOTE_PREFIX: &str = "refs/gitblixt/remote/";
/// A one-off fetch's staging namespace, dropped after it: `<prefix><key>/<ref>`.
pub const INCOMING_PREFIX: &str = "refs/gitblixt/incoming/";

#[derive(Debug, thiserror::Error)]
pub enum KeptError {
    #[error("This kept branch or tag does not exist (it was restored or discarded already).")]
    NotFound,
    #[error("Only kept branches and tags can be restored.")]
    NotABranchOrTag,
    #[error("the repository could not be read or written: {0}")]
    Git(Box<dyn std::error::Error + Send + Sync + 'static>),
}

fn git(e: impl std::error::Error + Send + Sync + 'static) -> KeptError {
    KeptError::Git(Box::new(e))
}

fn open(path: &Path) -> Result<gix::Repository, KeptError> {
    super::store::open_hosted(path).map_err(git)
}

/// Every kept tip of the repository, newest run first.
pub fn list(path: &Path) -> Result<Vec<KeptRef>, KeptError> {
    let repo = open(path)?;
    let mut out = Vec::new();
    let platform = repo.references().map_err(git)?;
    for r in platform.prefixed(KEPT_PREFIX.as_bytes().as_bstr()).map_err(git)? {
        let r = r.map_err(git)?;
        let gix::refs::TargetRef::Object(id) = r.target() else { continue };
        let full = r.name().as_bstr().to_str_lossy();
        let Some((run, name)) = full.strip_prefix(KEPT_PREFIX).and_then(|rest| rest.split_once('/')) else { continue };
        // Runs of the command line (`cli-…`) are not the page's.
        let Ok(run_id) = run.parse::<i64>() else { continue };
        out.push(KeptRef { run_id, name: name.to_string(), id: id.to_string() });
    }
    out.sort_by(|a, b| b.run_id.cmp(&a.run_id).then_with(|| a.name.cmp(&b.name)));
    Ok(out)
}

/// Where the run with key `key` (its id, or `cli-<ms>`) keeps the tip of `name` it replaced.
pub fn kept_ref(key: &str, name: &str) -> String {
    format!("{KEPT_PREFIX}{key}/{name}")
}

fn full_name(name: &str) -> Result<FullName, KeptError> {
    FullName::try_from(name).map_err(|_| KeptError::NotFound)
}

fn find(repo: &gix::Repository, name: &str) -> Result<Option<ObjectId>, KeptError> {
    Ok(repo.try_find_reference(name).map_err(git)?.and_then(|r| r.target().try_id().map(ToOwned::to_owned)))
}

/// Recreates the branch or tag kept by run `run_id` as it was, or — when the name is taken now —
/// as `<name>-restored-<date>` (`-2`, `-3`… if that is taken too), and drops the kept ref, in one
/// ref transaction. Returns the ref written (`refs/heads/main-restored-20261127`) and its id.
pub fn restore(path: &Path, run_id: i64, name: &str, date: &str) -> Result<(String, ObjectId), KeptError> {
    if !(name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) {
        return Err(KeptError::NotABranchOrTag);
    }
    let repo = open(path)?;
    let kept = kept_ref(&run_id.to_string(), name);
    let id = find(&repo, &kept)?.ok_or(KeptError::NotFound)?;
    let target = free_name(&repo, name, date)?;
    let edits = vec![
        RefEdit {
            change: Change::Update {
                log: LogChange { mode: RefLog::AndReference, force_create_reflog: false, message: format!("gitblixt: restored from run {run_id}").into() },
                expected: PreviousValue::MustNotExist,
                new: Target::Object(id),
            },
            name: full_name(&target)?,
            deref: false,
        },
        RefEdit {
            change: Change::Delete { expected: PreviousValue::MustExistAndMatch(Target::Object(id)), log: RefLog::AndReference },
            name: full_name(&kept)?,
            deref: false,
        },
    ];
    repo.edit_references(edits).map_err(git)?;
    Ok((target, id))
}

/// `name` if no ref has it (nor is a prefix of it), else `<name>-restored-<date>[-n]`.
fn free_name(repo: &gix::Repository, name: &str, date: &str) -> Result<String, KeptError> {
    let taken = |candidate: &str| -> Result<bool, KeptError> {
        if find(repo, candidate)?.is_some() {
            return Ok(true);
        }
        // `refs/heads/a` cannot be created while `refs/heads/a/b` exists, nor the other way round.
        let platform = repo.references().map_err(git)?;
        let below = format!("{candidate}/");
        let has_below = platform.prefixed(below.as_bytes().as_bstr()).map_err(git)?.next().is_some();
        let has_above = candidate.match_indices('/').skip(2).map(|(i, _)| &candidate[..i]).map(|p| find(repo, p)).collect::<Result<Vec<_>, _>>()?.iter().any(Option::is_some);
        Ok(has_below || has_above)
    };
    if !taken(name)? {
        return Ok(name.to_string());
    }
    let base = format!("{name}-restored-{date}");
    for n in 1..1000 {
        let candidate = if n == 1 { base.clone() } else { format!("{base}-{n}") };
        if !taken(&candidate)? {
            return Ok(candidate);
        }
    }
    Err(KeptError::Git("no free name to restore to".into()))
}

/// Drops a kept tip.
pub fn discard(path: &Path, run_id: i64, name: &str) -> Result<(), KeptError> {
    let repo = open(path)?;
    let kept = kept_ref(&run_id.to_string(), name);
    let id = find(&repo, &kept)?.ok_or(KeptError::NotFound)?;
    repo.edit_reference(RefEdit {
        change: Change::Delete { expected: PreviousValue::MustExistAndMatch(Target::Object(id)), log: RefLog::AndReference },
        name: full_name(&kept)?,
        deref: false,
    })
    .map_err(git)?;
    Ok(())
}

/// Forgets a removed mirror's memory of what it synced and its view of GitHub's refs (its kept
/// tips stay).
pub fn forget_mirror(path: &Path, mirror_id: i64) -> Result<(), KeptError> {
    let repo = open(path)?;
    let platform = repo.references().map_err(git)?;
    let mut edits = Vec::new();
    for prefix in [format!("{SYNCED_PREFIX}{mirror_id}/"), format!("{REMOTE_PREFIX}{mirror_id}/")] {
        for r in platform.prefixed(prefix.as_bytes().as_bstr()).map_err(git)? {
            let r = r.map_err(git)?;
            edits.push(RefEdit {
                change: Change::Delete { expected: PreviousValue::MustExist, log: RefLog::AndReference },
                name: r.name().to_owned(),
                deref: false,
            });
        }
    }
    if !edits.is_empty() {
        repo.edit_references(edits).map_err(git)?;
    }
    Ok(())
}
