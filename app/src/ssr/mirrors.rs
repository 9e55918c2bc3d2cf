//! Mirrors and their durable sync queue (DESIGN.md "Sync queue").
//!
//! A request marks a mirror as wanting a sync (`sync_requested_at`, idempotent) and bumps
//! `request_seq`; it never adds a row per push. A worker claims a mirror with a compare-and-set
//! update (requested, not paused, lease free or expired, not backing off), runs, records the run
//! and releases the lease, clearing the request only if no newer one arrived meanwhile — so a
//! request during a run makes exactly one follow-up run, and a crashed run's request is still
//! there when its lease expires.
//!
//! Bursts of pushes coalesce: a push to an idle mirror runs at once, but a push arriving while the
//! mirror runs or within [`BURST_WINDOW_MS`] after its last run waits until no push came for
//! [`QUIET_MS`], and never more than [`MAX_DELAY_MS`] after the first waiting push — so 50 pushes
//! in a few seconds make a few runs, and the last push still reaches GitHub within seconds.

use super::db::{Db, DbError, now};
use super::schema::{mirror_syncs, mirrors, repositories};
use crate::with_conn;
use diesel::{BoolExpressionMethods, ExpressionMethods, NullableExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Push,
    Pull,
    /// A one-time fetch ("Fetch from remote"): a row per GitHub repository fetched, requested
    /// again by every Fetch, never scheduled and never pruning.
    Fetch,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Push => "push",
            Direction::Pull => "pull",
            Direction::Fetch => "fetch",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Direction::Push, Direction::Pull, Direction::Fetch].into_iter().find(|d| d.as_str() == raw)
    }
}

/// What asked for a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Initial,
    Push,
    Schedule,
    Manual,
    Retry,
    Fetch,
    /// The convergence sweep found GitHub behind (a trigger was lost).
    Sweep,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Initial => "initial",
            Trigger::Push => "push",
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
            Trigger::Retry => "retry",
            Trigger::Fetch => "fetch",
            Trigger::Sweep => "sweep",
        }
    }
}

/// A push this soon after the mirror's last run is part of a burst.
pub const BURST_WINDOW_MS: i64 = 1000;
/// A push in a burst waits until no other push came for this long...
pub const QUIET_MS: i64 = 400;
/// ...but at most this long after the first waiting push.
pub const MAX_DELAY_MS: i64 = 2000;

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone, PartialEq, Eq, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = mirrors)]
pub struct MirrorRow {
    pub id: i64,
    pub repository_id: i64,
    pub user_id: i64,
    pub direction: String,
    pub remote_owner: String,
    pub remote_name: String,
    pub interval_minutes: Option<i64>,
    pub paused: bool,
    pub status: String,
    pub last_error: Option<String>,
    pub last_sync_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub next_sync_at: Option<i64>,
    pub sync_requested_at: Option<i64>,
    pub requested_trigger: Option<String>,
    pub request_seq: i64,
    pub leased_by: Option<String>,
    pub leased_until: Option<i64>,
    pub failure_count: i64,
    pub retry_at: Option<i64>,
    pub created_at: i64,
    /// When the oldest request not yet taken by a run came (ms).
    pub pending_since_ms: Option<i64>,
    /// A burst's request is not run before this (ms).
    pub debounce_until_ms: Option<i64>,
    pub last_finished_ms: Option<i64>,
    /// Pull mirrors: overwrite branches that diverged in GitBlixt (keeping their tips).
    pub overwrite_diverged: bool,
    /// Push mirrors: digest of the heads and tags GitHub equalled after the last successful run.
    pub pushed_digest: Option<String>,
    /// Push mirrors: when a run last ended with GitHub equal to GitBlixt.
    pub in_sync_at: Option<i64>,
    /// Incremented by every claim; a run's writes check it (fencing).
    pub lease_token: i64,
    /// Since when GitHub answers 404 or the connection is gone (cleared by a success).
    pub dead_since: Option<i64>,
    /// Why GitBlixt paused the mirror, if it did.
    pub paused_reason: Option<String>,
}

/// A mirror a worker holds the lease of.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub mirror: MirrorRow,
    /// The request sequence number this run serves.
    pub seq: i64,
    pub trigger: String,
    /// The fencing token of this lease: every write of the run checks it.
    pub token: i64,
}

/// Creates a mirror with its initial sync requested (for a fetch: the fetch).
pub async fn create(
    db: &Db,
    repository_id: i64,
    user_id: i64,
    direction: Direction,
    remote: &crate::github_repo::GithubRepo,
    interval_minutes: Option<i64>,
    overwrite_diverged: bool,
) -> Result<i64, DbError> {
    let at = now();
    let key = remote.to_string().to_ascii_lowercase();
    let trigger = if direction == Direction::Fetch { Trigger::Fetch } else { Trigger::Initial };
    with_conn!(db, |conn| Ok(diesel::insert_into(mirrors::table)
        .values((
            mirrors::repository_id.eq(repository_id),
            mirrors::user_id.eq(user_id),
            mirrors::direction.eq(direction.as_str()),
            mirrors::remote_owner.eq(remote.owner()),
            mirrors::remote_name.eq(remote.name()),
            mirrors::remote_key.eq(&key),
            mirrors::interval_minutes.eq(interval_minutes),
            mirrors::status.eq("new"),
            mirrors::sync_requested_at.eq(Some(at)),
            mirrors::requested_trigger.eq(Some(trigger.as_str())),
            mirrors::request_seq.eq(1_i64),
            mirrors::created_at.eq(at),
            mirrors::pending_since_ms.eq(Some(now_ms())),
            mirrors::overwrite_diverged.eq(overwrite_diverged),
        ))
        .returning(mirrors::id)
        .get_result::<i64>(conn)
        .await?))
}

