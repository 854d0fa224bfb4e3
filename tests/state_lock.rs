//! The state lock across real kprov processes, against moto's S3 and DynamoDB.
//!
//! Overlaps are staged, not timed: the holder is a kprov apply on a pseudo-terminal that has
//! taken the lock and waits at its confirmation prompt until the test answers. Checks go
//! through the SDK: the lock item, the state object and all its versions, the EC2 resources.

mod state_common;
mod support;

use aws_sdk_ec2::types::Filter;
use predicates::prelude::*;
use predicates::str::contains;
use state_common::{backend_env, bootstrap, kprov_s3, lock_item, object, tiny_plans, unique, version_serials, Proc};

async fn vpcs(region: &str, stack: &str) -> Vec<String> {
    let out = support::ec2(region)
        .await
        .describe_vpcs()
        .filters(Filter::builder().name("tag:kprov:stack").values(stack).build())
        .send()
        .await
        .unwrap();
    out.vpcs().iter().filter_map(|v| v.vpc_id().map(str::to_string)).collect()
}

fn kill9(pid: u32) {
    let ok = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill -KILL {pid}");
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_applies_one_fails_naming_the_holder_or_waits_and_proceeds() {
    let region = "ap-northeast-2"; // no other test uses it
    let (bucket, table) = (unique("kprov-lock"), unique("locks"));
    // Same stack and env, so the same state object; the second plan adds a security group.
    let a = tiny_plans("overlap", region, false, "");
    let b = tiny_plans("overlap", region, true, "");
    bootstrap(a.path(), &bucket, region, &table).await;
    let env = backend_env(&bucket, region, &table);
    let key = "overlap/dev.json";

    // The first run takes the lock and waits for its confirmation.
    let mut first = Proc::on_terminal(a.path(), &["apply", "--progress", "plain"], &env);
    first.wait_for("Only 'yes' will be accepted");
    let id = first.lock_id();
    let (item_id, who, operation) = lock_item(region, &table, &bucket, key).await.expect("the lock item");
    assert_eq!((item_id.as_str(), operation.as_str()), (id.as_str(), "apply"));
    assert!(who.contains('@'), "who is user@host: {who}");

    // A second run without --lock-timeout fails at once, naming the holder and how to proceed.
    kprov_s3(b.path(), &bucket, region, &table)
        .args(["apply", "--auto-approve", "--progress", "plain"])
        .assert()
        .code(1)
        .stderr(
            contains(format!("the state is locked by {who} (apply since"))
                .and(contains(format!("lock id {id}")))
                .and(contains("--lock-timeout"))
                .and(contains("Waiting").not()),
        );

    // With --lock-timeout it waits for the holder…
    let mut second =
        Proc::piped(b.path(), &["apply", "--auto-approve", "--progress", "plain", "--lock-timeout", "2m"], &env);
    second.wait_for(&format!("Waiting up to 2m for the state lock held by {who}"));
    // …which goes on and finishes, releasing the lock…
    first.answer("yes");
    let (code, out) = first.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 created, 0 updated"), "{out}");
    // …and then proceeds, on top of the first run's state.
    let (code, out) = second.finish();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("1 created, 0 updated"), "only the security group is new: {out}");

    // Independently: one VPC for the stack (no duplicate), the security group inside it.
    let vpc = vpcs(region, "overlap").await;
    assert_eq!(vpc.len(), 1, "{vpc:?}");
    let sgs = support::ec2(region)
        .await
        .describe_security_groups()
        .filters(Filter::builder().name("tag:kprov:address").values("ec2_security_group.app").build())
        .send()
        .await
        .unwrap();
    assert_eq!(sgs.security_groups().len(), 1);
    assert_eq!(sgs.security_groups()[0].vpc_id(), Some(vpc[0].as_str()));
    // The state object is complete, and every write followed the previous one: the stored
    // versions carry serials 1, 2, …, n, none missing, none written twice.
    let state: serde_json::Value = serde_json::from_str(&object(region, &bucket, key).await.unwrap()).unwrap();
    let resources: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    assert_eq!(resources, ["ec2_security_group.app", "ec2_vpc.main"]);
    let serials = version_serials(region, &bucket, key).await;
    let last = state["serial"].as_u64().unwrap();
    assert!(last >= 2, "both runs wrote: {serials:?}");
    assert_eq!(serials, (1..=last).collect::<Vec<_>>());
    assert_eq!(lock_item(region, &table, &bucket, key).await, None, "the lock was released");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_holder_blocks_until_its_lease_expires_and_force_unlock_needs_its_id() {
    let region = "ap-northeast-3"; // no other test uses it
    let (bucket, table) = (unique("kprov-kill"), unique("locks"));
    let dir = tiny_plans("killed", region, false, "");
    let root = dir.path();
    bootstrap(root, &bucket, region, &table).await;
    let key = "killed/dev.json";
    // A short lease for the test; the heartbeat renews it every ~2.7 s while a run lives.
    let mut env = backend_env(&bucket, region, &table);
    env.push(("KPROV_LOCK_LEASE", "8s".into()));
    let kprov = || {
        let mut c = kprov_s3(root, &bucket, region, &table);
        c.env("KPROV_LOCK_LEASE", "8s");
        c
    };

    let mut holder = Proc::on_terminal(root, &["apply", "--progress", "plain"], &env);
    holder.wait_for("Only 'yes' will be accepted");
    let id = holder.lock_id();
    kill9(holder.kprov_pid());
    let (code, _) = holder.finish();
    assert_ne!(code, 0);

    // The dead holder's lease is still running: refused, naming it.
    kprov()
        .args(["apply", "--auto-approve", "--progress", "plain"])
        .assert()
        .code(1)
        .stderr(contains(format!("lock id {id}")).and(contains("lease ends in")));
    // force-unlock with another id is refused and leaves the lock.
    kprov()
        .args(["force-unlock", "00000000-0000-4000-8000-000000000000"])
        .assert()
        .code(1)
        .stderr(contains("refusing to unlock").and(contains(format!("lock id {id}"))));
    assert_eq!(lock_item(region, &table, &bucket, key).await.map(|l| l.0), Some(id.clone()));

    // Once the lease has run out, the next run takes over (and says whose lock it was).
    kprov().args(["apply", "--auto-approve", "--progress", "plain", "--lock-timeout", "1m"]).assert().success().stderr(
        contains("Waiting up to 1m")
            .and(contains("Took over the state lock from"))
            .and(contains(format!("lock id {id}")))
            .and(contains("1 created, 0 updated")),
    );
    assert_eq!(vpcs(region, "killed").await.len(), 1);
    assert_eq!(lock_item(region, &table, &bucket, key).await, None);

    // Another holder killed: force-unlock with its id frees the state at once.
    let mut holder = Proc::on_terminal(root, &["destroy", "--progress", "plain"], &env);
    holder.wait_for("Only 'yes' will be accepted");
    let id2 = holder.lock_id();
    kill9(holder.kprov_pid());
    holder.finish();
    kprov()
        .args(["force-unlock", &id2])
        .assert()
        .success()
        .stdout(contains("Removed the state lock held by").and(contains(&id2)));
    assert_eq!(lock_item(region, &table, &bucket, key).await, None);
    kprov()
        .args(["destroy", "--auto-approve", "--progress", "plain"])
        .assert()
        .success()
        .stderr(contains("Waiting").not().and(contains("destroy complete")));
    assert!(vpcs(region, "killed").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_loses_its_lease_starts_nothing_and_fails() {
    let region = "eu-south-2"; // no other test uses it
    let (bucket, table) = (unique("kprov-lost"), unique("locks"));
    let dir = tiny_plans("lost", region, false, "");
    let root = dir.path();
    bootstrap(root, &bucket, region, &table).await;
    let key = "lost/dev.json";
    let mut env = backend_env(&bucket, region, &table);
    env.push(("KPROV_LOCK_LEASE", "3s".into()));

    let mut run = Proc::on_terminal(root, &["apply", "--progress", "plain"], &env);
    run.wait_for("Only 'yes' will be accepted");
    let id = run.lock_id();
    // A human removes the lock while the run lives: its next heartbeat finds the lock gone.
    kprov_s3(root, &bucket, region, &table).args(["force-unlock", &id]).assert().success();
    run.wait_for("Lost the state lock");
    run.answer("yes");
    let (code, out) = run.finish();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("lost the state lock"), "{out}");
    assert!(vpcs(region, "lost").await.is_empty(), "nothing was started after the loss");
    assert_eq!(lock_item(region, &table, &bucket, key).await, None);
}

// ---------------------------------------------------------------------------------------------
// The stall test (issue 12, item 1: fencing). A run is stopped (SIGSTOP, by the test hook
// `KPROV_TEST_STALL_COMMIT`, see `src/cli/backend.rs`) inside its state commit of serial 2 —
// after every check, right before the final step (the local rename, the S3 PUT), the worst
// place — while the VPC it created is recorded only as an intent. Its lease (3 s) runs out,
// a second run with a wider plan takes the lock over, adopts the VPC, adds a security group and
// finishes. Then the first is resumed: it must write nothing and exit 1, and the stored state
// must be byte for byte the second run's.

/// Signal `pid` with `sig` (`-STOP`, `-CONT`, …).
fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} {pid}");
}

