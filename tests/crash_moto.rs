//! Crash and interrupt safety of the real binary against moto, checked through the SDK.
//!
//! - SIGKILL soak: rounds cycle through (killed run → run after it) pairs — a killed apply
//!   applied again; a killed destroy followed by an apply that must converge back to the plan;
//!   a killed destroy destroyed again; a killed apply (pending intents in state) destroyed. Kill
//!   times are drawn at random below the duration of an unkilled run (measured first), from a
//!   printed seed (`KPROV_CRASH_SEED` reproduces them; `KPROV_CRASH_ROUNDS`, default 5;
//!   `scripts/soak.sh` runs 20). After every completed run, AWS holds exactly what is wanted —
//!   the plan, every taggable resource found once by its `kprov:address` ownership tag, one
//!   association per subnet, the planned routes; or, after a destroy, nothing owned — and the
//!   state loads, holds no pending intent and names exactly the live resources. At the end a
//!   destroy that may not wait for the lock succeeds (no stuck lock). The figures (rounds,
//!   kills mid-run / after exit, resources checked, duplicates, orphans, missing) are printed.
//! - SIGINT during an apply: exit 130 with a message naming what is pending, the state is
//!   written, the lock released (the next apply does not wait for it), and applying again
//!   completes with exactly the plan. A second SIGINT during a destroy exits at once, leaving
//!   the lock to expire; destroying again takes it over and leaves nothing.
//!
//! Runs hold the state lock with a 2 s lease (`KPROV_LOCK_LEASE`), so the lock a killed run
//! leaves behind is taken over by the next run within seconds (`KPROV_LOCK_TIMEOUT`).
//!
//! moto answers in about a millisecond, so the runs are slowed down with the connector's test
//! hook `KPROV_TEST_API_DELAY_MS` (see `src/aws/limits.rs`) to be signalled mid-run. Each test
//! uses its own region (a scratch plans dir whose dev overlay sets region and AZs).

#[path = "support/inventory.rs"]
mod inventory;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CRASH_REGION: &str = "ap-south-1";
const INTERRUPT_REGION: &str = "ap-northeast-2";

/// The soak's plans: the network only (`tests`, CI), or the whole reference platform with
/// `KPROV_CRASH_PLATFORM=full` (`scripts/soak.sh --full`).
fn full_platform() -> bool {
    std::env::var("KPROV_CRASH_PLATFORM").is_ok_and(|v| v == "full")
}

/// The hosted zone the full platform's dev environment declares (zones are global in moto).
fn zone_name() -> Option<&'static str> {
    full_platform().then_some("dev.platform.example.com.")
}

/// A scratch plans dir whose dev overlay puts the stack in `region`.
fn plans_in(region: &str) -> tempfile::TempDir {
    if full_platform() {
        let dir = support::scratch_platform_plans();
        let dev = std::fs::read_to_string(dir.path().join("plans/env/dev.toml")).expect("dev overlay");
        let overlay =
            format!("{dev}region = \"{region}\"\navailability_zones = [\"{region}a\", \"{region}b\", \"{region}c\"]\n");
        std::fs::write(dir.path().join("plans/env/dev.toml"), overlay).expect("overlay");
        return dir;
    }
    let dir = support::scratch_plans();
    let overlay = format!(
        "[variables]\nregion = \"{region}\"\navailability_zones = [\"{region}a\", \"{region}b\", \"{region}c\"]\naz_count = 3\nnat_mode = \"per_az\"\n"
    );
    std::fs::write(dir.path().join("plans/env/dev.toml"), overlay).expect("overlay");
    dir
}

/// The planned addresses, by kind.
fn planned(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let by_kind = inventory::planned(dir, "dev");
    let _ = KINDS.set(by_kind.keys().cloned().collect());
    by_kind
}

/// How long a run waits for a state lock left behind by a killed run. Every run here holds the
/// lock with a 2 s lease (the minimum), so a killed run's lock is taken over 2 s after its last
/// heartbeat — the documented recovery, without `force-unlock`.
const TAKE_OVER: &str = "30s";
/// Fail at once if the lock is held: proves the previous run released it.
const NO_WAIT: &str = "0s";

