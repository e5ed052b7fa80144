//! Confidence intervals from slices: a mean with Student's t interval, a
//! paired ratio (geometric mean of per-round ratios, t interval on the
//! logs), a percentile bootstrap for statistics that are not means (the
//! USL parameters), and the verdict a difference gets from its interval.
//!
//! Why t and not a bootstrap for the means: a sweep has 4–8 rounds, and a
//! percentile bootstrap over so few values is too narrow (it cannot see
//! beyond the sample's own range); t is exact for normal slices and honest
//! for near-normal ones. The bootstrap is kept for the USL fit, which has
//! no closed-form interval.

use serde::{Deserialize, Serialize};

/// A figure with its 95% confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    /// How many slices (or rounds) it came from.
    pub n: usize,
}

impl Estimate {
    /// A mean with its 95% interval `[lo, hi]`, from `n` values.
    pub fn new(mean: f64, lo: f64, hi: f64, n: usize) -> Estimate {
        Estimate { mean, lo, hi, n }
    }

    /// An estimate made on logs, back on the ratio scale.
    pub fn exp(self) -> Estimate {
        Estimate::new(self.mean.exp(), self.lo.exp(), self.hi.exp(), self.n)
    }

    /// A single value: no interval.
    pub fn point(value: f64) -> Estimate {
        Estimate::new(value, value, value, 1)
    }

    /// Half the interval's width relative to the mean (0.05 = ±5%).
    pub fn relative_half_width(&self) -> f64 {
        if self.mean == 0.0 {
            0.0
        } else {
            (self.hi - self.lo) / 2.0 / self.mean.abs()
        }
    }

    pub fn contains(&self, value: f64) -> bool {
        self.lo <= value && value <= self.hi
    }

    /// Scales mean and bounds (a change of unit).
    pub fn scaled(self, by: f64) -> Estimate {
        let (a, b) = (self.lo * by, self.hi * by);
        Estimate::new(self.mean * by, a.min(b), a.max(b), self.n)
    }

    /// `12.3 [11.9, 12.8]` with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        if self.n < 2 {
            format!("{:.digits$}", self.mean)
        } else {
            format!(
                "{:.digits$} [{:.digits$}, {:.digits$}]",
                self.mean, self.lo, self.hi
            )
        }
    }
}

/// The two-sided 95% quantile of Student's t with `df` degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::INFINITY,
        1..=30 => TABLE[df - 1],
        // Beyond 30 the normal approximation with a first-order correction.
        _ => 1.960 + 2.4 / df as f64,
    }
}

/// Mean and sample standard deviation.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// The mean of `values` with its t interval; a single value has none.
pub fn mean_interval(values: &[f64]) -> Estimate {
    let (mean, sd) = mean_sd(values);
    let n = values.len();
    if n < 2 {
        return Estimate::new(mean, mean, mean, n);
    }
    let half = t95(n - 1) * sd / (n as f64).sqrt();
    Estimate::new(mean, mean - half, mean + half, n)
}

/// The ratio of two paired series (`a[i]` and `b[i]` measured side by side
/// in round i): the geometric mean of a[i]/b[i] with a t interval on the
/// logs, so drift common to both sides cancels and the interval of A/B is
/// the reciprocal of the interval of B/A. Pairs with a non-positive side
/// are skipped.
pub fn paired_ratio(a: &[f64], b: &[f64]) -> Estimate {
    mean_interval(&log_ratios(a, b)).exp()
}

/// `ln(a[i]/b[i])` per pair, skipping pairs with a non-positive side.
pub fn log_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .filter(|(x, y)| **x > 0.0 && **y > 0.0)
        .map(|(x, y)| (x / y).ln())
        .collect()
}

/// What an interval of a ratio B/A says about B against A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Resolved {
    /// The whole interval lies above 1.
    Higher,
    /// The whole interval lies below 1.
    Lower,
    /// The interval contains 1: this run cannot tell the two apart.
    NotResolved,
}

impl Resolved {
    pub fn of_ratio(ratio: &Estimate) -> Resolved {
        if ratio.n < 2 {
            Resolved::NotResolved
        } else if ratio.lo > 1.0 {
            Resolved::Higher
        } else if ratio.hi < 1.0 {
            Resolved::Lower
        } else {
            Resolved::NotResolved
        }
    }
}

