//! The simulated cloud: resource kinds that live in memory and take simulated time.
//!
//! Used by engine tests and the benchmark with tokio's paused clock, so a 10-minute EKS create
//! costs no real time and concurrency, ordering and failure handling are deterministic.
//!
//! A [`SimCloud`] holds the resources of every [`SimKind`] registered against it and two logs:
//! the operations (when each create/update/delete started and ended) and the API calls (when
//! each request reached the "server", and whether it was throttled).
//!
//! Every simulated operation makes API calls like a real kind does — one per create, update,
//! delete, batched read and ownership search — classified by [`SimApi`] the way the AWS
//! connector classifies real requests. They go through the same
//! [`RateLimiter`](crate::engine::RateLimiter) as real calls, so token buckets, the throttling
//! retry and their statistics are exercised exactly as in production. On the server side the
//! cloud can enforce AWS's buckets itself ([`SimCloud::enforce_limits`]: a call finding the
//! bucket empty is answered `RequestLimitExceeded`), inject throttling errors
//! ([`SimCloud::throttle_next`]), fail creates, add a per-call latency, and stop dead at a chosen
//! step ([`SimCloud::set_gate`], for crash tests).
//!
//! [`SimKind::mimic`] builds a kind with a real kind's name and schema (computed attributes get
//! synthetic values), so the repository's plans load and run against the simulated cloud.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{AttrSchema, AttrType, Attrs, Cx, Observed, Registry, ResourceError, ResourceKind, Schema, Spec, Value};
use crate::engine::model::{Model, RetryPolicy};
use crate::engine::rate_limit::{is_throttling_code, ApiCall, RateLimiter};

/// One logged operation: (kind, address or id, "create"/"update"/"delete", start, end) in
/// seconds of (simulated) time since the cloud was made.
#[derive(Debug, Clone, PartialEq)]
pub struct OpRecord {
    pub kind: &'static str,
    pub what: String,
    pub op: &'static str,
    pub start: f64,
    pub end: f64,
}

/// One API request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub service: String,
    pub class: String,
    pub action: String,
    /// Arrival, in seconds of (simulated) time since the cloud was made.
    pub at: f64,
    pub throttled: bool,
}

/// A server-side token bucket: strict, no debt — a call finding it empty is refused.
struct ServerBucket {
    burst: f64,
    rate: f64,
    tokens: f64,
    last: tokio::time::Instant,
}

