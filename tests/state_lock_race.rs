//! Lock races: four kprov processes started at once against one S3 state (moto S3 + DynamoDB),
//! each applying a different change, checked through the SDK.
//!
//! Every plan has the same stack (so one state object) with the stack's VPC and a security group
//! of its own (`ec2_security_group.p0` … `p3`): whoever applies after another removes that one's
//! group and adds its own, so the effects are told apart and a run working from a stale state
//! would leave a group behind. Per round (`KPROV_RACE_ROUNDS`, default 3; the last round of
//! several uses `--lock-timeout 0s`):
//! - every process exits 0 — or, with timeout 0, 1 with an error naming the holder;
//! - the serials each run reports saved (`--progress json` `state_saved` events) form one
//!   contiguous block per run, and the blocks follow each other with no gap and no overlap:
//!   exactly one holder at a time, derived from the state's own serial sequence, no clocks;
//! - the state object's stored versions (S3 versioning) carry serials 1, 2, …, n — strictly
//!   increasing, none missing, none written twice — all of one lineage;
//! - the lock item is gone;
//! - nothing is lost: the final state holds the VPC and the group of the last holder, and AWS
//!   holds exactly those (by ownership tags), with the ids the state records.

mod state_common;
mod support;

use std::collections::BTreeSet;

use aws_sdk_ec2::types::Filter;
use state_common::{backend_env, bootstrap, lock_item, object, saved_serials, tiny_plans, unique, versions, Proc};

const REGION: &str = "ap-south-2"; // no other test uses it
const STACK: &str = "race";
const RACERS: usize = 4;

/// The plans of racer `i`: the shared VPC and a security group of its own.
fn racer_plans(i: usize) -> tempfile::TempDir {
    let sg = format!(
        "\n[resource.ec2_security_group.p{i}]\nname = \"p{i}\"\ndescription = \"racer {i}\"\nvpc_id = \"${{ec2_vpc.main.id}}\"\n"
    );
    tiny_plans(STACK, REGION, false, &sg)
}

