//! The simulated cloud: resource kinds that live in memory and take simulated time.
//!
//! Used by engine tests and benchmarks with tokio's paused clock, so a 10-minute EKS create
//! costs no real time and concurrency, ordering and failure handling are deterministic.
//! A [`SimCloud`] holds the resources of every [`SimKind`] registered against it and a log of
//! when each operation started and ended.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{AttrSchema, AttrType, Attrs, Cx, Observed, Registry, ResourceError, ResourceKind, Schema, Spec, Value};

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

#[derive(Default)]
struct Inner {
    next_id: u64,
    /// id → (kind, attrs, owner address)
    resources: BTreeMap<String, (&'static str, Attrs, Option<String>)>,
    log: Vec<OpRecord>,
    /// Addresses whose create fails.
    fail_create: HashSet<String>,
}

#[derive(Clone)]
pub struct SimCloud {
    inner: Arc<Mutex<Inner>>,
    epoch: tokio::time::Instant,
}

impl Default for SimCloud {
    fn default() -> Self {
        Self::new()
    }
}

impl SimCloud {
    pub fn new() -> Self {
        SimCloud { inner: Arc::default(), epoch: tokio::time::Instant::now() }
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
    /// Make creating `address` fail with an AWS-like error.
    pub fn fail_create(&self, address: &str) {
        self.lock().fail_create.insert(address.to_string());
    }
    pub fn log(&self) -> Vec<OpRecord> {
        self.lock().log.clone()
    }
    /// Live resources: id → (kind, attrs).
    pub fn resources(&self) -> BTreeMap<String, (&'static str, Attrs)> {
        self.lock().resources.iter().map(|(id, (k, a, _))| (id.clone(), (*k, a.clone()))).collect()
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
}

/// A simulated kind: `create` takes `create_time` (as a wait, not holding an engine slot),
/// `delete` takes `delete_time`.
pub struct SimKind {
    name: &'static str,
    cloud: SimCloud,
    schema: Schema,
    pub create_time: Duration,
    pub delete_time: Duration,
}

impl SimKind {
    pub fn new(name: &'static str, cloud: &SimCloud, create_time: Duration, delete_time: Duration) -> Self {
        SimKind {
            name,
            cloud: cloud.clone(),
            schema: Schema::new(vec![
                AttrSchema::optional("name", AttrType::String),
                AttrSchema::optional("parent", AttrType::String).force_new(),
                AttrSchema::optional("size", AttrType::Int),
                AttrSchema::optional("tags", AttrType::StringMap).default(Value::Object(Default::default())),
                AttrSchema::computed("arn", AttrType::String),
            ]),
            create_time,
            delete_time,
        }
    }

    /// A registry of simulated kinds `(name, create seconds, delete seconds)` on one cloud.
    pub fn registry(cloud: &SimCloud, kinds: &[(&'static str, u64, u64)]) -> Registry {
        let mut r = Registry::new();
        for (name, c, d) in kinds {
            r.register(Arc::new(SimKind::new(name, cloud, Duration::from_secs(*c), Duration::from_secs(*d))));
        }
        r
    }

    fn observed(&self, id: &str, attrs: &Attrs, owner: &Option<String>) -> Observed {
        Observed { id: id.to_string(), attrs: attrs.clone(), owner_address: owner.clone() }
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
        if self.cloud.lock().fail_create.contains(&spec.address.to_string()) {
            return Err(ResourceError::Aws {
                operation: "SimCreate".into(),
                code: "InvalidParameterValue".into(),
                message: format!("simulated failure for {}", spec.address),
                request_id: Some("sim-req-1".into()),
                retryable: false,
            });
        }
        let id = {
            let mut inner = self.cloud.lock();
            inner.next_id += 1;
            let id = format!("{}-{:04}", self.name, inner.next_id);
            let mut attrs = spec.attrs.clone();
            attrs.insert("arn".into(), Value::String(format!("arn:sim:{id}")));
            inner.resources.insert(id.clone(), (self.name, attrs, Some(spec.address.to_string())));
            id
        };
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
        for (k, v) in &spec.attrs {
            r.1.insert(k.clone(), v.clone());
        }
        let (attrs, owner) = (r.1.clone(), r.2.clone());
        Ok(self.observed(&prior.id, &attrs, &owner))
    }
    async fn delete(&self, cx: &Cx, prior: &Observed) -> Result<(), ResourceError> {
        let start = self.cloud.now();
        cx.wait_for("deleted", async {
            tokio::time::sleep(self.delete_time).await;
            Ok(())
        })
        .await?;
        let mut inner = self.cloud.lock();
        inner.resources.remove(&prior.id);
        let end = self.cloud.now();
        inner.log.push(OpRecord { kind: self.name, what: prior.id.clone(), op: "delete", start, end });
        Ok(())
    }
    async fn find_owned(&self, _cx: &Cx) -> Result<Vec<Observed>, ResourceError> {
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
