//! What AWS (moto) holds for one stack and environment in one region, read directly with the
//! SDK — never through kprov's state — so a test can tell duplicates, orphans and leftovers.
//!
//! - Kinds AWS would happily create twice (VPCs, subnets, gateways, addresses, route tables,
//!   groups and rules, flow logs, KMS keys, load balancers, target groups, certificates) are
//!   listed raw and counted by their `kprov:address` ownership tag.
//! - Named kinds (IAM, EKS, logs, ECR, listeners, …: AWS refuses a second one of a name) are
//!   found with each kind's own `find_owned`.
//! - Untaggable kinds are counted by natural key: route-table associations by subnet, routes by
//!   table + destination, the hosted zone by name, records by name + type; a key seen twice is a
//!   duplicate.
#![allow(dead_code)]

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, NatGatewayState, Tag};

use crate::support::sdk_config;

const TAG_ADDRESS: &str = "kprov:address";

/// kind → addresses (duplicates kept, sorted) of the resources carrying the stack's tags.
pub type Found = BTreeMap<String, Vec<String>>;

/// What one region holds for a stack and environment.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Inventory {
    /// By ownership tag (raw listings and named kinds' `find_owned`).
    pub found: Found,
    /// Ids of the tagged resources, by kind.
    pub ids: BTreeMap<String, Vec<String>>,
    /// Natural key (`"<kind> <key>"`) → how many resources have it.
    pub natural: BTreeMap<String, usize>,
}

impl Inventory {
    pub fn is_empty(&self) -> bool {
        self.found.is_empty() && self.natural.is_empty()
    }
    /// How many natural keys of `kind` exist.
    pub fn natural_count(&self, kind: &str) -> usize {
        let prefix = format!("{kind} ");
        self.natural.keys().filter(|k| k.starts_with(&prefix)).count()
    }
    fn push(&mut self, kind: &str, addr: Option<&str>, id: Option<&str>) {
        self.found.entry(kind.to_string()).or_default().push(addr.unwrap_or("<no kprov:address tag>").to_string());
        self.ids.entry(kind.to_string()).or_default().push(id.unwrap_or_default().to_string());
    }
    fn key(&mut self, key: String) {
        *self.natural.entry(key).or_default() += 1;
    }
}

/// Kinds whose resources carry no ownership tag: checked by natural key (or not at all:
/// aliases and access-policy associations are unique by name in AWS).
pub fn untagged(kind: &str) -> bool {
    matches!(
        kind,
        "ec2_route" | "ec2_route_table_association" | "route53_record" | "kms_alias" | "eks_access_policy_association"
    )
}

/// The natural-key kinds [`Inventory::natural`] counts.
pub const NATURAL_KINDS: &[&str] = &["ec2_route_table_association", "ec2_route", "route53_zone", "route53_record"];

/// Kinds counted by the raw SDK listings.
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

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

