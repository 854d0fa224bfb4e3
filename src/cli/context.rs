//! What every command sets up: the loaded plans, the registry, the state backend.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use super::{CliError, Global};
use crate::config::{self, Stack};
use crate::engine::{Model, RateLimiter};
use crate::resource::{Cx, Owner, Registry};
use crate::state::{Backend, LocalBackend};

pub struct Context {
    pub stack: Stack,
    pub registry: Registry,
    pub backend: Arc<dyn Backend>,
    /// The AWS model (durations, rate limits) with the user's overrides.
    pub model: Model,
    /// Every AWS request of this run goes through it; its statistics feed the run summary.
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
        let backend: Arc<dyn Backend> = Arc::new(LocalBackend::for_env(&g.state_dir, &stack.env));
        Ok(Context { stack, registry, backend, model, limiter })
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
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| CliError::Refused(format!("no answer: {e}")))?;
    if answer.trim() == "yes" {
        Ok(())
    } else {
        Err(CliError::Refused("cancelled: the answer was not 'yes'; nothing was changed".into()))
    }
}
