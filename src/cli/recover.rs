//! `kprov state recover`, and the check that keeps `apply` from duplicating a stack whose state
//! was lost.
//!
//! - `state recover [--auto-approve] [--force]`: checks the stored state (refused when it
//!   records resources, unless `--force`; a corrupt one must be moved aside first), finds the
//!   declared resources in AWS (`plan::recover`), prints address → id, what was not found and
//!   what is owned but not declared, asks, then — under the state lock, like `state rm` — writes
//!   the records: a fresh lineage when there is no state, else the stored lineage at the next
//!   serial (the backends accept only a successor of what they hold).
//! - [`refuse_lost_state`]: `apply` (and `apply PLANFILE`) with no state, or an empty one, asks
//!   every kind the plans declare for what carries this stack's ownership tags and refuses, before anything is
//!   changed, when something does: applying would create a second copy of each. `plan` and
//!   `destroy` (which has nothing recorded to delete) only warn ([`warn_lost_state`]).

use std::time::Instant;

use super::context::{confirm, Context};
use super::{CliError, Global, Outcome};
use crate::plan::recover::{self, Recovery};
use crate::state::{State, StateError};

/// How many examples a refusal names.
const EXAMPLES: usize = 3;

/// The resources carrying this stack's ownership tags, when the state records none; empty when
/// the state records some (the normal case: nothing is asked).
async fn owned_without_state(ctx: &Context, state: Option<&State>) -> Result<Vec<String>, CliError> {
    if state.is_some_and(|s| !s.resources.is_empty()) {
        return Ok(Vec::new());
    }
    let owned =
        recover::owned_everywhere(&ctx.stack, &ctx.registry, &ctx.cx()).await.map_err(crate::plan::PlanError::from)?;
    let mut described: Vec<String> = owned
        .into_iter()
        .map(|(kind, o)| match o.owner_address {
            Some(a) => format!("{a} {}", o.id),
            None => format!("{kind} {}", o.id),
        })
        .collect();
    described.sort();
    Ok(described)
}

fn lost_state_message(owned: &[String], env: &str) -> String {
    let examples: Vec<&str> = owned.iter().take(EXAMPLES).map(String::as_str).collect();
    let more = if owned.len() > EXAMPLES { ", …" } else { "" };
    format!(
        "{} resources carrying this stack's ownership tags exist (e.g. {}{more}) but the state has none: run \
         `kprov state recover --env {env}` to rebuild the state from them, then `kprov plan --env {env}`. Applying \
         without it would create a second copy of each",
        owned.len(),
        examples.join(", ")
    )
}

/// Refuse an apply with no (or an empty) state while AWS holds resources owned by this stack.
pub async fn refuse_lost_state(ctx: &Context, state: Option<&State>) -> Result<(), CliError> {
    let owned = owned_without_state(ctx, state).await?;
    if owned.is_empty() {
        return Ok(());
    }
    Err(CliError::Refused(format!("{}; nothing was changed.", lost_state_message(&owned, &ctx.stack.env))))
}

/// `plan`'s (and `destroy`'s) version of [`refuse_lost_state`]: a warning on stderr (and a
/// failed check is only a warning too: with no state, neither changes anything).
pub async fn warn_lost_state(ctx: &Context, state: Option<&State>) {
    match owned_without_state(ctx, state).await {
        Ok(owned) if owned.is_empty() => {}
        Ok(owned) => eprintln!("Warning: {}.", lost_state_message(&owned, &ctx.stack.env)),
        Err(e) => eprintln!("Warning: could not check for resources owned by this stack outside the state: {e}"),
    }
}

/// A stored state that records resources, refused unless `force`.
fn check_overwrite(state: Option<&State>, location: &str, force: bool) -> Result<(), CliError> {
    match state {
        Some(s) if !s.resources.is_empty() && !force => Err(CliError::Refused(format!(
            "the state {location} records {} resources (serial {}, lineage {}); recover rebuilds a lost or damaged \
             state and would overwrite it. Check it with `kprov plan`, or re-run with --force to replace it with what \
             is found in AWS; nothing was changed",
            s.resources.len(),
            s.serial,
            s.lineage
        ))),
        _ => Ok(()),
    }
}

