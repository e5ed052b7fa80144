//! From a run's steps to what they mean: per-mode series (X, speedup,
//! efficiency), a USL fit, the store-predicted session ceiling, and a
//! bottleneck verdict computed from the recorded evidence.

use std::collections::BTreeMap;

use authscale_schema::{AuthMode, Component, Run, Step};
use serde::Serialize;

use crate::usl::{self, Fit};

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
/// `predict` name. A new kind is one variant plus its label here; every
/// `match` on it then asks for its text.
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
            .chain([
                Bottleneck::None,
                Bottleneck::NotMeasured,
                Bottleneck::Connections,
            ])
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

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// What the analysis concluded about one mode, as data: how throughput
/// grew, what limited it (with the figures it was chosen from), and the
/// share of failed requests. `Display` writes the report's sentence from
/// it; nothing else decides.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub mode: AuthMode,
    pub shape: Shape,
    /// None when no step was measured.
    pub finding: Option<Finding>,
    /// The share of requests that failed at the largest N, when above 1%.
    pub failed: Option<(f64, u32)>,
}

/// How throughput grew with N.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Shape {
    NoSteps,
    OneStep {
        n: u32,
        throughput: f64,
    },
    /// Efficiency stayed under the knee bar from some N on.
    Flattens {
        before: (u32, f64, f64),
        last: (u32, f64),
        growth: f64,
        ideal: f64,
    },
    /// No knee: (N, E(N), X) at the largest N, and X at the smallest.
    Linear {
        last: (u32, f64, f64),
        first: (u32, f64),
    },
}

/// What limited the largest step, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Finding {
    /// An external deployment: its CPUs are outside the lab's view.
    NotMeasured,
    /// The proxy or the load generator near its core (share of it) at N.
    Harness {
        component: Component,
        utilization: f64,
        n: u32,
    },
    /// The store at its budget (cores; None: uncapped, one core) from N on.
    Store {
        utilization: f64,
        budget: Option<f64>,
        from: u32,
        commands_per_request: f64,
    },
    /// The nodes at their budgets (cores each), and the share of quota
    /// periods they were throttled in where the kernel counted it.
    Nodes {
        utilization: f64,
        budget_each: f64,
        throttled_share: Option<f64>,
    },
    /// Nothing at its budget at N: utilizations of nodes, store, proxy
    /// (None: no proxy in the path, client-side balancing), load generator.
    NoneSaturated {
        n: u32,
        utilization: [f64; 3],
        proxy: Option<f64>,
    },
}

impl Finding {
    pub fn bottleneck(&self) -> Bottleneck {
        match self {
            Finding::NotMeasured => Bottleneck::NotMeasured,
            Finding::Harness { component, .. } => Bottleneck::Component(*component),
            Finding::Store { .. } => Bottleneck::Component(Component::Store),
            Finding::Nodes { .. } => Bottleneck::Component(Component::Nodes),
            Finding::NoneSaturated { .. } => Bottleneck::None,
        }
    }
}

impl Verdict {
    pub fn bottleneck(&self) -> Bottleneck {
        self.finding
            .as_ref()
            .map_or(Bottleneck::None, Finding::bottleneck)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mode = self.mode;
        match &self.shape {
            Shape::NoSteps => return write!(f, "{mode}: no steps were measured."),
            Shape::OneStep { n, throughput } => write!(
                f,
                "{mode}: one step measured (N={n}, {throughput:.0} req/s)."
            )?,
            Shape::Flattens {
                before: (n0, e0, x0),
                last: (n, e),
                growth,
                ideal,
            } => write!(
                f,
                "{mode}: throughput scales to N={n0} (E={e0:.2}, {x0:.0} req/s), then flattens: from N={n0} to N={n} it grows {} where linear scaling would add {} (E({n})={e:.2}).",
                pct(*growth),
                pct(*ideal)
            )?,
            Shape::Linear {
                last: (n, e, x),
                first: (n1, x1),
            } => write!(
                f,
                "{mode}: scales nearly linearly to N={n} (E({n})={e:.2}, {x:.0} req/s against {x1:.0} at N={n1})."
            )?,
        }
        match &self.finding {
            None => {}
            Some(Finding::NotMeasured) => f.write_str(
                " Bottleneck: not measured — this deployment is external, so the nodes' and the balancer's CPU are outside the lab's view; the throughput shape above is the evidence.",
            )?,
            Some(Finding::Harness {
                component,
                utilization,
                n,
            }) => write!(
                f,
                " Caution: the {} used {} of its core at N={n}; the harness, not the system under test, may have set the limit.",
                if *component == Component::Proxy {
                    component.as_str()
                } else {
                    "load generator"
                },
                pct(*utilization)
            )?,
            Some(Finding::Store {
                utilization,
                budget,
                from,
                commands_per_request,
            }) => write!(
                f,
                " Bottleneck: the store, at {} of {} from N={from} on ({commands_per_request:.2} store commands per request).",
                pct(*utilization),
                match budget {
                    Some(cores) => format!("its {cores:.2}-core budget"),
                    None => "one core (uncapped)".into(),
                }
            )?,
            Some(Finding::Nodes {
                utilization,
                budget_each,
                throttled_share,
            }) => write!(
                f,
                " Bottleneck: the nodes themselves, at {} of their {budget_each:.2}-core budgets{} — each node's own CPU is the limit, and adding nodes adds capacity.",
                pct(*utilization),
                throttled_share.map_or(String::new(), |share| format!(
                    " ({} of quota periods throttled)",
                    pct(share)
                ))
            )?,
            Some(Finding::NoneSaturated {
                n,
                utilization: [nodes, store, load],
                proxy,
            }) => write!(
                f,
                " No component reached its budget at N={n} (nodes {}, store {}, {}load generator {}): the limit is latency or contention outside the measured CPUs.",
                pct(*nodes),
                pct(*store),
                proxy.map_or(String::new(), |p| format!("proxy {}, ", pct(p))),
                pct(*load)
            )?,
        }
        if let Some((rate, n)) = self.failed {
            write!(f, " {} of requests failed at N={n}.", pct(rate))?;
        }
        Ok(())
    }
}

