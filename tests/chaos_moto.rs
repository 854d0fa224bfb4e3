//! Chaos apply: the reference dev platform applied and destroyed by the real binary through a
//! fault-injecting proxy (`support/fault_proxy.rs`) in front of moto — 20% throttling, 5% server
//! errors (half of them *after* moto did the work), a few dropped connections (before and
//! after), some added latency. The faults are seeded: the seed is printed, and
//! `KPROV_CHAOS_SEED=N` replays the same faults per action.
//!
//! The apply must succeed; then, through the SDK going **directly to moto**:
//! - every planned resource exists exactly once: the taggable kinds counted by their
//!   `kprov:address` ownership tag (raw SDK listings for the kinds AWS would duplicate — EC2,
//!   KMS keys, load balancers and target groups, hosted zones, certificates — and every kind's
//!   `find_owned` for the rest), the untaggable ones by their natural key (one association per
//!   subnet, one route per table and destination, one record per name and type);
//! - every id in the state file exists (each kind's `read_many`, direct);
//! - `kprov plan --detailed-exitcode` through the proxy finds nothing to change (exit 0).
//!
//! Then destroy through the proxy must succeed and leave nothing owned behind. The figures
//! (requests, faults per kind, kprov's retry counts) are printed.
//!
//! Own environment `chaos` (the dev overlay plus a region): IAM and Route 53 are global in moto,
//! so the `platform-chaos-*` names and the `chaos.` zone are this test's only. Region sa-east-1.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/inventory.rs"]
mod inventory;
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use fault_proxy::{FaultConfig, FaultProxy};

const REGION: &str = "sa-east-1";
const ENV: &str = "chaos";

/// A scratch copy of the platform plans with a `chaos` environment: dev's overlay, in REGION.
fn plans() -> tempfile::TempDir {
    let dir = support::scratch_platform_plans();
    let dev = std::fs::read_to_string(dir.path().join("plans/env/dev.toml")).expect("dev overlay");
    let overlay =
        format!("{dev}region = \"{REGION}\"\navailability_zones = [\"{REGION}a\", \"{REGION}b\", \"{REGION}c\"]\n");
    std::fs::write(dir.path().join(format!("plans/env/{ENV}.toml")), overlay).expect("overlay");
    dir
}

/// The planned addresses, by kind.
fn planned(dir: &Path) -> BTreeMap<String, Vec<String>> {
    inventory::planned(dir, ENV)
}

/// `kprov ARGS` in `dir` through `proxy`.
fn kprov_via(dir: &Path, proxy: &FaultProxy, args: &[&str]) -> Output {
    support::kprov(dir)
        .args(args)
        .args(["--env", ENV])
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run kprov")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Every id recorded in the state exists in moto (each kind's batched read, direct).
async fn state_ids_exist(dir: &Path) -> usize {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(format!("state/platform/{ENV}.json"))).expect("state"))
            .expect("json");
    let mut by_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (addr, r) in state["resources"].as_object().expect("resources") {
        assert_eq!(r["status"], "created", "{addr} is not created in state: {r}");
        let id = r["id"].as_str().unwrap_or_else(|| panic!("{addr} has no id")).to_string();
        by_kind.entry(r["kind"].as_str().expect("kind").to_string()).or_default().push(id);
    }
    let sdk = support::sdk_config(REGION).await;
    let registry = kprov::aws::registry(&sdk);
    let cx = kprov::resource::Cx::new(kprov::resource::Owner { stack: "platform".into(), env: ENV.into() });
    let mut n = 0;
    for (kind, ids) in by_kind {
        let read = registry.get(&kind).expect("kind").read_many(&cx, &ids).await.expect("read_many");
        for id in &ids {
            assert!(read.iter().any(|o| &o.id == id), "{kind} {id} from the state does not exist");
            n += 1;
        }
    }
    n
}

