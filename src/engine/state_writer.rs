//! The one task that owns the state and writes it.
//!
//! Operations send updates; the writer applies them in arrival order, coalesces whatever has
//! queued up into one write (serial + 1 per write), and acknowledges updates that asked for it —
//! a create's intent must be on disk before the create call is made. When the channel closes it
//! writes a last time if needed and hands the final state back.
//!
//! Every write passes [`seal`]: sensitive attributes (per the kinds' schemas) are stored as
//! markers, never in clear (see `resource::sensitive`). That holds for intents, created
//! resources and refreshed ones alike, and a state an older kprov wrote with plaintext is
//! rewritten sealed on its first write.

use tokio::sync::{mpsc, oneshot};

use super::events::{Event, EventSender};
use crate::resource::{sensitive, Registry};
use crate::state::{Backend, ResourceState, State, StateError};
use std::sync::Arc;

#[derive(Debug)]
pub enum StateUpdate {
    Upsert(String, ResourceState),
    Remove(String),
    /// Remove the address only while it still records this id: the delete of a resource
    /// replaced create-before-destroy must not forget its replacement.
    RemoveIfId(String, String),
}

pub struct StateMsg {
    pub update: StateUpdate,
    /// Answered once the update is persisted (or with the error that prevented it).
    pub ack: Option<oneshot::Sender<Result<(), String>>>,
}

#[derive(Clone)]
pub struct StateHandle {
    tx: mpsc::UnboundedSender<StateMsg>,
}

impl StateHandle {
    /// Record `update` and wait until it is persisted.
    pub async fn persist(&self, update: StateUpdate) -> Result<(), String> {
        let (ack, rx) = oneshot::channel();
        self.tx.send(StateMsg { update, ack: Some(ack) }).map_err(|_| "state writer stopped".to_string())?;
        rx.await.map_err(|_| "state writer stopped".to_string())?
    }
    /// Record `update`; it is persisted with the next write.
    pub fn record(&self, update: StateUpdate) -> Result<(), String> {
        self.tx.send(StateMsg { update, ack: None }).map_err(|_| "state writer stopped".to_string())
    }
}

/// Start the writer. The join handle yields the final state, or the first write error.
pub fn spawn(
    mut state: State,
    registry: Registry,
    backend: Arc<dyn Backend>,
    events: EventSender,
) -> (StateHandle, tokio::task::JoinHandle<Result<State, StateError>>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<StateMsg>();
    let task = tokio::spawn(async move {
        let mut failed: Option<StateError> = None;
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while let Ok(m) = rx.try_recv() {
                batch.push(m);
            }
            let mut acks = Vec::new();
            for m in batch {
                match m.update {
                    StateUpdate::Upsert(a, mut r) => {
                        seal(&registry, &mut r, state.resources.get(&a));
                        state.resources.insert(a, r);
                    }
                    StateUpdate::Remove(a) => {
                        state.resources.remove(&a);
                    }
                    StateUpdate::RemoveIfId(a, id) => {
                        if state.resources.get(&a).is_some_and(|r| r.id.as_deref() == Some(id.as_str())) {
                            state.resources.remove(&a);
                        }
                    }
                }
                acks.extend(m.ack);
            }
            let result = if failed.is_some() {
                Err("an earlier state write failed".to_string())
            } else {
                // Whatever was recorded before (an older kprov's plaintext) is sealed too.
                for r in state.resources.values_mut() {
                    seal(&registry, r, None);
                }
                state.serial += 1;
                // Backends are async (the local one does its file I/O on the blocking pool).
                match backend.save(&state).await {
                    Ok(()) => {
                        let _ = events.send(Event::StateSaved { serial: state.serial });
                        Ok(())
                    }
                    Err(e) => {
                        state.serial -= 1;
                        let msg = e.to_string();
                        failed = Some(e);
                        Err(msg)
                    }
                }
            };
            for a in acks {
                let _ = a.send(result.clone());
            }
        }
        match failed {
            Some(e) => Err(e),
            None => Ok(state),
        }
    });
    (StateHandle { tx }, task)
}

/// Seal `r`'s sensitive attributes, keeping `prior`'s markers where they still match.
fn seal(registry: &Registry, r: &mut ResourceState, prior: Option<&ResourceState>) {
    if let Some(schema) = registry.schema(&r.kind) {
        sensitive::seal_attrs(schema, &mut r.attributes, prior.map(|p| &p.attributes));
    }
}
