//! Repositories: their rows, creation (row and bare repository together, or neither), and who may
//! do what with them.

use super::accounts::User;
use super::db::{Db, DbError, now};
use super::schema::{repositories, users};
use super::store::{RepoStore, StoreError};
use crate::model::RepoSummary;
use crate::names::{RepoName, UserName};
use crate::with_conn;
use diesel::{BoolExpressionMethods, ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use std::path::PathBuf;

pub const MAX_DESCRIPTION: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = repositories)]
pub struct Repository {
    pub id: i64,
    pub owner_id: i64,
    pub name: String,
    pub name_key: String,
    pub description: String,
    pub is_private: bool,
    pub created_at: i64,
}

/// A repository with its owner, as found from a URL.
#[derive(Debug, Clone)]
pub struct FoundRepo {
    pub repo: Repository,
    pub owner: User,
}

impl FoundRepo {
    pub fn owner_name(&self) -> UserName {
        // Stored names were parsed when created.
        UserName::parse(&self.owner.name).unwrap_or_else(|_| unreachable_name(&self.owner.name))
    }
    pub fn repo_name(&self) -> RepoName {
        RepoName::parse(&self.repo.name).unwrap_or_else(|_| unreachable_repo(&self.repo.name))
    }
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner.name, self.repo.name)
    }
    pub fn path(&self, store: &RepoStore) -> PathBuf {
        store.path(&self.owner_name(), &self.repo_name())
    }
    pub fn summary(&self) -> RepoSummary {
        RepoSummary {
            owner: self.owner.name.clone(),
            name: self.repo.name.clone(),
            description: self.repo.description.clone(),
            is_private: self.repo.is_private,
        }
    }
}

// Names in the database passed `parse` when stored; if one ever did not, refuse to build a path from it.
fn unreachable_name(raw: &str) -> UserName {
    tracing::error!(name = raw, "stored user name no longer parses");
    UserName::parse("invalid-stored-name").expect("constant name is valid")
}
fn unreachable_repo(raw: &str) -> RepoName {
    tracing::error!(name = raw, "stored repository name no longer parses");
    RepoName::parse("invalid-stored-name").expect("constant name is valid")
}

/// What a user may do with a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    None,
    Read,
    /// Owner or instance admin: push, settings.
    Admin,
}