/// Creates the pull mirror of an import that just finished (Keep in sync): active, in step with
/// GitHub as of now, its first scheduled sync one interval later.
pub async fn create_imported_pull(db: &Db, repository_id: i64, user_id: i64, remote: &crate::github_repo::GithubRepo, interval_minutes: i64) -> Result<i64, DbError> {
    let at = now();
    with_conn!(db, |conn| Ok(diesel::insert_into(mirrors::table)
        .values((
            mirrors::repository_id.eq(repository_id),
            mirrors::user_id.eq(user_id),
            mirrors::direction.eq(Direction::Pull.as_str()),
            mirrors::remote_owner.eq(remote.owner()),
            mirrors::remote_name.eq(remote.name()),
            mirrors::remote_key.eq(remote.to_string().to_ascii_lowercase()),
            mirrors::interval_minutes.eq(Some(interval_minutes)),
            mirrors::status.eq("active"),
            mirrors::last_sync_at.eq(Some(at)),
            mirrors::last_success_at.eq(Some(at)),
            mirrors::next_sync_at.eq(Some(next_scheduled(at, interval_minutes))),
            mirrors::created_at.eq(at),
        ))
        .returning(mirrors::id)
        .get_result::<i64>(conn)
        .await?))
}

pub async fn get(db: &Db, id: i64) -> Result<Option<MirrorRow>, DbError> {
    with_conn!(db, |conn| Ok(mirrors::table.find(id).select(MirrorRow::as_select()).first(conn).await.optional()?))
}

pub async fn list_for_repository(db: &Db, repository_id: i64) -> Result<Vec<MirrorRow>, DbError> {
    with_conn!(db, |conn| Ok(mirrors::table
        .filter(mirrors::repository_id.eq(repository_id))
        .order(mirrors::id.asc())
        .select(MirrorRow::as_select())
        .load(conn)
        .await?))
}

/// Asks for a sync of one mirror (idempotent while one is pending), to run without waiting (a
/// burst's wait is lifted). Returns whether the mirror exists.
pub async fn request_sync(db: &Db, mirror_id: i64, trigger: Trigger) -> Result<bool, DbError> {
    request(db, mirror_id, trigger, None).await
}

/// Records a request; it may not run before `wait_until_ms` (a burst's wait), if given.
async fn request(db: &Db, mirror_id: i64, trigger: Trigger, wait_until_ms: Option<i64>) -> Result<bool, DbError> {
    let at = now();
    let at_ms = now_ms();
    // One statement: a worker claiming or finishing meanwhile sees the whole request or none of
    // it. (Written piecemeal, a claim could take a request before its trigger was written — the
    // run then showed as "manual" — and a run finishing before the sequence number was bumped
    // cleared the request, so the push was never mirrored.) Kept from an earlier request: the
    // time of the oldest pending one (fair ordering), what asked first for the next run (a
    // running run has taken its own trigger already), since when a run has been wanted.
    let n = with_conn!(db, |conn| Ok::<_, DbError>(
        diesel::update(mirrors::table.find(mirror_id))
            .set((
                mirrors::sync_requested_at.eq(coalesce_bigint(mirrors::sync_requested_at, Some(at))),
                mirrors::requested_trigger.eq(coalesce_text(mirrors::requested_trigger, Some(trigger.as_str()))),
                mirrors::pending_since_ms.eq(coalesce_bigint(mirrors::pending_since_ms, Some(at_ms))),
                mirrors::debounce_until_ms.eq(wait_until_ms),
                mirrors::request_seq.eq(mirrors::request_seq + 1),
            ))
            .execute(conn)
            .await?
    ))?;
    Ok(n == 1)
}

#[diesel::expression::functions::declare_sql_function]
extern "SQL" {
    /// SQL's `coalesce` of two nullable integers: the first that is not null.
    #[sql_name = "coalesce"]
    fn coalesce_bigint(
        x: diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
        y: diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::BigInt>;
    /// SQL's `coalesce` of two nullable strings.
    #[sql_name = "coalesce"]
    fn coalesce_text(
        x: diesel::sql_types::Nullable<diesel::sql_types::Text>,
        y: diesel::sql_types::Nullable<diesel::sql_types::Text>,
    ) -> diesel::sql_types::Nullable<diesel::sql_types::Text>;
}

/// The push mirror syncs a push asked for: those that may run at once, and those in a burst,
/// which wait (at most until `until_ms`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PushRequests {
    pub now: usize,
    pub waiting: usize,
    pub until_ms: i64,
}

impl PushRequests {
    pub fn total(&self) -> usize {
        self.now + self.waiting
    }
}

/// Asks for a sync of every push mirror of a repository (after a push).
pub async fn request_push_mirrors(db: &Db, repository_id: i64) -> Result<PushRequests, DbError> {
    let found: Vec<MirrorRow> = with_conn!(db, |conn| Ok::<_, DbError>(
        mirrors::table
            .filter(mirrors::repository_id.eq(repository_id))
            .filter(mirrors::direction.eq(Direction::Push.as_str()))
            .filter(mirrors::paused.eq(false))
            .select(MirrorRow::as_select())
            .load(conn)
            .await?
    ))?;
    let mut requests = PushRequests::default();
    for m in &found {
        // A push also lifts the backoff of a mirror in error: it retries on the next trigger.
        clear_backoff(db, m.id).await?;
        let at_ms = now_ms();
        let in_burst = m.leased_by.is_some() || m.last_finished_ms.is_some_and(|t| t >= at_ms - BURST_WINDOW_MS);
        let until = in_burst.then(|| (at_ms + QUIET_MS).min(m.pending_since_ms.unwrap_or(at_ms) + MAX_DELAY_MS));
        request(db, m.id, Trigger::Push, until).await?;
        match until {
            Some(until) => {
                requests.waiting += 1;
                requests.until_ms = requests.until_ms.max(until);
            }
            None => requests.now += 1,
        }
    }
    Ok(requests)
}

