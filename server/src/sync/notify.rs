//! Telling owners about a mirror's state changes (DESIGN.md "Never silent"): Active → Error,
//! Error → Active, and GitBlixt pausing a mirror whose GitHub side is gone. Once per change, never
//! per failed retry: in-app (the header's Notifications, Settings → Notifications), by e-mail
//! when the instance has SMTP and the owner gave an address, and to the
//! repository's webhooks (`mirror.failed`, `mirror.recovered`; `mirror.synced` after every
//! successful run).

use app::ssr::AppState;
use app::ssr::mirrors::MirrorRow;
use app::ssr::notifications;

/// A state change worth telling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Failed,
    Recovered,
    Paused,
}

impl Change {
    fn kind(self) -> &'static str {
        match self {
            Change::Failed => "mirror.failed",
            Change::Recovered => "mirror.recovered",
            Change::Paused => "mirror.paused",
        }
    }
}

/// Tells the repository's owner and its webhooks; `detail` is the error or the reason for pausing.
pub async fn tell(state: &AppState, mailer: Option<&crate::mail::Mailer>, m: &MirrorRow, change: Change, detail: &str, run_id: Option<i64>) {
    let found = match app::ssr::repos::find_by_id(&state.db, m.repository_id).await {
        Ok(Some(found)) => found,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(error = %e, mirror = m.id, "notification: reading the repository failed");
            return;
        }
    };
    let remote = format!("{}/{}", m.remote_owner, m.remote_name);
    let what = match m.direction.as_str() {
        "push" => format!("The push mirror of {} to {remote}", found.full_name()),
        "pull" => format!("The pull mirror of {} from {remote}", found.full_name()),
        _ => format!("The fetch of {remote} into {}", found.full_name()),
    };
    let title = match change {
        Change::Failed => format!("{what} is failing"),
        Change::Recovered => format!("{what} works again"),
        Change::Paused => format!("{what} was paused by GitBlixt"),
    };
    let body = match change {
        Change::Recovered => "The last sync succeeded.".to_string(),
        _ => detail.to_string(),
    };
    let section = if m.direction == "pull" { "pull-mirroring" } else if m.direction == "push" { "push-mirroring" } else { "fetch-from-remote" };
    let link = format!("/{}/settings#{section}", found.full_name());
    let new = notifications::New {
        user_id: found.repo.owner_id,
        repository_id: Some(m.repository_id),
        mirror_id: Some(m.id),
        kind: change.kind(),
        title: &title,
        body: &body,
        link: &link,
    };
    match notifications::create(&state.db, &new).await {
        Ok(_) => tracing::info!(mirror = m.id, kind = change.kind(), "owner notified"),
        Err(e) => tracing::error!(error = %e, mirror = m.id, "could not store a notification"),
    }
    if let (Some(mailer), Ok(Some(to))) = (mailer, notifications::email_of(&state.db, found.repo.owner_id).await) {
        mailer.send(&to, &title, &body, &link);
    }
    // Webhooks know failed and recovered (a pause follows a failure they were told about).
    if change != Change::Paused {
        hook(state, &found, m, change.kind(), run_id).await;
    }
}

/// A successful run, for webhooks that want every sync.
pub async fn synced(state: &AppState, m: &MirrorRow, run_id: Option<i64>) {
    let Some(hooks) = subscribed(state, m, "mirror.synced").await else { return };
    if let Ok(Some(found)) = app::ssr::repos::find_by_id(&state.db, m.repository_id).await {
        queue(state, &hooks, &found, m, "mirror.synced", run_id).await;
    }
}

/// Queues `event` for the repository's webhooks that want it.
async fn hook(state: &AppState, found: &app::ssr::repos::FoundRepo, m: &MirrorRow, event: &str, run_id: Option<i64>) {
    if let Some(hooks) = subscribed(state, m, event).await {
        queue(state, &hooks, found, m, event, run_id).await;
    }
}

/// The repository's webhooks that want `event`; `None` if there are none (or they could not be
/// read, which is logged).
async fn subscribed(state: &AppState, m: &MirrorRow, event: &str) -> Option<Vec<i64>> {
    match app::ssr::webhooks::subscribed(&state.db, m.repository_id, event).await {
        Ok(hooks) if hooks.is_empty() => None,
        Ok(hooks) => Some(hooks),
        Err(e) => {
            tracing::error!(error = %e, mirror = m.id, event, "could not read the repository's webhooks");
            None
        }
    }
}

/// Queues `event` for `hooks`, with the mirror and the run (per-ref results).
async fn queue(state: &AppState, hooks: &[i64], found: &app::ssr::repos::FoundRepo, m: &MirrorRow, event: &str, run_id: Option<i64>) {
    let run = match run_id {
        Some(id) => app::ssr::mirrors::run_of(&state.db, m.repository_id, id).await.ok().flatten().map(|r| app::ssr::mirror_service::run_view(r, &[])),
        None => None,
    };
    let mirror = app::ssr::mirrors::get(&state.db, m.id).await.ok().flatten();
    let payload = serde_json::json!({
        "event": event,
        "repository": { "id": m.repository_id, "full_name": found.full_name() },
        "mirror": {
            "id": m.id,
            "direction": m.direction,
            "remote": format!("{}/{}", m.remote_owner, m.remote_name),
            "status": mirror.as_ref().map(|x| x.status.clone()),
            "error": mirror.as_ref().and_then(|x| x.last_error.clone()).filter(|_| event != "mirror.synced" && event != "mirror.recovered"),
        },
        "run": run,
    });
    match app::ssr::webhooks::enqueue(&state.db, hooks, event, &payload.to_string()).await {
        Ok(n) => tracing::debug!(mirror = m.id, event, webhooks = n, "webhook deliveries queued"),
        Err(e) => tracing::error!(error = %e, mirror = m.id, event, "could not queue webhook deliveries"),
    }
}
