//! `vawg-hub bench disclosure`: the utility cost of cell-key perturbation (docs/disclosure.md
//! §2), measured. A fixed set of typical tables is queried over real gRPC as the central
//! analyst twice — exact (`PROTECTION_EXACT_NOT_FOR_RELEASE`) and perturbed
//! (`PROTECTION_CELL_KEY_PERTURBATION`, what agencies receive) — and the cells of the two
//! answers are matched by their dimension values.
//!
//! For count cells (rows and per-period totals, separately and together): how many cells are
//! 0, 1–4 and 5 or more; the mean and maximum absolute perturbation; the share of cells
//! changed (all, non-zero, 10 or more, beside the share the perturbation table predicts); the
//! mean absolute relative error of cells of 10 and 100 or more; and where true counts of 1–4
//! went. Every perturbed count is checked against the method's promises — within
//! [`MAX_PERTURBATION`] of the truth, never 1 to [`SMALL_COUNT_LIMIT`], a true 0 released as
//! 0 — and the benchmark fails if any is broken. For rates and statistics of days: the
//! difference between the released and exact values where both are released, and the share
//! withheld `[c]` on a small perturbed base.
//!
//! The database is first topped up to `--records` records through the store's ingest path, as
//! in `bench query`, leaving out synthetic records dated after now (ingest refuses them; the
//! generator's later journeys run past today's date).

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::Context;
use serde::Serialize;
use vawg_domain::{
    aggregate::{Computation, computed},
    cellkey::{MAX_PERTURBATION, NOISE_VARIANCE, PerturbationTable, SMALL_COUNT_LIMIT},
    identity::AgencyKind,
};
use vawg_proto::pb::{self, metrics_service_client::MetricsServiceClient};

use super::{
    backend_name,
    blocks::{BLOCK_JOURNEYS, Blocks, bench_ingest_api, prepare_rows},
    hub::BenchHub,
};

mod stats;

pub use stats::{CountFigures, CountStats, RatioCell, RatioFigures, RatioStats};

/// Options of `vawg-hub bench disclosure`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchDisclosureArgs {
    /// Database URL (`sqlite://…` or `postgres://…`, migrated if needed).
    #[arg(long)]
    pub database: String,
    /// Records the database must hold; fewer are topped up first.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: usize,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct DisclosureBenchReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Rows in the records table when measured.
    pub records_in_database: i64,
    /// Each table's figures.
    pub tables: Vec<TableFigures>,
    /// Over the count cells of every count table.
    pub overall: CountSplit,
}

/// One table's figures: counts, or a rate or statistic of days.
#[derive(Debug, Serialize)]
pub struct TableFigures {
    /// What the table is.
    pub table: String,
    /// `count`, `proportion` or `days`.
    pub kind: String,
    /// Count cells (count tables only).
    pub counts: Option<CountSplit>,
    /// Rate or statistic cells (other tables).
    pub ratios: Option<RatioFigures>,
}

/// Count figures over rows, per-period totals, and both.
#[derive(Debug, Serialize)]
pub struct CountSplit {
    /// The table's rows.
    pub rows: CountFigures,
    /// Its per-period totals.
    pub totals: CountFigures,
    /// Rows and totals together.
    pub all: CountFigures,
}

/// Running count statistics of rows and totals.
#[derive(Debug, Default, Clone)]
struct CountParts {
    rows: CountStats,
    totals: CountStats,
}

impl CountParts {
    fn merge(&mut self, other: &CountParts) {
        self.rows.merge(&other.rows);
        self.totals.merge(&other.totals);
    }

    fn split(&self) -> CountSplit {
        let mut all = self.rows.clone();
        all.merge(&self.totals);
        CountSplit {
            rows: self.rows.figures(),
            totals: self.totals.figures(),
            all: all.figures(),
        }
    }
}

/// A table the benchmark measures.
struct Spec {
    name: &'static str,
    query: pb::MetricQuery,
}

/// The query of a table named `<metric id> …` over the synthetic data's three financial years
/// (2020-21 to 2022-23, as in `bench query`), at police force area level, all victims and
/// offences.
fn spec(name: &'static str, grain: pb::TimeGrain, breakdowns: &[pb::Breakdown]) -> Spec {
    let date = |year, month, day| Some(pb::Date { year, month, day });
    Spec {
        name,
        query: pb::MetricQuery {
            metric_id: name.split(' ').next().unwrap_or_default().into(),
            victim_scope: pb::VictimScope::AllVictims as i32,
            counting_rule: pb::CountingRule::AllOffences as i32,
            period: Some(pb::ReferencePeriod {
                start: date(2020, 4, 1),
                end: date(2023, 3, 31),
            }),
            grain: grain as i32,
            area_level: pb::AreaLevel::PoliceForceArea as i32,
            breakdowns: breakdowns.iter().map(|b| *b as i32).collect(),
            ..Default::default()
        },
    }
}

