//! The state lock: one writer at a time, with a lease so a dead holder cannot block forever.
//!
//! A lock record is `{ LockID, Info: {id, who, operation, created, kprov_version}, expires,
//! generation }`, where `expires` is the end of the holder's lease in Unix seconds and
//! `generation` counts the acquisitions of this lock (the *fencing token*, see [`Fence`]). A
//! [`LockStore`] offers the three conditional operations the protocol needs, atomically:
//! - acquire: write our record if there is no holder or the holder's lease has ended
//!   (`attribute_not_exists(LockID) OR expires < :now`), with generation = previous + 1;
//! - renew: extend `expires` if the record still carries our id and generation;
//! - release: remove the holder (keeping the generation) if the record still carries our id.
//!
//! [`acquire`] takes the lock, waiting with backoff up to `--lock-timeout` if it is held, and
//! starts a heartbeat that renews the lease every third of its length. If a renewal finds
//! another id (the lease ran out and someone took over, or a human force-unlocked), or renewals
//! keep failing until the lease has ended, the lock is *lost*: [`LockGuard::lost`] is cancelled,
//! and the command stops starting work, writes what it has and fails. [`force_unlock`] is the
//! human escape hatch, refused unless the id given is the holder's.
//!
//! Fencing: a held lock hands the state backend a [`Fence`] ([`LockGuard::fence`]), and every
//! state commit is accepted only while the lock still carries this acquisition's [`Token`]
//! (id + generation), checked atomically with the commit: the local backend checks under the
//! lock file's OS lock around its rename ([`file::while_current`]); the S3 backend confirms the
//! token with a conditional renewal right before its `If-Match` write ([`Fence::confirm`];
//! docs/state.md, "Fencing", argues why a stalled writer cannot land after a takeover). A commit
//! that finds the token stale marks the lock lost, like the heartbeat does, and every later
//! commit is refused.
//!
//! Stores: [`dynamodb`] (an item in the lock table, for S3 state) and [`file`] (a lock file
//! beside the local state).

pub mod dynamodb;
pub mod file;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::duration::display;
use crate::resource::ResourceError;

/// The default lease: long enough to ride out a slow AWS call, short enough that a crashed
/// run blocks others for about a minute.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

/// Who holds a lock, as stored in the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Random, per acquisition; what `force-unlock` needs.
    pub id: String,
    /// `user@host`.
    pub who: String,
    /// The command: `apply`, `destroy`, `state migrate`, …
    pub operation: String,
    /// When the lock was taken (RFC 3339, UTC).
    pub created: String,
    pub kprov_version: String,
}

impl LockInfo {
    pub fn new(operation: &str) -> Self {
        LockInfo {
            id: uuid::Uuid::new_v4().to_string(),
            who: who(),
            operation: operation.to_string(),
            created: aws_smithy_types::DateTime::from(SystemTime::now())
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap_or_default(),
            kprov_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

impl std::fmt::Display for LockInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({} since {}, kprov {}, lock id {})",
            self.who, self.operation, self.created, self.kprov_version, self.id
        )
    }
}

/// `user@host`, from the environment and the kernel's host name.
fn who() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{user}@{host}")
}

/// A stored lock record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockRecord {
    #[serde(rename = "LockID")]
    pub lock_id: String,
    #[serde(rename = "Info")]
    pub info: LockInfo,
    /// End of the lease, Unix seconds.
    pub expires: u64,
    /// Which acquisition of this lock this is: one more than the one before (0 in records of
    /// an older kprov).
    #[serde(default)]
    pub generation: u64,
}

/// A fencing token: what identifies one acquisition of the lock. The id is random per
/// acquisition; the generation grows by one with each.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub id: String,
    pub generation: u64,
}

impl LockRecord {
    /// Does this record carry `token`, i.e. is that acquisition still the current one?
    pub fn carries(&self, token: &Token) -> bool {
        self.info.id == token.id && self.generation == token.generation
    }
}

/// Why `token` is not (or no longer) the lock's current acquisition, given what the lock
/// holds now.
pub fn not_current(now: Option<&LockRecord>) -> String {
    match now {
        Some(r) => format!("it is now held by {} (generation {})", r.info, r.generation),
        None => "the lock was released or force-unlocked".to_string(),
    }
}

impl LockRecord {
    /// Time left on the lease (zero once it has ended).
    pub fn remaining(&self) -> Duration {
        Duration::from_secs(self.expires.saturating_sub(now_secs()))
    }
    pub fn expired(&self) -> bool {
        self.expires < now_secs()
    }
}

