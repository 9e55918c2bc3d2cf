//! The PostgreSQL pool's connection manager: a connection is checked with a round trip only when
//! it has sat idle in the pool.
//!
//! bb8 checks every connection it hands out, and diesel-async's check is a `SELECT 1`: a round
//! trip to the server per checkout. In a burst of mirror runs that was half the statements
//! PostgreSQL ran, each waiting for a server process to get a core. A connection handed back
//! less than [`TRUSTED_FOR`] ago was working then and is handed out as it is (as HikariCP's
//! `aliveBypassWindowMs` does); one idle longer is checked as before, so a restarted server's
//! dead connections are found before a query meets them. A connection whose transaction was
//! left broken is dropped when handed back, as diesel-async's manager does.

use diesel_async::AsyncPgConnection;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, PoolError};
use std::time::{Duration, Instant};

/// How long after it was handed back a connection is trusted without a check.
pub const TRUSTED_FOR: Duration = Duration::from_secs(1);

/// A pooled PostgreSQL connection and when it was last handed back to the pool.
pub struct PgConn {
    conn: AsyncPgConnection,
    returned: Instant,
}

impl PgConn {
    /// Whether it is handed out without a check.
    fn trusted(&self) -> bool {
        self.returned.elapsed() < TRUSTED_FOR
    }

    /// The connection itself (it leaves the pool).
    pub fn into_inner(self) -> AsyncPgConnection {
        self.conn
    }
}

impl std::ops::Deref for PgConn {
    type Target = AsyncPgConnection;
    fn deref(&self) -> &AsyncPgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        &mut self.conn
    }
}

/// diesel-async's manager (its connect, its `SELECT 1` check, its broken test), with the check
/// skipped for a connection handed back within [`TRUSTED_FOR`].
pub struct PgManager {
    inner: AsyncDieselConnectionManager<AsyncPgConnection>,
}

impl PgManager {
    pub fn new(url: impl Into<String>) -> Self {
        PgManager { inner: AsyncDieselConnectionManager::new(url) }
    }
}

impl bb8::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = PoolError;

    async fn connect(&self) -> Result<PgConn, PoolError> {
        let conn = bb8::ManageConnection::connect(&self.inner).await?;
        Ok(PgConn { conn, returned: Instant::now() })
    }

    async fn is_valid(&self, conn: &mut PgConn) -> Result<(), PoolError> {
        if conn.trusted() {
            return Ok(());
        }
        bb8::ManageConnection::is_valid(&self.inner, &mut conn.conn).await
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.returned = Instant::now();
        bb8::ManageConnection::has_broken(&self.inner, &mut conn.conn)
    }
}
