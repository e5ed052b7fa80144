//! How sure a run is of its figures: intervals from the slices of an
//! interleaved run, ratios paired by round, the USL parameters by a
//! bootstrap over rounds, the run's noise floor, efficiencies above 1 that
//! the interval confirms (with the evidence for why), and how well a USL
//! fitted on the first half of the N values predicts the second half.

use std::collections::BTreeMap;

use authscale_schema::{AuthMode, CellRounds, Component, Run, Slice, Step};
use serde::Serialize;

use crate::interval::{Estimate, bootstrap, mean_interval, paired_ratio};
use crate::sequential::{Target, two_stage_ratio};
use crate::usl;

/// Resamples of the USL bootstrap (deterministic: a fixed seed).
pub const RESAMPLES: usize = 400;

/// One (mode, N) step's figures with their 95% intervals.
#[derive(Debug, Clone, Serialize)]
pub struct StepEstimates {
    pub mode: AuthMode,
    pub n: u32,
    pub rounds: usize,
    pub throughput: Estimate,
    /// X(N) / (N·X(1)), paired by round with the mode's N = 1.
    pub efficiency: Option<Estimate>,
    pub p50_ms: Estimate,
    pub p99_ms: Estimate,
    pub cpu_us_per_req: BTreeMap<Component, Estimate>,
    pub store_cmds_per_req: Estimate,
    /// Nodes' share of throttled quota periods.
    pub node_throttled: Option<Estimate>,
}

/// Throughput of mode `a` over mode `b` at N, paired by round.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub n: u32,
    pub a: AuthMode,
    pub b: AuthMode,
    pub ratio: Estimate,
}

/// Bootstrap intervals of a mode's USL parameters.
#[derive(Debug, Clone, Serialize)]
pub struct UslIntervals {
    pub lambda: (f64, f64),
    pub sigma: (f64, f64),
    pub kappa: (f64, f64),
    /// N* (infinite when κ = 0 in a resample).
    pub peak_n: (f64, f64),
}

/// The USL fitted on the first half of the N values, against the rest.
#[derive(Debug, Clone, Serialize)]
pub struct PredictionCheck {
    pub fitted_on: Vec<u32>,
    /// (N, predicted, measured, error as a fraction of measured).
    pub rows: Vec<(u32, f64, f64, f64)>,
    pub max_abs_error: f64,
}

/// Everything this module says about a run.
#[derive(Debug, Clone, Serialize)]
pub struct Precision {
    /// Whether the run has slices (else: single blocks, no intervals).
    pub sliced: bool,
    pub steps: Vec<StepEstimates>,
    pub ratios: Vec<Ratio>,
    pub usl: BTreeMap<AuthMode, UslIntervals>,
    /// The size of difference (a fraction) a typical figure of the run
    /// resolves: the median relative half-width of its ratios.
    pub noise_floor: Option<f64>,
    /// Sentences about efficiencies whose interval lies above 1.
    pub superlinear: Vec<String>,
    pub prediction: BTreeMap<AuthMode, PredictionCheck>,
}

/// Error above which the first-half USL is said to predict badly.
pub const PREDICTION_TOLERANCE: f64 = 0.10;

pub(crate) fn modes(run: &Run) -> Vec<AuthMode> {
    let mut modes: Vec<AuthMode> = Vec::new();
    for step in &run.steps {
        if !modes.contains(&step.mode) {
            modes.push(step.mode);
        }
    }
    modes
}

pub(crate) fn step(run: &Run, mode: AuthMode, n: u32) -> Option<&Step> {
    run.steps.iter().find(|s| s.mode == mode && s.nodes == n)
}

/// `value(slice)` of the slices of `a` and `b` that share a round, with
/// the round, in the order of `a`'s slices (round by round).
fn paired(a: &Step, b: &Step, value: fn(&Slice) -> f64) -> Vec<(u32, f64, f64)> {
    a.slices
        .iter()
        .filter_map(|x| {
            b.slices
                .iter()
                .find(|y| y.round == x.round)
                .map(|y| (x.round, value(x), value(y)))
        })
        .collect()
}

/// The rounds of a run's first stage when it ran to a precision: its
/// intervals are then Stein's two-stage intervals (`sequential`).
pub(crate) fn first_stage(run: &Run) -> Option<u32> {
    run.stages.as_ref().map(|s| s.first)
}

