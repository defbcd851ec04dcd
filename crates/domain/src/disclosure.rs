//! Statistical disclosure control for count tables, applied to every cell before it leaves the
//! hub.
//!
//! Defaults follow the Government Statistical Service guidance on the release of small counts
//! in official statistics (ONS, "Statistical disclosure control" policy; the GSS/GSR
//! "Disclosure control guidance for tables produced from administrative sources"): counts from
//! 1 to 4 are withheld (threshold 5), zeros are released (they are not disclosive of a person
//! on their own), and, where a table's totals are published, further cells are withheld so a
//! withheld count can never be worked out by subtraction.
//!
//! Model: a table is a cube of counts over `d` dimensions. Every margin is treated as
//! published, whether this query returns it or a later query with a coarser breakdown does, so
//! protection holds "from row or column totals or from another breakdown of the same query".
//! For each line of the cube (all coordinates fixed but one) the cells along it must add up to
//! the margin cell at the end of the line. Secondary suppression makes every such line that
//! has a withheld cell and a published margin have at least two withheld cells, whose sum is
//! itself at least the threshold — so no withheld value is the answer to one subtraction, and
//! what a pair of withheld cells reveals together is itself not a small count.

use std::collections::{BTreeMap, BTreeSet};

/// The value used for a margin ("all values of this dimension") in cube coordinates.
pub const TOTAL: &str = "*";

/// How to control a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisclosureRules {
    /// Counts from 1 to `threshold - 1` are withheld. 0 or 1 disables primary suppression.
    pub threshold: u64,
    /// Released counts are rounded to the nearest multiple of this. 0 or 1: no rounding.
    pub rounding_base: u64,
}

impl Default for DisclosureRules {
    fn default() -> Self {
        Self {
            threshold: 5,
            rounding_base: 0,
        }
    }
}

impl DisclosureRules {
    /// The stricter of two rule sets: a caller may ask for more control, never less.
    pub fn stricter(self, other: DisclosureRules) -> DisclosureRules {
        DisclosureRules {
            threshold: self.threshold.max(other.threshold),
            rounding_base: self.rounding_base.max(other.rounding_base),
        }
    }

    fn is_primary(&self, value: u64) -> bool {
        value > 0 && value < self.threshold
    }

    fn round(&self, value: u64) -> u64 {
        if self.rounding_base <= 1 {
            return value;
        }
        let b = self.rounding_base;
        (value + b / 2) / b * b
    }
}

/// How a cell was treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CellStatus {
    /// Released as counted.
    Released,
    /// Released after rounding.
    Rounded,
    /// Withheld: below the threshold.
    SuppressedPrimary,
    /// Withheld to protect a primary-suppressed cell.
    SuppressedSecondary,
}

impl CellStatus {
    /// Whether the cell's value is withheld.
    pub fn is_suppressed(self) -> bool {
        matches!(
            self,
            CellStatus::SuppressedPrimary | CellStatus::SuppressedSecondary
        )
    }
}

/// A controlled cell: the released value (`None` when withheld) and its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlledCell {
    /// The released value, or `None`.
    pub value: Option<u64>,
    /// How it was treated.
    pub status: CellStatus,
}

/// A count cube with every margin, under control.
#[derive(Clone, Debug)]
pub struct ControlledCube {
    dims: usize,
    cells: BTreeMap<Vec<String>, (u64, CellStatus)>,
    rules: DisclosureRules,
}