/// `$query` (over `mirrors`) narrowed to requested syncs that may start at `$at` (`$at_ms`): not
/// paused, no lease held, no backoff or burst wait left. What a worker claims from, and what the
/// scheduler wakes workers for.
macro_rules! startable {
    ($query:expr, $at:expr, $at_ms:expr) => {
        $query
            .filter(mirrors::sync_requested_at.is_not_null())
            .filter(mirrors::paused.eq(false))
            .filter(mirrors::leased_until.is_null().or(mirrors::leased_until.lt($at)))
            .filter(mirrors::retry_at.is_null().or(mirrors::retry_at.le($at)))
            .filter(mirrors::debounce_until_ms.is_null().or(mirrors::debounce_until_ms.le($at_ms)))
    };
}

/// How many requested syncs could start now (no lease held, no backoff or burst wait left).
pub async fn runnable_count(db: &Db) -> Result<i64, DbError> {
    let (at, at_ms) = (now(), now_ms());
    with_conn!(db, |conn| Ok(startable!(mirrors::table, at, at_ms).count().get_result(conn).await?))
}

/// The requested mirrors a worker may take now, narrowed by `tier` (a boolean SQL expression over
/// `mirrors`), joined with their repositories (for the owner).
macro_rules! runnable {
    ($at:expr, $at_ms:expr, $running:expr, $tier:expr) => {
        startable!(mirrors::table.inner_join(repositories::table), $at, $at_ms)
            .filter(mirrors::id.ne_all($running))
            .filter($tier)
    };
}

/// Work someone waits for: push mirrors, one-time fetches, and pulls asked for (Sync now, the
/// first sync, a retry) rather than scheduled.
macro_rules! interactive {
    () => {
        mirrors::direction.ne("pull").or(mirrors::requested_trigger.is_null()).or(mirrors::requested_trigger.ne("schedule"))
    };
}

/// Scheduled pull mirror syncs.
macro_rules! scheduled {
    () => {
        mirrors::direction.eq("pull").and(mirrors::requested_trigger.is_not_null()).and(mirrors::requested_trigger.eq("schedule"))
    };
}

/// The owners with mirrors to run in `$tier`, fairest first: the owner with the fewest runs
/// going now (`$busy`), then the one waiting longest (so one user's thousand due pull mirrors take
/// turns with everyone else's instead of going first); owners with `$cap` runs going left out.
/// (`$busy` is read only when the tier has owners: an empty queue costs one query a tier.)
macro_rules! owners_in_tier {
    ($db:expr, $at:expr, $at_ms:expr, $running:expr, $tier:expr, $busy:expr, $cap:expr) => {{
        let owners: Vec<(i64, Option<i64>)> = with_conn!($db, |conn| Ok::<_, DbError>(
            runnable!($at, $at_ms, $running, $tier)
                .group_by(repositories::owner_id)
                .select((repositories::owner_id, diesel::dsl::min(mirrors::sync_requested_at)))
                .load(conn)
                .await?
        ))?;
        if owners.is_empty() {
            Vec::new()
        } else {
            let busy = match $busy.take() {
                Some(busy) => busy,
                None => running_by_owner($db, $at, $running).await?,
            };
            let fair = fair_order(owners, &busy, $cap);
            *$busy = Some(busy);
            fair
        }
    }};
}

/// `$owner`'s oldest request in `$tier`.
macro_rules! oldest_of_owner {
    ($db:expr, $at:expr, $at_ms:expr, $running:expr, $tier:expr, $owner:expr) => {
        with_conn!($db, |conn| Ok::<_, DbError>(
            runnable!($at, $at_ms, $running, $tier)
                .filter(repositories::owner_id.eq($owner))
                .order((mirrors::sync_requested_at.asc(), mirrors::id.asc()))
                .select(MirrorRow::as_select())
                .first(conn)
                .await
                .optional()?
        ))
    };
}

/// Tries the owners of `$tier` in fair order ([`owners_in_tier`]) until one of their oldest
/// requests is claimed. One look at the queue serves a worker through every race it loses: an
/// owner whose mirror another worker of this process took since the look is passed over without
/// a query, one whose oldest request another process leased costs that compare-and-set alone.
/// (Looking again after each lost race, 3 queries each time, made a burst of 100 pushes on two
/// processes cost the database 16 claim queries per run; this way, 12.)
macro_rules! claim_in_tier {
    ($db:expr, $worker:expr, $lease:expr, $local:expr, $cap:expr, $at:expr, $at_ms:expr, $busy:expr, $passed_over:expr, $tier:expr) => {{
        let running = not_to_claim($local, &$passed_over);
        let owners = owners_in_tier!($db, $at, $at_ms, &running, $tier, $busy, $cap);
        // Each owner's reservations here as of the look.
        let owners: Vec<(i64, i64)> = owners.into_iter().map(|o| (o, $local.runs_of(o))).collect();
        let mut outcome = TierLook::Empty;
        for (owner, runs_here) in owners {
            if $local.runs_of(owner) > runs_here {
                // Another worker of this process just took one of this owner's: fairness moves on.
                outcome = TierLook::Lost;
                continue;
            }
            let running = not_to_claim($local, &$passed_over);
            let Some(mirror) = oldest_of_owner!($db, $at, $at_ms, &running, $tier, owner)? else { continue };
            if !$local.reserve(mirror.id, owner, $cap) {
                // Another worker of this process took it, or another of its owner's, since the
                // look: this claim passes it over from now on.
                tracing::debug!(mirror = mirror.id, "claim: reserved here meanwhile; trying the next owner");
                $passed_over.push(mirror.id);
                outcome = TierLook::Lost;
                continue;
            }
            let taken = take_lease($db, $worker, $at, $lease, &mirror).await;
            if !matches!(taken, Ok(true)) {
                $local.release(mirror.id);
            }
            if taken? {
                outcome = TierLook::Claimed(claimed_from(mirror));
                break;
            }
            tracing::debug!(mirror = mirror.id, "claim: leased elsewhere meanwhile; trying the next owner");
            outcome = TierLook::Lost;
        }
        outcome
    }};
}

/// What one look at a tier of the queue came to.
enum TierLook {
    Claimed(Claimed),
    /// Every candidate went to other workers meanwhile: worth a fresh look.
    Lost,
    /// Nothing to run in the tier.
    Empty,
}

