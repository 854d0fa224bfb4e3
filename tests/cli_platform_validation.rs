//! The invalid inputs of the platform that no single attribute shows, refused by `kprov plan`
//! before any AWS call (the endpoint is a closed port: a call would fail differently), exit 1,
//! with the offending resource's `file:line:col` and address: a subnet CIDR outside its VPC and
//! overlapping subnets, an ALB with fewer than two subnets, an HTTPS listener without a certificate
//! (counted / checked on the declared shape, since the subnet ids and the certificate ARN are
//! known only after apply). Unknown instance type families and AMI types and EKS version skips
//! are in `eks_validation.rs`. The CIDR cases change only variables in the overlay, as a user would.

mod support;

use std::path::Path;

use predicates::prelude::*;
use predicates::str::contains;

fn kprov_offline(dir: &Path) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("kprov").expect("kprov binary");
    c.current_dir(dir)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "x")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_REGION")
        .env("NO_COLOR", "1");
    c
}

/// `plans/FILE:LINE:1` of the line that starts with `header`.
fn location(dir: &Path, file: &str, header: &str) -> String {
    let text = std::fs::read_to_string(dir.join("plans").join(file)).expect("read plans");
    let line = text.lines().position(|l| l.starts_with(header)).expect("header in file") + 1;
    format!("plans/{file}:{line}:1:")
}

/// `plans/FILE:LINE:COL:` of the value of attribute `attr` in the table that starts with
/// `header`: errors about one attribute point at its value.
fn attr_location(dir: &Path, file: &str, header: &str, attr: &str) -> String {
    let text = std::fs::read_to_string(dir.join("plans").join(file)).expect("read plans");
    let start = text.lines().position(|l| l.starts_with(header)).expect("header in file");
    let prefix = format!("{attr} = ");
    let (i, _) = text.lines().enumerate().skip(start).find(|(_, l)| l.starts_with(&prefix)).expect("attribute");
    format!("plans/{file}:{}:{}:", i + 1, prefix.len() + 1)
}

fn add_to_overlay(dir: &Path, env: &str, lines: &str) {
    let p = dir.join(format!("plans/env/{env}.toml"));
    let mut s = std::fs::read_to_string(&p).expect("overlay");
    s.push_str(lines);
    std::fs::write(p, s).expect("write overlay");
}

/// `kprov plan` exits 1 without reaching AWS; stderr, for the caller's checks.
fn refused(dir: &Path, env: &str) -> String {
    let out =
        kprov_offline(dir).args(["plan", "--env", env]).assert().code(1).stderr(contains("could not reach").not());
    String::from_utf8_lossy(&out.get_output().stderr).to_string()
}

#[test]
fn the_reference_platform_passes_validation_in_every_environment() {
    let d = support::scratch_platform_plans();
    for env in ["dev", "stage", "prod"] {
        // Offline: `validate` makes every check that needs no AWS call (`plan` also asks AWS
        // whether the zones, instance types and versions exist: tests/cli_bad_input.rs).
        kprov_offline(d.path())
            .args(["validate", "--env", env])
            .assert()
            .success()
            .stdout(contains("Success! The configuration is valid"));
    }
}

#[test]
fn a_subnet_cidr_outside_the_vpc_is_located() {
    let d = support::scratch_platform_plans();
    add_to_overlay(d.path(), "prod", "private_subnet_cidrs = [\"10.0.11.0/24\", \"10.1.12.0/24\", \"10.0.13.0/24\"]\n");
    let err = refused(d.path(), "prod");
    let at = attr_location(d.path(), "network.toml", "[resource.ec2_subnet.private]", "cidr_block");
    assert!(err.contains(&format!("{at} ec2_subnet.private[\"us-east-1b\"]:")), "{err}");
    assert!(err.contains("10.1.12.0/24 is outside the CIDR block of ec2_vpc.main (10.0.0.0/16)"), "{err}");
}

#[test]
fn a_vpc_too_small_for_its_subnets_is_located_at_the_first_subnet() {
    let d = support::scratch_platform_plans();
    add_to_overlay(d.path(), "dev", "vpc_cidr = \"10.0.0.0/24\"\n");
    let err = refused(d.path(), "dev");
    let at = attr_location(d.path(), "network.toml", "[resource.ec2_subnet.public]", "cidr_block");
    assert!(err.contains(&format!("{at} ec2_subnet.public[\"us-east-1a\"]:")), "{err}");
    assert!(err.contains("outside the CIDR block of ec2_vpc.main (10.0.0.0/24)"), "{err}");
}

#[test]
fn overlapping_subnets_are_located_and_name_each_other() {
    let d = support::scratch_platform_plans();
    // The database tier's second block sits inside the private tier's first.
    add_to_overlay(
        d.path(),
        "stage",
        "database_subnet_cidrs = [\"10.0.21.0/24\", \"10.0.11.128/25\", \"10.0.23.0/24\"]\n",
    );
    let err = refused(d.path(), "stage");
    let at = attr_location(d.path(), "network.toml", "[resource.ec2_subnet.database]", "cidr_block");
    assert!(err.contains(&format!("{at} ec2_subnet.database[\"us-east-1b\"]:")), "{err}");
    assert!(
        err.contains("10.0.11.128/25 overlaps ec2_subnet.private[\"us-east-1a\"] (10.0.11.0/24) in ec2_vpc.main"),
        "{err}"
    );
}

fn edit_plan(dir: &Path, file: &str, from: &str, to: &str) {
    let p = dir.join("plans").join(file);
    let s = std::fs::read_to_string(&p).expect("plan file");
    assert!(s.contains(from), "{file} has no {from:?}");
    std::fs::write(p, s.replacen(from, to, 1)).expect("write plan");
}

#[test]
fn an_alb_with_fewer_than_two_subnets_is_refused_before_any_aws_call() {
    let d = support::scratch_platform_plans();
    edit_plan(
        d.path(),
        "ingress.toml",
        "subnets = \"${ec2_subnet.public[*].id}\"",
        "subnets = [\"${ec2_subnet.public[\\\"us-east-1a\\\"].id}\"]",
    );
    let err = refused(d.path(), "dev");
    let at = attr_location(d.path(), "ingress.toml", "[resource.elbv2_load_balancer.", "subnets");
    assert!(err.contains(&at), "{err}");
    assert!(err.contains("at least two subnets") && err.contains("got 1"), "{err}");
}

#[test]
fn an_https_listener_without_a_certificate_is_refused_before_any_aws_call() {
    let d = support::scratch_platform_plans();
    edit_plan(d.path(), "ingress.toml", "certificate_arn = \"${acm_certificate.main.arn}\"\n", "");
    let err = refused(d.path(), "dev");
    assert!(err.contains(&location(d.path(), "ingress.toml", "[resource.elbv2_listener.https]")), "{err}");
    assert!(err.contains("elbv2_listener.https") && err.contains("needs an ACM certificate"), "{err}");
}
