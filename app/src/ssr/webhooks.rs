//! Repository webhooks for mirror events (DESIGN.md "Never silent"): Settings → Webhooks adds a
//! URL, a secret and the events it wants; events are queued as deliveries in the database, and a
//! background task posts them (signed `X-GitBlixt-Signature-256`, like GitHub's
//! `X-Hub-Signature-256`), retrying with backoff — never in the way of a sync.

use super::crypto::Cipher;
use super::db::{Db, DbError, now};
use super::schema::{webhook_deliveries, webhooks};
use crate::error::AppError;
use crate::model::{DeliveryView, WEBHOOK_EVENTS, WebhookView};
use crate::with_conn;
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use secrecy::SecretString;

/// Deliveries listed per webhook.
pub const DELIVERIES_SHOWN: i64 = 10;
/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: i64 = 6;
const SECRET_CONTEXT: &str = "webhook-secret";

#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = webhooks)]
struct HookRow {
    id: i64,
    url: String,
    secret: String,
    events: String,
    created_at: i64,
}

#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = webhook_deliveries)]
struct DeliveryRow {
    id: i64,
    webhook_id: i64,
    event: String,
    payload: String,
    status: String,
    attempts: i64,
    response_code: Option<i64>,
    error: Option<String>,
    created_at: i64,
}

/// Checks a webhook's URL, secret and events; the messages are the page's.
pub fn validate(url: &str, secret: &str, events: &[String]) -> Result<(), AppError> {
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).map_err(|_| AppError::invalid("Enter the webhook's URL, starting with https:// (or http://)."))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() || url.len() > 2000 {
        return Err(AppError::invalid("Enter the webhook's URL, starting with https:// (or http://)."));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(AppError::invalid("Put no credentials in the webhook's URL: the secret signs every delivery."));
    }
    if secret.len() < 8 || secret.len() > 200 {
        return Err(AppError::invalid("The secret must be 8 to 200 characters long."));
    }
    if events.is_empty() || events.iter().any(|e| !WEBHOOK_EVENTS.iter().any(|(name, _)| name == e)) {
        return Err(AppError::invalid("Choose at least one event: mirror.failed, mirror.recovered or mirror.synced."));
    }
    Ok(())
}

pub async fn create(db: &Db, cipher: &Cipher, repository_id: i64, url: &str, secret: &str, events: &[String]) -> Result<i64, AppError> {
    validate(url, secret, events)?;
    let sealed = cipher.encrypt(secret, SECRET_CONTEXT).map_err(|e| super::web::internal("sealing a webhook secret", e))?;
    Ok(insert(db, repository_id, url.trim(), &sealed, &events.join(",")).await?)
}

async fn insert(db: &Db, repository_id: i64, url: &str, sealed: &str, events: &str) -> Result<i64, DbError> {
    let at = now();
    with_conn!(db, |conn| Ok(diesel::insert_into(webhooks::table)
        .values((
            webhooks::repository_id.eq(repository_id),
            webhooks::url.eq(url),
            webhooks::secret.eq(sealed),
            webhooks::events.eq(events),
            webhooks::created_at.eq(at),
        ))
        .returning(webhooks::id)
        .get_result::<i64>(conn)
        .await?))
}

pub async fn delete(db: &Db, repository_id: i64, id: i64) -> Result<bool, DbError> {
    with_conn!(db, |conn| Ok(diesel::delete(webhooks::table.find(id).filter(webhooks::repository_id.eq(repository_id))).execute(conn).await? == 1))
}

fn delivery_view(d: DeliveryRow) -> DeliveryView {
    DeliveryView { id: d.id, event: d.event, status: d.status, attempts: d.attempts, response_code: d.response_code, error: d.error, created_at: d.created_at }
}