/// Owners with their oldest request, fairest first (see [`owners_in_tier`]).
fn fair_order(owners: Vec<(i64, Option<i64>)>, busy: &std::collections::HashMap<i64, i64>, cap: i64) -> Vec<i64> {
    let busy_of = |owner: &i64| busy.get(owner).copied().unwrap_or(0);
    let mut owners: Vec<(i64, Option<i64>)> = owners.into_iter().filter(|(owner, _)| busy_of(owner) < cap).collect();
    owners.sort_by_key(|(owner, oldest)| (busy_of(owner), *oldest, *owner));
    owners.into_iter().map(|(owner, _)| owner).collect()
}

/// The mirrors a claim leaves alone: those this process runs, and those it passed over.
fn not_to_claim(local: &impl LocalRuns, passed_over: &[i64]) -> Vec<i64> {
    [local.running().as_slice(), passed_over].concat()
}

fn claimed_from(mirror: MirrorRow) -> Claimed {
    let trigger = mirror.requested_trigger.clone().unwrap_or_else(|| Trigger::Manual.as_str().to_string());
    Claimed { seq: mirror.request_seq, trigger, token: mirror.lease_token + 1, mirror }
}

/// Runs going now, by repository owner: leases held anywhere, and `running` (this process's
/// reservations, some not leased yet).
async fn running_by_owner(db: &Db, at: i64, running: &[i64]) -> Result<std::collections::HashMap<i64, i64>, DbError> {
    let rows: Vec<(i64, i64)> = with_conn!(db, |conn| Ok::<_, DbError>(
        mirrors::table
            .inner_join(repositories::table)
            .filter(mirrors::leased_until.ge(at).or(mirrors::id.eq_any(running)))
            .group_by(repositories::owner_id)
            .select((repositories::owner_id, diesel::dsl::count(mirrors::id)))
            .load(conn)
            .await?
    ))?;
    Ok(rows.into_iter().collect())
}

/// The runs one process has going. A worker reserves a mirror here before it takes the lease, so
/// two workers of one process never run a mirror at once, not even when its lease expired under
/// a slow run (the lease and its fencing token guard across processes), and never run more of
/// one owner's mirrors than the cap, not even when both looked before either took its lease.
pub trait LocalRuns {
    /// The mirrors this process is running now.
    fn running(&self) -> Vec<i64>;
    /// Reserves `mirror` of `owner` for the caller; `false` if this process runs it already or
    /// runs `per_owner` of `owner`'s mirrors already (one check, under the process's lock).
    fn reserve(&self, mirror: i64, owner: i64, per_owner: i64) -> bool;
    /// Gives a reservation back (the lease was not taken, or the run's end is recorded).
    fn release(&self, mirror: i64);
    /// How many of `owner`'s mirrors this process has reserved (0 where it does not know owners).
    fn runs_of(&self, owner: i64) -> i64;
}

/// A fixed list of running mirrors, for callers with no workers of their own (tests, tools).
impl LocalRuns for &[i64] {
    fn running(&self) -> Vec<i64> {
        self.to_vec()
    }
    fn reserve(&self, mirror: i64, _: i64, _: i64) -> bool {
        !self.contains(&mirror)
    }
    fn release(&self, _: i64) {}
    fn runs_of(&self, _: i64) -> i64 {
        0
    }
}

/// [`claim_next_capped`] with no cap per owner.
pub async fn claim_next(db: &Db, worker: &str, lease_seconds: i64, running: &[i64]) -> Result<Option<Claimed>, DbError> {
    claim_next_capped(db, worker, lease_seconds, &running, i64::MAX).await
}

/// Claims the next runnable requested mirror for `worker` for `lease_seconds`: work someone
/// waits for (push mirrors, one-time fetches, pulls asked for) before scheduled pulls; within
/// that, fairly by owner ([`owners_in_tier`]) and that owner's oldest request. Never one `local`
/// runs (reserved there before the lease is taken: even if a lease were lost, one process never
/// runs a mirror twice at once), and never one of an owner who has `per_owner` runs going already
/// (so one owner's long fetches cannot hold every worker). Within a process the cap is exact (the
/// reservation checks it); across processes it counts the leases it reads, so two processes
/// looking at the same moment may each start one.
pub async fn claim_next_capped(db: &Db, worker: &str, lease_seconds: i64, local: &impl LocalRuns, per_owner: i64) -> Result<Option<Claimed>, DbError> {
    let mut passed_over = Vec::new();
    loop {
        let (at, at_ms) = (now(), now_ms());
        let mut busy = None;
        match claim_in_tier!(db, worker, lease_seconds, local, per_owner, at, at_ms, &mut busy, passed_over, interactive!()) {
            TierLook::Claimed(claimed) => return Ok(Some(claimed)),
            TierLook::Lost => continue,
            TierLook::Empty => {}
        }
        match claim_in_tier!(db, worker, lease_seconds, local, per_owner, at, at_ms, &mut busy, passed_over, scheduled!()) {
            TierLook::Claimed(claimed) => return Ok(Some(claimed)),
            TierLook::Lost => continue,
            TierLook::Empty => return Ok(None),
        }
    }
}

/// Compare-and-set: leases `mirror` to `worker` only if nobody leased it since it was read.
async fn take_lease(db: &Db, worker: &str, at: i64, lease_seconds: i64, mirror: &MirrorRow) -> Result<bool, DbError> {
    let taken = with_conn!(db, |conn| Ok::<_, DbError>(
        diesel::update(
            mirrors::table
                .find(mirror.id)
                .filter(mirrors::leased_until.is_null().or(mirrors::leased_until.lt(at)))
                .filter(mirrors::request_seq.eq(mirror.request_seq))
                .filter(mirrors::lease_token.eq(mirror.lease_token))
                .filter(mirrors::sync_requested_at.is_not_null())
                .filter(mirrors::paused.eq(false)),
        )
        // A request arriving from now on waits for the next run: its time starts afresh.
        .set((
            mirrors::leased_by.eq(Some(worker)),
            mirrors::leased_until.eq(Some(at + lease_seconds)),
            mirrors::lease_token.eq(mirror.lease_token + 1),
            mirrors::pending_since_ms.eq(None::<i64>),
            mirrors::requested_trigger.eq(None::<String>),
        ))
        .execute(conn)
        .await?
    ))?;
    Ok(taken == 1)
}

