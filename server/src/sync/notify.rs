//! Telling owners about a mirror's state changes (DESIGN.md "Never silent"): Active → Error,
//! Error → Active, and GitBlixt pausing a mirror whose GitHub side is gone. Once per change, never
//! per failed retry. In-app for now (the bell in the header, Settings → Notifications).

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

/// Tells the repository's owner; `detail` is the error or the reason for pausing.
pub async fn tell(state: &AppState, m: &MirrorRow, change: Change, detail: &str) {
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
}
