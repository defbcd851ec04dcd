//! `vawg-hub bench query`: latency of typical `QueryMetric` calls over real gRPC (mutual TLS,
//! token, firewall, audit) as the central analyst, against the naive alternative measured in
//! the same run: a `GROUP BY` over the raw records table giving the same shape of answer
//! (counts by area and month of one event kind), run directly on the database pool — no RPC,
//! no TLS — so the comparison, if anything, favours the baseline.
//!
//! The database is first topped up to `--records` records through the store's ingest path
//! (validation, pseudonymisation, the aggregator's queue and the outbox maintained exactly as
//! over gRPC, but without the RPC), so reruns on the same database reuse what earlier runs
//! loaded. Besides the overall figures it prints each typical query's own, with the aggregate
//! table (full or roll-up) the store reads for it.

use std::{path::PathBuf, time::Instant};

use anyhow::Context;
use serde::Serialize;
use vawg_domain::{
    disclosure::DisclosureRules,
    identity::{AgencyKind, CallerIdentity},
};
use vawg_proto::pb::{self, metrics_service_client::MetricsServiceClient};
use vawg_store::{Backend, Pool, rollup};

use super::{
    backend_name,
    blocks::bulk_load,
    hub::{Authed, BenchHub, percentile},
};

/// Options of `vawg-hub bench query`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchQueryArgs {
    /// Database URL (`sqlite://…` or `postgres://…`, migrated if needed).
    #[arg(long)]
    pub database: String,
    /// Records the database must hold; fewer are topped up first.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: usize,
    /// Timed QueryMetric calls (cycling through the typical queries).
    #[arg(long, default_value_t = 200)]
    pub iterations: usize,
    /// Timed baseline GROUP BY queries (each scans the raw records).
    #[arg(long, default_value_t = 10)]
    pub baseline_iterations: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct QueryBenchReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Rows in the records table when measured.
    pub records_in_database: i64,
    /// Rows in the full aggregate table when measured.
    pub aggregate_rows: i64,
    /// Rows in each roll-up when measured, narrowest first.
    pub rollup_rows: Vec<(String, i64)>,
    /// QueryMetric calls timed.
    pub iterations: usize,
    /// Median QueryMetric latency, ms.
    pub hub_p50_ms: f64,
    /// 99th percentile QueryMetric latency, ms.
    pub hub_p99_ms: f64,
    /// Baseline queries timed.
    pub baseline_iterations: usize,
    /// Median baseline latency, ms.
    pub baseline_p50_ms: f64,
    /// 99th percentile baseline latency, ms.
    pub baseline_p99_ms: f64,
    /// `baseline_p99_ms / hub_p99_ms`.
    pub speedup_p99: f64,
    /// `baseline_p50_ms / hub_p50_ms`.
    pub speedup_p50: f64,
    /// Each typical query's own figures.
    pub per_query: Vec<QueryFigures>,
}

/// The latency of one of the typical queries.
#[derive(Debug, Serialize)]
pub struct QueryFigures {
    /// Metric, grain and breakdowns.
    pub query: String,
    /// The aggregate table the store reads for it.
    pub table: String,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile latency, ms.
    pub p99_ms: f64,
}

impl QueryBenchReport {
    /// Prints the figures.
    pub fn print(&self) {
        let rollups: Vec<String> = self
            .rollup_rows
            .iter()
            .map(|(t, n)| format!("{t} {n}"))
            .collect();
        println!(
            "query benchmark ({}): {} records, {} aggregate rows (roll-ups: {})",
            self.backend,
            self.records_in_database,
            self.aggregate_rows,
            rollups.join(", ")
        );
        println!(
            "  QueryMetric over gRPC (mTLS + JWT + firewall + audit): p50 {:.2} ms, p99 {:.2} ms ({} calls)",
            self.hub_p50_ms, self.hub_p99_ms, self.iterations
        );
        println!(
            "  baseline GROUP BY over raw records:                     p50 {:.1} ms, p99 {:.1} ms ({} queries)",
            self.baseline_p50_ms, self.baseline_p99_ms, self.baseline_iterations
        );
        for q in &self.per_query {
            println!(
                "    {:<58} {:<17} p50 {:>6.2} ms, p99 {:>6.2} ms",
                q.query, q.table, q.p50_ms, q.p99_ms
            );
        }
        println!(
            "  speed-up: {:.0}x at p99, {:.0}x at p50",
            self.speedup_p99, self.speedup_p50
        );
    }
}

