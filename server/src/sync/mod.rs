//! The sync service: workers that claim requested mirrors from the durable queue
//! ([`app::ssr::mirrors`]) and run them with the mirror engine; the scheduler of pull mirrors.
//! (Pushes request their push mirrors' syncs themselves, durably, through
//! [`app::ssr::mirror_service::refs_changed`].)

mod run;

use app::ssr::AppState;
use app::ssr::mirrors;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Runs at the same time (`GITBLIXT_SYNC_WORKERS`, default 4).
    pub workers: usize,
    /// A run may take at most this long; its lease lasts a little longer.
    pub run_timeout: Duration,
    /// How often the queue is looked at without a wake-up (pull schedules, expired leases, backoff).
    pub poll: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig { workers: 4, run_timeout: Duration::from_secs(30 * 60), poll: Duration::from_secs(5) }
    }
}

/// A running sync service; stops when dropped.
pub struct SyncService {
    pub wake: Arc<Notify>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for SyncService {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl SyncService {
    pub fn start(state: AppState, config: SyncConfig) -> Self {
        let wake = state.sync_wake.clone();
        let instance = format!("{}-{}", std::process::id(), rand_suffix());
        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(scheduler(state.clone(), wake.clone(), config.poll)));
        for n in 0..config.workers.max(1) {
            let worker = format!("{instance}/{n}");
            tasks.push(tokio::spawn(worker_loop(state.clone(), wake.clone(), config.clone(), worker)));
        }
        SyncService { wake, tasks }
    }
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{nanos:x}")
}

/// Requests syncs of pull mirrors whose interval has passed.
async fn scheduler(state: AppState, wake: Arc<Notify>, poll: Duration) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match mirrors::request_due_pull_mirrors(&state.db).await {
            Ok(repositories) => {
                for repository_id in repositories {
                    state.events.mirrors_changed(repository_id);
                }
            }
            Err(e) => tracing::error!(error = %e, "pull mirror scheduling failed"),
        }
        // Wakes workers for the pull mirrors just requested, expired leases and finished backoffs.
        wake.notify_waiters();
    }
}

async fn worker_loop(state: AppState, wake: Arc<Notify>, config: SyncConfig, worker: String) {
    // The lease outlives the run's timeout a little, so only a crashed run's lease ever expires.
    let timeout = config.run_timeout.as_secs() as i64;
    let lease = timeout + timeout.min(60);
    loop {
        // Register interest before looking, so a request made while we look is not missed.
        let notified = wake.notified();
        match mirrors::claim_next(&state.db, &worker, lease).await {
            Ok(Some(claimed)) => {
                let repository_id = claimed.mirror.repository_id;
                state.events.mirrors_changed(repository_id);
                let end = run::run(&state, &claimed, &config).await;
                if let Err(e) = mirrors::finish(&state.db, &claimed, &worker, &end).await {
                    tracing::error!(error = %e, mirror = claimed.mirror.id, "could not record the end of a sync");
                }
                state.events.mirrors_changed(repository_id);
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "claiming a mirror sync failed"),
        }
        // Sleep until woken, the next poll, or the end of the earliest waiting burst.
        let mut nap = config.poll;
        if let Ok(Some(due)) = mirrors::next_debounce_ms(&state.db).await {
            let wait = (due - mirrors::now_ms()).max(10) as u64;
            nap = nap.min(Duration::from_millis(wait));
        }
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(nap) => {}
        }
    }
}

