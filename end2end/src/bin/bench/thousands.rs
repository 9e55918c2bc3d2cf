//! `make bench`, thousands section (issue 17, items 3 and 5): one instance with `PULLS` pull
//! mirrors (5-minute interval) and `PUSHES` push mirrors of 100 users, each mirror with its own
//! repository on the GitHub double, run by the real `gitblixt serve` binary as a child process.
//!
//! Set-up (database and repositories written through GitBlixt's library, no server running): the
//! double's pull repositories and GitBlixt's push-mirrored repositories hold one small history
//! (its pack hard-linked). Then `gitblixt serve` starts and makes every mirror's first sync
//! (timed). Then the measured window (two intervals): nothing changes on GitHub, so every
//! scheduled pull is a no-op; a `git push` every few seconds to one of the push-mirrored
//! repositories measures push → GitHub lag under that load. Reported: scheduler lateness (a
//! scheduled run's start − the time it was due, from the runs' records), GitBlixt's CPU and
//! memory (its `/proc` entry), the sync queue's database time per scheduler pass and per claim
//! (its `/metrics`), the requests GitHub received per no-op pull (the double's log), and where the
//! machine's CPU went (GitBlixt, the double with its `git` processes, the rest). After the window,
//! `BURST` push mirrors get a push at the same moment (item 4), the pull mirrors still running,
//! with the burst's CPU split (GitBlixt, the users' pushes, the double, the rest). The double's
//! repositories live on a file system of their own (see [`double_dir`]).
//!
//! The same on PostgreSQL with two `gitblixt serve` processes sharing the database (when
//! PostgreSQL is installed): the claims and LISTEN/NOTIFY at that scale.
//!
//! `GITBLIXT_BENCH_PULL_MIRRORS`, `GITBLIXT_BENCH_PUSH_MIRRORS` and
//! `GITBLIXT_BENCH_WINDOW_MINUTES` make it smaller or shorter (defaults 10,000, 1,000, 10);
//! `GITBLIXT_BENCH_DATABASES` (`sqlite`, `postgres`) runs one half.

use crate::push_mirror::percentile;
use crate::ref_watch::RefWatch;
use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::github::connection::{self, Tokens};
use app::ssr::mirrors::{self, Direction};
use app::ssr::{AppState, accounts, repos};
use github_double::github::{GithubDouble, Origin, RequestRecord};
use github_double::gitcli::run as git;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const USERS: usize = 100;
const INTERVAL_MINUTES: i64 = 5;
/// One `git push` to a push-mirrored repository this often during the window.
const PUSH_EVERY: Duration = Duration::from_secs(6);
/// How long the first syncs of every mirror may take before the bench fails.
const FIRST_SYNCS_TIMEOUT: Duration = Duration::from_secs(3600);
const PUSH_TIMEOUT: Duration = Duration::from_secs(120);
/// Push mirrors that get a push at the same moment after the window (issue 17 item 4's 100).
const BURST: usize = 100;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn env_number(name: &str, default: usize) -> Result<usize, String> {
    match std::env::var(name) {
        Ok(v) => v.trim().parse().ok().filter(|n| *n > 0).ok_or(format!("{name} must be a positive whole number, not {v:?}")),
        Err(_) => Ok(default),
    }
}

struct Shape {
    pulls: usize,
    pushes: usize,
    window: Duration,
}

fn login(u: usize) -> String {
    format!("gh{u:03}")
}

fn user_name(u: usize) -> String {
    format!("u{u:03}")
}

pub async fn run(scratch: &Path) -> Result<(), String> {
    let shape = Shape {
        pulls: env_number("GITBLIXT_BENCH_PULL_MIRRORS", 10_000)?,
        pushes: env_number("GITBLIXT_BENCH_PUSH_MIRRORS", 1_000)?,
        window: Duration::from_secs(60 * env_number("GITBLIXT_BENCH_WINDOW_MINUTES", 10)? as u64),
    };
    // glibc raises its mmap threshold after freeing a large block: the 19 MiB of each password
    // hash would then stay in the heap of every thread that hashed, this process would grow by
    // hundreds of MB, and every `git` it starts would take long to fork. A fixed threshold
    // (glibc's default) keeps large blocks mapped and unmapped.
    // SAFETY: mallopt only changes the allocator's tuning; called before any thread hashes.
    unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024) };
    let (sqlite, postgres) = databases()?;
    if sqlite {
        let report = one_instance(scratch, &shape, None, 1).await?;
        print_report(&shape, "SQLite, one process", &report);
    }
    if postgres {
        match github_double::postgres::Cluster::start() {
            Ok(cluster) => {
                let report = one_instance(scratch, &shape, Some(&cluster.url()), 2).await;
                if std::env::var_os("GITBLIXT_BENCH_LOG").is_some() {
                    let kept = std::env::temp_dir().join("gitblixt-bench-thousands-postgresql.log");
                    std::fs::copy(cluster.log(), &kept).map_err(err)?;
                    println!("(log of PostgreSQL: {})", kept.display());
                }
                print_report(&shape, "PostgreSQL, two processes", &report?);
            }
            Err(e) => println!("(PostgreSQL twin skipped: {e})\n"),
        }
    }
    Ok(())
}

