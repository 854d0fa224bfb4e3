//! Engine behaviour on the simulated cloud with tokio's paused clock: ordering, concurrency,
//! failure isolation, waits that do not hold a parallelism slot, destroy order.

use std::collections::BTreeMap;
use std::sync::Arc;

use kprov::config::{ResourceDecl, SourceLoc, Stack, Tmpl};
use kprov::engine::{self, Report, RunOptions};
use kprov::plan::{self, Action};
use kprov::resource::sim::{SimCloud, SimKind};
use kprov::resource::{Cx, Owner, Registry};
use kprov::state::{Backend, LocalBackend, State, Status};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn decl(addr: &str, attrs: &[(&str, Tmpl)]) -> ResourceDecl {
    ResourceDecl {
        address: addr.parse().unwrap(),
        attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        depends_on: vec![],
        lifecycle: Default::default(),
        loc: SourceLoc { file: "plans/sim.toml".into(), line: 1, col: 1 },
        attr_locs: Default::default(),
    }
}

fn r(addr: &str) -> Tmpl {
    Tmpl::Ref { target: addr.parse().unwrap(), attr: "id".into() }
}

fn lit(v: serde_json::Value) -> Tmpl {
    Tmpl::Lit(v)
}

fn stack(resources: Vec<ResourceDecl>) -> Stack {
    Stack {
        name: "sim".into(),
        env: "test".into(),
        region: "sim-1".into(),
        resources,
        backend: None,
        drift_ignore: vec![],
        moved: vec![],
    }
}

fn owner() -> Owner {
    Owner { stack: "sim".into(), env: "test".into() }
}

/// plan + apply (or destroy) against `backend`, returning the report.
async fn apply(
    stack: &Stack,
    reg: &Registry,
    backend: &Arc<LocalBackend>,
    parallelism: usize,
    destroy: bool,
) -> Report {
    let state = backend.load().unwrap();
    let cx = Cx::new(owner());
    let plan = plan::make(stack, reg, state.as_ref(), &cx, destroy).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let state = state.unwrap_or_else(|| State::new(&stack.name, &stack.env));
    let b: Arc<dyn Backend> = backend.clone();
    engine::run(&plan, reg, state, b, tx, RunOptions { owner: owner(), parallelism, cancel: CancellationToken::new() })
        .await
        .unwrap()
}

fn backend() -> (tempfile::TempDir, Arc<LocalBackend>) {
    let dir = tempfile::tempdir().unwrap();
    let b = Arc::new(LocalBackend::for_env(dir.path(), "test"));
    (dir, b)
}

#[tokio::test(start_paused = true)]
async fn independent_subtrees_run_concurrently_and_dependents_wait() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_net", 10, 1), ("sim_sub", 5, 1)]);
    // Two trees: a → a1, a2 and b → b1.
    let s = stack(vec![
        decl("sim_net.a", &[]),
        decl("sim_net.b", &[]),
        decl("sim_sub.a1", &[("parent", r("sim_net.a"))]),
        decl("sim_sub.a2", &[("parent", r("sim_net.a"))]),
        decl("sim_sub.b1", &[("parent", r("sim_net.b"))]),
    ]);
    let (_d, b) = backend();
    let t0 = tokio::time::Instant::now();
    let report = apply(&s, &reg, &b, 4, false).await;
    assert!(report.ok(), "{report:?}");
    // Critical path 10 + 5 s: both roots together, then all three children together.
    assert_eq!(t0.elapsed().as_secs(), 15);
    let log = cloud.log();
    let start = |w: &str| log.iter().find(|r| r.what == w).unwrap().start;
    let end = |w: &str| log.iter().find(|r| r.what == w).unwrap().end;
    assert_eq!(start("sim_net.a"), start("sim_net.b"), "roots start together");
    assert!(start("sim_sub.a1") >= end("sim_net.a"));
    assert_eq!(start("sim_sub.b1"), end("sim_net.b"), "a child starts as soon as its parent is done");
    // The child got its parent's id, resolved just before it ran.
    let state = b.load().unwrap().unwrap();
    let parent_id = state.resources["sim_net.a"].id.clone().unwrap();
    assert_eq!(state.resources["sim_sub.a1"].attributes["parent"], json!(parent_id));
    assert!(state.resources.values().all(|r| r.status == Status::Created));
    // Writes are coalesced when results arrive together, but there is at least one per wave
    // of completions (the two roots, then the three children) plus the intents before them.
    assert!(state.serial >= 4, "serial {}", state.serial);
}

#[tokio::test(start_paused = true)]
async fn waiting_does_not_hold_a_slot_under_parallelism_1() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_slow", 600, 1), ("sim_fast", 1, 1)]);
    let mut decls = vec![decl("sim_slow.cluster", &[])];
    for i in 0..5 {
        decls.push(decl(&format!("sim_fast.f{i}"), &[]));
    }
    let (_d, b) = backend();
    let t0 = tokio::time::Instant::now();
    let report = apply(&stack(decls), &reg, &b, 1, false).await;
    assert!(report.ok());
    // The 600 s wait overlaps with the fast resources: total is the slow one alone.
    assert_eq!(t0.elapsed().as_secs(), 600);
}

