//! `vawg-hub bench ingest` measures records per second through `StreamRecords` over the real
//! path — a full hub with mutual TLS, tokens, the registry, the firewall gate, the audit log,
//! validation, classification, pseudonymisation, aggregate maintenance and the notifications
//! outbox, one transaction per chunk — one stream per agency, all at once. Its baseline is the
//! same rows loaded the fastest way the database offers (PostgreSQL `COPY … FROM STDIN`; on
//! SQLite one transaction of multi-row inserts) into a scratch copy of the records table with
//! the same indexes. Records are generated lazily, block by block, while they stream, so the
//! process's resident memory (sampled from `/proc/self/status` throughout) shows whether the
//! hub's memory grows with volume.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Serialize;
use tokio::sync::mpsc;
use vawg_proto::pb::{self, ingest_service_client::IngestServiceClient};
use vawg_store::Backend;

use super::{
    backend_name,
    blocks::{BLOCK_JOURNEYS, Blocks, bench_ingest_api, prepare_rows},
    hub::{Authed, BenchHub, rss_kib},
};
use crate::synth::SynthAgency;

/// Options of `vawg-hub bench ingest`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchIngestArgs {
    /// Database URL (`sqlite://…` or `postgres://…`, migrated if needed); default a temporary
    /// SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Number of records.
    #[arg(long, default_value_t = 20_000)]
    pub records: usize,
    /// Records per stream chunk (one transaction each).
    #[arg(long, default_value_t = 1000)]
    pub chunk: usize,
    /// At most this many records go into the baseline load (its rate is per record).
    #[arg(long, default_value_t = 50_000)]
    pub baseline_records: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One resident-memory sample.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RssSample {
    /// Records acknowledged when sampled.
    pub records: u64,
    /// Resident memory, MiB.
    pub rss_mib: f64,
}

/// The figures of one ingest run.
#[derive(Debug, Serialize)]
pub struct IngestBenchReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Records streamed.
    pub records: usize,
    /// Records per chunk.
    pub chunk: usize,
    /// Concurrent streams (one per agency).
    pub streams: usize,
    /// Records accepted (all, on a fresh run).
    pub accepted: u64,
    /// Seconds for all streams.
    pub stream_seconds: f64,
    /// Records per second through `StreamRecords`.
    pub stream_records_per_second: f64,
    /// What the baseline is.
    pub baseline: String,
    /// Records in the baseline load.
    pub baseline_records: usize,
    /// Seconds for the baseline load.
    pub baseline_seconds: f64,
    /// Records per second of the baseline.
    pub baseline_records_per_second: f64,
    /// `stream_records_per_second / baseline_records_per_second`.
    pub ratio: f64,
    /// Seconds after the last acknowledgement until the aggregates had caught up (the
    /// aggregator runs beside ingest; see `vawg_store::aggregator`).
    pub settle_seconds: f64,
    /// Records per second until acknowledged *and* aggregated.
    pub aggregated_records_per_second: f64,
    /// `aggregated_records_per_second / baseline_records_per_second`.
    pub aggregated_ratio: f64,
    /// Resident memory through the run (about twenty samples, by records acknowledged).
    pub rss: Vec<RssSample>,
    /// Resident memory at the end minus at a quarter of the way, MiB: near zero when memory
    /// is flat with volume.
    pub rss_growth_mib: f64,
}

impl IngestBenchReport {
    /// Prints the figures.
    pub fn print(&self) {
        println!(
            "ingest benchmark ({}): {} records in chunks of {} over {} streams (mTLS + JWT + firewall + audit)",
            self.backend, self.records, self.chunk, self.streams
        );
        println!(
            "  StreamRecords: {:>10.0} records/s ({:.2} s, {} accepted)",
            self.stream_records_per_second, self.stream_seconds, self.accepted
        );
        println!(
            "  baseline:      {:>10.0} records/s ({:.2} s for {} records, {})",
            self.baseline_records_per_second,
            self.baseline_seconds,
            self.baseline_records,
            self.baseline
        );
        println!(
            "  ratio:         {:>10.3} (StreamRecords / baseline)",
            self.ratio
        );
        println!(
            "  aggregated:    {:>10.0} records/s (aggregates caught up {:.2} s after the last ack; ratio {:.3})",
            self.aggregated_records_per_second, self.settle_seconds, self.aggregated_ratio
        );
        let rss: Vec<String> = self
            .rss
            .iter()
            .map(|s| format!("{}k:{:.0}", s.records / 1000, s.rss_mib))
            .collect();
        println!(
            "  resident MiB by records: {} (growth after the first quarter {:+.1} MiB)",
            rss.join(" "),
            self.rss_growth_mib
        );
    }
}

