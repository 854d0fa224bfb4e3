//! The least-privilege IAM policy the kprov runner needs to apply one environment's plans
//! (`kprov iam-policy --env E`).
//!
//! Flow: the kinds present in the loaded plans pick their rows of the action table
//! ([`crate::aws::iam_actions`]); their read/create/update/delete actions, and the extras
//! whose attribute the plan sets, are grouped into one statement per service on `*`.
//! Two kinds of extra get their own, scoped statements: `iam:PassRole` on the roles the plan
//! hands to AWS services (resolved from the plan's references to its `iam_role`s, or literal
//! ARNs), and `iam:CreateServiceLinkedRole` on the service-linked roles' own ARNs. The state
//! backend adds its statements last, scoped to the bucket, object and lock table (local state
//! needs none). kprov makes no STS call (`sts:GetCallerIdentity` is not needed).
//!
//! Why `*` and no tag conditions on the rest: see docs/reliability.md, "Least-privilege runner
//! policy".

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::iam_actions::{self, ExtraScope};
use crate::config::{ResourceDecl, Stack, Tmpl};
use crate::state::spec::BackendSpec;

/// IAM's size limit for a customer-managed policy, in characters without whitespace.
pub const MANAGED_POLICY_MAX_CHARS: usize = 6144;

/// Why a statement's action is there: the kinds (or the state backend) that need it.
pub type Reasons = BTreeMap<String, BTreeSet<String>>;

/// One policy statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: String,
    pub actions: BTreeSet<String>,
    pub resources: BTreeSet<String>,
}

/// The runner's policy, with the reason for each action.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub statements: Vec<Statement>,
    /// action → the kinds (or `state backend`) needing it.
    pub reasons: Reasons,
    /// action → why AWS checks it, for actions that are not kprov's own SDK calls.
    pub notes: Reasons,
}

impl Policy {
    /// The IAM policy document.
    pub fn document(&self) -> Value {
        let one_or_many = |set: &BTreeSet<String>| -> Value {
            if set.len() == 1 {
                json!(set.iter().next())
            } else {
                json!(set)
            }
        };
        let statements: Vec<Value> = self
            .statements
            .iter()
            .map(|s| {
                json!({
                    "Sid": s.sid,
                    "Effect": "Allow",
                    "Action": one_or_many(&s.actions),
                    "Resource": one_or_many(&s.resources),
                })
            })
            .collect();
        json!({ "Version": "2012-10-17", "Statement": statements })
    }

    /// The document's size as IAM counts it (JSON without whitespace).
    pub fn size(&self) -> usize {
        self.document().to_string().len()
    }

    /// Every action, sorted.
    pub fn actions(&self) -> BTreeSet<&str> {
        self.statements.iter().flat_map(|s| s.actions.iter().map(String::as_str)).collect()
    }
}

/// The statement id of a service's statement: `ec2` → `Ec2`, `elasticloadbalancing` →
/// `Elasticloadbalancing` (IAM allows only letters and digits).
fn sid_of(service: &str) -> String {
    let mut c = service.chars().filter(char::is_ascii_alphanumeric);
    c.next().map(|f| f.to_ascii_uppercase().to_string() + &c.collect::<String>()).unwrap_or_default()
}

/// Whether `decl` sets `attr` to anything but null.
fn sets(decl: &ResourceDecl, attr: &str) -> bool {
    !matches!(decl.attrs.get(attr), None | Some(Tmpl::Lit(Value::Null)))
}

/// A string literal of `decl`'s `attr`.
fn lit<'a>(decl: &'a ResourceDecl, attr: &str) -> Option<&'a str> {
    match decl.attrs.get(attr) {
        Some(Tmpl::Lit(Value::String(s))) => Some(s),
        _ => None,
    }
}

/// What any role may be when a role cannot be known before apply.
const ANY_ROLE: &str = "arn:aws:iam::*:role/*";

/// The ARN pattern of an `iam_role` declaration (any account: the plans do not name one).
fn role_arn_pattern(role: &ResourceDecl) -> String {
    match lit(role, "name") {
        Some(name) => {
            let path = lit(role, "path").unwrap_or("/");
            format!("arn:aws:iam::*:role{path}{name}")
        }
        None => ANY_ROLE.to_string(),
    }
}

/// The roles `decl`'s `attr` hands to AWS: a reference to one of the plan's `iam_role`s, a
/// literal ARN, or a literal role name (an instance profile's `role`).
fn passed_role(stack: &Stack, decl: &ResourceDecl, attr: &str) -> String {
    let find = |pred: &dyn Fn(&ResourceDecl) -> bool| {
        stack.resources.iter().find(|r| r.address.kind == "iam_role" && pred(r)).map(role_arn_pattern)
    };
    match decl.attrs.get(attr) {
        Some(Tmpl::Ref { target, .. }) if target.kind == "iam_role" => {
            find(&|r| &r.address == target).unwrap_or_else(|| ANY_ROLE.to_string())
        }
        Some(Tmpl::Lit(Value::String(s))) if s.starts_with("arn:") => s.clone(),
        Some(Tmpl::Lit(Value::String(name))) => {
            find(&|r| lit(r, "name") == Some(name)).unwrap_or_else(|| format!("arn:aws:iam::*:role/{name}"))
        }
        _ => ANY_ROLE.to_string(),
    }
}

