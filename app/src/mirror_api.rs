//! Server functions of the mirroring sections of a repository's Settings page (owner and admins
//! only): list, enable push/pull mirrors (checked with GitHub first; nothing saved on error),
//! Sync now, Pause/Resume, interval, Remove.

use crate::error::AppError;
use crate::model::MirrorsView;
use leptos::prelude::*;

#[cfg(feature = "ssr")]
mod server {
    use crate::error::AppError;
    use crate::github_repo::GithubRepo;
    use crate::model::{MirrorState, MirrorView, MirrorsView, RefChange, RunView};
    use crate::ssr::github::client::{GithubClient, GithubError};
    use crate::ssr::github::connection::{self, ConnectionError};
    use crate::ssr::mirrors::{self, Direction, MirrorRow};
    use crate::ssr::{AppState, web};

    pub const RUNS_SHOWN: i64 = 5;

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

    pub async fn view(state: &AppState, m: MirrorRow) -> Result<MirrorView, AppError> {
        let runs = mirrors::recent_runs(&state.db, m.id, RUNS_SHOWN)
            .await?
            .into_iter()
            .map(|r| RunView {
                refs: serde_json::from_str::<Vec<RefChange>>(&r.refs).unwrap_or_default(),
                trigger: r.trigger,
                started_at: r.started_at,
                finished_at: r.finished_at,
                outcome: r.outcome,
                error: r.error,
                objects: r.objects,
                bytes: r.bytes,
            })
            .collect();
        Ok(MirrorView {
            id: m.id,
            state: state_of(&m),
            remote: format!("{}/{}", m.remote_owner, m.remote_name),
            direction: m.direction,
            interval_minutes: m.interval_minutes,
            paused: m.paused,
            last_sync_at: m.last_sync_at,
            last_success_at: m.last_success_at,
            next_sync_at: m.next_sync_at,
            error: if m.status == "error" { m.last_error } else { None },
            runs,
        })
    }

    pub async fn all(state: &AppState, repository_id: i64) -> Result<MirrorsView, AppError> {
        let mut push = Vec::new();
        let mut pull = Vec::new();
        for m in mirrors::list_for_repository(&state.db, repository_id).await? {
            let v = view(state, m).await?;
            if v.direction == Direction::Push.as_str() { push.push(v) } else { pull.push(v) }
        }
        let both = push.iter().find(|p| pull.iter().any(|q| q.remote.eq_ignore_ascii_case(&p.remote)));
        let warning = both.map(|p| {
            format!(
                "Both a push and a pull mirror point at {}. If both sides are receiving pushes, they can overwrite each other; this works best when one side is read-only.",
                p.remote
            )
        });
        Ok(MirrorsView { push, pull, warning })
    }

    /// A pull interval the page offers, in minutes.
    pub fn parse_interval(raw: &str) -> Result<i64, AppError> {
        use crate::model::PULL_INTERVALS;
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
            ConnectionError::NotConnected | ConnectionError::Expired | ConnectionError::Unreachable(_) => {
                AppError::invalid(e.to_string())
            }
            other => web::internal("GitHub connection", other),
        }
    }

    fn github_error(e: GithubError) -> AppError {
        match e {
            GithubError::Config(_) => web::internal("GitHub client", e),
            other => AppError::invalid(other.to_string()),
        }
    }

    /// Checks with GitHub that `remote` exists and, for push mirrors, that the connected account
    /// can push to it.
    pub async fn check_remote(state: &AppState, user_id: i64, remote: &GithubRepo, direction: Direction) -> Result<(), AppError> {
        let token = connection::access_token(&state.github, &state.db, &state.cipher, user_id).await.map_err(connection_error)?;
        let client = GithubClient::new(&state.github.endpoints, Some(&token)).map_err(github_error)?;
        match direction {
            Direction::Push => client.check_push_access(remote).await.map(|_| ()),
            Direction::Pull => client.repository(remote).await.map(|_| ()),
        }
        .map_err(github_error)
    }
}

#[server(endpoint = "get_mirrors")]
pub async fn get_mirrors(owner: String, repo: String) -> Result<MirrorsView, AppError> {
    use crate::ssr::web;
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        server::all(&state, found.repo.id).await
    }
    .await)
}

/// Enables a push (`direction` = `push`) or pull (`pull`, with `interval` minutes) mirror.
#[server(endpoint = "enable_mirror")]
pub async fn enable_mirror(
    owner: String,
    repo: String,
    direction: String,
    remote: String,
    interval: Option<String>,
) -> Result<(), AppError> {
    use crate::ssr::mirrors::{self, Direction};
    use crate::ssr::web;
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let found = crate::api::administrable(&owner, &repo).await?;
        let direction = match direction.as_str() {
            "push" => Direction::Push,
            "pull" => Direction::Pull,
            _ => return Err(AppError::invalid("The mirror direction must be push or pull.")),
        };
        let remote = server::parse_remote(&state, &remote)?;
        let interval = match direction {
            Direction::Push => None,
            Direction::Pull => Some(server::parse_interval(interval.as_deref().unwrap_or("15"))?),
        };
        if mirrors::exists(&state.db, found.repo.id, direction, &remote).await? {
            return Err(AppError::invalid(format!("This repository already has a {} mirror to {remote}.", direction.as_str())));
        }
        server::check_remote(&state, user.id, &remote, direction).await?;
        let id = mirrors::create(&state.db, found.repo.id, user.id, direction, &remote, interval).await?;
        state.sync_wake.notify_waiters();
        tracing::info!(repository = %found.full_name(), mirror = id, direction = direction.as_str(), remote = %remote, "mirror enabled");
        Ok(())
    }
    .await)
}

/// `action`: `sync`, `pause`, `resume` or `remove`.
#[server(endpoint = "mirror_action")]
pub async fn mirror_action(owner: String, repo: String, id: i64, action: String) -> Result<(), AppError> {
    use crate::ssr::mirrors::{self, Trigger};
    use crate::ssr::web;
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        let mirror = mirrors::get(&state.db, id).await?.filter(|m| m.repository_id == found.repo.id).ok_or(AppError::NotFound)?;
        match action.as_str() {
            "sync" => {
                mirrors::request_sync(&state.db, mirror.id, Trigger::Manual).await?;
                mirrors::clear_backoff(&state.db, mirror.id).await?;
            }
            "pause" => {
                mirrors::set_paused(&state.db, found.repo.id, id, true).await?;
            }
            "resume" => {
                mirrors::set_paused(&state.db, found.repo.id, id, false).await?;
            }
            "remove" => {
                mirrors::delete(&state.db, found.repo.id, id).await?;
            }
            _ => return Err(AppError::invalid("Unknown mirror action.")),
        }
        state.sync_wake.notify_waiters();
        tracing::info!(repository = %found.full_name(), mirror = id, action = %action, "mirror action");
        Ok(())
    }
    .await)
}

#[server(endpoint = "set_mirror_interval")]
pub async fn set_mirror_interval(owner: String, repo: String, id: i64, interval: String) -> Result<(), AppError> {
    use crate::ssr::{mirrors, web};
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        let minutes = server::parse_interval(&interval)?;
        if !mirrors::set_interval(&state.db, found.repo.id, id, minutes).await? {
            return Err(AppError::NotFound);
        }
        Ok(())
    }
    .await)
}