/// How a run ended, for the mirror row.
#[derive(Debug, Clone)]
pub enum RunEnd {
    /// For push mirrors: the digest of the heads and tags GitHub now has.
    Success { pushed_digest: Option<String> },
    /// GitBlixt stopped (or the lease was lost) while it ran: the request stays, nothing else
    /// about the mirror changes.
    Interrupted,
    /// The error message (the spec's where it has one) and, for errors worth retrying by
    /// themselves, when to retry.
    Failed { message: String, retry_at: Option<i64> },
}

/// Releases the lease after a run and records its end on the mirror — only while the run still
/// holds its lease (fencing token): a run that lost it changes nothing. The request is cleared
/// only if no newer request arrived during the run. Returns whether the run still held the lease.
pub async fn finish(db: &Db, claimed: &Claimed, worker: &str, end: &RunEnd) -> Result<bool, DbError> {
    let at = now();
    let id = claimed.mirror.id;
    let (token, seq) = (claimed.token, claimed.seq);
    let next_sync = claimed.mirror.interval_minutes.map(|m| next_scheduled(at, m));
    let keep_request = matches!(end, RunEnd::Failed { retry_at: Some(_), .. } | RunEnd::Interrupted);
    // Interrupted runs keep their own trigger; a failure retried by itself becomes a retry.
    let trigger = if matches!(end, RunEnd::Interrupted) { claimed.trigger.as_str() } else { Trigger::Retry.as_str() };
    // Two statements, each a round trip to the database (on a busy PostgreSQL, each also waits for
    // its server process to be scheduled): the end with the lease given back, then the request.
    with_conn!(db, |conn| {
        diesel_async::AsyncConnection::transaction(conn, async move |conn| -> Result<bool, DbError> {
            // A write first: the transaction takes SQLite's write lock at once (a read first could
            // deadlock with another finishing run and fail with "database is locked").
            let held = mirrors::table.find(id).filter(mirrors::lease_token.eq(token)).filter(mirrors::leased_by.eq(worker));
            let ended = (mirrors::last_finished_ms.eq(Some(now_ms())), mirrors::leased_by.eq(None::<String>), mirrors::leased_until.eq(None::<i64>));
            let changed = match end {
                RunEnd::Success { pushed_digest } => {
                    let in_sync = pushed_digest.as_deref().map(|digest| (mirrors::pushed_digest.eq(Some(digest)), mirrors::in_sync_at.eq(Some(at))));
                    diesel::update(held)
                        .set((
                            ended,
                            (
                                mirrors::status.eq("active"),
                                mirrors::last_error.eq(None::<String>),
                                mirrors::last_sync_at.eq(Some(at)),
                                mirrors::last_success_at.eq(Some(at)),
                                mirrors::failure_count.eq(0_i64),
                                mirrors::retry_at.eq(None::<i64>),
                                mirrors::next_sync_at.eq(next_sync),
                                mirrors::dead_since.eq(None::<i64>),
                            ),
                            in_sync,
                        ))
                        .execute(conn)
                        .await?
                }
                RunEnd::Failed { message, retry_at } => {
                    diesel::update(held)
                        .set((
                            ended,
                            (
                                mirrors::status.eq("error"),
                                mirrors::last_error.eq(Some(message.as_str())),
                                mirrors::last_sync_at.eq(Some(at)),
                                mirrors::failure_count.eq(mirrors::failure_count + 1),
                                mirrors::retry_at.eq(*retry_at),
                                mirrors::next_sync_at.eq(next_sync),
                            ),
                        ))
                        .execute(conn)
                        .await?
                }
                RunEnd::Interrupted => diesel::update(held).set(ended).execute(conn).await?,
            };
            // Not this run's lease any more: nothing of its end is recorded.
            if changed != 1 {
                return Ok(false);
            }
            // The lease is given back above; this run's row is still the one with its token.
            let this_run = mirrors::table.find(id).filter(mirrors::lease_token.eq(token));
            if keep_request {
                // Kept requested: it runs again once the backoff has passed, or at once after a restart.
                diesel::update(this_run)
                    .set((
                        mirrors::sync_requested_at.eq(coalesce_bigint(mirrors::sync_requested_at, Some(at))),
                        mirrors::requested_trigger.eq(coalesce_text(mirrors::requested_trigger, Some(trigger))),
                    ))
                    .execute(conn)
                    .await?;
            } else {
                diesel::update(this_run.filter(mirrors::request_seq.eq(seq)))
                    .set((
                        mirrors::sync_requested_at.eq(None::<i64>),
                        mirrors::requested_trigger.eq(None::<String>),
                        mirrors::pending_since_ms.eq(None::<i64>),
                        mirrors::debounce_until_ms.eq(None::<i64>),
                    ))
                    .execute(conn)
                    .await?;
            }
            Ok(true)
        })
        .await
    })
}

/// Extends a running run's lease (heartbeat). `false`: the lease is no longer this run's.
pub async fn renew_lease(db: &Db, claimed: &Claimed, worker: &str, lease_seconds: i64) -> Result<bool, DbError> {
    let until = now() + lease_seconds;
    with_conn!(db, |conn| Ok(diesel::update(
        mirrors::table.find(claimed.mirror.id).filter(mirrors::lease_token.eq(claimed.token)).filter(mirrors::leased_by.eq(worker))
    )
    .set(mirrors::leased_until.eq(Some(until)))
    .execute(conn)
    .await?
        == 1))
}

