//! What a fetch does to each local ref (DESIGN.md "Nothing lost"), decided from three ids per
//! name: the remote's, the local one, and the one the mirror last synced (its memory).
//!
//! * New branches and tags are created; a branch whose remote tip contains the local one is
//!   fast-forwarded.
//! * A local ref still where the mirror left it follows the remote even when that is not a
//!   fast-forward (an upstream force push, a moved tag), and a ref the remote deleted is pruned —
//!   pull mirrors only, with the old tip kept.
//! * Anything else (the ref moved locally since: commits pushed to GitBlixt; or the mirror never
//!   wrote it) has **diverged**: left as it is, unless the owner chose to overwrite diverged refs
//!   (then overwritten, the old tip kept). A ref that exists only locally and was never synced is
//!   never touched.

use super::FetchMode;
use gix::ObjectId;
use std::collections::BTreeMap;

/// The decision for one ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    FastForward,
    /// Not a fast-forward, applied: the local tip is kept first.
    Force(ForceReason),
    /// Pruned (the remote no longer has it): the local tip is kept first.
    Delete(ForceReason),
    Unchanged,
    /// Left as it is: it has local work the remote lacks.
    Diverged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForceReason {
    /// The remote rewrote (or deleted) a ref the mirror had written and nobody moved since.
    Upstream,
    /// The owner chose to overwrite diverged refs.
    OverwroteDiverged,
}

/// One planned ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub name: String,
    pub local: Option<ObjectId>,
    pub remote: Option<ObjectId>,
    pub action: Action,
}

impl Planned {
    /// What the mirror remembers for this ref after the change (`None`: forget).
    pub fn remembered(&self, before: Option<ObjectId>) -> Option<ObjectId> {
        match self.action {
            Action::Create | Action::FastForward | Action::Force(_) | Action::Unchanged => self.remote,
            Action::Delete(_) => None,
            Action::Diverged => before,
        }
    }

    /// The local tip that must be kept before the change.
    pub fn kept(&self) -> Option<ObjectId> {
        match self.action {
            Action::Force(_) | Action::Delete(_) => self.local,
            _ => None,
        }
    }
}