/// `kprov ARGS` in `dir` against moto, not waited for; stderr goes to `dir/stderr.log`.
fn spawn(dir: &Path, args: &[&str], delay_ms: u64, lock_timeout: &str) -> Child {
    let log = std::fs::File::create(dir.join("stderr.log")).expect("log");
    // `scripts/soak.sh` runs a private copy of the binary (`KPROV_BIN`), safe from rebuilds
    // of a shared target directory during a long soak.
    let bin = std::env::var_os("KPROV_BIN").map(std::path::PathBuf::from);
    Command::new(bin.unwrap_or_else(|| assert_cmd::cargo::cargo_bin("kprov")))
        .args(args)
        .current_dir(dir)
        .envs(support::aws_env())
        .env_remove("AWS_REGION")
        .env("KPROV_LOCK_LEASE", "2s")
        .env("KPROV_LOCK_TIMEOUT", lock_timeout)
        .env("KPROV_TEST_API_DELAY_MS", delay_ms.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start kprov")
}

fn stderr_of(dir: &Path) -> String {
    let mut s = String::new();
    let _ = std::fs::File::open(dir.join("stderr.log")).and_then(|mut f| f.read_to_string(&mut s));
    s
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on the pid of a child we started and have not reaped yet.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    assert_eq!(rc, 0, "kill({}, {sig})", child.id());
}

/// Wait for `child` to exit, at most `limit`.
fn wait(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status.code().unwrap_or(-1));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run `kprov ARGS` to completion; panics with its stderr unless it exits 0.
fn run_ok(dir: &Path, args: &[&str], lock_timeout: &str) {
    let mut child = spawn(dir, args, 0, lock_timeout);
    let code = wait(&mut child, Duration::from_secs(120));
    assert_eq!(code, Some(0), "kprov {args:?} failed:\n{}", stderr_of(dir));
}

/// What AWS holds for the dev stack in `region` (the planned kinds), read through the SDK.
async fn owned(region: &str, want: &BTreeMap<String, Vec<String>>) -> inventory::Inventory {
    let mut kinds: BTreeSet<String> = want.keys().cloned().collect();
    // After a destroy `want` is empty: still look for every kind the plans declare.
    kinds.extend(KINDS.get().into_iter().flatten().cloned());
    let kinds: Vec<String> = kinds.into_iter().collect();
    inventory::owned(region, "platform", "dev", &kinds, zone_name()).await
}

/// Every kind the soak's plans declare (set once the plans are loaded).
static KINDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// The figures of a crash run, printed at the end (and with a failing check).
#[derive(Debug, Default)]
struct Tally {
    rounds: usize,
    killed_applies: usize,
    killed_destroys: usize,
    kills_mid_run: usize,
    kills_after_exit: usize,
    /// Planned resources verified through the SDK after each completed run.
    resources_checked: usize,
    duplicates: usize,
    orphans: usize,
    missing: usize,
}

impl Tally {
    fn line(&self) -> String {
        format!(
            "rounds {} (killed applies {}, killed destroys {}), kills mid-run {}, after exit {}, \
             resources checked {}, duplicates {}, orphans {}, missing {}",
            self.rounds,
            self.killed_applies,
            self.killed_destroys,
            self.kills_mid_run,
            self.kills_after_exit,
            self.resources_checked,
            self.duplicates,
            self.orphans,
            self.missing
        )
    }
}

/// Compare what AWS holds with `want` (kind → addresses; empty after a destroy), counting
/// duplicates (an address found more than once), orphans (found, not wanted) and missing
/// resources; then check that the state loads, holds no pending intent and names exactly the
/// live resources. Panics with the differences and the tally so far unless all match.
async fn check(region: &str, dir: &Path, want: &BTreeMap<String, Vec<String>>, context: &str, tally: &mut Tally) {
    let inv = owned(region, want).await;
    let (details, (dup, orphan, missing)) = inventory::compare(&inv, want);
    tally.resources_checked += want.values().map(Vec::len).sum::<usize>();
    tally.duplicates += dup;
    tally.orphans += orphan;
    tally.missing += missing;
    assert!(details.is_empty(), "{context}: AWS differs from the plan: {details:?}\n{}", tally.line());

    let state = kprov::state::LocalBackend::for_env(&dir.join("state/platform"), "dev")
        .load()
        .unwrap_or_else(|e| panic!("{context}: the state does not load: {e}"))
        .unwrap_or_else(|| kprov::state::State::new("platform", "dev"));
    let pending: Vec<&String> =
        state.resources.iter().filter(|(_, r)| r.status != kprov::state::Status::Created).map(|(a, _)| a).collect();
    assert!(pending.is_empty(), "{context}: state entries not `created` (pending intents left): {pending:?}");
    let recorded: BTreeSet<&str> = state.resources.keys().map(String::as_str).collect();
    let wanted: BTreeSet<&str> = want.values().flatten().map(String::as_str).collect();
    assert_eq!(recorded, wanted, "{context}: addresses recorded in state");
    let live: BTreeSet<&str> = inv.ids.values().flatten().map(String::as_str).collect();
    let dead: Vec<String> = state
        .resources
        .iter()
        .filter(|(_, r)| !inventory::untagged(&r.kind) && r.kind != "route53_zone")
        .filter(|(_, r)| !r.id.as_deref().is_some_and(|id| live.contains(id)))
        .map(|(a, r)| format!("{a} = {:?}", r.id))
        .collect();
    assert!(dead.is_empty(), "{context}: state ids that are not live owned resources: {dead:?}");
}

/// AWS holds exactly the planned resources (by ownership tag and natural key).
async fn assert_exactly_planned(region: &str, planned: &BTreeMap<String, Vec<String>>, context: &str) {
    let inv = owned(region, planned).await;
    let (details, _) = inventory::compare(&inv, planned);
    assert!(details.is_empty(), "{context}: AWS differs from the plan: {details:?}");
}

async fn assert_nothing_owned(region: &str, context: &str) {
    let inv = owned(region, &BTreeMap::new()).await;
    assert!(inv.is_empty(), "{context}: left behind: {inv:?}");
}

/// The command a crash round kills, or runs after the kill.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verb {
    Apply,
    Destroy,
}

