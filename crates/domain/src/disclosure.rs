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

/// Values that complementary (secondary) suppression spares wherever a smaller complement
/// exists: a publication's headline categories, for instance. Per dimension of the cube.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headlines {
    values: BTreeMap<usize, BTreeSet<String>>,
}

impl Headlines {
    /// No headline values: complements are chosen by size alone.
    pub fn none() -> Self {
        Self::default()
    }

    /// Marks `values` of dimension `dim` as headline values.
    pub fn with(mut self, dim: usize, values: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.values
            .entry(dim)
            .or_default()
            .extend(values.into_iter().map(Into::into));
        self
    }

    /// Whether a cell shows a headline figure: any of its coordinates is a headline value, or
    /// it is a total over every dimension but the first (the period): a national total.
    fn is_headline(&self, coords: &[String]) -> bool {
        let national_total = coords.len() > 1 && coords[1..].iter().all(|c| c == TOTAL);
        national_total
            || coords
                .iter()
                .enumerate()
                .any(|(d, c)| self.values.get(&d).is_some_and(|v| v.contains(c)))
    }
}

/// A count cube with every margin, under control.
#[derive(Clone, Debug)]
pub struct ControlledCube {
    dims: usize,
    cells: BTreeMap<Vec<String>, (u64, CellStatus)>,
    rules: DisclosureRules,
    headlines: Headlines,
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
        Self::control_sparing(finest, rules, Headlines::none())
    }

    /// As [`ControlledCube::control`], choosing complementary cells to lose as little as
    /// possible: along each line that needs a complement, a cell that is not a headline figure
    /// before one that is, then the smallest non-zero cell, and the line's total only when no
    /// member is left. Lines are settled from the most detailed level of the table up, so
    /// complements fall in the detailed cells wherever they can.
    pub fn control_sparing(
        finest: impl IntoIterator<Item = (Vec<String>, u64)>,
        rules: DisclosureRules,
        headlines: Headlines,
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
        let mut cube = ControlledCube {
            dims,
            cells,
            rules,
            headlines,
        };
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
        let mut lines = self.lines();
        // The most detailed lines first: a line's level is how many of its members'
        // coordinates are totals.
        lines.sort_by_key(|line| line[1].iter().filter(|c| *c == TOTAL).count());
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
                // Withhold a released member that is not a headline figure before one that is,
                // then the smallest (non-zero first: a withheld zero adds no uncertainty about
                // the sum); if none is left, the total.
                let candidate = line[1..]
                    .iter()
                    .filter(|k| !self.cells[*k].1.is_suppressed())
                    .min_by_key(|k| {
                        let v = self.cells[*k].0;
                        (self.headlines.is_headline(k), v == 0, v, (*k).clone())
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

    /// The quarterly national table of the issue: four quarters by category, with three
    /// domestic homicides in one quarter and two in another.
    fn quarterly(categories: &[(&str, [u64; 4])]) -> ControlledCube {
        let finest = categories.iter().flat_map(|(c, counts)| {
            counts
                .iter()
                .enumerate()
                .map(move |(q, n)| (k(&[&format!("Q{}", q + 1), c]), *n))
        });
        ControlledCube::control_sparing(
            finest,
            DisclosureRules::default(),
            Headlines::none().with(1, ["rape", "domestic_abuse"]),
        )
    }

    fn withheld(cube: &ControlledCube) -> Vec<Vec<String>> {
        cube.cells()
            .filter(|(_, c)| c.status.is_suppressed())
            .map(|(k, _)| k.clone())
            .collect()
    }

    #[test]
    fn complements_spare_headline_categories_and_totals_when_a_smaller_complement_exists() {
        let cube = quarterly(&[
            ("domestic_homicide", [3, 6, 2, 7]),
            ("rape", [20, 25, 18, 22]),
            ("domestic_abuse", [900, 880, 910, 950]),
            ("stalking", [40, 45, 38, 50]),
        ]);
        // Without headlines, the smallest complement in Q1 and Q3 would be rape (20 and 18).
        // With them, stalking is withheld instead, and no headline figure is lost.
        assert_eq!(
            withheld(&cube),
            vec![
                k(&["Q1", "domestic_homicide"]),
                k(&["Q1", "stalking"]),
                k(&["Q3", "domestic_homicide"]),
                k(&["Q3", "stalking"]),
            ]
        );
        let plain = ControlledCube::control(
            cube.cells
                .iter()
                .filter(|(k, _)| !k.contains(&TOTAL.to_string()))
                .map(|(k, v)| (k.clone(), v.0)),
            DisclosureRules::default(),
        );
        assert!(
            withheld(&plain).contains(&k(&["Q1", "rape"])),
            "the old choice"
        );
    }

    #[test]
    fn a_headline_is_withheld_only_when_nothing_smaller_can_protect_the_cell() {
        let cube = quarterly(&[
            ("domestic_homicide", [3, 6, 7, 8]),
            ("rape", [20, 25, 18, 22]),
            ("domestic_abuse", [900, 880, 910, 950]),
        ]);
        let w = withheld(&cube);
        assert!(w.contains(&k(&["Q1", "domestic_homicide"])));
        // Q1's line has only headline complements: the smaller, rape, is the one withheld.
        assert!(w.contains(&k(&["Q1", "rape"])));
        assert!(!w.contains(&k(&["Q1", "domestic_abuse"])));
        // Totals are never the complement while a member can be.
        assert!(w.iter().all(|c| !c.contains(&TOTAL.to_string())));
    }

    /// No withheld value can be recovered by one subtraction along any line of the cube, and
    /// what the withheld members of a line add up to is never a small count.
    fn check_safe(cube: &ControlledCube, threshold: u64) -> Result<(), TestCaseError> {
        for line in cube.lines() {
            let statuses: Vec<_> = line.iter().map(|c| cube.get(c).unwrap().status).collect();
            let withheld = statuses.iter().filter(|s| s.is_suppressed()).count();
            prop_assert_ne!(withheld, 1, "line {:?} has exactly one withheld cell", line);
            if withheld > 0 && !statuses[0].is_suppressed() {
                let sum: u64 = line[1..]
                    .iter()
                    .filter(|c| cube.get(c).unwrap().status.is_suppressed())
                    .map(|c| cube.cells[c].0)
                    .sum();
                prop_assert!(
                    !(sum > 0 && sum < threshold),
                    "withheld members of {:?} sum to {}",
                    line,
                    sum
                );
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn no_suppressed_value_is_derivable_from_released_totals((cells, threshold) in table()) {
            let rules = DisclosureRules { threshold, rounding_base: 0 };
            check_safe(&ControlledCube::control(cells, rules), threshold)?;
        }

        /// Sparing headlines changes which cells are complements, never whether the table is safe.
        #[test]
        fn sparing_headlines_keeps_every_table_safe((cells, threshold) in table(), spared in 0usize..4) {
            let rules = DisclosureRules { threshold, rounding_base: 0 };
            let dims = cells[0].0.len();
            let headlines = (0..dims).fold(Headlines::none(), |h, d| h.with(d, [format!("v{}", (spared + d) % 4)]));
            check_safe(&ControlledCube::control_sparing(cells, rules, headlines), threshold)?;
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
