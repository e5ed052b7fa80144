//! How far repeated runs of one experiment agree: for every figure a
//! report draws its conclusions from (E(N) per mode at N > 1, and each
//! mode's throughput over another's at every N), each run's value with its
//! interval, the median over the runs, whether every run lies within a
//! tolerance of that median, and whether each run's interval contains it.
//!
//! This is the check behind "identical sweeps agree": run the same sweep a
//! few times on a quiet machine and give the folders to `authscale spread`.

use std::fmt::Write;

use authscale_schema::{AuthMode, Run, Step};
use serde::{Deserialize, Serialize};

use crate::interval::Estimate;
use crate::precision;

/// One figure across the runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub name: String,
    /// Per run; None where that run lacks the figure.
    pub values: Vec<Option<Estimate>>,
}

impl Figure {
    pub fn median(&self) -> Option<f64> {
        median(self.values.iter().flatten().map(|e| e.mean).collect())
    }
}

/// The median; of an even count, the mean of the middle two.
fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// The tolerance that 90% of `deviations` hold: their nearest-rank 90th
/// percentile.
fn held_by_90(mut deviations: Vec<f64>) -> Option<f64> {
    if deviations.is_empty() {
        return None;
    }
    deviations.sort_by(f64::total_cmp);
    Some(deviations[(deviations.len() * 9).div_ceil(10) - 1])
}

/// What the runs agree on, in numbers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// (run, figure) values within the tolerance of their figure's median.
    pub within: usize,
    pub values: usize,
    /// Figures whose every run is within the tolerance.
    pub figures_within: usize,
    pub figures: usize,
    /// Run intervals that contain their figure's median, of those with one.
    pub covering: usize,
    pub intervals: usize,
    /// Median of the runs' relative interval half-widths.
    pub median_half_width: Option<f64>,
    /// The tolerance that 90% of the values hold: the smallest t with at
    /// least 90% of (run, figure) values within ±t of their figure's median
    /// (nearest rank of the relative deviations).
    pub tolerance_held_by_90: Option<f64>,
}

/// A figure a run can give: a positive, finite value (a step with no
/// successful request has none).
fn usable(e: &Estimate) -> bool {
    e.mean.is_finite() && e.mean > 0.0 && e.lo.is_finite() && e.hi.is_finite()
}

/// The (mode, N) cells a run measured, in its order: repeats must agree.
pub fn cells(run: &Run) -> Vec<(AuthMode, u32)> {
    run.steps.iter().map(|s| (s.mode, s.nodes)).collect()
}

/// A run's figures by name: the report's paired estimates where it has
/// slices, single values (no interval) where it was measured in blocks.
fn figures_of(run: &Run) -> Vec<(String, Estimate)> {
    let sliced = run.steps.iter().any(|s| s.slices.len() >= 2);
    let single =
        |a: &Step, b: &Step, scale: f64| Estimate::point(a.throughput / (scale * b.throughput));
    let mut out = Vec::new();
    for mode in precision::modes(run) {
        let Some(one) = precision::step(run, mode, 1) else {
            continue;
        };
        for s in run.steps.iter().filter(|s| s.mode == mode && s.nodes > 1) {
            let e = if sliced {
                precision::paired_efficiency(s, one, precision::first_stage(run))
            } else {
                single(s, one, f64::from(s.nodes))
            };
            if usable(&e) {
                out.push((format!("E({}) {mode}", s.nodes), e));
            }
        }
    }
    let ratios = precision::mode_ratios(run, |a, b| {
        if sliced {
            precision::paired_throughput_ratio(a, b, precision::first_stage(run))
        } else {
            Some(single(a, b, 1.0))
        }
    });
    for r in ratios.into_iter().filter(|r| usable(&r.ratio)) {
        out.push((format!("{}/{} N={}", r.a, r.b, r.n), r.ratio));
    }
    out
}

