//! Monthly cost estimates from the price table kept in the repo (`src/plan/prices.toml`, with
//! its source and date). A plan shows the cost of each resource before and after, the total,
//! and the change the plan makes. Only fixed hourly/monthly charges are estimated; usage-based
//! ones (data processing, LCUs, log ingestion) are named but not guessed.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::{Action, Plan};
use crate::config::Tmpl;
use crate::resource::{Attrs, Value};

#[derive(Debug, Deserialize)]
pub struct PriceTable {
    pub source: String,
    pub date: String,
    pub hours_per_month: f64,
    #[serde(default)]
    pub hourly: BTreeMap<String, f64>,
    #[serde(default)]
    pub monthly: BTreeMap<String, f64>,
    pub ebs: Ebs,
    #[serde(default)]
    pub instances: BTreeMap<String, f64>,
}

#[derive(Debug, Deserialize)]
pub struct Ebs {
    pub gp3_gb_month: f64,
}

/// The built-in price table.
pub fn prices() -> &'static PriceTable {
    static TABLE: OnceLock<PriceTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        // The table is compiled in and covered by a unit test, so a parse failure is a build bug.
        toml::from_str(include_str!("prices.toml")).expect("src/plan/prices.toml is valid")
    })
}

/// Look up a value by any of several attribute paths (`a.b` descends into objects).
fn lookup<'a>(attrs: &'a Attrs, paths: &[&str]) -> Option<&'a Value> {
    paths.iter().find_map(|p| {
        let mut parts = p.split('.');
        let mut v = attrs.get(parts.next()?)?;
        for part in parts {
            v = v.get(part)?;
        }
        Some(v)
    })
}

/// Estimated monthly USD for one resource, or `None` when it has no fixed charge.
pub fn monthly(table: &PriceTable, kind: &str, attrs: &Attrs) -> Option<f64> {
    let h = table.hours_per_month;
    if let Some(rate) = table.hourly.get(kind) {
        return Some(rate * h);
    }
    if let Some(m) = table.monthly.get(kind) {
        return Some(*m);
    }
    if kind == "eks_nodegroup" {
        // An unmanaged desired size (left to the autoscaler) starts at the minimum.
        let count = lookup(attrs, &["desired_size", "min_size"]).and_then(Value::as_f64).unwrap_or(0.0);
        let itype = lookup(attrs, &["instance_types"])
            .and_then(|v| v.as_array())
            .and_then(|a| a.first())
            .and_then(Value::as_str)?;
        let rate = table.instances.get(itype)?;
        let disk = lookup(attrs, &["disk_size"]).and_then(Value::as_f64).unwrap_or(20.0);
        return Some(count * (rate * h + disk * table.ebs.gp3_gb_month));
    }
    None
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    /// address → (before, after) in USD per month.
    pub resources: BTreeMap<String, (f64, f64)>,
    pub before: f64,
    pub after: f64,
    /// Resources whose price is unknown to the table (e.g. an instance type not listed).
    pub unpriced: Vec<String>,
    pub source: String,
    pub date: String,
}

/// Values known at plan time: literals only (references are not priced).
fn literal_attrs(desired: &BTreeMap<String, Tmpl>) -> Attrs {
    desired.iter().filter_map(|(k, t)| Some((k.clone(), t.resolve(&|_, _| None)?))).collect()
}

pub fn estimate(plan: &Plan) -> CostEstimate {
    let table = prices();
    let mut est = CostEstimate { source: table.source.clone(), date: table.date.clone(), ..Default::default() };
    for c in &plan.changes {
        let before = c.prior.as_ref().and_then(|p| monthly(table, &c.kind, &p.attrs));
        let after = match c.action {
            Action::Delete => Some(0.0),
            _ => {
                let mut attrs = c.prior.as_ref().map(|p| p.attrs.clone()).unwrap_or_default();
                attrs.extend(literal_attrs(&c.desired));
                monthly(table, &c.kind, &attrs)
            }
        };
        if after.is_none() && c.kind == "eks_nodegroup" {
            est.unpriced.push(c.address.to_string());
        }
        let (b, a) = (before.unwrap_or(0.0), after.unwrap_or(0.0));
        if b != 0.0 || a != 0.0 {
            est.resources.insert(c.address.to_string(), (b, a));
            est.before += b;
            est.after += a;
        }
    }
    est
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: serde_json::Value) -> Attrs {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn prices_fixed_charges_and_node_groups() {
        let t = prices();
        assert_eq!(t.hours_per_month, 730.0);
        let nat = monthly(t, "ec2_nat_gateway", &Attrs::new()).unwrap();
        assert!((nat - 32.85).abs() < 1e-9, "{nat}");
        let eks = monthly(t, "eks_cluster", &Attrs::new()).unwrap();
        assert!((eks - 73.0).abs() < 1e-9);
        let ng = monthly(
            t,
            "eks_nodegroup",
            &attrs(json!({"instance_types": ["t4g.large"], "desired_size": 3, "min_size": 1, "disk_size": 50})),
        )
        .unwrap();
        assert!((ng - 3.0 * (0.0672 * 730.0 + 50.0 * 0.08)).abs() < 1e-9, "{ng}");
        let at_min =
            monthly(t, "eks_nodegroup", &attrs(json!({"instance_types": ["c5.large"], "min_size": 2}))).unwrap();
        assert!((at_min - 2.0 * (0.085 * 730.0 + 20.0 * 0.08)).abs() < 1e-9, "{at_min}");
        assert_eq!(monthly(t, "ec2_vpc", &Attrs::new()), None);
        assert_eq!(monthly(t, "eks_nodegroup", &attrs(json!({"instance_types": ["x9.huge"]}))), None);
    }
}
