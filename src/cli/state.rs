//! `kprov state …` and `kprov force-unlock`: set up, inspect and move the state.
//!
//! - `bootstrap` creates the S3 bucket and the DynamoDB lock table of the configured S3
//!   backend (idempotent; see `state::bootstrap`).
//! - `list`, `show ADDRESS`, `pull` read the state without locking, like `plan`.
//! - `migrate --to s3|local` copies the state verbatim (serial and lineage kept) between the
//!   local file and S3, holding the locks of both ends; the source is left as it was.
//! - `force-unlock LOCK_ID` removes a lock whose holder is gone; refused for any other id.

use std::sync::Arc;

use clap::Subcommand;

use super::backend::take_lock;
use super::context::{load_stack, Context};
use super::{CliError, Global, Outcome};
use crate::config::BackendKind;
use crate::state::bootstrap;
use crate::state::lock::{self, LockOptions};
use crate::state::spec::{self, BackendSpec, Overrides};
use crate::state::{Backend, S3Backend, State};

#[derive(Debug, clap::Args)]
pub struct StateArgs {
    #[command(subcommand)]
    pub command: StateCommand,
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Create the S3 bucket (versioned, encrypted, TLS-only, not public) and the DynamoDB lock table; safe to re-run
    Bootstrap,
    /// List the resources recorded in the state
    List,
    /// Show what the state records for one resource
    Show {
        /// e.g. ec2_subnet.private["us-east-1a"]
        address: String,
    },
    /// Print the state document
    Pull,
    /// Copy the state from the local file to S3 or back, exactly (serial and lineage kept)
    Migrate {
        /// Destination backend; the source is the other one
        #[arg(long, value_name = "s3|local")]
        to: BackendKind,
    },
}

#[derive(Debug, clap::Args)]
pub struct ForceUnlockArgs {
    /// The lock id of the holder, as shown by the command that found the state locked
    pub lock_id: String,
}

pub async fn run(g: &Global, a: StateArgs) -> Result<Outcome, CliError> {
    match a.command {
        StateCommand::Bootstrap => run_bootstrap(g).await,
        StateCommand::List => {
            let state = read(g).await?;
            let width = state.resources.keys().map(|a| a.chars().count()).max().unwrap_or(0);
            let id_width = state.resources.values().map(|r| r.id.as_deref().unwrap_or("-").len()).max().unwrap_or(0);
            for (address, r) in &state.resources {
                let status = serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(str::to_string));
                let id = r.id.as_deref().unwrap_or("-");
                println!("{address:<width$}  {id:<id_width$}  {}", status.unwrap_or_default());
            }
            Ok(Outcome::Ok)
        }
        StateCommand::Show { address } => {
            let state = read(g).await?;
            let Some(r) = state.resources.get(&address) else {
                return Err(CliError::Refused(format!(
                    "no resource `{address}` in the state ({} resources; see `kprov state list`)",
                    state.resources.len()
                )));
            };
            let text = serde_json::to_string_pretty(r).map_err(|e| CliError::Refused(e.to_string()))?;
            println!("# {address}\n{text}");
            Ok(Outcome::Ok)
        }
        StateCommand::Pull => {
            print!("{}", read(g).await?.to_json());
            Ok(Outcome::Ok)
        }
        StateCommand::Migrate { to } => migrate(g, to).await,
    }
}

/// The stored state, or an error saying where none was found.
async fn read(g: &Global) -> Result<State, CliError> {
    let ctx = Context::load(g).await?;
    ctx.backend
        .load()
        .await?
        .ok_or_else(|| CliError::Refused(format!("there is no state yet at {}", ctx.backend.describe())))
}

