//! `plan::recover` on the simulated cloud: after an apply whose state is lost, the recovery
//! finds every declared resource by its ownership tag, level by level (a subnet's `parent` is
//! resolved through the network recovered before it), and the state it yields plans as no
//! change. What is gone is listed as not found (with the missing dependency that explains a
//! dependent), and what carries the tags but is no longer declared as owned but not declared.

mod engine_common;

use std::collections::BTreeSet;

use engine_common::{backend, decl, lit, owner, r, stack};
use kprov::config::Stack;
use kprov::plan::{self, recover};
use kprov::resource::sim::{SimCloud, SimKind};
use kprov::resource::{Cx, Registry};
use kprov::state::{State, Status};
use serde_json::json;

fn kinds(cloud: &SimCloud) -> Registry {
    SimKind::registry(cloud, &[("sim_net", 10, 3), ("sim_sub", 5, 1), ("sim_nat", 100, 60)])
}

fn network() -> Stack {
    stack(vec![
        decl("sim_net.a", &[("size", lit(json!(1)))]),
        decl("sim_sub.a1", &[("parent", r("sim_net.a"))]),
        decl("sim_sub.a2", &[("parent", r("sim_net.a"))]),
        decl("sim_nat.n1", &[("parent", r("sim_sub.a1"))]),
        decl("sim_nat.n2", &[("parent", r("sim_sub.a2"))]),
        decl("sim_net.b", &[]),
        decl("sim_sub.b1", &[("parent", r("sim_net.b"))]),
    ])
}

fn addresses(s: &Stack) -> BTreeSet<String> {
    s.resources.iter().map(|d| d.address.to_string()).collect()
}

#[tokio::test(start_paused = true)]
async fn a_lost_state_is_recovered_and_plans_as_no_change() {
    let cloud = SimCloud::new();
    let reg = kinds(&cloud);
    let s = network();
    let (_d, disk) = backend();
    let (report, _) = engine_common::run(&s, &reg, disk.clone(), 4, false).await;
    assert!(report.ok());
    let applied = disk.load().unwrap().unwrap();

    // The state is lost; recover from the cloud alone.
    let found = recover::recover(&s, &reg, &Cx::new(owner())).await.unwrap();
    assert!(found.not_found.is_empty(), "{:?}", found.not_found);
    assert!(found.unclaimed.is_empty(), "{:?}", found.unclaimed);
    assert_eq!(found.found.len(), 7);
    // Dependencies first, as the table is shown.
    let pos = |a: &str| found.found.iter().position(|(x, _)| x.to_string() == a).unwrap();
    assert!(pos("sim_net.a") < pos("sim_sub.a1") && pos("sim_sub.a1") < pos("sim_nat.n1"));
    // The same ids and dependencies the apply recorded, as created records without a token.
    assert_eq!(found.resources.keys().cloned().collect::<BTreeSet<_>>(), addresses(&s));
    for (a, rec) in &found.resources {
        let was = &applied.resources[a];
        assert_eq!(rec.id, was.id, "{a}");
        assert_eq!(rec.status, Status::Created);
        assert_eq!(rec.client_token, None);
        assert_eq!(rec.dependencies, was.dependencies, "{a}");
    }

    let mut state = State::new(&s.name, &s.env);
    state.resources = found.resources.clone();
    let again = plan::make(&s, &reg, Some(&state), &Cx::new(owner()), false).await.unwrap();
    assert!(!again.has_changes(), "the recovered state does not plan as no change: {}", again.summary());
}

#[tokio::test(start_paused = true)]
async fn what_is_gone_is_not_found_and_what_is_no_longer_declared_is_listed() {
    let cloud = SimCloud::new();
    let reg = kinds(&cloud);
    let s = network();
    let (_d, disk) = backend();
    let (report, _) = engine_common::run(&s, &reg, disk.clone(), 4, false).await;
    assert!(report.ok());
    let applied = disk.load().unwrap().unwrap();
    let id = |a: &str| applied.resources[a].id.clone().unwrap();

    // sim_sub.a1 and the NAT in it were deleted outside kprov; sim_net.b and sim_sub.b1 are no
    // longer declared.
    cloud.remove(&id("sim_sub.a1"));
    cloud.remove(&id("sim_nat.n1"));
    let declared = stack(
        network()
            .resources
            .into_iter()
            .filter(|d| !d.address.to_string().ends_with(".b") && !d.address.to_string().ends_with(".b1"))
            .collect(),
    );
    let found = recover::recover(&declared, &reg, &Cx::new(owner())).await.unwrap();
    let not_found: Vec<(String, Option<String>)> =
        found.not_found.iter().map(|n| (n.address.to_string(), n.because.as_ref().map(|b| b.to_string()))).collect();
    assert_eq!(
        not_found,
        [("sim_sub.a1".to_string(), None), ("sim_nat.n1".to_string(), Some("sim_sub.a1".to_string()))]
    );
    let got: BTreeSet<String> = found.found.iter().map(|(a, _)| a.to_string()).collect();
    assert_eq!(got, BTreeSet::from(["sim_net.a", "sim_sub.a2", "sim_nat.n2"].map(String::from)));
    let unclaimed: BTreeSet<(String, Option<String>)> =
        found.unclaimed.iter().map(|u| (u.id.clone(), u.tagged.clone())).collect();
    assert_eq!(
        unclaimed,
        BTreeSet::from([
            (id("sim_net.b"), Some("sim_net.b".to_string())),
            (id("sim_sub.b1"), Some("sim_sub.b1".to_string()))
        ])
    );
    // Planned from the recovered state: the two missing ones are created, the rest unchanged.
    let mut state = State::new(&declared.name, &declared.env);
    state.resources = found.resources;
    let plan = plan::make(&declared, &reg, Some(&state), &Cx::new(owner()), false).await.unwrap();
    let summary = plan.summary();
    assert_eq!((summary.create, summary.unchanged, summary.delete), (2, 3, 0), "{summary}");
}
