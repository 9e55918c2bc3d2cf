//! `make bench`, scale section: a generated repository of about 400,000 objects — 27,500 commits
//! editing a few lines of a few files each in a 3,000-file tree of 150 directories (mostly in a hot
//! set of modules, as real projects are), 280 branches and 275 tags; built once by `git
//! fast-import` and kept in `~/.cache/gitblixt-bench/` (`GITBLIXT_BENCH_CACHE`).
//!
//! Initial and one-commit push and fetch, `gitblixt mirror push|fetch` against `git push --mirror`
//! / `git fetch`, each a child process against the same loopback `git http-backend`: wall time,
//! CPU time (user + system, the child's own children included), peak memory, bytes sent.

use crate::copy_repo;
use github_double::gitcli::run as git;
use github_double::http_backend::{Auth, HttpBackend};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const COMMITS: usize = 27_500;
const FILES: usize = 3_000;
const TRIALS: usize = 3;
/// Bump when the generator changes, so a cached repository of the old shape is not reused.
const SHAPE: &str = "v1";

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// What one child process cost.
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
    peak_kib: i64,
}

/// Runs `cmd` to its end and measures it (`wait4`'s usage covers the children it waited for).
fn measured(cmd: &mut Command) -> Result<Cost, String> {
    let start = Instant::now();
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().map_err(err)?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value, and wait4 only writes through the two pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    if waited != pid {
        return Err(format!("wait4: {}", std::io::Error::last_os_error()));
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr {
            let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
        }
        return Err(format!("{cmd:?} failed: {stderr}"));
    }
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Ok(Cost { wall, cpu: tv(usage.ru_utime) + tv(usage.ru_stime), peak_kib: usage.ru_maxrss })
}

/// The generated repository (bare), built once and cached.
fn big_repository() -> Result<PathBuf, String> {
    let cache = std::env::var_os("GITBLIXT_BENCH_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/gitblixt-bench")))
        .ok_or("set HOME or GITBLIXT_BENCH_CACHE")?;
    let repo = cache.join(format!("big-{SHAPE}.git"));
    if repo.join("done").exists() {
        return Ok(repo);
    }
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(&cache).map_err(err)?;
    println!("Generating the {COMMITS}-commit repository in {} (once; a few minutes)…", repo.display());
    git(&cache, &["init", "-q", "--bare", "-b", "main", repo.to_str().ok_or("path")?])?;
    let mut child = Command::new("git")
        .current_dir(&repo)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .map_err(err)?;
    let stdin = child.stdin.take().ok_or("stdin")?;
    write_history(BufWriter::with_capacity(1 << 20, stdin)).map_err(err)?;
    if !child.wait().map_err(err)?.success() {
        return Err("git fast-import failed".into());
    }
    // As a host would have it: one pack, deltas as fast-import made them.
    git(&repo, &["repack", "-adq"])?;
    std::fs::write(repo.join("done"), "").map_err(err)?;
    Ok(repo)
}

/// The fast-import stream: an initial tree, then commits that each edit six files (a line changed,
/// added or removed), four of them in one of 40 hot directories; a tag every 100 commits and a
/// branch every 98.
fn write_history(mut out: impl Write) -> std::io::Result<()> {
    let mut rng = StdRng::seed_from_u64(7);
    let dirs: Vec<String> = (0..30).flat_map(|a| (0..5).map(move |b| format!("src/mod{a}/part{b}"))).collect();
    let paths: Vec<String> = (0..FILES).map(|i| format!("{}/file{i}.rs", dirs[i % dirs.len()])).collect();
    let mut files: Vec<Vec<String>> = paths
        .iter()
        .map(|p| (0..rng.random_range(40..120)).map(|j| format!("// {p} line {j} {}", "x".repeat(rng.random_range(10..60)))).collect())
        .collect();
    let blob = |out: &mut dyn Write, path: &str, lines: &[String]| -> std::io::Result<()> {
        let body = lines.join("\n") + "\n";
        write!(out, "M 100644 inline {path}\ndata {}\n{body}\n", body.len())
    };
    let mut t = 1_600_000_000u64;
    write!(out, "commit refs/heads/main\nmark :1\ncommitter Bench <b@example.com> {t} +0000\ndata 7\ninitial\n")?;
    for (path, lines) in paths.iter().zip(&files) {
        blob(&mut out, path, lines)?;
    }
    for c in 2..=COMMITS {
        t += 60;
        let msg = format!("change {c}: edit a few files");
        write!(out, "commit refs/heads/main\nmark :{c}\ncommitter Bench <b@example.com> {t} +0000\ndata {}\n{msg}\nfrom :{}\n", msg.len(), c - 1)?;
        let hot = if rng.random_bool(0.7) { rng.random_range(0..40) } else { rng.random_range(0..dirs.len()) };
        for k in 0..6 {
            // Files of directory d are d, d + 150, d + 300, …
            let file = if k < 4 { hot + dirs.len() * rng.random_range(0..FILES / dirs.len()) } else { rng.random_range(0..FILES) };
            let lines = &mut files[file];
            let n = rng.random_range(0..lines.len());
            match rng.random_range(0..20) {
                0..10 => {
                    let kept: String = lines[n].chars().take(20).collect();
                    lines[n] = format!("{kept} edited in {c} {}", "y".repeat(rng.random_range(5..40)));
                }
                10..17 => lines.insert(n, format!("    let v{c} = {}; // added in {c}", rng.random_range(0..1_000_000))),
                _ if lines.len() > 20 => {
                    lines.remove(n);
                }
                _ => lines.push(format!("// appended in {c}")),
            }
            blob(&mut out, &paths[file], lines)?;
        }
        if c % 100 == 0 {
            write!(out, "reset refs/tags/v{}\nfrom :{c}\n\n", c / 100)?;
        }
        if c % 98 == 0 {
            write!(out, "reset refs/heads/feature-{c}\nfrom :{c}\n\n")?;
        }
    }
    out.flush()
}

