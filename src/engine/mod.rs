//! The engine: walks a plan's operation graph concurrently.
//!
//! Flow: [`ops::build`] turns the plan into create/update/delete operations with their order;
//! [`walker::run`] starts every operation whose predecessors are done (tokio tasks), bounds
//! in-flight API work with a semaphore (`--parallelism`; waits release their slot, see
//! `resource::Cx`), lets a failure skip only what depends on it, and sends every state change to
//! the [`state_writer`], which persists after every completed resource. An operation that fails
//! without saying whether AWS did the work is resolved by [`recover`] (look, then retry) instead
//! of being sent again blindly. It reports progress as [`events::Event`]s and never prints.
//!
//! Around it: [`rate_limit`] holds the per-service token buckets and the throttling retry every
//! API call goes through (real calls via `aws::limits`, simulated ones via `resource::sim`),
//! sized by the AWS [`model`]; [`critical_path`] computes the fastest possible apply of a plan
//! under the model's durations, for the run summary and the benchmark.

pub mod critical_path;
pub mod events;
pub mod model;
pub mod ops;
pub mod rate_limit;
pub mod recover;
pub mod state_writer;
pub mod walker;

pub use critical_path::{critical_path, CriticalPath};
pub use events::{Event, EventSender, OpKind};
pub use model::Model;
pub use rate_limit::{ApiCall, ApiStats, RateLimiter};
pub use walker::{run, Report, RunOptions};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Ops(#[from] ops::OpCycle),
    #[error("writing state failed, stopping: {0}")]
    State(#[from] crate::state::StateError),
    #[error("internal error: {0}")]
    Internal(String),
}