fn date(y: i32, m: i32, d: i32) -> Option<pb::Date> {
    Some(pb::Date {
        year: y,
        month: m,
        day: d,
    })
}

/// A typical dashboard query: `metric` over the synthetic data's year, monthly or whole
/// period, by police force area, with optional breakdowns.
fn typical(
    metric: &str,
    scope: pb::VictimScope,
    rule: pb::CountingRule,
    grain: pb::TimeGrain,
    breakdowns: &[pb::Breakdown],
) -> pb::MetricQuery {
    pb::MetricQuery {
        metric_id: metric.into(),
        victim_scope: scope as i32,
        counting_rule: rule as i32,
        period: Some(pb::ReferencePeriod {
            start: date(2020, 4, 1),
            end: date(2023, 3, 31),
        }),
        grain: grain as i32,
        area_level: pb::AreaLevel::PoliceForceArea as i32,
        breakdowns: breakdowns.iter().map(|b| *b as i32).collect(),
        ..Default::default()
    }
}

/// The typical queries, each with the event kind its naive equivalent counts.
fn queries() -> Vec<(pb::MetricQuery, &'static str)> {
    use pb::{Breakdown as B, CountingRule as R, TimeGrain as G, VictimScope as S};
    vec![
        (
            typical(
                "recorded_crimes",
                S::WomenAndGirls,
                R::PrincipalCrime,
                G::Month,
                &[],
            ),
            "CRIME_RECORDED",
        ),
        (
            typical(
                "recorded_crimes",
                S::AllVictims,
                R::AllOffences,
                G::Quarter,
                &[B::Sex, B::AgeBand],
            ),
            "CRIME_RECORDED",
        ),
        (
            typical(
                "charge_rate",
                S::AllVictims,
                R::AllOffences,
                G::WholePeriod,
                &[],
            ),
            "CHARGING_DECISION",
        ),
        (
            typical(
                "convictions",
                S::WomenAndGirls,
                R::AllOffences,
                G::Month,
                &[B::Category],
            ),
            "COURT_OUTCOME",
        ),
        (
            typical(
                "victim_withdrawals",
                S::Aged16Plus,
                R::AllOffences,
                G::Quarter,
                &[],
            ),
            "VICTIM_WITHDRAWAL",
        ),
    ]
}

/// The metrics client the benchmark times.
type Client = MetricsServiceClient<Authed>;

