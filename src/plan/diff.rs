//! Diff: declarations + state + refreshed resources → [`Plan`].
//!
//! Schema-driven and generic: for every input attribute the plan sets (or that has a schema
//! default), the desired value is compared with what exists; a difference in a `force_new`
//! attribute makes a replace, any other difference an update. Computed attributes and unset
//! optional attributes without a default are not managed. References resolve through the
//! values planned for their targets, so a value that depends on something being created is
//! "(known after apply)" — and a force_new attribute that is unknown forces a replace.

use std::collections::{BTreeMap, HashMap};

use super::{Action, After, AttrChange, Change, Plan, PLAN_FORMAT};
use crate::config::{ResourceDecl, Stack, Tmpl};
use crate::plan::Refreshed;
use crate::resource::{sensitive, Address, Attrs, Observed, Registry, Schema, Value};
use crate::state::{State, Status};

pub struct DiffInput<'a> {
    pub stack: &'a Stack,
    pub registry: &'a Registry,
    pub state: Option<&'a State>,
    pub refreshed: &'a Refreshed,
    /// Declared addresses, dependencies first (from the graph).
    pub order: &'a [Address],
}

/// What the plan knows about a resource's attributes after apply.
struct Planned {
    id: Option<String>,
    known: Attrs,
    action: Action,
    /// Replaced, the old one deleted before the new one is created.
    destroy_first: bool,
}

/// The desired attributes of a declaration: what it sets plus schema defaults.
pub fn desired_with_defaults(decl: &ResourceDecl, schema: &Schema) -> BTreeMap<String, Tmpl> {
    let mut out = decl.attrs.clone();
    for a in schema.inputs() {
        if let Some(d) = &a.default {
            out.entry(a.name.to_string()).or_insert_with(|| Tmpl::Lit(d.clone()));
        }
    }
    out
}

/// Compare desired with prior, attribute by attribute.
pub fn attr_changes(
    schema: &Schema,
    desired: &BTreeMap<String, Option<Value>>,
    prior: Option<&Attrs>,
) -> Vec<AttrChange> {
    let mut changes = Vec::new();
    for (name, want) in desired {
        let Some(a) = schema.get(name) else { continue };
        if a.computed {
            continue;
        }
        let before = prior.and_then(|p| p.get(name)).cloned();
        let want = want.as_ref().map(|v| a.canonical(v));
        let after = match want {
            Some(v) if before.as_ref() == Some(&v) => continue,
            // A sensitive value is recorded as a marker (see `resource::sensitive`).
            Some(v) if before.as_ref().is_some_and(|b| sensitive::is_marker(b) && sensitive::matches(b, &v)) => {
                continue
            }
            Some(v) if a.unordered && before.as_ref().is_some_and(|b| same_elements(b, &v)) => continue,
            // An empty list/map and an absent attribute mean the same to AWS.
            Some(v) if before.is_none() && is_empty(&v) && prior.is_some() => continue,
            Some(v) => After::Known(v),
            None => After::Unknown,
        };
        let sensitive = a.sensitive || before.as_ref().is_some_and(sensitive::is_marker);
        changes.push(AttrChange { name: name.clone(), before, after, force_new: a.force_new, sensitive });
    }
    changes
}