/// The measured tables: typical dashboard and analyst tables, from the finest (month by area
/// by category) to national margins, with counts of every size.
fn specs() -> Vec<Spec> {
    use pb::{Breakdown as B, TimeGrain as G};
    let women = |mut s: Spec| {
        s.query.victim_scope = pb::VictimScope::WomenAndGirls as i32;
        s.query.counting_rule = pb::CountingRule::PrincipalCrime as i32;
        s
    };
    let mut days = spec(
        "referral_to_charge_days median, quarter x category",
        G::Quarter,
        &[B::Category],
    );
    days.query.statistic = "median".into();
    vec![
        women(spec(
            "recorded_crimes month x area (W&G, principal)",
            G::Month,
            &[B::Area],
        )),
        women(spec(
            "recorded_crimes month x area x category (W&G, pr.)",
            G::Month,
            &[B::Area, B::Category],
        )),
        spec(
            "recorded_crimes quarter x area x category",
            G::Quarter,
            &[B::Area, B::Category],
        ),
        spec(
            "recorded_crimes quarter x sex x age band",
            G::Quarter,
            &[B::Sex, B::AgeBand],
        ),
        spec(
            "recorded_crimes month x ethnic group x disability",
            G::Month,
            &[B::EthnicGroup, B::Disability],
        ),
        spec(
            "recorded_crimes FY x area x immigration status",
            G::FinancialYear,
            &[B::Area, B::ImmigrationStatus],
        ),
        spec("convictions month x category", G::Month, &[B::Category]),
        spec(
            "victim_withdrawals quarter x stage",
            G::Quarter,
            &[B::Subtype],
        ),
        spec(
            "protective_orders quarter x order type",
            G::Quarter,
            &[B::Subtype],
        ),
        spec("people_supported FY x area", G::FinancialYear, &[B::Area]),
        spec("support_referrals FY x area", G::FinancialYear, &[B::Area]),
        spec("charge_rate FY x area", G::FinancialYear, &[B::Area]),
        spec(
            "charge_rate quarter x area x category",
            G::Quarter,
            &[B::Area, B::Category],
        ),
        spec("withdrawal_rate FY x area", G::FinancialYear, &[B::Area]),
        days,
    ]
}

/// The metrics client the benchmark queries through.
type Client = MetricsServiceClient<super::hub::Authed>;

/// Measures the perturbation of every table against its exact answer.
pub async fn disclosure(args: &BenchDisclosureArgs) -> anyhow::Result<DisclosureBenchReport> {
    let hub = BenchHub::start(Some(&args.database)).await?;
    let held = hub.store.count_records(None).await? as usize;
    if held < args.records {
        eprintln!(
            "disclosure benchmark: the database holds {held} records; loading {} more",
            args.records - held
        );
        top_up(&hub, args.records - held).await?;
    }
    let channel = hub
        .agency("central-bench", AgencyKind::CentralAnalyst, &[])
        .await?;
    let mut client = MetricsServiceClient::new(channel).max_decoding_message_size(64 << 20);
    let mut tables = Vec::new();
    let mut overall = CountParts::default();
    let mut violations = Vec::new();
    for spec in specs() {
        let exact = fetch(&mut client, &spec.query, pb::Protection::ExactNotForRelease).await?;
        let perturbed = fetch(
            &mut client,
            &spec.query,
            pb::Protection::CellKeyPerturbation,
        )
        .await?;
        let (figures, parts) = compare(&spec, &exact, &perturbed, &mut violations)?;
        if let Some(parts) = parts {
            overall.merge(&parts);
        }
        tables.push(figures);
    }
    let records_in_database = hub.store.count_records(None).await?;
    let backend = hub.store.backend();
    hub.stop().await?;
    if !violations.is_empty() {
        anyhow::bail!(
            "{} perturbed count(s) break the method's promises (within {MAX_PERTURBATION} of \
             the truth, never 1 to {SMALL_COUNT_LIMIT}, a true 0 released as 0); the first:\n  {}",
            violations.len(),
            violations
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n  ")
        );
    }
    Ok(DisclosureBenchReport {
        backend: backend_name(backend).into(),
        records_in_database,
        tables,
        overall: overall.split(),
    })
}

