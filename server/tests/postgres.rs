//! The same server on PostgreSQL: a throwaway cluster on 127.0.0.1 (Debian's `postgresql`,
//! installed by `make test`), migrations, accounts, sessions, tokens and a push through git.

mod common;

use common::*;
use github_double::postgres::Cluster;

/// The shared throwaway cluster, started on a blocking thread.
async fn cluster() -> Cluster {
    tokio::task::spawn_blocking(Cluster::start).await.unwrap().expect("a PostgreSQL cluster starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_runs_on_postgresql() {
    let cluster = cluster().await;
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
    let cluster = cluster().await;
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
    use app::ssr::events::MirrorEvent;
    use std::time::{Duration, Instant};
    let cluster = cluster().await;
    let start = || async {
        let data = tempfile::tempdir().unwrap();
        let mut config = gitblixt::config::Config::for_data_dir(data.path().to_path_buf());
        config.database_url = cluster.url();
        // No scheduler tick during the test: only a wake-up from the other process starts a run.
        config.sync.poll = Duration::from_secs(3600);
        (gitblixt::start(config).await.expect("starts on PostgreSQL"), data)
    };
    let (a, _a_data) = start().await;
    let (b, _b_data) = start().await;
    let mut heard = b.state.events.subscribe_mirrors();
    // B's listener may still be connecting: announce until B hears it (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        a.state.events.mirrors_changed(4242);
        match tokio::time::timeout(Duration::from_millis(500), heard.recv()).await {
            Ok(Ok(MirrorEvent::Changed { repository_id: 4242, from_peer: true, requested: 0 })) => break,
            Ok(Ok(other)) => panic!("unexpected event {other:?}"),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => assert!(Instant::now() < deadline, "B never heard A's change"),
        }
    }

    // A sync requested in A (the request is in the shared database; A's own workers are not
    // woken): B hears how many syncs were asked for, and one of B's workers runs it.
    let db = &a.state.db;
    let alice = app::ssr::accounts::create_user(db, &app::names::UserName::parse("peer-alice").unwrap(), "alice-password", false).await.unwrap();
    let repo = app::ssr::repos::create(db, &a.state.store, &alice, &app::names::RepoName::parse("p").unwrap(), "", false).await.unwrap();
    let remote = app::github_repo::GithubRepo::parse("octocat/p").unwrap();
    app::ssr::mirrors::create(db, repo.repo.id, alice.id, app::ssr::mirrors::Direction::Push, &remote, None, false).await.unwrap();
    a.state.events.mirrors_requested(repo.repo.id, 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut told = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, heard.recv()).await.expect("B's workers were not woken for A's request").unwrap() {
            MirrorEvent::Changed { repository_id, from_peer: true, requested: 1 } if repository_id == repo.repo.id => told = true,
            // B's worker claimed the run (B announces its own change).
            MirrorEvent::Changed { repository_id, from_peer: false, .. } if repository_id == repo.repo.id => break,
            _ => {}
        }
    }
    assert!(told, "B heard the number of syncs requested");
    a.stop().await.unwrap();
    b.stop().await.unwrap();
    drop(cluster);
}

/// A pooled connection that sat idle past the trust window is checked before it is handed out:
/// after the server ended every connection (as a restart or an administrator does), the next
/// query gets a fresh connection instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_the_server_ended_is_replaced_before_use() {
    use diesel_async::{AsyncConnection, RunQueryDsl};
    let cluster = cluster().await;
    let location = app::ssr::db::DbLocation::Postgres(cluster.url());
    let db = app::ssr::db::Db::connect(&location, 1).await.unwrap();
    let name = |n: &str| app::names::UserName::parse(n).unwrap();
    app::ssr::accounts::create_user(&db, &name("before"), "a-password-1", false).await.unwrap();

    let mut admin = diesel_async::AsyncPgConnection::establish(&cluster.url()).await.unwrap();
    let ended = diesel::sql_query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    assert!(ended >= 1, "the pool's connection was not ended");
    // The behaviour under test is the time the connection sat idle: let the trust window pass.
    tokio::time::sleep(app::ssr::pg_pool::TRUSTED_FOR + std::time::Duration::from_millis(100)).await;
    app::ssr::accounts::create_user(&db, &name("after"), "a-password-2", false).await.expect("a fresh connection");
    drop(cluster);
}
