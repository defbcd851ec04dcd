//! Cell-key perturbation: disclosure control for flexible, caller-defined tables that holds
//! against any sequence of queries.
//!
//! [`crate::disclosure`] protects each table on its own, so answers to different queries can
//! be combined: differenced by category set, period or area set, probed with different
//! rounding bases, or repeated (issue #19). The cell-key method, used by the Australian Bureau
//! of Statistics in TableBuilder and by the ONS for Census 2021 custom datasets, instead makes
//! the noise a fixed property of the cell:
//!
//! 1. every unit (a person for person counts, a record for record counts) has a fixed key in
//!    `0..=255`, here [`unit_key`]: HMAC-SHA256 of a stable identifier under the hub's secret;
//! 2. a cell's key is the sum of its units' keys modulo 256 ([`CellKey`], [`KeyedCount`]), so
//!    the same set of units always has the same cell key, whatever query produced the cell;
//! 3. the released value is the count plus a noise value looked up by (count, cell key) in a
//!    fixed perturbation table ([`PerturbationTable`], [`perturb`]).
//!
//! The same cell therefore gets the same noise in every query by every caller: repeating a
//! query gives nothing to average, and differencing two cells leaves the difference of two
//! noises. The table is generated in code from three published-practice parameters:
//! [`MAX_PERTURBATION`] (D), [`NOISE_VARIANCE`] (V) and [`SMALL_COUNT_LIMIT`] (js); see
//! [`PerturbationTable`] for the construction and `docs/disclosure.md` for the method, the
//! table itself and the sources.
//!
//! Changing the secret, the table or the key layout redraws the noise of every cell, which
//! hands anyone who kept earlier answers a second independent draw to average. The table is
//! pinned by a test for that reason.

mod table;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub use table::{PerturbationRow, PerturbationTable};

type HmacSha256 = Hmac<Sha256>;

/// The number of distinct keys: unit keys and cell keys lie in `0..=255`, as in the ONS and
/// ABS implementations.
pub const KEY_RANGE: usize = 256;

/// D: the largest change perturbation makes to any count. Every released count is within D
/// of the true count.
pub const MAX_PERTURBATION: u64 = 5;

/// V: the variance of the noise, in counts squared. Exactly V for every count above `D + js`
/// (and for 5, 7, 8 and 9); at most V for 6, where unbiased, unimodal noise that may not go
/// below `js + 1` cannot spread that far; more than V for counts 1 to js, whose released
/// values must jump to 0 or past js (see [`PerturbationTable`]).
pub const NOISE_VARIANCE: f64 = 3.0;

/// js: no released count lies in `1..=SMALL_COUNT_LIMIT`. A released count is 0 or at least
/// `SMALL_COUNT_LIMIT + 1` (5), the same small-count rule as the fixed publication tables.
pub const SMALL_COUNT_LIMIT: u64 = 4;

/// Counts `0..=TABLE_MAX_COUNT` have their own row in the table; every larger count uses the
/// distribution of the last row (the first count whose noise is symmetric and unconstrained
/// by the small-count rule, `D + js + 1`), with its own key layout.
pub const TABLE_MAX_COUNT: u64 = MAX_PERTURBATION + SMALL_COUNT_LIMIT + 1;

/// A ratio (rate, proportion, mean per unit) is withheld when its perturbed base is below this.
/// A perturbed base of at least 10 means a true base of at least `10 - D` = 5, so no ratio
/// rests on a count the small-count rule would withhold.
pub const MIN_RATIO_BASE: u64 = 10;

/// A released ratio whose perturbed numerator is below this is flagged low reliability
/// (`[u]`), following the ONS practice for rates on fewer than 20 events.
pub const LOW_RELIABILITY_NUMERATOR: u64 = 20;

/// Domain separation for unit keys, so the hub's secret used here can never produce a value
/// that means something elsewhere.
const UNIT_KEY_DOMAIN: &[u8] = b"vawg-hub/cell-key/unit/v1\0";

/// Seed domain of the per-count key layouts (public: the layout is not a secret).
const LAYOUT_DOMAIN: &[u8] = b"vawg-hub/cell-key/layout/v1\0";

/// Deviations `-D..=D` as array positions.
const WIDTH: usize = 2 * MAX_PERTURBATION as usize + 1;

