//! The concurrent walk over the operation graph.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::{Bfs, EdgeRef};
use petgraph::Direction;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::events::{Event, EventSender, OpKind};
use super::ops::{self, Op};
use super::recover;
use super::state_writer::{self, StateHandle, StateUpdate};
use super::EngineError;
use crate::plan::{Action, Change, Plan};
use crate::resource::cx::Phase;
use crate::resource::{check_resolved, Address, Attrs, Cx, Observed, Owner, Registry, ResourceError, Spec, Value};
use crate::state::{Backend, ResourceState, State, Status};

pub struct RunOptions {
    pub owner: Owner,
    /// Maximum API operations in flight (waits excluded).
    pub parallelism: usize,
    /// Set on the first Ctrl-C: nothing new starts, waits stop at their next poll.
    pub cancel: CancellationToken,
}

/// What happened, for the run summary.
#[derive(Debug)]
pub struct Report {
    pub done: BTreeMap<OpKind, usize>,
    /// Root causes: (address, operation, error).
    pub failed: Vec<(Address, OpKind, String)>,
    /// (address, operation, the failure it depends on).
    pub skipped: Vec<(Address, OpKind, Address)>,
    /// Not started because the run was interrupted.
    pub cancelled: Vec<(Address, OpKind)>,
    pub elapsed: Duration,
    pub state: State,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.cancelled.is_empty()
    }
}

/// Values of resources as they become known, for resolving references just before a dependent
/// runs.
type Live = Arc<RwLock<HashMap<Address, (Option<String>, Attrs)>>>;

struct Shared {
    registry: Registry,
    owner: Owner,
    cancel: CancellationToken,
    slots: Arc<Semaphore>,
    live: Live,
    state: StateHandle,
    events: EventSender,
    /// Client tokens of interrupted creates, reused so the retry is idempotent.
    tokens: HashMap<String, String>,
    /// The plan's region (for the availability-zone constraint).
    region: String,
}

#[derive(Clone, Copy, PartialEq)]
enum NodeState {
    Pending,
    Running,
    Done,
    Failed,
    Skipped,
}

/// Apply `plan` on top of `state`, persisting to `backend`.
pub async fn run(
    plan: &Plan,
    registry: &Registry,
    state: State,
    backend: Arc<dyn Backend>,
    events: EventSender,
    opts: RunOptions,
) -> Result<Report, EngineError> {
    let started = Instant::now();
    let graph = ops::build(plan)?;
    let tokens = state
        .resources
        .iter()
        .filter(|(_, r)| r.status == Status::PendingCreate)
        .filter_map(|(a, r)| Some((a.clone(), r.client_token.clone()?)))
        .collect();
    let recorded: Vec<String> = state.resources.keys().cloned().collect();
    let (handle, writer) = state_writer::spawn(state, registry.clone(), backend, events.clone());

    // Record what refresh found (attributes changed outside kprov) and forget resources that
    // are gone and no longer wanted, before any operation runs. An adopted create keeps its
    // intent until its operation has finished it: killed before that, the next run adopts again.
    let mut live = HashMap::new();
    let planned: HashMap<String, &Change> = plan.changes.iter().map(|c| (c.address.to_string(), c)).collect();
    for c in &plan.changes {
        if let (Action::NoOp | Action::Update, Some(p)) = (c.action, &c.prior) {
            live.insert(c.address.clone(), (Some(p.id.clone()), p.attrs.clone()));
            if !c.adopted {
                let _ = handle.record(StateUpdate::Upsert(c.address.to_string(), created(c, &p.id, &p.attrs)));
            }
        }
    }
    for a in recorded {
        if !planned.contains_key(&a) {
            let _ = handle.record(StateUpdate::Remove(a));
        }
    }

    let shared = Arc::new(Shared {
        registry: registry.clone(),
        owner: opts.owner,
        cancel: opts.cancel.clone(),
        slots: Arc::new(Semaphore::new(opts.parallelism.max(1))),
        live: Arc::new(RwLock::new(live)),
        state: handle,
        events: events.clone(),
        tokens,
        region: plan.region.clone(),
    });

    let _ = events.send(Event::Begin { total: graph.node_count() });
    let mut report = walk(&graph, plan, &shared, &opts.cancel).await;

    // Every operation has ended: close the writer's channel and wait for the final write.
    drop(shared);
    let state = writer.await.map_err(|e| EngineError::Internal(e.to_string()))??;
    report.elapsed = started.elapsed();
    let _ = events.send(Event::End);
    Ok(Report { state, ..report })
}

