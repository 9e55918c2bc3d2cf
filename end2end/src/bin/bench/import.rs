//! `make bench`, import section: importing the 1,000-commit repository (with 20 branches and 10
//! tags) from the GitHub double into GitBlixt, from the request until the import is done, versus
//! doing it by hand with the git CLI: `git clone --mirror` from the double, then `git push --mirror`
//! to a new GitBlixt repository over HTTP. Trials alternate which goes first.

use app::ssr::import_service::{self, ImportRequest};
use app::ssr::imports::{self, ImportState};
use app::ssr::repos;
use github_double::github::GithubDouble;
use github_double::gitcli::run as git;
use std::path::Path;
use std::time::{Duration, Instant};

const TRIALS: usize = 5;
const OWNER: &str = "octocat";
const SOURCE: &str = "imported";

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub async fn run(scratch: &Path, history: &Path) -> Result<(), String> {
    let root = scratch.join("import");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(err)?;
    let double = GithubDouble::start().await.map_err(err)?;
    let remote = double.create_repo(OWNER, SOURCE, false);
    let github_token = double.issue_token(OWNER, &["repo"]);
    // The history with branches and tags, written straight to the double's disk.
    let work = root.join("work");
    git(&root, &["clone", "-q", history.to_str().ok_or("path")?, work.to_str().ok_or("path")?])?;
    let commits: Vec<String> = git(&work, &["rev-list", "main"])?.lines().map(str::to_string).collect();
    for i in 0..20 {
        git(&work, &["branch", "-f", &format!("branch-{i}"), &commits[i * 40]])?;
    }
    for i in 0..10 {
        git(&work, &["tag", "-f", "-a", &format!("release-{i}"), "-m", "release", &commits[i * 90]])?;
    }
    git(&work, &["push", "-q", remote.to_str().ok_or("path")?, "--all"])?;
    git(&work, &["push", "-q", remote.to_str().ok_or("path")?, "--tags"])?;
    let refs = git(&remote, &["for-each-ref", "--format=%(refname)", "refs/heads", "refs/tags"])?.lines().count();
    let objects = git(&remote, &["rev-list", "--objects", "--all"])?.lines().count();

    let crate::push_mirror::Connected { server, user, token } = crate::push_mirror::start_connected(&root, &double, &github_token, |_| {}).await?;
    let st = server.state.clone();
    let source_url = format!("{}/{OWNER}/{SOURCE}.git", double.web_url).replacen("http://", &format!("http://x-access-token:{github_token}@"), 1);

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for trial in 0..TRIALS {
        let by_hand = || -> Result<Duration, String> {
            let name = format!("by-hand-{trial}");
            let mirror = root.join(format!("{name}.git"));
            let target = format!("http://oauth2:{token}@{}/bench/{name}.git", server.addr);
            let start = Instant::now();
            git(&root, &["clone", "-q", "--mirror", &source_url, mirror.to_str().ok_or("path")?])?;
            git(&mirror, &["push", "-q", "--mirror", &target])?;
            Ok(start.elapsed())
        };
        let by_hand_repo = async {
            let name = app::names::RepoName::parse(&format!("by-hand-{trial}")).map_err(err)?;
            repos::create(&st.db, &st.store, &user, &name, "", false).await.map_err(err)
        };
        by_hand_repo.await?;
        if trial % 2 == 1 {
            theirs.push(tokio::task::block_in_place(by_hand)?);
        }
        let start = Instant::now();
        let request = ImportRequest { remote: format!("{OWNER}/{SOURCE}"), name: Some(format!("import-{trial}")), ..ImportRequest::default() };
        let import = import_service::start(&st, &user, &request).await.map_err(err)?;
        let deadline = start + Duration::from_secs(120);
        loop {
            let now = imports::get(&st.db, import.id).await.map_err(err)?.ok_or("import gone")?;
            match now.state {
                ImportState::Done => break,
                ImportState::Failed => return Err(format!("the import failed: {:?}", now.error)),
                _ if Instant::now() > deadline => return Err("the import did not finish in 120 s".into()),
                _ => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        ours.push(start.elapsed());
        if trial % 2 == 0 {
            theirs.push(tokio::task::block_in_place(by_hand)?);
        }
    }
    let (o, t) = (median(ours), median(theirs));
    println!("Import from GitHub (the double): {commits} commits, {refs} branches and tags, {objects} objects", commits = commits.len());
    println!();
    println!("| scenario | GitBlixt import (median of {TRIALS}) | git clone --mirror + git push --mirror | ratio ours/git |");
    println!("|---|---|---|---|");
    println!(
        "| request → import done (repository created, every branch and tag, HEAD set) | {:.0} ms | {:.0} ms | {:.2} |",
        o.as_secs_f64() * 1000.0,
        t.as_secs_f64() * 1000.0,
        o.as_secs_f64() / t.as_secs_f64()
    );
    println!();
    server.stop().await.map_err(err)?;
    Ok(())
}
