//! Imports from GitHub (table `imports`): the repository created for an import and the one-time
//! fetch that brings its branches and tags through the sync queue. States are parsed once, here.

use super::db::{Db, DbError, now};
use super::schema::{imports, repositories, users};
use crate::github_repo::GithubRepo;
use crate::with_conn;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, Queryable, Selectable, SelectableHelper};
use diesel_async::RunQueryDsl;

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportState {
    /// Waiting for a sync worker.
    Queued,
    /// Its fetch runs.
    Importing,
    Done,
    Failed,
}

impl ImportState {
    pub const fn as_str(self) -> &'static str {
        match self {
            ImportState::Queued => "queued",
            ImportState::Importing => "importing",
            ImportState::Done => "done",
            ImportState::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [ImportState::Queued, ImportState::Importing, ImportState::Done, ImportState::Failed].into_iter().find(|s| s.as_str() == raw)
    }
}

/// The states of an import that has not finished (the repository is not complete yet).
const RUNNING: [&str; 2] = [ImportState::Queued.as_str(), ImportState::Importing.as_str()];

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = imports)]
struct Row {
    id: i64,
    repository_id: i64,
    user_id: i64,
    mirror_id: Option<i64>,
    remote_owner: String,
    remote_name: String,
    mirror_interval_minutes: Option<i64>,
    state: String,
    error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
}

/// An import, with the repository it fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub id: i64,
    pub repository_id: i64,
    /// `owner/name` of the GitBlixt repository.
    pub repository: String,
    pub user_id: i64,
    /// The one-time fetch doing the work.
    pub mirror_id: Option<i64>,
    /// `owner/name` on GitHub.
    pub remote: String,
    pub mirror_interval_minutes: Option<i64>,
    pub state: ImportState,
    pub error: Option<String>,
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

impl Import {
    fn from_row(row: Row, owner: String, name: String) -> Result<Self, DbError> {
        let state = ImportState::parse(&row.state).ok_or_else(|| DbError::Corrupt(format!("import {} has an unknown state {:?}", row.id, row.state)))?;
        Ok(Import {
            id: row.id,
            repository_id: row.repository_id,
            repository: format!("{owner}/{name}"),
            user_id: row.user_id,
            mirror_id: row.mirror_id,
            remote: format!("{}/{}", row.remote_owner, row.remote_name),
            mirror_interval_minutes: row.mirror_interval_minutes,
            state,
            error: row.error,
            created_at: row.created_at,
            finished_at: row.finished_at,
        })
    }
}

fn remote_key(remote: &GithubRepo) -> String {
    remote.to_string().to_ascii_lowercase()
}

macro_rules! with_repository {
    () => {
        imports::table
            .inner_join(repositories::table.inner_join(users::table))
            .select((Row::as_select(), users::name, repositories::name))
    };
}

fn imports_of(rows: Vec<(Row, String, String)>) -> Result<Vec<Import>, DbError> {
    rows.into_iter().map(|(row, owner, name)| Import::from_row(row, owner, name)).collect()
}

/// Records a queued import of `remote` into `repository_id`. Fails with a unique violation when
/// `user_id` imports `remote` already (see [`running_of`]).
pub async fn create(db: &Db, repository_id: i64, user_id: i64, remote: &GithubRepo, interval: Option<i64>) -> Result<i64, DbError> {
    with_conn!(db, |conn| Ok(diesel::insert_into(imports::table)
        .values((
            imports::repository_id.eq(repository_id),
            imports::user_id.eq(user_id),
            imports::remote_owner.eq(remote.owner()),
            imports::remote_name.eq(remote.name()),
            imports::remote_key.eq(remote_key(remote)),
            imports::mirror_interval_minutes.eq(interval),
            imports::state.eq(ImportState::Queued.as_str()),
            imports::created_at.eq(now()),
        ))
        .returning(imports::id)
        .get_result::<i64>(conn)
        .await?))
}

/// Names the one-time fetch that does the import's work.
pub async fn set_mirror(db: &Db, id: i64, mirror_id: i64) -> Result<(), DbError> {
    with_conn!(db, |conn| {
        diesel::update(imports::table.find(id)).set(imports::mirror_id.eq(Some(mirror_id))).execute(conn).await?;
        Ok(())
    })
}