/// Wait until `pid` is stopped (state `T` in /proc/PID/stat), at most 20 s.
fn wait_stopped(pid: u32) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
        if state == Some('T') {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "pid {pid} not stopped: {stat}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Run the first apply up to its stall in the commit of serial 2; returns it (stopped) and its
/// lock id.
fn stalled_first_run(root: &std::path::Path, env: &[(&str, String)]) -> (Proc, String) {
    let mut env = env.to_vec();
    env.push(("KPROV_LOCK_LEASE", "3s".into()));
    env.push(("KPROV_TEST_STALL_COMMIT", "2".into()));
    let mut first = Proc::piped(root, &["apply", "--auto-approve", "--progress", "plain"], &env);
    first.wait_for("Test hook: stopping (SIGSTOP) in the commit of state serial 2");
    wait_stopped(first.child.id());
    let id = first.lock_id();
    (first, id)
}

/// The second plan: the first one's VPC and a security group in it.
fn widen_plan(root: &std::path::Path, name: &str, region: &str) {
    let wider = tiny_plans(name, region, true, "");
    std::fs::copy(wider.path().join("plans/stack.toml"), root.join("plans/stack.toml")).unwrap();
}

/// Resume the stalled run: it exits 1, saying it lost the lock, without writing.
fn resume_and_expect_refusal(first: Proc) -> String {
    signal(first.child.id(), "-CONT");
    let (code, out) = first.finish();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("lost the state lock") || out.contains("Lost the state lock"), "{out}");
    out
}

