//! Checking declared attributes against the kind's [`Schema`]: names (unknown, computed,
//! missing required) once per resource, and value types and constraints once per instance (the
//! values of instances differ). Every function returns all the problems it finds, so that one
//! run reports every mistake.
//!
//! Constraints ([`crate::resource::Constraint`]) are checked here on every value known when
//! the plans load; a value that holds a reference is checked by the engine once it is resolved
//! (before the create or update), except for structural checks (a policy document naming a
//! role's ARN), which run here with the unknown strings replaced by a placeholder.

use super::diag::{closest, did_you_mean, ConfigError, Sources, Span};
use super::eval::describe;
use super::funcs;
use super::load::RawResource;
use super::model::Tmpl;
use super::node::{Entry, Node, NodeKind};
use std::collections::BTreeMap;

use crate::resource::{Address, AttrType, Attrs, Constraint, PathSeg, ResourceKind, Schema, Value, Violation};

/// Unknown and computed attributes, missing required ones.
pub(crate) fn check_names(src: &Sources, schema: &Schema, res: &RawResource) -> Vec<ConfigError> {
    let kind = &res.kind;
    let mut errors = Vec::new();
    // Required attributes an unknown one is probably a typo of: reported once, as the typo.
    let mut suggested = Vec::new();
    for a in &res.attrs {
        match schema.get(&a.key) {
            Some(s) if s.computed => errors
                .push(src.error(a.key_span, format!("`{}` is computed by AWS and cannot be set on {kind}", a.key))),
            Some(_) => {}
            None if a.key == "id" => {
                errors.push(src.error(a.key_span, "`id` is assigned by AWS and cannot be set"));
            }
            None => {
                let inputs: Vec<&str> = schema.inputs().map(|s| s.name).collect();
                suggested.extend(closest(&a.key, inputs.iter().copied()));
                let hint = match did_you_mean(&a.key, inputs.iter().copied()) {
                    h if h.is_empty() => format!(" (attributes: {})", inputs.join(", ")),
                    h => h,
                };
                errors.push(src.error_labelled(
                    a.key_span,
                    "unknown attribute",
                    format!("unknown attribute `{}` for {kind}{hint}", a.key),
                ));
            }
        }
    }
    let missing: Vec<&str> = schema
        .inputs()
        .filter(|s| s.required && !res.attrs.iter().any(|a| a.key == s.name) && !suggested.contains(&s.name))
        .map(|s| s.name)
        .collect();
    if !missing.is_empty() {
        let plural = if missing.len() > 1 { "s" } else { "" };
        let names: Vec<String> = missing.iter().map(|m| format!("`{m}`")).collect();
        errors.push(
            src.error(
                res.loc,
                format!("{kind}.{} is missing required attribute{plural} {}", res.name, names.join(", ")),
            ),
        );
    }
    errors
}

/// The evaluated value of attribute `a` has the schema's type (references are not checked:
/// their type is the target's business).
pub(crate) fn check_value(src: &Sources, schema: &Schema, kind: &str, a: &Entry, t: &Tmpl) -> Result<(), ConfigError> {
    let Some(s) = schema.get(&a.key) else {
        return Ok(());
    };
    match mismatch(&s.ty, t) {
        None => Ok(()),
        Some(got) => Err(src.error_labelled(
            a.value.span,
            "wrong type",
            format!("`{}` of {kind} must be {}, got {got}", a.key, s.ty.describe()),
        )),
    }
}

/// The kind's own plan-time checks ([`ResourceKind::validate_declared`] and
/// [`ResourceKind::validate`]) with nothing known but the plans: what `kprov validate` can tell
/// (the plan stage runs them again with what the state and AWS know). `attrs` are the
/// instance's evaluated attributes; schema defaults are added here. A message starting with
/// `` `attr` `` is located at that attribute's value, others at the resource's header.
pub(crate) fn check_kind(
    src: &Sources,
    kind: &dyn ResourceKind,
    res: &RawResource,
    address: &Address,
    attrs: &BTreeMap<String, Tmpl>,
) -> Vec<ConfigError> {
    let mut declared = Attrs::new();
    let mut known = Attrs::new();
    for s in kind.schema().inputs() {
        let value = match attrs.get(s.name) {
            Some(t) => Some(t.clone()),
            None => s.default.clone().map(Tmpl::Lit),
        };
        if let Some(t) = value {
            if let Tmpl::Lit(v) = &t {
                known.insert(s.name.to_string(), v.clone());
            }
            declared.insert(s.name.to_string(), shape(&t));
        }
    }
    let mut errors = Vec::new();
    for m in [kind.validate_declared(&declared).err(), kind.validate(&known, None).err()].into_iter().flatten() {
        let attr =
            m.strip_prefix('`').and_then(|r| r.split_once('`')).map(|(a, _)| a.split(['[', '.']).next().unwrap_or(a));
        let span = attr.and_then(|a| res.attrs.iter().find(|e| e.key == a)).map_or(res.loc, |e| e.value.span);
        errors.push(src.error(span, format!("{address}: {m}")));
    }
    errors
}