/// Two lists holding the same elements, in any order (for `unordered` attributes). Elements are
/// compared with `Value`'s own equality, which ignores the key order of objects (serde_json's
/// `preserve_order` is on, so their text forms would not).
pub fn same_elements(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_array(), b.as_array()) else { return false };
    if a.len() != b.len() {
        return false;
    }
    let mut used = vec![false; b.len()];
    a.iter().all(|x| match (0..b.len()).find(|&i| !used[i] && &b[i] == x) {
        Some(i) => {
            used[i] = true;
            true
        }
        None => false,
    })
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// Make the plan for `apply`.
///
/// Beyond the attribute diff: `lifecycle.ignore_changes` keeps what exists for the listed
/// attributes (a create or a replacement still uses the plan's values); a resource whose
/// `parent` attribute names a resource being replaced (or created anew) is replaced with it,
/// since AWS deletes it with its parent or refuses to delete the parent while it exists; a
/// replacement is create-before-destroy when the kind or the `lifecycle` asks for it and no
/// dependency is itself replaced destroy-first (the new one could not be created before the
/// old dependency is gone, and the old one must go before that dependency does).
pub fn diff(input: DiffInput<'_>) -> Plan {
    let decls: HashMap<&Address, &ResourceDecl> = input.stack.resources.iter().map(|d| (&d.address, d)).collect();
    let mut planned: HashMap<Address, Planned> = HashMap::new();
    let mut changes = Vec::new();

    for address in input.order {
        let Some(decl) = decls.get(address) else { continue };
        let Some(schema) = input.registry.schema(&address.kind) else { continue };
        let key = address.to_string();
        let recorded = input.state.and_then(|s| s.resources.get(&key));
        let prior = input.refreshed.observed.get(&key);
        let full = desired_with_defaults(decl, schema);
        // What an update applies: the plan's values, except the ignored attributes.
        let kept = match prior {
            Some(p) => keep_ignored(full.clone(), &decl.lifecycle.ignore_changes, &p.attrs),
            None => full.clone(),
        };

        let lookup = |target: &Address, attr: &str| -> Option<Value> {
            let p = planned.get(target)?;
            if attr == "id" {
                return p.id.clone().map(Value::String);
            }
            p.known.get(attr).cloned()
        };
        let resolve = |d: &BTreeMap<String, Tmpl>| -> BTreeMap<String, Option<Value>> {
            d.iter().map(|(k, t)| (k.clone(), t.resolve(&lookup))).collect()
        };
        let resolved = resolve(&kept);
        // The resource this one lives in, when that is replaced or created anew.
        let parent_replaced = schema
            .attrs
            .iter()
            .filter(|a| a.parent)
            .filter_map(|a| full.get(a.name))
            .flat_map(|t| t.refs())
            .map(|(target, _)| target)
            .find(|t| planned.get(*t).is_some_and(|p| matches!(p.action, Action::Replace | Action::Create)))
            .cloned();

        let tainted = recorded.is_some_and(|r| r.status == Status::Tainted);
        let mut note = None;
        let mut forced_by = Vec::new();
        let (action, mut attrs) = match prior {
            None => {
                if input.refreshed.missing.contains(&key) && recorded.is_some_and(|r| r.status != Status::PendingCreate)
                {
                    note = Some("recorded in state but deleted outside kprov".to_string());
                }
                let attrs = attr_changes(schema, &resolved, None);
                (Action::Create, attrs)
            }
            Some(p) => {
                if input.refreshed.adopted.contains(&key) {
                    note = Some("adopted: found after an interrupted create".to_string());
                }
                let attrs = attr_changes(schema, &resolved, Some(&p.attrs));
                forced_by = attrs.iter().filter(|c| c.force_new).map(|c| format!("`{}`", c.name)).collect();
                let action = if tainted {
                    note = Some("tainted by a failed apply".to_string());
                    forced_by.insert(0, "tainted".to_string());
                    Action::Replace
                } else if !forced_by.is_empty() {
                    Action::Replace
                } else if let Some(parent) = &parent_replaced {
                    note = Some(format!("lives in {parent}, which is replaced"));
                    forced_by.push(format!("the replacement of {parent}"));
                    Action::Replace
                } else if attrs.is_empty() {
                    Action::NoOp
                } else {
                    Action::Update
                };
                (action, attrs)
            }
        };
        // A replacement creates a new resource from the plan's values, ignored ones included.
        let desired = if action == Action::Replace && kept != full {
            if let Some(p) = prior {
                attrs = attr_changes(schema, &resolve(&full), Some(&p.attrs));
            }
            full
        } else {
            kept
        };
        let resolved = resolve(&desired);

        let mut create_before_destroy = false;
        if action == Action::Replace && decl.lifecycle.create_before_destroy.unwrap_or(schema.create_before_destroy) {
            match decl.dependencies().into_iter().find(|d| planned.get(d).is_some_and(|p| p.destroy_first)) {
                None => create_before_destroy = true,
                Some(dep) => {
                    let why = format!("deleted before it is created again: {dep} is replaced destroy-first");
                    note = Some(note.map_or(why.clone(), |n| format!("{n}; {why}")));
                }
            }
        }
        let warning = (action == Action::Replace && schema.stateful).then(|| {
            let how = if create_before_destroy {
                "a new one is created, then the old one is deleted with what it holds"
            } else {
                "it is deleted with what it holds, then created again"
            };
            format!("{address} ({}) will be replaced, forced by {}: {how}", address.kind, forced_by.join(", "))
        });

        // What dependents may know about this resource after apply.
        let mut known: Attrs = match (action, prior) {
            (Action::NoOp | Action::Update, Some(p)) => p.attrs.clone(),
            _ => Attrs::new(),
        };
        for (k, v) in &resolved {
            match v {
                Some(v) => {
                    known.insert(k.clone(), v.clone());
                }
                None => {
                    known.remove(k);
                }
            }
        }
        let id = match action {
            Action::NoOp | Action::Update => prior.map(|p| p.id.clone()),
            _ => None,
        };
        let destroy_first = action == Action::Replace && !create_before_destroy;
        planned.insert(address.clone(), Planned { id, known, action, destroy_first });

        changes.push(Change {
            address: address.clone(),
            kind: address.kind.clone(),
            action,
            attrs,
            desired,
            dependencies: decl.dependencies(),
            prior: prior.cloned(),
            prior_dependencies: prior_deps(recorded.map(|r| &r.dependencies)),
            sensitive: schema.attrs.iter().filter(|a| a.sensitive).map(|a| a.name.to_string()).collect(),
            note,
            adopted: prior.is_some() && input.refreshed.adopted.contains(&key),
            create_before_destroy,
            forced_by,
            warning,
        });
    }

    // Resources in state that the plans no longer declare.
    if let Some(state) = input.state {
        for (key, r) in &state.resources {
            let Ok(address) = key.parse::<Address>() else { continue };
            if decls.contains_key(&address) {
                continue;
            }
            if let Some(c) = delete_change(&address, r, input.refreshed.observed.get(key)) {
                changes.push(c);
            }
        }
    }

    Plan {
        format: PLAN_FORMAT,
        kprov_version: env!("CARGO_PKG_VERSION").to_string(),
        stack: input.stack.name.clone(),
        env: input.stack.env.clone(),
        region: input.stack.region.clone(),
        destroy: false,
        state_lineage: input.state.map(|s| s.lineage.clone()),
        state_serial: input.state.map(|s| s.serial).unwrap_or(0),
        changes,
        moved: Vec::new(),
        unmade: input.refreshed.unmade.iter().cloned().collect(),
    }
}

