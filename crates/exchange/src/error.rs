//! The exchange's one error type and its one mapping to gRPC status codes.

use tonic::{Code, Status};
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
    /// The firewall refused the flow.
    #[error("{0}")]
    PermissionDenied(String),
    /// Sealing or opening a payload failed (wrong key, tampered or malformed payload).
    #[error("sealed payload: {0}")]
    Sealing(&'static str),
    /// The hub is shutting down.
    #[error("the hub is shutting down; reconnect")]
    ShuttingDown,
    /// The firewall could not decide or audit.
    #[error("firewall: {0}")]
    Firewall(#[from] vawg_firewall::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A stored notification could not be decoded.
    #[error("a stored notification is corrupt")]
    Corrupt,
}

impl From<Error> for Status {
    fn from(e: Error) -> Status {
        let e = match e {
            // The firewall maps its own errors (and keeps its causes server-side).
            Error::Firewall(f) => return Status::from(f),
            e => e,
        };
        let code = match &e {
            Error::Unauthenticated => Code::Unauthenticated,
            Error::InvalidArgument(_) | Error::Sealing(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::ShuttingDown => Code::Unavailable,
            Error::Store(StoreError::NotFound(_)) => Code::NotFound,
            Error::Store(s) if s.is_unavailable() => Code::Unavailable,
            Error::Store(_) | Error::Corrupt | Error::Firewall(_) => Code::Internal,
        };
        match code {
            // Internal causes stay in the server log.
            Code::Internal | Code::Unavailable if !matches!(e, Error::ShuttingDown) => {
                tracing::error!(error = %e, "exchange failure");
                Status::new(code, "the exchange failed; nothing was shared")
            }
            _ => Status::new(code, e.to_string()),
        }
    }
}
