//! Nothing lost (DESIGN.md): the hidden ref namespaces a sync writes in the local repository.
//!
//! * `refs/gitblixt/kept/<key>/<ref>`: a tip a sync replaced or deleted, on either side, kept
//!   before the change so it can be restored (`<key>` is the run's id).
//! * `refs/gitblixt/synced/<mirror>/<ref>`: the id the mirror last synced for each ref — its own
//!   "remote-tracking" memory, written in the same ref transaction as the change it describes.
//!   It tells an upstream rewrite (the local ref is still where the mirror left it) from local
//!   work (the ref moved since), and a GitHub ref pushed to directly from one we pushed.
//!
//! Both live under `refs/gitblixt/`, which git clients never see (`uploadpack.hideRefs`,
//! `receive.hideRefs`), mirrors never move, and gc keeps alive like any ref.

use gix::{
    bstr::ByteSlice,
    refs::{
        transaction::{Change, LogChange, PreviousValue, RefEdit, RefLog},
        FullName, Target,
    },
    ObjectId,
};
use std::collections::BTreeMap;

pub use app::model::short_ref as short_name;
pub use app::ssr::kept::{INCOMING_PREFIX, KEPT_PREFIX, REMOTE_PREFIX, SYNCED_PREFIX, kept_ref};

/// How a sync may change refs and what it remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Safety {
    /// Replaced tips are kept under `refs/gitblixt/kept/<keep_key>/`.
    pub keep_key: String,
    /// The mirror's per-ref memory (`refs/gitblixt/synced/<memory>/`); `None`: no memory (a
    /// one-time fetch), so nothing counts as written by this sync before.
    pub memory: Option<String>,
    /// Overwrite diverged branches and changed tags (keeping their tips) instead of leaving them.
    pub overwrite_diverged: bool,
}

