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
    /// call does not proceed. Every caller of the group gets this, classified as the failure
    /// was: `Unavailable` when the store was merely unavailable (a retry may succeed),
    /// `ResourceExhausted` when its storage is full (retry later), otherwise `Internal`.
    #[error("the audit log could not be written: {cause}")]
    Unwritten {
        /// The kind of the failure: `Unavailable`, `ResourceExhausted` or `Internal`.
        kind: ErrorKind,
        /// What the client is told (the failure's own client message; never the cause).
        message: String,
        /// What failed, for the server log.
        cause: String,
    },
}

impl Error {
    /// The same failure, for another caller whose entry was in the same group commit.
    pub(crate) fn for_group(&self) -> Error {
        let kind = match self.kind() {
            kind @ (ErrorKind::Unavailable | ErrorKind::ResourceExhausted) => kind,
            // Nothing else about a commit is the caller's to fix or retry.
            _ => ErrorKind::Internal,
        };
        Error::Unwritten {
            kind,
            message: self.client_message(),
            cause: self.to_string(),
        }
    }

    /// An append that could not even be queued or answered (the writer task has stopped).
    pub(crate) fn writer_stopped() -> Error {
        Error::Unwritten {
            kind: ErrorKind::Internal,
            message: vawg_proto::error::INTERNAL_MESSAGE.into(),
            cause: "the audit writer has stopped".into(),
        }
    }
}

impl ServiceError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Keys(_) => ErrorKind::Internal,
            Error::Store(s) => s.kind(),
            Error::Unwritten { kind, .. } => *kind,
        }
    }

    fn client_message(&self) -> String {
        match self {
            Error::Store(s) => s.client_message(),
            // The cause stays in the server log.
            Error::Unwritten { message, .. } => message.clone(),
            Error::Keys(_) => vawg_proto::error::INTERNAL_MESSAGE.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use vawg_proto::error::status;

    use super::*;

    #[test]
    fn every_caller_of_a_failed_group_gets_the_failure_as_classified() {
        let unavailable = Error::Store(StoreError::Database(sqlx::Error::PoolTimedOut));
        let s = status(&unavailable.for_group());
        assert_eq!(s.code(), Code::Unavailable, "retryable stays UNAVAILABLE");
        assert_eq!(s.message(), unavailable.client_message());
        // Passed on again, it stays what it was.
        assert_eq!(
            status(&unavailable.for_group().for_group()).code(),
            Code::Unavailable
        );
        for failed in [
            Error::Store(StoreError::Corrupt("audit entry 7 is missing".into())),
            Error::Keys("signing the audit head failed".into()),
            Error::writer_stopped(),
        ] {
            let s = status(&failed.for_group());
            assert_eq!(s.code(), Code::Internal, "{failed}");
            assert_eq!(s.message(), vawg_proto::error::INTERNAL_MESSAGE);
        }
    }
}