/// The stored state, with a way out when it cannot be read as state.
async fn load_checked(ctx: &Context) -> Result<Option<State>, CliError> {
    match ctx.load_state(true).await {
        Err(CliError::State(e @ (StateError::Corrupt { .. } | StateError::FutureFormat { .. }))) => {
            Err(CliError::Refused(format!(
                "{e}. To rebuild it, move it aside (keep it as a backup) and run `kprov state recover --env {}` again",
                ctx.stack.env
            )))
        }
        other => other,
    }
}

pub async fn run(g: &Global, auto_approve: bool, force: bool) -> Result<Outcome, CliError> {
    let mut ctx = Context::load(g).await?;
    let location = ctx.backend.describe();
    let before = load_checked(&ctx).await?;
    check_overwrite(before.as_ref(), &location, force)?;

    let started = Instant::now();
    let recovery = recover::recover(&ctx.stack, &ctx.registry, &ctx.cx()).await.map_err(|e| match e {
        recover::RecoverError::Graph(e) => CliError::Graph(e),
        recover::RecoverError::Refresh(e) => CliError::Plan(e.into()),
    })?;
    print_recovery(&recovery, started.elapsed().as_secs_f64());
    if recovery.found.is_empty() {
        super::output::println(&format!("Nothing found: nothing was written to {location}."));
        return Ok(Outcome::Ok);
    }
    let what = match &before {
        Some(s) if !s.resources.is_empty() => {
            format!("replace the {} resources the state {location} records with these", s.resources.len())
        }
        _ => format!("write these to the state {location}"),
    };
    confirm(&format!("\nDo you want to {what}?"), auto_approve).await?;

    // Under the lock, against the state as it is now.
    ctx.lock("state recover").await?;
    let result = async {
        let state = ctx.load_state(true).await?;
        check_overwrite(state.as_ref(), &location, force)?;
        let mut state = state.unwrap_or_else(|| ctx.new_state());
        state.resources = recovery.resources.clone();
        state.serial += 1;
        // Written sealed, as the engine writes (`engine::state_writer`): refresh sealed the
        // sensitive attributes already; this keeps it so whatever a kind returned.
        for r in state.resources.values_mut() {
            if let Some(schema) = ctx.registry.schema(&r.kind) {
                crate::resource::sensitive::seal_attrs(schema, &mut r.attributes, None);
            }
        }
        ctx.backend.save(&state).await?;
        super::output::println(&format!(
            "Recovered {} resources into {} (lineage {}, serial {}); nothing was changed in AWS. Next: kprov plan \
             --env {}",
            state.resources.len(),
            location,
            state.lineage,
            state.serial,
            ctx.stack.env
        ));
        Ok(Outcome::Ok)
    }
    .await;
    ctx.finish(result).await
}

fn print_recovery(r: &Recovery, seconds: f64) {
    let width = r.found.iter().map(|(a, _)| a.to_string().chars().count()).max().unwrap_or(0);
    let mut text = String::new();
    if !r.found.is_empty() {
        text.push_str("Found in AWS:\n");
        for (a, id) in &r.found {
            text.push_str(&format!("  {:<width$}  {id}\n", a.to_string()));
        }
    }
    if !r.not_found.is_empty() {
        text.push_str("\nDeclared but not found (the next apply creates them):\n");
        for n in &r.not_found {
            match &n.because {
                Some(d) => text.push_str(&format!("  {}  (depends on {d}, not found)\n", n.address)),
                None => text.push_str(&format!("  {}\n", n.address)),
            }
        }
    }
    if !r.unclaimed.is_empty() {
        text.push_str(
            "\nOwned but not declared (carrying this stack's ownership tags, matching no declared resource; kprov \
             leaves them alone):\n",
        );
        for u in &r.unclaimed {
            match &u.tagged {
                Some(t) => text.push_str(&format!("  {} {}  (tagged {t})\n", u.kind, u.id)),
                None => text.push_str(&format!("  {} {}\n", u.kind, u.id)),
            }
        }
    }
    text.push_str(&format!(
        "\n{} found, {} not found, {} owned but not declared ({seconds:.1} s).\n",
        r.found.len(),
        r.not_found.len(),
        r.unclaimed.len()
    ));
    super::output::print(&text);
}
