//! What a repository's owner can do with its mirrors, shared by the Settings page's server
//! functions, the REST API and the live status socket: the same validation, permission checks and
//! messages everywhere. Every change is announced on the event bus and wakes the sync workers.

use super::accounts::User;
use super::github::client::{GithubClient, GithubError, RemoteRepository};
use super::github::connection::{self, ConnectionError};
use super::github::{TOKEN_EXPIRED, repository_not_found};
use super::mirrors::{self, Direction, MirrorRow, Trigger};
use super::repos::{self, Access, FoundRepo};
use super::{AppState, web};
use crate::error::AppError;
use crate::github_repo::GithubRepo;
use crate::model::{EnableAnswer, KeptRef, MirrorState, MirrorView, MirrorsView, PULL_INTERVALS, RefChange, RemovedMirror, RunView};
use super::events::{RefUpdate, RefsUpdated};
use super::kept::{self, KeptError};
use secrecy::SecretString;

/// Runs listed with each mirror on the page.
pub const RUNS_SHOWN: i64 = 5;

/// The repository `owner/repo` if `viewer` may administer it: 404 when it does not exist or the
/// viewer may not even read it (so private repositories are not revealed), 403 when they may
/// read but not administer it.
pub async fn administrable(state: &AppState, viewer: Option<&User>, owner: &str, repo: &str) -> Result<FoundRepo, AppError> {
    let found = repos::find(&state.db, owner, repo).await?.ok_or(AppError::NotFound)?;
    match repos::access(viewer, &found) {
        Access::Admin => Ok(found),
        Access::None => Err(AppError::NotFound),
        _ if viewer.is_none() => Err(AppError::Unauthenticated),
        _ => Err(AppError::Forbidden),
    }
}

pub fn state_of(m: &MirrorRow) -> MirrorState {
    if m.leased_by.is_some() {
        MirrorState::Syncing
    } else if m.paused {
        MirrorState::Paused
    } else if m.sync_requested_at.is_some() && m.retry_at.is_none() {
        MirrorState::Queued
    } else if m.status == "error" {
        MirrorState::Error
    } else if m.status == "new" {
        MirrorState::Queued
    } else {
        MirrorState::Active
    }
}

/// Runs of removed mirrors listed on the page.
pub const REMOVED_RUNS_SHOWN: i64 = 20;

pub fn run_view(r: mirrors::RunRow, kept: &[KeptRef]) -> RunView {
    RunView {
        kept: kept.iter().filter(|k| k.run_id == r.id).cloned().collect(),
        id: r.id,
        refs: serde_json::from_str::<Vec<RefChange>>(&r.refs).unwrap_or_default(),
        trigger: r.trigger,
        started_at: r.started_at,
        finished_at: r.finished_at,
        outcome: r.outcome,
        error: r.error,
        objects: r.objects,
        bytes: r.bytes,
    }
}

pub async fn view(state: &AppState, m: MirrorRow, kept: &[KeptRef]) -> Result<MirrorView, AppError> {
    let runs = mirrors::recent_runs(&state.db, m.id, RUNS_SHOWN).await?.into_iter().map(|r| run_view(r, kept)).collect();
    let run_ids: Vec<i64> = kept.iter().map(|k| k.run_id).collect();
    let ours = mirrors::runs_of_mirror(&state.db, m.id, &run_ids).await?;
    let mirror_kept = kept.iter().filter(|k| ours.contains(&k.run_id)).cloned().collect();
    let mirror_state = state_of(&m);
    let progress = (mirror_state == MirrorState::Syncing).then(|| state.events.progress_of(m.id)).flatten();
    Ok(MirrorView {
        id: m.id,
        state: mirror_state,
        remote: format!("{}/{}", m.remote_owner, m.remote_name),
        direction: m.direction,
        interval_minutes: m.interval_minutes,
        paused: m.paused,
        last_sync_at: m.last_sync_at,
        last_success_at: m.last_success_at,
        next_sync_at: m.next_sync_at,
        error: match (&m.paused_reason, m.status.as_str()) {
            (Some(reason), _) if m.paused => Some(reason.clone()),
            (_, "error") => m.last_error,
            _ => None,
        },
        overwrite_diverged: m.overwrite_diverged,
        in_sync_at: m.in_sync_at,
        kept: mirror_kept,
        runs,
        progress,
    })
}

