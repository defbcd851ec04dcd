//! vawg-metrics: the central aggregator's `MetricsService`.
//!
//! Every query reads the aggregate tables (never the raw records; the store first applies
//! every change acknowledged before the query), grouped in SQL on the narrowest roll-up that
//! has the requested breakdowns, computes the metric, and applies statistical disclosure
//! control to every cell before it leaves. Nobody gets record-level data here.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, NaiveDate};
use tonic::{Request, Response, Status};
use vawg_domain::{
    aggregate::{self, AGE_BANDS, Computation, FactKey, FactValue, MetricDef},
    counting::CountingRule,
    disclosure::{CellStatus, ControlledCube, DisclosureRules, TOTAL, control_ratio},
    identity::{AgencyKind, CallerIdentity},
};
use vawg_firewall::{Firewall, Flow};
use vawg_proto::pb::{self, metrics_service_server::MetricsService};
use vawg_store::{
    Store, StoreError,
    aggregates::{AggregateFilter, Dimension},
};

/// The gRPC methods, as the audit log names them.
const QUERY_METRIC: &str = "/vawg.v1.MetricsService/QueryMetric";
const COMPARE_DEFINITIONS: &str = "/vawg.v1.MetricsService/CompareDefinitions";

/// The code for England and Wales as a whole.
pub const ENGLAND_AND_WALES: &str = "K04000001";

