use std::collections::BTreeMap;

use serde_json::json;

use super::report::{self, Format};
use super::*;
use crate::state::{ResourceState, Status};

fn state() -> State {
    let mut s = State::new("platform", "dev");
    for (addr, kind, id, attrs) in [
        ("ec2_vpc.main", "ec2_vpc", "vpc-1", json!({"cidr_block": "10.0.0.0/16", "tags": {"Name": "v", "Team": "a"}})),
        ("ec2_subnet.a", "ec2_subnet", "subnet-1", json!({"cidr_block": "10.0.1.0/24"})),
        ("eks_nodegroup.app", "eks_nodegroup", "ng-1", json!({"scaling": {"desired_size": 2, "max_size": 5}})),
    ] {
        s.resources.insert(
            addr.into(),
            ResourceState {
                kind: kind.into(),
                id: Some(id.into()),
                status: Status::Created,
                client_token: None,
                attributes: serde_json::from_value(attrs).unwrap(),
                dependencies: vec![],
            },
        );
    }
    s
}

fn obs(id: &str, attrs: serde_json::Value, owner: Option<&str>) -> Observed {
    Observed { id: id.into(), attrs: serde_json::from_value(attrs).unwrap(), owner_address: owner.map(Into::into) }
}

fn refreshed_live() -> Refreshed {
    let mut r = Refreshed::default();
    r.observed
        .insert("ec2_vpc.main".into(), obs("vpc-1", json!({"cidr_block": "10.0.0.0/16", "tags": {"Name": "v"}}), None));
    r.missing.insert("ec2_subnet.a".into());
    r.observed
        .insert("eks_nodegroup.app".into(), obs("ng-1", json!({"scaling": {"desired_size": 4, "max_size": 5}}), None));
    r
}

fn owned() -> BTreeMap<String, Vec<Observed>> {
    BTreeMap::from([(
        "ec2_security_group".to_string(),
        vec![obs("sg-extra", json!({}), Some("ec2_security_group.rogue")), obs("sg-in-state", json!({}), None)],
    )])
}

fn run(ignore: &[IgnoreRule]) -> DriftReport {
    let mut s = state();
    s.resources.insert(
        "ec2_security_group.lb".into(),
        ResourceState {
            kind: "ec2_security_group".into(),
            id: Some("sg-in-state".into()),
            status: Status::Created,
            client_token: None,
            attributes: Default::default(),
            dependencies: vec![],
        },
    );
    let mut r = refreshed_live();
    r.observed.insert("ec2_security_group.lb".into(), obs("sg-in-state", json!({}), None));
    let owned = owned();
    detect(DriftInput { state: &s, refreshed: &r, owned: &owned, plan: None, ignore, generated_at: 1_700_000_000 })
}

#[test]
fn sorts_findings_into_changed_missing_and_unmanaged_with_recorded_and_live_values() {
    let r = run(&[]);
    assert!(r.has_drift());
    let vpc = r.changed.iter().find(|c| c.address == "ec2_vpc.main").unwrap();
    assert_eq!(vpc.attributes, vec![AttrDrift { path: "tags.Team".into(), recorded: json!("a"), live: Value::Null }]);
    let ng = r.changed.iter().find(|c| c.address == "eks_nodegroup.app").unwrap();
    assert_eq!(
        ng.attributes,
        vec![AttrDrift { path: "scaling.desired_size".into(), recorded: json!(2), live: json!(4) }]
    );
    assert_eq!(
        r.missing,
        vec![Missing { address: "ec2_subnet.a".into(), kind: "ec2_subnet".into(), id: Some("subnet-1".into()) }]
    );
    assert_eq!(r.unmanaged.len(), 1, "{:?}", r.unmanaged);
    assert_eq!(r.unmanaged[0].id, "sg-extra");
    assert_eq!(r.unmanaged[0].claimed_address.as_deref(), Some("ec2_security_group.rogue"));
}

#[test]
fn an_ignore_rule_suppresses_exactly_what_it_names() {
    let rule = IgnoreRule {
        kind: Some("eks_nodegroup".into()),
        address: Some("eks_nodegroup.*".into()),
        attributes: vec!["scaling.desired_size".into()],
    };
    let r = run(&[rule]);
    assert!(r.changed.iter().all(|c| c.address != "eks_nodegroup.app"), "desired size ignored");
    assert!(r.changed.iter().any(|c| c.address == "ec2_vpc.main"), "other drift still reported");
    assert_eq!(r.missing.len(), 1);
    assert_eq!(r.unmanaged.len(), 1);

    // A rule naming another attribute of the same resource suppresses nothing here.
    let other = IgnoreRule {
        kind: None,
        address: Some("eks_nodegroup.app".into()),
        attributes: vec!["scaling.max_size".into()],
    };
    assert!(run(&[other]).changed.iter().any(|c| c.address == "eks_nodegroup.app"));
    // A whole-resource rule drops every category for that resource.
    let whole = IgnoreRule { kind: None, address: Some("ec2_subnet.*".into()), attributes: vec![] };
    assert!(run(&[whole]).missing.is_empty());
}

#[test]
fn glob_patterns() {
    assert!(glob("ec2_subnet.private[*]", "ec2_subnet.private[\"us-east-1a\"]"));
    assert!(glob("*", "anything"));
    assert!(glob("a*c*e", "abcde"));
    assert!(!glob("a*c*e", "abcd"));
    assert!(!glob("ec2_vpc.main", "ec2_vpc.main2"));
}

#[test]
fn an_empty_report_renders_as_no_drift_in_every_format() {
    let s = state();
    let mut r = Refreshed::default();
    for (a, rec) in &s.resources {
        r.observed
            .insert(a.clone(), obs(rec.id.as_deref().unwrap(), serde_json::to_value(&rec.attributes).unwrap(), None));
    }
    let owned = BTreeMap::new();
    let rep = detect(DriftInput { state: &s, refreshed: &r, owned: &owned, plan: None, ignore: &[], generated_at: 5 });
    assert!(!rep.has_drift());
    assert!(report::render(&rep, Format::Table, true).contains("No drift"));
    assert!(report::render(&rep, Format::Markdown, true).contains("No drift"));
    let j: serde_json::Value = serde_json::from_str(&report::render(&rep, Format::Json, true)).unwrap();
    assert_eq!(j["changed"], json!([]));
    assert_eq!(j["missing"], json!([]));
    assert_eq!(j["unmanaged"], json!([]));
    let p = report::render(&rep, Format::Prometheus, true);
    assert!(p.contains("kprov_drift_detected{stack=\"platform\",env=\"dev\"} 0"), "{p}");
    assert!(p.contains("kprov_drift_last_run_success{stack=\"platform\",env=\"dev\"} 1"), "{p}");
    assert!(!p.contains("kprov_drift_resources{"), "{p}");
}

#[test]
fn drift_renders_in_every_format() {
    let r = run(&[]);
    let t = report::render(&r, Format::Table, true);
    assert!(
        t.contains("changed") && t.contains("scaling.desired_size") && t.contains("missing") && t.contains("sg-extra"),
        "{t}"
    );
    let m = report::render(&r, Format::Markdown, true);
    assert!(m.contains("| changed | `eks_nodegroup.app` | `scaling.desired_size` | `2` | `4` |"), "{m}");
    let p = report::render(&r, Format::Prometheus, true);
    assert!(
        p.contains("kprov_drift_resources{stack=\"platform\",env=\"dev\",category=\"missing\",kind=\"ec2_subnet\"} 1"),
        "{p}"
    );
    assert!(p.contains("kprov_drift_detected{stack=\"platform\",env=\"dev\"} 1"), "{p}");
}
