//! What every command sets up: the loaded plans, the registry, the state backend and its lock
//! store; for commands that write state, the held lock ([`Context::load_locked`]).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::{CliError, Global, Outcome};
use crate::config::{self, Stack};
use crate::engine::{Model, RateLimiter};
use crate::resource::{Cx, Owner, Registry};
use crate::state::lock::{LockError, LockGuard, LockOptions, LockStore};
use crate::state::{spec, Backend};

pub struct Context {
    pub stack: Stack,
    pub registry: Registry,
    pub backend: Arc<dyn Backend>,
    pub locks: Arc<dyn LockStore>,
    pub lock_options: LockOptions,
    /// Held by commands that write state.
    lock: Option<LockGuard>,
    /// The AWS model (durations, rate limits) with the user's overrides.
    pub model: Model,
    /// Every AWS request of the resource kinds goes through it; its statistics feed the run
    /// summary.
    pub limiter: Arc<RateLimiter>,
}

impl Context {
    /// Load and validate the plans (no AWS call), then set up the AWS registry for the plan's
    /// region.
    pub async fn load(g: &Global) -> Result<Self, CliError> {
        let stack = load_stack(g)?;
        let model = Model::load(g.rate_limits.as_deref())?;
        let limiter = Arc::new(RateLimiter::from_model(&model));
        let sdk = crate::aws::sdk_config_limited(&stack.region, g.endpoint_url.as_deref(), limiter.clone()).await;
        let registry = crate::aws::registry(&sdk);
        let resolved = spec::resolve(&stack, &g.backend.overrides(), &g.state_dir).map_err(CliError::Refused)?;
        let (backend, locks) = spec::open(&resolved.spec, g.endpoint_url.as_deref()).await;
        let lock_options = LockOptions { lease: resolved.lease, timeout: g.backend.lock_timeout };
        Ok(Context { stack, registry, backend, locks, lock_options, lock: None, model, limiter })
    }

    /// [`Context::load`], then take the state lock for `operation` (a command that writes
    /// state). End with [`Context::finish`] to release it.
    pub async fn load_locked(g: &Global, operation: &str) -> Result<Self, CliError> {
        let mut ctx = Self::load(g).await?;
        let lock = super::backend::take_lock(ctx.locks.clone(), operation, &ctx.lock_options).await?;
        // Every state write of this run is accepted only while this acquisition is current.
        super::backend::fence(ctx.backend.as_ref(), &lock);
        // Say so the moment it happens, not only at the end of the run.
        let lost = lock.lost();
        tokio::spawn(async move {
            lost.cancelled().await;
            eprintln!("\nLost the state lock: no new work starts, and nothing more is written to the state.");
        });
        ctx.lock = Some(lock);
        Ok(ctx)
    }

    /// The engine's cancellation: `interrupt` (Ctrl-C) or the loss of the state lock's lease.
    pub fn run_token(&self, interrupt: &CancellationToken) -> CancellationToken {
        let run = interrupt.child_token();
        if let Some(lost) = self.lock.as_ref().map(LockGuard::lost) {
            if lost.is_cancelled() {
                // Lost already (e.g. while the user was reading the plan): start nothing.
                run.cancel();
                return run;
            }
            let run = run.clone();
            tokio::spawn(async move {
                tokio::select! {
                    _ = lost.cancelled() => run.cancel(),
                    _ = run.cancelled() => {}
                }
            });
        }
        run
    }

    /// Release the state lock, if held. A lost lease fails the command even if the work itself
    /// went through (what was done is saved; the user must know the lock did not hold).
    pub async fn finish(self, result: Result<Outcome, CliError>) -> Result<Outcome, CliError> {
        let Some(lock) = self.lock else { return result };
        let id = lock.id().to_string();
        match (lock.release().await, result) {
            (Ok(()), r) => r,
            (Err(lost @ LockError::Lost { .. }), r) => {
                if let Err(e) = r {
                    if !matches!(e, CliError::Failed(_)) {
                        eprintln!("Error: {e}");
                    }
                }
                Err(lost.into())
            }
            // The work is done and saved; only the release call failed. The lease runs out by
            // itself, so this is worth a warning, not a failed command.
            (Err(e), r) => {
                eprintln!(
                    "Warning: could not release the state lock ({e}); it expires with its lease, or run: kprov \
                     force-unlock {id}"
                );
                r
            }
        }
    }

    pub fn owner(&self) -> Owner {
        Owner { stack: self.stack.name.clone(), env: self.stack.env.clone() }
    }

    pub fn cx(&self) -> Cx {
        Cx::new(self.owner())
    }
}

/// Load and validate the plans against the resource schemas, without touching AWS.
pub fn load_stack(g: &Global) -> Result<Stack, CliError> {
    let stack = config::load(&g.plans, &g.env, &crate::aws::offline_registry())?;
    // Reject dangling references and cycles before anything else happens.
    crate::graph::ResourceGraph::build(&stack)?;
    Ok(stack)
}

/// Ask for "yes" on a terminal; refuse without one.
pub fn confirm(question: &str, auto_approve: bool) -> Result<(), CliError> {
    if auto_approve {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Refused(
            "refusing to change anything without confirmation: stdin is not a terminal. Re-run with --auto-approve"
                .into(),
        ));
    }
    eprint!("{question}\n  Only 'yes' will be accepted: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let mut read = || std::io::stdin().lock().read_line(&mut answer);
    // The user may take a while, and the state lock's heartbeat must keep running meanwhile:
    // tell a multi-threaded runtime to move its other tasks off this blocked worker.
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let got = if multi_thread { tokio::task::block_in_place(read) } else { read() };
    got.map_err(|e| CliError::Refused(format!("no answer: {e}")))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(CliError::Refused("cancelled: the answer was not 'yes'; nothing was changed".into()))
    }
}