/// The repository's kept tips (empty if the repository is gone).
pub async fn kept_refs(state: &AppState, repository_id: i64) -> Result<Vec<KeptRef>, AppError> {
    let Some(found) = repos::find_by_id(&state.db, repository_id).await? else { return Ok(Vec::new()) };
    let path = found.path(&state.store);
    tokio::task::spawn_blocking(move || kept::list(&path))
        .await
        .map_err(|e| web::internal("listing kept refs", e))?
        .map_err(|e| web::internal("listing kept refs", e))
}

/// Everything the mirroring sections of the Settings page show.
pub async fn views(state: &AppState, repository_id: i64) -> Result<MirrorsView, AppError> {
    let import = super::imports::of_repository(&state.db, repository_id).await?;
    let mut out = MirrorsView {
        push: Vec::new(),
        pull: Vec::new(),
        fetches: Vec::new(),
        warning: None,
        removed: Vec::new(),
        import: import.as_ref().map(|i| super::import_service::view(state, i)),
    };
    let kept = kept_refs(state, repository_id).await?;
    for m in mirrors::list_for_repository(&state.db, repository_id).await? {
        let v = view(state, m, &kept).await?;
        match Direction::parse(&v.direction) {
            Some(Direction::Push) => out.push.push(v),
            Some(Direction::Pull) => out.pull.push(v),
            _ => out.fetches.push(v),
        }
    }
    let both = out.push.iter().find(|p| out.pull.iter().any(|q| q.remote.eq_ignore_ascii_case(&p.remote)));
    out.warning = both.map(|p| {
        format!(
            "Both a push and a pull mirror point at {}. If both sides are receiving pushes, they can overwrite each other; this works best when one side is read-only.",
            p.remote
        )
    });
    for run in mirrors::removed_runs(&state.db, repository_id, REMOVED_RUNS_SHOWN).await? {
        let (direction, remote) = (run.direction.clone(), run.remote.clone());
        let view = run_view(run, &kept);
        match out.removed.iter_mut().find(|r| r.direction == direction && r.remote == remote) {
            Some(group) => group.runs.push(view),
            None => out.removed.push(RemovedMirror { direction, remote, runs: vec![view] }),
        }
    }
    Ok(out)
}

/// A pull interval the page offers, in minutes.
pub fn parse_interval(raw: &str) -> Result<i64, AppError> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|m| PULL_INTERVALS.iter().any(|(i, _)| i == m))
        .ok_or_else(|| AppError::invalid("Choose a sync interval: 5, 10, 15, 30 or 60 minutes."))
}

pub fn parse_remote(state: &AppState, input: &str) -> Result<GithubRepo, AppError> {
    GithubRepo::parse_for(input, state.github.endpoints.web_host()).map_err(|e| AppError::invalid(e.to_string()))
}

fn connection_error(e: ConnectionError) -> AppError {
    match e {
        ConnectionError::NotConnected | ConnectionError::Expired | ConnectionError::Unreachable(_) => AppError::invalid(e.to_string()),
        other => web::internal("GitHub connection", other),
    }
}

fn github_error(e: GithubError) -> AppError {
    match e {
        GithubError::Config(_) => web::internal("GitHub client", e),
        other => AppError::invalid(other.to_string()),
    }
}

/// Checks with GitHub that `remote` exists and, for push mirrors, that the connected account can
/// push to it.
async fn check_remote(state: &AppState, user_id: i64, remote: &GithubRepo, direction: Direction) -> Result<(), AppError> {
    let token = connection::access_token(&state.github, &state.db, &state.cipher, user_id).await.map_err(connection_error)?;
    let client = GithubClient::new(&state.github.endpoints, Some(&token)).map_err(github_error)?;
    match direction {
        Direction::Push => client.check_push_access(remote).await.map(|_| ()),
        _ => client.repository(remote).await.map(|_| ()),
    }
    .map_err(github_error)
}

