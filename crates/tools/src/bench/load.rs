//! `vawg-hub bench load`: a bounded load test. Many agencies stream records at once, each over
//! its own mutual-TLS connection with its own token, through the full hub (firewall gate,
//! audit log, validation, pseudonymisation, aggregates, outbox) for a fixed time; then the
//! records stored are counted against the records acknowledged (zero loss), and the figures
//! printed: records per second, chunk-acknowledgement latency (p50, p99, max) and the peak
//! resident memory of the process (the hub and the load generator share it: the generator's
//! share is small and constant — one chunk buffer per agency).
//!
//! Loopback only: the hub listens on 127.0.0.1 and a database URL must name a loopback host.

use std::{
    collections::VecDeque,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context;
use serde::Serialize;
use tokio::sync::mpsc;
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb::{self, ingest_service_client::IngestServiceClient, vawg_record::Event};

use super::{
    backend_name,
    hub::{Authed, BenchHub, percentile, rss_kib},
};

/// Options of `vawg-hub bench load`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchLoadArgs {
    /// Agencies streaming at once (one connection and one stream each).
    #[arg(long, default_value_t = 16)]
    pub agencies: usize,
    /// How long they stream, in seconds.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Database URL on a loopback host (`sqlite://…` or `postgres://…@127.0.0.1…`, migrated
    /// if needed); default a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Records per chunk (one transaction each).
    #[arg(long, default_value_t = 100)]
    pub chunk: usize,
    /// Chunks each agency keeps in flight (sent, not yet acknowledged).
    #[arg(long, default_value_t = 2)]
    pub in_flight: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The figures of one load run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Agencies streaming at once.
    pub agencies: usize,
    /// Records per chunk.
    pub chunk: usize,
    /// Seconds from the first chunk sent to the last acknowledged.
    pub seconds: f64,
    /// Records acknowledged (accepted).
    pub acknowledged: u64,
    /// Records counted in the database for these agencies afterwards.
    pub stored: u64,
    /// Acknowledged records per second, all agencies together.
    pub records_per_second: f64,
    /// Chunks acknowledged.
    pub chunks: u64,
    /// Chunk acknowledgement latency (sent to acknowledged), milliseconds.
    pub ack_p50_ms: f64,
    /// 99th percentile of the same.
    pub ack_p99_ms: f64,
    /// Slowest chunk.
    pub ack_max_ms: f64,
    /// Highest resident memory of the process seen (sampled every 100 ms), MiB.
    pub peak_rss_mib: f64,
    /// Resident memory when the hub had started and the agencies connected, MiB.
    pub start_rss_mib: f64,
}

impl LoadReport {
    /// Prints the figures.
    pub fn print(&self) {
        println!(
            "load ({}): {} agencies × {:.0} s, chunks of {}: {} records acknowledged, {} stored \
             ({}); {:.0} records/s; chunk ack p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; RSS \
             {:.0} MiB at start, peak {:.0} MiB",
            self.backend,
            self.agencies,
            self.seconds,
            self.chunk,
            self.acknowledged,
            self.stored,
            if self.stored == self.acknowledged {
                "zero loss"
            } else {
                "MISMATCH"
            },
            self.records_per_second,
            self.ack_p50_ms,
            self.ack_p99_ms,
            self.ack_max_ms,
            self.start_rss_mib,
            self.peak_rss_mib
        );
    }
}

/// Whether a database URL names a loopback host (or is a SQLite file).
fn loopback_database(url: &str) -> bool {
    if url.starts_with("sqlite:") {
        return true;
    }
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    matches!(host, "127.0.0.1" | "localhost" | "::1")
}

