//! The reference plans in `plans/`: every environment loads, with the shape each promises.

use std::collections::BTreeSet;

use crate::config::testkit::reference_plans;
use crate::config::{environments, load, Stack, Tmpl};
use crate::resource::{Address, Registry, Value};

/// Every real kind's schema (the plans use them all); building the clients makes no call.
fn registry() -> Registry {
    crate::aws::registry(
        &aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build(),
    )
}

fn stack(env: &str) -> Stack {
    match load(&reference_plans(), env, &registry()) {
        Ok(s) => s,
        Err(e) => panic!("plans/ for {env}: {e}"),
    }
}

fn of_kind<'s>(s: &'s Stack, kind: &str, name: &str) -> Vec<&'s crate::config::ResourceDecl> {
    s.resources.iter().filter(|r| r.address.kind == kind && r.address.name == name).collect()
}

fn count(s: &Stack, kind: &str) -> usize {
    s.resources.iter().filter(|r| r.address.kind == kind).count()
}

fn addresses(s: &Stack) -> BTreeSet<Address> {
    s.resources.iter().map(|r| r.address.clone()).collect()
}

#[test]
fn environments_are_dev_prod_stage() {
    assert_eq!(environments(&reference_plans()), ["dev", "prod", "stage"]);
}

#[test]
fn dev_has_three_azs_and_one_nat() {
    let s = stack("dev");
    assert_eq!((s.name.as_str(), s.env.as_str(), s.region.as_str()), ("platform", "dev", "us-east-1"));
    assert_eq!(count(&s, "ec2_subnet"), 9);
    assert_eq!(count(&s, "ec2_nat_gateway"), 1);
    assert_eq!(count(&s, "ec2_elastic_ip"), 1);
    assert_eq!(of_kind(&s, "ec2_route", "private_nat").len(), 3);
    assert_eq!(count(&s, "ec2_route_table_association"), 9);
    assert_eq!(count(&s, "ec2_route_table"), 5);
}

#[test]
fn prod_has_a_nat_per_az() {
    let s = stack("prod");
    assert_eq!(count(&s, "ec2_subnet"), 9);
    assert_eq!(count(&s, "ec2_nat_gateway"), 3);
    // Each AZ's private route goes through the NAT gateway in the same AZ.
    for route in of_kind(&s, "ec2_route", "private_nat") {
        let Some(Tmpl::Ref { target, .. }) = route.attrs.get("nat_gateway_id") else { panic!("{}", route.address) };
        assert_eq!(target.key, route.address.key);
    }
}

#[test]
fn stage_has_two_azs() {
    let s = stack("stage");
    assert_eq!(count(&s, "ec2_subnet"), 6);
    assert_eq!(count(&s, "ec2_nat_gateway"), 1);
}

#[test]
fn every_reference_and_dependency_exists() {
    for env in ["dev", "stage", "prod"] {
        let s = stack(env);
        let all = addresses(&s);
        for r in &s.resources {
            for dep in r.dependencies() {
                assert!(all.contains(&dep), "{env}: {} depends on missing {dep}", r.address);
            }
        }
        // Every private route targets an existing NAT gateway instance.
        for route in of_kind(&s, "ec2_route", "private_nat") {
            let refs = route.attrs["nat_gateway_id"].refs();
            assert_eq!(refs.len(), 1);
            assert_eq!(refs[0].0.kind, "ec2_nat_gateway");
            assert!(all.contains(refs[0].0), "{env}: {} → {}", route.address, refs[0].0);
        }
    }
}

#[test]
fn everything_taggable_is_tagged_with_a_name_and_the_defaults() {
    let s = stack("dev");
    let schemas = registry();
    for r in &s.resources {
        if schemas.schema(&r.address.kind).and_then(|sc| sc.get("tags")).is_none() {
            continue;
        }
        let tags = match r.attrs.get("tags") {
            Some(Tmpl::Lit(Value::Object(m))) => m.clone(),
            other => panic!("{}: tags {other:?}", r.address),
        };
        assert_eq!(tags.get("Environment"), Some(&Value::from("dev")), "{}", r.address);
        assert_eq!(tags.get("ManagedBy"), Some(&Value::from("kprov")), "{}", r.address);
        assert_eq!(tags.get("Project"), Some(&Value::from("platform")), "{}", r.address);
        // The network's resources carry a Name, the console's label for EC2 resources.
        if r.address.kind.starts_with("ec2_") && r.address.kind != "ec2_flow_log" {
            let name = tags.get("Name").and_then(Value::as_str).unwrap_or_default();
            assert!(name.starts_with("platform-dev-"), "{}: Name {name:?}", r.address);
        }
    }
}