/// The security group of the stack, by ownership tag: (id, its VPC).
async fn groups(region: &str, stack: &str) -> Vec<(String, String)> {
    let out = support::ec2(region)
        .await
        .describe_security_groups()
        .filters(Filter::builder().name("tag:kprov:stack").values(stack).build())
        .send()
        .await
        .unwrap();
    out.security_groups()
        .iter()
        .map(|g| (g.group_id().unwrap_or_default().to_string(), g.vpc_id().unwrap_or_default().to_string()))
        .collect()
}

/// What the second run must have left, checked against AWS: one VPC and one group in it,
/// with the ids the state records, at serial > 2.
async fn check_second_runs_state(region: &str, stack: &str, text: &str) {
    let state: serde_json::Value = serde_json::from_str(text).unwrap();
    let resources: Vec<&String> = state["resources"].as_object().unwrap().keys().collect();
    assert_eq!(resources, ["ec2_security_group.app", "ec2_vpc.main"], "{text}");
    assert!(state["serial"].as_u64().unwrap() > 2, "{text}");
    let vpc = vpcs(region, stack).await;
    assert_eq!(vpc, [state["resources"]["ec2_vpc.main"]["id"].as_str().unwrap()], "one VPC, the state's");
    let sg = state["resources"]["ec2_security_group.app"]["id"].as_str().unwrap();
    assert_eq!(groups(region, stack).await, [(sg.to_string(), vpc[0].clone())]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stalled_in_its_local_commit_cannot_land_after_a_takeover() {
    let region = "ap-southeast-5"; // shared with state_binding; every check is by this run's own stack
    let stack = &unique("stall-local"); // a fresh stack, so its ownership tags are this run's only
    let dir = tiny_plans(stack, region, false, "");
    let root = dir.path();
    let state_file = root.join(format!("state/{stack}/dev.json"));
    let (first, id) = stalled_first_run(root, &[]);
    let stalled_at = std::fs::read(&state_file).expect("serial 1 written");

    // The first run's lease runs out while it is stopped; the second takes over and finishes.
    widen_plan(root, stack, region);
    support::kprov(root)
        .env("KPROV_LOCK_LEASE", "3s")
        .args(["apply", "--auto-approve", "--progress", "plain", "--lock-timeout", "1m"])
        .assert()
        .success()
        .stderr(contains("Took over the state lock from").and(contains(format!("lock id {id}"))));
    let second = std::fs::read(&state_file).unwrap();
    assert_ne!(second, stalled_at);

    let out = resume_and_expect_refusal(first);
    assert!(out.contains("refusing to write state"), "the stalled commit was refused: {out}");
    assert_eq!(std::fs::read(&state_file).unwrap(), second, "the state is byte for byte the second run's");
    let left: Vec<String> = std::fs::read_dir(root.join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "the refused commit removed its temp file: {left:?}");
    check_second_runs_state(region, stack, std::str::from_utf8(&second).unwrap()).await;
    // The lock is free, at a higher generation than the two acquisitions.
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join(format!("state/{stack}/dev.lock"))).unwrap()).unwrap();
    assert_eq!(lock, serde_json::json!({ "generation": 2 }));
    support::kprov(root).args(["plan", "--detailed-exitcode"]).assert().code(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_stalled_in_its_s3_commit_cannot_land_after_a_takeover() {
    let region = "mx-central-1"; // shared with state_binding; every check is by this run's own stack
    let stack = &unique("stall-s3"); // a fresh stack, so its ownership tags are this run's only
    let (bucket, table) = (unique("kprov-stall"), unique("locks"));
    let dir = tiny_plans(stack, region, false, "");
    let root = dir.path();
    bootstrap(root, &bucket, region, &table).await;
    let env = backend_env(&bucket, region, &table);
    let key = format!("{stack}/dev.json");
    let (first, id) = stalled_first_run(root, &env);
    assert_eq!(version_serials(region, &bucket, &key).await, [1], "stopped before the PUT of serial 2");

    widen_plan(root, stack, region);
    kprov_s3(root, &bucket, region, &table)
        .env("KPROV_LOCK_LEASE", "3s")
        .args(["apply", "--auto-approve", "--progress", "plain", "--lock-timeout", "1m"])
        .assert()
        .success()
        .stderr(contains("Took over the state lock from").and(contains(format!("lock id {id}"))));
    let second = object(region, &bucket, &key).await.unwrap();
    let versions = version_serials(region, &bucket, &key).await;

    resume_and_expect_refusal(first);
    assert_eq!(object(region, &bucket, &key).await.unwrap(), second, "the state is byte for byte the second run's");
    assert_eq!(version_serials(region, &bucket, &key).await, versions, "the stalled run wrote no version");
    let last = serde_json::from_str::<serde_json::Value>(&second).unwrap()["serial"].as_u64().unwrap();
    assert_eq!(versions, (1..=last).collect::<Vec<_>>());
    check_second_runs_state(region, stack, &second).await;
    assert_eq!(lock_item(region, &table, &bucket, &key).await, None, "the lock is free");
    kprov_s3(root, &bucket, region, &table).args(["plan", "--detailed-exitcode"]).assert().code(0);
}
