//! A state belongs to one stack, env, region and account; renames keep AWS objects; the small
//! CLI behaviours around the state (closed pipes, Ctrl-C at the prompt, saved plans, `state
//! show` addresses, `state mv` / `state rm`).
//!
//! Against moto. "Refused before any AWS call" is proven with a counting proxy in front of moto
//! (`support/fault_proxy.rs`, no faults): it records every request kprov sends. AWS itself is
//! checked through the SDK, never through kprov's state.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
mod state_common;
mod support;

use std::path::Path;

use aws_sdk_ec2::types::Filter;
use fault_proxy::{FaultConfig, FaultProxy};
use predicates::prelude::*;
use predicates::str::contains;
use state_common::{tiny_plans, unique, Proc};

/// The VPC ids and security group ids tagged with `stack`, in `region`, seen by `sdk`.
async fn owned(sdk: &aws_config::SdkConfig, stack: &str) -> (Vec<String>, Vec<String>) {
    let ec2 = aws_sdk_ec2::Client::new(sdk);
    let tag = || Filter::builder().name("tag:kprov:stack").values(stack).build();
    let vpcs = ec2.describe_vpcs().filters(tag()).send().await.expect("describe vpcs");
    let sgs = ec2.describe_security_groups().filters(tag()).send().await.expect("describe sgs");
    let mut v: Vec<String> = vpcs.vpcs().iter().filter_map(|v| v.vpc_id().map(str::to_string)).collect();
    let mut s: Vec<String> = sgs.security_groups().iter().filter_map(|g| g.group_id().map(str::to_string)).collect();
    v.sort();
    s.sort();
    (v, s)
}

async fn owned_in(region: &str, stack: &str) -> (Vec<String>, Vec<String>) {
    owned(&support::sdk_config(region).await, stack).await
}

fn apply(dir: &Path, extra: &[&str]) {
    support::kprov(dir).args(["apply", "--auto-approve", "--progress", "plain"]).args(extra).assert().success();
}

/// `plan`, `apply`, `destroy` and `drift` of `dir`, through a counting proxy, each refused
/// with exit 1 and `message`; returns what the proxy saw.
async fn refused_four_ways(
    dir: &Path,
    extra: &[&str],
    env: &[(&str, String)],
    message: &str,
) -> std::collections::BTreeMap<String, u64> {
    let proxy = FaultProxy::start(support::moto_endpoint(), FaultConfig::from_env()).await;
    for verb in [&["plan"][..], &["apply", "--auto-approve"], &["destroy", "--auto-approve"], &["drift"]] {
        support::kprov(dir)
            .env("AWS_ENDPOINT_URL", proxy.endpoint())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .args(verb)
            .args(extra)
            .assert()
            .code(1)
            .stderr(contains(message).and(contains("nothing was changed")).and(contains("panicked").not()));
    }
    proxy.seen()
}

