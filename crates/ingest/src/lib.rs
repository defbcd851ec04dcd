//! vawg-ingest: the `IngestService`. Agencies push records; the service validates each at the
//! edge ([`validate`]), classifies it under the current definition, replaces every personal and
//! case identifier with a keyed pseudonym, and stores each chunk in one transaction through
//! [`vawg_store::Store::ingest`], idempotently on (agency, source record id, revision).
//!
//! A record is acknowledged only after the transaction holding it has committed: a
//! `SubmitBatch` response, or a `StreamRecords` chunk acknowledgement, is sent after the commit
//! returns, so an acknowledged record survives a crash of the hub.
//!
//! The caller is read from the [`vawg_domain::identity::CallerIdentity`] request extension that
//! the auth layer sets; without one, every call is `UNAUTHENTICATED`.

pub mod error;
pub mod service;
pub mod validate;

pub use error::IngestError;
pub use service::{IngestApi, IngestLimits};
pub use validate::{ValidRecord, Validator, Violation};