/// Releases every lease (start of a single-process instance: whoever held them is gone), so
/// requests left by a killed process run at once. Returns how many.
pub async fn release_all_leases(db: &Db) -> Result<usize, DbError> {
    with_conn!(db, |conn| Ok(diesel::update(mirrors::table.filter(mirrors::leased_by.is_not_null()))
        .set((mirrors::leased_by.eq(None::<String>), mirrors::leased_until.eq(None::<i64>)))
        .execute(conn)
        .await?))
}

/// The queue at a glance, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    /// Mirrors with a sync requested and no run going.
    pub pending: i64,
    pub oldest_pending_seconds: i64,
    /// Runs holding an unexpired lease.
    pub leases: i64,
}

pub async fn queue_stats(db: &Db) -> Result<QueueStats, DbError> {
    let at = now();
    let (pending, oldest, leases) = with_conn!(db, |conn| {
        let waiting = mirrors::table
            .filter(mirrors::sync_requested_at.is_not_null())
            .filter(mirrors::leased_until.is_null().or(mirrors::leased_until.lt(at)));
        let pending: i64 = waiting.count().get_result(conn).await?;
        let oldest: Option<i64> = waiting.select(diesel::dsl::min(mirrors::sync_requested_at)).first(conn).await?;
        let leases: i64 = mirrors::table.filter(mirrors::leased_until.ge(at)).count().get_result(conn).await?;
        Ok::<_, DbError>((pending, oldest, leases))
    })?;
    Ok(QueueStats { pending, oldest_pending_seconds: oldest.map_or(0, |t| (at - t).max(0)), leases })
}

/// How many mirrors there are in each status (`active`, `error`, …).
pub async fn status_counts(db: &Db) -> Result<Vec<(String, i64)>, DbError> {
    with_conn!(db, |conn| Ok(mirrors::table
        .group_by(mirrors::status)
        .select((mirrors::status, diesel::dsl::count(mirrors::id)))
        .load(conn)
        .await?))
}

/// A scheduled pull's run: when it was due and when it started (seconds), how it ended and what
/// it brought.
#[derive(Debug, Clone)]
pub struct ScheduledRun {
    pub scheduled_at: i64,
    pub started_at: i64,
    pub outcome: String,
    pub objects: i64,
}

/// The scheduled pull runs that started from `from` to `to` (seconds, both included).
pub async fn scheduled_runs(db: &Db, from: i64, to: i64) -> Result<Vec<ScheduledRun>, DbError> {
    let rows: Vec<(Option<i64>, i64, String, i64)> = with_conn!(db, |conn| Ok::<_, DbError>(
        mirror_syncs::table
            .filter(mirror_syncs::scheduled_at.is_not_null())
            .filter(mirror_syncs::started_at.between(from, to))
            .select((mirror_syncs::scheduled_at, mirror_syncs::started_at, mirror_syncs::outcome, mirror_syncs::objects))
            .load(conn)
            .await?
    ))?;
    Ok(rows
        .into_iter()
        .filter_map(|(due, started_at, outcome, objects)| due.map(|scheduled_at| ScheduledRun { scheduled_at, started_at, outcome, objects }))
        .collect())
}

/// A push mirror the convergence sweep looks at.
#[derive(Debug, Clone)]
pub struct SweepItem {
    pub id: i64,
    pub repository_id: i64,
    pub pushed_digest: Option<String>,
}

/// Healthy push mirrors with no request pending and no run going (those in error wait for the
/// next push, interval or Sync now, as the spec says).
pub async fn sweep_candidates(db: &Db) -> Result<Vec<SweepItem>, DbError> {
    let at = now();
    let rows: Vec<(i64, i64, Option<String>)> = with_conn!(db, |conn| Ok::<_, DbError>(
        mirrors::table
            .filter(mirrors::direction.eq(Direction::Push.as_str()))
            .filter(mirrors::paused.eq(false))
            .filter(mirrors::status.eq("active"))
            .filter(mirrors::sync_requested_at.is_null())
            .filter(mirrors::leased_until.is_null().or(mirrors::leased_until.lt(at)))
            .select((mirrors::id, mirrors::repository_id, mirrors::pushed_digest))
            .load(conn)
            .await?
    ))?;
    Ok(rows.into_iter().map(|(id, repository_id, pushed_digest)| SweepItem { id, repository_id, pushed_digest }).collect())
}

/// The digest of a repository's heads and tags (`name id` lines, sorted), as push mirrors record
/// what they pushed and the sweep compares.
pub fn refs_digest<'a>(refs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<(&str, &str)> = refs.into_iter().collect();
    sorted.sort_unstable();
    let mut hasher = Sha256::new();
    for (name, id) in sorted {
        hasher.update(name.as_bytes());
        hasher.update(b" ");
        hasher.update(id.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// What a run is, recorded when it starts (so what it keeps is named after it and a crash
/// leaves a trace).
#[derive(Debug, Clone)]
pub struct RunStart<'a> {
    pub mirror_id: Option<i64>,
    pub repository_id: i64,
    pub direction: &'a str,
    pub remote: &'a str,
    pub trigger: &'a str,
    /// A scheduled pull's due time (seconds), to tell how late it started.
    pub scheduled_at: Option<i64>,
}

/// How a run ended, as recorded.
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    pub outcome: &'a str,
    pub error: Option<&'a str>,
    /// JSON array of per-ref results.
    pub refs: &'a str,
    pub objects: i64,
    pub bytes: i64,
}

/// A run still marked running when a newer one starts was cut off (GitBlixt stopped or crashed).
pub const INTERRUPTED: &str = "The run was interrupted (GitBlixt stopped while it ran). Anything it replaced was kept first: see below.";

