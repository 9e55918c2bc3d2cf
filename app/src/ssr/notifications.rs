//! In-app notifications: what GitBlixt tells a user (a mirror of theirs failed, recovered, was
//! paused). One row per state change, never per failed retry.

use super::db::{Db, DbError, now};
use super::schema::{notifications, users};
use crate::model::NotificationView;
use crate::with_conn;
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;

/// A notification to write.
#[derive(Debug, Clone)]
pub struct New<'a> {
    pub user_id: i64,
    pub repository_id: Option<i64>,
    pub mirror_id: Option<i64>,
    /// `mirror.failed`, `mirror.recovered`, `mirror.paused`
    pub kind: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    /// Where to look (a path of this instance).
    pub link: &'a str,
}

#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = notifications)]
struct Row {
    id: i64,
    kind: String,
    title: String,
    body: String,
    link: String,
    created_at: i64,
    read_at: Option<i64>,
}

pub async fn create(db: &Db, n: &New<'_>) -> Result<i64, DbError> {
    let at = now();
    with_conn!(db, |conn| Ok(diesel::insert_into(notifications::table)
        .values((
            notifications::user_id.eq(n.user_id),
            notifications::repository_id.eq(n.repository_id),
            notifications::mirror_id.eq(n.mirror_id),
            notifications::kind.eq(n.kind),
            notifications::title.eq(n.title),
            notifications::body.eq(n.body),
            notifications::link.eq(n.link),
            notifications::created_at.eq(at),
        ))
        .returning(notifications::id)
        .get_result::<i64>(conn)
        .await?))
}

/// The user's latest notifications, newest first.
pub async fn list(db: &Db, user_id: i64, limit: i64) -> Result<Vec<NotificationView>, DbError> {
    let rows: Vec<Row> = with_conn!(db, |conn| Ok::<_, DbError>(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .order(notifications::id.desc())
            .limit(limit)
            .select(Row::as_select())
            .load(conn)
            .await?
    ))?;
    Ok(rows
        .into_iter()
        .map(|r| NotificationView { id: r.id, kind: r.kind, title: r.title, body: r.body, link: r.link, created_at: r.created_at, read: r.read_at.is_some() })
        .collect())
}

pub async fn unread_count(db: &Db, user_id: i64) -> Result<i64, DbError> {
    with_conn!(db, |conn| Ok(notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::read_at.is_null())
        .count()
        .get_result(conn)
        .await?))
}

/// Marks all of the user's notifications read.
pub async fn mark_all_read(db: &Db, user_id: i64) -> Result<usize, DbError> {
    let at = now();
    with_conn!(db, |conn| Ok(diesel::update(notifications::table.filter(notifications::user_id.eq(user_id)).filter(notifications::read_at.is_null()))
        .set(notifications::read_at.eq(Some(at)))
        .execute(conn)
        .await?))
}

/// Whether the user was told `kind` at or after `since`.
pub async fn told_since(db: &Db, user_id: i64, kind: &str, since: i64) -> Result<bool, DbError> {
    let n: i64 = with_conn!(db, |conn| Ok::<_, DbError>(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::kind.eq(kind))
            .filter(notifications::created_at.ge(since))
            .count()
            .get_result(conn)
            .await?
    ))?;
    Ok(n > 0)
}

/// Checks an e-mail address for notifications (the page's message on failure).
pub fn check_email(raw: &str) -> Result<String, crate::error::AppError> {
    let email = raw.trim();
    let bad = || crate::error::AppError::invalid("Enter an e-mail address like you@example.com.");
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let fine = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_graphic() && !matches!(c, '@' | '<' | '>' | '"' | ',' | ';' | '\\'));
    if email.len() > 254 || !fine(local) || !fine(domain) || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        return Err(bad());
    }
    Ok(email.to_string())
}

/// Sets (or with `None` clears) where the user's notifications are e-mailed.
pub async fn set_email(db: &Db, user_id: i64, email: Option<&str>) -> Result<(), DbError> {
    with_conn!(db, |conn| {
        diesel::update(users::table.find(user_id)).set(users::email.eq(email)).execute(conn).await?;
        Ok(())
    })
}

pub async fn email_of(db: &Db, user_id: i64) -> Result<Option<String>, DbError> {
    with_conn!(db, |conn| Ok(users::table.find(user_id).select(users::email).first::<Option<String>>(conn).await?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn email_addresses_are_checked() {
        assert_eq!(super::check_email(" you@example.com ").unwrap(), "you@example.com");
        for bad in ["", "you", "you@", "@example.com", "you@example", "a b@example.com", "you@example.com>", "x@.com", "you@exa,mple.com"] {
            assert!(super::check_email(bad).is_err(), "{bad}");
        }
    }
}
