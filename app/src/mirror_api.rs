//! Server functions of the mirroring sections of a repository's Settings page (owner and admins
//! only). The work is done by [`crate::ssr::mirror_service`], shared with the REST API.

use crate::error::AppError;
use crate::model::MirrorsView;
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

/// Enables a push (`direction` = `push`) or pull (`pull`, with `interval` minutes) mirror.
#[server(endpoint = "enable_mirror")]
pub async fn enable_mirror(
    owner: String,
    repo: String,
    direction: String,
    remote: String,
    interval: Option<String>,
) -> Result<(), AppError> {
    use crate::ssr::{mirror_service, web};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let found = crate::api::administrable(&owner, &repo).await?;
        mirror_service::enable(&state, &user, &found, &direction, &remote, interval.as_deref()).await.map(|_| ())
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
pub async fn fetch_from_remote(owner: String, repo: String, remote: String) -> Result<(), AppError> {
    use crate::ssr::{mirror_service, web};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let found = crate::api::administrable(&owner, &repo).await?;
        mirror_service::fetch(&state, &user, &found, &remote).await.map(|_| ())
    }
    .await)
}
