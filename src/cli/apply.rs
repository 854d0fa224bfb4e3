//! `kprov apply` and `kprov destroy`: show the plan, confirm, run the engine, summarise.
//!
//! `apply PLANFILE` runs a saved plan without asking again (saving it was the approval), after
//! checking, before the lock and any AWS call, that it is a plan of this stack, env and region.
//!
//! Either refuses, before any change, to apply with no state (or an empty one) while AWS holds
//! resources carrying this stack's ownership tags: the state was lost, and `kprov state recover`
//! rebuilds it (`cli::recover`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::context::{confirm, Context};
use super::{CliError, Global, Outcome, RunArgs};
use crate::engine::{self, RunOptions};
use crate::plan::{self, render, Plan, PLAN_FORMAT};
use crate::state::{moves, State};
use crate::ui::summary::RunSummary;
use crate::ui::ProgressMode;

#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// A plan saved with `kprov plan --out FILE`; applied exactly, if the state has not changed
    pub planfile: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, clap::Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Delete what in-cluster controllers made (load balancers, target groups and security
    /// groups of the AWS Load Balancer Controller, Karpenter's instances) before destroying; without
    /// it, a destroy that finds any refuses and lists them.
    #[arg(long)]
    pub delete_controller_resources: bool,
}

pub async fn run_apply(g: &Global, a: ApplyArgs) -> Result<Outcome, CliError> {
    let Some(path) = a.planfile.clone() else {
        let ctx = Context::load_locked(g, "apply").await?;
        let result = apply(g, &ctx, a).await;
        return ctx.finish(result).await;
    };
    // A saved plan: check it is a plan of this stack, env and region before the lock is taken
    // (and before any AWS call), then against the state under the lock.
    let mut ctx = Context::load(g).await?;
    let saved = read_saved(&path, &ctx)?;
    ctx.load_state(true).await?;
    ctx.lock("apply").await?;
    let result = apply_saved(g, &ctx, saved, &path, &a.run).await;
    ctx.finish(result).await
}

async fn apply(g: &Global, ctx: &Context, a: ApplyArgs) -> Result<Outcome, CliError> {
    let mut state = ctx.load_state(true).await?;
    let moved = ctx.apply_moves(&mut state)?;
    let mut plan = plan::make(&ctx.stack, &ctx.registry, state.as_ref(), &ctx.cx(), false).await?;
    // No state, yet AWS holds this stack's resources: the state was lost (see `cli::recover`).
    super::recover::refuse_lost_state(ctx, state.as_ref()).await?;
    plan.moved = moved;
    execute(g, ctx, plan, state, &a.run, "apply", false).await
}

pub async fn run_destroy(g: &Global, a: DestroyArgs) -> Result<Outcome, CliError> {
    let ctx = Context::load_locked(g, "destroy").await?;
    let result = destroy(g, &ctx, a).await;
    ctx.finish(result).await
}

async fn destroy(g: &Global, ctx: &Context, a: DestroyArgs) -> Result<Outcome, CliError> {
    let state = ctx.load_state(true).await?;
    if let Some(s) = &state {
        controller_resources(ctx, s, a.delete_controller_resources).await?;
    }
    let plan = plan::make(&ctx.stack, &ctx.registry, state.as_ref(), &ctx.cx(), true).await?;
    // Nothing recorded, so nothing to destroy — but if the state was lost, the resources are
    // still there, and "no changes" alone would hide them.
    super::recover::warn_lost_state(ctx, state.as_ref()).await;
    execute(g, ctx, plan, state, &a.run, "destroy", false).await
}

/// Before a destroy: what the stack's clusters' controllers made lives in the stack's subnets
/// and references its groups, so the destroy would stall on it (`aws::leftovers`). Refuse with
/// the list and the fix, or delete it first when asked to.
async fn controller_resources(ctx: &Context, state: &crate::state::State, delete: bool) -> Result<(), CliError> {
    let clusters: Vec<String> = state
        .resources
        .values()
        .filter(|r| r.kind == "eks_cluster")
        .filter_map(|r| r.attributes.get("name").and_then(|v| v.as_str()).map(str::to_string))
        .collect();
    let found = crate::aws::leftovers::find(ctx.sdk(), &clusters)
        .await
        .map_err(|e| CliError::Failed(format!("looking for what the clusters' controllers made: {e}")))?;
    if found.is_empty() {
        return Ok(());
    }
    let list: String = found.iter().map(|l| format!("\n  - {l}")).collect();
    if !delete {
        return Err(CliError::Refused(format!(
            "{} resources made by in-cluster controllers of {} exist; nothing was deleted:{list}\n\
             A destroy would stall on them (they use the stack's subnets and security groups). Delete the Ingresses, \
             LoadBalancer Services and Karpenter NodePools from the cluster first, or run `kprov destroy \
             --delete-controller-resources` to delete these first.",
            found.len(),
            clusters.join(", ")
        )));
    }
    eprintln!("Deleting {} resources made by in-cluster controllers:{list}", found.len());
    crate::aws::leftovers::delete(ctx.sdk(), &found)
        .await
        .map_err(|e| CliError::Failed(format!("deleting what the clusters' controllers made: {e}")))
}

