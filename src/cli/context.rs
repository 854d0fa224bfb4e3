//! What every command sets up: the loaded plans, the registry, the state backend and its lock
//! store; for commands that write state, the held lock ([`Context::load_locked`]).
//!
//! The state is read through [`Context::load_state`], which refuses a state that describes
//! another stack, env, region (no AWS call) or account (one read-only STS call) — see
//! `state::binding` — and applies the plans' `[[moved]]` renames ([`Context::apply_moves`]).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use super::{CliError, Global, Outcome};
use crate::config::{self, Stack};
use crate::engine::{Model, RateLimiter};
use crate::resource::{Address, Cx, Owner, Registry};
use crate::state::binding::{self, Binding};
use crate::state::lock::{LockError, LockGuard, LockOptions, LockStore};
use crate::state::moves::{self, Move};
use crate::state::spec::BackendSpec;
use crate::state::{spec, Backend, State};

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
    sdk: aws_config::SdkConfig,
    /// The account of the credentials, asked once (`None` inside: it could not be found).
    account: OnceLock<Option<String>>,
}

impl Context {
    /// The SDK configuration of the plan's region (through the rate-limited connector).
    pub fn sdk(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    /// Load and validate the plans (no AWS call), then set up the AWS registry for the plan's
    /// region. A local state at the old default path is taken over here (see `state::legacy`).
    pub async fn load(g: &Global) -> Result<Self, CliError> {
        let stack = load_stack(g)?;
        let model = Model::load(g.rate_limits.as_deref())?;
        let limiter = Arc::new(RateLimiter::from_model(&model));
        let sdk = crate::aws::sdk_config_limited(&stack.region, g.endpoint_url.as_deref(), limiter.clone()).await;
        let registry = crate::aws::registry(&sdk);
        let resolved = spec::resolve(&stack, &g.backend.overrides(), &g.state_dir).map_err(CliError::Refused)?;
        let lock_options = LockOptions { lease: resolved.lease, timeout: g.backend.lock_timeout };
        if let BackendSpec::Local { file } = &resolved.spec {
            if g.backend.state_file.is_none() {
                super::backend::take_over_legacy(&g.state_dir, &stack, file, &lock_options).await?;
            }
        }
        let (backend, locks) = spec::open(&resolved.spec, g.endpoint_url.as_deref()).await;
        Ok(Context {
            stack,
            registry,
            backend,
            locks,
            lock_options,
            lock: None,
            model,
            limiter,
            sdk,
            account: OnceLock::new(),
        })
    }

    /// What this run is about, for `state::binding` (the account if it was asked).
    pub fn binding(&self) -> Binding {
        Binding {
            stack: self.stack.name.clone(),
            env: self.stack.env.clone(),
            region: self.stack.region.clone(),
            account: self.account.get().cloned().flatten(),
        }
    }

    /// The stored state, refused unless it describes this stack, env and region (checked before
    /// any other AWS call) and, with `check_account`, the account of the credentials (one STS
    /// call, made once per run). Region and account are filled in where the state lacks them,
    /// so the next write records them.
    pub async fn load_state(&self, check_account: bool) -> Result<Option<State>, CliError> {
        let location = self.backend.describe();
        let mut state = self.backend.load().await?;
        if let Some(s) = &state {
            binding::check(&location, s, &self.binding())?;
        }
        if check_account {
            if self.account.get().is_none() {
                let found = match crate::aws::identity::account_id(&self.sdk).await {
                    Ok(a) => Some(a),
                    Err(e) => match state.as_ref().and_then(|s| s.account.as_deref()) {
                        Some(recorded) => {
                            return Err(CliError::Refused(format!(
                                "cannot check that the credentials are for account {recorded}, which the state \
                                 {location} belongs to: {e}. Nothing was changed"
                            )))
                        }
                        None => {
                            eprintln!("Warning: the AWS account of the credentials is unknown ({e}); it is not recorded in the state.");
                            None
                        }
                    },
                };
                let _ = self.account.set(found);
            }
            if let Some(s) = &state {
                binding::check_account(&location, s, &self.binding())?;
            }
        }
        if let Some(s) = &mut state {
            binding::bind(s, &self.binding());
        }
        Ok(state)
    }

    /// A new state for this stack, bound to it.
    pub fn new_state(&self) -> State {
        let mut s = State::new(&self.stack.name, &self.stack.env);
        binding::bind(&mut s, &self.binding());
        s
    }

    /// Apply the plans' `[[moved]]` blocks to `state` (in memory): the renames done, one per
    /// recorded address. A block whose `from` is not recorded was applied before and is skipped.
    pub fn apply_moves(&self, state: &mut Option<State>) -> Result<Vec<Move>, CliError> {
        let Some(s) = state else { return Ok(Vec::new()) };
        let mut done = Vec::new();
        for m in &self.stack.moved {
            let pairs = moves::apply(s, &Move { from: m.from.clone(), to: m.to.clone() })
                .map_err(|e| CliError::Refused(format!("{}: {e}", m.loc)))?;
            for (from, to) in pairs {
                let parse = |a: &str| a.parse::<Address>().map_err(|e| CliError::Refused(e.to_string()));
                done.push(Move { from: parse(&from)?, to: parse(&to)? });
            }
        }
        Ok(done)
    }

    /// [`Context::load`], then take the state lock for `operation` (a command that writes
    /// state). End with [`Context::finish`] to release it.
    ///
    /// The state is checked against the run (`state::binding`) before the lock is taken, so a
    /// run about another stack, region or account writes nothing at all, not even a lock.
    pub async fn load_locked(g: &Global, operation: &str) -> Result<Self, CliError> {
        let mut ctx = Self::load(g).await?;
        ctx.load_state(true).await?;
        ctx.lock(operation).await?;
        Ok(ctx)
    }

    /// Take the state lock for `operation` (held until [`Context::finish`]).
    pub async fn lock(&mut self, operation: &str) -> Result<(), CliError> {
        let ctx = self;
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
        Ok(())
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

/// Ask for "yes" on a terminal; refuse without one. Ctrl-C while waiting for the answer
/// ends the wait with [`CliError::Interrupted`], so the caller still releases the state lock
/// (a blocking read would keep the process, and the lock, until the signal killed both).
pub async fn confirm(question: &str, auto_approve: bool) -> Result<(), CliError> {
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
    // A plain thread, not the blocking pool: after Ctrl-C it stays blocked in `read_line`, and
    // the runtime's shutdown waits for blocking-pool tasks but not for plain threads. The
    // runtime goes on meanwhile (the lock's heartbeat keeps running).
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut answer = String::new();
        let got = std::io::stdin().lock().read_line(&mut answer).map(|_| answer);
        let _ = tx.send(got);
    });
    let answer = tokio::select! {
        got = rx => match got {
            Ok(got) => got.map_err(|e| CliError::Refused(format!("no answer: {e}")))?,
            Err(_) => return Err(CliError::Refused("no answer".into())),
        },
        _ = tokio::signal::ctrl_c() => {
            eprintln!();
            return Err(CliError::Interrupted("interrupted at the confirmation prompt; nothing was changed".into()));
        }
    };
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(CliError::Refused("cancelled: the answer was not 'yes'; nothing was changed".into()))
    }
}