/// The key of one unit: the first byte of `HMAC-SHA256(secret, domain || unit)`, uniform on
/// `0..=255`.
///
/// `unit` must be a stable identifier of the unit that carries the key: [`person_unit`] for
/// person counts, [`record_unit`] for record counts. Because the key depends only on that
/// identifier, it survives revisions and reclassification of the record: a unit that moves
/// from one category to another carries its key with it. Without the secret nobody can
/// compute a unit's key, so nobody can compute a cell's key or its noise.
///
/// `secret` must be at least 32 random bytes, held like the pseudonymisation key (outside the
/// database) but distinct from it, and never rotated while the hub publishes: a new secret
/// redraws the noise of every cell.
pub fn unit_key(secret: &[u8], unit: &str) -> u8 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(UNIT_KEY_DOMAIN);
    mac.update(unit.as_bytes());
    mac.finalize().into_bytes()[0]
}

/// The stable unit identifier of a person (for counts of distinct people), from the person's
/// pseudonym. The pseudonym must be the person's first, stable one: a pseudonym that changes
/// with key rotation would give the person a new key and every cell they are in new noise.
pub fn person_unit(person_pseudonym: &str) -> String {
    format!("person:{person_pseudonym}")
}

/// The stable unit identifier of a record (for counts of records: crimes, referrals,
/// outcomes), from the submitting agency and the agency's own record id, which stay the same
/// across revisions. The agency id is length-prefixed so no two pairs give the same string.
pub fn record_unit(agency_id: &str, source_record_id: &str) -> String {
    format!("record:{}:{agency_id}:{source_record_id}", agency_id.len())
}

/// The key of a cell: the sum of its units' keys modulo 256.
///
/// Additive, so aggregates maintained incrementally keep it exactly: [`CellKey::insert`] adds a
/// unit's key, [`CellKey::remove`] subtracts it (in modulo-256 arithmetic, subtracting `k` is
/// adding `256 - k`), in any order, with the same result as summing the final set of units.
/// The empty cell has key 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellKey(u8);

impl CellKey {
    /// The key of a cell with no units.
    pub const EMPTY: CellKey = CellKey(0);

    /// A cell key from its stored value.
    pub const fn from_value(value: u8) -> CellKey {
        CellKey(value)
    }

    /// The key's value, `0..=255`, to store or to look up in the table.
    pub const fn value(self) -> u8 {
        self.0
    }

    /// The key after a unit with `unit_key` joins the cell.
    #[must_use]
    pub const fn insert(self, unit_key: u8) -> CellKey {
        CellKey(self.0.wrapping_add(unit_key))
    }

    /// The key after a unit with `unit_key` leaves the cell: adds `256 - unit_key`.
    #[must_use]
    pub const fn remove(self, unit_key: u8) -> CellKey {
        CellKey(self.0.wrapping_sub(unit_key))
    }

    /// The key of the union of two cells with no unit in common (e.g. the children of a
    /// margin over a dimension whose values partition the units). Not valid when a unit may be
    /// in both, as a person can be in two categories of a count of distinct people: such a
    /// margin's key must be summed over its own distinct units.
    #[must_use]
    pub const fn merge(self, other: CellKey) -> CellKey {
        CellKey(self.0.wrapping_add(other.0))
    }

    /// The key of this cell without the units of `part`, which must all be in this cell.
    #[must_use]
    pub const fn difference(self, part: CellKey) -> CellKey {
        CellKey(self.0.wrapping_sub(part.0))
    }
}

impl FromIterator<u8> for CellKey {
    /// The key of the cell holding units with these keys.
    fn from_iter<I: IntoIterator<Item = u8>>(unit_keys: I) -> CellKey {
        unit_keys.into_iter().fold(CellKey::EMPTY, CellKey::insert)
    }
}

/// A cell's true count with its key: what an aggregate keeps per cell so it can be released
/// with cell-key perturbation. Updated unit by unit like [`CellKey`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeyedCount {
    /// The true number of units in the cell. Never released on the flexible path.
    pub count: u64,
    /// The cell's key.
    pub key: CellKey,
}

impl KeyedCount {
    /// An empty cell.
    pub const EMPTY: KeyedCount = KeyedCount {
        count: 0,
        key: CellKey::EMPTY,
    };

    /// The cell after a unit with `unit_key` joins it.
    #[must_use]
    pub const fn insert(self, unit_key: u8) -> KeyedCount {
        KeyedCount {
            count: self.count + 1,
            key: self.key.insert(unit_key),
        }
    }

