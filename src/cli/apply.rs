//! `kprov apply` and `kprov destroy`: show the plan, confirm, run the engine, summarise.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::context::{confirm, Context};
use super::{CliError, Global, Outcome, RunArgs};
use crate::engine::{self, RunOptions};
use crate::plan::{self, render, Plan, PLAN_FORMAT};
use crate::state::State;
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
}

pub async fn run_apply(g: &Global, a: ApplyArgs) -> Result<Outcome, CliError> {
    let ctx = Context::load_locked(g, "apply").await?;
    let result = apply(g, &ctx, a).await;
    ctx.finish(result).await
}

async fn apply(g: &Global, ctx: &Context, a: ApplyArgs) -> Result<Outcome, CliError> {
    let state = ctx.backend.load().await?;
    let plan = match &a.planfile {
        Some(path) => load_saved(path, ctx, state.as_ref())?,
        None => plan::make(&ctx.stack, &ctx.registry, state.as_ref(), &ctx.cx(), false).await?,
    };
    execute(g, ctx, plan, state, &a.run, "apply").await
}

pub async fn run_destroy(g: &Global, a: DestroyArgs) -> Result<Outcome, CliError> {
    let ctx = Context::load_locked(g, "destroy").await?;
    let result = destroy(g, &ctx, a).await;
    ctx.finish(result).await
}

async fn destroy(g: &Global, ctx: &Context, a: DestroyArgs) -> Result<Outcome, CliError> {
    let state = ctx.backend.load().await?;
    let plan = plan::make(&ctx.stack, &ctx.registry, state.as_ref(), &ctx.cx(), true).await?;
    execute(g, ctx, plan, state, &a.run, "destroy").await
}

fn load_saved(path: &PathBuf, ctx: &Context, state: Option<&State>) -> Result<Plan, CliError> {
    let file_err = |message: String| CliError::File { path: path.clone(), message };
    let text = std::fs::read_to_string(path).map_err(|e| file_err(e.to_string()))?;
    let mut plan: Plan = serde_json::from_str(&text).map_err(|e| file_err(format!("not a kprov plan: {e}")))?;
    if plan.format != PLAN_FORMAT {
        return Err(file_err(format!("plan format {} is not supported (expected {PLAN_FORMAT})", plan.format)));
    }
    if plan.env != ctx.stack.env || plan.stack != ctx.stack.name {
        return Err(file_err(format!(
            "this plan is for stack {} env {}, not stack {} env {}",
            plan.stack, plan.env, ctx.stack.name, ctx.stack.env
        )));
    }
    let now = (state.map(|s| s.lineage.clone()), state.map(|s| s.serial).unwrap_or(0));
    if now != (plan.state_lineage.clone(), plan.state_serial) {
        return Err(CliError::Refused(format!(
            "the state changed since this plan was made (plan made at serial {}, state is now at serial {}); run `kprov plan` again",
            plan.state_serial, now.1
        )));
    }
    plan::secrets::unseal(&mut plan, &ctx.stack).map_err(CliError::Refused)?;
    Ok(plan)
}

async fn execute(
    g: &Global,
    ctx: &Context,
    plan: Plan,
    state: Option<State>,
    run: &RunArgs,
    verb: &str,
) -> Result<Outcome, CliError> {
    print!("{}", render::text(&plan));
    let needs_record = plan.changes.iter().any(|c| c.note.is_some());
    if !plan.has_changes() && !needs_record {
        return Ok(Outcome::Ok);
    }
    if plan.has_changes() {
        confirm(&format!("\nDo you want to {verb} these changes in env {}?", g.env), run.auto_approve)?;
    }

    let cancel = CancellationToken::new();
    spawn_interrupt_handler(cancel.clone());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let ui = tokio::spawn(crate::ui::render(rx, run.progress));
    let state = state.unwrap_or_else(|| State::new(&ctx.stack.name, &ctx.stack.env));
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
