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

use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

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

/// One row of the perturbation table: the noise distribution of one count, quantised to the
/// 256 cell keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerturbationRow {
    count: u64,
    /// How many of the 256 keys give each deviation `-D..=D` (index `deviation + D`).
    slots: [u16; WIDTH],
    /// The noise of each key for this count (the row's slots in the count's key layout).
    noise_by_key: [i8; KEY_RANGE],
}

impl PerturbationRow {
    /// The count this row is for (for the last row: and every larger count).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// How many of the 256 cell keys give `deviation` (0 outside `-D..=D`). Divided by 256,
    /// the probability of that noise for a cell whose key is uniform.
    pub fn keys_with(&self, deviation: i64) -> u16 {
        let d = MAX_PERTURBATION as i64;
        if (-d..=d).contains(&deviation) {
            self.slots[(deviation + d) as usize]
        } else {
            0
        }
    }

    /// The mean noise over the 256 keys.
    pub fn mean(&self) -> f64 {
        self.moment(1) / KEY_RANGE as f64
    }

    /// The variance of the noise over the 256 keys.
    pub fn variance(&self) -> f64 {
        let mean = self.mean();
        self.moment(2) / KEY_RANGE as f64 - mean * mean
    }

    fn moment(&self, power: u32) -> f64 {
        deviations()
            .map(|v| f64::from(self.keys_with(v)) * (v as f64).powi(power as i32))
            .sum()
    }
}

/// The perturbation table (ptable): for each count, how the 256 cell keys map to noise.
///
/// # Construction
///
/// For each count `i` in `0..=TABLE_MAX_COUNT` the released values allowed are
/// `max(0, i - D)..=i + D` without `1..=js`; 0 always stays 0. Over those values the row is
/// the maximum-entropy distribution (Marley and Leaver; Giessing; the `ptable` R package)
/// subject to:
///
/// - mean equal to `i`: the noise is unbiased for every count, small ones included;
/// - variance equal to V, where the unbiased maximum-entropy distribution is wider than V.
///
/// The solution has the form `p(v) ∝ exp(a v + b v²)` over the allowed deviations `v`, with
/// `(a, b)` found by damped Newton steps on the convex dual. Without the variance constraint
/// `b = 0`; with it `b < 0`, so every row is log-concave: unimodal, and a large change is never
/// likelier than a smaller one in the same direction. Where the unbiased solution is already
/// narrower than V (count 6, whose only downward move is to 5) the variance constraint would
/// need `b > 0`, a U-shaped row, and is not imposed. For counts 1 to js, V cannot be met at
/// all (a released value must jump to 0 or past js; the variance is at least 4), and those
/// rows are unbiased maximum entropy alone.
///
/// Each row is then quantised to whole numbers of the 256 keys (largest remainders first, or
/// nearest values mirrored for a symmetric row) and repaired by moving keys between
/// neighbouring deviations until the mean is exactly 0 and, where imposed, the sum of squared
/// deviations is exactly `256·V` (with mean 0 that sum is even, and 768 is), staying as close
/// to the real-valued solution as those moves allow.
///
/// Which keys give which noise (the key layout) is a fixed pseudo-random permutation of the
/// row's 256 slots, different for every count: a Fisher–Yates shuffle driven by SplitMix64
/// seeded with SHA-256 of a fixed domain string and the count. Different layouts per count
/// mean that two cells differing by one unit whose key happens to be 0 (same cell key,
/// counts `n` and `n + 1`) still get unrelated noise. The layout is public; only unit keys are
/// secret. Counts above `TABLE_MAX_COUNT` use the last row's distribution with their own
/// layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerturbationTable {
    rows: Vec<PerturbationRow>,
}

static HUB_TABLE: LazyLock<PerturbationTable> = LazyLock::new(|| {
    PerturbationTable::generate(NOISE_VARIANCE, SMALL_COUNT_LIMIT, TABLE_MAX_COUNT)
        .expect("the hub's perturbation parameters are feasible (tested)")
});

