//! Capacity planning: from a measured run to a cluster of any size. The
//! run's measured costs (node CPU per request, store commands per request,
//! the store's CPU per command) become a closed queueing network — N node
//! queues, K store shards, the round trip as a delay — solved by
//! mean-value analysis for throughput and mean latency at every N; the
//! knee and the bottleneck follow. `validate` predicts one measured run
//! from another and says how far off the prediction was.

mod mva;
mod render;

use std::collections::BTreeMap;

use authscale_schema::{AuthMode, Component, Run, Step};
use serde::Serialize;

use crate::analysis::{KNEE_EFFICIENCY, SATURATED, analyse};
use mva::Network;

pub use render::cluster_section;

/// A mode whose measured commands per request stay under this does not
/// use the store per request (token, sticky, none: only background work).
const STORE_USE: f64 = 0.01;

/// Why a prediction cannot be made; each names the input at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    #[error("--node-cores must be a positive number of cores, got {0}")]
    NodeCores(f64),
    #[error("--store-cores must be a positive number of cores, got {0}")]
    StoreCores(f64),
    #[error("--store-shards must be at least 1")]
    Shards,
    #[error("--connections-per-node must be at least 1")]
    Connections,
    #[error("--store-rtt must be a finite, non-negative duration")]
    Rtt,
    #[error("--work-us must be a finite, non-negative number of µs, got {0}")]
    Work(f64),
    #[error("--nodes: {0}")]
    Nodes(String),
    #[error("the run has no steps{0}")]
    NoSteps(String),
    #[error(
        "the run has no measurement of the nodes' CPU for mode {0} (an external deployment?): nothing to scale from"
    )]
    NodesNotMeasured(String),
    #[error(
        "the run has no store measurements for mode {0}: what a request costs the store is unknown, so no prediction for it (measure the store: the lab does, an external sweep needs store-url)"
    )]
    StoreNotMeasured(String),
    #[error(
        "--work-us {work} leaves mode {mode} a negative CPU cost per request (the run measured {measured:.1} µs at work {run_work} µs)"
    )]
    NegativeCost {
        mode: AuthMode,
        work: f64,
        run_work: f64,
        measured: f64,
    },
}

/// The cluster to predict for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// Cores of each node.
    pub node_cores: f64,
    /// Cores of each store shard (a Redis shard runs commands on one
    /// thread: above 1 core counts as 1).
    pub store_cores: f64,
    pub store_shards: u32,
    /// Round trip from a node to the store, seconds.
    pub store_rtt_s: f64,
    /// Application work per protected request, CPU-µs.
    pub work_us: f64,
    pub connections_per_node: u32,
    /// Node counts, strictly increasing.
    pub nodes: Vec<u32>,
}

impl Cluster {
    /// The setting a run was measured in (its budgets as recorded by the
    /// steps, else as planned).
    pub fn of_run(run: &Run) -> Cluster {
        let e = &run.plan.experiment;
        let step = run.steps.first();
        let limit = |c: Component| step.and_then(|s| s.components.get(&c).map(|c| c.limit_cores));
        let mut nodes: Vec<u32> = run.steps.iter().map(|s| s.nodes).collect();
        nodes.sort_unstable();
        nodes.dedup();
        Cluster {
            node_cores: match (limit(Component::Nodes), step) {
                (Some(l), Some(s)) if s.nodes > 0 => l / f64::from(s.nodes),
                _ => e.node_cpu,
            },
            store_cores: limit(Component::Store).unwrap_or(e.store_cpu),
            store_shards: 1,
            store_rtt_s: run.plan.store_rtt.as_secs_f64(),
            work_us: e.work_us as f64,
            connections_per_node: u32::try_from(e.connections_per_node).unwrap_or(u32::MAX),
            nodes,
        }
    }

