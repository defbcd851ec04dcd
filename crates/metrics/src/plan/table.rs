//! The released table of a plan: the rows the store read, grouped into cube coordinates, the
//! metric computed per cell (a count, an amount, a proportion, or a statistic of days), and
//! statistical disclosure control applied to every cell and total before it leaves.

use std::collections::BTreeMap;

use vawg_domain::{
    aggregate::{Computation, FactKey, FactValue},
    cellkey::LOW_RELIABILITY_NUMERATOR,
    disclosure::{CellStatus, ControlledCube, TOTAL},
};
use vawg_proto::pb;

use super::{Plan, protected};
use crate::ENGLAND_AND_WALES;

/// Cells keyed by cube coordinates.
pub(crate) type Cells = Vec<(Vec<String>, pb::Cell)>;
/// The table's cells and its per-period totals.
pub(crate) type CellsAndTotals = (Cells, Cells);

impl Plan {
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

    pub(crate) fn coords(&self, k: &FactKey) -> Vec<String> {
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
                pb::Breakdown::Subtype | pb::Breakdown::DomesticAbuseRelated => k.subtype.clone(),
                b => match super::profile_part(*b) {
                    Some(i) => vawg_domain::aggregate::profile_part(&k.subtype, i).to_string(),
                    None => String::new(),
                },
            });
        }
        c
    }

    /// The table from rows grouped by `self.group_by` (the area level already applied).
    pub(crate) fn table(&self, rows: Vec<(FactKey, FactValue)>) -> pb::MetricTable {
        // Suppression is for publication tables, which hold counts only (validated when the
        // publications file is read).
        let suppression = self.protection == pb::Protection::Suppression;
        let (cells, totals) = match (self.def.computation, suppression) {
            // Funding is about organisations, not people: released in full under every mode.
            (Computation::Amount, _) => self.amount_cells(&rows),
            (Computation::Count, true) => self.suppressed_count_cells(&rows),
            (Computation::Count, false) => self.keyed_count_cells(&rows),
            (Computation::Proportion, _) => self.keyed_proportion_cells(&rows),
            (Computation::Days, _) => self.keyed_days_cells(&rows),
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
        match self.protection {
            pb::Protection::CellKeyPerturbation => {
                notes.push(protected::PERTURBED_NOTE.to_string())
            }
            pb::Protection::ExactNotForRelease => notes.push(protected::EXACT_NOTE.to_string()),
            _ => notes.push(format!(
                "{} Threshold {}; rounding base {}.",
                SUPPRESSED_NOTE,
                self.rules.threshold,
                self.rules.rounding_base.max(1)
            )),
        }
        if !suppression && self.query.rounding_base > 1 {
            notes.push(protected::ROUNDING_IGNORED_NOTE.to_string());
        }
        // Thresholds and rounding are the suppression mode's; the other modes have neither.
        let (threshold, rounding_base) = if suppression {
            (self.rules.threshold as u32, self.rules.rounding_base as u32)
        } else {
            (0, 0)
        };
        let mut query = self.query.clone();
        query.rounding_base = rounding_base;
        pb::MetricTable {
            query: Some(query),
            dimensions: dim_names.clone(),
            rows: cells.iter().map(|(c, cell)| to_row(c, *cell)).collect(),
            totals: totals
                .iter()
                .map(|(c, cell)| to_row(&vec![c[0].clone()], *cell))
                .collect(),
            suppression_threshold: threshold,
            rounding_base,
            notes,
            protection: self.protection as i32,
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

    /// A publication table's counts under primary and secondary suppression: every cell and
    /// every margin of the cube, complements chosen to spare the table's headlines. Rows hold
    /// the cells and the margins over breakdowns ("*"); totals hold the per-period totals and
    /// the total over all periods ("*").
    fn suppressed_count_cells(&self, rows: &[(FactKey, FactValue)]) -> CellsAndTotals {
        let grouped = self.group(rows, None, self.count_value());
        let cube = ControlledCube::control_sparing(grouped, self.rules, self.headlines.clone());
        let mut cells = Vec::new();
        let mut totals = Vec::new();
        for (coords, c) in cube.cells() {
            let cell = pb::Cell {
                value: c.value.unwrap_or(0) as f64,
                status: cell_status(c.status) as i32,
                base: c.value.unwrap_or(0),
                symbol: if c.status.is_suppressed() {
                    pb::GssSymbol::Confidential as i32
                } else {
                    pb::GssSymbol::Unspecified as i32
                },
            };
            let period_total = coords[1..].iter().all(|v| v == TOTAL);
            if period_total {
                totals.push((coords.clone(), cell));
            }
            if !period_total || self.dims() == 1 {
                cells.push((coords.clone(), cell));
            }
        }
        (cells, totals)
    }

    /// Per-period totals of grouped cells, summed with `add`.
    pub(crate) fn margins<T: Clone + Default>(
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
            symbol: pb::GssSymbol::Unspecified as i32,
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

    pub(crate) fn total_coords(&self, period: String) -> Vec<String> {
        let mut c = vec![period];
        c.extend(std::iter::repeat_n(TOTAL.to_string(), self.dims() - 1));
        c
    }
}

/// Mean, median or 90th percentile of a histogram of days (`docs/counting.md` §3), each to one
/// decimal place (halves away from zero): the mean; the median the middle value, or the mean of the two middle values for
/// an even count; percentiles by Hyndman and Fan's definition 7 (R's default `quantile`, Excel's
/// `PERCENTILE.INC`): with the values sorted x₁ ≤ … ≤ xₙ and h = (n − 1)·p, the value
/// x₍⌊h⌋+1₎ + (h − ⌊h⌋)·(x₍⌊h⌋+2₎ − x₍⌊h⌋+1₎). The median is the same definition at p = 0.5.
pub fn statistic(hist: &BTreeMap<i64, u64>, which: &str) -> f64 {
    let n: u64 = hist.values().sum();
    if n == 0 {
        return 0.0;
    }
    if which == "mean" {
        let sum: f64 = hist.iter().map(|(d, c)| *d as f64 * *c as f64).sum();
        return (sum / n as f64 * 10.0).round() / 10.0;
    }
    // h = (n − 1)·p in tenths, exactly: p is 0.5 or 0.9.
    let tenths = if which == "p90" { 9 } else { 5 };
    let h10 = (n - 1) * tenths;
    let (j, g) = (h10 / 10, (h10 % 10) as f64 / 10.0);
    let lower = nth(hist, j);
    let value = if g == 0.0 {
        lower as f64
    } else {
        lower as f64 + g * (nth(hist, j + 1) - lower) as f64
    };
    // One decimal place, halves away from zero, as the mean.
    (value * 10.0).round() / 10.0
}

/// The value at 0-based position `i` of the sorted values a histogram holds.
fn nth(hist: &BTreeMap<i64, u64>, i: u64) -> i64 {
    let mut seen = 0;
    for (d, c) in hist {
        seen += c;
        if seen > i {
            return *d;
        }
    }
    *hist.keys().last().unwrap_or(&0)
}

/// The note a publication table carries.
const SUPPRESSED_NOTE: &str = "Protected by primary and secondary suppression \
     (docs/disclosure.md, section 3): counts from 1 to the threshold less one are withheld [c], \
     and further cells are withheld [c] so that no withheld count follows from any published \
     figure of this table; complementary cells spare the table's headline categories and \
     national totals wherever a smaller complement exists.";

/// A cell with no data: `[x]` not available.
pub(crate) fn no_data() -> pb::Cell {
    pb::Cell {
        value: 0.0,
        status: pb::DisclosureStatus::NoData as i32,
        base: 0,
        symbol: pb::GssSymbol::NotAvailable as i32,
    }
}

/// A rate or average whose base is zero: `[z]` not applicable.
pub(crate) fn not_applicable() -> pb::Cell {
    pb::Cell {
        symbol: pb::GssSymbol::NotApplicable as i32,
        ..no_data()
    }
}

/// The symbol of a released rate, proportion or average resting on `units` (its numerator, or
/// an average's base): `[u]` below [`LOW_RELIABILITY_NUMERATOR`].
pub(crate) fn reliability(units: u64) -> i32 {
    if units < LOW_RELIABILITY_NUMERATOR {
        pb::GssSymbol::LowReliability as i32
    } else {
        pb::GssSymbol::Unspecified as i32
    }
}

/// The contract's status of a controlled cell.
fn cell_status(s: CellStatus) -> pb::DisclosureStatus {
    match s {
        CellStatus::Released => pb::DisclosureStatus::Released,
        CellStatus::Rounded => pb::DisclosureStatus::Rounded,
        CellStatus::SuppressedPrimary => pb::DisclosureStatus::SuppressedPrimary,
        CellStatus::SuppressedSecondary => pb::DisclosureStatus::SuppressedSecondary,
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
        pb::Breakdown::DomesticAbuseRelated => "domestic_abuse_related",
        b => match super::profile_part(b) {
            Some(i) => vawg_domain::aggregate::PROFILE_PARTS[i],
            None => "unspecified",
        },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_histogram() {
        let h: BTreeMap<i64, u64> = [(10, 1), (20, 1), (30, 1), (100, 1)].into_iter().collect();
        assert_eq!(statistic(&h, "mean"), 40.0);
        // Even count: the mean of the two middle values.
        assert_eq!(statistic(&h, "median"), 25.0);
        // h = 3 × 0.9 = 2.7: x₃ + 0.7 × (x₄ − x₃) = 30 + 0.7 × 70.
        assert_eq!(statistic(&h, "p90"), 79.0);
        // Odd count and repeated values: R's quantile(c(1, 2, 2, 2, 9), c(.5, .9)) is 2 and 6.2.
        let h: BTreeMap<i64, u64> = [(1, 1), (2, 3), (9, 1)].into_iter().collect();
        assert_eq!(statistic(&h, "median"), 2.0);
        assert_eq!(statistic(&h, "p90"), 6.2);
        // Two values: h = 0.9, 1 + 0.9 × 1.
        let h: BTreeMap<i64, u64> = [(1, 1), (2, 1)].into_iter().collect();
        assert_eq!((statistic(&h, "median"), statistic(&h, "p90")), (1.5, 1.9));
        // One value.
        let h: BTreeMap<i64, u64> = [(7, 1)].into_iter().collect();
        assert_eq!((statistic(&h, "median"), statistic(&h, "p90")), (7.0, 7.0));
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