/// Every figure any run gives, across all runs, in the runs' order: a
/// figure one run lacks (a step without successful requests) keeps its
/// place and shows no value for that run, whichever run it is.
pub fn figures(runs: &[Run]) -> Vec<Figure> {
    let per_run: Vec<Vec<(String, Estimate)>> = runs.iter().map(figures_of).collect();
    let mut names: Vec<&str> = Vec::new();
    for figs in &per_run {
        let mut at = 0;
        for (name, _) in figs {
            match names.iter().position(|n| n == name) {
                Some(i) => at = i + 1,
                None => {
                    names.insert(at, name);
                    at += 1;
                }
            }
        }
    }
    names
        .into_iter()
        .map(|name| Figure {
            name: name.to_string(),
            values: per_run
                .iter()
                .map(|figs| figs.iter().find(|(n, _)| n == name).map(|(_, e)| *e))
                .collect(),
        })
        .collect()
}

/// How far the runs' absolute throughput drifts: the tolerance that 90% of
/// (run, step) throughputs hold around their step's median (nearest rank),
/// over steps with a positive throughput in two runs or more. E(N) and the
/// mode ratios are ratios within a run, so a drift that moves a whole run
/// cancels out of them; this is the part that does not.
pub fn throughput_drift(runs: &[Run]) -> Option<f64> {
    let mut deviations = Vec::new();
    for (mode, n) in runs.first().map(cells).unwrap_or_default() {
        let xs: Vec<f64> = runs
            .iter()
            .filter_map(|r| precision::step(r, mode, n))
            .map(|s| s.throughput)
            .filter(|x| x.is_finite() && *x > 0.0)
            .collect();
        if xs.len() < 2 {
            continue;
        }
        let Some(median) = median(xs.clone()) else {
            continue;
        };
        deviations.extend(xs.iter().map(|x| (x / median - 1.0).abs()));
    }
    held_by_90(deviations)
}

/// Figures a run lacks, per run (1-based), where any run lacks one.
pub fn missing(figures: &[Figure]) -> Vec<(usize, usize)> {
    let runs = figures.first().map_or(0, |f| f.values.len());
    (0..runs)
        .map(|i| {
            (
                i + 1,
                figures.iter().filter(|f| f.values[i].is_none()).count(),
            )
        })
        .filter(|&(_, n)| n > 0)
        .collect()
}

pub fn summarize(figures: &[Figure], tolerance: f64) -> Summary {
    let mut s = Summary::default();
    let mut widths = Vec::new();
    let mut deviations = Vec::new();
    for f in figures {
        // One value agrees with itself: only figures of two runs or more
        // say anything about agreement.
        if f.values.iter().flatten().count() < 2 {
            continue;
        }
        let Some(median) = f.median() else { continue };
        s.figures += 1;
        let mut all = f.values.iter().all(Option::is_some);
        for e in f.values.iter().flatten() {
            s.values += 1;
            let deviation = (e.mean / median - 1.0).abs();
            deviations.push(deviation);
            if deviation <= tolerance {
                s.within += 1;
            } else {
                all = false;
            }
            if e.n >= 2 {
                s.intervals += 1;
                s.covering += usize::from(e.contains(median));
                widths.push(e.relative_half_width());
            }
        }
        s.figures_within += usize::from(all);
    }
    s.median_half_width = median(widths);
    s.tolerance_held_by_90 = held_by_90(deviations);
    s
}

pub(crate) fn share(a: usize, b: usize) -> String {
    if b == 0 {
        "—".into()
    } else {
        format!("{a} of {b} ({:.0}%)", 100.0 * a as f64 / b as f64)
    }
}

/// `5`, `0.5`, `1.49`, `0.00001`: a tolerance as a percentage, as precise
/// as given.
fn percent(tolerance: f64) -> String {
    let text = format!("{:.9}", tolerance * 100.0);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A tolerance that values hold, rounded up to 0.1% so that "within ±X%"
/// stays true as printed (5.306% prints as 5.4%, an exact 5.3% as 5.3%).
pub(crate) fn percent_up(tolerance: f64) -> String {
    let up = (tolerance * 1000.0 - 1e-6).ceil() / 10.0;
    format!("{:.1}", if up > 0.0 { up } else { 0.0 })
}

/// The format of `spread --json`.
pub const SPREAD_SCHEMA: &str = "authscale-spread/1";

/// How far repeats of one experiment agree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub experiment: String,
    /// Each run's start, in the order given (run 1 first).
    pub runs: Vec<String>,
    /// How close to a figure's median a value must be to agree (0.05: ±5%).
    pub tolerance: f64,
    /// Every figure, each run's value with its interval (None where the
    /// run lacks it) and, derived, its median.
    pub figures: Vec<Figure>,
    pub summary: Summary,
    /// (run, figures it lacks), 1-based, where a run lacks any.
    pub missing: Vec<(usize, usize)>,
    /// The tolerance 90% of (run, step) throughputs hold around their
    /// step's median: the machine's drift between the runs.
    pub throughput_drift: Option<f64>,
}

