//! `kprov lint`: the platform's security rules on the plans (no AWS access). Exit 1 when a
//! rule is broken, each finding at its resource's `file:line:col`.

use super::{context, CliError, Global, Outcome};

#[derive(Debug, clap::Args)]
pub struct LintArgs {}

pub async fn run(g: &Global, _a: LintArgs) -> Result<Outcome, CliError> {
    let stack = context::load_stack(g)?;
    let findings = crate::lint::lint(&stack);
    for f in &findings {
        super::output::println(&f.to_string());
    }
    if findings.is_empty() {
        super::output::println(&format!(
            "lint: {} resources of env {} checked, no findings.",
            stack.resources.len(),
            stack.env
        ));
        Ok(Outcome::Ok)
    } else {
        Err(CliError::Refused(format!("lint: {} findings in env {}", findings.len(), stack.env)))
    }
}
