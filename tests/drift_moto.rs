//! `kprov drift` against moto: no drift after apply in every format (JSON checked against the
//! documented schema, Prometheus parsed by the reference parser), out-of-band changes made with
//! the SDK reported in the right category with recorded and live values, ignore rules, and the
//! number of API calls bounded by kinds × pages rather than by resources.

mod support;

use std::path::Path;
use std::process::Command;

use aws_sdk_ec2::types::{Filter, IpPermission, IpRange, ResourceType, Tag, TagSpecification};
use serde_json::Value;

/// Roomy buckets: these tests are about drift, not about waiting for AWS's token refill.
const FAST_LIMITS: &str = "[rate_limits.ec2]\nmutating = { burst = 5000, refill_per_s = 5000 }\n\
resource_intensive = { burst = 5000, refill_per_s = 5000 }\ntags = { burst = 5000, refill_per_s = 5000 }\n\
non_mutating = { burst = 5000, refill_per_s = 5000 }\n";

fn stack_in(region: &str, azs: [&str; 3]) -> tempfile::TempDir {
    let dir = support::scratch_plans();
    let overlay = dir.path().join("plans/env/dev.toml");
    let mut text = std::fs::read_to_string(&overlay).unwrap();
    text.push_str(&format!("region = \"{region}\"\navailability_zones = {azs:?}\n"));
    std::fs::write(&overlay, text).unwrap();
    std::fs::write(dir.path().join("limits.toml"), FAST_LIMITS).unwrap();
    dir
}

fn kprov(dir: &Path) -> assert_cmd::Command {
    let mut c = support::kprov(dir);
    c.env("KPROV_RATE_LIMITS", dir.join("limits.toml"));
    c
}

fn apply(dir: &Path) {
    kprov(dir).args(["apply", "--env", "dev", "--auto-approve", "--progress", "plain"]).assert().success();
}

/// Run drift; returns (exit code, stdout).
fn drift(dir: &Path, format: &str) -> (i32, String) {
    let out = kprov(dir).args(["drift", "--env", "dev", "--format", format]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 2, "drift failed ({code}): {stderr}");
    (code, String::from_utf8_lossy(&out.stdout).to_string())
}