/// Measures query latency against the baseline.
pub async fn query(args: &BenchQueryArgs) -> anyhow::Result<QueryBenchReport> {
    anyhow::ensure!(
        args.iterations > 0 && args.baseline_iterations > 0,
        "--iterations and --baseline-iterations must be positive"
    );
    let hub = BenchHub::start(Some(&args.database)).await?;
    let held = hub.store.count_records(None).await? as usize;
    if held < args.records {
        eprintln!(
            "query benchmark: the database holds {held} records; loading {} more",
            args.records - held
        );
        bulk_load(&hub, args.records - held, 5_000).await?;
    }
    let channel = hub
        .agency("central-bench", AgencyKind::CentralAnalyst, &[])
        .await?;
    let mut client = MetricsServiceClient::new(channel).max_decoding_message_size(64 << 20);
    let queries = queries();
    warm_up(&mut client, &queries).await?;
    vacuum(&hub).await?;
    let records_in_database = hub.store.count_records(None).await?;
    let aggregate_rows = count(&hub, rollup::FULL.name).await?;
    let mut rollup_rows = Vec::new();
    for t in rollup::ROLLUPS {
        rollup_rows.push((t.name.to_string(), count(&hub, t.name).await?));
    }

    let (mut hub_ms, per_query) = time_queries(&mut client, &queries, args.iterations).await?;
    let mut baseline_ms = time_baseline(&hub, &queries, args.baseline_iterations).await?;
    let backend = hub.store.backend();
    hub.stop().await?;
    hub_ms.sort_by(f64::total_cmp);
    baseline_ms.sort_by(f64::total_cmp);
    let (hp50, hp99) = (percentile(&hub_ms, 50.0), percentile(&hub_ms, 99.0));
    let (bp50, bp99) = (
        percentile(&baseline_ms, 50.0),
        percentile(&baseline_ms, 99.0),
    );
    Ok(QueryBenchReport {
        backend: backend_name(backend).into(),
        records_in_database,
        aggregate_rows,
        rollup_rows,
        iterations: args.iterations,
        hub_p50_ms: hp50,
        hub_p99_ms: hp99,
        baseline_iterations: args.baseline_iterations,
        baseline_p50_ms: bp50,
        baseline_p99_ms: bp99,
        speedup_p99: bp99 / hp99,
        speedup_p50: bp50 / hp50,
        per_query,
    })
}