    pub fn check(&self) -> Result<(), PredictError> {
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.node_cores) {
            return Err(PredictError::NodeCores(self.node_cores));
        }
        if !positive(self.store_cores) {
            return Err(PredictError::StoreCores(self.store_cores));
        }
        if self.store_shards == 0 {
            return Err(PredictError::Shards);
        }
        if self.connections_per_node == 0 {
            return Err(PredictError::Connections);
        }
        if !(self.store_rtt_s.is_finite() && self.store_rtt_s >= 0.0) {
            return Err(PredictError::Rtt);
        }
        if !(self.work_us.is_finite() && self.work_us >= 0.0) {
            return Err(PredictError::Work(self.work_us));
        }
        check_nodes(&self.nodes)
    }

    fn same_setting(&self, other: &Cluster) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 + 1e-6 * a.abs().max(b.abs());
        close(self.node_cores, other.node_cores)
            && close(self.store_cores, other.store_cores)
            && self.store_shards == other.store_shards
            && close(self.store_rtt_s, other.store_rtt_s)
            && close(self.work_us, other.work_us)
            && self.connections_per_node == other.connections_per_node
    }
}

fn check_nodes(nodes: &[u32]) -> Result<(), PredictError> {
    if nodes.is_empty() {
        return Err(PredictError::Nodes("no node counts given".into()));
    }
    if nodes.contains(&0) {
        return Err(PredictError::Nodes("node counts start at 1".into()));
    }
    if let Some(w) = nodes.windows(2).find(|w| w[1] <= w[0]) {
        return Err(PredictError::Nodes(format!(
            "node counts must be strictly increasing ({} then {})",
            w[0], w[1]
        )));
    }
    Ok(())
}

/// Parses `1..1000` (every N in the range) or `1,2,4,8`.
pub fn parse_nodes(raw: &str) -> Result<Vec<u32>, PredictError> {
    let number = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| PredictError::Nodes(format!("{s:?} is not a node count")))
    };
    let nodes = if let Some((from, to)) = raw.split_once("..") {
        let (from, to) = (number(from)?, number(to)?);
        if to < from || to - from > 100_000 {
            return Err(PredictError::Nodes(format!(
                "{raw:?} is not a range from low to high (at most 100000 counts)"
            )));
        }
        (from..=to).collect()
    } else {
        raw.split(',').map(number).collect::<Result<Vec<_>, _>>()?
    };
    check_nodes(&nodes)?;
    Ok(nodes)
}

/// One measured cost at one load level.
#[derive(Debug, Clone, Serialize)]
pub struct CostPoint {
    /// Utilization of the component's budget in the steps behind it.
    pub utilization: f64,
    pub cost_us: f64,
    /// The N of those steps.
    pub steps: Vec<u32>,
}

/// A cost as a function of load: the run's steps by utilization, the
/// saturated ones (≥ `SATURATED`) pooled into one point (total CPU over
/// total work, as the report's ceiling takes it). Between points the cost
/// is interpolated linearly; outside them, the nearest is taken.
#[derive(Debug, Clone, Serialize)]
pub struct CostCurve {
    pub points: Vec<CostPoint>,
}

impl CostCurve {
    /// `samples`: (N, utilization, CPU seconds, units of work).
    fn from_samples(samples: &[(u32, f64, f64, f64)]) -> Option<CostCurve> {
        type Sample = (u32, f64, f64, f64);
        let (hot, cool): (Vec<&Sample>, Vec<&Sample>) = samples
            .iter()
            .filter(|s| s.3 > 0.0)
            .partition(|s| s.1 >= SATURATED);
        let mut points: Vec<CostPoint> = cool
            .iter()
            .map(|s| CostPoint {
                utilization: s.1,
                cost_us: s.2 / s.3 * 1e6,
                steps: vec![s.0],
            })
            .collect();
        if !hot.is_empty() {
            let (cpu, work) = hot.iter().fold((0.0, 0.0), |a, s| (a.0 + s.2, a.1 + s.3));
            points.push(CostPoint {
                utilization: hot.iter().map(|s| s.1).sum::<f64>() / hot.len() as f64,
                cost_us: cpu / work * 1e6,
                steps: hot.iter().map(|s| s.0).collect(),
            });
        }
        points.retain(|p| p.cost_us.is_finite() && p.cost_us > 0.0);
        points.sort_by(|a, b| a.utilization.total_cmp(&b.utilization));
        (!points.is_empty()).then_some(CostCurve { points })
    }

