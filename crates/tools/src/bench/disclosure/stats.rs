//! The statistics of `bench disclosure`, kept pure so they are tested by hand: running sums of
//! (true, released) count pairs and of (exact, released) rates, and the check of every
//! perturbed count against the method's promises.

use serde::Serialize;
use vawg_domain::cellkey::{MAX_PERTURBATION, SMALL_COUNT_LIMIT};

use super::change_probability;

/// Why a released count breaks the method's promises (docs/disclosure.md §2.3–2.4), if it
/// does: farther than [`MAX_PERTURBATION`] from the truth, 1 to [`SMALL_COUNT_LIMIT`], or a
/// true 0 released as anything but 0.
pub fn violation(truth: u64, released: u64) -> Option<String> {
    if truth == 0 && released != 0 {
        Some(format!("a true 0 released as {released}"))
    } else if truth.abs_diff(released) > MAX_PERTURBATION {
        Some(format!(
            "true {truth} released as {released}, more than {MAX_PERTURBATION} away"
        ))
    } else if (1..=SMALL_COUNT_LIMIT).contains(&released) {
        Some(format!(
            "true {truth} released as the small count {released}"
        ))
    } else {
        None
    }
}

/// Running sums over count cells, each a true count and its released value.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct CountStats {
    cells: u64,
    zero: u64,
    small: u64,
    at_least_5: u64,
    abs_sum: u64,
    abs_max: u64,
    changed: u64,
    changed_nonzero: u64,
    at_least_10: u64,
    changed_at_least_10: u64,
    relative_sum_10: f64,
    at_least_100: u64,
    relative_sum_100: f64,
    small_to_0: u64,
    small_to_5_or_more: u64,
    expected_changed: f64,
}

/// The figures of a set of count cells. Shares are fractions (0–1); `None` where no cell
/// qualifies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CountFigures {
    /// Cells compared.
    pub cells: u64,
    /// Cells whose true count is 0.
    pub zero: u64,
    /// Cells whose true count is 1 to 4.
    pub small: u64,
    /// Cells whose true count is 5 or more.
    pub at_least_5: u64,
    /// Cells whose true count is 10 or more.
    pub at_least_10: u64,
    /// Cells whose true count is 100 or more.
    pub at_least_100: u64,
    /// Mean of |released − true|.
    pub mean_abs_perturbation: Option<f64>,
    /// Maximum of |released − true|.
    pub max_abs_perturbation: u64,
    /// Share of cells released ≠ true.
    pub share_changed: Option<f64>,
    /// Share changed among cells whose true count is not 0.
    pub share_changed_nonzero: Option<f64>,
    /// Share changed among cells whose true count is 10 or more.
    pub share_changed_at_least_10: Option<f64>,
    /// The share of these cells the perturbation table predicts to change (the mean, over the
    /// cells, of the share of cell keys whose noise for the cell's count is not 0).
    pub expected_share_changed: Option<f64>,
    /// Mean of |released − true| / true over cells of 10 or more.
    pub mean_abs_relative_error_at_least_10: Option<f64>,
    /// Mean of |released − true| / true over cells of 100 or more.
    pub mean_abs_relative_error_at_least_100: Option<f64>,
    /// Of cells whose true count is 1 to 4, the share released as 0.
    pub small_released_as_0: Option<f64>,
    /// Of cells whose true count is 1 to 4, the share released as 5 or more.
    pub small_released_5_or_more: Option<f64>,
}

/// `part / whole`, or `None` when `whole` is 0.
fn share(part: f64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part / whole as f64)
}

impl CountStats {
    /// Adds a cell of true count `truth` released as `released`.
    pub fn add(&mut self, truth: u64, released: u64) {
        let diff = truth.abs_diff(released);
        let changed = u64::from(diff != 0);
        self.cells += 1;
        self.abs_sum += diff;
        self.abs_max = self.abs_max.max(diff);
        self.changed += changed;
        self.expected_changed += change_probability(truth);
        match truth {
            0 => self.zero += 1,
            1..=SMALL_COUNT_LIMIT => {
                self.small += 1;
                self.small_to_0 += u64::from(released == 0);
                self.small_to_5_or_more += u64::from(released > SMALL_COUNT_LIMIT);
            }
            _ => self.at_least_5 += 1,
        }
        if truth > 0 {
            self.changed_nonzero += changed;
        }
        if truth >= 10 {
            self.at_least_10 += 1;
            self.changed_at_least_10 += changed;
            self.relative_sum_10 += diff as f64 / truth as f64;
        }
        if truth >= 100 {
            self.at_least_100 += 1;
            self.relative_sum_100 += diff as f64 / truth as f64;
        }
    }

