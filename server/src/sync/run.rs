//! One run of a mirror: resolve the repository and the GitHub credentials, transfer with the
//! engine, record the per-ref result, and say how the run ended (the spec's messages on errors).

use super::SyncConfig;
use crate::mirror::{self, safety, FetchMode, MirrorError, Phase, Progress, Safety, TransferOptions, TransferReport};
use app::github_repo::GithubRepo;
use app::model::SyncProgress;
use app::ssr::AppState;
use app::ssr::db::now;
use app::ssr::github::connection::{self, ConnectionError};
use app::ssr::mirror_service;
use app::ssr::events::{RefUpdate, RefsUpdated};
use app::ssr::mirrors::{self, Claimed, Direction, RunEnd, RunRecord, RunStart, Trigger};
use crate::mirror::RefOutcome;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Retry delay after the n-th consecutive retryable failure: 30 s doubling, at most an hour.
pub fn backoff_seconds(failures: i64) -> i64 {
    let exp = failures.clamp(0, 7) as u32;
    (30_i64 << exp).min(3600)
}

/// What the run row says when GitBlixt stopped (or the lease was lost) during the run.
pub const STOPPED: &str = "GitBlixt stopped while this sync ran; it was interrupted and runs again at once when GitBlixt starts.";

/// How a run ended, with its error class (`none` on success), for metrics and dead upstreams.
pub struct Ended {
    pub end: RunEnd,
    pub class: &'static str,
    /// The run's record, if it could be made.
    pub run_id: Option<i64>,
}

/// A scheduled pull starting this late (seconds after it was due) is logged: the scheduler aims to
/// start every due pull within it.
const LATE_PULL_SECONDS: f64 = 30.0;

pub async fn run(state: &AppState, claimed: &Claimed, config: &SyncConfig, interrupt: Arc<AtomicBool>) -> Ended {
    let m = &claimed.mirror;
    let remote_name = format!("{}/{}", m.remote_owner, m.remote_name);
    // A scheduled pull serves the time it was due (the scheduler leaves it until the run ends).
    let scheduled_at = if claimed.trigger == Trigger::Schedule.as_str() { m.next_sync_at } else { None };
    if let Some(due) = scheduled_at {
        let late = (mirrors::now_ms() - due * 1000) as f64 / 1000.0;
        crate::metrics::pull_lateness(late);
        if late > LATE_PULL_SECONDS {
            tracing::warn!(mirror = m.id, late_seconds = late, limit_seconds = LATE_PULL_SECONDS, "a scheduled pull started late");
        }
    }
    let start = RunStart { mirror_id: Some(m.id), repository_id: m.repository_id, direction: &m.direction, remote: &remote_name, trigger: &claimed.trigger, scheduled_at };
    // Recorded first: what the run keeps is named after it, and a crash leaves a trace.
    let run_id = match mirrors::start_run(&state.db, &start).await {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, mirror = m.id, "could not record the start of a sync");
            let message = "GitBlixt could not record the sync in its database; it will be retried.".to_string();
            return Ended { end: RunEnd::Failed { message, retry_at: Some(now() + backoff_seconds(m.failure_count)) }, class: "local", run_id: None };
        }
    };
    let clock = Instant::now();
    let outcome = within_timeout(transfer(state, claimed, config, run_id, interrupt.clone()), config.run_timeout, &interrupt).await;
    let class = match &outcome {
        Ok(r) if r.rejected().next().is_some() => "rejected",
        Ok(r) if m.direction == Direction::Pull.as_str() && r.diverged().next().is_some() => "diverged",
        Ok(_) => "none",
        Err(f) if f.interrupted => "interrupted",
        Err(f) => f.class,
    };
    let (end, report) = match outcome {
        Err(failure) if failure.interrupted => (RunEnd::Interrupted, None),
        Ok(report) if report.rejected().next().is_some() => {
            let rejected: Vec<String> = report.rejected().map(|r| r.name.clone()).collect();
            let message = format!("GitHub rejected {}: see the run's details.", rejected.join(", "));
            (RunEnd::Failed { message, retry_at: None }, Some(report))
        }
        Ok(report) if m.direction == Direction::Pull.as_str() && report.diverged().next().is_some() => {
            let names: Vec<&str> = report.diverged().map(|r| safety::short_name(&r.name)).collect();
            (RunEnd::Failed { message: diverged_message(&names), retry_at: None }, Some(report))
        }
        Ok(report) => {
            let pushed_digest = (m.direction == Direction::Push.as_str()).then(|| {
                mirrors::refs_digest(report.refs.iter().filter(|r| r.outcome != RefOutcome::Deleted).filter_map(|r| r.new.as_deref().map(|id| (r.name.as_str(), id))))
            });
            (RunEnd::Success { pushed_digest }, Some(report))
        }
        Err(failure) => {
            let retry_at = failure.retryable.then(|| now() + backoff_seconds(m.failure_count));
            (RunEnd::Failed { message: failure.message, retry_at }, None)
        }
    };
    let refs = report.as_ref().map(|r| {
        let changed: Vec<_> = r.changed().collect();
        serde_json::to_string(&changed).unwrap_or_else(|_| "[]".into())
    });
    let (outcome, error) = match &end {
        RunEnd::Success { .. } => ("success", None),
        RunEnd::Failed { message, .. } => ("error", Some(message.as_str())),
        RunEnd::Interrupted => ("interrupted", Some(STOPPED)),
    };
    let record = RunRecord {
        outcome,
        error,
        refs: refs.as_deref().unwrap_or("[]"),
        objects: report.as_ref().map_or(0, |r| r.objects as i64),
        bytes: report.as_ref().map_or(0, |r| r.bytes as i64),
    };
    if let Err(e) = mirrors::finish_run(&state.db, run_id, &record).await {
        tracing::error!(error = %e, mirror = m.id, run = run_id, "could not record the end of a sync run");
    }
    crate::metrics::run_finished(&m.direction, outcome, class, clock.elapsed().as_secs_f64());
    if let (RunEnd::Success { .. }, Some(since)) = (&end, m.pending_since_ms) {
        if m.direction == Direction::Push.as_str() {
            crate::metrics::lag(&claimed.trigger, (mirrors::now_ms() - since).max(0) as f64 / 1000.0);
        }
    }
    match &end {
        RunEnd::Success { .. } => {
            tracing::info!(mirror = m.id, run = run_id, direction = %m.direction, remote = %remote_name, trigger = %claimed.trigger, ms = clock.elapsed().as_millis() as u64, "mirror synced")
        }
        RunEnd::Failed { message, retry_at } => {
            tracing::warn!(mirror = m.id, run = run_id, direction = %m.direction, remote = %remote_name, error = %message, retry = retry_at.is_some(), "mirror sync failed")
        }
        RunEnd::Interrupted => tracing::info!(mirror = m.id, run = run_id, "mirror sync interrupted"),
    }
    if m.direction != Direction::Push.as_str() {
        if let Some(report) = &report {
            local_refs_changed(state, m, report).await;
        }
    }
    Ended { end, class, run_id: Some(run_id) }
}