/// Read a saved plan and check that it is one of this stack, env and region (no AWS call).
fn read_saved(path: &PathBuf, ctx: &Context) -> Result<Plan, CliError> {
    let file_err = |message: String| CliError::File { path: path.clone(), message };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let plan: Plan = serde_json::from_str(&text).map_err(|e| file_err(format!("not a kprov plan: {e}")))?;
    if plan.format != PLAN_FORMAT {
        return Err(file_err(format!("plan format {} is not supported (expected {PLAN_FORMAT})", plan.format)));
    }
    let s = &ctx.stack;
    if (&plan.stack, &plan.env, &plan.region) != (&s.name, &s.env, &s.region) {
        return Err(file_err(format!(
            "this plan is for stack {} env {} region {}, not stack {} env {} region {}; nothing was changed. Apply it \
             with --env {} and the plans it was made from",
            plan.stack, plan.env, plan.region, s.name, s.env, s.region, plan.env
        )));
    }
    Ok(plan)
}

/// Run a saved plan exactly: refused if the state moved on since it was made. The saved plan
/// was the approval (as with `terraform apply PLANFILE`), so there is no second question.
async fn apply_saved(
    g: &Global,
    ctx: &Context,
    mut plan: Plan,
    path: &Path,
    run: &RunArgs,
) -> Result<Outcome, CliError> {
    let mut state = ctx.load_state(true).await?;
    let now = (state.as_ref().map(|s| s.lineage.clone()), state.as_ref().map(|s| s.serial).unwrap_or(0));
    if now != (plan.state_lineage.clone(), plan.state_serial) {
        return Err(CliError::Refused(format!(
            "the state changed since this plan was made (plan made at serial {}, state is now at serial {}); run `kprov plan` again",
            plan.state_serial, now.1
        )));
    }
    // The renames the plan was made with, applied to the same state again.
    if let Some(s) = &mut state {
        for m in &plan.moved {
            moves::apply_strict(s, m).map_err(|e| CliError::File {
                path: path.to_path_buf(),
                message: format!("cannot apply its moves: {e}"),
            })?;
        }
    }
    if !plan.destroy {
        super::recover::refuse_lost_state(ctx, state.as_ref()).await?;
    }
    plan::secrets::unseal(&mut plan, &ctx.stack).map_err(CliError::Refused)?;
    execute(g, ctx, plan, state, run, "apply", true).await
}

async fn execute(
    g: &Global,
    ctx: &Context,
    plan: Plan,
    state: Option<State>,
    run: &RunArgs,
    verb: &str,
    approved: bool,
) -> Result<Outcome, CliError> {
    super::output::print(&render::text(&plan));
    // A run with nothing to do in AWS still writes the state when the state must change: notes
    // (adoptions, resources deleted outside kprov), renames, and records of resources that are
    // gone and no longer planned (a destroy killed after its deletes but before its last state
    // write: the next destroy has no change left, yet the state still lists what AWS removed).
    let stale_records = state.as_ref().is_some_and(|s| {
        let planned: std::collections::HashSet<String> = plan.changes.iter().map(|c| c.address.to_string()).collect();
        s.resources.keys().any(|k| !planned.contains(k))
    });
    let needs_record = plan.changes.iter().any(|c| c.note.is_some()) || plan.has_state_changes() || stale_records;
    if !plan.has_changes() && !needs_record {
        return Ok(Outcome::Ok);
    }
    if plan.has_changes() && !approved {
        confirm(&format!("\nDo you want to {verb} these changes in env {}?", g.env), run.auto_approve).await?;
    }

    let cancel = CancellationToken::new();
    spawn_interrupt_handler(cancel.clone());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let ui = tokio::spawn(crate::ui::render(rx, run.progress));
    let state = state.unwrap_or_else(|| ctx.new_state());
    let opts = RunOptions { owner: ctx.owner(), parallelism: run.parallelism as usize, cancel: ctx.run_token(&cancel) };
    // The fastest this plan can go under typical AWS durations, for the summary.
    let critical = engine::critical_path(&plan, &ctx.model.durations).ok();
    let report = engine::run(&plan, &ctx.registry, state, Arc::clone(&ctx.backend), tx, opts).await?;
    let _ = ui.await;

    let interrupted = cancel.is_cancelled();
    let api = ctx.limiter.stats();
    let summary = RunSummary {
        verb,
        report: &report,
        critical_path: critical.as_ref(),
        api: &api,
        state_location: ctx.backend.describe(),
        interrupted,
    };
    if run.progress == ProgressMode::Json {
        eprintln!("{}", summary.json());
    } else {
        eprint!("{}", summary.text());
    }
    if interrupted {
        return Ok(Outcome::Interrupted);
    }
    if report.ok() {
        Ok(Outcome::Ok)
    } else {
        Err(CliError::Failed(format!("{verb} failed: {} resources failed", report.failed.len())))
    }
}

/// First Ctrl-C: stop starting work and let the run wind down. Second: exit at once (the
/// pending intents recorded in state make the next run safe).
fn spawn_interrupt_handler(cancel: CancellationToken) {
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\nInterrupt received: finishing in-flight work and saving state (Ctrl-C again to exit at once)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
}
