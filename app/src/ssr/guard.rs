//! Abuse limits on authentication: failures are rate limited per client address and per account
//! (GCRA with `governor`; over the limit the address or account is refused with a time to retry
//! and unlocks by itself), password hashes run at most a few at a time (over that the request is
//! refused at once rather than queued: each Argon2id check holds 19 MiB), and a git credential
//! that was checked is remembered briefly so a clone's several requests hash it once.

use super::accounts::{self, AccountError, User};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The client's address, put into every request's extensions by the server (the peer, or the
/// `X-Forwarded-For` entry a trusted proxy added).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// How long a checked git credential is remembered.
pub const CREDENTIAL_TTL: Duration = Duration::from_secs(60);
/// Locks kept in memory at most (expired ones are dropped first).
const MAX_LOCKS: usize = 100_000;

/// Why an authentication attempt was not even tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Too many failed sign-in attempts. Try again in {} seconds.", retry_secs(*.0))]
    Limited(Duration),
    #[error("The server is busy checking passwords. Try again in a moment.")]
    Busy,
}

impl Refusal {
    /// The `Retry-After` seconds.
    pub fn retry_after(&self) -> u64 {
        match self {
            Refusal::Limited(d) => retry_secs(*d),
            Refusal::Busy => 1,
        }
    }
}

fn retry_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// A failed or refused attempt, or an error of the account store.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Account(#[from] AccountError),
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum LockKey {
    Ip(IpAddr),
    Account(String),
}

/// The limits (see the module documentation). One per process, in [`super::AppState`].
pub struct AuthGuard {
    by_ip: DefaultKeyedRateLimiter<IpAddr>,
    by_account: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    locks: Mutex<HashMap<LockKey, Instant>>,
    hashing: Arc<Semaphore>,
    verified: moka::sync::Cache<[u8; 32], User>,
    /// Keys the credential cache, so a cache key says nothing about the password.
    salt: [u8; 32],
    /// Password hashes run since start.
    hashes_run: std::sync::atomic::AtomicU64,
}