/// A valid crime recorded by a police force in the Met's area.
fn crime(agency: &str, id: String) -> pb::VawgRecord {
    let at = |days: i64| prost_types::Timestamp {
        seconds: 1_740_819_600 + days * 86_400, // 1 March 2025, 09:00 UTC
        nanos: 0,
    };
    let person = |given: &str, family: String| pb::PersonReference {
        identifiers: Some(pb::PersonIdentifiers {
            given_name: given.into(),
            family_name: family,
            date_of_birth: Some(pb::Date {
                year: 1991,
                month: 7,
                day: 14,
            }),
            ..Default::default()
        }),
        pseudonym: String::new(),
        demographics: Some(pb::Demographics {
            sex: pb::Sex::Female as i32,
            age_at_event: Some(33),
            ethnic_group: pb::EthnicGroup::White as i32,
            ..Default::default()
        }),
    };
    pb::VawgRecord {
        source_record_id: id.clone(),
        revision: 1,
        source_agency_id: agency.into(),
        event_time: Some(at(0)),
        recorded_time: Some(at(1)),
        reference_period: Some(pb::ReferencePeriod {
            start: Some(pb::Date {
                year: 2025,
                month: 3,
                day: 1,
            }),
            end: Some(pb::Date {
                year: 2025,
                month: 3,
                day: 31,
            }),
        }),
        counting_unit: pb::CountingUnit::Crime as i32,
        area: Some(pb::Area {
            gss_code: "E23000001".into(),
            level: pb::AreaLevel::PoliceForceArea as i32,
        }),
        classification: Some(pb::LocalClassification {
            scheme: "HO_OFFENCE".into(),
            code: "8Q".into(),
        }),
        victim: Some(person("Testina", format!("Mockford-{id}"))),
        suspect: Some(person("Testo", format!("Fakeston-{id}"))),
        case_references: Some(pb::CaseReferences {
            police_crime_reference: format!("CR/{id}"),
            ..Default::default()
        }),
        category: String::new(),
        definition_version: String::new(),
        suspect_is_police_personnel: false,
        event: Some(Event::CrimeRecorded(pb::CrimeRecorded {
            domestic_abuse_flag: true,
            relationship: pb::Relationship::ExPartner as i32,
            online_flag: false,
        })),
    }
}

/// What one agency's stream did.
struct AgencyRun {
    acknowledged: u64,
    latencies_ms: Vec<f64>,
}

