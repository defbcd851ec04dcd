//! The hub's one error model.
//!
//! Every service error (ingest, metrics, exchange, firewall, definitions, the auth layer, the
//! store) is classified into one [`ErrorKind`], and [`status`] is the **only** place in the hub
//! that turns an error into a `tonic::Status` (the pattern of quickwit-proto's `error.rs`). So the
//! same fault gives the same code on every RPC, and a client in any language can write one retry
//! policy against [`ErrorKind::retry`] (the table is in `docs/api.md`, generated from this
//! file).
//!
//! What a client is told never carries personal data, database text, SQL, token contents or key
//! material: for [`ErrorKind::Internal`] the message is fixed and the cause is logged
//! server-side; the other kinds carry the error's own words, which each service writes for a
//! client to read.

use std::fmt;

/// The kinds every service error is classified into, each with one gRPC status code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request is malformed; the message (and any [`FieldViolation`]s, sent as
    /// `google.rpc.BadRequest` details) say which field and why.
    InvalidArgument,
    /// What the request names is not held (for this caller).
    NotFound,
    /// The request conflicts with what is held (a unique key, a concurrent write, a key id
    /// registered with another key).
    AlreadyExists,
    /// The caller is known but the flow is refused (policy, hard rule, scope, suspension).
    PermissionDenied,
    /// The caller could not be identified (certificate, token, registry).
    Unauthenticated,
    /// A limit was reached: a rate or in-flight limit, a stream's record limit, full storage.
    ResourceExhausted,
    /// The hub or its database is temporarily unable to serve (restarting, shutting down,
    /// failing over, the audit log unwritable). Nothing from the request took effect unless the
    /// message says otherwise.
    Unavailable,
    /// The caller's deadline (`grpc-timeout`) passed before the hub answered.
    DeadlineExceeded,
    /// A fault in the hub. The message is fixed; the cause is in the server log.
    Internal,
}

/// What a client should do on an error of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Do not retry the same request: change it (or the caller's rights) first.
    Never,
    /// Retry once after refreshing the token or certificate.
    AfterReauthentication,
    /// Retry with exponential backoff and jitter. Safe for every hub RPC: submissions are
    /// idempotent on (agency, source record id, revision), and reads have no effect.
    WithBackoff,
}

impl ErrorKind {
    /// Every kind, in the order of the documented table.
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::InvalidArgument,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::PermissionDenied,
        ErrorKind::Unauthenticated,
        ErrorKind::ResourceExhausted,
        ErrorKind::Unavailable,
        ErrorKind::DeadlineExceeded,
        ErrorKind::Internal,
    ];

    /// The gRPC status code's canonical name (the table's second column).
    pub fn code_name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::AlreadyExists => "ALREADY_EXISTS",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::Unauthenticated => "UNAUTHENTICATED",
            ErrorKind::ResourceExhausted => "RESOURCE_EXHAUSTED",
            ErrorKind::Unavailable => "UNAVAILABLE",
            ErrorKind::DeadlineExceeded => "DEADLINE_EXCEEDED",
            ErrorKind::Internal => "INTERNAL",
        }
    }

    /// Whether, and how, a client retries.
    pub fn retry(self) -> Retry {
        match self {
            ErrorKind::InvalidArgument
            | ErrorKind::NotFound
            | ErrorKind::AlreadyExists
            | ErrorKind::PermissionDenied
            | ErrorKind::Internal => Retry::Never,
            ErrorKind::Unauthenticated => Retry::AfterReauthentication,
            ErrorKind::ResourceExhausted | ErrorKind::Unavailable | ErrorKind::DeadlineExceeded => {
                Retry::WithBackoff
            }
        }
    }

    /// When the hub uses the kind, in a few words (the table's last column).
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => {
                "the request is malformed; the message and `google.rpc.BadRequest` details name \
                 each field and the reason"
            }
            ErrorKind::NotFound => "what the request names is not held for this caller",
            ErrorKind::AlreadyExists => {
                "the request conflicts with what is held (a unique key, a concurrent write)"
            }
            ErrorKind::PermissionDenied => {
                "the caller is known but the flow is refused (policy, hard rule, scope, \
                 suspension)"
            }
            ErrorKind::Unauthenticated => {
                "the caller could not be identified (certificate, token, registry)"
            }
            ErrorKind::ResourceExhausted => {
                "a limit was reached: rate, in-flight calls, records per stream, full storage"
            }
            ErrorKind::Unavailable => {
                "the hub or its database cannot serve just now (restart, shutdown, failover, \
                 audit log unwritable)"
            }
            ErrorKind::DeadlineExceeded => "the caller's grpc-timeout passed",
            ErrorKind::Internal => "a fault in the hub; the cause is in the server log only",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code_name())
    }
}

