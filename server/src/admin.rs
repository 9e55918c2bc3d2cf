//! Operator commands that work without a browser: `gitblixt admin …`.

use app::names::{RepoName, RepoPath, UserName};
use app::ssr::AppState;
use app::ssr::accounts::{self, AccountError};
use app::ssr::repos::{self, RepoError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Account(#[from] AccountError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Db(#[from] app::ssr::db::DbError),
    #[error("reading the password from standard input failed: {0}")]
    Stdin(std::io::Error),
}

impl From<app::names::NameError> for AdminError {
    fn from(e: app::names::NameError) -> Self {
        AdminError::Invalid(e.to_string())
    }
}

/// `admin create-user <name> [--admin]`, the password read from the first line of stdin.
pub async fn create_user(state: &AppState, name: &str, admin: bool, password: &str) -> Result<String, AdminError> {
    let name = UserName::parse(name)?;
    let user = accounts::create_user(&state.db, &name, password, admin).await?;
    Ok(format!("created user {}{}", user.name, if user.is_admin { " (admin)" } else { "" }))
}

/// `admin create-repo <owner>/<name> [--private] [--description D]`.
pub async fn create_repo(state: &AppState, path: &str, private: bool, description: &str) -> Result<String, AdminError> {
    let path = RepoPath::parse(path)?;
    let owner = accounts::find_user(&state.db, path.owner.as_str())
        .await?
        .ok_or_else(|| AdminError::Invalid(format!("No such user: '{}'.", path.owner)))?;
    let name: &RepoName = &path.name;
    let found = repos::create(&state.db, &state.store, &owner, name, description, private).await?;
    Ok(format!(
        "created repository {} ({}) at {}",
        found.full_name(),
        if private { "private" } else { "public" },
        found.path(&state.store).display()
    ))
}

/// `admin create-token <user> --name N --scopes a,b --expires-days D`: prints the token once.
pub async fn create_token(state: &AppState, user: &str, name: &str, scopes: &str, days: i64) -> Result<String, AdminError> {
    let owner = accounts::find_user(&state.db, user)
        .await?
        .ok_or_else(|| AdminError::Invalid(format!("No such user: '{user}'.")))?;
    let scopes: Vec<String> = scopes.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let token = accounts::create_token(&state.db, owner.id, name, &scopes, days).await?;
    Ok(token.token)
}

/// `admin add-ssh-key <user> [--title T]`, the public key read from standard input.
pub async fn add_ssh_key(state: &AppState, user: &str, title: &str, key: &str) -> Result<String, AdminError> {
    let owner = accounts::find_user(&state.db, user)
        .await?
        .ok_or_else(|| AdminError::Invalid(format!("No such user: '{user}'.")))?;
    let added = app::ssr::ssh_keys::add(&state.db, &owner, title, key).await.map_err(|e| match e {
        app::ssr::ssh_keys::SshKeyError::Invalid(message) => AdminError::Invalid(message),
        app::ssr::ssh_keys::SshKeyError::Db(e) => AdminError::Db(e),
    })?;
    Ok(format!("added SSH key \"{}\" ({}) to {}", added.title, added.fingerprint, owner.name))
}

/// The password: the first line of standard input (without its line ending).
pub fn read_password_line(input: &mut impl std::io::BufRead) -> Result<String, AdminError> {
    let mut line = String::new();
    input.read_line(&mut line).map_err(AdminError::Stdin)?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(AdminError::Invalid("No password given: write it on standard input.".into()));
    }
    Ok(password)
}
