//! The A/B comparison's conclusions: per figure, the ratio B/A paired by
//! round with its 95% interval, a verdict, and (for the gate) whether the
//! whole interval lies beyond a threshold.
//!
//! Why a threshold on the interval and not on the ratio: a ratio of 1.06
//! from ten noisy rounds may be 1.00 in truth; failing only when the whole
//! interval is past the bound keeps an unchanged build from failing the
//! gate more often than about one time in forty per figure, whatever the
//! machine's noise (noise widens the interval; it does not move it).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::gate::GateError;

mod render;

use crate::interval::{Estimate, Resolved, paired_ratio};
use crate::sequential::{detectable_ratio, two_stage_ratio};
use authscale_schema::{AbRun, AbSlice, Side};
pub use render::{AB_RESULT_SCHEMA, AbResult, markdown};

/// The figures an A/B run compares: a closed set, named as in `ab.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Figure {
    Throughput,
    P50Ms,
    P99Ms,
    NodeCpuUsPerProtectedRequest,
    StoreCommandsPerRequest,
}

impl Figure {
    pub const ALL: [Figure; 5] = [
        Figure::Throughput,
        Figure::P50Ms,
        Figure::P99Ms,
        Figure::NodeCpuUsPerProtectedRequest,
        Figure::StoreCommandsPerRequest,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Figure::Throughput => "throughput",
            Figure::P50Ms => "p50_ms",
            Figure::P99Ms => "p99_ms",
            Figure::NodeCpuUsPerProtectedRequest => "node_cpu_us_per_protected_request",
            Figure::StoreCommandsPerRequest => "store_commands_per_request",
        }
    }

    fn value(self, s: &AbSlice) -> f64 {
        match self {
            Figure::Throughput => s.throughput,
            Figure::P50Ms => s.p50_ms,
            Figure::P99Ms => s.p99_ms,
            Figure::NodeCpuUsPerProtectedRequest => s.node_cpu_us_per_protected_request,
            Figure::StoreCommandsPerRequest => s.store_commands_per_request,
        }
    }

    /// Latency percentiles, which a quota period quantizes.
    fn is_latency(self) -> bool {
        matches!(self, Figure::P50Ms | Figure::P99Ms)
    }

    /// Only throughput is better when it grows.
    fn higher_is_better(self) -> bool {
        self == Figure::Throughput
    }

    /// What a resolved ratio says, in words.
    pub fn verdict(self, resolved: Resolved) -> &'static str {
        match (self, resolved) {
            (_, Resolved::NotResolved) => "not resolved",
            (Figure::NodeCpuUsPerProtectedRequest, Resolved::Higher) => "more CPU",
            (Figure::NodeCpuUsPerProtectedRequest, Resolved::Lower) => "less CPU",
            (Figure::StoreCommandsPerRequest, Resolved::Higher) => "more commands",
            (Figure::StoreCommandsPerRequest, Resolved::Lower) => "fewer commands",
            (f, Resolved::Higher) if f.higher_is_better() => "faster",
            (f, Resolved::Lower) if f.higher_is_better() => "slower",
            (_, Resolved::Higher) => "slower",
            (_, Resolved::Lower) => "faster",
        }
    }
}

/// One figure of a comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbFigure {
    pub figure: Figure,
    pub a_mean: f64,
    pub b_mean: f64,
    /// B/A, geometric mean of the rounds' ratios, with its 95% interval.
    pub ratio: Estimate,
    pub resolved: Resolved,
    pub verdict: String,
    /// The gate's bound on B/A, if any, and whether the interval is past it.
    pub limit: Option<f64>,
    pub failed: bool,
}

/// A judged comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbReport {
    pub mode: String,
    pub nodes: u32,
    pub rounds: usize,
    /// The precision of node CPU B/A: wanted (a run to a precision) and
    /// reached, as relative half-widths of its 95% interval.
    pub precision_wanted: Option<f64>,
    pub precision_reached: f64,
    /// The smallest node CPU B/A this run would have failed 9 times in 10
    /// (from its interval and the gate's bound), and the size the gate
    /// must be able to see (`detect` in the gate file).
    pub detectable: Option<f64>,
    pub detect: Option<f64>,
    /// A run to a precision: the rounds measured and the rounds needed.
    pub rounds_short: Option<(u32, u32)>,
    pub a: String,
    pub b: String,
    pub figures: Vec<AbFigure>,
    pub warnings: Vec<String>,
}

impl AbReport {
    pub fn passed(&self) -> bool {
        self.figures.iter().all(|f| !f.failed)
    }

