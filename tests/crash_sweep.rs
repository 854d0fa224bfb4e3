//! Crash-point sweep: the real binary killed (SIGKILL) at deterministic points of an apply or a
//! destroy of the reference dev platform, each point followed by runs that must converge.
//!
//! A point is one request of a run, held by the proxy (`support/fault_proxy.rs`, hold mode) in
//! front of moto:
//! - **create answer lost** (`after`): the create call reaches moto, its answer never comes back,
//!   and the run is killed — AWS holds a resource the state knows only as a pending intent;
//! - **between two steps of a create** (`before`): the next mutating call of the same create
//!   (tags, default egress revoked, validation record, …) never reaches moto — the create is
//!   half done;
//! - **delete answer lost** (`after`, in a destroy): the delete is done, its answer lost.
//!
//! The points are derived from a clean run recorded through the proxy (every mutating request
//! in arrival order; runs use `--parallelism 1`): a call that starts a resource's create is an
//! `after` point, each step of a create (matched to its create by action, see [`step_of`]) a
//! `before` point, and each delete call of the clean destroy an `after` delete point. A point
//! names its request by `service:Action` and occurrence (`ec2:CreateRoute#2`), not by position:
//! the order of calls varies a little from run to run even at parallelism 1, so `#n` is the
//! same kind of window every time, though not always the same resource of that kind.
//!
//! After the kill, without faults (directly against moto): `apply --auto-approve` (it takes the
//! killed run's lock over once its 2 s lease has run out), `plan --detailed-exitcode` must exit
//! 0, the SDK inventory (`support/inventory.rs`) must hold exactly one of each planned resource
//! (no duplicate, no orphan), then `destroy --auto-approve` must leave nothing owned and an
//! empty state. A delete point: apply clean, destroy held and killed, destroy again → nothing
//! owned, state empty.
//!
//! Every point has its own environment (`plans/env/<env>.toml` = dev's overlay in REGION), so
//! points are independent: IAM and Route 53 are global in moto, and every name and the zone
//! (`<env>.platform.example.com.`) derive from the environment.
//!
//! By default (CI) a sample of points chosen to cover the crash windows issue 12 found runs;
//! `KPROV_SWEEP=full` runs the first point of each action (every kind's create answer lost,
//! each kind of step, every kind's delete answer lost: `scripts/sweep.sh`), `KPROV_SWEEP=all`
//! every recorded call, `KPROV_SWEEP=record` only prints the recorded calls and the points. The table (point, result, seconds) is printed
//! and, with `KPROV_SWEEP_TABLE=PATH`, written as Markdown. The test fails if any point fails.

#[path = "support/fault_proxy.rs"]
mod fault_proxy;
#[path = "support/inventory.rs"]
mod inventory;
mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use fault_proxy::{FaultProxy, Hold, Target, When};

/// No other test binary uses this region; each point has its own environment in it.
const REGION: &str = "ap-southeast-3";

/// The killed run's lock is taken over once its 2 s lease has run out.
const TAKE_OVER: &str = "30s";

