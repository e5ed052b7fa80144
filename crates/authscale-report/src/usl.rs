//! The Universal Scalability Law, X(N) = λN / (1 + σ(N−1) + κN(N−1)),
//! fitted by constrained least squares (λ > 0, σ ≥ 0, κ ≥ 0).
//!
//! For fixed σ and κ the best λ has a closed form (the model is linear in
//! λ), so the search is over (σ, κ) only: a coarse grid (κ on a log scale,
//! where its plausible values live), then Nelder–Mead from the best grid
//! points, clamped to the constraints. Deterministic: the same points
//! always give the same fit.

use serde::{Deserialize, Serialize};

/// Points a fit should have before anyone trusts it (published USL tools
/// ask for at least six).
pub const TRUSTWORTHY_POINTS: usize = 6;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    pub lambda: f64,
    pub sigma: f64,
    pub kappa: f64,
    pub r2: f64,
    /// N where the model's throughput peaks, when κ > 0.
    pub peak_n: Option<f64>,
    pub points: usize,
}

impl Fit {
    pub fn predict(&self, n: f64) -> f64 {
        model(self.lambda, self.sigma, self.kappa, n)
    }

    pub fn trustworthy(&self) -> bool {
        self.points >= TRUSTWORTHY_POINTS
    }
}

fn model(lambda: f64, sigma: f64, kappa: f64, n: f64) -> f64 {
    lambda * n / (1.0 + sigma * (n - 1.0) + kappa * n * (n - 1.0))
}

/// The λ that minimises the squared error for fixed σ, κ, and that error.
fn best_lambda(points: &[(f64, f64)], sigma: f64, kappa: f64) -> (f64, f64) {
    let g = |n: f64| model(1.0, sigma, kappa, n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(a, b), &(n, x)| {
        (a + x * g(n), b + g(n) * g(n))
    });
    let lambda = if den > 0.0 {
        (num / den).max(f64::MIN_POSITIVE)
    } else {
        f64::MIN_POSITIVE
    };
    let sse = points
        .iter()
        .map(|&(n, x)| (x - lambda * g(n)).powi(2))
        .sum();
    (lambda, sse)
}

const SIGMA_MAX: f64 = 1.0;
const KAPPA_MAX: f64 = 1.0;

fn clamp(sigma: f64, kappa: f64) -> (f64, f64) {
    (sigma.clamp(0.0, SIGMA_MAX), kappa.clamp(0.0, KAPPA_MAX))
}

/// Fits (N, X) points; None with fewer than 2 distinct N or no positive X.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    let mut distinct: Vec<f64> = points.iter().map(|p| p.0).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 2 || points.iter().all(|p| p.1 <= 0.0) {
        return None;
    }
    let sse = |s: f64, k: f64| {
        let (s, k) = clamp(s, k);
        best_lambda(points, s, k).1
    };
    // Coarse grid: σ linear, κ logarithmic (and exactly 0).
    let mut grid: Vec<(f64, f64, f64)> = Vec::new();
    let kappas: Vec<f64> = std::iter::once(0.0)
        .chain((0..=30).map(|i| 10f64.powf(-6.0 + i as f64 * 0.2)))
        .collect();
    for i in 0..=40 {
        let s = i as f64 / 40.0;
        for &k in &kappas {
            grid.push((s, k, sse(s, k)));
        }
    }
    grid.sort_by(|a, b| a.2.total_cmp(&b.2));
    let mut best = (grid[0].0, grid[0].1, grid[0].2);
    for start in grid.iter().take(3) {
        let (s, k, e) = nelder_mead(&sse, (start.0, start.1));
        if e < best.2 {
            best = (s, k, e);
        }
    }
    let (sigma, kappa) = clamp(best.0, best.1);
    let (lambda, sse_best) = best_lambda(points, sigma, kappa);
    let mean = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
    let sst: f64 = points.iter().map(|p| (p.1 - mean).powi(2)).sum();
    let r2 = if sst > 0.0 { 1.0 - sse_best / sst } else { 1.0 };
    let peak_n = (kappa > 1e-12 && sigma < 1.0).then(|| ((1.0 - sigma) / kappa).sqrt());
    Some(Fit {
        lambda,
        sigma,
        kappa,
        r2,
        peak_n,
        points: points.len(),
    })
}

