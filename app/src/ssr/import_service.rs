//! Importing a repository from GitHub: create the GitBlixt repository, let the sync queue's
//! one-time fetch bring every branch and tag (never `refs/pull/*`) with HEAD at GitHub's default
//! branch, and, with Keep in sync, leave a pull mirror behind. Used by the import page and the
//! REST API alike.
//!
//! The repository exists from the start, marked as being imported (its page says so) until its
//! fetch succeeded; a failed import keeps its message and offers Retry and Delete. One user's
//! import of one GitHub repository runs once at a time: a second request joins the first.

use super::accounts::User;
use super::imports::{self, Import, ImportState};
use super::mirror_service::{self, RemoteAccess};
use super::mirrors::{self, Direction, RunEnd, Trigger};
use super::repos::{self, FoundRepo, MAX_DESCRIPTION, RepoError};
use super::{AppState, github::connection, quotas};
use crate::error::AppError;
use crate::github_repo::GithubRepo;
use crate::model::{ImportCandidate, ImportView, PULL_INTERVALS};
use crate::names::RepoName;

/// The most GitHub repositories the import page lists.
pub const MAX_LISTED: usize = 1000;

/// What a user asks for, from the page or the REST API. `None` fields take GitHub's values.
#[derive(Debug, Clone, Default)]
pub struct ImportRequest {
    /// `owner/repo` or a GitHub URL.
    pub remote: String,
    pub name: Option<String>,
    /// `public` or `private`
    pub visibility: Option<String>,
    pub description: Option<String>,
    /// Keep in sync: a pull mirror with this interval once the import is done.
    pub mirror_interval_minutes: Option<i64>,
}