/// Streams chunks for `agency` until `stop`, keeping `in_flight` chunks unacknowledged.
async fn stream_agency(
    mut client: IngestServiceClient<Authed>,
    agency: String,
    tag: String,
    chunk: usize,
    in_flight: usize,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<AgencyRun> {
    let (tx, rx) = mpsc::channel::<pb::StreamRecordsRequest>(in_flight);
    let mut sent_at: VecDeque<Instant> = VecDeque::new();
    let mut next = 0u64;
    let make = |c: u64| pb::StreamRecordsRequest {
        records: (0..chunk)
            .map(|i| crime(&agency, format!("{tag}-{c}-{i}")))
            .collect(),
    };
    for _ in 0..in_flight {
        tx.send(make(next)).await?;
        sent_at.push_back(Instant::now());
        next += 1;
    }
    let mut acks = client
        .stream_records(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .with_context(|| format!("opening the stream of {agency}"))?
        .into_inner();
    let mut tx = Some(tx);
    let mut run = AgencyRun {
        acknowledged: 0,
        latencies_ms: Vec::new(),
    };
    while let Some(ack) = acks.message().await? {
        let started = sent_at
            .pop_front()
            .context("an acknowledgement nobody awaited")?;
        run.latencies_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        let s = ack.summary.unwrap_or_default();
        anyhow::ensure!(
            s.accepted as usize == chunk,
            "{agency}: a chunk was not fully accepted: {:?}",
            ack.results.iter().find(|r| !r.violations.is_empty())
        );
        run.acknowledged += u64::from(s.accepted);
        if stop.load(Ordering::Relaxed) {
            // Close our side; the hub answers what is in flight, then ends the stream.
            tx = None;
        } else if let Some(tx) = &tx {
            tx.send(make(next)).await?;
            sent_at.push_back(Instant::now());
            next += 1;
        }
    }
    anyhow::ensure!(sent_at.is_empty(), "{agency}: the stream ended early");
    Ok(run)
}

/// Runs the load test.
pub async fn load(args: &BenchLoadArgs) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        args.agencies > 0 && args.seconds > 0 && args.chunk > 0 && args.in_flight > 0,
        "--agencies, --seconds, --chunk and --in-flight must be positive"
    );
    if let Some(url) = &args.database {
        anyhow::ensure!(
            loopback_database(url),
            "bench load runs on loopback only: the database must be on 127.0.0.1, ::1 or localhost"
        );
    }
    let hub = BenchHub::start(args.database.as_deref()).await?;
    anyhow::ensure!(
        hub.addr.ip().is_loopback(),
        "the hub must listen on loopback"
    );
    let run: String = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let agencies = connect_agencies(&hub, &run, args.agencies).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(rss_kib().unwrap_or(0)));
    let start_rss_mib = peak.load(Ordering::Relaxed) as f64 / 1024.0;
    let sampler = sample_peak_rss(stop.clone(), peak.clone());
    let started = Instant::now();
    let mut streams = Vec::new();
    for (id, channel) in &agencies {
        let client = IngestServiceClient::new(channel.clone())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20);
        streams.push(tokio::spawn(stream_agency(
            client,
            id.clone(),
            format!("{run}-{}", id.rsplit('-').next().unwrap_or("0")),
            args.chunk,
            args.in_flight,
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut acknowledged, mut latencies) = (0u64, Vec::new());
    for s in streams {
        let r = s.await??;
        acknowledged += r.acknowledged;
        latencies.extend(r.latencies_ms);
    }
    let seconds = started.elapsed().as_secs_f64();
    sampler.await?;
    if let Some(kib) = rss_kib() {
        peak.fetch_max(kib, Ordering::Relaxed);
    }

    // Zero loss: what the database holds for these agencies is what was acknowledged.
    let mut stored = 0u64;
    for (id, _) in &agencies {
        stored += hub.store.count_records(Some(id)).await? as u64;
    }
    let backend = backend_name(hub.store.backend()).to_string();
    hub.stop().await?;
    latencies.sort_by(f64::total_cmp);
    let report = LoadReport {
        backend,
        agencies: args.agencies,
        chunk: args.chunk,
        seconds,
        acknowledged,
        stored,
        records_per_second: acknowledged as f64 / seconds,
        chunks: latencies.len() as u64,
        ack_p50_ms: percentile(&latencies, 50.0),
        ack_p99_ms: percentile(&latencies, 99.0),
        ack_max_ms: latencies.last().copied().unwrap_or_default(),
        peak_rss_mib: peak.load(Ordering::Relaxed) as f64 / 1024.0,
        start_rss_mib,
    };
    anyhow::ensure!(
        report.stored == report.acknowledged,
        "records lost: {} acknowledged, {} stored",
        report.acknowledged,
        report.stored
    );
    Ok(report)
}

/// Registers `n` police agencies unique to this run and opens a channel as each.
async fn connect_agencies(
    hub: &BenchHub,
    run: &str,
    n: usize,
) -> anyhow::Result<Vec<(String, Authed)>> {
    let mut agencies = Vec::new();
    for i in 0..n {
        let id = format!("police-load-{run}-{i:03}");
        let channel = hub
            .agency(&id, AgencyKind::Police, &["E23000001".to_string()])
            .await?;
        agencies.push((id, channel));
    }
    Ok(agencies)
}

/// Samples resident memory every 100 ms into `peak` until `stop`.
fn sample_peak_rss(stop: Arc<AtomicBool>, peak: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tick.tick().await;
            if let Some(kib) = rss_kib() {
                peak.fetch_max(kib, Ordering::Relaxed);
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_databases() {
        for ok in [
            "sqlite:///tmp/x.db",
            "postgres://postgres@127.0.0.1:5432/test",
            "postgres://u:p@localhost/db",
            "postgresql://[::1]:5432/db",
        ] {
            assert!(loopback_database(ok), "{ok}");
        }
        for no in [
            "postgres://postgres@10.0.0.5:5432/test",
            "postgres://db.example/x",
            "postgres://u@127.0.0.1.evil.example/x",
        ] {
            assert!(!loopback_database(no), "{no}");
        }
    }

    /// A short run: several agencies at once for a few seconds, nothing lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_short_load_run_loses_nothing() {
        let report = load(&BenchLoadArgs {
            agencies: 6,
            seconds: 4,
            database: None,
            chunk: 50,
            in_flight: 2,
            json: None,
        })
        .await
        .unwrap();
        assert!(report.acknowledged > 0);
        assert_eq!(report.stored, report.acknowledged);
        assert!(report.chunks >= 6);
        assert!(report.ack_p99_ms >= report.ack_p50_ms);
        assert!(report.peak_rss_mib > 0.0);
    }
}
