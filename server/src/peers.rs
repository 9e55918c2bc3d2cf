//! Several GitBlixt processes on one PostgreSQL database: a change to a repository's mirrors in
//! one process (a request, a claim, a finished run) is announced to the others with
//! `NOTIFY gitblixt_mirrors`, so their sync workers wake at once and their live pages update.
//! Each process `LISTEN`s on a dedicated connection, reconnecting after errors. (SQLite means one
//! process: nothing to do.)

use app::ssr::AppState;
use app::ssr::db::{Db, DbLocation};
use app::ssr::events::MirrorEvent;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use std::time::Duration;

const CHANNEL: &str = "gitblixt_mirrors";

/// Starts relaying, if the database is PostgreSQL. The tasks stop when the returned guard drops.
pub fn start(state: &AppState, database_url: &str) -> Option<Relay> {
    if !matches!(state.db, Db::Postgres(_)) {
        return None;
    }
    let Ok(DbLocation::Postgres(url)) = DbLocation::parse(database_url) else { return None };
    let instance = format!("{}-{:x}", std::process::id(), rand_id());
    let tasks = vec![
        tokio::spawn(announce(state.clone(), instance.clone())),
        tokio::spawn(listen(state.clone(), url, instance)),
    ];
    Some(Relay { tasks })
}

pub struct Relay {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn rand_id() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
}

/// `<instance> <repository id> <syncs requested>`
fn payload(instance: &str, repository_id: i64, requested: usize) -> String {
    format!("{instance} {repository_id} {requested}")
}

/// A notification's sender, repository and number of syncs requested.
fn parse(payload: &str) -> Option<(&str, i64, usize)> {
    let mut fields = payload.split(' ');
    let (instance, id, requested) = (fields.next()?, fields.next()?, fields.next()?);
    if fields.next().is_some() {
        return None;
    }
    Some((instance, id.parse().ok()?, requested.parse().ok()?))
}

/// Sends this process's changes to the others: what came in while the last notifications were
/// sent goes out together, one notification per repository (its requested syncs summed) in one
/// statement — in a burst of pushes, one round trip to the database instead of one per event.
async fn announce(state: AppState, instance: String) {
    let Db::Postgres(pool) = &state.db else { return };
    let mut events = state.events.subscribe_mirrors();
    while let Some(batch) = next_batch(&mut events).await {
        let payloads: Vec<String> = batch.into_iter().map(|(repository_id, requested)| payload(&instance, repository_id, requested)).collect();
        let sent = async {
            let mut conn = pool.get().await.map_err(|e| e.to_string())?;
            diesel::sql_query("SELECT pg_notify($1, p) FROM unnest($2) AS p")
                .bind::<diesel::sql_types::Text, _>(CHANNEL)
                .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(payloads)
                .execute(&mut **conn)
                .await
                .map_err(|e| e.to_string())
        };
        if let Err(e) = sent.await {
            tracing::warn!(error = %e, "could not tell other processes about a mirror change");
        }
    }
}

/// This process's mirror changes (not those relayed from peers): waits for one, then takes every
/// one already queued; by repository, the syncs requested summed. `None` once the events end.
async fn next_batch(events: &mut tokio::sync::broadcast::Receiver<MirrorEvent>) -> Option<std::collections::BTreeMap<i64, usize>> {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    fn add(batch: &mut std::collections::BTreeMap<i64, usize>, event: MirrorEvent) {
        if let MirrorEvent::Changed { repository_id, from_peer: false, requested } = event {
            *batch.entry(repository_id).or_insert(0) += requested;
        }
    }
    let mut batch = std::collections::BTreeMap::new();
    loop {
        match events.recv().await {
            Ok(event) => add(&mut batch, event),
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return None,
        }
        loop {
            match events.try_recv() {
                Ok(event) => add(&mut batch, event),
                Err(TryRecvError::Lagged(_)) => continue,
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if !batch.is_empty() {
            return Some(batch);
        }
    }
}

/// Receives the others' changes: wakes the workers and updates live pages.
async fn listen(state: AppState, url: String, instance: String) {
    let mut delay = Duration::from_millis(500);
    loop {
        match listen_once(&state, &url, &instance).await {
            Ok(()) => delay = Duration::from_millis(500),
            Err(e) => tracing::warn!(error = %e, "listening for other processes' mirror changes failed; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}

async fn listen_once(state: &AppState, url: &str, instance: &str) -> Result<(), diesel::result::Error> {
    let mut conn = AsyncPgConnection::establish(url).await.map_err(|e| diesel::result::Error::QueryBuilderError(e.to_string().into()))?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn).await?;
    tracing::debug!("listening for other processes' mirror changes");
    // Whatever happened while not listening: wake every worker, they look at the queue.
    state.sync_wake.everyone();
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    while let Some(notification) = notifications.next().await {
        let notification = notification?;
        match parse(&notification.payload) {
            Some((from, _, _)) if from == instance => {}
            Some((_, repository_id, requested)) => {
                // As many workers as the other process asked syncs for (it wakes as many of its
                // own: whoever claims first runs them); a finished run asks for none.
                state.sync_wake.requested(requested);
                state.events.mirrors_changed_by_peer(repository_id, requested);
            }
            None => tracing::debug!(payload = %notification.payload, "ignored a malformed notification"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_round_trip() {
        assert_eq!(super::parse(&super::payload("12-ab", 42, 3)), Some(("12-ab", 42, 3)));
        assert_eq!(super::parse("garbage"), None);
        assert_eq!(super::parse("a b"), None);
        assert_eq!(super::parse("a 1 2 3"), None);
    }

    /// Queued changes go out together, per repository, requests summed; changes relayed from a
    /// peer are not sent back; a batch waits for at least one change of this process.
    #[tokio::test]
    async fn a_batch_sums_the_queued_changes_by_repository() {
        use app::ssr::events::MirrorEvent::Changed;
        let (tx, mut rx) = tokio::sync::broadcast::channel(16);
        for (repository_id, from_peer, requested) in [(7, false, 1), (3, false, 0), (7, false, 2), (9, true, 5), (3, false, 1)] {
            tx.send(Changed { repository_id, from_peer, requested }).unwrap();
        }
        let batch = super::next_batch(&mut rx).await.unwrap();
        assert_eq!(batch.into_iter().collect::<Vec<_>>(), vec![(3, 1), (7, 3)]);
        tx.send(Changed { repository_id: 9, from_peer: true, requested: 1 }).unwrap();
        tx.send(Changed { repository_id: 4, from_peer: false, requested: 0 }).unwrap();
        let batch = super::next_batch(&mut rx).await.unwrap();
        assert_eq!(batch.into_iter().collect::<Vec<_>>(), vec![(4, 0)]);
        drop(tx);
        assert!(super::next_batch(&mut rx).await.is_none());
    }
}