impl AuthGuard {
    /// `failures_per_minute` per address and per account; `concurrent_hashes` password checks at once.
    pub fn new(failures_per_minute: NonZeroU32, concurrent_hashes: usize) -> Self {
        let quota = Quota::per_minute(failures_per_minute);
        let mut salt = [0u8; 32];
        rand::Rng::fill(&mut rand::rng(), &mut salt);
        AuthGuard {
            by_ip: RateLimiter::keyed(quota),
            by_account: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            locks: Mutex::new(HashMap::new()),
            hashing: Arc::new(Semaphore::new(concurrent_hashes.max(1))),
            verified: moka::sync::Cache::builder().time_to_live(CREDENTIAL_TTL).max_capacity(10_000).build(),
            salt,
            hashes_run: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many password hashes this process has run (sign-ins, git and API passwords, sign-ups).
    pub fn hashes_run(&self) -> u64 {
        self.hashes_run.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Refuses an attempt from `ip` or for `account` while either is locked.
    pub fn check(&self, ip: Option<IpAddr>, account: Option<&str>) -> Result<(), Refusal> {
        let now = Instant::now();
        let locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        let keys = ip.map(LockKey::Ip).into_iter().chain(account.map(|a| LockKey::Account(a.to_ascii_lowercase())));
        let longest = keys.filter_map(|k| locks.get(&k)).filter(|until| **until > now).max();
        match longest {
            Some(until) => Err(Refusal::Limited(*until - now)),
            None => Ok(()),
        }
    }

    /// Counts a failure (or, for sign-up, an attempt) against `ip` and `account`; one over the
    /// limit locks them until the limiter has room again.
    pub fn failed(&self, ip: Option<IpAddr>, account: Option<&str>) {
        if let Some(ip) = ip {
            if let Err(not_until) = self.by_ip.check_key(&ip) {
                self.lock(LockKey::Ip(ip), not_until.wait_time_from(self.clock.now()));
            }
        }
        if let Some(account) = account {
            let key = account.to_ascii_lowercase();
            if let Err(not_until) = self.by_account.check_key(&key) {
                self.lock(LockKey::Account(key), not_until.wait_time_from(self.clock.now()));
            }
        }
        if self.by_ip.len() > MAX_LOCKS || self.by_account.len() > MAX_LOCKS {
            self.by_ip.retain_recent();
            self.by_account.retain_recent();
        }
    }

    fn lock(&self, key: LockKey, wait: Duration) {
        let now = Instant::now();
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() >= MAX_LOCKS {
            locks.retain(|_, until| *until > now);
        }
        tracing::warn!(key = ?key, seconds = retry_secs(wait), "too many failed authentications: locked for a while");
        locks.insert(key, now + wait);
    }

    /// A permit to run one password hash, or `Busy` at once when all are taken.
    pub fn hash_permit(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        let permit = self.hashing.clone().try_acquire_owned().map_err(|_| Refusal::Busy)?;
        self.hashes_run.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(permit)
    }

    fn credential_key(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        h.update(user.to_ascii_lowercase().as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Forgets every remembered credential (after a password change).
    pub fn forget_credentials(&self) {
        self.verified.invalidate_all();
    }
}

/// Checks a user name and password for git or the API: a credential checked within
/// [`CREDENTIAL_TTL`] is taken from memory; otherwise limits apply as for sign-in.
pub async fn verify_password(
    guard: &AuthGuard,
    db: &super::db::Db,
    ip: Option<IpAddr>,
    name: &str,
    password: &str,
) -> Result<Option<User>, GuardError> {
    let key = guard.credential_key(name, password);
    if let Some(user) = guard.verified.get(&key) {
        return Ok(Some(user));
    }
    let user = sign_in(guard, db, ip, name, password).await?;
    if let Some(user) = &user {
        guard.verified.insert(key, user.clone());
    }
    Ok(user)
}

/// Checks a user name and password under the limits: refused while the address or account is
/// locked or all hash permits are taken; a wrong password counts against both.
pub async fn sign_in(guard: &AuthGuard, db: &super::db::Db, ip: Option<IpAddr>, name: &str, password: &str) -> Result<Option<User>, GuardError> {
    guard.check(ip, Some(name))?;
    let _permit = guard.hash_permit()?;
    let user = accounts::authenticate_password(db, name, password).await?;
    if user.is_none() {
        guard.failed(ip, Some(name));
    }
    Ok(user)
}

/// Runs `work` (which hashes a password: sign-up, password change) under the limits: the
/// address is refused while locked, every attempt counts against it, and it waits for no hash.
pub async fn hashing<T, F>(guard: &AuthGuard, ip: Option<IpAddr>, work: F) -> Result<T, GuardError>
where
    F: std::future::Future<Output = Result<T, AccountError>>,
{
    guard.check(ip, None)?;
    let _permit = guard.hash_permit()?;
    guard.failed(ip, None);
    Ok(work.await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_locked_after_the_limit_and_others_are_not() {
        let guard = AuthGuard::new(NonZeroU32::new(3).unwrap(), 1);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(guard.check(Some(ip), Some("alice")), Ok(()));
            guard.failed(Some(ip), None);
        }
        guard.failed(Some(ip), None);
        let Err(Refusal::Limited(wait)) = guard.check(Some(ip), None) else { panic!("locked") };
        assert!(wait <= Duration::from_secs(20) && wait > Duration::ZERO, "{wait:?}");
        assert_eq!(guard.check(Some(other), Some("alice")), Ok(()));
    }

    #[test]
    fn hash_permits_are_refused_not_queued() {
        let guard = AuthGuard::new(NonZeroU32::new(10).unwrap(), 1);
        let held = guard.hash_permit().unwrap();
        assert_eq!(guard.hash_permit().err(), Some(Refusal::Busy));
        drop(held);
        assert!(guard.hash_permit().is_ok());
    }
}
