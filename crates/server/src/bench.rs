//! `vawg-hub bench <ingest|query|rpc|notify|all>`: the hub's benchmarks. Each prints its
//! figure, a baseline measured in the same run on the same machine, and their ratio — on two
//! shared cores absolute figures are noise, ratios are not. See BENCHMARKS.md for the method.
//!
//! `bench ingest` measures records per second through `StreamRecords` over the real path — a
//! full hub with mutual TLS, tokens, the registry, the firewall gate, the audit log,
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
use vawg_ingest::{IngestApi, IngestLimits};
use vawg_proto::pb::{self, ingest_service_client::IngestServiceClient};
use vawg_store::{Backend, records::NewRecord};

use crate::{
    bench_hub::{BenchHub, rss_kib},
    synth::{self, SynthAgency},
};

/// `vawg-hub bench …`
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Ingest throughput against a bulk-load baseline, with resident memory sampled.
    Ingest(BenchIngestArgs),
    /// QueryMetric latency against a naive GROUP BY over the raw records.
    Query(crate::bench_query::BenchQueryArgs),
    /// Small unary RPCs per second through the full auth path against a bare TLS server.
    Rpc(crate::bench_rpc::BenchRpcArgs),
    /// Notification latency, ingest commit to subscriber receipt.
    Notify(crate::bench_notify::BenchNotifyArgs),
    /// A bounded load test: many agencies streaming at once for a fixed time (loopback only).
    Load(crate::bench_load::BenchLoadArgs),
    /// Every benchmark, one after the other, with a summary table.
    All(BenchAllArgs),
}

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

