//! The firewall's one error type, classified into the hub's error model (the one table from
//! kinds to gRPC codes is `vawg_proto::error::status`).

use vawg_proto::{ErrorKind, FieldViolation, error::ServiceError};
use vawg_store::StoreError;

/// What a client is told when the firewall cannot record its decision (so refuses the flow).
const UNAUDITED: &str = "the firewall could not decide; the flow is refused";

/// Everything that can go wrong in the firewall. Messages never carry personal data, token
/// contents or database text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller was not identified (the service is mounted without the auth layer).
    #[error("{0}")]
    Unauthenticated(String),
    /// A request field is malformed.
    #[error("{field}: {reason}")]
    InvalidField {
        /// The field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// The policies could not be loaded, or a decision refused the flow.
    #[error(transparent)]
    Policy(#[from] vawg_policy::Error),
    /// The audit log could not be written or read.
    #[error(transparent)]
    Audit(#[from] vawg_audit::Error),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl ServiceError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Unauthenticated(_) => ErrorKind::Unauthenticated,
            Error::InvalidField { .. } => ErrorKind::InvalidArgument,
            Error::Policy(p) => p.kind(),
            Error::Audit(a) => a.kind(),
            Error::Store(s) => s.kind(),
        }
    }

    fn client_message(&self) -> String {
        match self {
            Error::Policy(p) => p.client_message(),
            // The words clients have always had for an audit log that is briefly unwritable.
            Error::Audit(vawg_audit::Error::Unwritten {
                kind: ErrorKind::Unavailable,
                ..
            }) => UNAUDITED.into(),
            Error::Audit(a) => a.client_message(),
            Error::Store(s) => s.client_message(),
            e => e.to_string(),
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            Error::InvalidField { field, reason } => vec![FieldViolation {
                field: field.to_string(),
                reason: reason.to_string(),
            }],
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use vawg_proto::error::status;

    use super::*;

    #[test]
    fn an_unwritable_audit_log_refuses_as_the_store_failed() {
        let unwritten = |kind, message: &str| {
            Error::Audit(vawg_audit::Error::Unwritten {
                kind,
                message: message.into(),
                cause: "secret database text".into(),
            })
        };
        let s = status(&unwritten(
            ErrorKind::Unavailable,
            "the database is unavailable",
        ));
        assert_eq!(s.code(), Code::Unavailable);
        assert_eq!(s.message(), UNAUDITED);
        let s = status(&unwritten(ErrorKind::ResourceExhausted, "storage is full"));
        assert_eq!(
            (s.code(), s.message()),
            (Code::ResourceExhausted, "storage is full")
        );
        let s = status(&unwritten(ErrorKind::Internal, "internal"));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("secret"));
    }

    #[test]
    fn refusals_and_bad_fields_keep_their_words() {
        let s = status(&Error::Policy(vawg_policy::Error::Refused(
            "Hard rule: no.".into(),
        )));
        assert_eq!(
            (s.code(), s.message()),
            (Code::PermissionDenied, "Hard rule: no.")
        );
        let s = status(&Error::InvalidField {
            field: "purpose",
            reason: "unknown value",
        });
        assert_eq!(
            (s.code(), s.message()),
            (Code::InvalidArgument, "purpose: unknown value")
        );
        let s = status(&Error::Store(StoreError::Corrupt("audit entry 3".into())));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("audit entry"));
    }
}