/// Every ref change GitBlixt accepts or makes (a push over HTTP or SSH, a Restore, a pull mirror
/// or fetch changing refs) goes through here: the repository's push mirrors' sync requests are
/// written to the database first — durable before the change is acknowledged — then the event is
/// published and a worker is woken for each (for a burst's waiting ones, when their wait ends).
/// Returns how many push mirrors were asked to sync.
pub async fn refs_changed(state: &AppState, event: RefsUpdated) -> Result<usize, super::db::DbError> {
    let requested = mirrors::request_push_mirrors(&state.db, event.repository_id).await?;
    if requested.total() > 0 {
        tracing::debug!(repository = %event.repository, mirrors = requested.total(), waiting = requested.waiting, "push mirror sync requested");
        state.events.mirrors_requested(event.repository_id, requested.total());
        state.sync_wake.requested(requested.now);
        state.sync_wake.requested_at(requested.waiting, requested.until_ms);
    }
    state.events.publish_refs_updated(event);
    Ok(requested.total())
}

/// A repository's mirrors changed by an owner's action; each action asks for one sync at most
/// (enable, Sync now, Resume, a fetch, an import), so one worker is woken.
pub fn changed(state: &AppState, repository_id: i64) {
    requested(state, repository_id, 1);
}

/// `runs` syncs of a repository's mirrors were requested and may start now: live pages and the
/// other processes are told, and as many workers woken.
pub fn requested(state: &AppState, repository_id: i64, runs: usize) {
    state.events.mirrors_requested(repository_id, runs);
    state.sync_wake.requested(runs);
}

/// What an owner asks for when enabling a mirror.
#[derive(Debug, Clone, Default)]
pub struct EnableRequest<'a> {
    /// `push` or `pull`
    pub direction: &'a str,
    /// `owner/repo` or a GitHub URL
    pub remote: &'a str,
    /// Pull mirrors: minutes (default 15).
    pub interval: Option<&'a str>,
    /// Push mirrors: the owner saw what the first sync replaces on GitHub and confirmed it.
    pub confirm_replace: bool,
    /// Pull mirrors: overwrite diverged branches (keeping their tips).
    pub overwrite_diverged: bool,
}

/// Enables a push or pull mirror (`interval` minutes for pull mirrors, default 15) after checking
/// with GitHub; nothing is saved when a check fails. A push mirror whose first sync would
/// overwrite or delete anything on GitHub is enabled only with `confirm_replace`; without it the
/// answer lists what would be replaced. Its initial sync is queued at once.
pub async fn enable(state: &AppState, user: &User, repo: &FoundRepo, request: &EnableRequest<'_>) -> Result<EnableAnswer, AppError> {
    let EnableRequest { direction, remote, interval, confirm_replace, overwrite_diverged } = request.clone();
    let direction = match Direction::parse(direction) {
        Some(d @ (Direction::Push | Direction::Pull)) => d,
        _ => return Err(AppError::invalid("The mirror direction must be push or pull.")),
    };
    let remote = parse_remote(state, remote)?;
    let interval = match direction {
        Direction::Pull => Some(parse_interval(interval.unwrap_or("15"))?),
        _ if interval.is_some_and(|i| !i.trim().is_empty()) => {
            return Err(AppError::invalid("Only pull mirrors have a sync interval."));
        }
        _ => None,
    };
    if mirrors::find(&state.db, repo.repo.id, direction, &remote).await?.is_some() {
        return Err(AppError::invalid(format!("This repository already has a {} mirror to {remote}.", direction.as_str())));
    }
    if overwrite_diverged && direction != Direction::Pull {
        return Err(AppError::invalid("Only pull mirrors can overwrite diverged branches."));
    }
    super::quotas::check_new_mirror(state, user, repo.repo.id, direction == Direction::Pull).await?;
    check_remote(state, user.id, &remote, direction).await?;
    if direction == Direction::Push && !confirm_replace {
        let replacements = preview_push(state, user.id, repo, &remote).await?;
        if !replacements.is_empty() {
            return Ok(EnableAnswer::ConfirmReplace { remote: remote.to_string(), replacements });
        }
    }
    let id = mirrors::create(&state.db, repo.repo.id, user.id, direction, &remote, interval, overwrite_diverged).await.map_err(|e| {
        // Two enables racing: the unique index keeps one.
        if e.is_unique_violation() {
            AppError::invalid(format!("This repository already has a {} mirror to {remote}.", direction.as_str()))
        } else {
            e.into()
        }
    })?;
    changed(state, repo.repo.id);
    tracing::info!(repository = %repo.full_name(), mirror = id, direction = direction.as_str(), remote = %remote, "mirror enabled");
    Ok(EnableAnswer::Enabled { id })
}

