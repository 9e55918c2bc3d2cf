//! The live status socket of a repository's mirrors (`GET /ws/mirrors/{owner}/{repo}`) with a real
//! websocket client: who is refused and with which HTTP status, the snapshot on connect, a push
//! followed through Queued/Syncing to Active without the client asking, the socket closed when
//! the session ends (1008) and when the server stops (1012).

mod support;

use app::model::{LiveFrame, MirrorState, MirrorView, MirrorsView};
use app::names::RepoName;
use app::ssr::accounts;
use futures_util::StreamExt;
use github_double::github::DoubleFault;
use std::time::Duration;
use support::{Browser, PASSWORD, Setup};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// The longest any single wait may take (a loaded 2-core machine, a GitHub answering slowly).
const WAIT: Duration = Duration::from_secs(60);

/// The upgrade request for `owner/repo`'s socket, with an `Origin` and a `Cookie` if given.
fn request(s: &Setup, owner: &str, repo: &str, origin: Option<&str>, cookie: Option<&str>) -> Request {
    let mut req = format!("ws://{}/ws/mirrors/{owner}/{repo}", s.server.addr).into_client_request().unwrap();
    if let Some(origin) = origin {
        req.headers_mut().insert("Origin", HeaderValue::from_str(origin).unwrap());
    }
    if let Some(cookie) = cookie {
        req.headers_mut().insert("Cookie", HeaderValue::from_str(cookie).unwrap());
    }
    req
}

/// The request a signed-in browser page of this server makes.
fn page_request(s: &Setup, owner: &str, repo: &str, browser: &Browser) -> Request {
    request(s, owner, repo, Some(&s.server.url()), browser.cookie.as_deref())
}

/// The HTTP status (and body) a refused upgrade is answered with.
async fn refused(req: Request) -> (u16, String) {
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req)).await.expect("the upgrade was never answered") {
        Err(tungstenite::Error::Http(res)) => {
            let body = res.body().as_deref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            (res.status().as_u16(), body)
        }
        Err(e) => panic!("the upgrade failed without an HTTP answer: {e}"),
        Ok((_, res)) => panic!("the upgrade was accepted ({})", res.status()),
    }
}

async fn connect(req: Request) -> Socket {
    let (socket, res) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("the upgrade was never answered")
        .unwrap_or_else(|e| panic!("the upgrade was refused: {e}"));
    assert_eq!(res.status(), 101);
    socket
}

/// What the socket gave next.
#[derive(Debug)]
enum Got {
    Frame(LiveFrame),
    /// A close frame, with its code.
    Closed(Option<u16>),
    /// The connection ended (after a close, or without one).
    Ended,
}

/// The next frame (pings and pongs skipped), waiting at most until `deadline`.
async fn next(socket: &mut Socket, deadline: Instant) -> Got {
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next()).await.expect("timed out waiting for the socket");
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame = serde_json::from_str(text.as_str()).unwrap_or_else(|e| panic!("not a LiveFrame ({e}): {text}"));
                return Got::Frame(frame);
            }
            Some(Ok(Message::Close(frame))) => return Got::Closed(frame.map(|f| u16::from(f.code))),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(other)) => panic!("unexpected message {other:?}"),
            Some(Err(_)) | None => return Got::Ended,
        }
    }
}

/// The first frame must be a snapshot.
async fn first_snapshot(socket: &mut Socket) -> MirrorsView {
    match next(socket, Instant::now() + WAIT).await {
        Got::Frame(LiveFrame::Snapshot { mirrors }) => mirrors,
        other => panic!("the first frame is not a snapshot: {other:?}"),
    }
}

fn push_mirror(view: &MirrorsView, id: i64) -> &MirrorView {
    view.push.iter().find(|m| m.id == id).unwrap_or_else(|| panic!("mirror {id} is not in {view:?}"))
}

/// What the socket showed of one mirror until `done` held: its state in every snapshot, the
/// progress frames, and the last view.
struct Followed {
    states: Vec<MirrorState>,
    progress: usize,
    last: MirrorView,
}

/// Reads frames (never asking the server for anything) until a snapshot shows `done` for `id`.
async fn follow(socket: &mut Socket, id: i64, done: impl Fn(&MirrorView) -> bool) -> Followed {
    let deadline = Instant::now() + WAIT;
    let mut states = Vec::new();
    let mut progress = 0;
    loop {
        match next(socket, deadline).await {
            Got::Frame(LiveFrame::Snapshot { mirrors }) => {
                let m = push_mirror(&mirrors, id);
                states.push(m.state);
                if m.progress.is_some() {
                    progress += 1;
                }
                if done(m) {
                    return Followed { states, progress, last: m.clone() };
                }
            }
            Got::Frame(LiveFrame::Progress { mirror, progress: p }) => {
                assert_eq!(mirror, id, "progress of another mirror: {p:?}");
                assert!(!p.phase.is_empty());
                progress += 1;
            }
            other => panic!("the socket ended while following mirror {id}: {other:?} after {states:?}"),
        }
    }
}

