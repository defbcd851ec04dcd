//! `vawg-hub bench <ingest|query|rpc|notify|load|disclosure|all>`: the hub's benchmarks. Each
//! prints its figure, a baseline measured in the same run on the same machine, and their ratio —
//! on two shared cores absolute figures are noise, ratios are not (`bench disclosure` measures
//! the perturbation of released counts against the exact ones instead). See BENCHMARKS.md for
//! the method.
//!
//! Every benchmark starts a full hub in this process ([`hub::BenchHub`]); each module
//! describes what it measures and against what.

pub mod all;
mod blocks;
pub mod disclosure;
pub mod flood;
pub mod hub;
pub mod ingest;
pub mod load;
pub mod notify;
pub mod query;
pub mod rpc;

use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;
use vawg_store::Backend;

/// `vawg-hub bench …`
#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Ingest throughput against a bulk-load baseline, with resident memory sampled.
    Ingest(ingest::BenchIngestArgs),
    /// QueryMetric latency against a naive GROUP BY over the raw records.
    Query(query::BenchQueryArgs),
    /// Small unary RPCs per second through the full auth path against a bare TLS server.
    Rpc(rpc::BenchRpcArgs),
    /// Notification latency, ingest commit to subscriber receipt.
    Notify(notify::BenchNotifyArgs),
    /// A bounded load test: many agencies streaming at once for a fixed time (loopback only).
    Load(load::BenchLoadArgs),
    /// The utility cost of cell-key perturbation: perturbed against exact figures, cell by cell.
    Disclosure(disclosure::BenchDisclosureArgs),
    /// Legitimate agencies' p99 latency during an unauthenticated flood of both listeners,
    /// against quiet.
    Flood(flood::BenchFloodArgs),
    /// Every benchmark, one after the other, with a summary table.
    All(all::BenchAllArgs),
}

/// Writes `value` as JSON to `path`, when one is given.
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
        BenchCommand::Notify(args) => notify::run(&args).await,
        BenchCommand::Load(args) => {
            let report = load::load(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::Ingest(args) => {
            let report = ingest::ingest(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::Query(args) => {
            let report = query::query(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::Rpc(args) => {
            let report = rpc::rpc(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::Disclosure(args) => {
            let report = disclosure::disclosure(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::Flood(args) => {
            let report = flood::flood(&args).await?;
            report.print();
            write_json(&args.json, &report)
        }
        BenchCommand::All(args) => all::all(&args).await,
    }
}

/// `sqlite` or `postgres`.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}
