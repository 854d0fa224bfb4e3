//! Bad input through the real binary: located errors, exit code 1, and no AWS call (the
//! endpoint points at a closed port, so any call would fail differently and slowly).

mod support;

use std::path::Path;

use predicates::prelude::*;
use predicates::str::contains;

fn kprov_offline(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("kprov").unwrap();
    c.current_dir(dir)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    c
}

fn append(dir: &Path, file: &str, text: &str) {
    let p = dir.join(file);
    let mut s = std::fs::read_to_string(&p).unwrap_or_default();
    s.push_str(text);
    std::fs::write(p, s).unwrap();
}

fn lines(dir: &Path, file: &str) -> usize {
    std::fs::read_to_string(dir.join(file)).unwrap().lines().count()
}

#[test]
fn syntax_error_is_located() {
    let d = support::scratch_plans();
    let n = lines(d.path(), "plans/network.toml");
    append(d.path(), "plans/network.toml", "\n[resource.ec2_vpc.broken\n");
    kprov_offline(d.path())
        .args(["plan", "--env", "dev"])
        .assert()
        .code(1)
        .stderr(contains(format!("plans/network.toml:{}:", n + 2)))
        .stderr(contains("could not reach").not());
}

#[test]
fn unknown_key_wrong_type_and_missing_reference_are_located() {
    let cases = [
        ("[resource.ec2_vpc.extra]\ncidr_block = \"10.1.0.0/16\"\ncidr_blok = \"x\"\n", 3, "cidr_blok"),
        ("[resource.ec2_vpc.extra]\ncidr_block = 42\n", 2, "cidr_block"),
        ("[resource.ec2_subnet.extra]\nvpc_id = \"${ec2_vpc.nope.id}\"\ncidr_block = \"10.0.99.0/24\"\navailability_zone = \"us-east-1a\"\n", 2, "ec2_vpc.nope"),
        ("[resource.ec2_subnet.extra]\nvpc_id = \"${ec2_vpc.main.nope}\"\ncidr_block = \"10.0.99.0/24\"\navailability_zone = \"us-east-1a\"\n", 2, "nope"),
    ];
    for (text, line_in_snippet, needle) in cases {
        let d = support::scratch_plans();
        let n = lines(d.path(), "plans/network.toml");
        append(d.path(), "plans/network.toml", &format!("\n{text}"));
        let out = kprov_offline(d.path()).args(["plan", "--env", "dev"]).assert().code(1);
        let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
        assert!(err.contains(&format!("plans/network.toml:{}:", n + 1 + line_in_snippet)), "{text}\n{err}");
        assert!(err.contains(needle), "{err}");
    }
}

#[test]
fn duplicate_address_across_files_is_located() {
    let d = support::scratch_plans();
    std::fs::write(d.path().join("plans/zz-extra.toml"), "[resource.ec2_vpc.main]\ncidr_block = \"10.9.0.0/16\"\n")
        .unwrap();
    kprov_offline(d.path())
        .args(["plan", "--env", "dev"])
        .assert()
        .code(1)
        .stderr(contains("plans/zz-extra.toml:1:"))
        .stderr(contains("ec2_vpc.main"));
}

#[test]
fn a_cycle_names_every_address_on_it() {
    let d = support::scratch_plans();
    std::fs::write(
        d.path().join("plans/zz-cycle.toml"),
        "[resource.ec2_route_table.a]\nvpc_id = \"${ec2_route_table.b.id}\"\n\n[resource.ec2_route_table.b]\nvpc_id = \"${ec2_route_table.a.id}\"\n",
    )
    .unwrap();
    kprov_offline(d.path())
        .args(["graph", "--env", "dev"])
        .assert()
        .code(1)
        .stderr(contains("dependency cycle: ec2_route_table.a -> ec2_route_table.b -> ec2_route_table.a"))
        .stderr(contains("ec2_route_table.a declared at plans/zz-cycle.toml:1:"))
        .stderr(contains("ec2_route_table.b declared at plans/zz-cycle.toml:4:"));
}