/// Reads until the server closes the socket; returns the close code and the snapshots before it.
async fn closed(socket: &mut Socket) -> (Option<u16>, Vec<MirrorsView>) {
    let deadline = Instant::now() + WAIT;
    let mut before = Vec::new();
    loop {
        match next(socket, deadline).await {
            Got::Frame(LiveFrame::Snapshot { mirrors }) => before.push(mirrors),
            Got::Frame(LiveFrame::Progress { .. }) => {}
            Got::Closed(code) => {
                // Nothing follows a close.
                assert!(matches!(next(socket, Instant::now() + WAIT).await, Got::Ended | Got::Closed(_)));
                return (code, before);
            }
            Got::Ended => panic!("the connection ended without a close frame"),
        }
    }
}

/// The shown run that pushed `commit` as `main`, if any.
fn run_of<'a>(m: &'a MirrorView, commit: &str) -> Option<&'a app::model::RunView> {
    m.runs.iter().find(|r| r.refs.iter().any(|c| c.name == "refs/heads/main" && c.new.as_deref() == Some(commit)))
}

/// Whether the mirror is shown Active, with a run that pushed `commit` as `main`.
fn pushed(m: &MirrorView, commit: &str) -> bool {
    m.state == MirrorState::Active && run_of(m, commit).is_some()
}

