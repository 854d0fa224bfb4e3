//! State: what kprov has created, persisted after every completed resource.
//!
//! [`model`] is the versioned JSON document; [`local`] the embedded default backend
//! (`state/<env>.json`, written to a temp file and renamed). Every backend refuses a write whose
//! lineage differs from the stored one, so two stacks can never overwrite each other.

pub mod local;
pub mod model;

pub use local::LocalBackend;
pub use model::{ResourceState, State, Status, FORMAT_VERSION};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("cannot read state {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write state {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("state {path} is not valid kprov state (line {line}, column {column}): {message}; nothing was written")]
    Corrupt { path: PathBuf, line: usize, column: usize, message: String },
    #[error("state {path} has format {found}, newer than this kprov understands ({supported}); upgrade kprov. Nothing was written")]
    FutureFormat { path: PathBuf, found: u32, supported: u32 },
    #[error("state {path} belongs to lineage {stored}, not {ours}: refusing to overwrite another stack's state")]
    LineageMismatch { path: PathBuf, stored: String, ours: String },
    #[error("state {path} was changed by another writer (serial {stored}, expected {expected}); re-run plan")]
    Conflict { path: PathBuf, stored: u64, expected: u64 },
}

/// Where state lives. Implementations must write atomically and refuse lineage mismatches.
pub trait Backend: Send + Sync {
    /// The stored state, or `None` when there is none yet.
    fn load(&self) -> Result<Option<State>, StateError>;
    /// Persist `state`, whose serial has already been increased by the caller. Refuses when the
    /// stored state has another lineage or a serial other than `state.serial - 1`.
    fn save(&self, state: &State) -> Result<(), StateError>;
    /// A human-readable location for messages.
    fn describe(&self) -> String;
}