/// kprov's "AWS API: …" summary line.
fn api_line(out: &str) -> String {
    out.lines().find(|l| l.trim_start().starts_with("AWS API:")).unwrap_or("(no API summary)").trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_platform_applies_through_throttling_and_server_errors_without_duplicates() {
    let dir = plans();
    let root = dir.path();
    let planned = planned(root);
    let mut cfg = FaultConfig::from_env();
    cfg.throttle = 0.20;
    cfg.error_before = 0.025;
    cfg.error_after = 0.025;
    cfg.drop_before = 0.01;
    cfg.drop_after = 0.01;
    cfg.latency = 0.2;
    cfg.latency_max = Duration::from_millis(50);
    println!("chaos seed {} ({}={} replays the faults)", cfg.seed, fault_proxy::SEED_ENV, cfg.seed);
    let proxy = FaultProxy::start(support::moto_endpoint(), cfg).await;

    let t0 = Instant::now();
    let apply = kprov_via(root, &proxy, &["apply", "--auto-approve", "--progress", "plain"]);
    let apply_time = t0.elapsed();
    let out = text(&apply);
    assert_eq!(apply.status.code(), Some(0), "apply through the faults failed:\n{out}");
    let after_apply = proxy.counts();
    println!("apply: {apply_time:.1?}, proxy {after_apply:?}\n  kprov {}", api_line(&out));
    println!("  answers lost after moto did the work: {:?}", proxy.after_faults());

    // ---- exactly the plan, read directly from moto ----
    let kinds: Vec<String> = planned.keys().cloned().collect();
    let zone = format!("{ENV}.platform.example.com.");
    let inv = inventory::owned(REGION, "platform", ENV, &kinds, Some(&zone)).await;
    let (differ, _) = inventory::compare(&inv, &planned);
    assert!(
        differ.is_empty(),
        "AWS differs from the plan (by kprov:address tag and natural key):\n{}",
        differ.join("\n")
    );
    let checked = inv.found.values().map(Vec::len).sum::<usize>() + inv.natural.len();
    let in_state = state_ids_exist(root).await;
    println!("checked: {checked} resources by tag or natural key, {in_state} state ids exist");

    // ---- a second plan through the faults: nothing to do ----
    let plan = kprov_via(root, &proxy, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "plan after apply shows changes or failed:\n{}", text(&plan));

    // ---- destroy through the faults: nothing owned left ----
    let t1 = Instant::now();
    let destroy = kprov_via(root, &proxy, &["destroy", "--auto-approve", "--progress", "plain"]);
    let out = text(&destroy);
    assert_eq!(destroy.status.code(), Some(0), "destroy through the faults failed:\n{out}");
    println!("destroy: {:.1?}\n  kprov {}", t1.elapsed(), api_line(&out));
    let inv = inventory::owned(REGION, "platform", ENV, &kinds, Some(&zone)).await;
    assert!(inv.is_empty(), "left behind after destroy: {inv:#?}");
    let total = proxy.counts();
    println!("proxy totals (apply + plan + destroy): {total:?}");
    assert_eq!(total["proxy_errors"], 0, "the proxy itself failed on some requests");
    assert!(total["throttled"] > 0 && total["error_after"] + total["drop_after"] > 0, "faults were injected");
}

/// A create whose create call went through and whose follow-up call AWS refused for good (the
/// proxy answers the first ModifySubnetAttribute `InvalidParameterValue` before moto sees it,
/// after CreateSubnet succeeded): the apply fails naming what was made, the state keeps the
/// subnet as an interrupted create, and the next apply finishes it — one subnet, not two — and
/// destroy leaves nothing. With the old rule ("a definite refusal made nothing") the subnet was
/// orphaned and the next apply made a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_refused_after_its_create_call_is_finished_by_the_next_apply() {
    const FOLLOWUP: &str = "followup";
    let dir = support::scratch_plans();
    let root = dir.path();
    let dev = std::fs::read_to_string(root.join("plans/env/dev.toml")).expect("dev overlay");
    let overlay =
        format!("{dev}region = \"{REGION}\"\navailability_zones = [\"{REGION}a\", \"{REGION}b\", \"{REGION}c\"]\n");
    std::fs::write(root.join(format!("plans/env/{FOLLOWUP}.toml")), overlay).expect("overlay");
    let planned = inventory::planned(root, FOLLOWUP);
    let kinds: Vec<String> = planned.keys().cloned().collect();

    let mut cfg = FaultConfig::from_env();
    cfg.refuse = Some(("ec2:ModifySubnetAttribute".into(), 1, "InvalidParameterValue".into()));
    let proxy = FaultProxy::start(support::moto_endpoint(), cfg).await;
    let run = |endpoint: &str, args: &[&str]| {
        support::kprov(root)
            .args(args)
            .args(["--env", FOLLOWUP])
            .env("AWS_ENDPOINT_URL", endpoint)
            .timeout(Duration::from_secs(120))
            .output()
            .expect("run kprov")
    };
    let first = run(proxy.endpoint(), &["apply", "--auto-approve", "--progress", "plain"]);
    let out = text(&first);
    assert_eq!(first.status.code(), Some(1), "the refused follow-up fails the apply:\n{out}");
    assert!(out.contains("after CreateSubnet succeeded"), "the error names what was made:\n{out}");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join(format!("state/platform/{FOLLOWUP}.json"))).expect("state written"),
    )
    .expect("state json");
    let pending: Vec<&String> = state["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["kind"] == "ec2_subnet" && r["status"] == "pending_create")
        .map(|(a, _)| a)
        .collect();
    assert_eq!(pending.len(), 1, "the half-made subnet is kept as an interrupted create: {pending:?}");
    let inv = inventory::owned(REGION, "platform", FOLLOWUP, &kinds, None).await;
    let made = inv.found.get("ec2_subnet").map(|v| v.iter().filter(|a| a == &pending[0]).count());
    assert_eq!(made, Some(1), "AWS holds it once");

    let second = run(support::moto_endpoint(), &["apply", "--auto-approve", "--progress", "plain"]);
    assert_eq!(second.status.code(), Some(0), "the next apply finishes it:\n{}", text(&second));
    let inv = inventory::owned(REGION, "platform", FOLLOWUP, &kinds, None).await;
    let (differ, _) = inventory::compare(&inv, &planned);
    assert!(differ.is_empty(), "exactly the plan, nothing twice:\n{}", differ.join("\n"));
    let plan = run(support::moto_endpoint(), &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let destroy = run(support::moto_endpoint(), &["destroy", "--auto-approve", "--progress", "plain"]);
    assert_eq!(destroy.status.code(), Some(0), "{}", text(&destroy));
    let inv = inventory::owned(REGION, "platform", FOLLOWUP, &kinds, None).await;
    assert!(inv.is_empty(), "left behind: {inv:#?}");
}