/// The paired ratio of `(round, a, b)` rows, a/b: Stein's two-stage
/// interval when the run had a first stage, else the t interval.
fn ratio_of(rows: &[(u32, f64, f64)], first: Option<u32>) -> Estimate {
    let a: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let b: Vec<f64> = rows.iter().map(|r| r.2).collect();
    match first {
        Some(first) => {
            let n0 = rows
                .iter()
                .filter(|r| r.0 < first && r.1 > 0.0 && r.2 > 0.0)
                .count();
            two_stage_ratio(&a, &b, n0)
        }
        None => paired_ratio(&a, &b),
    }
}

/// X(N)/(N·X(1)) of step `s`, paired by round with its mode's N = 1 step.
pub(crate) fn paired_efficiency(s: &Step, one: &Step, first: Option<u32>) -> Estimate {
    let n = f64::from(s.nodes);
    let rows: Vec<(u32, f64, f64)> = paired(s, one, |x| x.throughput)
        .into_iter()
        .map(|(r, xn, x1)| (r, xn, x1 * n))
        .collect();
    ratio_of(&rows, first)
}

/// Each mode over every earlier mode (and so over `none`, the upper bound,
/// when it came first) at each N both measured, as `ratio(a, b)` gives it;
/// None leaves the pair out.
pub(crate) fn mode_ratios(
    run: &Run,
    ratio: impl Fn(&Step, &Step) -> Option<Estimate>,
) -> Vec<Ratio> {
    let modes = modes(run);
    let mut ratios = Vec::new();
    for (i, &a) in modes.iter().enumerate() {
        for &b in modes.iter().take(i) {
            for sa in run.steps.iter().filter(|s| s.mode == a) {
                if let Some(ratio) = step(run, b, sa.nodes).and_then(|sb| ratio(sa, sb)) {
                    ratios.push(Ratio {
                        n: sa.nodes,
                        a,
                        b,
                        ratio,
                    });
                }
            }
        }
    }
    ratios
}

/// Throughput of `a` over `b`, paired by round; None with fewer than two
/// shared rounds.
pub(crate) fn paired_throughput_ratio(a: &Step, b: &Step, first: Option<u32>) -> Option<Estimate> {
    let rows = paired(a, b, |x| x.throughput);
    (rows.len() >= 2).then(|| ratio_of(&rows, first))
}

/// The rounds each (mode, N) cell of a first stage needs in all for its
/// headline figures (every E(N), every mode ratio per N) to reach
/// `target`: Stein's rule per figure, the most any of a cell's figures
/// needs (the N = 1 cell serves every E(N) of its mode).
pub fn rounds_needed(run: &Run, target: &Target) -> Vec<CellRounds> {
    let mut need: BTreeMap<(AuthMode, u32), usize> = BTreeMap::new();
    for s in &run.steps {
        need.insert((s.mode, s.nodes), target.first);
    }
    let mut raise = |mode: AuthMode, n: u32, rounds: usize| {
        let e = need.entry((mode, n)).or_default();
        *e = (*e).max(rounds);
    };
    let logs = |rows: Vec<(u32, f64, f64)>| -> Vec<f64> {
        let (a, b): (Vec<f64>, Vec<f64>) = rows.iter().map(|r| (r.1, r.2)).unzip();
        crate::interval::log_ratios(&a, &b)
    };
    for mode in modes(run) {
        let Some(one) = step(run, mode, 1) else {
            continue;
        };
        for s in run.steps.iter().filter(|s| s.mode == mode && s.nodes > 1) {
            let rounds = target.rounds_needed(&logs(paired(s, one, |x| x.throughput)));
            raise(mode, s.nodes, rounds);
            raise(mode, 1, rounds);
        }
    }
    let all = modes(run);
    for (i, &a) in all.iter().enumerate() {
        for &b in all.iter().take(i) {
            for sa in run.steps.iter().filter(|s| s.mode == a) {
                if let Some(sb) = step(run, b, sa.nodes) {
                    let rounds = target.rounds_needed(&logs(paired(sa, sb, |x| x.throughput)));
                    raise(a, sa.nodes, rounds);
                    raise(b, sa.nodes, rounds);
                }
            }
        }
    }
    need.into_iter()
        .map(|((mode, nodes), rounds)| CellRounds {
            mode,
            nodes,
            rounds: rounds as u32,
        })
        .collect()
}

fn of_slices(step: &Step, value: impl Fn(&Slice) -> Option<f64>) -> Option<Estimate> {
    let values: Vec<f64> = step.slices.iter().filter_map(value).collect();
    // Every slice figure is a count, a rate or a share: never below zero.
    (!values.is_empty()).then(|| {
        let mut e = mean_interval(&values);
        e.lo = e.lo.max(0.0);
        e
    })
}