pub fn access(viewer: Option<&User>, found: &FoundRepo) -> Access {
    match viewer {
        Some(u) if u.id == found.repo.owner_id || u.is_admin => Access::Admin,
        _ if !found.repo.is_private => Access::Read,
        _ => Access::None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{0}")]
    Invalid(String),
    #[error("You already have a repository named '{0}'.")]
    Exists(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::names::NameError> for RepoError {
    fn from(e: crate::names::NameError) -> Self {
        RepoError::Invalid(e.to_string())
    }
}

pub fn check_description(description: &str) -> Result<String, RepoError> {
    let d = description.trim();
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(RepoError::Invalid(format!("Description is too long (at most {MAX_DESCRIPTION} characters).")));
    }
    if d.chars().any(|c| c.is_control() && c != '\n') {
        return Err(RepoError::Invalid("Description contains control characters.".into()));
    }
    Ok(d.to_string())
}

/// Creates a repository: the bare repository on disk and its row, both or neither.
pub async fn create(
    db: &Db,
    store: &RepoStore,
    owner: &User,
    name: &RepoName,
    description: &str,
    is_private: bool,
) -> Result<FoundRepo, RepoError> {
    let description = check_description(description)?;
    let owner_name = UserName::parse(&owner.name)?;
    if find(db, &owner.name, name.as_str()).await?.is_some() {
        return Err(RepoError::Exists(name.to_string()));
    }
    let scratch = store.init_scratch().await?;
    let inserted: Result<Repository, DbError> = with_conn!(db, |conn| diesel::insert_into(repositories::table)
        .values((
            repositories::owner_id.eq(owner.id),
            repositories::name.eq(name.as_str()),
            repositories::name_key.eq(name.key()),
            repositories::description.eq(&description),
            repositories::is_private.eq(is_private),
            repositories::created_at.eq(now()),
        ))
        .returning(Repository::as_returning())
        .get_result(conn)
        .await
        .map_err(DbError::Query));
    let repo = match inserted {
        Ok(r) => r,
        Err(e) if e.is_unique_violation() => return Err(RepoError::Exists(name.to_string())),
        Err(e) => return Err(e.into()),
    };
    if let Err(e) = store.install(scratch, &owner_name, name) {
        // Undo the row so nothing half-created stays behind.
        if let Err(undo_err) = delete_row(db, repo.id).await {
            tracing::error!(error = %undo_err, repository = %format!("{owner_name}/{name}"), "could not remove the row of a failed creation");
        }
        return Err(e.into());
    }
    tracing::info!(repository = %format!("{owner_name}/{name}"), private = is_private, "repository created");
    Ok(FoundRepo { repo, owner: owner.clone() })
}

/// Deletes a repository: its row first (its mirrors, runs and import go with it), then its
/// directory. A directory that cannot be removed is logged; the repository is gone either way.
pub async fn delete(db: &Db, store: &RepoStore, found: &FoundRepo) -> Result<(), RepoError> {
    delete_row(db, found.repo.id).await?;
    if let Err(e) = store.remove(&found.owner_name(), &found.repo_name()) {
        tracing::error!(error = %e, repository = %found.full_name(), "could not remove a deleted repository's directory");
    }
    tracing::info!(repository = %found.full_name(), "repository deleted");
    Ok(())
}

/// Deletes a repository's row (its mirrors, runs and import go with it by cascade).
async fn delete_row(db: &Db, id: i64) -> Result<(), DbError> {
    with_conn!(db, |conn| {
        diesel::delete(repositories::table.find(id)).execute(conn).await.map_err(DbError::Query)?;
        Ok(())
    })
}

/// Finds a repository by owner and name (case-insensitive), with its owner.
pub async fn find(db: &Db, owner: &str, name: &str) -> Result<Option<FoundRepo>, DbError> {
    let owner_key = owner.to_ascii_lowercase();
    let name_key = name.to_ascii_lowercase();
    let row: Option<(Repository, User)> = with_conn!(db, |conn| repositories::table
        .inner_join(users::table)
        .filter(users::name_key.eq(&owner_key))
        .filter(repositories::name_key.eq(&name_key))
        .select((Repository::as_select(), User::as_select()))
        .first(conn)
        .await
        .optional()
        .map_err(DbError::Query))?;
    Ok(row.map(|(repo, owner)| FoundRepo { repo, owner }))
}

/// A repository with its owner, by id.
pub async fn find_by_id(db: &Db, id: i64) -> Result<Option<FoundRepo>, DbError> {
    let row: Option<(Repository, User)> = with_conn!(db, |conn| repositories::table
        .inner_join(users::table)
        .filter(repositories::id.eq(id))
        .select((Repository::as_select(), User::as_select()))
        .first(conn)
        .await
        .optional()
        .map_err(DbError::Query))?;
    Ok(row.map(|(repo, owner)| FoundRepo { repo, owner }))
}

/// Repositories a user sees on the dashboard: their own, then other users' public ones.
pub async fn dashboard(db: &Db, viewer: &User) -> Result<(Vec<RepoSummary>, Vec<RepoSummary>), DbError> {
    let viewer_id = viewer.id;
    let is_admin = viewer.is_admin;
    let rows: Vec<(Repository, User)> = with_conn!(db, |conn| repositories::table
        .inner_join(users::table)
        .filter(
            repositories::owner_id
                .eq(viewer_id)
                .or(repositories::is_private.eq(false))
                // Admins see private repositories too (for others this repeats the clause above).
                .or(repositories::is_private.eq(is_admin)),
        )
        .order((users::name_key.asc(), repositories::name_key.asc()))
        .limit(500)
        .select((Repository::as_select(), User::as_select()))
        .load(conn)
        .await
        .map_err(DbError::Query))?;
    let (mine, others): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .map(|(repo, owner)| FoundRepo { repo, owner })
        .partition(|f| f.repo.owner_id == viewer_id);
    Ok((mine.iter().map(FoundRepo::summary).collect(), others.iter().map(FoundRepo::summary).collect()))
}
