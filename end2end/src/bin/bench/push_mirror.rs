//! `make bench`, push mirror section: GitBlixt in-process with a push mirror of a 1,000-commit
//! repository to the GitHub double (authenticated GitHub connection, default sync settings), fed by
//! the real `git` client over HTTP.
//!
//! 1. Latency: `PUSHES` sequential pushes of one commit; for each, the time from `git push` to
//!    GitBlixt returning until the double's bare repository has the new ref value (its ref files
//!    read every millisecond). Each push waits for the previous mirror run to have settled and
//!    comes at least `mirrors::BURST_WINDOW_MS` after it (an isolated push: pushes closer together
//!    are a burst, which the queue coalesces on purpose). The reference, interleaved: one
//!    `git push` of one commit straight to the double.
//! 2. Burst: `PUSHES` pushes back to back (new commits on main, a few tags and branches), then the
//!    time from the last push until the double's heads and tags equal GitBlixt's, and how many
//!    mirror runs the burst took.

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::github::connection::{self, Tokens};
use app::ssr::mirrors::{self, Direction};
use app::ssr::{AppState, accounts, repos, ssh_keys};
use github_double::github::GithubDouble;
use github_double::gitcli::run as git;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PUSHES: usize = 50;
/// How often the double's refs are read while waiting.
const POLL: Duration = Duration::from_millis(1);
/// How long any wait may take before the bench fails.
const TIMEOUT: Duration = Duration::from_secs(30);

const OWNER: &str = "octocat";
const MIRRORED: &str = "project";
const REFERENCE: &str = "reference";

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Nearest-rank percentile (`p` in 0..=1) of a non-empty sample.
pub(crate) fn percentile<T: Copy>(sorted: &[T], p: f64) -> T {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The median as the rest of the bench takes it (the upper one for an even count).
fn median(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

struct Stats {
    median: Duration,
    p95: Duration,
    min: Duration,
    max: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    Stats { median: median(&v), p95: percentile(&v, 0.95), min: v[0], max: v[v.len() - 1] }
}

/// The object id of `refname` in the bare repository at `repo`, as git resolves it: the loose ref
/// file, else `packed-refs`. Loose refs are replaced by rename, so a read never sees half a value.
pub(crate) fn read_ref(repo: &Path, refname: &str) -> Option<String> {
    if let Ok(loose) = std::fs::read_to_string(repo.join(refname)) {
        let id = loose.trim();
        if id.len() >= 40 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(id.to_string());
        }
    }
    let packed = std::fs::read_to_string(repo.join("packed-refs")).ok()?;
    packed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('^'))
        .filter_map(|l| l.split_once(' '))
        .find(|(_, name)| *name == refname)
        .map(|(id, _)| id.to_string())
}

/// Branches and tags of a bare repository: refname -> object id.
fn refs_of(repo: &Path) -> Result<BTreeMap<String, String>, String> {
    Ok(git(repo, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"])?
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(r, id)| (r.to_string(), id.to_string()))
        .collect())
}

/// A new commit on the checked-out branch of `work` (one changed file); returns its id.
fn commit(work: &Path, n: usize) -> Result<String, String> {
    std::fs::write(work.join("bench.txt"), format!("push {n}\n")).map_err(err)?;
    git(work, &["add", "bench.txt"])?;
    git(work, &["commit", "-q", "-m", &format!("push {n}")])?;
    Ok(git(work, &["rev-parse", "HEAD"])?.trim().to_string())
}

fn timed_push(work: &Path, args: &[&str]) -> Result<Duration, String> {
    let start = Instant::now();
    git(work, args)?;
    Ok(start.elapsed())
}

struct Bench {
    double: GithubDouble,
    server: gitblixt::Running,
    mirror: i64,
    /// GitBlixt's bare repository of the mirrored project.
    local: PathBuf,
    /// The double's bare repository the mirror pushes to.
    remote: PathBuf,
    /// Clone of the history that pushes to GitBlixt.
    work: PathBuf,
    /// `git push` URL of the project on GitBlixt (token in it).
    url: String,
    /// The same over SSH (the work clone's `core.sshCommand` has the key).
    ssh_url: String,
    /// Clone of the history that pushes straight to the double (the reference).
    ref_work: PathBuf,
    ref_url: String,
}

impl Bench {
    fn state(&self) -> &AppState {
        &self.server.state
    }

    /// Lets the burst window after the mirror's last run pass, so the next push is an isolated one.
    async fn wait_isolated(&self) -> Result<(), String> {
        let m = mirrors::get(&self.state().db, self.mirror).await.map_err(err)?.ok_or("the mirror disappeared")?;
        let left = m.last_finished_ms.map_or(0, |t| t + mirrors::BURST_WINDOW_MS - mirrors::now_ms());
        if left > 0 {
            tokio::time::sleep(Duration::from_millis(left as u64 + 1)).await;
        }
        Ok(())
    }