    /// The cost at a utilization, µs.
    pub fn at(&self, utilization: f64) -> f64 {
        let p = &self.points;
        if utilization <= p[0].utilization {
            return p[0].cost_us;
        }
        for w in p.windows(2) {
            if utilization <= w[1].utilization {
                let span = w[1].utilization - w[0].utilization;
                if span <= 0.0 {
                    return w[1].cost_us;
                }
                let t = (utilization - w[0].utilization) / span;
                return w[0].cost_us + t * (w[1].cost_us - w[0].cost_us);
            }
        }
        p[p.len() - 1].cost_us
    }

    /// The cost at saturation (the highest load measured).
    pub fn saturated(&self) -> f64 {
        self.points[self.points.len() - 1].cost_us
    }
}

/// What a mode's request costs the store.
#[derive(Debug, Clone, Serialize)]
pub struct StoreCosts {
    /// CPU-µs per command (of one core), by the store's utilization.
    pub per_command: CostCurve,
    /// All steps' commands over all steps' requests.
    pub commands_per_request: f64,
    /// The lowest and highest of the steps' own ratios.
    pub commands_per_request_range: (f64, f64),
}

/// A mode's measured costs, as the model uses them.
#[derive(Debug, Clone, Serialize)]
pub struct ModeCosts {
    pub mode: AuthMode,
    /// Node CPU-µs per request (of one core) at the run's work, by the
    /// nodes' utilization.
    pub node: CostCurve,
    pub run_work_us: f64,
    /// Protected requests (which do the work) among all requests.
    pub protected_share: f64,
    /// Added to the node cost per request: (work − run's work) × share.
    pub work_delta_us: f64,
    /// None: the mode does not use the store per request.
    pub store: Option<StoreCosts>,
}

fn costs(run: &Run, mode: AuthMode, work_us: f64) -> Result<ModeCosts, PredictError> {
    let steps: Vec<&Step> = run.steps.iter().filter(|s| s.mode == mode).collect();
    if steps.is_empty() {
        return Err(PredictError::NoSteps(format!(" for mode {mode}")));
    }
    let node_samples: Vec<(u32, f64, f64, f64)> = steps
        .iter()
        .filter_map(|s| {
            let c = s.components.get(&Component::Nodes)?;
            Some((s.nodes, c.utilization, c.cpu_seconds, s.requests as f64))
        })
        .collect();
    let node = CostCurve::from_samples(&node_samples)
        .ok_or_else(|| PredictError::NodesNotMeasured(mode.to_string()))?;
    if steps
        .iter()
        .all(|s| !s.components.contains_key(&Component::Store))
    {
        return Err(PredictError::StoreNotMeasured(mode.to_string()));
    }
    let (protected, all) = steps.iter().fold((0u64, 0u64), |(p, a), s| {
        let count = |name: &str| {
            s.load
                .by_step
                .get(name)
                .map_or(0, |c| c.values().sum::<u64>())
        };
        let total: u64 = s.load.by_step.values().flat_map(|c| c.values()).sum();
        (p + count("api"), a + total)
    });
    let protected_share = if all == 0 {
        1.0
    } else {
        protected as f64 / all as f64
    };
    let run_work_us = run.plan.experiment.work_us as f64;
    let work_delta_us = (work_us - run_work_us) * protected_share;
    let lowest = node
        .points
        .iter()
        .map(|p| p.cost_us)
        .fold(f64::INFINITY, f64::min);
    if lowest + work_delta_us <= 0.0 {
        return Err(PredictError::NegativeCost {
            mode,
            work: work_us,
            run_work: run_work_us,
            measured: lowest,
        });
    }
    let commands: u64 = steps
        .iter()
        .map(|s| s.store_commands.values().sum::<u64>())
        .sum();
    let requests: u64 = steps.iter().map(|s| s.requests).sum();
    let per_request = commands as f64 / requests.max(1) as f64;
    let store = if per_request < STORE_USE {
        None
    } else {
        let samples: Vec<(u32, f64, f64, f64)> = steps
            .iter()
            .filter_map(|s| {
                let c = s.components.get(&Component::Store)?;
                let n = s.store_commands.values().sum::<u64>() as f64;
                Some((s.nodes, c.utilization, c.cpu_seconds, n))
            })
            .collect();
        let ratios = steps.iter().map(|s| s.store_commands_per_request);
        Some(StoreCosts {
            per_command: CostCurve::from_samples(&samples)
                .ok_or_else(|| PredictError::StoreNotMeasured(mode.to_string()))?,
            commands_per_request: per_request,
            commands_per_request_range: (
                ratios.clone().fold(f64::INFINITY, f64::min),
                ratios.fold(0.0, f64::max),
            ),
        })
    };
    Ok(ModeCosts {
        mode,
        node,
        run_work_us,
        protected_share,
        work_delta_us,
        store,
    })
}

