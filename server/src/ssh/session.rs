//! One session channel: the greeting for `ssh git@host`, or one git service (`exec`). The git
//! process gets the client's bytes on stdin and sends its stdout and stderr back, within the
//! SSH window (a slow client slows git down instead of filling memory). After a push, the refs
//! it changed are recorded (push mirrors requested) before the client hears that the command
//! ended, so `git push` returns only once the mirrors' requests are durable, as over HTTP.

use super::Shared;
use super::command::{self, GitRequest};
use crate::git_auth::GitPrincipal;
use crate::git_service::{self, Mode, Service};
use app::ssr::accounts::User;
use bytes::Bytes;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use std::process::Stdio;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

type Writer = ChannelWriteHalf<Msg>;

/// Bytes read from git's output at a time (one SSH packet's worth).
const CHUNK: usize = 32 * 1024;

/// Serves one channel until the client is done with it.
pub async fn run(shared: Arc<Shared>, user: User, channel: Channel<Msg>) {
    let (mut read, write) = channel.split();
    let mut protocol = None;
    while let Some(message) = read.wait().await {
        match message {
            ChannelMsg::SetEnv { variable_name, variable_value, .. } if variable_name == "GIT_PROTOCOL" => {
                protocol = git_service::git_protocol(&variable_value);
            }
            ChannelMsg::RequestShell { .. } => {
                let greeting = format!("Hi {}! You've successfully authenticated, but GitBlixt does not provide shell access.\r\n", user.name);
                return finish(&write, &greeting, 1).await;
            }
            ChannelMsg::Exec { command, .. } => {
                return match command::parse(&command) {
                    Ok(request) => exec(&shared, user, request, protocol, read, write).await,
                    Err(refused) => {
                        tracing::info!(user = %user.name, command = %String::from_utf8_lossy(&command).chars().take(200).collect::<String>(), "SSH command refused");
                        finish(&write, &format!("{refused}\n"), 1).await
                    }
                };
            }
            ChannelMsg::Eof | ChannelMsg::Close => return,
            _ => {}
        }
    }
}

/// Says `message` on stderr, ends the command with `status` and closes the channel.
async fn finish(write: &Writer, message: &str, status: u32) {
    if !message.is_empty() {
        let _ = write.extended_data_bytes(1, Bytes::from(message.to_string())).await;
    }
    close(write, status).await;
}

async fn close(write: &Writer, status: u32) {
    let _ = write.exit_status(status).await;
    let _ = write.eof().await;
    let _ = write.close().await;
}

/// Runs the git service the client asked for, if the user may.
async fn exec(shared: &Shared, user: User, request: GitRequest, protocol: Option<String>, read: ChannelReadHalf, write: Writer) {
    let git = &shared.git;
    let app = &git.app;
    let principal = GitPrincipal { user, scopes: None };
    let found = match git_service::check_access(app, Some(&principal), &request.owner, &request.repo, request.service).await {
        Ok(Ok(found)) => found,
        Ok(Err(denied)) => return finish(&write, &format!("{}\n", denied.message()), 1).await,
        Err(e) => {
            tracing::error!(error = %e, "looking up a repository for SSH");
            return finish(&write, "GitBlixt: internal server error\n", 1).await;
        }
    };
    if let Some(message) = git_service::disk_refusal(app, request.service) {
        return finish(&write, &format!("GitBlixt: {message}\n"), 1).await;
    }
    let Ok(_permit) = git.limits.processes.clone().try_acquire_owned() else {
        return finish(&write, &format!("{}\n", git_service::BUSY), 1).await;
    };
    let mut cmd = git_service::git_command(git, request.service, Mode::Session);
    cmd.arg(found.path(&app.store));
    if let Some(protocol) = &protocol {
        cmd.env("GIT_PROTOCOL", protocol);
    }
    let report = match request.service {
        Service::ReceivePack => match git_service::push_report(app, &mut cmd) {
            Ok(file) => Some(file),
            Err(e) => {
                tracing::error!(error = %e, "creating a push report file");
                return finish(&write, "GitBlixt: internal server error\n", 1).await;
            }
        },
        Service::UploadPack => None,
    };
    let repository = found.full_name();
    let mut child = match cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::error!(error = %e, "starting git for SSH");
            return finish(&write, "GitBlixt: internal server error\n", 1).await;
        }
    };
    let (Some(stdin), Some(stdout), Some(stderr)) = (child.stdin.take(), child.stdout.take(), child.stderr.take()) else {
        return finish(&write, "GitBlixt: internal server error\n", 1).await;
    };
    let outputs = async { tokio::join!(pump(&write, None, stdout), pump(&write, Some(1), stderr)) };
    tokio::select! {
        _ = outputs => {}
        () = feed(read, stdin) => {
            // The client went away: git is stopped (a push is abandoned before any ref changes).
            tracing::debug!(repository = %repository, "SSH client left before git finished");
            let _ = child.kill().await;
            return;
        }
    }
    let status = child.wait().await.ok();
    git_service::log_git_exit(&repository, request.service, status, &[]);
    // The hook's report lists exactly the refs receive-pack updated, whatever its exit status.
    if let Some(report) = report {
        git_service::after_push(app, &found, &principal, report).await;
    }
    let code = status.and_then(|s| s.code()).map_or(1, |c| c as u32);
    close(&write, code).await;
}

/// The client's bytes into git's stdin; EOF closes it. Returns when the client closes the
/// channel or the connection ends.
async fn feed(mut read: ChannelReadHalf, stdin: tokio::process::ChildStdin) {
    let mut stdin = Some(stdin);
    while let Some(message) = read.wait().await {
        match message {
            ChannelMsg::Data { data } => {
                if let Some(pipe) = stdin.as_mut() {
                    if pipe.write_all(&data).await.is_err() {
                        // git stopped reading: it ended, and says why itself.
                        stdin = None;
                    }
                }
            }
            ChannelMsg::Eof => stdin = None,
            ChannelMsg::Close => return,
            _ => {}
        }
    }
}

/// One of git's outputs to the client (stdout as data, stderr as extended data 1), until git
/// closes it.
async fn pump(write: &Writer, ext: Option<u32>, mut output: impl AsyncRead + Unpin) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match output.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let chunk = Bytes::copy_from_slice(&buf[..n]);
        let sent = match ext {
            None => write.data_bytes(chunk).await,
            Some(ext) => write.extended_data_bytes(ext, chunk).await,
        };
        if sent.is_err() {
            return;
        }
    }
}
