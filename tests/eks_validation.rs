//! Invalid EKS input through the real binary: refused by `kprov plan` at the attribute's
//! `file:line:col` with a precise message, before any AWS call (the endpoint points at a closed
//! port, so a call would fail with "could not reach AWS" instead, after retries).

mod support;

use std::path::Path;

use kprov::state::{ResourceState, State, Status};
use predicates::prelude::*;
use predicates::str::contains;

fn kprov_offline(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("kprov").expect("kprov binary");
    c.current_dir(dir)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1");
    c
}

const CLUSTER: &str = r#"
[resource.eks_cluster.main]
name = "platform-dev"
version = "VERSION"
role_arn = "arn:aws:iam::123456789012:role/eks-cluster"
subnet_ids = ["${ec2_subnet.private[\"us-east-1a\"].id}", "${ec2_subnet.private[\"us-east-1b\"].id}"]
"#;

fn nodegroup(instance_types: &str, ami_type: &str) -> String {
    format!(
        r#"
[resource.eks_nodegroup.apps]
cluster_name = "${{eks_cluster.main.name}}"
name = "apps"
node_role_arn = "arn:aws:iam::123456789012:role/eks-node"
subnet_ids = ["${{ec2_subnet.private[\"us-east-1a\"].id}}"]
instance_types = {instance_types}
ami_type = "{ami_type}"
min_size = 1
max_size = 3
"#
    )
}

/// Write `plans/eks.toml` into a scratch copy of the plans; return the dir and the line where
/// the node group's table starts.
fn plans_with(version: &str, nodegroup_text: &str) -> (tempfile::TempDir, usize) {
    let d = support::scratch_plans();
    let text = format!("{}{}", CLUSTER.replace("VERSION", version), nodegroup_text);
    let line = text.lines().position(|l| l.starts_with("[resource.eks_nodegroup")).map_or(0, |i| i + 1);
    std::fs::write(d.path().join("plans/eks.toml"), text).expect("write plans");
    (d, line)
}

fn refused(dir: &Path, needles: &[&str]) -> String {
    let out =
        kprov_offline(dir).args(["plan", "--env", "dev"]).assert().code(1).stderr(contains("could not reach").not());
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for n in needles {
        assert!(err.contains(n), "missing {n:?} in:\n{err}");
    }
    err
}

#[test]
fn an_unknown_instance_type_family_is_located() {
    let (d, line) = plans_with("1.30", &nodegroup(r#"["c5x.large"]"#, "AL2023_x86_64_STANDARD"));
    refused(
        d.path(),
        // `instance_types = ` is the table's sixth line.
        &[&format!("plans/eks.toml:{}:18:", line + 5), "eks_nodegroup.apps", "unknown instance type family `c5x`"],
    );
}

#[test]
fn an_arm_ami_type_on_x86_instances_is_located() {
    let (d, line) = plans_with("1.30", &nodegroup(r#"["c5.xlarge"]"#, "AL2023_ARM_64_STANDARD"));
    refused(
        d.path(),
        &[
            &format!("plans/eks.toml:{}:12:", line + 6),
            "`ami_type` AL2023_ARM_64_STANDARD is built for ARM (Graviton) but instance type c5.xlarge is x86_64",
        ],
    );
}

#[test]
fn an_unknown_ami_type_is_located() {
    let (d, line) = plans_with("1.30", &nodegroup(r#"["t4g.medium"]"#, "AL2023_ARM64"));
    refused(d.path(), &[&format!("plans/eks.toml:{}:12:", line + 6), "unknown AMI type \"AL2023_ARM64\""]);
}

#[test]
fn a_graviton_node_group_passes_validation() {
    // The same plans with a valid node group pass every offline check (`plan` would then ask
    // AWS whether the instance types are offered in the region: plan::validate::reads).
    let (d, _) = plans_with("1.30", &nodegroup(r#"["t4g.medium", "m7g.large"]"#, "AL2023_ARM_64_STANDARD"));
    kprov_offline(d.path())
        .args(["validate", "--env", "dev"])
        .assert()
        .success()
        .stdout(contains("Success! The configuration is valid"));
}

#[test]
fn an_eks_version_skip_is_refused_before_any_call() {
    let (d, _) = plans_with("1.31", "");
    // The state records the cluster at 1.29 (as an earlier apply left it).
    let mut st = State::new("platform", "dev");
    let attrs = serde_json::json!({"name": "platform-dev", "version": "1.29"});
    st.resources.insert(
        "eks_cluster.main".into(),
        ResourceState {
            kind: "eks_cluster".into(),
            id: Some("platform-dev".into()),
            status: Status::Created,
            client_token: None,
            attributes: serde_json::from_value(attrs).expect("attrs"),
            dependencies: Vec::new(),
        },
    );
    std::fs::create_dir_all(d.path().join("state/platform")).unwrap();
    std::fs::write(d.path().join("state/platform/dev.json"), serde_json::to_string(&st).expect("state"))
        .expect("write");
    let line = std::fs::read_to_string(d.path().join("plans/eks.toml"))
        .expect("plans")
        .lines()
        .position(|l| l.starts_with("version = "))
        .map_or(0, |i| i + 1);
    refused(
        d.path(),
        &[
            &format!("plans/eks.toml:{line}:11:"),
            "eks_cluster.main",
            "cannot go from 1.29 to 1.31 in one step",
            "set version = \"1.30\"",
        ],
    );
}