/// What the first push of `repo` to `remote` would overwrite or delete on GitHub.
async fn preview_push(state: &AppState, user_id: i64, repo: &FoundRepo, remote: &GithubRepo) -> Result<Vec<crate::model::Replacement>, AppError> {
    let token = connection::access_token(&state.github, &state.db, &state.cipher, user_id).await.map_err(connection_error)?;
    let url = state.github.endpoints.git_url(remote);
    state.engine.preview_push(repo.path(&state.store), url, token).await.map_err(|e| {
        tracing::warn!(repository = %repo.full_name(), remote = %remote, error = %e, "reading the GitHub repository's branches failed");
        AppError::invalid(format!("GitBlixt could not read the branches and tags of {remote} to check what the mirror would replace: {e}"))
    })
}

/// What an owner can do to one mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Sync,
    Pause,
    Resume,
    Remove,
}

impl Command {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        match raw {
            "sync" => Ok(Command::Sync),
            "pause" => Ok(Command::Pause),
            "resume" => Ok(Command::Resume),
            "remove" => Ok(Command::Remove),
            _ => Err(AppError::invalid("Unknown mirror action: use sync, pause, resume or remove.")),
        }
    }
}

/// The mirror `id` of `repo`, or 404.
pub async fn mirror_of(state: &AppState, repo: &FoundRepo, id: i64) -> Result<MirrorRow, AppError> {
    mirrors::get(&state.db, id).await?.filter(|m| m.repository_id == repo.repo.id).ok_or(AppError::NotFound)
}

pub async fn command(state: &AppState, repo: &FoundRepo, id: i64, command: Command) -> Result<(), AppError> {
    let mirror = mirror_of(state, repo, id).await?;
    let direction = Direction::parse(&mirror.direction);
    match command {
        Command::Sync => {
            if mirror.paused {
                return Err(AppError::invalid("This mirror is paused: resume it to sync."));
            }
            let trigger = if direction == Some(Direction::Fetch) { Trigger::Fetch } else { Trigger::Manual };
            mirrors::clear_backoff(&state.db, id).await?;
            mirrors::request_sync(&state.db, id, trigger).await?;
        }
        Command::Pause | Command::Resume if direction == Some(Direction::Fetch) => {
            return Err(AppError::invalid("A one-time fetch cannot be paused."));
        }
        Command::Pause => {
            mirrors::set_paused(&state.db, repo.repo.id, id, true).await?;
        }
        Command::Resume => {
            // Pushes (or GitHub changes) made while paused are caught up at once.
            mirrors::set_paused(&state.db, repo.repo.id, id, false).await?;
            mirrors::clear_backoff(&state.db, id).await?;
            mirrors::request_sync(&state.db, id, Trigger::Manual).await?;
        }
        Command::Remove => {
            mirrors::delete(&state.db, repo.repo.id, id).await?;
            // Its runs and kept tips stay; its memory of what it synced goes.
            let path = repo.path(&state.store);
            match tokio::task::spawn_blocking(move || kept::forget_mirror(&path, id)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(repository = %repo.full_name(), mirror = id, error = %e, "could not drop a removed mirror's memory"),
                Err(e) => tracing::warn!(repository = %repo.full_name(), mirror = id, error = %e, "could not drop a removed mirror's memory"),
            }
        }
    }
    changed(state, repo.repo.id);
    tracing::info!(repository = %repo.full_name(), mirror = id, command = ?command, "mirror command");
    Ok(())
}

/// Changes a pull mirror's interval.
pub async fn change_interval(state: &AppState, repo: &FoundRepo, id: i64, raw: &str) -> Result<(), AppError> {
    let minutes = parse_interval(raw)?;
    let mirror = mirror_of(state, repo, id).await?;
    if mirror.direction != Direction::Pull.as_str() {
        return Err(AppError::invalid("Only pull mirrors have a sync interval."));
    }
    mirrors::set_interval(&state.db, repo.repo.id, id, minutes).await?;
    changed(state, repo.repo.id);
    Ok(())
}

