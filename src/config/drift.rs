//! The `[drift]` table: what `kprov drift` should not report.
//!
//! ```toml
//! [drift]
//! # The cluster autoscaler owns the node count.
//! ignore = [
//!   { kind = "eks_nodegroup", attributes = ["desired_size"] },
//!   { address = "ec2_subnet.public[*]", attributes = ["tags.kubernetes.io/cluster/platform"] },
//! ]
//! ```
//! Each rule may set `kind` (a known kind or `*`), `address` (a pattern with `*`) and
//! `attributes` (paths; a path covers everything below it). A rule without `attributes` ignores
//! the whole resource. Unknown keys, unknown kinds and wrong types are located errors.

use super::diag::{did_you_mean, ticks, ConfigError, Sources};
use super::node::{Entry, Node, NodeKind};
use crate::drift::IgnoreRule;
use crate::resource::Registry;

const TABLE_KEYS: [&str; 1] = ["ignore"];
const RULE_KEYS: [&str; 3] = ["kind", "address", "attributes"];

pub(crate) fn evaluate(src: &Sources, registry: &Registry, table: &Entry) -> Result<Vec<IgnoreRule>, ConfigError> {
    let mut rules = Vec::new();
    for e in table.value.entries().unwrap_or_default() {
        if !TABLE_KEYS.contains(&e.key.as_str()) {
            return Err(src.error(
                e.key_span,
                format!(
                    "unknown key `{}` in [drift]; expected {}{}",
                    e.key,
                    ticks(TABLE_KEYS),
                    did_you_mean(&e.key, TABLE_KEYS)
                ),
            ));
        }
        let NodeKind::List(items) = &e.value.kind else {
            return Err(
                src.error(e.value.span, format!("drift `ignore` must be a list of tables, not {}", e.value.describe()))
            );
        };
        for item in items {
            rules.push(rule(src, registry, item)?);
        }
    }
    Ok(rules)
}

fn string(src: &Sources, e: &Entry) -> Result<String, ConfigError> {
    match &e.value.kind {
        NodeKind::Str { value, .. } => Ok(value.clone()),
        _ => Err(src.error(e.value.span, format!("ignore `{}` must be a string, not {}", e.key, e.value.describe()))),
    }
}

fn rule(src: &Sources, registry: &Registry, item: &Node) -> Result<IgnoreRule, ConfigError> {
    let Some(entries) = item.entries() else {
        return Err(src.error(item.span, format!("an ignore rule must be a table, not {}", item.describe())));
    };
    let mut r = IgnoreRule::default();
    for e in entries {
        match e.key.as_str() {
            "kind" => {
                let k = string(src, e)?;
                if k != "*" && registry.get(&k).is_none() {
                    let known: Vec<&str> = registry.names().collect();
                    return Err(src.error(
                        e.value.span,
                        format!(
                            "unknown resource kind `{k}` in an ignore rule{}",
                            did_you_mean(&k, known.iter().copied())
                        ),
                    ));
                }
                r.kind = Some(k);
            }
            "address" => r.address = Some(string(src, e)?),
            "attributes" => {
                let NodeKind::List(paths) = &e.value.kind else {
                    return Err(src.error(e.value.span, "ignore `attributes` must be a list of attribute paths"));
                };
                for p in paths {
                    match &p.kind {
                        NodeKind::Str { value, .. } if !value.is_empty() => r.attributes.push(value.clone()),
                        _ => return Err(src.error(p.span, "an attribute path must be a non-empty string")),
                    }
                }
            }
            other => {
                return Err(src.error(
                    e.key_span,
                    format!(
                        "unknown key `{other}` in an ignore rule; expected {}{}",
                        ticks(RULE_KEYS),
                        did_you_mean(other, RULE_KEYS)
                    ),
                ))
            }
        }
    }
    if r.kind.is_none() && r.address.is_none() && r.attributes.is_empty() {
        return Err(
            src.error(item.span, "an empty ignore rule would hide all drift; name a kind, an address or attributes")
        );
    }
    Ok(r)
}
