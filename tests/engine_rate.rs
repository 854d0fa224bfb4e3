//! Rate limits, throttling and the critical path, on the simulated cloud with tokio's paused
//! clock. The simulated "server" logs every request it receives, so the limits are checked on
//! what AWS would have seen, not on kprov's own bookkeeping.

mod engine_common;

use std::sync::Arc;
use std::time::Duration;

use engine_common::{backend, decl, owner, r, run, stack};
use kprov::engine::{self, Model, RateLimiter};
use kprov::plan;
use kprov::resource::sim::{SimCloud, SimKind};
use kprov::resource::Cx;

fn rules(n: usize) -> Vec<kprov::config::ResourceDecl> {
    let mut decls = vec![decl("ec2_security_group.main", &[])];
    for i in 0..n {
        decls.push(decl(&format!("ec2_security_group_rule.r{i}"), &[("parent", r("ec2_security_group.main"))]));
    }
    decls
}

/// The most requests of `class` the server saw in any window of `window` seconds.
fn busiest_window(cloud: &SimCloud, class: &str, window: f64) -> usize {
    let times: Vec<f64> = cloud.calls().iter().filter(|c| c.class == class).map(|c| c.at).collect();
    let mut best = 0;
    for (i, t) in times.iter().enumerate() {
        let n = times[i..].iter().take_while(|u| **u < t + window - 1e-9).count();
        best = best.max(n);
    }
    best
}

#[tokio::test(start_paused = true)]
async fn rate_limits_hold_and_aws_never_throttles_us() {
    let model = Model::builtin();
    let cloud = SimCloud::new();
    cloud.set_limiter(Arc::new(RateLimiter::from_model(&model).with_seed(3)));
    // AWS's side enforces the same buckets and refuses what exceeds them.
    cloud.enforce_limits(&model);
    let reg = SimKind::registry(&cloud, &[("ec2_security_group", 1, 1), ("ec2_security_group_rule", 1, 1)]);
    let (_d, b) = backend();
    let t0 = tokio::time::Instant::now();
    let (report, _) = run(&stack(rules(200)), &reg, b.clone(), 10, false).await;
    assert!(report.ok(), "{:?}", report.failed);
    let calls = cloud.calls();
    assert_eq!(calls.iter().filter(|c| c.throttled).count(), 0, "no request was throttled by the server");
    let creates = calls.iter().filter(|c| c.class == "resource_intensive").count();
    assert_eq!(creates, 200);
    // Resource-intensive bucket: 50 at once, then 5 per second. In any window of T seconds the
    // server saw at most 50 + 5 T of them (bursts only after the bucket had time to refill).
    for window in [1.0, 2.0, 5.0, 10.0] {
        let seen = busiest_window(&cloud, "resource_intensive", window);
        assert!(seen as f64 <= 50.0 + 5.0 * window, "{seen} calls in a {window}s window");
    }
    // …and the limiter does not slow down more than it must: (200 − 50) / 5 = 30 s of refill,
    // plus the group's and the last rule's 1 s.
    let wall = t0.elapsed().as_secs_f64();
    assert!((31.0..=33.0).contains(&wall), "took {wall}s");
    let stats = cloud.limiter().stats();
    assert_eq!(stats["ec2"].throttled, 0);
    assert!(stats["ec2"].waited > Duration::from_secs(60), "calls queued for tokens: {:?}", stats["ec2"]);
}

#[tokio::test(start_paused = true)]
async fn throttling_errors_are_retried_with_backoff_and_succeed() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("ec2_vpc", 2, 1), ("ec2_subnet", 1, 1)]);
    let s = stack(vec![decl("ec2_vpc.main", &[]), decl("ec2_subnet.a", &[("parent", r("ec2_vpc.main"))])]);
    // The first three requests are answered RequestLimitExceeded.
    cloud.throttle_next(3);
    let (_d, b) = backend();
    let (report, _) = run(&s, &reg, b.clone(), 4, false).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert_eq!(cloud.resources().len(), 2);
    let calls = cloud.calls();
    assert_eq!(calls.iter().filter(|c| c.throttled).count(), 3);
    let stats = cloud.limiter().stats()["ec2"];
    assert_eq!((stats.throttled, stats.retries), (3, 3), "{stats:?}");
    // The retries were spaced out (backoff), not sent back to back.
    let vpc: Vec<f64> = calls.iter().filter(|c| c.action == "Create:ec2_vpc").map(|c| c.at).collect();
    assert_eq!(vpc.len(), 4, "three throttled attempts and one that succeeded");
    assert!(vpc.windows(2).all(|w| w[1] >= w[0]), "{vpc:?}");
    assert!(vpc[3] > vpc[0], "backoff took time: {vpc:?}");
}

