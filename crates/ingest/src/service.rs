//! The gRPC service: SubmitBatch, StreamRecords and RetractRecord.
//!
//! Every batch, and every chunk of a stream, goes through one pipeline ([`IngestApi::process`])
//! in named stages: the firewall's decision on the chunk (`gate`), validation merged with the
//! firewall's per-record refusals and the cross-record rules (`check`), one store
//! transaction, and the per-record results (`results`), audited before they are answered.
//! `rpc` holds the gRPC methods around it.

mod check;
mod gate;
mod results;
mod rpc;

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::watch;
use vawg_domain::{definition::DefinitionSet, identity::CallerIdentity, pseudonym::Keyring};
use vawg_firewall::Firewall;
use vawg_proto::pb;
use vawg_store::{Store, records::NewRecord};

use self::{check::Checked, results::Tally};
use crate::{
    error::IngestError,
    validate::{ValidRecord, Validator, Violation},
};

/// Limits on what one call may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IngestLimits {
    /// Most records in one `SubmitBatch` or one stream chunk.
    pub max_batch_records: usize,
    /// Most records in one `StreamRecords` stream.
    pub max_stream_records: u64,
}

impl Default for IngestLimits {
    fn default() -> Self {
        Self {
            max_batch_records: 1000,
            max_stream_records: 10_000_000,
        }
    }
}

/// The ingest service.
#[derive(Clone)]
pub struct IngestApi {
    store: Store,
    definitions: Arc<DefinitionSet>,
    keyring: Arc<Keyring>,
    limits: IngestLimits,
    firewall: Firewall,
    /// Set once the hub starts draining: open streams end at their next chunk boundary.
    draining: Arc<watch::Sender<bool>>,
}

/// One processed batch or chunk: per-record results, the summary, and the signed audit head
/// covering the chunk's audit entries (the caller's receipt).
#[derive(Clone, Debug)]
pub struct Processed {
    /// One result per record, in order.
    pub results: Vec<pb::RecordResult>,
    /// Counts by status.
    pub summary: pb::ResultSummary,
    /// The signed head of the audit log after the chunk was audited.
    pub receipt: pb::SignedTreeHead,
}

impl IngestApi {
    /// A service over `store`, classifying under `definitions.current()`, pseudonymising with
    /// `keyring`, and deciding and auditing every chunk through `firewall`.
    pub fn new(
        store: Store,
        definitions: Arc<DefinitionSet>,
        keyring: Arc<Keyring>,
        limits: IngestLimits,
        firewall: Firewall,
    ) -> Self {
        Self {
            store,
            definitions,
            keyring,
            limits,
            firewall,
            draining: Arc::new(watch::channel(false).0),
        }
    }

    /// Starts draining for shutdown: each open `StreamRecords` finishes the chunk it is
    /// processing (committed and acknowledged), then ends with `UNAVAILABLE` so the client
    /// resends what was not acknowledged — idempotently — to another replica or after restart.
    pub fn shutdown(&self) {
        self.draining.send_replace(true);
    }

    /// Validates, classifies and pseudonymises records as the service would, without storing
    /// them (the benchmark uses this to build its baseline rows).
    pub fn prepare(
        &self,
        caller: &CallerIdentity,
        records: Vec<pb::VawgRecord>,
    ) -> Vec<Result<ValidRecord, Vec<Violation>>> {
        let validator = Validator {
            caller,
            definition: self.definitions.current(),
            keyring: &self.keyring,
            now: Utc::now(),
        };
        records.into_iter().map(|r| validator.validate(r)).collect()
    }

    /// Processes one batch or chunk for the RPC `rpc`: validate, decide the chunk's flow
    /// through the firewall (the hard rules refuse kinds the caller's agency does not produce
    /// and records of other agencies), store the rest in one transaction, audit, and answer per
    /// record in order with the signed audit head as receipt.
    ///
    /// Audit: one entry per chunk for the commit (with the victim pseudonyms of the records it
    /// stored), preceded by one entry for the refusal when a hard rule refused part of it.
    pub async fn process(
        &self,
        caller: &CallerIdentity,
        rpc: &str,
        records: Vec<pb::VawgRecord>,
    ) -> Result<Processed, IngestError> {
        self.check_chunk_size(records.len())?;
        let gate = self.decide(caller, rpc, &records);
        let refusal = self.audit_refusal(caller, &gate, records.len()).await?;
        let echoes: Vec<(String, u32)> = records
            .iter()
            .map(|r| (r.source_record_id.clone(), r.revision))
            .collect();
        let mut checked = self.check_records(caller, records, &gate);
        self.check_charges_follow_referrals(&mut checked).await?;
        let rows: Vec<NewRecord> = checked
            .iter()
            .filter_map(|c| match c {
                Checked::Valid(v) => Some(v.row.clone()),
                Checked::Rejected(_) => None,
            })
            .collect();
        let outcomes = self.store.ingest(&caller.agency_id, rows).await?;
        let tally = Tally::new(caller, &checked, echoes, outcomes)?;
        let receipt = self.audit_commit(caller, &gate, refusal, &tally).await?;
        let Tally {
            results, summary, ..
        } = tally;
        tracing::info!(
            agency_id = %caller.agency_id,
            accepted = summary.accepted,
            superseded = summary.superseded,
            duplicate = summary.duplicate,
            stale = summary.stale,
            rejected = summary.rejected,
            audit_tree_size = receipt.tree_size,
            "records ingested"
        );
        Ok(Processed {
            results,
            summary,
            receipt,
        })
    }

    /// Refuses a batch or chunk with more records than one may carry.
    fn check_chunk_size(&self, records: usize) -> Result<(), IngestError> {
        let max = self.limits.max_batch_records;
        if records <= max {
            return Ok(());
        }
        Err(IngestError::InvalidRequest {
            message: format!("{records} records in one request; the limit is {max}"),
            violations: vec![Violation::new(
                "records",
                format!("at most {max} records per request or chunk"),
            )],
        })
    }
}