/// The answer of one acquisition attempt.
#[derive(Debug)]
pub enum Attempt {
    /// The lock was free: it is ours, as this generation.
    Acquired(u64),
    /// The lock was held under a lease that had ended: it is ours now, as this generation;
    /// the record is the previous holder's.
    TookOver(u64, LockRecord),
    /// Held by someone with a live lease (`None` if it was released just after our attempt).
    Held(Option<LockRecord>),
}

/// The atomic operations of the protocol over one lock record.
#[async_trait::async_trait]
pub trait LockStore: Send + Sync {
    /// Store `{info, expires}` with the next generation if there is no holder or its
    /// `expires < now`.
    async fn try_acquire(&self, info: &LockInfo, now: u64, expires: u64) -> Result<Attempt, LockError>;
    /// Set `expires` if the record carries `token`; `false` when it does not (lock lost).
    async fn renew(&self, token: &Token, expires: u64) -> Result<bool, LockError>;
    /// Remove the holder if the record carries `id` (the generation stays, so the next
    /// acquisition's is higher); `false` when it does not.
    async fn release(&self, id: &str) -> Result<bool, LockError>;
    /// The current holder's record (`None` when free), read consistently.
    async fn read(&self) -> Result<Option<LockRecord>, LockError>;
    /// Where the lock lives, for messages.
    fn describe(&self) -> String;
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the state is locked by {holder}; its lease ends in {}. Wait and retry, pass --lock-timeout 5m to wait for it, or, if that run is dead and you cannot wait: kprov force-unlock {}", display(*remaining), holder.id)]
    Held { lock: String, holder: LockInfo, remaining: Duration },
    #[error("gave up after waiting {} for the state lock ({lock}), still held by {holder}; if that run is dead: kprov force-unlock {}", display(*waited), holder.id)]
    Timeout { lock: String, holder: LockInfo, waited: Duration },
    #[error(
        "lost the state lock ({lock}): {reason}. The run stopped starting new work and wrote nothing more to the state; run it again (its refresh adopts what this run created)"
    )]
    Lost { lock: String, reason: String },
    #[error("the lock table `{table}` does not exist (region {region}). Create it with `kprov state bootstrap`, or fix the table name ([backend] lock_table, --lock-table, KPROV_LOCK_TABLE)")]
    NoTable { table: String, region: String },
    #[error("access denied to the lock table `{table}` ({operation}: {code}{}). Check which credentials are in use and that they allow dynamodb:GetItem, PutItem, UpdateItem and DeleteItem on the table", request_id.as_ref().map(|r| format!(", request id {r}")).unwrap_or_default())]
    AccessDenied { table: String, operation: String, code: String, request_id: Option<String> },
    #[error("state lock {lock}: {source}")]
    Aws { lock: String, source: ResourceError },
    #[error("state lock file {path}: {message}")]
    File { path: String, message: String },
    #[error("refusing to unlock {lock}: it is held by {holder}, not under lock id {given}")]
    WrongId { lock: String, given: String, holder: LockInfo },
    #[error("nothing to unlock: {lock} is not locked")]
    NotLocked { lock: String },
}

/// Unix seconds now.
pub fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How to take the lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// Lease length; the heartbeat renews it every third.
    pub lease: Duration,
    /// How long to wait for a held lock; zero fails at once.
    pub timeout: Duration,
}

/// What [`acquire`] reports while it works, for the user.
#[derive(Debug)]
pub enum Notice<'a> {
    /// The lock is held; waiting (sent once per holder).
    Waiting(&'a LockRecord),
}

/// A held lock. Release it with [`LockGuard::release`]; dropping it stops the heartbeat and
/// leaves the lease to run out.
pub struct LockGuard {
    store: Arc<dyn LockStore>,
    info: LockInfo,
    generation: u64,
    lease: Duration,
    took_over: Option<LockRecord>,
    lost: Lost,
    stop: CancellationToken,
    heartbeat: tokio::task::JoinHandle<()>,
}

/// The lock's "lost" signal, shared by the heartbeat and the fenced commits: cancelled once,
/// with the first reason.
#[derive(Clone, Default)]
struct Lost {
    token: CancellationToken,
    reason: Arc<Mutex<Option<String>>>,
}

impl Lost {
    fn lose(&self, why: String) {
        if let Ok(mut r) = self.reason.lock() {
            r.get_or_insert(why);
        }
        self.token.cancel();
    }
    fn reason(&self) -> Option<String> {
        if !self.token.is_cancelled() {
            return None;
        }
        Some(self.reason.lock().ok().and_then(|r| r.clone()).unwrap_or_else(|| "the lease was lost".into()))
    }
}

