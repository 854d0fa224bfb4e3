//! Expansion of `[resource.KIND.NAME]` tables into [`ResourceDecl`]s: one per `for_each`
//! instance (sorted by key) or one for a plain resource, with attributes evaluated, checked
//! against the schema, and `default_tags` merged into `tags`.

use std::collections::BTreeMap;

use super::diag::{ConfigError, Sources, Span};
use super::eval::{self, Evaluator, Place, Scope};
use super::load::RawPlan;
use super::model::{ResourceDecl, Tmpl};
use super::node::{Node, NodeKind};
use super::validate;
use crate::resource::{Address, Registry, Value};

/// The stack's `default_tags`, evaluated: tag name → value (strings, possibly references).
pub(crate) fn default_tags(
    src: &Sources,
    ev: &mut Evaluator,
    plan: &RawPlan,
) -> Result<BTreeMap<String, Tmpl>, ConfigError> {
    let Some(node) = &plan.default_tags else {
        return Ok(BTreeMap::new());
    };
    let t = ev.eval_node(node, Scope::stack())?;
    let Some(tags) = eval::entries(&t) else {
        return Err(
            src.error(node.span, format!("default_tags must be a table of strings, got {}", eval::describe(&t)))
        );
    };
    if let Some((k, v)) =
        tags.iter().find(|(_, v)| !matches!(v, Tmpl::Lit(Value::String(_)) | Tmpl::Concat(_) | Tmpl::Ref { .. }))
    {
        return Err(src.error(node.span, format!("default_tags `{k}` must be a string, got {}", eval::describe(v))));
    }
    Ok(tags)
}

/// Every resource's instances. Problems are collected, not returned at the first: one run
/// reports every mistake in the plans (an attribute whose value cannot be evaluated is
/// reported and left out; the resource's other attributes are still checked).
pub(crate) fn expand(
    src: &Sources,
    registry: &Registry,
    ev: &mut Evaluator,
    plan: &RawPlan,
    default_tags: &BTreeMap<String, Tmpl>,
) -> Result<Vec<ResourceDecl>, ConfigError> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for (idx, res) in plan.resources.iter().enumerate() {
        // The loader only accepts registered kinds.
        let Some(schema) = registry.schema(&res.kind) else {
            continue;
        };
        errors.extend(validate::check_names(src, schema, res));
        let lifecycle = match super::lifecycle::parse(src, schema, res) {
            Ok(l) => l,
            Err(e) => {
                errors.push(e);
                Default::default()
            }
        };
        let instances: Vec<(Option<String>, Option<Value>)> = match ev.instances(idx) {
            Ok(None) => vec![(None, None)],
            Ok(Some(inst)) => inst.into_iter().map(|(k, v)| (Some(k), Some(v))).collect(),
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for (key, value) in &instances {
            let each = key.as_deref().zip(value.as_ref());
            let scope = Scope { place: Place::Resource, each };
            let address = Address::new(&res.kind, &res.name, key.clone());
            let mut attrs = BTreeMap::new();
            let mut attr_locs = BTreeMap::new();
            // The kind's checks need every attribute: not run when one could not be evaluated.
            let mut complete = true;
            for a in &res.attrs {
                let t = match ev.eval_node(&a.value, scope) {
                    Ok(t) => t,
                    Err(e) => {
                        errors.push(e);
                        complete = false;
                        continue;
                    }
                };
                match validate::check_value(src, schema, &res.kind, a, &t) {
                    Ok(()) => {
                        let origin =
                            validate::Origin { address: &address, node: &a.value, var: whole_variable(plan, &a.value) };
                        errors.extend(validate::check_constraints(src, schema, &plan.region, a, &t, &origin));
                    }
                    Err(e) => errors.push(e),
                }
                attr_locs.insert(a.key.clone(), src.loc(a.value.span));
                attrs.insert(a.key.clone(), t);
            }
            if !default_tags.is_empty() && schema.get("tags").is_some() {
                merge_tags(&mut attrs, default_tags);
            }
            if let Some(kind) = registry.get(&res.kind).filter(|_| complete) {
                errors.extend(validate::check_kind(src, kind.as_ref(), res, &address, &attrs));
            }
            let depends_on = match &res.depends_on {
                Some(node) => match ev.depends_on(node, scope) {
                    Ok(d) => d,
                    Err(e) => {
                        errors.push(e);
                        Vec::new()
                    }
                },
                None => Vec::new(),
            };
            out.push(ResourceDecl {
                address,
                attrs,
                depends_on,
                lifecycle: lifecycle.clone(),
                loc: src.loc(res.loc),
                attr_locs,
            });
        }
    }
    match ConfigError::from_list(errors) {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// For a value written as one variable alone (`"${var.vpc_cidr}"`): the variable's name and
/// where its value in effect is written (the overlay, when it sets it).
fn whole_variable<'p>(plan: &'p RawPlan, node: &Node) -> Option<(&'p str, Span)> {
    let NodeKind::Str { value, .. } = &node.kind else { return None };
    let name = value.trim().strip_prefix("${var.")?.strip_suffix('}')?.trim();
    let (name, var) = plan.variables.get_key_value(name)?;
    Some((name.as_str(), var.span))
}

/// `tags` = `defaults` overridden by the resource's own tags. A `tags` that is a whole
/// reference (not a table) is left alone: the resource's own tags win entirely.
fn merge_tags(attrs: &mut BTreeMap<String, Tmpl>, defaults: &BTreeMap<String, Tmpl>) {
    let own = match attrs.get("tags") {
        None => BTreeMap::new(),
        Some(t) => match eval::entries(t) {
            Some(e) => e,
            None => return,
        },
    };
    let mut merged = defaults.clone();
    merged.extend(own);
    attrs.insert("tags".to_string(), eval::map(merged));
}
