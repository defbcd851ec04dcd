//! `vawg-hub bench flood`: what an unauthenticated flood costs legitimate agencies. An agency
//! sends small unary calls (`DefinitionService/Classify`, through the full auth, firewall and
//! audit path) back to back for `--seconds` with the hub quiet, then for `--seconds` more
//! while `--flooders` tasks from another loopback address (127.0.0.2) flood both listeners
//! without credentials: TLS handshakes without a client certificate on the agencies' port,
//! and token-less calls on the dashboard listener. It reports the agency's p50 and p99
//! latency in each phase, their ratio, the flood's attempts and the audit entries it added
//! (refusals before identity are limited per source and audited in aggregate).

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde::Serialize;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb::{self, definition_service_client::DefinitionServiceClient};

use super::{
    backend_name,
    hub::{Authed, BenchHub, percentile},
};

/// Where the flood comes from (another loopback address, so the agency's is not limited).
const FLOOD_SOURCE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

/// Options of `vawg-hub bench flood`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchFloodArgs {
    /// Database URL (`sqlite://…` or `postgres://…`); default a temporary SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Length of each phase (quiet, then flooded), in seconds.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// The agency's calls in flight at once.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Flooding tasks (half on each listener).
    #[arg(long, default_value_t = 16)]
    pub flooders: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The figures of one run (latencies in milliseconds).
#[derive(Debug, Serialize)]
pub struct FloodBenchReport {
    /// Backend of the registry and audit log.
    pub backend: String,
    /// Seconds per phase.
    pub seconds: u64,
    /// The agency's successful calls, quiet.
    pub quiet_calls: usize,
    /// Quiet p50.
    pub quiet_p50_ms: f64,
    /// Quiet p99.
    pub quiet_p99_ms: f64,
    /// The agency's successful calls during the flood.
    pub flood_calls: usize,
    /// Flooded p50.
    pub flood_p50_ms: f64,
    /// Flooded p99.
    pub flood_p99_ms: f64,
    /// The agency's calls that failed during the flood.
    pub flood_failures: usize,
    /// `flood_p99 / quiet_p99`.
    pub p99_ratio: f64,
    /// Handshakes and dashboard calls the flood attempted.
    pub flood_attempts: u64,
    /// Audit entries added during the flood phase (the agency's own calls included).
    pub audit_entries_added: usize,
    /// Of those, refusals before identity (no agency).
    pub unauthenticated_entries_added: usize,
}

impl FloodBenchReport {
    /// Prints the figures.
    pub fn print(&self) {
        println!(
            "flood benchmark ({}): Classify from one agency, {} s quiet then {} s flooded",
            self.backend, self.seconds, self.seconds
        );
        println!(
            "  quiet:   {:>7} calls, p50 {:>7.2} ms, p99 {:>7.2} ms",
            self.quiet_calls, self.quiet_p50_ms, self.quiet_p99_ms
        );
        println!(
            "  flooded: {:>7} calls, p50 {:>7.2} ms, p99 {:>7.2} ms, {} failed",
            self.flood_calls, self.flood_p50_ms, self.flood_p99_ms, self.flood_failures
        );
        println!("  p99 ratio (flooded / quiet): {:.3}", self.p99_ratio);
        println!(
            "  flood: {} unauthenticated attempts; audit entries added: {} ({} before identity)",
            self.flood_attempts, self.audit_entries_added, self.unauthenticated_entries_added
        );
    }
}

