//! `make bench`: GitBlixt measured side by side with the reference, in one run, on this machine.
//!
//! Push of a 1,000-commit repository with the real `git` client: to GitBlixt's git smart HTTP
//! (token auth) versus to `git http-backend` behind a loopback server (same 401 round trip).
//! Prints the median wall time of each and the ratio GitBlixt/git.

use app::names::{RepoName, UserName};
use app::ssr::{accounts, repos};
use github_double::http_backend::HttpBackend;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const COMMITS: usize = 1000;
const TRIALS: usize = 7;

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A repository with `COMMITS` commits on `main` (each changes one of 50 files and adds one), via fast-import.
fn build_history(dir: &Path) -> Result<(), String> {
    git(dir, &["init", "-q", "-b", "main"])?;
    let mut stream = String::new();
    for i in 0..COMMITS {
        let t = 1_700_000_000 + i * 60;
        let changed = format!("line {i}\n{}\n", "x".repeat(200 + i % 97));
        let added = format!("data {i}\n{}\n", "y".repeat(100 + i % 53));
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{m}\ncommitter Bench <bench@example.com> {t} +0000\ndata {l}\n{msg}\n",
            m = i + 1,
            msg = format!("commit {i}"),
            l = format!("commit {i}").len() + 1,
        ));
        if i > 0 {
            stream.push_str(&format!("from :{}\n", i));
        }
        stream.push_str(&format!("M 100644 inline src/file_{}.txt\ndata {}\n{}\n", i % 50, changed.len(), changed));
        stream.push_str(&format!("M 100644 inline data/{}/{}.txt\ndata {}\n{}\n", i % 20, i, added.len(), added));
    }
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child.stdin.take().ok_or("stdin")?.write_all(stream.as_bytes()).map_err(|e| e.to_string())?;
    if !child.wait().map_err(|e| e.to_string())?.success() {
        return Err("fast-import failed".into());
    }
    git(dir, &["tag", "-a", "v1", "-m", "v1", "main~100"])?;
    git(dir, &["repack", "-adq"])?;
    Ok(())
}

fn time_push(work: &Path, url: &str) -> Result<Duration, String> {
    let start = Instant::now();
    git(work, &["push", "-q", url, "main", "v1"])?;
    Ok(start.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn run() -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let work = scratch.path().join("work");
    std::fs::create_dir(&work).map_err(|e| e.to_string())?;
    build_history(&work)?;
    let objects = git(&work, &["rev-list", "--objects", "--all"])?.lines().count();

    let data = scratch.path().join("gitblixt-data");
    let running = gitblixt::start(gitblixt::config::Config::for_data_dir(data)).await.map_err(|e| e.to_string())?;
    let state = running.state.clone();
    let user = accounts::create_user(&state.db, &UserName::parse("bench").map_err(|e| e.to_string())?, "bench-password", false)
        .await
        .map_err(|e| e.to_string())?;
    let token = accounts::create_token(&state.db, user.id, "bench", &["write_repository".into()], 1)
        .await
        .map_err(|e| e.to_string())?
        .token;

    let backend_root = scratch.path().join("backend");
    std::fs::create_dir(&backend_root).map_err(|e| e.to_string())?;
    let backend = HttpBackend::start(backend_root.clone(), github_double::http_backend::Auth::AnyCredentials).await.map_err(|e| e.to_string())?;

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for trial in 0..TRIALS {
        let name = format!("bench-{trial}");
        repos::create(&state.db, &state.store, &user, &RepoName::parse(&name).map_err(|e| e.to_string())?, "", false)
            .await
            .map_err(|e| e.to_string())?;
        git(&backend_root, &["init", "-q", "--bare", &format!("{name}.git")])?;
        let our_url = format!("http://oauth2:{token}@{}/bench/{name}.git", running.addr);
        let their_url = format!("http://bench:x@{}/{name}.git", backend.addr);
        let work = work.clone();
        // Alternate the order so neither side always runs on a warmer cache.
        let (a, b) = tokio::task::spawn_blocking(move || {
            if trial % 2 == 0 {
                let a = time_push(&work, &our_url)?;
                Ok::<_, String>((a, time_push(&work, &their_url)?))
            } else {
                let b = time_push(&work, &their_url)?;
                Ok((time_push(&work, &our_url)?, b))
            }
        })
        .await
        .map_err(|e| e.to_string())??;
        ours.push(a);
        theirs.push(b);
    }
    let (o, t) = (median(ours), median(theirs));
    println!("GitBlixt benchmark ({} cores)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!();
    println!("| scenario | GitBlixt (median of {TRIALS}) | git http-backend | ratio ours/git |");
    println!("|---|---|---|---|");
    println!(
        "| git push of {COMMITS} commits ({objects} objects) to an empty repository | {:.0} ms | {:.0} ms | {:.2} |",
        o.as_secs_f64() * 1000.0,
        t.as_secs_f64() * 1000.0,
        o.as_secs_f64() / t.as_secs_f64()
    );
    running.stop().await.map_err(|e| e.to_string())?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
