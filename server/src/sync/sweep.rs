//! The convergence sweep (DESIGN.md "Never silent"): at start and every minute, each healthy push
//! mirror's digest of what it last pushed is compared with its repository's heads and tags — local
//! reads only, no network — and a sync is requested where they differ. Whatever trigger was lost
//! (a crash between a push and its request, a receive-pack that died before its hook), GitHub
//! catches up within one period.

use app::ssr::AppState;
use app::ssr::mirror_service;
use app::ssr::mirrors::{self, Trigger};
use std::collections::BTreeMap;
use std::time::Duration;

pub async fn every(state: AppState, period: Duration) {
    loop {
        match pass(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(mirrors = n, "convergence sweep: push mirrors behind their repository were requested"),
            Err(e) => tracing::error!(error = %e, "convergence sweep failed"),
        }
        tokio::time::sleep(period).await;
    }
}

/// One pass; returns how many mirrors it requested.
pub async fn pass(state: &AppState) -> Result<usize, String> {
    let candidates = mirrors::sweep_candidates(&state.db).await.map_err(|e| e.to_string())?;
    let mut by_repository: BTreeMap<i64, Vec<mirrors::SweepItem>> = BTreeMap::new();
    for item in candidates {
        by_repository.entry(item.repository_id).or_default().push(item);
    }
    let mut requested = 0;
    for (repository_id, items) in by_repository {
        let Some(found) = app::ssr::repos::find_by_id(&state.db, repository_id).await.map_err(|e| e.to_string())? else { continue };
        let path = found.path(&state.store);
        let digest = match tokio::task::spawn_blocking(move || digest_of(&path)).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::warn!(repository = %found.full_name(), error = %e, "convergence sweep could not read a repository");
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let mut here = 0;
        for item in items.iter().filter(|i| i.pushed_digest.as_deref() != Some(digest.as_str())) {
            mirrors::request_sync(&state.db, item.id, Trigger::Sweep).await.map_err(|e| e.to_string())?;
            tracing::debug!(mirror = item.id, repository = %found.full_name(), "push mirror behind its repository: sync requested");
            here += 1;
        }
        if here > 0 {
            mirror_service::requested(state, repository_id, here);
            requested += here;
        }
    }
    Ok(requested)
}

/// The digest of the repository's heads and tags, as [`mirrors::refs_digest`] computes it.
fn digest_of(path: &std::path::Path) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let repo = app::ssr::store::open_hosted(path)?;
    let refs = crate::mirror::safety::mirrored_refs(&repo)?;
    let ids: Vec<(&str, String)> = refs.iter().map(|(name, id)| (name.as_str(), id.to_string())).collect();
    Ok(mirrors::refs_digest(ids.iter().map(|(n, i)| (*n, i.as_str()))))
}