/// Errors of the metrics service.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The query is malformed.
    #[error("{field}: {reason}")]
    InvalidQuery {
        /// Field path.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The metric does not exist.
    #[error("metric '{0}' is not in the catalogue")]
    UnknownMetric(String),
    /// The caller may not read what it asked for.
    #[error("{0}")]
    Forbidden(String),
    /// No caller identity (the auth layer did not run).
    #[error("unauthenticated")]
    Unauthenticated,
    /// The firewall's audit log could not be written: the query is refused (fails closed).
    #[error(transparent)]
    Audit(#[from] vawg_firewall::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<MetricsError> for Status {
    fn from(e: MetricsError) -> Status {
        match &e {
            MetricsError::InvalidQuery { .. } => Status::invalid_argument(e.to_string()),
            MetricsError::UnknownMetric(_) => Status::not_found(e.to_string()),
            MetricsError::Forbidden(_) => Status::permission_denied(e.to_string()),
            MetricsError::Unauthenticated => Status::unauthenticated("no authenticated caller"),
            MetricsError::Audit(a) => {
                tracing::error!(error = %a, "audit append failed; query refused");
                Status::unavailable("the audit log is unavailable; nothing was released, retry")
            }
            MetricsError::Store(s) if s.is_unavailable() => {
                Status::unavailable("the database is unavailable; retry")
            }
            MetricsError::Store(s) => {
                tracing::error!(error = %s, "metrics query failed");
                Status::internal("internal error")
            }
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> MetricsError {
    MetricsError::InvalidQuery {
        field,
        reason: reason.into(),
    }
}

/// The aggregator.
#[derive(Clone)]
pub struct MetricsApi {
    store: Store,
    rules: DisclosureRules,
    current_definition: String,
    firewall: Firewall,
}

impl MetricsApi {
    /// Over a store, with the hub's default disclosure rules and current definition version;
    /// every query is decided by, and audited through, `firewall`.
    pub fn new(
        store: Store,
        rules: DisclosureRules,
        current_definition: impl Into<String>,
        firewall: Firewall,
    ) -> Self {
        Self {
            store,
            rules,
            current_definition: current_definition.into(),
            firewall,
        }
    }

    /// Asks the firewall whether `caller` may read aggregates for statistics (so the policy
    /// files govern the aggregator too), and audits the decision with what was asked: the
    /// metric, victim scopes and counting rules — catalogue ids and enum names only, never
    /// text from the request that is not one of them.
    pub async fn authorise(
        &self,
        caller: &CallerIdentity,
        rpc: &str,
        query: &pb::MetricQuery,
        variants: &[(i32, i32)],
    ) -> Result<(), MetricsError> {
        let mut flow = Flow::new(pb::Action::ReadAggregates, pb::Purpose::Statistics, rpc);
        flow.categories = query.categories.clone();
        let mut decision = self.firewall.decide(caller, &flow);
        let metric = aggregate::metric(&query.metric_id)
            .map(|d| d.id)
            .unwrap_or("(not in the catalogue)");
        let variants: Vec<String> = variants
            .iter()
            .map(|(scope, rule)| {
                format!(
                    "{}/{}",
                    pb::VictimScope::try_from(*scope)
                        .unwrap_or_default()
                        .as_str_name(),
                    pb::CountingRule::try_from(*rule)
                        .unwrap_or_default()
                        .as_str_name()
                )
            })
            .collect();
        decision.reason = format!(
            "{} Query: metric {metric}; scope/rule {}; {} area code(s); {} breakdown(s).",
            decision.reason,
            variants.join(", "),
            query.area_codes.len(),
            query.breakdowns.len()
        );
        self.firewall.audit(caller, &flow, &decision, &[]).await?;
        if !decision.allowed {
            tracing::info!(
                agency_id = %caller.agency_id,
                hard_rule = decision.hard_rule,
                "metrics query refused by the firewall"
            );
            return Err(MetricsError::Forbidden(decision.reason));
        }
        Ok(())
    }

    /// Runs one query for a caller.
    pub async fn query(
        &self,
        caller: &CallerIdentity,
        query: &pb::MetricQuery,
    ) -> Result<pb::MetricTable, MetricsError> {
        let plan = Plan::new(caller, query, self.rules, &self.current_definition)?;
        let rows = self
            .store
            .aggregate_rows(&plan.filter, &plan.group_by)
            .await?;
        Ok(plan.table(rows))
    }
}

/// Checks a query as [`MetricsApi::query`] would before reading anything: the metric, the
/// definition version, scope, counting rule, period, grain, area level, breakdowns and
/// statistic. Pure, so the fuzz target runs it on arbitrary decoded requests.
pub fn validate_query(
    caller: &CallerIdentity,
    query: &pb::MetricQuery,
    rules: DisclosureRules,
    current_definition: &str,
) -> Result<(), MetricsError> {
    Plan::new(caller, query, rules, current_definition).map(|_| ())
}

/// What [`MetricsApi::query`] reads from the store for `query`: the aggregate filter and the
/// dimensions the database groups by (the store reads the narrowest table that has them all;
/// see [`vawg_store::rollup::table_for_read`]).
pub fn aggregate_read(
    caller: &CallerIdentity,
    query: &pb::MetricQuery,
    rules: DisclosureRules,
    current_definition: &str,
) -> Result<(AggregateFilter, Vec<Dimension>), MetricsError> {
    Plan::new(caller, query, rules, current_definition).map(|p| (p.filter, p.group_by))
}

/// Cells keyed by cube coordinates.
type Cells = Vec<(Vec<String>, pb::Cell)>;
/// The table's cells and its per-period totals.
type CellsAndTotals = (Cells, Cells);

/// A validated query, ready to run.
struct Plan {
    def: &'static MetricDef,
    query: pb::MetricQuery,
    rule: CountingRule,
    grain: pb::TimeGrain,
    breakdowns: Vec<pb::Breakdown>,
    area_level: pb::AreaLevel,
    filter: AggregateFilter,
    /// The dimensions the database groups by (the rest is summed there).
    group_by: Vec<Dimension>,
    rules: DisclosureRules,
    statistic: &'static str,
    notes: Vec<String>,
}

fn date(d: &Option<pb::Date>, field: &'static str) -> Result<NaiveDate, MetricsError> {
    let d = d.as_ref().ok_or_else(|| invalid(field, "required"))?;
    NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32)
        .ok_or_else(|| invalid(field, "not a valid date"))
}

fn month_key(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// The GSS entity codes (the first three characters of an area code) of an area level; empty
/// for every area.
fn area_prefixes(level: pb::AreaLevel) -> &'static [&'static str] {
    match level {
        pb::AreaLevel::PoliceForceArea => &["E23", "W15"],
        pb::AreaLevel::LocalAuthority => &["E06", "E07", "E08", "E09", "W06"],
        pb::AreaLevel::IntegratedCareBoard => &["E54"],
        pb::AreaLevel::EnglandAndWales | pb::AreaLevel::Unspecified => &[],
    }
}

/// The aggregate dimension a breakdown reads.
fn dimension(b: pb::Breakdown) -> Option<Dimension> {
    Some(match b {
        pb::Breakdown::Area => Dimension::Area,
        pb::Breakdown::Category => Dimension::Category,
        pb::Breakdown::Sex => Dimension::Sex,
        pb::Breakdown::AgeBand => Dimension::AgeBand,
        pb::Breakdown::EthnicGroup => Dimension::EthnicGroup,
        pb::Breakdown::Disability => Dimension::Disability,
        pb::Breakdown::ImmigrationStatus => Dimension::ImmigrationStatus,
        pb::Breakdown::Subtype => Dimension::Subtype,
        pb::Breakdown::Unspecified => return None,
    })
}

impl Plan {
    fn new(
        caller: &CallerIdentity,
        query: &pb::MetricQuery,
        rules: DisclosureRules,
        current_definition: &str,
    ) -> Result<Plan, MetricsError> {
        let def = aggregate::metric(&query.metric_id)
            .ok_or_else(|| MetricsError::UnknownMetric(query.metric_id.clone()))?;
        if !query.definition_version.is_empty() && query.definition_version != current_definition {
            return Err(invalid(
                "definition_version",
                format!(
                    "aggregates are held under '{current_definition}'; '{}' is not available for aggregation",
                    query.definition_version
                ),
            ));
        }
        let scope =
            pb::VictimScope::try_from(query.victim_scope).unwrap_or(pb::VictimScope::Unspecified);
        let rule = match pb::CountingRule::try_from(query.counting_rule)
            .unwrap_or(pb::CountingRule::Unspecified)
        {
            pb::CountingRule::Unspecified => {
                return Err(invalid(
                    "counting_rule",
                    "required (ALL_OFFENCES, PRINCIPAL_CRIME or PRINCIPAL_PLUS_COURSE_OF_CONDUCT)",
                ));
            }
            pb::CountingRule::AllOffences => CountingRule::AllOffences,
            pb::CountingRule::PrincipalCrime => CountingRule::PrincipalCrime,
            pb::CountingRule::PrincipalPlusCourseOfConduct => {
                CountingRule::PrincipalPlusCourseOfConduct
            }
        };
        let period = query
            .period
            .as_ref()
            .ok_or_else(|| invalid("period", "required"))?;
        let start = date(&period.start, "period.start")?;
        let end = date(&period.end, "period.end")?;
        if end < start {
            return Err(invalid("period.end", "before period.start"));
        }
        let grain =
            pb::TimeGrain::try_from(query.grain).map_err(|_| invalid("grain", "unknown value"))?;
        let area_level = pb::AreaLevel::try_from(query.area_level)
            .map_err(|_| invalid("area_level", "unknown value"))?;
        let mut breakdowns = Vec::new();
        for b in &query.breakdowns {
            let b =
                pb::Breakdown::try_from(*b).map_err(|_| invalid("breakdowns", "unknown value"))?;
            if b == pb::Breakdown::Unspecified {
                return Err(invalid(
                    "breakdowns",
                    "BREAKDOWN_UNSPECIFIED is not a breakdown",
                ));
            }
            if b == pb::Breakdown::Subtype && def.subtype.is_none() {
                return Err(invalid(
                    "breakdowns",
                    format!("metric '{}' has no sub-type", def.id),
                ));
            }
            if !breakdowns.contains(&b) {
                breakdowns.push(b);
            }
        }
        if breakdowns.len() > 2 {
            return Err(invalid("breakdowns", "at most two breakdowns besides time"));
        }
        let statistic = match (def.computation, query.statistic.as_str()) {
            (Computation::Days, "" | "mean") => "mean",
            (Computation::Days, "median") => "median",
            (Computation::Days, "p90") => "p90",
            (Computation::Days, other) => {
                return Err(invalid(
                    "statistic",
                    format!("'{other}' is not one of mean, median, p90"),
                ));
            }
            (_, "") => "value",
            (_, other) => {
                return Err(invalid(
                    "statistic",
                    format!("metric '{}' has no statistic '{other}'", def.id),
                ));
            }
        };

        // Who may read what: the central team reads every area; any other agency reads its
        // own areas and national figures only.
        let by_area = breakdowns.contains(&pb::Breakdown::Area)
            && area_level != pb::AreaLevel::EnglandAndWales;
        if caller.agency_kind != AgencyKind::CentralAnalyst {
            let foreign: Vec<&String> = query
                .area_codes
                .iter()
                .filter(|a| !caller.areas.contains(a))
                .collect();
            if !foreign.is_empty() {
                return Err(MetricsError::Forbidden(format!(
                    "agency {} may read figures for its own areas and national figures only; not {}",
                    caller.agency_id,
                    foreign
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            if by_area && query.area_codes.is_empty() {
                return Err(MetricsError::Forbidden(format!(
                    "agency {} may break figures down only by its own areas: name them in area_codes",
                    caller.agency_id
                )));
            }
        }

        let mut notes = vec![
            format!(
                "Definition {current_definition}; victim scope {}; counting rule {}.",
                scope_name(scope)?,
                rule.as_str()
            ),
            "Periods resolve to whole calendar months.".to_string(),
        ];
        if !def.counting_rule_applies && rule != CountingRule::AllOffences {
            notes.push(format!(
                "The counting rule does not change '{}': it counts events, not offences.",
                def.id
            ));
        }
        if !matches!(
            area_level,
            pb::AreaLevel::EnglandAndWales | pb::AreaLevel::Unspecified
        ) {
            notes.push(
                "Records coded to an area at another level are left out of this area level."
                    .to_string(),
            );
        }
        let (sexes, age_bands) = match scope {
            pb::VictimScope::AllVictims => (vec![], vec![]),
            pb::VictimScope::WomenAndGirls => {
                (vec![pb::Sex::Female.as_str_name().to_string()], vec![])
            }
            pb::VictimScope::Aged16Plus => (
                vec![],
                AGE_BANDS
                    .iter()
                    .filter(|b| **b != "0-15" && **b != "not_known")
                    .map(|b| b.to_string())
                    .collect(),
            ),
            pb::VictimScope::Unspecified => unreachable!("checked by scope_name"),
        };
        let filter = AggregateFilter {
            series: aggregate::series_of(def),
            from_month: month_key(start),
            to_month: month_key(end),
            areas: query.area_codes.clone(),
            area_prefixes: area_prefixes(area_level)
                .iter()
                .map(|p| p.to_string())
                .collect(),
            categories: query.categories.clone(),
            sexes,
            age_bands,
        };
        let requested = DisclosureRules {
            threshold: 0,
            rounding_base: query.rounding_base as u64,
        };
        // What `coords` and the cell functions read; everything else is summed in the database.
        let mut group_by = Vec::new();
        if !matches!(
            grain,
            pb::TimeGrain::WholePeriod | pb::TimeGrain::Unspecified
        ) {
            group_by.push(Dimension::Month);
        }
        for b in &breakdowns {
            if *b == pb::Breakdown::Area && area_level == pb::AreaLevel::EnglandAndWales {
                continue; // one national cell
            }
            group_by.extend(dimension(*b));
        }
        if def.computation == Computation::Days {
            group_by.push(Dimension::Bucket);
        }
        let mut filled = query.clone();
        filled.definition_version = current_definition.to_string();
        filled.grain = grain as i32;
        Ok(Plan {
            def,
            query: filled,
            rule,
            grain,
            breakdowns,
            area_level,
            filter,
            group_by,
            rules: rules.stricter(requested),
            statistic,
            notes,
        })
    }

    fn period_of(&self, month: &str) -> String {
        let (y, m) = month
            .split_once('-')
            .map(|(y, m)| (y.parse::<i32>().unwrap_or(0), m.parse::<u32>().unwrap_or(1)))
            .unwrap_or((0, 1));
        match self.grain {
            pb::TimeGrain::Month => month.to_string(),
            pb::TimeGrain::Quarter => format!("{y:04}-Q{}", (m - 1) / 3 + 1),
            pb::TimeGrain::FinancialYear => {
                let fy = if m >= 4 { y } else { y - 1 };
                format!("{fy:04}-{:02}", (fy + 1) % 100)
            }
            pb::TimeGrain::WholePeriod | pb::TimeGrain::Unspecified => {
                format!("{}..{}", self.filter.from_month, self.filter.to_month)
            }
        }
    }

    fn dimension_names(&self) -> Vec<String> {
        std::iter::once("period".to_string())
            .chain(
                self.breakdowns
                    .iter()
                    .map(|b| breakdown_name(*b).to_string()),
            )
            .collect()
    }

    fn coords(&self, k: &FactKey) -> Vec<String> {
        let mut c = vec![self.period_of(&k.month)];
        for b in &self.breakdowns {
            c.push(match b {
                pb::Breakdown::Area => {
                    if self.area_level == pb::AreaLevel::EnglandAndWales {
                        ENGLAND_AND_WALES.to_string()
                    } else {
                        k.area.clone()
                    }
                }
                pb::Breakdown::Category => k.category.clone(),
                pb::Breakdown::Sex => k.sex.clone(),
                pb::Breakdown::AgeBand => k.age_band.clone(),
                pb::Breakdown::EthnicGroup => k.ethnic_group.clone(),
                pb::Breakdown::Disability => k.disability.clone(),
                pb::Breakdown::ImmigrationStatus => k.immigration_status.clone(),
                pb::Breakdown::Subtype => k.subtype.clone(),
                pb::Breakdown::Unspecified => String::new(),
            });
        }
        c
    }

    /// The table from rows grouped by `self.group_by` (the area level already applied).
    fn table(&self, rows: Vec<(FactKey, FactValue)>) -> pb::MetricTable {
        let (cells, totals) = match self.def.computation {
            Computation::Count => self.count_cells(&rows),
            Computation::Amount => self.amount_cells(&rows),
            Computation::Proportion => self.proportion_cells(&rows),
            Computation::Days => self.days_cells(&rows),
        };
        let dim_names = self.dimension_names();
        let to_row = |coords: &Vec<String>, cell: pb::Cell| pb::MetricRow {
            dimensions: coords
                .iter()
                .zip(&dim_names)
                .map(|(v, d)| pb::DimensionValue {
                    dimension: d.clone(),
                    value: v.clone(),
                    label: label(d, v),
                })
                .collect(),
            cell: Some(cell),
        };
        let mut notes = self.notes.clone();
        if self.def.computation == Computation::Days {
            notes.push(format!("Statistic: {} days.", self.statistic));
        }
        pb::MetricTable {
            query: Some(self.query.clone()),
            dimensions: dim_names.clone(),
            rows: cells.iter().map(|(c, cell)| to_row(c, *cell)).collect(),
            totals: totals
                .iter()
                .map(|(c, cell)| to_row(&vec![c[0].clone()], *cell))
                .collect(),
            suppression_threshold: self.rules.threshold as u32,
            rounding_base: self.rules.rounding_base as u32,
            notes,
        }
    }

    fn dims(&self) -> usize {
        1 + self.breakdowns.len()
    }

    /// Groups rows into cube coordinates, summing with `value`. The rows were summed in the
    /// database already; every aggregate row is a sum of non-negative contributions, so clamping
    /// a sum at zero is the same as clamping each row it came from.
    fn group(
        &self,
        rows: &[(FactKey, FactValue)],
        series: Option<&str>,
        value: impl Fn(&FactValue) -> i64,
    ) -> BTreeMap<Vec<String>, u64> {
        let mut out: BTreeMap<Vec<String>, u64> = BTreeMap::new();
        for (k, v) in rows {
            if series.is_some_and(|s| k.series != s) {
                continue;
            }
            *out.entry(self.coords(k)).or_default() += value(v).max(0) as u64;
        }
        out
    }

    fn count_value(&self) -> impl Fn(&FactValue) -> i64 + '_ {
        move |v: &FactValue| {
            if self.def.counting_rule_applies {
                v.under(self.rule)
            } else {
                v.n_all
            }
        }
    }

    fn count_cells(&self, rows: &[(FactKey, FactValue)]) -> CellsAndTotals {
        let grouped = self.group(rows, None, self.count_value());
        let cube = ControlledCube::control(grouped.clone(), self.rules);
        let cell_of = |coords: &[String]| -> pb::Cell {
            match cube.get(coords) {
                Some(c) => pb::Cell {
                    value: c.value.unwrap_or(0) as f64,
                    status: status(c.status) as i32,
                    base: c.value.unwrap_or(0),
                },
                None => no_data(),
            }
        };
        let cells = grouped.keys().map(|c| (c.clone(), cell_of(c))).collect();
        let totals = self.periods(&grouped).into_iter().map(|p| {
            let mut coords = vec![p];
            coords.extend(std::iter::repeat_n(TOTAL.to_string(), self.dims() - 1));
            let cell = cell_of(&coords);
            (coords, cell)
        });
        (cells, totals.collect())
    }

    fn periods(&self, grouped: &BTreeMap<Vec<String>, u64>) -> BTreeSet<String> {
        grouped.keys().map(|c| c[0].clone()).collect()
    }

    fn margins<T: Clone + Default>(
        &self,
        grouped: &BTreeMap<Vec<String>, T>,
        add: impl Fn(&mut T, &T),
    ) -> BTreeMap<String, T> {
        let mut totals: BTreeMap<String, T> = BTreeMap::new();
        for (c, v) in grouped {
            add(totals.entry(c[0].clone()).or_default(), v);
        }
        totals
    }

    fn amount_cells(&self, rows: &[(FactKey, FactValue)]) -> CellsAndTotals {
        // Funding is about organisations, not people: amounts are released in full.
        let grouped = self.group(rows, None, |v| v.amount);
        let returns = self.group(rows, None, |v| v.n_all);
        let cell = |amount: u64, n: u64| pb::Cell {
            value: amount as f64,
            status: pb::DisclosureStatus::Released as i32,
            base: n,
        };
        let cells = grouped
            .iter()
            .map(|(c, a)| (c.clone(), cell(*a, returns[c])))
            .collect();
        let amounts = self.margins(&grouped, |t, v| *t += v);
        let counts = self.margins(&returns, |t, v| *t += v);
        let totals = amounts
            .into_iter()
            .map(|(p, a)| (self.total_coords(p.clone()), cell(a, counts[&p])))
            .collect();
        (cells, totals)
    }

    fn total_coords(&self, period: String) -> Vec<String> {
        let mut c = vec![period];
        c.extend(std::iter::repeat_n(TOTAL.to_string(), self.dims() - 1));
        c
    }

    fn ratio_cell(&self, num: u64, den: u64) -> pb::Cell {
        if den == 0 {
            return no_data();
        }
        let small_numerator = num > 0 && num < self.rules.threshold;
        match control_ratio(den, self.rules) {
            s if s.is_suppressed() || small_numerator => pb::Cell {
                value: 0.0,
                status: pb::DisclosureStatus::SuppressedPrimary as i32,
                base: 0,
            },
            _ => pb::Cell {
                value: num as f64 / den as f64,
                status: pb::DisclosureStatus::Released as i32,
                base: den,
            },
        }
    }

    fn proportion_cells(&self, rows: &[(FactKey, FactValue)]) -> CellsAndTotals {
        let num_series = format!("{}:num", self.def.id);
        let den_series = format!("{}:den", self.def.id);
        let num = self.group(rows, Some(&num_series), |v| v.n_all);
        let den = self.group(rows, Some(&den_series), |v| v.n_all);
        let cells = den
            .iter()
            .map(|(c, d)| {
                (
                    c.clone(),
                    self.ratio_cell(num.get(c).copied().unwrap_or(0), *d),
                )
            })
            .collect();
        let num_t = self.margins(&num, |t, v| *t += v);
        let den_t = self.margins(&den, |t, v| *t += v);
        let totals = den_t
            .into_iter()
            .map(|(p, d)| {
                (
                    self.total_coords(p.clone()),
                    self.ratio_cell(num_t.get(&p).copied().unwrap_or(0), d),
                )
            })
            .collect();
        (cells, totals)
    }

    fn days_cells(&self, rows: &[(FactKey, FactValue)]) -> CellsAndTotals {
        let mut hist: BTreeMap<Vec<String>, BTreeMap<i64, u64>> = BTreeMap::new();
        for (k, v) in rows {
            *hist
                .entry(self.coords(k))
                .or_default()
                .entry(k.bucket)
                .or_default() += v.n_all.max(0) as u64;
        }
        let cell = |h: &BTreeMap<i64, u64>| -> pb::Cell {
            let n: u64 = h.values().sum();
            if n == 0 {
                return no_data();
            }
            if control_ratio(n, self.rules).is_suppressed() {
                return pb::Cell {
                    value: 0.0,
                    status: pb::DisclosureStatus::SuppressedPrimary as i32,
                    base: 0,
                };
            }
            pb::Cell {
                value: statistic(h, self.statistic),
                status: pb::DisclosureStatus::Released as i32,
                base: n,
            }
        };
        let cells = hist.iter().map(|(c, h)| (c.clone(), cell(h))).collect();
        let totals = self
            .margins(&hist, |t, v| {
                for (b, n) in v {
                    *t.entry(*b).or_default() += n;
                }
            })
            .into_iter()
            .map(|(p, h)| (self.total_coords(p), cell(&h)))
            .collect();
        (cells, totals)
    }
}

/// Mean, median or 90th percentile (nearest rank) of a histogram of days.
pub fn statistic(hist: &BTreeMap<i64, u64>, which: &str) -> f64 {
    let n: u64 = hist.values().sum();
    if n == 0 {
        return 0.0;
    }
    if which == "mean" {
        let sum: f64 = hist.iter().map(|(d, c)| *d as f64 * *c as f64).sum();
        return (sum / n as f64 * 10.0).round() / 10.0;
    }
    let q = if which == "p90" { 0.9 } else { 0.5 };
    let rank = ((q * n as f64).ceil() as u64).max(1);
    let mut seen = 0;
    for (d, c) in hist {
        seen += c;
        if seen >= rank {
            return *d as f64;
        }
    }
    *hist.keys().last().unwrap_or(&0) as f64
}

fn no_data() -> pb::Cell {
    pb::Cell {
        value: 0.0,
        status: pb::DisclosureStatus::NoData as i32,
        base: 0,
    }
}

fn status(s: CellStatus) -> pb::DisclosureStatus {
    match s {
        CellStatus::Released => pb::DisclosureStatus::Released,
        CellStatus::Rounded => pb::DisclosureStatus::Rounded,
        CellStatus::SuppressedPrimary => pb::DisclosureStatus::SuppressedPrimary,
        CellStatus::SuppressedSecondary => pb::DisclosureStatus::SuppressedSecondary,
    }
}

fn scope_name(scope: pb::VictimScope) -> Result<&'static str, MetricsError> {
    match scope {
        pb::VictimScope::Unspecified => Err(invalid(
            "victim_scope",
            "required (ALL_VICTIMS, WOMEN_AND_GIRLS or AGED_16_PLUS)",
        )),
        s => Ok(s.as_str_name().trim_start_matches("VICTIM_SCOPE_")),
    }
}

fn breakdown_name(b: pb::Breakdown) -> &'static str {
    match b {
        pb::Breakdown::Area => "area",
        pb::Breakdown::Category => "category",
        pb::Breakdown::Sex => "sex",
        pb::Breakdown::AgeBand => "age_band",
        pb::Breakdown::EthnicGroup => "ethnic_group",
        pb::Breakdown::Disability => "disability",
        pb::Breakdown::ImmigrationStatus => "immigration_status",
        pb::Breakdown::Subtype => "subtype",
        pb::Breakdown::Unspecified => "unspecified",
    }
}

/// A readable label for a dimension value (enum names without their prefix, in sentence case).
pub fn label(dimension: &str, value: &str) -> String {
    if value == TOTAL {
        return "All".to_string();
    }
    match dimension {
        "period" | "area" => value.to_string(),
        _ => {
            let prefixes = [
                "SEX_",
                "ETHNIC_GROUP_",
                "DISABILITY_",
                "IMMIGRATION_STATUS_",
                "ORDER_TYPE_",
                "WITHDRAWAL_STAGE_",
                "UNABLE_TO_SUPPORT_REASON_",
                "REFERRING_AGENCY_",
                "DECISION_MAKER_",
                "PROSECUTION_RESULT_",
                "SUPPORT_SERVICE_TYPE_",
                "HEALTH_SETTING_",
                "HOMICIDE_TYPE_",
                "SATISFACTION_STAGE_",
            ];
            let stripped = prefixes
                .iter()
                .find_map(|p| value.strip_prefix(p))
                .unwrap_or(value);
            let stripped = stripped.trim_start_matches(|c: char| c.is_ascii_digit() || c == '_');
            let text = stripped.replace('_', " ").to_lowercase();
            let mut chars = text.chars();
            match chars.next() {
                Some(f) => f.to_uppercase().chain(chars).collect(),
                None => value.to_string(),
            }
        }
    }
}

fn descriptor(m: &MetricDef) -> pb::MetricDescriptor {
    let mut breakdowns = vec![
        pb::Breakdown::Area,
        pb::Breakdown::Category,
        pb::Breakdown::Sex,
        pb::Breakdown::AgeBand,
        pb::Breakdown::EthnicGroup,
        pb::Breakdown::Disability,
        pb::Breakdown::ImmigrationStatus,
    ];
    if m.subtype.is_some() {
        breakdowns.push(pb::Breakdown::Subtype);
    }
    pb::MetricDescriptor {
        id: m.id.to_string(),
        title: m.title.to_string(),
        description: match m.subtype {
            Some(s) => format!("{} Sub-type: {s}.", m.description),
            None => m.description.to_string(),
        },
        unit: match m.computation {
            Computation::Count => pb::MetricUnit::Count,
            Computation::Amount => pb::MetricUnit::Pence,
            Computation::Proportion => pb::MetricUnit::Proportion,
            Computation::Days => pb::MetricUnit::Days,
        } as i32,
        outcome: m.outcome as i32,
        owner_agency_kinds: m.owners.iter().map(|k| *k as i32).collect(),
        categories: vec![],
        breakdowns: breakdowns.into_iter().map(|b| b as i32).collect(),
        counting_rule_applies: m.counting_rule_applies,
        event_kinds: m.event_kinds.iter().map(|k| *k as i32).collect(),
        statistics: match m.computation {
            Computation::Days => vec!["mean".into(), "median".into(), "p90".into()],
            Computation::Proportion => vec!["proportion".into()],
            Computation::Amount => vec!["sum".into()],
            Computation::Count => vec!["count".into()],
        },
    }
}

fn caller<T>(request: &Request<T>) -> Result<CallerIdentity, MetricsError> {
    request
        .extensions()
        .get::<CallerIdentity>()
        .cloned()
        .ok_or(MetricsError::Unauthenticated)
}

/// Every victim scope × counting rule pair, scope-major.
pub fn all_variants() -> Vec<pb::DefinitionVariant> {
    let scopes = [
        pb::VictimScope::AllVictims,
        pb::VictimScope::WomenAndGirls,
        pb::VictimScope::Aged16Plus,
    ];
    let rules = [
        pb::CountingRule::AllOffences,
        pb::CountingRule::PrincipalCrime,
        pb::CountingRule::PrincipalPlusCourseOfConduct,
    ];
    scopes
        .iter()
        .flat_map(|s| {
            rules.iter().map(|r| pb::DefinitionVariant {
                victim_scope: *s as i32,
                counting_rule: *r as i32,
            })
        })
        .collect()
}

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn list_metrics(
        &self,
        request: Request<pb::ListMetricsRequest>,
    ) -> Result<Response<pb::ListMetricsResponse>, Status> {
        caller(&request)?;
        Ok(Response::new(pb::ListMetricsResponse {
            metrics: aggregate::CATALOGUE.iter().map(descriptor).collect(),
        }))
    }

    async fn query_metric(
        &self,
        request: Request<pb::QueryMetricRequest>,
    ) -> Result<Response<pb::QueryMetricResponse>, Status> {
        let who = caller(&request)?;
        let query = request
            .into_inner()
            .query
            .ok_or_else(|| invalid("query", "required"))?;
        self.authorise(
            &who,
            QUERY_METRIC,
            &query,
            &[(query.victim_scope, query.counting_rule)],
        )
        .await?;
        let table = self.query(&who, &query).await?;
        Ok(Response::new(pb::QueryMetricResponse {
            table: Some(table),
        }))
    }

    async fn compare_definitions(
        &self,
        request: Request<pb::CompareDefinitionsRequest>,
    ) -> Result<Response<pb::CompareDefinitionsResponse>, Status> {
        let who = caller(&request)?;
        let req = request.into_inner();
        let base = req.query.ok_or_else(|| invalid("query", "required"))?;
        let variants = if req.variants.is_empty() {
            all_variants()
        } else {
            req.variants
        };
        let asked: Vec<(i32, i32)> = variants
            .iter()
            .map(|v| (v.victim_scope, v.counting_rule))
            .collect();
        self.authorise(&who, COMPARE_DEFINITIONS, &base, &asked)
            .await?;
        let mut tables = Vec::new();
        let mut first: Option<f64> = None;
        for variant in variants {
            let mut q = base.clone();
            q.victim_scope = variant.victim_scope;
            q.counting_rule = variant.counting_rule;
            q.grain = pb::TimeGrain::WholePeriod as i32;
            let table = self.query(&who, &q).await?;
            let total = table
                .totals
                .first()
                .and_then(|r| r.cell)
                .unwrap_or_else(no_data);
            let released = matches!(
                pb::DisclosureStatus::try_from(total.status),
                Ok(pb::DisclosureStatus::Released | pb::DisclosureStatus::Rounded)
            );
            let difference = match (first, released) {
                (Some(f), true) if f != 0.0 => (total.value - f) / f,
                _ => 0.0,
            };
            if tables.is_empty() && released {
                first = Some(total.value);
            }
            tables.push(pb::ComparedTable {
                variant: Some(variant),
                table: Some(table),
                total: Some(total),
                difference_from_first: difference,
            });
        }
        Ok(Response::new(pb::CompareDefinitionsResponse { tables }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_histogram() {
        let h: BTreeMap<i64, u64> = [(10, 1), (20, 1), (30, 1), (100, 1)].into_iter().collect();
        assert_eq!(statistic(&h, "mean"), 40.0);
        assert_eq!(statistic(&h, "median"), 20.0);
        assert_eq!(statistic(&h, "p90"), 100.0);
    }

    fn central() -> CallerIdentity {
        CallerIdentity {
            agency_id: "central".into(),
            agency_kind: AgencyKind::CentralAnalyst,
            scopes: Default::default(),
            areas: vec![],
        }
    }

    fn read_of(
        metric: &str,
        grain: pb::TimeGrain,
        level: pb::AreaLevel,
        breakdowns: &[pb::Breakdown],
    ) -> (AggregateFilter, Vec<Dimension>) {
        let q = pb::MetricQuery {
            metric_id: metric.into(),
            victim_scope: pb::VictimScope::WomenAndGirls as i32,
            counting_rule: pb::CountingRule::AllOffences as i32,
            period: Some(pb::ReferencePeriod {
                start: Some(pb::Date {
                    year: 2024,
                    month: 4,
                    day: 1,
                }),
                end: Some(pb::Date {
                    year: 2025,
                    month: 3,
                    day: 31,
                }),
            }),
            grain: grain as i32,
            area_level: level as i32,
            breakdowns: breakdowns.iter().map(|b| *b as i32).collect(),
            ..Default::default()
        };
        aggregate_read(&central(), &q, DisclosureRules::default(), "v1").unwrap()
    }

    #[test]
    fn the_database_groups_by_what_the_table_shows_and_nothing_more() {
        use pb::{AreaLevel as L, Breakdown as B, TimeGrain as G};
        let (filter, group_by) = read_of("recorded_crimes", G::Month, L::PoliceForceArea, &[]);
        assert_eq!(group_by, vec![Dimension::Month]);
        assert_eq!(filter.area_prefixes, vec!["E23", "W15"]);
        assert_eq!(filter.sexes, vec!["SEX_FEMALE"]);
        assert_eq!(
            (filter.from_month.as_str(), filter.to_month.as_str()),
            ("2024-04", "2025-03")
        );
        // A whole period has no month; quarters and years are made from months.
        let (_, group_by) = read_of(
            "recorded_crimes",
            G::WholePeriod,
            L::LocalAuthority,
            &[B::Sex],
        );
        assert_eq!(group_by, vec![Dimension::Sex]);
        let (_, group_by) = read_of(
            "convictions",
            G::FinancialYear,
            L::PoliceForceArea,
            &[B::Area, B::Category],
        );
        assert_eq!(
            group_by,
            vec![Dimension::Month, Dimension::Area, Dimension::Category]
        );
        // England and Wales as a whole: one national cell, every area summed.
        let (filter, group_by) = read_of(
            "recorded_crimes",
            G::Quarter,
            L::EnglandAndWales,
            &[B::Area],
        );
        assert_eq!(group_by, vec![Dimension::Month]);
        assert!(filter.area_prefixes.is_empty());
        // Days keep their histogram; proportions read both series.
        let (_, group_by) = read_of(
            "referral_to_charge_days",
            G::WholePeriod,
            L::IntegratedCareBoard,
            &[],
        );
        assert_eq!(group_by, vec![Dimension::Bucket]);
        let (filter, _) = read_of("charge_rate", G::Month, L::PoliceForceArea, &[]);
        assert_eq!(filter.series, vec!["charge_rate:num", "charge_rate:den"]);
    }

    #[test]
    fn labels_read_well() {
        assert_eq!(
            label("subtype", "ORDER_TYPE_STALKING_PROTECTION_ORDER"),
            "Stalking protection order"
        );
        assert_eq!(label("subtype", "1_recorded"), "Recorded");
        assert_eq!(label("sex", "*"), "All");
        assert_eq!(label("area", "E23000001"), "E23000001");
    }
}
