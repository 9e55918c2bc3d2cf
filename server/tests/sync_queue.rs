//! The durable sync queue's rules on SQLite (the same checks run on PostgreSQL in postgres.rs).

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sync_queue_on_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let config = gitblixt::config::Config::for_data_dir(data.path().to_path_buf());
    // No server and no workers: the test plays the workers.
    let state = gitblixt::open_state(&config, "http://127.0.0.1".into()).await.unwrap();
    common::queue::exercise_queue(&state).await;
}
