//! Replacement semantics end to end through the kprov binary against moto + kprov's EKS
//! extension, checked through the SDK:
//! - `lifecycle`: `ignore_changes` keeps what exists, `prevent_destroy` refuses a replace and a
//!   destroy before any AWS call, `create_before_destroy` makes the new security group (and
//!   moves its rule) before the old one is deleted — order read from the `--progress json`
//!   event stream;
//! - the full reference platform (the dev overlay, in its own region and env name): `az_count`
//!   3→2 updates the cluster's subnets in place and replaces the node groups
//!   create-before-destroy under new names, leaving every add-on, access entry and association
//!   where it is; then a new secrets key replaces the cluster (same name) and everything that
//!   lives in it is made again on the new one. After each apply, `plan --detailed-exitcode`
//!   exits 0 straight away.

mod support;

use std::path::Path;

use predicates::prelude::*;
use predicates::str::contains;
use serde_json::Value;

fn write(root: &Path, file: &str, text: &str) {
    let p = root.join(file);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let p = root.join(file);
    let text = std::fs::read_to_string(&p).expect("read");
    assert!(text.contains(from), "{from:?} not in {file}");
    std::fs::write(p, text.replacen(from, to, 1)).expect("write");
}

/// The `--progress json` events of a run (stderr), in order.
fn events(stderr: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stderr).lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect()
}

/// Index of the first event `event` for (`address`, `op`).
fn at(events: &[Value], event: &str, address: &str, op: &str) -> usize {
    events
        .iter()
        .position(|e| e["event"] == event && e["address"] == address && e["op"] == op)
        .unwrap_or_else(|| panic!("no {event} {op} of {address} in the event stream"))
}

// ── lifecycle on a small stack ──────────────────────────────────────────────────────────

const LC_REGION: &str = "ap-southeast-7"; // no other test uses it
const LC_ENV: &str = "lc";

const LC_STACK: &str = r#"[stack]
name = "lifecycle"

[variables]
region = "ap-southeast-7"
"#;

const LC_PLAN: &str = r#"[resource.ec2_vpc.main]
cidr_block = "10.60.0.0/16"
enable_dns_hostnames = false
tags = { Name = "lc", Owner = "team-a" }
lifecycle = { ignore_changes = ["tags"] }

[resource.ec2_security_group.web]
name = "lc-web"
description = "web"
vpc_id = "${ec2_vpc.main.id}"

[resource.ec2_security_group.web.lifecycle]
create_before_destroy = true

[resource.ec2_security_group_rule.https]
security_group_id = "${ec2_security_group.web.id}"
type = "ingress"
protocol = "tcp"
from_port = 443
to_port = 443
cidr_ipv4 = "10.60.0.0/16"

[resource.ec2_security_group.db]
name = "lc-db"
description = "database"
vpc_id = "${ec2_vpc.main.id}"
lifecycle = { prevent_destroy = true }
"#;