async fn walk(graph: &DiGraph<Op, ()>, plan: &Plan, shared: &Arc<Shared>, cancel: &CancellationToken) -> Report {
    let n = graph.node_count();
    let mut indeg: Vec<usize> =
        graph.node_indices().map(|i| graph.edges_directed(i, Direction::Incoming).count()).collect();
    let mut status = vec![NodeState::Pending; n];
    let mut report = Report {
        done: BTreeMap::new(),
        failed: Vec::new(),
        skipped: Vec::new(),
        cancelled: Vec::new(),
        elapsed: Duration::ZERO,
        state: State::new("", ""),
    };
    let mut running: JoinSet<(NodeIndex, Result<(), ResourceError>)> = JoinSet::new();

    let spawn = |i: NodeIndex, running: &mut JoinSet<_>, status: &mut Vec<NodeState>| {
        status[i.index()] = NodeState::Running;
        let op = graph[i].clone();
        let change = plan.changes[op.change].clone();
        let shared = shared.clone();
        running.spawn(async move { (i, run_op(&shared, &op, &change).await) });
    };

    for i in graph.node_indices() {
        if indeg[i.index()] == 0 && !cancel.is_cancelled() {
            spawn(i, &mut running, &mut status);
        }
    }
    while let Some(joined) = running.join_next().await {
        let (i, result) = match joined {
            Ok(r) => r,
            Err(e) => {
                // A panicking operation is a bug; it still must not take the run down with it.
                report.failed.push((Address::new("kprov", "internal", None), OpKind::Create, e.to_string()));
                continue;
            }
        };
        let op = &graph[i];
        match result {
            Ok(()) => {
                status[i.index()] = NodeState::Done;
                *report.done.entry(op.kind).or_default() += 1;
                for e in graph.edges_directed(i, Direction::Outgoing) {
                    let t = e.target();
                    indeg[t.index()] -= 1;
                    if indeg[t.index()] == 0 && status[t.index()] == NodeState::Pending && !cancel.is_cancelled() {
                        spawn(t, &mut running, &mut status);
                    }
                }
            }
            Err(ResourceError::Cancelled) => {
                status[i.index()] = NodeState::Failed;
                report.cancelled.push((op.address.clone(), op.kind));
            }
            Err(err) => {
                status[i.index()] = NodeState::Failed;
                report.failed.push((op.address.clone(), op.kind, err.to_string()));
                // Everything downstream is skipped, with this failure as its root cause.
                let mut bfs = Bfs::new(graph, i);
                while let Some(d) = bfs.next(graph) {
                    if status[d.index()] == NodeState::Pending {
                        status[d.index()] = NodeState::Skipped;
                        let dop = &graph[d];
                        report.skipped.push((dop.address.clone(), dop.kind, op.address.clone()));
                        let _ = shared.events.send(Event::Skipped {
                            address: dop.address.clone(),
                            op: dop.kind,
                            because: op.address.clone(),
                        });
                    }
                }
            }
        }
    }
    for i in graph.node_indices() {
        if status[i.index()] == NodeState::Pending {
            let op = &graph[i];
            report.cancelled.push((op.address.clone(), op.kind));
            let _ = shared.events.send(Event::Cancelled { address: op.address.clone(), op: op.kind });
        }
    }
    report
}

fn created(c: &Change, id: &str, attrs: &Attrs) -> ResourceState {
    ResourceState {
        kind: c.kind.clone(),
        id: Some(id.to_string()),
        status: Status::Created,
        client_token: None,
        attributes: attrs.clone(),
        dependencies: c.dependencies.iter().map(|a| a.to_string()).collect(),
    }
}