/// A small deterministic generator (xorshift64*), so a bootstrap gives the
/// same interval every time the report is rendered.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Percentile bootstrap over `rounds` resampled with replacement:
/// `statistic` sees the indices of one resample and returns a value (None
/// to skip a resample it cannot evaluate). Returns the 2.5th and 97.5th
/// percentiles, or None when fewer than half the resamples gave a value.
pub fn bootstrap(
    rounds: usize,
    resamples: usize,
    seed: u64,
    mut statistic: impl FnMut(&[usize]) -> Option<f64>,
) -> Option<(f64, f64)> {
    if rounds < 2 || resamples == 0 {
        return None;
    }
    let mut rng = Rng::new(seed);
    let mut values = Vec::with_capacity(resamples);
    let mut pick = vec![0; rounds];
    for _ in 0..resamples {
        for slot in pick.iter_mut() {
            *slot = rng.below(rounds);
        }
        if let Some(v) = statistic(&pick).filter(|v| v.is_finite()) {
            values.push(v);
        }
    }
    if values.len() * 2 < resamples {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Some((at(0.025), at(0.975)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Normal-ish values from the deterministic generator (sum of 12 uniforms).
    fn normal(rng: &mut Rng, mean: f64, sd: f64) -> f64 {
        let sum: f64 = (0..12)
            .map(|_| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
            .sum();
        mean + sd * (sum - 6.0)
    }

    #[test]
    fn the_t_interval_recovers_a_known_mean_and_spread() {
        let mut rng = Rng::new(7);
        let (mean, sd, n) = (2000.0, 100.0, 8);
        let mut covered = 0;
        let trials = 2000;
        let mut widths = Vec::new();
        for _ in 0..trials {
            let values: Vec<f64> = (0..n).map(|_| normal(&mut rng, mean, sd)).collect();
            let e = mean_interval(&values);
            covered += usize::from(e.contains(mean));
            widths.push(e.hi - e.lo);
        }
        let coverage = covered as f64 / trials as f64;
        assert!(
            (0.93..=0.97).contains(&coverage),
            "95% intervals covered the true mean {coverage:.3} of the time"
        );
        // Expected width: 2 t(7) sd/sqrt(8) E[s]/sd ≈ 2*2.365*100/2.83*0.96 ≈ 161.
        let (mean_width, _) = mean_sd(&widths);
        assert!((140.0..180.0).contains(&mean_width), "{mean_width}");
    }

    #[test]
    fn exact_values_give_their_mean_and_a_textbook_interval() {
        let e = mean_interval(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        // sd = 1.5811, t(4) = 2.776: half width 1.963.
        assert!((e.hi - e.lo - 2.0 * 2.776 * 1.581_138_8 / 5f64.sqrt()).abs() < 1e-6);
        assert_eq!(mean_interval(&[4.0]).lo, 4.0);
    }

    #[test]
    fn a_paired_ratio_cancels_common_drift() {
        // The machine's speed drifts by ±30% from round to round; B is
        // always exactly 10% slower than A in the same round.
        let drift = [1.0, 1.3, 0.7, 1.1, 0.8, 1.25];
        let a: Vec<f64> = drift.iter().map(|d| 1000.0 * d).collect();
        let b: Vec<f64> = drift.iter().map(|d| 900.0 * d).collect();
        let r = paired_ratio(&b, &a);
        assert!((r.mean - 0.9).abs() < 1e-12);
        assert!(r.hi - r.lo < 1e-9);
        assert_eq!(Resolved::of_ratio(&r), Resolved::Lower);
        // Unpaired, the same data cannot tell them apart.
        let unpaired = mean_interval(&b).mean / mean_interval(&a).mean;
        assert!((unpaired - 0.9).abs() < 1e-9);
        assert!(mean_interval(&a).contains(mean_interval(&b).mean));
    }

    #[test]
    fn identical_data_is_not_resolved_and_a_clear_difference_is() {
        let mut rng = Rng::new(3);
        let a: Vec<f64> = (0..8).map(|_| normal(&mut rng, 100.0, 5.0)).collect();
        assert_eq!(
            Resolved::of_ratio(&paired_ratio(&a, &a)),
            Resolved::NotResolved
        );
        // A/A with independent noise: about 5% false alarms, no more.
        let trials = 2000;
        let alarms = (0..trials)
            .filter(|_| {
                let x: Vec<f64> = (0..8).map(|_| normal(&mut rng, 100.0, 5.0)).collect();
                let y: Vec<f64> = (0..8).map(|_| normal(&mut rng, 100.0, 5.0)).collect();
                Resolved::of_ratio(&paired_ratio(&x, &y)) != Resolved::NotResolved
            })
            .count();
        let rate = alarms as f64 / trials as f64;
        assert!((0.03..=0.07).contains(&rate), "A/A false alarms {rate:.3}");
        // B 10% above A in every round, 1% noise: resolved, and found.
        let slower: Vec<f64> = a
            .iter()
            .map(|x| x * 1.1 * (1.0 + 0.01 * normal(&mut rng, 0.0, 1.0)))
            .collect();
        let r = paired_ratio(&slower, &a);
        assert_eq!(Resolved::of_ratio(&r), Resolved::Higher);
        assert!(r.contains(1.1), "{r:?}");
    }

    #[test]
    fn the_bootstrap_brackets_the_mean_and_is_repeatable() {
        let values = [10.0, 11.0, 9.5, 10.5, 10.2, 9.8, 10.1, 9.9];
        let stat = |pick: &[usize]| Some(pick.iter().map(|&i| values[i]).sum::<f64>() / 8.0);
        let (lo, hi) = bootstrap(values.len(), 1000, 42, stat).expect("interval");
        let (lo2, hi2) = bootstrap(values.len(), 1000, 42, stat).expect("interval");
        assert_eq!((lo, hi), (lo2, hi2));
        assert!(lo < 10.125 && 10.125 < hi && hi - lo < 1.0, "{lo} {hi}");
        assert!(bootstrap(1, 100, 1, stat).is_none());
        assert!(bootstrap(8, 100, 1, |_| None).is_none());
    }
}