    /// Waits (bounded) until the mirror row has no request pending and no lease held; fails on an error.
    async fn wait_settled(&self) -> Result<(), String> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let m = mirrors::get(&self.state().db, self.mirror).await.map_err(err)?.ok_or("the mirror disappeared")?;
            if m.status == "error" {
                return Err(format!("the push mirror failed: {:?}", m.last_error));
            }
            if m.sync_requested_at.is_none() && m.leased_by.is_none() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("the push mirror did not settle within {TIMEOUT:?}: {m:?}"));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Waits (bounded, reading ref files every `POLL`) until the double has every ref in
    /// `expected` at its value and exactly `expected` as its heads and tags. Returns when that
    /// was first seen, measured from `since`.
    fn wait_remote(&self, expected: &BTreeMap<String, String>, since: Instant) -> Result<Duration, String> {
        let deadline = since + TIMEOUT;
        loop {
            if expected.iter().all(|(name, id)| read_ref(&self.remote, name).as_deref() == Some(id.as_str())) {
                let seen = since.elapsed();
                // The cheap check covers the expected refs; the full listing also rules out extra ones.
                let theirs = self.double.refs(OWNER, MIRRORED);
                if &theirs == expected {
                    return Ok(seen);
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "GitHub did not catch up within {TIMEOUT:?}:\nGitBlixt {expected:?}\nGitHub {:?}",
                    self.double.refs(OWNER, MIRRORED)
                ));
            }
            std::thread::sleep(POLL);
        }
    }
}

/// Times of one sequential push.
struct Sample {
    /// The `git push` to GitBlixt.
    push: Duration,
    /// End of that push → the double's first request of the mirror run.
    first_request: Duration,
    /// End of that push → the double has the new ref.
    latency: Duration,
    /// The double has the new ref → the mirror row settled.
    settle: Duration,
    /// Requests the mirror run made to the double.
    requests: usize,
}

/// GitBlixt in this process against `double` (no SSH unless `configure` turns it on), its user
/// `bench` with a `write_repository` token, and a GitHub connection holding `github_token`
/// (OWNER's).
pub struct Connected {
    pub server: gitblixt::Running,
    pub user: accounts::User,
    /// `bench`'s personal access token, for git over HTTP.
    pub token: String,
}

pub async fn start_connected(
    root: &Path,
    double: &GithubDouble,
    github_token: &str,
    configure: impl FnOnce(&mut gitblixt::config::Config),
) -> Result<Connected, String> {
    let mut config = gitblixt::config::Config::for_data_dir(root.join("gitblixt-data"));
    config.ssh = None;
    config.github.web_url = double.web_url.clone();
    config.github.api_url = double.api_url.clone();
    config.github.oauth_app = None;
    configure(&mut config);
    let server = gitblixt::start(config).await.map_err(err)?;
    let st = server.state.clone();
    let user = accounts::create_user(&st.db, &UserName::parse("bench").map_err(err)?, "bench-password", false).await.map_err(err)?;
    let token = accounts::create_token(&st.db, user.id, "bench", &["write_repository".into()], 1).await.map_err(err)?.token;
    let tokens = Tokens { access: github_token.to_string().into(), refresh: None, scopes: vec!["repo".into()], expires_at: None, refresh_expires_at: None };
    connection::store(&st.db, &st.cipher, user.id, OWNER, 1, &tokens).await.map_err(err)?;
    Ok(Connected { server, user, token })
}