impl ServerBucket {
    fn admit(&mut self) -> bool {
        let now = tokio::time::Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate).min(self.burst);
        self.last = now;
        // A hair of tolerance for float rounding in the refill arithmetic.
        if self.tokens >= 1.0 - 1e-9 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

type Gate = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// id → (kind, attrs, owner address)
    resources: BTreeMap<String, (&'static str, Attrs, Option<String>)>,
    log: Vec<OpRecord>,
    calls: Vec<CallRecord>,
    /// Addresses whose create fails.
    fail_create: HashSet<String>,
    /// Addresses whose create makes the resource, then fails definitively at its next step
    /// (a ModifySubnetAttribute refused after CreateSubnet went through).
    fail_after_create: HashSet<String>,
    /// Answer the next this-many calls with a throttling error.
    throttle_next: usize,
    server_buckets: HashMap<(String, String), ServerBucket>,
    latency: Duration,
    gate: Option<Gate>,
}

#[derive(Clone)]
pub struct SimCloud {
    inner: Arc<Mutex<Inner>>,
    limiter: Arc<Mutex<Arc<RateLimiter>>>,
    epoch: tokio::time::Instant,
}

impl Default for SimCloud {
    fn default() -> Self {
        Self::new()
    }
}

impl SimCloud {
    /// A cloud whose client side has no rate limits (calls are counted, throttled answers
    /// retried with the default policy).
    pub fn new() -> Self {
        let limiter = RateLimiter::unlimited(RetryPolicy::default()).with_seed(1);
        SimCloud {
            inner: Arc::default(),
            limiter: Arc::new(Mutex::new(Arc::new(limiter))),
            epoch: tokio::time::Instant::now(),
        }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// kprov's side: calls go through `limiter` (as real calls go through the AWS connector's).
    pub fn set_limiter(&self, limiter: Arc<RateLimiter>) {
        *self.limiter.lock().unwrap_or_else(|p| p.into_inner()) = limiter;
    }
    pub fn limiter(&self) -> Arc<RateLimiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
    /// AWS's side: enforce `model`'s buckets, refusing calls that find their bucket empty.
    pub fn enforce_limits(&self, model: &Model) {
        let mut inner = self.lock();
        for (service, classes) in &model.rate_limits {
            for class in classes.keys() {
                if let Some(b) = model.bucket(service, class) {
                    inner.server_buckets.insert(
                        (service.clone(), class.clone()),
                        ServerBucket {
                            burst: b.burst,
                            rate: b.refill_per_s,
                            tokens: b.burst,
                            last: tokio::time::Instant::now(),
                        },
                    );
                }
            }
        }
    }
    /// Answer the next `n` API calls with `RequestLimitExceeded`.
    pub fn throttle_next(&self, n: usize) {
        self.lock().throttle_next = n;
    }
    /// Every API call takes `latency` (holding the operation's parallelism slot).
    pub fn set_call_latency(&self, latency: Duration) {
        self.lock().latency = latency;
    }
    /// Consulted before and after every change the cloud makes; once it answers `false` the
    /// "process" is dead: that change and all later ones fail with a transport error (the
    /// change itself is made when the gate refuses *after* it — the answer was lost).
    pub fn set_gate(&self, gate: Gate) {
        self.lock().gate = Some(gate);
    }
    /// Make creating `address` fail with an AWS-like error.
    pub fn fail_create(&self, address: &str) {
        self.lock().fail_create.insert(address.to_string());
    }
    /// Make the create of `address` succeed at AWS, then fail definitively at its follow-up
    /// call (as ModifySubnetAttribute or EnableKeyRotation can after the create call).
    pub fn fail_after_create(&self, address: &str) {
        self.lock().fail_after_create.insert(address.to_string());
    }
    pub fn log(&self) -> Vec<OpRecord> {
        self.lock().log.clone()
    }
    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.clone()
    }
    /// Live resources: id → (kind, attrs).
    pub fn resources(&self) -> BTreeMap<String, (&'static str, Attrs)> {
        self.lock().resources.iter().map(|(id, (k, a, _))| (id.clone(), (*k, a.clone()))).collect()
    }
    /// The owner address of every live resource (one entry per resource: duplicates show).
    pub fn owner_addresses(&self) -> Vec<Option<String>> {
        self.lock().resources.values().map(|r| r.2.clone()).collect()
    }
    /// Change a live resource behind kprov's back (drift).
    pub fn set_attr(&self, id: &str, name: &str, v: Value) {
        if let Some(r) = self.lock().resources.get_mut(id) {
            r.1.insert(name.to_string(), v);
        }
    }
    pub fn remove(&self, id: &str) {
        self.lock().resources.remove(id);
    }
    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// The crash gate: `Err` once the process is dead.
    fn step(&self) -> Result<(), ResourceError> {
        let gate = self.lock().gate.clone();
        match gate {
            Some(g) if !g() => {
                Err(ResourceError::Transport { operation: "sim".into(), message: "the process was killed".into() })
            }
            _ => Ok(()),
        }
    }

