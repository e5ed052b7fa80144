//! Two runs side by side: every (mode, N) step both have, with ratios B/A;
//! where both runs have slices, each ratio gets a 95% interval and a
//! verdict (B faster, slower, or not resolved).
//!
//! The runs are independent (no round of A was measured next to a round
//! of B), so the ratio is not paired by round as within a run: it is the
//! ratio of the two runs' geometric means of their slices, with a t
//! interval on the log values and Welch's degrees of freedom (the two runs
//! may have different spreads and slice counts). Logs, so the interval of
//! A/B is the reciprocal of that of B/A.
//!
//! Two runs taken at different times also differ by the machine's drift
//! between them, which neither run's slices contain: a difference counts as
//! resolved only when its whole interval lies beyond a drift band, within a
//! factor 1 + d of 1 either way (from 1/(1 + d) to 1 + d: symmetric in
//! logs, so A/B and B/A get mirrored verdicts).

use std::fmt::Write;

use authscale_schema::{AuthMode, Component, Run, Slice, Step};

use serde::{Deserialize, Serialize};

use crate::analysis::analyse;
use crate::interval::{Estimate, Resolved, mean_sd, t95};

/// The drift band `compare` uses unless told otherwise: ±5%. Repeated
/// default sweeps of identical code on the 2-core reference machine
/// (results/precision, 50 run pairs × 12 steps) had 23% of their
/// throughput ratios and 21% of their node-CPU ratios "resolved" with no
/// band, 2.7% and 0.8% with 0.05.
pub const DEFAULT_DRIFT: f64 = 0.05;

/// The format of `compare --json`.
pub const COMPARE_SCHEMA: &str = "authscale-compare/1";

/// Run B against run A: every (mode, N) step both measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub a: RunLabel,
    pub b: RunLabel,
    /// The drift band's d: B/A from 1/(1 + d) to 1 + d is not resolved.
    pub drift: f64,
    /// The band as judged, on the printed grid: (lower, upper).
    pub band: (f64, f64),
    pub steps: Vec<ComparedStep>,
}

/// Which run a side is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunLabel {
    pub experiment: String,
    pub started_at: String,
    pub git_commit: String,
}

/// One (mode, N) step of both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparedStep {
    pub mode: AuthMode,
    pub n: u32,
    /// Throughput, req/s.
    pub throughput: Compared,
    pub p99_ms: Compared,
    /// The nodes' CPU-µs per request.
    pub node_cpu_us: Compared,
    /// E(N) of each run: (A, B); None without a measured N = 1.
    pub efficiency: (Option<f64>, Option<f64>),
    /// Store commands per request: (A, B).
    pub store_cmds_per_req: (f64, f64),
}

/// One figure of both runs and B/A.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compared {
    pub a: f64,
    pub b: f64,
    /// B/A: the ratio of the slices' geometric means where both runs have
    /// slices, else of the step figures; None when A is 0.
    pub ratio: Option<f64>,
    /// The 95% interval of B/A, bounds rounded outward to three decimals.
    pub interval: Option<(f64, f64)>,
    /// What the interval says, beyond the drift band; None without one.
    pub verdict: Option<Verdict>,
    /// Slices at 0 left out (no logarithm): (A, B).
    pub zero_slices: (usize, usize),
}

/// What a ratio's interval says about B.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    BFaster,
    BSlower,
    NotResolved,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::BFaster => "B faster",
            Verdict::BSlower => "B slower",
            Verdict::NotResolved => "not resolved",
        }
    }
}

fn label(run: &Run) -> RunLabel {
    RunLabel {
        experiment: run.plan.experiment.name.clone(),
        started_at: run.started_at.clone(),
        git_commit: run.host.git_commit.clone(),
    }
}

