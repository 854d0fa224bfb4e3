//! The command line: one file per command. `main` only parses, runs and maps errors to exit
//! codes; everything a command needs is set up in [`context`].

pub mod apply;
pub mod backend;
pub mod context;
pub mod drift;
pub mod graph;
pub mod iam_policy;
pub mod lint;
pub mod logging;
pub mod output;
pub mod plan;
pub mod recover;
pub mod state;
pub mod validate;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::ui::ProgressMode;

#[derive(Debug, Parser)]
#[command(name = "kprov", version, about = "Provision an EKS platform on AWS, directly through the AWS SDK")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Args, Clone)]
pub struct Global {
    /// Environment overlay to use: plans/env/<ENV>.toml
    #[arg(long, global = true, default_value = "dev", env = "KPROV_ENV")]
    pub env: String,
    /// Directory holding the plan files
    #[arg(long, global = true, default_value = "plans", env = "KPROV_PLANS")]
    pub plans: PathBuf,
    /// Directory of the local state files (<DIR>/<STACK>/<ENV>.json)
    #[arg(long, global = true, default_value = "state", env = "KPROV_STATE_DIR")]
    pub state_dir: PathBuf,
    /// Send AWS requests here (a local emulator); AWS_ENDPOINT_URL works too
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Override the built-in AWS rate limits (a TOML file, see docs/performance.md)
    #[arg(long, global = true, env = "KPROV_RATE_LIMITS")]
    pub rate_limits: Option<PathBuf>,
    #[command(flatten)]
    pub backend: backend::BackendArgs,
}

#[derive(Debug, clap::Args, Clone)]
pub struct RunArgs {
    /// Skip the interactive confirmation
    #[arg(long)]
    pub auto_approve: bool,
    /// Maximum AWS operations in flight (waiting for AWS does not count)
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Progress display
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what apply would change
    Plan(plan::PlanArgs),
    /// Make AWS match the plans (or run a saved plan)
    Apply(apply::ApplyArgs),
    /// Delete everything in the state, dependents first
    Destroy(apply::DestroyArgs),
    /// Print the dependency graph
    Graph(graph::GraphArgs),
    /// Check the plans against the platform's security rules (no AWS access)
    Lint(lint::LintArgs),
    /// Check the plans offline: every check that needs no AWS call and no state (exit 1 on error)
    Validate(validate::ValidateArgs),
    /// Detect drift: changed, missing and unmanaged resources (read-only; exit 2 on drift)
    Drift(drift::DriftArgs),
    /// Print the least-privilege IAM policy the runner needs to apply the plans (no AWS access)
    IamPolicy(iam_policy::IamPolicyArgs),
    /// Inspect, move, recover and set up the state (bootstrap, list, show, pull, mv, rm, migrate, recover)
    State(state::StateArgs),
    /// Remove a state lock whose holder is gone (needs the holder's lock id)
    ForceUnlock(state::ForceUnlockArgs),
}

/// What a command ended with; `main` turns it into an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Changes present (`plan --detailed-exitcode`).
    Changes,
    Interrupted,
}

pub async fn run(cli: Cli) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Plan(a) => plan::run(&cli.global, a).await,
        Command::Apply(a) => apply::run_apply(&cli.global, a).await,
        Command::Destroy(a) => apply::run_destroy(&cli.global, a).await,
        Command::Graph(a) => graph::run(&cli.global, a).await,
        Command::Drift(a) => drift::run(&cli.global, a).await,
        Command::Lint(a) => lint::run(&cli.global, a).await,
        Command::Validate(a) => validate::run(&cli.global, a).await,
        Command::IamPolicy(a) => iam_policy::run(&cli.global, a).await,
        Command::State(a) => state::run(&cli.global, a).await,
        Command::ForceUnlock(a) => state::force_unlock(&cli.global, a).await,
    }
}

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Graph(#[from] crate::graph::GraphError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error(transparent)]
    Model(#[from] crate::engine::model::ModelError),
    #[error(transparent)]
    Lock(#[from] crate::state::lock::LockError),
    #[error(transparent)]
    Bootstrap(#[from] crate::state::bootstrap::BootstrapError),
    #[error("{0}")]
    Refused(String),
    /// Ctrl-C before anything was started (exit 130).
    #[error("{0}")]
    Interrupted(String),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    /// Resources failed; the details were already reported.
    #[error("{0}")]
    Failed(String),
}