/// The model's answer at one N.
#[derive(Debug, Clone, Serialize)]
pub struct PredictedPoint {
    pub n: u32,
    pub throughput: f64,
    pub speedup: f64,
    pub efficiency: f64,
    /// Mean latency (the model gives means, not percentiles).
    pub latency_ms: f64,
    /// Of each node's cores.
    pub node_utilization: f64,
    /// Of the hottest shard's (effective) cores.
    pub store_utilization: Option<f64>,
    /// The costs taken at this N's predicted load.
    pub node_cpu_us_per_request: f64,
    pub store_cpu_us_per_command: Option<f64>,
    /// `nodes`, `store`, or `connections` (nothing saturated: each
    /// connection waits on round trips and queues).
    pub bottleneck: String,
}

struct Model<'a> {
    cluster: &'a Cluster,
    costs: &'a ModeCosts,
}

impl Model<'_> {
    fn network(&self, n: u32, node_us: f64, store_us: Option<f64>) -> Network {
        let c = self.cluster;
        let node_s = node_us * 1e-6;
        // A node of c cores serves c requests at once, but one request
        // still takes its CPU time on one core (Seidmann: a queue of
        // demand D/c plus a delay of D(c−1)/c). Under a core: one slower server.
        let mut delay_s = if c.node_cores > 1.0 {
            node_s * (c.node_cores - 1.0) / c.node_cores
        } else {
            0.0
        };
        let mut store_demand_s = 0.0;
        if let (Some(store), Some(per_cmd)) = (&self.costs.store, store_us) {
            let cmds = store.commands_per_request;
            store_demand_s = cmds * per_cmd * 1e-6 / c.store_cores.min(1.0);
            delay_s += cmds * c.store_rtt_s;
        }
        Network {
            nodes: n,
            connections: c.connections_per_node,
            node_demand_s: node_s / c.node_cores,
            shards: c.store_shards,
            store_demand_s,
            delay_s,
        }
    }

    /// Solves at N, taking each cost at the load the solution implies
    /// (a damped fixed point: the costs fall as utilization rises).
    fn point(&self, n: u32) -> PredictedPoint {
        let (mut u_node, mut u_store) = (1.0_f64, 1.0_f64);
        let mut solved = None;
        for _ in 0..60 {
            let node_us = self.costs.node.at(u_node) + self.costs.work_delta_us;
            let store_us = self.costs.store.as_ref().map(|s| s.per_command.at(u_store));
            let s = self.network(n, node_us, store_us).solve();
            let settled = (s.node_utilization - u_node).abs() < 1e-4
                && (s.store_utilization - u_store).abs() < 1e-4;
            solved = Some((s, node_us, store_us));
            if settled {
                break;
            }
            u_node = 0.5 * (u_node + s.node_utilization);
            u_store = 0.5 * (u_store + s.store_utilization);
        }
        let (s, node_us, store_us) = solved.expect("at least one pass");
        let node_u = s.node_utilization;
        let store_u = store_us.map(|_| s.store_utilization);
        let bottleneck = if node_u.max(store_u.unwrap_or(0.0)) < SATURATED {
            "connections"
        } else if store_u.is_some_and(|u| u > node_u) {
            Component::Store.as_str()
        } else {
            Component::Nodes.as_str()
        };
        PredictedPoint {
            n,
            throughput: s.throughput,
            speedup: f64::NAN,
            efficiency: f64::NAN,
            latency_ms: s.response_s * 1e3,
            node_utilization: node_u,
            store_utilization: store_u,
            node_cpu_us_per_request: node_us,
            store_cpu_us_per_command: store_us,
            bottleneck: bottleneck.into(),
        }
    }
}

