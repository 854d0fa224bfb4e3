//! Drift detection: what changed in AWS behind kprov's back.
//!
//! Flow: `plan::refresh` reads every recorded resource (one batched read per kind), each kind's
//! `find_owned` lists what carries the stack's ownership tags, and the plan diff compares the
//! live resources with the plan files. [`detect`] sorts the findings into
//! - **changed**: live attributes differ from the recorded ones (attribute by attribute, maps
//!   such as tags key by key);
//! - **missing**: recorded, but gone;
//! - **unmanaged**: owned by the stack (tags) but not in state, or a second copy of something
//!   that is;
//! - **differs from plan**: the live resource also differs from what the plan files want.
//!
//! [`IgnoreRule`]s drop findings by kind, address pattern and attribute path. [`report`] renders
//! the result for people (table, markdown) and machines (JSON, Prometheus).

pub mod report;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::plan::{Action, After, Plan, Refreshed};
use crate::resource::{sensitive, Observed, Value};
use crate::state::State;

/// Version of the JSON report schema (`docs/drift-report.schema.json`).
pub const SCHEMA_VERSION: u32 = 1;

/// Suppress findings: every field that is set must match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IgnoreRule {
    /// Resource kind, e.g. `eks_nodegroup` (`*` or unset: any).
    #[serde(default)]
    pub kind: Option<String>,
    /// Address pattern with `*` wildcards, e.g. `ec2_subnet.private[*]` (unset: any).
    #[serde(default)]
    pub address: Option<String>,
    /// Attribute paths, e.g. `scaling.desired_size` or `tags.LastScanned`; a path also covers
    /// everything below it. Empty: the whole resource (every category).
    #[serde(default)]
    pub attributes: Vec<String>,
}

impl IgnoreRule {
    fn matches_resource(&self, kind: &str, address: &str) -> bool {
        self.kind.as_deref().is_none_or(|k| k == "*" || k == kind)
            && self.address.as_deref().is_none_or(|p| glob(p, address))
    }
    fn matches_attr(&self, kind: &str, address: &str, path: &str) -> bool {
        self.matches_resource(kind, address)
            && (self.attributes.is_empty()
                || self.attributes.iter().any(|a| path == a || path.starts_with(&format!("{a}."))))
    }
    fn ignores_resource(&self, kind: &str, address: &str) -> bool {
        self.attributes.is_empty() && self.matches_resource(kind, address)
    }
}