/// Which halves to run: `GITBLIXT_BENCH_DATABASES` (`sqlite`, `postgres` or both, the default).
fn databases() -> Result<(bool, bool), String> {
    let Ok(value) = std::env::var("GITBLIXT_BENCH_DATABASES") else { return Ok((true, true)) };
    let mut chosen = (false, false);
    for name in value.split([',', ' ']).filter(|n| !n.is_empty()) {
        match name {
            "sqlite" => chosen.0 = true,
            "postgres" => chosen.1 = true,
            other => return Err(format!("GITBLIXT_BENCH_DATABASES: {other:?} is not sqlite or postgres")),
        }
    }
    if chosen == (false, false) {
        return Err("GITBLIXT_BENCH_DATABASES names no database (sqlite, postgres)".into());
    }
    Ok(chosen)
}

/// Everything one configuration measured.
struct Report {
    first_syncs: Duration,
    first_cpu: Duration,
    statuses: Vec<(String, i64)>,
    /// CPU and wall time of the measured window.
    window: CpuSplit,
    rss_mean_kib: u64,
    rss_peak_kib: u64,
    lateness: Vec<i64>,
    runs_failed: usize,
    runs_with_objects: usize,
    requests: RequestCount,
    pass: (f64, f64),
    claim: (f64, f64),
    push_lag: Vec<Duration>,
    /// `BURST` push mirrors getting a push at once.
    burst: Burst,
}

/// One burst: `BURST` push mirrors receiving a push at the same moment.
struct Burst {
    /// Each push mirror's lag.
    lags: Vec<Duration>,
    /// Where the CPU went, from the first push to GitHub having the last commit.
    cpu: CpuSplit,
    /// The users' `git push` processes' share of `cpu.bench`.
    client_cpu: Duration,
    /// The requests GitHub got: "GET info/refs?service=git-receive-pack" and so on, with their number.
    requests: Vec<(String, usize)>,
}

/// Requests by method, endpoint (the last part of the path: `info/refs`, `git-receive-pack`, an
/// API path's last segment) and service.
fn requests_by_kind(requests: &[RequestRecord]) -> Vec<(String, usize)> {
    let mut kinds = BTreeMap::<String, usize>::new();
    for r in requests {
        let endpoint = if r.path.ends_with("/info/refs") { "info/refs" } else { r.path.rsplit('/').next().unwrap_or("") };
        let service = r.query.as_deref().and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("service="))).map(|s| format!("?service={s}")).unwrap_or_default();
        *kinds.entry(format!("{} {endpoint}{service}", r.method)).or_default() += 1;
    }
    kinds.into_iter().collect()
}

/// The CPU counters at a moment: the machine's busy time, GitBlixt's (with its git processes),
/// and this process's (the GitHub double, its git processes, the client pushes).
#[derive(Clone, Copy)]
struct CpuSample {
    at: Instant,
    machine: Duration,
    gitblixt: Duration,
    bench: Duration,
}

impl CpuSample {
    fn take(children: &[Gitblixt]) -> Result<Self, String> {
        Ok(CpuSample { at: Instant::now(), machine: machine_busy()?, gitblixt: total_cpu(children)?, bench: cpu_of(std::process::id())? })
    }
}

/// CPU time over a stretch of the bench (see [`CpuSample`]), and the stretch's wall time.
#[derive(Clone, Copy)]
struct CpuSplit {
    wall: Duration,
    machine: Duration,
    gitblixt: Duration,
    bench: Duration,
}

impl CpuSplit {
    fn since(children: &[Gitblixt], start: CpuSample) -> Result<Self, String> {
        let end = CpuSample::take(children)?;
        Ok(CpuSplit {
            wall: end.at - start.at,
            machine: end.machine.saturating_sub(start.machine),
            gitblixt: end.gitblixt.saturating_sub(start.gitblixt),
            bench: end.bench.saturating_sub(start.bench),
        })
    }

