//! The resource contract: what every resource kind (AWS or simulated) provides to the engine.
//!
//! Flow: the config layer produces declarations whose attributes are checked against a kind's
//! [`Schema`]; the plan layer diffs desired attributes against [`Observed`] ones using the same
//! schema (force_new ⇒ replace, other changes ⇒ update, computed attributes ignored); the engine
//! then calls [`ResourceKind::create`], [`ResourceKind::update`] or [`ResourceKind::delete`].
//! `graph`, `plan` and `engine` only ever see this module, never the AWS SDK, so the simulated
//! cloud ([`sim`]) and the AWS providers are interchangeable.

pub mod address;
pub mod cx;
pub mod docs;
pub mod error;
pub mod registry;
pub mod schema;
pub mod sensitive;
pub mod sim;

use std::collections::BTreeMap;

pub use address::Address;
pub use cx::{Cx, Owner};
pub use error::ResourceError;
pub use registry::Registry;
pub use schema::{AttrSchema, AttrType, Cidr, Constraint, Fact, PathSeg, Schema, Violation};

/// Attribute values are JSON values; maps are sorted so that state and plan output are stable.
pub type Value = serde_json::Value;
/// A resource's attributes by name.
pub type Attrs = BTreeMap<String, Value>;

/// Ownership tag keys set on every resource kprov creates (where the service supports tags).
pub const TAG_STACK: &str = "kprov:stack";
pub const TAG_ENV: &str = "kprov:env";
pub const TAG_ADDRESS: &str = "kprov:address";

/// What exists in the cloud for one resource.
///
/// `attrs` holds every schema attribute the kind can read back (inputs and computed ones).
/// The `tags` attribute, where a kind has one, holds the user's tags only: the `kprov:*`
/// ownership tags are stripped and reported through `owner_address` instead, so that they never
/// show up as a diff.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Observed {
    pub id: String,
    pub attrs: Attrs,
    /// The `kprov:address` ownership tag, when the resource carries one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_address: Option<String>,
}

/// The fully resolved desired state handed to `create` / `update`.
#[derive(Debug, Clone)]
pub struct Spec {
    pub address: Address,
    /// Every attribute the plan sets, resolved (no references left). Optional attributes the
    /// plan does not set are absent; schema defaults have already been applied.
    pub attrs: Attrs,
    /// Idempotency token for APIs that take one (`ClientToken`, `CallerReference`, …). Stable
    /// across retries and across runs (it is recorded in state before the create starts).
    pub client_token: String,
}

impl Spec {
    pub fn str(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).and_then(Value::as_str)
    }
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.attrs.get(name).and_then(Value::as_bool)
    }
    pub fn i64(&self, name: &str) -> Option<i64> {
        self.attrs.get(name).and_then(Value::as_i64)
    }
    /// A required string attribute; schema validation guarantees presence, but a kind must not
    /// panic if it is called with something else.
    pub fn req_str(&self, name: &str) -> Result<&str, ResourceError> {
        self.str(name).ok_or_else(|| ResourceError::Invalid { message: format!("attribute `{name}` must be a string") })
    }
    /// The user's `tags` attribute as (key, value) pairs.
    pub fn tags(&self) -> Vec<(String, String)> {
        tags_of(&self.attrs)
    }
}

/// (key, value) pairs of a `tags` attribute (a JSON object of strings).
pub fn tags_of(attrs: &Attrs) -> Vec<(String, String)> {
    match attrs.get("tags") {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let v = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
                (k.clone(), v)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The plan-time checks again, on resolved values, just before a create or update: the
/// schema's constraints and the kind's `validate_declared`/`validate`. At plan time a value
/// that refers to a resource not created yet is unknown and could not be checked; the engine
/// calls this once it is known. The same checks as `config::validate` and `plan::validate`,
/// not a second implementation; kinds do not validate inside `create`/`update`.
pub fn check_resolved(
    kind: &dyn ResourceKind,
    region: Option<&str>,
    attrs: &Attrs,
    prior: Option<&Attrs>,
) -> Result<(), ResourceError> {
    let mut problems: Vec<String> = kind.schema().check(attrs, region).into_iter().map(|v| v.message).collect();
    problems.extend(kind.validate_declared(attrs).err());
    problems.extend(kind.validate(attrs, prior).err());
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ResourceError::invalid(problems.join("; ")))
    }
}

/// One value to look up for a [`Fact`]: `value`, and for add-on versions the add-on's name as
/// `context`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Query {
    pub context: Option<String>,
    pub value: String,
}