/// A pull mirror or fetch that changed refs: the repository's push mirrors follow, like after a push.
async fn local_refs_changed(state: &AppState, m: &mirrors::MirrorRow, report: &TransferReport) {
    let zero = || "0".repeat(40);
    let updates: Vec<RefUpdate> = report
        .refs
        .iter()
        .filter(|r| matches!(r.outcome, RefOutcome::Created | RefOutcome::Updated | RefOutcome::ForceUpdated | RefOutcome::Deleted))
        .map(|r| RefUpdate { old: r.old.clone().unwrap_or_else(zero), new: r.new.clone().unwrap_or_else(zero), name: r.name.clone() })
        .collect();
    if updates.is_empty() {
        return;
    }
    let Ok(Some(found)) = app::ssr::repos::find_by_id(&state.db, m.repository_id).await else { return };
    let event = RefsUpdated {
        repository_id: m.repository_id,
        repository: found.full_name(),
        pusher_id: m.user_id,
        pusher: format!("{} mirror of {}/{}", m.direction, m.remote_owner, m.remote_name),
        updates,
    };
    if let Err(e) = mirror_service::refs_changed(state, event).await {
        tracing::error!(error = %e, mirror = m.id, "could not request push mirror syncs after a pull");
    }
}

/// The whole run (credentials included) within the run timeout: when it passes, the transfer is
/// interrupted and awaited (it stops within the stall timeout at worst, holding its lease until
/// then), and the run fails as timed out.
async fn within_timeout<F>(run: F, timeout: Duration, interrupt: &Arc<AtomicBool>) -> Result<TransferReport, Failure>
where
    F: std::future::Future<Output = Result<TransferReport, Failure>>,
{
    tokio::pin!(run);
    tokio::select! {
        result = &mut run => result,
        _ = tokio::time::sleep(timeout) => {
            interrupt.store(true, Ordering::SeqCst);
            let _ = run.await;
            Err(Failure { message: MirrorError::Timeout { detail: format!("the run took longer than {} s", timeout.as_secs()) }.to_string(), retryable: true, interrupted: false, class: "timeout" })
        }
    }
}