    /// What neither GitBlixt nor this process used: the database server, the system.
    fn rest(&self) -> Duration {
        self.machine.saturating_sub(self.gitblixt + self.bench)
    }
}

/// Where the GitHub double keeps its repositories: `GITBLIXT_BENCH_DOUBLE_DIR`, else `/dev/shm`
/// (a file system apart from GitBlixt's data directory and the database's, as GitHub's disks are
/// not the server's: on one ext4 file system, the double's files and GitBlixt's slow each other's
/// creation down), else the temporary directory.
fn double_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GITBLIXT_BENCH_DOUBLE_DIR") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() }
}

async fn one_instance(scratch: &Path, shape: &Shape, database_url: Option<&str>, processes: usize) -> Result<Report, String> {
    let root = scratch.join(format!("thousands-{processes}"));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(err)?;
    let double = GithubDouble::start_in(&double_dir()).await.map_err(err)?;
    let template = template(&root)?;
    let data = root.join("data");
    let mut config = gitblixt::config::Config::for_data_dir(data.clone());
    if let Some(url) = database_url {
        config.database_url = url.to_string();
    }
    config.ssh = None;
    let st = gitblixt::open_state(&config, "http://127.0.0.1".into()).await.map_err(err)?;
    let clock = Instant::now();
    let pats = populate(&st, &double, &template, shape).await?;
    println!("(thousands: {} pull and {} push mirrors set up in {:.0} s)", shape.pulls, shape.pushes, clock.elapsed().as_secs_f64());

    let bin = std::env::current_exe().map_err(err)?.with_file_name("gitblixt");
    let mut children = Vec::new();
    for n in 0..processes {
        children.push(Gitblixt::spawn(&bin, &data, database_url, &double, &root.join(format!("gitblixt-{n}.log")))?);
    }
    for c in &children {
        c.wait_ready().await?;
    }
    let result = measure(&st, &double, &children, &template, &pats, shape).await;
    for c in &mut children {
        c.stop()?;
    }
    if std::env::var_os("GITBLIXT_BENCH_LOG").is_some() {
        // Kept past the scratch directory, for reading the runs' timeline.
        for (n, c) in children.iter().enumerate() {
            let kept = std::env::temp_dir().join(format!("gitblixt-bench-thousands-{processes}-{n}.log"));
            std::fs::copy(&c.log, &kept).map_err(err)?;
            println!("(log of gitblixt {n}: {})", kept.display());
        }
    }
    if result.is_err() {
        for c in &children {
            eprintln!("--- {} (last lines)\n{}", c.log.display(), tail(&c.log, 30));
        }
    }
    result
}

/// A small history (20 commits, a few files, one tag), packed once; its pack is hard-linked into
/// every repository that starts with it.
fn template(root: &Path) -> Result<PathBuf, String> {
    let work = root.join("template-work");
    git(root, &["init", "-q", "-b", "main", work.to_str().ok_or("path")?])?;
    for i in 0..20 {
        std::fs::write(work.join(format!("file{}.txt", i % 5)), format!("line {i}\n").repeat(20 + i)).map_err(err)?;
        git(&work, &["add", "-A"])?;
        git(&work, &["-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", &format!("commit {i}")])?;
    }
    git(&work, &["tag", "v1"])?;
    let bare = root.join("template.git");
    git(root, &["clone", "-q", "--bare", work.to_str().ok_or("path")?, bare.to_str().ok_or("path")?])?;
    git(&bare, &["repack", "-adq"])?;
    git(&bare, &["pack-refs", "--all"])?;
    Ok(bare)
}

/// Gives the bare repository at `repo` the template's history: its pack files hard-linked (copied
/// onto another file system, the double's: a few kilobytes), its branch and tag written as packed
/// refs.
fn link_template(template: &Path, repo: &Path) -> Result<(), String> {
    let packs = template.join("objects/pack");
    for entry in std::fs::read_dir(&packs).map_err(err)? {
        let entry = entry.map_err(err)?;
        let to = repo.join("objects/pack").join(entry.file_name());
        match std::fs::hard_link(entry.path(), &to) {
            Err(e) if e.kind() == std::io::ErrorKind::CrossesDevices => std::fs::copy(entry.path(), &to).map(drop),
            linked => linked,
        }
        .map_err(err)?;
    }
    std::fs::copy(template.join("packed-refs"), repo.join("packed-refs")).map_err(err)?;
    Ok(())
}