/// Called by a fenced commit with the serial it writes, at the point between its last check
/// and its final atomic step (a test hook: the CLI installs one from `KPROV_TEST_STALL_COMMIT`).
pub type CommitHook = Arc<dyn Fn(u64) + Send + Sync>;

/// What a state backend needs to fence its commits with a held lock: the acquisition's
/// [`Token`], the store to check it against, and the lock's "lost" signal to raise when a
/// commit finds the token stale.
#[derive(Clone)]
pub struct Fence {
    token: Token,
    store: Arc<dyn LockStore>,
    lease: Duration,
    lost: Lost,
    hook: Option<CommitHook>,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fence({}, generation {}, {})", self.token.id, self.token.generation, self.store.describe())
    }
}

impl Fence {
    pub fn token(&self) -> &Token {
        &self.token
    }
    /// Where the lock lives, for messages.
    pub fn describe(&self) -> String {
        self.store.describe()
    }
    /// `Some(why)` once the lock is lost (found by the heartbeat or by a commit): no commit
    /// may be made any more.
    pub fn lost(&self) -> Option<String> {
        self.lost.reason()
    }
    /// A commit found the token stale: the lock is lost, the run stops and fails.
    pub fn lose(&self, why: String) {
        self.lost.lose(why)
    }
    /// Install a [`CommitHook`].
    pub fn with_hook(mut self, hook: CommitHook) -> Self {
        self.hook = Some(hook);
        self
    }
    /// The commit of `serial` has passed its checks and is about to make its final step.
    pub fn before_final_step(&self, serial: u64) {
        if let Some(hook) = &self.hook {
            hook(serial);
        }
    }

    /// For a backend whose write cannot be made atomic with the lock (S3): confirm that the
    /// token is still current by renewing the lease conditionally on it, so the write that
    /// follows starts with a full lease ahead. `Err(why)` when the lock is lost (and it is then
    /// marked lost); a failed request is an error too — no write without a confirmation.
    pub async fn confirm(&self) -> Result<(), String> {
        if let Some(why) = self.lost() {
            return Err(why);
        }
        let expires = now_secs() + self.lease.as_secs().max(1);
        match self.store.renew(&self.token, expires).await {
            Ok(true) => Ok(()),
            Ok(false) => {
                let why = not_current(self.store.read().await.ok().flatten().as_ref());
                self.lose(why.clone());
                Err(why)
            }
            Err(e) => Err(format!("could not confirm the lease before writing: {e}")),
        }
    }
}

