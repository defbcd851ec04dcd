//! The exchange's one error type, classified into the hub's one error model
//! ([`vawg_proto::error`]), which turns it into a gRPC status.

use vawg_proto::error::{ErrorKind, ServiceError};
use vawg_store::StoreError;

/// Everything that can go wrong in the exchange. Messages never carry personal data,
/// identifiers, key material or database text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The auth layer did not identify the caller (the service is mounted without it).
    #[error("the caller is not identified")]
    Unauthenticated,
    /// A request field is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// Something asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what is held (e.g. a key id registered with another key).
    #[error("{0}")]
    AlreadyExists(String),
    /// The flow is refused (e.g. a topic delivered to another kind of agency).
    #[error("{0}")]
    PermissionDenied(String),
    /// The hub is shutting down.
    #[error("the hub is shutting down; reconnect")]
    ShuttingDown,
    /// The firewall refused the flow, or could not decide or audit.
    #[error("firewall: {0}")]
    Firewall(#[from] vawg_firewall::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A stored notification could not be decoded.
    #[error("a stored notification is corrupt")]
    Corrupt,
}

impl ServiceError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Unauthenticated => ErrorKind::Unauthenticated,
            Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            Error::PermissionDenied(_) => ErrorKind::PermissionDenied,
            Error::ShuttingDown => ErrorKind::Unavailable,
            // The firewall and the store classify their own errors (and keep their causes
            // server-side).
            Error::Firewall(f) => f.kind(),
            Error::Store(s) => s.kind(),
            Error::Corrupt => ErrorKind::Internal,
        }
    }

    fn client_message(&self) -> String {
        match self {
            Error::Firewall(f) => f.client_message(),
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
    fn request_errors_keep_their_words() {
        let cases = [
            (Error::Unauthenticated, Code::Unauthenticated),
            (
                Error::InvalidArgument("topic: required".into()),
                Code::InvalidArgument,
            ),
            (Error::NotFound("no key".into()), Code::NotFound),
            (
                Error::AlreadyExists("key_id: taken".into()),
                Code::AlreadyExists,
            ),
            (
                Error::PermissionDenied("topic MARAC".into()),
                Code::PermissionDenied,
            ),
            (Error::ShuttingDown, Code::Unavailable),
        ];
        for (e, code) in cases {
            let s = status(&e);
            assert_eq!((s.code(), s.message()), (code, e.to_string().as_str()));
        }
    }

    #[test]
    fn store_errors_are_classified_by_the_store_and_faults_stay_server_side() {
        let s = status(&Error::Store(StoreError::NotFound("sealing key".into())));
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "sealing key not found");
        for e in [
            Error::Corrupt,
            Error::Store(StoreError::Corrupt("row 3".into())),
        ] {
            let s = status(&e);
            assert_eq!(s.code(), Code::Internal);
            assert_eq!(s.message(), vawg_proto::error::INTERNAL_MESSAGE);
        }
    }
}
