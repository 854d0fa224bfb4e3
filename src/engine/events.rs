//! What the engine tells the outside world. The engine never prints: `ui/` renders these.

use std::time::Duration;

use crate::resource::Address;

/// The operation applied to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Create,
    Update,
    Delete,
}

impl OpKind {
    pub fn verb(self) -> &'static str {
        match self {
            OpKind::Create => "creating",
            OpKind::Update => "updating",
            OpKind::Delete => "deleting",
        }
    }
    pub fn past(self) -> &'static str {
        match self {
            OpKind::Create => "created",
            OpKind::Update => "updated",
            OpKind::Delete => "deleted",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run starts `total` operations.
    Begin {
        total: usize,
    },
    Started {
        address: Address,
        op: OpKind,
    },
    /// Calling AWS (holds a parallelism slot).
    Calling {
        address: Address,
        op: OpKind,
    },
    /// Waiting for AWS to finish (holds no slot).
    Waiting {
        address: Address,
        op: OpKind,
        what: String,
    },
    Done {
        address: Address,
        op: OpKind,
        id: Option<String>,
        #[serde(with = "secs")]
        elapsed: Duration,
    },
    Failed {
        address: Address,
        op: OpKind,
        error: String,
        #[serde(with = "secs")]
        elapsed: Duration,
    },
    /// Not started because `because` failed.
    Skipped {
        address: Address,
        op: OpKind,
        because: Address,
    },
    /// Not started because the run was interrupted.
    Cancelled {
        address: Address,
        op: OpKind,
    },
    StateSaved {
        serial: u64,
    },
    End,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

pub type EventSender = tokio::sync::mpsc::UnboundedSender<Event>;