/// `desired` with each attribute of `ignored` set to what exists (`prior`), or not managed at
/// all when it does not exist there.
fn keep_ignored(mut desired: BTreeMap<String, Tmpl>, ignored: &[String], prior: &Attrs) -> BTreeMap<String, Tmpl> {
    for name in ignored {
        match prior.get(name) {
            Some(v) => desired.insert(name.clone(), Tmpl::Lit(v.clone())),
            None => desired.remove(name),
        };
    }
    desired
}

fn prior_deps(deps: Option<&Vec<String>>) -> Vec<Address> {
    deps.map(|d| d.iter().filter_map(|a| a.parse().ok()).collect()).unwrap_or_default()
}

/// A delete for a recorded resource; `None` when it is already gone (nothing to do but forget it).
fn delete_change(address: &Address, r: &crate::state::ResourceState, observed: Option<&Observed>) -> Option<Change> {
    let prior = observed?.clone();
    Some(Change {
        address: address.clone(),
        kind: r.kind.clone(),
        action: Action::Delete,
        attrs: prior
            .attrs
            .iter()
            .map(|(k, v)| AttrChange {
                name: k.clone(),
                before: Some(v.clone()),
                after: After::Removed,
                force_new: false,
                sensitive: sensitive::is_marker(v),
            })
            .collect(),
        desired: BTreeMap::new(),
        dependencies: Vec::new(),
        prior: Some(prior),
        prior_dependencies: prior_deps(Some(&r.dependencies)),
        sensitive: Vec::new(),
        note: address
            .is_deposed()
            .then(|| "the old resource of a create-before-destroy replacement that was interrupted".to_string()),
        adopted: false,
        create_before_destroy: false,
        forced_by: Vec::new(),
        warning: None,
    })
}

/// Make the plan for `destroy`: a delete for everything in state that still exists.
pub fn destroy_plan(stack: &Stack, state: Option<&State>, refreshed: &Refreshed) -> Plan {
    let mut changes = Vec::new();
    if let Some(state) = state {
        for (key, r) in &state.resources {
            let Ok(address) = key.parse::<Address>() else { continue };
            if let Some(mut c) = delete_change(&address, r, refreshed.observed.get(key)) {
                // A destroy lists addresses only: every attribute would go.
                c.attrs.clear();
                changes.push(c);
            }
        }
    }
    Plan {
        format: PLAN_FORMAT,
        kprov_version: env!("CARGO_PKG_VERSION").to_string(),
        stack: stack.name.clone(),
        env: stack.env.clone(),
        region: stack.region.clone(),
        destroy: true,
        state_lineage: state.map(|s| s.lineage.clone()),
        state_serial: state.map(|s| s.serial).unwrap_or(0),
        changes,
        moved: Vec::new(),
        unmade: refreshed.unmade.iter().cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{AttrSchema, AttrType};
    use serde_json::json;

    #[test]
    fn unordered_lists_compare_as_sets() {
        let schema = Schema::new(vec![
            AttrSchema::optional("set", AttrType::StringList).unordered(),
            AttrSchema::optional("list", AttrType::StringList),
        ]);
        let prior: Attrs = serde_json::from_value(json!({"set": ["a", "b"], "list": ["a", "b"]})).unwrap();
        let desired = BTreeMap::from([
            ("set".to_string(), Some(json!(["b", "a"]))),
            ("list".to_string(), Some(json!(["b", "a"]))),
        ]);
        let changes = attr_changes(&schema, &desired, Some(&prior));
        assert_eq!(changes.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["list"]);
        let desired = BTreeMap::from([("set".to_string(), Some(json!(["a", "c"])))]);
        assert_eq!(attr_changes(&schema, &desired, Some(&prior)).len(), 1);
        // Tables inside: key order does not matter, duplicates count.
        let mut t1 = serde_json::Map::new();
        t1.insert("key".into(), json!("k"));
        t1.insert("effect".into(), json!("NO_SCHEDULE"));
        let mut t2 = serde_json::Map::new();
        t2.insert("effect".into(), json!("NO_SCHEDULE"));
        t2.insert("key".into(), json!("k"));
        let (t1, t2) = (Value::Object(t1), Value::Object(t2));
        assert!(same_elements(&json!([t1.clone(), "x"]), &json!(["x", t2.clone()])));
        assert!(!same_elements(&json!([t1.clone(), t1.clone()]), &json!([t2, "x"])));
    }
}

#[cfg(test)]
#[path = "diff_replace_tests.rs"]
mod replace_tests;
