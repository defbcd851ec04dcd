//! The hub's perturbation table: how it is generated (maximum-entropy rows quantised to the 256
//! cell keys, each count with its own key layout) and looked up. See `docs/disclosure.md` §2.3.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

use super::*;

/// One row of the perturbation table: the noise distribution of one count, quantised to the
/// 256 cell keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PerturbationRow {
    pub(super) count: u64,
    /// How many of the 256 keys give each deviation `-D..=D` (index `deviation + D`).
    pub(super) slots: [u16; WIDTH],
    /// The noise of each key for this count (the row's slots in the count's key layout).
    pub(super) noise_by_key: [i8; KEY_RANGE],
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
    pub(super) fn generate(v: f64, js: u64, n_max: u64) -> Option<PerturbationTable> {
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
pub(super) fn deviations() -> impl Iterator<Item = i64> {
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
pub(super) fn bounded(state: &mut u64, n: u64) -> u64 {
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
    let mut slots = initial_slots(&ideal, symmetric)?;
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
    let moves = neighbour_moves(n, symmetric);
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

/// Rounds the ideal key counts to whole keys summing to 256: symmetric rows round each side and
/// give the centre the rest; others take the largest remainders. `None` if a count would be
/// negative.
fn initial_slots(ideal: &[f64], symmetric: bool) -> Option<Vec<i64>> {
    let n = ideal.len();
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
    (!slots.iter().any(|s| *s < 0)).then_some(slots)
}

/// The single-key moves between neighbouring deviations (mirrored on symmetric rows).
fn neighbour_moves(n: usize, symmetric: bool) -> Vec<Vec<(usize, usize)>> {
    (0..n.saturating_sub(1))
        .flat_map(|i| [(i, i + 1), (i + 1, i)])
        .map(|(from, to)| {
            if symmetric {
                vec![(from, to), (n - 1 - from, n - 1 - to)]
            } else {
                vec![(from, to)]
            }
        })
        .collect()
}
