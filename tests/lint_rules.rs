//! `kprov lint` through the binary: the reference plans pass in every environment, and each
//! security rule, broken by one edit a user could make, is reported at the resource's location
//! with exit 1. No AWS access (the endpoint is a closed port).

mod support;

use std::path::Path;

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

fn edit(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join("plans").join(file);
    let s = std::fs::read_to_string(&p).expect("plan file");
    assert!(s.contains(from), "{file} has no {from:?}");
    std::fs::write(p, s.replacen(from, to, 1)).expect("write");
}

fn line_of(dir: &Path, file: &str, header: &str) -> String {
    let text = std::fs::read_to_string(dir.join("plans").join(file)).expect("read");
    let line = text.lines().position(|l| l.starts_with(header)).expect("header") + 1;
    format!("plans/{file}:{line}:")
}

/// Lint `env`, expect exit 1 with `rule` reported at `header`'s line.
fn broken(dir: &Path, file: &str, header: &str, rule: &str) {
    kprov_offline(dir)
        .args(["lint", "--env", "prod"])
        .assert()
        .code(1)
        .stdout(contains(line_of(dir, file, header)))
        .stdout(contains(format!("[{rule}]")));
}

#[test]
fn the_reference_plans_pass_in_every_environment() {
    let d = support::scratch_platform_plans();
    for env in ["dev", "stage", "prod"] {
        kprov_offline(d.path()).args(["lint", "--env", env]).assert().success().stdout(contains("no findings"));
    }
}

#[test]
fn open_ingress_other_than_web_on_the_load_balancer_is_reported() {
    let d = support::scratch_platform_plans();
    std::fs::write(
        d.path().join("plans/zz-ssh.toml"),
        "[resource.ec2_security_group_rule.ssh]\nsecurity_group_id = \"${ec2_security_group.nodes.id}\"\n\
         type = \"ingress\"\nprotocol = \"tcp\"\nfrom_port = 22\nto_port = 22\ncidr_ipv4 = \"0.0.0.0/0\"\n",
    )
    .unwrap();
    broken(d.path(), "zz-ssh.toml", "[resource.ec2_security_group_rule.ssh]", "open-ingress");
}

#[test]
fn nodes_in_public_subnets_are_reported() {
    let d = support::scratch_platform_plans();
    edit(
        d.path(),
        "nodegroups.toml",
        "subnet_ids = \"${ec2_subnet.private[*].id}\"",
        "subnet_ids = \"${ec2_subnet.public[*].id}\"",
    );
    broken(d.path(), "nodegroups.toml", "[resource.eks_nodegroup.", "nodes-in-private-subnets");
}

#[test]
fn unencrypted_secrets_and_an_open_endpoint_are_reported() {
    let d = support::scratch_platform_plans();
    edit(d.path(), "cluster.toml", "encryption_kms_key_arn = \"${kms_key.eks.arn}\"\n", "");
    broken(d.path(), "cluster.toml", "[resource.eks_cluster.main]", "secrets-encrypted");

    let d = support::scratch_platform_plans();
    edit(d.path(), "cluster.toml", "public_access_cidrs = \"${var.public_access_cidrs}\"\n", "");
    broken(d.path(), "cluster.toml", "[resource.eks_cluster.main]", "restricted-endpoint");
}

#[test]
fn an_oidc_trust_not_pinned_to_one_repository_is_reported() {
    let d = support::scratch_platform_plans();
    edit(
        d.path(),
        "ci.toml",
        "\"repo:${var.github_repository}:ref:refs/heads/main\"",
        "\"repo:acme/*:ref:refs/heads/main\"",
    );
    broken(d.path(), "ci.toml", "[resource.iam_role.deploy]", "oidc-trust-pinned");
}