/// One mode's predicted curve.
#[derive(Debug, Clone, Serialize)]
pub struct ModePrediction {
    pub mode: AuthMode,
    pub costs: ModeCosts,
    pub points: Vec<PredictedPoint>,
    /// First N of the list from which efficiency stays under 0.8.
    pub knee: Option<u32>,
    /// The smallest N whose efficiency is under 0.8 (searched between
    /// the listed N around the knee).
    pub knee_exact: Option<u32>,
    /// X as N → ∞: the store's capacity at saturation over commands per
    /// request (None: the mode does not use the store per request).
    pub store_ceiling_rps: Option<f64>,
    /// Measured (N, X) for the same setting, where the run has them.
    pub measured: Vec<(u32, f64)>,
}

/// The whole prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub run: String,
    pub run_setting: Cluster,
    pub cluster: Cluster,
    pub modes: Vec<ModePrediction>,
    /// What is scaled and how, and what is left out.
    pub notes: Vec<String>,
    pub intervals: String,
}

fn knee_of(points: &[PredictedPoint]) -> Option<u32> {
    points
        .iter()
        .enumerate()
        .find(|(i, p)| p.n > 1 && points[*i..].iter().all(|q| q.efficiency < KNEE_EFFICIENCY))
        .map(|(_, p)| p.n)
}

fn predict_mode(
    run: &Run,
    mode: AuthMode,
    cluster: &Cluster,
) -> Result<ModePrediction, PredictError> {
    let costs = costs(run, mode, cluster.work_us)?;
    let model = Model {
        cluster,
        costs: &costs,
    };
    let x1 = model.point(1).throughput;
    let efficiency = |p: &mut PredictedPoint| {
        p.speedup = p.throughput / x1;
        p.efficiency = p.speedup / f64::from(p.n);
    };
    let mut points: Vec<PredictedPoint> = cluster.nodes.iter().map(|n| model.point(*n)).collect();
    points.iter_mut().for_each(efficiency);
    let knee = knee_of(&points);
    let knee_exact = knee.map(|k| {
        let mut low = points
            .iter()
            .map(|p| p.n)
            .take_while(|n| *n < k)
            .last()
            .unwrap_or(1);
        let mut high = k;
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if model.point(mid).throughput / x1 / f64::from(mid) < KNEE_EFFICIENCY {
                high = mid;
            } else {
                low = mid;
            }
        }
        high
    });
    let store_ceiling_rps = costs.store.as_ref().map(|s| {
        cluster.store_cores.min(1.0) * f64::from(cluster.store_shards)
            / (s.per_command.saturated() * 1e-6 * s.commands_per_request)
    });
    Ok(ModePrediction {
        mode,
        costs,
        points,
        knee,
        knee_exact,
        store_ceiling_rps,
        measured: Vec::new(),
    })
}