/// A value with everything not known yet as `null`, keeping the structure the plan declares
/// (list lengths, table keys), as [`ResourceKind::validate_declared`] expects.
fn shape(t: &Tmpl) -> Value {
    match t {
        Tmpl::Lit(v) => v.clone(),
        Tmpl::Ref { .. } | Tmpl::Concat(_) => Value::Null,
        Tmpl::List(items) => Value::Array(items.iter().map(shape).collect()),
        Tmpl::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
    }
}

/// Where a value's problem is reported: its span, or, for an attribute whose whole value is
/// one variable (`"${var.vpc_cidr}"`), the variable's value in effect (the overlay's, where
/// the mistake is), naming the attribute that uses it.
pub(crate) struct Origin<'a> {
    /// The resource instance, named in the message.
    pub address: &'a crate::resource::Address,
    pub node: &'a Node,
    /// `(var name, span of its value)`.
    pub var: Option<(&'a str, Span)>,
}

/// The constraint violations of attribute `a`'s evaluated value `t` (see the module docs).
pub(crate) fn check_constraints(
    src: &Sources,
    schema: &Schema,
    region: &str,
    a: &Entry,
    t: &Tmpl,
    origin: &Origin<'_>,
) -> Vec<ConfigError> {
    let Some(s) = schema.get(&a.key) else { return Vec::new() };
    if s.constraints.is_empty() || mismatch(&s.ty, t).is_some() {
        return Vec::new();
    }
    let region = Some(region);
    let violations: Vec<Violation> = match t {
        Tmpl::Lit(v) => s.check(v, region),
        _ => s
            .constraints
            .iter()
            .flat_map(|c| match (c, t) {
                (Constraint::Each(inner), Tmpl::List(items)) => items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| match item {
                        Tmpl::Lit(v) => Some((i, v)),
                        _ => None,
                    })
                    .flat_map(|(i, v)| {
                        inner.check(v, region).into_iter().map(move |mut viol| {
                            viol.path.insert(0, PathSeg::Index(i));
                            viol
                        })
                    })
                    .collect(),
                (c, t) if c.structural() => c.check(&placeholder(t), region),
                _ => Vec::new(),
            })
            .map(|v| s.name_violation(v))
            .collect(),
    };
    violations
        .into_iter()
        .map(|viol| match origin.var {
            Some((name, span)) => {
                let used = src.loc(a.value.span);
                src.error_labelled(
                    span,
                    "invalid value",
                    format!(
                        "{}: {} (the value of var.{name}, used by `{}` at {used})",
                        origin.address, viol.message, a.key
                    ),
                )
            }
            None => src.error_labelled(
                nested_span(origin.node, &viol.path),
                "invalid value",
                format!("{}: {}", origin.address, viol.message),
            ),
        })
        .collect()
}

/// The span of the nested value at `path` in `node`, as far as the written value goes (a
/// value computed by an expression has no nested spans: then the expression's).
fn nested_span(node: &Node, path: &[PathSeg]) -> Span {
    let mut at = node;
    for seg in path {
        let next = match (seg, &at.kind) {
            (PathSeg::Index(i), NodeKind::List(items)) => items.get(*i),
            (PathSeg::Key(k), NodeKind::Table(entries)) => entries.iter().find(|e| &e.key == k).map(|e| &e.value),
            _ => None,
        };
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    at.span
}

/// `t` as a plain value, with every string not known yet (a reference, or a string built
/// from one) replaced by a placeholder, for structural checks.
fn placeholder(t: &Tmpl) -> Value {
    match t {
        Tmpl::Lit(v) => v.clone(),
        Tmpl::Ref { .. } | Tmpl::Concat(_) => Value::String("(known after apply)".to_string()),
        Tmpl::List(items) => Value::Array(items.iter().map(placeholder).collect()),
        Tmpl::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), placeholder(v))).collect()),
    }
}

/// What `t` is, when it is not of type `ty`.
fn mismatch(ty: &AttrType, t: &Tmpl) -> Option<String> {
    let stringish = |t: &Tmpl| matches!(t, Tmpl::Lit(Value::String(_)) | Tmpl::Concat(_) | Tmpl::Ref { .. });
    match (ty, t) {
        (AttrType::Any, _) | (_, Tmpl::Ref { .. }) => None,
        (_, Tmpl::Lit(v)) if ty.accepts(v) => None,
        (AttrType::StringList, Tmpl::Lit(Value::Array(a))) => {
            a.iter().find(|v| !v.is_string()).map(|v| format!("a list holding {}", funcs::describe(v)))
        }
        (AttrType::StringMap, Tmpl::Lit(Value::Object(m))) => {
            m.values().find(|v| !v.is_string()).map(|v| format!("a table holding {}", funcs::describe(v)))
        }
        (AttrType::String, Tmpl::Concat(_)) => None,
        (AttrType::StringList, Tmpl::List(items)) => {
            items.iter().find(|i| !stringish(i)).map(|i| format!("a list holding {}", describe(i)))
        }
        (AttrType::StringMap, Tmpl::Map(m)) => {
            m.values().find(|i| !stringish(i)).map(|i| format!("a table holding {}", describe(i)))
        }
        (_, Tmpl::Concat(_)) => Some("an interpolated string".to_string()),
        (_, other) => Some(describe(other).to_string()),
    }
}
