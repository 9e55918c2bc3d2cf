//! Waking the sync workers: as many as runs were requested, not all of them.
//!
//! Waking every idle worker for each request made them all look at the queue at once — with two
//! processes on PostgreSQL, 95,405 claims in ten minutes for ~20,000 runs, 56 ms each — and a
//! chain (one woken worker wakes the next when it found work) made a burst's claims one after
//! another. Here a request of n runs wakes n idle workers, each once: they claim side by side.
//!
//! A worker registers before it looks at the queue ([`Waiting::register`]), so a request made
//! while it looks wakes it again instead of being missed. A wake-up that lands on a worker which
//! found work meanwhile is passed on to the next idle one when that worker starts its run (tokio's
//! `Notify` forwards an unreceived `notify_one` when the waiter is dropped). With fewer idle workers
//! than runs, the busy ones look at the queue again when their runs end, before they sleep.

use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{Notify, futures::Notified};

/// More than any worker pool: a request for more runs wakes every idle worker.
const MAX_WAKE: usize = 4096;

#[derive(Clone, Default)]
pub struct SyncWake(Arc<Notify>);

impl SyncWake {
    /// `runs` syncs became runnable: wakes that many idle workers.
    pub fn requested(&self, runs: usize) {
        for _ in 0..runs.min(MAX_WAKE) {
            self.0.notify_one();
        }
    }

    /// `runs` syncs were requested that may not start before `at_ms` (a burst's wait): wakes that
    /// many workers then.
    pub fn requested_at(&self, runs: usize, at_ms: i64) {
        let wait = at_ms - super::mirrors::now_ms();
        if wait <= 0 || runs == 0 {
            return self.requested(runs);
        }
        let wake = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
            wake.requested(runs);
        });
    }

    /// Every idle worker (GitBlixt stopping; a lost connection to the other processes).
    pub fn everyone(&self) {
        self.0.notify_waiters();
    }

    /// A worker's wait for the next wake-up.
    pub fn waiting(&self) -> Waiting<'_> {
        Waiting(Box::pin(self.0.notified()))
    }
}

/// One wait of one worker: [`Waiting::register`] before looking at the queue, then await it.
pub struct Waiting<'a>(Pin<Box<Notified<'a>>>);

impl Waiting<'_> {
    /// Counts this worker among the idle ones from now on: a wake-up from here on is not missed.
    pub fn register(&mut self) {
        self.0.as_mut().enable();
    }

    pub async fn woken(self) {
        self.0.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    /// Whether a registered wait has been woken (one poll, no waiting).
    fn woken(waiting: &mut Waiting<'_>) -> bool {
        matches!(waiting.0.as_mut().poll(&mut Context::from_waker(Waker::noop())), Poll::Ready(()))
    }

    fn idle(wake: &SyncWake, n: usize) -> Vec<Waiting<'_>> {
        (0..n)
            .map(|_| {
                let mut waiting = wake.waiting();
                waiting.register();
                waiting
            })
            .collect()
    }

    #[test]
    fn a_request_of_n_runs_wakes_n_idle_workers() {
        let wake = SyncWake::default();
        let mut workers = idle(&wake, 8);
        wake.requested(3);
        assert_eq!(workers.iter_mut().map(woken).filter(|&w| w).count(), 3, "as many workers as runs wake, no more");
        wake.everyone();
        assert_eq!(workers.iter_mut().map(woken).filter(|&w| w).count(), 8, "everyone() wakes the rest");
    }

    #[test]
    fn a_request_made_while_a_worker_looks_is_not_missed() {
        let wake = SyncWake::default();
        // The worker registered, and is looking at the queue (not awaiting) when the request comes.
        let mut worker = idle(&wake, 1).remove(0);
        wake.requested(1);
        assert!(woken(&mut worker));
    }

    #[test]
    fn a_wake_up_landing_on_a_worker_that_found_work_goes_to_the_next() {
        let wake = SyncWake::default();
        let mut busy = wake.waiting();
        busy.register();
        wake.requested(1);
        // Idle from now on: the wake-up above was not for this worker.
        let mut other = wake.waiting();
        other.register();
        // The worker woken found work while it looked: it drops its wait and runs.
        drop(busy);
        assert!(woken(&mut other), "the wake-up was passed on");
    }
}
