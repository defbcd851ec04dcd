//! The ingest service's errors, classified into the hub's one error model
//! ([`vawg_proto::error`]), which turns them into gRPC statuses.

use vawg_proto::error::{ErrorKind, FieldViolation, ServiceError};
use vawg_store::StoreError;

use crate::validate::Violation;

/// Everything that can make an ingest call fail as a whole. Per-record problems are not errors:
/// they are results. Never carries personal data.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No authenticated caller on the request.
    #[error("no authenticated caller")]
    Unauthenticated,
    /// The caller's token lacks a scope.
    #[error("the token lacks the '{0}' scope")]
    MissingScope(&'static str),
    /// The request as a whole is malformed (e.g. too many records).
    #[error("{message}")]
    InvalidRequest {
        /// Summary.
        message: String,
        /// Which fields, and why.
        violations: Vec<Violation>,
    },
    /// The stream has carried as many records as one stream may.
    #[error("this stream has reached its limit of {max} records; finish it and open a new stream")]
    StreamLimit {
        /// The limit.
        max: u64,
    },
    /// The record to retract is not held for the caller's agency.
    #[error("no record with that source_record_id is held for this agency")]
    NotFound,
    /// The firewall refused the flow as a whole (the reason names the policy or rule).
    #[error("{0}")]
    Refused(String),
    /// The hub is shutting down: every acknowledged chunk is stored; resend the rest.
    #[error(
        "the hub is shutting down: every acknowledged chunk is stored; resend the unacknowledged \
         records (resending is idempotent)"
    )]
    Draining,
    /// The firewall's audit log could not be written.
    #[error(transparent)]
    Audit(#[from] vawg_firewall::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError for IngestError {
    fn kind(&self) -> ErrorKind {
        match self {
            IngestError::Unauthenticated => ErrorKind::Unauthenticated,
            IngestError::MissingScope(_) | IngestError::Refused(_) => ErrorKind::PermissionDenied,
            IngestError::InvalidRequest { .. } => ErrorKind::InvalidArgument,
            IngestError::StreamLimit { .. } => ErrorKind::ResourceExhausted,
            IngestError::NotFound => ErrorKind::NotFound,
            IngestError::Draining => ErrorKind::Unavailable,
            // Fails closed: no receipt without an audit entry. What was committed stays
            // committed; a resend is DUPLICATE and audits again.
            IngestError::Audit(a) => a.kind(),
            IngestError::Store(s) => s.kind(),
        }
    }

    /// The error's own words, except where ingest says more than the store or the firewall
    /// can: that resending is idempotent and what was (not) stored.
    fn client_message(&self) -> String {
        match self {
            IngestError::Audit(a) => match a.kind() {
                ErrorKind::Unavailable | ErrorKind::ResourceExhausted => {
                    "the audit log is unavailable; resend to obtain a receipt (resending is \
                     idempotent)"
                        .into()
                }
                _ => a.client_message(),
            },
            IngestError::Store(s) => match s.kind() {
                ErrorKind::AlreadyExists => {
                    "the record was written concurrently; resend to see its status".into()
                }
                ErrorKind::Unavailable => {
                    "the database is unavailable; nothing was stored, retry".into()
                }
                _ => s.client_message(),
            },
            e => e.to_string(),
        }
    }

    fn field_violations(&self) -> Vec<FieldViolation> {
        match self {
            IngestError::InvalidRequest { violations, .. } => {
                violations.iter().map(FieldViolation::from).collect()
            }
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt;
    use vawg_proto::error::status;

    use super::*;

    #[test]
    fn field_violations_arrive_as_bad_request_details() {
        let e = IngestError::InvalidRequest {
            message: "invalid retraction".into(),
            violations: vec![Violation::new("reason", "required, at most 500 characters")],
        };
        let s = status(&e);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert_eq!(s.message(), "invalid retraction");
        let details = s.get_error_details();
        let bad = details.bad_request().expect("BadRequest details");
        assert_eq!(bad.field_violations.len(), 1);
        assert_eq!(bad.field_violations[0].field, "reason");
        assert_eq!(
            bad.field_violations[0].description,
            "required, at most 500 characters"
        );
    }

    #[test]
    fn each_variant_keeps_its_code() {
        let cases = [
            (IngestError::Unauthenticated, Code::Unauthenticated),
            (
                IngestError::MissingScope("records:write"),
                Code::PermissionDenied,
            ),
            (IngestError::StreamLimit { max: 3 }, Code::ResourceExhausted),
            (IngestError::NotFound, Code::NotFound),
            (IngestError::Refused("no".into()), Code::PermissionDenied),
            (IngestError::Draining, Code::Unavailable),
            (
                IngestError::Store(StoreError::NotFound("record".into())),
                Code::NotFound,
            ),
        ];
        for (e, code) in cases {
            let s = status(&e);
            assert_eq!(s.code(), code, "{e:?}");
            assert_eq!(s.message(), e.to_string(), "{e:?}");
        }
    }

    #[test]
    fn store_faults_keep_their_cause_server_side() {
        let e = IngestError::Store(StoreError::Corrupt("row 7 of records".into()));
        let s = status(&e);
        assert_eq!(s.code(), Code::Internal);
        assert!(!s.message().contains("row 7"), "{s:?}");
    }
}
