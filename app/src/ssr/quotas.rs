//! What one user may hold on an instance, and the disk-space guard: repositories per user,
//! mirrors per repository, pull mirrors per user, the most a sync may fetch, and the free space
//! below which pushes, fetches and new repositories are refused (before SQLite or git fail
//! half-way). Each limit is configured by the server (see the README, "Limits").

use super::AppState;
use super::accounts::User;
use super::db::{Db, DbError};
use super::schema::{mirrors, repositories};
use crate::error::AppError;
use crate::with_conn;
use diesel::{ExpressionMethods, QueryDsl};
use diesel_async::RunQueryDsl;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quotas {
    /// `GITBLIXT_MAX_REPOS_PER_USER`
    pub repos_per_user: i64,
    /// `GITBLIXT_MAX_MIRRORS_PER_REPO` (push and pull mirrors together; one-time fetches don't count)
    pub mirrors_per_repo: i64,
    /// `GITBLIXT_MAX_PULL_MIRRORS_PER_USER`
    pub pull_mirrors_per_user: i64,
    /// `GITBLIXT_MAX_FETCH_MB`, in bytes: the most one pull or fetch may receive.
    pub max_fetch_bytes: u64,
    /// `GITBLIXT_MIN_FREE_MB`, in bytes: below this much free space writes are refused.
    pub min_free_bytes: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas { repos_per_user: 1000, mirrors_per_repo: 10, pull_mirrors_per_user: 100, max_fetch_bytes: 10 << 30, min_free_bytes: 1 << 30 }
    }
}

/// `bytes` as people read sizes: whole GiB when it is some, else MiB.
pub fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes % (1 << 30) == 0 { format!("{} GiB", bytes >> 30) } else { format!("{} MiB", bytes >> 20) }
}

/// What the disk-space guard refuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    Push,
    Fetch,
    NewRepository,
}

/// The message when the disk is too full for `what`.
pub fn low_disk_message(what: Write) -> &'static str {
    match what {
        Write::Push => "GitBlixt: the server is low on disk space, so pushes are refused until an administrator frees space",
        Write::Fetch => "GitBlixt is low on disk space, so nothing was fetched; the sync will be retried once an administrator frees space.",
        Write::NewRepository => "The server is low on disk space, so new repositories can't be created until an administrator frees space.",
    }
}

/// Refuses `what` when the data directory's file system has less free space than the minimum.
/// A file system that can't be asked is not refused (the write will say what is wrong).
pub fn check_disk(state: &AppState, what: Write) -> Result<(), &'static str> {
    match state.store.free_bytes() {
        Ok(free) if free < state.settings.quotas.min_free_bytes => {
            tracing::warn!(free_bytes = free, minimum = state.settings.quotas.min_free_bytes, "low on disk space: {what:?} refused");
            Err(low_disk_message(what))
        }
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(error = %e, "could not read the free disk space");
            Ok(())
        }
    }
}

async fn count_repositories(db: &Db, owner_id: i64) -> Result<i64, DbError> {
    with_conn!(db, |conn| Ok(repositories::table.filter(repositories::owner_id.eq(owner_id)).count().get_result(conn).await?))
}

async fn count_mirrors_of_repository(db: &Db, repository_id: i64) -> Result<i64, DbError> {
    with_conn!(db, |conn| Ok(mirrors::table
        .filter(mirrors::repository_id.eq(repository_id))
        .filter(mirrors::direction.eq_any(["push", "pull"]))
        .count()
        .get_result(conn)
        .await?))
}

async fn count_pull_mirrors_of_user(db: &Db, user_id: i64) -> Result<i64, DbError> {
    with_conn!(db, |conn| Ok(mirrors::table
        .filter(mirrors::user_id.eq(user_id))
        .filter(mirrors::direction.eq("pull"))
        .count()
        .get_result(conn)
        .await?))
}

/// Whether `user` may create one more repository.
pub async fn check_new_repository(state: &AppState, user: &User) -> Result<(), AppError> {
    check_disk(state, Write::NewRepository).map_err(AppError::invalid)?;
    let limit = state.settings.quotas.repos_per_user;
    if count_repositories(&state.db, user.id).await? >= limit {
        return Err(AppError::invalid(format!(
            "You have reached this instance's limit of {limit} repositories. Delete one, or ask an administrator to raise GITBLIXT_MAX_REPOS_PER_USER."
        )));
    }
    Ok(())
}

/// Whether `user` may add a push or pull mirror to the repository `repository_id`.
pub async fn check_new_mirror(state: &AppState, user: &User, repository_id: i64, pull: bool) -> Result<(), AppError> {
    let quotas = &state.settings.quotas;
    if count_mirrors_of_repository(&state.db, repository_id).await? >= quotas.mirrors_per_repo {
        return Err(AppError::invalid(format!(
            "This repository has reached this instance's limit of {} mirrors. Remove one first.",
            quotas.mirrors_per_repo
        )));
    }
    if pull && count_pull_mirrors_of_user(&state.db, user.id).await? >= quotas.pull_mirrors_per_user {
        return Err(AppError::invalid(format!(
            "You have reached this instance's limit of {} pull mirrors. Remove one, or ask an administrator to raise GITBLIXT_MAX_PULL_MIRRORS_PER_USER.",
            quotas.pull_mirrors_per_user
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(super::size_text(10 << 30), "10 GiB");
        assert_eq!(super::size_text(1 << 20), "1 MiB");
        assert_eq!(super::size_text(1536 << 20), "1536 MiB");
    }
}
