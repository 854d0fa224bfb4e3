//! Sensitive values in plans.
//!
//! In memory a [`Plan`] holds the plaintext of sensitive attributes: the engine needs it to
//! apply them. It never leaves the process that way:
//! - [`redacted`]: for output (`plan --json`, `plan` text): every sensitive value, desired or
//!   prior, becomes "(sensitive)";
//! - [`sealed`]: for a plan file (`plan --out`): the desired value of a sensitive attribute
//!   becomes a marker of its template (see `resource::sensitive`);
//! - [`unseal`]: `apply PLANFILE` takes each sealed value from the plan files again, and
//!   refuses when it no longer matches the marker (the secret changed since the plan was made).
//!
//! Which attributes are sensitive is recorded per change ([`Change::sensitive`]) by the diff,
//! from the kinds' schemas, so none of this needs the registry.

use super::{After, Change, Plan};
use crate::config::{Stack, Tmpl};
use crate::resource::sensitive::{self, REDACTED};
use crate::resource::Value;

fn tmpl_value(t: &Tmpl) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// Redact every sensitive value in the change's attribute differences and prior resource
/// (whose sensitive values refresh has already sealed: a marker is redacted too).
fn redact_diffs(c: &mut Change) {
    let sens: Vec<String> = c.sensitive.clone();
    for a in &mut c.attrs {
        if !(a.sensitive || sens.contains(&a.name)) {
            continue;
        }
        a.sensitive = true;
        a.before = a.before.as_ref().map(|_| sensitive::redacted());
        if let After::Known(_) = a.after {
            a.after = After::Known(sensitive::redacted());
        }
    }
    if let Some(p) = &mut c.prior {
        for (k, v) in p.attrs.iter_mut() {
            if sens.contains(k) || sensitive::is_marker(v) {
                *v = sensitive::redacted();
            }
        }
    }
}

/// One change as output shows it: no sensitive value, not even a marker.
pub fn redact_change(c: &mut Change) {
    redact_diffs(c);
    for name in c.sensitive.clone() {
        if let Some(t) = c.desired.get_mut(&name) {
            *t = Tmpl::Lit(Value::String(REDACTED.into()));
        }
    }
}

/// The plan for people and `--json`: no sensitive value, not even a marker.
pub fn redacted(plan: &Plan) -> Plan {
    let mut out = plan.clone();
    out.changes.iter_mut().for_each(redact_change);
    out
}

/// The plan for a plan file: desired sensitive values sealed, so that `apply` can check the
/// plan files still hold them.
pub fn sealed(plan: &Plan) -> Plan {
    let mut out = plan.clone();
    for c in &mut out.changes {
        redact_diffs(c);
        for name in c.sensitive.clone() {
            if let Some(t) = c.desired.get_mut(&name) {
                *t = Tmpl::Lit(sensitive::seal(&tmpl_value(t)));
            }
        }
    }
    out
}

/// Put the plaintext back into a plan read from a file, from the plan files' declarations.
/// Errors name the address and attribute (never the value).
pub fn unseal(plan: &mut Plan, stack: &Stack) -> Result<(), String> {
    for c in &mut plan.changes {
        for name in c.sensitive.clone() {
            let Some(Tmpl::Lit(marker)) = c.desired.get(&name) else { continue };
            if !sensitive::is_marker(marker) {
                continue;
            }
            let decl = stack.resources.iter().find(|d| d.address == c.address);
            let current = decl.and_then(|d| d.attrs.get(&name));
            match current {
                Some(t) if sensitive::matches(marker, &tmpl_value(t)) => {
                    c.desired.insert(name.clone(), t.clone());
                }
                _ => {
                    return Err(format!(
                        "the sensitive value of {}.{name} in the plan files is not the one this plan was made with; run `kprov plan` again",
                        c.address
                    ))
                }
            }
        }
    }
    Ok(())
}

/// The change is to be shown as "(sensitive value changed)" rather than old -> new.
pub fn changed_text() -> &'static str {
    "(sensitive value changed)"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_in_prior_are_redacted_even_without_schema_flag() {
        let c = Change {
            address: "x.y".parse().unwrap(),
            kind: "x".into(),
            action: super::super::Action::NoOp,
            attrs: vec![],
            desired: Default::default(),
            dependencies: vec![],
            prior: Some(crate::resource::Observed {
                id: "i".into(),
                attrs: [("k".to_string(), sensitive::seal(&serde_json::json!("s")))].into_iter().collect(),
                owner_address: None,
            }),
            prior_dependencies: vec![],
            sensitive: vec![],
            note: None,
            adopted: false,
            create_before_destroy: false,
            forced_by: vec![],
            warning: None,
        };
        let mut c = c;
        redact_diffs(&mut c);
        assert_eq!(c.prior.unwrap().attrs["k"], sensitive::redacted());
    }
}
