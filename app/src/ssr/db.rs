//! The database: a pool for SQLite (the embedded default) or PostgreSQL (several instances),
//! the embedded migrations, and [`with_conn!`](crate::with_conn) to run one piece of diesel
//! code on whichever backend is configured.

use diesel::Connection;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

pub type SqliteConn = SyncConnectionWrapper<diesel::SqliteConnection>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("no database connection available: {0}")]
    Pool(String),
    #[error("database connection failed: {0}")]
    Connect(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("unsupported DATABASE_URL: {0} (expected sqlite://<path>, a file path, or postgres://…)")]
    UnsupportedUrl(String),
    /// A row holds a value GitBlixt does not know (written by a newer version, or by hand).
    #[error("invalid value in the database: {0}")]
    Corrupt(String),
}

impl<E: std::error::Error + 'static> From<bb8::RunError<E>> for DbError {
    fn from(e: bb8::RunError<E>) -> Self {
        DbError::Pool(e.to_string())
    }
}

impl From<diesel_async::pooled_connection::PoolError> for DbError {
    fn from(e: diesel_async::pooled_connection::PoolError) -> Self {
        DbError::Connect(e.to_string())
    }
}

impl DbError {
    /// Whether the error is a unique constraint violation (e.g. a name already taken).
    pub fn is_unique_violation(&self) -> bool {
        matches!(
            self,
            DbError::Query(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _
            ))
        )
    }
}

/// The configured backend's pool.
#[derive(Clone)]
pub enum Db {
    Sqlite(Pool<SqliteConn>),
    Postgres(bb8::Pool<crate::ssr::pg_pool::PgManager>),
}

/// Where the database is, parsed from `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbLocation {
    Sqlite(String),
    Postgres(String),
}

impl DbLocation {
    pub fn parse(url: &str) -> Result<Self, DbError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(DbLocation::Postgres(url.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            Ok(DbLocation::Sqlite(path.to_string()))
        } else if let Some(path) = url.strip_prefix("sqlite:") {
            Ok(DbLocation::Sqlite(path.to_string()))
        } else if !url.is_empty() && !url.contains("://") {
            Ok(DbLocation::Sqlite(url.to_string()))
        } else {
            Err(DbError::UnsupportedUrl(redact_url(url)))
        }
    }
}

/// A URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl Db {
    /// Connects, runs pending migrations, and returns the pool.
    pub async fn connect(location: &DbLocation, max_connections: u32) -> Result<Self, DbError> {
        match location {
            DbLocation::Sqlite(path) => {
                let path = path.clone();
                // Migrations on a plain connection on a blocking thread (works on any runtime).
                let migrate_path = path.clone();
                tokio::task::spawn_blocking(move || -> Result<(), DbError> {
                    let mut conn = diesel::SqliteConnection::establish(&migrate_path)
                        .map_err(|e| DbError::Connect(e.to_string()))?;
                    diesel::connection::SimpleConnection::batch_execute(&mut conn, "PRAGMA journal_mode = WAL;")?;
                    conn.run_pending_migrations(SQLITE_MIGRATIONS).map_err(|e| DbError::Migration(e.to_string()))?;
                    Ok(())
                })
                .await
                .map_err(|e| DbError::Migration(e.to_string()))??;

                let mut config = ManagerConfig::<SqliteConn>::default();
                config.custom_setup = Box::new(|url: &str| {
                    let url = url.to_string();
                    async move {
                        let mut conn = SqliteConn::establish(&url).await?;
                        conn.batch_execute(
                            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; \
                             PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL;",
                        )
                        .await
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    }
                    .boxed()
                });
                let manager = AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, config);
                let pool = Pool::builder().max_size(max_connections).build(manager).await?;
                Ok(Db::Sqlite(pool))
            }
            DbLocation::Postgres(url) => {
                let manager = crate::ssr::pg_pool::PgManager::new(url.clone());
                let pool = bb8::Pool::builder().max_size(max_connections).build(manager).await?;
                let conn = pool.dedicated_connection().await.map_err(|e| DbError::Connect(e.to_string()))?.into_inner();
                // The harness blocks; run it on a blocking thread so any runtime flavour works.
                let handle = tokio::runtime::Handle::current();
                tokio::task::spawn_blocking(move || -> Result<(), DbError> {
                    let _guard = handle.enter();
                    let mut harness = diesel_async::AsyncMigrationHarness::new(conn);
                    harness.run_pending_migrations(POSTGRES_MIGRATIONS).map_err(|e| DbError::Migration(e.to_string()))?;
                    Ok(())
                })
                .await
                .map_err(|e| DbError::Migration(e.to_string()))??;
                Ok(Db::Postgres(pool))
            }
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

/// Runs `$body` with `$conn` bound to a `&mut` connection of the configured backend.
/// The body is compiled once per backend; errors convert into [`DbError`].
#[macro_export]
macro_rules! with_conn {
    ($db:expr, |$conn:ident| $body:expr) => {
        match $db {
            $crate::ssr::db::Db::Sqlite(pool) => {
                let mut guard = pool.get().await.map_err($crate::ssr::db::DbError::from)?;
                let $conn = &mut *guard;
                $body
            }
            $crate::ssr::db::Db::Postgres(pool) => {
                let mut guard = pool.get().await.map_err($crate::ssr::db::DbError::from)?;
                let $conn = &mut **guard;
                $body
            }
        }
    };
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_database_urls() {
        assert_eq!(DbLocation::parse("data/x.db").unwrap(), DbLocation::Sqlite("data/x.db".into()));
        assert_eq!(DbLocation::parse("sqlite:///tmp/x.db").unwrap(), DbLocation::Sqlite("/tmp/x.db".into()));
        assert!(matches!(DbLocation::parse("postgres://u:p@h/db").unwrap(), DbLocation::Postgres(_)));
        let err = DbLocation::parse("mysql://u:secret@h/db").unwrap_err().to_string();
        assert!(!err.contains("secret"), "{err}");
    }
}