fn python(script: &str, input: &str) -> String {
    let py = support::repo_root().join(".venv/bin/python");
    let mut child = Command::new(py)
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python check failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Validate a JSON report against docs/drift-report.schema.json (python-jsonschema).
fn check_schema(report: &str) {
    let schema = support::repo_root().join("docs/drift-report.schema.json");
    python(
        &format!(
            "import json, sys, jsonschema\nschema = json.load(open({:?}))\njsonschema.Draft202012Validator.check_schema(schema)\n\
             jsonschema.validate(json.load(sys.stdin), schema, cls=jsonschema.Draft202012Validator)",
            schema.display().to_string()
        ),
        report,
    );
}

/// Parse Prometheus text with prometheus_client's parser; returns "name{labels} value" lines.
fn parse_prometheus(text: &str) -> String {
    python(
        "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
         for fam in text_string_to_metric_families(sys.stdin.read()):\n\
         \x20   for s in fam.samples:\n\
         \x20       labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n\
         \x20       print(f'{s.name}{{{labels}}} {s.value}')",
        text,
    )
}

fn f(name: &str, v: &str) -> Filter {
    Filter::builder().name(name).values(v).build()
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_no_drift_then_each_out_of_band_change_in_its_category() {
    let region = "us-east-2";
    let dir = stack_in(region, ["us-east-2a", "us-east-2b", "us-east-2c"]);
    let root = dir.path();
    apply(root);

    // ---- no drift, in every format ----
    let (code, table) = drift(root, "table");
    assert_eq!(code, 0, "{table}");
    assert!(table.contains("No drift"), "{table}");
    let (code, json) = drift(root, "json");
    assert_eq!(code, 0);
    check_schema(&json);
    let j: Value = serde_json::from_str(&json).unwrap();
    for cat in ["changed", "missing", "unmanaged", "differs_from_plan"] {
        assert_eq!(j[cat], serde_json::json!([]), "{cat}: {json}");
    }
    let (code, md) = drift(root, "markdown");
    assert_eq!(code, 0);
    assert!(md.contains("No drift"), "{md}");
    let (code, prom) = drift(root, "prometheus");
    assert_eq!(code, 0);
    let samples = parse_prometheus(&prom);
    assert!(samples.contains("kprov_drift_detected{env=dev,stack=platform} 0.0"), "{samples}");
    assert!(samples.contains("kprov_drift_last_run_success{env=dev,stack=platform} 1.0"), "{samples}");
    assert!(!samples.contains("kprov_drift_resources{"), "{samples}");

    // ---- out-of-band changes through the SDK ----
    let ec2 = support::ec2(region).await;
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("state/platform/dev.json")).unwrap()).unwrap();
    let id = |addr: &str| state["resources"][addr]["id"].as_str().unwrap_or_else(|| panic!("{addr}")).to_string();
    let attr = |addr: &str, a: &str| state["resources"][addr]["attributes"][a].as_str().unwrap().to_string();
    let vpc_id = id("ec2_vpc.main");
    // A tag removed.
    ec2.delete_tags().resources(&vpc_id).tags(Tag::builder().key("Name").build()).send().await.unwrap();
    // A rule added to the nodes' security group.
    let nodes_sg = id("ec2_security_group.nodes");
    ec2.authorize_security_group_ingress()
        .group_id(&nodes_sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(22)
                .to_port(22)
                .ip_ranges(IpRange::builder().cidr_ip("10.99.0.0/16").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    // A route deleted.
    let route_addr = "ec2_route.private_nat[\"us-east-2b\"]";
    ec2.delete_route()
        .route_table_id(attr(route_addr, "route_table_id"))
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    // A subnet deleted (its route-table association first, as AWS requires).
    let subnet_addr = "ec2_subnet.database[\"us-east-2c\"]";
    ec2.disassociate_route_table()
        .association_id(id("ec2_route_table_association.database[\"us-east-2c\"]"))
        .send()
        .await
        .unwrap();
    ec2.delete_subnet().subnet_id(id(subnet_addr)).send().await.unwrap();
    // An extra security group carrying the stack's tags.
    let rogue = ec2
        .create_security_group()
        .group_name("rogue")
        .description("made by hand")
        .vpc_id(&vpc_id)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::SecurityGroup)
                .tags(Tag::builder().key("kprov:stack").value("platform").build())
                .tags(Tag::builder().key("kprov:env").value("dev").build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let rogue_id = rogue.group_id().unwrap().to_string();

    let (code, json) = drift(root, "json");
    assert_eq!(code, 2, "{json}");
    check_schema(&json);
    let j: Value = serde_json::from_str(&json).unwrap();
    let changed = j["changed"].as_array().unwrap();
    let vpc = changed.iter().find(|c| c["address"] == "ec2_vpc.main").expect("VPC changed");
    let name = vpc["attributes"].as_array().unwrap().iter().find(|a| a["path"] == "tags.Name").expect("tags.Name");
    assert_eq!(name["recorded"], "platform-dev-vpc");
    assert_eq!(name["live"], Value::Null);
    let missing: Vec<&str> = j["missing"].as_array().unwrap().iter().map(|m| m["address"].as_str().unwrap()).collect();
    assert!(missing.contains(&route_addr), "{missing:?}");
    assert!(missing.contains(&subnet_addr), "{missing:?}");
    let unmanaged = j["unmanaged"].as_array().unwrap();
    assert!(
        unmanaged.iter().any(|u| u["kind"] == "ec2_security_group" && u["id"] == rogue_id.as_str()),
        "{unmanaged:?}"
    );
    let rules = ec2.describe_security_group_rules().filters(f("group-id", &nodes_sg)).send().await.unwrap();
    let added = rules
        .security_group_rules()
        .iter()
        .find(|r| r.cidr_ipv4() == Some("10.99.0.0/16"))
        .and_then(|r| r.security_group_rule_id())
        .unwrap();
    assert!(unmanaged.iter().any(|u| u["kind"] == "ec2_security_group_rule" && u["id"] == added), "{unmanaged:?}");
    // Nothing else was reported as changed: the other resources are as recorded.
    assert_eq!(changed.len(), 1, "{changed:?}");

    // The table and markdown name the same findings; Prometheus counts them by kind.
    let (_, table) = drift(root, "table");
    assert!(table.contains("tags.Name") && table.contains(route_addr) && table.contains(&rogue_id), "{table}");
    let (_, md) = drift(root, "markdown");
    assert!(md.contains("| changed | `ec2_vpc.main` | `tags.Name` | `platform-dev-vpc` | `(absent)` |"), "{md}");
    let (code, prom) = drift(root, "prometheus");
    assert_eq!(code, 2);
    let samples = parse_prometheus(&prom);
    assert!(samples.contains("kprov_drift_detected{env=dev,stack=platform} 1.0"), "{samples}");
    assert!(
        samples.contains("kprov_drift_resources{category=missing,env=dev,kind=ec2_route,stack=platform} 1.0"),
        "{samples}"
    );
    assert!(
        samples
            .contains("kprov_drift_resources{category=unmanaged,env=dev,kind=ec2_security_group,stack=platform} 1.0"),
        "{samples}"
    );

    // ---- an ignore rule suppresses exactly what it names ----
    let stack_file = root.join("plans/stack.toml");
    let mut text = std::fs::read_to_string(&stack_file).unwrap();
    text.push_str("\n[drift]\nignore = [{ kind = \"ec2_vpc\", attributes = [\"tags.Name\"] }]\n");
    std::fs::write(&stack_file, text).unwrap();
    let (code, json) = drift(root, "json");
    assert_eq!(code, 2, "the other drift remains");
    let j2: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j2["changed"], serde_json::json!([]), "only the VPC's Name tag had changed");
    assert_eq!(j2["missing"], j["missing"]);
    assert_eq!(j2["unmanaged"], j["unmanaged"]);

    // Drift wrote nothing.
    let after: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("state/platform/dev.json")).unwrap()).unwrap();
    assert_eq!(after["serial"], state["serial"]);
}