#[tokio::test(start_paused = true)]
async fn a_failure_skips_only_its_dependents() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_net", 3, 1), ("sim_sub", 1, 1)]);
    cloud.fail_create("sim_net.bad");
    let s = stack(vec![
        decl("sim_net.bad", &[]),
        decl("sim_net.good", &[]),
        decl("sim_sub.under_bad", &[("parent", r("sim_net.bad"))]),
        decl("sim_sub.deeper", &[("parent", r("sim_sub.under_bad"))]),
        decl("sim_sub.under_good", &[("parent", r("sim_net.good"))]),
    ]);
    let (_d, b) = backend();
    let report = apply(&s, &reg, &b, 4, false).await;
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].0.to_string(), "sim_net.bad");
    assert!(report.failed[0].2.contains("InvalidParameterValue"), "{}", report.failed[0].2);
    assert!(report.failed[0].2.contains("sim-req-1"), "request id kept: {}", report.failed[0].2);
    let mut skipped: Vec<String> = report.skipped.iter().map(|s| s.0.to_string()).collect();
    skipped.sort();
    assert_eq!(skipped, vec!["sim_sub.deeper", "sim_sub.under_bad"]);
    assert!(report.skipped.iter().all(|s| s.2.to_string() == "sim_net.bad"), "root cause named");
    let state = b.load().unwrap().unwrap();
    let mut have: Vec<&String> = state.resources.keys().collect();
    have.sort();
    assert_eq!(have, vec!["sim_net.good", "sim_sub.under_good"], "the definite failure left no intent");
}

#[tokio::test(start_paused = true)]
async fn second_plan_is_empty_update_and_replace_are_planned_and_destroy_goes_in_reverse() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_net", 2, 3), ("sim_sub", 1, 1)]);
    let s1 = stack(vec![
        decl("sim_net.a", &[("size", lit(json!(1)))]),
        decl("sim_sub.x", &[("parent", r("sim_net.a")), ("name", lit(json!("x")))]),
    ]);
    let (_d, b) = backend();
    assert!(apply(&s1, &reg, &b, 4, false).await.ok());
    let state = b.load().unwrap();
    let plan = plan::make(&s1, &reg, state.as_ref(), &Cx::new(owner()), false).await.unwrap();
    assert!(!plan.has_changes(), "{:?}", plan.summary());

    // size is in place; parent is force_new.
    let s2 = stack(vec![
        decl("sim_net.a", &[("size", lit(json!(2)))]),
        decl("sim_net.b", &[]),
        decl("sim_sub.x", &[("parent", r("sim_net.b")), ("name", lit(json!("x")))]),
    ]);
    let plan = plan::make(&s2, &reg, state.as_ref(), &Cx::new(owner()), false).await.unwrap();
    let action = |a: &str| plan.changes.iter().find(|c| c.address.to_string() == a).unwrap().action;
    assert_eq!(action("sim_net.a"), Action::Update);
    assert_eq!(action("sim_net.b"), Action::Create);
    assert_eq!(action("sim_sub.x"), Action::Replace);
    assert!(apply(&s2, &reg, &b, 4, false).await.ok());
    let state = b.load().unwrap().unwrap();
    let b_id = state.resources["sim_net.b"].id.clone().unwrap();
    assert_eq!(state.resources["sim_sub.x"].attributes["parent"], json!(b_id));
    assert_eq!(cloud.resources().len(), 3, "the replaced resource is gone: {:?}", cloud.resources());

    let report = apply(&s2, &reg, &b, 4, true).await;
    assert!(report.ok());
    assert!(cloud.resources().is_empty());
    assert!(b.load().unwrap().unwrap().resources.is_empty());
    // The child was deleted before its parent.
    let log = cloud.log();
    let del = |id: &str| log.iter().find(|r| r.op == "delete" && r.what == id).unwrap().clone();
    let x_id = state.resources["sim_sub.x"].id.clone().unwrap();
    assert!(del(&x_id).end <= del(&b_id).start);
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_create_is_adopted_not_duplicated() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_net", 100, 1)]);
    let s = stack(vec![decl("sim_net.a", &[])]);
    let (_d, b) = backend();
    let cancel = CancellationToken::new();
    {
        let state = State::new("sim", "test");
        let plan = plan::make(&s, &reg, None, &Cx::new(owner()), false).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
            c2.cancel();
        });
        let bk: Arc<dyn Backend> = b.clone();
        let report = engine::run(&plan, &reg, state, bk, tx, RunOptions { owner: owner(), parallelism: 2, cancel })
            .await
            .unwrap();
        assert_eq!(report.cancelled.len(), 1);
    }
    let st = b.load().unwrap().unwrap();
    assert_eq!(st.resources["sim_net.a"].status, Status::PendingCreate);
    assert_eq!(cloud.resources().len(), 1, "the create call had been made");
    let report = apply(&s, &reg, &b, 2, false).await;
    assert!(report.ok());
    assert_eq!(cloud.resources().len(), 1, "adopted, not created twice");
    assert_eq!(b.load().unwrap().unwrap().resources["sim_net.a"].status, Status::Created);
}

