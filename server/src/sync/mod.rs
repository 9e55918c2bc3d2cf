//! The sync service: workers that claim requested mirrors from the durable queue
//! ([`app::ssr::mirrors`]) and run them with the mirror engine; the scheduler of pull mirrors; the
//! convergence sweep of push mirrors. (Pushes request their push mirrors' syncs themselves,
//! durably, through [`app::ssr::mirror_service::refs_changed`].)
//!
//! One run per mirror (DESIGN.md "Never silent"): a run's lease is short and renewed while the run
//! lives (heartbeat); every write of the run checks the lease's fencing token, so a run that lost
//! its lease changes nothing; a stop interrupts running transfers, records them as interrupted and
//! releases their leases with the request kept, so the next start resumes at once.

mod notify;
mod run;
pub use run::STOPPED;
pub use sweep::pass as sweep_pass;
mod sweep;
mod webhooks;

use app::ssr::{AppState, import_service};
use app::ssr::mirrors::{self, Claimed, RunEnd};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use app::ssr::wake::SyncWake;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Runs at the same time (`GITBLIXT_SYNC_WORKERS`, default 32). A run mostly waits on GitHub,
    /// so the default is the setting of 4, 8, 16 and 32 with which 100 push mirrors receiving a
    /// push at once reliably reach GitHub within 2 s (p99) on a 2-core machine (`make bench
    /// SECTIONS=never-silent`: 2.7 s with 4 workers, 2.2 s with 8, 1.9 s with 16 in one run;
    /// with 32, 1.5 to 2.0 s in four runs).
    pub workers: usize,
    /// A run may take at most this long (`GITBLIXT_SYNC_TIMEOUT`).
    pub run_timeout: Duration,
    /// How often the scheduler requests due pull mirrors and wakes a worker for each run that
    /// became runnable without a request (expired leases, ended backoffs).
    pub poll: Duration,
    /// A run's lease; renewed every third of it while the run lives. A crashed process's runs are
    /// taken over after it expires.
    pub lease: Duration,
    /// How often push mirrors are compared with their repositories (and at start).
    pub sweep: Duration,
    /// A mirror whose GitHub repository answers 404, or whose GitHub connection is gone, for this
    /// long is paused by GitBlixt (`GITBLIXT_DEAD_UPSTREAM_DAYS`, default 7).
    pub dead_after: Duration,
    /// A failed webhook delivery is retried after this, ×4 per attempt (at most an hour).
    pub webhook_retry: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            workers: 32,
            run_timeout: Duration::from_secs(30 * 60),
            poll: Duration::from_secs(5),
            lease: Duration::from_secs(60),
            sweep: Duration::from_secs(60),
            dead_after: Duration::from_secs(7 * 24 * 3600),
            webhook_retry: Duration::from_secs(30),
        }
    }
}

/// A run going on in this process: its owner (for the cap per owner) and its interrupt flag.
struct LocalRun {
    owner: i64,
    interrupt: Arc<AtomicBool>,
}

/// The runs going on in this process, by mirror.
#[derive(Clone, Default)]
struct Running(Arc<Mutex<HashMap<i64, LocalRun>>>);

/// A worker reserves a mirror here before it takes the lease (see [`mirrors::LocalRuns`]).
impl mirrors::LocalRuns for Running {
    fn running(&self) -> Vec<i64> {
        self.lock().keys().copied().collect()
    }
    fn reserve(&self, mirror: i64, owner: i64, per_owner: i64) -> bool {
        let mut runs = self.lock();
        if runs.contains_key(&mirror) || runs_of(&runs, owner) >= per_owner {
            return false;
        }
        runs.insert(mirror, LocalRun { owner, interrupt: Arc::new(AtomicBool::new(false)) });
        true
    }
    fn release(&self, mirror: i64) {
        self.lock().remove(&mirror);
    }
    fn runs_of(&self, owner: i64) -> i64 {
        runs_of(&self.lock(), owner)
    }
}

/// How many of `owner`'s mirrors are among `runs`.
fn runs_of(runs: &HashMap<i64, LocalRun>, owner: i64) -> i64 {
    runs.values().filter(|r| r.owner == owner).count() as i64
}

impl Running {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, LocalRun>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// The interrupt flag of a run this process reserved (a claimed run always is).
    fn interrupt_of(&self, mirror: i64) -> Arc<AtomicBool> {
        self.lock().get(&mirror).map(|r| r.interrupt.clone()).unwrap_or_default()
    }
    fn interrupt_all(&self) {
        for run in self.lock().values() {
            run.interrupt.store(true, Ordering::SeqCst);
        }
    }
}

