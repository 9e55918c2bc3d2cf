//! What git over HTTP and git over SSH share: who may run which service on which repository,
//! the `git` process (clean environment, our hooks), and what happens after a push (the refs it
//! changed go through [`app::ssr::mirror_service::refs_changed`], so push mirrors follow).

use crate::git_auth::GitPrincipal;
use app::names::{RepoName, UserName};
use app::ssr::AppState;
use app::ssr::events::{RefsUpdated, parse_post_receive};
use app::ssr::repos::{self, FoundRepo, RepoError};
use app::ssr::store::isolated_git;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::Command;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The post-receive hook: hands git's `<old> <new> <ref>` lines to the server through a file
/// whose path the server passes in the environment. Shell builtins only (`read`, `printf`), so
/// a push starts one process for it, not two (a burst of pushes is bound by process start-up).
/// The lines are hex ids and ref names, which hold no backslash, so `read -r` keeps them as
/// they are.
const POST_RECEIVE_HOOK: &str = "#!/bin/sh\n\
# Installed by GitBlixt: reports the refs a push updated to the server.\n\
out=\"${GITBLIXT_PUSH_REPORT:-/dev/null}\"\n\
while IFS= read -r line; do printf '%s\\n' \"$line\"; done > \"$out\"\n\
exit 0\n";

/// Writes the server's git hooks into `<data>/hooks` (used through `core.hooksPath`). Each
/// start writes its own temporary file and renames it into place, so instances starting at once
/// on a shared data directory (PostgreSQL) do not take each other's file away.
pub fn install_hooks(data_dir: &std::path::Path) -> std::io::Result<PathBuf> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = data_dir.join("hooks");
    std::fs::create_dir_all(&dir)?;
    let mut tmp = tempfile::Builder::new().prefix(".post-receive.").tempfile_in(&dir)?;
    tmp.write_all(POST_RECEIVE_HOOK.as_bytes())?;
    tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o755))?;
    tmp.persist(dir.join("post-receive")).map_err(|e| e.error)?;
    Ok(dir)
}

/// What serving git needs, over either transport.
#[derive(Clone)]
pub struct GitState {
    pub app: AppState,
    pub hooks_dir: PathBuf,
    pub limits: GitLimits,
    /// git's receive-pack capabilities, for the advertisements GitBlixt writes itself.
    pub receive_capabilities: crate::advertise::Capabilities,
}

/// What git clients may hold (see the README, "Limits"); shared by HTTP and SSH.
#[derive(Clone, Debug)]
pub struct GitLimits {
    /// `git` processes serving clients at once; over it, clients are asked to come back.
    pub processes: Arc<Semaphore>,
    /// How long a client may send nothing before git is stopped.
    pub idle: Duration,
    /// The largest push (`receive.maxInputSize`, and an HTTP request body's cap).
    pub max_push_bytes: u64,
}

impl GitLimits {
    pub fn new(processes: usize, idle: Duration, max_push_bytes: u64) -> Self {
        GitLimits { processes: Arc::new(Semaphore::new(processes.max(1))), idle, max_push_bytes }
    }
}

/// How long git gets to exit by itself after its input was cut before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The git services a client may run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Service {
    UploadPack,
    ReceivePack,
}

impl Service {
    /// `git-upload-pack` / `git-receive-pack`, as clients name them.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "git-upload-pack" => Some(Service::UploadPack),
            "git-receive-pack" => Some(Service::ReceivePack),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Service::UploadPack => "git-upload-pack",
            Service::ReceivePack => "git-receive-pack",
        }
    }
    pub fn subcommand(self) -> &'static str {
        match self {
            Service::UploadPack => "upload-pack",
            Service::ReceivePack => "receive-pack",
        }
    }
}

/// Why a client may not run a service on a repository. Each transport says it its own way
/// (HTTP with a status, SSH with a line on stderr); the words are the same.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Denied {
    /// Unknown, or private and not the client's: the two are not told apart.
    NotFound,
    /// Anonymous, and the repository is private or the service is a push.
    AuthRequired,
    NoReadScope,
    NoWriteScope,
    /// Signed in, may read, may not push.
    ReadOnly,
    /// A push while the repository's import from GitHub has not finished.
    Importing,
}

impl Denied {
    pub fn message(self) -> &'static str {
        match self {
            Denied::NotFound => "GitBlixt: repository not found",
            Denied::AuthRequired => "GitBlixt: authentication required",
            Denied::NoReadScope => "GitBlixt: this token lacks the read_repository scope",
            Denied::NoWriteScope => "GitBlixt: this token lacks the write_repository scope",
            Denied::ReadOnly => "GitBlixt: you are not allowed to push to this repository",
            Denied::Importing => "GitBlixt: this repository is being imported from GitHub; push once the import is done",
        }
    }
}