/// Users (each with a GitHub connection and a personal access token), their repositories and
/// mirrors, the double's repositories. Returns each user's access token.
async fn populate(st: &AppState, double: &GithubDouble, template: &Path, shape: &Shape) -> Result<Vec<String>, String> {
    use futures_util::{StreamExt, TryStreamExt};
    let users: Vec<(accounts::User, String)> = futures_util::stream::iter(0..USERS)
        .map(|u| async move {
            let github_id = double.add_user(&login(u));
            let github_token = double.issue_token(&login(u), &["repo"]);
            let user = accounts::create_user(&st.db, &UserName::parse(&user_name(u)).map_err(err)?, "bench-password", false).await.map_err(err)?;
            let tokens = Tokens { access: github_token.into(), refresh: None, scopes: vec!["repo".into()], expires_at: None, refresh_expires_at: None };
            connection::store(&st.db, &st.cipher, user.id, &login(u), github_id as i64, &tokens).await.map_err(err)?;
            let pat = accounts::create_token(&st.db, user.id, "bench", &["write_repository".into()], 1).await.map_err(err)?.token;
            Ok::<_, String>((user, pat))
        })
        // One at a time: each password hash takes 19 MiB, which a blocking thread's malloc arena
        // keeps; hashes on many threads would leave this process large and every `git` it spawns
        // slow to fork.
        .buffered(1)
        .try_collect()
        .await?;
    let mirrors: Vec<(usize, Direction)> = (0..shape.pulls).map(|i| (i, Direction::Pull)).chain((0..shape.pushes).map(|i| (i, Direction::Push))).collect();
    let name = |i: usize, direction: Direction| format!("{}{i}", if direction == Direction::Pull { "p" } else { "s" });
    // The double's repositories, on a few threads (each a `git init`); pull mirrors start with
    // GitHub holding the history.
    let threads = 4;
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<(usize, Direction)> = mirrors.iter().copied().skip(t).step_by(threads).collect();
                scope.spawn(move || {
                    for (i, direction) in mine {
                        let remote = double.create_repo(&login(i % USERS), &name(i, direction), false);
                        if direction == Direction::Pull {
                            link_template(template, &remote)?;
                        }
                    }
                    Ok::<_, String>(())
                })
            })
            .collect();
        workers.into_iter().try_for_each(|w| w.join().map_err(|_| "a set-up thread panicked".to_string())?)
    })?;
    // GitBlixt's repositories and mirrors, a few at a time; push mirrors start with GitBlixt
    // holding the history.
    futures_util::stream::iter(mirrors)
        .map(|(i, direction)| {
            let user = &users[i % USERS].0;
            async move {
                let local = add_mirror(st, user, &name(i, direction), direction, &login(i % USERS)).await?;
                if direction == Direction::Push {
                    link_template(template, &local)?;
                }
                Ok::<_, String>(())
            }
        })
        .buffer_unordered(8)
        .try_collect::<()>()
        .await?;
    Ok(users.into_iter().map(|(_, pat)| pat).collect())
}

/// A repository `name` of `user` with a mirror to `github_login/name`; returns its path.
async fn add_mirror(st: &AppState, user: &accounts::User, name: &str, direction: Direction, github_login: &str) -> Result<PathBuf, String> {
    let repo_name = RepoName::parse(name).map_err(err)?;
    let repo = repos::create(&st.db, &st.store, user, &repo_name, "", false).await.map_err(err)?;
    let interval = (direction == Direction::Pull).then_some(INTERVAL_MINUTES);
    let remote = GithubRepo::parse(&format!("{github_login}/{name}")).map_err(err)?;
    mirrors::create(&st.db, repo.repo.id, user.id, direction, &remote, interval, false).await.map_err(err)?;
    Ok(st.store.path(&UserName::parse(&user.name).map_err(err)?, &repo_name))
}

/// A `gitblixt serve` child process.
struct Gitblixt {
    child: std::process::Child,
    addr: String,
    log: PathBuf,
}

