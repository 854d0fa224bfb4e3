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