impl ControlledCube {
    /// Builds the cube from the finest-level counts (coordinates without [`TOTAL`]), adds every
    /// margin, and applies primary then secondary suppression and rounding.
    ///
    /// All coordinate vectors must have the same length; cells listed twice are added.
    pub fn control(
        finest: impl IntoIterator<Item = (Vec<String>, u64)>,
        rules: DisclosureRules,
    ) -> ControlledCube {
        let mut cells: BTreeMap<Vec<String>, (u64, CellStatus)> = BTreeMap::new();
        let mut dims = None;
        for (coords, value) in finest {
            let d = *dims.get_or_insert(coords.len());
            assert_eq!(
                d,
                coords.len(),
                "every cell needs the same number of dimensions"
            );
            // Add the value to the cell and to each of its 2^d margins.
            for mask in 0..(1u32 << d) {
                let key: Vec<String> = coords
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        if mask & (1 << i) != 0 {
                            TOTAL.to_string()
                        } else {
                            c.clone()
                        }
                    })
                    .collect();
                cells.entry(key).or_insert((0, CellStatus::Released)).0 += value;
            }
        }
        let dims = dims.unwrap_or(0);
        for (value, status) in cells.values_mut() {
            if rules.is_primary(*value) {
                *status = CellStatus::SuppressedPrimary;
            }
        }
        let mut cube = ControlledCube { dims, cells, rules };
        cube.secondary_suppression();
        cube
    }

    /// The lines of the cube: for each dimension, the groups of cells that differ only in that
    /// dimension, with the margin cell (the group's total) first.
    fn lines(&self) -> Vec<Vec<Vec<String>>> {
        let mut lines = Vec::new();
        for dim in 0..self.dims {
            let mut groups: BTreeMap<Vec<String>, Vec<Vec<String>>> = BTreeMap::new();
            for key in self.cells.keys() {
                if key[dim] == TOTAL {
                    continue;
                }
                let mut total = key.clone();
                total[dim] = TOTAL.to_string();
                groups.entry(total).or_default().push(key.clone());
            }
            for (total, members) in groups {
                let mut line = vec![total];
                line.extend(members);
                lines.push(line);
            }
        }
        lines
    }

    fn secondary_suppression(&mut self) {
        if self.rules.threshold <= 1 {
            return;
        }
        let lines = self.lines();
        loop {
            let mut changed = false;
            for line in &lines {
                let suppressed: Vec<&Vec<String>> = line
                    .iter()
                    .filter(|k| self.cells[*k].1.is_suppressed())
                    .collect();
                if suppressed.is_empty() {
                    continue;
                }
                let total_released = !self.cells[&line[0]].1.is_suppressed();
                let members_suppressed_sum: u64 = line[1..]
                    .iter()
                    .filter(|k| self.cells[*k].1.is_suppressed())
                    .map(|k| self.cells[k].0)
                    .sum();
                // Safe when the line has ≥ 2 withheld cells and, if its total is published,
                // what the withheld members add up to is not itself a small count.
                let safe = suppressed.len() >= 2
                    && (!total_released || !self.rules.is_primary(members_suppressed_sum));
                if safe {
                    continue;
                }
                // Withhold the smallest released member (non-zero first: a withheld zero adds
                // no uncertainty about the sum); if none is left, the total.
                let candidate = line[1..]
                    .iter()
                    .filter(|k| !self.cells[*k].1.is_suppressed())
                    .min_by_key(|k| {
                        let v = self.cells[*k].0;
                        (v == 0, v, (*k).clone())
                    })
                    .cloned()
                    .or_else(|| total_released.then(|| line[0].clone()));
                if let Some(k) = candidate {
                    self.cells.get_mut(&k).expect("cell exists").1 =
                        CellStatus::SuppressedSecondary;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// The controlled cell at `coords` (which may use [`TOTAL`]); `None` when no data fell there.
    pub fn get(&self, coords: &[String]) -> Option<ControlledCell> {
        self.cells.get(coords).map(|(v, status)| match status {
            s if s.is_suppressed() => ControlledCell {
                value: None,
                status: *s,
            },
            _ => {
                let r = self.rules.round(*v);
                let status = if self.rules.rounding_base > 1 {
                    CellStatus::Rounded
                } else {
                    CellStatus::Released
                };
                ControlledCell {
                    value: Some(r),
                    status,
                }
            }
        })
    }

    /// Every cell (finest level and margins) with its controlled value.
    pub fn cells(&self) -> impl Iterator<Item = (&Vec<String>, ControlledCell)> {
        self.cells
            .keys()
            .map(|k| (k, self.get(k).expect("key exists")))
    }

    /// The number of dimensions.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// The rules applied.
    pub fn rules(&self) -> DisclosureRules {
        self.rules
    }
}

/// Controls a ratio or average resting on `base` units (a rate, a mean of days): withheld when
/// the base is a small count, so a single person's value cannot be read off.
pub fn control_ratio(base: u64, rules: DisclosureRules) -> CellStatus {
    if rules.is_primary(base) {
        CellStatus::SuppressedPrimary
    } else {
        CellStatus::Released
    }
}

/// The set of distinct coordinate values per dimension (finest level), for callers that lay
/// out rows.
pub fn dimension_values(cube: &ControlledCube) -> Vec<BTreeSet<String>> {
    let mut values = vec![BTreeSet::new(); cube.dims()];
    for key in cube.cells.keys() {
        for (i, v) in key.iter().enumerate() {
            if v != TOTAL {
                values[i].insert(v.clone());
            }
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn k(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_single_small_cell_forces_a_second_withheld_cell_in_its_row_and_column() {
        // area x sex
        let finest = vec![
            (k(&["A", "F"]), 3),
            (k(&["A", "M"]), 40),
            (k(&["B", "F"]), 50),
            (k(&["B", "M"]), 60),
        ];
        let cube = ControlledCube::control(finest, DisclosureRules::default());
        let status = |c: &[&str]| cube.get(&k(c)).unwrap().status;
        assert_eq!(status(&["A", "F"]), CellStatus::SuppressedPrimary);
        // Row A has total 43 published, so another cell of row A must go; likewise column F.
        assert!(status(&["A", "M"]).is_suppressed());
        assert!(status(&["B", "F"]).is_suppressed());
        // ... and then row B and column M each have one withheld cell, so B/M goes too.
        assert!(status(&["B", "M"]).is_suppressed());
        assert_eq!(cube.get(&k(&["*", "*"])).unwrap().value, Some(153));
        assert_eq!(cube.get(&k(&["A", "*"])).unwrap().value, Some(43));
    }

    #[test]
    fn zeros_and_large_counts_are_released_and_rounding_applies() {
        let cube = ControlledCube::control(
            vec![(k(&["A"]), 0), (k(&["B"]), 12), (k(&["C"]), 27)],
            DisclosureRules {
                threshold: 5,
                rounding_base: 5,
            },
        );
        assert_eq!(
            cube.get(&k(&["A"])).unwrap(),
            ControlledCell {
                value: Some(0),
                status: CellStatus::Rounded
            }
        );
        assert_eq!(cube.get(&k(&["B"])).unwrap().value, Some(10));
        assert_eq!(cube.get(&k(&["C"])).unwrap().value, Some(25));
        assert_eq!(cube.get(&k(&["*"])).unwrap().value, Some(40));
    }

    #[test]
    fn two_small_cells_summing_below_threshold_need_a_third() {
        let cube = ControlledCube::control(
            vec![
                (k(&["A"]), 1),
                (k(&["B"]), 2),
                (k(&["C"]), 30),
                (k(&["D"]), 31),
            ],
            DisclosureRules::default(),
        );
        let suppressed: Vec<_> = ["A", "B", "C", "D"]
            .iter()
            .filter(|c| cube.get(&k(&[c])).unwrap().status.is_suppressed())
            .collect();
        assert_eq!(suppressed, vec![&"A", &"B", &"C"]);
    }

    #[test]
    fn ratios_rest_on_their_base() {
        assert_eq!(
            control_ratio(4, DisclosureRules::default()),
            CellStatus::SuppressedPrimary
        );
        assert_eq!(
            control_ratio(0, DisclosureRules::default()),
            CellStatus::Released
        );
        assert_eq!(
            control_ratio(5, DisclosureRules::default()),
            CellStatus::Released
        );
    }

    fn table() -> impl Strategy<Value = (Vec<(Vec<String>, u64)>, u64)> {
        (1usize..=3, 1usize..=4, 2u64..=10).prop_flat_map(|(dims, width, threshold)| {
            let n = width.pow(dims as u32);
            (
                proptest::collection::vec(prop_oneof![3 => 0u64..12, 1 => 0u64..200], n),
                Just((dims, width, threshold)),
            )
                .prop_map(|(values, (dims, width, threshold))| {
                    let cells = values
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let coords = (0..dims)
                                .map(|d| format!("v{}", (i / width.pow(d as u32)) % width))
                                .collect();
                            (coords, v)
                        })
                        .collect();
                    (cells, threshold)
                })
        })
    }

    proptest! {
        /// No withheld value can be recovered by one subtraction along any line of the cube,
        /// and what the withheld members of a line add up to is never a small count.
        #[test]
        fn no_suppressed_value_is_derivable_from_released_totals((cells, threshold) in table()) {
            let rules = DisclosureRules { threshold, rounding_base: 0 };
            let cube = ControlledCube::control(cells, rules);
            for line in cube.lines() {
                let statuses: Vec<_> = line.iter().map(|c| cube.get(c).unwrap().status).collect();
                let withheld = statuses.iter().filter(|s| s.is_suppressed()).count();
                prop_assert_ne!(withheld, 1, "line {:?} has exactly one withheld cell", line);
                if withheld > 0 && !statuses[0].is_suppressed() {
                    let sum: u64 = line[1..].iter().filter(|c| cube.get(c).unwrap().status.is_suppressed()).map(|c| cube.cells[c].0).sum();
                    prop_assert!(!(sum > 0 && sum < threshold), "withheld members of {:?} sum to {}", line, sum);
                }
            }
        }

        /// Every small count is withheld; every released value is the true value.
        #[test]
        fn small_counts_never_leave_and_released_values_are_true((cells, threshold) in table()) {
            let rules = DisclosureRules { threshold, rounding_base: 0 };
            let cube = ControlledCube::control(cells, rules);
            for (coords, cell) in cube.cells() {
                let truth = cube.cells[coords].0;
                match cell.value {
                    Some(v) => {
                        prop_assert_eq!(v, truth);
                        prop_assert!(truth == 0 || truth >= threshold);
                    }
                    None => prop_assert!(cell.status.is_suppressed()),
                }
            }
        }
    }
}
