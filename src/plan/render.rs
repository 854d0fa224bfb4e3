//! Plan output: the human text (Terraform's symbols, attribute-level differences, one summary
//! line) and JSON. Sensitive values are never printed.

use super::{Action, After, AttrChange, Plan};
use crate::resource::Value;

const SENSITIVE: &str = "(sensitive)";
const UNKNOWN: &str = "(known after apply)";

fn show(v: &Value, sensitive: bool) -> String {
    if sensitive {
        SENSITIVE.to_string()
    } else {
        v.to_string()
    }
}

fn attr_line(c: &AttrChange, action: Action, width: usize) -> String {
    let after = match &c.after {
        After::Known(v) => show(v, c.sensitive),
        After::Unknown => UNKNOWN.to_string(),
        After::Removed => "null".to_string(),
    };
    let value = match (action, &c.before) {
        (Action::Create, _) | (_, None) => after,
        (Action::Delete, Some(b)) => show(b, c.sensitive),
        (_, Some(b)) => format!("{} -> {}", show(b, c.sensitive), after),
    };
    let forces = if c.force_new && action == Action::Replace { "  # forces replacement" } else { "" };
    format!("      {:width$} = {value}{forces}\n", c.name)
}

/// The plan as people read it.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let verb = if plan.destroy { "destroy" } else { "plan" };
    out.push_str(&format!("kprov {verb}: stack {}, env {}, region {}\n\n", plan.stack, plan.env, plan.region));
    let mut any = false;
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        any = true;
        let note = c.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        let what = match c.action {
            Action::Create => "will be created",
            Action::Update => "will be updated in place",
            Action::Replace => "must be replaced",
            Action::Delete => "will be deleted",
            Action::NoOp => "",
        };
        out.push_str(&format!("  {:>3} {} {what}{note}\n", c.action.symbol(), c.address));
        if c.action == Action::Delete {
            continue;
        }
        let width = c.attrs.iter().map(|a| a.name.len()).max().unwrap_or(0);
        for a in &c.attrs {
            out.push_str(&attr_line(a, c.action, width));
        }
    }
    if !any {
        out.push_str("  No changes. The infrastructure matches the plans.\n");
    }
    out.push_str(&format!("\nPlan: {}.\n", plan.summary()));
    out
}

/// The plan as JSON, sensitive values replaced by "(sensitive)".
pub fn json(plan: &Plan) -> String {
    let mut redacted = plan.clone();
    for c in &mut redacted.changes {
        for a in c.attrs.iter_mut().filter(|a| a.sensitive) {
            a.before = a.before.as_ref().map(|_| Value::String(SENSITIVE.into()));
            if let After::Known(_) = a.after {
                a.after = After::Known(Value::String(SENSITIVE.into()));
            }
        }
    }
    let doc = serde_json::json!({ "summary": plan.summary(), "plan": redacted });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
