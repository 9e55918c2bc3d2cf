//! Server functions: the browser's calls into the server. Each checks who is asking and what they
//! may do; inputs are parsed into domain types before anything is touched.

use crate::error::AppError;
use crate::model::{CurrentUser, NewToken, RepoSummary, RepoView, TokenInfo};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
use crate::ssr::{accounts, repos, web};

#[server(endpoint = "get_current_user")]
pub async fn get_current_user() -> Result<Option<CurrentUser>, AppError> {
    web::answer(async move {
        let Some(user) = web::current_user().await? else { return Ok(None) };
        let state = web::state()?;
        let unread = crate::ssr::notifications::unread_count(&state.db, user.id).await?;
        Ok(Some(crate::model::CurrentUser { unread, ..web::to_current(&user) }))
    }
    .await)
}

/// What sign-up says on an instance with `GITBLIXT_REGISTRATION=closed`.
pub const REGISTRATION_CLOSED: &str = "Registration is closed on this instance. Ask an administrator to create an account for you.";

/// Whether anyone may sign up here.
#[server(endpoint = "registration_open")]
pub async fn registration_open() -> Result<bool, AppError> {
    web::answer(async move { Ok(web::state()?.settings.registration_open) }.await)
}

#[server(endpoint = "sign_up")]
pub async fn sign_up(username: String, password: String) -> Result<(), AppError> {
    let keep = [("username", username.clone())];
    let result = web::answer(async move {
        let state = web::state()?;
        if !state.settings.registration_open {
            return Err(AppError::invalid(REGISTRATION_CLOSED));
        }
        let name = crate::names::UserName::parse(username.trim())?;
        let user = crate::ssr::guard::hashing(&state.guard, web::client_ip(), accounts::create_user(&state.db, &name, &password, false)).await?;
        tracing::info!(user = %user.name, admin = user.is_admin, "account created");
        web::start_session(&user).await?;
        leptos_axum::redirect("/");
        Ok(())
    }
    .await);
    web::back_to_form::<SignUp, _>(result, "/signup", &keep)
}

#[server(endpoint = "sign_in")]
pub async fn sign_in(username: String, password: String) -> Result<(), AppError> {
    let keep = [("username", username.clone())];
    let result = web::answer(async move {
        let state = web::state()?;
        let Some(user) = crate::ssr::guard::sign_in(&state.guard, &state.db, web::client_ip(), username.trim(), &password).await? else {
            return Err(AppError::invalid("Incorrect username or password."));
        };
        web::start_session(&user).await?;
        leptos_axum::redirect("/");
        Ok(())
    }
    .await);
    web::back_to_form::<SignIn, _>(result, "/login", &keep)
}

#[server(endpoint = "sign_out")]
pub async fn sign_out() -> Result<(), AppError> {
    web::answer(async move {
        web::end_session().await?;
        leptos_axum::redirect("/");
        Ok(())
    }
    .await)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    pub mine: Vec<RepoSummary>,
    pub others: Vec<RepoSummary>,
}

#[server(endpoint = "get_dashboard")]
pub async fn get_dashboard() -> Result<Dashboard, AppError> {
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let (mine, others) = repos::dashboard(&state.db, &user).await?;
        Ok(Dashboard { mine, others })
    }
    .await)
}

#[server(endpoint = "create_repository")]
pub async fn create_repository(name: String, description: String, visibility: String) -> Result<(), AppError> {
    let keep = [("name", name.clone()), ("description", description.clone()), ("visibility", visibility.clone())];
    let result = web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let name = crate::names::RepoName::parse(name.trim())?;
        let is_private = match visibility.as_str() {
            "private" => true,
            "public" => false,
            _ => return Err(AppError::invalid("Visibility must be public or private.")),
        };
        crate::ssr::quotas::check_new_repository(&state, &user).await?;
        let found = repos::create(&state.db, &state.store, &user, &name, &description, is_private).await?;
        leptos_axum::redirect(&format!("/{}/{}", found.owner.name, found.repo.name));
        Ok(())
    }
    .await);
    web::back_to_form::<CreateRepository, _>(result, "/new", &keep)
}

/// Finds a repository the signed-in user may read, or answers 404 (also for private repositories
/// of others, so their existence is not revealed).
#[cfg(feature = "ssr")]
async fn readable(owner: &str, repo: &str) -> Result<(repos::FoundRepo, Option<accounts::User>, repos::Access), AppError> {
    let state = web::state()?;
    let viewer = web::current_user().await?;
    let found = match repos::find(&state.db, owner, repo).await? {
        Some(f) => f,
        None => {
            web::set_status(404);
            return Err(AppError::NotFound);
        }
    };
    let access = repos::access(viewer.as_ref(), &found);
    if access == repos::Access::None {
        web::set_status(404);
        return Err(AppError::NotFound);
    }
    Ok((found, viewer, access))
}

/// The repository if the signed-in user may administer it: 404 for repositories they may not
/// see, 403 otherwise (the rule is [`crate::ssr::mirror_service::administrable`]).
#[cfg(feature = "ssr")]
pub(crate) async fn administrable(owner: &str, repo: &str) -> Result<repos::FoundRepo, AppError> {
    let state = web::state()?;
    let viewer = web::current_user().await?;
    crate::ssr::mirror_service::administrable(&state, viewer.as_ref(), owner, repo).await.inspect_err(|e| web::set_status(e.status()))
}