/// The policy the runner needs to apply (and destroy) `stack` with state in `backend`.
pub fn build(stack: &Stack, backend: &BackendSpec) -> Policy {
    // service → actions, for the `*` statements.
    let mut by_service: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pass_roles: BTreeSet<String> = BTreeSet::new();
    let mut linked: BTreeSet<String> = BTreeSet::new();
    let mut reasons = Reasons::new();
    let mut notes = Reasons::new();
    let add_reason = |reasons: &mut Reasons, action: &str, why: &str| {
        reasons.entry(action.to_string()).or_default().insert(why.to_string());
    };

    for decl in &stack.resources {
        let kind = decl.address.kind.as_str();
        // The plans were validated against the AWS registry, so every kind has a row; one
        // without (a kind added without its actions) is caught by iam_actions' tests.
        let Some(row) = iam_actions::for_kind(kind) else { continue };
        for a in row.all() {
            let (service, _) = a.split_once(':').unwrap_or((a, ""));
            by_service.entry(service.to_string()).or_default().insert(a.to_string());
            add_reason(&mut reasons, a, kind);
        }
        for e in row.extras {
            if e.when_attr.is_some_and(|attr| !sets(decl, attr)) {
                continue;
            }
            match e.scope {
                ExtraScope::Any => {
                    let (service, _) = e.action.split_once(':').unwrap_or((e.action, ""));
                    by_service.entry(service.to_string()).or_default().insert(e.action.to_string());
                }
                ExtraScope::PassRole(attr) => {
                    pass_roles.insert(passed_role(stack, decl, attr));
                }
                ExtraScope::ServiceLinkedRole(service) => {
                    linked.insert(format!("arn:aws:iam::*:role/aws-service-role/{service}/*"));
                }
            }
            add_reason(&mut reasons, e.action, kind);
            notes.entry(e.action.to_string()).or_default().insert(e.why.to_string());
        }
    }

    let star: BTreeSet<String> = [String::from("*")].into();
    let mut statements: Vec<Statement> = by_service
        .into_iter()
        .map(|(service, actions)| Statement { sid: sid_of(&service), actions, resources: star.clone() })
        .collect();
    if !pass_roles.is_empty() {
        // A pattern for any role makes the named ones redundant.
        if pass_roles.contains(ANY_ROLE) {
            pass_roles = [ANY_ROLE.to_string()].into();
        }
        statements.push(Statement {
            sid: "PassRoles".into(),
            actions: ["iam:PassRole".to_string()].into(),
            resources: pass_roles,
        });
    }
    if !linked.is_empty() {
        statements.push(Statement {
            sid: "ServiceLinkedRoles".into(),
            actions: ["iam:CreateServiceLinkedRole".to_string()].into(),
            resources: linked,
        });
    }
    statements.extend(state_statements(backend, &mut reasons));
    Policy { statements, reasons, notes }
}

