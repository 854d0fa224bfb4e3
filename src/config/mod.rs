//! Plan files: loading, env overlays, expressions, `for_each` expansion, validation.
//! The language is described in `docs/plan-language.md`.
//!
//! The flow of [`load`], one module per stage:
//! 1. `load.rs` lists `plans/*.toml` in sorted order and the overlay
//!    `plans/env/<env>.toml`; [`node`] parses each with `toml_edit` into a tree of spanned
//!    values; the loader checks the sections (`[stack]`, `[variables]`, `[locals]`,
//!    `[resource.KIND.NAME]`), rejects unknown kinds and duplicate names, and applies the
//!    overlay's variables.
//! 2. [`eval`] evaluates values: strings are split into text and `${...}` pieces ([`expr`]
//!    parses them), variables/locals/`each`/functions ([`funcs`]) are computed, and references
//!    to other resources become [`Tmpl::Ref`]. Locals and `for_each` keys are evaluated lazily.
//! 3. [`expand`] turns each resource table into one [`ResourceDecl`] per instance, checks it
//!    against the kind's schema ([`validate`]) and merges `default_tags`.
//! 4. [`backend`] evaluates the optional `[backend]` table (where the state lives) into a
//!    [`BackendConfig`].
//!
//! Every error is a [`ConfigError`] whose message starts with `path:line:col: ` ([`diag`]).
//! Dependency cycles are not detected here but by the graph module, using [`ResourceDecl::loc`].

pub mod backend;
mod diag;
mod drift;
mod eval;
mod expand;
mod expr;
mod funcs;
mod lifecycle;
mod load;
pub mod model;
mod moved;
mod node;
mod validate;

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

pub use diag::{ConfigError, Located};
pub use model::{BackendConfig, BackendKind, Lifecycle, MovedDecl, ResourceDecl, SourceLoc, Stack, Tmpl};

use crate::resource::Registry;

/// Load the plans in `plans_dir` for environment `env`, validated against `registry`.
pub fn load(plans_dir: &Path, env: &str, registry: &Registry) -> Result<Stack, ConfigError> {
    on_big_stack(|| {
        let mut sources = diag::Sources::default();
        let plan = load::read_plans(plans_dir, env, registry, &mut sources)?;
        evaluate(&sources, registry, &plan, env)
    })
}

/// Like [`load`], for plans held in memory: `base` are the base files as (path, text) in the
/// order they are read (`load` sorts them by name), `overlay` the environment overlay. The
/// paths only name the files in error locations. Fuzzing and property tests use this to skip
/// the file system; the result is what `load` gives for the same files on disk.
pub fn load_texts(
    base: &[(PathBuf, String)],
    overlay: (PathBuf, String),
    env: &str,
    registry: &Registry,
) -> Result<Stack, ConfigError> {
    on_big_stack(|| {
        let mut sources = diag::Sources::default();
        let base: Vec<usize> = base.iter().map(|(p, t)| sources.add(p.clone(), t.clone())).collect();
        if base.is_empty() {
            return Err(ConfigError::io(&overlay.0, "no plan files (*.toml) in the plans directory"));
        }
        let overlay = sources.add(overlay.0, overlay.1);
        let plan = load::check_plans(&base, overlay, registry, &sources)?;
        evaluate(&sources, registry, &plan, env)
    })
}

/// The stack of the thread that loads the plans. Parsing and evaluation recurse; their depth
/// is bounded (TOML nesting by `toml_edit`, expressions by the parser, evaluation by
/// `eval::MAX_EVAL_DEPTH`), and this stack holds the deepest allowed recursion many times over
/// even in a debug build, whichever thread calls `load` (test threads and tokio workers have
/// 2 MiB). Only the pages touched are committed.
const LOAD_STACK: usize = 64 << 20;

/// Run `f` on a scoped thread with [`LOAD_STACK`] of stack; inline if no thread can be made.
fn on_big_stack<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    let slot = std::sync::Mutex::new(Some(f));
    let take = || slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    let out = std::thread::scope(|s| {
        let thread = std::thread::Builder::new().name("kprov-config".into()).stack_size(LOAD_STACK);
        match thread.spawn_scoped(s, || take().map(|f| f())) {
            Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        }
    });
    match out {
        Some(v) => v,
        // The thread could not be started, so the closure is still in the slot: run it here.
        None => match take() {
            Some(f) => f(),
            None => unreachable!("the closure runs exactly once"),
        },
    }
}

/// Stages 2–4: evaluate, expand and validate a structurally checked plan.
fn evaluate(
    sources: &diag::Sources,
    registry: &Registry,
    plan: &load::RawPlan,
    env: &str,
) -> Result<Stack, ConfigError> {
    let mut ev = eval::Evaluator::new(sources, registry, plan, env);
    ev.check_locals()?;
    let default_tags = expand::default_tags(sources, &mut ev, plan)?;
    let resources = expand::expand(sources, registry, &mut ev, plan, &default_tags)?;
    let backend = match &plan.backend {
        Some(table) => Some(backend::evaluate(sources, &mut ev, table)?),
        None => None,
    };
    let drift_ignore = match &plan.drift {
        Some(table) => drift::evaluate(sources, registry, table)?,
        None => Vec::new(),
    };
    let moved = moved::evaluate(sources, registry, &plan.moved, &resources)?;
    Ok(Stack {
        name: plan.stack_name.clone(),
        env: env.to_string(),
        region: plan.region.clone(),
        resources,
        backend,
        drift_ignore,
        moved,
    })
}

/// The environments defined in `plans_dir`: the names of `plans/env/*.toml`, sorted.
pub fn environments(plans_dir: &Path) -> Vec<String> {
    load::environments(plans_dir)
}
