//! Tables released with cell-key perturbation (what every agency receives) or exact and marked
//! not for release (the central team, on request). `docs/disclosure.md` is the specification:
//! every count cell and every total is released as `perturb(count, cell key)`, the cell key being
//! the sum of the keys of the units the cell counts, so the same cell gets the same value in
//! every query that reaches it and differencing two queries yields only noise. Rates are computed
//! from perturbed numerators and bases; means and percentiles of days are released only on a
//! perturbed base of at least `MIN_RATIO_BASE`, and their base is the perturbed one.

use std::collections::BTreeMap;

use vawg_domain::{
    aggregate::{FactKey, FactValue},
    cellkey::{KeyedCount, MIN_RATIO_BASE, ProtectedRatio, protected_ratio},
    counting::CountingRule,
};
use vawg_proto::pb;

use super::{
    Plan,
    table::{CellsAndTotals, not_applicable, reliability, statistic},
};

/// The notes a perturbed table carries.
pub(crate) const PERTURBED_NOTE: &str = "Protected by cell-key perturbation (docs/disclosure.md): \
     every count is within 5 of the true count and is never 1 to 4 (a true 0 stays 0; a small \
     count may be released as 0), and is the same in every query that reaches the same cell. Totals are perturbed as \
     cells in their own right, so rows need not add up to them. Rates are computed from \
     perturbed counts; rates, means and percentiles on a perturbed base under 10 are withheld.";

/// The note an exact table carries.
pub(crate) const EXACT_NOTE: &str = "EXACT FIGURES, NOT FOR RELEASE: for the central team's \
     statisticians only. Publish only the fixed publication tables (GetPublicationTable, under \
     suppression) or perturbed figures (PROTECTION_CELL_KEY_PERTURBATION).";

/// The note when a caller's rounding base was ignored.
pub(crate) const ROUNDING_IGNORED_NOTE: &str = "The requested rounding_base was ignored: on \
     the flexible path the hub's protection is fixed, and a caller cannot change it.";

impl Plan {
    fn exact(&self) -> bool {
        self.protection == pb::Protection::ExactNotForRelease
    }

    /// The released cell of a count.
    fn release_count(&self, c: KeyedCount) -> pb::Cell {
        if self.exact() {
            return pb::Cell {
                value: c.count as f64,
                status: pb::DisclosureStatus::ExactNotForRelease as i32,
                base: c.count,
                symbol: pb::GssSymbol::Unspecified as i32,
            };
        }
        let v = c.perturbed();
        pb::Cell {
            value: v as f64,
            status: pb::DisclosureStatus::Perturbed as i32,
            base: v,
            symbol: pb::GssSymbol::Unspecified as i32,
        }
    }

    /// Rows grouped into cube coordinates with their keyed counts, under the plan's counting
    /// rule when `under_rule` (else every offence).
    fn group_keyed(
        &self,
        rows: &[(FactKey, FactValue)],
        series: Option<&str>,
        under_rule: bool,
    ) -> BTreeMap<Vec<String>, KeyedCount> {
        let rule = if under_rule {
            self.rule
        } else {
            CountingRule::AllOffences
        };
        let mut out: BTreeMap<Vec<String>, KeyedCount> = BTreeMap::new();
        for (k, v) in rows {
            if series.is_some_and(|s| k.series != s) {
                continue;
            }
            let cell = out.entry(self.coords(k)).or_default();
            *cell = cell.merge(v.keyed_under(rule));
        }
        out
    }

    /// Per-period totals of keyed cells: each total is a cell in its own right, with the sum of
    /// the counts and keys of the cells it covers.
    fn keyed_totals(
        &self,
        grouped: &BTreeMap<Vec<String>, KeyedCount>,
    ) -> BTreeMap<String, KeyedCount> {
        self.margins(grouped, |t, v| *t = t.merge(*v))
    }

    /// Counts, perturbed or exact.
    pub(crate) fn keyed_count_cells(&self, rows: &[(FactKey, FactValue)]) -> CellsAndTotals {
        let grouped = self.group_keyed(rows, None, self.def.counting_rule_applies);
        let cells = grouped
            .iter()
            .map(|(c, v)| (c.clone(), self.release_count(*v)))
            .collect();
        let totals = self
            .keyed_totals(&grouped)
            .into_iter()
            .map(|(p, v)| (self.total_coords(p), self.release_count(v)))
            .collect();
        (cells, totals)
    }