pub fn precision(run: &Run) -> Precision {
    let sliced = run.steps.iter().any(|s| s.slices.len() >= 2);
    let modes = modes(run);
    let mut steps = Vec::new();
    let mut usl_intervals = BTreeMap::new();
    let mut superlinear = Vec::new();
    let mut prediction = BTreeMap::new();
    for &mode in &modes {
        let mode_steps: Vec<&Step> = run.steps.iter().filter(|s| s.mode == mode).collect();
        if let Some(check) = predict_second_half(&mode_steps) {
            prediction.insert(mode, check);
        }
        if !sliced {
            continue;
        }
        let one = step(run, mode, 1);
        for s in &mode_steps {
            let Some(throughput) = of_slices(s, |x| Some(x.throughput)) else {
                continue;
            };
            let efficiency = one.map(|one| paired_efficiency(s, one, first_stage(run)));
            let mut cpu = BTreeMap::new();
            for name in s.components.keys() {
                if let Some(e) = of_slices(s, |x| x.cpu_us_per_request.get(name).copied()) {
                    cpu.insert(*name, e);
                }
            }
            let estimates = StepEstimates {
                mode,
                n: s.nodes,
                rounds: s.slices.len(),
                throughput,
                efficiency,
                p50_ms: of_slices(s, |x| Some(x.p50_ms)).unwrap_or(Estimate::point(0.0)),
                p99_ms: of_slices(s, |x| Some(x.p99_ms)).unwrap_or(Estimate::point(0.0)),
                store_cmds_per_req: of_slices(s, |x| Some(x.store_commands_per_request))
                    .unwrap_or(Estimate::point(0.0)),
                // A share of quota periods: never above 1 either.
                node_throttled: of_slices(s, |x| x.throttled.get(&Component::Nodes).copied()).map(
                    |mut e| {
                        e.hi = e.hi.min(1.0);
                        e
                    },
                ),
                cpu_us_per_req: cpu,
            };
            if let (Some(e), Some(one)) = (estimates.efficiency, one)
                && s.nodes > 1
                && e.mean > 1.05
                && e.lo > 1.0
            {
                superlinear.push(superlinear_cause(mode, s, one, &e));
            }
            steps.push(estimates);
        }
        if let Some(intervals) = usl_bootstrap(&mode_steps) {
            usl_intervals.insert(mode, intervals);
        }
    }
    let ratios = if sliced {
        mode_ratios(run, |a, b| paired_throughput_ratio(a, b, first_stage(run)))
    } else {
        Vec::new()
    };
    let noise_floor = noise_floor(&ratios, &steps);
    Precision {
        sliced,
        steps,
        ratios,
        usl: usl_intervals,
        noise_floor,
        superlinear,
        prediction,
    }
}

/// The median relative half-width of the paired mode ratios (or, with one
/// mode, of the efficiencies): the size of difference a typical figure of
/// the run resolves (a figure with a narrower interval resolves less; its
/// own interval says).
fn noise_floor(ratios: &[Ratio], steps: &[StepEstimates]) -> Option<f64> {
    let mut widths: Vec<f64> = if ratios.is_empty() {
        steps
            .iter()
            .filter(|s| s.n > 1)
            .filter_map(|s| s.efficiency.map(|e| e.relative_half_width()))
            .collect()
    } else {
        ratios
            .iter()
            .map(|r| r.ratio.relative_half_width())
            .collect()
    };
    widths.retain(|w| w.is_finite());
    if widths.is_empty() {
        return None;
    }
    widths.sort_by(f64::total_cmp);
    Some(widths[widths.len() / 2])
}