    /// One request to the server: throttled or accepted.
    async fn serve(&self, call: &ApiCall) -> Result<(), ResourceError> {
        let at = self.now();
        let latency = {
            let mut inner = self.lock();
            let injected = inner.throttle_next > 0;
            if injected {
                inner.throttle_next -= 1;
            }
            let refused = injected
                || inner
                    .server_buckets
                    .get_mut(&(call.service.clone(), call.class.clone()))
                    .is_some_and(|b| !b.admit());
            inner.calls.push(CallRecord {
                service: call.service.clone(),
                class: call.class.clone(),
                action: call.action.clone(),
                at,
                throttled: refused,
            });
            if refused {
                return Err(ResourceError::Aws {
                    operation: call.action.clone(),
                    code: "RequestLimitExceeded".into(),
                    message: "Request limit exceeded.".into(),
                    request_id: Some(format!("sim-throttle-{}", inner.calls.len())),
                    retryable: true,
                });
            }
            inner.latency
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        Ok(())
    }

    /// Make `call` through kprov's rate limiter, with the throttling retry.
    async fn api(&self, call: &ApiCall) -> Result<(), ResourceError> {
        let limiter = self.limiter();
        let throttled = |r: &Result<(), ResourceError>| matches!(r, Err(e) if e.code().is_some_and(is_throttling_code));
        limiter.call(call, throttled, |_| self.serve(call)).await
    }
}

/// How a simulated kind's operations are classified for rate limiting, mirroring what the AWS
/// connector does with the real kind's requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimApi {
    pub service: String,
    pub create: String,
    pub update: String,
    pub delete: String,
    pub read: String,
    /// Changes to resources with the same value of this attribute never overlap (Route 53
    /// record changes to one hosted zone).
    pub serialize_by: Option<&'static str>,
}

impl SimApi {
    /// The classification of the real kind named `kind` (the service is the name's prefix).
    pub fn for_kind(kind: &str) -> SimApi {
        let service = kind.split('_').next().unwrap_or(kind).to_string();
        let all = |c: &str| SimApi {
            service: service.clone(),
            create: c.into(),
            update: c.into(),
            delete: c.into(),
            read: if service == "ec2" { "non_mutating".into() } else { c.into() },
            serialize_by: None,
        };
        match kind {
            // Authorize/RevokeSecurityGroup*: the "resource-intensive" bucket.
            "ec2_security_group_rule" => all("resource_intensive"),
            // Create/DeleteNatGateway have a bucket of their own; tag changes use the tags one.
            "ec2_nat_gateway" => SimApi { update: "tags".into(), ..all("nat_gateway") },
            "route53_record" => SimApi { serialize_by: Some("zone_id"), ..all("account") },
            _ if service == "route53" => all("account"),
            _ if service == "ec2" => all("mutating"),
            _ => SimApi { read: "non_mutating".into(), ..all("mutating") },
        }
    }

    fn call(&self, class: &str, action: String, attrs: Option<&Attrs>) -> ApiCall {
        let call = ApiCall::new(&self.service, class, &action);
        match (self.serialize_by, attrs) {
            (Some(key), Some(a)) => match a.get(key).and_then(Value::as_str) {
                Some(v) => call.serialized(format!("{}:{key}:{v}", self.service)),
                None => call,
            },
            _ => call,
        }
    }
}

/// A simulated kind: `create` makes one API call and then takes `create_time` (as a wait, not
/// holding an engine slot); `delete` likewise with `delete_time`.
pub struct SimKind {
    name: &'static str,
    cloud: SimCloud,
    schema: Schema,
    api: SimApi,
    pub create_time: Duration,
    pub delete_time: Duration,
}

impl SimKind {
    /// A kind with a small generic schema (`name`, `parent` (force_new), `size`, `tags`, and the
    /// computed `arn`).
    pub fn new(name: &'static str, cloud: &SimCloud, create_time: Duration, delete_time: Duration) -> Self {
        let schema = Schema::new(vec![
            AttrSchema::optional("name", AttrType::String),
            AttrSchema::optional("parent", AttrType::String).force_new(),
            AttrSchema::optional("size", AttrType::Int),
            AttrSchema::optional("tags", AttrType::StringMap).default(Value::Object(Default::default())),
            AttrSchema::computed("arn", AttrType::String),
        ]);
        Self::mimic(name, schema, cloud, create_time, delete_time)
    }

    /// A kind with a real kind's name and schema: it accepts what the real kind accepts, and
    /// computed attributes get synthetic values, so real plans load and run against it.
    pub fn mimic(
        name: &'static str,
        schema: Schema,
        cloud: &SimCloud,
        create_time: Duration,
        delete_time: Duration,
    ) -> Self {
        SimKind { name, cloud: cloud.clone(), schema, api: SimApi::for_kind(name), create_time, delete_time }
    }