/// Names the component that limited the largest step, from the recorded
/// figures only.
fn verdict(mode: AuthMode, points: &[Point], steps: &[&Step], knee: Option<u32>) -> Verdict {
    let (Some(first), Some(last), Some(last_step)) = (points.first(), points.last(), steps.last())
    else {
        return Verdict {
            mode,
            shape: Shape::NoSteps,
            finding: None,
            failed: None,
        };
    };
    let util = |c: Component| last.utilization.get(&c).copied().unwrap_or(0.0);
    let shape = if points.len() == 1 {
        Shape::OneStep {
            n: first.n,
            throughput: first.throughput,
        }
    } else if let Some(knee) = knee {
        let before = points
            .iter()
            .take_while(|p| p.n < knee)
            .last()
            .unwrap_or(first);
        Shape::Flattens {
            before: (before.n, before.efficiency, before.throughput),
            last: (last.n, last.efficiency),
            growth: last.throughput / before.throughput - 1.0,
            ideal: f64::from(last.n) / f64::from(before.n) - 1.0,
        }
    } else {
        Shape::Linear {
            last: (last.n, last.efficiency, last.throughput),
            first: (first.n, first.throughput),
        }
    };
    let saturated_from = |c: Component| {
        points
            .iter()
            .find(|p| p.utilization.get(&c).copied().unwrap_or(0.0) >= SATURATED)
            .map(|p| p.n)
    };
    use Component::{Load, Nodes, Proxy, Store};
    // The harness first (it can hide anything), then the store, whose
    // counters an external deployment also gives; the nodes only where
    // their CPU was measured.
    let finding = if [Proxy, Load].into_iter().any(|c| util(c) >= HARNESS_LIMIT) {
        let component = if util(Proxy) >= util(Load) {
            Proxy
        } else {
            Load
        };
        Finding::Harness {
            component,
            utilization: util(component),
            n: last.n,
        }
    } else if util(Store) >= SATURATED && last.store_cmds_per_req > 0.1 {
        let store = last_step.cpu(Store);
        Finding::Store {
            utilization: util(Store),
            budget: (store.capped || store.limit_cores != 1.0).then_some(store.limit_cores),
            from: saturated_from(Store).unwrap_or(last.n),
            commands_per_request: last.store_cmds_per_req,
        }
    } else if !last.utilization.contains_key(&Nodes) {
        Finding::NotMeasured
    } else if util(Nodes) >= SATURATED {
        Finding::Nodes {
            utilization: util(Nodes),
            budget_each: last_step.cpu(Nodes).limit_cores / f64::from(last.n),
            throttled_share: last_step
                .cpu(Nodes)
                .throttling
                .map(|_| last.node_throttled_share),
        }
    } else {
        Finding::NoneSaturated {
            n: last.n,
            utilization: [util(Nodes), util(Store), util(Load)],
            proxy: last.utilization.get(&Proxy).copied(),
        }
    };
    Verdict {
        mode,
        shape,
        finding: Some(finding),
        failed: (last.error_rate > 0.01).then_some((last.error_rate, last.n)),
    }
}
