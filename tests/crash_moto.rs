//! Crash and interrupt safety of the real binary against moto, checked through the SDK.
//!
//! - SIGKILL at random moments of an apply (`KPROV_CRASH_ROUNDS`, default 5; the seed is
//!   printed and can be fixed with `KPROV_CRASH_SEED`), then apply again: AWS holds exactly the
//!   planned resources — every taggable one found once by its `kprov:address` ownership tag,
//!   no duplicate, no orphan; the untaggable associations once per subnet — and destroy leaves
//!   nothing owned behind.
//! - SIGINT during an apply: exit 130 with a message naming what is pending, the state is
//!   written, the lock released (the next apply does not wait for it), and applying again
//!   completes with exactly the plan. A second SIGINT during a destroy exits at once, leaving
//!   the lock to expire; destroying again takes it over and leaves nothing.
//!
//! Runs hold the state lock with a 2 s lease (`KPROV_LOCK_LEASE`), so the lock a killed run
//! leaves behind is taken over by the next run within seconds (`KPROV_LOCK_TIMEOUT`).
//!
//! moto answers in about a millisecond, so the runs are slowed down with the connector's test
//! hook `KPROV_TEST_API_DELAY_MS` (see `src/aws/limits.rs`) to be signalled mid-run. Each test
//! uses its own region (a scratch plans dir whose dev overlay sets region and AZs).

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Filter, NatGatewayState, Tag};

const CRASH_REGION: &str = "ap-south-1";
const INTERRUPT_REGION: &str = "ap-northeast-2";

/// A scratch plans dir whose dev overlay puts the stack in `region`.
fn plans_in(region: &str) -> tempfile::TempDir {
    let dir = support::scratch_plans();
    let overlay = format!(
        "[variables]\nregion = \"{region}\"\navailability_zones = [\"{region}a\", \"{region}b\", \"{region}c\"]\naz_count = 3\nnat_mode = \"per_az\"\n"
    );
    std::fs::write(dir.path().join("plans/env/dev.toml"), overlay).expect("overlay");
    dir
}

/// The planned addresses, by kind.
fn planned(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let stack = kprov::config::load(&dir.join("plans"), "dev", &kprov::aws::offline_registry()).expect("plans load");
    let mut by_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &stack.resources {
        by_kind.entry(d.address.kind.clone()).or_default().push(d.address.to_string());
    }
    for v in by_kind.values_mut() {
        v.sort();
    }
    by_kind
}

/// How long a run waits for a state lock left behind by a killed run. Every run here holds the
/// lock with a 2 s lease (the minimum), so a killed run's lock is taken over 2 s after its last
/// heartbeat — the documented recovery, without `force-unlock`.
const TAKE_OVER: &str = "30s";
/// Fail at once if the lock is held: proves the previous run released it.
const NO_WAIT: &str = "0s";