struct Row {
    scenario: &'static str,
    ours: Cost,
    git: Cost,
    bytes: Option<(u64, u64)>,
}

fn median_cost(mut v: Vec<Cost>) -> Cost {
    v.sort_by_key(|c| c.wall);
    v[v.len() / 2]
}

/// Commits a change of one file on top of `main` in the bare repository `repo`.
fn add_commit(repo: &Path) -> Result<(), String> {
    let index = repo.join("bench-index");
    let with_index = |args: &[&str], input: Option<&str>| -> Result<String, String> {
        let mut cmd = Command::new("git");
        cmd.current_dir(repo).args(args).env("GIT_INDEX_FILE", &index).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.env("GIT_AUTHOR_NAME", "Bench").env("GIT_AUTHOR_EMAIL", "b@example.com").env("GIT_COMMITTER_NAME", "Bench").env("GIT_COMMITTER_EMAIL", "b@example.com");
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().map_err(err)?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            stdin.write_all(text.as_bytes()).map_err(err)?;
        }
        let out = child.wait_with_output().map_err(err)?;
        if !out.status.success() {
            return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    with_index(&["read-tree", "main"], None)?;
    let blob = with_index(&["hash-object", "-w", "--stdin"], Some("fn one_more_commit() {}\n"))?;
    with_index(&["update-index", "--add", "--cacheinfo", &format!("100644,{blob},src/mod0/part0/one_more.rs")], None)?;
    let tree = with_index(&["write-tree"], None)?;
    let commit = with_index(&["commit-tree", &tree, "-p", "main", "-m", "one more commit"], None)?;
    with_index(&["update-ref", "refs/heads/main", &commit], None)?;
    std::fs::remove_file(&index).map_err(err)
}

pub async fn run(scratch: &Path) -> Result<(), String> {
    let big = tokio::task::spawn_blocking(big_repository).await.map_err(err)??;
    let objects = git(&big, &["count-objects", "-v"])?
        .lines()
        .find_map(|l| l.strip_prefix("in-pack: ").map(str::to_string))
        .unwrap_or_default();
    let refs = git(&big, &["for-each-ref", "--format=x"])?.lines().count();
    let gitblixt = std::env::current_exe().map_err(err)?.with_file_name("gitblixt");
    if !gitblixt.exists() {
        return Err(format!("{} is missing: build it (cargo build --release -p gitblixt)", gitblixt.display()));
    }
    let root = scratch.join("scale");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(err)?;
    let token = "bench-token";
    let backend = HttpBackend::start(root.clone(), Auth::Password(token.into())).await.map_err(err)?;
    let seen = backend.seen.clone();
    // `local`: the repository with one more commit on main than `prev` (the generated one), which
    // no other branch or tag reaches (the one-commit scenarios).
    let local = root.join("local.git");
    copy_repo(&big, &local)?;
    add_commit(&local)?;
    let prev = big.clone();
    git(&root, &["init", "-q", "--bare", "empty.git"])?;
    let empty = root.join("empty.git");

    let ours_push = |remote: &str| {
        let mut c = Command::new(&gitblixt);
        c.args(["mirror", "push"]).arg(&local).arg(backend.url(remote)).env("GITBLIXT_REMOTE_TOKEN", token);
        c
    };
    let git_push = |remote: &str| {
        let mut c = Command::new("git");
        c.current_dir(&local).args(["push", "-q", "--mirror", &format!("http://bench:{token}@{}/{remote}", backend.addr)]);
        c
    };
    let ours_fetch = |dest: &Path| {
        let mut c = Command::new(&gitblixt);
        c.args(["mirror", "fetch", "--prune"]).arg(backend.url("full.git")).arg(dest).env("GITBLIXT_REMOTE_TOKEN", token);
        c
    };
    let git_fetch = |dest: &Path| {
        let mut c = Command::new("git");
        c.current_dir(dest).args(["fetch", "-q", "--prune", &backend.url("full.git"), "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]);
        c
    };
    copy_repo(&local, &root.join("full.git"))?;

    // Each trial's repositories have names of their own and stay until the section ends: deleting
    // thousands of ref, lock and reflog files just before the next trial makes ext4 skip over
    // their freshly freed inodes on every file the trial then creates (`find_inode_bit` →
    // `recently_deleted`), a cost of the bench's own clean-up that grows with the files written.
    let mut rows = Vec::new();
    for (s, (scenario, from)) in [("initial push", &empty), ("1-commit push", &prev)].into_iter().enumerate() {
        let (mut ours, mut theirs, mut bytes) = (Vec::new(), Vec::new(), (0, 0));
        for t in 0..TRIALS {
            let (o, g) = (format!("o{s}-{t}.git"), format!("g{s}-{t}.git"));
            copy_repo(from, &root.join(&o))?;
            copy_repo(from, &root.join(&g))?;
            let one = |cmd: &mut Command, sent: &mut u64| -> Result<Cost, String> {
                let before = seen.request_bytes.load(Ordering::SeqCst);
                let cost = tokio::task::block_in_place(|| measured(cmd))?;
                *sent = seen.request_bytes.load(Ordering::SeqCst) - before;
                Ok(cost)
            };
            if t % 2 == 0 {
                ours.push(one(&mut ours_push(&o), &mut bytes.0)?);
                theirs.push(one(&mut git_push(&g), &mut bytes.1)?);
            } else {
                theirs.push(one(&mut git_push(&g), &mut bytes.1)?);
                ours.push(one(&mut ours_push(&o), &mut bytes.0)?);
            }
        }
        rows.push(Row { scenario, ours: median_cost(ours), git: median_cost(theirs), bytes: Some(bytes) });
    }
    // The one-commit fetch starts where a pull mirror is between two syncs: it fetched `prev`
    // before (its view of the remote and its memory are in place).
    copy_repo(&prev, &root.join("prev-remote.git"))?;
    let warmed = root.join("warmed.git");
    copy_repo(&prev, &warmed)?;
    let mut warm = Command::new(&gitblixt);
    warm.args(["mirror", "fetch", "--prune"]).arg(backend.url("prev-remote.git")).arg(&warmed).env("GITBLIXT_REMOTE_TOKEN", token);
    tokio::task::block_in_place(|| measured(&mut warm))?;
    for (s, (scenario, from)) in [("initial fetch", &empty), ("1-commit fetch", &warmed)].into_iter().enumerate() {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for t in 0..TRIALS {
            let (o, g) = (root.join(format!("fo{s}-{t}.git")), root.join(format!("fg{s}-{t}.git")));
            copy_repo(from, &o)?;
            copy_repo(from, &g)?;
            let one = |cmd: &mut Command| tokio::task::block_in_place(|| measured(cmd));
            if t % 2 == 0 {
                ours.push(one(&mut ours_fetch(&o))?);
                theirs.push(one(&mut git_fetch(&g))?);
            } else {
                theirs.push(one(&mut git_fetch(&g))?);
                ours.push(one(&mut ours_fetch(&o))?);
            }
        }
        rows.push(Row { scenario, ours: median_cost(ours), git: median_cost(theirs), bytes: None });
    }

    println!("Scale: a generated repository of {objects} objects, {refs} branches and tags (median of {TRIALS}; `gitblixt mirror` vs git CLI, each a child process, same git http-backend)");
    println!();
    println!("| scenario | wall ours / git | ratio | CPU ours / git | ratio | peak memory ours / git | bytes sent ours/git |");
    println!("|---|---|---|---|---|---|---|");
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    for r in rows {
        let bytes = match r.bytes {
            Some((o, g)) if g > 0 => format!("{o} / {g} = {:.2}", o as f64 / g as f64),
            _ => "—".into(),
        };
        println!(
            "| {} | {:.0} / {:.0} ms | {:.2} | {:.0} / {:.0} ms | {:.2} | {} / {} MiB | {bytes} |",
            r.scenario,
            ms(r.ours.wall),
            ms(r.git.wall),
            ms(r.ours.wall) / ms(r.git.wall),
            ms(r.ours.cpu),
            ms(r.git.cpu),
            ms(r.ours.cpu) / ms(r.git.cpu).max(1.0),
            r.ours.peak_kib / 1024,
            r.git.peak_kib / 1024,
        );
    }
    println!();
    drop(backend);
    std::fs::remove_dir_all(&root).map_err(err)
}
