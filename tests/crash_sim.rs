//! Crash safety on the simulated cloud: the engine is "killed" at every step of an apply (each
//! state write and each change the cloud makes, just before and just after it), then kprov runs
//! again. Whatever the kill point, the end result must be exactly the plan: every planned
//! resource exists once, nothing else exists (no duplicate, no orphan), the state records each
//! with its real id, and a further plan is empty.
//!
//! A kill here is what SIGKILL does to the real binary: the engine future is dropped, nothing
//! more reaches the state file or the cloud. The cloud keeps what was done (a create whose
//! answer was lost still created the resource); the state keeps what was written.

mod engine_common;

use std::sync::Arc;

use engine_common::{backend, decl, lit, owner, r, stack, MortalBackend, Process};
use kprov::config::Stack;
use kprov::engine::{self, RunOptions};
use kprov::plan;
use kprov::resource::sim::{SimCloud, SimKind};
use kprov::resource::{Cx, Registry};
use kprov::state::{Backend, LocalBackend, State, Status};
use serde_json::json;
use tokio_util::sync::CancellationToken;

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

/// The same network after a change: `sim_net.a` updated in place, `sim_sub.a2` moved to
/// `sim_net.b` (replaced), `sim_nat.n2` replaced with it, `sim_sub.b1` gone, `sim_sub.c` new.
fn network_changed() -> Stack {
    stack(vec![
        decl("sim_net.a", &[("size", lit(json!(2)))]),
        decl("sim_sub.a1", &[("parent", r("sim_net.a"))]),
        decl("sim_sub.a2", &[("parent", r("sim_net.b"))]),
        decl("sim_nat.n1", &[("parent", r("sim_sub.a1"))]),
        decl("sim_nat.n2", &[("parent", r("sim_sub.a2"))]),
        decl("sim_net.b", &[]),
        decl("sim_sub.c", &[("parent", r("sim_net.b"))]),
    ])
}

/// Run plan + apply (or destroy) as a process that dies at its `die_at`-th step. Returns the
/// number of steps taken and whether it died.
async fn run_until_killed(
    s: &Stack,
    reg: &Registry,
    cloud: &SimCloud,
    disk: &Arc<LocalBackend>,
    die_at: usize,
    parallelism: usize,
    destroy: bool,
) -> (usize, bool) {
    let process = Process::new(die_at);
    let p = process.clone();
    cloud.set_gate(Arc::new(move || p.step()));
    let state = disk.load().unwrap();
    let plan = plan::make(s, reg, state.as_ref(), &Cx::new(owner()), destroy).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let mortal = MortalBackend::new(disk.clone(), process.clone());
    let backend: Arc<dyn Backend> = mortal.clone();
    let state = state.unwrap_or_else(|| State::new(&s.name, &s.env));
    let opts = RunOptions { owner: owner(), parallelism, cancel: CancellationToken::new() };
    tokio::select! {
        biased;
        _ = process.died.notified() => {}
        _ = engine::run(&plan, reg, state, backend, tx, opts) => {}
    }
    // The process is gone: the cloud answers the next run normally.
    cloud.set_gate(Arc::new(|| true));
    (process.steps(), process.is_dead())
}

/// The cloud holds exactly the plan's resources, once each; the state records each of them
/// with its real id; planning again finds nothing to do.
async fn assert_exactly(s: &Stack, reg: &Registry, cloud: &SimCloud, disk: &Arc<LocalBackend>, context: &str) {
    let mut live: Vec<String> = cloud.owner_addresses().into_iter().map(|a| a.unwrap_or_default()).collect();
    live.sort();
    let mut planned: Vec<String> = s.resources.iter().map(|d| d.address.to_string()).collect();
    planned.sort();
    assert_eq!(live, planned, "{context}: live resources (by ownership tag) differ from the plan");
    let state = disk.load().unwrap().unwrap();
    let ids = cloud.resources();
    for a in &planned {
        let rs = &state.resources[a];
        assert_eq!(rs.status, Status::Created, "{context}: {a}");
        assert!(ids.contains_key(rs.id.as_deref().unwrap()), "{context}: {a} recorded with a dead id");
    }
    assert_eq!(state.resources.len(), planned.len(), "{context}: state has extra entries");
    let again = plan::make(s, reg, Some(&state), &Cx::new(owner()), false).await.unwrap();
    assert!(!again.has_changes(), "{context}: not converged: {}", again.summary());
}

async fn finish(s: &Stack, reg: &Registry, disk: &Arc<LocalBackend>, destroy: bool) {
    let (report, _) = engine_common::run(s, reg, disk.clone(), 3, destroy).await;
    assert!(report.ok(), "re-run failed: {:?} {:?}", report.failed, report.cancelled);
}