/// Starts a one-time fetch of all branches and tags of `remote` into `repo` (again, if it was
/// fetched before). Checks first that the repository can be read: public repositories need no
/// GitHub connection, private ones use the user's.
///
/// The fetch creates branches and tags and fast-forwards existing ones; a diverged branch (or a
/// changed tag) is left as it is unless `overwrite_diverged`, then overwritten with its tip kept.
pub async fn fetch(state: &AppState, user: &User, repo: &FoundRepo, remote: &str, overwrite_diverged: bool) -> Result<i64, AppError> {
    let remote = parse_remote(state, remote)?;
    super::quotas::check_disk(state, super::quotas::Write::Fetch).map_err(AppError::invalid)?;
    fetch_credentials(state, user.id, &remote).await.map_err(|f| AppError::invalid(f.message))?;
    let id = match mirrors::find(&state.db, repo.repo.id, Direction::Fetch, &remote).await? {
        Some(id) => {
            mirrors::set_overwrite_diverged(&state.db, repo.repo.id, id, overwrite_diverged).await?;
            mirrors::clear_backoff(&state.db, id).await?;
            mirrors::request_sync(&state.db, id, Trigger::Fetch).await?;
            id
        }
        None => match mirrors::create(&state.db, repo.repo.id, user.id, Direction::Fetch, &remote, None, overwrite_diverged).await {
            Ok(id) => id,
            // Two Fetch clicks racing: the other created it; ask again on that row.
            Err(e) if e.is_unique_violation() => {
                let id = mirrors::find(&state.db, repo.repo.id, Direction::Fetch, &remote).await?.ok_or(AppError::Internal)?;
                mirrors::set_overwrite_diverged(&state.db, repo.repo.id, id, overwrite_diverged).await?;
                mirrors::request_sync(&state.db, id, Trigger::Fetch).await?;
                id
            }
            Err(e) => return Err(e.into()),
        },
    };
    changed(state, repo.repo.id);
    tracing::info!(repository = %repo.full_name(), fetch = id, remote = %remote, "one-time fetch requested");
    Ok(id)
}

/// Turns a pull mirror's "Overwrite diverged branches" on or off.
pub async fn set_overwrite_diverged(state: &AppState, repo: &FoundRepo, id: i64, on: bool) -> Result<(), AppError> {
    let mirror = mirror_of(state, repo, id).await?;
    if mirror.direction != Direction::Pull.as_str() {
        return Err(AppError::invalid("Only pull mirrors can overwrite diverged branches."));
    }
    mirrors::set_overwrite_diverged(&state.db, repo.repo.id, id, on).await?;
    changed(state, repo.repo.id);
    tracing::info!(repository = %repo.full_name(), mirror = id, on, "overwrite diverged branches changed");
    Ok(())
}

/// What to do with a kept tip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeptAction {
    Restore,
    Discard,
}

fn kept_error(e: KeptError) -> AppError {
    match e {
        KeptError::NotFound | KeptError::NotABranchOrTag => AppError::invalid(e.to_string()),
        KeptError::Git(_) => web::internal("kept refs", e),
    }
}

/// Restores (as it was, or under a new name when the name is taken now) or discards the tip that
/// run `run_id` kept of `name`. A restore is a ref change like a push: push mirrors sync it.
/// Returns the branch or tag written by a restore.
pub async fn kept_action(state: &AppState, user: &User, repo: &FoundRepo, run_id: i64, name: &str, action: KeptAction) -> Result<Option<String>, AppError> {
    if mirrors::run_of(&state.db, repo.repo.id, run_id).await?.is_none() {
        return Err(AppError::NotFound);
    }
    let path = repo.path(&state.store);
    let (name_owned, date) = (name.to_string(), today());
    let result = tokio::task::spawn_blocking(move || match action {
        KeptAction::Restore => kept::restore(&path, run_id, &name_owned, &date).map(Some),
        KeptAction::Discard => kept::discard(&path, run_id, &name_owned).map(|()| None),
    })
    .await
    .map_err(|e| web::internal("kept refs", e))?
    .map_err(kept_error)?;
    if let Some((restored, id)) = &result {
        tracing::info!(repository = %repo.full_name(), run = run_id, name, restored_as = %restored, user = %user.name, "kept tip restored");
        let event = RefsUpdated {
            repository_id: repo.repo.id,
            repository: repo.full_name(),
            pusher_id: user.id,
            pusher: user.name.clone(),
            updates: vec![RefUpdate { old: "0".repeat(40), new: id.to_string(), name: restored.clone() }],
        };
        refs_changed(state, event).await?;
    } else {
        tracing::info!(repository = %repo.full_name(), run = run_id, name, user = %user.name, "kept tip discarded");
    }
    changed(state, repo.repo.id);
    Ok(result.map(|(restored, _)| restored))
}