/// One stream per agency: where to send its chunks.
type Senders = BTreeMap<String, mpsc::Sender<pb::StreamRecordsRequest>>;
/// An agency's stream: records accepted, records refused, and the first refusal's reasons.
type StreamOutcome = tokio::task::JoinHandle<anyhow::Result<(u64, u64, Option<String>)>>;

/// Measures ingest against the baseline.
pub async fn ingest(args: &BenchIngestArgs) -> anyhow::Result<IngestBenchReport> {
    anyhow::ensure!(
        args.records > 0 && args.chunk > 0,
        "--records and --chunk must be positive"
    );
    let hub = BenchHub::start(args.database.as_deref()).await?;
    let agencies = Blocks::agencies();

    // One authenticated stream per agency, fed chunk by chunk from the generator.
    let acked = Arc::new(AtomicU64::new(0));
    let (senders, streams) = open_streams(&hub, &agencies, &acked).await?;
    let target = args.records as u64;
    let sampler = sample_rss(acked.clone(), target);

    let started = Instant::now();
    let (sent, baseline_source) = feed(args, senders).await?;
    let n_streams = streams.len();
    let (mut accepted, mut rejected, mut refusal) = (0, 0, None);
    for s in streams {
        let (a, r, f) = s.await??;
        accepted += a;
        rejected += r;
        refusal = refusal.or(f);
    }
    let stream_seconds = started.elapsed().as_secs_f64();
    hub.store.settle_aggregates().await?;
    let settle_seconds = started.elapsed().as_secs_f64() - stream_seconds;
    let mut rss = sampler.await?;
    if let Some(kib) = rss_kib() {
        rss.push(RssSample {
            records: acked.load(Ordering::Relaxed),
            rss_mib: kib as f64 / 1024.0,
        });
    }
    anyhow::ensure!(
        rejected == 0,
        "{rejected} synthetic records were refused (first: {})",
        refusal.unwrap_or_default()
    );

    let baseline_records = baseline_source.len();
    let baseline_seconds = baseline(&hub, &agencies, baseline_source).await?;
    let backend = hub.store.backend();
    hub.stop().await?;

    let quarter = rss
        .iter()
        .find(|s| s.records >= target / 4)
        .map(|s| s.rss_mib)
        .unwrap_or_default();
    let rss_growth_mib = rss.last().map(|s| s.rss_mib).unwrap_or_default() - quarter;
    let stream_rate = sent as f64 / stream_seconds;
    let baseline_rate = baseline_records as f64 / baseline_seconds;
    Ok(IngestBenchReport {
        backend: backend_name(backend).into(),
        records: sent,
        chunk: args.chunk,
        streams: n_streams,
        accepted,
        stream_seconds,
        stream_records_per_second: stream_rate,
        baseline: match backend {
            Backend::Sqlite => "SQLite: one transaction of multi-row INSERTs",
            Backend::Postgres => "PostgreSQL: COPY FROM STDIN",
        }
        .into(),
        baseline_records,
        baseline_seconds,
        baseline_records_per_second: baseline_rate,
        ratio: stream_rate / baseline_rate,
        settle_seconds,
        aggregated_records_per_second: sent as f64 / (stream_seconds + settle_seconds),
        aggregated_ratio: sent as f64 / (stream_seconds + settle_seconds) / baseline_rate,
        rss,
        rss_growth_mib,
    })
}

/// Registers every agency and opens its authenticated stream; `acked` counts the records
/// acknowledged over all streams.
async fn open_streams(
    hub: &BenchHub,
    agencies: &[SynthAgency],
    acked: &Arc<AtomicU64>,
) -> anyhow::Result<(Senders, Vec<StreamOutcome>)> {
    let mut senders = BTreeMap::new();
    let mut streams = Vec::new();
    for a in agencies {
        let channel = hub.agency(&a.id, a.kind, &a.areas).await?;
        let (tx, rx) = mpsc::channel::<pb::StreamRecordsRequest>(2);
        senders.insert(a.id.clone(), tx);
        let client = IngestServiceClient::new(channel)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        streams.push(tokio::spawn(stream(client, rx, acked.clone())));
    }
    Ok((senders, streams))
}

