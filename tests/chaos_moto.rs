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
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use aws_sdk_ec2::types::{Filter, NatGatewayState, Tag};
use fault_proxy::{FaultConfig, FaultProxy};

const REGION: &str = "sa-east-1";
const ENV: &str = "chaos";
const TAG_ADDRESS: &str = "kprov:address";

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
    let stack = kprov::config::load(&dir.join("plans"), ENV, &kprov::aws::offline_registry()).expect("plans load");
    let mut by_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &stack.resources {
        by_kind.entry(d.address.kind.clone()).or_default().push(d.address.to_string());
    }
    for v in by_kind.values_mut() {
        v.sort();
    }
    by_kind
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

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

/// What exists in moto, kind → addresses (duplicates kept, sorted), read directly.
type Found = BTreeMap<String, Vec<String>>;

fn push(found: &mut Found, kind: &str, addr: Option<&str>) {
    found.entry(kind.to_string()).or_default().push(addr.unwrap_or("<no kprov:address tag>").to_string());
}

/// EC2: every resource with the chaos env's ownership tags, by its address tag; plus the
/// untaggable routes and associations by natural key (route table + destination, subnet).
async fn ec2_owned(found: &mut Found, natural: &mut BTreeMap<String, usize>) {
    let ec2 = support::ec2(REGION).await;
    let ours = || {
        vec![
            Filter::builder().name("tag:kprov:stack").values("platform").build(),
            Filter::builder().name("tag:kprov:env").values(ENV).build(),
        ]
    };
    for v in ec2.describe_vpcs().set_filters(Some(ours())).send().await.expect("vpcs").vpcs() {
        push(found, "ec2_vpc", tag(v.tags(), TAG_ADDRESS));
    }
    for s in ec2.describe_subnets().set_filters(Some(ours())).send().await.expect("subnets").subnets() {
        push(found, "ec2_subnet", tag(s.tags(), TAG_ADDRESS));
    }
    let igws = ec2.describe_internet_gateways().set_filters(Some(ours())).send().await.expect("igws");
    for g in igws.internet_gateways() {
        push(found, "ec2_internet_gateway", tag(g.tags(), TAG_ADDRESS));
    }
    for a in ec2.describe_addresses().set_filters(Some(ours())).send().await.expect("eips").addresses() {
        push(found, "ec2_elastic_ip", tag(a.tags(), TAG_ADDRESS));
    }
    for n in ec2.describe_nat_gateways().set_filter(Some(ours())).send().await.expect("nats").nat_gateways() {
        if !matches!(n.state(), Some(NatGatewayState::Deleted | NatGatewayState::Deleting)) {
            push(found, "ec2_nat_gateway", tag(n.tags(), TAG_ADDRESS));
        }
    }
    for f in ec2.describe_flow_logs().set_filter(Some(ours())).send().await.expect("flow logs").flow_logs() {
        push(found, "ec2_flow_log", tag(f.tags(), TAG_ADDRESS));
    }
    let tables = ec2.describe_route_tables().set_filters(Some(ours())).send().await.expect("route tables");
    for t in tables.route_tables() {
        push(found, "ec2_route_table", tag(t.tags(), TAG_ADDRESS));
        for a in t.associations() {
            if let Some(s) = a.subnet_id() {
                *natural.entry(format!("ec2_route_table_association {s}")).or_default() += 1;
            }
        }
        for r in t.routes() {
            if r.gateway_id() == Some("local") {
                continue;
            }
            let dest = r.destination_cidr_block().unwrap_or("?");
            *natural.entry(format!("ec2_route {}_{dest}", t.route_table_id().unwrap_or("?"))).or_default() += 1;
        }
    }
    let groups = ec2.describe_security_groups().set_filters(Some(ours())).send().await.expect("groups");
    let ids: Vec<String> = groups.security_groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect();
    for g in groups.security_groups() {
        push(found, "ec2_security_group", tag(g.tags(), TAG_ADDRESS));
    }
    if !ids.is_empty() {
        let rules = ec2
            .describe_security_group_rules()
            .filters(Filter::builder().name("group-id").set_values(Some(ids)).build())
            .send()
            .await
            .expect("rules");
        for r in rules.security_group_rules() {
            // The default egress rule AWS adds to each group carries no kprov tags.
            if tag(r.tags(), "kprov:env") == Some(ENV) {
                push(found, "ec2_security_group_rule", tag(r.tags(), TAG_ADDRESS));
            }
        }
    }
}

