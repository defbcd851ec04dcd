//! `vawg-hub metrics list|query|compare|publications|publication`: the central team's view
//! from the command line.

use anyhow::Context;
use chrono::{Datelike, NaiveDate};
use vawg_loader::connect::ConnectArgs;
use vawg_proto::pb;
use vawg_tools::report::{self, Format, render_comparison};

/// The metrics commands.
#[derive(Debug, clap::Subcommand)]
pub enum MetricsCommand {
    /// List the metric catalogue.
    List {
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Compute one metric as a table.
    Query {
        #[command(flatten)]
        connect: ConnectArgs,
        #[command(flatten)]
        query: QueryArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One metric under the three victim scopes × three counting rules, side by side.
    Compare {
        #[command(flatten)]
        connect: ConnectArgs,
        #[command(flatten)]
        query: QueryArgs,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// List the fixed publication tables.
    Publications {
        #[command(flatten)]
        connect: ConnectArgs,
    },
    /// Produce one fixed publication table for one financial year, suppressed for release
    /// (central team only).
    Publication {
        #[command(flatten)]
        connect: ConnectArgs,
        /// The table id (see `vawg-hub metrics publications`).
        #[arg(long)]
        table: String,
        /// The financial year, written 2024-25.
        #[arg(long)]
        year: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

/// The parameters of a metric query.
#[derive(Debug, Clone, clap::Args)]
pub struct QueryArgs {
    /// Metric id (see `metrics list`).
    #[arg(long)]
    pub metric: String,
    /// First day of the period (YYYY-MM-DD).
    #[arg(long)]
    pub from: NaiveDate,
    /// Last day of the period (YYYY-MM-DD).
    #[arg(long)]
    pub to: NaiveDate,
    /// Victim scope: all-victims, women-and-girls, aged-16-plus.
    #[arg(long, default_value = "all-victims")]
    pub scope: String,
    /// Counting rule: all-offences, principal-crime, principal-plus-course-of-conduct.
    #[arg(long, default_value = "all-offences")]
    pub rule: String,
    /// Time grain: month, quarter, financial-year, whole-period.
    #[arg(long, default_value = "whole-period")]
    pub grain: String,
    /// Area level: police-force-area, local-authority, integrated-care-board, england-and-wales.
    #[arg(long, default_value = "police-force-area")]
    pub area_level: String,
    /// Breakdowns (repeatable): area, category, sex, age-band, ethnic-group, disability,
    /// immigration-status, subtype.
    #[arg(long = "by")]
    pub breakdowns: Vec<String>,
    /// Only these areas (GSS codes, repeatable).
    #[arg(long = "area")]
    pub areas: Vec<String>,
    /// Only these categories (repeatable).
    #[arg(long = "category")]
    pub categories: Vec<String>,
    /// Statistic for day metrics: mean, median, p90.
    #[arg(long, default_value = "")]
    pub statistic: String,
    /// Ignored by the hub (its protection is fixed; the table's note says so). Kept so that
    /// scripts which pass it keep working.
    #[arg(long, default_value_t = 0)]
    pub rounding_base: u32,
    /// Disclosure control wanted: cell-key-perturbation, or exact-not-for-release (central
    /// team only, its default); empty for the caller's default (docs/disclosure.md).
    /// Suppressed tables: `vawg-hub metrics publication`.
    #[arg(long, default_value = "")]
    pub protection: String,
}

fn enum_name(prefix: &str, text: &str) -> String {
    format!(
        "{prefix}{}",
        text.trim().to_ascii_uppercase().replace('-', "_")
    )
}

fn date(d: NaiveDate) -> pb::Date {
    pb::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

impl QueryArgs {
    /// The contract query.
    pub fn to_query(&self) -> anyhow::Result<pb::MetricQuery> {
        let scope = pb::VictimScope::from_str_name(&enum_name("VICTIM_SCOPE_", &self.scope))
            .with_context(|| format!("unknown scope '{}'", self.scope))?;
        let rule = pb::CountingRule::from_str_name(&enum_name("COUNTING_RULE_", &self.rule))
            .with_context(|| format!("unknown counting rule '{}'", self.rule))?;
        let grain = pb::TimeGrain::from_str_name(&enum_name("TIME_GRAIN_", &self.grain))
            .with_context(|| format!("unknown grain '{}'", self.grain))?;
        let level = pb::AreaLevel::from_str_name(&enum_name("AREA_LEVEL_", &self.area_level))
            .with_context(|| format!("unknown area level '{}'", self.area_level))?;
        let breakdowns = self
            .breakdowns
            .iter()
            .map(|b| {
                pb::Breakdown::from_str_name(&enum_name("BREAKDOWN_", b))
                    .map(|b| b as i32)
                    .with_context(|| format!("unknown breakdown '{b}'"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(pb::MetricQuery {
            metric_id: self.metric.clone(),
            definition_version: String::new(),
            victim_scope: scope as i32,
            counting_rule: rule as i32,
            period: Some(pb::ReferencePeriod {
                start: Some(date(self.from)),
                end: Some(date(self.to)),
            }),
            grain: grain as i32,
            area_level: level as i32,
            area_codes: self.areas.clone(),
            categories: self.categories.clone(),
            breakdowns,
            statistic: self.statistic.clone(),
            rounding_base: self.rounding_base,
            protection: if self.protection.is_empty() {
                pb::Protection::Unspecified as i32
            } else {
                pb::Protection::from_str_name(&enum_name("PROTECTION_", &self.protection))
                    .with_context(|| {
                        format!(
                            "unknown protection '{}' (cell-key-perturbation, \
                             exact-not-for-release)",
                            self.protection
                        )
                    })? as i32
            },
        })
    }
}

/// The unit of a metric, from the catalogue.
pub async fn unit_of(
    client: &vawg_client::HubClient,
    metric: &str,
) -> anyhow::Result<pb::MetricUnit> {
    let list = client
        .metrics()
        .list_metrics(pb::ListMetricsRequest {})
        .await?
        .into_inner();
    let m = list
        .metrics
        .iter()
        .find(|m| m.id == metric)
        .with_context(|| format!("no metric '{metric}'"))?;
    Ok(pb::MetricUnit::try_from(m.unit).unwrap_or(pb::MetricUnit::Count))
}

/// Runs a metrics command.
pub async fn run(command: MetricsCommand) -> anyhow::Result<()> {
    match command {
        MetricsCommand::List { connect } => {
            let client = connect.connect().await?;
            let list = client
                .metrics()
                .list_metrics(pb::ListMetricsRequest {})
                .await?
                .into_inner();
            let mut rows = vec![vec![
                "id".to_string(),
                "title".to_string(),
                "unit".to_string(),
            ]];
            for m in list.metrics {
                let unit = pb::MetricUnit::try_from(m.unit)
                    .unwrap_or_default()
                    .as_str_name();
                rows.push(vec![
                    m.id,
                    m.title,
                    unit.trim_start_matches("METRIC_UNIT_").to_lowercase(),
                ]);
            }
            print!("{}", report::align(&rows));
        }
        MetricsCommand::Query {
            connect,
            query,
            format,
        } => {
            let client = connect.connect().await?;
            let unit = unit_of(&client, &query.metric).await?;
            let q = query.to_query()?;
            let table = client
                .metrics()
                .query_metric(pb::QueryMetricRequest { query: Some(q) })
                .await?
                .into_inner();
            print!(
                "{}",
                report::render(&table.table.unwrap_or_default(), unit, format)
            );
        }
        MetricsCommand::Compare {
            connect,
            query,
            format,
        } => {
            let client = connect.connect().await?;
            let unit = unit_of(&client, &query.metric).await?;
            let q = query.to_query()?;
            let response = client
                .metrics()
                .compare_definitions(pb::CompareDefinitionsRequest {
                    query: Some(q),
                    variants: vec![],
                })
                .await?
                .into_inner();
            match format {
                Format::Table => print!("{}", render_comparison(&response, unit)),
                _ => {
                    for t in &response.tables {
                        if let Some(table) = &t.table {
                            print!("{}", report::render(table, unit, format));
                        }
                    }
                }
            }
        }
        MetricsCommand::Publications { connect } => list_publications(connect).await?,
        MetricsCommand::Publication {
            connect,
            table,
            year,
            format,
        } => publication(connect, table, year, format).await?,
    }
    Ok(())
}

/// `metrics publications`: the fixed publication tables.
async fn list_publications(connect: ConnectArgs) -> anyhow::Result<()> {
    let client = connect.connect().await?;
    let list = client
        .metrics()
        .list_publication_tables(pb::ListPublicationTablesRequest {})
        .await?
        .into_inner();
    let mut rows = vec![vec!["id".to_string(), "title".to_string()]];
    rows.extend(list.tables.into_iter().map(|t| vec![t.id, t.title]));
    print!("{}", report::align(&rows));
    Ok(())
}

/// `metrics publication`: one fixed publication table for one financial year.
async fn publication(
    connect: ConnectArgs,
    table: String,
    year: String,
    format: Format,
) -> anyhow::Result<()> {
    let client = connect.connect().await?;
    let response = client
        .metrics()
        .get_publication_table(pb::GetPublicationTableRequest {
            table_id: table,
            financial_year: year,
        })
        .await?
        .into_inner();
    let publication = response.publication.unwrap_or_default();
    if format == Format::Table {
        println!("  {}", publication.title);
    }
    print!(
        "{}",
        report::render(
            &response.table.unwrap_or_default(),
            pb::MetricUnit::Count,
            format
        )
    );
    Ok(())
}
