//! The firewall's one error type and its one mapping to gRPC status codes.

use tonic::{Code, Status};
use vawg_store::StoreError;

/// Everything that can go wrong in the firewall. Messages never carry personal data, token
/// contents or database text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller could not be identified (certificate, token, registry).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but the flow is refused (policy, hard rule, scope, suspension).
    #[error("{0}")]
    PermissionDenied(String),
    /// A request field is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The policy files are missing, malformed or fail schema validation (start-up).
    #[error("policy files: {0}")]
    Policy(String),
    /// Keys or certificates could not be loaded (start-up).
    #[error("keys and certificates: {0}")]
    Keys(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        let code = match &e {
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::Store(s) if s.is_unavailable() => Code::Unavailable,
            Error::Policy(_) | Error::Keys(_) | Error::Store(_) => Code::Internal,
        };
        match code {
            // Internal causes stay in the server log.
            Code::Internal | Code::Unavailable => {
                tracing::error!(error = %e, "firewall failure");
                Status::new(code, "the firewall could not decide; the flow is refused")
            }
            _ => Status::new(code, e.to_string()),
        }
    }
}