fn api_calls(json: &str) -> u64 {
    let j: Value = serde_json::from_str(json).unwrap();
    j["api_calls"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum()
}

#[test]
fn drift_api_calls_grow_with_kinds_and_pages_not_resources() {
    let dir = stack_in("ca-west-1", ["ca-west-1a", "ca-west-1b", "ca-west-1c"]);
    let root = dir.path();
    apply(root);
    let (code, json) = drift(root, "json");
    assert_eq!(code, 0, "{json}");
    let small = api_calls(&json);
    let resources_small =
        serde_json::from_str::<Value>(&std::fs::read_to_string(root.join("state/platform/dev.json")).unwrap()).unwrap()
            ["resources"]
            .as_object()
            .unwrap()
            .len();

    // 6 more security groups with 45 rules each (AWS allows 60 per direction): the stack grows
    // past 300 resources, the kinds do not.
    let rules: Vec<String> =
        (0..270).map(|i| format!("r{i} = {{ g = \"g{}\", port = {} }}", i % 6, 20000 + i)).collect();
    std::fs::write(
        root.join("plans/zz-rules.toml"),
        format!(
            "[resource.ec2_security_group.extra]\nfor_each = [\"g0\", \"g1\", \"g2\", \"g3\", \"g4\", \"g5\"]\n\
             name = \"extra-${{each.key}}\"\nvpc_id = \"${{ec2_vpc.main.id}}\"\n\n\
             [resource.ec2_security_group_rule.extra]\nfor_each = {{ {} }}\n\
             security_group_id = \"${{ec2_security_group.extra[each.value.g].id}}\"\n\
             type = \"ingress\"\nprotocol = \"tcp\"\nfrom_port = \"${{each.value.port}}\"\nto_port = \"${{each.value.port}}\"\n\
             cidr_ipv4 = \"10.0.0.0/8\"\n",
            rules.join(", ")
        ),
    )
    .unwrap();
    apply(root);
    let state: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("state/platform/dev.json")).unwrap()).unwrap();
    let resources = state["resources"].as_object().unwrap().len();
    assert!(resources >= 300, "{resources} resources");
    let kinds: std::collections::BTreeSet<&str> =
        state["resources"].as_object().unwrap().values().map(|r| r["kind"].as_str().unwrap()).collect();

    let (code, json) = drift(root, "json");
    assert_eq!(code, 0, "{json}");
    let big = api_calls(&json);
    eprintln!(
        "drift API calls: {small} for {resources_small} resources, {big} for {resources} resources, {} kinds",
        kinds.len()
    );
    // Per kind: one batched read (a page holds 200 ids, so the rules take two) plus one
    // ownership lookup; a few kinds need one or two extra calls (VPC attributes, rules in the
    // stack's groups). Nothing is per resource.
    assert!(big <= small + 2, "{big} calls for {resources} resources vs {small} for {resources_small}");
    assert!(big <= 4 * kinds.len() as u64, "{big} calls for {} kinds", kinds.len());
}