    /// A registry of simulated kinds `(name, create seconds, delete seconds)` on one cloud.
    pub fn registry(cloud: &SimCloud, kinds: &[(&'static str, u64, u64)]) -> Registry {
        let mut r = Registry::new();
        for (name, c, d) in kinds {
            r.register(Arc::new(SimKind::new(name, cloud, Duration::from_secs(*c), Duration::from_secs(*d))));
        }
        r
    }

    /// A registry mimicking every kind of `real`, with durations from `model`.
    pub fn mimic_registry(cloud: &SimCloud, real: &Registry, model: &Model) -> Registry {
        use crate::engine::OpKind;
        let mut r = Registry::new();
        for name in real.names() {
            let Some(schema) = real.schema(name) else { continue };
            let (c, d) = (model.durations.of(OpKind::Create, name), model.durations.of(OpKind::Delete, name));
            r.register(Arc::new(SimKind::mimic(name, schema.clone(), cloud, c, d)));
        }
        r
    }

    fn observed(&self, id: &str, attrs: &Attrs, owner: &Option<String>) -> Observed {
        Observed { id: id.to_string(), attrs: attrs.clone(), owner_address: owner.clone() }
    }

    /// The attributes as AWS would report them: in each attribute's canonical form (the real
    /// kinds read policies, sorted lists, filled-in defaults back that way).
    fn as_stored(&self, attrs: &Attrs) -> Attrs {
        attrs
            .iter()
            .map(|(k, v)| (k.clone(), self.schema.get(k).map_or_else(|| v.clone(), |a| a.canonical(v))))
            .collect()
    }

    /// What AWS would have filled in: every computed attribute the plan did not set.
    fn computed_values(&self, id: &str, attrs: &mut Attrs) {
        for a in self.schema.attrs.iter().filter(|a| a.computed) {
            if attrs.contains_key(a.name) {
                continue;
            }
            let v = match a.ty {
                // An ARN shaped like AWS's (`iam_role` → `arn:aws:iam:…:role/ID`), so that it
                // passes the schema's ARN constraints when the engine checks resolved values.
                AttrType::String => Value::String(if a.name == "arn" {
                    let (service, resource) = self.name.split_once('_').unwrap_or((self.name, "resource"));
                    format!("arn:aws:{service}:us-east-1:123456789012:{}/{id}", resource.replace('_', "-"))
                } else {
                    format!("sim-{}-{id}", a.name.replace('_', "-"))
                }),
                AttrType::Bool => Value::Bool(false),
                AttrType::Int => Value::from(0),
                AttrType::StringList => Value::Array(Vec::new()),
                AttrType::StringMap | AttrType::Any => Value::Object(Default::default()),
            };
            attrs.insert(a.name.to_string(), v);
        }
    }

    fn action(&self, verb: &str) -> String {
        format!("{verb}:{}", self.name)
    }
}

#[async_trait::async_trait]
impl ResourceKind for SimKind {
    fn kind(&self) -> &'static str {
        self.name
    }
    fn schema(&self) -> &Schema {
        &self.schema
    }
    async fn read_many(&self, _cx: &Cx, ids: &[String]) -> Result<Vec<Observed>, ResourceError> {
        self.cloud.api(&self.api.call(&self.api.read, self.action("Describe"), None)).await?;
        let inner = self.cloud.lock();
        Ok(ids
            .iter()
            .filter_map(|id| {
                inner.resources.get(id).filter(|r| r.0 == self.name).map(|r| self.observed(id, &r.1, &r.2))
            })
            .collect())
    }
    async fn create(&self, cx: &Cx, spec: &Spec) -> Result<Observed, ResourceError> {
        let start = self.cloud.now();
        self.cloud.api(&self.api.call(&self.api.create, self.action("Create"), Some(&spec.attrs))).await?;
        if self.cloud.lock().fail_create.contains(&spec.address.to_string()) {
            return Err(ResourceError::Aws {
                operation: "SimCreate".into(),
                code: "InvalidParameterValue".into(),
                message: format!("simulated failure for {}", spec.address),
                request_id: Some("sim-req-1".into()),
                retryable: false,
            });
        }
        self.cloud.step()?;
        let id = {
            let mut inner = self.cloud.lock();
            inner.next_id += 1;
            let id = format!("{}-{:04}", self.name, inner.next_id);
            let mut attrs = self.as_stored(&spec.attrs);
            self.computed_values(&id, &mut attrs);
            inner.resources.insert(id.clone(), (self.name, attrs, Some(spec.address.to_string())));
            id
        };
        // What the connector reports for a real create call that went through.
        super::cx::note_made(&self.action("Create"));
        if self.cloud.lock().fail_after_create.remove(&spec.address.to_string()) {
            return Err(ResourceError::Aws {
                operation: "SimModify".into(),
                code: "InvalidParameterValue".into(),
                message: format!("simulated follow-up failure for {} ({id})", spec.address),
                request_id: Some("sim-req-2".into()),
                retryable: false,
            });
        }
        self.cloud.step()?;
        cx.wait_for("available", async {
            tokio::time::sleep(self.create_time).await;
            Ok(())
        })
        .await?;
        let mut inner = self.cloud.lock();
        let end = self.cloud.now();
        inner.log.push(OpRecord { kind: self.name, what: spec.address.to_string(), op: "create", start, end });
        let r = inner.resources.get(&id).ok_or_else(|| ResourceError::unexpected("SimCreate", "vanished"))?;
        Ok(self.observed(&id, &r.1, &r.2))
    }
    async fn update(&self, _cx: &Cx, prior: &Observed, spec: &Spec) -> Result<Observed, ResourceError> {
        self.cloud.api(&self.api.call(&self.api.update, self.action("Update"), Some(&spec.attrs))).await?;
        self.cloud.step()?;
        let now = self.cloud.now();
        let mut inner = self.cloud.lock();
        inner.log.push(OpRecord {
            kind: self.name,
            what: spec.address.to_string(),
            op: "update",
            start: now,
            end: now,
        });
        let r = inner
            .resources
            .get_mut(&prior.id)
            .ok_or_else(|| ResourceError::unexpected("SimUpdate", format!("{} not found", prior.id)))?;
        for (k, v) in self.as_stored(&spec.attrs) {
            r.1.insert(k, v);
        }
        let (attrs, owner) = (r.1.clone(), r.2.clone());
        drop(inner);
        self.cloud.step()?;
        Ok(self.observed(&prior.id, &attrs, &owner))
    }
    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let start = self.cloud.now();
        self.cloud.api(&self.api.call(&self.api.delete, self.action("Delete"), Some(&prior.attrs))).await?;
        self.cloud.step()?;
        cx.wait_for("deleted", async {
            tokio::time::sleep(self.delete_time).await;
            Ok(())
        })
        .await?;
        let mut inner = self.cloud.lock();
        inner.resources.remove(&prior.id);
        let end = self.cloud.now();
        inner.log.push(OpRecord { kind: self.name, what: prior.id.clone(), op: "delete", start, end });
        drop(inner);
        self.cloud.step()?;
        Ok(())
    }
    async fn find_owned(&self, _cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
        self.cloud.api(&self.api.call(&self.api.read, self.action("DescribeOwned"), None)).await?;
        let inner = self.cloud.lock();
        Ok(inner
            .resources
            .iter()
            .filter(|(_, r)| r.0 == self.name && r.2.is_some())
            .map(|(id, r)| self.observed(id, &r.1, &r.2))
            .collect())
    }
}

/// Count of live resources per kind (for assertions).
pub fn counts(cloud: &SimCloud) -> HashMap<&'static str, usize> {
    let mut m = HashMap::new();
    for (_, (k, _)) in cloud.resources() {
        *m.entry(k).or_default() += 1;
    }
    m
}