#[test]
fn a_missing_environment_names_those_that_exist() {
    let d = support::scratch_plans();
    kprov_offline(d.path())
        .args(["plan", "--env", "qa"])
        .assert()
        .code(1)
        .stderr(contains("qa"))
        .stderr(contains("dev, prod, stage"));
}

#[test]
fn graph_prints_dot_and_mermaid_without_aws() {
    let d = support::scratch_plans();
    kprov_offline(d.path())
        .args(["graph", "--env", "dev", "--format", "dot"])
        .assert()
        .success()
        .stdout(contains("\"ec2_vpc.main\" -> \"ec2_internet_gateway.main\";"));
    kprov_offline(d.path())
        .args(["graph", "--env", "prod", "--format", "mermaid"])
        .assert()
        .success()
        .stdout(contains("graph LR"))
        .stdout(
            contains("ec2_nat_gateway.main[\\\"us-east-1c\\\"]")
                .or(contains("ec2_nat_gateway.main[#quot;us-east-1c#quot;]")),
        );
}

#[test]
fn a_saved_plan_is_refused_once_the_state_has_moved_on() {
    let d = support::scratch_plans();
    // A plan saved against "no state yet"…
    let plan = serde_json::json!({
        "format": 1, "kprov_version": "0", "stack": "platform", "env": "dev", "region": "us-east-1",
        "destroy": false, "state_lineage": null, "state_serial": 0, "changes": []
    });
    std::fs::write(d.path().join("p.json"), plan.to_string()).unwrap();
    // …while a state now exists.
    let mut st = kprov::state::State::new("platform", "dev");
    st.serial = 3;
    std::fs::create_dir_all(d.path().join("state/platform")).unwrap();
    std::fs::write(d.path().join("state/platform/dev.json"), serde_json::to_string(&st).unwrap()).unwrap();
    kprov_offline(d.path())
        .args(["apply", "--env", "dev", "--auto-approve", "p.json"])
        .assert()
        .code(1)
        .stderr(contains("the state changed since this plan was made"));
}

// ---- the bad-input corpus ---------------------------------------------------------------
//
// One-edit mutations of the reference plans and the dev overlay (issue 11). Each is refused by
// `kprov validate` (offline) and by `kprov plan` with exit 1 at the attribute's
// `file:line:col`, and `kprov apply` with it changes nothing in AWS: the dev platform is
// applied to moto once, and its inventory (read through the SDK) and its state file are the
// same after every mutated apply. A few mutations need a read to be found (a zone or a version
// that does not exist): `validate` accepts those, `plan` refuses them.