    /// Nothing failed, but the run was too noisy to have seen a change of
    /// the size the gate stands for: a pass would say nothing.
    pub fn cannot_judge(&self) -> bool {
        self.passed() && matches!((self.detectable, self.detect), (Some(d), Some(want)) if d > want)
    }

    /// The outcome in a word: pass, FAIL, cannot judge, or that no bound
    /// was given, so nothing was judged.
    pub fn outcome(&self) -> &'static str {
        if self.figures.iter().all(|f| f.limit.is_none()) {
            "no bounds given (--gate), nothing judged"
        } else if !self.passed() {
            "FAIL"
        } else if self.cannot_judge() {
            "CANNOT JUDGE"
        } else {
            "pass"
        }
    }

    /// One line on the precision: wanted, reached, and what the run could
    /// have caught.
    pub fn precision_line(&self) -> String {
        let mut line = format!("node CPU B/A to ±{:.1}%", 100.0 * self.precision_reached);
        if let Some(wanted) = self.precision_wanted {
            let _ = write!(
                line,
                " (wanted ±{:.1}%{})",
                100.0 * wanted,
                match self.rounds_short {
                    _ if self.precision_reached <= wanted + 1e-9 => ", reached".to_owned(),
                    Some((measured, needed)) if measured < needed => format!(
                        ", NOT reached: the time allowed measured {measured} of the {needed} rounds needed"
                    ),
                    _ => ", NOT reached".to_owned(),
                }
            );
        }
        if let Some(d) = self.detectable {
            let _ = write!(
                line,
                "; smallest node CPU increase caught 9 times in 10: +{:.1}%",
                100.0 * (d - 1.0)
            );
            if let Some(want) = self.detect {
                let _ = write!(
                    line,
                    " ({} the +{:.0}% the gate stands for)",
                    if d > want { "ABOVE" } else { "within" },
                    100.0 * (want - 1.0)
                );
            }
        }
        line
    }
}

/// The A/B layer's settings (`results/baseline/ab.toml`): the paths that
/// make up the nodes' code, and per figure the bound on B/A whose whole
/// interval must not lie beyond it (above for costs, below for throughput).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbLimits {
    /// Paths (git pathspecs from the repository's root) of everything that
    /// runs in a node: when none differs from side A's commit, the nodes'
    /// cost cannot have changed and nothing is measured.
    #[serde(default)]
    pub node_code: Vec<String>,
    /// The node CPU B/A the gate must be able to catch (1.10: +10%); a run
    /// too noisy to catch it 9 times in 10 answers "cannot judge".
    #[serde(default)]
    pub detect: Option<f64>,
    #[serde(default)]
    pub fail: BTreeMap<Figure, f64>,
}

impl AbLimits {
    pub fn from_file(path: &Path) -> Result<AbLimits, GateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| GateError(format!("cannot read {}: {e}", path.display())))?;
        if text
            .lines()
            .any(|l| l.trim_start().starts_with("rev ") || l.trim_start().starts_with("rev="))
        {
            return Err(GateError(format!(
                "{}: `rev` is no longer read: side A is found from git (`authscale ab --a-base`, the parent commit by default); a commit that means to change the nodes' cost says so with a `Node-cost:` trailer",
                path.display()
            )));
        }
        let limits: AbLimits =
            toml::from_str(&text).map_err(|e| GateError(format!("{}: {e}", path.display())))?;
        if limits.fail.is_empty() {
            return Err(GateError(format!(
                "{}: no bounds under [fail]: a gate file bounds at least one figure",
                path.display()
            )));
        }
        if let Some(d) = limits.detect {
            if !(d.is_finite() && d > 1.0) {
                return Err(GateError(format!(
                    "{}: detect = {d}: a ratio B/A above 1 (1.10 for +10%)",
                    path.display()
                )));
            }
            if !limits
                .fail
                .contains_key(&Figure::NodeCpuUsPerProtectedRequest)
            {
                return Err(GateError(format!(
                    "{}: detect needs a bound on node_cpu_us_per_protected_request under [fail]: what can be caught is worked out from that bound",
                    path.display()
                )));
            }
        }
        for (figure, bound) in &limits.fail {
            if !(bound.is_finite() && *bound > 0.0) {
                return Err(GateError(format!(
                    "{}: the bound on {} is {bound}: a ratio B/A above 0",
                    path.display(),
                    figure.name()
                )));
            }
        }
        Ok(limits)
    }
}

/// Each figure's per-round values of both sides, paired by round.
pub fn paired(run: &AbRun, figure: Figure) -> (Vec<f64>, Vec<f64>) {
    paired_slices(&run.slices, figure)
}