pub async fn get(db: &Db, id: i64) -> Result<Option<Import>, DbError> {
    let row = with_conn!(db, |conn| Ok::<_, DbError>(with_repository!().filter(imports::id.eq(id)).first(conn).await.optional()?))?;
    row.map(|(row, owner, name)| Import::from_row(row, owner, name)).transpose()
}

/// The import that created `repository_id`, if one did.
pub async fn of_repository(db: &Db, repository_id: i64) -> Result<Option<Import>, DbError> {
    let row = with_conn!(db, |conn| Ok::<_, DbError>(
        with_repository!().filter(imports::repository_id.eq(repository_id)).first(conn).await.optional()?
    ))?;
    row.map(|(row, owner, name)| Import::from_row(row, owner, name)).transpose()
}

/// The import whose work the fetch `mirror_id` does, if any.
pub async fn of_mirror(db: &Db, mirror_id: i64) -> Result<Option<Import>, DbError> {
    let row = with_conn!(db, |conn| Ok::<_, DbError>(with_repository!().filter(imports::mirror_id.eq(mirror_id)).first(conn).await.optional()?))?;
    row.map(|(row, owner, name)| Import::from_row(row, owner, name)).transpose()
}

/// `user_id`'s import of `remote` that has not finished, if any.
pub async fn running_of(db: &Db, user_id: i64, remote: &GithubRepo) -> Result<Option<Import>, DbError> {
    let key = remote_key(remote);
    let row = with_conn!(db, |conn| Ok::<_, DbError>(
        with_repository!()
            .filter(imports::user_id.eq(user_id))
            .filter(imports::remote_key.eq(&key))
            .filter(imports::state.eq_any(RUNNING))
            .first(conn)
            .await
            .optional()?
    ))?;
    row.map(|(row, owner, name)| Import::from_row(row, owner, name)).transpose()
}

/// `user_id`'s imports, newest first.
pub async fn of_user(db: &Db, user_id: i64, limit: i64) -> Result<Vec<Import>, DbError> {
    let rows = with_conn!(db, |conn| Ok::<_, DbError>(
        with_repository!().filter(imports::user_id.eq(user_id)).order(imports::id.desc()).limit(limit).load(conn).await?
    ))?;
    imports_of(rows)
}

/// Lower-case `owner/name` of every GitHub repository `user_id` has imported (and not deleted),
/// with the GitBlixt repository it went to.
pub async fn imported_remotes(db: &Db, user_id: i64) -> Result<Vec<(String, String)>, DbError> {
    let rows = with_conn!(db, |conn| Ok::<_, DbError>(
        with_repository!().filter(imports::user_id.eq(user_id)).order(imports::id.asc()).load(conn).await?
    ))?;
    Ok(imports_of(rows)?.into_iter().map(|i| (i.remote.to_ascii_lowercase(), i.repository)).collect())
}

/// Moves the import of the fetch `mirror_id` to `state` (with `error` for a failure) unless it is
/// done. Returns whether there was such an import.
pub async fn set_state_of_mirror(db: &Db, mirror_id: i64, state: ImportState, error: Option<&str>) -> Result<bool, DbError> {
    let finished = matches!(state, ImportState::Done | ImportState::Failed).then(now);
    with_conn!(db, |conn| Ok(diesel::update(imports::table.filter(imports::mirror_id.eq(mirror_id)).filter(imports::state.ne(ImportState::Done.as_str())))
        .set((imports::state.eq(state.as_str()), imports::error.eq(error), imports::finished_at.eq(finished)))
        .execute(conn)
        .await?
        > 0))
}

/// Whether `repository_id` is being filled by an import that has not finished (pushes wait).
pub async fn running_in(db: &Db, repository_id: i64) -> Result<bool, DbError> {
    let found: Option<i64> = with_conn!(db, |conn| Ok::<_, DbError>(
        imports::table
            .filter(imports::repository_id.eq(repository_id))
            .filter(imports::state.eq_any(RUNNING))
            .select(imports::id)
            .first(conn)
            .await
            .optional()?
    ))?;
    Ok(found.is_some())
}

/// A failed import queued again (Retry). `false` if it had not failed.
pub async fn requeue(db: &Db, id: i64) -> Result<bool, DbError> {
    with_conn!(db, |conn| Ok(diesel::update(imports::table.find(id).filter(imports::state.eq(ImportState::Failed.as_str())))
        .set((imports::state.eq(ImportState::Queued.as_str()), imports::error.eq(None::<String>), imports::finished_at.eq(None::<i64>)))
        .execute(conn)
        .await?
        == 1))
}
