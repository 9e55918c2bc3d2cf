//! The same server on PostgreSQL: a throwaway cluster on 127.0.0.1 (Debian's `postgresql`,
//! installed by `make test`), migrations, accounts, sessions, tokens and a push through git.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A PostgreSQL cluster in a temporary directory, stopped on drop.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    as_user: Option<&'static str>,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (Debian package `postgresql`; `make test` installs it)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn run(as_user: Option<&str>, program: &Path, args: &[&str]) {
    let out = match as_user {
        Some(user) => Command::new("runuser").arg("-u").arg(user).arg("--").arg(program).args(args).output(),
        None => Command::new(program).args(args).output(),
    }
    .expect("runs");
    assert!(out.status.success(), "{program:?} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Cluster {
    fn start() -> Self {
        let bin = pg_bin();
        // PostgreSQL refuses to run as root; use the `postgres` account the package creates.
        let is_root = current_uid() == 0;
        let as_user = is_root.then_some("postgres");
        let dir = tempfile::Builder::new().prefix("gitblixt-pg-").tempdir().unwrap();
        if is_root {
            let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
            assert!(status.success());
        }
        let data = dir.path().join("data");
        let data_s = data.to_str().unwrap().to_string();
        run(as_user, &bin.join("initdb"), &["-D", &data_s, "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
        let port = free_port();
        let opts = format!("-h 127.0.0.1 -p {port} -k {} -F", dir.path().display());
        let log = dir.path().join("log").to_str().unwrap().to_string();
        run(as_user, &bin.join("pg_ctl"), &["-D", &data_s, "-o", &opts, "-l", &log, "-w", "start"]);
        Self { bin, dir, port, as_user }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.path().join("data");
        run(self.as_user, &self.bin.join("pg_ctl"), &["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"]);
    }
}

fn current_uid() -> u32 {
    // `id -u` avoids an unsafe libc call in tests.
    let out = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_runs_on_postgresql() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = gitblixt::config::Config::for_data_dir(data.path().to_path_buf());
    config.database_url = cluster.url();
    let running = gitblixt::start(config).await.expect("starts on PostgreSQL");
    assert_eq!(running.state.db.backend_name(), "postgres");
    let state = running.state.clone();
    let db = &state.db;

    let alice = app::ssr::accounts::create_user(db, &app::names::UserName::parse("alice").unwrap(), "alice-password", false)
        .await
        .unwrap();
    assert!(alice.is_admin, "the first account is the admin");
    let dup = app::ssr::accounts::create_user(db, &app::names::UserName::parse("ALICE").unwrap(), "x-password", false).await;
    assert!(matches!(dup, Err(app::ssr::accounts::AccountError::NameTaken(_))));
    let session = app::ssr::accounts::create_session(db, alice.id).await.unwrap();
    assert_eq!(app::ssr::accounts::session_user(db, &session).await.unwrap().unwrap().id, alice.id);
    let found = app::ssr::repos::create(db, &state.store, &alice, &app::names::RepoName::parse("pg").unwrap(), "on pg", true)
        .await
        .unwrap();
    let token = app::ssr::accounts::create_token(db, alice.id, "t", &["write_repository".into()], 5).await.unwrap().token;

    let work = tempfile::tempdir().unwrap();
    git_ok(work.path(), &["init", "-q", "-b", "main"]);
    let head = commit_file(work.path(), "f", "x", "one");
    let mut events = state.events.subscribe_refs_updated();
    git_ok(work.path(), &["push", "-q", &format!("http://oauth2:{token}@{}/alice/pg.git", running.addr), "main"]);
    let event = tokio::time::timeout(std::time::Duration::from_secs(10), events.recv()).await.unwrap().unwrap();
    assert_eq!(event.repository_id, found.repo.id);
    assert_eq!(event.updates[0].new, head);
    let (mine, _) = app::ssr::repos::dashboard(db, &alice).await.unwrap();
    assert_eq!(mine.len(), 1);
    running.stop().await.unwrap();
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_queue_on_postgresql() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut config = gitblixt::config::Config::for_data_dir(data.path().to_path_buf());
    config.database_url = cluster.url();
    // No server and no workers: the test plays the workers.
    let state = gitblixt::open_state(&config, "http://127.0.0.1".into()).await.unwrap();
    assert_eq!(state.db.backend_name(), "postgres");
    common::queue::exercise_queue(&state).await;
    drop(cluster);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_sharing_postgresql_hear_each_others_mirror_changes() {
    let cluster = tokio::task::spawn_blocking(Cluster::start).await.unwrap();
    let start = || async {
        let data = tempfile::tempdir().unwrap();
        let mut config = gitblixt::config::Config::for_data_dir(data.path().to_path_buf());
        config.database_url = cluster.url();
        (gitblixt::start(config).await.expect("starts on PostgreSQL"), data)
    };
    let (a, _a_data) = start().await;
    let (b, _b_data) = start().await;
    let mut heard = b.state.events.subscribe_mirrors();
    let woken = b.state.sync_wake.clone();
    // B's listener may still be connecting: announce until B hears it (bounded).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let wake = woken.notified();
        a.state.events.mirrors_changed(4242);
        match tokio::time::timeout(std::time::Duration::from_millis(500), heard.recv()).await {
            Ok(Ok(app::ssr::events::MirrorEvent::Changed { repository_id: 4242, from_peer: true })) => {
                tokio::time::timeout(std::time::Duration::from_secs(5), wake).await.expect("B's workers were woken");
                break;
            }
            Ok(Ok(other)) => panic!("unexpected event {other:?}"),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => assert!(std::time::Instant::now() < deadline, "B never heard A's change"),
        }
    }
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    drop(cluster);
}