async fn run_bootstrap(g: &Global) -> Result<Outcome, CliError> {
    let stack = load_stack(g)?;
    let resolved = spec::resolve(&stack, &g.backend.overrides(), &g.state_dir).map_err(CliError::Refused)?;
    let BackendSpec::S3 { bucket, region, lock_table, .. } = &resolved.spec else {
        return Err(CliError::Refused(
            "bootstrap sets up the S3 backend, but this stack uses local state: add a [backend] table with \
             type = \"s3\" to the plans, or pass --state-bucket BUCKET"
                .into(),
        ));
    };
    let sdk = crate::aws::sdk_config(region, g.endpoint_url.as_deref()).await;
    let steps = bootstrap::bootstrap(
        &S3Backend::client(&sdk),
        &aws_sdk_dynamodb::Client::new(&sdk),
        bucket,
        region,
        lock_table,
    )
    .await?;
    for s in &steps {
        println!("{} {}", if s.changed { "+" } else { "=" }, s.what);
    }
    let changed = steps.iter().filter(|s| s.changed).count();
    if changed == 0 {
        println!("Nothing to change: bucket {bucket} and table {lock_table} ({region}) are ready.");
    } else {
        println!("Bootstrapped bucket {bucket} and table {lock_table} ({region}): {changed} changes.");
    }
    Ok(Outcome::Ok)
}

async fn migrate(g: &Global, to: BackendKind) -> Result<Outcome, CliError> {
    let stack = load_stack(g)?;
    let o = g.backend.overrides();
    let end = |kind| {
        spec::resolve(&stack, &Overrides { kind: Some(kind), ..o.clone() }, &g.state_dir).map_err(CliError::Refused)
    };
    let (from, dest) = match to {
        BackendKind::S3 => (end(BackendKind::Local)?, end(BackendKind::S3)?),
        BackendKind::Local => (end(BackendKind::S3)?, end(BackendKind::Local)?),
    };
    let endpoint = g.endpoint_url.as_deref();
    let (src, src_locks) = spec::open(&from.spec, endpoint).await;
    let (dst, dst_locks) = spec::open(&dest.spec, endpoint).await;
    // Both ends locked, always the source first, so two migrations cannot deadlock each other.
    let lock_opts = |lease| LockOptions { lease, timeout: g.backend.lock_timeout };
    let src_lock = take_lock(src_locks, "state migrate", &lock_opts(from.lease)).await?;
    let dst_lock = match take_lock(dst_locks, "state migrate", &lock_opts(dest.lease)).await {
        Ok(l) => l,
        Err(e) => {
            let _ = src_lock.release().await;
            return Err(e);
        }
    };
    super::backend::fence(dst.as_ref(), &dst_lock);
    let result = copy(src.as_ref(), dst.as_ref()).await;
    let released = (dst_lock.release().await, src_lock.release().await);
    let state = result?;
    released.0?;
    released.1?;
    println!(
        "Migrated the state (lineage {}, serial {}, {} resources) from {} to {}.",
        state.lineage,
        state.serial,
        state.resources.len(),
        src.describe(),
        dst.describe()
    );
    println!(
        "The source is left as it was, as a backup. Use the new backend from now on: {}",
        match to {
            BackendKind::S3 => "set `type = \"s3\"` in the plans' [backend] table (or pass --backend s3).",
            BackendKind::Local => "remove the [backend] table or set `type = \"local\"` (or pass --backend local).",
        }
    );
    Ok(Outcome::Ok)
}

/// Copy the state verbatim and read it back to check.
async fn copy(src: &dyn Backend, dst: &dyn Backend) -> Result<State, CliError> {
    let state = src
        .load()
        .await?
        .ok_or_else(|| CliError::Refused(format!("nothing to migrate: there is no state at {}", src.describe())))?;
    dst.import(&state).await?;
    match dst.load().await? {
        Some(copied) if copied == state => Ok(state),
        _ => Err(CliError::Refused(format!(
            "the state read back from {} differs from what was written; the source {} is unchanged",
            dst.describe(),
            src.describe()
        ))),
    }
}

pub async fn force_unlock(g: &Global, a: ForceUnlockArgs) -> Result<Outcome, CliError> {
    let ctx = Context::load(g).await?;
    let store: Arc<dyn lock::LockStore> = ctx.locks.clone();
    let removed = lock::force_unlock(store.as_ref(), &a.lock_id).await?;
    println!("Removed the state lock held by {} ({}).", removed.info, store.describe());
    if !removed.expired() {
        println!(
            "Its lease had not expired: if that run is still going, it will notice at its next heartbeat and stop."
        );
    }
    Ok(Outcome::Ok)
}