/// What a client hears when every git process slot is taken.
pub const BUSY: &str = "GitBlixt: the server is busy serving other git clients; try again in a moment";

/// Why `service` may not start now: a push while the disk is below the free-space minimum
/// (fetches go on).
pub fn disk_refusal(app: &AppState, service: Service) -> Option<&'static str> {
    if service != Service::ReceivePack {
        return None;
    }
    app::ssr::quotas::check_disk(app, app::ssr::quotas::Write::Push).err()
}

/// Resolves `owner/repo` (with or without `.git`) and decides whether `principal` may run
/// `service` on it. Private repositories the client cannot see are [`Denied::NotFound`], like
/// unknown ones.
pub async fn check_access(
    app: &AppState,
    principal: Option<&GitPrincipal>,
    owner: &str,
    repo: &str,
    service: Service,
) -> Result<Result<FoundRepo, Denied>, RepoError> {
    let repo = repo.strip_suffix(".git").unwrap_or(repo);
    let found = match (UserName::parse(owner), RepoName::parse(repo)) {
        (Ok(o), Ok(r)) => repos::find(&app.db, o.as_str(), r.as_str()).await?,
        _ => None,
    };
    let visible = found.filter(|f| repos::access(principal.map(|p| &p.user), f) >= repos::Access::Read);
    let Some(found) = visible else {
        return Ok(Err(if principal.is_none() { Denied::AuthRequired } else { Denied::NotFound }));
    };
    let decision = match (service, principal) {
        (Service::UploadPack, Some(p)) if !p.may_read() => Err(Denied::NoReadScope),
        (Service::UploadPack, _) => Ok(()),
        (Service::ReceivePack, None) => Err(Denied::AuthRequired),
        (Service::ReceivePack, Some(p)) if repos::access(Some(&p.user), &found) != repos::Access::Admin => Err(Denied::ReadOnly),
        (Service::ReceivePack, Some(p)) if !p.may_write() => Err(Denied::NoWriteScope),
        (Service::ReceivePack, Some(_)) => importing(app, &found).await?,
    };
    Ok(decision.map(|()| found))
}

/// A push must wait while the repository's import has not finished: the import's fetch would
/// otherwise race with it.
async fn importing(app: &AppState, found: &FoundRepo) -> Result<Result<(), Denied>, RepoError> {
    let running = app::ssr::imports::running_in(&app.db, found.repo.id).await?;
    Ok(if running { Err(Denied::Importing) } else { Ok(()) })
}

/// How git talks to the client.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// One request, one response (smart HTTP).
    StatelessRpc,
    /// One conversation over the process's stdin and stdout (SSH).
    Session,
}

/// `git <service>` with the host's system and global configuration shut out, and our hooks.
/// The repository path and `GIT_PROTOCOL` are the caller's to add.
pub fn git_command(state: &GitState, service: Service, mode: Mode) -> Command {
    let mut cmd = isolated_git();
    cmd.arg("-c").arg(format!("core.hooksPath={}", state.hooks_dir.display()));
    // Packs kept as packs, hidden refs hidden, every ref update logged (also for a repository
    // whose own config predates this).
    cmd.args(app::ssr::store::hosted_config_args());
    // git refuses a larger push itself, with a message the client prints.
    cmd.arg("-c").arg(format!("receive.maxInputSize={}", state.limits.max_push_bytes));
    cmd.arg(service.subcommand());
    if mode == Mode::StatelessRpc {
        cmd.arg("--stateless-rpc");
    }
    cmd.kill_on_drop(true);
    cmd
}

/// A `GIT_PROTOCOL` value a client asked for, if it is harmless (`version=2` and the like).
pub fn git_protocol(raw: &str) -> Option<String> {
    (raw.len() < 256 && raw.bytes().all(|b| b.is_ascii_graphic() || b == b' ')).then(|| raw.to_string())
}

/// A file the post-receive hook writes the pushed refs to (`GITBLIXT_PUSH_REPORT`), set on `cmd`.
pub fn push_report(app: &AppState, cmd: &mut Command) -> std::io::Result<tempfile::NamedTempFile> {
    let file = tempfile::Builder::new().prefix("push-").tempfile_in(app.store.tmp_dir())?;
    cmd.env("GITBLIXT_PUSH_REPORT", file.path());
    Ok(file)
}