impl PerturbationTable {
    /// The hub's table, generated once from [`MAX_PERTURBATION`], [`NOISE_VARIANCE`] and
    /// [`SMALL_COUNT_LIMIT`].
    pub fn hub() -> &'static PerturbationTable {
        &HUB_TABLE
    }

    /// The rows for counts `0..=TABLE_MAX_COUNT`.
    pub fn rows(&self) -> &[PerturbationRow] {
        &self.rows
    }

    /// The row whose distribution applies to `count`.
    pub fn row(&self, count: u64) -> &PerturbationRow {
        &self.rows[self.row_index(count)]
    }

    /// The noise added to a cell with true `count` and key `cell_key`.
    pub fn noise(&self, count: u64, cell_key: u8) -> i64 {
        let row = self.row(count);
        let noise = if row.count == count {
            row.noise_by_key[usize::from(cell_key)]
        } else {
            slot_deviation(&row.slots, layout(count)[usize::from(cell_key)])
        };
        i64::from(noise)
    }

    /// The noise of every cell key for `count` (index: the key): the count's row in the
    /// count's key layout. For acceptance tests and for printing the full table.
    pub fn noise_by_key(&self, count: u64) -> [i8; KEY_RANGE] {
        let row = self.row(count);
        if row.count == count {
            return row.noise_by_key;
        }
        let perm = layout(count);
        std::array::from_fn(|key| slot_deviation(&row.slots, perm[key]))
    }

    fn row_index(&self, count: u64) -> usize {
        let last = self.rows.len() - 1;
        usize::try_from(count).map_or(last, |c| c.min(last))
    }

    /// The released value of a cell with true `count` and key `cell_key`.
    pub fn perturb(&self, count: u64, cell_key: u8) -> u64 {
        count.saturating_add_signed(self.noise(count, cell_key))
    }

    /// The table as a Markdown table: for each count, how many of the 256 keys give each
    /// noise value, with the row's mean and variance (as printed in `docs/disclosure.md`).
    pub fn to_markdown(&self) -> String {
        let mut out = String::from("| count |");
        for v in deviations() {
            out.push_str(&format!(" {v:+} |"));
        }
        out.push_str(" mean | variance |\n|---:|");
        for _ in deviations() {
            out.push_str("---:|");
        }
        out.push_str("---:|---:|\n");
        for row in &self.rows {
            let label = if row.count == TABLE_MAX_COUNT {
                format!("{}+", row.count)
            } else {
                row.count.to_string()
            };
            out.push_str(&format!("| {label} |"));
            for v in deviations() {
                match row.keys_with(v) {
                    0 => out.push_str(" · |"),
                    n => out.push_str(&format!(" {n} |")),
                }
            }
            out.push_str(&format!(
                " {:.2} | {:.3} |\n",
                row.mean() + 0.0,
                row.variance()
            ));
        }
        out
    }

    /// Generates a table with maximum noise [`MAX_PERTURBATION`], variance `v`, small-count
    /// limit `js` and rows `0..=n_max`. `None` when the constraints cannot be met.
    fn generate(v: f64, js: u64, n_max: u64) -> Option<PerturbationTable> {
        let d = MAX_PERTURBATION as i64;
        if n_max < MAX_PERTURBATION + js + 1 || v.is_nan() || v <= 0.0 {
            return None;
        }
        // Mean 0 makes the sum of squared deviations over the keys even: aim at the nearest
        // even total (exactly 256·V when V·128 is a whole number, as for V = 3).
        let squares = (v * KEY_RANGE as f64 / 2.0).round() as i64 * 2;
        let mut rows = Vec::new();
        for count in 0..=n_max {
            let mut slots = [0u16; WIDTH];
            if count == 0 {
                slots[d as usize] = KEY_RANGE as u16;
            } else {
                let allowed: Vec<i64> = deviations()
                    .filter(|dev| {
                        let target = count as i64 + dev;
                        target >= 0 && !(1..=js as i64).contains(&target)
                    })
                    .collect();
                // Unbiased maximum entropy; then, where that spreads wider than V, the
                // variance is pinned to V (which makes b < 0: log-concave, unimodal).
                let unbiased = max_entropy(&allowed, None)?;
                let spread: f64 = unbiased
                    .iter()
                    .zip(&allowed)
                    .map(|(p, &dev)| p * (dev * dev) as f64)
                    .sum();
                let (p, squares) = if count > js && spread > v {
                    (max_entropy(&allowed, Some(v))?, Some(squares))
                } else {
                    (unbiased, None)
                };
                let quantised = quantise(&allowed, &p, squares)?;
                for (dev, n) in allowed.iter().zip(&quantised) {
                    slots[(dev + d) as usize] = u16::try_from(*n).ok()?;
                }
            }
            let perm = layout(count);
            let noise_by_key = std::array::from_fn(|key| slot_deviation(&slots, perm[key]));
            rows.push(PerturbationRow {
                count,
                slots,
                noise_by_key,
            });
        }
        Some(PerturbationTable { rows })
    }
}