/// The pull mirror's error when branches diverged, naming them.
pub fn diverged_message(names: &[&str]) -> String {
    match names {
        [one] => format!(
            "{one} has diverged: it has commits pushed to GitBlixt that GitHub doesn't have. Push them to GitHub, or turn on Overwrite diverged branches"
        ),
        [rest @ .., last] => format!(
            "{} and {last} have diverged: they have commits pushed to GitBlixt that GitHub doesn't have. Push them to GitHub, or turn on Overwrite diverged branches",
            rest.join(", ")
        ),
        [] => String::new(),
    }
}

struct Failure {
    message: String,
    retryable: bool,
    /// Interrupted from outside (GitBlixt stopping, or the lease lost): not the mirror's failure.
    interrupted: bool,
    /// The error class for metrics (the engine's kind, or `credentials`, `local`).
    class: &'static str,
}

impl Failure {
    fn final_(message: impl Into<String>) -> Self {
        Failure { message: message.into(), retryable: false, interrupted: false, class: "credentials" }
    }
    fn local(message: impl Into<String>) -> Self {
        Failure { message: message.into(), retryable: false, interrupted: false, class: "local" }
    }
    fn retryable(message: impl Into<String>) -> Self {
        Failure { message: message.into(), retryable: true, interrupted: false, class: "local" }
    }
}

async fn transfer(state: &AppState, claimed: &Claimed, config: &SyncConfig, run_id: i64, interrupt: Arc<AtomicBool>) -> Result<TransferReport, Failure> {
    let m = &claimed.mirror;
    let repo = app::ssr::repos::find_by_id(&state.db, m.repository_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, mirror = m.id, "reading the mirror's repository");
            Failure::retryable("GitBlixt could not read its database; the sync will be retried.")
        })?
        .ok_or_else(|| Failure::local("the repository no longer exists"))?;
    let local = state.store.path(&repo.owner_name(), &repo.repo_name());
    let remote = GithubRepo::parse(&format!("{}/{}", m.remote_owner, m.remote_name))
        .map_err(|e| Failure::local(e.to_string()))?;
    let direction = Direction::parse(&m.direction).ok_or_else(|| Failure::local(format!("unknown mirror direction {}", m.direction)))?;
    let token = if direction == Direction::Fetch {
        // Public repositories are fetched without authentication, private ones with the token.
        mirror_service::fetch_credentials(state, m.user_id, &remote)
            .await
            .map_err(|f| Failure { message: f.message, retryable: f.retryable, interrupted: false, class: "credentials" })?
    } else {
        match connection::access_token(&state.github, &state.db, &state.cipher, m.user_id).await {
            Ok(token) => Some(token),
            Err(e @ (ConnectionError::NotConnected | ConnectionError::Expired)) => return Err(Failure::final_(e.to_string())),
            Err(ConnectionError::Unreachable(e)) => {
                return Err(Failure::retryable(format!("GitHub could not be reached to refresh the OAuth token: {e}")))
            }
            Err(e) => {
                let reference = logged_with_reference("the GitHub connection could not be read", &e);
                return Err(Failure::local(format!(
                    "GitBlixt could not read your GitHub connection (error reference {reference}). Reconnect GitHub under Settings → Connected Accounts; if that does not help, an administrator can find the details in the server log."
                )));
            }
        }
    };
    if direction != Direction::Push {
        app::ssr::quotas::check_disk(state, app::ssr::quotas::Write::Fetch).map_err(Failure::retryable)?;
    }
    let url = state.github.endpoints.git_url(&remote);
    let too_large = Arc::new(AtomicBool::new(false));
    let reporter = progress_reporter(state, m.repository_id, m.id);
    let opts = TransferOptions {
        token,
        timeout: config.run_timeout,
        progress: Some(size_capped(reporter, state.settings.quotas.max_fetch_bytes, too_large.clone(), interrupt.clone())),
        interrupt: interrupt.clone(),
        safety: Safety {
            keep_key: run_id.to_string(),
            // A one-time fetch has no memory: nothing it finds counts as written by it before.
            memory: (direction != Direction::Fetch).then(|| m.id.to_string()),
            overwrite_diverged: m.overwrite_diverged,
        },
        max_receive_bytes: Some(state.settings.quotas.max_fetch_bytes),
        ..TransferOptions::default()
    };
    let result = match direction {
        Direction::Push => mirror::push(&local, &url, &opts).await,
        Direction::Pull => mirror::fetch(&url, &local, FetchMode::Mirror, &opts).await,
        Direction::Fetch => mirror::fetch(&url, &local, FetchMode::Once, &opts).await,
    };
    state.events.sync_ended(m.id);
    if too_large.load(Ordering::SeqCst) {
        // Cut off mid-transfer: nothing was written (the pack is dropped, no ref changed).
        return Err(Failure { message: MirrorError::TooLarge { limit_bytes: state.settings.quotas.max_fetch_bytes }.to_string(), retryable: false, interrupted: false, class: "quota" });
    }
    result.map_err(|e| Failure {
        interrupted: e == MirrorError::Interrupted && interrupt.load(Ordering::SeqCst),
        class: e.kind(),
        message: spec_message(&e, &remote),
        retryable: e.is_retryable(),
    })
}