/// Why an efficiency came out above 1, from the evidence: node-bound
/// throughput is budget / CPU per request, so E(N) > 1 means each request
/// cost the nodes less CPU at N than at N = 1, or N = 1 left part of its
/// budget unused. The run shows which; why a request's cost moved, it
/// cannot show by itself, so the sentence names what was measured and
/// points at the experiments on the causes instead of ruling on them.
fn superlinear_cause(mode: AuthMode, s: &Step, one: &Step, e: &Estimate) -> String {
    let cpu = |x: &Step| {
        x.components
            .get(&Component::Nodes)
            .map_or(0.0, |c| c.cpu_us_per_request)
    };
    let util = |x: &Step| {
        x.components
            .get(&Component::Nodes)
            .map_or(0.0, |c| c.utilization)
    };
    let (c1, cn, u1, un) = (cpu(one), cpu(s), util(one), util(s));
    let runs = |x: &Step| x.runs_per_request().get(&Component::Nodes).copied();
    let cause = if c1 > 0.0 && cn < c1 * 0.97 {
        let woken = match (runs(one), runs(s)) {
            (Some(r1), Some(rn)) => {
                format!(" (put on a CPU {rn:.3} times per request against {r1:.3})")
            }
            _ => String::new(),
        };
        format!(
            "the nodes spent {cn:.1} CPU-µs per request at N={n} against {c1:.1} at N=1 ({change:+.0}%){woken}, so the same budgets served more. The USL takes a request's cost as fixed; here it fell between N=1 and N={n}. What moves it was measured apart from this run: how a node's requests reach it, which differs between one node behind the proxy and N and is the scale model's (docs/precision.md, \"The N = 1 cell and the quota period\"), and, where the nodes use the store, commands pipelined on their store connection as the store gets busier, which a real cluster would share in part (\"Session nodes behind a busier store\")",
            n = s.nodes,
            change = (cn / c1 - 1.0) * 100.0,
        )
    } else if u1 < un * 0.97 {
        format!(
            "at N=1 the node used {:.0}% of its budget against {:.0}% per node at N={}: X(1) was held below its budget by something outside the node (the harness or the store), so N·X(1) understates linear scaling",
            u1 * 100.0,
            un * 100.0,
            s.nodes
        )
    } else {
        "neither CPU per request nor utilization explains it; treat X(1) as suspect".to_owned()
    };
    format!(
        "{mode} E({}) = {} lies above 1: {cause}.",
        s.nodes,
        e.show(2)
    )
}

/// A bootstrap over rounds: resample the rounds, average each N's slices
/// of those rounds, fit, and keep the 2.5th–97.5th percentiles.
fn usl_bootstrap(steps: &[&Step]) -> Option<UslIntervals> {
    let rounds: Vec<u32> = {
        let mut r: Vec<u32> = steps
            .iter()
            .flat_map(|s| s.slices.iter().map(|x| x.round))
            .collect();
        r.sort_unstable();
        r.dedup();
        r
    };
    if rounds.len() < 3 || steps.len() < 3 {
        return None;
    }
    let by_round: Vec<BTreeMap<u32, f64>> = steps
        .iter()
        .map(|s| s.slices.iter().map(|x| (x.round, x.throughput)).collect())
        .collect();
    let fit_of = |pick: &[usize]| -> Option<usl::Fit> {
        let points: Vec<(f64, f64)> = steps
            .iter()
            .zip(&by_round)
            .filter_map(|(s, values)| {
                let xs: Vec<f64> = pick
                    .iter()
                    .filter_map(|&i| values.get(&rounds[i]).copied())
                    .collect();
                (!xs.is_empty())
                    .then(|| (f64::from(s.nodes), xs.iter().sum::<f64>() / xs.len() as f64))
            })
            .collect();
        usl::fit(&points)
    };
    let seed = 0x5eed;
    let param = |f: fn(&usl::Fit) -> f64| {
        bootstrap(rounds.len(), RESAMPLES, seed, |pick| {
            fit_of(pick).map(|fit| f(&fit))
        })
    };
    Some(UslIntervals {
        lambda: param(|f| f.lambda)?,
        sigma: param(|f| f.sigma)?,
        kappa: param(|f| f.kappa)?,
        peak_n: param(|f| f.peak_n.unwrap_or(f64::INFINITY))?,
    })
}

/// Fits the USL on the first half of a mode's N values (at least two) and
/// compares its prediction with the measured rest.
fn predict_second_half(steps: &[&Step]) -> Option<PredictionCheck> {
    if steps.len() < 4 {
        return None;
    }
    let half = steps.len().div_ceil(2);
    let (first, rest) = steps.split_at(half);
    let fit = usl::fit(
        &first
            .iter()
            .map(|s| (f64::from(s.nodes), s.throughput))
            .collect::<Vec<_>>(),
    )?;
    let rows: Vec<(u32, f64, f64, f64)> = rest
        .iter()
        .map(|s| {
            let predicted = fit.predict(f64::from(s.nodes));
            (
                s.nodes,
                predicted,
                s.throughput,
                predicted / s.throughput - 1.0,
            )
        })
        .collect();
    Some(PredictionCheck {
        fitted_on: first.iter().map(|s| s.nodes).collect(),
        max_abs_error: rows.iter().map(|r| r.3.abs()).fold(0.0, f64::max),
        rows,
    })
}

#[cfg(test)]
mod tests;
