//! Errors a resource kind returns. The engine wraps them with the resource address.

/// A failed resource operation. AWS failures keep the service's error code and request id so a
/// user can quote them to AWS support; messages from emulators are kept verbatim.
#[derive(Debug, thiserror::Error, Clone)]
pub enum ResourceError {
    #[error("{operation} failed: {code}: {message}{}", request_id.as_ref().map(|r| format!(" (request id {r})")).unwrap_or_default())]
    Aws {
        /// The API operation, e.g. `CreateVpc`.
        operation: String,
        /// The AWS error code, e.g. `InvalidParameterValue`, or `HTTP 500` when the service
        /// answered without one.
        code: String,
        message: String,
        request_id: Option<String>,
        /// Throttling or a transient server/transport error: a retry may succeed.
        retryable: bool,
    },
    /// The request could not be sent or its answer not read (connection refused, timeout).
    #[error("{operation} failed: could not reach AWS: {message}")]
    Transport { operation: String, message: String },
    /// The plan asks for something the kind cannot do (checked before any AWS call where possible).
    #[error("{message}")]
    Invalid { message: String },
    /// A bounded wait for a state (available, ACTIVE, ISSUED) ran out.
    #[error("timed out after {seconds}s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
    /// The resource AWS returned is not in the shape expected (missing id, …).
    #[error("unexpected answer from {operation}: {message}")]
    Unexpected { operation: String, message: String },
    /// Stopped by the user (Ctrl-C) at a safe point.
    #[error("cancelled")]
    Cancelled,
    /// A create that failed after AWS had already made something: `made` names the calls
    /// that succeeded (`CreateSubnet`, …). The resource exists, half-made, so the engine keeps
    /// its pending intent: the next run finds it and finishes the create, a destroy deletes it.
    /// Only the engine builds this (from what the connector saw, `resource::cx`), never a kind.
    #[error(
        "{source} (after {} succeeded: the resource exists and is kept in state as an interrupted create; \
         `kprov apply` finishes it, `kprov destroy` deletes it)",
        made.join(", ")
    )]
    Incomplete { made: Vec<String>, source: Box<ResourceError> },
}

impl ResourceError {
    /// The AWS error code, when there is one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ResourceError::Aws { code, .. } => Some(code),
            ResourceError::Incomplete { source, .. } => source.code(),
            _ => None,
        }
    }
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ResourceError::Aws { request_id, .. } => request_id.as_deref(),
            ResourceError::Incomplete { source, .. } => source.request_id(),
            _ => None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        ResourceError::Invalid { message: message.into() }
    }
    pub fn unexpected(operation: &str, message: impl Into<String>) -> Self {
        ResourceError::Unexpected { operation: operation.to_string(), message: message.into() }
    }
}