/// Loads `records` synthetic records through the store's ingest path in chunks of 5,000, as
/// `bench query` does, but leaving out records dated after now (which ingest refuses as in the
/// future): they lie outside the measured period.
async fn top_up(hub: &BenchHub, records: usize) -> anyhow::Result<()> {
    let api = bench_ingest_api(hub)?;
    let agencies = Blocks::agencies();
    let mut blocks = Blocks::new(BLOCK_JOURNEYS * 4);
    let (mut loaded, mut left_out, mut reported) = (0usize, 0usize, 0usize);
    while loaded < records {
        let now = chrono::Utc::now().timestamp();
        let mut block = blocks.next_block().records;
        let before = block.len();
        block.retain(|r| {
            [&r.event_time, &r.recorded_time]
                .into_iter()
                .all(|t| t.as_ref().is_none_or(|t| t.seconds <= now))
        });
        left_out += before - block.len();
        block.truncate(records - loaded);
        loaded += block.len();
        for (agency, rows) in prepare_rows(&api, &agencies, block)? {
            for part in rows.chunks(5_000) {
                hub.store.ingest(&agency, part.to_vec()).await?;
            }
        }
        if loaded - reported >= 100_000 || loaded == records {
            reported = loaded;
            if let vawg_store::Pool::Postgres(p) = hub.store.pool() {
                sqlx::query("ANALYZE records, agg_queue, agg_entities, agg_counts")
                    .execute(p)
                    .await?;
            }
            eprintln!("  loaded {loaded} records ({left_out} dated after now left out)");
        }
    }
    hub.store.settle_aggregates().await?;
    eprintln!("  aggregated {loaded} records");
    Ok(())
}

/// One QueryMetric call under `protection`, checked to have received it.
async fn fetch(
    client: &mut Client,
    query: &pb::MetricQuery,
    protection: pb::Protection,
) -> anyhow::Result<pb::MetricTable> {
    let mut query = query.clone();
    query.protection = protection as i32;
    let table = client
        .query_metric(pb::QueryMetricRequest { query: Some(query) })
        .await
        .with_context(|| format!("QueryMetric {}", protection.as_str_name()))?
        .into_inner()
        .table
        .context("QueryMetric returned no table")?;
    anyhow::ensure!(
        table.protection == protection as i32,
        "asked for {}, received protection {}",
        protection.as_str_name(),
        table.protection
    );
    Ok(table)
}

/// A cell's place in a table: whether it is a row or a per-period total, and its dimension
/// values.
type Place = (bool, Vec<String>);

/// The cells of a table by place (`true` for totals). A table without breakdowns has its
/// totals equal to its rows, so they are left out.
fn cells_by_place(table: &pb::MetricTable) -> anyhow::Result<BTreeMap<Place, pb::Cell>> {
    let with_totals = table.dimensions.len() > 1;
    let totals = table.totals.iter().filter(|_| with_totals);
    let mut out = BTreeMap::new();
    for (is_total, row) in table
        .rows
        .iter()
        .map(|r| (false, r))
        .chain(totals.map(|r| (true, r)))
    {
        let values: Vec<String> = row.dimensions.iter().map(|d| d.value.clone()).collect();
        let cell = row.cell.context("a row without a cell")?;
        anyhow::ensure!(
            out.insert((is_total, values.clone()), cell).is_none(),
            "two cells at {values:?}"
        );
    }
    Ok(out)
}

/// Matches the exact and perturbed answers of `spec` cell by cell: the table's figures, its
/// count statistics (for the overall figures) and any broken promise added to `violations`.
fn compare(
    spec: &Spec,
    exact: &pb::MetricTable,
    perturbed: &pb::MetricTable,
    violations: &mut Vec<String>,
) -> anyhow::Result<(TableFigures, Option<CountParts>)> {
    let exact = cells_by_place(exact)?;
    let perturbed = cells_by_place(perturbed)?;
    anyhow::ensure!(
        exact.keys().eq(perturbed.keys()),
        "{}: the exact and perturbed answers have different cells ({} and {})",
        spec.name,
        exact.len(),
        perturbed.len()
    );
    let computation = computed(&spec.query.metric_id)
        .with_context(|| format!("unknown metric {}", spec.query.metric_id))?;
    let kind = match computation {
        Computation::Count => "count",
        Computation::Proportion => "proportion",
        Computation::Days => "days",
        Computation::Amount => anyhow::bail!("{}: amounts are not perturbed", spec.name),
    };
    let mut parts = CountParts::default();
    let mut ratios = RatioStats::default();
    for ((place, e), (_, p)) in exact.iter().zip(&perturbed) {
        let status = (e.status(), p.status());
        if computation == Computation::Count {
            anyhow::ensure!(
                status
                    == (
                        pb::DisclosureStatus::ExactNotForRelease,
                        pb::DisclosureStatus::Perturbed
                    ),
                "{}: a count cell at {:?} has statuses {status:?}",
                spec.name,
                place.1
            );
            let (truth, released) = (e.value as u64, p.value as u64);
            if let Some(why) = stats::violation(truth, released) {
                violations.push(format!("{} {:?}: {why}", spec.name, place.1));
            }
            let part = if place.0 {
                &mut parts.totals
            } else {
                &mut parts.rows
            };
            part.add(truth, released);
        } else if let Err(why) = ratios.add(ratio_cell(e), ratio_cell(p)) {
            violations.push(format!("{} {:?}: {why}", spec.name, place.1));
        }
    }
    let counted = computation == Computation::Count;
    let figures = TableFigures {
        table: spec.name.into(),
        kind: kind.into(),
        counts: counted.then(|| parts.split()),
        ratios: (!counted).then(|| ratios.figures()),
    };
    Ok((figures, counted.then_some(parts)))
}

