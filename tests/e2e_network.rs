//! End to end against moto: apply the dev network plan with the kprov binary, check AWS through
//! the SDK (not kprov's state), plan again (no changes), change one overlay value (exactly that
//! change is planned and applied), destroy (nothing carrying the stack's tags remains).

mod support;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::Filter;
use predicates::str::contains;

const REGION: &str = "us-east-1"; // the dev overlay's region; no other test uses it

fn f(name: &str, v: &str) -> Filter {
    Filter::builder().name(name).values(v).build()
}

fn ours() -> Vec<Filter> {
    vec![f("tag:kprov:stack", "platform"), f("tag:kprov:env", "dev")]
}

fn tag<'a>(tags: &'a [aws_sdk_ec2::types::Tag], key: &str) -> Option<&'a str> {
    tags.iter().find(|t| t.key() == Some(key)).and_then(|t| t.value())
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_network_apply_verify_change_and_destroy() {
    let dir = support::scratch_plans();
    let root = dir.path();
    let ec2 = support::ec2(REGION).await;

    // A fresh stack: everything is to be created.
    support::kprov(root)
        .args(["plan", "--env", "dev", "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(contains("+ ec2_vpc.main will be created"))
        .stdout(contains("(known after apply)"))
        // Cost: one NAT gateway ($0.045/h) and its public IPv4 address ($0.005/h), 730 h.
        .stdout(contains("Total: $0.00 -> $36.50 per month (+$36.50)"));

    // No terminal, no --auto-approve: refused, nothing created.
    support::kprov(root).args(["apply", "--env", "dev"]).assert().code(1).stderr(contains("--auto-approve"));
    let vpcs = ec2.describe_vpcs().set_filters(Some(ours())).send().await.unwrap();
    assert!(vpcs.vpcs().is_empty(), "a refused apply created nothing");

    support::kprov(root)
        .args(["apply", "--env", "dev", "--auto-approve", "--progress", "plain"])
        .assert()
        .success()
        .stderr(contains("apply complete"));

    // ---- independent checks through the SDK ----
    let vpcs = ec2.describe_vpcs().set_filters(Some(ours())).send().await.unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "exactly one VPC carries the stack's tags");
    let vpc = &vpcs.vpcs()[0];
    let vpc_id = vpc.vpc_id().unwrap().to_string();
    assert_eq!(vpc.cidr_block(), Some("10.0.0.0/16"));
    assert_eq!(tag(vpc.tags(), "kprov:address"), Some("ec2_vpc.main"));
    assert_eq!(tag(vpc.tags(), "Name"), Some("platform-dev-vpc"));
    assert_eq!(tag(vpc.tags(), "ManagedBy"), Some("kprov"));
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    assert_eq!(hostnames.enable_dns_hostnames().and_then(|a| a.value()), Some(true));

    let subnets = ec2.describe_subnets().filters(f("vpc-id", &vpc_id)).send().await.unwrap();
    let got: BTreeSet<(String, String, String)> = subnets
        .subnets()
        .iter()
        .map(|s| {
            (
                tag(s.tags(), "kprov:address").unwrap_or("?").to_string(),
                s.cidr_block().unwrap_or("").to_string(),
                s.availability_zone().unwrap_or("").to_string(),
            )
        })
        .collect();
    let mut want = BTreeSet::new();
    for (tier, base) in [("public", 1), ("private", 11), ("database", 21)] {
        for (i, az) in ["us-east-1a", "us-east-1b", "us-east-1c"].iter().enumerate() {
            want.insert((format!("ec2_subnet.{tier}[\"{az}\"]"), format!("10.0.{}.0/24", base + i), az.to_string()));
        }
    }
    assert_eq!(got, want, "nine subnets with the right CIDRs, AZs and ownership tags");
    let subnet_id = |tier: &str, az: &str| {
        subnets
            .subnets()
            .iter()
            .find(|s| tag(s.tags(), "kprov:address") == Some(&format!("ec2_subnet.{tier}[\"{az}\"]")))
            .and_then(|s| s.subnet_id())
            .unwrap()
            .to_string()
    };
    for s in subnets.subnets() {
        let public = tag(s.tags(), "kprov:address").unwrap().starts_with("ec2_subnet.public");
        assert_eq!(s.map_public_ip_on_launch(), Some(public), "{:?}", s.subnet_id());
    }

    let igws = ec2.describe_internet_gateways().set_filters(Some(ours())).send().await.unwrap();
    assert_eq!(igws.internet_gateways().len(), 1);
    let igw = &igws.internet_gateways()[0];
    let igw_id = igw.internet_gateway_id().unwrap().to_string();
    assert_eq!(igw.attachments().first().and_then(|a| a.vpc_id()), Some(vpc_id.as_str()));

    // dev: a single NAT gateway, in the first AZ's public subnet, with its elastic IP.
    let nats = ec2.describe_nat_gateways().filter(f("vpc-id", &vpc_id)).send().await.unwrap();
    let live: Vec<_> = nats
        .nat_gateways()
        .iter()
        .filter(|n| n.state() != Some(&aws_sdk_ec2::types::NatGatewayState::Deleted))
        .collect();
    assert_eq!(live.len(), 1, "dev has one NAT gateway");
    let nat = live[0];
    let nat_id = nat.nat_gateway_id().unwrap().to_string();
    assert_eq!(nat.subnet_id(), Some(subnet_id("public", "us-east-1a").as_str()));
    assert_eq!(nat.state(), Some(&aws_sdk_ec2::types::NatGatewayState::Available));
    let eips = ec2.describe_addresses().set_filters(Some(ours())).send().await.unwrap();
    assert_eq!(eips.addresses().len(), 1);
    assert_eq!(
        nat.nat_gateway_addresses().first().and_then(|a| a.allocation_id()),
        eips.addresses()[0].allocation_id()
    );

    // Routes: public → IGW, every private table → the NAT, database tables: no default route.
    let rts = ec2.describe_route_tables().filters(f("vpc-id", &vpc_id)).send().await.unwrap();
    let mut default_route: BTreeMap<String, String> = BTreeMap::new();
    let mut associated: BTreeMap<String, String> = BTreeMap::new();
    for rt in rts.route_tables() {
        let Some(addr) = tag(rt.tags(), "kprov:address") else { continue }; // the VPC's main table
        for r in rt.routes() {
            if r.destination_cidr_block() == Some("0.0.0.0/0") {
                let target = r.gateway_id().or(r.nat_gateway_id()).unwrap_or("").to_string();
                default_route.insert(addr.to_string(), target);
            }
        }
        for a in rt.associations() {
            if let Some(s) = a.subnet_id() {
                assert!(associated.insert(s.to_string(), addr.to_string()).is_none(), "one association per subnet");
            }
        }
    }
    assert_eq!(default_route.get("ec2_route_table.public"), Some(&igw_id));
    for az in ["us-east-1a", "us-east-1b", "us-east-1c"] {
        assert_eq!(default_route.get(&format!("ec2_route_table.private[\"{az}\"]")), Some(&nat_id), "{az}");
        assert_eq!(associated[&subnet_id("public", az)], "ec2_route_table.public");
        assert_eq!(associated[&subnet_id("private", az)], format!("ec2_route_table.private[\"{az}\"]"));
        assert!(associated[&subnet_id("database", az)].starts_with("ec2_route_table.database"));
    }
    assert!(default_route.keys().all(|k| !k.starts_with("ec2_route_table.database")), "{default_route:?}");
    assert_eq!(associated.len(), 9);

    // Security groups: the load balancer admits 80 and 443 only.
    let sgs = ec2.describe_security_groups().set_filters(Some(ours())).send().await.unwrap();
    let names: BTreeSet<&str> = sgs.security_groups().iter().filter_map(|g| g.group_name()).collect();
    assert_eq!(names, BTreeSet::from(["platform-dev-eks-cluster", "platform-dev-eks-nodes", "platform-dev-lb"]));
    let lb = sgs.security_groups().iter().find(|g| g.group_name() == Some("platform-dev-lb")).unwrap();
    let mut ports: Vec<(Option<i32>, Option<i32>)> =
        lb.ip_permissions().iter().map(|p| (p.from_port(), p.to_port())).collect();
    ports.sort();
    assert_eq!(ports, vec![(Some(80), Some(80)), (Some(443), Some(443))]);

    // ---- a second plan has nothing to do ----
    support::kprov(root)
        .args(["plan", "--env", "dev", "--detailed-exitcode"])
        .assert()
        .code(0)
        .stdout(contains("No changes"));

    // ---- change one value in the overlay: exactly that change ----
    let overlay = root.join("plans/env/dev.toml");
    let mut text = std::fs::read_to_string(&overlay).unwrap();
    text.push_str("public_ip_on_launch = false\n");
    std::fs::write(&overlay, text).unwrap();
    let out = support::kprov(root).args(["plan", "--env", "dev", "--detailed-exitcode"]).assert().code(2);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("Plan: 0 to create, 3 to update, 0 to replace, 0 to delete"), "{stdout}");
    assert_eq!(stdout.matches(" ~ ec2_subnet.public[").count(), 3, "{stdout}");
    assert_eq!(stdout.matches("map_public_ip_on_launch = true -> false").count(), 3, "{stdout}");
    assert_eq!(stdout.lines().filter(|l| l.trim_start().starts_with(['+', '-', '~'])).count(), 3, "{stdout}");

    support::kprov(root).args(["apply", "--env", "dev", "--auto-approve", "--progress", "plain"]).assert().success();
    let subnets = ec2.describe_subnets().filters(f("vpc-id", &vpc_id)).send().await.unwrap();
    assert!(subnets.subnets().iter().all(|s| s.map_public_ip_on_launch() == Some(false)));
    support::kprov(root).args(["plan", "--env", "dev", "--detailed-exitcode"]).assert().code(0);

    // ---- destroy: nothing carrying the stack's tags remains ----
    support::kprov(root)
        .args(["destroy", "--env", "dev", "--auto-approve", "--progress", "plain"])
        .assert()
        .success()
        .stderr(contains("destroy complete"));
    assert!(ec2.describe_vpcs().set_filters(Some(ours())).send().await.unwrap().vpcs().is_empty());
    assert!(ec2.describe_subnets().set_filters(Some(ours())).send().await.unwrap().subnets().is_empty());
    assert!(ec2
        .describe_internet_gateways()
        .set_filters(Some(ours()))
        .send()
        .await
        .unwrap()
        .internet_gateways()
        .is_empty());
    assert!(ec2.describe_route_tables().set_filters(Some(ours())).send().await.unwrap().route_tables().is_empty());
    assert!(ec2
        .describe_security_groups()
        .set_filters(Some(ours()))
        .send()
        .await
        .unwrap()
        .security_groups()
        .is_empty());
    assert!(ec2.describe_addresses().set_filters(Some(ours())).send().await.unwrap().addresses().is_empty());
    let nats = ec2.describe_nat_gateways().set_filter(Some(ours())).send().await.unwrap();
    assert!(nats.nat_gateways().iter().all(|n| n.state() == Some(&aws_sdk_ec2::types::NatGatewayState::Deleted)));
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("state/platform/dev.json")).unwrap()).unwrap();
    assert_eq!(state["resources"], serde_json::json!({}));
}