/// The repository's webhooks with their latest deliveries.
pub async fn list(db: &Db, repository_id: i64) -> Result<Vec<WebhookView>, DbError> {
    let hooks: Vec<HookRow> = with_conn!(db, |conn| Ok::<_, DbError>(
        webhooks::table.filter(webhooks::repository_id.eq(repository_id)).order(webhooks::id.asc()).select(HookRow::as_select()).load(conn).await?
    ))?;
    let mut out = Vec::new();
    for h in hooks {
        let deliveries: Vec<DeliveryRow> = with_conn!(db, |conn| Ok::<_, DbError>(
            webhook_deliveries::table
                .filter(webhook_deliveries::webhook_id.eq(h.id))
                .order(webhook_deliveries::id.desc())
                .limit(DELIVERIES_SHOWN)
                .select(DeliveryRow::as_select())
                .load(conn)
                .await?
        ))?;
        out.push(WebhookView {
            id: h.id,
            url: h.url,
            events: h.events.split(',').map(str::to_string).collect(),
            created_at: h.created_at,
            deliveries: deliveries.into_iter().map(delivery_view).collect(),
        });
    }
    Ok(out)
}

/// The repository's webhooks that want `event` (most repositories have none: a run asks this
/// before it builds the payload, which takes three more queries).
pub async fn subscribed(db: &Db, repository_id: i64, event: &str) -> Result<Vec<i64>, DbError> {
    let hooks: Vec<(i64, String)> = with_conn!(db, |conn| Ok::<_, DbError>(
        webhooks::table.filter(webhooks::repository_id.eq(repository_id)).select((webhooks::id, webhooks::events)).load(conn).await?
    ))?;
    Ok(hooks.into_iter().filter(|(_, events)| events.split(',').any(|e| e == event)).map(|(id, _)| id).collect())
}

/// Queues `event` with `payload` (JSON) for each of `hooks` (see [`subscribed`]). Returns how
/// many deliveries were queued.
pub async fn enqueue(db: &Db, hooks: &[i64], event: &str, payload: &str) -> Result<usize, DbError> {
    let at = now();
    for &id in hooks {
        with_conn!(db, |conn| {
            diesel::insert_into(webhook_deliveries::table)
                .values((
                    webhook_deliveries::webhook_id.eq(id),
                    webhook_deliveries::event.eq(event),
                    webhook_deliveries::payload.eq(payload),
                    webhook_deliveries::status.eq("pending"),
                    webhook_deliveries::next_attempt_at.eq(Some(at)),
                    webhook_deliveries::created_at.eq(at),
                ))
                .execute(conn)
                .await?;
            Ok::<_, DbError>(())
        })?;
    }
    Ok(hooks.len())
}

/// A delivery to attempt now.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: i64,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
    pub url: String,
    pub secret: SecretString,
}

/// Pending deliveries whose time has come (oldest first, at most `limit`).
pub async fn due(db: &Db, cipher: &Cipher, limit: i64) -> Result<Vec<Due>, DbError> {
    let at = now();
    let rows: Vec<(DeliveryRow, HookRow)> = with_conn!(db, |conn| Ok::<_, DbError>(
        webhook_deliveries::table
            .inner_join(webhooks::table)
            .filter(webhook_deliveries::status.eq("pending"))
            .filter(webhook_deliveries::next_attempt_at.le(at))
            .order(webhook_deliveries::id.asc())
            .limit(limit)
            .select((DeliveryRow::as_select(), HookRow::as_select()))
            .load(conn)
            .await?
    ))?;
    Ok(rows
        .into_iter()
        .filter_map(|(d, h)| match cipher.decrypt(&h.secret, SECRET_CONTEXT) {
            Ok(secret) => Some(Due { id: d.id, event: d.event, payload: d.payload, attempts: d.attempts, url: h.url, secret }),
            Err(e) => {
                tracing::error!(error = %e, webhook = d.webhook_id, "a webhook secret could not be decrypted");
                None
            }
        })
        .collect())
}

/// Records an attempt: delivered, or retried at `retry_at`, or given up (`retry_at` `None`).
pub async fn record_attempt(db: &Db, id: i64, code: Option<u16>, error: Option<&str>, delivered: bool, retry_at: Option<i64>) -> Result<(), DbError> {
    let at = now();
    let status = if delivered { "delivered" } else if retry_at.is_some() { "pending" } else { "failed" };
    with_conn!(db, |conn| {
        diesel::update(webhook_deliveries::table.find(id))
            .set((
                webhook_deliveries::status.eq(status),
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                webhook_deliveries::response_code.eq(code.map(i64::from)),
                webhook_deliveries::error.eq(error),
                webhook_deliveries::next_attempt_at.eq(retry_at),
                webhook_deliveries::finished_at.eq((status != "pending").then_some(at)),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}
