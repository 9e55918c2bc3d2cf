//! Git over SSH: an SSH server (russh) that lets users who added a public key clone, fetch and
//! push with the standard OpenSSH client, exactly as over HTTP: the same permissions, the same
//! `git` processes and hooks, and the same path after a push (push mirrors follow).
//!
//! Layout, one phase per module: [`host_key`] (the server's identity), [`handler`] (a
//! connection: authentication, channel requests), [`session`] (one channel: the git process),
//! [`command`] (what a client may run). This module owns the listener and the limits on
//! connections.

pub mod command;
pub mod handler;
pub mod host_key;
pub mod session;

use crate::config::SshConfig;
use crate::git_service::GitState;
use russh::keys::PrivateKey;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

/// Keys a client may try on one connection (OpenSSH's `MaxAuthTries`).
pub const MAX_AUTH_ATTEMPTS: usize = 6;
/// Channels one connection may open (git opens one).
pub const MAX_CHANNELS: usize = 8;

/// What every connection shares.
pub struct Shared {
    pub git: GitState,
    /// The user name clients connect as (`git`, or `GITBLIXT_SSH_PUBLIC`'s).
    pub login: String,
    config: Arc<russh::server::Config>,
    connections: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    per_ip_max: usize,
    session_timeout: Duration,
    login_grace: Duration,
    stopping: watch::Receiver<bool>,
}

/// A running SSH server.
pub struct SshServer {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl SshServer {
    /// Stops accepting, disconnects every client (running git processes end with them), waits.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The server's russh configuration: public keys only, our limits.
fn russh_config(host_key: PrivateKey, idle: Duration) -> russh::server::Config {
    let mut methods = russh::MethodSet::empty();
    methods.push(russh::MethodKind::PublicKey);
    russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-GitBlixt".into()),
        methods,
        auth_rejection_time: Duration::from_millis(250),
        auth_rejection_time_initial: Some(Duration::ZERO),
        keys: vec![host_key],
        max_auth_attempts: MAX_AUTH_ATTEMPTS,
        // No traffic either way for this long ends the connection; git's own keep-alives
        // (upload-pack and receive-pack send them while they work) keep a slow transfer going.
        inactivity_timeout: Some(idle),
        keepalive_interval: None,
        nodelay: true,
        ..Default::default()
    }
}

/// Serves SSH on `listener` until stopped.
pub fn start(listener: TcpListener, git: GitState, config: &SshConfig, host_key: PrivateKey) -> std::io::Result<SshServer> {
    let addr = listener.local_addr()?;
    let (stop, stopping) = watch::channel(false);
    let shared = Arc::new(Shared {
        login: config.public.as_ref().map_or_else(|| "git".to_string(), |p| p.user.clone()),
        config: Arc::new(russh_config(host_key, git.limits.idle)),
        connections: Arc::new(Semaphore::new(config.max_connections)),
        per_ip: Mutex::new(HashMap::new()),
        per_ip_max: (config.max_connections / 8).max(4),
        session_timeout: config.session_timeout,
        login_grace: config.login_grace,
        stopping: stopping.clone(),
        git,
    });
    let task = tokio::spawn(accept_loop(listener, shared, stopping));
    tracing::info!(%addr, "GitBlixt SSH listening");
    Ok(SshServer { addr, stop, task })
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stopping: watch::Receiver<bool>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stopping.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    if let Some(slot) = admit(&shared, peer.ip()) {
                        connections.spawn(serve(shared.clone(), socket, peer, slot));
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!(error = %e, "accepting an SSH connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Every connection watches `stopping` and disconnects; wait for them, bounded.
    let _ = tokio::time::timeout(Duration::from_secs(10), async { while connections.join_next().await.is_some() {} }).await;
}

/// A connection's place under the limits; freed when dropped.
pub struct Slot {
    shared: Arc<Shared>,
    ip: IpAddr,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut per_ip = self.shared.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

/// A slot for a new connection from `ip`, or None when the server or this address holds as many
/// connections as allowed (the connection is then closed at once, as OpenSSH's `MaxStartups`).
fn admit(shared: &Arc<Shared>, ip: IpAddr) -> Option<Slot> {
    let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
        tracing::warn!(%ip, "SSH connection refused: the server holds as many connections as GITBLIXT_SSH_MAX_CONNECTIONS allows");
        return None;
    };
    let mut per_ip = shared.per_ip.lock().unwrap_or_else(|e| e.into_inner());
    let n = per_ip.entry(ip).or_insert(0);
    if *n >= shared.per_ip_max {
        tracing::warn!(%ip, "SSH connection refused: too many connections from this address");
        return None;
    }
    *n += 1;
    Some(Slot { shared: shared.clone(), ip, _permit: permit })
}

/// What the connection's handler tells the code that watches the connection.
#[derive(Default)]
pub struct ConnectionState {
    pub authenticated: AtomicBool,
    /// A key was offered (so a connection that ends unauthenticated was a failed sign-in).
    pub attempted: AtomicBool,
}

/// One connection, from the version exchange to the end, under the login grace time, the
/// session time limit and shutdown.
async fn serve(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr, _slot: Slot) {
    let state = Arc::new(ConnectionState::default());
    let handler = handler::Connection::new(shared.clone(), peer.ip(), state.clone());
    let started = tokio::time::Instant::now();
    let grace_ends = started + shared.login_grace;
    let limit_ends = started + shared.session_timeout;
    let setup = tokio::time::timeout_at(grace_ends.min(limit_ends), russh::server::run_stream(shared.config.clone(), socket, handler)).await;
    let session = match setup {
        Ok(Ok(session)) => session,
        Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "SSH connection setup failed"),
        Err(_) => return tracing::debug!(%peer, "SSH client sent no version in time"),
    };
    let handle = session.handle();
    tokio::pin!(session);
    let grace = tokio::time::sleep_until(grace_ends);
    tokio::pin!(grace);
    let limit = tokio::time::sleep_until(limit_ends);
    tokio::pin!(limit);
    let mut stopping = shared.stopping.clone();
    let mut grace_over = false;
    let reason = loop {
        tokio::select! {
            ended = &mut session => {
                if let Err(e) = ended {
                    tracing::debug!(%peer, error = %e, "SSH connection ended with an error");
                }
                break None;
            }
            () = &mut grace, if !grace_over => {
                grace_over = true;
                if !state.authenticated.load(Ordering::SeqCst) {
                    break Some("authentication took too long");
                }
            }
            () = &mut limit => break Some("the connection reached its time limit (GITBLIXT_SSH_SESSION_TIMEOUT)"),
            _ = stopping.changed() => break Some("the server is shutting down"),
        }
    };
    if let Some(reason) = reason {
        tracing::info!(%peer, reason, "disconnecting an SSH client");
        let _ = handle.disconnect(russh::Disconnect::ByApplication, reason.to_string(), "en".to_string()).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), &mut session).await;
    }
    if !state.authenticated.load(Ordering::SeqCst) && state.attempted.load(Ordering::SeqCst) {
        // One failed sign-in per connection, against the address (GITBLIXT_AUTH_FAILURES_PER_MINUTE).
        shared.git.app.guard.failed(Some(peer.ip()), None);
    }
}
