//! Waiting for the GitHub double's branches to change without polling them: inotify on each
//! repository's `refs/heads`. `git receive-pack` writes a branch as `<name>.lock` and renames it
//! into place, so a rename into the folder is the moment GitHub has the new commit.
//!
//! The bench once polled each repository every 2 ms from a thread per push: with 100 pushes at
//! once that is 50,000 file reads a second, CPU taken from the system it measures.

use crate::push_mirror::read_ref;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use std::collections::HashMap;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The branch every bench push goes to.
const BRANCH: &str = "refs/heads/main";

/// Watches the `main` branch of a set of bare repositories.
pub struct RefWatch {
    fd: OwnedFd,
    repos: Vec<PathBuf>,
    /// Watch descriptor → index into `repos`.
    by_watch: HashMap<i32, usize>,
}

impl RefWatch {
    pub fn new<'a>(repos: impl IntoIterator<Item = &'a Path>) -> Result<Self, String> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK).map_err(|e| format!("inotify: {e}"))?;
        let mut watch = RefWatch { fd, repos: Vec::new(), by_watch: HashMap::new() };
        for repo in repos {
            let heads = repo.join("refs/heads");
            let wd = inotify::add_watch(&watch.fd, &heads, WatchFlags::MOVED_TO | WatchFlags::CLOSE_WRITE)
                .map_err(|e| format!("watching {}: {e}", heads.display()))?;
            watch.by_watch.insert(wd, watch.repos.len());
            watch.repos.push(repo.to_path_buf());
        }
        Ok(watch)
    }

    /// Blocks until each repository `i` of `wanted` has `id` on `main`; the moment each was seen
    /// (in `wanted`'s order). Fails after `timeout` naming a repository still behind.
    pub fn arrivals(&self, wanted: &[usize], id: &str, timeout: Duration) -> Result<Vec<Instant>, String> {
        let deadline = Instant::now() + timeout;
        let mut seen: HashMap<usize, Instant> = HashMap::new();
        // Already there (before the first event): checked once after the watches exist.
        for &i in wanted {
            if self.has(i, id) {
                seen.insert(i, Instant::now());
            }
        }
        let mut buf = [MaybeUninit::<u8>::uninit(); 16 * 1024];
        while seen.len() < wanted.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let behind = wanted.iter().find(|i| !seen.contains_key(i)).map(|&i| self.repos[i].display().to_string());
                return Err(format!("{id} did not reach GitHub's {} within {timeout:?}", behind.unwrap_or_default()));
            }
            self.wait_readable(left)?;
            for i in self.changed(&mut buf)? {
                if wanted.contains(&i) && !seen.contains_key(&i) && self.has(i, id) {
                    seen.insert(i, Instant::now());
                }
            }
        }
        Ok(wanted.iter().map(|i| seen[i]).collect())
    }

    /// Runs `push(i)` for every watched repository `i` at the same moment (a thread each); for
    /// each, the time from the end of its push until its `main` is `id`.
    pub fn lags_of_pushes(&self, id: &str, timeout: Duration, push: impl Fn(usize) -> Result<(), String> + Sync) -> Result<Vec<Duration>, String> {
        let all: Vec<usize> = (0..self.repos.len()).collect();
        let push = &push;
        std::thread::scope(|scope| {
            let pushes: Vec<_> = all.iter().map(|&i| scope.spawn(move || push(i).map(|()| Instant::now()))).collect();
            let arrivals = self.arrivals(&all, id, timeout);
            let ends: Vec<Instant> = pushes.into_iter().map(|h| h.join().map_err(|_| "a push thread panicked".to_string())?).collect::<Result<_, _>>()?;
            Ok(arrivals?.iter().zip(ends).map(|(arrived, pushed)| arrived.saturating_duration_since(pushed)).collect())
        })
    }

    fn has(&self, i: usize, id: &str) -> bool {
        read_ref(&self.repos[i], BRANCH).as_deref() == Some(id)
    }

    fn wait_readable(&self, left: Duration) -> Result<(), String> {
        let timeout = Timespec { tv_sec: left.as_secs() as i64, tv_nsec: i64::from(left.subsec_nanos()) };
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => Ok(()),
            Err(e) => Err(format!("waiting for inotify: {e}")),
        }
    }

    /// The repositories whose `main` was written since the last call (drains the events).
    fn changed(&self, buf: &mut [MaybeUninit<u8>]) -> Result<Vec<usize>, String> {
        let mut reader = inotify::Reader::new(&self.fd, buf);
        let mut changed = Vec::new();
        loop {
            match reader.next() {
                Ok(event) if event.events().contains(ReadFlags::QUEUE_OVERFLOW) => changed.extend(0..self.repos.len()),
                Ok(event) => {
                    let main = event.file_name().is_some_and(|n| n.to_bytes() == b"main");
                    if let (true, Some(&i)) = (main, self.by_watch.get(&event.wd())) {
                        changed.push(i);
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return Ok(changed),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(format!("reading inotify: {e}")),
            }
        }
    }
}