fn modes_of(run: &Run) -> Vec<AuthMode> {
    let mut modes: Vec<AuthMode> = Vec::new();
    for s in &run.steps {
        if !modes.contains(&s.mode) {
            modes.push(s.mode);
        }
    }
    modes
}

fn measured(run: &Run, mode: AuthMode) -> Vec<(u32, f64)> {
    run.steps
        .iter()
        .filter(|s| s.mode == mode)
        .map(|s| (s.nodes, s.throughput))
        .collect()
}

/// Predicts every mode of `run` for `cluster`.
pub fn predict(run: &Run, run_name: &str, cluster: &Cluster) -> Result<Prediction, PredictError> {
    cluster.check()?;
    if run.steps.is_empty() {
        return Err(PredictError::NoSteps(String::new()));
    }
    let run_setting = Cluster::of_run(run);
    let same = cluster.same_setting(&run_setting);
    let modes = modes_of(run)
        .iter()
        .map(|m| {
            let mut p = predict_mode(run, *m, cluster)?;
            if same {
                p.measured = measured(run, *m);
            }
            Ok(p)
        })
        .collect::<Result<Vec<_>, PredictError>>()?;
    Ok(Prediction {
        run: run_name.into(),
        notes: notes(&run_setting, cluster, &modes),
        run_setting,
        cluster: cluster.clone(),
        modes,
        intervals: "no intervals in this run: its steps carry point values only, so the predictions have none either".into(),
    })
}

fn notes(run: &Cluster, cluster: &Cluster, modes: &[ModePrediction]) -> Vec<String> {
    let mut notes = vec![
        format!(
            "Node CPU per request: measured per request of the mix (login, protected, logout) in CPU-µs of one core, taken at the run's node utilization nearest the predicted one (saturated steps pooled); the work difference ({} − {} µs) is added per protected request. A node of {} cores serves that many requests at once, each still taking its CPU time on one core. Cores are assumed as fast as the run's.",
            cluster.work_us, run.work_us, cluster.node_cores
        ),
        "Store CPU per command: measured, taken at the run's store utilization nearest the predicted one (it falls as load rises: a busy Redis batches), saturated steps pooled as the report's ceiling does; commands per request as measured.".into(),
        format!(
            "Store: {} shard(s) of {} core(s). A Redis shard executes commands on one thread, so cores above 1 per shard count as 1. Keys spread by uniform hashing: the hottest shard gets ~1/{} of the commands.",
            cluster.store_shards, cluster.store_cores, cluster.store_shards
        ),
        format!(
            "Round trip: {:.3} ms per store command, a pure delay (no CPU). Closed loop: {} connections per node, each held by its node (a balanced load balancer; random routing would idle some nodes while others queue); mean-value analysis of that network (Bard–Schweitzer).",
            cluster.store_rtt_s * 1e3,
            cluster.connections_per_node,
        ),
        "Not modelled: the load balancer, the network's bandwidth, cluster redirections, the load generator. Latency is the mean; percentiles are not predicted.".into(),
    ];
    for m in modes {
        if let Some(s) = &m.costs.store {
            let (lo, hi) = s.commands_per_request_range;
            if hi > lo * 1.2 {
                notes.push(format!(
                    "{}: store commands per request varied from {lo:.3} to {hi:.3} across the run's steps (it depends on N there); the model takes their mean, {:.3}.",
                    m.mode, s.commands_per_request
                ));
            }
        }
    }
    notes
}

