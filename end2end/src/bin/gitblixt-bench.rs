//! `make bench`: GitBlixt measured side by side with the reference, in one run, on this machine.
//!
//! 1. Hosting: push of a 1,000-commit repository with the real `git` client to GitBlixt's git smart
//!    HTTP (token auth) versus to `git http-backend` behind a loopback server (same 401 round trip).
//! 2. Mirror engine: gix push/fetch (ours) versus `git push --mirror` / `git fetch --prune` against
//!    the same `git http-backend`: initial push, 1-commit push, initial fetch, 1-commit fetch, no-op.
//!    Its `scale` section (`bench/scale.rs`) does the same against a generated repository of about
//!    400,000 objects, each side a child process: wall time, CPU time, peak memory, bytes.
//! 3. Push mirror (`bench/push_mirror.rs`): GitBlixt with a push mirror to the GitHub double — the
//!    latency from the end of a `git push` until GitHub has the ref (versus one `git push` straight
//!    to the double), and a burst of pushes: mirror runs and time until GitHub is in sync.
//! 3b. Git over SSH (`bench/ssh.rs`): push and clone of the 1,000-commit repository over
//!    GitBlixt's SSH, its HTTP, and a plain `sshd` (else `git daemon`); the push mirror section
//!    measures the SSH push → GitHub latency beside HTTP's.
//! 3c. Import (`bench/import.rs`): importing the 1,000-commit repository (20 branches, 10 tags) from
//!    the GitHub double, versus `git clone --mirror` + `git push --mirror` by hand.
//! 4. Never silent (`bench/never_silent.rs`): lag with 100 push mirrors receiving pushes at once
//!    (p50/p95/p99), and the convergence sweep's cost for 10,000 push mirrors (ms per pass).
//! 5. Thousands (`bench/thousands.rs`): 10,000 pull mirrors and 1,000 push mirrors on one
//!    `gitblixt serve` (SQLite), then on two sharing PostgreSQL: scheduler lateness, CPU, memory,
//!    the queue's database time, GitHub requests per no-op pull, push lag meanwhile.
//!
//! Prints median wall times, the ratio ours/git, and bytes sent.

#[path = "bench/push_mirror.rs"]
mod push_mirror;
#[path = "bench/import.rs"]
mod import;
#[path = "bench/never_silent.rs"]
mod never_silent;
#[path = "bench/ref_watch.rs"]
mod ref_watch;
#[path = "bench/scale.rs"]
mod scale;
#[path = "bench/ssh.rs"]
mod ssh;
#[path = "bench/thousands.rs"]
mod thousands;

use app::names::{RepoName, UserName};
use app::ssr::{accounts, repos};
use github_double::http_backend::HttpBackend;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const COMMITS: usize = 1000;
const TRIALS: usize = 7;

use github_double::gitcli::run as git;

/// Files changed per commit, each in its own directory of `src/` (so each change makes a blob and
/// two trees): about 20 objects per commit.
const FILES_PER_COMMIT: usize = 6;