/// The state backend's statements: none for local state; for S3, read and conditional write
/// of the one object, listing the bucket (without it S3 answers 403 instead of 404 for a
/// state object that does not exist yet, and kprov could not tell "no state" from "denied"),
/// and the lock item's four operations on the one table.
fn state_statements(backend: &BackendSpec, reasons: &mut Reasons) -> Vec<Statement> {
    let BackendSpec::S3 { bucket, key, region, lock_table } = backend else { return Vec::new() };
    let st = |sid: &str, actions: &[&str], resource: String| Statement {
        sid: sid.into(),
        actions: actions.iter().map(|a| a.to_string()).collect(),
        resources: [resource].into(),
    };
    let out = vec![
        st("StateObject", &["s3:GetObject", "s3:PutObject"], format!("arn:aws:s3:::{bucket}/{key}")),
        st("StateBucket", &["s3:ListBucket"], format!("arn:aws:s3:::{bucket}")),
        st(
            "StateLock",
            &["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
            format!("arn:aws:dynamodb:{region}:*:table/{lock_table}"),
        ),
    ];
    for s in &out {
        for a in &s.actions {
            reasons.entry(a.clone()).or_default().insert("state backend".into());
        }
    }
    out
}

/// A plain-text account of the policy: each action and what needs it.
pub fn explain(policy: &Policy) -> String {
    let mut out = String::new();
    for s in &policy.statements {
        out.push_str(&format!("{} on {}\n", s.sid, s.resources.iter().cloned().collect::<Vec<_>>().join(", ")));
        for a in &s.actions {
            let join = |m: &Reasons| m.get(a).map(|w| w.iter().cloned().collect::<Vec<_>>().join(", "));
            out.push_str(&format!("  {a:<50} {}\n", join(&policy.reasons).unwrap_or_default()));
            if let Some(note) = join(&policy.notes) {
                out.push_str(&format!("  {:<50} ({note})\n", ""));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::aws::offline_registry;

    fn platform(env: &str) -> Stack {
        let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("plans");
        crate::config::load(&plans, env, &offline_registry()).expect("reference plans load")
    }

    fn local() -> BackendSpec {
        BackendSpec::Local { file: "state/dev.json".into() }
    }

    #[test]
    fn dev_platform_policy_covers_every_kind_in_it_and_nothing_else() {
        let stack = platform("dev");
        let policy = build(&stack, &local());
        let actions = policy.actions();
        let kinds: BTreeSet<&str> = stack.resources.iter().map(|r| r.address.kind.as_str()).collect();
        for row in iam_actions::TABLE {
            let present = kinds.contains(row.kind);
            for a in row.all() {
                if present {
                    assert!(actions.contains(a), "{} is in the plan but {a} is missing", row.kind);
                }
            }
        }
        // Every action is there because of a kind of the plan.
        for a in &actions {
            let why = &policy.reasons[*a];
            assert!(why.iter().any(|w| kinds.iter().any(|k| w.starts_with(k))), "{a}: {why:?}");
        }
        // Local state: no S3, no DynamoDB, no STS.
        assert!(!actions.iter().any(|a| a.starts_with("s3:") || a.starts_with("dynamodb:") || a.starts_with("sts:")));
    }

    #[test]
    fn only_kinds_present_contribute() {
        let mut stack = platform("dev");
        stack.resources.retain(|r| r.address.kind.starts_with("ec2_"));
        let policy = build(&stack, &local());
        let services: BTreeSet<&str> = policy.actions().iter().map(|a| a.split_once(':').expect("svc").0).collect();
        // Flow logs hand a role to the flow-logs service: the only IAM action.
        assert_eq!(services, ["ec2", "iam"].into());
        assert_eq!(
            policy.actions().into_iter().filter(|a| a.starts_with("iam:")).collect::<Vec<_>>(),
            ["iam:PassRole"]
        );
    }

    #[test]
    fn document_is_valid_sorted_and_scoped() {
        let stack = platform("dev");
        let backend = BackendSpec::S3 {
            bucket: "acme-state".into(),
            key: "platform/dev.json".into(),
            region: "eu-west-1".into(),
            lock_table: "kprov-locks".into(),
        };
        let policy = build(&stack, &backend);
        let doc = policy.document();
        assert_eq!(doc["Version"], "2012-10-17");
        let stmts = doc["Statement"].as_array().expect("statements");
        let sids: Vec<&str> = stmts.iter().map(|s| s["Sid"].as_str().expect("sid")).collect();
        let unique: BTreeSet<&str> = sids.iter().copied().collect();
        assert_eq!(unique.len(), sids.len(), "duplicate Sid in {sids:?}");
        for s in stmts {
            assert_eq!(s["Effect"], "Allow");
            assert!(s["Sid"].as_str().expect("sid").chars().all(|c| c.is_ascii_alphanumeric()));
            if let Some(list) = s["Action"].as_array() {
                let v: Vec<&str> = list.iter().map(|a| a.as_str().expect("action")).collect();
                let mut sorted = v.clone();
                sorted.sort_unstable();
                sorted.dedup();
                assert_eq!(v, sorted, "actions sorted and unique");
            }
        }
        let find = |sid: &str| stmts.iter().find(|s| s["Sid"] == sid).unwrap_or_else(|| panic!("{sid} missing"));
        assert_eq!(find("StateObject")["Resource"], "arn:aws:s3:::acme-state/platform/dev.json");
        assert_eq!(find("StateBucket")["Resource"], "arn:aws:s3:::acme-state");
        assert_eq!(find("StateLock")["Resource"], "arn:aws:dynamodb:eu-west-1:*:table/kprov-locks");
        assert_eq!(find("Ec2")["Resource"], "*");
        // PassRole is limited to the plan's own roles: no wildcard role.
        let roles = find("PassRoles")["Resource"].as_array().expect("roles").clone();
        assert!(!roles.is_empty());
        for r in &roles {
            let r = r.as_str().expect("arn");
            assert!(r.starts_with("arn:aws:iam::*:role/platform-dev-"), "{r}");
        }
        let linked = find("ServiceLinkedRoles")["Resource"].as_array().expect("slr").clone();
        assert!(linked.iter().any(|r| r == "arn:aws:iam::*:role/aws-service-role/eks.amazonaws.com/*"));
    }

    #[test]
    fn sids_are_alphanumeric() {
        assert_eq!(sid_of("elasticloadbalancing"), "Elasticloadbalancing");
        assert_eq!(sid_of("ec2"), "Ec2");
    }
}