#[tokio::test(start_paused = true)]
async fn without_a_client_limit_the_server_throttles_and_the_retry_still_gets_everything_through() {
    let model = Model::builtin();
    let cloud = SimCloud::new();
    // kprov's side unlimited (only the retry), AWS's side enforcing its buckets.
    cloud.enforce_limits(&model);
    let reg = SimKind::registry(&cloud, &[("ec2_security_group", 1, 1), ("ec2_security_group_rule", 1, 1)]);
    let (_d, b) = backend();
    let (report, _) = run(&stack(rules(120)), &reg, b.clone(), 50, false).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert_eq!(cloud.resources().len(), 121);
    let stats = cloud.limiter().stats()["ec2"];
    assert!(stats.throttled > 0 && stats.retries >= stats.throttled, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn other_errors_fail_fast() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("ec2_vpc", 2, 1)]);
    cloud.fail_create("ec2_vpc.bad");
    let (_d, b) = backend();
    let t0 = tokio::time::Instant::now();
    let (report, _) = run(&stack(vec![decl("ec2_vpc.bad", &[])]), &reg, b.clone(), 4, false).await;
    assert_eq!(report.failed.len(), 1);
    assert!(report.failed[0].2.contains("InvalidParameterValue"));
    let creates = cloud.calls().iter().filter(|c| c.action == "Create:ec2_vpc").count();
    assert_eq!(creates, 1, "a non-throttling error is not retried");
    assert_eq!(t0.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn calls_queued_for_a_token_do_not_hold_a_parallelism_slot() {
    let model = Model::builtin();
    let cloud = SimCloud::new();
    cloud.set_limiter(Arc::new(RateLimiter::from_model(&model)));
    let reg = SimKind::registry(
        &cloud,
        &[("ec2_security_group", 1, 1), ("ec2_security_group_rule", 1, 1), ("iam_role", 2, 1)],
    );
    // 150 rules queue on the EC2 resource-intensive bucket for 20 s; an IAM chain of three
    // roles (unrelated bucket) must not wait behind them under --parallelism 1.
    let mut decls = rules(150);
    decls.push(decl("iam_role.a", &[("parent", r("ec2_security_group.main"))]));
    decls.push(decl("iam_role.b", &[("parent", r("iam_role.a"))]));
    decls.push(decl("iam_role.c", &[("parent", r("iam_role.b"))]));
    let (_d, b) = backend();
    let (report, _) = run(&stack(decls), &reg, b.clone(), 1, false).await;
    assert!(report.ok(), "{:?}", report.failed);
    let log = cloud.log();
    let end = |w: &str| log.iter().find(|r| r.what == w).unwrap().end;
    // Group at 1 s, then 2 s per role.
    assert!(end("iam_role.c") <= 7.0 + 1e-6, "the IAM chain ended at {}", end("iam_role.c"));
    let last_rule = log.iter().filter(|r| r.kind == "ec2_security_group_rule").map(|r| r.end).fold(0.0, f64::max);
    assert!(last_rule >= 20.0, "the rules were rate limited ({last_rule})");
}

#[tokio::test(start_paused = true)]
async fn the_critical_path_is_the_wall_time_of_an_unconstrained_apply() {
    let cloud = SimCloud::new();
    let reg = SimKind::registry(&cloud, &[("sim_net", 10, 3), ("sim_sub", 5, 1), ("sim_nat", 100, 60)]);
    let s = stack(vec![
        decl("sim_net.a", &[]),
        decl("sim_sub.a1", &[("parent", r("sim_net.a"))]),
        decl("sim_nat.n", &[("parent", r("sim_sub.a1"))]),
        decl("sim_sub.a2", &[("parent", r("sim_net.a"))]),
        decl("sim_net.b", &[]),
    ]);
    let mut model = Model::builtin();
    model.durations.create.extend([("sim_net".into(), 10.0), ("sim_sub".into(), 5.0), ("sim_nat".into(), 100.0)]);
    model.durations.delete.extend([("sim_net".into(), 3.0), ("sim_sub".into(), 1.0), ("sim_nat".into(), 60.0)]);
    let (_d, b) = backend();
    let p = plan::make(&s, &reg, None, &Cx::new(owner()), false).await.unwrap();
    let cp = engine::critical_path(&p, &model.durations).unwrap();
    assert_eq!(cp.total, Duration::from_secs(115));
    let path: Vec<String> = cp.steps.iter().map(|s| s.0.to_string()).collect();
    assert_eq!(path, ["sim_net.a", "sim_sub.a1", "sim_nat.n"]);
    let t0 = tokio::time::Instant::now();
    assert!(run(&s, &reg, b.clone(), 1, false).await.0.ok());
    assert_eq!(t0.elapsed(), cp.total, "even under --parallelism 1");

    let state = b.load().unwrap();
    let d = plan::make(&s, &reg, state.as_ref(), &Cx::new(owner()), true).await.unwrap();
    let cp = engine::critical_path(&d, &model.durations).unwrap();
    assert_eq!(cp.total, Duration::from_secs(60 + 1 + 3), "destroy: dependents first");
    let t0 = tokio::time::Instant::now();
    assert!(run(&s, &reg, b.clone(), 1, true).await.0.ok());
    assert_eq!(t0.elapsed(), cp.total);
}

#[tokio::test(start_paused = true)]
async fn the_reference_plans_run_on_kinds_that_mimic_the_real_ones() {
    let model = Model::builtin();
    let cloud = SimCloud::new();
    cloud.set_limiter(Arc::new(RateLimiter::from_model(&model)));
    cloud.enforce_limits(&model);
    let reg = SimKind::mimic_registry(&cloud, &kprov::aws::offline_registry(), &model);
    let plans = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
    let s = kprov::config::load(&plans, "prod", &reg).expect("the prod plans load against the mimic kinds");
    let (_d, b) = backend();
    let p = plan::make(&s, &reg, None, &Cx::new(owner()), false).await.unwrap();
    let cp = engine::critical_path(&p, &model.durations).unwrap();
    let t0 = tokio::time::Instant::now();
    let (report, _) = run(&s, &reg, b.clone(), 10, false).await;
    assert!(report.ok(), "{:?}", report.failed);
    assert_eq!(cloud.resources().len(), s.resources.len());
    let wall = t0.elapsed();
    assert!(wall >= cp.total && wall.as_secs_f64() <= cp.total.as_secs_f64() * 1.05, "{wall:?} vs {cp:?}");
    // Converged: a second plan changes nothing.
    let state = b.load().unwrap();
    let again = plan::make(&s, &reg, state.as_ref(), &Cx::new(owner()), false).await.unwrap();
    assert!(!again.has_changes(), "{}\n{}", again.summary(), kprov::plan::render::text(&again));
    assert!(run(&s, &reg, b.clone(), 10, true).await.0.ok());
    assert!(cloud.resources().is_empty());
    assert_eq!(cloud.calls().iter().filter(|c| c.throttled).count(), 0);
}

#[tokio::test(start_paused = true)]
async fn parallelism_bounds_the_calls_in_flight() {
    let cloud = SimCloud::new();
    // Every call takes 1 s (holding its slot); creating takes no further time.
    cloud.set_call_latency(Duration::from_secs(1));
    let reg = SimKind::registry(&cloud, &[("sim_net", 0, 0)]);
    let decls = (0..20).map(|i| decl(&format!("sim_net.n{i}"), &[])).collect();
    let (_d, b) = backend();
    let t0 = tokio::time::Instant::now();
    let (report, events) = run(&stack(decls), &reg, b.clone(), 4, false).await;
    assert!(report.ok());
    assert_eq!(t0.elapsed(), Duration::from_secs(5), "20 calls, 4 at a time, 1 s each");
    let mut per_second = std::collections::BTreeMap::new();
    for c in cloud.calls() {
        *per_second.entry(c.at as u64).or_insert(0) += 1;
    }
    assert!(per_second.values().all(|n| *n == 4), "{per_second:?}");
    let started = events.iter().filter(|e| matches!(e, kprov::engine::Event::Started { .. })).count();
    assert_eq!(started, 20);
}