/// A repository with `COMMITS` commits on `main` (each changes `FILES_PER_COMMIT` files among 200 in
/// 40 directories, and adds one), via fast-import: about 20,000 objects.
fn build_history(dir: &Path) -> Result<(), String> {
    git(dir, &["init", "-q", "-b", "main"])?;
    let mut stream = String::new();
    for i in 0..COMMITS {
        let t = 1_700_000_000 + i * 60;
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
        for f in 0..FILES_PER_COMMIT {
            let path = format!("src/m{}/file_{}.txt", (i + f * 7) % 40, (i / 40 + f) % 5);
            let changed = format!("line {i} of {path}\n{}\n", "x".repeat(200 + (i + f) % 97));
            stream.push_str(&format!("M 100644 inline {path}\ndata {}\n{}\n", changed.len(), changed));
        }
        stream.push_str(&format!("M 100644 inline data/{}/{}.txt\ndata {}\n{}\n", i % 20, i, added.len(), added));
    }
    fast_import(dir, &stream)?;
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

/// The bench's sections; `gitblixt-bench <section>…` runs only those named (all by default).
const SECTIONS: [&str; 8] = ["hosting", "engine", "scale", "ssh", "push-mirror", "import", "never-silent", "thousands"];

async fn run(only: &[String]) -> Result<(), String> {
    if let Some(unknown) = only.iter().find(|s| !SECTIONS.contains(&s.as_str())) {
        return Err(format!("unknown section {unknown:?}; the sections are {}", SECTIONS.join(", ")));
    }
    let wanted = |section: &str| only.is_empty() || only.iter().any(|s| s == section);
    println!("GitBlixt benchmark ({} cores)", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    println!();
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let work = scratch.path().join("work");
    std::fs::create_dir(&work).map_err(|e| e.to_string())?;
    build_history(&work)?;
    if wanted("hosting") {
        hosting(scratch.path(), &work).await?;
    }
    if wanted("engine") {
        engine_bench(scratch.path(), &work, "1,000 commits").await?;
        let wide = scratch.path().join("wide");
        std::fs::create_dir(&wide).map_err(|e| e.to_string())?;
        build_wide_tree(&wide)?;
        engine_bench(scratch.path(), &wide, "a 20,000-file tree").await?;
    }
    if wanted("scale") {
        scale::run(scratch.path()).await?;
    }
    if wanted("ssh") {
        ssh::run(scratch.path(), &work).await?;
    }
    if wanted("push-mirror") {
        push_mirror::run(scratch.path(), &work).await?;
    }
    if wanted("import") {
        import::run(scratch.path(), &work).await?;
    }
    if wanted("never-silent") {
        never_silent::run(scratch.path()).await?;
    }
    if wanted("thousands") {
        thousands::run(scratch.path()).await?;
    }
    Ok(())
}

/// Section 1: `git push` of the history to GitBlixt versus to `git http-backend`.
async fn hosting(scratch: &Path, work: &Path) -> Result<(), String> {
    let objects = git(work, &["rev-list", "--objects", "--all"])?.lines().count();

    let data = scratch.join("gitblixt-data");
    let running = gitblixt::start(gitblixt::config::Config::for_data_dir(data)).await.map_err(|e| e.to_string())?;
    let state = running.state.clone();
    let user = accounts::create_user(&state.db, &UserName::parse("bench").map_err(|e| e.to_string())?, "bench-password", false)
        .await
        .map_err(|e| e.to_string())?;
    let token = accounts::create_token(&state.db, user.id, "bench", &["write_repository".into()], 1)
        .await
        .map_err(|e| e.to_string())?
        .token;

    let backend_root = scratch.join("backend");
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
        let work = work.to_path_buf();
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
    println!("| scenario | GitBlixt (median of {TRIALS}) | git http-backend | ratio ours/git |");
    println!("|---|---|---|---|");
    println!(
        "| git push of {COMMITS} commits ({objects} objects) to an empty repository | {:.0} ms | {:.0} ms | {:.2} |",
        o.as_secs_f64() * 1000.0,
        t.as_secs_f64() * 1000.0,
        o.as_secs_f64() / t.as_secs_f64()
    );
    running.stop().await.map_err(|e| e.to_string())?;
    println!();
    Ok(())
}

/// One commit with a tree of 20,000 files in 200 directories, then 10 small commits.
fn build_wide_tree(dir: &Path) -> Result<(), String> {
    git(dir, &["init", "-q", "-b", "main"])?;
    let mut stream = String::from("commit refs/heads/main\nmark :1\ncommitter Bench <bench@example.com> 1700000000 +0000\ndata 5\nwide\n");
    for i in 0..20_000 {
        let content = format!("file {i}\n{}\n", "z".repeat(50 + i % 31));
        stream.push_str(&format!("M 100644 inline d{}/f{}.txt\ndata {}\n{}\n", i % 200, i, content.len(), content));
    }
    for c in 0..10 {
        let content = format!("change {c}\n");
        stream.push_str(&format!(
            "commit refs/heads/main\nmark :{}\ncommitter Bench <bench@example.com> {} +0000\ndata 7\nchange\nfrom :{}\nM 100644 inline d{}/f{}.txt\ndata {}\n{}\n",
            c + 2, 1_700_000_100 + c, c + 1, c, c, content.len(), content
        ));
    }
    fast_import(dir, &stream)?;
    git(dir, &["repack", "-adq"])?;
    Ok(())
}

fn fast_import(dir: &Path, stream: &str) -> Result<(), String> {
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
    Ok(())
}

fn copy_repo(from: &Path, to: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(to);
    let ok = Command::new("cp").arg("-a").arg(from).arg(to).status().map_err(|e| e.to_string())?.success();
    if ok { Ok(()) } else { Err("cp failed".into()) }
}

struct Row {
    scenario: String,
    ours: Duration,
    theirs: Duration,
    ours_bytes: Option<u64>,
    git_bytes: Option<u64>,
}

async fn engine_bench(scratch: &Path, source: &Path, label: &str) -> Result<(), String> {
    use gitblixt::mirror::{self, FetchMode, TransferOptions};
    use std::sync::atomic::Ordering;
    let root = scratch.join(format!("engine-{}", label.len()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let token = "bench-token";
    let backend = HttpBackend::start(root.clone(), github_double::http_backend::Auth::Password(token.into()))
        .await
        .map_err(|e| e.to_string())?;
    let opts = TransferOptions { token: Some(token.to_string().into()), ..TransferOptions::default() };
    // local = the source as a bare repository; local_prev = it without its last commit.
    let local = scratch.join(format!("local-{}.git", label.len()));
    let _ = std::fs::remove_dir_all(&local);
    git(scratch, &["clone", "-q", "--mirror", source.to_str().ok_or("path")?, local.to_str().ok_or("path")?])?;
    let local_prev = scratch.join(format!("local-prev-{}.git", label.len()));
    copy_repo(&local, &local_prev)?;
    git(&local_prev, &["update-ref", "refs/heads/main", "main~1"])?;
    let git_url = |name: &str| format!("http://bench:{token}@{}/{name}", backend.addr);
    let seen = backend.seen.clone();
    let mut rows = Vec::new();
    let trials = 5;

    // Remotes prepared once: `full` (= local) and `prev` (= local minus one commit).
    let empty = root.join("empty.git");
    git(&root, &["init", "-q", "--bare", "empty.git"])?;
    let full = root.join("full.git");
    git(&root, &["clone", "-q", "--bare", "--mirror", local.to_str().ok_or("path")?, "full.git"])?;
    let prev = root.join("prev.git");
    git(&root, &["clone", "-q", "--bare", "--mirror", local_prev.to_str().ok_or("path")?, "prev.git"])?;

    type Setup<'a> = &'a dyn Fn(usize) -> Result<(), String>;
    let measure = |setup: Setup, ours: &mut dyn FnMut(usize) -> Result<Duration, String>, theirs: &mut dyn FnMut(usize) -> Result<Duration, String>| -> Result<(Duration, Duration), String> {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for t in 0..trials {
            setup(t)?;
            if t % 2 == 0 {
                a.push(ours(t)?);
                b.push(theirs(t)?);
            } else {
                b.push(theirs(t)?);
                a.push(ours(t)?);
            }
        }
        Ok((median(a), median(b)))
    };
    let rt = tokio::runtime::Handle::current();
    let block = |f: std::pin::Pin<Box<dyn std::future::Future<Output = Result<Duration, String>> + Send + '_>>| {
        tokio::task::block_in_place(|| rt.block_on(f))
    };
    let timed_git = |dir: &Path, args: &[&str]| -> Result<Duration, String> {
        let start = Instant::now();
        git(dir, args)?;
        Ok(start.elapsed())
    };

    // Push scenarios: remote `o<t>` for ours, `g<t>` for git, prepared from `from`.
    for (scenario, from, src) in [
        ("initial push", &empty, &local),
        ("1-commit push", &prev, &local),
        ("no-op push", &full, &local),
    ] {
        let setup = |t: usize| -> Result<(), String> {
            copy_repo(from, &root.join(format!("o{t}.git")))?;
            copy_repo(from, &root.join(format!("g{t}.git")))
        };
        let mut ours_bytes = 0;
        let mut git_bytes = 0;
        let (o, g) = measure(
            &setup,
            &mut |t| {
                let url = backend.url(&format!("o{t}.git"));
                let start = Instant::now();
                let before = seen.request_bytes.load(Ordering::SeqCst);
                block(Box::pin(async { mirror::push(src, &url, &opts).await.map_err(|e| e.to_string()).map(|_| ()) }).then_elapsed(start))?;
                ours_bytes = seen.request_bytes.load(Ordering::SeqCst) - before;
                Ok(start.elapsed())
            },
            &mut |t| {
                let url = git_url(&format!("g{t}.git"));
                let before = seen.request_bytes.load(Ordering::SeqCst);
                let d = timed_git(src, &["push", "-q", "--mirror", &url])?;
                git_bytes = seen.request_bytes.load(Ordering::SeqCst) - before;
                Ok(d)
            },
        )?;
        rows.push(Row { scenario: scenario.into(), ours: o, theirs: g, ours_bytes: Some(ours_bytes), git_bytes: Some(git_bytes) });
    }

    // Fetch scenarios: local `fo<t>`/`fg<t>` prepared from `from`, fetching from `full`.
    for (scenario, from) in [("initial fetch", &empty), ("1-commit fetch", &prev), ("no-op fetch", &full)] {
        let setup = |t: usize| -> Result<(), String> {
            copy_repo(from, &root.join(format!("fo{t}.git")))?;
            copy_repo(from, &root.join(format!("fg{t}.git")))
        };
        let url = backend.url("full.git");
        let (o, g) = measure(
            &setup,
            &mut |t| {
                let dest = root.join(format!("fo{t}.git"));
                let start = Instant::now();
                block(Box::pin(async { mirror::fetch(&url, &dest, FetchMode::Mirror, &opts).await.map_err(|e| e.to_string()).map(|_| ()) }).then_elapsed(start))?;
                Ok(start.elapsed())
            },
            &mut |t| {
                let dest = root.join(format!("fg{t}.git"));
                timed_git(&dest, &["fetch", "-q", "--prune", &url, "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"])
            },
        )?;
        rows.push(Row { scenario: scenario.into(), ours: o, theirs: g, ours_bytes: None, git_bytes: None });
    }

    println!("Mirror engine, {label} (median of {trials}; gix engine vs git CLI, same git http-backend)");
    println!();
    println!("| scenario | ours | git | ratio ours/git | bytes sent ours/git |");
    println!("|---|---|---|---|---|");
    for r in rows {
        let bytes = match (r.ours_bytes, r.git_bytes) {
            (Some(o), Some(g)) if g > 0 => format!("{o} / {g} = {:.2}", o as f64 / g as f64),
            (Some(o), Some(g)) => format!("{o} / {g}"),
            _ => "—".into(),
        };
        println!(
            "| {} | {:.0} ms | {:.0} ms | {:.2} | {} |",
            r.scenario,
            r.ours.as_secs_f64() * 1000.0,
            r.theirs.as_secs_f64() * 1000.0,
            r.ours.as_secs_f64() / r.theirs.as_secs_f64(),
            bytes
        );
    }
    println!();
    Ok(())
}

trait ThenElapsed: std::future::Future<Output = Result<(), String>> + Send + Sized {
    fn then_elapsed<'a>(self, start: Instant) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Duration, String>> + Send + 'a>>
    where
        Self: 'a,
    {
        Box::pin(async move {
            self.await?;
            Ok(start.elapsed())
        })
    }
}
impl<F: std::future::Future<Output = Result<(), String>> + Send + Sized> ThenElapsed for F {}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let only: Vec<String> = std::env::args().skip(1).collect();
    match run(&only).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
