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
    /// The group of audit entries this call's entry was part of could not be committed, so the
    /// call does not proceed. Every caller of the group gets this; `cause` is the store's error
    /// in words (server logs only), `retryable` whether the store was merely unavailable.
    #[error("the audit log could not be written: {cause}")]
    AuditUnwritten {
        /// Whether the store was unavailable (a retry may succeed) rather than failing.
        retryable: bool,
        /// What failed, for the server log.
        cause: String,
    },
}

impl Error {
    /// The same failure, for another caller whose entry was in the same group commit.
    pub(crate) fn for_group(&self) -> Error {
        Error::AuditUnwritten {
            retryable: matches!(self, Error::Store(s) if s.is_unavailable())
                || matches!(
                    self,
                    Error::AuditUnwritten {
                        retryable: true,
                        ..
                    }
                ),
            cause: self.to_string(),
        }
    }
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        let code = match &e {
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::Store(s) if s.is_unavailable() => Code::Unavailable,
            Error::AuditUnwritten {
                retryable: true, ..
            } => Code::Unavailable,
            Error::Policy(_)
            | Error::Keys(_)
            | Error::Store(_)
            | Error::AuditUnwritten {
                retryable: false, ..
            } => Code::Internal,
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