/// Plans every ref. `is_fast_forward(old, new)` says whether `new` contains `old`.
pub fn plan(
    mode: FetchMode,
    remote: &BTreeMap<String, ObjectId>,
    local: &BTreeMap<String, ObjectId>,
    memory: &BTreeMap<String, ObjectId>,
    overwrite_diverged: bool,
    is_fast_forward: impl Fn(ObjectId, ObjectId) -> bool,
) -> Vec<Planned> {
    let mut out = Vec::new();
    for (name, &r) in remote {
        let l = local.get(name).copied();
        let action = match l {
            None => Action::Create,
            Some(l) if l == r => Action::Unchanged,
            Some(l) if super::safety::is_branch(name) && is_fast_forward(l, r) => Action::FastForward,
            Some(l) if mode == FetchMode::Mirror && memory.get(name) == Some(&l) => Action::Force(ForceReason::Upstream),
            Some(_) if overwrite_diverged => Action::Force(ForceReason::OverwroteDiverged),
            Some(_) => Action::Diverged,
        };
        out.push(Planned { name: name.clone(), local: l, remote: Some(r), action });
    }
    if mode == FetchMode::Mirror {
        for (name, &l) in local.iter().filter(|(name, _)| !remote.contains_key(*name)) {
            let action = match memory.get(name) {
                Some(&m) if m == l => Action::Delete(ForceReason::Upstream),
                // Synced once, moved here since, deleted on the remote: local work.
                Some(_) if overwrite_diverged => Action::Delete(ForceReason::OverwroteDiverged),
                Some(_) => Action::Diverged,
                // Created here, never synced: not the mirror's to delete.
                None => continue,
            };
            out.push(Planned { name: name.clone(), local: Some(l), remote: None, action });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> ObjectId {
        ObjectId::from_bytes_or_panic(&[n; 20])
    }

    fn map(items: &[(&str, u8)]) -> BTreeMap<String, ObjectId> {
        items.iter().map(|(n, i)| (n.to_string(), id(*i))).collect()
    }

    /// 1 → 2 → 3 is a line of history; 9 is unrelated.
    fn ff(old: ObjectId, new: ObjectId) -> bool {
        let (o, n) = (old.as_bytes()[0], new.as_bytes()[0]);
        o != 9 && n != 9 && o <= n
    }

    fn actions(p: &[Planned]) -> Vec<(&str, Action)> {
        p.iter().map(|p| (p.name.as_str(), p.action)).collect()
    }

    #[test]
    fn pull_mirror_applies_upstream_rewrites_but_leaves_local_work() {
        let remote = map(&[("refs/heads/main", 9), ("refs/heads/dev", 9), ("refs/heads/new", 1), ("refs/heads/ff", 3)]);
        let local = map(&[("refs/heads/main", 2), ("refs/heads/dev", 2), ("refs/heads/ff", 1), ("refs/heads/mine", 1)]);
        // main: the mirror wrote 2 (upstream force push); dev: the mirror wrote 1, a push moved it to 2.
        let memory = map(&[("refs/heads/main", 2), ("refs/heads/dev", 1), ("refs/heads/ff", 1)]);
        let p = plan(FetchMode::Mirror, &remote, &local, &memory, false, ff);
        assert_eq!(
            actions(&p),
            vec![
                ("refs/heads/dev", Action::Diverged),
                ("refs/heads/ff", Action::FastForward),
                ("refs/heads/main", Action::Force(ForceReason::Upstream)),
                ("refs/heads/new", Action::Create),
            ]
        );
        assert_eq!(p[0].remembered(Some(id(1))), Some(id(1)), "a diverged ref keeps its memory");
        assert_eq!(p[2].kept(), Some(id(2)));
    }

    #[test]
    fn prune_deletes_only_what_the_mirror_brought_in_unchanged() {
        let remote = map(&[("refs/heads/main", 1)]);
        let local = map(&[("refs/heads/main", 1), ("refs/heads/gone", 2), ("refs/heads/moved", 3), ("refs/tags/mine", 2)]);
        let memory = map(&[("refs/heads/main", 1), ("refs/heads/gone", 2), ("refs/heads/moved", 2)]);
        let p = plan(FetchMode::Mirror, &remote, &local, &memory, false, ff);
        assert_eq!(
            actions(&p),
            vec![
                ("refs/heads/gone", Action::Delete(ForceReason::Upstream)),
                ("refs/heads/main", Action::Unchanged),
                ("refs/heads/moved", Action::Diverged),
            ]
        );
        let p = plan(FetchMode::Mirror, &remote, &local, &memory, true, ff);
        assert_eq!(p[2].action, Action::Delete(ForceReason::OverwroteDiverged));
    }

    #[test]
    fn one_time_fetch_never_overwrites_unless_asked_and_never_deletes() {
        let remote = map(&[("refs/heads/main", 9), ("refs/heads/ff", 2), ("refs/tags/v1", 3)]);
        let local = map(&[("refs/heads/main", 1), ("refs/heads/ff", 1), ("refs/tags/v1", 2), ("refs/heads/local", 1)]);
        // Memory is ignored by a one-time fetch (it has none), even if given.
        let memory = map(&[("refs/heads/main", 1), ("refs/tags/v1", 2)]);
        let p = plan(FetchMode::Once, &remote, &local, &memory, false, ff);
        assert_eq!(
            actions(&p),
            vec![("refs/heads/ff", Action::FastForward), ("refs/heads/main", Action::Diverged), ("refs/tags/v1", Action::Diverged)]
        );
        let p = plan(FetchMode::Once, &remote, &local, &memory, true, ff);
        assert_eq!(p[1].action, Action::Force(ForceReason::OverwroteDiverged));
        assert_eq!(p[2].action, Action::Force(ForceReason::OverwroteDiverged), "a changed tag is treated like a diverged branch");
    }

    #[test]
    fn a_tag_the_mirror_wrote_follows_the_remote() {
        let remote = map(&[("refs/tags/v1", 3)]);
        let local = map(&[("refs/tags/v1", 2)]);
        let memory = map(&[("refs/tags/v1", 2)]);
        let p = plan(FetchMode::Mirror, &remote, &local, &memory, false, ff);
        assert_eq!(actions(&p), vec![("refs/tags/v1", Action::Force(ForceReason::Upstream))]);
    }
}