#[tokio::test(start_paused = true)]
async fn killed_at_any_step_of_an_apply_the_next_run_ends_with_exactly_the_plan() {
    for parallelism in [1, 4] {
        // How many steps does an uninterrupted apply take?
        let cloud = SimCloud::new();
        let (_d, disk) = backend();
        let (steps, died) =
            run_until_killed(&network(), &kinds(&cloud), &cloud, &disk, usize::MAX, parallelism, false).await;
        assert!(!died && steps >= 20, "{steps} steps");
        for die_at in 1..=steps {
            let cloud = SimCloud::new();
            let reg = kinds(&cloud);
            let (_d, disk) = backend();
            let (_, died) = run_until_killed(&network(), &reg, &cloud, &disk, die_at, parallelism, false).await;
            assert!(died, "step {die_at} of {steps}");
            finish(&network(), &reg, &disk, false).await;
            assert_exactly(&network(), &reg, &cloud, &disk, &format!("p{parallelism}, killed at step {die_at}")).await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn killed_at_any_step_of_a_change_with_replacements_the_next_run_ends_with_exactly_the_new_plan() {
    let count = {
        let cloud = SimCloud::new();
        let reg = kinds(&cloud);
        let (_d, disk) = backend();
        finish(&network(), &reg, &disk, false).await;
        run_until_killed(&network_changed(), &reg, &cloud, &disk, usize::MAX, 4, false).await.0
    };
    for die_at in 1..=count {
        let cloud = SimCloud::new();
        let reg = kinds(&cloud);
        let (_d, disk) = backend();
        finish(&network(), &reg, &disk, false).await;
        let (_, died) = run_until_killed(&network_changed(), &reg, &cloud, &disk, die_at, 4, false).await;
        assert!(died);
        finish(&network_changed(), &reg, &disk, false).await;
        assert_exactly(&network_changed(), &reg, &cloud, &disk, &format!("change killed at step {die_at}")).await;
    }
}

#[tokio::test(start_paused = true)]
async fn killed_at_any_step_of_a_destroy_the_next_destroy_leaves_nothing() {
    let count = {
        let cloud = SimCloud::new();
        let reg = kinds(&cloud);
        let (_d, disk) = backend();
        finish(&network(), &reg, &disk, false).await;
        run_until_killed(&network(), &reg, &cloud, &disk, usize::MAX, 4, true).await.0
    };
    for die_at in 1..=count {
        let cloud = SimCloud::new();
        let reg = kinds(&cloud);
        let (_d, disk) = backend();
        finish(&network(), &reg, &disk, false).await;
        let (_, died) = run_until_killed(&network(), &reg, &cloud, &disk, die_at, 4, true).await;
        assert!(died);
        finish(&network(), &reg, &disk, true).await;
        assert!(cloud.resources().is_empty(), "destroy killed at {die_at}: {:?}", cloud.resources());
        assert!(disk.load().unwrap().unwrap().resources.is_empty());
    }
}

/// A create whose call went through but whose follow-up call AWS refused (a subnet made, its
/// ModifySubnetAttribute refused): the run fails, naming what was made, and the intent stays
/// in state — so the next apply finds the resource and finishes it instead of making a second
/// one, and a destroy deletes it. Without that, the definite refusal would read as "nothing
/// was made" and the resource would be orphaned.
#[tokio::test(start_paused = true)]
async fn a_create_refused_after_its_create_call_is_never_forgotten() {
    for destroy_next in [false, true] {
        let cloud = SimCloud::new();
        let reg = kinds(&cloud);
        let (_d, disk) = backend();
        cloud.fail_after_create("sim_sub.a1");
        let (report, _) = engine_common::run(&network(), &reg, disk.clone(), 3, false).await;
        assert_eq!(report.failed.len(), 1, "{:?}", report.failed);
        let message = &report.failed[0].2;
        assert!(message.contains("after Create:sim_sub succeeded"), "{message}");
        assert!(message.contains("sim-req-2"), "request id kept: {message}");
        let state = disk.load().unwrap().unwrap();
        assert_eq!(state.resources["sim_sub.a1"].status, Status::PendingCreate, "the intent stays");
        let made = cloud.owner_addresses().into_iter().filter(|a| a.as_deref() == Some("sim_sub.a1")).count();
        assert_eq!(made, 1, "AWS holds the half-made subnet");

        if destroy_next {
            finish(&network(), &reg, &disk, true).await;
            assert!(cloud.resources().is_empty(), "destroy deletes the half-made resource: {:?}", cloud.resources());
        } else {
            finish(&network(), &reg, &disk, false).await;
            assert_exactly(&network(), &reg, &cloud, &disk, "after the follow-up failure, applied again").await;
        }
    }
}
