//! The durable sync queue's rules, run against a database without any worker (the test plays
//! the workers): claims are exclusive, requests coalesce, a request during a run gives exactly one
//! follow-up, bursts of pushes wait for a quiet moment, paused mirrors are never claimed, expired
//! leases are taken over. Shared by the SQLite and PostgreSQL tests.

use app::github_repo::GithubRepo;
use app::names::{RepoName, UserName};
use app::ssr::mirrors::{self, Direction, RunEnd, Trigger};
use app::ssr::AppState;

pub async fn exercise_queue(st: &AppState) {
    let db = &st.db;
    let alice = app::ssr::accounts::create_user(db, &UserName::parse("queue-alice").unwrap(), "alice-password", false).await.unwrap();
    let repo = app::ssr::repos::create(db, &st.store, &alice, &RepoName::parse("q").unwrap(), "", false).await.unwrap();
    let remote = GithubRepo::parse("octocat/q").unwrap();
    let id = mirrors::create(db, repo.repo.id, alice.id, Direction::Push, &remote, None, false).await.unwrap();

    // The initial sync is claimable at once, by exactly one of two racing workers.
    let (a, b) = tokio::join!(mirrors::claim_next(db, "w1", 60, &[]), mirrors::claim_next(db, "w2", 60, &[]));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert!(a.is_some() != b.is_some(), "exactly one claim wins: {a:?} {b:?}");
    let claimed = a.or(b).unwrap();
    assert_eq!(claimed.mirror.id, id);
    assert_eq!(claimed.trigger, "initial");
    let holder = mirrors::get(db, id).await.unwrap().unwrap().leased_by.unwrap();

    // Requests during the run (two Sync now, a push) coalesce into one follow-up.
    mirrors::request_sync(db, id, Trigger::Manual).await.unwrap();
    mirrors::request_sync(db, id, Trigger::Manual).await.unwrap();
    assert!(mirrors::claim_next(db, "w3", 60, &[]).await.unwrap().is_none(), "one run per mirror at a time");
    mirrors::finish(db, &claimed, &holder, &RunEnd::Success { pushed_digest: None }).await.unwrap();
    let follow_up = mirrors::claim_next(db, "w1", 60, &[]).await.unwrap().expect("one follow-up run");
    assert_eq!(follow_up.trigger, "manual");
    mirrors::finish(db, &follow_up, "w1", &RunEnd::Success { pushed_digest: None }).await.unwrap();
    assert!(mirrors::claim_next(db, "w1", 60, &[]).await.unwrap().is_none(), "and only one");

    // A push right after a run is part of a burst: it waits for a quiet moment, then runs once.
    assert_eq!(mirrors::request_push_mirrors(db, repo.repo.id).await.unwrap().waiting, 1);
    let again = mirrors::request_push_mirrors(db, repo.repo.id).await.unwrap();
    assert_eq!((again.now, again.waiting), (0, 1), "the burst waits");
    let due = again.until_ms;
    assert!(due > mirrors::now_ms() && due <= mirrors::now_ms() + mirrors::QUIET_MS);
    assert!(mirrors::claim_next(db, "w1", 60, &[]).await.unwrap().is_none(), "not before the quiet moment");
    assert_eq!(mirrors::runnable_count(db).await.unwrap(), 0, "nothing to wake a worker for yet");
    // Let the quiet period pass (the policy is about time; nothing else is awaited here).
    tokio::time::sleep(std::time::Duration::from_millis((due - mirrors::now_ms()).max(0) as u64 + 5)).await;
    assert_eq!(mirrors::runnable_count(db).await.unwrap(), 1, "the scheduler's tick wakes a worker for it");
    let burst = mirrors::claim_next(db, "w1", 60, &[]).await.unwrap().expect("the burst runs");
    assert_eq!(burst.trigger, "push");
    mirrors::finish(db, &burst, "w1", &RunEnd::Success { pushed_digest: None }).await.unwrap();
    assert!(mirrors::claim_next(db, "w1", 60, &[]).await.unwrap().is_none());
    // Sync now never waits.
    mirrors::request_sync(db, id, Trigger::Manual).await.unwrap();
    let now = mirrors::claim_next(db, "w1", 60, &[]).await.unwrap().expect("Sync now runs at once");

    // A worker that dies keeps its lease until it expires; then another takes the run over.
    mirrors::request_sync(db, id, Trigger::Manual).await.unwrap();
    drop(now); // w1 "crashes" holding the lease (60 s): nobody may claim it meanwhile
    assert!(mirrors::claim_next(db, "w2", 1, &[]).await.unwrap().is_none());

    // Fencing: a run whose lease expired and was taken over writes nothing, renews nothing.
    let fenced = mirrors::create(db, repo.repo.id, alice.id, Direction::Push, &GithubRepo::parse("octocat/fenced").unwrap(), None, false).await.unwrap();
    let stale = mirrors::claim_next(db, "old", -1, &[]).await.unwrap().expect("claimed with a lease already expired");
    assert_eq!(stale.mirror.id, fenced);
    let fresh = mirrors::claim_next(db, "new", 60, &[]).await.unwrap().expect("the expired lease is taken over");
    assert_eq!((fresh.mirror.id, fresh.token), (fenced, stale.token + 1));
    assert!(!mirrors::renew_lease(db, &stale, "old", 60).await.unwrap(), "the old run cannot renew");
    let failed = RunEnd::Failed { message: "late".into(), retry_at: None };
    assert!(!mirrors::finish(db, &stale, "old", &failed).await.unwrap(), "the old run's end is not recorded");
    let row = mirrors::get(db, fenced).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.leased_by.as_deref(), row.last_error.as_deref()), ("new", Some("new"), None));
    assert!(mirrors::renew_lease(db, &fresh, "new", 60).await.unwrap());
    assert!(mirrors::finish(db, &fresh, "new", &RunEnd::Success { pushed_digest: Some("d".into()) }).await.unwrap());
    let row = mirrors::get(db, fenced).await.unwrap().unwrap();
    assert_eq!((row.status.as_str(), row.pushed_digest.as_deref(), row.leased_by), ("active", Some("d"), None));
    assert!(row.in_sync_at.is_some());
    mirrors::delete(db, repo.repo.id, fenced).await.unwrap();

    // One process never runs a mirror twice at once, even when its lease expired during the run
    // and a second worker's view of what runs here is out of date: the reservation stops it.
    let twice = mirrors::create(db, repo.repo.id, alice.id, Direction::Push, &GithubRepo::parse("octocat/twice").unwrap(), None, false).await.unwrap();
    let process = StaleView::default();
    let first = mirrors::claim_next_capped(db, "p1-w1", -1, &process, i64::MAX).await.unwrap().expect("the first worker claims");
    assert_eq!(first.mirror.id, twice);
    mirrors::request_sync(db, twice, Trigger::Manual).await.unwrap();
    assert!(mirrors::claim_next_capped(db, "p1-w2", 60, &process, i64::MAX).await.unwrap().is_none(), "the second worker of the process does not start it");
    assert_eq!(mirrors::get(db, twice).await.unwrap().unwrap().leased_by.as_deref(), Some("p1-w1"), "nor take its lease");
    // Another process may take the expired lease over (fencing stops the first run's writes).
    let other_process = mirrors::claim_next(db, "p2-w1", 60, &[]).await.unwrap().expect("another process takes the expired lease over");
    assert_eq!(other_process.mirror.id, twice);
    mirrors::delete(db, repo.repo.id, twice).await.unwrap();

    // Nor does it run more of one owner's mirrors than the cap when a second worker's look missed
    // the first's run (here its lease expires at once, so the database counts no run of bob's, and
    // its mirror is paused, so the second worker does not come upon it): the reservation counts
    // the owner's runs in the process.
    let bob = app::ssr::accounts::create_user(db, &UserName::parse("queue-bob").unwrap(), "bob-password-1", false).await.unwrap();
    let bobs = app::ssr::repos::create(db, &st.store, &bob, &RepoName::parse("b").unwrap(), "", false).await.unwrap();
    let mut capped = Vec::new();
    for remote in ["octocat/cap-a", "octocat/cap-b"] {
        capped.push(mirrors::create(db, bobs.repo.id, bob.id, Direction::Push, &GithubRepo::parse(remote).unwrap(), None, false).await.unwrap());
    }
    let process = StaleView::default();
    let first = mirrors::claim_next_capped(db, "p1-w1", -1, &process, 1).await.unwrap().expect("the first worker claims");
    assert!(capped.contains(&first.mirror.id));
    mirrors::set_paused(db, bobs.repo.id, first.mirror.id, true).await.unwrap();
    assert!(mirrors::claim_next_capped(db, "p1-w2", 60, &process, 1).await.unwrap().is_none(), "bob's second mirror waits for his first run");
    mirrors::LocalRuns::release(&process, first.mirror.id);
    let second = mirrors::claim_next_capped(db, "p1-w2", 60, &process, 1).await.unwrap().expect("it runs once the first ended");
    assert!(capped.contains(&second.mirror.id));
    for id in capped {
        mirrors::delete(db, bobs.repo.id, id).await.unwrap();
    }

    // Paused mirrors are never claimed, even when requested.
    let other = mirrors::create(db, repo.repo.id, alice.id, Direction::Pull, &GithubRepo::parse("octocat/q2").unwrap(), Some(5), false).await.unwrap();
    mirrors::set_paused(db, repo.repo.id, other, true).await.unwrap();
    assert!(mirrors::claim_next(db, "w2", 1, &[]).await.unwrap().is_none(), "paused mirrors never run");
}

/// A process whose workers' list of running mirrors is always out of date (it says nothing
/// runs), while its reservations are real.
#[derive(Default)]
struct StaleView(std::sync::Mutex<std::collections::HashMap<i64, i64>>);

impl mirrors::LocalRuns for StaleView {
    fn running(&self) -> Vec<i64> {
        Vec::new()
    }
    fn reserve(&self, mirror: i64, owner: i64, per_owner: i64) -> bool {
        let mut runs = self.0.lock().unwrap();
        if runs.contains_key(&mirror) || runs.values().filter(|o| **o == owner).count() as i64 >= per_owner {
            return false;
        }
        runs.insert(mirror, owner);
        true
    }
    fn release(&self, mirror: i64) {
        self.0.lock().unwrap().remove(&mirror);
    }
    fn runs_of(&self, owner: i64) -> i64 {
        self.0.lock().unwrap().values().filter(|o| **o == owner).count() as i64
    }
}
