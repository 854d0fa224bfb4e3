//! `kprov iam-policy`: print the least-privilege IAM policy the kprov runner needs to apply
//! (and destroy) an environment's plans — actions derived from the kinds the plans contain and
//! the state backend they use. No AWS access.

use super::{context, CliError, Global, Outcome};
use crate::aws::iam_policy::{self, MANAGED_POLICY_MAX_CHARS};
use crate::state::spec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PolicyFormat {
    /// The IAM policy document (for `aws iam create-policy --policy-document`)
    Json,
    /// Each statement's actions with the kinds that need them
    Text,
}

#[derive(Debug, clap::Args)]
pub struct IamPolicyArgs {
    #[arg(long, value_enum, default_value_t = PolicyFormat::Json)]
    pub format: PolicyFormat,
}

pub async fn run(g: &Global, a: IamPolicyArgs) -> Result<Outcome, CliError> {
    let stack = context::load_stack(g)?;
    let resolved = spec::resolve(&stack, &g.backend.overrides(), &g.state_dir).map_err(CliError::Refused)?;
    let policy = iam_policy::build(&stack, &resolved.spec);
    match a.format {
        PolicyFormat::Json => {
            let doc = serde_json::to_string_pretty(&policy.document())
                .map_err(|e| CliError::Refused(format!("cannot render the policy: {e}")))?;
            super::output::println(&doc);
        }
        PolicyFormat::Text => super::output::print(&iam_policy::explain(&policy)),
    }
    let size = policy.size();
    if size > MANAGED_POLICY_MAX_CHARS {
        // Still printed: an inline role policy allows 10,240 characters, and the statements
        // can be split across policies by service.
        eprintln!(
            "Note: the policy is {size} characters without whitespace, over the {MANAGED_POLICY_MAX_CHARS} a \
             customer-managed policy allows; attach it as an inline role policy (10,240) or split its statements \
             across two managed policies."
        );
    }
    Ok(Outcome::Ok)
}