/// Waits for git to exit, collecting its stderr. Once `cut` is cancelled it gets [`EXIT_GRACE`]
/// to end by itself (its stdin is closed by then), then it is killed.
pub async fn wait_for_git(
    mut child: tokio::process::Child,
    mut stderr: tokio::process::ChildStderr,
    cut: CancellationToken,
) -> (Option<std::process::ExitStatus>, Vec<u8>) {
    let collect = tokio::spawn(async move {
        let mut err = Vec::new();
        let _ = stderr.read_to_end(&mut err).await;
        err
    });
    let status = tokio::select! {
        status = child.wait() => status.ok(),
        _ = cut.cancelled() => match tokio::time::timeout(EXIT_GRACE, child.wait()).await {
            Ok(status) => status.ok(),
            Err(_) => {
                tracing::warn!("git did not end after its input was cut; killing it");
                let _ = child.kill().await;
                child.wait().await.ok()
            }
        },
    };
    (status, collect.await.unwrap_or_default())
}

/// Logs how a git process ended (its stderr, a failure).
pub fn log_git_exit(repository: &str, service: Service, status: Option<std::process::ExitStatus>, stderr: &[u8]) {
    if !stderr.is_empty() {
        tracing::warn!(repository = %repository, stderr = %String::from_utf8_lossy(stderr).trim(), "git {} wrote to stderr", service.subcommand());
    }
    match status {
        Some(s) if s.success() => {}
        Some(s) => tracing::warn!(repository = %repository, status = %s, "git {} failed", service.subcommand()),
        None => tracing::error!(repository = %repository, "waiting for git failed"),
    }
}

/// Reads the hook's report and records the refs that changed (push mirror requests first, then
/// the event); gives an empty repository's HEAD a branch that exists. Runs before the git client
/// is told the push is over, so an acknowledged push is never forgotten by a crash.
pub async fn after_push(app: &AppState, found: &FoundRepo, principal: &GitPrincipal, report: tempfile::NamedTempFile) {
    let text = match tokio::fs::read_to_string(report.path()).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "reading the push report");
            return;
        }
    };
    drop(report);
    let updates = parse_post_receive(&text);
    if updates.is_empty() {
        return;
    }
    let path = found.path(&app.store);
    if let Err(e) = fix_unborn_head(path).await {
        tracing::warn!(repository = %found.full_name(), error = %e, "could not set the default branch");
    }
    let event = RefsUpdated {
        repository_id: found.repo.id,
        repository: found.full_name(),
        pusher_id: principal.user.id,
        pusher: principal.user.name.clone(),
        updates,
    };
    if let Err(e) = app::ssr::mirror_service::refs_changed(app, event).await {
        // The convergence sweep requests the sync within a minute.
        tracing::error!(repository = %found.full_name(), error = %e, "could not request push mirror syncs after a push");
    }
}

/// If HEAD names a branch that does not exist but others do, point it at one that does (as hosts
/// do after the first push).
async fn fix_unborn_head(path: PathBuf) -> Result<(), String> {
    let repo_path = path.clone();
    let choice = tokio::task::spawn_blocking(move || app::ssr::git_read::branch_for_unborn_head(&repo_path))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let Some(branch) = choice else { return Ok(()) };
    let status = isolated_git()
        .arg("--git-dir")
        .arg(&path)
        .args(["symbolic-ref", "HEAD"])
        .arg(format!("refs/heads/{branch}"))
        .status()
        .await
        .map_err(|e| e.to_string())?;
    if status.success() { Ok(()) } else { Err(format!("git symbolic-ref exited with {status}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Instances sharing a data directory start at the same moment: every one installs the hook.
    /// (With one fixed temporary name, one start renamed away the file another was about to
    /// rename, and that start failed with "No such file or directory".)
    #[test]
    fn instances_starting_together_all_install_the_hook() {
        let data = tempfile::tempdir().unwrap();
        let barrier = std::sync::Barrier::new(8);
        std::thread::scope(|scope| {
            let starts: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| {
                        barrier.wait();
                        (0..200).map(|_| install_hooks(data.path()).map(|_| ())).collect::<std::io::Result<Vec<()>>>()
                    })
                })
                .collect();
            for start in starts {
                start.join().unwrap().unwrap();
            }
        });
        let hook = data.path().join("hooks/post-receive");
        assert_eq!(std::fs::read_to_string(&hook).unwrap(), POST_RECEIVE_HOOK);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&hook).unwrap().permissions().mode() & 0o777, 0o755);
        let left: Vec<_> = std::fs::read_dir(data.path().join("hooks")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("post-receive")], "no temporary file stays behind");
    }
}
