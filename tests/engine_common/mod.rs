//! Helpers shared by the engine tests on the simulated cloud: declarations, plan + run, state
//! backends that can be "killed".
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use kprov::config::{ResourceDecl, SourceLoc, Stack, Tmpl};
use kprov::engine::{self, Event, Report, RunOptions};
use kprov::plan;
use kprov::resource::{Cx, Owner, Registry};
use kprov::state::{Backend, LocalBackend, State, StateError};
use tokio_util::sync::CancellationToken;

pub fn decl(addr: &str, attrs: &[(&str, Tmpl)]) -> ResourceDecl {
    ResourceDecl {
        address: addr.parse().unwrap(),
        attrs: attrs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect::<BTreeMap<_, _>>(),
        depends_on: vec![],
        lifecycle: Default::default(),
        loc: SourceLoc { file: "plans/sim.toml".into(), line: 1, col: 1 },
        attr_locs: Default::default(),
    }
}

pub fn r(addr: &str) -> Tmpl {
    Tmpl::Ref { target: addr.parse().unwrap(), attr: "id".into() }
}

pub fn lit(v: serde_json::Value) -> Tmpl {
    Tmpl::Lit(v)
}

pub fn stack(resources: Vec<ResourceDecl>) -> Stack {
    Stack {
        name: "sim".into(),
        env: "test".into(),
        region: "sim-1".into(),
        resources,
        backend: None,
        drift_ignore: vec![],
        moved: vec![],
    }
}

pub fn owner() -> Owner {
    Owner { stack: "sim".into(), env: "test".into() }
}

pub fn backend() -> (tempfile::TempDir, Arc<LocalBackend>) {
    let dir = tempfile::tempdir().unwrap();
    let b = Arc::new(LocalBackend::for_env(dir.path(), "test"));
    (dir, b)
}

/// plan + apply (or destroy) against `backend`, returning the report and the events.
pub async fn run(
    stack: &Stack,
    reg: &Registry,
    backend: Arc<dyn Backend>,
    parallelism: usize,
    destroy: bool,
) -> (Report, Vec<Event>) {
    let state = backend.load().await.unwrap();
    let plan = plan::make(stack, reg, state.as_ref(), &Cx::new(owner()), destroy).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let events = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(e) = rx.recv().await {
            all.push(e);
        }
        all
    });
    let state = state.unwrap_or_else(|| State::new(&stack.name, &stack.env));
    let opts = RunOptions { owner: owner(), parallelism, cancel: CancellationToken::new() };
    let report = engine::run(&plan, reg, state, backend, tx, opts).await.unwrap();
    (report, events.await.unwrap())
}

/// A shared "process": alive until its `steps`-th step (a state write or a change in the
/// simulated cloud), dead from then on.
pub struct Process {
    steps: AtomicUsize,
    die_at: usize,
    dead: AtomicBool,
    pub died: tokio::sync::Notify,
}

impl Process {
    pub fn new(die_at: usize) -> Arc<Self> {
        Arc::new(Process {
            steps: AtomicUsize::new(0),
            die_at,
            dead: AtomicBool::new(false),
            died: tokio::sync::Notify::new(),
        })
    }
    /// One more step: false once the process is dead.
    pub fn step(&self) -> bool {
        if self.dead.load(Ordering::SeqCst) {
            return false;
        }
        if self.steps.fetch_add(1, Ordering::SeqCst) + 1 >= self.die_at {
            self.dead.store(true, Ordering::SeqCst);
            self.died.notify_one();
            return false;
        }
        true
    }
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::SeqCst)
    }
    pub fn steps(&self) -> usize {
        self.steps.load(Ordering::SeqCst)
    }
}

/// A local backend that stops writing when its process dies (what is on disk then is what a
/// crash would leave). Writes happen inline on the test's single thread, so a write can never
/// land after the "process" died and the next one started.
pub struct MortalBackend {
    pub inner: Arc<LocalBackend>,
    pub process: Arc<Process>,
}

impl MortalBackend {
    pub fn new(inner: Arc<LocalBackend>, process: Arc<Process>) -> Arc<Self> {
        Arc::new(MortalBackend { inner, process })
    }
}

#[async_trait::async_trait]
impl Backend for MortalBackend {
    async fn load(&self) -> Result<Option<State>, StateError> {
        self.inner.load()
    }
    async fn save(&self, state: &State) -> Result<(), StateError> {
        if !self.process.step() {
            return Err(StateError::Write {
                location: "killed".into(),
                source: std::io::Error::other("the process was killed"),
            });
        }
        self.inner.save(state)
    }
    async fn import(&self, state: &State) -> Result<(), StateError> {
        self.inner.import(state)
    }
    fn fence(&self, fence: kprov::state::lock::Fence) {
        Backend::fence(self.inner.as_ref(), fence)
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}
