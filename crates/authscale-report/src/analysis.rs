//! From a run's steps to what they mean: per-mode series (X, speedup,
//! efficiency), a USL fit, the store-predicted session ceiling, and a
//! bottleneck verdict computed from the recorded evidence.

use std::collections::BTreeMap;

use authscale_schema::{AuthMode, Component, Run, Step};
use serde::Serialize;

use crate::usl::{self, Fit};

mod verdict;

use verdict::verdict;
pub use verdict::{Finding, Shape, Verdict};

pub use authscale_schema::{HARNESS_LIMIT, KNEE_EFFICIENCY, SATURATED};

/// One step as the report sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub n: u32,
    pub throughput: f64,
    pub speedup: f64,
    pub efficiency: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub error_rate: f64,
    pub cpu_us_per_req: BTreeMap<Component, f64>,
    pub utilization: BTreeMap<Component, f64>,
    /// Times put on a CPU per request, for the components whose runs the
    /// lab read (none in runs recorded before it did).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub runs_per_req: BTreeMap<Component, f64>,
    pub store_cmds_per_req: f64,
    pub node_throttled_share: f64,
}

/// The store's own capacity, and the session ceiling it implies.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    pub store_budget_cores: f64,
    pub store_cpu_us_per_command: f64,
    pub store_commands_per_second: f64,
    pub commands_per_request: f64,
    pub predicted_rps: f64,
    pub measured_rps: f64,
}

/// What limited a mode at its largest N: the closed set the report and
/// `predict` name. A new kind is one variant plus its label in `as_str`
/// (the compiler asks for it there) and, without a component, an entry in
/// `OTHERS` (the test below reads every label back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bottleneck {
    /// A component at its budget (the store or the nodes), or the harness
    /// (the proxy or the load generator) near its core.
    Component(Component),
    /// No component reached its budget: latency or contention outside the
    /// measured CPUs.
    None,
    /// An external deployment: the components' CPU is outside the lab's view.
    NotMeasured,
    /// (A prediction) no station saturated: each connection waits on round
    /// trips and queues.
    Connections,
}

impl Bottleneck {
    /// Every kind without a component, for reading a label back.
    pub const OTHERS: [Bottleneck; 3] = [
        Bottleneck::None,
        Bottleneck::NotMeasured,
        Bottleneck::Connections,
    ];

    /// The label, in run.json and the report. Exhaustive on purpose: a new
    /// kind is refused by the compiler here until it has its text, and
    /// here is where it joins `OTHERS` (the round-trip test checks both).
    pub fn as_str(self) -> &'static str {
        match self {
            Bottleneck::Component(c) => c.as_str(),
            Bottleneck::None => "none",
            Bottleneck::NotMeasured => "unmeasured",
            Bottleneck::Connections => "connections",
        }
    }
}

impl std::fmt::Display for Bottleneck {
    /// The label, padded like a string (`{:>12}` in tables).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

impl Serialize for Bottleneck {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Bottleneck {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let label = String::deserialize(d)?;
        Component::ALL
            .into_iter()
            .map(Bottleneck::Component)
            .chain(Bottleneck::OTHERS)
            .find(|b| b.as_str() == label)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown bottleneck {label:?}")))
    }
}

/// Everything the report says about one mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeAnalysis {
    pub mode: AuthMode,
    pub points: Vec<Point>,
    pub fit: Option<Fit>,
    /// First N from which efficiency stays under `KNEE_EFFICIENCY`.
    pub knee: Option<u32>,
    pub bottleneck: Bottleneck,
    pub verdict: Verdict,
    pub ceiling: Option<Ceiling>,
}

/// The whole analysis of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    pub modes: Vec<ModeAnalysis>,
    pub littles_law_ok: usize,
    pub steps: usize,
}

pub fn analyse(run: &Run) -> Analysis {
    let mut modes: Vec<AuthMode> = Vec::new();
    for step in &run.steps {
        if !modes.contains(&step.mode) {
            modes.push(step.mode);
        }
    }
    Analysis {
        modes: modes.iter().map(|&m| mode(run, m)).collect(),
        littles_law_ok: run
            .steps
            .iter()
            .filter(|s| s.littles_law.within_10_percent)
            .count(),
        steps: run.steps.len(),
    }
}