/// One field of a request and why it is wrong (sent as a `google.rpc.BadRequest` violation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field path, e.g. `records[3].victim.age`.
    pub field: String,
    /// Why, in words a developer can act on.
    pub reason: String,
}

/// An error of a hub service, classified into the one model. Every service's error enum
/// implements it; [`status`] turns it into what the client receives.
pub trait ServiceError: std::error::Error {
    /// The kind, which fixes the status code.
    fn kind(&self) -> ErrorKind;

    /// What the client is told. Defaults to the error's `Display`, which each service writes
    /// for a client to read; never used for [`ErrorKind::Internal`].
    fn client_message(&self) -> String {
        self.to_string()
    }

    /// Field violations, for [`ErrorKind::InvalidArgument`].
    fn field_violations(&self) -> Vec<FieldViolation> {
        Vec::new()
    }
}

/// The fixed message of every [`ErrorKind::Internal`] status.
pub const INTERNAL_MESSAGE: &str = "internal error in the hub; the cause is in the server log";

/// The markdown table of kinds, codes and retry advice, as `docs/api.md` shows it.
pub fn table_markdown() -> String {
    let mut out = String::from("| kind | gRPC code | retry | when |\n|---|---|---|---|\n");
    for kind in ErrorKind::ALL {
        let retry = match (kind.retry(), kind) {
            (Retry::Never, ErrorKind::AlreadyExists) => {
                "no automatic retry: read what is held (resending a submission is safe and \
                 shows each record's status)"
            }
            (Retry::Never, ErrorKind::Internal) => {
                "no automatic retry: report it; the hub's log has the cause"
            }
            (Retry::Never, _) => "no: change the request (or the caller's rights) first",
            (Retry::AfterReauthentication, _) => "once, after refreshing the token or certificate",
            (Retry::WithBackoff, _) => "yes, with exponential backoff and jitter",
        };
        out.push_str(&format!(
            "| {kind:?} | `{}` | {retry} | {} |\n",
            kind.code_name(),
            kind.meaning()
        ));
    }
    out
}

#[cfg(feature = "grpc")]
mod grpc {
    use tonic::{Code, Status};
    use tonic_types::{ErrorDetails, StatusExt};

    use super::{ErrorKind, INTERNAL_MESSAGE, ServiceError};

    impl ErrorKind {
        /// The one table from kinds to gRPC codes.
        pub fn code(self) -> Code {
            match self {
                ErrorKind::InvalidArgument => Code::InvalidArgument,
                ErrorKind::NotFound => Code::NotFound,
                ErrorKind::AlreadyExists => Code::AlreadyExists,
                ErrorKind::PermissionDenied => Code::PermissionDenied,
                ErrorKind::Unauthenticated => Code::Unauthenticated,
                ErrorKind::ResourceExhausted => Code::ResourceExhausted,
                ErrorKind::Unavailable => Code::Unavailable,
                ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
                ErrorKind::Internal => Code::Internal,
            }
        }
    }

    /// The one conversion from a service error to the `tonic::Status` a client receives.
    /// Internal causes are logged here and replaced by a fixed message; unavailable causes are
    /// logged as warnings.
    pub fn status<E: ServiceError + ?Sized>(error: &E) -> Status {
        let kind = error.kind();
        match kind {
            ErrorKind::Internal => {
                tracing::error!(error = %error, "internal error");
                Status::new(Code::Internal, INTERNAL_MESSAGE)
            }
            ErrorKind::InvalidArgument => {
                let violations = error.field_violations();
                if violations.is_empty() {
                    Status::new(kind.code(), error.client_message())
                } else {
                    let mut details = ErrorDetails::new();
                    for v in violations {
                        details.add_bad_request_violation(v.field, v.reason);
                    }
                    Status::with_error_details(kind.code(), error.client_message(), details)
                }
            }
            _ => {
                if kind == ErrorKind::Unavailable {
                    tracing::warn!(error = %error, "unavailable");
                }
                Status::new(kind.code(), error.client_message())
            }
        }
    }

