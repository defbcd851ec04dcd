//! The gRPC service: SubmitBatch, StreamRecords and RetractRecord.

use std::{collections::HashMap, sync::Arc};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use vawg_hub::{
    definition::DefinitionSet,
    identity::{CallerIdentity, scope},
    pb::{self, EventKind, RecordStatus, ingest_service_server::IngestService},
    pseudonym::Keyring,
};
use vawg_store::{
    Store,
    records::{NewRecord, Outcome},
};

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
}

/// The outcome of one record of a chunk before it reaches the store.
enum Checked {
    Valid(Box<ValidRecord>),
    Rejected(Vec<Violation>),
}

impl IngestApi {
    /// A service over `store`, classifying under `definitions.current()` and pseudonymising with
    /// `keyring`.
    pub fn new(
        store: Store,
        definitions: Arc<DefinitionSet>,
        keyring: Arc<Keyring>,
        limits: IngestLimits,
    ) -> Self {
        Self {
            store,
            definitions,
            keyring,
            limits,
        }
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

    /// Processes one batch or chunk: validate, cross-check, store in one transaction, and
    /// answer per record in order.
    pub async fn process(
        &self,
        caller: &CallerIdentity,
        records: Vec<pb::VawgRecord>,
    ) -> Result<(Vec<pb::RecordResult>, pb::ResultSummary), IngestError> {
        if records.len() > self.limits.max_batch_records {
            return Err(IngestError::InvalidRequest {
                message: format!(
                    "{} records in one request; the limit is {}",
                    records.len(),
                    self.limits.max_batch_records
                ),
                violations: vec![Violation::new(
                    "records",
                    format!(
                        "at most {} records per request or chunk",
                        self.limits.max_batch_records
                    ),
                )],
            });
        }
        let echoes: Vec<(String, u32)> = records
            .iter()
            .map(|r| (r.source_record_id.clone(), r.revision))
            .collect();
        let mut checked: Vec<Checked> = self
            .prepare(caller, records)
            .into_iter()
            .map(|r| match r {
                Ok(v) => Checked::Valid(Box::new(v)),
                Err(v) => Checked::Rejected(v),
            })
            .collect();
        self.check_charges_follow_referrals(&mut checked).await?;

        let rows: Vec<NewRecord> = checked
            .iter()
            .filter_map(|c| match c {
                Checked::Valid(v) => Some(v.row.clone()),
                Checked::Rejected(_) => None,
            })
            .collect();
        let mut outcomes = self
            .store
            .ingest(&caller.agency_id, rows)
            .await?
            .into_iter();

        let mut summary = pb::ResultSummary::default();
        let mut results = Vec::with_capacity(checked.len());
        for (index, (c, (source_record_id, revision))) in checked.iter().zip(echoes).enumerate() {
            let mut result = pb::RecordResult {
                index: index as u32,
                source_record_id,
                revision,
                ..Default::default()
            };
            match c {
                Checked::Rejected(violations) => {
                    result.status = RecordStatus::Rejected as i32;
                    result.violations = violations.iter().map(to_pb_violation).collect();
                    summary.rejected += 1;
                }
                Checked::Valid(v) => {
                    let outcome = outcomes.next().ok_or_else(|| {
                        IngestError::Store(vawg_store::StoreError::Corrupt(
                            "store returned fewer outcomes than records".into(),
                        ))
                    })?;
                    let (status, violations) = match outcome {
                        Outcome::Accepted { .. } => {
                            summary.accepted += 1;
                            (RecordStatus::Accepted, vec![])
                        }
                        Outcome::Superseded { .. } => {
                            summary.superseded += 1;
                            (RecordStatus::Superseded, vec![])
                        }
                        Outcome::Duplicate => {
                            summary.duplicate += 1;
                            (RecordStatus::Duplicate, vec![])
                        }
                        Outcome::Stale { held_revision } => {
                            summary.stale += 1;
                            (
                                RecordStatus::Stale,
                                vec![pb::FieldViolation {
                                    field: "revision".into(),
                                    reason: format!(
                                        "revision {held_revision} is already held; send a higher revision"
                                    ),
                                }],
                            )
                        }
                        Outcome::Retracted => {
                            summary.rejected += 1;
                            (
                                RecordStatus::Rejected,
                                vec![pb::FieldViolation {
                                    field: "source_record_id".into(),
                                    reason: "the record was retracted; a retracted record is not revised"
                                        .into(),
                                }],
                            )
                        }
                    };
                    result.status = status as i32;
                    result.violations = violations;
                    if matches!(
                        status,
                        RecordStatus::Accepted | RecordStatus::Superseded | RecordStatus::Duplicate
                    ) {
                        result.category = v.row.category.clone();
                        result.definition_version = v.row.definition_version.clone();
                    }
                }
            }
            results.push(result);
        }
        tracing::info!(
            agency_id = %caller.agency_id,
            accepted = summary.accepted,
            superseded = summary.superseded,
            duplicate = summary.duplicate,
            stale = summary.stale,
            rejected = summary.rejected,
            "records ingested"
        );
        Ok((results, summary))
    }

    /// A charging decision cannot precede the CPS referral of the same case: the referral is
    /// looked up by the case's police crime reference pseudonym (under every key in the ring,
    /// so a rotation does not hide earlier referrals), among stored records and earlier records
    /// of the same chunk.
    async fn check_charges_follow_referrals(
        &self,
        checked: &mut [Checked],
    ) -> Result<(), IngestError> {
        let charge_refs: Vec<String> = checked
            .iter()
            .filter_map(|c| match c {
                Checked::Valid(v) if v.event_kind == EventKind::ChargingDecision => {
                    Some(v.police_ref_lookup.iter().cloned())
                }
                _ => None,
            })
            .flatten()
            .collect();
        if charge_refs.is_empty() {
            return Ok(());
        }
        let mut earliest: HashMap<String, DateTime<Utc>> =
            self.store.earliest_referrals(&charge_refs).await?;
        for c in checked.iter() {
            if let Checked::Valid(v) = c
                && v.event_kind == EventKind::CpsReferral
                && let Some(r) = &v.row.police_ref_pseudonym
            {
                let t = earliest.entry(r.clone()).or_insert(v.row.event_time);
                *t = (*t).min(v.row.event_time);
            }
        }
        for c in checked.iter_mut() {
            let Checked::Valid(v) = c else { continue };
            if v.event_kind != EventKind::ChargingDecision {
                continue;
            }
            let referred = v
                .police_ref_lookup
                .iter()
                .filter_map(|r| earliest.get(r))
                .min();
            if let Some(referred) = referred
                && v.row.event_time < *referred
            {
                *c = Checked::Rejected(vec![Violation::new(
                    "event_time",
                    format!(
                        "a charging decision cannot precede the CPS referral of the same case \
                             (referred {})",
                        referred.date_naive()
                    ),
                )]);
            }
        }
        Ok(())
    }
}

fn to_pb_violation(v: &Violation) -> pb::FieldViolation {
    pb::FieldViolation {
        field: v.field.clone(),
        reason: v.reason.clone(),
    }
}

/// The authenticated caller, with the scope ingest needs.
fn caller<T>(request: &Request<T>) -> Result<CallerIdentity, IngestError> {
    let caller = request
        .extensions()
        .get::<CallerIdentity>()
        .cloned()
        .ok_or(IngestError::Unauthenticated)?;
    if !caller.has_scope(scope::RECORDS_WRITE) {
        return Err(IngestError::MissingScope(scope::RECORDS_WRITE));
    }
    Ok(caller)
}

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        let caller = caller(&request)?;
        let (results, summary) = self.process(&caller, request.into_inner().records).await?;
        Ok(Response::new(pb::SubmitBatchResponse {
            results,
            summary: Some(summary),
            audit_receipt: None,
        }))
    }

    type StreamRecordsStream = ReceiverStream<Result<pb::StreamRecordsResponse, Status>>;

    async fn stream_records(
        &self,
        request: Request<Streaming<pb::StreamRecordsRequest>>,
    ) -> Result<Response<Self::StreamRecordsStream>, Status> {
        let caller = caller(&request)?;
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(2);
        let this = self.clone();
        tokio::spawn(async move {
            let mut chunk: u64 = 0;
            let mut total: u64 = 0;
            loop {
                let message = match inbound.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => break,
                    Err(status) => {
                        let _ = tx.send(Err(status)).await;
                        break;
                    }
                };
                total += message.records.len() as u64;
                if total > this.limits.max_stream_records {
                    let e = IngestError::StreamLimit {
                        max: this.limits.max_stream_records,
                    };
                    let _ = tx.send(Err(e.into())).await;
                    break;
                }
                // Chunks are processed one after another, and each is acknowledged only after
                // its transaction has committed.
                let answer = match this.process(&caller, message.records).await {
                    Ok((results, summary)) => Ok(pb::StreamRecordsResponse {
                        chunk,
                        results,
                        summary: Some(summary),
                        audit_receipt: None,
                    }),
                    Err(e) => Err(Status::from(e)),
                };
                let failed = answer.is_err();
                if tx.send(answer).await.is_err() || failed {
                    break;
                }
                chunk += 1;
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn retract_record(
        &self,
        request: Request<pb::RetractRecordRequest>,
    ) -> Result<Response<pb::RetractRecordResponse>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let mut violations = Vec::new();
        if req.source_record_id.is_empty() || req.source_record_id.len() > 128 {
            violations.push(Violation::new(
                "source_record_id",
                "required, at most 128 characters",
            ));
        }
        if req.reason.trim().is_empty() || req.reason.len() > 500 {
            violations.push(Violation::new("reason", "required, at most 500 characters"));
        }
        if !violations.is_empty() {
            return Err(IngestError::InvalidRequest {
                message: "invalid retraction".into(),
                violations,
            }
            .into());
        }
        let r = self
            .store
            .retract(&caller.agency_id, &req.source_record_id)
            .await
            .map_err(|e| match e {
                vawg_store::StoreError::NotFound(_) => IngestError::NotFound,
                e => IngestError::Store(e),
            })?;
        tracing::info!(
            agency_id = %caller.agency_id,
            source_record_id = %req.source_record_id,
            revision = r.revision,
            retracted_now = r.retracted_now,
            "record retracted"
        );
        Ok(Response::new(pb::RetractRecordResponse {
            retracted: r.retracted_now,
            revision: r.revision,
            audit_receipt: None,
        }))
    }
}