/// Starts an import (or returns the running import of the same GitHub repository by `user`).
/// Bad input, a name in use or an unreadable GitHub repository change nothing.
pub async fn start(state: &AppState, user: &User, request: &ImportRequest) -> Result<Import, AppError> {
    let remote = mirror_service::parse_remote(state, &request.remote)?;
    if let Some(running) = imports::running_of(&state.db, user.id, &remote).await? {
        return Ok(running);
    }
    let interval = request.mirror_interval_minutes.map(check_interval).transpose()?;
    let private = match request.visibility.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("private") => Some(true),
        Some("public") => Some(false),
        Some(_) => return Err(AppError::invalid("Visibility must be public or private.")),
    };
    let name = request.name.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(RepoName::parse).transpose()?;
    if let Some(d) = &request.description {
        repos::check_description(d)?;
    }
    if interval.is_some() {
        // The pull mirror acts with the user's GitHub account: say so now, not after the import.
        connection::access_token(&state.github, &state.db, &state.cipher, user.id).await.map_err(|e| {
            AppError::invalid(format!("Keep in sync needs your GitHub account ({e}). Connect GitHub under Settings → Connected Accounts, or import without Keep in sync."))
        })?;
    }
    quotas::check_disk(state, quotas::Write::Fetch).map_err(AppError::invalid)?;
    quotas::check_new_repository(state, user).await?;
    let RemoteAccess { repository: found, .. } = mirror_service::remote_access(state, user.id, &remote).await.map_err(|f| AppError::invalid(f.message))?;
    let name = match name {
        Some(name) => name,
        None => RepoName::parse(remote.name()).map_err(|e| AppError::invalid(format!("{e} Choose another name for the GitBlixt repository.")))?,
    };
    let description = match &request.description {
        Some(d) => d.clone(),
        None => github_description(found.description.as_deref()),
    };
    let repo = match repos::create(&state.db, &state.store, user, &name, &description, private.unwrap_or(found.private)).await {
        Ok(repo) => repo,
        Err(e @ RepoError::Exists(_)) => {
            // The same import started at this very moment under this name: join it.
            return match imports::running_of(&state.db, user.id, &remote).await? {
                Some(running) => Ok(running),
                None => Err(e.into()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    let import = match record(state, user, &repo, &remote, interval).await {
        Ok(import) => import,
        Err(e) => {
            undo(state, &repo).await;
            return match e {
                // Another request for the same GitHub repository won the race: join it.
                Started::Elsewhere(running) => Ok(running),
                Started::Failed(e) => Err(e),
            };
        }
    };
    tracing::info!(repository = %repo.full_name(), remote = %remote, import = import.id, keep_in_sync = ?interval, "import from GitHub started");
    mirror_service::changed(state, repo.repo.id);
    Ok(import)
}

enum Started {
    Elsewhere(Import),
    Failed(AppError),
}

impl From<super::db::DbError> for Started {
    fn from(e: super::db::DbError) -> Self {
        Started::Failed(e.into())
    }
}

/// Records the import, then its one-time fetch (requested: the queue runs it).
async fn record(state: &AppState, user: &User, repo: &FoundRepo, remote: &GithubRepo, interval: Option<i64>) -> Result<Import, Started> {
    let id = match imports::create(&state.db, repo.repo.id, user.id, remote, interval).await {
        Ok(id) => id,
        Err(e) if e.is_unique_violation() => {
            let running = imports::running_of(&state.db, user.id, remote).await?;
            return Err(running.map_or(Started::Failed(AppError::Internal), Started::Elsewhere));
        }
        Err(e) => return Err(e.into()),
    };
    let mirror = mirrors::create(&state.db, repo.repo.id, user.id, Direction::Fetch, remote, None, false).await?;
    imports::set_mirror(&state.db, id, mirror).await?;
    imports::get(&state.db, id).await?.ok_or(Started::Failed(AppError::Internal))
}

/// Removes a repository whose import could not be recorded, so nothing half-made stays.
async fn undo(state: &AppState, repo: &FoundRepo) {
    if let Err(e) = repos::delete(&state.db, &state.store, repo).await {
        tracing::error!(error = %e, repository = %repo.full_name(), "could not remove the repository of an import that did not start");
    }
}

fn check_interval(minutes: i64) -> Result<i64, AppError> {
    PULL_INTERVALS.iter().any(|(m, _)| *m == minutes).then_some(minutes).ok_or_else(|| AppError::invalid("Choose a sync interval: 5, 10, 15, 30 or 60 minutes."))
}

/// GitHub's description as GitBlixt can keep it: control characters dropped, at most
/// [`MAX_DESCRIPTION`] characters.
fn github_description(raw: Option<&str>) -> String {
    raw.unwrap_or_default().chars().filter(|c| !c.is_control()).take(MAX_DESCRIPTION).collect::<String>().trim().to_string()
}

/// Called by the sync worker when a one-time fetch starts: its import, if it has one, is importing.
pub async fn fetch_started(state: &AppState, mirror_id: i64) {
    if let Err(e) = imports::set_state_of_mirror(&state.db, mirror_id, ImportState::Importing, None).await {
        tracing::error!(error = %e, mirror = mirror_id, "could not mark an import as running");
    }
}

/// Called by the sync worker when a one-time fetch's end is recorded: its import is done (and
/// its Keep-in-sync pull mirror created) or failed; an interrupted one waits in the queue.
pub async fn fetch_ended(state: &AppState, mirror_id: i64, end: &RunEnd) {
    let (next, error) = match end {
        RunEnd::Success { .. } => (ImportState::Done, None),
        RunEnd::Failed { message, .. } => (ImportState::Failed, Some(message.as_str())),
        RunEnd::Interrupted => (ImportState::Queued, None),
    };
    let import = match imports::of_mirror(&state.db, mirror_id).await {
        Ok(Some(import)) if import.state != ImportState::Done => import,
        Ok(_) => return,
        Err(e) => return tracing::error!(error = %e, mirror = mirror_id, "could not read the import of a finished fetch"),
    };
    if next == ImportState::Done
        && let Err(e) = keep_in_sync(state, &import).await
    {
        // The repository is complete; only the mirror is missing: say so on the import.
        tracing::error!(error = %e, import = import.id, "could not create the pull mirror of an import");
        let message = "The repository was imported, but its pull mirror could not be created. Add it under Settings → Pull mirroring.";
        let _ = imports::set_state_of_mirror(&state.db, mirror_id, ImportState::Failed, Some(message)).await;
        return;
    }
    match imports::set_state_of_mirror(&state.db, mirror_id, next, error).await {
        Ok(_) => tracing::info!(import = import.id, repository = %import.repository, state = next.as_str(), "import from GitHub ended"),
        Err(e) => tracing::error!(error = %e, import = import.id, "could not record the end of an import"),
    }
}

/// With Keep in sync, the pull mirror of a finished import (once: a Retry after a partial
/// failure does not make two).
async fn keep_in_sync(state: &AppState, import: &Import) -> Result<(), super::db::DbError> {
    let Some(minutes) = import.mirror_interval_minutes else { return Ok(()) };
    let Ok(remote) = GithubRepo::parse(&import.remote) else { return Ok(()) };
    if mirrors::find(&state.db, import.repository_id, Direction::Pull, &remote).await?.is_some() {
        return Ok(());
    }
    match mirrors::create_imported_pull(&state.db, import.repository_id, import.user_id, &remote, minutes).await {
        Err(e) if !e.is_unique_violation() => Err(e),
        _ => Ok(()),
    }
}

/// An import `user` may act on: their own (or any, for an administrator).
pub async fn visible(state: &AppState, user: &User, id: i64) -> Result<Import, AppError> {
    match imports::get(&state.db, id).await? {
        Some(import) if import.user_id == user.id || user.is_admin => Ok(import),
        _ => Err(AppError::NotFound),
    }
}

/// Retry: a failed import runs again (its repository keeps what an earlier try brought).
pub async fn retry(state: &AppState, user: &User, id: i64) -> Result<Import, AppError> {
    let import = visible(state, user, id).await?;
    if import.state != ImportState::Failed {
        return Err(AppError::invalid("Only a failed import can be retried."));
    }
    let mirror = match import.mirror_id {
        Some(mirror) => mirror,
        None => {
            let remote = GithubRepo::parse(&import.remote).map_err(|e| AppError::invalid(e.to_string()))?;
            let mirror = mirrors::create(&state.db, import.repository_id, import.user_id, Direction::Fetch, &remote, None, false).await?;
            imports::set_mirror(&state.db, id, mirror).await?;
            mirror
        }
    };
    if imports::requeue(&state.db, id).await? {
        mirrors::clear_backoff(&state.db, mirror).await?;
        mirrors::request_sync(&state.db, mirror, Trigger::Fetch).await?;
        mirror_service::changed(state, import.repository_id);
    }
    visible(state, user, id).await
}

/// Delete: removes the repository of an import that is not running (failed, or done and
/// unwanted) — the import goes with it.
pub async fn delete(state: &AppState, user: &User, id: i64) -> Result<(), AppError> {
    let import = visible(state, user, id).await?;
    if import.state == ImportState::Importing {
        return Err(AppError::invalid("The import is running; wait for it to finish or fail, then delete it."));
    }
    let found = repos::find_by_id(&state.db, import.repository_id).await?.ok_or(AppError::NotFound)?;
    repos::delete(&state.db, &state.store, &found).await?;
    mirror_service::changed(state, import.repository_id);
    Ok(())
}

/// What the repository's page says while its import is not done: nothing half-filled looks
/// finished.
pub fn notice(import: &Import) -> Option<String> {
    match import.state {
        ImportState::Done => None,
        ImportState::Queued | ImportState::Importing => Some(format!(
            "This repository is being imported from GitHub ({}). Branches and tags appear when the import is done; pushes wait until then.",
            import.remote
        )),
        ImportState::Failed => Some(format!(
            "The import from GitHub ({}) failed: {} This repository may be incomplete: retry or delete the import.",
            import.remote,
            import.error.as_deref().unwrap_or("unknown error.")
        )),
    }
}

/// The import as the page and the API show it, with the live progress of its fetch.
pub fn view(state: &AppState, import: &Import) -> ImportView {
    let progress = match (import.state, import.mirror_id) {
        (ImportState::Importing, Some(mirror)) => state.events.progress_of(mirror),
        _ => None,
    };
    ImportView {
        id: import.id,
        repository: import.repository.clone(),
        remote: import.remote.clone(),
        mirror_id: import.mirror_id,
        state: import.state.as_str().to_string(),
        error: import.error.clone(),
        mirror_interval_minutes: import.mirror_interval_minutes,
        created_at: import.created_at,
        finished_at: import.finished_at,
        progress,
    }
}

/// The GitHub repositories `user` can import (every page of `GET /user/repos`), each marked with
/// the GitBlixt repository it was imported to, if any.
/// `token` is the user's GitHub access token.
pub async fn candidates(state: &AppState, user: &User, token: &secrecy::SecretString) -> Result<Vec<ImportCandidate>, AppError> {
    let client = super::github::client::GithubClient::new(&state.github.endpoints, Some(token)).map_err(|e| super::web::internal("GitHub client", e))?;
    let listed = client.user_repositories(MAX_LISTED).await.map_err(|e| AppError::invalid(e.to_string()))?;
    let imported = imports::imported_remotes(&state.db, user.id).await?;
    Ok(listed
        .into_iter()
        .map(|r| {
            let key = r.full_name.to_ascii_lowercase();
            let imported_to = imported.iter().rev().find(|(remote, _)| *remote == key).map(|(_, repo)| repo.clone());
            let name = r.full_name.rsplit('/').next().unwrap_or(&r.full_name).to_string();
            ImportCandidate { full_name: r.full_name, name, private: r.private, description: github_description(r.description.as_deref()), imported_to }
        })
        .collect())
}
