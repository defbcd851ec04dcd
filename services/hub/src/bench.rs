//! `vawg-hub bench ingest`: records per second through `StreamRecords` — real gRPC on loopback,
//! validation, classification, pseudonymisation, one transaction per chunk — beside a baseline
//! measured in the same run on the same database: the same rows loaded the fastest way the
//! database offers (PostgreSQL `COPY … FROM STDIN`; on SQLite one transaction of multi-row
//! inserts), into a scratch copy of the records table with the same indexes.
//!
//! The ingest service runs alone behind [`vawg_ingest::loopback::LoopbackCaller`] (the caller
//! named by a header), so the figure measures ingest and storage, not the TLS handshake. Records
//! come from [`crate::synth`], with source ids made unique per run so that rerunning against
//! the same database measures fresh inserts, not duplicates.

use std::{collections::BTreeSet, path::PathBuf, sync::Arc, time::Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{metadata::MetadataValue, transport::Server};
use vawg_hub::{
    identity::{CallerIdentity, scope},
    pb::{
        self, ingest_service_client::IngestServiceClient,
        ingest_service_server::IngestServiceServer,
    },
};
use vawg_ingest::{
    IngestApi, IngestLimits,
    loopback::{AGENCY_HEADER, LoopbackCaller},
};
use vawg_store::{Backend, Store};

use crate::{config::Settings, synth};

/// `vawg-hub bench …`
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Ingest throughput against a bulk-load baseline.
    Ingest(BenchIngestArgs),
    /// Notification latency, ingest commit to subscriber receipt.
    Notify(crate::bench_notify::BenchNotifyArgs),
}

/// Options of `vawg-hub bench ingest`.
#[derive(Debug, clap::Args)]
pub struct BenchIngestArgs {
    /// Database URL (`sqlite://…` or `postgres://…`); migrated if needed.
    #[arg(long)]
    pub database: String,
    /// Number of records.
    #[arg(long, default_value_t = 20_000)]
    pub records: usize,
    /// Records per stream chunk (one transaction each).
    #[arg(long, default_value_t = 500)]
    pub chunk: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The figures of one run.
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
    /// Seconds for the baseline load.
    pub baseline_seconds: f64,
    /// Records per second of the baseline.
    pub baseline_records_per_second: f64,
    /// `stream_records_per_second / baseline_records_per_second`.
    pub ratio: f64,
}

/// Runs a bench command.
pub async fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Notify(args) => crate::bench_notify::run(&args).await,
        BenchCommand::Ingest(args) => {
            let report = ingest(&args).await?;
            println!(
                "ingest benchmark ({}): {} records in chunks of {} over {} streams",
                report.backend, report.records, report.chunk, report.streams
            );
            println!(
                "  StreamRecords: {:>10.0} records/s ({:.2} s, {} accepted)",
                report.stream_records_per_second, report.stream_seconds, report.accepted
            );
            println!(
                "  baseline:      {:>10.0} records/s ({:.2} s, {})",
                report.baseline_records_per_second, report.baseline_seconds, report.baseline
            );
            println!(
                "  ratio:         {:>10.2} (StreamRecords / baseline)",
                report.ratio
            );
            if let Some(path) = &args.json {
                std::fs::write(path, serde_json::to_vec_pretty(&report)?)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(())
        }
    }
}