/// A running sync service. [`SyncService::stop`] ends it gracefully; dropping it aborts it.
pub struct SyncService {
    pub wake: SyncWake,
    stopping: Arc<AtomicBool>,
    running: Running,
    workers: Vec<tokio::task::JoinHandle<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for SyncService {
    fn drop(&mut self) {
        for t in self.workers.iter().chain(&self.background) {
            t.abort();
        }
    }
}

impl SyncService {
    pub fn start(state: AppState, config: SyncConfig, mailer: Option<crate::mail::Mailer>) -> Self {
        let wake = state.sync_wake.clone();
        let instance = format!("{}-{}", std::process::id(), rand_suffix());
        let stopping = Arc::new(AtomicBool::new(false));
        let running = Running::default();
        let background = vec![
            tokio::spawn(scheduler(state.clone(), wake.clone(), config.poll)),
            tokio::spawn(sweep::every(state.clone(), config.sweep)),
            tokio::spawn(webhooks::deliver_forever(state.clone(), config.webhook_retry)),
        ];
        let workers = (0..config.workers.max(1))
            .map(|n| {
                let worker = Worker {
                    state: state.clone(),
                    config: config.clone(),
                    name: format!("{instance}/{n}"),
                    stopping: stopping.clone(),
                    running: running.clone(),
                    mailer: mailer.clone(),
                };
                tokio::spawn(worker.run_loop())
            })
            .collect();
        SyncService { wake, stopping, running, workers, background }
    }

    /// Stops claiming, interrupts the runs going on and waits (at most `grace`) for them to be
    /// recorded as interrupted with their leases released.
    pub async fn stop(mut self, grace: Duration) {
        self.stopping.store(true, Ordering::SeqCst);
        self.running.interrupt_all();
        self.wake.everyone();
        let workers = std::mem::take(&mut self.workers);
        let all = futures_util::future::join_all(workers);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("mirror syncs did not stop in time; their leases expire by themselves");
        }
    }
}

/// A scheduler pass or a claim slower than this is logged (with the time it took): the queue's
/// database work is normally milliseconds, and a scheduled pull waits for both.
const SLOW_QUEUE_WORK: Duration = Duration::from_secs(1);

/// Records the time the queue's database work `what` (`pass` or `claim`) took, and logs it when
/// it was slow.
fn queue_work_took(what: &'static str, took: Duration) {
    crate::metrics::queue_database(what, took.as_secs_f64());
    if took > SLOW_QUEUE_WORK {
        tracing::warn!(what, ms = took.as_millis() as u64, "the sync queue's database work took over a second");
    }
}

fn rand_suffix() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{nanos:x}")
}

/// Requests syncs of pull mirrors whose interval has passed, and wakes a worker for each run that
/// can start: those just requested, and those whose lease expired or whose backoff or burst wait
/// ended since (nobody requested those again).
async fn scheduler(state: AppState, wake: SyncWake, poll: Duration) {
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let clock = std::time::Instant::now();
        let requested = mirrors::request_due_pull_mirrors(&state.db).await;
        queue_work_took("pass", clock.elapsed());
        match requested {
            Ok(repositories) => {
                let mut by_repository: HashMap<i64, usize> = HashMap::new();
                for repository_id in repositories {
                    *by_repository.entry(repository_id).or_default() += 1;
                }
                for (repository_id, runs) in by_repository {
                    state.events.mirrors_requested(repository_id, runs);
                }
            }
            Err(e) => tracing::error!(error = %e, "pull mirror scheduling failed"),
        }
        match mirrors::runnable_count(&state.db).await {
            Ok(runs) => wake.requested(usize::try_from(runs).unwrap_or(0)),
            Err(e) => {
                tracing::error!(error = %e, "counting the runnable mirror syncs failed");
                wake.everyone();
            }
        }
    }
}

struct Worker {
    state: AppState,
    config: SyncConfig,
    name: String,
    stopping: Arc<AtomicBool>,
    running: Running,
    mailer: Option<crate::mail::Mailer>,
}

