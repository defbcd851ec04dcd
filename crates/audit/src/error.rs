//! The audit log's one error type, classified into the hub's error model.

use vawg_proto::{ErrorKind, error::ServiceError};
use vawg_store::StoreError;

/// Everything that can go wrong with the audit log. Messages never carry personal data or
/// database text; what a client is told is [`ServiceError::client_message`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The audit signing key could not be loaded or used.
    #[error("keys and certificates: {0}")]
    Keys(String),
    /// The store failed (or holds an inconsistent log).
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The group of audit entries this call's entry was part of could not be committed, so the
    /// call does not proceed. Every caller of the group gets this; `cause` is the store's error
    /// in words (server logs only), `retryable` whether the store was merely unavailable.
    #[error("the audit log could not be written: {cause}")]
    Unwritten {
        /// Whether the store was unavailable (a retry may succeed) rather than failing.
        retryable: bool,
        /// What failed, for the server log.
        cause: String,
    },
}

impl Error {
    /// The same failure, for another caller whose entry was in the same group commit.
    pub(crate) fn for_group(&self) -> Error {
        Error::Unwritten {
            retryable: self.is_retryable(),
            cause: self.to_string(),
        }
    }

    /// Whether the store was merely unavailable, so that the same call may succeed later.
    fn is_retryable(&self) -> bool {
        match self {
            Error::Store(s) => s.is_unavailable(),
            Error::Unwritten { retryable, .. } => *retryable,
            Error::Keys(_) => false,
        }
    }
}

impl ServiceError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Keys(_) => ErrorKind::Internal,
            Error::Store(s) => s.kind(),
            Error::Unwritten {
                retryable: true, ..
            } => ErrorKind::Unavailable,
            Error::Unwritten {
                retryable: false, ..
            } => ErrorKind::Internal,
        }
    }

    fn client_message(&self) -> String {
        match self {
            Error::Store(s) => s.client_message(),
            // The cause stays in the server log.
            Error::Unwritten { .. } => {
                "the audit log could not be written, so the call was refused; retry".into()
            }
            Error::Keys(_) => vawg_proto::error::INTERNAL_MESSAGE.into(),
        }
    }
}
