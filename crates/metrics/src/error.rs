//! The metrics service's errors, classified into the hub's one error model
//! ([`vawg_proto::error`]), whose `status` is the only conversion to a gRPC status.

use vawg_proto::error::{ErrorKind, FieldViolation, ServiceError};
use vawg_store::StoreError;

/// What a client is told when the audit log cannot record a query just now (so nothing is
/// released).
const AUDIT_UNAVAILABLE: &str = "the audit log is unavailable; nothing was released, retry";

/// Errors of the metrics service.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The query is malformed.
    #[error("{field}: {reason}")]
    InvalidQuery {
        /// Field path.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The metric does not exist.
    #[error("metric '{0}' is not in the catalogue")]
    UnknownMetric(String),
    /// The publication table does not exist.
    #[error(
        "publication table '{0}' is not one of the fixed publication tables (ListPublicationTables)"
    )]
    UnknownPublication(String),
    /// The caller may not read what it asked for.
    #[error("{0}")]
    Forbidden(String),
    /// No caller identity (the auth layer did not run).
    #[error("unauthenticated")]
    Unauthenticated,
    /// The firewall's audit log could not be written: the query is refused (fails closed).
    #[error(transparent)]
    Audit(#[from] vawg_firewall::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError for MetricsError {
    fn kind(&self) -> ErrorKind {
        match self {
            MetricsError::InvalidQuery { .. } => ErrorKind::InvalidArgument,
            MetricsError::UnknownMetric(_) | MetricsError::UnknownPublication(_) => {
                ErrorKind::NotFound
            }
            MetricsError::Forbidden(_) => ErrorKind::PermissionDenied,
            MetricsError::Unauthenticated => ErrorKind::Unauthenticated,
            // Fails closed: nothing is released without an audit entry.
            MetricsError::Audit(a) => a.kind(),
            MetricsError::Store(s) => s.kind(),
        }
    }

    /// The error's own words; the store's and the firewall's for theirs, except that an
    /// unavailable audit log says that nothing was released.
    fn client_message(&self) -> String {
        match self {
            MetricsError::Unauthenticated => "no authenticated caller".into(),
            MetricsError::Audit(a) if a.kind() == ErrorKind::Unavailable => {
                AUDIT_UNAVAILABLE.into()
            }
            MetricsError::Audit(a) => a.client_message(),
            MetricsError::Store(s) => s.client_message(),
            e => e.to_string(),
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            MetricsError::InvalidQuery { field, reason } => vec![FieldViolation {
                field: field.to_string(),
                reason: reason.clone(),
            }],
            _ => Vec::new(),
        }
    }
}

/// An invalid query, naming the field.
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> MetricsError {
    MetricsError::InvalidQuery {
        field,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use vawg_proto::error::status;

    use super::*;

    #[test]
    fn each_error_has_its_code_and_words() {
        let s = status(&invalid("period.end", "before period.start"));
        assert_eq!(
            (s.code(), s.message()),
            (Code::InvalidArgument, "period.end: before period.start")
        );
        assert_eq!(
            invalid("grain", "unknown value").field_violations(),
            vec![FieldViolation {
                field: "grain".into(),
                reason: "unknown value".into()
            }]
        );
        let s = status(&MetricsError::UnknownMetric("x".into()));
        assert_eq!(
            (s.code(), s.message()),
            (Code::NotFound, "metric 'x' is not in the catalogue")
        );
        let s = status(&MetricsError::Forbidden("not yours".into()));
        assert_eq!(
            (s.code(), s.message()),
            (Code::PermissionDenied, "not yours")
        );
        let s = status(&MetricsError::Unauthenticated);
        assert_eq!(
            (s.code(), s.message()),
            (Code::Unauthenticated, "no authenticated caller")
        );
    }

    #[test]
    fn store_faults_are_classified_by_the_store_and_stay_server_side() {
        let s = status(&MetricsError::Store(StoreError::Corrupt(
            "agg_counts row 7".into(),
        )));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("agg_counts"));
        // An audit log that cannot be written is classified by the firewall.
        let s = status(&MetricsError::Audit(vawg_firewall::Error::Store(
            StoreError::Corrupt("audit entry 3".into()),
        )));
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("audit entry"));
    }
}