async fn ec2_owned(sdk: &aws_config::SdkConfig, stack: &str, env: &str, inv: &mut Inventory) {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let ours = || {
        vec![
            Filter::builder().name("tag:kprov:stack").values(stack).build(),
            Filter::builder().name("tag:kprov:env").values(env).build(),
        ]
    };
    for v in ec2.describe_vpcs().set_filters(Some(ours())).send().await.expect("vpcs").vpcs() {
        inv.push("ec2_vpc", tag(v.tags(), TAG_ADDRESS), v.vpc_id());
    }
    for s in ec2.describe_subnets().set_filters(Some(ours())).send().await.expect("subnets").subnets() {
        inv.push("ec2_subnet", tag(s.tags(), TAG_ADDRESS), s.subnet_id());
    }
    let igws = ec2.describe_internet_gateways().set_filters(Some(ours())).send().await.expect("igws");
    for g in igws.internet_gateways() {
        inv.push("ec2_internet_gateway", tag(g.tags(), TAG_ADDRESS), g.internet_gateway_id());
    }
    for a in ec2.describe_addresses().set_filters(Some(ours())).send().await.expect("eips").addresses() {
        inv.push("ec2_elastic_ip", tag(a.tags(), TAG_ADDRESS), a.allocation_id());
    }
    for n in ec2.describe_nat_gateways().set_filter(Some(ours())).send().await.expect("nats").nat_gateways() {
        if !matches!(n.state(), Some(NatGatewayState::Deleted | NatGatewayState::Deleting)) {
            inv.push("ec2_nat_gateway", tag(n.tags(), TAG_ADDRESS), n.nat_gateway_id());
        }
    }
    for f in ec2.describe_flow_logs().set_filter(Some(ours())).send().await.expect("flow logs").flow_logs() {
        inv.push("ec2_flow_log", tag(f.tags(), TAG_ADDRESS), f.flow_log_id());
    }
    let tables = ec2.describe_route_tables().set_filters(Some(ours())).send().await.expect("route tables");
    for t in tables.route_tables() {
        inv.push("ec2_route_table", tag(t.tags(), TAG_ADDRESS), t.route_table_id());
        for a in t.associations() {
            if let Some(s) = a.subnet_id() {
                inv.key(format!("ec2_route_table_association {s}"));
            }
        }
        for r in t.routes() {
            if r.gateway_id() == Some("local") {
                continue;
            }
            let dest = r.destination_cidr_block().unwrap_or("?");
            inv.key(format!("ec2_route {}_{dest}", t.route_table_id().unwrap_or("?")));
        }
    }
    let groups = ec2.describe_security_groups().set_filters(Some(ours())).send().await.expect("groups");
    let ids: Vec<String> = groups.security_groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect();
    for g in groups.security_groups() {
        inv.push("ec2_security_group", tag(g.tags(), TAG_ADDRESS), g.group_id());
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
            if tag(r.tags(), "kprov:env") == Some(env) {
                inv.push("ec2_security_group_rule", tag(r.tags(), TAG_ADDRESS), r.security_group_rule_id());
            }
        }
    }
}

