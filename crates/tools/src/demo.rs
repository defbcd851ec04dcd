//! `vawg-hub demo`: the whole hub working, with one command, on the embedded default.
//!
//! Starts the hub on SQLite in a temporary (or `--data-dir`) folder with a development PKI,
//! registers synthetic agencies (police forces, CPS areas, courts, NHS bodies, local
//! authorities, support services, a school, the central team and an immigration-enforcement
//! body), and then, over real gRPC with mutual TLS and bearer tokens: every agency streams its
//! synthetic records; the central team reads cross-government metrics under each definition;
//! a school receives an Operation Encompass notification it alone can open; immigration
//! enforcement asks for records and is refused; and the audit log is verified end to end.

mod encompass;
mod firewall;
mod hub;
mod metrics;
mod push;

use std::{path::PathBuf, time::Instant};

use vawg_domain::identity::AgencyKind;
use vawg_server::telemetry;

use self::hub::{CENTRAL, DemoHub};

/// Options of the demo.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep data here instead of a temporary folder.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Leave the hub running afterwards (on 127.0.0.1:50051 unless `--listen` says otherwise,
    /// with the dashboard on 127.0.0.1:8443 unless `--dashboard-listen` says otherwise) and print
    /// how to connect.
    #[arg(long)]
    pub keep_running: bool,
    /// Address for the gRPC listener (mutual TLS); port 0 picks a free port. Default: a free
    /// port, or 127.0.0.1:50051 with `--keep-running`.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Address for the browser dashboard (token only, aggregates only); port 0 picks a free
    /// port. Default: none, or 127.0.0.1:8443 with `--keep-running`.
    #[arg(long)]
    pub dashboard_listen: Option<std::net::SocketAddr>,
    /// Synthetic victim journeys to generate.
    #[arg(long, default_value_t = 2000)]
    pub journeys: usize,
    /// Seed for the synthetic data.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

fn heading(step: usize, text: &str) {
    println!("\n== {step}/6  {text}");
}

/// The first bytes of a hash, in hex, for display.
fn hex_prefix(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        + "…"
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    telemetry::init_plain_logs();
    let started = Instant::now();
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&data_dir)?;

    heading(1, "A hub on the embedded default, with a development PKI");
    let demo = DemoHub::start(&args, &data_dir).await?;

    heading(
        2,
        "Agencies stream their synthetic records (StreamRecords, acknowledged on commit)",
    );
    let tally = push::push_all(&demo.hub, &demo.data).await?;
    println!(
        "  {} records: {} accepted, {} duplicate (already held from an earlier run), {} rejected",
        demo.data.records.len(),
        tally.accepted + tally.superseded,
        tally.duplicate,
        tally.rejected
    );

    heading(
        3,
        "The central team reads cross-government metrics (disclosure control on every cell)",
    );
    let central = demo.hub.client(CENTRAL, AgencyKind::CentralAnalyst).await?;
    metrics::central_metrics(&central).await?;

    heading(
        4,
        "Operation Encompass: a school learns of an incident before the next school day",
    );
    encompass::encompass(&demo.hub).await?;

    heading(
        5,
        "Immigration enforcement asks for records — and is refused, whatever it asks",
    );
    let central = firewall::immigration_refused(&demo.hub).await?;

    heading(6, "The audit log verifies end to end");
    let entries_checked = firewall::audit_verifies(&central).await?;

    println!(
        "\nSummary: {} agencies pushed {} records over mutual TLS; metrics computed from aggregates \
         maintained incrementally, under three victim scopes and four counting rules; one sealed \
         Encompass notification delivered; immigration enforcement refused and audited; {} audit \
         entries verified. {:.1}s.",
        demo.agencies.len() - 3,
        demo.data.records.len(),
        entries_checked,
        started.elapsed().as_secs_f64()
    );

    if args.keep_running {
        demo.print_how_to_connect()?;
        println!("Stop with Ctrl-C.");
        telemetry::shutdown_signal().await;
    }
    demo.stop().await
}
