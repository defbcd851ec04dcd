//! Uploads: `SubmitBatch` in batches, and `StreamRecords` with bounded in-flight chunks
//! (backpressure) that survives a dropped connection by resending every chunk not yet
//! acknowledged — safe because ingest is idempotent (a resent record comes back DUPLICATE).

use std::{collections::VecDeque, pin::Pin};

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

/// Counts over the whole upload, across reconnections.
#[derive(Default)]
struct Progress {
    tally: Tally,
    /// Consecutive failures (reset by an acknowledgement).
    failures: u32,
    /// Whether the token was refreshed since the last acknowledgement.
    refreshed: bool,
}

/// The chunks sent and not yet acknowledged, oldest first, with their sequence numbers.
struct Window {
    pending: VecDeque<(u64, Vec<pb::VawgRecord>)>,
    next_seq: u64,
    in_flight: usize,
    /// The source has no more chunks.
    source_done: bool,
}

impl Window {
    fn new(in_flight: usize) -> Window {
        Window {
            pending: VecDeque::new(),
            next_seq: 0,
            in_flight: in_flight.max(1),
            source_done: false,
        }
    }

    /// Room for another chunk, and the source may have one.
    fn wants_more(&self) -> bool {
        !self.source_done && self.pending.len() < self.in_flight
    }

    /// Pulls chunks from `source` until the window is full or the source is done.
    async fn fill<S>(&mut self, source: &mut Pin<&mut S>)
    where
        S: Stream<Item = Vec<pb::VawgRecord>>,
    {
        while self.wants_more() {
            match source.next().await {
                Some(c) => self.push(c),
                None => self.source_done = true,
            }
        }
    }

    fn push(&mut self, chunk: Vec<pb::VawgRecord>) {
        self.pending.push_back((self.next_seq, chunk));
        self.next_seq += 1;
    }

    /// Sends `chunk` on the open stream (if our side is still open) and holds it until it
    /// is acknowledged.
    fn send(
        &mut self,
        tx: Option<&tokio::sync::mpsc::Sender<pb::StreamRecordsRequest>>,
        chunk: Vec<pb::VawgRecord>,
    ) {
        if let Some(tx) = tx {
            // A closed channel means the call failed: the response side reports why, and the
            // chunk is resent.
            let _ = tx.try_send(pb::StreamRecordsRequest {
                records: chunk.clone(),
            });
        }
        self.push(chunk);
    }

    /// Matches an acknowledgement to the oldest chunk in flight, counts it and hands it to
    /// `on_ack`; fails when it does not match what was sent.
    fn acknowledge(
        &mut self,
        ack: &pb::StreamRecordsResponse,
        expected: &mut u64,
        progress: &mut Progress,
        on_ack: &mut impl FnMut(Ack<'_>),
    ) -> Result<(), Status> {
        let Some((seq, records)) = self.pending.pop_front() else {
            return Err(Status::internal(
                "the hub acknowledged a chunk that was not sent",
            ));
        };
        if ack.chunk != *expected || ack.results.len() != records.len() {
            return Err(Status::internal(format!(
                "the hub acknowledged chunk {} with {} results; expected chunk {expected} with {}",
                ack.chunk,
                ack.results.len(),
                records.len()
            )));
        }
        *expected += 1;
        (progress.failures, progress.refreshed) = (0, false);
        if let Some(s) = &ack.summary {
            progress.tally.add(s);
        }
        on_ack(Ack {
            seq,
            records: &records,
            results: &ack.results,
            audit_receipt: ack.audit_receipt.as_ref(),
        });
        Ok(())
    }
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
        let mut source = std::pin::pin!(chunks.filter(|c| futures::future::ready(!c.is_empty())));
        let mut window = Window::new(in_flight);
        let mut progress = Progress::default();
        loop {
            // Fill the window before opening, so the hub has work as soon as the stream opens.
            window.fill(&mut source).await;
            if window.pending.is_empty() {
                return Ok(progress.tally);
            }
            match self
                .stream_attempt(&mut source, &mut window, &mut progress, &mut on_ack)
                .await
            {
                Attempt::Done => return Ok(progress.tally),
                Attempt::Failed(s) => {
                    tracing::warn!(code = ?s.code(), unacknowledged = window.pending.len(), "record stream broke");
                    self.pause_or_fail(s, &mut progress.failures, &mut progress.refreshed)
                        .await?;
                }
            }
        }
    }

    /// One stream: sends the window, then takes acknowledgements and sends further chunks as
    /// the window frees, until every chunk is acknowledged or the stream fails.
    async fn stream_attempt<S>(
        &self,
        source: &mut Pin<&mut S>,
        window: &mut Window,
        progress: &mut Progress,
        on_ack: &mut impl FnMut(Ack<'_>),
    ) -> Attempt
    where
        S: Stream<Item = Vec<pb::VawgRecord>>,
    {
        let (tx, rx) = tokio::sync::mpsc::channel(window.in_flight);
        for (_, c) in &window.pending {
            // The channel holds `in_flight` and the window is at most that: never full.
            let _ = tx.try_send(pb::StreamRecordsRequest { records: c.clone() });
        }
        let mut tx = Some(tx);
        let mut responses = match self.ingest().stream_records(ReceiverStream::new(rx)).await {
            Err(s) => return Attempt::Failed(s),
            Ok(response) => response.into_inner(),
        };
        let mut expected = 0u64;
        loop {
            if window.source_done {
                // Close our side: the hub answers what it has, then ends.
                tx = None;
                if window.pending.is_empty() {
                    return Attempt::Done;
                }
            }
            tokio::select! {
                biased;
                ack = responses.next() => match ack {
                    Some(Ok(ack)) => {
                        if let Err(s) = window.acknowledge(&ack, &mut expected, progress, on_ack) {
                            return Attempt::Failed(s);
                        }
                    }
                    Some(Err(s)) => return Attempt::Failed(s),
                    None => return Attempt::Failed(Status::unavailable(
                        "the hub ended the stream before acknowledging every chunk",
                    )),
                },
                next = source.next(), if window.wants_more() => match next {
                    Some(c) => window.send(tx.as_ref(), c),
                    None => window.source_done = true,
                },
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
