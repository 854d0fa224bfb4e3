//! `[[moved]]` blocks: a resource renamed in the plans keeps its AWS object.
//!
//! ```toml
//! [[moved]]
//! from = "ec2_security_group.web"
//! to   = "ec2_security_group.frontend"
//!
//! [[moved]]
//! from = "ec2_subnet.private['us-east-1a']"   # one instance; "…[\"key\"]" works too
//! to   = "ec2_subnet.app['us-east-1a']"
//! ```
//!
//! Checked here, at load time, each at its `file:line:col`: only `from` and `to`, both
//! addresses of known kinds, the same kind on both sides, both a resource or both an instance,
//! `to` declared in the plans and `from` no longer declared, each `from` moved once. The rename
//! itself is applied to the state by `state::moves` before refresh and diff.

use std::collections::HashMap;

use super::diag::{did_you_mean, ticks, ConfigError, Sources};
use super::model::{MovedDecl, ResourceDecl};
use super::node::{Node, NodeKind};
use crate::resource::{Address, Registry};

const KEYS: [&str; 2] = ["from", "to"];

pub(crate) fn evaluate(
    src: &Sources,
    registry: &Registry,
    blocks: &[Node],
    resources: &[ResourceDecl],
) -> Result<Vec<MovedDecl>, ConfigError> {
    let mut out: Vec<MovedDecl> = Vec::new();
    let mut froms: HashMap<Address, usize> = HashMap::new();
    for block in blocks {
        let Some(entries) = block.entries() else {
            return Err(src.error(block.span, format!("a [[moved]] block must be a table, not {}", block.describe())));
        };
        let mut from = None;
        let mut to = None;
        for e in entries {
            let slot = match e.key.as_str() {
                "from" => &mut from,
                "to" => &mut to,
                other => {
                    return Err(src.error(
                        e.key_span,
                        format!(
                            "unknown key `{other}` in [[moved]]; expected {}{}",
                            ticks(KEYS),
                            did_you_mean(other, KEYS)
                        ),
                    ))
                }
            };
            let NodeKind::Str { value, .. } = &e.value.kind else {
                return Err(src.error(
                    e.value.span,
                    format!(
                        "moved `{}` must be an address string like \"kind.name\", not {}",
                        e.key,
                        e.value.describe()
                    ),
                ));
            };
            let address: Address =
                value.parse().map_err(|err| src.error(e.value.span, format!("moved `{}`: {err}", e.key)))?;
            if registry.get(&address.kind).is_none() {
                let names: Vec<&str> = registry.names().collect();
                return Err(src.error(
                    e.value.span,
                    format!(
                        "moved `{}`: unknown resource kind `{}`{}",
                        e.key,
                        address.kind,
                        did_you_mean(&address.kind, names.iter().copied())
                    ),
                ));
            }
            *slot = Some((address, e.value.span));
        }
        let (Some((from, from_span)), Some((to, to_span))) = (from, to) else {
            return Err(
                src.error(block.span, "a [[moved]] block needs both `from = \"kind.name\"` and `to = \"kind.name\"`")
            );
        };
        if from.kind != to.kind {
            return Err(src.error(
                to_span,
                format!(
                    "moved from {from} to {to}: the kind cannot change (`{}` → `{}` would be another AWS object); declare \
                     the new resource and let the old one be deleted instead",
                    from.kind, to.kind
                ),
            ));
        }
        if from.key.is_some() != to.key.is_some() {
            return Err(src.error(
                to_span,
                format!(
                    "moved from {from} to {to}: move a resource to a resource (`kind.name`) or an instance to an \
                     instance (`kind.name[\"key\"]`)"
                ),
            ));
        }
        if from == to {
            return Err(src.error(to_span, format!("moved from {from} to itself")));
        }
        let declared = |a: &Address| {
            resources.iter().find(|r| match &a.key {
                Some(_) => &r.address == a,
                None => r.address.kind == a.kind && r.address.name == a.name,
            })
        };
        if declared(&to).is_none() {
            return Err(src.error(
                to_span,
                format!("moved to {to}, which is not declared in the plans; declare it, or fix the address"),
            ));
        }
        if let Some(still) = declared(&from) {
            return Err(src.error(
                from_span,
                format!(
                    "moved from {from}, which is still declared (at {}): a moved block renames a resource that is no \
                     longer declared under its old name",
                    still.loc
                ),
            ));
        }
        if let Some(&first) = froms.get(&from) {
            return Err(src.error(from_span, format!("{from} is already moved at {}", out[first].loc)));
        }
        froms.insert(from.clone(), out.len());
        out.push(MovedDecl { from, to, loc: src.loc(block.span) });
    }
    Ok(out)
}