impl Gitblixt {
    fn spawn(bin: &Path, data: &Path, database_url: Option<&str>, double: &GithubDouble, log: &Path) -> Result<Self, String> {
        let addr = format!("127.0.0.1:{}", github_double::free_port()?);
        let out = std::fs::File::create(log).map_err(err)?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env("GITBLIXT_DATA", data)
            .env("GITBLIXT_ADDR", &addr)
            .env("GITBLIXT_SSH_ADDR", "")
            .env("GITHUB_URL", &double.web_url)
            .env("GITHUB_API_URL", &double.api_url)
            .env("RUST_LOG", std::env::var("GITBLIXT_BENCH_LOG").unwrap_or_else(|_| "warn".into()))
            // The burst's pushes arrive at once: let every one in (the default cap, 4 git
            // processes per core, would answer most of them "busy", by design).
            .env("GITBLIXT_GIT_PROCESSES", (2 * BURST).to_string())
            .stdout(Stdio::null())
            .stderr(out.try_clone().map_err(err)?);
        match database_url {
            Some(url) => cmd.env("DATABASE_URL", url),
            None => cmd.env_remove("DATABASE_URL"),
        };
        let child = cmd.spawn().map_err(|e| format!("starting {}: {e} (make bench builds it)", bin.display()))?;
        Ok(Gitblixt { child, addr, log: log.to_path_buf() })
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = reqwest::get(format!("http://{}/", self.addr)).await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("gitblixt at {} did not answer within 60 s:\n{}", self.addr, tail(&self.log, 30)));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for the graceful stop.
    fn stop(&mut self) -> Result<(), String> {
        // SAFETY: kill(2) with a pid of our own child and a valid signal number.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        self.child.wait().map_err(err)?;
        Ok(())
    }

    /// The sum and count of the `step` series of the sync queue's database time histogram.
    async fn queue_database(&self, step: &str) -> Result<(f64, f64), String> {
        let text = reqwest::get(format!("http://{}/metrics", self.addr)).await.map_err(err)?.text().await.map_err(err)?;
        let value = |suffix: &str| -> f64 {
            let key = format!("gitblixt_sync_queue_database_seconds_{suffix}{{step=\"{step}\"}} ");
            text.lines().find_map(|l| l.strip_prefix(&key)).and_then(|v| v.trim().parse().ok()).unwrap_or(0.0)
        };
        Ok((value("sum"), value("count")))
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// CPU time of process `pid` and its waited-for children (from `/proc/<pid>/stat`).
fn cpu_of(pid: u32) -> Result<Duration, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(err)?;
    let fields: Vec<&str> = stat.rsplit_once(')').ok_or("bad /proc stat")?.1.split_whitespace().collect();
    // After the command: state is field 3, so field n is at n - 3 (utime 14 … cstime 17).
    let ticks: u64 = fields.get(11..15).ok_or("bad /proc stat")?.iter().filter_map(|f| f.parse::<u64>().ok()).sum();
    Ok(clock_ticks(ticks))
}

/// `/proc`'s clock ticks as a duration.
fn clock_ticks(ticks: u64) -> Duration {
    // SAFETY: sysconf reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// A `kB` line of `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix(key).map(|v| v.trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().unwrap_or(0))))
        .unwrap_or(0)
}

/// Busy time of the whole machine, all cores (from `/proc/stat`: everything but idle and iowait).
fn machine_busy() -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(err)?;
    let cpu = stat.lines().find(|l| l.starts_with("cpu ")).ok_or("no cpu line in /proc/stat")?;
    let ticks: Vec<u64> = cpu.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    let busy: u64 = ticks.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum();
    Ok(clock_ticks(busy))
}

fn total_cpu(children: &[Gitblixt]) -> Result<Duration, String> {
    children.iter().map(|c| cpu_of(c.pid())).sum()
}

/// Requests the double received from the pull mirrors.
#[derive(Default)]
struct RequestCount {
    /// `GET …/info/refs?service=git-upload-pack`.
    advertisements: usize,
    /// `POST …/git-upload-pack` (protocol v2: `ls-refs`, and `fetch` when there is something to fetch).
    upload_pack_posts: usize,
    /// REST API requests (any path).
    api: usize,
}

fn count_pull_requests(requests: &[RequestRecord]) -> RequestCount {
    let mut count = RequestCount::default();
    for r in requests {
        if r.origin == Origin::Api {
            count.api += 1;
            continue;
        }
        // `/<login>/p<n>.git/…`: a pull mirror's repository.
        let is_pull = r.path.split('/').nth(2).is_some_and(|repo| repo.starts_with('p'));
        if !is_pull {
            continue;
        }
        if r.method == "GET" && r.path.ends_with("/info/refs") {
            count.advertisements += 1;
        } else if r.method == "POST" && r.path.ends_with("/git-upload-pack") {
            count.upload_pack_posts += 1;
        }
    }
    count
}