#[test]
fn load_balancer_accepts_only_http_and_https_from_the_allowed_cidrs() {
    let s = stack("dev");
    let lb = Tmpl::Ref { target: "ec2_security_group.lb".parse().unwrap(), attr: "id".into() };
    let ingress: Vec<_> = s
        .resources
        .iter()
        .filter(|r| r.address.kind == "ec2_security_group_rule")
        .filter(|r| r.attrs.get("security_group_id") == Some(&lb))
        .filter(|r| r.attrs.get("type") == Some(&Tmpl::Lit(Value::from("ingress"))))
        .collect();
    let ports: BTreeSet<i64> = ingress
        .iter()
        .filter_map(|r| match r.attrs.get("from_port") {
            Some(Tmpl::Lit(v)) => v.as_i64(),
            _ => None,
        })
        .collect();
    assert_eq!(ports, [80, 443].into());
    for r in ingress {
        assert_eq!(r.attrs["cidr_ipv4"], Tmpl::Lit(Value::from("0.0.0.0/0")), "{}", r.address);
    }
}

fn lit(s: &Stack, addr: &str, attr: &str) -> Value {
    let a: Address = addr.parse().unwrap();
    match s.resources.iter().find(|r| r.address == a).and_then(|r| r.attrs.get(attr)) {
        Some(Tmpl::Lit(v)) => v.clone(),
        other => panic!("{addr}.{attr}: {other:?}"),
    }
}

#[test]
fn environments_differ_in_sizes_nat_azs_and_deletion_protection_only() {
    let (dev, stage, prod) = (stack("dev"), stack("stage"), stack("prod"));
    // Same platform everywhere: the same addresses once AZ-keyed instances are set aside.
    let shape = |s: &Stack| -> BTreeSet<String> {
        s.resources.iter().filter(|r| !r.address.kind.starts_with("ec2_")).map(|r| r.address.to_string()).collect()
    };
    assert_eq!(shape(&dev), shape(&prod));
    assert_eq!(shape(&stage), shape(&prod));
    assert_eq!(count(&prod, "eks_nodegroup"), 4);
    assert_eq!(count(&prod, "eks_addon"), 7);
    // NAT and AZs.
    let nat_azs = |s: &Stack| (count(s, "ec2_nat_gateway"), count(s, "ec2_subnet") / 3);
    assert_eq!([nat_azs(&dev), nat_azs(&stage), nat_azs(&prod)], [(1, 3), (1, 2), (3, 3)]);
    // Node group bounds grow dev → stage → prod; instance types do not change.
    let max = |s: &Stack| lit(s, "eks_nodegroup.main[\"application\"]", "max_size");
    assert_eq!([max(&dev), max(&stage), max(&prod)], [Value::from(3), Value::from(6), Value::from(20)]);
    for s in [&dev, &stage] {
        assert_eq!(
            lit(s, "eks_nodegroup.main[\"application\"]", "instance_types"),
            lit(&prod, "eks_nodegroup.main[\"application\"]", "instance_types")
        );
    }
    // Deletion protection: only prod's load balancer refuses deletion and keeps its zone and images.
    let protected = |s: &Stack| {
        (
            lit(s, "elbv2_load_balancer.main", "deletion_protection"),
            lit(s, "ecr_repository.app", "force_delete"),
            lit(s, "route53_zone.public", "force_destroy"),
        )
    };
    assert_eq!(protected(&dev), (Value::from(false), Value::from(true), Value::from(true)));
    assert_eq!(protected(&stage), protected(&dev));
    assert_eq!(protected(&prod), (Value::from(true), Value::from(false), Value::from(false)));
}

