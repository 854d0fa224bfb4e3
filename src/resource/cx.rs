//! The context a resource operation runs in: who owns the resources, and how to wait.
//!
//! The engine bounds in-flight API work with a semaphore (`--parallelism`). A resource that is
//! only waiting — for AWS to finish (a NAT gateway becoming available, an EKS cluster becoming
//! ACTIVE), for a rate-limit token, or for a throttling backoff — must not hold a slot, so:
//! - kinds wrap every wait for AWS in [`Cx::wait_for`] or [`Cx::poll_until`];
//! - the rate limiter (`engine::rate_limit`), which runs deep inside SDK calls where no `Cx` is
//!   at hand, uses [`without_slot`]. It finds the operation's slot through a tokio task-local
//!   that [`Cx::scope`] sets around the kind's method.
//!
//! Either way the slot is given back for the wait and taken again before the next API call.
//! A wait nested in another (a poll's API call queued for a token) gives back nothing: the slot
//! is already free, and the outer wait takes it again at its end.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::{Address, ResourceError, TAG_ADDRESS, TAG_ENV, TAG_STACK};

/// The stack and environment whose resources these are; becomes the ownership tags.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Owner {
    pub stack: String,
    pub env: String,
}

/// What a resource operation is doing, reported to the UI.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    Calling,
    Waiting(String),
}

type PhaseHook = Arc<dyn Fn(&Phase) + Send + Sync>;

/// One operation's parallelism slot: the semaphore, the permit while held, and where to report
/// phase changes.
struct Slot {
    slots: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    on_phase: PhaseHook,
    /// Calls of this operation that made something ([`note_made`]).
    made: Mutex<Vec<String>>,
}

impl Slot {
    /// Give the permit back; true when one was held.
    fn release(&self) -> bool {
        match self.permit.lock() {
            Ok(mut g) => g.take().is_some(),
            Err(_) => false,
        }
    }

    async fn reacquire(&self) -> Result<(), ResourceError> {
        let permit = self.slots.clone().acquire_owned().await.map_err(|_| ResourceError::Cancelled)?;
        if let Ok(mut g) = self.permit.lock() {
            *g = Some(permit);
        }
        (self.on_phase)(&Phase::Calling);
        Ok(())
    }
}

tokio::task_local! {
    /// The slot of the operation this task runs (set by [`Cx::scope`]).
    static CURRENT_SLOT: Arc<Slot>;
}

/// Run `fut` without holding the current operation's parallelism slot, reporting the phase
/// `Waiting(what)`; the slot is taken back afterwards. Outside an engine operation (refresh,
/// tools) or inside another wait, it simply runs `fut`.
pub async fn without_slot<T>(what: &str, fut: impl Future<Output = T>) -> T {
    let slot = CURRENT_SLOT.try_with(Arc::clone).ok();
    let released = match &slot {
        Some(s) if s.release() => {
            (s.on_phase)(&Phase::Waiting(what.to_string()));
            true
        }
        _ => false,
    };
    let out = fut.await;
    if let (true, Some(s)) = (released, &slot) {
        // The semaphore is never closed while operations run; if it were, continuing without a
        // slot is the only sensible thing left to do.
        let _ = s.reacquire().await;
    }
    out
}

/// Record that `call`, one that makes something (a `Create*`, an `Allocate*`, a REST `POST`:
/// sent again, it would make a second one), succeeded in the current engine operation. The
/// connector (`aws::limits`) calls it for every such answer, so the engine knows — without any
/// kind having to say so — whether a failed create left something behind ([`Cx::made`]).
/// Outside an engine operation it does nothing.
pub fn note_made(call: &str) {
    let _ = CURRENT_SLOT.try_with(|s| {
        if let Ok(mut g) = s.made.lock() {
            g.push(call.to_string());
        }
    });
}

pub struct Cx {
    pub owner: Owner,
    /// Stops waits at the next poll (first Ctrl-C).
    pub cancel: CancellationToken,
    slot: Option<Arc<Slot>>,
}

impl Cx {
    /// A context with no slot accounting (refresh, tests, tools).
    pub fn new(owner: Owner) -> Self {
        Cx { owner, cancel: CancellationToken::new(), slot: None }
    }

