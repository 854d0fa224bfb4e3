//! State: what kprov has created, persisted after every completed resource.
//!
//! - [`model`]: the versioned JSON document (format 1, BTreeMaps so diffs are stable).
//! - [`binding`]: a state records the stack, env, region and account it describes; a run about
//!   anything else is refused before it touches AWS.
//! - [`moves`]: renames of recorded addresses (`[[moved]]` blocks, `kprov state mv`).
//! - [`Backend`]: where the document lives. [`local`] is the default (`state/<stack>/<env>.json`, temp
//!   file + rename); [`s3`] keeps one object per stack/env, and every write is conditional on the
//!   ETag of the last read, so a stale writer is refused instead of overwriting.
//! - [`lock`]: one writer at a time. A lease-based lock ([`lock::LockGuard`], heartbeat, takeover
//!   of expired leases, force-unlock) over a DynamoDB item ([`lock::dynamodb`]) for S3 state or
//!   a lock file beside the local state ([`lock::file`]).
//! - [`spec`]: the `[backend]` table plus command-line overrides → which backend and lock to use.
//! - [`legacy`]: takes over a state at the old default path `state/<env>.json`.
//! - [`bootstrap`]: creates the S3 bucket and the lock table, idempotently.
//!
//! Every backend refuses a write whose lineage differs from the stored one, and a write that
//! does not follow the state it last read (serial + 1): two stacks, or two runs, never
//! overwrite each other. The lock keeps runs apart, and a backend fenced by a held lock
//! ([`Backend::fence`]) accepts a commit only while that acquisition is still the lock's
//! current one (its token: id + generation), so a run that stalled past its lease cannot land a
//! write after another run took over; the conditional writes are the safety net if the lock is
//! bypassed. `docs/state.md` describes the protocol, the fencing argument and recovery.

pub mod binding;
pub mod bootstrap;
pub mod duration;
pub mod legacy;
pub mod local;
pub mod lock;
pub mod model;
pub mod moves;
pub mod s3;
pub mod spec;

pub use local::LocalBackend;
pub use model::{ResourceState, State, Status, FORMAT_VERSION};
pub use s3::S3Backend;

use crate::resource::ResourceError;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state {location}: {source}")]
    Read { location: String, source: std::io::Error },
    #[error("cannot write state {location}: {source}")]
    Write { location: String, source: std::io::Error },
    #[error(
        "state {location} is not valid kprov state (line {line}, column {column}): {message}; nothing was written"
    )]
    Corrupt { location: String, line: usize, column: usize, message: String },
    #[error("state {location} has format {found}, newer than this kprov understands ({supported}); upgrade kprov. Nothing was written")]
    FutureFormat { location: String, found: u64, supported: u32 },
    #[error("state {location} belongs to lineage {stored}, not {ours}: refusing to overwrite another stack's state")]
    LineageMismatch { location: String, stored: String, ours: String },
    #[error("state {location} was changed by another writer ({}, this run expected serial {expected}); nothing was overwritten. Run `kprov plan` again", describe_stored(*stored))]
    Conflict { location: String, stored: Option<u64>, expected: u64 },
    #[error("state {location} belongs to {what} `{stored}`, not `{ours}`: refusing to use it; nothing was changed. {way_out}")]
    Bound { location: String, what: String, stored: String, ours: String, way_out: String },
    #[error("refusing to migrate into {location}: {reason}")]
    ImportRefused { location: String, reason: String },
    #[error("the state bucket `{bucket}` does not exist (region {region}). Create it with `kprov state bootstrap`, or fix the bucket name ([backend] bucket, --state-bucket, KPROV_STATE_BUCKET)")]
    NoBucket { bucket: String, region: String },
    #[error("access denied to state {location} ({operation}: {code}{}). Check which credentials are in use and that they allow s3:GetObject, s3:PutObject and s3:ListBucket on the bucket; if the bucket does not exist yet, create it with `kprov state bootstrap`", request_id.as_ref().map(|r| format!(", request id {r}")).unwrap_or_default())]
    AccessDenied { location: String, operation: String, code: String, request_id: Option<String> },
    #[error("state {location}: {source}")]
    Aws { location: String, source: ResourceError },
    #[error("refusing to write state {location}: this run no longer holds the state lock ({lock}): {reason}. Nothing was written; another run may be using the state. Run `kprov plan` again once it is done")]
    Fenced { location: String, lock: String, reason: String },
}

fn describe_stored(stored: Option<u64>) -> String {
    match stored {
        Some(s) => format!("it is now at serial {s}"),
        None => "it no longer exists".to_string(),
    }
}

/// Where state lives. Implementations write atomically and refuse lineage mismatches and
/// writes that do not follow what they last read.
#[async_trait::async_trait]
pub trait Backend: Send + Sync {
    /// The stored state, or `None` when there is none yet.
    async fn load(&self) -> Result<Option<State>, StateError>;
    /// Persist `state`, whose serial has already been increased by the caller. Refuses when the
    /// stored state has another lineage or a serial other than `state.serial - 1`.
    async fn save(&self, state: &State) -> Result<(), StateError>;
    /// Write `state` verbatim, serial included (`kprov state migrate`). Refused unless the
    /// destination is empty or holds an older or equal copy of the same lineage (see
    /// [`check_import`]).
    async fn import(&self, state: &State) -> Result<(), StateError>;
    /// From now on, accept a write only while `fence`'s lock acquisition is the lock's
    /// current one, checked atomically with the write (see [`lock::Fence`]); a write that
    /// finds it stale is refused with [`StateError::Fenced`] and marks the lock lost.
    fn fence(&self, fence: lock::Fence);
    /// A human-readable location for messages.
    fn describe(&self) -> String;
}

/// May `incoming` replace `stored` verbatim? Only a copy of the same lineage that is not newer
/// — e.g. the copy an earlier migration left behind — may be replaced; anything else could be
/// another stack's state or newer work.
pub fn check_import(location: &str, stored: Option<&State>, incoming: &State) -> Result<(), StateError> {
    let Some(stored) = stored else { return Ok(()) };
    let refuse = |reason: String| Err(StateError::ImportRefused { location: location.to_string(), reason });
    if stored.lineage != incoming.lineage {
        return refuse(format!(
            "it already holds another state (lineage {}, serial {}); remove it first if it is not needed",
            stored.lineage, stored.serial
        ));
    }
    if stored.serial > incoming.serial {
        return refuse(format!(
            "it holds a newer copy of this state (serial {} > {}); migrate in the other direction instead",
            stored.serial, incoming.serial
        ));
    }
    Ok(())
}