    /// `Result<T, E>` → `Result<T, Status>` through [`status`], for service methods.
    pub trait IntoStatus<T> {
        /// Converts the error through the one table.
        fn into_status(self) -> Result<T, Status>;
    }

    impl<T, E: ServiceError> IntoStatus<T> for Result<T, E> {
        fn into_status(self) -> Result<T, Status> {
            self.map_err(|e| status(&e))
        }
    }
}

#[cfg(feature = "grpc")]
pub use grpc::{IntoStatus, status};

/// An error built directly in a kind, for the few places (request checks in a service method,
/// the auth layer) that have no error enum of their own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The kind.
    pub kind: ErrorKind,
    /// What the client is told (never for `Internal`).
    pub message: String,
    /// Field violations, for `InvalidArgument`.
    pub violations: Vec<FieldViolation>,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
            violations: Vec::new(),
        }
    }

    /// An invalid argument naming one field.
    pub fn invalid_field(field: impl Into<String>, reason: impl Into<String>) -> ApiError {
        let (field, reason) = (field.into(), reason.into());
        ApiError {
            kind: ErrorKind::InvalidArgument,
            message: format!("{field}: {reason}"),
            violations: vec![FieldViolation { field, reason }],
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

impl ServiceError for ApiError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
    fn field_violations(&self) -> Vec<FieldViolation> {
        self.violations.clone()
    }
}

#[cfg(all(test, feature = "grpc"))]
mod tests {
    use tonic::Code;
    use tonic_types::StatusExt;

    use super::*;

    /// Every kind, its code, its retry advice and what the client sees.
    #[test]
    fn the_table() {
        let expected = [
            (
                ErrorKind::InvalidArgument,
                Code::InvalidArgument,
                Retry::Never,
            ),
            (ErrorKind::NotFound, Code::NotFound, Retry::Never),
            (ErrorKind::AlreadyExists, Code::AlreadyExists, Retry::Never),
            (
                ErrorKind::PermissionDenied,
                Code::PermissionDenied,
                Retry::Never,
            ),
            (
                ErrorKind::Unauthenticated,
                Code::Unauthenticated,
                Retry::AfterReauthentication,
            ),
            (
                ErrorKind::ResourceExhausted,
                Code::ResourceExhausted,
                Retry::WithBackoff,
            ),
            (
                ErrorKind::Unavailable,
                Code::Unavailable,
                Retry::WithBackoff,
            ),
            (
                ErrorKind::DeadlineExceeded,
                Code::DeadlineExceeded,
                Retry::WithBackoff,
            ),
            (ErrorKind::Internal, Code::Internal, Retry::Never),
        ];
        assert_eq!(expected.len(), ErrorKind::ALL.len());
        for (kind, code, retry) in expected {
            assert_eq!(kind.code(), code, "{kind:?}");
            assert_eq!(kind.retry(), retry, "{kind:?}");
            assert_eq!(kind.code_name(), code_name(code), "{kind:?}");
            let s = status(&ApiError::new(kind, "the cause: secret text"));
            assert_eq!(s.code(), code);
            if kind == ErrorKind::Internal {
                assert_eq!(
                    s.message(),
                    INTERNAL_MESSAGE,
                    "internal causes stay server-side"
                );
            } else {
                assert_eq!(s.message(), "the cause: secret text");
            }
        }
    }

    fn code_name(code: Code) -> &'static str {
        match code {
            Code::InvalidArgument => "INVALID_ARGUMENT",
            Code::NotFound => "NOT_FOUND",
            Code::AlreadyExists => "ALREADY_EXISTS",
            Code::PermissionDenied => "PERMISSION_DENIED",
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Code::Unavailable => "UNAVAILABLE",
            Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Code::Internal => "INTERNAL",
            _ => "other",
        }
    }

    #[test]
    fn field_violations_travel_as_bad_request_details() {
        let s = status(&ApiError::invalid_field(
            "records[2].area",
            "unknown GSS code",
        ));
        assert_eq!(s.code(), Code::InvalidArgument);
        let details = s.get_error_details();
        let bad = details.bad_request().expect("BadRequest details");
        assert_eq!(bad.field_violations.len(), 1);
        assert_eq!(bad.field_violations[0].field, "records[2].area");
        assert_eq!(bad.field_violations[0].description, "unknown GSS code");
    }
}