    /// Adds every cell of `other`.
    pub fn merge(&mut self, other: &CountStats) {
        self.cells += other.cells;
        self.zero += other.zero;
        self.small += other.small;
        self.at_least_5 += other.at_least_5;
        self.abs_sum += other.abs_sum;
        self.abs_max = self.abs_max.max(other.abs_max);
        self.changed += other.changed;
        self.changed_nonzero += other.changed_nonzero;
        self.at_least_10 += other.at_least_10;
        self.changed_at_least_10 += other.changed_at_least_10;
        self.relative_sum_10 += other.relative_sum_10;
        self.at_least_100 += other.at_least_100;
        self.relative_sum_100 += other.relative_sum_100;
        self.small_to_0 += other.small_to_0;
        self.small_to_5_or_more += other.small_to_5_or_more;
        self.expected_changed += other.expected_changed;
    }

    /// The figures so far.
    pub fn figures(&self) -> CountFigures {
        let f = |n: u64| n as f64;
        CountFigures {
            cells: self.cells,
            zero: self.zero,
            small: self.small,
            at_least_5: self.at_least_5,
            at_least_10: self.at_least_10,
            at_least_100: self.at_least_100,
            mean_abs_perturbation: share(f(self.abs_sum), self.cells),
            max_abs_perturbation: self.abs_max,
            share_changed: share(f(self.changed), self.cells),
            share_changed_nonzero: share(f(self.changed_nonzero), self.cells - self.zero),
            share_changed_at_least_10: share(f(self.changed_at_least_10), self.at_least_10),
            expected_share_changed: share(self.expected_changed, self.cells),
            mean_abs_relative_error_at_least_10: share(self.relative_sum_10, self.at_least_10),
            mean_abs_relative_error_at_least_100: share(self.relative_sum_100, self.at_least_100),
            small_released_as_0: share(f(self.small_to_0), self.small),
            small_released_5_or_more: share(f(self.small_to_5_or_more), self.small),
        }
    }
}

/// A rate or statistic cell: a value, withheld `[c]` on a small base, or not applicable `[z]`
/// (a base of 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RatioCell {
    /// Released.
    Value(f64),
    /// Withheld on a small protected base.
    Withheld,
    /// The base is 0.
    NotApplicable,
}

/// Running sums over rate or statistic cells, each exact and released.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RatioStats {
    cells: u64,
    not_applicable: u64,
    withheld: u64,
    both: u64,
    diff_sum: f64,
    diff_max: f64,
}

/// The figures of a set of rate or statistic cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RatioFigures {
    /// Cells with an exact value.
    pub cells: u64,
    /// Cells not applicable in both answers (base 0), not counted in `cells`.
    pub not_applicable: u64,
    /// Cells with an exact value withheld under perturbation.
    pub withheld: u64,
    /// `withheld / cells` (0 when there are none).
    pub share_withheld: f64,
    /// Cells released in both answers.
    pub released_both: u64,
    /// Mean |released − exact| over cells released in both.
    pub mean_abs_difference: Option<f64>,
    /// Maximum |released − exact| over cells released in both.
    pub max_abs_difference: Option<f64>,
}

impl RatioStats {
    /// Adds a cell, exact and released; an error when the pair is impossible (an exact cell
    /// withheld, or a cell applicable in one answer only).
    pub fn add(&mut self, exact: RatioCell, released: RatioCell) -> Result<(), String> {
        match (exact, released) {
            (RatioCell::NotApplicable, RatioCell::NotApplicable) => self.not_applicable += 1,
            (RatioCell::Value(_), RatioCell::Withheld) => {
                self.cells += 1;
                self.withheld += 1;
            }
            (RatioCell::Value(e), RatioCell::Value(r)) => {
                let diff = (r - e).abs();
                self.cells += 1;
                self.both += 1;
                self.diff_sum += diff;
                self.diff_max = self.diff_max.max(diff);
            }
            (e, r) => return Err(format!("exact {e:?} released as {r:?}")),
        }
        Ok(())
    }