impl Worker {
    async fn run_loop(self) {
        let wake = &self.state.sync_wake;
        let lease = self.config.lease.as_secs().max(3) as i64;
        // One owner may hold all workers but one: someone else's push never waits for a slot.
        let per_owner = (self.config.workers.saturating_sub(1)).max(1) as i64;
        while !self.stopping.load(Ordering::SeqCst) {
            // Idle from before looking, so a request made while we look is not missed.
            let mut waiting = wake.waiting();
            waiting.register();
            let clock = std::time::Instant::now();
            let claimed = mirrors::claim_next_capped(&self.state.db, &self.name, lease, &self.running, per_owner).await;
            let took = clock.elapsed();
            queue_work_took("claim", took);
            match claimed {
                Ok(Some(claimed)) => {
                    tracing::debug!(mirror = claimed.mirror.id, worker = %self.name, ms = took.as_millis() as u64, "claimed a sync");
                    // Busy: a wake-up that came meanwhile goes to an idle worker.
                    drop(waiting);
                    self.one(&claimed, lease).await;
                    continue;
                }
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "claiming a mirror sync failed"),
            }
            // Until a request wakes this worker (the scheduler wakes one for each run that became
            // runnable by time: a lease expired, a backoff or a burst's wait ended).
            waiting.woken().await;
        }
    }

    /// One claimed run, its lease renewed while it lives.
    async fn one(&self, claimed: &Claimed, lease: i64) {
        let repository_id = claimed.mirror.repository_id;
        let interrupt = self.running.interrupt_of(claimed.mirror.id);
        if claimed.mirror.direction == mirrors::Direction::Fetch.as_str() {
            import_service::fetch_started(&self.state, claimed.mirror.id).await;
        }
        self.state.events.mirrors_changed(repository_id);
        let heartbeat = tokio::spawn(heartbeat(self.state.clone(), claimed.clone(), self.name.clone(), lease, interrupt.clone()));
        let ended = run::run(&self.state, claimed, &self.config, interrupt.clone()).await;
        heartbeat.abort();
        // Released only once the end is recorded: until then, no other worker here may start it.
        let finished = finish_with_retries(&self.state, claimed, &self.name, &ended.end).await;
        mirrors::LocalRuns::release(&self.running, claimed.mirror.id);
        match finished {
            Ok(true) => self.after(claimed, &ended).await,
            Ok(false) => tracing::warn!(mirror = claimed.mirror.id, "the run lost its lease; its end was not recorded on the mirror"),
            Err(e) => tracing::error!(error = %e, mirror = claimed.mirror.id, "could not record the end of a sync; the lease expires by itself"),
        }
        if matches!(ended.end, RunEnd::Interrupted) {
            tracing::info!(mirror = claimed.mirror.id, "sync interrupted; it resumes at the next start");
        }
        self.state.events.mirrors_changed(repository_id);
    }

    /// After a recorded run: end the import a fetch did, tell the owner about a state change, and
    /// pause a mirror whose GitHub side has been gone for too long.
    async fn after(&self, claimed: &Claimed, ended: &run::Ended) {
        let m = &claimed.mirror;
        if m.direction == mirrors::Direction::Fetch.as_str() {
            import_service::fetch_ended(&self.state, m.id, &ended.end).await;
        }
        match (&ended.end, m.status.as_str()) {
            (RunEnd::Failed { message, .. }, status) if status != "error" => notify::tell(&self.state, self.mailer.as_ref(), m, notify::Change::Failed, message, ended.run_id).await,
            (RunEnd::Success { .. }, "error") => notify::tell(&self.state, self.mailer.as_ref(), m, notify::Change::Recovered, "", ended.run_id).await,
            _ => {}
        }
        if matches!(ended.end, RunEnd::Success { .. }) {
            notify::synced(&self.state, m, ended.run_id).await;
        }
        if !matches!(ended.end, RunEnd::Failed { .. }) || !matches!(ended.class, "not_found" | "credentials" | "authentication") {
            return;
        }
        let since = match mirrors::mark_dead(&self.state.db, m.id).await {
            Ok(since) => since,
            Err(e) => return tracing::error!(error = %e, mirror = m.id, "could not note a dead upstream"),
        };
        if app::ssr::db::now() - since < self.config.dead_after.as_secs() as i64 {
            return;
        }
        let remote = format!("{}/{}", m.remote_owner, m.remote_name);
        let since_text = app::format::date_time(since);
        let reason = if ended.class == "not_found" {
            format!("Paused by GitBlixt: GitHub has answered 404 for {remote} since {since_text}. Check that the repository exists and that your GitHub account can access it, then click Resume.")
        } else {
            format!("Paused by GitBlixt: your GitHub connection has been missing or expired since {since_text}. Reconnect GitHub under Settings → Connected Accounts, then click Resume.")
        };
        match mirrors::pause_dead(&self.state.db, m.id, &reason).await {
            Ok(true) => {
                tracing::warn!(mirror = m.id, remote = %remote, "mirror paused: its GitHub side is gone");
                notify::tell(&self.state, self.mailer.as_ref(), m, notify::Change::Paused, &reason, ended.run_id).await;
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, mirror = m.id, "could not pause a mirror with a dead upstream"),
        }
    }
}

/// Records the end of a run, trying again a few times when the database is busy (the lease
/// would otherwise hold the mirror until it expires).
async fn finish_with_retries(state: &AppState, claimed: &Claimed, worker: &str, end: &RunEnd) -> Result<bool, app::ssr::db::DbError> {
    let mut delay = Duration::from_millis(50);
    for _ in 0..5 {
        match mirrors::finish(&state.db, claimed, worker, end).await {
            Err(e) => {
                tracing::warn!(error = %e, mirror = claimed.mirror.id, "recording the end of a sync failed; trying again");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            done => return done,
        }
    }
    mirrors::finish(&state.db, claimed, worker, end).await
}

/// Renews the run's lease every third of its length; raises the interrupt if the lease was lost
/// (another process took the mirror over), so the run stops instead of competing.
async fn heartbeat(state: AppState, claimed: Claimed, worker: String, lease: i64, interrupt: Arc<AtomicBool>) {
    let period = Duration::from_secs((lease / 3).max(1) as u64);
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(period).await;
        match mirrors::renew_lease(&state.db, &claimed, &worker, lease).await {
            Ok(true) => renewed = tokio::time::Instant::now(),
            Ok(false) => {
                tracing::warn!(mirror = claimed.mirror.id, "lease lost; interrupting the run");
                interrupt.store(true, Ordering::SeqCst);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, mirror = claimed.mirror.id, "could not renew a lease");
                // Stop before the lease can expire and another process take the mirror over.
                if renewed.elapsed() + period >= Duration::from_secs(lease as u64) {
                    interrupt.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}