/// Nelder–Mead on two variables, clamped to the constraints.
fn nelder_mead(f: &dyn Fn(f64, f64) -> f64, start: (f64, f64)) -> (f64, f64, f64) {
    let eval = |p: (f64, f64)| {
        let p = clamp(p.0, p.1);
        (p.0, p.1, f(p.0, p.1))
    };
    let step_s = 0.05;
    let step_k = (start.1 * 0.5).max(1e-5);
    let mut simplex = [
        eval(start),
        eval((start.0 + step_s, start.1)),
        eval((start.0, start.1 + step_k)),
    ];
    for _ in 0..400 {
        simplex.sort_by(|a, b| a.2.total_cmp(&b.2));
        let (best, mid, worst) = (simplex[0], simplex[1], simplex[2]);
        let centroid = ((best.0 + mid.0) / 2.0, (best.1 + mid.1) / 2.0);
        let towards = |t: f64| {
            eval((
                centroid.0 + t * (worst.0 - centroid.0),
                centroid.1 + t * (worst.1 - centroid.1),
            ))
        };
        let reflected = towards(-1.0);
        if reflected.2 < best.2 {
            let expanded = towards(-2.0);
            simplex[2] = if expanded.2 < reflected.2 {
                expanded
            } else {
                reflected
            };
        } else if reflected.2 < mid.2 {
            simplex[2] = reflected;
        } else {
            let contracted = towards(0.5);
            if contracted.2 < worst.2 {
                simplex[2] = contracted;
            } else {
                // Shrink towards the best point.
                for p in simplex.iter_mut().skip(1) {
                    *p = eval(((p.0 + best.0) / 2.0, (p.1 + best.1) / 2.0));
                }
            }
        }
        let spread = simplex.iter().map(|p| p.2).fold(f64::MIN, f64::max)
            - simplex.iter().map(|p| p.2).fold(f64::MAX, f64::min);
        if spread.abs() <= 1e-12 * (1.0 + simplex[0].2.abs()) {
            break;
        }
    }
    simplex.sort_by(|a, b| a.2.total_cmp(&b.2));
    simplex[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [-1, 1].
    fn noise(i: usize) -> f64 {
        let x = ((i as u64)
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407)
            >> 33) as f64;
        x / (1u64 << 31) as f64 - 1.0
    }

    fn synthetic(
        lambda: f64,
        sigma: f64,
        kappa: f64,
        ns: &[f64],
        noise_level: f64,
    ) -> Vec<(f64, f64)> {
        ns.iter()
            .enumerate()
            .map(|(i, &n)| {
                (
                    n,
                    model(lambda, sigma, kappa, n) * (1.0 + noise_level * noise(i)),
                )
            })
            .collect()
    }

    #[test]
    fn recovers_known_parameters_from_noisy_data() {
        let ns: Vec<f64> = (1..=16).map(f64::from).collect();
        let cases = [
            (1000.0, 0.05, 0.002),
            (500.0, 0.2, 0.0),
            (2000.0, 0.0, 0.01),
            (800.0, 0.02, 0.0005),
        ];
        for (lambda, sigma, kappa) in cases {
            let fit = fit(&synthetic(lambda, sigma, kappa, &ns, 0.01)).expect("fit");
            assert!(
                (fit.lambda - lambda).abs() / lambda < 0.05,
                "λ {} vs {lambda}",
                fit.lambda
            );
            assert!(
                (fit.sigma - sigma).abs() < 0.03,
                "σ {} vs {sigma}",
                fit.sigma
            );
            assert!(
                (fit.kappa - kappa).abs() < 0.002,
                "κ {} vs {kappa}",
                fit.kappa
            );
            assert!(fit.r2 > 0.97, "R² {}", fit.r2);
            assert!(fit.trustworthy());
        }
    }

    #[test]
    fn exact_data_is_fitted_exactly_and_the_peak_is_where_the_model_says() {
        let ns = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];
        let fit = fit(&synthetic(1000.0, 0.1, 0.001, &ns, 0.0)).expect("fit");
        assert!(fit.r2 > 0.9999, "{fit:?}");
        let expected_peak = ((1.0f64 - 0.1) / 0.001).sqrt();
        assert!(
            (fit.peak_n.expect("peak") - expected_peak).abs() < 1.5,
            "{fit:?}"
        );
    }

    #[test]
    fn linear_scaling_has_no_contention_and_no_peak() {
        let points: Vec<(f64, f64)> = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0]
            .iter()
            .map(|&n| (n, 700.0 * n))
            .collect();
        let fit = fit(&points).expect("fit");
        assert!(fit.sigma < 1e-3 && fit.kappa < 1e-5, "{fit:?}");
        assert!(fit.peak_n.is_none_or(|p| p > 100.0));
    }

    #[test]
    fn too_few_points_still_fit_but_say_so() {
        let fit = fit(&[(1.0, 100.0), (2.0, 180.0), (4.0, 300.0)]).expect("fit");
        assert!(!fit.trustworthy());
        assert!(super::fit(&[(1.0, 100.0)]).is_none());
        assert!(super::fit(&[(1.0, 100.0), (1.0, 110.0)]).is_none());
    }
}