/// Samples the children's resident memory every second until `stop`.
fn sample_memory(pids: Vec<u32>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<Vec<u64>> {
    std::thread::spawn(move || {
        let mut samples = Vec::new();
        while !stop.load(Ordering::SeqCst) {
            samples.push(pids.iter().map(|p| status_kib(*p, "VmRSS")).sum());
            std::thread::sleep(Duration::from_secs(1));
        }
        samples
    })
}

async fn measure(st: &AppState, double: &GithubDouble, children: &[Gitblixt], template: &Path, pats: &[String], shape: &Shape) -> Result<Report, String> {
    // 1. Every mirror's first sync (its status leaves `new`). Scheduled pulls of the mirrors
    // synced first may already run meanwhile, so the queue need not be empty.
    let start = Instant::now();
    let cpu_start = total_cpu(children)?;
    loop {
        let statuses = mirrors::status_counts(&st.db).await.map_err(err)?;
        let count = |status: &str| statuses.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        if count("error") > 0 {
            return Err(format!("{} mirrors failed their first sync (see the log)", count("error")));
        }
        if count("new") == 0 {
            break;
        }
        if start.elapsed() > FIRST_SYNCS_TIMEOUT {
            return Err(format!("the first syncs did not end within {FIRST_SYNCS_TIMEOUT:?}: {} left", count("new")));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let first_syncs = start.elapsed();
    let first_cpu = total_cpu(children)? - cpu_start;
    let statuses = mirrors::status_counts(&st.db).await.map_err(err)?;

    // 2. The window: scheduled no-op pulls, and a push now and then.
    let window_start = app::ssr::db::now();
    let requests_start = double.requests().len();
    let mut metrics_start = Vec::new();
    for c in children {
        metrics_start.push((c.queue_database("pass").await?, c.queue_database("claim").await?));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let memory = sample_memory(children.iter().map(Gitblixt::pid).collect(), stop.clone());
    let work = template.with_file_name("template-work");
    // Push-mirrored repositories (GitBlixt URL, the double's repository), alternating between
    // the processes.
    let targets: Vec<(String, PathBuf)> = (0..shape.pushes)
        .map(|i| {
            let url = format!("http://oauth2:{}@{}/{}/s{i}.git", pats[i % USERS], children[i % children.len()].addr, user_name(i % USERS));
            (url, double.repo_path(&login(i % USERS), &format!("s{i}")))
        })
        .collect();
    let pusher = {
        let (stop, work, targets) = (stop.clone(), work.clone(), targets.clone());
        std::thread::spawn(move || push_now_and_then(&work, &targets, &stop))
    };
    let window_start_cpu = CpuSample::take(children)?;
    tokio::time::sleep(shape.window).await;
    let window = CpuSplit::since(children, window_start_cpu)?;
    let window_end = app::ssr::db::now();
    let requests = double.requests();
    let mut pass = (0.0, 0.0);
    let mut claim = (0.0, 0.0);
    for (c, (p0, c0)) in children.iter().zip(metrics_start) {
        let (p1, c1) = (c.queue_database("pass").await?, c.queue_database("claim").await?);
        pass = (pass.0 + p1.0 - p0.0, pass.1 + p1.1 - p0.1);
        claim = (claim.0 + c1.0 - c0.0, claim.1 + c1.1 - c0.1);
    }
    stop.store(true, Ordering::SeqCst);
    let rss = memory.join().map_err(|_| "the memory sampler panicked")?;
    let push_lag = pusher.join().map_err(|_| "the pusher panicked")??;
    // 3. With the pull mirrors still going: BURST push mirrors get a push at the same moment.
    let burst = tokio::task::block_in_place(|| burst_of_pushes(double, children, &work, &targets[..BURST.min(targets.len())]))?;
    let runs = mirrors::scheduled_runs(&st.db, window_start, window_end).await.map_err(err)?;
    let peak = children.iter().map(|c| status_kib(c.pid(), "VmHWM")).sum();
    Ok(Report {
        first_syncs,
        first_cpu,
        statuses,
        window,
        rss_mean_kib: rss.iter().sum::<u64>() / rss.len().max(1) as u64,
        rss_peak_kib: peak,
        lateness: runs.iter().map(|r| r.started_at - r.scheduled_at).collect(),
        runs_failed: runs.iter().filter(|r| r.outcome != "success" && r.outcome != "running").count(),
        runs_with_objects: runs.iter().filter(|r| r.objects > 0).count(),
        requests: count_pull_requests(&requests[requests_start.min(requests.len())..]),
        pass,
        claim,
        push_lag,
        burst,
    })
}

/// Until `stop`: a new commit in `work` pushed every `PUSH_EVERY` to the next of `targets`
/// (GitBlixt URL, the double's repository it mirrors to); the time from the end of each `git
/// push` until the double has the commit.
fn push_now_and_then(work: &Path, targets: &[(String, PathBuf)], stop: &AtomicBool) -> Result<Vec<Duration>, String> {
    let watch = RefWatch::new(targets.iter().map(|(_, remote)| remote.as_path()))?;
    let mut lags = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let paced = Instant::now();
        let i = n % targets.len();
        let id = commit(work, &format!("push {n}"))?;
        client_push(work, &targets[i].0)?;
        let pushed = Instant::now();
        let arrived = watch.arrivals(&[i], &id, PUSH_TIMEOUT)?[0];
        lags.push(arrived.saturating_duration_since(pushed));
        n += 1;
        std::thread::sleep(PUSH_EVERY.saturating_sub(paced.elapsed()));
    }
    Ok(lags)
}

/// A new commit in `work` (its message and `pushed.txt` say `what`); its id.
fn commit(work: &Path, what: &str) -> Result<String, String> {
    std::fs::write(work.join("pushed.txt"), format!("{what}\n")).map_err(err)?;
    git(work, &["add", "-A"])?;
    git(work, &["-c", "user.name=Bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", what])?;
    Ok(git(work, &["rev-parse", "HEAD"])?.trim().to_string())
}

/// One new commit pushed to each of `targets` at the same moment (a `git push` each, in parallel);
/// for each, the time from the end of its push until GitHub has the commit.
fn burst_of_pushes(double: &GithubDouble, children: &[Gitblixt], work: &Path, targets: &[(String, PathBuf)]) -> Result<Burst, String> {
    let id = commit(work, "burst")?;
    let watch = RefWatch::new(targets.iter().map(|(_, remote)| remote.as_path()))?;
    let start = CpuSample::take(children)?;
    let requests_start = double.requests().len();
    let client_micros = std::sync::atomic::AtomicU64::new(0);
    let lags = watch.lags_of_pushes(&id, PUSH_TIMEOUT, |i| {
        let cpu = client_push(work, &targets[i].0)?;
        client_micros.fetch_add(cpu.as_micros() as u64, Ordering::Relaxed);
        Ok(())
    })?;
    let cpu = CpuSplit::since(children, start)?;
    let requests = requests_by_kind(&double.requests()[requests_start..]);
    Ok(Burst { lags, cpu, client_cpu: Duration::from_micros(client_micros.into_inner()), requests })
}

/// `git push` of `work`'s HEAD to `url`'s main, as a user runs it; the CPU it and the processes
/// it started used.
fn client_push(work: &Path, url: &str) -> Result<Duration, String> {
    use std::io::Read;
    let mut cmd = github_double::gitcli::command(work, &["push", "-q", url, "HEAD:refs/heads/main"]);
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().map_err(err)?;
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).map_err(err)?;
    }
    let (status, cpu) = wait_with_rusage(child.id())?;
    if status != 0 {
        return Err(format!("git push to {}: {stderr}", url.rsplit_once('@').map_or(url, |(_, host)| host)));
    }
    Ok(cpu)
}

/// Waits for process `pid` (a child of this one); its wait status and the CPU it and its
/// waited-for children used.
fn wait_with_rusage(pid: u32) -> Result<(i32, Duration), String> {
    let mut status = 0;
    // SAFETY: rusage is plain data, filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: pid is our child, not waited for yet; both pointers are valid for the call.
        let waited = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if waited == pid as libc::pid_t {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(format!("waiting for git push: {e}"));
        }
    }
    let time = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    Ok((status, time(usage.ru_utime) + time(usage.ru_stime)))
}