/// One agency's stream: sends what arrives on `rx`, counts the acknowledgements.
async fn stream(
    mut client: IngestServiceClient<Authed>,
    rx: mpsc::Receiver<pb::StreamRecordsRequest>,
    acked: Arc<AtomicU64>,
) -> anyhow::Result<(u64, u64, Option<String>)> {
    let mut acks = client
        .stream_records(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await?
        .into_inner();
    let (mut accepted, mut rejected) = (0u64, 0u64);
    let mut first_refusal = None;
    while let Some(ack) = acks.message().await? {
        let s = ack.summary.unwrap_or_default();
        accepted += u64::from(s.accepted + s.superseded);
        rejected += u64::from(s.rejected + s.stale);
        if first_refusal.is_none() {
            first_refusal = ack
                .results
                .iter()
                .find(|r| !r.violations.is_empty())
                .map(|r| format!("{:?}", r.violations));
        }
        acked.fetch_add(
            u64::from(s.accepted + s.superseded + s.duplicate + s.rejected + s.stale),
            Ordering::Relaxed,
        );
    }
    anyhow::Ok((accepted, rejected, first_refusal))
}

/// Resident memory, sampled about twenty times by records acknowledged, until `target`.
fn sample_rss(acked: Arc<AtomicU64>, target: u64) -> tokio::task::JoinHandle<Vec<RssSample>> {
    tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut next = 0u64;
        loop {
            let done = acked.load(Ordering::Relaxed);
            if done >= next {
                if let Some(kib) = rss_kib() {
                    samples.push(RssSample {
                        records: done,
                        rss_mib: kib as f64 / 1024.0,
                    });
                }
                next = done + (target / 20).max(1);
            }
            if done >= target {
                break samples;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// Generates `--records` records block by block and sends them in chunks by agency, then
/// closes every stream. Returns the records sent and the first of them for the baseline.
async fn feed(
    args: &BenchIngestArgs,
    senders: Senders,
) -> anyhow::Result<(usize, Vec<pb::VawgRecord>)> {
    let mut blocks = Blocks::new(BLOCK_JOURNEYS);
    let mut pending: BTreeMap<String, Vec<pb::VawgRecord>> = BTreeMap::new();
    let mut sent = 0usize;
    let mut baseline_source = Vec::new();
    while sent < args.records {
        let block = blocks.next_block();
        for r in block.records {
            if sent == args.records {
                break;
            }
            sent += 1;
            if baseline_source.len() < args.baseline_records {
                baseline_source.push(r.clone());
            }
            let buf = pending.entry(r.source_agency_id.clone()).or_default();
            buf.push(r);
            if buf.len() >= args.chunk {
                let agency = buf[0].source_agency_id.clone();
                let records = std::mem::take(buf);
                send(&senders, &agency, records).await?;
            }
        }
    }
    for (agency, records) in std::mem::take(&mut pending) {
        if !records.is_empty() {
            send(&senders, &agency, records).await?;
        }
    }
    drop(senders);
    Ok((sent, baseline_source))
}

/// The baseline: the first records, prepared as ingest would store them (outside the
/// timing), bulk-loaded by agency. Returns the seconds the loads took.
async fn baseline(
    hub: &BenchHub,
    agencies: &[SynthAgency],
    records: Vec<pb::VawgRecord>,
) -> anyhow::Result<f64> {
    let api = bench_ingest_api(hub)?;
    let rows = prepare_rows(&api, agencies, records)?;
    let mut seconds = 0.0;
    for (agency, rows) in &rows {
        seconds += hub
            .store
            .bulk_load_baseline(agency, rows)
            .await?
            .as_secs_f64();
    }
    Ok(seconds)
}

async fn send(senders: &Senders, agency: &str, records: Vec<pb::VawgRecord>) -> anyhow::Result<()> {
    senders
        .get(agency)
        .with_context(|| format!("no stream for agency {agency}"))?
        .send(pb::StreamRecordsRequest { records })
        .await
        .map_err(|_| anyhow::anyhow!("the stream of {agency} ended early"))
}