/// The state record of the resource a create-before-destroy replaces: its attributes and the
/// dependencies it was recorded with.
fn old_record(c: &Change, old: &Observed) -> ResourceState {
    ResourceState {
        dependencies: c.prior_dependencies.iter().map(|a| a.to_string()).collect(),
        ..created(c, &old.id, &old.attrs)
    }
}

/// Resolve the desired attributes against the values known now.
fn resolve(shared: &Shared, c: &Change) -> Result<Attrs, ResourceError> {
    let live = shared.live.read().map_err(|_| ResourceError::invalid("internal: poisoned value table"))?;
    let lookup = |target: &Address, attr: &str| -> Option<Value> {
        let (id, attrs) = live.get(target)?;
        if attr == "id" {
            return id.clone().map(Value::String);
        }
        attrs.get(attr).cloned()
    };
    c.desired
        .iter()
        .map(|(k, t)| {
            let v = t.resolve(&lookup).ok_or_else(|| {
                ResourceError::invalid(format!(
                    "the value of `{k}` is still unknown: a resource it refers to was not applied"
                ))
            })?;
            Ok((k.clone(), v))
        })
        .collect()
}

async fn run_op(shared: &Arc<Shared>, op: &Op, c: &Change) -> Result<(), ResourceError> {
    let address = op.address.clone();
    // Set when the operation gets its slot and starts calling AWS (the `Started` event).
    let started = std::sync::OnceLock::new();
    let result = match shared.registry.get(&c.kind).cloned() {
        Some(kind) => run_op_inner(shared, op, c, kind.as_ref(), &started).await,
        None => Err(ResourceError::invalid(format!("unknown resource kind `{}`", c.kind))),
    };
    let elapsed = started.get().map(Instant::elapsed).unwrap_or_default();
    match &result {
        Ok(id) => {
            let _ = shared.events.send(Event::Done { address, op: op.kind, id: id.clone(), elapsed });
        }
        Err(ResourceError::Cancelled) => {
            let _ = shared.events.send(Event::Cancelled { address, op: op.kind });
        }
        Err(e) => {
            let _ = shared.events.send(Event::Failed { address, op: op.kind, error: e.to_string(), elapsed });
        }
    }
    result.map(|_| ())
}

/// Wait for a parallelism slot (or the run's cancellation), then build the operation's
/// context around it and report the operation as started.
async fn start(shared: &Arc<Shared>, op: &Op, started: &std::sync::OnceLock<Instant>) -> Result<Cx, ResourceError> {
    let permit = tokio::select! {
        p = shared.slots.clone().acquire_owned() => p.map_err(|_| ResourceError::Cancelled)?,
        _ = shared.cancel.cancelled() => return Err(ResourceError::Cancelled),
    };
    let events = shared.events.clone();
    let (addr, opk) = (op.address.clone(), op.kind);
    let hook = Arc::new(move |p: &Phase| {
        let _ = events.send(match p {
            Phase::Calling => Event::Calling { address: addr.clone(), op: opk },
            Phase::Waiting(what) => Event::Waiting { address: addr.clone(), op: opk, what: what.clone() },
        });
    });
    let _ = started.set(Instant::now());
    let _ = shared.events.send(Event::Started { address: op.address.clone(), op: op.kind });
    Ok(Cx::for_operation(shared.owner.clone(), shared.cancel.clone(), shared.slots.clone(), permit, hook))
}

/// Record a created or updated resource: saved in state (before it is reported done), and its
/// values known to the dependents that resolve references next.
async fn applied(shared: &Shared, op: &Op, c: &Change, obs: Observed) -> Result<Option<String>, ResourceError> {
    let update = StateUpdate::Upsert(op.address.to_string(), created(c, &obs.id, &obs.attrs));
    shared.state.persist(update).await.map_err(|m| ResourceError::invalid(format!("state: {m}")))?;
    let id = obs.id.clone();
    if let Ok(mut live) = shared.live.write() {
        live.insert(op.address.clone(), (Some(obs.id), obs.attrs));
    }
    Ok(Some(id))
}