#[server(endpoint = "get_repository")]
pub async fn get_repository(owner: String, repo: String) -> Result<RepoView, AppError> {
    web::answer(async move {
        let state = web::state()?;
        let (found, _viewer, access) = readable(&owner, &repo).await?;
        let path = found.path(&state.store);
        let contents = tokio::task::spawn_blocking(move || crate::ssr::git_read::read_contents(&path, 20))
            .await
            .map_err(|e| web::internal("reading repository", e))?
            .map_err(|e| web::internal("reading repository", e))?;
        Ok(RepoView {
            clone_url: format!("{}/{}/{}.git", state.settings.public_url, found.owner.name, found.repo.name),
            ssh_clone_url: state.settings.ssh.as_ref().map(|ssh| ssh.clone_url(&found.owner.name, &found.repo.name)),
            summary: found.summary(),
            default_branch: contents.default_branch,
            branches: contents.branches,
            tags: contents.tags,
            commits: contents.commits,
            can_admin: access == repos::Access::Admin,
            import_notice: crate::ssr::imports::of_repository(&state.db, found.repo.id).await?.and_then(|i| crate::ssr::import_service::notice(&i)),
        })
    }
    .await)
}

#[server(endpoint = "get_repository_settings")]
pub async fn get_repository_settings(owner: String, repo: String) -> Result<RepoSummary, AppError> {
    web::answer(async move {
        Ok(administrable(&owner, &repo).await?.summary())
    }
    .await)
}

#[server(endpoint = "update_repository")]
pub async fn update_repository(owner: String, repo: String, description: String, visibility: String) -> Result<(), AppError> {
    web::answer(async move {
        use crate::ssr::schema::repositories;
        use diesel::{ExpressionMethods, QueryDsl};
        use diesel_async::RunQueryDsl;
        let state = web::state()?;
        let found = administrable(&owner, &repo).await?;
        let description = repos::check_description(&description)?;
        let is_private = match visibility.as_str() {
            "private" => true,
            "public" => false,
            _ => return Err(AppError::invalid("Visibility must be public or private.")),
        };
        let id = found.repo.id;
        crate::with_conn!(&state.db, |conn| diesel::update(repositories::table.find(id))
            .set((repositories::description.eq(&description), repositories::is_private.eq(is_private)))
            .execute(conn)
            .await
            .map_err(crate::ssr::db::DbError::Query))?;
        tracing::info!(repository = %found.full_name(), private = is_private, "repository settings updated");
        Ok(())
    }
    .await)
}

#[server(endpoint = "list_access_tokens")]
pub async fn list_access_tokens() -> Result<Vec<TokenInfo>, AppError> {
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        Ok(accounts::list_tokens(&state.db, user.id).await?)
    }
    .await)
}

/// Creates a personal access token. `expires_on` is a `YYYY-MM-DD` date (UTC), 1 to 365 days ahead.
#[server(endpoint = "create_access_token")]
pub async fn create_access_token(
    name: String,
    expires_on: String,
    scope_api: Option<String>,
    scope_read_api: Option<String>,
    scope_read_repository: Option<String>,
    scope_write_repository: Option<String>,
) -> Result<NewToken, AppError> {
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let Some(day) = crate::format::parse_date(&expires_on) else {
            return Err(AppError::invalid("Expiration date is required (YYYY-MM-DD)."));
        };
        let today = crate::ssr::db::now().div_euclid(86_400);
        let scopes: Vec<String> = [
            (scope_api, "api"),
            (scope_read_api, "read_api"),
            (scope_read_repository, "read_repository"),
            (scope_write_repository, "write_repository"),
        ]
        .into_iter()
        .filter(|(on, _)| on.is_some())
        .map(|(_, s)| s.to_string())
        .collect();
        Ok(accounts::create_token(&state.db, user.id, &name, &scopes, day - today).await?)
    }
    .await)
}

#[server(endpoint = "revoke_access_token")]
pub async fn revoke_access_token(id: i64) -> Result<(), AppError> {
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        if accounts::revoke_token(&state.db, user.id, id).await? {
            tracing::info!(user = %user.name, token_id = id, "access token revoked");
            Ok(())
        } else {
            Err(AppError::NotFound)
        }
    }
    .await)
}

#[server(endpoint = "get_github_account")]
pub async fn get_github_account() -> Result<crate::model::GithubAccount, AppError> {
    use crate::model::GithubAccount;
    use crate::ssr::github::connection;
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        if state.github.oauth.is_none() {
            return Ok(GithubAccount::NotConfigured);
        }
        Ok(match connection::info(&state.db, user.id).await? {
            None => GithubAccount::NotConnected,
            Some(c) => GithubAccount::Connected {
                expired: c.is_expired(crate::ssr::db::now()),
                login: c.login,
                connected_at: c.connected_at,
                scopes: c.scopes,
            },
        })
    }
    .await)
}

/// Disconnects the user's GitHub account, revoking its token at GitHub first. Answers what the
/// user must be told when the token could not be revoked there (it is forgotten anyway).
#[server(endpoint = "disconnect_github")]
pub async fn disconnect_github() -> Result<Option<String>, AppError> {
    use crate::ssr::github::{self, connection::{self, Disconnected}};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let done = connection::disconnect(&state.github, &state.db, &state.cipher, user.id).await?;
        if done != Disconnected::NotConnected {
            tracing::info!(user = %user.name, revoked = done == Disconnected::Revoked, "GitHub account disconnected");
        }
        Ok((done == Disconnected::NotRevoked).then(|| github::not_revoked(&state.github.endpoints.web_url)))
    }
    .await)
}