fn print_report(shape: &Shape, label: &str, r: &Report) {
    let mut lateness = r.lateness.clone();
    lateness.sort_unstable();
    let mut lag = r.push_lag.clone();
    lag.sort();
    let runs = lateness.len();
    let expected = shape.pulls as f64 * r.window.wall.as_secs_f64() / (INTERVAL_MINUTES as f64 * 60.0 * 1.05);
    let statuses: Vec<String> = r.statuses.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let per_run = |n: usize| if runs == 0 { 0.0 } else { n as f64 / runs as f64 };
    let mean_ms = |(sum, count): (f64, f64)| if count == 0.0 { 0.0 } else { 1000.0 * sum / count };
    println!("| thousands ({label}): {} pull mirrors every {INTERVAL_MINUTES} min + {} push mirrors, {USERS} users | |", shape.pulls, shape.pushes);
    println!("|---|---|");
    println!("| first sync of every mirror | {:.0} s, {:.0} CPU-s of GitBlixt; then {} |", r.first_syncs.as_secs_f64(), r.first_cpu.as_secs_f64(), statuses.join(", "));
    println!("| measured window | {:.0} s |", r.window.wall.as_secs_f64());
    println!("| scheduled pulls started in the window | {runs} (≈{expected:.0} expected at one per 5 min + up to 10% jitter); {} not successful, {} fetched objects |", r.runs_failed, r.runs_with_objects);
    if runs > 0 {
        println!(
            "| **scheduler lateness (start − due)** | p50 {} s, p99 {} s, max {} s (target: every due pull within 30 s — {}) |",
            percentile(&lateness, 0.5),
            percentile(&lateness, 0.99),
            lateness[runs - 1],
            if lateness[runs - 1] <= 30 { "met" } else { "NOT met" }
        );
    }
    println!(
        "| **GitBlixt CPU** (all its processes) | {:.2} cores on average ({:.0} CPU-s in {:.0} s; target < 1 core) |",
        r.window.gitblixt.as_secs_f64() / r.window.wall.as_secs_f64(),
        r.window.gitblixt.as_secs_f64(),
        r.window.wall.as_secs_f64()
    );
    let cores = |d: Duration| d.as_secs_f64() / r.window.wall.as_secs_f64();
    println!(
        "| machine CPU in the window | {:.2} of {} cores busy: GitBlixt {:.2}, the GitHub double with its git processes and the pushes {:.2}, the rest (database server, system) {:.2} |",
        cores(r.window.machine),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cores(r.window.gitblixt),
        cores(r.window.bench),
        cores(r.window.rest())
    );
    println!("| GitBlixt memory (resident) | {:.0} MiB on average, peak {:.0} MiB |", r.rss_mean_kib as f64 / 1024.0, r.rss_peak_kib as f64 / 1024.0);
    println!(
        "| sync queue database time | scheduler pass {:.1} ms ({:.0} passes), claim {:.1} ms ({:.0} claims) on average |",
        mean_ms(r.pass),
        r.pass.1,
        mean_ms(r.claim),
        r.claim.1
    );
    println!(
        "| **GitHub requests per no-op pull** | {:.2} ref advertisements (GET info/refs), {:.2} upload-pack POSTs (ls-refs; a negotiation would add one), {:.2} REST requests |",
        per_run(r.requests.advertisements),
        per_run(r.requests.upload_pack_posts),
        per_run(r.requests.api)
    );
    if !lag.is_empty() {
        println!(
            "| push → GitHub lag meanwhile ({} pushes, one every {} s) | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms |",
            lag.len(),
            PUSH_EVERY.as_secs(),
            ms(percentile(&lag, 0.5)),
            ms(percentile(&lag, 0.99)),
            ms(lag[lag.len() - 1])
        );
    }
    print_burst(&r.burst);
    println!();
}

