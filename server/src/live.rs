//! The live status socket of a repository's mirrors: `GET /ws/mirrors/<owner>/<repo>` upgrades to
//! a websocket that sends a [`LiveFrame::Snapshot`] of the mirroring sections on connect and after
//! every change, and [`LiveFrame::Progress`] while a sync runs.
//!
//! The upgrade is refused unless `Origin` is one of the instance's, the session cookie is valid and its
//! user may administer the repository (404/403 as on the page). The session and the permission are
//! checked again before every snapshot, so a signed-out user or one who lost access stops
//! receiving events.

use crate::origin_check;
use app::error::AppError;
use app::model::LiveFrame;
use app::ssr::events::MirrorEvent;
use app::ssr::web::session_id;
use app::ssr::{AppState, accounts, mirror_service};
use axum::Router;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

pub const PATH: &str = "/ws/mirrors/{owner}/{repo}";

/// The largest message a client may send. The page sends nothing; control frames are small.
pub const MAX_CLIENT_MESSAGE: usize = 4096;
/// Live sockets one user may hold open at once (tabs and windows together).
pub const MAX_SOCKETS_PER_USER: usize = 20;

#[derive(Clone)]
struct LiveState {
    app: AppState,
    /// Becomes `true` when the server shuts down: sockets close so the shutdown is not held up.
    stopping: watch::Receiver<bool>,
    /// Open sockets per user id.
    open: Arc<Mutex<HashMap<i64, usize>>>,
}

pub fn routes(app: AppState, stopping: watch::Receiver<bool>) -> Router {
    Router::new().route(PATH, get(upgrade)).with_state(LiveState { app, stopping, open: Arc::default() })
}

/// One of a user's open sockets; counted while it lives.
struct Slot {
    open: Arc<Mutex<HashMap<i64, usize>>>,
    user_id: i64,
}

impl Slot {
    /// A slot for `user_id`, unless they hold [`MAX_SOCKETS_PER_USER`] already.
    fn take(open: &Arc<Mutex<HashMap<i64, usize>>>, user_id: i64) -> Option<Slot> {
        let mut counts = open.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(user_id).or_insert(0);
        if *count >= MAX_SOCKETS_PER_USER {
            return None;
        }
        *count += 1;
        Some(Slot { open: open.clone(), user_id })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.user_id) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.user_id);
            }
        }
    }
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}

async fn upgrade(
    State(live): State<LiveState>,
    Path((owner, repo)): Path<(String, String)>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if !origin_check::is_allowed_origin(&live.app.settings, &headers) {
        tracing::warn!(path = %format!("/ws/mirrors/{owner}/{repo}"), "websocket from another origin refused");
        return refuse(StatusCode::FORBIDDEN, "Cross-origin request refused.");
    }
    let Some(session) = session_id(&live.app.settings, &headers) else {
        return refuse(StatusCode::UNAUTHORIZED, &AppError::Unauthenticated.to_string());
    };
    let (user_id, repository_id) = match authorize(&live.app, &session, &owner, &repo).await {
        Ok(ids) => ids,
        Err(e) => return refuse(StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN), &e.to_string()),
    };
    let ws = match ws {
        Ok(ws) => ws.max_message_size(MAX_CLIENT_MESSAGE).max_frame_size(MAX_CLIENT_MESSAGE),
        Err(rejection) => return rejection.into_response(),
    };
    let Some(slot) = Slot::take(&live.open, user_id) else {
        tracing::warn!(user_id, "too many live sockets for one user");
        return refuse(StatusCode::TOO_MANY_REQUESTS, "Too many open GitBlixt pages are watching mirrors; close some tabs.");
    };
    ws.on_upgrade(move |socket| async move {
        let _slot = slot;
        Connection { live, session, owner, repo, repository_id }.serve(socket).await;
    })
}

/// The user's and the repository's ids if the session's user may administer it.
async fn authorize(app: &AppState, session: &str, owner: &str, repo: &str) -> Result<(i64, i64), AppError> {
    let user = accounts::session_user(&app.db, session).await?.ok_or(AppError::Unauthenticated)?;
    let found = mirror_service::administrable(app, Some(&user), owner, repo).await?;
    Ok((user.id, found.repo.id))
}

