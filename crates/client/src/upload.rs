//! Uploads: `SubmitBatch` in batches, and `StreamRecords` with bounded in-flight chunks
//! (backpressure) that survives a dropped connection by resending every chunk not yet
//! acknowledged — safe because ingest is idempotent (a resent record comes back DUPLICATE).

use std::collections::VecDeque;

use futures::{Stream, StreamExt};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use vawg_proto::pb;

use crate::{ClientError, HubClient, retry::retryable};

/// How a set of records fared.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// New records stored.
    pub accepted: u64,
    /// Records that superseded an earlier revision.
    pub superseded: u64,
    /// Records already held at that revision.
    pub duplicate: u64,
    /// Stale revisions refused.
    pub stale: u64,
    /// Invalid records refused.
    pub rejected: u64,
}

impl Tally {
    /// Adds a hub summary.
    pub fn add(&mut self, s: &pb::ResultSummary) {
        self.accepted += u64::from(s.accepted);
        self.superseded += u64::from(s.superseded);
        self.duplicate += u64::from(s.duplicate);
        self.stale += u64::from(s.stale);
        self.rejected += u64::from(s.rejected);
    }

    /// Adds another tally.
    pub fn merge(&mut self, other: &Tally) {
        self.accepted += other.accepted;
        self.superseded += other.superseded;
        self.duplicate += other.duplicate;
        self.stale += other.stale;
        self.rejected += other.rejected;
    }

    /// Records the hub holds now (accepted, superseded or duplicate).
    pub fn held(&self) -> u64 {
        self.accepted + self.superseded + self.duplicate
    }

    /// Records refused (stale or rejected).
    pub fn refused(&self) -> u64 {
        self.stale + self.rejected
    }
}

/// Whether the hub holds the record after this result (accepted, superseded or duplicate).
pub fn is_held(result: &pb::RecordResult) -> bool {
    matches!(
        result.status(),
        pb::RecordStatus::Accepted | pb::RecordStatus::Superseded | pb::RecordStatus::Duplicate
    )
}