impl Verb {
    fn arg(self) -> &'static str {
        match self {
            Verb::Apply => "apply",
            Verb::Destroy => "destroy",
        }
    }
}

/// The rounds cycle through every (killed run, run after it) pair, each starting where the
/// previous round ended (empty, full, full, empty): a killed apply applied again; a killed
/// destroy followed by an apply that must converge back to the plan; a killed destroy destroyed
/// again; a killed apply (pending intents in state) destroyed.
const CYCLE: [(Verb, Verb); 4] = [
    (Verb::Apply, Verb::Apply),
    (Verb::Destroy, Verb::Apply),
    (Verb::Destroy, Verb::Destroy),
    (Verb::Apply, Verb::Destroy),
];

/// Every request of a run that is to be killed is slowed down by this much, so that the kill
/// can land mid-run (moto answers in about a millisecond).
const KILLED_DELAY_MS: u64 = 50;

fn slow_run(dir: &Path, verb: Verb, lock_timeout: &str) -> Child {
    spawn(
        dir,
        &[verb.arg(), "--auto-approve", "--progress", "plain", "--parallelism", "4"],
        KILLED_DELAY_MS,
        lock_timeout,
    )
}

/// Run `verb` at the speed of a killed run, to completion, and return how long it took: that
/// verb's kill times are drawn below it.
fn timed(dir: &Path, verb: Verb) -> Duration {
    let start = Instant::now();
    let mut child = slow_run(dir, verb, NO_WAIT);
    let code = wait(&mut child, Duration::from_secs(300));
    assert_eq!(code, Some(0), "kprov {} failed:\n{}", verb.arg(), stderr_of(dir));
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_apply_and_destroy_at_random_moments_then_the_next_run_converges() {
    let dir = plans_in(CRASH_REGION);
    let root = dir.path();
    let planned = planned(root);
    let nothing = BTreeMap::new();
    let rounds: usize = std::env::var("KPROV_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let seed: u64 =
        std::env::var("KPROV_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    println!("crash seed {seed} (KPROV_CRASH_SEED={seed} reproduces the kill times), {rounds} rounds");
    let mut rng = fastrand::Rng::with_seed(seed);
    let started = Instant::now();
    let mut tally = Tally::default();

    // Calibrate: how long an apply and a destroy take when nothing kills them.
    let apply_takes = timed(root, Verb::Apply);
    check(CRASH_REGION, root, &planned, "calibration apply", &mut tally).await;
    let destroy_takes = timed(root, Verb::Destroy);
    check(CRASH_REGION, root, &nothing, "calibration destroy", &mut tally).await;
    println!("calibration: apply {apply_takes:?}, destroy {destroy_takes:?} at {KILLED_DELAY_MS} ms per request");

    let mut takes = BTreeMap::from([(Verb::Apply.arg(), apply_takes), (Verb::Destroy.arg(), destroy_takes)]);
    for round in 0..rounds {
        let (killed, then) = CYCLE[round % CYCLE.len()];
        let state_before = std::fs::read(root.join("state/platform/dev.json")).ok();
        // Below 80 % of the run's duration, so that most kills land mid-run.
        let limit = (takes[killed.arg()].as_millis() as u64 * 4 / 5).max(100);
        let after = Duration::from_millis(rng.u64(50..limit));
        // The previous round's last run released the lock: no waiting.
        let mut child = slow_run(root, killed, NO_WAIT);
        std::thread::sleep(after);
        let still_running = child.try_wait().expect("try_wait").is_none();
        if still_running {
            signal(&child, libc::SIGKILL);
            tally.kills_mid_run += 1;
        } else {
            tally.kills_after_exit += 1;
            // It finished sooner than measured (the machine is less busy now): aim lower.
            takes.insert(killed.arg(), after);
        }
        match killed {
            Verb::Apply => tally.killed_applies += 1,
            Verb::Destroy => tally.killed_destroys += 1,
        }
        let code = wait(&mut child, Duration::from_secs(60));
        if !still_running {
            assert_eq!(code, Some(0), "round {round}: kprov {} failed:\n{}", killed.arg(), stderr_of(root));
        }
        let state_after = std::fs::read(root.join("state/platform/dev.json")).ok();
        println!(
            "round {round}: {} SIGKILLed after {after:?} ({}; state {}), then {}",
            killed.arg(),
            if still_running { "mid-run" } else { "after it had finished" },
            if state_after != state_before { "changed" } else { "untouched" },
            then.arg()
        );
        // The killed run's lock is taken over once its lease has run out.
        run_ok(root, &[then.arg(), "--auto-approve", "--progress", "plain"], TAKE_OVER);
        let want = if then == Verb::Apply { &planned } else { &nothing };
        check(CRASH_REGION, root, want, &format!("round {round} after {}", then.arg()), &mut tally).await;
        tally.rounds += 1;
    }

    // No stuck lock: a run that may not wait for the lock at all succeeds, and releases it.
    run_ok(root, &["destroy", "--auto-approve", "--progress", "plain"], NO_WAIT);
    check(CRASH_REGION, root, &nothing, "final destroy", &mut tally).await;
    let lock = std::fs::read_to_string(root.join("state/platform/dev.lock")).unwrap_or_default();
    // A free lock file holds nothing or only `{"generation": N}`, never a holder (`Info`).
    assert!(!lock.contains("\"Info\""), "the lock file still holds a lock: {lock}");
    println!("crash soak: seed {seed}, {}, elapsed {:.1?}", tally.line(), started.elapsed());
    assert_eq!((tally.duplicates, tally.orphans, tally.missing), (0, 0, 0), "{}", tally.line());
    assert!(tally.kills_mid_run * 2 >= rounds, "most kills should land mid-run: {}", tally.line());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_at_a_safe_point_and_the_next_apply_completes() {
    let dir = plans_in(INTERRUPT_REGION);
    let planned = planned(dir.path());
    let total: usize = planned.values().map(Vec::len).sum();

    // Interrupt once a handful of resources are done.
    let mut child =
        spawn(dir.path(), &["apply", "--auto-approve", "--progress", "plain", "--parallelism", "2"], 100, NO_WAIT);
    let start = Instant::now();
    while stderr_of(dir.path()).matches(": created").count() < 5 {
        assert!(start.elapsed() < Duration::from_secs(60), "apply made no progress:\n{}", stderr_of(dir.path()));
        assert!(child.try_wait().expect("try_wait").is_none(), "apply ended early:\n{}", stderr_of(dir.path()));
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, libc::SIGINT);
    let code = wait(&mut child, Duration::from_secs(60));
    let err = stderr_of(dir.path());
    assert_eq!(code, Some(130), "exit code after one SIGINT:\n{err}");
    assert!(err.contains("Interrupt received"), "{err}");
    assert!(err.contains("apply interrupted"), "{err}");
    assert!(err.contains("not started or stopped at a safe point"), "{err}");
    assert!(err.contains("Run `kprov apply` again to continue"), "{err}");
    // The state is written and holds what was done, not everything.
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/platform/dev.json")).expect("state written"))
            .expect("valid");
    let recorded = state["resources"].as_object().expect("resources").len();
    assert!(recorded >= 5 && recorded < total, "{recorded} of {total} recorded");
    let found = owned(INTERRUPT_REGION, &planned).await.found;
    let created: usize = found.values().map(Vec::len).sum();
    let taggable: usize = planned.iter().filter(|(k, _)| !inventory::untagged(k)).map(|(_, v)| v.len()).sum();
    assert!(created < taggable, "the interrupt stopped the apply ({created} of {taggable} exist)");

    // Without waiting for the lock: the interrupted run released it.
    run_ok(dir.path(), &["apply", "--auto-approve", "--progress", "plain"], NO_WAIT);
    assert_exactly_planned(INTERRUPT_REGION, &planned, "after the interrupted apply was re-run").await;

    // A second SIGINT exits at once, even with work in flight: every request takes 5 s here,
    // so after one SIGINT the destroy would still be finishing its in-flight call.
    let mut child =
        spawn(dir.path(), &["destroy", "--auto-approve", "--progress", "plain", "--parallelism", "1"], 5000, NO_WAIT);
    let start = Instant::now();
    while !stderr_of(dir.path()).contains(": deleting...") {
        assert!(start.elapsed() < Duration::from_secs(60), "destroy made no progress:\n{}", stderr_of(dir.path()));
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, libc::SIGINT);
    let t = Instant::now();
    std::thread::sleep(Duration::from_millis(100));
    signal(&child, libc::SIGINT);
    let code = wait(&mut child, Duration::from_secs(60));
    assert_eq!(code, Some(130), "exit code after two SIGINTs:\n{}", stderr_of(dir.path()));
    assert!(t.elapsed() < Duration::from_secs(2), "the second SIGINT exits at once ({:?})", t.elapsed());
    // Exiting at once left the lock behind; it is taken over once its lease has run out.
    run_ok(dir.path(), &["destroy", "--auto-approve", "--progress", "plain"], TAKE_OVER);
    assert_nothing_owned(INTERRUPT_REGION, "after destroy").await;
}

/// Every interrupted create is resolved, and finished, whatever its kind: the whole dev
/// platform is applied, then its state is rewritten as if every create had been interrupted
/// after AWS made the resource (every record a `pending_create` intent without an id), and
/// the crash windows that leave a resource half-made are recreated through the SDK:
/// - the hosted zone loses its ownership tags (a kill between CreateHostedZone and
///   ChangeTagsForResource): found by its `CallerReference`, the intent's client token;
/// - every security group gets AWS's default allow-all egress rule back (a kill before the
///   revoke): revoked on adoption, where no declared rule is that permission;
/// - the certificate's validation records are removed (a kill before they were written):
///   written again on adoption;
/// - the KMS alias is deleted (a create that never reached AWS): reported as never made, then
///   created.
///
/// Untaggable kinds (routes, records, the alias, access policy associations, route table
/// associations) are found by natural key. After one apply: exactly the plan in AWS (no
/// duplicates: nothing was created twice), `plan --detailed-exitcode` 0, a destroy that leaves
/// nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_resolves_a_pending_intent_and_finishes_its_create() {
    const REGION: &str = "ca-central-1";
    const ZONE: &str = "dev.intent.example.com.";
    let dir = support::scratch_platform_plans();
    let root = dir.path();
    let dev = std::fs::read_to_string(root.join("plans/env/dev.toml")).expect("dev overlay");
    std::fs::write(
        root.join("plans/env/dev.toml"),
        format!(
            "{dev}region = \"{REGION}\"\navailability_zones = [\"{REGION}a\", \"{REGION}b\", \"{REGION}d\"]\ndomain = \"intent.example.com\"\n"
        ),
    )
    .expect("overlay");
    let planned = planned(root);
    let kinds: Vec<String> = planned.keys().cloned().collect();
    run_ok(root, &["apply", "--auto-approve", "--progress", "plain"], NO_WAIT);

    let sdk = support::sdk_config(REGION).await;
    let state_path = root.join("state/platform/dev.json");
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).expect("state")).expect("state json");
    let ids_of = |kind: &str| -> Vec<String> {
        state["resources"]
            .as_object()
            .expect("resources")
            .values()
            .filter(|r| r["kind"] == kind)
            .filter_map(|r| r["id"].as_str().map(str::to_string))
            .collect()
    };

    // The zone: untagged, its CallerReference the only trace.
    let r53 = aws_sdk_route53::Client::new(&sdk);
    let zone_id = ids_of("route53_zone").pop().expect("zone id");
    let caller_reference = r53
        .get_hosted_zone()
        .id(&zone_id)
        .send()
        .await
        .expect("zone")
        .hosted_zone()
        .expect("zone")
        .caller_reference()
        .to_string();
    let untag_zone = || async {
        r53.change_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
            .resource_id(&zone_id)
            .set_remove_tag_keys(Some(vec!["kprov:stack".into(), "kprov:env".into(), "kprov:address".into()]))
            .send()
            .await
            .expect("untag zone");
    };
    untag_zone().await;
    // Security groups: AWS's default egress rule back on each.
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let groups = ids_of("ec2_security_group");
    assert!(groups.len() >= 3, "security groups {groups:?}");
    for g in &groups {
        let r = ec2
            .authorize_security_group_egress()
            .group_id(g)
            .ip_permissions(
                aws_sdk_ec2::types::IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .send()
            .await;
        // A group with a declared allow-all egress rule has it already.
        if let Err(e) = r {
            let code =
                e.as_service_error().and_then(|s| aws_sdk_ec2::error::ProvideErrorMetadata::code(s)).unwrap_or("");
            assert_eq!(code, "InvalidPermission.Duplicate", "authorize default egress on {g}: {e:?}");
        }
    }
    // The certificate's validation records: gone.
    let validation = |r53: aws_sdk_route53::Client, zone: String| async move {
        let sets = r53.list_resource_record_sets().hosted_zone_id(zone).send().await.expect("records");
        sets.resource_record_sets().iter().filter(|r| r.name().starts_with('_')).cloned().collect::<Vec<_>>()
    };
    let records = validation(r53.clone(), zone_id.clone()).await;
    assert!(!records.is_empty(), "the certificate's validation records exist after apply");
    let deletes = records
        .iter()
        .map(|r| {
            aws_sdk_route53::types::Change::builder()
                .action(aws_sdk_route53::types::ChangeAction::Delete)
                .resource_record_set(r.clone())
                .build()
                .expect("change")
        })
        .collect();
    r53.change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(aws_sdk_route53::types::ChangeBatch::builder().set_changes(Some(deletes)).build().expect("batch"))
        .send()
        .await
        .expect("delete validation records");
    // The alias: never made.
    let kms = aws_sdk_kms::Client::new(&sdk);
    let alias = ids_of("kms_alias").pop().expect("alias");
    let alias_address = state["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .find(|(_, r)| r["kind"] == "kms_alias")
        .map(|(a, _)| a.clone())
        .expect("alias address");
    kms.delete_alias().alias_name(&alias).send().await.expect("delete alias");

    // Every record an intent: no id, the create's token (the zone's is its CallerReference).
    let as_intents = |state: &mut serde_json::Value| {
        for r in state["resources"].as_object_mut().expect("resources").values_mut() {
            let token = if r["kind"] == "route53_zone" {
                caller_reference.clone()
            } else {
                format!("lost-{}", fastrand::u64(..))
            };
            r["status"] = serde_json::json!("pending_create");
            r["id"] = serde_json::Value::Null;
            r["client_token"] = serde_json::json!(token);
        }
        std::fs::write(&state_path, serde_json::to_vec_pretty(&state).expect("json")).expect("write state");
    };
    as_intents(&mut state);

    let out = support::kprov(root).args(["apply", "--auto-approve", "--progress", "plain"]).output().expect("apply");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "apply over the intents failed:\n{text}");
    let reported = format!("{alias_address}: an interrupted create that was never made");
    assert!(text.contains(&reported), "the lost alias is reported:\n{text}");

    // Exactly the plan: nothing made twice, the untagged zone found (not duplicated).
    let inv = inventory::owned(REGION, "platform", "dev", &kinds, Some(ZONE)).await;
    let (details, _) = inventory::compare(&inv, &planned);
    assert!(details.is_empty(), "after resolving every intent, AWS differs from the plan: {details:?}");
    let zones = r53.list_hosted_zones_by_name().dns_name(ZONE).send().await.expect("zones");
    assert_eq!(zones.hosted_zones().iter().filter(|z| z.name() == ZONE).count(), 1, "one zone");
    let tags = r53
        .list_tags_for_resource()
        .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
        .resource_id(&zone_id)
        .send()
        .await
        .expect("zone tags");
    let tag_keys: Vec<&str> =
        tags.resource_tag_set().map(|s| s.tags().iter().filter_map(|t| t.key()).collect()).unwrap_or_default();
    assert!(tag_keys.contains(&"kprov:address"), "the adopted zone is tagged again: {tag_keys:?}");
    // No group keeps an allow-all egress rule that no plan declares.
    let rules = ec2
        .describe_security_group_rules()
        .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").set_values(Some(groups.clone())).build())
        .send()
        .await
        .expect("rules");
    let stray: Vec<&str> = rules
        .security_group_rules()
        .iter()
        .filter(|r| r.is_egress() == Some(true) && r.ip_protocol() == Some("-1") && r.cidr_ipv4() == Some("0.0.0.0/0"))
        .filter(|r| !r.tags().iter().any(|t| t.key() == Some("kprov:address")))
        .filter_map(|r| r.group_id())
        .collect();
    assert!(stray.is_empty(), "default allow-all egress left on adopted groups: {stray:?}");
    assert!(!validation(r53.clone(), zone_id.clone()).await.is_empty(), "the validation records are written again");
    let listed = kms.list_aliases().send().await.expect("aliases");
    assert!(listed.aliases().iter().any(|a| a.alias_name() == Some(alias.as_str())), "the alias is created");

    let plan = support::kprov(root).args(["plan", "--detailed-exitcode"]).output().expect("plan");
    assert_eq!(plan.status.code(), Some(0), "plan after adoption:\n{}", String::from_utf8_lossy(&plan.stdout));

    // A destroy over the same intents (a killed apply, destroyed): it must find every one —
    // the untaggable kinds and the untagged zone by natural key or token — or it would drop
    // them and leave them in AWS.
    untag_zone().await;
    let mut state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state_path).expect("state")).expect("state json");
    as_intents(&mut state);
    run_ok(root, &["destroy", "--auto-approve", "--progress", "plain"], NO_WAIT);
    let inv = inventory::owned(REGION, "platform", "dev", &kinds, Some(ZONE)).await;
    assert!(inv.is_empty(), "left behind after destroy: {inv:?}");
    let zones = r53.list_hosted_zones_by_name().dns_name(ZONE).send().await.expect("zones");
    assert!(!zones.hosted_zones().iter().any(|z| z.name() == ZONE), "the untagged zone is deleted");
    let listed = kms.list_aliases().send().await.expect("aliases");
    assert!(!listed.aliases().iter().any(|a| a.alias_name() == Some(alias.as_str())), "the alias is deleted");
}