    /// The cell after a unit with `unit_key` leaves it; `None` if the cell is empty.
    #[must_use]
    pub const fn remove(self, unit_key: u8) -> Option<KeyedCount> {
        match self.count.checked_sub(1) {
            Some(count) => Some(KeyedCount {
                count,
                key: self.key.remove(unit_key),
            }),
            None => None,
        }
    }

    /// The union of two cells with no unit in common (see [`CellKey::merge`]).
    #[must_use]
    pub const fn merge(self, other: KeyedCount) -> KeyedCount {
        KeyedCount {
            count: self.count + other.count,
            key: self.key.merge(other.key),
        }
    }

    /// The value to release: the count perturbed by the hub's table.
    pub fn perturbed(self) -> u64 {
        perturb(self.count, self.key.value())
    }
}

impl FromIterator<u8> for KeyedCount {
    /// The cell holding units with these keys.
    fn from_iter<I: IntoIterator<Item = u8>>(unit_keys: I) -> KeyedCount {
        unit_keys
            .into_iter()
            .fold(KeyedCount::EMPTY, KeyedCount::insert)
    }
}

/// The released value of a cell with true `count` and key `cell_key`, by the hub's table:
/// `count + noise`, with `|noise| <= D`, 0 for 0, never in `1..=js`. The same arguments always
/// give the same value.
pub fn perturb(count: u64, cell_key: u8) -> u64 {
    PerturbationTable::hub().perturb(count, cell_key)
}

/// How a ratio of two perturbed counts may be released.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProtectedRatio {
    /// Released.
    Released {
        /// The ratio of the perturbed numerator to the perturbed base, times the scale.
        value: f64,
        /// The perturbed numerator is below [`LOW_RELIABILITY_NUMERATOR`]: show `[u]`.
        low_reliability: bool,
    },
    /// Withheld: the perturbed base is below [`MIN_RATIO_BASE`] (shown `[c]`).
    Withheld,
}