    /// A context for one engine operation holding `permit` from `slots`.
    pub fn for_operation(
        owner: Owner,
        cancel: CancellationToken,
        slots: Arc<Semaphore>,
        permit: OwnedSemaphorePermit,
        on_phase: PhaseHook,
    ) -> Self {
        let slot = Slot { slots, permit: Mutex::new(Some(permit)), on_phase, made: Mutex::new(Vec::new()) };
        Cx { owner, cancel, slot: Some(Arc::new(slot)) }
    }

    /// Run `fut` (a kind's method) with this operation's slot visible to [`without_slot`].
    pub async fn scope<T>(&self, fut: impl Future<Output = T>) -> T {
        match &self.slot {
            Some(s) => CURRENT_SLOT.scope(s.clone(), fut).await,
            None => fut.await,
        }
    }

    /// The calls of this operation so far that made something ([`note_made`]): empty means
    /// AWS made nothing, whatever the kind did.
    pub fn made(&self) -> Vec<String> {
        self.slot.as_ref().and_then(|s| s.made.lock().ok().map(|g| g.clone())).unwrap_or_default()
    }

    /// The ownership tags for a resource at `address`, to set at creation time.
    pub fn ownership_tags(&self, address: &Address) -> Vec<(String, String)> {
        vec![
            (TAG_STACK.to_string(), self.owner.stack.clone()),
            (TAG_ENV.to_string(), self.owner.env.clone()),
            (TAG_ADDRESS.to_string(), address.to_string()),
        ]
    }

    /// Run `fut` (typically an SDK waiter) as a wait: no slot is held meanwhile, and the wait
    /// ends early with [`ResourceError::Cancelled`] when the run is cancelled.
    pub async fn wait_for<T, F>(&self, what: &str, fut: F) -> Result<T, ResourceError>
    where
        F: Future<Output = Result<T, ResourceError>>,
    {
        let released = match &self.slot {
            Some(s) if s.release() => {
                (s.on_phase)(&Phase::Waiting(what.to_string()));
                true
            }
            _ => false,
        };
        let out = tokio::select! {
            r = fut => r,
            _ = self.cancel.cancelled() => Err(ResourceError::Cancelled),
        };
        if let (true, Some(s)) = (released, &self.slot) {
            s.reacquire().await?;
        }
        out
    }

    /// Poll `check` every `interval` until it returns `Some`, for at most `timeout`.
    /// Uses tokio's clock, so simulated waits under a paused clock cost no real time.
    pub async fn poll_until<T, F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        interval: Duration,
        mut check: F,
    ) -> Result<T, ResourceError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, ResourceError>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        self.wait_for(what, async {
            loop {
                if let Some(v) = check().await? {
                    return Ok(v);
                }
                if tokio::time::Instant::now() + interval > deadline {
                    return Err(ResourceError::Timeout { what: what.to_string(), seconds: timeout.as_secs() });
                }
                tokio::time::sleep(interval).await;
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner { stack: "s".into(), env: "e".into() }
    }

    #[tokio::test(start_paused = true)]
    async fn without_slot_frees_the_slot_for_others_and_takes_it_back() {
        let slots = Arc::new(Semaphore::new(1));
        let permit = slots.clone().acquire_owned().await.expect("permit");
        let phases = Arc::new(Mutex::new(Vec::new()));
        let p2 = phases.clone();
        let hook: PhaseHook = Arc::new(move |p: &Phase| p2.lock().expect("lock").push(p.clone()));
        let cx = Cx::for_operation(owner(), CancellationToken::new(), slots.clone(), permit, hook);
        cx.scope(async {
            assert_eq!(slots.available_permits(), 0);
            without_slot("a token", async {
                assert_eq!(slots.available_permits(), 1, "released while waiting");
                // Nested: nothing more to release, and the inner end does not take a slot.
                without_slot("inner", async { assert_eq!(slots.available_permits(), 1) }).await;
                assert_eq!(slots.available_permits(), 1);
            })
            .await;
            assert_eq!(slots.available_permits(), 0, "taken back");
        })
        .await;
        assert_eq!(*phases.lock().expect("lock"), vec![Phase::Waiting("a token".into()), Phase::Calling]);
        // Outside a scope it is a plain await.
        assert_eq!(without_slot("x", async { 7 }).await, 7);
    }
}