async fn group(ec2: &aws_sdk_ec2::Client, name: &str) -> Option<aws_sdk_ec2::types::SecurityGroup> {
    let f = aws_sdk_ec2::types::Filter::builder().name("group-name").values(name).build();
    let out = ec2.describe_security_groups().filters(f).send().await.expect("groups");
    out.security_groups().first().cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_ignore_changes_prevent_destroy_and_create_before_destroy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "plans/stack.toml", LC_STACK);
    write(root, &format!("plans/env/{LC_ENV}.toml"), "[variables]\n");
    write(root, "plans/net.toml", LC_PLAN);
    std::fs::create_dir_all(root.join("state")).expect("state dir");
    let ec2 = support::ec2(LC_REGION).await;
    let kprov = |args: &[&str]| {
        let mut c = support::kprov(root);
        c.args(args).args(["--env", LC_ENV]);
        c
    };
    kprov(&["apply", "--auto-approve", "--progress", "plain"]).assert().success();
    let vpc_filter = aws_sdk_ec2::types::Filter::builder().name("tag:kprov:env").values(LC_ENV).build();
    let vpc = |ec2: aws_sdk_ec2::Client, f: aws_sdk_ec2::types::Filter| async move {
        let v = ec2.describe_vpcs().filters(f).send().await.expect("vpcs");
        assert_eq!(v.vpcs().len(), 1);
        v.vpcs()[0].clone()
    };
    let owner = |v: &aws_sdk_ec2::types::Vpc| {
        v.tags().iter().find(|t| t.key() == Some("Owner")).and_then(|t| t.value()).map(str::to_string)
    };
    let vpc_id = vpc(ec2.clone(), vpc_filter.clone()).await.vpc_id().expect("id").to_string();

    // ignore_changes: a tag change in the plan is not a change.
    edit(root, "plans/net.toml", "Owner = \"team-a\"", "Owner = \"team-b\"");
    kprov(&["plan", "--detailed-exitcode"]).assert().code(0).stdout(contains("No changes"));
    // With another change, the update leaves the ignored tags as they are.
    edit(root, "plans/net.toml", "enable_dns_hostnames = false", "enable_dns_hostnames = true");
    kprov(&["plan", "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(contains("~ ec2_vpc.main will be updated in place"))
        .stdout(contains("enable_dns_hostnames = false -> true"))
        .stdout(contains("tags").not());
    kprov(&["apply", "--auto-approve", "--progress", "plain"]).assert().success();
    assert_eq!(owner(&vpc(ec2.clone(), vpc_filter.clone()).await).as_deref(), Some("team-a"));
    let dns = ec2
        .describe_vpc_attribute()
        .vpc_id(&vpc_id)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .expect("attribute");
    assert_eq!(dns.enable_dns_hostnames().and_then(|a| a.value()), Some(true));
    kprov(&["plan", "--detailed-exitcode"]).assert().code(0);

    // prevent_destroy: a replace of the protected group is refused at plan time, naming it
    // where it is declared; so is a destroy. Nothing changes in AWS.
    let db_id = group(&ec2, "lc-db").await.expect("db group").group_id().expect("id").to_string();
    edit(root, "plans/net.toml", "description = \"database\"", "description = \"databases\"");
    let want = "plans/net.toml:27:1: ec2_security_group.db has lifecycle.prevent_destroy = true, but this plan \
                would replace it";
    kprov(&["plan"]).assert().code(1).stderr(contains(want));
    kprov(&["apply", "--auto-approve"]).assert().code(1).stderr(contains(want));
    kprov(&["destroy", "--auto-approve"]).assert().code(1).stderr(contains("would delete it"));
    assert_eq!(group(&ec2, "lc-db").await.and_then(|g| g.group_id().map(str::to_string)), Some(db_id));
    assert!(group(&ec2, "lc-web").await.is_some(), "the destroy deleted nothing");
    edit(root, "plans/net.toml", "description = \"databases\"", "description = \"database\"");

    // create_before_destroy: the renamed group is made first, its rule moves to it, then the
    // old group goes.
    let old_web = group(&ec2, "lc-web").await.expect("web").group_id().expect("id").to_string();
    edit(root, "plans/net.toml", "name = \"lc-web\"", "name = \"lc-web-2\"");
    kprov(&["plan", "--detailed-exitcode"])
        .assert()
        .code(2)
        .stdout(contains("-/+ ec2_security_group.web must be replaced (create before destroy)"));
    let out = kprov(&["apply", "--auto-approve", "--progress", "json"]).assert().success();
    let ev = events(&out.get_output().stderr);
    let created = at(&ev, "done", "ec2_security_group.web", "create");
    let deleted = at(&ev, "started", "ec2_security_group.web", "delete");
    assert!(created < deleted, "the new group is created before the old one is deleted");
    assert!(at(&ev, "done", "ec2_security_group_rule.https", "create") < deleted, "the rule moves first");
    assert_eq!(ev[deleted]["address"], "ec2_security_group.web");
    let done_delete = &ev[at(&ev, "done", "ec2_security_group.web", "delete")];
    assert_eq!(done_delete["id"], old_web.as_str(), "the old group is the one deleted");
    assert!(group(&ec2, "lc-web").await.is_none(), "the old group is gone");
    let new_web = group(&ec2, "lc-web-2").await.expect("the new group");
    assert!(
        new_web.ip_permissions().iter().any(|p| p.from_port() == Some(443)),
        "the rule is on the new group: {:?}",
        new_web.ip_permissions()
    );
    kprov(&["plan", "--detailed-exitcode"]).assert().code(0);

    // Clean up (prevent_destroy off first).
    edit(root, "plans/net.toml", "lifecycle = { prevent_destroy = true }", "");
    kprov(&["destroy", "--auto-approve", "--progress", "plain"]).assert().success();
    assert!(group(&ec2, "lc-db").await.is_none());
}

// ── the reference platform ──────────────────────────────────────────────────────────────

const PLATFORM_REGION: &str = "ap-east-1"; // moto offers c5.2xlarge there (not in ap-southeast-5); only a log-group test shares it
/// The dev overlay under its own name: IAM and Route 53 are global in moto, so the
/// `platform-azdev-` roles and the `azdev.` zone are this test's alone.
const PLATFORM_ENV: &str = "azdev";
const CLUSTER: &str = "platform-azdev";
const GROUPS: [&str; 4] = ["application", "compute-intensive", "memory-intensive", "system"];
const ADDONS: [&str; 7] = [
    "amazon-cloudwatch-observability",
    "aws-ebs-csi-driver",
    "aws-efs-csi-driver",
    "coredns",
    "eks-pod-identity-agent",
    "kube-proxy",
    "vpc-cni",
];

/// What lives in the cluster, read through the SDK: add-ons, node groups, access entries with
/// their policies, pod identity associations (namespace/service account).
#[derive(Debug, PartialEq)]
struct Inside {
    addons: Vec<String>,
    nodegroups: Vec<String>,
    access: Vec<(String, Vec<String>)>,
    pod_identities: Vec<String>,
}

async fn inside(eks: &aws_sdk_eks::Client) -> Inside {
    let mut addons = eks.list_addons().cluster_name(CLUSTER).send().await.expect("addons").addons.unwrap_or_default();
    addons.sort();
    let mut nodegroups =
        eks.list_nodegroups().cluster_name(CLUSTER).send().await.expect("groups").nodegroups.unwrap_or_default();
    nodegroups.sort();
    let entries = eks.list_access_entries().cluster_name(CLUSTER).send().await.expect("entries");
    let mut access = Vec::new();
    for p in entries.access_entries() {
        let pol = eks.list_associated_access_policies().cluster_name(CLUSTER).principal_arn(p).send().await;
        let pol = pol.expect("policies");
        access.push((
            p.clone(),
            pol.associated_access_policies().iter().filter_map(|a| a.policy_arn()).map(str::to_string).collect(),
        ));
    }
    access.sort();
    let pias = eks.list_pod_identity_associations().cluster_name(CLUSTER).send().await.expect("pias");
    let mut pod_identities: Vec<String> = pias
        .associations()
        .iter()
        .map(|a| format!("{}/{}", a.namespace().unwrap_or_default(), a.service_account().unwrap_or_default()))
        .collect();
    pod_identities.sort();
    Inside { addons, nodegroups, access, pod_identities }
}

fn expected_access() -> Vec<(String, Vec<String>)> {
    let role = |r: &str| format!("arn:aws:iam::123456789012:role/{CLUSTER}-{r}");
    let policy = |p: &str| vec![format!("arn:aws:eks::aws:cluster-access-policy/{p}")];
    vec![
        (role("eks-admin"), policy("AmazonEKSClusterAdminPolicy")),
        (role("eks-readonly"), policy("AmazonEKSViewPolicy")),
    ]
}

const POD_IDENTITIES: [&str; 7] = [
    "amazon-cloudwatch/cloudwatch-agent",
    "external-dns/external-dns",
    "kube-system/aws-load-balancer-controller",
    "kube-system/aws-node",
    "kube-system/cluster-autoscaler",
    "kube-system/ebs-csi-controller-sa",
    "kube-system/efs-csi-controller-sa",
];

#[tokio::test(flavor = "multi_thread")]
async fn dev_platform_az_count_and_secrets_key_changes_keep_everything_in_the_cluster() {
    let dir = support::scratch_platform_plans();
    let root = dir.path();
    let dev = std::fs::read_to_string(root.join("plans/env/dev.toml")).expect("dev overlay");
    let r = PLATFORM_REGION;
    let overlay = format!("{dev}region = \"{r}\"\navailability_zones = [\"{r}a\", \"{r}b\", \"{r}c\"]\n");
    write(root, &format!("plans/env/{PLATFORM_ENV}.toml"), &overlay);
    let sdk = support::sdk_config(r).await;
    let eks = aws_sdk_eks::Client::new(&sdk);
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let kprov = |args: &[&str]| {
        let mut c = support::kprov(root);
        c.args(args).args(["--env", PLATFORM_ENV]);
        c
    };
    let apply_json = || {
        let out = kprov(&["apply", "--auto-approve", "--progress", "json"]).assert().success();
        events(&out.get_output().stderr)
    };
    let describe =
        || async { eks.describe_cluster().name(CLUSTER).send().await.expect("cluster").cluster.expect("cluster") };

    kprov(&["apply", "--auto-approve", "--progress", "plain"]).assert().success();
    let expected = Inside {
        addons: ADDONS.map(String::from).to_vec(),
        nodegroups: GROUPS.map(String::from).to_vec(),
        access: expected_access(),
        pod_identities: POD_IDENTITIES.map(String::from).to_vec(),
    };
    assert_eq!(inside(&eks).await, expected);
    let first = describe().await;
    assert_eq!(first.resources_vpc_config().map(|v| v.subnet_ids().len()), Some(3));

    // ---- az_count 3 → 2: the cluster's subnets change in place; node groups, whose subnets
    // cannot change, are replaced create-before-destroy; nothing in the cluster is lost ----
    edit(root, &format!("plans/env/{PLATFORM_ENV}.toml"), "az_count = 3", "az_count = 2");
    let plan = kprov(&["plan", "--detailed-exitcode"]).assert().code(2);
    let text = String::from_utf8_lossy(&plan.get_output().stdout).to_string();
    assert!(text.contains("~ eks_cluster.main will be updated in place"), "{text}");
    for g in GROUPS {
        let line = format!("-/+ eks_nodegroup.main[\"{g}\"] must be replaced (create before destroy)");
        assert!(text.contains(&line), "{line}\n{text}");
        assert!(
            text.contains(&format!("Warning: eks_nodegroup.main[\"{g}\"] (eks_nodegroup) will be replaced")),
            "{text}"
        );
    }
    for kept in ["eks_cluster", "eks_addon", "eks_access_entry", "eks_access_policy_association", "eks_pod_identity"] {
        assert!(!text.contains(&format!("-/+ {kept}")), "{kept} must not be replaced:\n{text}");
    }
    assert!(text.contains("- ec2_subnet.private[\"ap-east-1c\"] will be deleted"), "{text}");
    let ev = apply_json();
    let subnet_c = at(&ev, "started", "ec2_subnet.private[\"ap-east-1c\"]", "delete");
    assert!(at(&ev, "done", "eks_cluster.main", "update") < subnet_c, "the control plane leaves the subnet first");
    for g in GROUPS {
        let a = format!("eks_nodegroup.main[\"{g}\"]");
        let (created, deleting) = (at(&ev, "done", &a, "create"), at(&ev, "started", &a, "delete"));
        assert!(created < deleting, "{a}: the new group is ACTIVE before the old one is deleted");
        let new_id = ev[created]["id"].as_str().expect("id").to_string();
        assert!(
            new_id.starts_with(&format!("{CLUSTER}/{g}-")) && new_id.len() == CLUSTER.len() + g.len() + 8,
            "{new_id}"
        );
        assert_eq!(ev[at(&ev, "done", &a, "delete")]["id"], format!("{CLUSTER}/{g}"), "the old group goes");
        assert!(at(&ev, "done", &a, "delete") < subnet_c, "{a} leaves the subnet before it is deleted");
    }
    kprov(&["plan", "--detailed-exitcode"]).assert().code(0);
    // Through the SDK: the same cluster, now in two subnets; new groups in those two.
    let now = describe().await;
    assert_eq!(now.created_at(), first.created_at(), "the cluster was not replaced");
    let subnets: Vec<String> = now.resources_vpc_config().map(|v| v.subnet_ids().to_vec()).unwrap_or_default();
    assert_eq!(subnets.len(), 2);
    let got = inside(&eks).await;
    assert_eq!(got.addons, expected.addons);
    assert_eq!(got.access, expected.access);
    assert_eq!(got.pod_identities, expected.pod_identities);
    assert_eq!(got.nodegroups.len(), 4);
    for (name, g) in got.nodegroups.iter().zip(GROUPS) {
        assert!(name.starts_with(&format!("{g}-")), "{name}");
        let ng = eks.describe_nodegroup().cluster_name(CLUSTER).nodegroup_name(name).send().await;
        let ng = ng.expect("group").nodegroup.expect("group");
        let mut ng_subnets = ng.subnets().to_vec();
        ng_subnets.sort();
        let mut want = subnets.clone();
        want.sort();
        assert_eq!(ng_subnets, want, "{name}");
        let tags = ng.tags().expect("tags");
        assert_eq!(tags.get("Name").map(String::as_str), Some(format!("{CLUSTER}-{g}").as_str()));
        assert_eq!(tags.get("k8s.io/cluster-autoscaler/enabled").map(String::as_str), Some("true"));
        assert_eq!(tags.get("kprov:address"), Some(&format!("eks_nodegroup.main[\"{g}\"]")));
    }
    let subnet_c = aws_sdk_ec2::types::Filter::builder().name("availability-zone").values(format!("{r}c")).build();
    let owned = aws_sdk_ec2::types::Filter::builder().name("tag:kprov:env").values(PLATFORM_ENV).build();
    let left = ec2.describe_subnets().filters(subnet_c).filters(owned).send().await.expect("subnets");
    assert!(left.subnets().is_empty(), "the third AZ's subnets are gone");

    // ---- a new secrets key: EKS cannot change it, so the cluster is replaced under the same
    // name, and everything that lives in it is made again on the new one ----
    let extra = "\n[resource.kms_key.eks_v2]\ndescription = \"rotated secrets key\"\nenable_key_rotation = true\n";
    let sec = std::fs::read_to_string(root.join("plans/security.toml")).expect("security.toml");
    write(root, "plans/security.toml", &format!("{sec}{extra}"));
    edit(root, "plans/cluster.toml", "\"${kms_key.eks.arn}\"", "\"${kms_key.eks_v2.arn}\"");
    let plan = kprov(&["plan", "--detailed-exitcode"]).assert().code(2);
    let text = String::from_utf8_lossy(&plan.get_output().stdout).to_string();
    assert!(text.contains("-/+ eks_cluster.main must be replaced\n"), "{text}");
    assert!(
        text.contains("Warning: eks_cluster.main (eks_cluster) will be replaced, forced by `encryption_kms_key_arn`"),
        "{text}"
    );
    // 7 add-ons, 3 pod identity associations, 2 access entries, 2 policy associations and
    // 4 node groups live in the cluster.
    assert_eq!(text.matches("must be replaced (lives in eks_cluster.main, which is replaced").count(), 18, "{text}");
    for a in
        ["eks_addon.coredns", "eks_access_policy_association.readonly", "eks_pod_identity_association.external_dns"]
    {
        assert!(text.contains(&format!("-/+ {a} must be replaced (lives in eks_cluster.main")), "{a}\n{text}");
    }
    let ev = apply_json();
    let (cluster_gone, cluster_new) =
        (at(&ev, "started", "eks_cluster.main", "delete"), at(&ev, "done", "eks_cluster.main", "create"));
    let children: Vec<String> = ev
        .iter()
        .filter(|e| e["event"] == "done" && e["op"] == "create")
        .filter_map(|e| e["address"].as_str())
        .filter(|a| a.starts_with("eks_") && *a != "eks_cluster.main")
        .map(str::to_string)
        .collect();
    assert_eq!(children.len(), 18, "{children:?}");
    for a in &children {
        assert!(at(&ev, "done", a, "delete") < cluster_gone, "{a} is deleted before the old cluster");
        assert!(cluster_new < at(&ev, "started", a, "create"), "{a} is made on the new cluster");
    }
    kprov(&["plan", "--detailed-exitcode"]).assert().code(0);
    let replaced = describe().await;
    assert_ne!(replaced.created_at(), first.created_at(), "a new cluster");
    let key = replaced.encryption_config().iter().find_map(|e| e.provider()).and_then(|p| p.key_arn());
    let key = kms.describe_key().key_id(key.expect("a secrets key")).send().await.expect("key");
    assert_eq!(key.key_metadata().and_then(|k| k.description()), Some("rotated secrets key"));
    // Everything is back on the new cluster (node groups under their plain names again).
    assert_eq!(inside(&eks).await, expected);

    kprov(&["destroy", "--auto-approve", "--progress", "plain"]).assert().success();
    assert!(eks.list_clusters().send().await.expect("clusters").clusters().is_empty());
}