/// What exists, for [`Fact`]s only a read can tell (defined here, implemented in `aws/`, so
/// that the plan stage stays AWS-free). Each call is one batched read (or one paginated list)
/// for all the queries of a fact.
#[async_trait::async_trait]
pub trait Catalog: Send + Sync {
    /// Of `queries`, the ones that exist, and a short list of what does (for the message, e.g.
    /// "us-east-1a, us-east-1b, …"; empty when there is nothing useful to say).
    async fn existing(&self, fact: Fact, queries: &[Query]) -> Result<(Vec<Query>, String), ResourceError>;
}

/// The contract one resource kind implements. Every method is idempotent and safe to re-run
/// after a cancellation. Errors carry the AWS error code and request id; the engine adds the
/// resource address.
#[async_trait::async_trait]
pub trait ResourceKind: Send + Sync + 'static {
    /// The kind's name as used in plans, e.g. `ec2_vpc`.
    fn kind(&self) -> &'static str;
    fn schema(&self) -> &Schema;
    /// Batched refresh: every id of this kind in as few calls as the API allows. Ids that no
    /// longer exist are simply absent from the result, never an error.
    async fn read_many(&self, cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError>;
    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError>;
    /// Apply in-place changes (only attributes the schema does not mark force_new differ).
    async fn update(&self, cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError>;
    /// Delete; a resource that is already gone is success.
    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError>;
    /// Check a resource's desired attributes before any AWS call: values the schema's types
    /// cannot express (an instance type family, an AMI type that does not fit it) and, when
    /// `prior` (the attributes the resource has now) is given, whether the change is possible
    /// at all (an EKS version that skips a minor version). `desired` holds the attributes known
    /// at plan time, schema defaults included; values known only after apply are absent.
    /// The message names the attribute, what is wrong and what is allowed; the plan stage adds
    /// the resource's address and location. Default: nothing to check.
    fn validate(&self, desired: &Attrs, prior: Option<&Attrs>) -> Result<(), String> {
        let _ = (desired, prior);
        Ok(())
    }

    /// Checks on the *shape* of what the plan declares, before any AWS call: `declared` holds
    /// every attribute the plan sets (schema defaults included), with each value not known yet
    /// replaced by `null` — inside lists and maps too, so a list of three subnet references is
    /// a list of three nulls. For rules such as "at least two subnets" or "HTTPS needs a
    /// certificate", where the count or the presence matters and the value is not known until
    /// apply. Default: nothing to check.
    fn validate_declared(&self, declared: &Attrs) -> Result<(), String> {
        let _ = declared;
        Ok(())
    }
    /// Finish a create that a crash interrupted, for a resource `found` after it and adopted
    /// (`spec`: the create's attributes and client token): every step `create` takes after its
    /// create call — waiting until the resource is usable (a NAT gateway still `pending`),
    /// revoking a default rule, writing a validation record, tagging what AWS cannot tag at
    /// creation — so that adoption leaves the resource exactly as a completed create would, and
    /// dependents do not start on something not ready. Idempotent: each step may already be
    /// done. Returns the resource as it is then. Default: nothing to finish.
    async fn resume_create(&self, cx: &Cx, spec: &Spec, found: &Observed) -> Result<Observed, ResourceError> {
        let _ = (cx, spec);
        Ok(found.clone())
    }

    /// Find what an interrupted create made when its ownership tags cannot tell: for kinds
    /// AWS cannot tag (a route, an alias, a DNS record, an access policy association) or cannot
    /// tag at creation (a hosted zone, tagged by a second call the crash may have prevented).
    /// `intent` holds the create's resolved attributes and its client token; the kind looks it
    /// up by its natural key (table + destination, alias name, zone + name + type, …) or
    /// idempotency token (a zone's `CallerReference`). `Ok(None)`: nothing was made. Kinds
    /// that tag atomically at creation need not implement it: the tags are the answer.
    async fn find_intent(&self, cx: &Cx, intent: &Spec) -> Result<Option<Observed>, ResourceError> {
        let _ = (cx, intent);
        Ok(None)
    }

    /// Create the replacement of `old` while `old` still exists (a create-before-destroy
    /// replace). Kinds whose names are unique give the new resource another name here (and
    /// read it back under the plan's name). Default: [`ResourceKind::create`].
    async fn create_replacement(&self, cx: &Cx, spec: &Spec, old: &Observed) -> Result<Observed, ResourceError> {
        let _ = old;
        self.create(cx, spec).await
    }

    /// Resources carrying this stack's ownership tags (`kprov:stack` and `kprov:env` equal to
    /// `cx.owner`), for adoption after a crash and orphan detection. Kinds that cannot be tagged
    /// find themselves by their natural key instead, or return an empty list.
    async fn find_owned(&self, cx: &Cx) -> Result<Vec<Observed>, ResourceError>;
}
