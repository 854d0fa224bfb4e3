//! Drift report renderings: a table for people, markdown for a PR or issue comment, JSON with a
//! stable documented schema (`docs/drift-report.schema.json`), and the Prometheus text
//! exposition format for a Pushgateway or a node-exporter textfile.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::DriftReport;
use crate::resource::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Markdown,
    Prometheus,
}

pub fn render(r: &DriftReport, format: Format, success: bool) -> String {
    match format {
        Format::Table => table(r),
        Format::Json => json(r),
        Format::Markdown => markdown(r),
        Format::Prometheus => prometheus(r, success),
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::Null => "(absent)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn json(r: &DriftReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default()
}

pub fn table(r: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Drift for stack {} env {}", r.stack, r.env);
    let mut rows: Vec<[String; 5]> = Vec::new();
    for c in &r.changed {
        for a in &c.attributes {
            rows.push(["changed".into(), c.address.clone(), a.path.clone(), short(&a.recorded), short(&a.live)]);
        }
    }
    for m in &r.missing {
        rows.push(["missing".into(), m.address.clone(), "-".into(), m.id.clone().unwrap_or_default(), "(gone)".into()]);
    }
    for u in &r.unmanaged {
        rows.push([
            "unmanaged".into(),
            u.claimed_address.clone().unwrap_or_else(|| format!("{} {}", u.kind, u.id)),
            "-".into(),
            "(not in state)".into(),
            format!("{} ({})", u.id, u.reason),
        ]);
    }
    if rows.is_empty() {
        let _ = writeln!(out, "No drift: AWS matches the recorded state.");
    } else {
        let head = ["CATEGORY", "RESOURCE", "ATTRIBUTE", "RECORDED", "LIVE"];
        let mut w = head.map(str::len);
        for row in &rows {
            for (i, c) in row.iter().enumerate() {
                w[i] = w[i].max(c.chars().count()).min(60);
            }
        }
        let line = |cells: [&str; 5]| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                let _ = write!(s, "{:w$}  ", c, w = w[i]);
            }
            s.trim_end().to_string()
        };
        let _ = writeln!(out, "{}", line(head));
        for row in &rows {
            let _ = writeln!(out, "{}", line([&row[0], &row[1], &row[2], &row[3], &row[4]].map(|s| s.as_str())));
        }
    }
    if !r.differs_from_plan.is_empty() {
        let _ = writeln!(out, "\nDiffers from the plan files (`kprov apply` would change it):");
        for p in &r.differs_from_plan {
            for a in &p.attributes {
                let _ = writeln!(
                    out,
                    "  {} {}: live {} -> planned {}",
                    p.address,
                    a.path,
                    short(&a.live),
                    short(&a.desired)
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{} changed, {} missing, {} unmanaged, {} differing from the plan files.",
        r.changed.len(),
        r.missing.len(),
        r.unmanaged.len(),
        r.differs_from_plan.len()
    );
    out
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

pub fn markdown(r: &DriftReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### kprov drift: `{}` / `{}`\n", r.stack, r.env);
    if !r.has_drift() && r.differs_from_plan.is_empty() {
        let _ = writeln!(out, "No drift: AWS matches the recorded state.");
        return out;
    }
    let _ = writeln!(
        out,
        "**{}** changed · **{}** missing · **{}** unmanaged · **{}** differing from the plan files\n",
        r.changed.len(),
        r.missing.len(),
        r.unmanaged.len(),
        r.differs_from_plan.len()
    );
    if r.has_drift() {
        let _ = writeln!(out, "| Category | Resource | Attribute | Recorded | Live |\n|---|---|---|---|---|");
        for c in &r.changed {
            for a in &c.attributes {
                let _ = writeln!(
                    out,
                    "| changed | `{}` | `{}` | `{}` | `{}` |",
                    md_escape(&c.address),
                    md_escape(&a.path),
                    md_escape(&short(&a.recorded)),
                    md_escape(&short(&a.live))
                );
            }
        }
        for m in &r.missing {
            let _ = writeln!(
                out,
                "| missing | `{}` | | `{}` | (gone) |",
                md_escape(&m.address),
                md_escape(m.id.as_deref().unwrap_or(""))
            );
        }
        for u in &r.unmanaged {
            let _ = writeln!(
                out,
                "| unmanaged | `{}` | | (not in state) | `{}`: {} |",
                md_escape(u.claimed_address.as_deref().unwrap_or(&u.kind)),
                md_escape(&u.id),
                md_escape(&u.reason)
            );
        }
    }
    if !r.differs_from_plan.is_empty() {
        let _ = writeln!(out, "\n<details><summary>Differs from the plan files</summary>\n");
        let _ = writeln!(out, "| Resource | Attribute | Live | Planned |\n|---|---|---|---|");
        for p in &r.differs_from_plan {
            for a in &p.attributes {
                let _ = writeln!(
                    out,
                    "| `{}` | `{}` | `{}` | `{}` |",
                    md_escape(&p.address),
                    md_escape(&a.path),
                    md_escape(&short(&a.live)),
                    md_escape(&short(&a.desired))
                );
            }
        }
        let _ = writeln!(out, "\n</details>");
    }
    out
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Prometheus text exposition (version 0.0.4).
pub fn prometheus(r: &DriftReport, success: bool) -> String {
    let mut out = String::new();
    let base = format!("stack=\"{}\",env=\"{}\"", label(&r.stack), label(&r.env));
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for c in &r.changed {
        *counts.entry(("changed", &c.kind)).or_default() += 1;
    }
    for m in &r.missing {
        *counts.entry(("missing", &m.kind)).or_default() += 1;
    }
    for u in &r.unmanaged {
        *counts.entry(("unmanaged", &u.kind)).or_default() += 1;
    }
    for p in &r.differs_from_plan {
        *counts.entry(("differs_from_plan", &p.kind)).or_default() += 1;
    }
    let _ = writeln!(out, "# HELP kprov_drift_resources Resources drifted, by category and resource kind.");
    let _ = writeln!(out, "# TYPE kprov_drift_resources gauge");
    for ((cat, kind), n) in &counts {
        let _ = writeln!(out, "kprov_drift_resources{{{base},category=\"{cat}\",kind=\"{}\"}} {n}", label(kind));
    }
    let _ = writeln!(out, "# HELP kprov_drift_detected 1 when drift from the recorded state was found.");
    let _ = writeln!(out, "# TYPE kprov_drift_detected gauge");
    let _ = writeln!(out, "kprov_drift_detected{{{base}}} {}", u8::from(r.has_drift()));
    let _ = writeln!(out, "# HELP kprov_drift_last_run_timestamp_seconds When the last drift run finished.");
    let _ = writeln!(out, "# TYPE kprov_drift_last_run_timestamp_seconds gauge");
    let _ = writeln!(out, "kprov_drift_last_run_timestamp_seconds{{{base}}} {}", r.generated_at);
    let _ = writeln!(out, "# HELP kprov_drift_last_run_success 1 when the last drift run completed without error.");
    let _ = writeln!(out, "# TYPE kprov_drift_last_run_success gauge");
    let _ = writeln!(out, "kprov_drift_last_run_success{{{base}}} {}", u8::from(success));
    let _ = writeln!(out, "# HELP kprov_drift_api_calls API calls the drift run made, by service.");
    let _ = writeln!(out, "# TYPE kprov_drift_api_calls gauge");
    for (svc, n) in &r.api_calls {
        let _ = writeln!(out, "kprov_drift_api_calls{{{base},service=\"{}\"}} {n}", label(svc));
    }
    out
}