/// Measures ingest against the baseline.
pub async fn ingest(args: &BenchIngestArgs) -> anyhow::Result<IngestBenchReport> {
    anyhow::ensure!(
        args.records > 0 && args.chunk > 0,
        "--records and --chunk must be positive"
    );
    let store = Store::connect(&args.database).await.context("connecting")?;
    store.migrate().await.context("migrating")?;
    let settings = Settings {
        database_url: args.database.clone(),
        ..Settings::default()
    };
    let keyring = match crate::keys::load_keyring(&settings) {
        Ok(k) => k,
        // A benchmark on PostgreSQL without a configured key uses a throwaway one.
        Err(_) => vawg_hub::pseudonym::Keyring::new(vec![vawg_hub::pseudonym::PseudonymKey::new(
            "bench",
            rand::random::<[u8; 32]>().to_vec(),
        )?])?,
    };
    let definitions = Arc::new(crate::app::load_definitions(None)?);
    // The real firewall (embedded policies), auditing every chunk as in production, signing
    // heads with a throwaway key.
    let audit_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let firewall = vawg_firewall::Firewall::new(
        store.clone(),
        vawg_firewall::engine::PolicyEngine::embedded()?,
        vawg_firewall::audit::HeadSigner::from_pem(&audit_key.serialize_pem())?,
    )
    .await?;
    let api = IngestApi::new(
        store.clone(),
        definitions,
        Arc::new(keyring),
        IngestLimits {
            max_batch_records: args.chunk.max(1000),
            max_stream_records: u64::MAX,
        },
        firewall,
    );

    // Records: synthetic journeys until there are enough, with run-unique source ids.
    let mut journeys = args.records / 4 + 10;
    let data = loop {
        let d = synth::generate(journeys, 1);
        if d.records.len() >= args.records {
            break d;
        }
        journeys *= 2;
    };
    let run = uuid::Uuid::new_v4().simple().to_string();
    let mut records: Vec<pb::VawgRecord> = data.records.into_iter().take(args.records).collect();
    for r in &mut records {
        r.source_record_id = format!("{}-{}", &run[..12], r.source_record_id);
    }
    let callers: Vec<CallerIdentity> = data
        .agencies
        .iter()
        .map(|a| CallerIdentity {
            agency_id: a.id.clone(),
            agency_kind: a.kind,
            scopes: BTreeSet::from([scope::RECORDS_WRITE.to_string()]),
            areas: a.areas.clone(),
        })
        .collect();

    // Baseline rows: exactly what ingest would store, prepared outside the timed section.
    let mut baseline_rows = Vec::new();
    for caller in &callers {
        let mine: Vec<pb::VawgRecord> = records
            .iter()
            .filter(|r| r.source_agency_id == caller.agency_id)
            .cloned()
            .collect();
        let rows: Vec<_> = api
            .prepare(caller, mine)
            .into_iter()
            .filter_map(Result::ok)
            .map(|v| v.row)
            .collect();
        if !rows.is_empty() {
            baseline_rows.push((caller.agency_id.clone(), rows));
        }
    }

    // The service on loopback.
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = IngestServiceServer::new(api).max_decoding_message_size(64 * 1024 * 1024);
    let server = tokio::spawn(
        Server::builder()
            .add_service(tonic::service::interceptor::InterceptedService::new(
                service,
                LoopbackCaller::new(callers.clone()),
            ))
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stop_rx.await;
            }),
    );
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;

    let started = Instant::now();
    let mut streams = Vec::new();
    for caller in &callers {
        let mine: Vec<pb::VawgRecord> = records
            .iter()
            .filter(|r| r.source_agency_id == caller.agency_id)
            .cloned()
            .collect();
        if mine.is_empty() {
            continue;
        }
        let chunks: Vec<pb::StreamRecordsRequest> = mine
            .chunks(args.chunk)
            .map(|c| pb::StreamRecordsRequest {
                records: c.to_vec(),
            })
            .collect();
        let mut client = IngestServiceClient::new(channel.clone())
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024);
        let agency: MetadataValue<_> = caller.agency_id.parse()?;
        streams.push(tokio::spawn(async move {
            let mut request = tonic::Request::new(tokio_stream::iter(chunks));
            request.metadata_mut().insert(AGENCY_HEADER, agency);
            let mut acks = client.stream_records(request).await?.into_inner();
            let mut accepted = 0u64;
            let mut rejected = 0u64;
            while let Some(ack) = acks.message().await? {
                let s = ack.summary.unwrap_or_default();
                accepted += u64::from(s.accepted + s.superseded);
                rejected += u64::from(s.rejected + s.stale);
            }
            anyhow::Ok((accepted, rejected))
        }));
    }
    let n_streams = streams.len();
    let mut accepted = 0;
    let mut rejected = 0;
    for s in streams {
        let (a, r) = s.await??;
        accepted += a;
        rejected += r;
    }
    let stream_seconds = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    server.await??;
    anyhow::ensure!(rejected == 0, "{rejected} synthetic records were refused");

    let mut baseline_seconds = 0.0;
    for (agency, rows) in &baseline_rows {
        baseline_seconds += store.bulk_load_baseline(agency, rows).await?.as_secs_f64();
    }
    let backend = store.backend();
    store.close().await;
    let n = records.len() as f64;
    let stream_rate = n / stream_seconds;
    let baseline_rate = n / baseline_seconds;
    Ok(IngestBenchReport {
        backend: match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
        .into(),
        records: records.len(),
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
        baseline_seconds,
        baseline_records_per_second: baseline_rate,
        ratio: stream_rate / baseline_rate,
    })
}
