//! `kprov state …` and `kprov force-unlock`: set up, inspect and move the state.
//!
//! - `bootstrap` creates the S3 bucket and the DynamoDB lock table of the configured S3
//!   backend (idempotent; see `state::bootstrap`).
//! - `list`, `show ADDRESS`, `pull` read the state without locking, like `plan`. `show` takes
//!   `kind.name["key"]` or `kind.name['key']`, and lists the instances for `kind.name` of a
//!   repeated resource.
//! - `mv FROM TO` renames a recorded address (the `[[moved]]` mechanism, `state::moves`);
//!   `rm ADDRESS…` forgets resources without deleting them in AWS (after confirmation). Both
//!   hold the state lock and write a new serial.
//! - `recover` rebuilds a lost or damaged state from what AWS holds (see `cli::recover`).
//! - `migrate --to s3|local` copies the state verbatim (serial and lineage kept) between the
//!   local file and S3, holding the locks of both ends; the source is left as it was.
//! - `force-unlock LOCK_ID` removes a lock whose holder is gone; refused for any other id.

use std::sync::Arc;

use clap::Subcommand;

use super::backend::take_lock;
use super::context::{confirm, load_stack, Context};
use super::{CliError, Global, Outcome};
use crate::config::BackendKind;
use crate::resource::Address;
use crate::state::binding::{self, Binding};
use crate::state::bootstrap;
use crate::state::lock::{self, LockOptions};
use crate::state::spec::{self, BackendSpec, Overrides};
use crate::state::{moves, Backend, S3Backend, State};

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
    /// Show what the state records for one resource (or list the instances of a repeated one)
    Show {
        /// e.g. ec2_vpc.main, ec2_subnet.private["us-east-1a"] or ec2_subnet.private['us-east-1a']
        address: String,
    },
    /// Rename a resource in the state (no AWS change), e.g. after renaming it in the plans
    Mv {
        /// The recorded address (kind.name moves every instance of a repeated resource)
        from: String,
        /// The new address, of the same kind
        to: String,
    },
    /// Forget resources: they stay in AWS, kprov no longer manages them
    Rm {
        /// Recorded addresses (kind.name forgets every instance of a repeated resource)
        #[arg(required = true)]
        addresses: Vec<String>,
        /// Skip the interactive confirmation
        #[arg(long)]
        auto_approve: bool,
    },
    /// Print the state document
    Pull,
    /// Rebuild a lost or damaged state from the resources' ownership tags and natural keys (asks first)
    Recover {
        /// Skip the interactive confirmation
        #[arg(long)]
        auto_approve: bool,
        /// Replace a state that records resources (by default recover refuses to touch one)
        #[arg(long)]
        force: bool,
    },
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
            let all: Vec<String> = state.resources.keys().cloned().collect();
            print_list(&state, &all);
            Ok(Outcome::Ok)
        }
        StateCommand::Show { address } => {
            let state = read(g).await?;
            let wanted = parse_address(&address)?;
            let found = moves::matching(&state, &wanted);
            match found.as_slice() {
                [] => Err(CliError::Refused(format!(
                    "no resource `{address}` in the state ({} resources; see `kprov state list`)",
                    state.resources.len()
                ))),
                [one] if *one == wanted.to_string() => {
                    let r = &state.resources[one];
                    let text = serde_json::to_string_pretty(r).map_err(|e| CliError::Refused(e.to_string()))?;
                    super::output::println(&format!("# {one}\n{text}"));
                    Ok(Outcome::Ok)
                }
                instances => {
                    super::output::println(&format!(
                        "# {wanted} has {} instances; show one with its key, e.g. kprov state show '{}'",
                        instances.len(),
                        instances[0]
                    ));
                    print_list(&state, instances);
                    Ok(Outcome::Ok)
                }
            }
        }
        StateCommand::Mv { from, to } => state_mv(g, &from, &to).await,
        StateCommand::Rm { addresses, auto_approve } => state_rm(g, &addresses, auto_approve).await,
        StateCommand::Pull => {
            super::output::print(&read(g).await?.to_json());
            Ok(Outcome::Ok)
        }
        StateCommand::Migrate { to } => migrate(g, to).await,
        StateCommand::Recover { auto_approve, force } => super::recover::run(g, auto_approve, force).await,
    }
}

/// One line per address: address, id, status.
fn print_list(state: &State, addresses: &[String]) {
    let width = addresses.iter().map(|a| a.chars().count()).max().unwrap_or(0);
    let id = |a: &String| state.resources.get(a).and_then(|r| r.id.as_deref()).unwrap_or("-");
    let id_width = addresses.iter().map(|a| id(a).len()).max().unwrap_or(0);
    for address in addresses {
        let Some(r) = state.resources.get(address) else { continue };
        let status = serde_json::to_value(r.status).ok().and_then(|v| v.as_str().map(str::to_string));
        super::output::println(&format!(
            "{address:<width$}  {:<id_width$}  {}",
            id(address),
            status.unwrap_or_default()
        ));
    }
}

fn parse_address(s: &str) -> Result<Address, CliError> {
    s.parse::<Address>().map_err(|e| CliError::Refused(e.to_string()))
}

