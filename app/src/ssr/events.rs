//! In-process events. "Refs updated" is emitted after every successful push; push mirrors
//! subscribe to it. "Mirrors changed" and sync progress feed the live status of the Settings page.

use crate::model::SyncProgress;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// One ref changed by a push. An all-zero id means "did not exist" (create: old; delete: new).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefUpdate {
    pub old: String,
    pub new: String,
    pub name: String,
}

impl RefUpdate {
    pub fn is_create(&self) -> bool {
        is_null_id(&self.old)
    }
    pub fn is_delete(&self) -> bool {
        is_null_id(&self.new)
    }
}

fn is_null_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'0')
}

/// The refs a push changed in a repository, with who pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefsUpdated {
    pub repository_id: i64,
    /// `owner/name`
    pub repository: String,
    pub pusher_id: i64,
    pub pusher: String,
    pub updates: Vec<RefUpdate>,
}

/// Something about a repository's mirrors changed (status, settings, runs), or a sync progressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MirrorEvent {
    /// `from_peer`: announced by another GitBlixt process sharing the database (PostgreSQL), so it
    /// is not relayed back. `requested`: how many syncs of the repository's mirrors the change
    /// asked for (the other processes wake as many workers).
    Changed { repository_id: i64, from_peer: bool, requested: usize },
    Progress { repository_id: i64, mirror_id: i64, progress: SyncProgress },
}

impl MirrorEvent {
    pub fn repository_id(&self) -> i64 {
        match self {
            MirrorEvent::Changed { repository_id, .. } | MirrorEvent::Progress { repository_id, .. } => *repository_id,
        }
    }
}

/// The event bus. Cheap to clone; subscribers that fall behind lose old events (they
/// recompute from refs or re-read the database, so a lost event only delays them).
#[derive(Clone)]
pub struct Events {
    refs_updated: broadcast::Sender<RefsUpdated>,
    mirrors: broadcast::Sender<MirrorEvent>,
    /// The latest progress of each sync running in this process, by mirror id.
    progress: Arc<Mutex<HashMap<i64, SyncProgress>>>,
}

impl Default for Events {
    fn default() -> Self {
        Self::new()
    }
}

impl Events {
    pub fn new() -> Self {
        let (refs_updated, _) = broadcast::channel(1024);
        let (mirrors, _) = broadcast::channel(1024);
        Self { refs_updated, mirrors, progress: Arc::default() }
    }

    pub fn subscribe_mirrors(&self) -> broadcast::Receiver<MirrorEvent> {
        self.mirrors.subscribe()
    }

    /// Tells live pages that the mirrors of a repository changed.
    pub fn mirrors_changed(&self, repository_id: i64) {
        self.mirrors_requested(repository_id, 0);
    }

    /// Tells live pages and the other processes that `runs` syncs of a repository's mirrors were
    /// requested.
    pub fn mirrors_requested(&self, repository_id: i64, runs: usize) {
        let _ = self.mirrors.send(MirrorEvent::Changed { repository_id, from_peer: false, requested: runs });
    }

    /// Another process sharing the database changed the mirrors of a repository.
    pub fn mirrors_changed_by_peer(&self, repository_id: i64, requested: usize) {
        let _ = self.mirrors.send(MirrorEvent::Changed { repository_id, from_peer: true, requested });
    }

    /// Records and announces the progress of a running sync.
    pub fn sync_progress(&self, repository_id: i64, mirror_id: i64, progress: SyncProgress) {
        if let Ok(mut map) = self.progress.lock() {
            map.insert(mirror_id, progress.clone());
        }
        let _ = self.mirrors.send(MirrorEvent::Progress { repository_id, mirror_id, progress });
    }

    /// Forgets the progress of a sync that ended.
    pub fn sync_ended(&self, mirror_id: i64) {
        if let Ok(mut map) = self.progress.lock() {
            map.remove(&mirror_id);
        }
    }

    pub fn progress_of(&self, mirror_id: i64) -> Option<SyncProgress> {
        self.progress.lock().ok().and_then(|map| map.get(&mirror_id).cloned())
    }

    pub fn subscribe_refs_updated(&self) -> broadcast::Receiver<RefsUpdated> {
        self.refs_updated.subscribe()
    }

    pub fn publish_refs_updated(&self, event: RefsUpdated) {
        tracing::info!(
            repository = %event.repository,
            pusher = %event.pusher,
            updates = %event
                .updates
                .iter()
                .map(|u| format!("{} {}..{}", u.name, short(&u.old), short(&u.new)))
                .collect::<Vec<_>>()
                .join(", "),
            "refs updated"
        );
        // No subscriber is fine: nothing is waiting for this repository.
        let _ = self.refs_updated.send(event);
    }
}

fn short(id: &str) -> &str {
    id.get(..7).unwrap_or(id)
}

/// Parses the `<old> <new> <ref>` lines git gives the post-receive hook.
pub fn parse_post_receive(input: &str) -> Vec<RefUpdate> {
    input
        .lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let old = parts.next()?;
            let new = parts.next()?;
            let name = parts.next()?;
            let is_id = |s: &str| (s.len() == 40 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit());
            (is_id(old) && is_id(new) && !name.is_empty()).then(|| RefUpdate {
                old: old.to_string(),
                new: new.to_string(),
                name: name.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hook_lines() {
        let z = "0".repeat(40);
        let a = "a".repeat(40);
        let input = format!("{z} {a} refs/heads/main\n{a} {z} refs/tags/v1\ngarbage\n");
        let got = parse_post_receive(&input);
        assert_eq!(got.len(), 2);
        assert!(got[0].is_create());
        assert!(got[1].is_delete());
        assert_eq!(got[1].name, "refs/tags/v1");
    }
}