/// The rounds a run to `target` needs in all, from its first stage's
/// slices: Stein's rule on node CPU B/A (the figure the gate's power is
/// about).
pub fn rounds_needed(slices: &[AbSlice], target: &crate::sequential::Target) -> u32 {
    let (a, b) = paired_slices(slices, Figure::NodeCpuUsPerProtectedRequest);
    let logs = crate::interval::log_ratios(&b, &a);
    target.rounds_needed(&logs) as u32
}

fn paired_slices(slices: &[AbSlice], figure: Figure) -> (Vec<f64>, Vec<f64>) {
    let mut rounds: BTreeMap<u32, (Option<f64>, Option<f64>)> = BTreeMap::new();
    for s in slices {
        let entry = rounds.entry(s.round).or_default();
        match s.side {
            Side::A => entry.0 = Some(figure.value(s)),
            Side::B => entry.1 = Some(figure.value(s)),
        }
    }
    rounds
        .into_values()
        .filter_map(|(a, b)| Some((a?, b?)))
        .unzip()
}

/// Judges a comparison against `limits`. Fewer than two complete rounds
/// cannot be judged.
pub fn judge(run: &AbRun, limits: &AbLimits) -> Result<AbReport, GateError> {
    let mut figures = Vec::new();
    let mut rounds = 0;
    for figure in Figure::ALL {
        let (a, b) = paired(run, figure);
        rounds = a.len();
        let none = a.iter().chain(&b).all(|v| *v == 0.0);
        let ratio = if none {
            // Nothing on either side (store commands in token mode): equal.
            Estimate::new(1.0, 1.0, 1.0, a.len())
        } else if let Some(stages) = &run.stages {
            // The first stage's rounds among those with a ratio.
            let first = a
                .iter()
                .zip(&b)
                .take(stages.first as usize)
                .filter(|(x, y)| **x > 0.0 && **y > 0.0)
                .count();
            two_stage_ratio(&b, &a, first)
        } else {
            paired_ratio(&b, &a)
        };
        let a_mean = crate::interval::mean_sd(&a).0;
        let b_mean = crate::interval::mean_sd(&b).0;
        // A capped node's latency sits inside a quota period or after it:
        // a percentile that moved by less than one period may only have
        // crossed that edge (bimodal round to round), which an interval
        // over rounds does not hold. Such a move is not a verdict.
        let within_a_period = figure.is_latency()
            && run
                .node_cpu_period_ms
                .is_some_and(|q| (b_mean - a_mean).abs() < q);
        let resolved = if within_a_period {
            Resolved::NotResolved
        } else {
            Resolved::of_ratio(&ratio)
        };
        let limit = limits.fail.get(&figure).copied();
        let failed = !within_a_period
            && limit.is_some_and(|l| {
                ratio.n >= 2
                    && if figure.higher_is_better() {
                        ratio.hi < l
                    } else {
                        ratio.lo > l
                    }
            });
        figures.push(AbFigure {
            figure,
            a_mean,
            b_mean,
            ratio,
            resolved,
            verdict: if none {
                "none on either side"
            } else if within_a_period && Resolved::of_ratio(&ratio) != Resolved::NotResolved {
                "not resolved (moved less than one quota period)"
            } else {
                figure.verdict(resolved)
            }
            .to_owned(),
            limit,
            failed,
        });
    }
    if rounds < 2 {
        return Err(GateError(format!(
            "{rounds} complete round(s): at least 2 are needed for an interval"
        )));
    }
    let cpu = figures
        .iter()
        .find(|f| f.figure == Figure::NodeCpuUsPerProtectedRequest)
        .map(|f| (f.ratio, f.limit));
    let precision_reached = cpu.map_or(f64::NAN, |(r, _)| ((r.hi / r.lo).ln() / 2.0).exp_m1());
    let detectable = cpu.and_then(|(r, limit)| Some(detectable_ratio(limit?, &r)));
    Ok(AbReport {
        mode: run.mode.to_string(),
        nodes: run.nodes,
        rounds,
        precision_wanted: run.stages.as_ref().map(|s| s.precision),
        precision_reached,
        detectable,
        detect: limits.detect,
        rounds_short: run.stages.as_ref().map(|s| (run.rounds, s.needed)),
        a: side_label(&run.a),
        b: side_label(&run.b),
        figures,
        warnings: run.warnings.clone(),
    })
}

fn side_label(s: &authscale_schema::AbSide) -> String {
    if s.node_args.is_empty() {
        s.label.clone()
    } else {
        format!("{} {}", s.label, s.node_args.join(" "))
    }
}

#[cfg(test)]
mod tests;