    /// The figures so far.
    pub fn figures(&self) -> RatioFigures {
        RatioFigures {
            cells: self.cells,
            not_applicable: self.not_applicable,
            withheld: self.withheld,
            share_withheld: share(self.withheld as f64, self.cells).unwrap_or(0.0),
            released_both: self.both,
            mean_abs_difference: share(self.diff_sum, self.both),
            max_abs_difference: (self.both > 0).then_some(self.diff_max),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-12)
    }

    #[test]
    fn promises_are_checked() {
        assert_eq!(violation(0, 0), None);
        assert_eq!(violation(3, 0), None);
        assert_eq!(violation(3, 8), None);
        assert_eq!(violation(100, 95), None);
        assert!(violation(0, 5).is_some());
        assert!(violation(100, 94).is_some());
        assert!(violation(7, 4).is_some());
        assert!(violation(2, 2).is_some());
    }

    #[test]
    fn count_figures_by_hand() {
        // (true, released): a zero, two small counts (one to 0, one to 6), 10 → 12, 100 → 99,
        // 200 → 200.
        let mut s = CountStats::default();
        for (t, r) in [(0, 0), (2, 0), (3, 6), (10, 12), (100, 99), (200, 200)] {
            s.add(t, r);
        }
        let f = s.figures();
        assert_eq!((f.cells, f.zero, f.small, f.at_least_5), (6, 1, 2, 3));
        assert_eq!((f.at_least_10, f.at_least_100), (3, 2));
        // |d| = 0, 2, 3, 2, 1, 0: sum 8 over 6 cells, max 3.
        assert!(close(f.mean_abs_perturbation, 8.0 / 6.0));
        assert_eq!(f.max_abs_perturbation, 3);
        // Changed: 2, 3, 10, 100 — 4 of 6 cells, 4 of 5 non-zero, 2 of 3 of 10 or more.
        assert!(close(f.share_changed, 4.0 / 6.0));
        assert!(close(f.share_changed_nonzero, 4.0 / 5.0));
        assert!(close(f.share_changed_at_least_10, 2.0 / 3.0));
        // Relative errors: 2/10, 1/100, 0/200 over three; 1/100, 0/200 over two.
        assert!(close(
            f.mean_abs_relative_error_at_least_10,
            (0.2 + 0.01) / 3.0
        ));
        assert!(close(f.mean_abs_relative_error_at_least_100, 0.01 / 2.0));
        assert!(close(f.small_released_as_0, 0.5));
        assert!(close(f.small_released_5_or_more, 0.5));
        // The hub's table (docs/disclosure.md §2.3): a 0 never changes, a 2 or 3 always
        // (never released as itself), a count of 10 or more with 256 − 58 of the 256 keys.
        let ten = 198.0 / 256.0;
        assert!(close(f.expected_share_changed, (2.0 + 3.0 * ten) / 6.0));
        // Merging two halves gives the whole.
        let (mut a, mut b) = (CountStats::default(), CountStats::default());
        for (t, r) in [(0, 0), (2, 0), (3, 6)] {
            a.add(t, r);
        }
        for (t, r) in [(10, 12), (100, 99), (200, 200)] {
            b.add(t, r);
        }
        a.merge(&b);
        assert_eq!(a.figures(), f);
    }

    #[test]
    fn empty_figures_have_no_shares() {
        let f = CountStats::default().figures();
        assert_eq!(f.cells, 0);
        assert_eq!(f.mean_abs_perturbation, None);
        assert_eq!(f.small_released_as_0, None);
    }

    #[test]
    fn ratio_figures_by_hand() {
        use RatioCell::*;
        let mut s = RatioStats::default();
        s.add(Value(0.5), Value(0.52)).unwrap();
        s.add(Value(0.25), Value(0.2)).unwrap();
        s.add(Value(0.4), Withheld).unwrap();
        s.add(Value(1.0), Value(1.0)).unwrap();
        s.add(NotApplicable, NotApplicable).unwrap();
        assert!(s.add(Withheld, Value(0.3)).is_err());
        assert!(s.add(NotApplicable, Value(0.3)).is_err());
        let f = s.figures();
        assert_eq!((f.cells, f.not_applicable, f.withheld), (4, 1, 1));
        assert_eq!(f.released_both, 3);
        assert!((f.share_withheld - 0.25).abs() < 1e-12);
        assert!(close(f.mean_abs_difference, (0.02 + 0.05 + 0.0) / 3.0));
        assert!(close(f.max_abs_difference, 0.05));
    }
}