/// Predicted against measured at one (mode, N).
#[derive(Debug, Clone, Serialize)]
pub struct ValidationPoint {
    pub n: u32,
    pub predicted: f64,
    pub measured: f64,
    /// (predicted − measured) / measured, percent.
    pub error_pct: f64,
    pub predicted_latency_ms: f64,
    pub measured_latency_ms: f64,
    pub predicted_bottleneck: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeValidation {
    pub mode: AuthMode,
    pub points: Vec<ValidationPoint>,
    pub mean_abs_error_pct: f64,
    pub max_abs_error_pct: f64,
    pub knee_predicted: Option<u32>,
    pub knee_measured: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// What was predicted from what.
    pub description: String,
    pub modes: Vec<ModeValidation>,
    /// The prediction behind it (B's setting, B's measured points).
    pub prediction: Prediction,
}

/// Predicts run B's setting (budgets, work, round trip, connections, N)
/// from run A's measurements.
pub fn validate(a: &Run, a_name: &str, b: &Run, b_name: &str) -> Result<Validation, PredictError> {
    validate_against(
        a,
        a_name,
        b,
        b,
        &format!("{b_name} predicted from {a_name}"),
    )
}

/// Predicts a run's steps outside `fit_nodes` from those inside.
pub fn validate_held_out(
    run: &Run,
    name: &str,
    fit_nodes: &[u32],
) -> Result<Validation, PredictError> {
    let split = |inside: bool| {
        let mut r = run.clone();
        r.steps.retain(|s| fit_nodes.contains(&s.nodes) == inside);
        r
    };
    let (fit, held) = (split(true), split(false));
    if fit.steps.is_empty() {
        return Err(PredictError::Nodes(format!(
            "--fit-nodes {fit_nodes:?}: the run has no steps at these N"
        )));
    }
    if held.steps.is_empty() {
        return Err(PredictError::Nodes(format!(
            "--fit-nodes {fit_nodes:?} covers every N of the run: nothing left to predict"
        )));
    }
    let description =
        format!("{name}: N ∉ {fit_nodes:?} predicted from its steps at N ∈ {fit_nodes:?}");
    validate_against(&fit, name, &held, run, &description)
}

/// `target`: the steps to predict; `whole`: the run its measured knee is
/// read from (and whose N grid the predicted knee is placed on).
fn validate_against(
    fit: &Run,
    fit_name: &str,
    target: &Run,
    whole: &Run,
    description: &str,
) -> Result<Validation, PredictError> {
    let cluster = Cluster::of_run(whole);
    let measured_knees: BTreeMap<AuthMode, Option<u32>> = analyse(whole)
        .modes
        .into_iter()
        .map(|m| (m.mode, m.knee))
        .collect();
    let mut prediction = predict(fit, fit_name, &cluster)?;
    prediction
        .modes
        .retain(|m| measured_knees.contains_key(&m.mode));
    let mut modes = Vec::new();
    for m in &mut prediction.modes {
        m.measured = measured(whole, m.mode);
        let points: Vec<ValidationPoint> = target
            .steps
            .iter()
            .filter(|s| s.mode == m.mode)
            .filter_map(|s| {
                let p = m.points.iter().find(|p| p.n == s.nodes)?;
                Some(ValidationPoint {
                    n: s.nodes,
                    predicted: p.throughput,
                    measured: s.throughput,
                    error_pct: (p.throughput - s.throughput) / s.throughput * 100.0,
                    predicted_latency_ms: p.latency_ms,
                    measured_latency_ms: s.latency_ms.mean,
                    predicted_bottleneck: p.bottleneck.clone(),
                })
            })
            .collect();
        let abs: Vec<f64> = points.iter().map(|p| p.error_pct.abs()).collect();
        modes.push(ModeValidation {
            mode: m.mode,
            mean_abs_error_pct: abs.iter().sum::<f64>() / abs.len().max(1) as f64,
            max_abs_error_pct: abs.iter().copied().fold(0.0, f64::max),
            points,
            knee_predicted: m.knee,
            knee_measured: measured_knees.get(&m.mode).copied().flatten(),
        });
    }
    Ok(Validation {
        description: description.into(),
        modes,
        prediction,
    })
}

pub use render::{
    prediction_markdown, prediction_svg, prediction_text, validation_markdown, validation_text,
};
