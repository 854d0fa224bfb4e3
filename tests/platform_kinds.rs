//! The platform kinds (IAM, KMS, CloudWatch Logs, VPC flow log, ECR, ELBv2, Route53, ACM)
//! against moto. For each kind: create → read_many (a missing id is absent, not an error) →
//! in-place update → find_owned → delete → read_many empty → delete again is Ok. Every result
//! is checked through an independent SDK client built from `support::sdk_config`, not only
//! through kprov's own reads; validation that moto skips is checked to fail before any call.
//!
//! Isolation: regional services run in regions no other test file uses; IAM and Route53 are
//! global in moto too, so names carry a random suffix and every test has its own owner env
//! (`find_owned` only sees that test's resources).
//!
//! One file per service lives in `tests/platform_kinds/`; this file holds the harness.

// The shared harness spawns moto detached on purpose (a watchdog shell reaps it).
#[allow(clippy::zombie_processes)]
mod support;

#[path = "platform_kinds/acm.rs"]
mod acm;
#[path = "platform_kinds/ecr.rs"]
mod ecr;
#[path = "platform_kinds/elbv2.rs"]
mod elbv2;
#[path = "platform_kinds/emulator.rs"]
mod emulator;
#[path = "platform_kinds/flow_log.rs"]
mod flow_log;
#[path = "platform_kinds/iam.rs"]
mod iam;
#[path = "platform_kinds/kms.rs"]
mod kms;
#[path = "platform_kinds/logs.rs"]
mod logs;
#[path = "platform_kinds/route53.rs"]
mod route53;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Once};

use kprov::aws;
use kprov::resource::{Address, Attrs, Cx, Observed, Owner, Registry, ResourceError, ResourceKind, Spec};
use serde_json::Value;

pub const STACK: &str = "kprov-test";

pub struct Env {
    pub reg: Registry,
    /// For independent checks: build any service client from it.
    pub sdk: aws_config::SdkConfig,
    pub cx: Cx,
    pub region: &'static str,
}

/// Export moto's endpoint and dummy credentials once, before any test builds a config.
fn init_env() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        for (k, v) in support::aws_env() {
            std::env::set_var(k, v);
        }
    });
}

/// A short random suffix for names in global services (IAM, Route53).
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

impl Env {
    /// `owner_env` must be unique per test: it scopes `find_owned`.
    pub async fn new(region: &'static str, owner_env: &str) -> Env {
        init_env();
        let sdk = aws::sdk_config(region, None).await;
        Env {
            reg: aws::registry(&sdk),
            sdk: support::sdk_config(region).await,
            cx: Cx::new(Owner { stack: STACK.into(), env: owner_env.into() }),
            region,
        }
    }

    pub fn kind(&self, kind: &str) -> &Arc<dyn ResourceKind> {
        self.reg.get(kind).unwrap_or_else(|| panic!("kind {kind} not registered"))
    }

    /// A spec as the plan layer would hand it over: schema defaults applied.
    pub fn spec(&self, kind: &str, name: &str, attrs: Value) -> Spec {
        let mut a: Attrs = attrs.as_object().cloned().unwrap_or_default().into_iter().collect();
        for s in &self.kind(kind).schema().attrs {
            if let Some(d) = &s.default {
                a.entry(s.name.to_string()).or_insert_with(|| d.clone());
            }
        }
        Spec { address: Address::new(kind, name, None), attrs: a, client_token: uuid::Uuid::new_v4().to_string() }
    }

    /// Create as the engine does: the plan-time checks on the resolved values first.
    pub async fn try_create(&self, spec: &Spec) -> Result<Observed, ResourceError> {
        let kind = self.kind(&spec.address.kind);
        kprov::resource::check_resolved(kind.as_ref(), None, &spec.attrs, None)
            .map_err(|e| ResourceError::invalid(format!("{}: {e}", spec.address)))?;
        kind.create(&self.cx, spec).await
    }

    pub async fn create(&self, spec: &Spec) -> Observed {
        let kind = spec.address.kind.as_str();
        let o = self.try_create(spec).await.unwrap_or_else(|e| panic!("create {kind}: {e}"));
        if self.kind(kind).schema().get("tags").is_some() {
            assert_eq!(o.owner_address.as_deref(), Some(spec.address.to_string().as_str()), "{o:?}");
        }
        o
    }