/// How far `runs` agree; None when no figure has a value from two runs or
/// more (nothing to compare).
pub fn spread(runs: &[Run], tolerance: f64) -> Option<Spread> {
    let figures = figures(runs);
    let summary = summarize(&figures, tolerance);
    if summary.figures == 0 {
        return None;
    }
    Some(Spread {
        experiment: runs
            .first()
            .map_or("?".into(), |r| r.plan.experiment.name.clone()),
        runs: runs.iter().map(|r| r.started_at.clone()).collect(),
        tolerance,
        missing: missing(&figures),
        figures,
        summary,
        throughput_drift: throughput_drift(runs),
    })
}

impl crate::Document for Spread {
    const SCHEMA: &'static str = SPREAD_SCHEMA;

    fn title(&self) -> String {
        format!(
            "authscale spread: {} runs of {}",
            self.runs.len(),
            self.experiment
        )
    }

    /// The Markdown table and its summary lines.
    fn markdown(&self) -> String {
        let (figures, s, tolerance) = (&self.figures, &self.summary, self.tolerance);
        let runs = self.runs.len();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} runs of {}; values are the reports' paired estimates with their 95% intervals.\n",
            runs,
            crate::md::text(&self.experiment)
        );
        let _ = write!(out, "| figure |");
        for i in 1..=runs {
            let _ = write!(out, " run {i} |");
        }
        let _ = writeln!(out, " median | all within ±{}% |", percent(tolerance));
        let _ = writeln!(out, "|---|{}---:|---|", "---:|".repeat(runs));
        for f in figures {
            let Some(median) = f.median() else { continue };
            if f.values.iter().flatten().count() < 2 {
                let _ = write!(out, "| {} (one run only) |", f.name);
                for e in &f.values {
                    let _ = write!(out, " {} |", e.map_or("—".into(), |e| e.show(2)));
                }
                let _ = writeln!(out, " — | — |");
                continue;
            }
            let all = f
                .values
                .iter()
                .all(|e| e.is_some_and(|e| (e.mean / median - 1.0).abs() <= tolerance));
            let _ = write!(out, "| {} |", f.name);
            for e in &f.values {
                let _ = write!(out, " {} |", e.map_or("—".into(), |e| e.show(2)));
            }
            let _ = writeln!(out, " {median:.2} | {} |", if all { "yes" } else { "no" });
        }
        let pct = percent(tolerance);
        for &(run, lacks) in &self.missing {
            let _ = writeln!(
                out,
                "\nrun {run} lacks {lacks} of {} figures (a step without successful requests): shown as —, not counted",
                figures.len()
            );
        }
        let _ = writeln!(
            out,
            "\nvalues (run × figure) within ±{pct}% of their figure's median: {}",
            share(s.within, s.values)
        );
        if let Some(t) = s.tolerance_held_by_90 {
            let _ = writeln!(
                out,
                "90% of values lie within ±{}% of their figure's median",
                percent_up(t)
            );
        }
        let _ = writeln!(
            out,
            "figures with every run within ±{pct}% of the median: {}",
            share(s.figures_within, s.figures)
        );
        let _ = writeln!(
            out,
            "run intervals containing the median: {}",
            share(s.covering, s.intervals)
        );
        if let Some(t) = self.throughput_drift {
            let _ = writeln!(
                out,
                "throughput per (mode, N) step: 90% of values lie within ±{}% of the step's median (the machine's drift between these runs; a --drift for `authscale compare`)",
                percent_up(t)
            );
        }
        if let Some(w) = s.median_half_width {
            let _ = writeln!(
                out,
                "median relative half-width of the intervals: {:.1}%",
                w * 100.0
            );
        }
        out
    }
}

#[cfg(test)]
mod tests;