async fn setup(scratch: &Path, history: &Path) -> Result<Bench, String> {
    let root = scratch.join("push-mirror");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(err)?;
    let history = history.to_str().ok_or("path")?;

    let double = GithubDouble::start().await.map_err(err)?;
    let remote = double.create_repo(OWNER, MIRRORED, false);
    let ref_remote = double.create_repo(OWNER, REFERENCE, false);
    let github_token = double.issue_token(OWNER, &["repo"]);

    let ssh = gitblixt::config::SshConfig::on("127.0.0.1:0".parse().map_err(err)?);
    let Connected { server, user, token } = start_connected(&root, &double, &github_token, |c| c.ssh = Some(ssh)).await?;
    let st = server.state.clone();
    let name = RepoName::parse(MIRRORED).map_err(err)?;
    let repo = repos::create(&st.db, &st.store, &user, &name, "", false).await.map_err(err)?;
    let local = st.store.path(&UserName::parse("bench").map_err(err)?, &name);

    // The 1,000-commit history on GitBlixt (over HTTP), then the mirror and its initial sync.
    let work = root.join("work");
    git(&root, &["clone", "-q", history, work.to_str().ok_or("path")?])?;
    let url = format!("http://oauth2:{token}@{}/bench/{MIRRORED}.git", server.addr);
    git(&work, &["push", "-q", &url, "main", "v1"])?;
    let key = root.join("id");
    let known_hosts = root.join("known_hosts");
    let ssh_port = server.ssh_addr.ok_or("no SSH")?.port();
    ssh_keys::add(&st.db, &user, "bench", &github_double::sshcli::keygen(&key, "bench")?).await.map_err(err)?;
    github_double::sshcli::pin_host(ssh_port, &known_hosts)?;
    git(&work, &["config", "core.sshCommand", &github_double::sshcli::ssh_command(&key, &known_hosts)])?;
    let ssh_url = format!("ssh://git@127.0.0.1:{ssh_port}/bench/{MIRRORED}.git");
    let mirror = mirrors::create(&st.db, repo.repo.id, user.id, Direction::Push, &GithubRepo::parse(&format!("{OWNER}/{MIRRORED}")).map_err(err)?, None, false)
        .await
        .map_err(err)?;
    st.sync_wake.everyone();

    // The reference repository on the double: the same history, written straight to its disk.
    let ref_work = root.join("ref-work");
    git(&root, &["clone", "-q", history, ref_work.to_str().ok_or("path")?])?;
    git(&ref_work, &["push", "-q", ref_remote.to_str().ok_or("path")?, "main", "v1"])?;
    let ref_url = format!("{}/{OWNER}/{REFERENCE}.git", double.web_url).replacen("http://", &format!("http://x-access-token:{github_token}@"), 1);

    let bench = Bench { double, server, mirror, local, remote, work, url, ssh_url, ref_work, ref_url };
    let initial = Instant::now();
    bench.wait_settled().await?;
    let expected = refs_of(&bench.local)?;
    tokio::task::block_in_place(|| bench.wait_remote(&expected, initial))?;
    Ok(bench)
}

/// One measured push: commit, `git push` to GitBlixt at `url`, then read the double's ref every `POLL`.
fn one_push(b: &Bench, url: &str, n: usize) -> Result<(Sample, Instant), String> {
    let id = commit(&b.work, n)?;
    let requests_before = b.double.requests().len();
    let start = Instant::now();
    git(&b.work, &["push", "-q", url, "main"])?;
    let pushed = Instant::now();
    let deadline = pushed + TIMEOUT;
    let mut first_request = None;
    loop {
        if first_request.is_none() && b.double.requests().len() > requests_before {
            first_request = Some(pushed.elapsed());
        }
        if read_ref(&b.remote, "refs/heads/main").as_deref() == Some(id.as_str()) {
            let latency = pushed.elapsed();
            let sample = Sample {
                push: pushed - start,
                first_request: first_request.unwrap_or(latency),
                latency,
                settle: Duration::ZERO,
                requests: b.double.requests().len() - requests_before,
            };
            return Ok((sample, Instant::now()));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "push {n}: GitHub did not get refs/heads/main = {id} within {TIMEOUT:?} (it has {:?})",
                read_ref(&b.remote, "refs/heads/main")
            ));
        }
        std::thread::sleep(POLL);
    }
}

