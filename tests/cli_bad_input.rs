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
