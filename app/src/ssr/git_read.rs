//! Reading a hosted repository with gix: branches, tags, the default branch and its latest commits.

use crate::model::{BranchInfo, CommitInfo, TagInfo};
use gix::bstr::ByteSlice;
use gix::revision::walk::Sorting;
use gix::traverse::commit::simple::CommitTimeOrder;
use std::path::Path;

/// What the repository page shows of the git data.
#[derive(Debug, Clone, Default)]
pub struct RepoContents {
    pub default_branch: String,
    pub branches: Vec<BranchInfo>,
    pub tags: Vec<TagInfo>,
    pub commits: Vec<CommitInfo>,
}

/// Reads a bare repository, isolated from any user or system git configuration.
/// Blocking: call from `spawn_blocking`.
pub fn read_contents(path: &Path, max_commits: usize) -> Result<RepoContents, gix::Error> {
    let repo = gix::open_opts(path, gix::open::Options::isolated())?;
    let default_branch = repo
        .head_name()?
        .map(|n| n.shorten().to_str_lossy().into_owned())
        .unwrap_or_default();

    let refs = repo.references()?;
    let mut branches = Vec::new();
    for r in refs.local_branches()? {
        let mut r = r?;
        let name = r.name().shorten().to_str_lossy().into_owned();
        let commit = r.peel_to_id()?.to_string();
        let is_default = name == default_branch;
        branches.push(BranchInfo { name, commit, is_default });
    }
    branches.sort_by(|a, b| b.is_default.cmp(&a.is_default).then_with(|| a.name.cmp(&b.name)));

    let mut tags = Vec::new();
    for r in refs.tags()? {
        let mut r = r?;
        let name = r.name().shorten().to_str_lossy().into_owned();
        let Some(direct) = r.try_id() else { continue };
        let annotated = direct.header()?.kind() == gix::object::Kind::Tag;
        let target = r.peel_to_id()?.to_string();
        tags.push(TagInfo { name, target, annotated });
    }
    tags.sort_by(|a, b| b.name.cmp(&a.name));

    let mut commits = Vec::new();
    let head = repo.head()?;
    if !head.is_unborn() {
        let tip = repo.head_id()?;
        let walk = repo
            .rev_walk([tip.detach()])
            .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
            .all()?;
        for info in walk.take(max_commits) {
            let info = info?;
            let commit = info.object()?;
            let summary = commit.message()?.summary().to_str_lossy().into_owned();
            let author = commit.author()?;
            commits.push(CommitInfo {
                id: info.id.to_string(),
                summary,
                author: author.name.to_str_lossy().into_owned(),
                time: author.seconds(),
            });
        }
    }
    Ok(RepoContents { default_branch, branches, tags, commits })
}

/// When HEAD names a branch that does not exist (an empty repository, or pushes that never
/// created the default branch) but other branches do: the branch HEAD should point at instead —
/// `main`, `master`, or the first by name. `None` when HEAD is fine or there are no branches.
pub fn branch_for_unborn_head(path: &Path) -> Result<Option<String>, gix::Error> {
    let repo = gix::open_opts(path, gix::open::Options::isolated())?;
    if !repo.head()?.is_unborn() {
        return Ok(None);
    }
    let mut names = Vec::new();
    for r in repo.references()?.local_branches()? {
        names.push(r?.name().shorten().to_str_lossy().into_owned());
    }
    names.sort();
    Ok(["main", "master"]
        .iter()
        .find(|p| names.iter().any(|n| n == *p))
        .map(|s| s.to_string())
        .or_else(|| names.into_iter().next()))
}