/// Why a record was refused, in one line: `field: reason; field: reason`. Empty when held.
pub fn refusal_reason(result: &pb::RecordResult) -> String {
    if is_held(result) {
        return String::new();
    }
    if result.violations.is_empty() {
        return result.status().as_str_name().to_string();
    }
    result
        .violations
        .iter()
        .map(|v| {
            if v.field.is_empty() {
                v.reason.clone()
            } else {
                format!("{}: {}", v.field, v.reason)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// One acknowledged chunk of a stream.
#[derive(Debug)]
pub struct Ack<'a> {
    /// Sequence of the chunk in this upload, from 0, across reconnections.
    pub seq: u64,
    /// The chunk's records, as sent.
    pub records: &'a [pb::VawgRecord],
    /// One result per record, in order.
    pub results: &'a [pb::RecordResult],
    /// The signed audit head after the chunk.
    pub audit_receipt: Option<&'a pb::SignedTreeHead>,
}

/// What ended one stream attempt.
enum Attempt {
    Done,
    Failed(Status),
}

impl HubClient {
    /// Submits records with `SubmitBatch` in batches of `batch`, retrying a batch by the
    /// client's [`RetryPolicy`](crate::RetryPolicy) when the hub is briefly unavailable.
    /// `on_results` sees every batch's records with their results (e.g. to write a rejects
    /// file).
    pub async fn submit(
        &self,
        records: Vec<pb::VawgRecord>,
        batch: usize,
        mut on_results: impl FnMut(&[pb::VawgRecord], &[pb::RecordResult]),
    ) -> Result<Tally, ClientError> {
        let mut tally = Tally::default();
        let mut ingest = self.ingest();
        for chunk in records.chunks(batch.max(1)) {
            let mut failures = 0;
            let mut refreshed = false;
            let response = loop {
                let request = pb::SubmitBatchRequest {
                    records: chunk.to_vec(),
                };
                match ingest.submit_batch(request).await {
                    Ok(r) => break r.into_inner(),
                    Err(s) => self.pause_or_fail(s, &mut failures, &mut refreshed).await?,
                }
            };
            if let Some(s) = &response.summary {
                tally.add(s);
            }
            on_results(chunk, &response.results);
        }
        Ok(tally)
    }

    /// Streams `records` in chunks of `chunk` (see [`HubClient::stream_chunks`]), calling
    /// `on_ack` with each acknowledged chunk's sequence and results.
    pub async fn stream(
        &self,
        records: Vec<pb::VawgRecord>,
        chunk: usize,
        in_flight: usize,
        mut on_ack: impl FnMut(u64, &[pb::RecordResult]),
    ) -> Result<Tally, ClientError> {
        let chunk = chunk.max(1);
        let mut records = records.into_iter().peekable();
        let chunks = futures::stream::iter(std::iter::from_fn(move || {
            records.peek()?;
            Some(records.by_ref().take(chunk).collect::<Vec<_>>())
        }));
        self.stream_chunks(chunks, in_flight, |ack| on_ack(ack.seq, ack.results))
            .await
    }

    /// Streams chunks of records over `StreamRecords`. At most `in_flight` chunks are sent and
    /// not yet acknowledged; the next chunk is pulled from `chunks` only when one is
    /// acknowledged, so a slow hub slows the reader instead of filling memory (backpressure).
    ///
    /// If the stream breaks (hub restarting, connection reset), the client waits by its
    /// [`RetryPolicy`](crate::RetryPolicy), opens a new stream and resends every chunk not yet
    /// acknowledged; records the hub had already committed come back `DUPLICATE`. `on_ack` is
    /// called once per chunk, in order. Empty chunks are skipped.
    pub async fn stream_chunks<S>(
        &self,
        chunks: S,
        in_flight: usize,
        mut on_ack: impl FnMut(Ack<'_>),
    ) -> Result<Tally, ClientError>
    where
        S: Stream<Item = Vec<pb::VawgRecord>>,
    {
        let in_flight = in_flight.max(1);
        let mut source = std::pin::pin!(chunks.filter(|c| futures::future::ready(!c.is_empty())));
        let mut source_done = false;
        let mut pending: VecDeque<(u64, Vec<pb::VawgRecord>)> = VecDeque::new();
        let mut next_seq = 0u64;
        let mut tally = Tally::default();
        let (mut failures, mut refreshed) = (0u32, false);
        loop {
            // Fill the window before opening, so the hub has work as soon as the stream opens.
            while !source_done && pending.len() < in_flight {
                match source.next().await {
                    Some(c) => {
                        pending.push_back((next_seq, c));
                        next_seq += 1;
                    }
                    None => source_done = true,
                }
            }
            if pending.is_empty() {
                return Ok(tally);
            }
            let (tx, rx) = tokio::sync::mpsc::channel(in_flight);
            for (_, c) in &pending {
                // The channel holds `in_flight` and the window is at most that: never full.
                let _ = tx.try_send(pb::StreamRecordsRequest { records: c.clone() });
            }
            let mut tx = Some(tx);
            let attempt = match self.ingest().stream_records(ReceiverStream::new(rx)).await {
                Err(s) => Attempt::Failed(s),
                Ok(response) => {
                    let mut responses = response.into_inner();
                    let mut expected = 0u64;
                    loop {
                        if source_done {
                            // Close our side: the hub answers what it has, then ends.
                            tx = None;
                            if pending.is_empty() {
                                break Attempt::Done;
                            }
                        }
                        tokio::select! {
                            biased;
                            ack = responses.next() => match ack {
                                Some(Ok(ack)) => {
                                    let Some((seq, records)) = pending.pop_front() else {
                                        break Attempt::Failed(Status::internal(
                                            "the hub acknowledged a chunk that was not sent",
                                        ));
                                    };
                                    if ack.chunk != expected || ack.results.len() != records.len() {
                                        break Attempt::Failed(Status::internal(format!(
                                            "the hub acknowledged chunk {} with {} results; expected chunk {expected} with {}",
                                            ack.chunk,
                                            ack.results.len(),
                                            records.len()
                                        )));
                                    }
                                    expected += 1;
                                    (failures, refreshed) = (0, false);
                                    if let Some(s) = &ack.summary {
                                        tally.add(s);
                                    }
                                    on_ack(Ack {
                                        seq,
                                        records: &records,
                                        results: &ack.results,
                                        audit_receipt: ack.audit_receipt.as_ref(),
                                    });
                                }
                                Some(Err(s)) => break Attempt::Failed(s),
                                None => break Attempt::Failed(Status::unavailable(
                                    "the hub ended the stream before acknowledging every chunk",
                                )),
                            },
                            next = source.next(), if !source_done && pending.len() < in_flight => match next {
                                Some(c) => {
                                    if let Some(tx) = &tx {
                                        // A closed channel means the call failed: the
                                        // response side reports why, and the chunk is resent.
                                        let _ = tx.try_send(pb::StreamRecordsRequest { records: c.clone() });
                                    }
                                    pending.push_back((next_seq, c));
                                    next_seq += 1;
                                }
                                None => source_done = true,
                            },
                        }
                    }
                }
            };
            drop(tx);
            match attempt {
                Attempt::Done => return Ok(tally),
                Attempt::Failed(s) => {
                    tracing::warn!(code = ?s.code(), unacknowledged = pending.len(), "record stream broke");
                    self.pause_or_fail(s, &mut failures, &mut refreshed).await?;
                }
            }
        }
    }

    /// After a failed call: waits and returns `Ok` when it is worth trying again (a transient
    /// failure within the retry budget, or a refused token that the provider has just
    /// refreshed), or returns the failure.
    pub(crate) async fn pause_or_fail(
        &self,
        status: Status,
        failures: &mut u32,
        refreshed: &mut bool,
    ) -> Result<(), ClientError> {
        if status.code() == tonic::Code::Unauthenticated && self.token.refreshes() && !*refreshed {
            *refreshed = true;
            self.token.refresh()?;
            return Ok(());
        }
        if retryable(&status) && *failures < self.retry.max_retries {
            *failures += 1;
            let wait = self.retry.backoff(*failures);
            tracing::warn!(code = ?status.code(), attempt = *failures, ?wait, "retrying after a transient failure");
            tokio::time::sleep(wait).await;
            return Ok(());
        }
        Err(status.into())
    }
}
