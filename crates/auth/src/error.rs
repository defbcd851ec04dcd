//! The auth crate's one error type, classified into the hub's error model (the one table from
//! kinds to gRPC codes is `vawg_proto::error::status`).

use vawg_proto::{ErrorKind, error::ServiceError};
use vawg_store::StoreError;

/// Everything that refuses a call at the door, or stops the hub from opening it. Messages
/// never carry token contents, key material or database text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller could not be identified (certificate, token, registry).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller is known but refused (suspended, or the firewall's gate said no).
    #[error("{0}")]
    PermissionDenied(String),
    /// The agency reached its rate or in-flight limit; the words say which and how to retry.
    #[error("{0}")]
    LimitExceeded(String),
    /// The caller's deadline (`grpc-timeout`) passed before the call ended.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// Keys or certificates could not be loaded (start-up).
    #[error("keys and certificates: {0}")]
    Keys(String),
    /// The agency registry could not be read.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ServiceError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Error::PermissionDenied(_) => ErrorKind::PermissionDenied,
            Error::LimitExceeded(_) => ErrorKind::ResourceExhausted,
            Error::DeadlineExceeded => ErrorKind::DeadlineExceeded,
            Error::Keys(_) => ErrorKind::Internal,
            Error::Store(s) => s.kind(),
        }
    }

    fn client_message(&self) -> String {
        match self {
            Error::Store(s) => s.client_message(),
            e => e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use vawg_proto::error::status;

    use super::*;

    #[test]
    fn refusals_at_the_door_keep_their_codes_and_words() {
        for (error, code, message) in [
            (
                Error::Unauthenticated("a bearer token is required".into()),
                Code::Unauthenticated,
                "a bearer token is required",
            ),
            (
                Error::PermissionDenied("the agency is suspended".into()),
                Code::PermissionDenied,
                "the agency is suspended",
            ),
            (
                Error::LimitExceeded("rate limit: retry with backoff".into()),
                Code::ResourceExhausted,
                "rate limit: retry with backoff",
            ),
            (
                Error::DeadlineExceeded,
                Code::DeadlineExceeded,
                "deadline exceeded",
            ),
        ] {
            let s = status(&error);
            assert_eq!((s.code(), s.message()), (code, message));
        }
        let s = status(&Error::Keys("/etc/secret.pem: bad".into()));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret"), "causes stay server-side");
    }
}