/// Passes progress on to `inner`, and interrupts the transfer once more than `max_bytes` were
/// received (`too_large` says why it was interrupted).
fn size_capped(inner: mirror::ProgressFn, max_bytes: u64, too_large: Arc<AtomicBool>, interrupt: Arc<AtomicBool>) -> mirror::ProgressFn {
    Arc::new(move |p: Progress| {
        if p.phase == Phase::Receiving && p.done > max_bytes && !too_large.swap(true, Ordering::SeqCst) {
            tracing::warn!(bytes = p.done, limit = max_bytes, "a fetch went over GITBLIXT_MAX_FETCH_MB; stopping it");
            interrupt.store(true, Ordering::SeqCst);
        }
        inner(p);
    })
}

/// Publishes the engine's progress as the mirror's live progress: every phase change, and at most
/// every 100 ms within a phase.
fn progress_reporter(state: &AppState, repository_id: i64, mirror_id: i64) -> mirror::ProgressFn {
    struct Seen {
        last: Option<(Phase, Instant)>,
        objects: u64,
        bytes: u64,
    }
    let events = state.events.clone();
    let seen = Mutex::new(Seen { last: None, objects: 0, bytes: 0 });
    Arc::new(move |p: Progress| {
        let Ok(mut seen) = seen.lock() else { return };
        match p.phase {
            Phase::Sending | Phase::Receiving => seen.bytes = p.done,
            Phase::Counting | Phase::Resolving => seen.objects = p.done,
            Phase::Connecting | Phase::UpdatingRefs => {}
        }
        let due = match seen.last {
            Some((phase, at)) => phase != p.phase || at.elapsed() >= Duration::from_millis(100) || Some(p.done) == p.total,
            None => true,
        };
        if !due {
            return;
        }
        seen.last = Some((p.phase, Instant::now()));
        let phase = serde_json::to_value(p.phase).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        events.sync_progress(repository_id, mirror_id, SyncProgress { phase, done: p.done, total: p.total, objects: seen.objects, bytes: seen.bytes });
    })
}

/// The engine's error in the words of the spec's troubleshooting section.
fn spec_message(err: &MirrorError, remote: &GithubRepo) -> String {
    match err {
        MirrorError::Authentication => app::ssr::github::TOKEN_EXPIRED.to_string(),
        MirrorError::Permission => app::ssr::github::permission_denied(&remote.to_string()),
        MirrorError::NotFound => app::ssr::github::repository_not_found(&remote.to_string()),
        // Server paths and git's internals are for the log, not for the owner.
        MirrorError::Local { detail } => {
            let reference = logged_with_reference("the local repository could not be read or written", detail);
            format!("GitBlixt could not read or write its copy of the repository (error reference {reference}). An administrator can find the details in the server log.")
        }
        other => other.to_string(),
    }
}

/// Logs an internal failure under a short reference (returned, for the owner's message): server
/// paths and database errors go to the log, never to the page.
fn logged_with_reference(context: &str, detail: &dyn std::fmt::Display) -> String {
    let reference = app::ssr::secrets::short_reference();
    tracing::error!(reference = %reference, error = %detail, "{context}");
    reference
}

#[cfg(test)]
mod tests {
    #[test]
    fn diverged_branches_are_named() {
        assert_eq!(
            super::diverged_message(&["main"]),
            "main has diverged: it has commits pushed to GitBlixt that GitHub doesn't have. Push them to GitHub, or turn on Overwrite diverged branches"
        );
        assert!(super::diverged_message(&["a", "b", "c"]).starts_with("a, b and c have diverged: they have commits"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(super::backoff_seconds(0), 30);
        assert_eq!(super::backoff_seconds(1), 60);
        assert_eq!(super::backoff_seconds(5), 960);
        assert_eq!(super::backoff_seconds(7), 3600);
        assert_eq!(super::backoff_seconds(100), 3600);
    }
}