/// A scratch copy of the platform plans with environment `env`: dev's overlay, in REGION.
fn plans(env: &str) -> tempfile::TempDir {
    let dir = support::scratch_platform_plans();
    let dev = std::fs::read_to_string(dir.path().join("plans/env/dev.toml")).expect("dev overlay");
    let overlay =
        format!("{dev}region = \"{REGION}\"\navailability_zones = [\"{REGION}a\", \"{REGION}b\", \"{REGION}c\"]\n");
    std::fs::write(dir.path().join(format!("plans/env/{env}.toml")), overlay).expect("overlay");
    dir
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// The last `n` lines of `s`, for a finding's record.
fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The kprov binary: `scripts/sweep.sh` runs a private copy (`KPROV_BIN`), safe from rebuilds
/// of a shared target directory during a long sweep.
fn bin() -> std::path::PathBuf {
    std::env::var_os("KPROV_BIN").map(std::path::PathBuf::from).unwrap_or_else(|| assert_cmd::cargo::cargo_bin("kprov"))
}

/// `kprov ARGS --env ENV` directly against moto, to completion (at most 5 minutes).
fn kprov(dir: &Path, env: &str, args: &[&str]) -> Output {
    assert_cmd::Command::new(bin())
        .current_dir(dir)
        .envs(support::aws_env())
        .env_remove("AWS_REGION")
        .env("NO_COLOR", "1")
        .args(args)
        .args(["--env", env])
        .env("KPROV_LOCK_LEASE", "2s")
        .env("KPROV_LOCK_TIMEOUT", TAKE_OVER)
        .timeout(Duration::from_secs(300))
        .output()
        .expect("run kprov")
}

/// `kprov ARGS --env ENV` through `endpoint` (the proxy), one resource at a time; stderr in
/// `dir/held.log`. Returns the exit code, or `None` if the test killed it when the proxy held
/// its request, and how long the run took.
async fn held_run(dir: &Path, env: &str, args: &[&str], proxy: &FaultProxy) -> (Option<i32>, Duration) {
    let log = std::fs::File::create(dir.join("held.log")).expect("log");
    let start = Instant::now();
    let mut child = Command::new(bin())
        .args(args)
        .args(["--env", env, "--progress", "plain", "--parallelism", "1"])
        .current_dir(dir)
        .envs(support::aws_env())
        .env_remove("AWS_REGION")
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .env("NO_COLOR", "1")
        .env("KPROV_LOCK_LEASE", "2s")
        .env("KPROV_LOCK_TIMEOUT", TAKE_OVER)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start kprov");
    loop {
        if proxy.is_held() {
            // SAFETY: kill(2) on the pid of a child we started and have not reaped yet.
            let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGKILL) };
            assert_eq!(rc, 0, "kill -9 {}", child.id());
            let _ = child.wait();
            return (None, start.elapsed());
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (Some(status.code().unwrap_or(-1)), start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            return (Some(-1), start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn held_log(dir: &Path) -> String {
    let mut s = String::new();
    let _ = std::fs::File::open(dir.join("held.log")).and_then(|mut f| f.read_to_string(&mut s));
    s
}

/// The run a point is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Apply,
    Destroy,
}

/// One crash point.
#[derive(Debug, Clone)]
struct Point {
    phase: Phase,
    when: When,
    /// `service:Action`.
    key: String,
    /// Occurrence of `key` in the run, from 1.
    n: u64,
    /// For a step of a create: the create call it follows (`service:Action#n`).
    after_create: Option<String>,
}

impl Point {
    fn name(&self) -> String {
        let what = match (self.phase, self.when) {
            (Phase::Apply, When::After) => "answer lost",
            (Phase::Apply, When::Before) => "killed before",
            (Phase::Destroy, When::After) => "delete answer lost",
            (Phase::Destroy, When::Before) => "killed before delete",
        };
        match &self.after_create {
            Some(c) => format!("{what} {}#{} (after {c})", self.key, self.n),
            None => format!("{what} {}#{}", self.key, self.n),
        }
    }

    fn hold(&self) -> Hold {
        Hold { when: self.when, target: Target::Action { key: self.key.clone(), n: self.n } }
    }
}

/// The create calls a step belongs to: a mutating call of an apply that is one of these
/// actions is a step of the most recent create of the listed actions (tags, attributes, default
/// egress revoked, the validation record, …); every other mutating call starts a create. Even at
/// `--parallelism 1` kprov interleaves resources (a VPC's attributes are set once it is
/// available, after other creates), so a step is matched to its create by action, not by
/// position. `ChangeResourceRecordSets` is both: the first one after `RequestCertificate` is
/// the certificate's validation record (no record of the zone can exist before the load
/// balancer it points at), the others are records' creates.
fn step_of(action: &str) -> Option<&'static [&'static str]> {
    Some(match action {
        "ModifyVpcAttribute" => &["CreateVpc"],
        "ModifySubnetAttribute" => &["CreateSubnet"],
        "AttachInternetGateway" => &["CreateInternetGateway"],
        "RevokeSecurityGroupEgress" | "RevokeSecurityGroupIngress" => &["CreateSecurityGroup"],
        "ModifySecurityGroupRules" => &["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"],
        "AttachRolePolicy" | "PutRolePolicy" | "TagRole" | "UpdateAssumeRolePolicy" => &["CreateRole"],
        "TagOpenIDConnectProvider" => &["CreateOpenIDConnectProvider"],
        "EnableKeyRotation" | "PutKeyPolicy" => &["CreateKey"],
        "PutRetentionPolicy" => &["CreateLogGroup"],
        "ModifyTargetGroupAttributes" => &["CreateTargetGroup"],
        "ModifyLoadBalancerAttributes" | "SetSecurityGroups" | "SetSubnets" => &["CreateLoadBalancer"],
        "ChangeTagsForResource" | "UpdateHostedZoneComment" => &["CreateHostedZone"],
        "AddTagsToCertificate" => &["RequestCertificate"],
        "PutLifecyclePolicy" | "PutImageScanningConfiguration" => &["CreateRepository"],
        _ => return None,
    })
}

fn action_of(key: &str) -> &str {
    key.split_once(':').map(|(_, a)| a).unwrap_or(key)
}

/// A recorded run's mutating calls with their occurrence numbers.
fn numbered(seq: &[String]) -> Vec<(String, u64)> {
    let mut seen: BTreeMap<&str, u64> = BTreeMap::new();
    seq.iter()
        .map(|k| {
            let n = seen.entry(k).or_default();
            *n += 1;
            (k.clone(), *n)
        })
        .collect()
}

/// The points of a recorded apply: each create call's answer lost (`after`), and a kill
/// before each step of a create (`before`).
fn group(apply: &[String]) -> Vec<Point> {
    let mut points = Vec::new();
    // The most recent call of each create action (`service:Action#n`) and its position.
    let mut last: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut cert_record_pending = false;
    for (i, (key, n)) in numbered(apply).into_iter().enumerate() {
        let action = action_of(&key).to_string();
        let creates: Option<&[&str]> = if action == "ChangeResourceRecordSets" && cert_record_pending {
            cert_record_pending = false;
            Some(&["RequestCertificate"])
        } else {
            step_of(&action)
        };
        if let Some(creates) = creates {
            let after = creates.iter().filter_map(|c| last.get(*c)).max_by_key(|c| c.1).map(|c| c.0.clone());
            points.push(Point { phase: Phase::Apply, when: When::Before, key, n, after_create: after });
        } else {
            cert_record_pending |= action == "RequestCertificate";
            last.insert(action, (format!("{key}#{n}"), i));
            points.push(Point { phase: Phase::Apply, when: When::After, key, n, after_create: None });
        }
    }
    points
}

/// The delete points of a recorded destroy: every delete call's answer lost.
fn deletes(destroy: &[String]) -> Vec<Point> {
    numbered(destroy)
        .into_iter()
        .filter(|(k, _)| {
            let a = action_of(k);
            a.starts_with("Delete")
                || a.starts_with("Disassociate")
                || a.starts_with("Detach")
                || a.starts_with("Release")
                || a.starts_with("Deregister")
                || a.starts_with("Schedule")
        })
        .map(|(key, n)| Point { phase: Phase::Destroy, when: When::After, key, n, after_create: None })
        .collect()
}

/// The full sweep: the first occurrence of each action's point — every kind's create answer
/// lost, a kill before each kind of step of a create, every kind's delete answer lost.
/// (`KPROV_SWEEP=all` runs every call of the recorded runs instead, about 230 points.)
fn every_kind(all: &[Point]) -> Vec<Point> {
    let mut seen = std::collections::BTreeSet::new();
    all.iter()
        .filter(|p| seen.insert((p.phase == Phase::Apply, p.when == When::After, p.key.clone())))
        .cloned()
        .collect()
}

/// The CI sample: the crash windows issue 12 found, chosen from the derived points by
/// (phase, when, action, the create it follows).
fn sample(all: &[Point]) -> Vec<Point> {
    let pick = |phase: Phase, when: When, action: &str, after: Option<&str>| {
        all.iter()
            .find(|p| {
                p.phase == phase
                    && p.when == when
                    && p.key.ends_with(&format!(":{action}"))
                    && match after {
                        None => true,
                        Some(a) => p.after_create.as_deref().is_some_and(|c| c.contains(a)),
                    }
            })
            .cloned()
            .unwrap_or_else(|| panic!("no {phase:?} {when:?} point for {action} after {after:?} in {all:#?}"))
    };
    let apply_after = |a: &str| pick(Phase::Apply, When::After, a, None);
    vec![
        apply_after("CreateHostedZone"),
        pick(Phase::Apply, When::Before, "ChangeTagsForResource", Some("CreateHostedZone")),
        apply_after("CreateAlias"),
        apply_after("CreateRoute"),
        // A record's own change (not the certificate's validation record, which is a step).
        apply_after("ChangeResourceRecordSets"),
        apply_after("AssociateAccessPolicy"),
        pick(Phase::Apply, When::Before, "RevokeSecurityGroupEgress", Some("CreateSecurityGroup")),
        pick(Phase::Apply, When::Before, "ChangeResourceRecordSets", Some("RequestCertificate")),
        pick(Phase::Destroy, When::After, "DeleteHostedZone", None),
        pick(Phase::Destroy, When::After, "DeleteCertificate", None),
    ]
}

/// What the dev platform's environment `env` holds in moto, read through the SDK.
async fn owned(env: &str, kinds: &[String]) -> inventory::Inventory {
    inventory::owned(REGION, "platform", env, kinds, Some(&format!("{env}.platform.example.com."))).await
}

/// What the inventory does not see, checked through the SDK after a converged apply — the steps
/// of a create that leave no resource of their own: every rule of an owned security group is a
/// declared one (AWS's untagged default allow-all egress was revoked), every owned certificate's
/// DNS validation record is in the zone, the zone carries its ownership tags, and the planned
/// KMS aliases exist. Returns the findings, and what was checked.
async fn create_steps_done(env: &str, planned: &BTreeMap<String, Vec<String>>) -> (Vec<String>, String) {
    let sdk = support::sdk_config(REGION).await;
    let mut found = Vec::new();
    let (mut rules_checked, mut records_checked, mut zones_checked) = (0, 0, 0);
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let ours = aws_sdk_ec2::types::Filter::builder().name("tag:kprov:env").values(env).build();
    let groups = ec2.describe_security_groups().filters(ours).send().await.expect("groups");
    for g in groups.security_groups() {
        let gid = g.group_id().unwrap_or_default();
        let rules = ec2
            .describe_security_group_rules()
            .filters(aws_sdk_ec2::types::Filter::builder().name("group-id").values(gid).build())
            .send()
            .await
            .expect("rules");
        for r in rules.security_group_rules() {
            rules_checked += 1;
            if !r.tags().iter().any(|t| t.key() == Some("kprov:env")) {
                found.push(format!(
                    "security group {gid} keeps an undeclared {} rule {} {:?} → {:?}",
                    if r.is_egress() == Some(true) { "egress" } else { "ingress" },
                    r.security_group_rule_id().unwrap_or_default(),
                    r.ip_protocol(),
                    r.cidr_ipv4()
                ));
            }
        }
    }
    let r53 = aws_sdk_route53::Client::new(&sdk);
    let zone_name = format!("{env}.platform.example.com.");
    let zones = r53.list_hosted_zones().send().await.expect("zones");
    let zone = zones.hosted_zones().iter().find(|z| z.name() == zone_name);
    let mut names = std::collections::BTreeSet::new();
    if let Some(z) = zone {
        zones_checked += 1;
        let id = z.id().trim_start_matches("/hostedzone/");
        let tags = r53
            .list_tags_for_resource()
            .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
            .resource_id(id)
            .send()
            .await
            .expect("zone tags");
        let tagged = tags
            .resource_tag_set()
            .map(|t| t.tags().iter().any(|t| t.key() == Some("kprov:env") && t.value() == Some(env)))
            .unwrap_or(false);
        if !tagged {
            found.push(format!("zone {zone_name} has no ownership tags"));
        }
        let records = r53.list_resource_record_sets().hosted_zone_id(z.id()).send().await.expect("records");
        names.extend(
            records.resource_record_sets().iter().map(|r| (r.name().to_string(), r.r#type().as_str().to_string())),
        );
    }
    let acm = aws_sdk_acm::Client::new(&sdk);
    for c in acm.list_certificates().send().await.expect("certs").certificate_summary_list() {
        let Some(arn) = c.certificate_arn() else { continue };
        let tags = acm.list_tags_for_certificate().certificate_arn(arn).send().await.expect("cert tags");
        if !tags.tags().iter().any(|t| t.key() == "kprov:env" && t.value() == Some(env)) {
            continue;
        }
        let d = acm.describe_certificate().certificate_arn(arn).send().await.expect("cert");
        for o in d.certificate().map(|c| c.domain_validation_options()).unwrap_or_default() {
            let Some(rr) = o.resource_record() else { continue };
            records_checked += 1;
            let name = if rr.name().ends_with('.') { rr.name().to_string() } else { format!("{}.", rr.name()) };
            if !names.contains(&(name.clone(), rr.r#type().as_str().to_string())) {
                found.push(format!("certificate {arn}: validation record {name} {} missing", rr.r#type().as_str()));
            }
        }
    }
    let want_aliases = planned.get("kms_alias").map(Vec::len).unwrap_or(0);
    let have = aliases(env).await;
    if have.len() != want_aliases {
        found.push(format!("{} KMS aliases of the env, {want_aliases} planned: {have:?}", have.len()));
    }
    let checked = format!(
        "{} security groups ({rules_checked} rules), {records_checked} validation records, {zones_checked} zone's tags, {} aliases",
        groups.security_groups().len(),
        have.len()
    );
    (found, checked)
}

/// The KMS aliases of `env` (`alias/platform-<env>-…`), with their target keys.
async fn aliases(env: &str) -> Vec<String> {
    let kms = aws_sdk_kms::Client::new(&support::sdk_config(REGION).await);
    let prefix = format!("alias/platform-{env}-");
    let list = kms.list_aliases().limit(1000).send().await.expect("aliases");
    list.aliases()
        .iter()
        .filter(|a| a.alias_name().is_some_and(|n| n.starts_with(&prefix)))
        .map(|a| format!("{} → {}", a.alias_name().unwrap_or_default(), a.target_key_id().unwrap_or_default()))
        .collect()
}

/// Resources the state of `env` still records.
fn state_entries(dir: &Path, env: &str) -> Vec<String> {
    match kprov::state::LocalBackend::for_env(&dir.join("state/platform"), env).load() {
        Ok(Some(s)) => s.resources.iter().map(|(a, r)| format!("{a} ({:?})", r.status)).collect(),
        Ok(None) => Vec::new(),
        Err(e) => vec![format!("the state does not load: {e}")],
    }
}

/// Destroy without faults: exit 0, nothing owned left (SDK), an empty state.
async fn destroy_leaves_nothing(dir: &Path, env: &str, kinds: &[String]) -> Result<(), String> {
    let out = kprov(dir, env, &["destroy", "--auto-approve", "--progress", "plain"]);
    if out.status.code() != Some(0) {
        return Err(format!("destroy exited {:?}:\n{}", out.status.code(), tail(&text(&out), 25)));
    }
    let inv = owned(env, kinds).await;
    if !inv.is_empty() {
        return Err(format!("left after destroy: {:?} {:?}", inv.found, inv.natural));
    }
    // Aliases carry no tag: the inventory does not see them, and on AWS one left behind blocks
    // every later apply (`AlreadyExistsException`) while its key is pending deletion.
    let left = aliases(env).await;
    if !left.is_empty() {
        return Err(format!("KMS aliases left after destroy: {left:?}"));
    }
    let left = state_entries(dir, env);
    if !left.is_empty() {
        return Err(format!("destroy left state entries: {left:?}"));
    }
    Ok(())
}

/// Apply without faults, then `plan --detailed-exitcode` 0 and exactly the plan in AWS.
async fn apply_converges(
    dir: &Path,
    env: &str,
    planned: &BTreeMap<String, Vec<String>>,
    what: &str,
) -> Result<(), String> {
    let out = kprov(dir, env, &["apply", "--auto-approve", "--progress", "plain"]);
    if out.status.code() != Some(0) {
        return Err(format!("{what} exited {:?}:\n{}", out.status.code(), tail(&text(&out), 25)));
    }
    let plan = kprov(dir, env, &["plan", "--detailed-exitcode"]);
    if plan.status.code() != Some(0) {
        return Err(format!("plan after {what} exited {:?}:\n{}", plan.status.code(), tail(&text(&plan), 40)));
    }
    let kinds: Vec<String> = planned.keys().cloned().collect();
    let (differ, _) = inventory::compare(&owned(env, &kinds).await, planned);
    if !differ.is_empty() {
        return Err(format!("AWS differs from the plan after {what}: {}", differ.join("; ")));
    }
    let (unfinished, _) = create_steps_done(env, planned).await;
    if !unfinished.is_empty() {
        return Err(format!("creates not finished after {what} (plan said no changes): {}", unfinished.join("; ")));
    }
    Ok(())
}

/// What the state of `env` holds right after the kill: entries, and those not `created`
/// (pending intents) — evidence that the kill landed inside the run.
fn after_kill(dir: &Path, env: &str) -> String {
    match kprov::state::LocalBackend::for_env(&dir.join("state/platform"), env).load() {
        Ok(Some(s)) => {
            let pending = s.resources.values().filter(|r| r.status != kprov::state::Status::Created).count();
            format!("{} in state, {pending} pending", s.resources.len())
        }
        Ok(None) => "no state".to_string(),
        Err(e) => format!("state does not load: {e}"),
    }
}

/// Run one point in its own environment: `Ok` holds what the state held after the kill, `Err`
/// the finding.
async fn run_point(p: &Point, env: &str) -> Result<String, String> {
    let dir = plans(env);
    let root = dir.path();
    let planned = inventory::planned(root, env);
    let kinds: Vec<String> = planned.keys().cloned().collect();
    if p.phase == Phase::Destroy {
        apply_converges(root, env, &planned, "the clean apply").await?;
    }
    let proxy = FaultProxy::holding(support::moto_endpoint(), Some(p.hold())).await;
    let verb = if p.phase == Phase::Apply { "apply" } else { "destroy" };
    let (code, _) = held_run(root, env, &[verb, "--auto-approve"], &proxy).await;
    if let Some(code) = code {
        return Err(format!(
            "the point was not reached: {verb} exited {code} first ({} mutating calls):\n{}",
            proxy.mutations().len(),
            tail(&held_log(root), 15)
        ));
    }
    let killed = after_kill(root, env);
    let with = |e: String| format!("{e} [after the kill: {killed}]");
    match p.phase {
        Phase::Apply => {
            apply_converges(root, env, &planned, "the apply after the kill").await.map_err(with)?;
            destroy_leaves_nothing(root, env, &kinds).await.map_err(with)?
        }
        Phase::Destroy => destroy_leaves_nothing(root, env, &kinds).await.map_err(with)?,
    }
    Ok(killed)
}

/// One run's short unique prefix for environment names (moto keeps what earlier runs made).
fn run_tag() -> String {
    format!("w{:03x}", fastrand::u16(..0xfff))
}

/// A clean apply, plan and destroy through a recording proxy: the mutating calls of each.
async fn record(env: &str) -> (Vec<String>, Vec<String>, Duration, Duration) {
    let dir = plans(env);
    let root = dir.path();
    let planned = inventory::planned(root, env);
    let kinds: Vec<String> = planned.keys().cloned().collect();
    let proxy = FaultProxy::holding(support::moto_endpoint(), None).await;
    let (code, apply_time) = held_run(root, env, &["apply", "--auto-approve"], &proxy).await;
    assert_eq!(code, Some(0), "the recorded apply failed:\n{}", held_log(root));
    let apply = proxy.mutations();
    let plan = kprov(root, env, &["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(0), "plan after a clean apply:\n{}", text(&plan));
    let (differ, _) = inventory::compare(&owned(env, &kinds).await, &planned);
    assert!(differ.is_empty(), "a clean apply differs from the plan: {differ:?}");
    let (unfinished, checked) = create_steps_done(env, &planned).await;
    assert!(unfinished.is_empty(), "a clean apply left creates unfinished: {unfinished:?}");
    println!("steps of the creates checked after each apply: {checked}");
    let proxy = FaultProxy::holding(support::moto_endpoint(), None).await;
    let (code, destroy_time) = held_run(root, env, &["destroy", "--auto-approve"], &proxy).await;
    assert_eq!(code, Some(0), "the recorded destroy failed:\n{}", held_log(root));
    assert!(owned(env, &kinds).await.is_empty(), "a clean destroy left something");
    (apply, proxy.mutations(), apply_time, destroy_time)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_converges_with_exactly_the_plan_and_destroy_leaves_nothing() {
    let mode = std::env::var("KPROV_SWEEP").unwrap_or_default();
    let tag = run_tag();
    let started = Instant::now();
    let (apply, destroy, apply_time, destroy_time) = record(&format!("{tag}00")).await;
    println!(
        "recorded: apply {} mutating calls in {apply_time:.1?}, destroy {} in {destroy_time:.1?} (--parallelism 1)",
        apply.len(),
        destroy.len()
    );
    let mut all = group(&apply);
    all.extend(deletes(&destroy));
    if mode == "record" {
        println!("apply:\n  {}", apply.join("\n  "));
        println!("destroy:\n  {}", destroy.join("\n  "));
        for p in &all {
            println!("point: {}", p.name());
        }
        return;
    }
    let points = match mode.as_str() {
        "all" => all,
        "full" => every_kind(&all),
        _ => sample(&all),
    };
    println!("{} points ({})", points.len(), if mode.is_empty() { "CI sample" } else { &mode });

    let mut rows = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let env = format!("{tag}{:02}", i + 1);
        let t = Instant::now();
        let result = run_point(p, &env).await;
        let secs = t.elapsed().as_secs_f64();
        match &result {
            Ok(k) => {
                println!("[{}/{}] {} ({env}): ok ({k} after the kill), {secs:.1} s", i + 1, points.len(), p.name())
            }
            Err(e) => println!("[{}/{}] {} ({env}): FAILED, {secs:.1} s\n{e}", i + 1, points.len(), p.name()),
        }
        rows.push((p.name(), result, secs));
    }

    let failed: Vec<&(String, Result<String, String>, f64)> = rows.iter().filter(|r| r.1.is_err()).collect();
    let mut table = String::from("| # | point | result (state after the kill) | s |\n|---|---|---|---|\n");
    for (i, (name, result, secs)) in rows.iter().enumerate() {
        let r = match result {
            Ok(k) => format!("ok ({k})"),
            Err(e) => format!("**failed**: {}", e.lines().next().unwrap_or("").replace('|', "\\|")),
        };
        table.push_str(&format!("| {} | {} | {r} | {secs:.1} |\n", i + 1, name.replace('|', "\\|")));
    }
    let summary = format!(
        "{} points, {} ok, {} failed, {:.0} s in all (recording {:.1} s + {:.1} s)",
        rows.len(),
        rows.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64(),
        apply_time.as_secs_f64(),
        destroy_time.as_secs_f64()
    );
    println!("\n{table}\nsweep: {summary}");
    if let Ok(path) = std::env::var("KPROV_SWEEP_TABLE") {
        std::fs::write(&path, format!("{table}\n{summary}\n")).expect("write the table");
    }
    assert!(failed.is_empty(), "{} of {} crash points failed:\n{table}", failed.len(), rows.len());
}