/// Under the lock: the state (checked to be this stack's), changed by `change`, saved with the
/// next serial. `change` returns what to say, or an error (then nothing is written).
async fn edit_state(
    g: &Global,
    operation: &str,
    change: impl FnOnce(&mut State) -> Result<String, CliError>,
) -> Result<Outcome, CliError> {
    let mut ctx = Context::load(g).await?;
    // Stack, env and region: no AWS call is needed, and none is made before the lock.
    ctx.load_state(false).await?;
    ctx.lock(operation).await?;
    let result = async {
        let mut state = ctx
            .load_state(false)
            .await?
            .ok_or_else(|| CliError::Refused(format!("there is no state yet at {}", ctx.backend.describe())))?;
        let said = change(&mut state)?;
        state.serial += 1;
        ctx.backend.save(&state).await?;
        super::output::println(&format!("{said} Saved {} (serial {}).", ctx.backend.describe(), state.serial));
        Ok(Outcome::Ok)
    }
    .await;
    ctx.finish(result).await
}

async fn state_mv(g: &Global, from: &str, to: &str) -> Result<Outcome, CliError> {
    let m = moves::Move { from: parse_address(from)?, to: parse_address(to)? };
    edit_state(g, "state mv", |state| {
        let pairs =
            moves::apply_strict(state, &m).map_err(|e| CliError::Refused(format!("{e}; nothing was changed")))?;
        let lines: Vec<String> = pairs.iter().map(|(a, b)| format!("Moved {a} to {b}.")).collect();
        Ok(format!("{} No AWS object was changed.", lines.join("\n")))
    })
    .await
}

async fn state_rm(g: &Global, addresses: &[String], auto_approve: bool) -> Result<Outcome, CliError> {
    let wanted = addresses.iter().map(|a| parse_address(a)).collect::<Result<Vec<_>, _>>()?;
    // Checked and confirmed against the state as it is now; removed under the lock.
    let preview = read(g).await?;
    let mut doomed: Vec<String> = Vec::new();
    for w in &wanted {
        let found = moves::matching(&preview, w);
        if found.is_empty() {
            return Err(CliError::Refused(format!("no resource `{w}` in the state; nothing was changed")));
        }
        doomed.extend(found);
    }
    doomed.sort();
    doomed.dedup();
    super::output::println(&format!(
        "kprov will forget {} resources. They are NOT deleted: they stay in AWS, and kprov no longer manages them \
         (a later apply of plans that still declare them would create them again):",
        doomed.len()
    ));
    print_list(&preview, &doomed);
    confirm("\nDo you want to remove these resources from the state?", auto_approve).await?;
    edit_state(g, "state rm", move |state| {
        for a in &doomed {
            if state.resources.remove(a).is_none() {
                return Err(CliError::Refused(format!(
                    "`{a}` is no longer in the state (it changed meanwhile); nothing was changed"
                )));
            }
        }
        for r in state.resources.values_mut() {
            r.dependencies.retain(|d| !doomed.contains(d));
        }
        Ok(format!("Removed {} resources from the state; nothing was deleted in AWS.", doomed.len()))
    })
    .await
}

/// The stored state, or an error saying where none was found.
///
/// As stored (`pull` prints it byte for byte), but only if it is this stack's.
async fn read(g: &Global) -> Result<State, CliError> {
    let ctx = Context::load(g).await?;
    let location = ctx.backend.describe();
    let state =
        ctx.backend.load().await?.ok_or_else(|| CliError::Refused(format!("there is no state yet at {location}")))?;
    binding::check(&location, &state, &ctx.binding())?;
    Ok(state)
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
        super::output::println(&format!("{} {}", if s.changed { "+" } else { "=" }, s.what));
    }
    let changed = steps.iter().filter(|s| s.changed).count();
    if changed == 0 {
        super::output::println(&format!(
            "Nothing to change: bucket {bucket} and table {lock_table} ({region}) are ready."
        ));
    } else {
        super::output::println(&format!(
            "Bootstrapped bucket {bucket} and table {lock_table} ({region}): {changed} changes."
        ));
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
    for end in [&from, &dest] {
        if let (BackendSpec::Local { file }, None) = (&end.spec, &g.backend.state_file) {
            let opts = LockOptions { lease: end.lease, timeout: g.backend.lock_timeout };
            super::backend::take_over_legacy(&g.state_dir, &stack, file, &opts).await?;
        }
    }
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
    let run =
        Binding { stack: stack.name.clone(), env: stack.env.clone(), region: stack.region.clone(), account: None };
    let result = copy(src.as_ref(), dst.as_ref(), &run).await;
    let released = (dst_lock.release().await, src_lock.release().await);
    let state = result?;
    released.0?;
    released.1?;
    super::output::println(&format!(
        "Migrated the state (lineage {}, serial {}, {} resources) from {} to {}.",
        state.lineage,
        state.serial,
        state.resources.len(),
        src.describe(),
        dst.describe()
    ));
    super::output::println(&format!(
        "The source is left as it was, as a backup. Use the new backend from now on: {}",
        match to {
            BackendKind::S3 => "set `type = \"s3\"` in the plans' [backend] table (or pass --backend s3).",
            BackendKind::Local => "remove the [backend] table or set `type = \"local\"` (or pass --backend local).",
        }
    ));
    Ok(Outcome::Ok)
}

/// Copy the state verbatim and read it back to check.
async fn copy(src: &dyn Backend, dst: &dyn Backend, run: &Binding) -> Result<State, CliError> {
    let state = src
        .load()
        .await?
        .ok_or_else(|| CliError::Refused(format!("nothing to migrate: there is no state at {}", src.describe())))?;
    // Another stack's state is not copied under this stack's name.
    binding::check(&src.describe(), &state, run)?;
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
    super::output::println(&format!("Removed the state lock held by {} ({}).", removed.info, store.describe()));
    if !removed.expired() {
        super::output::println(
            "Its lease had not expired: if that run is still going, it will notice at its next heartbeat and stop.",
        );
    }
    Ok(Outcome::Ok)
}