fn print_burst(b: &Burst) {
    let mut lags = b.lags.clone();
    lags.sort();
    let Some(max) = lags.last() else { return };
    println!(
        "| **{} push mirrors receiving a push at the same moment** (meanwhile) | p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms (target p99 < 2 s — {}) |",
        lags.len(),
        ms(percentile(&lags, 0.5)),
        ms(percentile(&lags, 0.95)),
        ms(percentile(&lags, 0.99)),
        ms(*max),
        if percentile(&lags, 0.99) < Duration::from_secs(2) { "met" } else { "NOT met" }
    );
    let c = b.cpu;
    println!(
        "| CPU in the burst ({:.1} s, first push to last commit at GitHub) | {:.1} CPU-s of 2 cores × {:.1} s: GitBlixt with its git processes {:.1}, the users' pushes {:.1}, the GitHub double with its git processes {:.1}, the rest (database server, system) {:.1} |",
        c.wall.as_secs_f64(),
        c.machine.as_secs_f64(),
        c.wall.as_secs_f64(),
        c.gitblixt.as_secs_f64(),
        b.client_cpu.as_secs_f64(),
        c.bench.saturating_sub(b.client_cpu).as_secs_f64(),
        c.rest().as_secs_f64()
    );
    let requests: Vec<String> = b.requests.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
    println!("| requests GitHub got in the burst | {} |", requests.join(", "));
}
