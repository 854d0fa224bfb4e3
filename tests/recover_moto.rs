//! `kprov state recover` and the lost-state refusal of `apply`, on the whole reference platform
//! against moto, checked through the SDK (`support/inventory.rs`), never through kprov's state.
//!
//! A full apply of the dev platform (its own env, `recdev`, so that its IAM names and hosted zone
//! — global in moto — are its own); the state file is deleted; `apply` must refuse, naming
//! `kprov state recover`, with nothing created (the SDK inventory is unchanged) and no state
//! written; `state recover --auto-approve` rebuilds the state, which then records every planned
//! address; `plan --detailed-exitcode` exits 0; a second `state recover` refuses to overwrite the
//! state, and with `--force` replaces it (same lineage, next serial, same records); `destroy`
//! leaves nothing owned.

#[path = "support/inventory.rs"]
mod inventory;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

const REGION: &str = "ap-south-1";
const ENV: &str = "recdev";
const ZONE: &str = "recdev.platform.example.com.";

/// The planned addresses, by kind.
fn planned(dir: &Path) -> BTreeMap<String, Vec<String>> {
    inventory::planned(dir, ENV)
}

fn kprov(dir: &Path, args: &[&str]) -> std::process::Output {
    support::kprov(dir).args(args).args(["--env", ENV]).timeout(Duration::from_secs(300)).output().expect("run kprov")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_state_is_refused_by_apply_and_rebuilt_by_state_recover() {
    let dir = support::scratch_platform_plans();
    let root = dir.path();
    let dev = std::fs::read_to_string(root.join("plans/env/dev.toml")).expect("dev overlay");
    let overlay =
        format!("{dev}region = \"{REGION}\"\navailability_zones = [\"{REGION}a\", \"{REGION}b\", \"{REGION}c\"]\n");
    std::fs::write(root.join(format!("plans/env/{ENV}.toml")), overlay).expect("overlay");
    let planned = planned(root);
    let total: usize = planned.values().map(Vec::len).sum();
    let kinds: Vec<String> = planned.keys().cloned().collect();
    // Ids are listed in AWS's order, which varies: compared sorted.
    let inventory = || async {
        let mut inv = inventory::owned(REGION, "platform", ENV, &kinds, Some(ZONE)).await;
        inv.ids.values_mut().for_each(|v| v.sort());
        inv
    };

    let out = kprov(root, &["apply", "--auto-approve", "--progress", "plain"]);
    assert!(out.status.success(), "first apply failed:\n{}", text(&out.stderr));
    let applied = inventory().await;
    let (details, _) = inventory::compare(&applied, &planned);
    assert!(details.is_empty(), "after the first apply, AWS differs from the plan: {details:?}");

    // The state is lost.
    let state_file = root.join(format!("state/platform/{ENV}.json"));
    std::fs::remove_file(&state_file).expect("remove the state");

    // apply refuses, before anything is created or written.
    let out = kprov(root, &["apply", "--auto-approve", "--progress", "plain"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "apply without state:\n{err}");
    assert!(err.contains(&format!("kprov state recover --env {ENV}")), "{err}");
    assert!(err.contains("carrying this stack's ownership tags exist"), "{err}");
    assert_eq!(inventory().await, applied, "apply without state changed AWS");
    assert!(!state_file.exists(), "apply without state wrote a state");
    // plan warns the same way (and changes nothing).
    let out = kprov(root, &["plan"]);
    assert!(text(&out.stderr).contains("kprov state recover"), "plan does not warn:\n{}", text(&out.stderr));

    // Recover.
    let started = Instant::now();
    let out = kprov(root, &["state", "recover", "--auto-approve"]);
    let seconds = started.elapsed().as_secs_f64();
    let said = text(&out.stdout);
    assert!(out.status.success(), "state recover failed:\n{said}\n{}", text(&out.stderr));
    let summary = said.lines().find(|l| l.contains(" found, ")).unwrap_or_default().to_string();
    println!("state recover of the full dev platform ({total} declared): {summary} — {seconds:.1} s wall");
    let state = kprov::state::LocalBackend::new(&state_file).load().expect("state loads").expect("state written");
    let recorded: BTreeSet<&str> = state.resources.keys().map(String::as_str).collect();
    let wanted: BTreeSet<&str> = planned.values().flatten().map(String::as_str).collect();
    let not_recovered: Vec<&&str> = wanted.difference(&recorded).collect();
    assert!(not_recovered.is_empty(), "not recovered: {not_recovered:?}\n{said}");
    assert_eq!(recorded, wanted, "recovered addresses");
    assert!(state.resources.values().all(|r| r.status == kprov::state::Status::Created && r.id.is_some()));
    assert_eq!(inventory().await, applied, "state recover changed AWS");

    // The recovered state is the platform: nothing to change.
    let out = kprov(root, &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "plan after recover:\n{}\n{}", text(&out.stdout), text(&out.stderr));

    // A state with resources is not overwritten without --force.
    let before = std::fs::read(&state_file).expect("state");
    let out = kprov(root, &["state", "recover", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--force"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&state_file).expect("state"), before, "the refused recover wrote the state");
    // With --force it is replaced: the same lineage at the next serial, the same records.
    let out = kprov(root, &["state", "recover", "--auto-approve", "--force"]);
    assert!(out.status.success(), "state recover --force:\n{}", text(&out.stderr));
    let forced = kprov::state::LocalBackend::new(&state_file).load().expect("state loads").expect("state");
    assert_eq!((forced.lineage.as_str(), forced.serial), (state.lineage.as_str(), state.serial + 1));
    let ids = |s: &kprov::state::State| s.resources.iter().map(|(a, r)| (a.clone(), r.id.clone())).collect::<Vec<_>>();
    assert_eq!(ids(&forced), ids(&state), "a forced recover finds the same resources");

    let out = kprov(root, &["destroy", "--auto-approve", "--progress", "plain"]);
    assert!(out.status.success(), "destroy after recover failed:\n{}", text(&out.stderr));
    let left = inventory().await;
    assert!(left.is_empty(), "left behind after destroy: {left:?}");
}
