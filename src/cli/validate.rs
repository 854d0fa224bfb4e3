//! `kprov validate`: every check that needs neither AWS nor the state, on the plans of one
//! environment. No credentials, no network, no lock: fit for an editor, a pre-commit hook or
//! CI before anyone may touch an account.
//!
//! The checks are the ones `plan` makes before its first AWS call, in the same code: loading
//! (syntax, names, references, types, every schema constraint on the values the plans set,
//! each at its `file:line:col`, all of them in one run), the graph (dangling references,
//! cycles), and the kinds' own plan-time checks with nothing known but the plans (values that
//! refer to resources not created yet are checked by `plan` and `apply` once they are known).
//! What needs an AWS read (does the zone exist, is the instance type offered) is `plan`'s.

use super::{context, CliError, Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {}

pub async fn run(g: &Global, _a: ValidateArgs) -> Result<Outcome, CliError> {
    let stack = context::load_stack(g)?;
    let registry = crate::aws::offline_registry();
    // Nothing exists as far as this command knows: every reference is "known after apply".
    crate::plan::validate::check(&stack, &registry, &|_, _| None, &|_| None)?;
    println!(
        "Success! The configuration is valid ({} resources, env {}, stack {}).",
        stack.resources.len(),
        stack.env,
        stack.name
    );
    Ok(Outcome::Ok)
}
