//! The ingest service's errors and their one mapping to gRPC statuses.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
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

impl From<IngestError> for Status {
    fn from(e: IngestError) -> Status {
        match e {
            IngestError::Unauthenticated => Status::unauthenticated(e.to_string()),
            IngestError::MissingScope(_) => Status::permission_denied(e.to_string()),
            IngestError::InvalidRequest {
                message,
                violations,
            } => {
                let mut details = ErrorDetails::new();
                for v in violations {
                    details.add_bad_request_violation(v.field, v.reason);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            IngestError::StreamLimit { .. } => Status::resource_exhausted(e.to_string()),
            IngestError::Refused(_) => Status::permission_denied(e.to_string()),
            IngestError::Draining => Status::unavailable(e.to_string()),
            IngestError::Audit(ref a) => {
                // Fails closed: no receipt without an audit entry. What was committed stays
                // committed; a resend is DUPLICATE and audits again.
                tracing::error!(error = %a, "audit append failed");
                Status::unavailable(
                    "the audit log is unavailable; resend to obtain a receipt (resending is \
                     idempotent)",
                )
            }
            IngestError::NotFound | IngestError::Store(StoreError::NotFound(_)) => {
                Status::not_found(e.to_string())
            }
            IngestError::Store(StoreError::Database(sqlx::Error::Database(ref db)))
                if db.is_unique_violation() =>
            {
                tracing::warn!(error = %e, "ingest conflicted with a concurrent write");
                Status::already_exists(
                    "the record was written concurrently; resend to see its status",
                )
            }
            IngestError::Store(ref s) if s.is_storage_full() => {
                tracing::error!(error = %e, "the database's storage is full");
                Status::resource_exhausted(
                    "the hub's storage is full; nothing from this request was stored, retry \
                     later (resending is idempotent)",
                )
            }
            IngestError::Store(ref s) if s.is_unavailable() => {
                tracing::warn!(error = %e, "database unavailable");
                Status::unavailable("the database is unavailable; nothing was stored, retry")
            }
            IngestError::Store(_) => {
                // The cause stays server-side: database text never goes to a client.
                tracing::error!(error = %e, "ingest failed");
                Status::internal("internal error; nothing from this request was stored")
            }
        }
    }
}
