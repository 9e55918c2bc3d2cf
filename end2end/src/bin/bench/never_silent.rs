//! `make bench`, never-silent section (issue 13):
//!
//! 1. Lag under load: `MIRRORS` repositories, each with a push mirror to its own repository on the
//!    GitHub double, receive one `git push` each, all at once (one thread per push); for each, the
//!    time from the end of its `git push` until the double has the new ref. p50/p95/p99, for
//!    several numbers of sync workers (the default's row marked): how the default was chosen.
//! 2. The convergence sweep's cost: `SWEPT` push mirrors (100 repositories × 100 mirrors) that are
//!    all in sync, in SQLite; the median time of one sweep pass (database read + every
//!    repository's heads and tags + digests), and how many syncs it requested (should be none).

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::mirrors::{self, Direction};
use app::ssr::{accounts, repos};
use crate::ref_watch::RefWatch;
use github_double::github::GithubDouble;
use github_double::gitcli::run as git;
use std::path::Path;
use std::time::{Duration, Instant};

const MIRRORS: usize = 100;
const REPOS_SWEPT: usize = 100;
const MIRRORS_PER_REPO: usize = 100;
const TIMEOUT: Duration = Duration::from_secs(120);

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The numbers of sync workers the lag is measured with (`GITBLIXT_BENCH_SYNC_WORKERS`, a
/// comma-separated list, replaces them: repeated runs of one setting show the noise).
const WORKERS: [usize; 4] = [4, 8, 16, 32];

fn worker_counts() -> Result<Vec<usize>, String> {
    match std::env::var("GITBLIXT_BENCH_SYNC_WORKERS") {
        Ok(list) => list.split(',').map(|n| n.trim().parse::<usize>().ok().filter(|&n| n > 0).ok_or(format!("GITBLIXT_BENCH_SYNC_WORKERS: {n:?} is not a positive number"))).collect(),
        Err(_) => Ok(WORKERS.to_vec()),
    }
}

pub async fn run(scratch: &Path) -> Result<(), String> {
    let default = gitblixt::sync::SyncConfig::default().workers;
    println!("| never silent: {MIRRORS} push mirrors of one owner, one `git push` each, all at once: end of `git push` → GitHub double has the ref | p50 | p95 | p99 | max |");
    println!("|---|---|---|---|---|");
    for workers in worker_counts()? {
        let mut sorted = lag_under_load(scratch, workers).await?;
        sorted.sort();
        let marked = if workers == default { " (the default)" } else { "" };
        println!(
            "| {workers} sync workers{marked} | {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms |",
            ms(percentile(&sorted, 0.5)),
            ms(percentile(&sorted, 0.95)),
            ms(percentile(&sorted, 0.99)),
            ms(sorted[sorted.len() - 1])
        );
    }
    println!();
    sweep_cost(scratch).await
}

/// Each mirror's lag, with `workers` sync workers.
async fn lag_under_load(scratch: &Path, workers: usize) -> Result<Vec<Duration>, String> {
    let root = scratch.join("never-silent-lag");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(err)?;
    let double = GithubDouble::start().await.map_err(err)?;
    let github_token = double.issue_token("octocat", &["repo"]);
    // The MIRRORS pushes arrive at once; with the default cap on git processes (4 per core) most
    // would be answered 503 "busy" (by design). This measures the mirrors' lag, so every push is
    // let in.
    let crate::push_mirror::Connected { server, user, token } = crate::push_mirror::start_connected(&root, &double, &github_token, |c| {
        c.limits.git_processes = 2 * MIRRORS;
        c.sync.workers = workers;
    })
    .await?;
    let st = server.state.clone();

    // MIRRORS repositories with one commit each, mirrored and in sync.
    let work = root.join("work");
    git(&root, &["init", "-q", "-b", "main", work.to_str().ok_or("path")?])?;
    std::fs::write(work.join("README"), "bench\n").map_err(err)?;
    git(&work, &["add", "-A"])?;
    git(&work, &["-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-q", "-m", "first"])?;
    let mut remotes = Vec::new();
    for n in 0..MIRRORS {
        let name = format!("lag-{n}");
        let repo = repos::create(&st.db, &st.store, &user, &RepoName::parse(&name).map_err(err)?, "", false).await.map_err(err)?;
        let url = format!("http://oauth2:{token}@{}/bench/{name}.git", server.addr);
        git(&work, &["push", "-q", &url, "main"])?;
        remotes.push((double.create_repo("octocat", &name, false), url));
        mirrors::create(&st.db, repo.repo.id, user.id, Direction::Push, &GithubRepo::parse(&format!("octocat/{name}")).map_err(err)?, None, false)
            .await
            .map_err(err)?;
    }
    let watch = RefWatch::new(remotes.iter().map(|(remote, _)| remote.as_path()))?;
    st.sync_wake.everyone();
    let first = git(&work, &["rev-parse", "HEAD"])?.trim().to_string();
    let all: Vec<usize> = (0..remotes.len()).collect();
    tokio::task::block_in_place(|| watch.arrivals(&all, &first, TIMEOUT)).map_err(|e| format!("the initial syncs did not finish: {e}"))?;

    // One new commit, pushed to every repository at once.
    git(&work, &["-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-q", "--allow-empty", "-m", "second"])?;
    let id = git(&work, &["rev-parse", "HEAD"])?.trim().to_string();
    let lags = tokio::task::block_in_place(|| watch.lags_of_pushes(&id, TIMEOUT, |i| git(&work, &["push", "-q", &remotes[i].1, "main"]).map(drop)))?;
    server.stop().await.map_err(err)?;
    Ok(lags)
}

async fn sweep_cost(scratch: &Path) -> Result<(), String> {
    let root = scratch.join("never-silent-sweep");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(err)?;
    // The database and repositories only: no server, so nothing runs the mirrors.
    let config = gitblixt::config::Config::for_data_dir(root.join("data"));
    let st = gitblixt::open_state(&config, "http://127.0.0.1".into()).await.map_err(err)?;
    let user = accounts::create_user(&st.db, &UserName::parse("bench").map_err(err)?, "bench-password", false).await.map_err(err)?;
    let work = root.join("work");
    git(&root, &["init", "-q", "-b", "main", work.to_str().ok_or("path")?])?;
    std::fs::write(work.join("README"), "bench\n").map_err(err)?;
    git(&work, &["add", "-A"])?;
    git(&work, &["-c", "user.name=B", "-c", "user.email=b@example.com", "commit", "-q", "-m", "first"])?;
    for b in 0..20 {
        git(&work, &["branch", &format!("b{b}")])?;
    }
    git(&work, &["tag", "v1"])?;
    let mut digest = String::new();
    for n in 0..REPOS_SWEPT {
        let name = format!("swept-{n}");
        let repo = repos::create(&st.db, &st.store, &user, &RepoName::parse(&name).map_err(err)?, "", false).await.map_err(err)?;
        let path = st.store.path(&UserName::parse("bench").map_err(err)?, &RepoName::parse(&name).map_err(err)?);
        git(&work, &["push", "-q", path.to_str().ok_or("path")?, "--all"])?;
        git(&work, &["push", "-q", path.to_str().ok_or("path")?, "--tags"])?;
        for m in 0..MIRRORS_PER_REPO {
            mirrors::create(&st.db, repo.repo.id, user.id, Direction::Push, &GithubRepo::parse(&format!("octocat/{name}-{m}")).map_err(err)?, None, false)
                .await
                .map_err(err)?;
        }
        if digest.is_empty() {
            let refs = git(&path, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"])?;
            let pairs: Vec<(&str, &str)> = refs.lines().filter_map(|l| l.split_once(' ')).collect();
            digest = mirrors::refs_digest(pairs);
        }
    }
    // Every mirror's initial run "done" through the queue itself: in sync with what it pushed.
    let success = mirrors::RunEnd::Success { pushed_digest: Some(digest.clone()) };
    while let Some(claimed) = mirrors::claim_next(&st.db, "bench", 60, &[]).await.map_err(err)? {
        mirrors::finish(&st.db, &claimed, "bench", &success).await.map_err(err)?;
    }
    let mut times = Vec::new();
    let mut requested = 0;
    for _ in 0..5 {
        let start = Instant::now();
        requested += gitblixt::sync::sweep_pass(&st).await?;
        times.push(start.elapsed());
    }
    times.sort();
    println!("| never silent: convergence sweep over {} push mirrors in sync ({REPOS_SWEPT} repositories × {MIRRORS_PER_REPO}, 21 heads + 1 tag each; SQLite) | |", REPOS_SWEPT * MIRRORS_PER_REPO);
    println!("|---|---|");
    println!("| one pass (median of 5) | {:.0} ms |", ms(times[2]));
    println!("| syncs requested (all in sync: expected 0) | {requested} |");
    println!();
    Ok(())
}