/// Run B against run A; differences inside ±`drift` are not resolved.
pub fn compare(a: &Run, b: &Run, drift: f64) -> Comparison {
    let (aa, ab) = (analyse(a), analyse(b));
    let band = Band::new(drift);
    let mut steps = Vec::new();
    for ma in &aa.modes {
        let Some(mb) = ab.modes.iter().find(|m| m.mode == ma.mode) else {
            continue;
        };
        for pa in &ma.points {
            let Some(pb) = mb.points.iter().find(|p| p.n == pa.n) else {
                continue;
            };
            let node = |p: &crate::Point| {
                p.cpu_us_per_req
                    .get(&Component::Nodes)
                    .copied()
                    .unwrap_or(0.0)
            };
            let sides = step(a, ma.mode, pa.n).zip(step(b, ma.mode, pa.n));
            // The ratio of the steps' figures; with slices on both sides,
            // its interval and what it says.
            let compared = |x: f64, y: f64, slice: fn(&Slice) -> Option<f64>, better: Better| {
                let values = sides.map(|(sa, sb)| (values(sa, slice), values(sb, slice)));
                let interval = values
                    .as_ref()
                    .and_then(|(va, vb)| independent_ratio(va, vb));
                let zeros = |v: &[f64]| v.iter().filter(|v| **v <= 0.0).count();
                let zero_slices = values
                    .as_ref()
                    .map_or((0, 0), |(va, vb)| (zeros(va), zeros(vb)));
                Compared {
                    a: x,
                    b: y,
                    ratio: interval
                        .map(|r| r.mean)
                        .or_else(|| (x > 0.0).then(|| y / x)),
                    interval: interval.map(|r| (down(r.lo), up(r.hi))),
                    verdict: interval.map(|r| band.verdict(&r, better)),
                    zero_slices,
                }
            };
            steps.push(ComparedStep {
                mode: ma.mode,
                n: pa.n,
                throughput: compared(
                    pa.throughput,
                    pb.throughput,
                    |s| Some(s.throughput),
                    Better::Higher,
                ),
                p99_ms: compared(pa.p99_ms, pb.p99_ms, |s| Some(s.p99_ms), Better::Lower),
                node_cpu_us: compared(
                    node(pa),
                    node(pb),
                    |s| s.cpu_us_per_request.get(&Component::Nodes).copied(),
                    Better::Lower,
                ),
                efficiency: (
                    Some(pa.efficiency).filter(|e| e.is_finite()),
                    Some(pb.efficiency).filter(|e| e.is_finite()),
                ),
                store_cmds_per_req: (pa.store_cmds_per_req, pb.store_cmds_per_req),
            });
        }
    }
    Comparison {
        a: label(a),
        b: label(b),
        drift,
        band: (band.lower, band.upper),
        steps,
    }
}

impl Compared {
    /// `mean [lo, hi] verdict`, a bare ratio without slices, or —.
    fn show(&self) -> String {
        let note = match self.zero_slices {
            (0, 0) => String::new(),
            (a, 0) => format!(" (A: {a} slices at 0 left out)"),
            (0, b) => format!(" (B: {b} slices at 0 left out)"),
            (a, b) => format!(" (A: {a}, B: {b} slices at 0 left out)"),
        };
        match (self.ratio, self.interval, self.verdict) {
            (Some(r), Some((lo, hi)), Some(v)) => {
                format!("{r:.3} [{lo:.3}, {hi:.3}] {}{note}", v.label())
            }
            (Some(r), _, _) => format!("{r:.3}{note}"),
            _ => "—".into(),
        }
    }
}

impl crate::Document for Comparison {
    const SCHEMA: &'static str = COMPARE_SCHEMA;

    fn title(&self) -> String {
        format!(
            "authscale compare: {} {} against {} {}",
            self.b.experiment, self.b.started_at, self.a.experiment, self.a.started_at
        )
    }

