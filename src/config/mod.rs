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
mod load;
pub mod model;
mod node;
mod validate;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

use std::path::Path;

pub use diag::{ConfigError, Located};
pub use model::{BackendConfig, BackendKind, ResourceDecl, SourceLoc, Stack, Tmpl};

use crate::resource::Registry;

/// Load the plans in `plans_dir` for environment `env`, validated against `registry`.
pub fn load(plans_dir: &Path, env: &str, registry: &Registry) -> Result<Stack, ConfigError> {
    let mut sources = diag::Sources::default();
    let plan = load::read_plans(plans_dir, env, registry, &mut sources)?;
    let mut ev = eval::Evaluator::new(&sources, registry, &plan, env);
    ev.check_locals()?;
    let default_tags = expand::default_tags(&sources, &mut ev, &plan)?;
    let resources = expand::expand(&sources, registry, &mut ev, &plan, &default_tags)?;
    let backend = match &plan.backend {
        Some(table) => Some(backend::evaluate(&sources, &mut ev, table)?),
        None => None,
    };
    let drift_ignore = match &plan.drift {
        Some(table) => drift::evaluate(&sources, registry, table)?,
        None => Vec::new(),
    };
    Ok(Stack {
        name: plan.stack_name.clone(),
        env: env.to_string(),
        region: plan.region.clone(),
        resources,
        backend,
        drift_ignore,
    })
}

/// The environments defined in `plans_dir`: the names of `plans/env/*.toml`, sorted.
pub fn environments(plans_dir: &Path) -> Vec<String> {
    load::environments(plans_dir)
}