#[tokio::test(flavor = "multi_thread")]
async fn another_stack_is_refused_before_any_aws_call_and_the_first_is_untouched() {
    let region = "ap-southeast-5"; // no other test uses it
    let shared = tempfile::tempdir().expect("tempdir");
    let state_dir = shared.path().to_str().expect("utf-8").to_string();
    // Unique names: moto keeps what earlier runs created.
    let (a, b) = (unique("alpha"), unique("beta"));
    let alpha = tiny_plans(&a, region, true, "");
    let beta = tiny_plans(&b, region, false, "");
    apply(alpha.path(), &["--state-dir", &state_dir]);
    let alpha_file = shared.path().join(format!("{a}/dev.json"));
    let before = std::fs::read(&alpha_file).expect("alpha's state at state/<stack>/<env>.json");
    let live = owned_in(region, &a).await;
    assert_eq!((live.0.len(), live.1.len()), (1, 1), "{live:?}");

    // The same state directory: each stack has its own file, beta plans only its own VPC.
    support::kprov(beta.path())
        .args(["plan", "--state-dir", &state_dir])
        .assert()
        .success()
        .stdout(contains("1 to create, 0 to update, 0 to replace, 0 to delete"));

    // Pointed at alpha's state (a shared file, as the checkout had): refused, naming
    // both stacks and the way out, and not one request reached AWS.
    let file = alpha_file.to_str().expect("utf-8");
    let seen =
        refused_four_ways(beta.path(), &["--state-file", file], &[], &format!("belongs to stack `{a}`, not `{b}`"))
            .await;
    assert!(seen.is_empty(), "no AWS call at all: {seen:?}");
    support::kprov(beta.path())
        .args(["plan", "--state-file", file])
        .assert()
        .stderr(contains("--state-dir or --state-file").and(contains("--state-key")));

    assert_eq!(std::fs::read(&alpha_file).unwrap(), before, "alpha's state is byte-identical");
    // Free: no holder (`Info`); a fenced lock file keeps its generation when released.
    let lock = std::fs::read_to_string(shared.path().join(format!("{a}/dev.lock"))).unwrap_or_default();
    assert!(!lock.contains("\"Info\""), "alpha's lock is free: {lock}");
    assert_eq!(owned_in(region, &a).await, live, "alpha's VPC and group are untouched");
    assert_eq!(owned_in(region, &b).await, (vec![], vec![]), "beta created nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_old_default_path_is_taken_over_by_its_own_stack_only() {
    let region = "ap-southeast-5";
    let alpha = tiny_plans("old-alpha", region, false, "");
    let beta = tiny_plans("old-beta", region, false, "");
    // An older kprov's layout: alpha's state at state/dev.json, its lock file beside it.
    let mut st = kprov::state::State::new("old-alpha", "dev");
    st.serial = 7;
    let text = st.to_json();
    for d in [alpha.path(), beta.path()] {
        std::fs::write(d.join("state/dev.json"), &text).unwrap();
        std::fs::write(d.join("state/dev.lock"), "").unwrap();
    }

    // Another stack leaves it alone, says so, and starts its own state.
    support::kprov(beta.path())
        .args(["state", "list"])
        .assert()
        .code(1)
        .stderr(contains("holds the state of stack `old-alpha`").and(contains("left alone")));
    assert_eq!(std::fs::read_to_string(beta.path().join("state/dev.json")).unwrap(), text);

    // Its own stack moves it to state/<stack>/<env>.json, byte for byte, and says so.
    support::kprov(alpha.path())
        .args(["state", "pull"])
        .assert()
        .success()
        .stdout(text.clone())
        .stderr(contains("Moved the state of stack `old-alpha` env dev from").and(contains("old-alpha/dev.json")));
    assert!(!alpha.path().join("state/dev.json").exists());
    assert_eq!(std::fs::read_to_string(alpha.path().join("state/old-alpha/dev.json")).unwrap(), text);

    // A run of the old layout holding its lock: the takeover waits for it, and gives up.
    std::fs::write(beta.path().join("state/dev.json"), text.replace("old-alpha", "old-beta")).unwrap();
    let mut holder =
        Proc::on_terminal(beta.path(), &["apply", "--progress", "plain", "--state-file", "state/dev.json"], &[]);
    holder.wait_for("Only 'yes' will be accepted");
    support::kprov(beta.path()).args(["state", "list"]).assert().code(1).stderr(contains("the state is locked by"));
    assert!(beta.path().join("state/dev.json").exists(), "not moved under a held lock");
    holder.answer("no");
    let (code, out) = holder.finish();
    assert_eq!(code, 1, "{out}");
    support::kprov(beta.path())
        .args(["state", "list"])
        .assert()
        .stderr(contains("Moved the state of stack `old-beta`"));
    assert!(beta.path().join("state/old-beta/dev.json").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_region_change_is_refused_before_any_aws_call() {
    let (old, new) = ("mx-central-1", "ap-southeast-7"); // no other test uses them
    let stack = unique("moving");
    let dir = tiny_plans(&stack, old, true, "");
    apply(dir.path(), &[]);
    let file = dir.path().join(format!("state/{stack}/dev.json"));
    let before = std::fs::read(&file).unwrap();
    let state: serde_json::Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(state["region"], old, "the state records its region");
    let live = owned_in(old, &stack).await;

    // The overlay moves the stack to another region.
    std::fs::write(dir.path().join("plans/env/dev.toml"), format!("[variables]\nregion = \"{new}\"\n")).unwrap();
    let seen = refused_four_ways(dir.path(), &[], &[], &format!("belongs to region `{old}`, not `{new}`")).await;
    assert!(seen.is_empty(), "no AWS call at all: {seen:?}");

    assert_eq!(std::fs::read(&file).unwrap(), before, "the state is byte-identical");
    assert_eq!(owned_in(old, &stack).await, live, "nothing was deleted in the old region");
    assert_eq!(owned_in(new, &stack).await, (vec![], vec![]), "nothing was created in the new one");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_change_is_refused_before_any_aws_write() {
    let region = "ap-east-2"; // no other test uses it
    let stack = unique("acct");
    let dir = tiny_plans(&stack, region, true, "");
    apply(dir.path(), &[]);
    let file = dir.path().join(format!("state/{stack}/dev.json"));
    let before = std::fs::read(&file).unwrap();
    let state: serde_json::Value = serde_json::from_slice(&before).unwrap();
    // moto's default account, from STS GetCallerIdentity.
    assert_eq!(state["account"], "123456789012");
    let live = owned_in(region, &stack).await;

    // Credentials of another account: moto maps the keys an AssumeRole returns to the role's
    // account (moto/sts/models.py `assume_role`, moto/iam/models.py `get_account_id_from`).
    let sts = aws_sdk_sts::Client::new(&support::sdk_config(region).await);
    let out = sts
        .assume_role()
        .role_arn("arn:aws:iam::222222222222:role/kprov-other")
        .role_session_name("kprov-test")
        .send()
        .await
        .expect("assume role");
    let c = out.credentials().expect("credentials");
    let env = vec![
        ("AWS_ACCESS_KEY_ID", c.access_key_id().to_string()),
        ("AWS_SECRET_ACCESS_KEY", c.secret_access_key().to_string()),
        ("AWS_SESSION_TOKEN", c.session_token().to_string()),
    ];
    let seen =
        refused_four_ways(dir.path(), &[], &env, "belongs to AWS account `123456789012`, not `222222222222`").await;
    assert!(
        !seen.is_empty() && seen.keys().all(|k| k == "sts:GetCallerIdentity"),
        "only the identity was read: {seen:?}"
    );

    assert_eq!(std::fs::read(&file).unwrap(), before, "the state is byte-identical");
    assert_eq!(owned_in(region, &stack).await, live, "account 1's resources are untouched");
    let other = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .endpoint_url(support::moto_endpoint())
        .credentials_provider(aws_sdk_ec2::config::Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "other",
        ))
        .load()
        .await;
    assert_eq!(owned(&other, &stack).await, (vec![], vec![]), "nothing was created in account 2");
}

/// Rename the security group `app` of a tiny plan to `web`, with or without a moved block.
fn rename_group(dir: &Path, moved: &str) {
    let p = dir.join("plans/stack.toml");
    let text = std::fs::read_to_string(&p)
        .unwrap()
        .replace("[resource.ec2_security_group.app]", "[resource.ec2_security_group.web]");
    std::fs::write(p, format!("{text}\n{moved}")).unwrap();
}

fn state_of(dir: &Path, stack: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(format!("state/{stack}/dev.json"))).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_moved_block_renames_without_change_and_state_mv_and_rm_edit_only_the_state() {
    let region = "ap-southeast-7";
    let stack = unique("rename");
    let dir = tiny_plans(&stack, region, true, "");
    let root = dir.path();
    apply(root, &[]);
    let (_, groups) = owned_in(region, &stack).await;
    let group = state_of(root, &stack)["resources"]["ec2_security_group.app"]["id"].as_str().unwrap().to_string();
    assert_eq!(groups, std::slice::from_ref(&group));

    rename_group(root, "[[moved]]\nfrom = \"ec2_security_group.app\"\nto = \"ec2_security_group.web\"\n");
    support::kprov(root).args(["plan", "--detailed-exitcode"]).assert().code(0).stdout(
        contains("ec2_security_group.app has moved to ec2_security_group.web")
            .and(contains("0 to create, 0 to update, 0 to replace, 0 to delete")),
    );
    // The apply records the rename, although nothing changes in AWS.
    let serial = state_of(root, &stack)["serial"].as_u64().unwrap();
    apply(root, &[]);
    let st = state_of(root, &stack);
    assert!(st["serial"].as_u64().unwrap() > serial, "a new serial");
    assert_eq!(st["resources"]["ec2_security_group.web"]["id"], group.as_str(), "the same group");
    assert!(st["resources"].get("ec2_security_group.app").is_none());
    assert_eq!(
        owned_in(region, &stack).await.1,
        std::slice::from_ref(&group),
        "the group was neither deleted nor created"
    );
    support::kprov(root)
        .args(["plan", "--detailed-exitcode"])
        .assert()
        .code(0)
        .stdout(contains("has moved").not().and(contains("No changes")));

    // state mv: the same rename by hand, and back; a kind change is refused.
    support::kprov(root)
        .args(["state", "mv", "ec2_security_group.web", "ec2_security_group.other"])
        .assert()
        .success()
        .stdout(contains("Moved ec2_security_group.web to ec2_security_group.other.").and(contains("serial")));
    assert_eq!(state_of(root, &stack)["resources"]["ec2_security_group.other"]["id"], group.as_str());
    support::kprov(root).args(["state", "mv", "ec2_security_group.other", "ec2_security_group.web"]).assert().success();
    let before = std::fs::read(root.join(format!("state/{stack}/dev.json"))).unwrap();
    support::kprov(root)
        .args(["state", "mv", "ec2_security_group.web", "ec2_vpc.web"])
        .assert()
        .code(1)
        .stderr(contains("the kind differs"));
    support::kprov(root)
        .args(["state", "mv", "ec2_security_group.nope", "ec2_security_group.web2"])
        .assert()
        .code(1)
        .stderr(contains("no resource ec2_security_group.nope in the state"));
    assert_eq!(
        std::fs::read(root.join(format!("state/{stack}/dev.json"))).unwrap(),
        before,
        "refused moves write nothing"
    );

    // state rm: asks (refused without a terminal), then forgets without deleting.
    support::kprov(root)
        .args(["state", "rm", "ec2_security_group.web"])
        .assert()
        .code(1)
        .stdout(contains("NOT deleted"))
        .stderr(contains("stdin is not a terminal"));
    assert_eq!(std::fs::read(root.join(format!("state/{stack}/dev.json"))).unwrap(), before);
    let serial = state_of(root, &stack)["serial"].as_u64().unwrap();
    support::kprov(root)
        .args(["state", "rm", "--auto-approve", "ec2_security_group.web"])
        .assert()
        .success()
        .stdout(contains("Removed 1 resources from the state; nothing was deleted in AWS"));
    let st = state_of(root, &stack);
    assert_eq!(st["serial"].as_u64().unwrap(), serial + 1);
    assert!(st["resources"].get("ec2_security_group.web").is_none());
    assert_eq!(owned_in(region, &stack).await.1, [group], "the group still exists in AWS");
}

/// A plans dir whose state (written directly) holds many instances of a repeated VPC.
fn big_state(stack: &str, n: usize) -> tempfile::TempDir {
    let dir = tiny_plans(stack, "us-east-1", false, "");
    let mut st = kprov::state::State::new(stack, "dev");
    st.serial = 1;
    for i in 0..n {
        st.resources.insert(
            format!("ec2_vpc.v[\"k{i}\"]"),
            kprov::state::ResourceState {
                kind: "ec2_vpc".into(),
                id: Some(format!("vpc-{i:08}")),
                status: kprov::state::Status::Created,
                client_token: None,
                attributes: Default::default(),
                dependencies: vec![],
            },
        );
    }
    std::fs::create_dir_all(dir.path().join(format!("state/{stack}"))).unwrap();
    std::fs::write(dir.path().join(format!("state/{stack}/dev.json")), st.to_json()).unwrap();
    dir
}

#[test]
fn a_closed_pipe_ends_the_output_quietly_and_show_takes_single_quotes_and_lists_instances() {
    let dir = big_state("pipe", 20_000);
    let bin = assert_cmd::cargo::cargo_bin("kprov");
    for cmd in ["state list", "state pull"] {
        let out = std::process::Command::new("bash")
            .arg("-c")
            .arg(format!("'{}' {cmd} 2>err.txt | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}", bin.display()))
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let err = std::fs::read_to_string(dir.path().join("err.txt")).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0", "`{cmd} | head -1` exits 0; stderr: {err}");
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{cmd}: {err}");
    }

    support::kprov(dir.path())
        .args(["state", "show", "ec2_vpc.v['k7']"])
        .assert()
        .success()
        .stdout(contains("# ec2_vpc.v[\"k7\"]").and(contains("vpc-00000007")));
    support::kprov(dir.path())
        .args(["state", "show", "ec2_vpc.v[\"k7\"]"])
        .assert()
        .success()
        .stdout(contains("vpc-00000007"));
    let listed = support::kprov(dir.path()).args(["state", "show", "ec2_vpc.v"]).output().unwrap();
    assert!(listed.status.success());
    let text = String::from_utf8(listed.stdout).unwrap();
    assert!(text.starts_with("# ec2_vpc.v has 20000 instances"), "{}", &text[..200.min(text.len())]);
    assert_eq!(text.lines().filter(|l| l.starts_with("ec2_vpc.v[")).count(), 20_000);
    support::kprov(dir.path())
        .args(["state", "show", "ec2_vpc.w"])
        .assert()
        .code(1)
        .stderr(contains("no resource `ec2_vpc.w`"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_saved_plan_applies_without_asking_and_ctrl_c_at_the_prompt_releases_the_lock() {
    let region = "mx-central-1";
    let stack = unique("saved");
    let dir = tiny_plans(&stack, region, false, "");
    let root = dir.path();
    std::fs::write(root.join("plans/env/prod.toml"), "[variables]\n").unwrap();
    support::kprov(root).args(["plan", "--env", "prod", "--out", "prod.plan.json"]).assert().success();
    support::kprov(root).args(["plan", "--out", "dev.plan.json"]).assert().success();

    // An apply holds dev's lock at its prompt…
    let mut holder = Proc::on_terminal(root, &["apply", "--progress", "plain"], &[]);
    holder.wait_for("Only 'yes' will be accepted");
    // …a prod plan applied to dev is refused for what it is, before the lock is even tried.
    support::kprov(root)
        .args(["apply", "prod.plan.json"])
        .assert()
        .code(1)
        .stderr(contains(format!("this plan is for stack {stack} env prod")).and(contains("locked").not()));
    // Ctrl-C at the prompt: exit 130, nothing done, the lock released at once.
    let pid = holder.kprov_pid();
    assert!(std::process::Command::new("kill").args(["-INT", &pid.to_string()]).status().unwrap().success());
    let (code, out) = holder.finish();
    assert_eq!(code, 130, "{out}");
    assert!(out.contains("interrupted at the confirmation prompt"), "{out}");
    let lock = std::fs::read_to_string(root.join(format!("state/{stack}/dev.lock"))).unwrap_or_default();
    assert!(!lock.contains("\"Info\""), "released (no holder; the generation stays): {lock}");
    assert_eq!(owned_in(region, &stack).await.0, Vec::<String>::new(), "nothing was created");

    // The saved dev plan runs without a question (stdin is no terminal and there is no
    // --auto-approve), right after: the lock is free.
    support::kprov(root)
        .args(["apply", "dev.plan.json", "--progress", "plain"])
        .assert()
        .success()
        .stderr(contains("1 created"));
    assert_eq!(owned_in(region, &stack).await.0.len(), 1);
}