/// Calls Classify back to back from `concurrency` tasks for `length`; latencies (ms, sorted)
/// and failures.
async fn measure(
    client: DefinitionServiceClient<Authed>,
    concurrency: usize,
    length: Duration,
) -> (Vec<f64>, usize) {
    let until = Instant::now() + length;
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                let (mut latencies, mut failures) = (Vec::new(), 0usize);
                while Instant::now() < until {
                    let started = Instant::now();
                    let call = client.classify(pb::ClassifyRequest {
                        version: String::new(),
                        scheme: "HO_OFFENCE".into(),
                        code: "8N".into(),
                    });
                    match call.await {
                        Ok(_) => latencies.push(started.elapsed().as_secs_f64() * 1000.0),
                        Err(_) => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let (mut all, mut failed) = (Vec::new(), 0);
    for task in tasks {
        if let Ok((latencies, failures)) = task.await {
            all.extend(latencies);
            failed += failures;
        }
    }
    all.sort_by(f64::total_cmp);
    (all, failed)
}

/// One flooding task: handshakes without a certificate (`dashboard` false) or token-less
/// calls on the dashboard listener, until `stop`.
fn flooder(
    tls: ClientTlsConfig,
    addr: SocketAddr,
    dashboard: bool,
    stop: Arc<AtomicBool>,
    attempts: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Ok(endpoint) = Endpoint::from_shared(format!("https://{addr}")) else {
            return;
        };
        let Ok(endpoint) = endpoint.tls_config(tls) else {
            return;
        };
        let endpoint = endpoint
            .local_address(Some(FLOOD_SOURCE))
            .connect_timeout(Duration::from_secs(5));
        let mut client = DefinitionServiceClient::new(endpoint.connect_lazy());
        while !stop.load(Ordering::Relaxed) {
            attempts.fetch_add(1, Ordering::Relaxed);
            if dashboard {
                let _ = client.list_definitions(pb::ListDefinitionsRequest {}).await;
            } else if endpoint.connect().await.is_ok() {
                // TLS 1.3: the refusal arrives with the first call.
                let _ = DefinitionServiceClient::new(endpoint.connect_lazy())
                    .list_definitions(pb::ListDefinitionsRequest {})
                    .await;
            }
            tokio::task::yield_now().await;
        }
    })
}

async fn audit_entries(hub: &BenchHub) -> anyhow::Result<(usize, usize)> {
    let rows = hub.store.audit_read(0, u32::MAX, None).await?;
    let unauthenticated = rows
        .iter()
        .filter(|r| r.entry.contains("\"agency_id\":\"\""))
        .count();
    Ok((rows.len(), unauthenticated))
}

/// Runs the benchmark.
pub async fn flood(args: &BenchFloodArgs) -> anyhow::Result<FloodBenchReport> {
    anyhow::ensure!(args.seconds > 0, "--seconds must be positive");
    let dashboard_addr = std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?;
    let hub = BenchHub::start_with(args.database.as_deref(), |settings| {
        settings.dashboard_listen = Some(dashboard_addr);
        settings.limits.agency_requests_per_second = 1_000_000;
        settings.limits.agency_burst = 1_000_000;
    })
    .await?;
    let client = DefinitionServiceClient::new(
        hub.agency(
            "police-flood-bench",
            AgencyKind::Police,
            &["E23000001".into()],
        )
        .await?,
    );
    let length = Duration::from_secs(args.seconds);
    measure(client.clone(), args.concurrency, Duration::from_secs(1)).await;
    let (quiet, _) = measure(client.clone(), args.concurrency, length).await;
    let before = audit_entries(&hub).await?;
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(hub.pki.ca_cert())?))
        .domain_name("localhost");
    let (stop, attempts) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(0)),
    );
    let flooders: Vec<_> = (0..args.flooders.max(2))
        .map(|i| {
            let (addr, dashboard) = if i % 2 == 0 {
                (hub.addr, false)
            } else {
                (dashboard_addr, true)
            };
            flooder(tls.clone(), addr, dashboard, stop.clone(), attempts.clone())
        })
        .collect();
    let (flooded, failures) = measure(client, args.concurrency, length).await;
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        let _ = tokio::time::timeout(Duration::from_secs(10), f).await;
    }
    let after = audit_entries(&hub).await?;
    let backend = hub.store.backend();
    hub.stop().await?;
    let (quiet_p99, flood_p99) = (percentile(&quiet, 99.0), percentile(&flooded, 99.0));
    Ok(FloodBenchReport {
        backend: backend_name(backend).into(),
        seconds: args.seconds,
        quiet_calls: quiet.len(),
        quiet_p50_ms: percentile(&quiet, 50.0),
        quiet_p99_ms: quiet_p99,
        flood_calls: flooded.len(),
        flood_p50_ms: percentile(&flooded, 50.0),
        flood_p99_ms: flood_p99,
        flood_failures: failures,
        p99_ratio: if quiet_p99 > 0.0 {
            flood_p99 / quiet_p99
        } else {
            0.0
        },
        flood_attempts: attempts.load(Ordering::Relaxed),
        audit_entries_added: after.0.saturating_sub(before.0),
        unauthenticated_entries_added: after.1.saturating_sub(before.1),
    })
}