/// Records the start of a run (outcome `running`); runs of the same mirror still marked running
/// are marked interrupted. Returns the run's id.
pub async fn start_run(db: &Db, run: &RunStart<'_>) -> Result<i64, DbError> {
    let at = now();
    if let Some(mirror_id) = run.mirror_id {
        with_conn!(db, |conn| {
            diesel::update(mirror_syncs::table.filter(mirror_syncs::mirror_id.eq(mirror_id)).filter(mirror_syncs::outcome.eq("running")))
                .set((mirror_syncs::outcome.eq("interrupted"), mirror_syncs::error.eq(Some(INTERRUPTED)), mirror_syncs::finished_at.eq(Some(at))))
                .execute(conn)
                .await?;
            Ok::<_, DbError>(())
        })?;
    }
    with_conn!(db, |conn| Ok(diesel::insert_into(mirror_syncs::table)
        .values((
            mirror_syncs::mirror_id.eq(run.mirror_id),
            mirror_syncs::repository_id.eq(run.repository_id),
            mirror_syncs::direction.eq(run.direction),
            mirror_syncs::remote.eq(run.remote),
            mirror_syncs::trigger.eq(run.trigger),
            mirror_syncs::started_at.eq(at),
            mirror_syncs::scheduled_at.eq(run.scheduled_at),
            mirror_syncs::outcome.eq("running"),
        ))
        .returning(mirror_syncs::id)
        .get_result::<i64>(conn)
        .await?))
}

/// Records how run `id` ended.
pub async fn finish_run(db: &Db, id: i64, run: &RunRecord<'_>) -> Result<(), DbError> {
    let at = now();
    with_conn!(db, |conn| {
        diesel::update(mirror_syncs::table.find(id))
            .set((
                mirror_syncs::finished_at.eq(Some(at)),
                mirror_syncs::outcome.eq(run.outcome),
                mirror_syncs::error.eq(run.error),
                mirror_syncs::refs.eq(run.refs),
                mirror_syncs::objects.eq(run.objects),
                mirror_syncs::bytes.eq(run.bytes),
            ))
            .execute(conn)
            .await?;
        Ok(())
    })
}

/// Marks every run still `running` as interrupted (at start: nothing of ours runs yet). With
/// several processes sharing a database, only runs whose mirror's lease has expired.
pub async fn interrupt_orphaned_runs(db: &Db) -> Result<usize, DbError> {
    let at = now();
    with_conn!(db, |conn| {
        let live = mirrors::table
            .filter(mirrors::leased_until.ge(at))
            .select(mirrors::id.nullable());
        Ok(diesel::update(
            mirror_syncs::table
                .filter(mirror_syncs::outcome.eq("running"))
                .filter(mirror_syncs::mirror_id.is_null().or(mirror_syncs::mirror_id.ne_all(live))),
        )
        .set((mirror_syncs::outcome.eq("interrupted"), mirror_syncs::error.eq(Some(INTERRUPTED)), mirror_syncs::finished_at.eq(Some(at))))
        .execute(conn)
        .await?)
    })
}

/// How many runs a mirror has had.
pub async fn count_runs(db: &Db, mirror_id: i64) -> Result<i64, DbError> {
    with_conn!(db, |conn| Ok(mirror_syncs::table.filter(mirror_syncs::mirror_id.eq(mirror_id)).count().get_result(conn).await?))
}

/// Requests a sync of every pull mirror whose next scheduled sync has come, in one statement (ten
/// thousand due mirrors are one write, not ten thousand transactions). Returns the repositories
/// concerned.
pub async fn request_due_pull_mirrors(db: &Db) -> Result<Vec<i64>, DbError> {
    let (at, at_ms) = (now(), now_ms());
    // With no request pending, a mirror has no trigger, pending time or burst wait either (a claim
    // clears them, and a run's end clears the request only if none came meanwhile): set them all.
    with_conn!(db, |conn| Ok(diesel::update(
        mirrors::table
            .filter(mirrors::direction.eq(Direction::Pull.as_str()))
            .filter(mirrors::paused.eq(false))
            .filter(mirrors::sync_requested_at.is_null())
            .filter(mirrors::next_sync_at.le(at)),
    )
    .set((
        mirrors::sync_requested_at.eq(Some(at)),
        mirrors::requested_trigger.eq(Some(Trigger::Schedule.as_str())),
        mirrors::pending_since_ms.eq(Some(at_ms)),
        mirrors::debounce_until_ms.eq(None::<i64>),
        mirrors::request_seq.eq(mirrors::request_seq + 1),
    ))
    .returning(mirrors::repository_id)
    .get_results(conn)
    .await?))
}

#[derive(Debug, Clone, diesel::Queryable, diesel::Selectable)]
#[diesel(table_name = mirror_syncs)]
pub struct RunRow {
    pub id: i64,
    pub mirror_id: Option<i64>,
    pub repository_id: i64,
    pub direction: String,
    pub remote: String,
    pub trigger: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub outcome: String,
    pub error: Option<String>,
    pub refs: String,
    pub objects: i64,
    pub bytes: i64,
    /// A scheduled pull's due time (seconds).
    pub scheduled_at: Option<i64>,
}

/// The latest runs of a mirror, newest first.
pub async fn recent_runs(db: &Db, mirror_id: i64, limit: i64) -> Result<Vec<RunRow>, DbError> {
    runs(db, mirror_id, 0, limit).await
}

/// A page of a mirror's runs, newest first.
pub async fn runs(db: &Db, mirror_id: i64, offset: i64, limit: i64) -> Result<Vec<RunRow>, DbError> {
    with_conn!(db, |conn| Ok(mirror_syncs::table
        .filter(mirror_syncs::mirror_id.eq(mirror_id))
        .order(mirror_syncs::id.desc())
        .offset(offset)
        .limit(limit)
        .select(RunRow::as_select())
        .load(conn)
        .await?))
}

/// Run `id` of `repository_id`, if it is one of its runs.
pub async fn run_of(db: &Db, repository_id: i64, id: i64) -> Result<Option<RunRow>, DbError> {
    with_conn!(db, |conn| Ok(mirror_syncs::table
        .find(id)
        .filter(mirror_syncs::repository_id.eq(repository_id))
        .select(RunRow::as_select())
        .first(conn)
        .await
        .optional()?))
}

