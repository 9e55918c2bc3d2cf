//! Server functions of Settings → Sessions: the user's sign-ins, ending them, and the password.

use crate::error::AppError;
use crate::model::SessionInfo;
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use crate::ssr::{accounts, guard, web};

#[server(endpoint = "list_sessions")]
pub async fn list_sessions() -> Result<Vec<SessionInfo>, AppError> {
    web::answer(
        async move {
            let state = web::state()?;
            let user = web::require_user().await?;
            Ok(accounts::list_sessions(&state.db, user.id, web::current_session_id().as_deref()).await?)
        }
        .await,
    )
}

/// Signs out one of the user's sessions (named by its handle from the list).
#[server(endpoint = "end_session")]
pub async fn end_session(handle: String) -> Result<(), AppError> {
    web::answer(
        async move {
            let state = web::state()?;
            let user = web::require_user().await?;
            if !accounts::end_session_by_handle(&state.db, user.id, handle.trim()).await? {
                return Err(AppError::invalid("That session has already ended."));
            }
            tracing::info!(user = %user.name, "a session was signed out from Settings → Sessions");
            Ok(())
        }
        .await,
    )
}

/// Signs out every session of the user but this one; how many ended.
#[server(endpoint = "end_other_sessions")]
pub async fn end_other_sessions() -> Result<usize, AppError> {
    web::answer(
        async move {
            let state = web::state()?;
            let user = web::require_user().await?;
            let ended = accounts::end_other_sessions(&state.db, user.id, web::current_session_id().as_deref()).await?;
            tracing::info!(user = %user.name, ended, "other sessions signed out");
            Ok(ended)
        }
        .await,
    )
}

/// Changes the password after checking the current one (under the sign-in limits); every other
/// session ends, and git credentials remembered with the old password are forgotten.
#[server(endpoint = "change_password")]
pub async fn change_password(current_password: String, new_password: String, confirm_password: String) -> Result<(), AppError> {
    web::answer(
        async move {
            let state = web::state()?;
            let user = web::require_user().await?;
            if new_password != confirm_password {
                return Err(AppError::invalid("The new password and its confirmation don't match."));
            }
            let checked = guard::sign_in(&state.guard, &state.db, web::client_ip(), &user.name, &current_password).await?;
            if checked.is_none_or(|u| u.id != user.id) {
                return Err(AppError::invalid("The current password is not correct."));
            }
            guard::hashing(&state.guard, web::client_ip(), accounts::set_password(&state.db, user.id, &new_password)).await?;
            state.guard.forget_credentials();
            let ended = accounts::end_other_sessions(&state.db, user.id, web::current_session_id().as_deref()).await?;
            tracing::info!(user = %user.name, other_sessions_ended = ended, "password changed");
            Ok(())
        }
        .await,
    )
}

#[cfg(feature = "ssr")]
impl From<crate::ssr::ssh_keys::SshKeyError> for AppError {
    fn from(e: crate::ssr::ssh_keys::SshKeyError) -> Self {
        match e {
            crate::ssr::ssh_keys::SshKeyError::Invalid(message) => AppError::Invalid(message),
            crate::ssr::ssh_keys::SshKeyError::Db(e) => e.into(),
        }
    }
}

#[server(endpoint = "list_ssh_keys")]
pub async fn list_ssh_keys() -> Result<Vec<crate::model::SshKeyInfo>, AppError> {
    web::answer(
        async move {
            let state = web::state()?;
            let user = web::require_user().await?;
            Ok(crate::ssr::ssh_keys::list(&state.db, user.id).await?)
        }
        .await,
    )
}

/// The instance's SSH server (clone URL form, host key fingerprints), or None when it serves no SSH.
#[server(endpoint = "ssh_server_info")]
pub async fn ssh_server_info() -> Result<Option<crate::model::SshServerInfo>, AppError> {
    web::answer(
        async move {
            let state = web::state()?;
            let user = web::require_user().await?;
            Ok(state.settings.ssh.as_ref().map(|ssh| crate::model::SshServerInfo {
                example_clone_url: ssh.clone_url(&user.name, "<repository>"),
                host_key_fingerprints: ssh.host_key_fingerprints.clone(),
            }))
        }
        .await,
    )
}

/// Adds an SSH key (title optional: the key's comment then).
#[server(endpoint = "add_ssh_key")]
pub async fn add_ssh_key(title: String, key: String) -> Result<crate::model::SshKeyInfo, AppError> {
    web::answer(
        async move {
            let state = web::state()?;
            let user = web::require_user().await?;
            Ok(crate::ssr::ssh_keys::add(&state.db, &user, &title, &key).await?)
        }
        .await,
    )
}

#[server(endpoint = "remove_ssh_key")]
pub async fn remove_ssh_key(id: i64) -> Result<(), AppError> {
    web::answer(
        async move {
            let state = web::state()?;
            let user = web::require_user().await?;
            if !crate::ssr::ssh_keys::remove(&state.db, user.id, id).await? {
                return Err(AppError::NotFound);
            }
            tracing::info!(user = %user.name, key = id, "SSH key removed");
            Ok(())
        }
        .await,
    )
}
