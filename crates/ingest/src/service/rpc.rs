//! The gRPC methods of the `IngestService`, around the pipeline. Every error reaches the client
//! through [`vawg_proto::error::status`].

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use vawg_domain::identity::{CallerIdentity, scope};
use vawg_policy::Flow;
use vawg_proto::{
    error::{ErrorKind, IntoStatus, status},
    pb::{self, ingest_service_server::IngestService},
};
use vawg_store::StoreError;

use super::IngestApi;
use crate::{error::IngestError, validate::Violation};

/// The gRPC methods, as the audit log names them.
const SUBMIT_BATCH: &str = "/vawg.v1.IngestService/SubmitBatch";
const STREAM_RECORDS: &str = "/vawg.v1.IngestService/StreamRecords";
const RETRACT_RECORD: &str = "/vawg.v1.IngestService/RetractRecord";

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

/// The status a client receives for `e`. Logs, for the operator, the store faults that
/// [`status`] passes on to the client without logging: full storage and write conflicts.
fn fail(e: IngestError) -> Status {
    if let IngestError::Store(s) = &e {
        match s.kind() {
            ErrorKind::ResourceExhausted => {
                tracing::error!(error = %e, "the database's storage is full");
            }
            ErrorKind::AlreadyExists => {
                tracing::warn!(error = %e, "ingest conflicted with a concurrent write");
            }
            _ => {}
        }
    }
    status(&e)
}

impl IngestApi {
    /// Reads a stream's chunks one after another until it ends, fails, reaches its record
    /// limit or the hub starts draining, sending one answer per chunk to `tx`. Each chunk is
    /// acknowledged only after its transaction has committed.
    async fn relay(
        self,
        caller: CallerIdentity,
        mut inbound: Streaming<pb::StreamRecordsRequest>,
        tx: mpsc::Sender<Result<pb::StreamRecordsResponse, Status>>,
        mut draining: watch::Receiver<bool>,
    ) {
        let mut chunk: u64 = 0;
        let mut total: u64 = 0;
        loop {
            // Draining wins over a waiting chunk: nothing is read after shutdown starts, so
            // everything read is committed and acknowledged before the stream ends.
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
                    let _ = tx.send(Err(fail(IngestError::Draining))).await;
                    break;
                }
                Some(Ok(Some(m))) => m,
                Some(Ok(None)) => break,
                // The client's own stream failed: its status is passed back as it came.
                Some(Err(status)) => {
                    let _ = tx.send(Err(status)).await;
                    break;
                }
            };
            total += message.records.len() as u64;
            if total > self.limits.max_stream_records {
                let e = IngestError::StreamLimit {
                    max: self.limits.max_stream_records,
                };
                let _ = tx.send(Err(fail(e))).await;
                break;
            }
            let answer = match self.process(&caller, STREAM_RECORDS, message.records).await {
                Ok(done) => Ok(pb::StreamRecordsResponse {
                    chunk,
                    results: done.results,
                    summary: Some(done.summary),
                    audit_receipt: Some(done.receipt),
                }),
                Err(e) => Err(fail(e)),
            };
            let failed = answer.is_err();
            if tx.send(answer).await.is_err() || failed {
                break;
            }
            chunk += 1;
        }
    }

    /// Retracts one of the caller's records: checked, decided like a submission before it
    /// happens, and audited once it has, its head the receipt.
    async fn retract(
        &self,
        caller: &CallerIdentity,
        req: pb::RetractRecordRequest,
    ) -> Result<pb::RetractRecordResponse, IngestError> {
        let mut violations = Vec::new();
        if req.source_record_id.is_empty() || req.source_record_id.len() > 128 {
            violations.push(Violation::new(
                "source_record_id",
                "required, at most 128 characters",
            ));
        }
        // Kept in the audit log: bounded, one line, no identifier shapes.
        let reason = match vawg_firewall::caller_text::check(&req.reason, &[]) {
            Ok(reason) => reason,
            Err(why) => {
                violations.push(Violation::new("reason", why));
                String::new()
            }
        };
        if !violations.is_empty() {
            return Err(IngestError::InvalidRequest {
                message: "invalid retraction".into(),
                violations,
            });
        }
        let mut flow = Flow::new(
            pb::Action::Submit,
            pb::Purpose::RecordSubmission,
            RETRACT_RECORD,
        );
        flow.record_agency_ids = vec![caller.agency_id.clone()];
        let decision = self.firewall.decide(caller, &flow);
        if !decision.allowed {
            self.firewall
                .audit_justified(caller, &flow, &decision, &[], &reason)
                .await?;
            return Err(IngestError::Refused(decision.reason));
        }
        let r = self
            .store
            .retract(&caller.agency_id, &req.source_record_id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => IngestError::NotFound,
                e => IngestError::Store(e),
            })?;
        let receipt = self
            .firewall
            .audit_justified(caller, &flow, &decision, &[], &reason)
            .await?;
        tracing::info!(
            agency_id = %caller.agency_id,
            source_record_id = %req.source_record_id,
            revision = r.revision,
            retracted_now = r.retracted_now,
            "record retracted"
        );
        Ok(pb::RetractRecordResponse {
            retracted: r.retracted_now,
            revision: r.revision,
            audit_receipt: Some(receipt),
        })
    }
}

#[tonic::async_trait]
impl IngestService for IngestApi {
    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        let caller = caller(&request).into_status()?;
        let done = self
            .process(&caller, SUBMIT_BATCH, request.into_inner().records)
            .await
            .map_err(fail)?;
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
        let caller = caller(&request).into_status()?;
        let (tx, rx) = mpsc::channel(2);
        let draining = self.draining.subscribe();
        tokio::spawn(
            self.clone()
                .relay(caller, request.into_inner(), tx, draining),
        );
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn retract_record(
        &self,
        request: Request<pb::RetractRecordRequest>,
    ) -> Result<Response<pb::RetractRecordResponse>, Status> {
        let caller = caller(&request).into_status()?;
        let response = self
            .retract(&caller, request.into_inner())
            .await
            .map_err(fail)?;
        Ok(Response::new(response))
    }
}