pub async fn run(scratch: &Path, history: &Path) -> Result<(), String> {
    let b = setup(scratch, history).await?;
    let commits = git(&b.work, &["rev-list", "--count", "main"])?.trim().to_string();

    // 1. Latency, one push at a time; the reference push to the double after each settled run.
    let mut samples = Vec::new();
    let mut reference = Vec::new();
    for n in 0..PUSHES {
        b.wait_isolated().await?;
        let (mut sample, seen) = tokio::task::block_in_place(|| one_push(&b, &b.url, n))?;
        b.wait_settled().await?;
        sample.settle = seen.elapsed();
        samples.push(sample);
        let r = tokio::task::block_in_place(|| {
            commit(&b.ref_work, n)?;
            timed_push(&b.ref_work, &["push", "-q", &b.ref_url, "main"])
        })?;
        reference.push(r);
    }
    let requests: Vec<usize> = samples.iter().map(|s| s.requests).collect();
    let latency = stats(samples.iter().map(|s| s.latency).collect());
    let first = stats(samples.iter().map(|s| s.first_request).collect());
    let transfer = stats(samples.iter().map(|s| s.latency.saturating_sub(s.first_request)).collect());
    let settle = stats(samples.iter().map(|s| s.settle).collect());
    let push = stats(samples.iter().map(|s| s.push).collect());
    let reference = stats(reference);
    // The same over SSH.
    let mut over_ssh = Vec::new();
    for n in 0..PUSHES {
        b.wait_isolated().await?;
        let (sample, _) = tokio::task::block_in_place(|| one_push(&b, &b.ssh_url, 1000 + n))?;
        b.wait_settled().await?;
        over_ssh.push(sample);
    }
    let ssh_latency = stats(over_ssh.iter().map(|s| s.latency).collect());
    let ssh_push = stats(over_ssh.iter().map(|s| s.push).collect());

    println!(
        "Push mirror: GitBlixt → GitHub double (repository of {commits} commits; sync service defaults: {} workers)",
        gitblixt::sync::SyncConfig::default().workers
    );
    println!();
    println!("| push mirror: latency from end of git push to GitHub having the refs ({PUSHES} pushes) | median | p95 | min | max |");
    println!("|---|---|---|---|---|");
    let row = |label: &str, s: &Stats| {
        println!("| {label} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |", ms(s.median), ms(s.p95), ms(s.min), ms(s.max));
    };
    row("**end of `git push` to GitBlixt → GitHub double has the new ref**", &latency);
    row("… of which: end of `git push` → the mirror run's first request to GitHub", &first);
    row("… of which: first request → the new ref on GitHub", &transfer);
    row("after: the new ref on GitHub → the mirror row settled", &settle);
    row("**end of `git push` to GitBlixt over SSH → GitHub double has the new ref**", &ssh_latency);
    row("for reference: `git push` of one commit to GitBlixt (git CLI)", &push);
    row("for reference: `git push` of one commit to GitBlixt over SSH (git CLI)", &ssh_push);
    row("reference: `git push` of one commit straight to the GitHub double (git CLI)", &reference);
    println!();
    println!(
        "Mirror delay / one git push to GitHub (medians): {:.0} ms / {:.0} ms = {:.2}. Requests per mirror run at GitHub: {}–{}. Target: median under 300 ms — {}.",
        ms(latency.median),
        ms(reference.median),
        latency.median.as_secs_f64() / reference.median.as_secs_f64(),
        requests.iter().min().copied().unwrap_or(0),
        requests.iter().max().copied().unwrap_or(0),
        if latency.median < Duration::from_millis(300) { "met" } else { "NOT met" }
    );
    println!();

    // 2. Burst: back to back; now and then a tag or a new branch along with main.
    let runs_before = mirrors::count_runs(&b.state().db, b.mirror).await.map_err(err)?;
    let (burst, last) = tokio::task::block_in_place(|| -> Result<(Duration, Instant), String> {
        let start = Instant::now();
        for n in 0..PUSHES {
            commit(&b.work, PUSHES + n)?;
            match n % 10 {
                4 => {
                    let tag = format!("burst-v{n}");
                    git(&b.work, &["tag", "-a", &tag, "-m", &tag])?;
                    git(&b.work, &["push", "-q", &b.url, "main", &tag])?;
                }
                9 => {
                    git(&b.work, &["push", "-q", &b.url, "main", &format!("HEAD:refs/heads/burst-{n}")])?;
                }
                _ => {
                    git(&b.work, &["push", "-q", &b.url, "main"])?;
                }
            }
        }
        Ok((start.elapsed(), Instant::now()))
    })?;
    let ours = refs_of(&b.local)?;
    let in_sync = tokio::task::block_in_place(|| b.wait_remote(&ours, last))?;
    b.wait_settled().await?;
    let settled = last.elapsed();
    let runs = mirrors::count_runs(&b.state().db, b.mirror).await.map_err(err)? - runs_before;
    let theirs = b.double.refs(OWNER, MIRRORED);
    let ours_now = refs_of(&b.local)?;
    if theirs != ours_now || ours_now != ours {
        return Err(format!("after the burst GitHub differs from GitBlixt:\nGitBlixt {ours_now:?}\nGitHub {theirs:?}"));
    }
    let heads = ours.keys().filter(|r| r.starts_with("refs/heads/")).count();
    let tags = ours.keys().filter(|r| r.starts_with("refs/tags/")).count();

    println!("| push mirror: burst of {PUSHES} git pushes to GitBlixt, back to back | |");
    println!("|---|---|");
    println!("| the {PUSHES} pushes (5 with a new tag, 5 with a new branch) | {:.0} ms ({:.0} ms each) |", ms(burst), ms(burst) / PUSHES as f64);
    println!("| mirror runs for the burst | {runs} |");
    println!("| **last push → GitHub double's heads and tags equal GitBlixt's** | {:.1} ms |", ms(in_sync));
    println!("| last push → the mirror row settled | {:.1} ms |", ms(settled));
    println!("| final state | equal: {heads} heads, {tags} tags |");
    println!();

    b.server.stop().await.map_err(err)?;
    drop(b.double);
    Ok(())
}