impl Default for Safety {
    fn default() -> Self {
        Safety { keep_key: format!("cli-{}", now_ms()), memory: None, overwrite_diverged: false }
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// Only `refs/heads/*` and `refs/tags/*` are ever mirrored.
pub fn is_mirrored(name: &str) -> bool {
    name.starts_with("refs/heads/") || name.starts_with("refs/tags/")
}

pub fn is_branch(name: &str) -> bool {
    name.starts_with("refs/heads/")
}

pub fn synced_ref(memory: &str, name: &str) -> String {
    format!("{SYNCED_PREFIX}{memory}/{name}")
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Direct refs under `prefix`, keyed by their name with `prefix` removed.
pub fn refs_under(repo: &gix::Repository, prefix: &str) -> Result<BTreeMap<String, ObjectId>, BoxError> {
    let mut out = BTreeMap::new();
    let platform = repo.references()?;
    for r in platform.prefixed(prefix.as_bytes().as_bstr())? {
        let r = r?;
        if let gix::refs::TargetRef::Object(id) = r.target() {
            let name = r.name().as_bstr().to_str_lossy();
            if let Some(rest) = name.strip_prefix(prefix) {
                out.insert(rest.to_string(), id.to_owned());
            }
        }
    }
    Ok(out)
}

/// The repository's heads and tags.
pub fn mirrored_refs(repo: &gix::Repository) -> Result<BTreeMap<String, ObjectId>, BoxError> {
    let mut out = BTreeMap::new();
    for prefix in ["refs/heads/", "refs/tags/"] {
        for (rest, id) in refs_under(repo, prefix)? {
            out.insert(format!("{prefix}{rest}"), id);
        }
    }
    Ok(out)
}

/// The mirror's memory: the id it last synced, per ref name.
pub fn memory(repo: &gix::Repository, safety: &Safety) -> Result<BTreeMap<String, ObjectId>, BoxError> {
    match &safety.memory {
        Some(key) => refs_under(repo, &format!("{SYNCED_PREFIX}{key}/")),
        None => Ok(BTreeMap::new()),
    }
}

fn full_name(name: &str) -> Result<FullName, BoxError> {
    FullName::try_from(name).map_err(|e| format!("invalid ref name {name:?}: {e}").into())
}

fn log(message: &str) -> LogChange {
    LogChange { mode: RefLog::AndReference, force_create_reflog: false, message: message.into() }
}

/// Sets `name` to `id`, whatever it was.
pub fn set_edit(name: &str, id: ObjectId, message: &str) -> Result<RefEdit, BoxError> {
    Ok(RefEdit {
        change: Change::Update { log: log(message), expected: PreviousValue::Any, new: Target::Object(id) },
        name: full_name(name)?,
        deref: false,
    })
}

/// Moves `name` from `old` (`None`: must not exist) to `new` (`None`: delete); fails if someone
/// else moved it meanwhile.
pub fn cas_edit(name: &str, old: Option<ObjectId>, new: Option<ObjectId>, message: &str) -> Result<RefEdit, BoxError> {
    let change = match (old, new) {
        (old, Some(new)) => Change::Update {
            log: log(message),
            expected: match old {
                Some(old) => PreviousValue::MustExistAndMatch(Target::Object(old)),
                None => PreviousValue::MustNotExist,
            },
            new: Target::Object(new),
        },
        (Some(old), None) => Change::Delete { expected: PreviousValue::MustExistAndMatch(Target::Object(old)), log: RefLog::AndReference },
        (None, None) => return Err(format!("nothing to do for {name}").into()),
    };
    Ok(RefEdit { change, name: full_name(name)?, deref: false })
}

/// Deletes `name` if it exists.
pub fn delete_edit(name: &str) -> Result<RefEdit, BoxError> {
    Ok(RefEdit {
        change: Change::Delete { expected: PreviousValue::MustExist, log: RefLog::AndReference },
        name: full_name(name)?,
        deref: false,
    })
}

/// The edits that make the mirror's memory say `after` for the names in `touched`.
pub fn memory_edits(
    safety: &Safety,
    before: &BTreeMap<String, ObjectId>,
    after: &BTreeMap<String, Option<ObjectId>>,
) -> Result<Vec<RefEdit>, BoxError> {
    let Some(key) = &safety.memory else { return Ok(Vec::new()) };
    let mut edits = Vec::new();
    for (name, id) in after {
        let current = before.get(name).copied();
        if current == *id {
            continue;
        }
        let full = synced_ref(key, name);
        edits.push(match id {
            Some(id) => set_edit(&full, *id, "gitblixt: last synced")?,
            None => delete_edit(&full)?,
        });
    }
    Ok(edits)
}

/// Writes the kept tips (`name` → id) in one transaction, before the change that replaces them.
pub fn keep(repo: &gix::Repository, safety: &Safety, tips: &BTreeMap<String, ObjectId>) -> Result<(), BoxError> {
    if tips.is_empty() {
        return Ok(());
    }
    let edits = tips
        .iter()
        .map(|(name, id)| set_edit(&kept_ref(&safety.keep_key, name), *id, "gitblixt: kept before a sync replaced it"))
        .collect::<Result<Vec<_>, _>>()?;
    repo.edit_references(edits)?;
    Ok(())
}

/// The number of commits reachable from `tip` but from none of `hidden` (at most `limit`).
pub fn commits_only_in(repo: &gix::Repository, tip: ObjectId, hidden: impl IntoIterator<Item = ObjectId>, limit: usize) -> usize {
    let Ok(commit) = repo.find_object(tip).and_then(|o| Ok(o.peel_to_commit()?.id)) else { return 0 };
    let hidden: Vec<ObjectId> = hidden
        .into_iter()
        .filter_map(|id| repo.find_object(id).ok().and_then(|o| o.peel_to_commit().ok()).map(|c| c.id))
        .collect();
    match repo.rev_walk([commit]).with_hidden(hidden).all() {
        Ok(walk) => walk.take(limit).filter(Result::is_ok).count(),
        Err(_) => 0,
    }
}

/// Whether `new` contains `old` (a fast-forward): both peel to commits and `old` is an ancestor.
pub fn is_fast_forward(repo: &gix::Repository, old: ObjectId, new: ObjectId) -> bool {
    let peel = |id: ObjectId| repo.find_object(id).ok().and_then(|o| o.peel_to_commit().ok()).map(|c| (c.id, c.time().map(|t| t.seconds)));
    let (Some((old_c, Ok(old_time))), Some((new_c, _))) = (peel(old), peel(new)) else { return false };
    if old_c == new_c {
        return true;
    }
    // Allow for a day of clock skew; commits older than that can't lead to `old`.
    let Ok(walk) = repo
        .rev_walk([new_c])
        .sorting(gix::revision::walk::Sorting::ByCommitTimeCutoff {
            order: gix::traverse::commit::simple::CommitTimeOrder::NewestFirst,
            seconds: old_time - 86_400,
        })
        .all()
    else {
        return false;
    };
    for info in walk {
        match info {
            Ok(info) if info.id == old_c => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}
