//! What the first sync of a new push mirror would replace on GitHub, so enabling it onto a
//! non-empty GitHub repository can ask first (DESIGN.md "Nothing lost").

use super::safety::{self, is_branch};
use super::{MirrorError, TransferOptions};
use gix::ObjectId;
use std::path::Path;

pub use app::model::Replacement;

/// Most commits counted per ref (the count is shown as "N commits only on GitHub").
const COUNT_LIMIT: usize = 100_000;

/// Fetches GitHub's heads and tags' objects (no ref changes) and lists what a push mirror of
/// `local_bare_repo` would replace: a GitHub ref GitBlixt lacks (deleted), or one whose tip is not
/// contained in GitBlixt's branch of the same name (overwritten). Blocking.
pub fn preview_push(local_bare_repo: &Path, remote_url: &str, opts: &TransferOptions) -> Result<Vec<Replacement>, MirrorError> {
    let remote = super::fetch::fetch_objects(remote_url, local_bare_repo, opts)?;
    let local_err = |e: Box<dyn std::error::Error + Send + Sync>| MirrorError::Local { detail: e.to_string() };
    let repo = app::ssr::store::open_hosted(local_bare_repo).map_err(|e| MirrorError::Local { detail: e.to_string() })?;
    let local = safety::mirrored_refs(&repo).map_err(local_err)?;
    let mut out = Vec::new();
    for (name, github) in &remote {
        let gitblixt = local.get(name).copied();
        let kept_as_is = match gitblixt {
            Some(l) => l == *github || (is_branch(name) && safety::is_fast_forward(&repo, *github, l)),
            None => false,
        };
        if kept_as_is {
            continue;
        }
        let only = safety::commits_only_in(&repo, *github, local.values().copied(), COUNT_LIMIT) as u64;
        out.push(Replacement {
            name: name.clone(),
            github: github.to_string(),
            gitblixt: gitblixt.map(|id: ObjectId| id.to_string()),
            commits_only_on_github: only,
        });
    }
    Ok(out)
}

/// The engine as the web code sees it ([`app::ssr::Engine`]).
pub struct GixEngine;

impl app::ssr::Engine for GixEngine {
    fn preview_push(
        &self,
        local: std::path::PathBuf,
        remote_url: String,
        token: secrecy::SecretString,
    ) -> futures_util::future::BoxFuture<'static, Result<Vec<Replacement>, String>> {
        Box::pin(async move {
            let opts = TransferOptions { token: Some(token), timeout: std::time::Duration::from_secs(600), ..TransferOptions::default() };
            super::preview_push(&local, &remote_url, &opts).await.map_err(|e| e.to_string())
        })
    }
}
