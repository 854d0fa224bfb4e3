//! Expansion of `[resource.KIND.NAME]` tables into [`ResourceDecl`]s: one per `for_each`
//! instance (sorted by key) or one for a plain resource, with attributes evaluated, checked
//! against the schema, and `default_tags` merged into `tags`.

use std::collections::BTreeMap;

use super::diag::{ConfigError, Sources};
use super::eval::{self, Evaluator, Place, Scope};
use super::load::RawPlan;
use super::model::{ResourceDecl, Tmpl};
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

pub(crate) fn expand(
    src: &Sources,
    registry: &Registry,
    ev: &mut Evaluator,
    plan: &RawPlan,
    default_tags: &BTreeMap<String, Tmpl>,
) -> Result<Vec<ResourceDecl>, ConfigError> {
    let mut out = Vec::new();
    for (idx, res) in plan.resources.iter().enumerate() {
        // The loader only accepts registered kinds.
        let Some(schema) = registry.schema(&res.kind) else {
            continue;
        };
        validate::check_names(src, schema, res)?;
        let lifecycle = super::lifecycle::parse(src, schema, res)?;
        let instances: Vec<(Option<String>, Option<Value>)> = match ev.instances(idx)? {
            None => vec![(None, None)],
            Some(inst) => inst.into_iter().map(|(k, v)| (Some(k), Some(v))).collect(),
        };
        for (key, value) in &instances {
            let each = key.as_deref().zip(value.as_ref());
            let scope = Scope { place: Place::Resource, each };
            let mut attrs = BTreeMap::new();
            for a in &res.attrs {
                let t = ev.eval_node(&a.value, scope)?;
                validate::check_value(src, schema, &res.kind, a, &t)?;
                attrs.insert(a.key.clone(), t);
            }
            if !default_tags.is_empty() && schema.get("tags").is_some() {
                merge_tags(&mut attrs, default_tags);
            }
            let depends_on = match &res.depends_on {
                Some(node) => ev.depends_on(node, scope)?,
                None => Vec::new(),
            };
            out.push(ResourceDecl {
                address: Address::new(&res.kind, &res.name, key.clone()),
                attrs,
                depends_on,
                lifecycle: lifecycle.clone(),
                loc: src.loc(res.loc),
            });
        }
    }
    Ok(out)
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
