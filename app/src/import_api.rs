//! Server functions of the import page (`/import/github`) and the help pages.

use crate::error::AppError;
use crate::model::{HelpFacts, ImportCandidates, ImportChoice, ImportStarted, ImportView};
use leptos::prelude::*;
#[cfg(feature = "ssr")]
use crate::ssr::{import_service::{self, ImportRequest}, web};

/// The signed-in user's GitHub repositories (every page), or why they cannot be listed.
#[server(endpoint = "list_import_candidates")]
pub async fn list_import_candidates() -> Result<ImportCandidates, AppError> {
    use crate::ssr::github::connection::{self, ConnectionError};
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let token = match connection::access_token(&state.github, &state.db, &state.cipher, user.id).await {
            Err(ConnectionError::NotConnected) if state.github.oauth.is_none() => {
                let unavailable = "GitHub is not configured on this instance, so your repositories cannot be listed: the administrator must register a GitHub OAuth App (see Importing from GitHub). A public repository can be imported by name below.";
                return Ok(ImportCandidates { repositories: Vec::new(), unavailable: Some(unavailable.into()) });
            }
            Err(ConnectionError::NotConnected) => {
                let unavailable = "Connect your GitHub account under Settings → Connected Accounts to list your repositories, private ones included. A public repository can be imported by name below.";
                return Ok(ImportCandidates { repositories: Vec::new(), unavailable: Some(unavailable.into()) });
            }
            Err(e @ (ConnectionError::Expired | ConnectionError::Unreachable(_))) => {
                return Ok(ImportCandidates { repositories: Vec::new(), unavailable: Some(e.to_string()) });
            }
            Err(e) => return Err(web::internal("GitHub connection", e)),
            Ok(token) => token,
        };
        Ok(ImportCandidates { repositories: import_service::candidates(&state, &user, &token).await?, unavailable: None })
    }
    .await)
}

/// Starts an import of each picked repository; each succeeds or fails on its own.
#[server(endpoint = "start_imports", input = server_fn::codec::Json)]
pub async fn start_imports(choices: Vec<ImportChoice>) -> Result<Vec<ImportStarted>, AppError> {
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        if choices.is_empty() {
            return Err(AppError::invalid("Pick at least one repository to import."));
        }
        if choices.len() > 100 {
            return Err(AppError::invalid("Import at most 100 repositories at once."));
        }
        let mut out = Vec::with_capacity(choices.len());
        for choice in choices {
            let request = ImportRequest {
                remote: choice.remote.clone(),
                name: Some(choice.name),
                visibility: Some(choice.visibility),
                description: None,
                mirror_interval_minutes: choice.mirror_interval_minutes,
            };
            out.push(match import_service::start(&state, &user, &request).await {
                Ok(import) => ImportStarted { remote: choice.remote, import: Some(import_service::view(&state, &import)), error: None },
                Err(e) => ImportStarted { remote: choice.remote, import: None, error: Some(e.to_string()) },
            });
        }
        Ok(out)
    }
    .await)
}

/// Starts the import of one repository named by `owner/repo` or URL (public ones need no GitHub
/// connection). `interval` is empty (no Keep in sync) or the pull mirror's minutes.
#[server(endpoint = "start_import")]
pub async fn start_import(remote: String, name: String, visibility: String, interval: String) -> Result<ImportView, AppError> {
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let mirror_interval_minutes = match interval.trim() {
            "" => None,
            raw => Some(crate::ssr::mirror_service::parse_interval(raw)?),
        };
        let request = ImportRequest { remote, name: Some(name), visibility: Some(visibility), description: None, mirror_interval_minutes };
        let import = import_service::start(&state, &user, &request).await?;
        Ok(import_service::view(&state, &import))
    }
    .await)
}

/// The signed-in user's imports, newest first.
#[server(endpoint = "list_imports")]
pub async fn list_imports() -> Result<Vec<ImportView>, AppError> {
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        let imports = crate::ssr::imports::of_user(&state.db, user.id, 50).await?;
        Ok(imports.iter().map(|i| import_service::view(&state, i)).collect())
    }
    .await)
}

/// Retry (`retry`) or Delete (`delete`) an import.
#[server(endpoint = "import_action")]
pub async fn import_action(id: i64, action: String) -> Result<(), AppError> {
    web::answer(async move {
        let state = web::state()?;
        let user = web::require_user().await?;
        match action.as_str() {
            "retry" => import_service::retry(&state, &user, id).await.map(|_| ()),
            "delete" => import_service::delete(&state, &user, id).await,
            _ => Err(AppError::invalid("Unknown action.")),
        }
    }
    .await)
}

/// What the help pages compute for this instance (no sign-in needed).
#[server(endpoint = "get_help_facts")]
pub async fn get_help_facts() -> Result<HelpFacts, AppError> {
    web::answer(async move {
        let state = web::state()?;
        let public_url = state.settings.public_url.clone();
        Ok(HelpFacts {
            callback_url: format!("{public_url}{}", crate::ssr::github::CALLBACK_PATH),
            public_url,
            oauth_configured: state.github.oauth.is_some(),
            github_url: state.github.endpoints.web_url.clone(),
        })
    }
    .await)
}