/// Today, `yyyymmdd` (UTC), for restored names.
fn today() -> String {
    let d = time::OffsetDateTime::now_utc().date();
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Why a GitHub repository cannot be read right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessFailure {
    pub message: String,
    /// Network trouble or GitHub's 5xx: trying again later can work.
    pub retryable: bool,
}

impl AccessFailure {
    fn final_(message: impl Into<String>) -> Self {
        AccessFailure { message: message.into(), retryable: false }
    }
}

impl From<GithubError> for AccessFailure {
    fn from(e: GithubError) -> Self {
        AccessFailure { retryable: e.is_retryable(), message: e.to_string() }
    }
}

/// The credentials a one-time fetch of `remote` needs: `None` for a public repository (fetched
/// without authentication, as the spec says, and without needing a GitHub connection), the
/// user's token for a private one.
pub async fn fetch_credentials(state: &AppState, user_id: i64, remote: &GithubRepo) -> Result<Option<SecretString>, AccessFailure> {
    remote_access(state, user_id, remote).await.map(|access| access.token)
}

/// What GitBlixt may read of a GitHub repository: its facts, and the token to fetch it with.
pub struct RemoteAccess {
    /// `None`: public, fetched without authentication.
    pub token: Option<SecretString>,
    pub repository: RemoteRepository,
}

/// Looks `remote` up as `user_id` may read it: with their GitHub connection if they have one,
/// else anonymously (public repositories only).
pub async fn remote_access(state: &AppState, user_id: i64, remote: &GithubRepo) -> Result<RemoteAccess, AccessFailure> {
    // Asked without a token: a public repository is fetched anonymously; a private or invisible
    // one fails with `hidden`.
    let public_or = |hidden: AccessFailure| async move {
        let client = GithubClient::new(&state.github.endpoints, None)?;
        match client.repository(remote).await {
            Ok(r) if !r.private => Ok(RemoteAccess { token: None, repository: r }),
            Ok(_) | Err(GithubError::NotFound(_)) => Err(hidden),
            Err(e) => Err(e.into()),
        }
    };
    let token = match connection::access_token(&state.github, &state.db, &state.cipher, user_id).await {
        Ok(token) => Some(token),
        Err(ConnectionError::NotConnected) => None,
        // A public repository can still be fetched; a private one needs a fresh token.
        Err(ConnectionError::Expired) => return public_or(AccessFailure::final_(TOKEN_EXPIRED)).await,
        Err(e @ ConnectionError::Unreachable(_)) => return Err(AccessFailure { message: e.to_string(), retryable: true }),
        Err(e) => return Err(AccessFailure::final_(format!("the GitHub connection could not be read: {e}"))),
    };
    match token {
        // With a connection, ask with it (GitHub's rate limit for tokens is far higher).
        Some(token) => {
            let client = GithubClient::new(&state.github.endpoints, Some(&token))?;
            match client.repository(remote).await {
                Ok(r) if r.private => Ok(RemoteAccess { token: Some(token), repository: r }),
                Ok(r) => Ok(RemoteAccess { token: None, repository: r }),
                Err(GithubError::BadCredentials) => public_or(AccessFailure::final_(TOKEN_EXPIRED)).await,
                Err(e) => Err(e.into()),
            }
        }
        None => {
            public_or(AccessFailure::final_(format!(
                "{} If it is private, connect your GitHub account under Settings → Connected Accounts.",
                repository_not_found(&remote.to_string())
            )))
            .await
        }
    }
}
