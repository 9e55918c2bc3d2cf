//! `github-double [--seed]`: runs the GitHub double for the browser tests and the demo.
//!
//! Prints one line of JSON to stdout, `{"web_url":"…","api_url":"…"}`, then serves until stdin
//! closes (the parent went away), SIGTERM or ctrl-c. A stdin that is `/dev/null` is not watched.
//! With `--seed`: the user `octocat`, signed in to the double's pages, and a token of theirs with
//! the scopes `repo`, `read:user`, `user:email` (as `"token"` in the JSON line).
//! Logs go to stderr (`RUST_LOG`, default `info`).

use github_double::github::GithubDouble;
use std::io::{Read, Write};
use std::process::ExitCode;

const USAGE: &str = "usage: github-double [--seed]";

/// Whether stdin is `/dev/null` (then it reads as closed at once and says nothing about the parent).
fn stdin_is_dev_null() -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    match (std::fs::metadata("/dev/stdin"), std::fs::metadata("/dev/null")) {
        (Ok(stdin), Ok(null)) => stdin.file_type().is_char_device() && stdin.rdev() == null.rdev(),
        _ => false,
    }
}

/// Resolves when stdin reaches its end (or fails). The read blocks, so it runs on a plain thread:
/// one in tokio's blocking pool would keep the runtime from shutting down on SIGTERM.
fn stdin_closed() -> tokio::sync::oneshot::Receiver<()> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 1024];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        let _ = tx.send(());
    });
    rx
}

/// Installs the SIGTERM handler now (so a signal sent right after the announcement is caught,
/// not fatal) and returns a future that resolves when one arrives.
fn terminated() -> impl std::future::Future<Output = ()> {
    let sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        match sigterm {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let mut seed = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--seed" => seed = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("github-double: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let double = match GithubDouble::start().await {
        Ok(d) => d,
        Err(e) => {
            eprintln!("github-double: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut announce = serde_json::json!({ "web_url": double.web_url, "api_url": double.api_url });
    if seed {
        double.add_user("octocat");
        double.set_browser_user(Some("octocat"));
        announce["token"] = double.issue_token("octocat", &["repo", "read:user", "user:email"]).into();
    }
    let sigterm = terminated();
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{announce}").and_then(|_| stdout.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    let stdin_watch = (!stdin_is_dev_null()).then(stdin_closed);
    let stdin_end = async move {
        match stdin_watch {
            Some(closed) => {
                let _ = closed.await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = stdin_end => tracing::info!("stdin closed; stopping"),
        _ = sigterm => tracing::info!("SIGTERM; stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted; stopping"),
    }
    drop(double);
    ExitCode::SUCCESS
}
