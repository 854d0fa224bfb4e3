//! Plan output: the human text (Terraform's symbols, attribute-level differences, one summary
//! line) and JSON. Sensitive values are never printed.

use super::{Action, After, AttrChange, Plan};
use crate::resource::Value;

const SENSITIVE: &str = crate::resource::sensitive::REDACTED;
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
        // Old and new are both hidden; say what happened instead of "(sensitive) -> (sensitive)".
        (Action::Update | Action::Replace, Some(_)) if c.sensitive && matches!(c.after, After::Known(_)) => {
            super::secrets::changed_text().to_string()
        }
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
    // Renames first: they change no AWS object, only the address the state records it under.
    for m in &plan.moved {
        out.push_str(&format!("  {} has moved to {}\n", m.from, m.to));
    }
    if !plan.moved.is_empty() {
        out.push('\n');
    }
    // Interrupted creates that turned out never to have happened: their records go, said aloud.
    for a in &plan.unmade {
        out.push_str(&format!(
            "  {a}: an interrupted create that was never made (no resource carries its tags or its natural key); \
             its pending record is dropped\n"
        ));
    }
    if !plan.unmade.is_empty() {
        out.push('\n');
    }
    let mut any = false;
    for c in plan.changes.iter().filter(|c| c.action != Action::NoOp) {
        any = true;
        let note = c.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
        let what = match c.action {
            Action::Create => "will be created",
            Action::Update => "will be updated in place",
            Action::Replace if c.create_before_destroy => "must be replaced (create before destroy)",
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
    let warnings: Vec<&str> = plan.changes.iter().filter_map(|c| c.warning.as_deref()).collect();
    if !warnings.is_empty() {
        out.push('\n');
    }
    for w in warnings {
        out.push_str(&format!("Warning: {w}\n"));
    }
    out.push_str(&format!("\nPlan: {}.\n", plan.summary()));
    out.push_str(&cost_text(&super::cost::estimate(plan)));
    out
}

fn usd(x: f64) -> String {
    format!("${x:.2}")
}

/// Per-resource monthly cost and the total before and after the plan.
fn cost_text(est: &super::cost::CostEstimate) -> String {
    if est.resources.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nEstimated monthly cost (fixed charges):\n");
    let width = est.resources.keys().map(|k| k.len()).max().unwrap_or(0);
    for (addr, (b, a)) in &est.resources {
        let line = if (b - a).abs() < 0.005 { usd(*a) } else { format!("{} -> {}", usd(*b), usd(*a)) };
        out.push_str(&format!("  {addr:width$}  {line}\n"));
    }
    let delta = est.after - est.before;
    out.push_str(&format!(
        "  Total: {} -> {} per month ({}{}).\n",
        usd(est.before),
        usd(est.after),
        if delta >= 0.0 { "+" } else { "-" },
        usd(delta.abs())
    ));
    for u in &est.unpriced {
        out.push_str(&format!("  {u}: instance type not in the price table, not estimated.\n"));
    }
    out.push_str(&format!(
        "  Usage-based charges (data processing, LCUs, log ingestion) are not included. Prices: {} ({}).\n",
        est.source, est.date
    ));
    out
}

/// The plan as JSON, sensitive values (desired, before, after, prior) replaced by "(sensitive)".
pub fn json(plan: &Plan) -> String {
    let redacted = super::secrets::redacted(plan);
    let doc = serde_json::json!({ "summary": plan.summary(), "cost": super::cost::estimate(plan), "plan": redacted });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}