/// Every query once (connections, caches).
async fn warm_up(
    client: &mut Client,
    queries: &[(pb::MetricQuery, &'static str)],
) -> anyhow::Result<()> {
    for (q, _) in queries {
        client
            .query_metric(pb::QueryMetricRequest {
                query: Some(q.clone()),
            })
            .await
            .with_context(|| format!("QueryMetric {}", q.metric_id))?;
    }
    Ok(())
}

/// The warm-up's first read brought the aggregates up to date (draining the aggregator's
/// queue). Now what autovacuum would do after a bulk load (this server may run without it,
/// and the loader analyses only the tables it knows of): reclaim the drained queue rows —
/// left dead, they make every read's settle check walk their index entries (4–8 ms per read
/// after a million-record load) — and refresh the planner's statistics of the aggregate
/// tables.
async fn vacuum(hub: &BenchHub) -> anyhow::Result<()> {
    if let Pool::Postgres(p) = hub.store.pool() {
        let tables: Vec<&str> = ["agg_queue", rollup::FULL.name]
            .into_iter()
            .chain(rollup::ROLLUPS.iter().map(|t| t.name))
            .collect();
        sqlx::query(&format!("VACUUM (ANALYZE) {}", tables.join(", ")))
            .execute(p)
            .await?;
    }
    Ok(())
}

/// `iterations` timed QueryMetric calls, cycling through the queries: every latency, and
/// each query's own figures.
async fn time_queries(
    client: &mut Client,
    queries: &[(pb::MetricQuery, &'static str)],
    iterations: usize,
) -> anyhow::Result<(Vec<f64>, Vec<QueryFigures>)> {
    let mut hub_ms = Vec::with_capacity(iterations);
    let mut by_query: Vec<Vec<f64>> = vec![Vec::new(); queries.len()];
    for i in 0..iterations {
        let (q, _) = &queries[i % queries.len()];
        let started = Instant::now();
        let table = client
            .query_metric(pb::QueryMetricRequest {
                query: Some(q.clone()),
            })
            .await?
            .into_inner();
        let ms = started.elapsed().as_secs_f64() * 1e3;
        hub_ms.push(ms);
        by_query[i % queries.len()].push(ms);
        anyhow::ensure!(table.table.is_some(), "QueryMetric returned no table");
    }
    let per_query = queries
        .iter()
        .zip(&mut by_query)
        .map(|((q, _), ms)| {
            ms.sort_by(f64::total_cmp);
            Ok(QueryFigures {
                query: describe(q),
                table: table_read_by(q)?.name.to_string(),
                p50_ms: percentile(ms, 50.0),
                p99_ms: percentile(ms, 99.0),
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((hub_ms, per_query))
}

/// `iterations` timed baseline GROUP BY queries, cycling through the event kinds.
async fn time_baseline(
    hub: &BenchHub,
    queries: &[(pb::MetricQuery, &'static str)],
    iterations: usize,
) -> anyhow::Result<Vec<f64>> {
    let mut baseline_ms = Vec::with_capacity(iterations);
    for i in 0..iterations {
        let (_, kind) = queries[i % queries.len()];
        let started = Instant::now();
        let rows = naive_group_by(hub, kind).await?;
        baseline_ms.push(started.elapsed().as_secs_f64() * 1e3);
        anyhow::ensure!(rows > 0, "the baseline GROUP BY found no {kind} rows");
    }
    Ok(baseline_ms)
}

/// `metric scope/rule grain [breakdowns]`, for the per-query figures.
fn describe(q: &pb::MetricQuery) -> String {
    let name = |s: &str, prefix: &str| s.trim_start_matches(prefix).to_lowercase();
    let breakdowns: Vec<String> = q
        .breakdowns()
        .map(|b| name(b.as_str_name(), "BREAKDOWN_"))
        .collect();
    format!(
        "{} {}/{} {} [{}]",
        q.metric_id,
        name(q.victim_scope().as_str_name(), "VICTIM_SCOPE_"),
        name(q.counting_rule().as_str_name(), "COUNTING_RULE_"),
        name(q.grain().as_str_name(), "TIME_GRAIN_"),
        breakdowns.join(", ")
    )
}

/// The aggregate table the store reads for `q` (as the metrics service plans it).
fn table_read_by(q: &pb::MetricQuery) -> anyhow::Result<&'static rollup::AggregateTable> {
    let caller = CallerIdentity {
        agency_id: "central-bench".into(),
        agency_kind: AgencyKind::CentralAnalyst,
        scopes: Default::default(),
        areas: vec![],
    };
    let (filter, group_by) =
        vawg_metrics::aggregate_read(&caller, q, DisclosureRules::default(), "")?;
    Ok(rollup::table_for_read(&filter, &group_by))
}

async fn count(hub: &BenchHub, table: &str) -> anyhow::Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    Ok(match hub.store.pool() {
        Pool::Sqlite(p) => sqlx::query_scalar(&sql).fetch_one(p).await?,
        Pool::Postgres(p) => sqlx::query_scalar(&sql).fetch_one(p).await?,
    })
}

/// The naive query: current, unretracted records of one kind in the period, counted by
/// police force area, month and victim sex straight from the raw table. Returns the groups.
async fn naive_group_by(hub: &BenchHub, kind: &str) -> anyhow::Result<usize> {
    let n = match (hub.store.backend(), hub.store.pool()) {
        (Backend::Sqlite, Pool::Sqlite(p)) => sqlx::query(
            "SELECT area_code, substr(event_date, 1, 7) AS month, victim_sex, COUNT(*) \
             FROM records WHERE event_kind = ? AND is_current = 1 AND retracted = 0 \
             AND event_date BETWEEN '2020-04-01' AND '2023-03-31' \
             GROUP BY area_code, month, victim_sex",
        )
        .bind(kind)
        .fetch_all(p)
        .await?
        .len(),
        (_, Pool::Postgres(p)) => sqlx::query(
            "SELECT area_code, to_char(event_date, 'YYYY-MM') AS month, victim_sex, COUNT(*) \
             FROM records WHERE event_kind = $1 AND is_current AND NOT retracted \
             AND event_date BETWEEN DATE '2020-04-01' AND DATE '2023-03-31' \
             GROUP BY area_code, month, victim_sex",
        )
        .bind(kind)
        .fetch_all(p)
        .await?
        .len(),
        _ => anyhow::bail!("backend and pool disagree"),
    };
    Ok(n)
}