/// Owned resources of the stack in AWS: (kprov:address, id) of every VPC and security group.
async fn owned() -> BTreeSet<(String, String)> {
    let ec2 = support::ec2(REGION).await;
    let ours = Filter::builder().name("tag:kprov:stack").values(STACK).build();
    let address = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter().find(|t| t.key() == Some("kprov:address")).and_then(|t| t.value()).unwrap_or("?").to_string()
    };
    let mut found = BTreeSet::new();
    for v in ec2.describe_vpcs().filters(ours.clone()).send().await.expect("vpcs").vpcs() {
        found.insert((address(v.tags()), v.vpc_id().unwrap_or_default().to_string()));
    }
    for g in ec2.describe_security_groups().filters(ours).send().await.expect("groups").security_groups() {
        found.insert((address(g.tags()), g.group_id().unwrap_or_default().to_string()));
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn four_processes_race_for_one_s3_state_and_take_turns() {
    let (bucket, table) = (unique("kprov-race"), unique("locks"));
    let plans: Vec<tempfile::TempDir> = (0..RACERS).map(racer_plans).collect();
    bootstrap(plans[0].path(), &bucket, REGION, &table).await;
    let key = format!("{STACK}/dev.json");
    let mut env = backend_env(&bucket, REGION, &table);
    // Each request a little slower, so that the runs overlap and queue for the lock.
    env.push(("KPROV_TEST_API_DELAY_MS", "20".into()));
    let rounds: usize = std::env::var("KPROV_RACE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(3);
    let mut last_serial = 0;
    let (mut waited, mut refused) = (0, 0);
    // The writer of the last serial so far: its plan is the one in force.
    let mut last_writer: Option<usize> = None;

    for round in 0..rounds {
        // The last round of several: no waiting, a loser fails naming the holder.
        let no_wait = rounds > 1 && round == rounds - 1;
        let timeout = if no_wait { "0s" } else { "5m" };
        let procs: Vec<Proc> = plans
            .iter()
            .map(|p| {
                Proc::piped(
                    p.path(),
                    &["apply", "--auto-approve", "--progress", "json", "--lock-timeout", timeout],
                    &env,
                )
            })
            .collect();
        // (racer, serials it saved), for the racers that ran.
        let mut ran: Vec<(usize, Vec<u64>)> = Vec::new();
        for (i, p) in procs.into_iter().enumerate() {
            let (code, out) = p.finish();
            if out.contains("Waiting up to") {
                waited += 1;
            }
            match code {
                0 => ran.push((i, saved_serials(&out))),
                1 if no_wait => {
                    assert!(
                        out.contains("the state is locked by"),
                        "racer {i} failed without naming the holder:\n{out}"
                    );
                    assert!(saved_serials(&out).is_empty(), "a refused run wrote nothing:\n{out}");
                    refused += 1;
                }
                _ => panic!("round {round}: racer {i} exited {code}:\n{out}"),
            }
        }
        assert!(!ran.is_empty(), "round {round}: somebody got the lock");
        let ran_count = ran.len();

        // One holder at a time: each run's serials are one contiguous block, and the blocks,
        // in serial order, continue each other from the previous round's last serial.
        // A racer that found the state already equal to its plan (it was the last writer
        // before) writes nothing; the others are ordered by their first serial.
        ran.retain(|(_, s)| !s.is_empty());
        ran.sort_by_key(|(_, s)| s[0]);
        let mut next = last_serial + 1;
        for (i, serials) in &ran {
            let expected: Vec<u64> = (next..next + serials.len() as u64).collect();
            assert_eq!(serials, &expected, "round {round}: racer {i}'s writes interleave with another's: {ran:?}");
            next += serials.len() as u64;
        }
        last_serial = next - 1;
        let holders: Vec<usize> = ran.iter().map(|(i, _)| *i).collect();
        println!(
            "round {round} (lock timeout {timeout}): {ran_count} ran, writers in turn {holders:?}, serials up to {last_serial}"
        );

        // Every stored version: serials 1..=n, each once, one lineage.
        let stored = versions(REGION, &bucket, &key).await;
        let serials: Vec<u64> = stored.iter().map(|(s, _)| *s).collect();
        assert_eq!(serials, (1..=last_serial).collect::<Vec<_>>(), "round {round}: stored versions");
        let lineages: BTreeSet<&str> = stored.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(lineages.len(), 1, "one lineage: {lineages:?}");
        assert_eq!(lock_item(REGION, &table, &bucket, &key).await, None, "round {round}: the lock is released");

        // Nothing lost: the last holder's plan is what the state and AWS hold.
        // The writer of the last serial; its plan is the one in force. A round may write
        // nothing: with timeout 0 the one racer that got the lock can be the previous round's
        // last writer, whose plan the state already matches.
        let last = holders.last().copied().or(last_writer).expect("somebody wrote");
        last_writer = Some(last);
        let state: serde_json::Value =
            serde_json::from_str(&object(REGION, &bucket, &key).await.expect("state object")).expect("state JSON");
        assert_eq!(state["serial"].as_u64(), Some(last_serial));
        let recorded: BTreeSet<(String, String)> = state["resources"]
            .as_object()
            .expect("resources")
            .iter()
            .map(|(a, r)| {
                assert_eq!(r["status"], "created", "{a} is not pending");
                (a.clone(), r["id"].as_str().unwrap_or_default().to_string())
            })
            .collect();
        let addresses: Vec<&str> = recorded.iter().map(|(a, _)| a.as_str()).collect();
        assert_eq!(addresses, [format!("ec2_security_group.p{last}").as_str(), "ec2_vpc.main"], "round {round}");
        assert_eq!(owned().await, recorded, "round {round}: AWS holds exactly what the state records");
    }
    println!(
        "lock race: {rounds} rounds × {RACERS} processes, {last_serial} state versions, {waited} runs waited for the lock, {refused} refused with timeout 0"
    );
}