struct Connection {
    live: LiveState,
    session: String,
    owner: String,
    repo: String,
    repository_id: i64,
}

/// Why a connection ended.
enum End {
    ClientGone,
    /// The client sent more than [`MAX_CLIENT_MESSAGE`] (or garbage).
    TooBig,
    Denied,
    Stopping,
}

impl Connection {
    async fn serve(self, mut socket: WebSocket) {
        // Subscribe before the first snapshot, so nothing between the two is missed.
        let mut events = self.live.app.events.subscribe_mirrors();
        let mut stopping = self.live.stopping.clone();
        let mut keepalive = tokio::time::interval(Duration::from_secs(25));
        keepalive.reset();
        let end = match self.snapshot(&mut socket).await {
            Err(end) => end,
            Ok(()) => loop {
                tokio::select! {
                    event = events.recv() => {
                        let sent = match event {
                            Ok(MirrorEvent::Changed { repository_id, .. }) if repository_id == self.repository_id => {
                                // Several changes usually come together (claim, record, finish): send one snapshot.
                                drain_changes(&mut events);
                                self.snapshot(&mut socket).await
                            }
                            Ok(MirrorEvent::Progress { repository_id, mirror_id, progress }) if repository_id == self.repository_id => {
                                send(&mut socket, &LiveFrame::Progress { mirror: mirror_id, progress }).await
                            }
                            Ok(_) => Ok(()),
                            // Fell behind: the snapshot is the truth.
                            Err(broadcast::error::RecvError::Lagged(_)) => self.snapshot(&mut socket).await,
                            Err(broadcast::error::RecvError::Closed) => Err(End::Stopping),
                        };
                        if let Err(end) = sent { break end; }
                    }
                    message = socket.recv() => match message {
                        None | Some(Ok(Message::Close(_))) => break End::ClientGone,
                        // Over MAX_CLIENT_MESSAGE, or not WebSocket at all.
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "live socket: bad message from the client");
                            break End::TooBig;
                        }
                        Some(Ok(_)) => {}
                    },
                    _ = keepalive.tick() => {
                        if socket.send(Message::Ping(Vec::new().into())).await.is_err() { break End::ClientGone; }
                    }
                    _ = stopping.changed() => break End::Stopping,
                }
            },
        };
        let close = match end {
            End::ClientGone => None,
            End::Denied => Some((1008, "access denied")),
            End::TooBig => Some((1009, "message too big")),
            // 1012: service restart — the page reconnects.
            End::Stopping => Some((1012, "server restarting")),
        };
        if let Some((code, reason)) = close {
            let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
        }
    }

    /// Sends the whole current state, after checking the session and the permission again.
    async fn snapshot(&self, socket: &mut WebSocket) -> Result<(), End> {
        let app = &self.live.app;
        match authorize(app, &self.session, &self.owner, &self.repo).await {
            Ok((_, id)) if id == self.repository_id => {}
            Ok(_) | Err(AppError::Unauthenticated | AppError::Forbidden | AppError::NotFound) => return Err(End::Denied),
            Err(e) => {
                tracing::warn!(error = %e, "live mirror status: could not check access");
                return Ok(());
            }
        }
        match mirror_service::views(app, self.repository_id).await {
            Ok(mirrors) => send(socket, &LiveFrame::Snapshot { mirrors }).await,
            Err(e) => {
                tracing::warn!(error = %e, "live mirror status: could not read the mirrors");
                Ok(())
            }
        }
    }
}

fn drain_changes(events: &mut broadcast::Receiver<MirrorEvent>) {
    while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = events.try_recv() {}
}

async fn send(socket: &mut WebSocket, frame: &LiveFrame) -> Result<(), End> {
    let text = serde_json::to_string(frame).map_err(|_| End::ClientGone)?;
    socket.send(Message::Text(text.into())).await.map_err(|_| End::ClientGone)
}
