//! The gRPC service: SubmitBatch, StreamRecords and RetractRecord.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use vawg_domain::{
    definition::DefinitionSet,
    identity::{CallerIdentity, scope},
    pseudonym::Keyring,
};
use vawg_firewall::{Decision, Firewall, Flow};
use vawg_proto::pb::{self, EventKind, RecordStatus, ingest_service_server::IngestService};
use vawg_store::{
    Store,
    records::{NewRecord, Outcome},
};
use vawg_telemetry as telemetry;

use crate::{
    error::IngestError,
    validate::{ValidRecord, Validator, Violation, event_kind_of},
};

/// The gRPC methods, as the audit log names them.
const SUBMIT_BATCH: &str = "/vawg.v1.IngestService/SubmitBatch";
const STREAM_RECORDS: &str = "/vawg.v1.IngestService/StreamRecords";
const RETRACT_RECORD: &str = "/vawg.v1.IngestService/RetractRecord";

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

/// The outcome of one record of a chunk before it reaches the store.
enum Checked {
    Valid(Box<ValidRecord>),
    Rejected(Vec<Violation>),
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
        let kinds: Vec<Option<EventKind>> = records
            .iter()
            .map(|r| r.event.as_ref().map(event_kind_of))
            .collect();
        let foreign: Vec<bool> = records
            .iter()
            .map(|r| r.source_agency_id != caller.agency_id)
            .collect();

        // The chunk's flow, as the firewall sees it: every kind and every source agency.
        let mut flow = Flow::new(pb::Action::Submit, pb::Purpose::RecordSubmission, rpc);
        flow.event_kinds = distinct(kinds.iter().flatten().copied());
        flow.record_agency_ids = distinct(records.iter().map(|r| r.source_agency_id.clone()));
        let chunk_decision = self.firewall.decide(caller, &flow);
        // Which kinds a hard rule refuses, each decided on its own so the refusal names them.
        let mut refused_kinds: HashMap<EventKind, Decision> = HashMap::new();
        let mut own_records_refusal: Option<Decision> = None;
        if !chunk_decision.allowed {
            for kind in &flow.event_kinds {
                let mut one = Flow::new(pb::Action::Submit, pb::Purpose::RecordSubmission, rpc);
                one.event_kinds = vec![*kind];
                let d = self.firewall.decide(caller, &one);
                if !d.allowed && d.hard_rule {
                    refused_kinds.insert(*kind, d);
                }
            }
            if foreign.iter().any(|f| *f) {
                let mut one = Flow::new(pb::Action::Submit, pb::Purpose::RecordSubmission, rpc);
                one.record_agency_ids = flow.record_agency_ids.clone();
                let d = self.firewall.decide(caller, &one);
                if !d.allowed && d.hard_rule {
                    own_records_refusal = Some(d);
                }
            }
        }

        // What may be stored: the kinds and agencies no hard rule refused.
        let mut allowed_flow = Flow::new(pb::Action::Submit, pb::Purpose::RecordSubmission, rpc);
        allowed_flow.event_kinds = flow
            .event_kinds
            .iter()
            .filter(|k| !refused_kinds.contains_key(*k))
            .copied()
            .collect();
        allowed_flow.record_agency_ids = vec![caller.agency_id.clone()];
        let allowed_decision = self.firewall.decide(caller, &allowed_flow);
        let mut receipt = None;
        if !chunk_decision.allowed {
            // The refusal is a decision of its own: audited, whatever happens to the rest.
            receipt = Some(
                self.firewall
                    .audit(caller, &flow, &chunk_decision, &[])
                    .await?,
            );
            tracing::info!(
                agency_id = %caller.agency_id,
                hard_rule = chunk_decision.hard_rule,
                policy_ids = ?chunk_decision.policy_ids,
                "submission refused in part by the firewall"
            );
        }
        if !allowed_decision.allowed {
            // Not a per-record matter (e.g. no policy permits submission at all).
            if chunk_decision.allowed {
                self.firewall
                    .audit(caller, &allowed_flow, &allowed_decision, &[])
                    .await?;
            }
            for _ in &echoes {
                telemetry::record_rejection("FIREWALL_DENIED");
            }
            return Err(IngestError::Refused(allowed_decision.reason));
        }

        let mut checked: Vec<Checked> = self
            .prepare(caller, records)
            .into_iter()
            .zip(kinds.iter().zip(&foreign))
            .map(|(r, (kind, foreign))| {
                // The firewall's refusal, naming the rule, replaces validation's own words.
                let mut rules = Vec::new();
                if let Some(d) = kind.and_then(|k| refused_kinds.get(&k)) {
                    rules.push(rule_violation("event", d));
                }
                if let (true, Some(d)) = (*foreign, own_records_refusal.as_ref()) {
                    rules.push(rule_violation("source_agency_id", d));
                }
                match r {
                    Ok(v) if rules.is_empty() => Checked::Valid(Box::new(v)),
                    Ok(_) => Checked::Rejected(rules),
                    Err(mut v) => {
                        if !rules.is_empty() {
                            v.retain(|v| !rules.iter().any(|r| r.field == v.field));
                            rules.extend(v);
                            v = rules;
                        }
                        Checked::Rejected(v)
                    }
                }
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
        let committed_at = Utc::now();
        let agency_kind = caller.agency_kind.to_pb().as_str_name();

        let mut summary = pb::ResultSummary::default();
        let mut results = Vec::with_capacity(checked.len());
        let mut pseudonyms: Vec<String> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
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
                    telemetry::record_rejection(rejection_reason(violations));
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
                            telemetry::record_rejection("STALE_REVISION");
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
                            telemetry::record_rejection("RETRACTED");
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
                    if matches!(status, RecordStatus::Accepted | RecordStatus::Superseded) {
                        let lag = (committed_at - v.row.recorded_time)
                            .to_std()
                            .unwrap_or_default();
                        telemetry::record_ingest_lag(agency_kind, lag);
                    }
                    if matches!(
                        status,
                        RecordStatus::Accepted | RecordStatus::Superseded | RecordStatus::Duplicate
                    ) {
                        result.category = v.row.category.clone();
                        result.definition_version = v.row.definition_version.clone();
                        if let Some(p) = &v.row.victim_pseudonym
                            && seen.insert(p.clone())
                        {
                            pseudonyms.push(p.clone());
                        }
                    }
                }
            }
            results.push(result);
        }
        // The commit's entry: what was stored, as pseudonyms only. The records are committed
        // already; if the audit cannot be written the call fails, and resending (idempotent,
        // DUPLICATE) audits again and returns the receipt. A chunk the firewall refused
        // entirely has its refusal's entry and nothing more.
        let stored = summary.accepted + summary.superseded + summary.duplicate;
        let receipt = match receipt {
            Some(refusal) if stored == 0 => refusal,
            _ => {
                self.firewall
                    .audit(caller, &allowed_flow, &allowed_decision, &pseudonyms)
                    .await?
            }
        };
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