/// `*` matches any run of characters; everything else literally.
fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || !s[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttrDrift {
    /// Attribute path, e.g. `cidr_block` or `tags.Owner`.
    pub path: String,
    /// As recorded in state (null: not recorded).
    pub recorded: Value,
    /// As found in AWS (null: absent).
    pub live: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Changed {
    pub address: String,
    pub kind: String,
    pub id: String,
    pub attributes: Vec<AttrDrift>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    pub address: String,
    pub kind: String,
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unmanaged {
    pub kind: String,
    pub id: String,
    /// The `kprov:address` tag, when it has one.
    pub claimed_address: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDrift {
    pub address: String,
    pub kind: String,
    /// `update` or `replace`: what `apply` would do.
    pub action: Action,
    pub attributes: Vec<PlanAttr>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanAttr {
    pub path: String,
    /// What the plan files want (null when known only after apply).
    pub desired: Value,
    /// As found in AWS (null: absent).
    pub live: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    pub schema_version: u32,
    pub stack: String,
    pub env: String,
    /// Unix seconds.
    pub generated_at: u64,
    pub changed: Vec<Changed>,
    pub missing: Vec<Missing>,
    pub unmanaged: Vec<Unmanaged>,
    pub differs_from_plan: Vec<PlanDrift>,
    /// API calls made, by service (from the SDK connector's counters).
    pub api_calls: BTreeMap<String, u64>,
}

impl DriftReport {
    /// Drift from the recorded state (changed, missing, unmanaged). Differences from the plan
    /// files alone are reported but are not drift: they are what `plan` is for.
    pub fn has_drift(&self) -> bool {
        !(self.changed.is_empty() && self.missing.is_empty() && self.unmanaged.is_empty())
    }
}

/// Everything detection needs, gathered by the caller.
pub struct DriftInput<'a> {
    pub state: &'a State,
    pub refreshed: &'a Refreshed,
    /// `find_owned` results by kind, for every kind the state or the plans use.
    pub owned: &'a BTreeMap<String, Vec<Observed>>,
    /// The plan against the plan files (made from the same refresh), if available.
    pub plan: Option<&'a Plan>,
    pub ignore: &'a [IgnoreRule],
    pub generated_at: u64,
}

/// Flatten objects into `path → leaf` so that maps (tags, labels) drift key by key.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        _ => {
            out.insert(prefix.to_string(), v.clone());
        }
    }
}

fn leaves(attrs: &BTreeMap<String, Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (k, v) in attrs {
        flatten(k, v, &mut out);
    }
    out
}

/// Sensitive values (markers, see `resource::sensitive`) compare through the marker and are
/// reported as "(sensitive)" / "(sensitive value changed)", never by value. Refresh seals the
/// live side, so a recorded plaintext (an older kprov's state) is caught here too.
fn sensitive_drift(path: &str, recorded: Option<&Value>, live: Option<&Value>) -> Option<Option<AttrDrift>> {
    let marker = |v: Option<&Value>| v.is_some_and(sensitive::is_marker);
    if !(marker(recorded) || marker(live)) {
        return None;
    }
    let (r, l) = (recorded.unwrap_or(&Value::Null), live.unwrap_or(&Value::Null));
    if sensitive::same(r, l) {
        return Some(None);
    }
    let show = |v: &Value| if v.is_null() { Value::Null } else { sensitive::redacted() };
    let live =
        if r.is_null() || l.is_null() { show(l) } else { Value::String(crate::plan::secrets::changed_text().into()) };
    Some(Some(AttrDrift { path: path.to_string(), recorded: show(r), live }))
}

fn attr_drift(recorded: &BTreeMap<String, Value>, live: &BTreeMap<String, Value>) -> Vec<AttrDrift> {
    let mut out: Vec<AttrDrift> = Vec::new();
    let mut plain = (BTreeMap::new(), BTreeMap::new());
    for k in recorded.keys().chain(live.keys()).collect::<BTreeSet<_>>() {
        match sensitive_drift(k, recorded.get(k), live.get(k)) {
            Some(d) => out.extend(d),
            None => {
                plain.0.extend(recorded.get_key_value(k).map(|(k, v)| (k.clone(), v.clone())));
                plain.1.extend(live.get_key_value(k).map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    let (r, l) = (leaves(&plain.0), leaves(&plain.1));
    let paths: BTreeSet<&String> = r.keys().chain(l.keys()).collect();
    paths
        .into_iter()
        .filter_map(|p| {
            let (a, b) = (r.get(p).unwrap_or(&Value::Null), l.get(p).unwrap_or(&Value::Null));
            // An empty map or list and an absent attribute mean the same to AWS.
            let empty = |v: &Value| {
                v.is_null() || v.as_object().is_some_and(|m| m.is_empty()) || v.as_array().is_some_and(|x| x.is_empty())
            };
            (a != b && !(empty(a) && empty(b))).then(|| AttrDrift {
                path: p.clone(),
                recorded: a.clone(),
                live: b.clone(),
            })
        })
        .chain(out)
        .collect()
}

pub fn detect(input: DriftInput<'_>) -> DriftReport {
    let ignored_attr =
        |kind: &str, addr: &str, path: &str| input.ignore.iter().any(|r| r.matches_attr(kind, addr, path));
    let ignored = |kind: &str, addr: &str| input.ignore.iter().any(|r| r.ignores_resource(kind, addr));

    let mut changed = Vec::new();
    let mut missing = Vec::new();
    for (addr, rec) in &input.state.resources {
        if ignored(&rec.kind, addr) {
            continue;
        }
        match input.refreshed.observed.get(addr) {
            Some(live) => {
                let attrs: Vec<AttrDrift> = attr_drift(&rec.attributes, &live.attrs)
                    .into_iter()
                    .filter(|d| !ignored_attr(&rec.kind, addr, &d.path))
                    .collect();
                if !attrs.is_empty() {
                    changed.push(Changed {
                        address: addr.clone(),
                        kind: rec.kind.clone(),
                        id: live.id.clone(),
                        attributes: attrs,
                    });
                }
            }
            None if input.refreshed.missing.contains(addr) => {
                missing.push(Missing { address: addr.clone(), kind: rec.kind.clone(), id: rec.id.clone() });
            }
            None => {}
        }
    }

    // Owned resources the state does not account for.
    let recorded_ids: BTreeSet<(&str, &str)> =
        input.state.resources.values().filter_map(|r| Some((r.kind.as_str(), r.id.as_deref()?))).collect();
    let mut unmanaged = Vec::new();
    for (kind, list) in input.owned {
        for o in list {
            if recorded_ids.contains(&(kind.as_str(), o.id.as_str())) {
                continue;
            }
            let claimed = o.owner_address.clone();
            if ignored(kind, claimed.as_deref().unwrap_or("")) {
                continue;
            }
            let reason = match claimed.as_deref().and_then(|a| input.state.resources.get(a)) {
                Some(r) => format!(
                    "a second resource claims {} (state has {})",
                    claimed.as_deref().unwrap_or(""),
                    r.id.as_deref().unwrap_or("no id")
                ),
                None if claimed.is_some() => "carries the stack's tags but is not in state".to_string(),
                None => "inside a resource the stack owns, but not in state".to_string(),
            };
            unmanaged.push(Unmanaged { kind: kind.clone(), id: o.id.clone(), claimed_address: claimed, reason });
        }
    }

    let mut differs_from_plan = Vec::new();
    if let Some(plan) = input.plan {
        for c in &plan.changes {
            if !matches!(c.action, Action::Update | Action::Replace) {
                continue;
            }
            let addr = c.address.to_string();
            if ignored(&c.kind, &addr) {
                continue;
            }
            // Sensitive values are shown redacted (plan::secrets).
            let mut redacted = c.clone();
            crate::plan::secrets::redact_change(&mut redacted);
            let attributes: Vec<PlanAttr> = redacted
                .attrs
                .iter()
                .filter(|a| !ignored_attr(&c.kind, &addr, &a.name))
                .map(|a| PlanAttr {
                    path: a.name.clone(),
                    desired: match &a.after {
                        After::Known(v) => v.clone(),
                        _ => Value::Null,
                    },
                    live: a.before.clone().unwrap_or(Value::Null),
                })
                .collect();
            if !attributes.is_empty() {
                differs_from_plan.push(PlanDrift { address: addr, kind: c.kind.clone(), action: c.action, attributes });
            }
        }
    }

    DriftReport {
        schema_version: SCHEMA_VERSION,
        stack: input.state.stack.clone(),
        env: input.state.env.clone(),
        generated_at: input.generated_at,
        changed,
        missing,
        unmanaged,
        differs_from_plan,
        api_calls: BTreeMap::new(),
    }
}

#[cfg(test)]
mod tests;
