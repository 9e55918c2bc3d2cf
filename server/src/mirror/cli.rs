//! `gitblixt mirror push|fetch`: one transfer from the command line, for operators and benchmarks.
//! The token comes from `GITBLIXT_REMOTE_TOKEN` (never from argv, where `ps` would show it).

use super::{FetchMode, MirrorError, TransferOptions, TransferReport, report_text};
use secrecy::SecretString;
use std::path::PathBuf;
use std::time::Duration;

pub enum Direction {
    Push,
    Fetch { prune: bool },
}

pub struct Request {
    pub direction: Direction,
    pub local: PathBuf,
    pub remote_url: String,
    pub json: bool,
    pub timeout: u64,
    pub stall_timeout: u64,
}

#[derive(serde::Serialize)]
struct JsonError<'a> {
    error: &'a str,
    message: String,
    retryable: bool,
}

/// Runs the transfer and prints its result; `Err` carries the message for a non-zero exit.
pub async fn run(req: Request) -> Result<(), String> {
    if req.timeout == 0 || req.stall_timeout == 0 {
        return Err("--timeout and --stall-timeout must be positive".into());
    }
    let token = std::env::var("GITBLIXT_REMOTE_TOKEN").ok().filter(|t| !t.is_empty()).map(SecretString::from);
    // The command line's mirror memory is its own (`refs/gitblixt/synced/cli/`); what it
    // replaces is kept under `refs/gitblixt/kept/cli-<ms>/`.
    let opts = TransferOptions {
        token,
        timeout: Duration::from_secs(req.timeout),
        stall_timeout: Duration::from_secs(req.stall_timeout),
        safety: super::Safety { memory: Some("cli".to_string()), ..super::Safety::default() },
        ..TransferOptions::default()
    };
    let result: Result<TransferReport, MirrorError> = match req.direction {
        Direction::Push => super::push(&req.local, &req.remote_url, &opts).await,
        Direction::Fetch { prune } => {
            let mode = if prune { FetchMode::Mirror } else { FetchMode::Once };
            super::fetch(&req.remote_url, &req.local, mode, &opts).await
        }
    };
    match result {
        Ok(report) => {
            if req.json {
                println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            } else {
                print!("{}", report_text::render(&report));
            }
            let rejected = report.rejected().count();
            if rejected > 0 {
                return Err(format!("{rejected} ref(s) rejected by the remote"));
            }
            Ok(())
        }
        Err(e) => {
            if req.json {
                let body = JsonError { error: e.kind(), message: e.to_string(), retryable: e.is_retryable() };
                println!("{}", serde_json::to_string_pretty(&body).map_err(|e| e.to_string())?);
            }
            Err(format!("{} ({})", e, e.kind()))
        }
    }
}
