//! Where the state lives and how it is locked, as every command is told on the command line:
//! the flags (and `KPROV_*` variables) that override the plans' `[backend]` table, and taking
//! the lock for the commands that write state, telling the user who holds it, and fencing the
//! backend with it.
//!
//! Test hook: `KPROV_TEST_STALL_COMMIT=N` stops the process (SIGSTOP) inside the fenced commit
//! of state serial N — after its checks, before its final step (the local rename, the S3 PUT)
//! — saying so on stderr first, so that a test can let its lease run out, let another run take
//! over, and resume it (the stall tests in `tests/state_lock.rs`). Read here, never by the AWS connector.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::CliError;
use crate::config::BackendKind;
use crate::config::Stack;
use crate::state::duration;
use crate::state::legacy::{self, Legacy};
use crate::state::lock::file::FileLockStore;
use crate::state::lock::{self, CommitHook, LockGuard, LockOptions, LockStore, Notice};
use crate::state::spec::Overrides;
use crate::state::Backend;

/// See the module documentation.
pub const STALL_COMMIT_ENV: &str = "KPROV_TEST_STALL_COMMIT";

#[derive(Debug, clap::Args, Clone, Default)]
pub struct BackendArgs {
    /// Where the state lives: `local` (state/<STACK>/<ENV>.json) or `s3`. Default: the plans' [backend], else local
    #[arg(long, global = true, env = "KPROV_BACKEND", value_name = "local|s3")]
    pub backend: Option<BackendKind>,
    /// The local state file, instead of <STATE_DIR>/<STACK>/<ENV>.json (implies --backend local)
    #[arg(long, global = true, env = "KPROV_STATE_FILE", value_name = "FILE")]
    pub state_file: Option<PathBuf>,
    /// S3 bucket of the state (implies --backend s3)
    #[arg(long, global = true, env = "KPROV_STATE_BUCKET", value_name = "BUCKET", value_parser = bucket)]
    pub state_bucket: Option<String>,
    /// S3 object key of the state (default: <STACK>/<ENV>.json)
    #[arg(long, global = true, env = "KPROV_STATE_KEY", value_name = "KEY", value_parser = key)]
    pub state_key: Option<String>,
    /// Region of the state bucket and lock table (default: the stack's region)
    #[arg(long, global = true, env = "KPROV_STATE_REGION", value_name = "REGION")]
    pub state_region: Option<String>,
    /// DynamoDB table of the state lock (default: kprov-locks)
    #[arg(long, global = true, env = "KPROV_LOCK_TABLE", value_name = "TABLE", value_parser = table)]
    pub lock_table: Option<String>,
    /// Lease of the state lock, renewed every third while a run goes on (default: 60s)
    #[arg(long, global = true, env = "KPROV_LOCK_LEASE", value_name = "DURATION", value_parser = lease)]
    pub lock_lease: Option<Duration>,
    /// Wait this long (with backoff) for a state lock held by another run, instead of failing at once
    #[arg(long, global = true, env = "KPROV_LOCK_TIMEOUT", value_name = "DURATION", value_parser = duration::parse, default_value = "0s")]
    pub lock_timeout: Duration,
}

fn bucket(s: &str) -> Result<String, String> {
    crate::config::backend::check_bucket(s).map(|()| s.to_string())
}
fn key(s: &str) -> Result<String, String> {
    crate::config::backend::check_key(s).map(|()| s.to_string())
}
fn table(s: &str) -> Result<String, String> {
    crate::config::backend::check_table(s).map(|()| s.to_string())
}
fn lease(s: &str) -> Result<Duration, String> {
    let d = duration::parse(s)?;
    if d < crate::config::backend::MIN_LEASE {
        return Err("the lease must be at least 2s (the heartbeat renews it every third)".into());
    }
    Ok(d)
}

impl BackendArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            kind: self.backend,
            file: self.state_file.clone(),
            bucket: self.state_bucket.clone(),
            key: self.state_key.clone(),
            region: self.state_region.clone(),
            lock_table: self.lock_table.clone(),
            lock_lease: self.lock_lease,
        }
    }
}