#[tokio::test(start_paused = true)]
async fn every_completed_resource_is_saved_before_it_is_reported_done() {
    use kprov::engine::Event;
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_net", 3, 1)]);
    let s = stack((0..6).map(|i| decl(&format!("sim_net.n{i}"), &[("size", lit(json!(i)))])).collect());
    let (_d, b) = backend();
    let plan = plan::make(&s, &reg, None, &Cx::new(owner()), false).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let bk: Arc<dyn Backend> = b.clone();
    let opts = RunOptions { owner: owner(), parallelism: 3, cancel: CancellationToken::new() };
    let report = engine::run(&plan, &reg, State::new("sim", "test"), bk, tx, opts).await.unwrap();
    assert!(report.ok());
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    // Between a resource's start and its Done event there is a state write containing it.
    let mut last_saved = 0;
    let mut started_at = std::collections::HashMap::new();
    let mut done = 0;
    for e in &events {
        match e {
            Event::StateSaved { serial } => last_saved = *serial,
            Event::Started { address, .. } => {
                started_at.insert(address.to_string(), last_saved);
            }
            Event::Done { address, .. } => {
                done += 1;
                assert!(last_saved > started_at[&address.to_string()], "{address} done before saved");
            }
            _ => {}
        }
    }
    assert_eq!(done, 6);
}

/// `sim_net.a` with `parent = p` (force_new), replaced create-before-destroy.
fn cbd_stack(parent: &str) -> Stack {
    let mut d = decl("sim_net.a", &[("parent", lit(json!(parent)))]);
    d.lifecycle.create_before_destroy = Some(true);
    stack(vec![d])
}

#[tokio::test(start_paused = true)]
async fn a_refused_create_before_destroy_keeps_the_old_resource_recorded() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_net", 10, 1)]);
    let (_dir, b) = backend();
    assert!(apply(&cbd_stack("p1"), &reg, &b, 4, false).await.ok());
    let old_id = b.load().unwrap().unwrap().resources["sim_net.a"].id.clone().unwrap();
    cloud.fail_create("sim_net.a");
    let report = apply(&cbd_stack("p2"), &reg, &b, 4, false).await;
    assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
    let state = b.load().unwrap().unwrap();
    let keys: Vec<&String> = state.resources.keys().collect();
    assert_eq!(keys, ["sim_net.a"], "no intent and no deposed record left");
    assert_eq!(state.resources["sim_net.a"].id.as_deref(), Some(old_id.as_str()));
    assert_eq!(state.resources["sim_net.a"].status, Status::Created);
    assert_eq!(cloud.resources().keys().collect::<Vec<_>>(), [&old_id], "the old one is untouched");
}

#[tokio::test(start_paused = true)]
async fn an_interrupted_create_before_destroy_leaves_the_old_resource_deposed_and_the_next_apply_deletes_it() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_net", 10, 1)]);
    let (_dir, b) = backend();
    assert!(apply(&cbd_stack("p1"), &reg, &b, 4, false).await.ok());
    let old_id = b.load().unwrap().unwrap().resources["sim_net.a"].id.clone().unwrap();
    // The process "dies" after the new resource is made: the old one's delete never happens.
    let steps = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = steps.clone();
    cloud.set_gate(Arc::new(move || s.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < 2));
    let report = apply(&cbd_stack("p2"), &reg, &b, 4, false).await;
    assert!(!report.ok());
    let state = b.load().unwrap().unwrap();
    let new_id = state.resources["sim_net.a"].id.clone().expect("the new one is recorded");
    assert_ne!(new_id, old_id);
    let deposed = &state.resources["sim_net.a--deposed"];
    assert_eq!(deposed.id.as_deref(), Some(old_id.as_str()), "the old one is not forgotten");
    assert_eq!(cloud.resources().len(), 2);

    // The next run deletes the deposed resource and nothing else.
    cloud.set_gate(Arc::new(|| true));
    let cx = Cx::new(owner());
    let plan = plan::make(&cbd_stack("p2"), &reg, Some(&state), &cx, false).await.unwrap();
    let actions: Vec<(String, Action)> =
        plan.changes.iter().filter(|c| c.action != Action::NoOp).map(|c| (c.address.to_string(), c.action)).collect();
    assert_eq!(actions, [("sim_net.a--deposed".to_string(), Action::Delete)]);
    assert!(apply(&cbd_stack("p2"), &reg, &b, 4, false).await.ok());
    let state = b.load().unwrap().unwrap();
    assert_eq!(state.resources.keys().collect::<Vec<_>>(), ["sim_net.a"]);
    assert_eq!(cloud.resources().keys().collect::<Vec<_>>(), [&new_id]);
}
