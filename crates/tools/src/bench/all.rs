//! `vawg-hub bench all`: every benchmark, one after the other, with a summary table.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use serde::Serialize;

use super::{
    ingest::{self, BenchIngestArgs, IngestBenchReport},
    notify, query, rpc, write_json,
};

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

/// Every figure of `bench all`.
#[derive(Debug, Serialize)]
struct AllReport {
    ingest: Vec<IngestBenchReport>,
    rpc: rpc::RpcBenchReport,
    query: query::QueryBenchReport,
    notify: notify::NotifyBenchReport,
}

/// Runs every benchmark, prints the summary table, and writes every figure as JSON.
pub(super) async fn all(args: &BenchAllArgs) -> anyhow::Result<()> {
    let report = AllReport {
        ingest: ingests(args).await?,
        rpc: {
            let rpc = rpc::rpc(&rpc::BenchRpcArgs {
                database: Some(args.database.clone()),
                requests: 4000,
                concurrency: 32,
                json: None,
            })
            .await?;
            rpc.print();
            rpc
        },
        query: {
            let query = query::query(&query::BenchQueryArgs {
                database: args.database.clone(),
                records: args.query_records,
                iterations: 200,
                baseline_iterations: 10,
                json: None,
            })
            .await?;
            query.print();
            query
        },
        notify: {
            let notify_args = notify::BenchNotifyArgs {
                database: Some(args.database.clone()),
                subscribers: 100,
                rounds: 20,
                timeout_seconds: 300,
                json: None,
            };
            tokio::time::timeout(
                Duration::from_secs(notify_args.timeout_seconds),
                notify::notify(&notify_args),
            )
            .await
            .context("the notify benchmark did not finish in time")??
        },
    };
    report.print_summary();
    write_json(&args.json, &report)
}

/// Ingest on the database, and also on a temporary SQLite file when the database is
/// PostgreSQL.
async fn ingests(args: &BenchAllArgs) -> anyhow::Result<Vec<IngestBenchReport>> {
    let mut ingests = Vec::new();
    let mut databases = vec![Some(args.database.clone())];
    if !args.database.starts_with("sqlite:") {
        databases.push(None);
    }
    for database in databases {
        let report = ingest::ingest(&BenchIngestArgs {
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
    Ok(ingests)
}

impl AllReport {
    /// The summary table (Markdown), each figure beside its baseline and target.
    fn print_summary(&self) {
        let (ingests, rpc, query, notify) = (&self.ingest, &self.rpc, &self.query, &self.notify);
        println!();
        println!("| benchmark | figure | baseline (same run) | ratio | target |");
        println!("|---|---|---|---|---|");
        for i in ingests {
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
        for i in ingests {
            println!(
                "| memory ({} ingest, {} records) | {:+.1} MiB after the first quarter | - | - | flat |",
                i.backend, i.records, i.rss_growth_mib
            );
        }
    }
}