/// Options of `vawg-hub bench all`.
#[derive(Debug, clap::Args)]
pub struct BenchAllArgs {
    /// Database URL (`sqlite://…` or `postgres://…`); when it is PostgreSQL, ingest is also
    /// measured on a temporary embedded SQLite file.
    #[arg(long)]
    pub database: String,
    /// Records for the ingest benchmark.
    #[arg(long, default_value_t = 20_000)]
    pub ingest_records: usize,
    /// Records the query benchmark needs in the database (loaded if fewer are there).
    #[arg(long, default_value_t = 1_000_000)]
    pub query_records: usize,
    /// Write every figure as JSON here.
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

fn write_json(path: &Option<PathBuf>, value: &impl Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        std::fs::write(path, serde_json::to_vec_pretty(value)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Runs a bench command.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    // The hub's own warnings and errors (RUST_LOG overrides) go to stderr, beside the figures.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match cmd {
        BenchCommand::Notify(args) => crate::bench_notify::run(&args).await,
        BenchCommand::Load(args) => {
            let report = crate::bench_load::load(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::Ingest(args) => {
            let report = ingest(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::Query(args) => {
            let report = crate::bench_query::query(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::Rpc(args) => {
            let report = crate::bench_rpc::rpc(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::All(args) => all(&args).await,
    }
}

/// Every figure of `bench all`.
#[derive(Debug, Serialize)]
struct AllReport {
    ingest: Vec<IngestBenchReport>,
    rpc: crate::bench_rpc::RpcBenchReport,
    query: crate::bench_query::QueryBenchReport,
    notify: crate::bench_notify::NotifyBenchReport,
}

async fn all(args: &BenchAllArgs) -> anyhow::Result<()> {
    let mut ingests = Vec::new();
    let mut databases = vec![Some(args.database.clone())];
    if !args.database.starts_with("sqlite:") {
        databases.push(None);
    }
    for database in databases {
        let report = ingest(&BenchIngestArgs {
            database,
            records: args.ingest_records,
            chunk: 1000,
            baseline_records: 50_000,
            json: None,
        })
        .await?;
        report.print();
        ingests.push(report);
    }
    let rpc = crate::bench_rpc::rpc(&crate::bench_rpc::BenchRpcArgs {
        database: Some(args.database.clone()),
        requests: 4000,
        concurrency: 32,
        json: None,
    })
    .await?;
    rpc.print();
    let query = crate::bench_query::query(&crate::bench_query::BenchQueryArgs {
        database: args.database.clone(),
        records: args.query_records,
        iterations: 200,
        baseline_iterations: 10,
        json: None,
    })
    .await?;
    query.print();
    let notify_args = crate::bench_notify::BenchNotifyArgs {
        database: Some(args.database.clone()),
        subscribers: 100,
        rounds: 20,
        timeout_seconds: 300,
        json: None,
    };
    let notify = tokio::time::timeout(
        Duration::from_secs(notify_args.timeout_seconds),
        crate::bench_notify::notify(&notify_args),
    )
    .await
    .context("the notify benchmark did not finish in time")??;

    println!();
    println!("| benchmark | figure | baseline (same run) | ratio | target |");
    println!("|---|---|---|---|---|");
    for i in &ingests {
        println!(
            "| ingest ({}) | {:.0} records/s | {:.0} records/s ({}) | {:.3} | >= 0.5 |",
            i.backend,
            i.stream_records_per_second,
            i.baseline_records_per_second,
            i.baseline,
            i.ratio
        );
        println!(
            "| ingest + aggregation ({}) | {:.0} records/s | {:.0} records/s | {:.3} | - |",
            i.backend,
            i.aggregated_records_per_second,
            i.baseline_records_per_second,
            i.aggregated_ratio
        );
    }
    println!(
        "| rpc | {:.0} req/s | {:.0} req/s (bare tonic + mTLS) | {:.3} | >= 0.7 |",
        rpc.hub_requests_per_second, rpc.baseline_requests_per_second, rpc.ratio
    );
    println!(
        "| query ({} records) | p50 {:.2} ms, p99 {:.2} ms | p50 {:.1} ms, p99 {:.1} ms (GROUP BY) | {:.0}x (p99) | p99 < 50 ms, >= 20x |",
        query.records_in_database,
        query.hub_p50_ms,
        query.hub_p99_ms,
        query.baseline_p50_ms,
        query.baseline_p99_ms,
        query.speedup_p99
    );
    println!(
        "| notify ({} subscribers) | p99 {:.2} ms (p50 {:.2}) | - | - | < 100 ms |",
        notify.subscribers, notify.p99_ms, notify.p50_ms
    );
    for i in &ingests {
        println!(
            "| memory ({} ingest, {} records) | {:+.1} MiB after the first quarter | - | - | flat |",
            i.backend, i.records, i.rss_growth_mib
        );
    }
    write_json(
        &args.json,
        &AllReport {
            ingest: ingests,
            rpc,
            query,
            notify,
        },
    )
}

/// Synthetic records in blocks, each block a fresh [`synth::generate`] run whose identifiers
/// (source record ids, case references, family names) carry the block's tag, so blocks never
/// collide with each other or with earlier runs on the same database and entity sizes stay
/// realistic however many records are generated.
pub struct Blocks {
    run: String,
    next: u64,
    journeys: usize,
}

impl Blocks {
    /// Blocks of `journeys` journeys each, tagged with a fresh run id.
    pub fn new(journeys: usize) -> Blocks {
        let run: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .filter(char::is_ascii_alphabetic)
            .take(6)
            .collect();
        Blocks {
            run,
            next: 0,
            journeys,
        }
    }

    /// The agencies every block draws from (the same set each time).
    pub fn agencies() -> Vec<SynthAgency> {
        synth::generate(200, 0).agencies
    }

    /// The next block: agencies and records, grouped by agency in submission order.
    pub fn next_block(&mut self) -> synth::SynthData {
        let block = self.next;
        self.next += 1;
        let mut data = synth::generate(self.journeys, block + 1);
        let tag = format!("{}{}", self.run, letters(block));
        for r in &mut data.records {
            r.source_record_id = format!("{tag}-{}", r.source_record_id);
            if let Some(c) = r.case_references.as_mut() {
                for reference in [
                    &mut c.police_crime_reference,
                    &mut c.cps_urn,
                    &mut c.court_case_number,
                ] {
                    if !reference.is_empty() {
                        reference.push('/');
                        reference.push_str(&tag);
                    }
                }
            }
            for person in [r.victim.as_mut(), r.suspect.as_mut()]
                .into_iter()
                .flatten()
            {
                if let Some(ids) = person.identifiers.as_mut() {
                    if !ids.family_name.is_empty() {
                        ids.family_name.push('-');
                        ids.family_name.push_str(&tag);
                    }
                    if !ids.pnc_id.is_empty() {
                        ids.pnc_id.push('/');
                        ids.pnc_id.push_str(&tag);
                    }
                }
            }
        }
        data
    }
}

/// `n` written in letters (a, b, …, z, ba, …): a tag that survives name normalisation.
fn letters(mut n: u64) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Journeys per generated block (about 5,000 records).
const BLOCK_JOURNEYS: usize = 1_000;

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
    let mut senders = BTreeMap::new();
    let mut streams = Vec::new();
    for a in &agencies {
        let channel = hub.agency(&a.id, a.kind, &a.areas).await?;
        let (tx, rx) = mpsc::channel::<pb::StreamRecordsRequest>(2);
        senders.insert(a.id.clone(), tx);
        let mut client = IngestServiceClient::new(channel)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        let acked = acked.clone();
        streams.push(tokio::spawn(async move {
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
        }));
    }

    // Resident memory, sampled by records acknowledged.
    let target = args.records as u64;
    let sampler = {
        let acked = acked.clone();
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
    };

    let started = Instant::now();
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

    // The baseline: the first records, prepared as ingest would store them, outside the timing.
    let store = hub.store.clone();
    let api = bench_ingest_api(&hub)?;
    let baseline_records = baseline_source.len();
    let rows = prepare_rows(&api, &agencies, baseline_source)?;
    let mut baseline_seconds = 0.0;
    for (agency, rows) in &rows {
        baseline_seconds += store.bulk_load_baseline(agency, rows).await?.as_secs_f64();
    }
    let backend = store.backend();
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

async fn send(
    senders: &BTreeMap<String, mpsc::Sender<pb::StreamRecordsRequest>>,
    agency: &str,
    records: Vec<pb::VawgRecord>,
) -> anyhow::Result<()> {
    senders
        .get(agency)
        .with_context(|| format!("no stream for agency {agency}"))?
        .send(pb::StreamRecordsRequest { records })
        .await
        .map_err(|_| anyhow::anyhow!("the stream of {agency} ended early"))
}

/// `sqlite` or `postgres`.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// An ingest service over the bench hub's store, keyring and firewall, for preparing rows
/// (validation, classification, pseudonymisation) and for bulk loads that skip gRPC.
pub fn bench_ingest_api(hub: &BenchHub) -> anyhow::Result<IngestApi> {
    Ok(IngestApi::new(
        hub.store.clone(),
        Arc::new(crate::app::load_definitions(None)?),
        Arc::new(crate::keys::load_keyring(&hub.settings)?),
        IngestLimits {
            max_batch_records: 100_000,
            max_stream_records: u64::MAX,
        },
        hub.firewall.clone(),
    ))
}

/// Validates, classifies and pseudonymises `records` as ingest would, by agency; every
/// synthetic record must pass.
pub fn prepare_rows(
    api: &IngestApi,
    agencies: &[SynthAgency],
    records: Vec<pb::VawgRecord>,
) -> anyhow::Result<Vec<(String, Vec<NewRecord>)>> {
    let mut by_agency: BTreeMap<String, Vec<pb::VawgRecord>> = BTreeMap::new();
    for r in records {
        by_agency
            .entry(r.source_agency_id.clone())
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for a in agencies {
        let Some(mine) = by_agency.remove(&a.id) else {
            continue;
        };
        let caller = vawg_domain::identity::CallerIdentity {
            agency_id: a.id.clone(),
            agency_kind: a.kind,
            scopes: [vawg_domain::identity::scope::RECORDS_WRITE.to_string()].into(),
            areas: a.areas.clone(),
        };
        let mut rows = Vec::with_capacity(mine.len());
        for prepared in api.prepare(&caller, mine) {
            match prepared {
                Ok(v) => rows.push(v.row),
                Err(violations) => anyhow::bail!("a synthetic record was refused: {violations:?}"),
            }
        }
        out.push((a.id.clone(), rows));
    }
    anyhow::ensure!(
        by_agency.is_empty(),
        "records of agencies outside the synthetic set"
    );
    Ok(out)
}

/// Loads `records` records through the store's ingest path (one transaction per chunk with the
/// outbox and aggregate queue maintained, as over gRPC, but without the RPC), printing
/// progress; returns once the aggregates have caught up.
pub async fn bulk_load(hub: &BenchHub, records: usize, chunk: usize) -> anyhow::Result<()> {
    let api = bench_ingest_api(hub)?;
    let agencies = Blocks::agencies();
    let mut blocks = Blocks::new(BLOCK_JOURNEYS * 4);
    let started = Instant::now();
    let mut loaded = 0usize;
    let mut last_report = 0usize;
    while loaded < records {
        let data = blocks.next_block();
        let mut block = data.records;
        block.truncate(records - loaded);
        let n = block.len();
        for (agency, rows) in prepare_rows(&api, &agencies, block)? {
            for part in rows.chunks(chunk) {
                hub.store
                    .ingest(&agency, part.to_vec())
                    .await
                    .context("bulk loading")?;
            }
        }
        loaded += n;
        if loaded - last_report >= 100_000 || loaded == records {
            last_report = loaded;
            // What autovacuum would do (test servers often run without it): without fresh
            // statistics PostgreSQL's plans for the aggregate refresh fall back to full scans.
            if let vawg_store::Pool::Postgres(p) = hub.store.pool() {
                sqlx::query("ANALYZE records, agg_queue, agg_entities, agg_counts")
                    .execute(p)
                    .await?;
            }
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "  loaded {loaded} records in {secs:.0} s ({:.0} records/s, resident {:.0} MiB)",
                loaded as f64 / secs,
                rss_kib().unwrap_or_default() as f64 / 1024.0
            );
        }
    }
    hub.store
        .settle_aggregates()
        .await
        .context("aggregating the loaded records")?;
    eprintln!(
        "  aggregated {loaded} records in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