fn mode(run: &Run, mode: AuthMode) -> ModeAnalysis {
    let steps: Vec<&Step> = run.steps.iter().filter(|s| s.mode == mode).collect();
    // Speedup and efficiency are relative to the measured N = 1 step; a
    // run without one (or whose N = 1 served nothing) has neither.
    let x1 = run.baseline(mode).filter(|x| *x > 0.0);
    let points: Vec<Point> = steps.iter().map(|s| point(s, x1)).collect();
    let fit = usl::fit(
        &points
            .iter()
            .map(|p| (f64::from(p.n), p.throughput))
            .collect::<Vec<_>>(),
    );
    // The knee: from here on efficiency stays under the bar (a dip that
    // recovers at larger N is noise, not a knee).
    let knee = points
        .iter()
        .enumerate()
        .find(|(i, p)| p.n > 1 && points[*i..].iter().all(|q| q.efficiency < KNEE_EFFICIENCY))
        .map(|(_, p)| p.n);
    let ceiling = ceiling(&steps);
    let verdict = verdict(mode, &points, &steps, knee);
    let bottleneck = verdict.bottleneck();
    ModeAnalysis {
        mode,
        points,
        fit,
        knee,
        bottleneck,
        verdict,
        ceiling,
    }
}

fn point(s: &Step, x1: Option<f64>) -> Point {
    let n = f64::from(s.nodes);
    let speedup = x1.map_or(f64::NAN, |x1| s.throughput / x1);
    let node_throttling = s
        .components
        .get(&Component::Nodes)
        .and_then(|c| c.throttling);
    Point {
        n: s.nodes,
        throughput: s.throughput,
        speedup,
        efficiency: speedup / n,
        p50_ms: s.latency_ms.p50,
        p99_ms: s.latency_ms.p99,
        error_rate: s.error_rate,
        cpu_us_per_req: s
            .components
            .iter()
            .map(|(k, c)| (*k, c.cpu_us_per_request))
            .collect(),
        utilization: s
            .components
            .iter()
            .map(|(k, c)| (*k, c.utilization))
            .collect(),
        runs_per_req: s.runs_per_request(),
        store_cmds_per_req: s.store_commands_per_request,
        node_throttled_share: node_throttling
            .filter(|t| t.periods > 0)
            .map_or(0.0, |t| t.throttled_periods as f64 / t.periods as f64),
    }
}

/// The ceiling the store's measured cost per command predicts. The cost is
/// taken where the store ran at its budget (a busy Redis batches work, so
/// its cost per command falls with load), else from every step using it.
fn ceiling(steps: &[&Step]) -> Option<Ceiling> {
    let uses_store: Vec<&&Step> = steps
        .iter()
        .filter(|s| s.store_commands_per_request > 0.1)
        .collect();
    let saturated: Vec<&&Step> = uses_store
        .iter()
        .copied()
        .filter(|s| {
            s.components
                .get(&Component::Store)
                .is_some_and(|c| c.utilization >= SATURATED)
        })
        .collect();
    let busy = if saturated.is_empty() {
        uses_store
    } else {
        saturated
    };
    let last = busy.last()?;
    let store = last.components.get(&Component::Store)?;
    let (cpu, commands): (f64, u64) = busy.iter().fold((0.0, 0), |(c, n), s| {
        (
            c + s
                .components
                .get(&Component::Store)
                .map_or(0.0, |x| x.cpu_seconds),
            n + s.store_commands.values().sum::<u64>(),
        )
    });
    if commands == 0 || cpu <= 0.0 {
        return None;
    }
    let per_command = cpu / commands as f64;
    let capacity = store.limit_cores / per_command;
    let per_request = busy
        .iter()
        .map(|s| s.store_commands_per_request)
        .sum::<f64>()
        / busy.len() as f64;
    Some(Ceiling {
        store_budget_cores: store.limit_cores,
        store_cpu_us_per_command: per_command * 1e6,
        store_commands_per_second: capacity,
        commands_per_request: per_request,
        predicted_rps: capacity / per_request,
        measured_rps: steps.iter().map(|s| s.throughput).fold(0.0, f64::max),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bottleneck_label_reads_back_as_its_kind() {
        let kinds = Component::ALL.map(Bottleneck::Component);
        for kind in kinds.into_iter().chain(Bottleneck::OTHERS) {
            let json = serde_json::to_string(&kind).expect("label");
            let back: Bottleneck = serde_json::from_str(&json).expect(&json);
            assert_eq!(back, kind, "{json}");
        }
        // The labels are distinct, so a label names one kind.
        let mut labels: Vec<&str> = kinds
            .iter()
            .chain(&Bottleneck::OTHERS)
            .map(|k| k.as_str())
            .collect();
        let all = labels.len();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), all);
        assert!(serde_json::from_str::<Bottleneck>("\"network\"").is_err());
    }
}
