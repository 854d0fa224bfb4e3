//! Kind-specific checks of the desired resources ([`ResourceKind::validate`]), located at the
//! resource's declaration in the plans.
//!
//! The schema checks of the config layer cover names and types; what they cannot express (an
//! unknown instance type family, an ARM AMI type on an x86 instance, an EKS version that skips
//! a minor version) is each kind's own `validate`. [`super::make`] runs it twice:
//! - before the refresh, against what the *state* records — no AWS call has been made yet, so
//!   invalid input is refused before any;
//! - after the refresh, against what actually exists (someone may have upgraded a cluster
//!   outside kprov since the state was written).
//!
//! Before the kinds, [`network`] checks what no single kind can see: subnet CIDRs against their
//! VPC's and against each other.
//!
//! Desired attributes are the declaration's (schema defaults applied) with references resolved
//! through `lookup`; values not known yet are left out, and kinds only check what is present.

mod network;
pub mod reads;

use crate::config::Tmpl;

/// A value with everything not known yet as `null`, keeping the structure (list lengths, map
/// keys) the plan declares.
fn shape(t: &Tmpl, lookup: &Lookup<'_>) -> Value {
    match t {
        Tmpl::List(items) => Value::Array(items.iter().map(|i| shape(i, lookup)).collect()),
        Tmpl::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v, lookup))).collect()),
        other => other.resolve(lookup).unwrap_or(Value::Null),
    }
}

use super::diff::desired_with_defaults;
use super::PlanError;
use crate::config::{ResourceDecl, Stack};
use crate::resource::{Address, Attrs, Registry, Value};

/// Resolves `${kind.name.attr}` for a resource that exists (`None`: not known yet).
pub type Lookup<'a> = dyn Fn(&Address, &str) -> Option<Value> + 'a;
/// The attributes the resource at an address has now, if it exists.
pub type Prior<'a> = dyn Fn(&Address) -> Option<&'a Attrs> + 'a;

/// Run every declared resource's kind-specific validation and the network checks; every
/// failure is reported (one run, every mistake), each at the attribute it names — a message
/// that starts with `` `attr` `` is located at that attribute's value — or else at the
/// resource's declaration.
pub fn check(stack: &Stack, registry: &Registry, lookup: &Lookup<'_>, prior: &Prior<'_>) -> Result<(), PlanError> {
    let mut errors = Vec::new();
    for p in network::check(stack) {
        errors.push(invalid(p.decl, p.message));
    }
    for decl in &stack.resources {
        let Some(kind) = registry.get(&decl.address.kind) else { continue };
        let desired: Attrs = desired_with_defaults(decl, kind.schema())
            .into_iter()
            .filter_map(|(name, t)| t.resolve(lookup).map(|v| (name, v)))
            .collect();
        let declared: Attrs = desired_with_defaults(decl, kind.schema())
            .iter()
            .map(|(name, t)| (name.clone(), shape(t, lookup)))
            .collect();
        if let Err(m) = kind.validate_declared(&declared) {
            errors.push(invalid(decl, m));
        }
        if let Err(m) = kind.validate(&desired, prior(&decl.address)) {
            errors.push(invalid(decl, m));
        }
    }
    match PlanError::from_list(errors) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// A refusal of `decl`, at the attribute the message starts with (`` `attr` ``), if it is set.
fn invalid(decl: &ResourceDecl, message: String) -> PlanError {
    let attr = message.strip_prefix('`').and_then(|m| m.split_once('`')).map(|(a, _)| a);
    // `ingress[1]` or `policy.Statement`: the attribute is the leading name.
    let attr = attr.map(|a| a.split(['[', '.']).next().unwrap_or(a));
    let loc = attr.map_or(&decl.loc, |a| decl.attr_loc(a)).clone();
    PlanError::Invalid { loc, address: decl.address.clone(), message }
}