/// The deviations `-D..=D` in order.
fn deviations() -> impl Iterator<Item = i64> {
    let d = MAX_PERTURBATION as i64;
    -d..=d
}

/// The noise of slot `slot` of a row: the row's deviations in ascending order, each taking as
/// many consecutive slots as it has keys.
fn slot_deviation(slots: &[u16; WIDTH], slot: u8) -> i8 {
    let mut end = 0;
    for (dev, n) in deviations().zip(slots) {
        end += usize::from(*n);
        if usize::from(slot) < end {
            return dev as i8;
        }
    }
    unreachable!("a row's slots cover all 256 keys")
}

/// The key layout of `count`: which slot of the row each cell key reads. A fixed
/// pseudo-random permutation of `0..=255`.
fn layout(count: u64) -> [u8; KEY_RANGE] {
    let digest = Sha256::new()
        .chain_update(LAYOUT_DOMAIN)
        .chain_update(count.to_be_bytes())
        .finalize();
    let mut state = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let mut perm: [u8; KEY_RANGE] = std::array::from_fn(|i| i as u8);
    for j in (1..KEY_RANGE).rev() {
        let r = bounded(&mut state, j as u64 + 1);
        perm.swap(j, r as usize);
    }
    perm
}

/// SplitMix64 (Steele, Lea and Flood), a fixed, well-known generator: the layout needs to be
/// well mixed and reproducible, not secret.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw from `0..n` (Lemire's multiply-and-reject: no modulo bias).
fn bounded(state: &mut u64, n: u64) -> u64 {
    let threshold = n.wrapping_neg() % n;
    loop {
        let product = u128::from(splitmix64(state)) * u128::from(n);
        if (product as u64) >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// The maximum-entropy distribution over `devs` with mean 0 and, when given, variance
/// `variance`: `p(v) ∝ exp(a v + b v²)`, with `(a, b)` minimising the convex dual
/// `log Z(a, b) - b·variance` by damped Newton steps. `None` if it does not converge (the
/// constraints cannot be met on `devs`).
fn max_entropy(devs: &[i64], variance: Option<f64>) -> Option<Vec<f64>> {
    let k = if variance.is_some() { 2 } else { 1 };
    let target = [0.0, variance.unwrap_or(0.0)];
    let features = |v: i64| [v as f64, (v * v) as f64];
    let log_z = |l: [f64; 2]| {
        let e: Vec<f64> = devs
            .iter()
            .map(|&v| l[0] * features(v)[0] + l[1] * features(v)[1])
            .collect();
        let max = e.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        max + e.iter().map(|x| (x - max).exp()).sum::<f64>().ln()
    };
    let dual = |l: [f64; 2]| log_z(l) - l[0] * target[0] - l[1] * target[1];
    let probabilities = |l: [f64; 2]| -> Vec<f64> {
        let z = log_z(l);
        devs.iter()
            .map(|&v| (l[0] * features(v)[0] + l[1] * features(v)[1] - z).exp())
            .collect()
    };
    let mut lambda = [0.0f64; 2];
    for _ in 0..500 {
        let p = probabilities(lambda);
        let mut mean = [0.0f64; 2];
        for (pi, &v) in p.iter().zip(devs) {
            for (m, f) in mean.iter_mut().zip(features(v)).take(k) {
                *m += pi * f;
            }
        }
        let mut cov = [[0.0f64; 2]; 2];
        for (pi, &v) in p.iter().zip(devs) {
            let f = features(v);
            for a in 0..k {
                for b in 0..k {
                    cov[a][b] += pi * (f[a] - mean[a]) * (f[b] - mean[b]);
                }
            }
        }
        let grad = [mean[0] - target[0], mean[1] - target[1]];
        if grad[..k].iter().all(|g| g.abs() < 1e-12) {
            return Some(p);
        }
        // Newton direction: cov · step = grad.
        let step = if k == 1 {
            [grad[0] / cov[0][0], 0.0]
        } else {
            let det = cov[0][0] * cov[1][1] - cov[0][1] * cov[1][0];
            [
                (cov[1][1] * grad[0] - cov[0][1] * grad[1]) / det,
                (cov[0][0] * grad[1] - cov[1][0] * grad[0]) / det,
            ]
        };
        if !step.iter().all(|s| s.is_finite()) {
            return None;
        }
        let decrease = grad[0] * step[0] + grad[1] * step[1];
        let current = dual(lambda);
        let mut t = 1.0;
        loop {
            let candidate = [lambda[0] - t * step[0], lambda[1] - t * step[1]];
            if dual(candidate) <= current - 1e-4 * t * decrease || t < 1e-12 {
                lambda = candidate;
                break;
            }
            t /= 2.0;
        }
    }
    None
}

/// Quantises probabilities over `devs` to whole numbers of the 256 keys with mean exactly 0
/// and, when given, sum of squared deviations exactly `squares` (variance `squares / 256`).
/// `None` if the repair cannot reach them.
fn quantise(devs: &[i64], p: &[f64], squares: Option<i64>) -> Option<Vec<i64>> {
    let n = devs.len();
    let ideal: Vec<f64> = p.iter().map(|pi| pi * KEY_RANGE as f64).collect();
    // A row over a symmetric set of deviations is kept symmetric: every move is mirrored.
    let symmetric = devs.iter().zip(devs.iter().rev()).all(|(a, b)| *a == -*b);
    let mut slots: Vec<i64>;
    if symmetric {
        slots = ideal.iter().map(|q| q.round() as i64).collect();
        let centre = n / 2;
        let sides: i64 = slots
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != centre)
            .map(|(_, s)| s)
            .sum();
        slots[centre] = KEY_RANGE as i64 - sides;
    } else {
        // Largest remainders.
        slots = ideal.iter().map(|q| q.floor() as i64).collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            let fa = ideal[a] - ideal[a].floor();
            let fb = ideal[b] - ideal[b].floor();
            fb.total_cmp(&fa).then(a.cmp(&b))
        });
        let missing = KEY_RANGE as i64 - slots.iter().sum::<i64>();
        for &i in order.iter().take(usize::try_from(missing).ok()?) {
            slots[i] += 1;
        }
    }
    if slots.iter().any(|s| *s < 0) {
        return None;
    }
    // Repair by moving single keys between neighbouring deviations, lexicographically
    // minimising (|sum of deviations|, |sum of squares - target|, distance to the ideal).
    let cost = |s: &[i64]| {
        let first: i64 = s.iter().zip(devs).map(|(n, v)| n * v).sum();
        let second: i64 = s.iter().zip(devs).map(|(n, v)| n * v * v).sum();
        let distance: f64 = s
            .iter()
            .zip(&ideal)
            .map(|(&n, q)| (n as f64 - q).powi(2) / q)
            .sum();
        (
            first.abs(),
            squares.map_or(0, |t| (second - t).abs()),
            distance,
        )
    };
    let better = |a: &(i64, i64, f64), b: &(i64, i64, f64)| {
        (a.0, a.1) < (b.0, b.1) || ((a.0, a.1) == (b.0, b.1) && a.2 < b.2 - 1e-12)
    };
    let moves: Vec<Vec<(usize, usize)>> = (0..n.saturating_sub(1))
        .flat_map(|i| [(i, i + 1), (i + 1, i)])
        .map(|(from, to)| {
            if symmetric {
                vec![(from, to), (n - 1 - from, n - 1 - to)]
            } else {
                vec![(from, to)]
            }
        })
        .collect();
    let apply = |s: &mut [i64], transfers: &[(usize, usize)]| {
        transfers.iter().all(|&(from, to)| {
            if s[from] == 0 {
                return false;
            }
            s[from] -= 1;
            s[to] += 1;
            true
        })
    };
    let mut current = cost(&slots);
    loop {
        let best_of = |candidates: Vec<Vec<i64>>| {
            candidates
                .into_iter()
                .map(|s| {
                    let c = cost(&s);
                    (s, c)
                })
                .fold(None::<(Vec<i64>, (i64, i64, f64))>, |best, (s, c)| {
                    let incumbent = best.as_ref().map_or(&current, |(_, bc)| bc);
                    if better(&c, incumbent) {
                        Some((s, c))
                    } else {
                        best
                    }
                })
        };
        let singles: Vec<Vec<i64>> = moves
            .iter()
            .filter_map(|m| {
                let mut s = slots.clone();
                apply(&mut s, m).then_some(s)
            })
            .collect();
        let best = best_of(singles).or_else(|| {
            let pairs: Vec<Vec<i64>> = moves
                .iter()
                .flat_map(|m1| moves.iter().map(move |m2| (m1, m2)))
                .filter_map(|(m1, m2)| {
                    let mut s = slots.clone();
                    (apply(&mut s, m1) && apply(&mut s, m2)).then_some(s)
                })
                .collect();
            best_of(pairs)
        });
        match best {
            Some((s, c)) => {
                slots = s;
                current = c;
            }
            None => break,
        }
    }
    (current.0 == 0 && current.1 == 0).then_some(slots)
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