/// Which of the runs `ids` are runs of `mirror_id`.
pub async fn runs_of_mirror(db: &Db, mirror_id: i64, ids: &[i64]) -> Result<Vec<i64>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    with_conn!(db, |conn| Ok(mirror_syncs::table
        .filter(mirror_syncs::mirror_id.eq(mirror_id))
        .filter(mirror_syncs::id.eq_any(ids))
        .select(mirror_syncs::id)
        .load(conn)
        .await?))
}

/// The latest runs of the repository's removed mirrors, newest first.
pub async fn removed_runs(db: &Db, repository_id: i64, limit: i64) -> Result<Vec<RunRow>, DbError> {
    with_conn!(db, |conn| Ok(mirror_syncs::table
        .filter(mirror_syncs::repository_id.eq(repository_id))
        .filter(mirror_syncs::mirror_id.is_null())
        .order(mirror_syncs::id.desc())
        .limit(limit)
        .select(RunRow::as_select())
        .load(conn)
        .await?))
}

/// Turns a pull mirror's "Overwrite diverged branches" on or off.
pub async fn set_overwrite_diverged(db: &Db, repository_id: i64, id: i64, on: bool) -> Result<bool, DbError> {
    with_conn!(db, |conn| Ok(diesel::update(mirrors::table.find(id).filter(mirrors::repository_id.eq(repository_id)))
        .set(mirrors::overwrite_diverged.eq(on))
        .execute(conn)
        .await?
        == 1))
}

/// Pauses or resumes a mirror of `repository_id`. Resuming forgets why GitBlixt paused it and
/// since when GitHub looked gone.
pub async fn set_paused(db: &Db, repository_id: i64, id: i64, paused: bool) -> Result<bool, DbError> {
    with_conn!(db, |conn| {
        let n = diesel::update(mirrors::table.find(id).filter(mirrors::repository_id.eq(repository_id)))
            .set(mirrors::paused.eq(paused))
            .execute(conn)
            .await?;
        if !paused {
            diesel::update(mirrors::table.find(id))
                .set((mirrors::paused_reason.eq(None::<String>), mirrors::dead_since.eq(None::<i64>)))
                .execute(conn)
                .await?;
        }
        Ok(n == 1)
    })
}

/// Notes that GitHub answered 404 or the connection is gone (from now, unless noted already);
/// returns since when.
pub async fn mark_dead(db: &Db, id: i64) -> Result<i64, DbError> {
    let at = now();
    with_conn!(db, |conn| {
        diesel::update(mirrors::table.find(id).filter(mirrors::dead_since.is_null())).set(mirrors::dead_since.eq(Some(at))).execute(conn).await?;
        let since: Option<i64> = mirrors::table.find(id).select(mirrors::dead_since).first(conn).await?;
        Ok(since.unwrap_or(at))
    })
}

/// Pauses a mirror whose upstream is gone, saying why; `false` if it was paused already.
pub async fn pause_dead(db: &Db, id: i64, reason: &str) -> Result<bool, DbError> {
    with_conn!(db, |conn| Ok(diesel::update(mirrors::table.find(id).filter(mirrors::paused.eq(false)))
        .set((mirrors::paused.eq(true), mirrors::paused_reason.eq(Some(reason))))
        .execute(conn)
        .await?
        == 1))
}

/// When a pull mirror synced at `at` is next due: one interval later, plus up to a tenth of it at
/// random, so mirrors created or synced together spread out instead of all coming due together.
pub fn next_scheduled(at: i64, interval_minutes: i64) -> i64 {
    let interval = interval_minutes * 60;
    at + interval + rand::random_range(0..=interval / 10)
}

/// Changes a pull mirror's interval; the next sync is one interval after the last one (or now).
pub async fn set_interval(db: &Db, repository_id: i64, id: i64, minutes: i64) -> Result<bool, DbError> {
    let Some(m) = get(db, id).await? else { return Ok(false) };
    if m.repository_id != repository_id || m.direction != Direction::Pull.as_str() {
        return Ok(false);
    }
    let next = next_scheduled(m.last_sync_at.unwrap_or_else(now), minutes);
    with_conn!(db, |conn| Ok(diesel::update(mirrors::table.find(id))
        .set((mirrors::interval_minutes.eq(Some(minutes)), mirrors::next_sync_at.eq(Some(next))))
        .execute(conn)
        .await?
        == 1))
}

/// Removes a mirror of `repository_id`; its runs stay, under the repository's removed mirrors.
pub async fn delete(db: &Db, repository_id: i64, id: i64) -> Result<bool, DbError> {
    with_conn!(db, |conn| Ok(diesel::delete(mirrors::table.find(id).filter(mirrors::repository_id.eq(repository_id)))
        .execute(conn)
        .await?
        == 1))
}

/// The repository's mirror in `direction` to `remote`, if it has one.
pub async fn find(db: &Db, repository_id: i64, direction: Direction, remote: &crate::github_repo::GithubRepo) -> Result<Option<i64>, DbError> {
    let key = remote.to_string().to_ascii_lowercase();
    with_conn!(db, |conn| Ok(mirrors::table
        .filter(mirrors::repository_id.eq(repository_id))
        .filter(mirrors::direction.eq(direction.as_str()))
        .filter(mirrors::remote_key.eq(&key))
        .select(mirrors::id)
        .first::<i64>(conn)
        .await
        .optional()?))
}

/// Lifts a mirror's backoff so a requested sync runs now ("Sync now").
pub async fn clear_backoff(db: &Db, id: i64) -> Result<(), DbError> {
    with_conn!(db, |conn| {
        diesel::update(mirrors::table.find(id)).set(mirrors::retry_at.eq(None::<i64>)).execute(conn).await?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn scheduled_syncs_spread_over_a_tenth_of_the_interval() {
        let due: std::collections::BTreeSet<i64> = (0..1000).map(|_| super::next_scheduled(1_000, 5)).collect();
        assert!(due.iter().all(|d| (1_300..=1_330).contains(d)), "{due:?}");
        assert!(due.len() > 20, "mirrors synced together come due at different times: {due:?}");
    }
}