/// The other kinds AWS would happily create twice: KMS keys, load balancers and target groups,
/// certificates (by ownership tag), hosted zones (by name), records (by name and type).
async fn others_owned(sdk: &aws_config::SdkConfig, found: &mut Found, natural: &mut BTreeMap<String, usize>) {
    let kms = aws_sdk_kms::Client::new(sdk);
    for k in kms.list_keys().send().await.expect("keys").keys() {
        let Some(id) = k.key_id() else { continue };
        let meta = kms.describe_key().key_id(id).send().await.expect("key");
        if meta.key_metadata().and_then(|m| m.key_state()).is_some_and(|s| s.as_str() != "Enabled") {
            continue; // pending deletion: gone as far as kprov is concerned
        }
        let tags = kms.list_resource_tags().key_id(id).send().await.expect("key tags");
        let get = |key: &str| tags.tags().iter().find(|t| t.tag_key() == key).map(|t| t.tag_value().to_string());
        if get("kprov:env").as_deref() == Some(ENV) {
            push(found, "kms_key", get(TAG_ADDRESS).as_deref());
        }
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let lbs = elb.describe_load_balancers().send().await.expect("lbs");
    let tgs = elb.describe_target_groups().send().await.expect("tgs");
    let arns: Vec<(&str, String)> = lbs
        .load_balancers()
        .iter()
        .filter_map(|l| Some(("elbv2_load_balancer", l.load_balancer_arn()?.to_string())))
        .chain(
            tgs.target_groups().iter().filter_map(|t| Some(("elbv2_target_group", t.target_group_arn()?.to_string()))),
        )
        .collect();
    for (kind, arn) in arns {
        let d = elb.describe_tags().resource_arns(&arn).send().await.expect("elb tags");
        let tags = d.tag_descriptions().first().map(|t| t.tags()).unwrap_or_default();
        let get = |key: &str| tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value());
        if get("kprov:env") == Some(ENV) {
            push(found, kind, get(TAG_ADDRESS));
        }
    }
    let acm = aws_sdk_acm::Client::new(sdk);
    for c in acm.list_certificates().send().await.expect("certs").certificate_summary_list() {
        let Some(arn) = c.certificate_arn() else { continue };
        let tags = acm.list_tags_for_certificate().certificate_arn(arn).send().await.expect("cert tags");
        let get = |key: &str| tags.tags().iter().find(|t| t.key() == key).and_then(|t| t.value());
        if get("kprov:env") == Some(ENV) {
            push(found, "acm_certificate", get(TAG_ADDRESS));
        }
    }
    let r53 = aws_sdk_route53::Client::new(sdk);
    let zone_name = format!("{ENV}.platform.example.com.");
    let zones = r53.list_hosted_zones().send().await.expect("zones");
    for z in zones.hosted_zones().iter().filter(|z| z.name() == zone_name) {
        *natural.entry(format!("route53_zone {zone_name}")).or_default() += 1;
        let records = r53.list_resource_record_sets().hosted_zone_id(z.id()).send().await.expect("records");
        for r in records.resource_record_sets() {
            // NS and SOA come with the zone; `_…` CNAMEs are the certificate's DNS validation.
            if !matches!(r.r#type().as_str(), "NS" | "SOA") && !r.name().starts_with('_') {
                *natural.entry(format!("route53_record {} {}", r.name(), r.r#type().as_str())).or_default() += 1;
            }
        }
    }
}

/// Kinds counted by the raw SDK listings above.
const RAW_TAGGED: &[&str] = &[
    "ec2_vpc",
    "ec2_subnet",
    "ec2_internet_gateway",
    "ec2_elastic_ip",
    "ec2_nat_gateway",
    "ec2_flow_log",
    "ec2_route_table",
    "ec2_security_group",
    "ec2_security_group_rule",
    "kms_key",
    "elbv2_load_balancer",
    "elbv2_target_group",
    "acm_certificate",
];

/// Everything owned, read directly from moto: raw listings for [`RAW_TAGGED`], each other
/// kind's `find_owned` (named resources: IAM, EKS, logs, ECR, listeners — AWS refuses a second
/// one with the same name, so a count by address is all there is to check).
async fn owned(kinds: &[String]) -> (Found, BTreeMap<String, usize>) {
    let sdk = support::sdk_config(REGION).await;
    let mut found = Found::new();
    let mut natural = BTreeMap::new();
    ec2_owned(&mut found, &mut natural).await;
    others_owned(&sdk, &mut found, &mut natural).await;
    let registry = kprov::aws::registry(&sdk);
    let cx = kprov::resource::Cx::new(kprov::resource::Owner { stack: "platform".into(), env: ENV.into() });
    for kind in kinds.iter().filter(|k| !RAW_TAGGED.contains(&k.as_str())) {
        let k = registry.get(kind).unwrap_or_else(|| panic!("kind {kind}"));
        for o in k.find_owned(&cx).await.unwrap_or_else(|e| panic!("{kind} find_owned: {e}")) {
            if let Some(a) = &o.owner_address {
                push(&mut found, kind, Some(a));
            }
        }
    }
    for v in found.values_mut() {
        v.sort();
    }
    (found, natural)
}

/// Kinds whose resources carry no ownership tag: checked by natural key instead.
fn untagged(kind: &str) -> bool {
    matches!(
        kind,
        "ec2_route" | "ec2_route_table_association" | "route53_record" | "kms_alias" | "eks_access_policy_association"
    )
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
    let (found, natural) = owned(&kinds).await;
    let expected: Found = planned.iter().filter(|(k, _)| !untagged(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    let differ: Vec<String> = expected
        .keys()
        .chain(found.keys())
        .filter(|k| found.get(*k) != expected.get(*k))
        .map(|k| format!("{k}: found {:?}, planned {:?}", found.get(k), expected.get(k)))
        .collect();
    assert!(differ.is_empty(), "owned resources (by kprov:address tag) differ from the plan:\n{}", differ.join("\n"));
    let count = |prefix: &str| natural.keys().filter(|k| k.starts_with(prefix)).count();
    assert!(natural.values().all(|n| *n == 1), "a natural key is taken more than once: {natural:#?}");
    for kind in ["ec2_route_table_association", "ec2_route", "route53_zone", "route53_record"] {
        let want = planned.get(kind).map(Vec::len).unwrap_or(0);
        assert_eq!(count(&format!("{kind} ")), want, "{kind}: {natural:#?}");
    }
    let checked = found.values().map(Vec::len).sum::<usize>() + natural.len();
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
    let (found, natural) = owned(&kinds).await;
    assert!(found.is_empty() && natural.is_empty(), "left behind after destroy: {found:#?} {natural:#?}");
    let total = proxy.counts();
    println!("proxy totals (apply + plan + destroy): {total:?}");
    assert_eq!(total["proxy_errors"], 0, "the proxy itself failed on some requests");
    assert!(total["throttled"] > 0 && total["error_after"] + total["drop_after"] > 0, "faults were injected");
}