    pub async fn update(&self, prior: &Observed, spec: &Spec) -> Observed {
        let kind = spec.address.kind.as_str();
        self.kind(kind).update(&self.cx, prior, spec).await.unwrap_or_else(|e| panic!("update {kind}: {e}"))
    }

    pub async fn read(&self, kind: &str, ids: &[&str]) -> Vec<Observed> {
        let ids: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        self.kind(kind).read_many(&self.cx, &ids).await.unwrap_or_else(|e| panic!("read_many {kind}: {e}"))
    }

    /// read_many returns exactly `o` (fresh, equal to `o`) and skips `missing`.
    pub async fn assert_reads(&self, kind: &str, o: &Observed, missing: &str) -> Observed {
        let got = self.read(kind, &[o.id.as_str(), missing]).await;
        assert_eq!(got.len(), 1, "{kind}: {got:?}");
        assert_eq!(&got[0], o, "{kind}: a fresh read differs from what create returned");
        got[0].clone()
    }

    /// The plan would see no change between `spec` and `o` (schema-driven diff, including the
    /// attributes' normalisation).
    pub fn assert_converged(&self, spec: &Spec, o: &Observed) {
        let schema = self.kind(&spec.address.kind).schema();
        let desired: BTreeMap<String, Option<Value>> =
            spec.attrs.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let changes = kprov::plan::diff::attr_changes(schema, &desired, Some(&o.attrs));
        assert!(changes.is_empty(), "{}: unexpected changes {changes:?}", spec.address);
    }

    pub async fn find_owned_ids(&self, kind: &str) -> Vec<String> {
        let found = self.kind(kind).find_owned(&self.cx).await.unwrap_or_else(|e| panic!("find_owned {kind}: {e}"));
        found.into_iter().map(|o| o.id).collect()
    }

    /// find_owned finds exactly `ids` for this owner, and nothing for another env's owner.
    pub async fn assert_owned(&self, kind: &str, ids: &[&str]) {
        let mut got = self.find_owned_ids(kind).await;
        got.sort();
        let mut want: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(got, want, "{kind}: find_owned");
        let other = Cx::new(Owner { stack: STACK.into(), env: format!("{}-other", self.cx.owner.env) });
        let theirs = self.kind(kind).find_owned(&other).await.unwrap_or_else(|e| panic!("find_owned {kind}: {e}"));
        assert!(theirs.is_empty(), "{kind}: another env sees {theirs:?}");
    }

    /// delete → read_many empty → delete again is Ok.
    pub async fn assert_deletes(&self, kind: &str, o: &Observed) {
        let k = self.kind(kind);
        k.delete(&self.cx, o).await.unwrap_or_else(|e| panic!("delete {kind}: {e}"));
        assert!(self.read(kind, &[o.id.as_str()]).await.is_empty(), "{kind} {} still readable", o.id);
        k.delete(&self.cx, o).await.unwrap_or_else(|e| panic!("second delete {kind}: {e}"));
    }

    /// The ownership tags plus `user`, as AWS should have them.
    pub fn expected_tags(&self, address: &str, user: &[(&str, &str)]) -> HashMap<String, String> {
        let mut want: HashMap<String, String> = user.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        want.insert("kprov:stack".into(), STACK.into());
        want.insert("kprov:env".into(), self.cx.owner.env.clone());
        want.insert("kprov:address".into(), address.into());
        want
    }
}

/// Attribute `name` of `o`.
pub fn attr<'a>(o: &'a Observed, name: &str) -> &'a Value {
    o.attrs.get(name).unwrap_or_else(|| panic!("no attribute {name} in {o:?}"))
}

pub fn s<'a>(o: &'a Observed, name: &str) -> &'a str {
    attr(o, name).as_str().unwrap_or_else(|| panic!("{name} is not a string in {o:?}"))
}

/// A create refused before any AWS call, with a message about the address.
pub fn assert_invalid(r: Result<Observed, ResourceError>, needle: &str) {
    match r {
        Err(ResourceError::Invalid { message }) => assert!(message.contains(needle), "{message:?} lacks {needle:?}"),
        other => panic!("expected a local validation error mentioning {needle:?}, got {other:?}"),
    }
}
