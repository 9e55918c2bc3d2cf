//! The real `git` for tests and benchmarks: isolated from the machine's configuration, never
//! prompting, with a fixed identity.

use std::path::Path;
use std::process::{Command, Output};

/// `git` in `dir` with `args`, not started yet.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "A")
        .env("GIT_AUTHOR_EMAIL", "a@example.com")
        .env("GIT_COMMITTER_NAME", "C")
        .env("GIT_COMMITTER_EMAIL", "c@example.com");
    cmd
}

/// Runs `git` in `dir`.
pub fn git(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap_or_else(|e| panic!("git could not run: {e}"))
}

/// Runs `git`, panicking with its stderr on failure; returns stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let o = git(dir, args);
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `git`, returning stdout or the failure as a message (for the benchmark, which must not panic).
pub fn run(dir: &Path, args: &[&str]) -> Result<String, String> {
    let o = git(dir, args);
    if !o.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&o.stderr)));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}