    fn markdown(&self) -> String {
        let mut out = String::new();
        // Two lines of one paragraph: a hard break (two spaces) between them.
        for (side, run, end) in [("A", &self.a, "  "), ("B", &self.b, "")] {
            let _ = writeln!(
                out,
                "{side}: {} {} (commit {}){end}",
                crate::md::text(&run.experiment),
                crate::md::text(&run.started_at),
                crate::md::text(&run.git_commit)
            );
        }
        let _ = writeln!(
            out,
            "\n| mode | N | X A | X B | B/A | p99 A | p99 B | B/A | E A | E B | node µs/req A | node µs/req B | B/A | store cmds/req A | store cmds/req B |"
        );
        let _ = writeln!(
            out,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        for s in &self.steps {
            let _ = writeln!(
                out,
                "| {} | {} | {:.0} | {:.0} | {} | {:.2} | {:.2} | {} | {} | {} | {:.1} | {:.1} | {} | {:.3} | {:.3} |",
                s.mode,
                s.n,
                s.throughput.a,
                s.throughput.b,
                s.throughput.show(),
                s.p99_ms.a,
                s.p99_ms.b,
                s.p99_ms.show(),
                s.efficiency.0.map_or("—".into(), |e| format!("{e:.2}")),
                s.efficiency.1.map_or("—".into(), |e| format!("{e:.2}")),
                s.node_cpu_us.a,
                s.node_cpu_us.b,
                s.node_cpu_us.show(),
                s.store_cmds_per_req.0,
                s.store_cmds_per_req.1
            );
        }
        if self.steps.is_empty() {
            let _ = writeln!(out, "\nThe runs share no (mode, N) step.");
            return out;
        }
        let figures = || {
            self.steps
                .iter()
                .flat_map(|s| [&s.throughput, &s.p99_ms, &s.node_cpu_us])
        };
        if figures().any(|c| c.interval.is_some()) {
            let _ = writeln!(
                out,
                "\nB/A with a 95% interval where both runs have slices: the ratio of the runs' geometric means over their slices (for p99, of the slices' p99s, which can differ from the whole steps' p99 beside it), a t interval on the logs with Welch's degrees of freedom (the runs are independent: no pairing by round), its bounds rounded outward to three decimals. \"not resolved\": the interval reaches into the drift band."
            );
        }
        if figures().any(|c| c.interval.is_none() && c.ratio.is_some()) {
            let _ = writeln!(
                out,
                "\nA ratio without an interval or verdict: one of the runs has no slices there (measured in blocks), so nothing says whether the difference is more than noise or drift."
            );
        }
        let _ = writeln!(
            out,
            "\nRuns taken at different times also differ by the machine's drift, which neither run's slices contain, so a difference counts only when its whole interval lies beyond the drift band from {:.3} to {:.3} (B/A within a factor 1 + {} of 1 either way, --drift). `authscale spread` over repeats of a sweep prints how far their throughput drifts. To see smaller differences between two builds or configurations, measure them side by side with `authscale ab`: paired by round, the drift cancels.",
            self.band.0, self.band.1, self.drift
        );
        out
    }
}

fn step(run: &Run, mode: AuthMode, n: u32) -> Option<&Step> {
    run.steps.iter().find(|s| s.mode == mode && s.nodes == n)
}

fn values(step: &Step, slice: fn(&Slice) -> Option<f64>) -> Vec<f64> {
    step.slices.iter().filter_map(slice).collect()
}

/// Which direction of a figure is the better one.
#[derive(Clone, Copy)]
enum Better {
    /// Throughput.
    Higher,
    /// Latency, CPU per request.
    Lower,
}

/// The drift band on the grid the table prints (three decimals): from
/// 1/(1 + d) rounded down to 1 + d rounded up. An interval is printed with
/// its bounds rounded outward and judged as printed, so two intervals that
/// print alike get the same verdict.
struct Band {
    lower: f64,
    upper: f64,
}

/// Rounding to the printed grid, with a little slack for the last bits of
/// a float (1.3 computed as 1.2999999999999998 is 1.300).
fn down(x: f64) -> f64 {
    (x * 1000.0 + 1e-6).floor() / 1000.0
}

fn up(x: f64) -> f64 {
    (x * 1000.0 - 1e-6).ceil() / 1000.0
}

impl Band {
    fn new(drift: f64) -> Band {
        Band {
            lower: down(1.0 / (1.0 + drift)),
            upper: up(1.0 + drift),
        }
    }

    fn verdict(&self, ratio: &Estimate, better: Better) -> Verdict {
        let resolved = if ratio.n < 2 {
            Resolved::NotResolved
        } else if down(ratio.lo) > self.upper {
            Resolved::Higher
        } else if up(ratio.hi) < self.lower {
            Resolved::Lower
        } else {
            Resolved::NotResolved
        };
        match (resolved, better) {
            (Resolved::NotResolved, _) => Verdict::NotResolved,
            (Resolved::Higher, Better::Higher) | (Resolved::Lower, Better::Lower) => {
                Verdict::BFaster
            }
            _ => Verdict::BSlower,
        }
    }
}

#[cfg(test)]
fn verdict(ratio: &Estimate, better: Better, drift: f64) -> &'static str {
    Band::new(drift).verdict(ratio, better).label()
}

/// B/A of two independent samples of positive values: the ratio of their
/// geometric means, with a Welch t interval on the logs. None unless both
/// have at least two positive values.
fn independent_ratio(a: &[f64], b: &[f64]) -> Option<Estimate> {
    let logs = |v: &[f64]| -> Vec<f64> { v.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect() };
    let (la, lb) = (logs(a), logs(b));
    let (na, nb) = (la.len(), lb.len());
    if na < 2 || nb < 2 {
        return None;
    }
    let ((ma, sa), (mb, sb)) = (mean_sd(&la), mean_sd(&lb));
    let (va, vb) = (sa * sa / na as f64, sb * sb / nb as f64);
    let se = (va + vb).sqrt();
    let d = mb - ma;
    let half = if se > 0.0 {
        let df = (va + vb).powi(2) / (va * va / (na - 1) as f64 + vb * vb / (nb - 1) as f64);
        // The table's quantile at the whole degrees below: a little wider.
        t95(df.floor().max(1.0) as usize) * se
    } else {
        0.0
    };
    let n = na.min(nb);
    Some(Estimate::new(
        d.exp(),
        (d - half).exp(),
        (d + half).exp(),
        n,
    ))
}

#[cfg(test)]
mod tests;