/// Take the state lock for `operation`, saying on stderr whom we wait for and whose expired
/// lease we take over.
pub async fn take_lock(store: Arc<dyn LockStore>, operation: &str, opts: &LockOptions) -> Result<LockGuard, CliError> {
    let timeout = opts.timeout;
    let notify = move |n: Notice| {
        let Notice::Waiting(holder) = n;
        eprintln!(
            "Waiting up to {} for the state lock held by {} (lease ends in {})…",
            duration::display(timeout),
            holder.info,
            duration::display(holder.remaining())
        );
    };
    let guard = lock::acquire(store, operation, opts, &notify).await?;
    if let Some(prev) = guard.took_over() {
        eprintln!(
            "Took over the state lock from {}: its lease had expired, so that run is gone (killed or crashed). \
             Its unfinished creates are resolved by this run's refresh.",
            prev.info
        );
    }
    eprintln!("Acquired the state lock ({}, lock id {}).", guard.describe(), guard.id());
    Ok(guard)
}

/// Take over a state at the old default path `<dir>/<env>.json` for the new default `file`
/// (`<dir>/<stack>/<env>.json`) when it records this stack and env, holding its old lock while
/// it is moved; leave another stack's file alone. Either is said on stderr.
pub async fn take_over_legacy(
    state_dir: &Path,
    stack: &Stack,
    file: &Path,
    opts: &LockOptions,
) -> Result<(), CliError> {
    match legacy::inspect(state_dir, &stack.name, &stack.env, file)? {
        Legacy::Nothing => Ok(()),
        Legacy::Other { old, stack: other, env } => {
            eprintln!(
                "Note: {} holds the state of stack `{other}` (env {env}), not of stack `{}`: it is left alone. This \
                 stack's state is {} (the default local path is <state dir>/<stack>/<env>.json).",
                old.display(),
                stack.name,
                file.display()
            );
            Ok(())
        }
        Legacy::Ours { old, lock } => {
            // An older kprov locks `<dir>/<env>.lock`: hold that lock while moving, so a run of
            // it that is going on is waited for (or refused), never overtaken.
            let store: Arc<dyn LockStore> = Arc::new(FileLockStore::new(lock, &old));
            let guard = take_lock_quietly(store, "state takeover", opts).await?;
            let moved = legacy::move_file(&old, file);
            let released = guard.release().await;
            if moved? {
                eprintln!(
                    "Moved the state of stack `{}` env {} from {} to {} (the default local path now includes the \
                     stack, so that stacks sharing a checkout never share a state).",
                    stack.name,
                    stack.env,
                    old.display(),
                    file.display()
                );
            }
            released?;
            Ok(())
        }
    }
}

/// [`take_lock`] without the "Acquired" line (for a lock held a moment, not for the run).
async fn take_lock_quietly(
    store: Arc<dyn LockStore>,
    operation: &str,
    opts: &LockOptions,
) -> Result<LockGuard, CliError> {
    let timeout = opts.timeout;
    let notify = move |n: Notice| {
        let Notice::Waiting(holder) = n;
        eprintln!(
            "Waiting up to {} for the lock of the old state file held by {}…",
            duration::display(timeout),
            holder.info
        );
    };
    Ok(lock::acquire(store, operation, opts, &notify).await?)
}

/// Fence `backend` with `guard`: from now on it writes only while this lock acquisition is
/// the current one.
pub fn fence(backend: &dyn Backend, guard: &LockGuard) {
    let fence = guard.fence();
    backend.fence(match stall_hook() {
        Some(hook) => fence.with_hook(hook),
        None => fence,
    });
}

/// The `KPROV_TEST_STALL_COMMIT` hook, if set.
fn stall_hook() -> Option<CommitHook> {
    let serial: u64 = std::env::var(STALL_COMMIT_ENV).ok()?.trim().parse().ok()?;
    Some(Arc::new(move |s| {
        if s == serial {
            let pid = std::process::id();
            eprintln!("Test hook: stopping (SIGSTOP) in the commit of state serial {s}, pid {pid}.");
            // raise(3) directs the signal at this very thread, so it stops before the call
            // returns — here, before the final step. (A process-directed `kill -STOP` may be
            // taken by another thread while this one runs on into the commit.)
            // SAFETY: raise has no preconditions; SIGSTOP cannot be caught, so no handler runs.
            unsafe {
                libc::raise(libc::SIGSTOP);
            }
        }
    }))
}