#[test]
fn worker_nodes_and_the_control_plane_use_only_private_subnets() {
    let s = stack("prod");
    let private = Tmpl::List(
        of_kind(&s, "ec2_subnet", "private")
            .iter()
            .map(|r| Tmpl::Ref { target: r.address.clone(), attr: "id".into() })
            .collect(),
    );
    for r in s.resources.iter().filter(|r| r.address.kind == "eks_nodegroup" || r.address.kind == "eks_cluster") {
        assert_eq!(r.attrs["subnet_ids"], private, "{}", r.address);
    }
}

/// The autoscaler discovers its groups by `k8s.io/cluster-autoscaler/<cluster name>`: the
/// template in the tag key is evaluated (issue 11, item 4).
#[test]
fn autoscaler_tag_keys_carry_the_cluster_name() {
    for env in ["dev", "stage", "prod"] {
        let s = stack(env);
        let groups = of_kind(&s, "eks_nodegroup", "main");
        assert!(!groups.is_empty());
        for g in groups {
            let Some(Tmpl::Lit(Value::Object(tags))) = g.attrs.get("tags") else {
                panic!("{}: tags are not a literal table: {:?}", g.address, g.attrs.get("tags"))
            };
            let key = format!("k8s.io/cluster-autoscaler/platform-{env}");
            assert_eq!(tags.get(&key).and_then(Value::as_str), Some("owned"), "{}: {tags:?}", g.address);
            assert!(tags.keys().all(|k| !k.contains("${")), "{}: {tags:?}", g.address);
        }
    }
}

/// Constraint violations of the real schemas: every one of a run reported, each at the value
/// (the overlay's value for an attribute that is one variable), in file order.
#[test]
fn constraint_violations_are_all_reported_at_their_values() {
    let base = "[stack]\nname = \"t\"\n\n[variables]\nregion = \"us-east-1\"\nvpc_cidr = \"10.0.0.0/16\"\n";
    let net = "[resource.ec2_vpc.main]\ncidr_block = \"${var.vpc_cidr}\"\n\n\
               [resource.ec2_subnet.a]\nvpc_id = \"${ec2_vpc.main.id}\"\ncidr_block = \"10.0.1.0/24\"\n\
               availability_zone = \"us-east-9z\"\n\n\
               [resource.ec2_security_group_rule.r]\nsecurity_group_id = \"sg-1\"\ntype = \"inbound\"\n\
               protocol = \"tcp\"\nfrom_port = 443\nto_port = 80\ncidr_ipv4 = \"0.0.0.0/0\"\n";
    let overlay = "[variables]\nvpc_cidr = \"10.42.0.0/33\"\n";
    let files = [("plans/a.toml".into(), base.to_string()), ("plans/net.toml".into(), net.to_string())];
    let e = crate::config::load_texts(&files, ("plans/env/dev.toml".into(), overlay.into()), "dev", &registry())
        .expect_err("refused");
    let lines: Vec<String> = e.errors().iter().map(|e| e.to_string()).collect();
    let starts: Vec<&str> = lines.iter().map(|l| l.split(": ").next().unwrap_or("")).collect();
    assert_eq!(
        starts,
        ["plans/env/dev.toml:2:12", "plans/net.toml:7:21", "plans/net.toml:11:8", "plans/net.toml:14:11"],
        "{e}"
    );
    assert!(
        lines[0].contains("ec2_vpc.main: `cidr_block`: \"10.42.0.0/33\" is not an IPv4 CIDR block"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("the value of var.vpc_cidr, used by `cidr_block` at plans/net.toml:2:14"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("not an availability zone of the stack's region us-east-1"), "{}", lines[1]);
    assert!(lines[2].contains("`type`: \"inbound\" is not one of `ingress`, `egress`"), "{}", lines[2]);
    assert!(lines[3].contains("`to_port` 80 is below from_port 443"), "{}", lines[3]);
    // The whole error: one line per problem, each starting with its location.
    assert_eq!(e.to_string().lines().count(), 4);
}