/// KMS keys, load balancers and target groups, certificates (by ownership tag), the hosted
/// zone `zone_name` (by name) and its records (by name and type).
async fn others_owned(sdk: &aws_config::SdkConfig, env: &str, zone_name: Option<&str>, inv: &mut Inventory) {
    let sdk = sdk.clone();
    let kms = aws_sdk_kms::Client::new(&sdk);
    for k in kms.list_keys().send().await.expect("keys").keys() {
        let Some(id) = k.key_id() else { continue };
        let meta = kms.describe_key().key_id(id).send().await.expect("key");
        if meta.key_metadata().and_then(|m| m.key_state()).is_some_and(|s| s.as_str() != "Enabled") {
            continue; // pending deletion: gone as far as kprov is concerned
        }
        let tags = kms.list_resource_tags().key_id(id).send().await.expect("key tags");
        let get = |key: &str| tags.tags().iter().find(|t| t.tag_key() == key).map(|t| t.tag_value().to_string());
        if get("kprov:env").as_deref() == Some(env) {
            inv.push("kms_key", get(TAG_ADDRESS).as_deref(), Some(id));
        }
    }
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
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
        if get("kprov:env") == Some(env) {
            inv.push(kind, get(TAG_ADDRESS), Some(&arn));
        }
    }
    let acm = aws_sdk_acm::Client::new(&sdk);
    for c in acm.list_certificates().send().await.expect("certs").certificate_summary_list() {
        let Some(arn) = c.certificate_arn() else { continue };
        let tags = acm.list_tags_for_certificate().certificate_arn(arn).send().await.expect("cert tags");
        let get = |key: &str| tags.tags().iter().find(|t| t.key() == key).and_then(|t| t.value());
        if get("kprov:env") == Some(env) {
            inv.push("acm_certificate", get(TAG_ADDRESS), Some(arn));
        }
    }
    let Some(zone_name) = zone_name else { return };
    let r53 = aws_sdk_route53::Client::new(&sdk);
    let zones = r53.list_hosted_zones().send().await.expect("zones");
    for z in zones.hosted_zones().iter().filter(|z| z.name() == zone_name) {
        inv.key(format!("route53_zone {zone_name}"));
        let records = r53.list_resource_record_sets().hosted_zone_id(z.id()).send().await.expect("records");
        for r in records.resource_record_sets() {
            // NS and SOA come with the zone; `_…` CNAMEs are the certificate's DNS validation.
            if !matches!(r.r#type().as_str(), "NS" | "SOA") && !r.name().starts_with('_') {
                inv.key(format!("route53_record {} {}", r.name(), r.r#type().as_str()));
            }
        }
    }
}

/// What the plans in `dir/plans` declare for `env`: kind → addresses, sorted (the `planned`
/// argument of [`compare`]).
pub fn planned(dir: &std::path::Path, env: &str) -> BTreeMap<String, Vec<String>> {
    let stack = kprov::config::load(&dir.join("plans"), env, &kprov::aws::offline_registry()).expect("plans load");
    let mut by_kind: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &stack.resources {
        by_kind.entry(d.address.kind.clone()).or_default().push(d.address.to_string());
    }
    for v in by_kind.values_mut() {
        v.sort();
    }
    by_kind
}

/// Everything of `stack`/`env` in `region`, for the planned `kinds`. `zone_name` (with the
/// trailing dot) is the hosted zone the plans declare, if any: zones are global in moto, so a
/// test names its own.
pub async fn owned(region: &str, stack: &str, env: &str, kinds: &[String], zone_name: Option<&str>) -> Inventory {
    owned_with(&sdk_config(region).await, stack, env, kinds, zone_name).await
}

/// [`owned`], read with `sdk` (another moto account's credentials, say).
pub async fn owned_with(
    sdk: &aws_config::SdkConfig,
    stack: &str,
    env: &str,
    kinds: &[String],
    zone_name: Option<&str>,
) -> Inventory {
    let mut inv = Inventory::default();
    ec2_owned(sdk, stack, env, &mut inv).await;
    others_owned(sdk, env, zone_name, &mut inv).await;
    let registry = kprov::aws::registry(sdk);
    let cx = kprov::resource::Cx::new(kprov::resource::Owner { stack: stack.into(), env: env.into() });
    for kind in kinds.iter().filter(|k| !RAW_TAGGED.contains(&k.as_str())) {
        let k = registry.get(kind).unwrap_or_else(|| panic!("kind {kind}"));
        for o in k.find_owned(&cx).await.unwrap_or_else(|e| panic!("{kind} find_owned: {e}")) {
            if let Some(a) = &o.owner_address {
                inv.push(kind, Some(a), Some(&o.id));
            }
        }
    }
    for v in inv.found.values_mut() {
        v.sort();
    }
    inv
}

/// Differences between `inv` and the plan (`planned`: kind → addresses; empty after a destroy):
/// duplicates, orphans and missing resources, by ownership tag and by natural key. Empty when
/// AWS holds exactly the plan. Counts are (duplicates, orphans, missing).
pub fn compare(inv: &Inventory, planned: &BTreeMap<String, Vec<String>>) -> (Vec<String>, (usize, usize, usize)) {
    let (mut dup, mut orphan, mut missing) = (0, 0, 0);
    let mut details = Vec::new();
    let empty = Vec::new();
    let kinds: std::collections::BTreeSet<&String> =
        inv.found.keys().chain(planned.keys()).filter(|k| !untagged(k)).collect();
    for kind in kinds {
        let (have, want) = (inv.found.get(kind).unwrap_or(&empty), planned.get(kind).unwrap_or(&empty));
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for a in have {
            *counts.entry(a.as_str()).or_default() += 1;
        }
        for (a, n) in &counts {
            if !want.iter().any(|e| e == a) {
                orphan += n;
                details.push(format!("orphan {kind} {a} ×{n}"));
            } else if *n > 1 {
                dup += n - 1;
                details.push(format!("duplicate {a} ×{n}"));
            }
        }
        for e in want.iter().filter(|e| !counts.contains_key(e.as_str())) {
            missing += 1;
            details.push(format!("missing {e}"));
        }
    }
    for (key, n) in inv.natural.iter().filter(|(_, n)| **n > 1) {
        dup += n - 1;
        details.push(format!("duplicate {key} ×{n}"));
    }
    for kind in NATURAL_KINDS {
        let (have, want) = (inv.natural_count(kind), planned.get(*kind).map(Vec::len).unwrap_or(0));
        if have != want {
            details.push(format!("{kind}: {have} found by natural key, {want} planned"));
        }
        orphan += have.saturating_sub(want);
        missing += want.saturating_sub(have);
    }
    (details, (dup, orphan, missing))
}