/// Take the lock for `operation`: at once, or within `opts.timeout`, with backoff.
pub async fn acquire(
    store: Arc<dyn LockStore>,
    operation: &str,
    opts: &LockOptions,
    notify: &(dyn Fn(Notice) + Send + Sync),
) -> Result<LockGuard, LockError> {
    let info = LockInfo::new(operation);
    let lease_secs = opts.lease.as_secs().max(1);
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(250);
    let mut announced: Option<String> = None;
    loop {
        let now = now_secs();
        let (generation, took_over) = match store.try_acquire(&info, now, now + lease_secs).await? {
            Attempt::Acquired(generation) => (generation, None),
            Attempt::TookOver(generation, prev) => (generation, Some(prev)),
            Attempt::Held(None) => continue, // released in between: try again at once
            Attempt::Held(Some(holder)) => {
                let waited = started.elapsed();
                if waited >= opts.timeout {
                    let lock = store.describe();
                    return Err(if opts.timeout.is_zero() {
                        LockError::Held { lock, remaining: holder.remaining(), holder: holder.info }
                    } else {
                        LockError::Timeout { lock, holder: holder.info, waited }
                    });
                }
                if announced.as_deref() != Some(holder.info.id.as_str()) {
                    notify(Notice::Waiting(&holder));
                    announced = Some(holder.info.id.clone());
                }
                // Exponential backoff with jitter (so waiters do not retry in step), never
                // sleeping past the deadline: the last attempt is made at the deadline.
                let left = opts.timeout.saturating_sub(waited);
                tokio::time::sleep(jitter(delay).min(left)).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        return Ok(LockGuard::start(store, info, generation, took_over, opts.lease, now + lease_secs));
    }
}

/// `d` ± 20 %, from the randomness of a v4 UUID (no extra dependency).
fn jitter(d: Duration) -> Duration {
    let r = (uuid::Uuid::new_v4().as_u128() % 401) as u32; // 0..=400
    d.mul_f64(0.8 + f64::from(r) / 1000.0)
}

impl LockGuard {
    fn start(
        store: Arc<dyn LockStore>,
        info: LockInfo,
        generation: u64,
        took_over: Option<LockRecord>,
        lease: Duration,
        expires: u64,
    ) -> Self {
        let lost = Lost::default();
        let stop = CancellationToken::new();
        let token = Token { id: info.id.clone(), generation };
        let heartbeat = tokio::spawn(heartbeat(store.clone(), token, lease, expires, stop.clone(), lost.clone()));
        LockGuard { store, info, generation, lease, took_over, lost, stop, heartbeat }
    }

    pub fn info(&self) -> &LockInfo {
        &self.info
    }
    pub fn id(&self) -> &str {
        &self.info.id
    }
    /// This acquisition's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }
    /// The fence for the state backend's commits under this lock.
    pub fn fence(&self) -> Fence {
        Fence {
            token: Token { id: self.info.id.clone(), generation: self.generation },
            store: self.store.clone(),
            lease: self.lease,
            lost: self.lost.clone(),
            hook: None,
        }
    }
    /// Where the lock lives.
    pub fn describe(&self) -> String {
        self.store.describe()
    }
    /// The holder whose expired lease we took over, if any.
    pub fn took_over(&self) -> Option<&LockRecord> {
        self.took_over.as_ref()
    }
    /// Cancelled when the lease is lost (found by the heartbeat or by a fenced commit).
    pub fn lost(&self) -> CancellationToken {
        self.lost.token.clone()
    }
    /// Why the lease was lost, once it was.
    pub fn lost_reason(&self) -> Option<String> {
        self.lost.reason()
    }

    /// Stop the heartbeat and delete the record if it is still ours. Errors when the lease was
    /// lost during the run, so the command fails.
    pub async fn release(mut self) -> Result<(), LockError> {
        self.stop.cancel();
        let _ = (&mut self.heartbeat).await;
        if let Some(reason) = self.lost.reason() {
            return Err(LockError::Lost { lock: self.store.describe(), reason });
        }
        if !self.store.release(&self.info.id).await? {
            // Not ours any more although the heartbeat had not noticed yet: treat as lost.
            return Err(LockError::Lost {
                lock: self.store.describe(),
                reason: "at release, the lock record no longer carried this run's id".into(),
            });
        }
        Ok(())
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Renew the lease every third of its length until stopped; on loss, record why and cancel
/// `lost`.
async fn heartbeat(
    store: Arc<dyn LockStore>,
    token: Token,
    lease: Duration,
    mut expires: u64,
    stop: CancellationToken,
    lost: Lost,
) {
    let every = (lease / 3).max(Duration::from_millis(200));
    let mut wait = every;
    let give_up = |why: String| lost.lose(why);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            // A commit found the lock lost: nothing left to renew.
            _ = lost.token.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let next = now_secs() + lease.as_secs().max(1);
        let renewed = tokio::select! {
            _ = stop.cancelled() => return,
            r = store.renew(&token, next) => r,
        };
        match renewed {
            Ok(true) => {
                expires = next;
                wait = every;
            }
            Ok(false) => {
                let now = store.read().await.ok().flatten();
                return give_up(not_current(now.as_ref()));
            }
            Err(e) => {
                if now_secs() >= expires {
                    return give_up(format!("could not renew the lease before it ended: {e}"));
                }
                // Transient trouble: retry sooner, while the lease still runs.
                wait = (every / 3).max(Duration::from_millis(200));
                tracing::warn!("renewing the state lock failed, retrying: {e}");
            }
        }
    }
}

/// Remove the lock held under `id`, for a human who knows its holder is gone. Refused when the
/// lock is held under another id.
pub async fn force_unlock(store: &dyn LockStore, id: &str) -> Result<LockRecord, LockError> {
    let lock = store.describe();
    let Some(current) = store.read().await? else {
        return Err(LockError::NotLocked { lock });
    };
    if current.info.id != id {
        return Err(LockError::WrongId { lock, given: id.to_string(), holder: current.info });
    }
    if store.release(id).await? {
        Ok(current)
    } else {
        // Changed hands between the read and the delete.
        match store.read().await? {
            Some(now) => Err(LockError::WrongId { lock, given: id.to_string(), holder: now.info }),
            None => Err(LockError::NotLocked { lock }),
        }
    }
}

#[cfg(test)]
mod tests;