/// `kprov ARGS` in `dir` against moto, not waited for; stderr goes to `dir/stderr.log`.
fn spawn(dir: &Path, args: &[&str], delay_ms: u64, lock_timeout: &str) -> Child {
    let log = std::fs::File::create(dir.join("stderr.log")).expect("log");
    Command::new(assert_cmd::cargo::cargo_bin("kprov"))
        .args(args)
        .current_dir(dir)
        .envs(support::aws_env())
        .env_remove("AWS_REGION")
        .env("KPROV_LOCK_LEASE", "2s")
        .env("KPROV_LOCK_TIMEOUT", lock_timeout)
        .env("KPROV_TEST_API_DELAY_MS", delay_ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start kprov")
}

fn stderr_of(dir: &Path) -> String {
    let mut s = String::new();
    let _ = std::fs::File::open(dir.join("stderr.log")).and_then(|mut f| f.read_to_string(&mut s));
    s
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the pid of a child we started and have not reaped yet.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({}, {sig})", child.id());
}

/// Wait for `child` to exit, at most `limit`.
fn wait(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status.code().unwrap_or(-1));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `kprov ARGS` to completion; panics with its stderr unless it exits 0.
fn run_ok(dir: &Path, args: &[&str], lock_timeout: &str) {
    let mut child = spawn(dir, args, 0, lock_timeout);
    let code = wait(&mut child, Duration::from_secs(120));
    assert_eq!(code, Some(0), "kprov {args:?} failed:\n{}", stderr_of(dir));
}

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// Every resource in `region` carrying the dev stack's ownership tags, as kind → addresses
/// (sorted, duplicates kept), plus the number of route-table associations per subnet of our
/// route tables.
async fn owned(region: &str) -> (BTreeMap<String, Vec<String>>, BTreeMap<String, usize>) {
    let ec2 = support::ec2(region).await;
    let ours = || {
        vec![
            Filter::builder().name("tag:kprov:stack").values("platform").build(),
            Filter::builder().name("tag:kprov:env").values("dev").build(),
        ]
    };
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |kind: &str, tags: &[Tag]| {
        // The filters select by stack and env; the address must be there too.
        let addr = tag(tags, "kprov:address").unwrap_or("<no kprov:address tag>").to_string();
        found.entry(kind.to_string()).or_default().push(addr);
    };
    for v in ec2.describe_vpcs().set_filters(Some(ours())).send().await.unwrap().vpcs() {
        add("ec2_vpc", v.tags());
    }
    for s in ec2.describe_subnets().set_filters(Some(ours())).send().await.unwrap().subnets() {
        add("ec2_subnet", s.tags());
    }
    for g in ec2.describe_internet_gateways().set_filters(Some(ours())).send().await.unwrap().internet_gateways() {
        add("ec2_internet_gateway", g.tags());
    }
    for a in ec2.describe_addresses().set_filters(Some(ours())).send().await.unwrap().addresses() {
        add("ec2_elastic_ip", a.tags());
    }
    for n in ec2.describe_nat_gateways().set_filter(Some(ours())).send().await.unwrap().nat_gateways() {
        if !matches!(n.state(), Some(NatGatewayState::Deleted | NatGatewayState::Deleting)) {
            add("ec2_nat_gateway", n.tags());
        }
    }
    let tables = ec2.describe_route_tables().set_filters(Some(ours())).send().await.unwrap();
    let mut per_subnet: BTreeMap<String, usize> = BTreeMap::new();
    for t in tables.route_tables() {
        add("ec2_route_table", t.tags());
        for a in t.associations() {
            if let Some(s) = a.subnet_id() {
                *per_subnet.entry(s.to_string()).or_default() += 1;
            }
        }
    }
    let groups = ec2.describe_security_groups().set_filters(Some(ours())).send().await.unwrap();
    let group_ids: Vec<String> =
        groups.security_groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect();
    for g in groups.security_groups() {
        add("ec2_security_group", g.tags());
    }
    if !group_ids.is_empty() {
        let rules = ec2
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").set_values(Some(group_ids)).build())
            .send()
            .await
            .unwrap();
        for r in rules.security_group_rules() {
            // AWS's default egress rule of each group carries no kprov tags; it is not ours.
            if tag(r.tags(), "kprov:stack").is_some() {
                add("ec2_security_group_rule", r.tags());
            }
        }
    }
    for v in found.values_mut() {
        v.sort();
    }
    (found, per_subnet)
}

/// AWS holds exactly the planned resources: each taggable one once by address, each planned
/// association once per subnet.
async fn assert_exactly_planned(region: &str, planned: &BTreeMap<String, Vec<String>>, context: &str) {
    let (found, per_subnet) = owned(region).await;
    let taggable: BTreeMap<String, Vec<String>> =
        planned.iter().filter(|(k, _)| taggable_kind(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(found, taggable, "{context}: owned resources (by ownership tag) differ from the plan");
    let associations = planned.get("ec2_route_table_association").map(Vec::len).unwrap_or(0);
    assert_eq!(per_subnet.len(), associations, "{context}: subnets with an association");
    assert!(per_subnet.values().all(|n| *n == 1), "{context}: a subnet has several associations: {per_subnet:?}");
}

fn taggable_kind(kind: &str) -> bool {
    !matches!(kind, "ec2_route" | "ec2_route_table_association")
}

async fn assert_nothing_owned(region: &str, context: &str) {
    let (found, per_subnet) = owned(region).await;
    assert!(found.is_empty() && per_subnet.is_empty(), "{context}: left behind: {found:?} {per_subnet:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_then_apply_again_gives_exactly_the_plan() {
    let dir = plans_in(CRASH_REGION);
    let planned = planned(dir.path());
    let rounds: usize = std::env::var("KPROV_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let seed: u64 =
        std::env::var("KPROV_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    println!("crash seed {seed} (KPROV_CRASH_SEED={seed} reproduces the kill times)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut killed_mid_run = 0;
    for round in 0..rounds {
        let state_before = std::fs::read(dir.path().join("state/dev.json")).ok();
        // With 50 ms per request and 4 in flight, an apply of this plan takes about 2 s.
        let after = Duration::from_millis(rng.u64(100..2200));
        let mut child =
            spawn(dir.path(), &["apply", "--auto-approve", "--progress", "plain", "--parallelism", "4"], 50, NO_WAIT);
        std::thread::sleep(after);
        let still_running = child.try_wait().expect("try_wait").is_none();
        if still_running {
            signal(&child, libc::SIGKILL);
            killed_mid_run += 1;
        }
        let _ = wait(&mut child, Duration::from_secs(60));
        let state_after = std::fs::read(dir.path().join("state/dev.json")).ok();
        println!(
            "round {round}: SIGKILL after {after:?} ({}; state {})",
            if still_running { "mid-run" } else { "after it had finished" },
            if state_after != state_before { "changed" } else { "untouched" }
        );
        run_ok(dir.path(), &["apply", "--auto-approve", "--progress", "plain"], TAKE_OVER);
        assert_exactly_planned(CRASH_REGION, &planned, &format!("round {round} after re-apply")).await;
        run_ok(dir.path(), &["destroy", "--auto-approve", "--progress", "plain"], NO_WAIT);
        assert_nothing_owned(CRASH_REGION, &format!("round {round} after destroy")).await;
    }
    assert!(killed_mid_run * 2 >= rounds, "most kills should land mid-run ({killed_mid_run} of {rounds})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_at_a_safe_point_and_the_next_apply_completes() {
    let dir = plans_in(INTERRUPT_REGION);
    let planned = planned(dir.path());
    let total: usize = planned.values().map(Vec::len).sum();

    // Interrupt once a handful of resources are done.
    let mut child =
        spawn(dir.path(), &["apply", "--auto-approve", "--progress", "plain", "--parallelism", "2"], 100, NO_WAIT);
    let start = Instant::now();
    while stderr_of(dir.path()).matches(": created").count() < 5 {
        assert!(start.elapsed() < Duration::from_secs(60), "apply made no progress:\n{}", stderr_of(dir.path()));
        assert!(child.try_wait().expect("try_wait").is_none(), "apply ended early:\n{}", stderr_of(dir.path()));
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, libc::SIGINT);
    let code = wait(&mut child, Duration::from_secs(60));
    let err = stderr_of(dir.path());
    assert_eq!(code, Some(130), "exit code after one SIGINT:\n{err}");
    assert!(err.contains("Interrupt received"), "{err}");
    assert!(err.contains("apply interrupted"), "{err}");
    assert!(err.contains("not started or stopped at a safe point"), "{err}");
    assert!(err.contains("Run `kprov apply` again to continue"), "{err}");
    // The state is written and holds what was done, not everything.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/dev.json")).expect("state written"))
            .expect("valid");
    let recorded = state["resources"].as_object().expect("resources").len();
    assert!(recorded >= 5 && recorded < total, "{recorded} of {total} recorded");
    let (found, _) = owned(INTERRUPT_REGION).await;
    let created: usize = found.values().map(Vec::len).sum();
    let taggable: usize = planned.iter().filter(|(k, _)| taggable_kind(k)).map(|(_, v)| v.len()).sum();
    assert!(created < taggable, "the interrupt stopped the apply ({created} of {taggable} exist)");

    // Without waiting for the lock: the interrupted run released it.
    run_ok(dir.path(), &["apply", "--auto-approve", "--progress", "plain"], NO_WAIT);
    assert_exactly_planned(INTERRUPT_REGION, &planned, "after the interrupted apply was re-run").await;

    // A second SIGINT exits at once, even with work in flight: every request takes 5 s here,
    // so after one SIGINT the destroy would still be finishing its in-flight call.
    let mut child =
        spawn(dir.path(), &["destroy", "--auto-approve", "--progress", "plain", "--parallelism", "1"], 5000, NO_WAIT);
    let start = Instant::now();
    while !stderr_of(dir.path()).contains(": deleting...") {
        assert!(start.elapsed() < Duration::from_secs(60), "destroy made no progress:\n{}", stderr_of(dir.path()));
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, libc::SIGINT);
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    signal(&child, libc::SIGINT);
    let code = wait(&mut child, Duration::from_secs(60));
    assert_eq!(code, Some(130), "exit code after two SIGINTs:\n{}", stderr_of(dir.path()));
    assert!(t.elapsed() < Duration::from_secs(2), "the second SIGINT exits at once ({:?})", t.elapsed());
    // Exiting at once left the lock behind; it is taken over once its lease has run out.
    run_ok(dir.path(), &["destroy", "--auto-approve", "--progress", "plain"], TAKE_OVER);
    assert_nothing_owned(INTERRUPT_REGION, "after destroy").await;
}