/// An edit of a plan file: replace the first `from` by `to` (`from` empty: append `to`).
struct Edit(&'static str, &'static str, &'static str);

/// Where the error must be: the value of `key` (the first line starting with `key = ` after
/// the line starting with `header`, or from the top), `extra` characters into the value (for
/// an element of a list).
struct At {
    file: &'static str,
    header: Option<&'static str>,
    key: &'static str,
    extra: usize,
}

struct Mutation {
    name: &'static str,
    edits: &'static [Edit],
    at: At,
    message: &'static str,
    /// Found without AWS (`validate` refuses it too).
    offline: bool,
}

const fn at(file: &'static str, header: Option<&'static str>, key: &'static str) -> At {
    At { file, header, key, extra: 0 }
}

const OVERLAY: &str = "env/dev.toml";
const SG_RULE_HTTPS: Option<&str> = Some("[resource.ec2_security_group_rule.cluster_from_nodes_https]");
const SG_RULE_EGRESS: Option<&str> = Some("[resource.ec2_security_group_rule.cluster_egress_all]");

fn m(name: &'static str, edits: &'static [Edit], at: At, message: &'static str) -> Mutation {
    Mutation { name, edits, at, message, offline: true }
}

fn corpus() -> Vec<Mutation> {
    let ng = Some("[resource.eks_nodegroup.main]");
    vec![
        m("vpc cidr /33", &[Edit(OVERLAY, "", "vpc_cidr = \"10.42.0.0/33\"\n")], at(OVERLAY, None, "vpc_cidr"), "is not an IPv4 CIDR block"),
        m("vpc cidr /8", &[Edit(OVERLAY, "", "vpc_cidr = \"10.0.0.0/8\"\n")], at(OVERLAY, None, "vpc_cidr"), "/16 to /28, not /8"),
        m(
            "zone of another region",
            &[Edit(OVERLAY, "\"eu-north-1b\", \"eu-north-1c\"]", "\"us-east-9z\", \"eu-north-1c\"]")],
            at("network.toml", Some("[resource.ec2_subnet.public]"), "availability_zone"),
            "\"us-east-9z\" is not an availability zone of the stack's region eu-north-1",
        ),
        m(
            "route destination /33",
            &[Edit("network.toml", "destination_cidr_block = \"0.0.0.0/0\"", "destination_cidr_block = \"0.0.0.0/33\"")],
            at("network.toml", Some("[resource.ec2_route.public_internet]"), "destination_cidr_block"),
            "not an IPv4 CIDR block",
        ),
        m(
            "rule type inbound",
            &[Edit("network.toml", "type = \"ingress\"", "type = \"inbound\"")],
            at("network.toml", SG_RULE_HTTPS, "type"),
            "\"inbound\" is not one of `ingress`, `egress`",
        ),
        m(
            "protocol tpc",
            &[Edit("network.toml", "protocol = \"tcp\"", "protocol = \"tpc\"")],
            at("network.toml", SG_RULE_HTTPS, "protocol"),
            "did you mean \"tcp\"?",
        ),
        m(
            "to_port below from_port",
            &[Edit("network.toml", "to_port = 443", "to_port = 80")],
            at("network.toml", SG_RULE_HTTPS, "to_port"),
            "`to_port` 80 is below from_port 443",
        ),
        m(
            "port out of range",
            &[Edit("network.toml", "from_port = 443", "from_port = 70000")],
            at("network.toml", SG_RULE_HTTPS, "from_port"),
            "70000 is out of range",
        ),
        m(
            "rule cidr not an address",
            &[Edit("network.toml", "cidr_ipv4 = \"0.0.0.0/0\"", "cidr_ipv4 = \"300.0.0.0/0\"")],
            at("network.toml", SG_RULE_EGRESS, "cidr_ipv4"),
            "not an IPv4 CIDR block",
        ),
        m(
            "all-traffic rule with a port",
            &[Edit("network.toml", "protocol = \"-1\"\ncidr_ipv4", "protocol = \"-1\"\nfrom_port = 22\ncidr_ipv4")],
            at("network.toml", SG_RULE_EGRESS, "from_port"),
            "takes no ports",
        ),
        m(
            "rule with two sources",
            &[Edit("network.toml", "description = \"Node to node, all traffic\"", "cidr_ipv4 = \"10.0.0.0/8\"\ndescription = \"x\"")],
            at("network.toml", Some("[resource.ec2_security_group_rule.nodes_from_nodes]"), "source_security_group_id"),
            "not both",
        ),
        m(
            "security group name too long",
            &[Edit("network.toml", "name = \"${local.name_prefix}-lb\"", "name = \"${local.name_prefix}-lbxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"")],
            at("network.toml", Some("[resource.ec2_security_group.lb]"), "name"),
            "characters long: must be 1–255",
        ),
        m(
            "security group name sg-",
            &[Edit("network.toml", "name = \"${local.name_prefix}-lb\"", "name = \"sg-${local.name_prefix}\"")],
            at("network.toml", Some("[resource.ec2_security_group.lb]"), "name"),
            "must not start with `sg-`",
        ),
        m(
            "tag key reserved",
            &[Edit("network.toml", "tags = { Name = \"${local.name_prefix}-vpc\" }", "tags = { \"aws:name\" = \"x\" }")],
            at("network.toml", Some("[resource.ec2_vpc.main]"), "tags"),
            "reserved for AWS",
        ),
        m(
            "role name with spaces",
            &[Edit("iam.toml", "name = \"${local.name_prefix}-eks-cluster\"", "name = \"${local.name_prefix} eks cluster\"")],
            at("iam.toml", Some("[resource.iam_role.cluster]"), "name"),
            "only letters, digits and +=,.@_- are allowed",
        ),
        m(
            "IAM Effect Allowed",
            &[Edit("iam.toml", "Statement = [{ Effect = \"Allow\", Principal = { Service = \"eks.amazonaws.com\" }", "Statement = [{ Effect = \"Allowed\", Principal = { Service = \"eks.amazonaws.com\" }")],
            at("iam.toml", Some("[resource.iam_role.cluster]"), "assume_role_policy"),
            "`Effect` must be \"Allow\" or \"Deny\"",
        ),
        m(
            "IAM policy version",
            &[Edit("iam.toml", "{ Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", Principal = { Service = \"ec2.amazonaws.com\" }", "{ Version = \"2012-10-18\", Statement = [{ Effect = \"Allow\", Principal = { Service = \"ec2.amazonaws.com\" }")],
            at("iam.toml", Some("[resource.iam_role.node]"), "assume_role_policy"),
            "`Version` must be one of",
        ),
        m(
            "managed policy not an ARN",
            &[Edit("iam.toml", "[\"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy\"]", "[\"AmazonEKSClusterPolicy\"]")],
            At { file: "iam.toml", header: Some("[resource.iam_role.cluster]"), key: "managed_policy_arns", extra: 1 },
            "is not an ARN of the form arn:aws:iam:REGION:ACCOUNT:policy/",
        ),
        m(
            "kubernetes version not a version",
            &[Edit(OVERLAY, "", "kubernetes_version = \"v1.30\"\n")],
            at("cluster.toml", Some("[resource.eks_cluster.main]"), "version"),
            "must be a Kubernetes minor version",
        ),
        m(
            "node group min above max",
            &[Edit(OVERLAY, "system = { min = 1, max = 2 }", "system = { min = 3, max = 2 }")],
            at("nodegroups.toml", ng, "min_size"),
            "`min_size` (3) is greater than `max_size` (2)",
        ),
        m(
            "node group max zero",
            &[Edit(OVERLAY, "application = { min = 1, max = 3 }", "application = { min = 0, max = 0 }")],
            at("nodegroups.toml", ng, "max_size"),
            "0 is out of range: must be 1–100000",
        ),
        m(
            "instance size typo",
            &[Edit("nodegroups.toml", "[\"m6i.large\"]", "[\"m6i.larg\"]")],
            at("nodegroups.toml", ng, "instance_types"),
            "unknown instance size `larg`",
        ),
        m(
            "log retention not allowed",
            &[Edit(OVERLAY, "", "log_retention_days = 45\n")],
            at(OVERLAY, None, "log_retention_days"),
            "45 is not allowed",
        ),
        m(
            "kms deletion window",
            &[Edit("security.toml", "deletion_window_in_days = 30", "deletion_window_in_days = 3")],
            at("security.toml", Some("[resource.kms_key.eks]"), "deletion_window_in_days"),
            "must be 7–30",
        ),
        m(
            "kms alias without prefix",
            &[Edit("security.toml", "name = \"alias/${local.name_prefix}-eks-secrets\"", "name = \"${local.name_prefix}-eks-secrets\"")],
            at("security.toml", Some("[resource.kms_alias.eks]"), "name"),
            "must start with `alias/`",
        ),
        m(
            "flow log traffic type",
            &[Edit("security.toml", "traffic_type = \"ALL\"", "traffic_type = \"EVERYTHING\"")],
            at("security.toml", Some("[resource.ec2_flow_log.vpc]"), "traffic_type"),
            "is not one of `ACCEPT`, `REJECT`, `ALL`",
        ),
        m(
            "flow log destination type",
            &[Edit("security.toml", "log_destination_type = \"cloud-watch-logs\"", "log_destination_type = \"cloudwatch\"")],
            at("security.toml", Some("[resource.ec2_flow_log.vpc]"), "log_destination_type"),
            "is not one of `cloud-watch-logs`",
        ),
        m(
            "target group port 0",
            &[Edit("ingress.toml", "port = 80", "port = 0")],
            at("ingress.toml", Some("[resource.elbv2_target_group.default]"), "port"),
            "0 is out of range: must be 1–65535",
        ),
        m(
            "target group protocol",
            &[Edit("ingress.toml", "protocol = \"HTTP\"", "protocol = \"HTTPX\"")],
            at("ingress.toml", Some("[resource.elbv2_target_group.default]"), "protocol"),
            "\"HTTPX\" is not one of",
        ),
        m(
            "redirect status code",
            &[Edit("ingress.toml", "status_code = \"HTTP_301\"", "status_code = \"HTTP_307\"")],
            at("ingress.toml", Some("[resource.elbv2_listener.http]"), "default_action"),
            "a redirect needs status_code",
        ),
        m(
            "load balancer name too long",
            &[Edit("ingress.toml", "name = \"${local.name_prefix}\"", "name = \"${local.name_prefix}-much-too-long-a-name-for-a-load-balancer\"")],
            at("ingress.toml", Some("[resource.elbv2_load_balancer.main]"), "name"),
            "characters long: must be 1–32",
        ),
        m(
            "load balancer type",
            &[Edit("ingress.toml", "type = \"application\"", "type = \"network\"")],
            at("ingress.toml", Some("[resource.elbv2_load_balancer.main]"), "type"),
            "\"network\" is not one of `application`",
        ),
        m(
            "repository name uppercase",
            &[Edit("registry.toml", "name = \"${stack.name}-${stack.env}/app\"", "name = \"${stack.name}-${stack.env}/App\"")],
            at("registry.toml", Some("[resource.ecr_repository.app]"), "name"),
            "has 'A'",
        ),
        m(
            "tag mutability case",
            &[Edit("registry.toml", "image_tag_mutability = \"IMMUTABLE\"", "image_tag_mutability = \"immutable\"")],
            at("registry.toml", Some("[resource.ecr_repository.app]"), "image_tag_mutability"),
            "did you mean \"IMMUTABLE\"?",
        ),
        m(
            "record type",
            &[Edit("dns.toml", "type = \"A\"", "type = \"AA\"")],
            at("dns.toml", Some("[resource.route53_record.apex]"), "type"),
            "\"AA\" is not one of",
        ),
        m(
            "oidc url not https",
            &[Edit("ci.toml", "url = \"https://token.actions.githubusercontent.com\"", "url = \"http://token.actions.githubusercontent.com\"")],
            at("ci.toml", Some("[resource.iam_oidc_provider.github]"), "url"),
            "must start with `https://`",
        ),
        m(
            "domain with an empty label",
            &[Edit(OVERLAY, "domain = \"corpus.example.com\"", "domain = \"corpus..example.com\"")],
            at("dns.toml", Some("[resource.route53_zone.public]"), "name"),
            "is not a valid domain name for a hosted zone",
        ),
        // Found by `plan`'s reads only: they look right, but do not exist in the region.
        Mutation {
            name: "zone that does not exist",
            edits: &[Edit(OVERLAY, "\"eu-north-1b\", \"eu-north-1c\"]", "\"eu-north-1b\", \"eu-north-1z\"]")],
            at: at("network.toml", Some("[resource.ec2_subnet.public]"), "availability_zone"),
            message: "\"eu-north-1z\" is not an availability zone of eu-north-1",
            offline: false,
        },
        Mutation {
            name: "kubernetes version EKS does not offer",
            edits: &[Edit(OVERLAY, "", "kubernetes_version = \"1.99\"\n")],
            at: at("cluster.toml", Some("[resource.eks_cluster.main]"), "version"),
            // With the platform applied at 1.30, the upgrade-step check refuses it first; on a
            // new cluster it is the read that does (plan::validate::reads).
            message: "1.99",
            offline: false,
        },
        Mutation {
            name: "add-on version that does not exist",
            edits: &[Edit("addons.toml", "addon_name = \"vpc-cni\"\n", "addon_name = \"vpc-cni\"\naddon_version = \"v0.0.1-eksbuild.1\"\n")],
            at: at("addons.toml", Some("[resource.eks_addon.vpc_cni]"), "addon_version"),
            message: "\"v0.0.1-eksbuild.1\" is not a version of the add-on vpc-cni",
            offline: false,
        },
    ]
}

/// `plans/FILE:LINE:COL: ` of `at` in the plans under `root`.
fn expected_loc(root: &Path, at: &At) -> String {
    let text = std::fs::read_to_string(root.join("plans").join(at.file)).expect("plan file");
    let start = at.header.map_or(0, |h| text.lines().position(|l| l.starts_with(h)).expect("header"));
    let prefix = format!("{} = ", at.key);
    let (i, _) = text.lines().enumerate().skip(start).find(|(_, l)| l.starts_with(&prefix)).expect("key");
    format!("plans/{}:{}:{}: ", at.file, i + 1, prefix.len() + 1 + at.extra)
}

fn apply_edits(root: &Path, edits: &[Edit]) {
    for Edit(file, from, to) in edits {
        let p = root.join("plans").join(file);
        let s = std::fs::read_to_string(&p).expect("plan file");
        let s = if from.is_empty() {
            format!("{s}{to}")
        } else {
            assert!(s.contains(from), "{file} has no {from:?}");
            s.replacen(from, to, 1)
        };
        std::fs::write(p, s).expect("write plan");
    }
}

/// The plans of the corpus platform: the reference plans as their own stack in their own
/// region (IAM and Route 53 are global in moto: the names and the zone must be this test's).
fn corpus_plans() -> tempfile::TempDir {
    let d = support::scratch_platform_plans();
    let stack = d.path().join("plans/stack.toml");
    let s =
        std::fs::read_to_string(&stack).expect("stack.toml").replacen("name = \"platform\"", "name = \"corpus\"", 1);
    std::fs::write(stack, s).expect("write stack.toml");
    append(
        d.path(),
        "plans/env/dev.toml",
        "region = \"eu-north-1\"\navailability_zones = [\"eu-north-1a\", \"eu-north-1b\", \"eu-north-1c\"]\n\
         domain = \"corpus.example.com\"\n",
    );
    d
}

/// What exists of the stack, read through the SDK (not kprov's state), as sorted lines.
async fn inventory(region: &str) -> Vec<String> {
    let sdk = support::sdk_config(region).await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let eks = aws_sdk_eks::Client::new(&sdk);
    let iam = aws_sdk_iam::Client::new(&sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&sdk);
    let mut out = Vec::new();
    let tags = |t: &[aws_sdk_ec2::types::Tag]| {
        let mut v: Vec<String> =
            t.iter().map(|t| format!("{}={}", t.key().unwrap_or(""), t.value().unwrap_or(""))).collect();
        v.sort();
        v.join(",")
    };
    for v in ec2.describe_vpcs().send().await.expect("vpcs").vpcs() {
        out.push(format!("vpc {} {} {}", v.vpc_id().unwrap_or(""), v.cidr_block().unwrap_or(""), tags(v.tags())));
    }
    for s in ec2.describe_subnets().send().await.expect("subnets").subnets() {
        out.push(format!(
            "subnet {} {} {} {}",
            s.subnet_id().unwrap_or(""),
            s.cidr_block().unwrap_or(""),
            s.availability_zone().unwrap_or(""),
            tags(s.tags())
        ));
    }
    for g in ec2.describe_security_groups().send().await.expect("groups").security_groups() {
        out.push(format!("sg {} {} {}", g.group_id().unwrap_or(""), g.group_name().unwrap_or(""), tags(g.tags())));
    }
    for r in ec2.describe_security_group_rules().send().await.expect("rules").security_group_rules() {
        out.push(format!(
            "rule {} {} {:?} {:?} {:?} {:?}",
            r.security_group_rule_id().unwrap_or(""),
            r.ip_protocol().unwrap_or(""),
            r.from_port(),
            r.to_port(),
            r.cidr_ipv4(),
            r.is_egress()
        ));
    }
    for t in ec2.describe_route_tables().send().await.expect("route tables").route_tables() {
        out.push(format!(
            "rtb {} routes={} assoc={}",
            t.route_table_id().unwrap_or(""),
            t.routes().len(),
            t.associations().len()
        ));
    }
    for n in ec2.describe_nat_gateways().send().await.expect("nat").nat_gateways() {
        out.push(format!("nat {} {:?}", n.nat_gateway_id().unwrap_or(""), n.state()));
    }
    for c in eks.list_clusters().send().await.expect("clusters").clusters() {
        let d = eks.describe_cluster().name(c).send().await.expect("cluster");
        let version = d.cluster().and_then(|c| c.version()).unwrap_or("");
        out.push(format!("cluster {c} {version}"));
        for n in eks.list_nodegroups().cluster_name(c).send().await.expect("nodegroups").nodegroups() {
            let ng = eks.describe_nodegroup().cluster_name(c).nodegroup_name(n).send().await.expect("nodegroup");
            let ng = ng.nodegroup().expect("nodegroup");
            let mut t: Vec<String> = ng.tags().into_iter().flatten().map(|(k, v)| format!("{k}={v}")).collect();
            t.sort();
            let s = ng.scaling_config();
            out.push(format!(
                "nodegroup {c}/{n} {:?} {:?} {:?} {}",
                s.and_then(|s| s.min_size()),
                s.and_then(|s| s.max_size()),
                ng.instance_types(),
                t.join(",")
            ));
        }
        for a in eks.list_addons().cluster_name(c).send().await.expect("addons").addons() {
            out.push(format!("addon {c}/{a}"));
        }
    }
    for r in iam.list_roles().send().await.expect("roles").roles() {
        if r.role_name().starts_with("corpus-") {
            out.push(format!("role {} {}", r.role_name(), r.assume_role_policy_document().unwrap_or("")));
        }
    }
    for lb in elb.describe_load_balancers().send().await.expect("lbs").load_balancers() {
        out.push(format!("lb {} {:?}", lb.load_balancer_name().unwrap_or(""), lb.r#type()));
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_corpus_is_refused_by_validate_plan_and_apply_and_changes_nothing() {
    const REGION: &str = "eu-north-1"; // no other test uses it
    let corpus = corpus();
    assert!(corpus.len() >= 30, "{} mutations", corpus.len());
    let platform = corpus_plans();
    let root = platform.path();
    support::kprov(root)
        .args(["apply", "--env", "dev", "--auto-approve", "--progress", "plain"])
        .timeout(std::time::Duration::from_secs(600))
        .assert()
        .success();

    // The autoscaler tags carry the cluster's name (a template in a table key, issue 11).
    let eks = aws_sdk_eks::Client::new(&support::sdk_config(REGION).await);
    for group in ["system", "application"] {
        let ng = eks.describe_nodegroup().cluster_name("corpus-dev").nodegroup_name(group).send().await.expect("ng");
        let tags = ng.nodegroup().and_then(|n| n.tags()).cloned().unwrap_or_default();
        assert_eq!(tags.get("k8s.io/cluster-autoscaler/corpus-dev").map(String::as_str), Some("owned"), "{tags:?}");
        assert!(tags.keys().all(|k| !k.contains("${")), "{tags:?}");
    }

    let before = inventory(REGION).await;
    assert!(before.iter().any(|l| l.starts_with("cluster corpus-dev")), "{before:?}");
    let state_path = root.join("state");
    // The state documents (and their backups), not the lock file: a refused `apply` that got as
    // far as the lock (read-only checks run under it) leaves the lock free at a higher
    // generation (the fencing token grows with each acquisition, docs/state.md).
    let state_files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<(String, Vec<u8>)> = walk(dir)
            .into_iter()
            .filter(|p| p.extension().is_none_or(|x| x != "lock"))
            .map(|p| (p.display().to_string(), std::fs::read(&p).expect("state")))
            .collect();
        v.sort();
        v
    };
    let state_before = state_files(&state_path);
    let plans_arg = |d: &Path| d.join("plans").display().to_string();

    for mutation in &corpus {
        let d = corpus_plans();
        apply_edits(d.path(), mutation.edits);
        let want = expected_loc(d.path(), &mutation.at);
        let check = |what: &str, out: &std::process::Output| {
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{}: {what} exit code\n{err}", mutation.name);
            let line = err
                .lines()
                .find(|l| l.contains(&want))
                .unwrap_or_else(|| panic!("{}: {what}: no error at {want}\n{err}", mutation.name));
            assert!(err.contains(mutation.message), "{}: {what}: {line}\n{err}", mutation.name);
        };
        // `validate`: offline (the endpoint is a closed port), no state.
        let out = kprov_offline(d.path()).args(["validate", "--env", "dev"]).output().expect("validate");
        if mutation.offline {
            check("validate", &out);
        } else {
            assert!(
                out.status.success(),
                "{}: validate needs no read\n{}",
                mutation.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        for cmd in [&["plan", "--env", "dev"][..], &["apply", "--env", "dev", "--auto-approve"][..]] {
            let out = support::kprov(root).args(cmd).args(["--plans", &plans_arg(d.path())]).output().expect("kprov");
            check(cmd[0], &out);
        }
    }
    // Several errors in one file, one run.
    let d = corpus_plans();
    apply_edits(
        d.path(),
        &[
            Edit("network.toml", "type = \"ingress\"", "type = \"inbound\""),
            Edit("network.toml", "cidr_ipv4 = \"0.0.0.0/0\"", "cidr_ipv4 = \"0.0.0.0/40\""),
            Edit("network.toml", "name = \"${local.name_prefix}-lb\"", "name = \"sg-${local.name_prefix}\""),
        ],
    );
    let out = kprov_offline(d.path()).args(["validate", "--env", "dev"]).output().expect("validate");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for at in [
        at("network.toml", SG_RULE_HTTPS, "type"),
        at("network.toml", SG_RULE_EGRESS, "cidr_ipv4"),
        at("network.toml", Some("[resource.ec2_security_group.lb]"), "name"),
    ] {
        assert!(err.contains(&expected_loc(d.path(), &at)), "{err}");
    }

    assert_eq!(inventory(REGION).await, before, "a refused apply changed AWS");
    assert_eq!(state_files(&state_path), state_before, "a refused run changed the state");

    // IAM (the OIDC provider, the roles) and Route 53 are global in moto: leave nothing for the
    // tests that apply the platform after this one.
    support::kprov(root)
        .args(["destroy", "--env", "dev", "--auto-approve", "--progress", "plain"])
        .timeout(std::time::Duration::from_secs(600))
        .assert()
        .success();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
