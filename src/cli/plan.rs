//! `kprov plan`: check the state is this stack's, apply `[[moved]]` renames to it (in memory),
//! refresh, diff, print; optionally save the plan for `apply PLANFILE`.

use std::path::PathBuf;

use super::context::Context;
use super::{CliError, Global, Outcome};
use crate::plan::{self, render};

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Exit 0 when there are no changes, 2 when there are, 1 on error
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Save the plan to FILE, for `kprov apply FILE`
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON
    #[arg(long)]
    pub json: bool,
    /// Plan the destruction of everything in the state
    #[arg(long)]
    pub destroy: bool,
}

pub async fn run(g: &Global, a: PlanArgs) -> Result<Outcome, CliError> {
    let ctx = Context::load(g).await?;
    let mut state = ctx.load_state(true).await?;
    let moved = if a.destroy { Vec::new() } else { ctx.apply_moves(&mut state)? };
    let mut plan = plan::make(&ctx.stack, &ctx.registry, state.as_ref(), &ctx.cx(), a.destroy).await?;
    plan.moved = moved;
    if !a.destroy {
        // What `apply` would refuse (a lost state) is worth a warning here.
        super::recover::warn_lost_state(&ctx, state.as_ref()).await;
    }
    if a.json {
        super::output::println(&render::json(&plan));
    } else {
        super::output::print(&render::text(&plan));
    }
    if let Some(path) = &a.out {
        // Sealed: a plan file holds markers, never a sensitive value (see plan::secrets).
        let text = serde_json::to_string_pretty(&plan::secrets::sealed(&plan))
            .map_err(|e| CliError::File { path: path.clone(), message: e.to_string() })?;
        std::fs::write(path, text).map_err(|e| CliError::File { path: path.clone(), message: e.to_string() })?;
        if !a.json {
            super::output::println(&format!(
                "Saved the plan to {}; apply it with: kprov apply --env {} {}",
                path.display(),
                g.env,
                path.display()
            ));
        }
    }
    Ok(if a.detailed_exitcode && plan.has_changes() { Outcome::Changes } else { Outcome::Ok })
}