/// A rate, proportion or mean per unit from two cells, each perturbed as a cell in its own
/// right: `perturbed(numerator) / perturbed(base) * scale` (e.g. `scale` 1000 for a rate per
/// 1,000, 100 for a percentage, 1 for a mean number of records per person).
///
/// Both inputs are perturbed here, from their true counts and keys, so an exact value cannot
/// be passed by mistake. Withheld when the perturbed base is below [`MIN_RATIO_BASE`];
/// flagged low reliability when the perturbed numerator is below
/// [`LOW_RELIABILITY_NUMERATOR`]. Because numerator and base carry independent noise, a
/// proportion of two close small counts can exceed 100%; it is released as computed.
pub fn protected_ratio(numerator: KeyedCount, base: KeyedCount, scale: f64) -> ProtectedRatio {
    let base = base.perturbed();
    if base < MIN_RATIO_BASE {
        return ProtectedRatio::Withheld;
    }
    let numerator = numerator.perturbed();
    ProtectedRatio::Released {
        value: numerator as f64 / base as f64 * scale,
        low_reliability: numerator < LOW_RELIABILITY_NUMERATOR,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use sha2::Digest;

    use super::table::{bounded, deviations};
    use super::*;

    const SECRET: &[u8] = b"a test secret of at least 32 bytes, not the hub's";

    /// The hub's table, row by row: keys per deviation -5..=+5. Changing any of these redraws
    /// the noise of cells that were already published, so this is pinned, not derived.
    const PINNED_ROWS: [[u16; WIDTH]; 11] = [
        [0, 0, 0, 0, 0, 256, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 209, 0, 0, 0, 0, 26, 21],
        [0, 0, 0, 168, 0, 0, 0, 0, 38, 28, 22],
        [0, 0, 132, 0, 0, 0, 0, 43, 34, 27, 20],
        [0, 102, 0, 0, 0, 0, 43, 35, 30, 25, 21],
        [23, 0, 0, 0, 0, 149, 60, 18, 5, 1, 0],
        [0, 0, 0, 0, 125, 64, 34, 17, 9, 5, 2],
        [0, 0, 0, 60, 58, 49, 39, 25, 15, 6, 4],
        [0, 0, 18, 35, 51, 56, 47, 28, 14, 5, 2],
        [0, 5, 14, 31, 50, 57, 49, 31, 14, 4, 1],
        [1, 5, 12, 30, 51, 58, 51, 30, 12, 5, 1],
    ];

    /// SHA-256 over the noise of every key for counts 0..=2000, pinning the key layouts too.
    const PINNED_NOISE_DIGEST: &str =
        "fd3e431438b7cf70f621e83bfcee1f30534cba013b679eef4fcb73bc43ec9181";

    fn table() -> &'static PerturbationTable {
        PerturbationTable::hub()
    }

    fn keys_sum(row: &PerturbationRow, power: u32) -> i64 {
        deviations()
            .map(|v| i64::from(row.keys_with(v)) * v.pow(power))
            .sum()
    }

    #[test]
    fn the_hub_table_is_pinned() {
        let rows: Vec<[u16; WIDTH]> = table().rows().iter().map(|r| r.slots).collect();
        assert_eq!(rows, PINNED_ROWS.to_vec(), "\n{}", table().to_markdown());
        let mut digest = Sha256::new();
        for count in 0..=2000 {
            let noise = table().noise_by_key(count);
            digest.update(noise.map(|n| n as u8));
        }
        assert_eq!(hex(&digest.finalize()), PINNED_NOISE_DIGEST);
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn the_table_has_the_documented_shape() {
        let rows = table().rows();
        assert_eq!(rows.len() as u64, TABLE_MAX_COUNT + 1);
        assert_eq!(TABLE_MAX_COUNT, 10);
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(row.count(), i as u64);
            assert_eq!(
                keys_sum(row, 0),
                KEY_RANGE as i64,
                "row {i} covers 256 keys"
            );
            // The slots and the key layout agree: each deviation is given by that many keys.
            for v in deviations() {
                let keys = row
                    .noise_by_key
                    .iter()
                    .filter(|n| i64::from(**n) == v)
                    .count();
                assert_eq!(
                    keys,
                    usize::from(row.keys_with(v)),
                    "row {i}, deviation {v}"
                );
            }
        }
        // Counts above the table reuse the last row's distribution, in their own layout.
        for count in [11, 12, 57, 1000, u64::from(u32::MAX), u64::MAX] {
            assert!(std::ptr::eq(table().row(count), rows.last().unwrap()));
            let noise = table().noise_by_key(count);
            for v in deviations() {
                let keys = noise.iter().filter(|n| i64::from(**n) == v).count();
                assert_eq!(keys, usize::from(rows[10].keys_with(v)), "count {count}");
            }
        }
        assert_ne!(table().noise_by_key(11), table().noise_by_key(12));
        assert_ne!(table().noise_by_key(11), rows[10].noise_by_key);
    }

    #[test]
    fn every_row_is_exactly_unbiased() {
        for row in table().rows() {
            assert_eq!(keys_sum(row, 1), 0, "row {}", row.count());
            assert_eq!(row.mean(), 0.0);
        }
    }

    #[test]
    fn rows_above_the_small_count_limit_have_variance_v_where_log_concave_noise_reaches_it() {
        let target = (NOISE_VARIANCE * KEY_RANGE as f64) as i64;
        for row in table().rows() {
            let squares = keys_sum(row, 2);
            if row.count() > MAX_PERTURBATION + SMALL_COUNT_LIMIT {
                // The symmetric, unconstrained rows: exactly V, and symmetric.
                assert_eq!(squares, target, "row {}", row.count());
                for v in 1..=MAX_PERTURBATION as i64 {
                    assert_eq!(row.keys_with(v), row.keys_with(-v));
                }
            } else if row.count() > SMALL_COUNT_LIMIT {
                // Truncated below by the small-count rule: V, or less where unbiased
                // log-concave noise cannot spread that far (count 6).
                assert!(squares <= target, "row {}", row.count());
            }
            assert!((row.variance() - squares as f64 / 256.0).abs() < 1e-12);
        }
        // The variance is V for every count from 7 up, and for 5.
        for count in [5, 7, 8, 9, 10] {
            assert_eq!(table().rows()[count].variance(), NOISE_VARIANCE);
        }
    }

    #[test]
    fn zeros_stay_zero_and_no_released_count_is_small_or_far_from_the_truth() {
        for count in 0..=5000u64 {
            let noise = table().noise_by_key(count);
            for (key, n) in noise.iter().enumerate() {
                let released = count.saturating_add_signed(i64::from(*n));
                assert!(i64::from(*n).unsigned_abs() <= MAX_PERTURBATION);
                assert!(
                    released == 0 || released > SMALL_COUNT_LIMIT,
                    "count {count} key {key} released as {released}"
                );
                if count == 0 {
                    assert_eq!(released, 0);
                }
            }
            // The public lookup reads the same table.
            let key = (count % 256) as u8;
            assert_eq!(
                perturb(count, key),
                count.saturating_add_signed(i64::from(noise[usize::from(key)]))
            );
        }
    }

    #[test]
    fn no_released_value_pins_down_a_small_count() {
        // For every value a count of 1 to js can be released as, other true counts give that
        // value too, so seeing it does not tell the attacker the count.
        let mut produced_by: BTreeMap<u64, BTreeSet<u64>> = BTreeMap::new();
        for count in 0..=20u64 {
            for key in 0..=255u8 {
                produced_by
                    .entry(perturb(count, key))
                    .or_default()
                    .insert(count);
            }
        }
        for count in 1..=SMALL_COUNT_LIMIT {
            for key in 0..=255u8 {
                let released = perturb(count, key);
                let sources = &produced_by[&released];
                assert!(
                    sources.len() >= 5,
                    "released {released} comes only from counts {sources:?}"
                );
            }
        }
        // A released 0 may be a true 0 to 5.
        assert_eq!(
            produced_by[&0],
            (0..=MAX_PERTURBATION).collect::<BTreeSet<_>>()
        );
    }

    #[test]
    fn differencing_two_cells_leaves_the_noise_even_when_the_added_unit_has_key_zero() {
        // Cell B is cell A plus one unit. Released(B) - released(A) - 1 is the difference of
        // two noises: within 2D always, and right only about as often as two independent
        // draws of the noise agree (sum of p², 0.163 for the last row), not every time. A unit
        // with key 0 leaves the cell key unchanged, so only the per-count layouts separate
        // the two lookups.
        let last = &table().rows()[TABLE_MAX_COUNT as usize];
        let agree: f64 = deviations()
            .map(|v| (f64::from(last.keys_with(v)) / 256.0).powi(2))
            .sum();
        for unit in [0u8, 1, 2, 3, 128, 255] {
            let (mut exact, mut pairs) = (0u32, 0u32);
            for count in TABLE_MAX_COUNT..TABLE_MAX_COUNT + 400 {
                let (noise_a, noise_b) =
                    (table().noise_by_key(count), table().noise_by_key(count + 1));
                for key in 0..=255u8 {
                    let a = KeyedCount {
                        count,
                        key: CellKey::from_value(key),
                    };
                    let b = a.insert(unit);
                    let released_a =
                        a.count as i64 + i64::from(noise_a[usize::from(a.key.value())]);
                    let released_b =
                        b.count as i64 + i64::from(noise_b[usize::from(b.key.value())]);
                    let error = released_b - released_a - 1;
                    assert!(error.unsigned_abs() <= 2 * MAX_PERTURBATION);
                    exact += u32::from(error == 0);
                    pairs += 1;
                }
            }
            let rate = f64::from(exact) / f64::from(pairs);
            assert!(
                (rate - agree).abs() < 0.02,
                "unit key {unit}: difference exact in {rate:.3} of pairs, expected {agree:.3}"
            );
        }
        // Spot-check that the public path agrees with the arrays used above.
        let a = KeyedCount {
            count: 123,
            key: CellKey::from_value(77),
        };
        assert_eq!(
            a.perturbed(),
            123u64.saturating_add_signed(i64::from(table().noise_by_key(123)[77]))
        );
    }

    #[test]
    fn repeating_a_query_gives_the_same_answer_so_averaging_gains_nothing() {
        let cell: KeyedCount = [17u8, 200, 3, 99, 250, 1].into_iter().collect();
        let first = cell.perturbed();
        let answers: Vec<u64> = (0..1000).map(|_| cell.perturbed()).collect();
        assert!(answers.iter().all(|a| *a == first));
        // The same cell reached by a different order of updates is the same cell.
        let other = KeyedCount::EMPTY
            .insert(1)
            .insert(250)
            .insert(7)
            .insert(99)
            .remove(7)
            .unwrap()
            .insert(3)
            .insert(200)
            .insert(17);
        assert_eq!(other, cell);
        assert_eq!(other.perturbed(), first);
    }

    #[test]
    fn unit_keys_are_keyed_stable_and_spread_over_the_key_range() {
        let a = unit_key(SECRET, &record_unit("police-a", "CR-1"));
        assert_eq!(a, unit_key(SECRET, &record_unit("police-a", "CR-1")));
        // Another secret gives unrelated keys: over many units most differ.
        let other = b"another secret of at least 32 bytes long...";
        let differ = (0..1000)
            .filter(|i| {
                let unit = person_unit(&format!("p{i}"));
                unit_key(SECRET, &unit) != unit_key(other, &unit)
            })
            .count();
        assert!(differ > 980, "{differ}");
        // Unit identifiers are unambiguous.
        assert_ne!(record_unit("a:b", "c"), record_unit("a", "b:c"));
        assert_ne!(person_unit("x"), record_unit("", "x"));
        // Roughly uniform: 25,600 units over 256 keys, 100 expected per key.
        let mut per_key = [0u32; KEY_RANGE];
        for i in 0..25_600 {
            per_key[usize::from(unit_key(SECRET, &person_unit(&format!("person-{i}"))))] += 1;
        }
        let chi2: f64 = per_key
            .iter()
            .map(|n| (f64::from(*n) - 100.0).powi(2) / 100.0)
            .sum();
        // 255 degrees of freedom: mean 255, sd about 22.6; 400 is far in the tail.
        assert!(chi2 < 400.0, "chi-square {chi2}");
    }

    #[test]
    fn keyed_counts_cannot_go_below_zero() {
        assert_eq!(KeyedCount::EMPTY.remove(5), None);
        let one = KeyedCount::EMPTY.insert(5);
        assert_eq!(one.remove(5), Some(KeyedCount::EMPTY));
    }

    #[test]
    fn ratios_rest_on_perturbed_inputs_and_are_withheld_on_a_small_base() {
        // A cell whose perturbed value we can read off the table.
        let find = |want: u64| -> KeyedCount {
            (0..=255u8)
                .flat_map(|key| {
                    (0..60u64).map(move |count| KeyedCount {
                        count,
                        key: CellKey::from_value(key),
                    })
                })
                .find(|c| c.perturbed() == want)
                .expect("some cell is released with that value")
        };
        let base9 = find(9);
        let base10 = find(10);
        let num5 = find(5);
        let num25 = find(25);
        assert_eq!(
            protected_ratio(num5, base9, 100.0),
            ProtectedRatio::Withheld
        );
        assert_eq!(
            protected_ratio(num5, base10, 100.0),
            ProtectedRatio::Released {
                value: 50.0,
                low_reliability: true
            }
        );
        let base50 = find(50);
        assert_eq!(
            protected_ratio(num25, base50, 1000.0),
            ProtectedRatio::Released {
                value: 500.0,
                low_reliability: false
            }
        );
    }

    #[test]
    fn the_generator_rejects_infeasible_parameters() {
        assert!(PerturbationTable::generate(0.0, 4, 10).is_none());
        assert!(PerturbationTable::generate(3.0, 4, 9).is_none());
        // Noise of variance 30 cannot stay within 5: unbiased log-concave noise spreads as far as
        // it can (uniform on -5..=5 for the last row, variance 10) and no further.
        let wide = PerturbationTable::generate(30.0, 4, 10).expect("feasible");
        assert!(wide.rows().iter().all(|r| r.variance() < 30.0));
        // Other published-practice settings with D = 5 generate and keep the guarantees.
        for (v, js) in [(1.0, 0), (2.0, 2), (3.0, 2), (2.5, 4)] {
            let t =
                PerturbationTable::generate(v, js, MAX_PERTURBATION + js + 1).expect("feasible");
            for row in t.rows() {
                assert_eq!(keys_sum(row, 1), 0, "V {v} js {js} row {}", row.count());
                for dev in deviations() {
                    let target = row.count() as i64 + dev;
                    if row.keys_with(dev) > 0 {
                        assert!(target == 0 || target > js as i64);
                    }
                }
            }
            let last = t.rows().last().unwrap();
            assert!((last.variance() - v).abs() <= 1.0 / 128.0, "V {v} js {js}");
        }
    }

    #[test]
    fn the_document_prints_this_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/disclosure.md");
        let doc = std::fs::read_to_string(path).expect("docs/disclosure.md exists");
        assert!(
            doc.contains(&table().to_markdown()),
            "docs/disclosure.md must print the table as generated:\n{}",
            table().to_markdown()
        );
    }

    proptest! {
        /// The released value is a fixed function of (count, cell key), within D of the count,
        /// never in 1..=js, and 0 for 0.
        #[test]
        fn perturbation_is_fixed_bounded_and_never_small(count in prop_oneof![0u64..64, any::<u64>()], key in any::<u8>()) {
            let released = perturb(count, key);
            prop_assert_eq!(released, perturb(count, key));
            prop_assert_eq!(released, table().perturb(count, key));
            prop_assert!(released.abs_diff(count) <= MAX_PERTURBATION || count > u64::MAX - MAX_PERTURBATION);
            prop_assert!(released == 0 || released > SMALL_COUNT_LIMIT);
            if count == 0 {
                prop_assert_eq!(released, 0);
            }
        }

        /// A cell key maintained by inserts and removals in any order equals the sum of the
        /// keys of the units finally in the cell; removing k is adding 256 - k.
        #[test]
        fn cell_keys_are_additive_in_any_order(
            units in proptest::collection::vec(any::<u8>(), 0..60),
            removed_mask in proptest::collection::vec(any::<bool>(), 60),
            order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        ) {
            // Insert every unit, then remove the masked ones, interleaved in a shuffled order
            // (each removal after its own insertion).
            let mut events: Vec<(usize, bool)> = (0..units.len()).map(|i| (i, true)).collect();
            let mut state = order;
            for i in (1..events.len()).rev() {
                events.swap(i, bounded(&mut state, i as u64 + 1) as usize);
            }
            let mut pending: Vec<(usize, bool)> = Vec::new();
            for (i, _) in events {
                pending.push((i, true));
                if removed_mask[i] {
                    pending.push((i, false));
                }
            }
            let mut key = CellKey::EMPTY;
            let mut keyed = KeyedCount::EMPTY;
            for (i, insert) in pending {
                if insert {
                    key = key.insert(units[i]);
                    keyed = keyed.insert(units[i]);
                } else {
                    key = key.remove(units[i]);
                    keyed = keyed.remove(units[i]).expect("inserted before");
                }
            }
            let remaining: Vec<u8> = units.iter().zip(&removed_mask).filter(|(_, r)| !**r).map(|(u, _)| *u).collect();
            let expected = remaining.iter().map(|k| u32::from(*k)).sum::<u32>() % 256;
            prop_assert_eq!(u32::from(key.value()), expected);
            prop_assert_eq!(key, remaining.iter().copied().collect::<CellKey>());
            prop_assert_eq!(keyed, remaining.iter().copied().collect::<KeyedCount>());
            // Removal is addition of the complement.
            for k in &units {
                prop_assert_eq!(key.remove(*k), key.insert(((256 - u16::from(*k)) % 256) as u8));
            }
        }

        /// The key of a union of disjoint cells is the merge of their keys, and a part can be
        /// taken back out.
        #[test]
        fn merging_disjoint_cells_adds_their_keys(
            left in proptest::collection::vec(any::<u8>(), 0..40),
            right in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let l: KeyedCount = left.iter().copied().collect();
            let r: KeyedCount = right.iter().copied().collect();
            let whole: KeyedCount = left.iter().chain(&right).copied().collect();
            prop_assert_eq!(l.merge(r), whole);
            prop_assert_eq!(whole.key.difference(r.key), l.key);
        }

        /// A released ratio always rests on a true base of at least js + 1.
        #[test]
        fn released_ratios_rest_on_a_true_base_above_the_small_count_limit(
            base in 0u64..40, base_key in any::<u8>(), numerator in 0u64..40, numerator_key in any::<u8>(),
        ) {
            let b = KeyedCount { count: base, key: CellKey::from_value(base_key) };
            let n = KeyedCount { count: numerator, key: CellKey::from_value(numerator_key) };
            if let ProtectedRatio::Released { value, low_reliability } = protected_ratio(n, b, 1.0) {
                prop_assert!(base > SMALL_COUNT_LIMIT);
                prop_assert_eq!(value, n.perturbed() as f64 / b.perturbed() as f64);
                prop_assert_eq!(low_reliability, n.perturbed() < LOW_RELIABILITY_NUMERATOR);
            } else {
                prop_assert!(b.perturbed() < MIN_RATIO_BASE);
            }
        }
    }
}