/// Distinct values, in first-seen order.
fn distinct<T: Ord + Clone>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut seen = BTreeSet::new();
    values
        .into_iter()
        .filter(|v| seen.insert(v.clone()))
        .collect()
}

/// A per-record violation naming the firewall rule that refused it.
fn rule_violation(field: &str, decision: &Decision) -> Violation {
    Violation::new(
        field,
        format!("{} [{}]", decision.reason, decision.policy_ids.join(", ")),
    )
}

/// The fixed reason code of a rejected record, for the rejections counter: the hard rules by
/// name, then the first violated field's group. Never text from the record.
fn rejection_reason(violations: &[Violation]) -> &'static str {
    let has = |needle: &str| violations.iter().any(|v| v.reason.contains(needle));
    if has("hard-rule:producer-kinds") || has("may not submit") {
        return "PRODUCER_KIND";
    }
    if has("hard-rule:own-records-only") || has("caller's own agency") {
        return "NOT_OWN_RECORD";
    }
    if has("CPS referral") {
        return "CHARGE_BEFORE_REFERRAL";
    }
    let Some(first) = violations.first() else {
        return "INVALID_RECORD";
    };
    let top = first.field.split('.').next().unwrap_or("");
    match top {
        "source_record_id" => "INVALID_SOURCE_RECORD_ID",
        "revision" => "INVALID_REVISION",
        "event_time" | "recorded_time" => "INVALID_TIME",
        "reference_period" => "INVALID_REFERENCE_PERIOD",
        "counting_unit" => "INVALID_COUNTING_UNIT",
        "area" => "INVALID_AREA",
        "classification" => "UNKNOWN_CLASSIFICATION",
        "victim" | "suspect" => "INVALID_PERSON",
        "case_references" => "INVALID_CASE_REFERENCE",
        "event" => "INVALID_EVENT",
        _ => "INVALID_RECORD",
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
        let done = self
            .process(&caller, SUBMIT_BATCH, request.into_inner().records)
            .await?;
        Ok(Response::new(pb::SubmitBatchResponse {
            results: done.results,
            summary: Some(done.summary),
            audit_receipt: Some(done.receipt),
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
        let mut draining = self.draining.subscribe();
        tokio::spawn(async move {
            let mut chunk: u64 = 0;
            let mut total: u64 = 0;
            loop {
                // Draining wins over a waiting chunk: nothing is read after shutdown starts,
                // so everything read is committed and acknowledged before the stream ends.
                let next = tokio::select! {
                    biased;
                    _ = draining.wait_for(|d| *d) => None,
                    m = inbound.message() => Some(m),
                };
                let message = match next {
                    None => {
                        tracing::info!(
                            agency_id = %caller.agency_id,
                            acknowledged_chunks = chunk,
                            "stream ended for shutdown"
                        );
                        let _ = tx.send(Err(IngestError::Draining.into())).await;
                        break;
                    }
                    Some(Ok(Some(m))) => m,
                    Some(Ok(None)) => break,
                    Some(Err(status)) => {
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
                let answer = match this.process(&caller, STREAM_RECORDS, message.records).await {
                    Ok(done) => Ok(pb::StreamRecordsResponse {
                        chunk,
                        results: done.results,
                        summary: Some(done.summary),
                        audit_receipt: Some(done.receipt),
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
        // A retraction changes the caller's own record: decided like a submission before it
        // happens, and audited once it has, its head the receipt.
        let mut flow = Flow::new(
            pb::Action::Submit,
            pb::Purpose::RecordSubmission,
            RETRACT_RECORD,
        );
        flow.record_agency_ids = vec![caller.agency_id.clone()];
        let decision = self.firewall.decide(&caller, &flow);
        if !decision.allowed {
            self.firewall.audit(&caller, &flow, &decision, &[]).await?;
            return Err(IngestError::Refused(decision.reason).into());
        }
        let r = self
            .store
            .retract(&caller.agency_id, &req.source_record_id)
            .await
            .map_err(|e| match e {
                vawg_store::StoreError::NotFound(_) => IngestError::NotFound,
                e => IngestError::Store(e),
            })?;
        let receipt = self.firewall.audit(&caller, &flow, &decision, &[]).await?;
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
            audit_receipt: Some(receipt),
        }))
    }
}
