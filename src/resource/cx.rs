//! The context a resource operation runs in: who owns the resources, and how to wait.
//!
//! The engine bounds in-flight API work with a semaphore (`--parallelism`). A resource that is
//! only waiting for AWS (a NAT gateway becoming available, an EKS cluster becoming ACTIVE) must
//! not hold a slot, so kinds wrap every wait in [`Cx::wait_for`] or [`Cx::poll_until`]: the
//! slot is given back for the wait and taken again before the next API call.

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

pub struct Cx {
    pub owner: Owner,
    /// Stops waits at the next poll (first Ctrl-C).
    pub cancel: CancellationToken,
    slots: Option<Arc<Semaphore>>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    on_phase: Option<PhaseHook>,
}

impl Cx {
    /// A context with no slot accounting (refresh, tests, tools).
    pub fn new(owner: Owner) -> Self {
        Cx { owner, cancel: CancellationToken::new(), slots: None, permit: Mutex::new(None), on_phase: None }
    }

    /// A context for one engine operation holding `permit` from `slots`.
    pub fn for_operation(
        owner: Owner,
        cancel: CancellationToken,
        slots: Arc<Semaphore>,
        permit: OwnedSemaphorePermit,
        on_phase: PhaseHook,
    ) -> Self {
        Cx { owner, cancel, slots: Some(slots), permit: Mutex::new(Some(permit)), on_phase: Some(on_phase) }
    }

    /// The ownership tags for a resource at `address`, to set at creation time.
    pub fn ownership_tags(&self, address: &Address) -> Vec<(String, String)> {
        vec![
            (TAG_STACK.to_string(), self.owner.stack.clone()),
            (TAG_ENV.to_string(), self.owner.env.clone()),
            (TAG_ADDRESS.to_string(), address.to_string()),
        ]
    }

    fn phase(&self, p: Phase) {
        if let Some(h) = &self.on_phase {
            h(&p);
        }
    }

    fn release_slot(&self) {
        if let Ok(mut g) = self.permit.lock() {
            g.take();
        }
    }

    async fn reacquire_slot(&self) -> Result<(), ResourceError> {
        if let Some(slots) = &self.slots {
            let permit = slots.clone().acquire_owned().await.map_err(|_| ResourceError::Cancelled)?;
            if let Ok(mut g) = self.permit.lock() {
                *g = Some(permit);
            }
        }
        self.phase(Phase::Calling);
        Ok(())
    }

    /// Run `fut` (typically an SDK waiter) as a wait: no slot is held meanwhile, and the wait
    /// ends early with [`ResourceError::Cancelled`] when the run is cancelled.
    pub async fn wait_for<T, F>(&self, what: &str, fut: F) -> Result<T, ResourceError>
    where
        F: Future<Output = Result<T, ResourceError>>,
    {
        self.phase(Phase::Waiting(what.to_string()));
        self.release_slot();
        let out = tokio::select! {
            r = fut => r,
            _ = self.cancel.cancelled() => Err(ResourceError::Cancelled),
        };
        self.reacquire_slot().await?;
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
