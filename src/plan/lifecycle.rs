//! `lifecycle.prevent_destroy`: a plan (or a destroy) that would delete or replace a protected
//! resource is refused before anything runs, naming the resource and where it is declared.
//! As in Terraform, only declared resources are protected: removing the declaration (with its
//! lifecycle) from the plans is how a protected resource is let go.

use std::collections::HashMap;

use super::{Action, Plan, PlanError};
use crate::config::Stack;
use crate::resource::Address;

pub fn check_prevent_destroy(stack: &Stack, plan: &Plan) -> Result<(), PlanError> {
    let decls: HashMap<&Address, &crate::config::ResourceDecl> =
        stack.resources.iter().map(|d| (&d.address, d)).collect();
    for c in &plan.changes {
        let action = match c.action {
            Action::Delete => "delete",
            Action::Replace => "replace",
            _ => continue,
        };
        let Some(d) = decls.get(&c.address).filter(|d| d.lifecycle.prevent_destroy) else { continue };
        return Err(PlanError::PreventDestroy {
            loc: d.lifecycle.loc.clone().unwrap_or_else(|| d.loc.clone()),
            address: c.address.clone(),
            action,
        });
    }
    Ok(())
}
