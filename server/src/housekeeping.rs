//! Housekeeping: `git gc --auto` in a repository once its refs have stopped changing for a while
//! (`GITBLIXT_HOUSEKEEPING_DELAY`), instead of at the end of every push.
//!
//! Hosted repositories keep every push and every pull mirror's fetch as a pack
//! (`receive.unpackLimit=1`), so packs accumulate and must be consolidated now and then. git
//! would do it in `receive-pack` after each push (`receive.autogc`), which puts a `git gc --auto`
//! process between the push and its push mirrors' requests, and never happens for pull mirrors.
//! Here it runs off the push's path, once per quiet repository, one repository at a time, for
//! pushes over HTTP and SSH and for pull mirrors and fetches alike (every change goes through
//! [`app::ssr::mirror_service::refs_changed`], whose event this listens to). `gc` keeps what the
//! hosted configuration keeps: reflogs never expire and GitBlixt's kept tips are refs, so no
//! commit that was a ref tip is pruned.

use app::ssr::AppState;
use app::ssr::events::RefsUpdated;
use app::ssr::store::{hosted_config_args, isolated_git};
use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The default quiet time before a repository is tidied.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(60);

/// The running housekeeper; stopped (a running `gc` killed, which git tolerates) when dropped.
pub struct Housekeeping {
    watcher: tokio::task::JoinHandle<()>,
    tidier: tokio::task::JoinHandle<()>,
}

impl Drop for Housekeeping {
    fn drop(&mut self) {
        self.watcher.abort();
        self.tidier.abort();
    }
}

/// Starts watching for ref changes; a repository is tidied `delay` after its last one.
pub fn start(state: AppState, delay: Duration) -> Housekeeping {
    let (due_tx, due_rx) = mpsc::unbounded_channel();
    // Subscribed now, so a change made before the watcher first runs is not missed.
    let events = state.events.subscribe_refs_updated();
    let watcher = tokio::spawn(watch(events, delay, due_tx));
    let tidier = tokio::spawn(tidy_each(state, due_rx));
    Housekeeping { watcher, tidier }
}

/// Keeps each changed repository's deadline (pushed back by every change) and hands the
/// repositories whose deadline passed to the tidier.
async fn watch(mut events: broadcast::Receiver<RefsUpdated>, delay: Duration, due: mpsc::UnboundedSender<i64>) {
    let mut deadlines: HashMap<i64, Instant> = HashMap::new();
    loop {
        let next = deadlines.values().min().copied();
        tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    deadlines.insert(event.repository_id, Instant::now() + delay);
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "housekeeping missed ref updates; those repositories are tidied after their next change");
                }
                Err(RecvError::Closed) => return,
            },
            _ = sleep_until(next), if next.is_some() => {
                let now = Instant::now();
                deadlines.retain(|&repository_id, &mut at| {
                    let waiting = at > now;
                    if !waiting {
                        let _ = due.send(repository_id);
                    }
                    waiting
                });
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

/// Tidies the repositories handed over, one at a time.
async fn tidy_each(state: AppState, mut due: mpsc::UnboundedReceiver<i64>) {
    while let Some(repository_id) = due.recv().await {
        tidy(&state, repository_id).await;
    }
}

/// `git gc --auto` in one repository (if it still exists): consolidates packs and loose objects
/// when git's thresholds say so, else returns at once.
async fn tidy(state: &AppState, repository_id: i64) {
    let found = match app::ssr::repos::find_by_id(&state.db, repository_id).await {
        Ok(Some(found)) => found,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(repository_id, error = %e, "housekeeping could not look the repository up");
            return;
        }
    };
    let started = std::time::Instant::now();
    let ran = isolated_git()
        .args(hosted_config_args())
        // In the foreground, so only one repository is tidied at a time.
        .args(["-c", "gc.autoDetach=false", "--git-dir"])
        .arg(found.path(&state.store))
        .args(["gc", "--auto", "--quiet"])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await;
    let repository = found.full_name();
    match ran {
        Ok(out) if out.status.success() => {
            tracing::debug!(repository = %repository, ms = started.elapsed().as_millis() as u64, "housekeeping done");
        }
        Ok(out) => tracing::warn!(
            repository = %repository,
            status = %out.status,
            stderr = %String::from_utf8_lossy(&out.stderr).trim(),
            "housekeeping (git gc --auto) failed"
        ),
        Err(e) => tracing::warn!(repository = %repository, error = %e, "housekeeping could not start git"),
    }
}