/// Why a create failed, as far as what exists is concerned. "Nothing was made" needs both a
/// definite refusal and no call of the operation that made something (the connector reports
/// those, `resource::cx::note_made`); anything else leaves the intent in state.
enum CreateFailure {
    NothingMade(ResourceError),
    MaybeMade(ResourceError),
}

impl CreateFailure {
    fn of(e: ResourceError, made: Vec<String>) -> Self {
        let definite = matches!(&e, ResourceError::Aws { retryable: false, .. } | ResourceError::Invalid { .. });
        match (definite, made.is_empty()) {
            (true, true) => CreateFailure::NothingMade(e),
            (true, false) => CreateFailure::MaybeMade(ResourceError::Incomplete { made, source: Box::new(e) }),
            (false, _) => CreateFailure::MaybeMade(e),
        }
    }
}

/// The client token of `key`'s create: the one its pending intent recorded (an interrupted
/// run's create, resumed or looked up by it), else a new one.
fn create_token(shared: &Shared, key: &str) -> String {
    shared.tokens.get(key).cloned().unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// One operation. The parallelism slot is held only around the kind's call: waiting for a
/// state write is not an API operation, and not holding a slot meanwhile lets the state writer
/// put the intents of every ready operation (and the results of every finished one) into one
/// write instead of one write per slot's worth.
async fn run_op_inner(
    shared: &Arc<Shared>,
    op: &Op,
    c: &Change,
    kind: &dyn crate::resource::ResourceKind,
    started: &std::sync::OnceLock<Instant>,
) -> Result<Option<String>, ResourceError> {
    let key = op.address.to_string();
    let persist =
        |u| async { shared.state.persist(u).await.map_err(|m| ResourceError::invalid(format!("state: {m}"))) };
    if shared.cancel.is_cancelled() {
        return Err(ResourceError::Cancelled);
    }

    match op.kind {
        OpKind::Create if c.adopted && c.action == Action::NoOp => {
            // Found after an interrupted create: finish it (e.g. wait until it is usable).
            let prior = c.prior.as_ref().ok_or_else(|| ResourceError::invalid("adoption without a resource"))?;
            let spec = Spec {
                address: c.address.clone(),
                attrs: resolve(shared, c)?,
                client_token: create_token(shared, &key),
            };
            let cx = start(shared, op, started).await?;
            let obs = cx.scope(kind.resume_create(&cx, &spec, prior)).await;
            drop(cx);
            let obs = obs?;
            applied(shared, op, c, obs).await
        }
        OpKind::Create => {
            let attrs = resolve(shared, c)?;
            check_resolved(kind, Some(&shared.region), &attrs, None)?;
            let token = create_token(shared, &key);
            // Create before destroy: the old resource still exists while this one is made.
            let replaces = c.prior.as_ref().filter(|_| c.action == Action::Replace && c.create_before_destroy);
            // What the state holds when this create made nothing: no record, or for a create
            // before destroy the old resource, which still exists.
            let deposed = op.address.deposed().to_string();
            let nothing_made = || {
                if let Some(old) = replaces {
                    let _ = shared.state.record(StateUpdate::Upsert(key.clone(), old_record(c, old)));
                    let _ = shared.state.record(StateUpdate::Remove(deposed.clone()));
                } else {
                    let _ = shared.state.record(StateUpdate::Remove(key.clone()));
                }
            };
            if let Some(old) = replaces {
                // The intent takes the address's record: the old resource, which still exists,
                // is recorded as deposed until it is deleted, so that an interrupted run
                // neither forgets it nor takes it for the new one (the next plan deletes it).
                let _ = shared.state.record(StateUpdate::Upsert(deposed.clone(), old_record(c, old)));
            }
            // The intent is on disk before AWS hears of the create: an interrupted run is
            // resolved next time by finding the resource instead of creating it twice.
            persist(StateUpdate::Upsert(
                key.clone(),
                ResourceState {
                    kind: c.kind.clone(),
                    id: None,
                    status: Status::PendingCreate,
                    client_token: Some(token.clone()),
                    attributes: attrs.clone(),
                    dependencies: c.dependencies.iter().map(|a| a.to_string()).collect(),
                },
            ))
            .await?;
            let cx = match start(shared, op, started).await {
                Ok(cx) => cx,
                Err(e) => {
                    // Interrupted before the call: nothing reached AWS, the intent can go
                    // (unless it is an earlier run's, whose create may have happened).
                    if !shared.tokens.contains_key(&key) {
                        nothing_made();
                    }
                    return Err(e);
                }
            };
            let spec = Spec { address: op.address.clone(), attrs, client_token: token };
            let result = cx.scope(recover::create(kind, &cx, &spec, replaces)).await;
            let made = cx.made();
            drop(cx);
            match result {
                Ok(obs) => applied(shared, op, c, obs).await,
                Err(e) => match CreateFailure::of(e, made) {
                    // A definite refusal before any call made anything: drop the intent.
                    CreateFailure::NothingMade(e) => {
                        nothing_made();
                        Err(e)
                    }
                    // Something exists (a CreateSubnet went through, its ModifySubnetAttribute
                    // was refused), or may (a timeout, a lost answer, an interrupted wait): the
                    // intent stays for the next run to resolve, finish and record.
                    CreateFailure::MaybeMade(e) => Err(e),
                },
            }
        }
        OpKind::Update => {
            let prior = c.prior.as_ref().ok_or_else(|| ResourceError::invalid("update without a prior resource"))?;
            let attrs = resolve(shared, c)?;
            check_resolved(kind, Some(&shared.region), &attrs, Some(&prior.attrs))?;
            let spec = Spec { address: op.address.clone(), attrs, client_token: uuid::Uuid::new_v4().to_string() };
            let cx = start(shared, op, started).await?;
            let obs = cx
                .scope(async {
                    // An adopted create is finished before it is changed.
                    let resumed = if c.adopted {
                        let created = Spec { client_token: create_token(shared, &key), ..spec.clone() };
                        Some(kind.resume_create(&cx, &created, prior).await?)
                    } else {
                        None
                    };
                    recover::update(kind, &cx, resumed.as_ref().unwrap_or(prior), &spec).await
                })
                .await;
            drop(cx);
            let obs = obs?;
            applied(shared, op, c, obs).await
        }
        OpKind::Delete => {
            let prior = c.prior.as_ref().ok_or_else(|| ResourceError::invalid("delete without a prior resource"))?;
            if c.action == Action::Replace && c.create_before_destroy {
                // The replacement exists by now; never delete it as the old one.
                let new_id = shared.live.read().ok().and_then(|l| l.get(&op.address).and_then(|(id, _)| id.clone()));
                if new_id.as_deref() == Some(prior.id.as_str()) {
                    return Err(ResourceError::invalid(format!(
                        "the replacement has the old resource's id {}: this kind cannot be replaced create-before-destroy \
                         with the same name; set lifecycle.create_before_destroy = false or change the name",
                        prior.id
                    )));
                }
            }
            let cx = start(shared, op, started).await?;
            let done = cx.scope(recover::delete(kind, &cx, prior, &op.address)).await;
            drop(cx);
            done?;
            // Only the old resource's record goes (a create-before-destroy replacement is
            // already recorded under the same address, the old one as deposed).
            if c.action == Action::Replace && c.create_before_destroy {
                let _ = shared.state.record(StateUpdate::Remove(op.address.deposed().to_string()));
                persist(StateUpdate::RemoveIfId(key, prior.id.clone())).await?;
            } else {
                // (A record adopted from a pending intent has no id yet: it goes too.)
                persist(StateUpdate::Remove(key)).await?;
            }
            Ok(Some(prior.id.clone()))
        }
    }
}