    fn keyed_ratio(&self, num: KeyedCount, den: KeyedCount) -> pb::Cell {
        if den.count == 0 {
            return not_applicable();
        }
        if self.exact() {
            return pb::Cell {
                value: num.count as f64 / den.count as f64,
                status: pb::DisclosureStatus::ExactNotForRelease as i32,
                base: den.count,
                symbol: reliability(num.count),
            };
        }
        match protected_ratio(num, den, 1.0) {
            ProtectedRatio::Released {
                value,
                low_reliability,
            } => pb::Cell {
                value,
                status: pb::DisclosureStatus::Perturbed as i32,
                base: den.perturbed(),
                symbol: if low_reliability {
                    pb::GssSymbol::LowReliability as i32
                } else {
                    pb::GssSymbol::Unspecified as i32
                },
            },
            ProtectedRatio::Withheld => small_base(),
        }
    }

    /// Proportions from perturbed (or exact) numerators and bases.
    pub(crate) fn keyed_proportion_cells(&self, rows: &[(FactKey, FactValue)]) -> CellsAndTotals {
        let num = self.group_keyed(rows, Some(&format!("{}:num", self.def.id)), false);
        let den = self.group_keyed(rows, Some(&format!("{}:den", self.def.id)), false);
        let at = |m: &BTreeMap<Vec<String>, KeyedCount>, c: &Vec<String>| {
            m.get(c).copied().unwrap_or_default()
        };
        let cells = den
            .keys()
            .map(|c| (c.clone(), self.keyed_ratio(at(&num, c), at(&den, c))))
            .collect();
        let num_t = self.keyed_totals(&num);
        let totals = self
            .keyed_totals(&den)
            .into_iter()
            .map(|(p, d)| {
                let n = num_t.get(&p).copied().unwrap_or_default();
                (self.total_coords(p), self.keyed_ratio(n, d))
            })
            .collect();
        (cells, totals)
    }

    /// Statistics of days, released only on a protected base large enough to publish.
    pub(crate) fn keyed_days_cells(&self, rows: &[(FactKey, FactValue)]) -> CellsAndTotals {
        let mut hist: BTreeMap<Vec<String>, (BTreeMap<i64, u64>, KeyedCount)> = BTreeMap::new();
        for (k, v) in rows {
            let (h, base) = hist.entry(self.coords(k)).or_default();
            *h.entry(k.bucket).or_default() += v.n_all.max(0) as u64;
            *base = base.merge(v.keyed_under(CountingRule::AllOffences));
        }
        let cell = |h: &BTreeMap<i64, u64>, base: KeyedCount| -> pb::Cell {
            if base.count == 0 {
                return not_applicable();
            }
            if self.exact() {
                return pb::Cell {
                    value: statistic(h, self.statistic),
                    status: pb::DisclosureStatus::ExactNotForRelease as i32,
                    base: base.count,
                    symbol: reliability(base.count),
                };
            }
            let released_base = base.perturbed();
            if released_base < MIN_RATIO_BASE {
                return small_base();
            }
            pb::Cell {
                value: statistic(h, self.statistic),
                status: pb::DisclosureStatus::Perturbed as i32,
                base: released_base,
                symbol: reliability(released_base),
            }
        };
        let cells = hist
            .iter()
            .map(|(c, (h, base))| (c.clone(), cell(h, *base)))
            .collect();
        let totals = self
            .margins(&hist, |(th, tb), (h, base)| {
                for (b, n) in h {
                    *th.entry(*b).or_default() += n;
                }
                *tb = tb.merge(*base);
            })
            .into_iter()
            .map(|(p, (h, base))| (self.total_coords(p), cell(&h, base)))
            .collect();
        (cells, totals)
    }
}

/// A rate, mean or percentile withheld because its protected base is too small: `[c]`.
fn small_base() -> pb::Cell {
    pb::Cell {
        value: 0.0,
        status: pb::DisclosureStatus::SuppressedSmallBase as i32,
        base: 0,
        symbol: pb::GssSymbol::Confidential as i32,
    }
}