/// A rate or statistic cell as the comparison sees it.
fn ratio_cell(cell: &pb::Cell) -> RatioCell {
    match cell.status() {
        pb::DisclosureStatus::SuppressedSmallBase => RatioCell::Withheld,
        pb::DisclosureStatus::NoData => RatioCell::NotApplicable,
        _ => RatioCell::Value(cell.value),
    }
}

/// The probability, under the hub's perturbation table, that a cell of true `count` is
/// released changed: the share of the 256 cell keys whose noise is not 0.
pub fn change_probability(count: u64) -> f64 {
    let noise = PerturbationTable::hub().noise_by_key(count);
    noise.iter().filter(|n| **n != 0).count() as f64 / noise.len() as f64
}

impl DisclosureBenchReport {
    /// Prints the figures: a table of count figures per count table and overall, then the
    /// rates and statistics of days.
    pub fn print(&self) {
        println!(
            "disclosure benchmark ({}): {} records; cell-key perturbation (D = {MAX_PERTURBATION}, \
             V = {NOISE_VARIANCE}, js = {SMALL_COUNT_LIMIT}) against exact figures",
            self.backend, self.records_in_database
        );
        println!(
            "  {:<50} {:<6} {:>6} {:>6} {:>5} {:>6} {:>5} {:>3} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6} {:>6}",
            "counts",
            "part",
            "cells",
            "=0",
            "1-4",
            ">=5",
            "mean",
            "max",
            "chg",
            "chg>0",
            "chg10",
            "expect",
            "MARE10",
            "MARE100",
            "1-4>0",
            "1-4>5"
        );
        for t in &self.tables {
            if let Some(c) = &t.counts {
                print_split(&t.table, c);
            }
        }
        print_split("overall (every count table)", &self.overall);
        println!(
            "  {:<50} {:>6} {:>6} {:>8} {:>6} {:>9} {:>9}",
            "rates and statistics of days", "cells", "[z]", "withheld", "both", "mean|d|", "max|d|"
        );
        for t in &self.tables {
            if let Some(r) = &t.ratios {
                let (unit, scale) = if t.kind == "days" {
                    ("d", 1.0)
                } else {
                    ("pp", 100.0)
                };
                println!(
                    "  {:<50} {:>6} {:>6} {:>7.1}% {:>6} {:>7.3}{unit:<2} {:>7.3}{unit:<2}",
                    t.table,
                    r.cells,
                    r.not_applicable,
                    r.share_withheld * 100.0,
                    r.released_both,
                    r.mean_abs_difference.unwrap_or(0.0) * scale,
                    r.max_abs_difference.unwrap_or(0.0) * scale
                );
            }
        }
        println!(
            "  (chg: share changed of all cells, of non-zero cells, of cells >= 10; expect: the \
             share the perturbation table predicts for these cells; MARE: mean absolute relative \
             error of cells >= 10, >= 100; 1-4>0, 1-4>5: where true counts of 1-4 went; pp: \
             percentage points)"
        );
    }
}

fn print_split(name: &str, c: &CountSplit) {
    for (i, (part, f)) in [("rows", &c.rows), ("totals", &c.totals), ("all", &c.all)]
        .into_iter()
        .enumerate()
    {
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.1}%", v * 100.0));
        let pct2 = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:.2}%", v * 100.0));
        println!(
            "  {:<50} {:<6} {:>6} {:>6} {:>5} {:>6} {:>5.2} {:>3} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6} {:>6}",
            if i == 0 { name } else { "" },
            part,
            f.cells,
            f.zero,
            f.small,
            f.at_least_5,
            f.mean_abs_perturbation.unwrap_or(0.0),
            f.max_abs_perturbation,
            pct(f.share_changed),
            pct(f.share_changed_nonzero),
            pct(f.share_changed_at_least_10),
            pct(f.expected_share_changed),
            pct2(f.mean_abs_relative_error_at_least_10),
            pct2(f.mean_abs_relative_error_at_least_100),
            pct(f.small_released_as_0),
            pct(f.small_released_5_or_more)
        );
    }
}