/// A commit pushed to alice/project with the real git client; returns its id.
fn push_commit(s: &Setup, file: &str) -> String {
    let id = s.commit(file, &format!("{file}\n"));
    tokio::task::block_in_place(|| s.push(&["push", "-q", "origin", "main"]));
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_answer_with_the_http_status() {
    let (s, _) = Setup::start().await;
    let st = s.server.state.clone();
    let base = s.server.url();
    let alice = Browser::sign_in(&base, "alice", PASSWORD).await;
    let cookie = alice.cookie.as_deref();
    let owner = accounts::find_user(&st.db, "alice").await.unwrap().unwrap();
    app::ssr::repos::create(&st.db, &st.store, &owner, &RepoName::parse("secret").unwrap(), "", true).await.unwrap();

    // Another site's page (or no Origin at all) may not open the socket, even with alice's cookie.
    let other_port = format!("http://127.0.0.1:{}", s.server.addr.port() + 1);
    for origin in [None, Some("http://evil.example"), Some("null"), Some(other_port.as_str())] {
        let (status, body) = refused(request(&s, "alice", "project", origin, cookie)).await;
        assert_eq!((status, body.as_str()), (403, "Cross-origin request refused."), "Origin {origin:?}");
    }

    // No session, or one that does not exist: 401.
    assert_eq!(refused(request(&s, "alice", "project", Some(&base), None)).await.0, 401);
    assert_eq!(refused(request(&s, "alice", "project", Some(&base), Some("gitblixt_session=not-a-session"))).await.0, 401);
    assert_eq!(refused(request(&s, "alice", "project", Some(&base), Some("other=1"))).await.0, 401);

    // bob may read alice's public repository but not administer it; her private one does not exist for him.
    let bob = Browser::sign_up(&base, "bob").await;
    let (status, body) = refused(page_request(&s, "alice", "project", &bob)).await;
    assert_eq!((status, body.as_str()), (403, "You don't have permission to do that."));
    let (status, body) = refused(page_request(&s, "alice", "secret", &bob)).await;
    assert_eq!((status, body.as_str()), (404, "Page not found."));
    assert_eq!(refused(page_request(&s, "alice", "no-such-repository", &bob)).await.0, 404);
    assert_eq!(refused(page_request(&s, "alice", "no-such-repository", &alice)).await.0, 404);

    // alice herself is let in, to both.
    let mut socket = connect(page_request(&s, "alice", "project", &alice)).await;
    assert_eq!(first_snapshot(&mut socket).await.push.len(), 1);
    let mut socket = connect(page_request(&s, "alice", "secret", &alice)).await;
    let secret = first_snapshot(&mut socket).await;
    assert!(secret.push.is_empty() && secret.pull.is_empty() && secret.fetches.is_empty(), "{secret:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_shows_live_through_syncing_to_active() {
    let (s, mirror) = Setup::start().await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let alice = Browser::sign_in(&s.server.url(), "alice", PASSWORD).await;
    let mut socket = connect(page_request(&s, "alice", "project", &alice)).await;

    // On connect: the mirroring sections as they are.
    let first = first_snapshot(&mut socket).await;
    assert_eq!(first.push.len(), 1);
    assert!(first.pull.is_empty() && first.fetches.is_empty() && first.warning.is_none());
    let m = push_mirror(&first, mirror);
    assert_eq!((m.remote.as_str(), m.direction.as_str()), ("octocat/project", "push"));
    assert!(matches!(m.state, MirrorState::Active | MirrorState::Queued | MirrorState::Syncing), "{m:?}");
    assert_eq!(m.runs.last().unwrap().trigger, "initial");
    assert!(m.runs.iter().all(|r| r.outcome == "success"), "{m:?}");

    // A push while GitHub answers slowly: the socket alone shows the run start, go on, and end.
    s.double.set_fault(DoubleFault { latency: Duration::from_secs(1), ..DoubleFault::default() });
    let commit = push_commit(&s, "live.txt");
    let seen = follow(&mut socket, mirror, |m| pushed(m, &commit)).await;
    let (end, before) = seen.states.split_last().unwrap();
    assert_eq!(*end, MirrorState::Active);
    assert!(before.contains(&MirrorState::Syncing), "never shown syncing: {:?}", seen.states);
    assert!(!before.iter().any(|s| matches!(s, MirrorState::Error | MirrorState::Paused)), "{:?}", seen.states);
    assert!(seen.progress > 0, "no progress was shown while syncing: {:?}", seen.states);
    let run = run_of(&seen.last, &commit).unwrap();
    assert_eq!((run.trigger.as_str(), run.outcome.as_str(), run.error.as_deref()), ("push", "success", None));
    let main = run.refs.iter().find(|r| r.name == "refs/heads/main").unwrap();
    assert_eq!(main.outcome, "updated");
    assert!(seen.last.progress.is_none());
    assert_eq!(s.double.refs("octocat", "project")["refs/heads/main"], commit);

    // At full speed too, the next push ends up shown with its run.
    s.double.set_fault(DoubleFault::default());
    let commit = push_commit(&s, "live2.txt");
    let seen = follow(&mut socket, mirror, |m| pushed(m, &commit)).await;
    assert_eq!(run_of(&seen.last, &commit).unwrap().trigger, "push");
    assert_eq!(s.double.refs("octocat", "project")["refs/heads/main"], commit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_closes_the_socket_at_the_next_change() {
    let (s, mirror) = Setup::start().await;
    s.wait_in_sync().await;
    s.wait_settled(mirror, "active").await;
    let base = s.server.url();
    let alice = Browser::sign_in(&base, "alice", PASSWORD).await;
    let mut socket = connect(page_request(&s, "alice", "project", &alice)).await;
    first_snapshot(&mut socket).await;

    // Another session of alice's ends: this one goes on receiving changes.
    let other = Browser::sign_in(&base, "alice", PASSWORD).await;
    let res = other.post("/api/sign_out", &[]).await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    assert_eq!(refused(page_request(&s, "alice", "project", &other)).await.0, 401, "the ended session opens no socket");
    let commit = push_commit(&s, "a.txt");
    follow(&mut socket, mirror, |m| pushed(m, &commit)).await;
    s.wait_settled(mirror, "active").await;
    let newest = app::ssr::mirrors::recent_runs(&s.server.state.db, mirror, 1).await.unwrap()[0].id;
    let runs = app::ssr::mirrors::count_runs(&s.server.state.db, mirror).await.unwrap();

    // This session ends; the next change (Sync now from a third session) closes the socket
    // with 1008 instead of sending it.
    let res = alice.post("/api/sign_out", &[]).await;
    assert!(res.status().is_success() || res.status().is_redirection(), "{}", res.status());
    let third = Browser::sign_in(&base, "alice", PASSWORD).await;
    let id = mirror.to_string();
    let res = third.post("/api/mirror_action", &[("owner", "alice"), ("repo", "project"), ("id", id.as_str()), ("action", "sync")]).await;
    assert!(res.status().is_success(), "{}", res.status());
    let (code, before) = closed(&mut socket).await;
    assert_eq!(code, Some(1008));
    for view in before {
        let m = push_mirror(&view, mirror);
        assert!(m.state == MirrorState::Active && m.runs[0].id == newest, "a change after signing out was sent: {m:?}");
    }
    assert_eq!(refused(page_request(&s, "alice", "project", &alice)).await.0, 401);
    // The sync itself went ahead.
    s.wait_settled(mirror, "active").await;
    assert!(app::ssr::mirrors::count_runs(&s.server.state.db, mirror).await.unwrap() > runs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_closes_the_socket_with_1012() {
    let (s, mirror) = Setup::start().await;
    s.wait_settled(mirror, "active").await;
    let alice = Browser::sign_in(&s.server.url(), "alice", PASSWORD).await;
    let req = page_request(&s, "alice", "project", &alice);
    let again = page_request(&s, "alice", "project", &alice);
    let mut socket = connect(req).await;
    first_snapshot(&mut socket).await;

    let Setup { server, double: _double, data: _data, work: _work, .. } = s;
    let stop = tokio::spawn(server.stop());
    let (code, _) = closed(&mut socket).await;
    assert_eq!(code, Some(1012));
    tokio::time::timeout(WAIT, stop).await.expect("the server never stopped").unwrap().unwrap();
    assert!(tokio_tungstenite::connect_async(again).await.is_err(), "a stopped server takes no sockets");
}
