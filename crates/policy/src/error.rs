//! The policy crate's one error type, classified into the hub's error model.

use vawg_proto::{ErrorKind, error::ServiceError};

/// What can go wrong with policies. Messages never carry personal data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The policy files are missing, malformed or fail schema validation (start-up).
    #[error("policy files: {0}")]
    Load(String),
    /// A decision refused the flow (policy, hard rule, scope); the words are the decision's
    /// reason.
    #[error("{0}")]
    Refused(String),
}

impl ServiceError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            // Policies that do not load are a fault of the hub's deployment, not the request.
            Error::Load(_) => ErrorKind::Internal,
            Error::Refused(_) => ErrorKind::PermissionDenied,
        }
    }
}
