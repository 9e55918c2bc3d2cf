//! Server functions of the mirroring sections of a repository's Settings page (owner and admins
//! only). The work is done by [`crate::ssr::mirror_service`], shared with the REST API.

use crate::error::AppError;
use crate::model::{EnableAnswer, MirrorsView};
use leptos::prelude::*;

#[server(endpoint = "get_mirrors")]
pub async fn get_mirrors(owner: String, repo: String) -> Result<MirrorsView, AppError> {
    use crate::ssr::{mirror_service, web};
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        mirror_service::views(&state, found.repo.id).await
    }
    .await)
}

/// Enables a push (`direction` = `push`) or pull (`pull`, with `interval` minutes) mirror. A push
/// mirror that would replace anything on GitHub answers with the list, to confirm first
/// (`confirm_replace`). Checkboxes arrive as `"on"` when ticked.
#[server(endpoint = "enable_mirror")]
pub async fn enable_mirror(
    owner: String,
    repo: String,
    direction: String,
    remote: String,
    interval: Option<String>,
    overwrite_diverged: Option<String>,
    confirm_replace: Option<String>,
) -> Result<EnableAnswer, AppError> {
    use crate::ssr::{mirror_service, web};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let found = crate::api::administrable(&owner, &repo).await?;
        let request = mirror_service::EnableRequest {
            direction: &direction,
            remote: &remote,
            interval: interval.as_deref(),
            confirm_replace: ticked(confirm_replace.as_deref())?,
            overwrite_diverged: ticked(overwrite_diverged.as_deref())?,
        };
        mirror_service::enable(&state, &user, &found, &request).await
    }
    .await)
}

/// A checkbox's value: absent, `on` or `true` (ticked), `false`.
#[cfg(feature = "ssr")]
fn ticked(raw: Option<&str>) -> Result<bool, AppError> {
    match raw {
        None | Some("") | Some("false") => Ok(false),
        Some("on") | Some("true") => Ok(true),
        Some(_) => Err(AppError::invalid("A checkbox must be on or off.")),
    }
}

/// Turns a pull mirror's "Overwrite diverged branches" on (`on` = `true`) or off.
#[server(endpoint = "set_overwrite_diverged")]
pub async fn set_overwrite_diverged(owner: String, repo: String, id: i64, on: bool) -> Result<(), AppError> {
    use crate::ssr::{mirror_service, web};
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        mirror_service::set_overwrite_diverged(&state, &found, id, on).await
    }
    .await)
}

/// Restores (`action` = `restore`) or discards (`discard`) the tip run `run` kept of `name`.
/// Answers the branch or tag a restore wrote.
#[server(endpoint = "kept_ref_action")]
pub async fn kept_ref_action(owner: String, repo: String, run: i64, name: String, action: String) -> Result<Option<String>, AppError> {
    use crate::ssr::{mirror_service, web};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let found = crate::api::administrable(&owner, &repo).await?;
        let action = match action.as_str() {
            "restore" => mirror_service::KeptAction::Restore,
            "discard" => mirror_service::KeptAction::Discard,
            _ => return Err(AppError::invalid("Unknown action: use restore or discard.")),
        };
        mirror_service::kept_action(&state, &user, &found, run, &name, action).await
    }
    .await)
}

/// `action`: `sync`, `pause`, `resume` or `remove`.
#[server(endpoint = "mirror_action")]
pub async fn mirror_action(owner: String, repo: String, id: i64, action: String) -> Result<(), AppError> {
    use crate::ssr::{mirror_service, web};
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        let command = mirror_service::Command::parse(&action)?;
        mirror_service::command(&state, &found, id, command).await
    }
    .await)
}

#[server(endpoint = "set_mirror_interval")]
pub async fn set_mirror_interval(owner: String, repo: String, id: i64, interval: String) -> Result<(), AppError> {
    use crate::ssr::{mirror_service, web};
    web::answer(async move {
        let state = web::state()?;
        let found = crate::api::administrable(&owner, &repo).await?;
        mirror_service::change_interval(&state, &found, id, &interval).await
    }
    .await)
}

/// Fetch from remote: one fetch of all branches and tags of `remote`.
#[server(endpoint = "fetch_from_remote")]
pub async fn fetch_from_remote(owner: String, repo: String, remote: String, overwrite_diverged: Option<String>) -> Result<(), AppError> {
    use crate::ssr::{mirror_service, web};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let found = crate::api::administrable(&owner, &repo).await?;
        mirror_service::fetch(&state, &user, &found, &remote, ticked(overwrite_diverged.as_deref())?).await.map(|_| ())
    }
    .await)
}
