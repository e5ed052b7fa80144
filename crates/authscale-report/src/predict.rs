//! Capacity planning: from a measured run to a cluster of any size. The
//! run's measured costs (node CPU per request, store commands per request,
//! the store's CPU per command) become a closed queueing network — N node
//! queues, K store shards, the round trip as a delay — solved by
//! mean-value analysis for throughput and mean latency at every N; the
//! knee and the bottleneck follow. `validate` predicts one measured run
//! from another and says how far off the prediction was.

mod bounds;
mod cluster;
mod costs;
mod mva;
mod render;
mod validate;

use authscale_schema::Component;
use std::collections::BTreeMap;

use authscale_schema::Run;
use serde::{Deserialize, Serialize};

use crate::analysis::{Bottleneck, KNEE_EFFICIENCY, SATURATED, analyse};
use costs::{costs, network};

pub use costs::{CostCurve, CostPoint, ModeCosts, StoreCosts};

pub use cluster::cluster_section;
pub use validate::{ModeValidation, Validation, ValidationPoint, validate, validate_held_out};

/// Why a prediction cannot be made; each names the input at fault.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PredictError {
    #[error("--node-cores must be 0.001 to 1024 cores, got {0}")]
    NodeCores(f64),
    #[error("--store-cores must be 0.001 to 1024 cores, got {0}")]
    StoreCores(f64),
    #[error("--store-shards must be at least 1")]
    Shards,
    #[error("--connections-per-node must be at least 1")]
    Connections,
    #[error("--store-rtt must be a finite, non-negative duration")]
    Rtt,
    #[error("--work-us must be 0 to 1000000 µs, got {0}")]
    Work(f64),
    #[error("--nodes: {0}")]
    Nodes(String),
    #[error("--fit-nodes {0}")]
    FitNodes(String),
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
        mode: String,
        work: f64,
        run_work: f64,
        measured: f64,
    },
}

/// The cluster to predict for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
        let limit =
            |name: Component| step.and_then(|s| s.components.get(&name).map(|c| c.limit_cores));
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
            store_rtt_s: run.plan.experiment.store_rtt.0.as_secs_f64(),
            work_us: e.work_us as f64,
            connections_per_node: u32::try_from(e.connections_per_node).unwrap_or(u32::MAX),
            nodes,
        }
    }

    pub fn check(&self) -> Result<(), PredictError> {
        // A core count a cluster can have (a thousandth of a core to a
        // large host), so the model's figures stay printable.
        let positive = |x: f64| (0.001..=1024.0).contains(&x);
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
        if !(0.0..=1e6).contains(&self.work_us) {
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

/// The model's answer at one N.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictedPoint {
    pub n: u32,
    pub throughput: f64,
    /// The throughput's 95% interval, where the run has slices.
    pub throughput_interval: Option<(f64, f64)>,
    pub speedup: f64,
    pub efficiency: f64,
    /// Mean latency (the model gives means, not percentiles).
    pub latency_ms: f64,
    /// Of each node's cores.
    pub node_utilization: f64,
    /// Of the hottest shard's (effective) cores.
    pub store_utilization: Option<f64>,
    /// Requests at a node and at the (each) shard, queued or in service:
    /// the load levels the costs are taken at.
    pub node_queue: f64,
    pub store_queue: Option<f64>,
    /// The costs taken at this N's predicted load.
    pub node_cpu_us_per_request: f64,
    pub store_cpu_us_per_command: Option<f64>,
    /// The nodes, the store, or the connections (nothing saturated).
    pub bottleneck: Bottleneck,
}

struct Model<'a> {
    cluster: &'a Cluster,
    costs: &'a ModeCosts,
}

impl Model<'_> {
    /// Solves at N, taking each cost at the load level the solution
    /// implies: a damped fixed point (the store's cost per command falls
    /// as more requests wait on it, which in turn lowers the queue).
    fn point(&self, n: u32) -> PredictedPoint {
        let costs = self.costs;
        let store = costs.store.as_ref();
        let (mut q_node, mut q_store) = (
            costs.node.top_load(),
            store.map_or(0.0, |s| s.per_command.top_load()),
        );
        let mut solved = None;
        for _ in 0..200 {
            let node_us = costs.node.at(q_node) + costs.work_delta_us;
            let store_us = store.map(|s| s.per_command.at(q_store));
            let s = network(
                self.cluster,
                n,
                node_us,
                store
                    .zip(store_us)
                    .map(|(s, c)| (s.commands_per_request, c)),
            )
            .solve();
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * (1.0 + a.abs());
            let settled = close(s.node_queue, q_node) && close(s.store_queue, q_store);
            solved = Some((s, node_us, store_us));
            if settled {
                break;
            }
            q_node = 0.5 * (q_node + s.node_queue);
            q_store = 0.5 * (q_store + s.store_queue);
        }
        let (s, node_us, store_us) = solved.expect("at least one pass");
        let node_u = s.node_utilization;
        let store_u = store_us.map(|_| s.store_utilization);
        let bottleneck = if node_u.max(store_u.unwrap_or(0.0)) < SATURATED {
            Bottleneck::Connections
        } else if store_u.is_some_and(|u| u > node_u) {
            Bottleneck::Component(Component::Store)
        } else {
            Bottleneck::Component(Component::Nodes)
        };
        PredictedPoint {
            n,
            throughput: s.throughput,
            throughput_interval: None,
            speedup: f64::NAN,
            efficiency: f64::NAN,
            latency_ms: s.response_s * 1e3,
            node_utilization: node_u,
            store_utilization: store_u,
            node_queue: s.node_queue,
            store_queue: store_us.map(|_| s.store_queue),
            node_cpu_us_per_request: node_us,
            store_cpu_us_per_command: store_us,
            bottleneck,
        }
    }
}

/// One mode's predicted curve.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModePrediction {
    pub mode: String,
    pub costs: ModeCosts,
    pub points: Vec<PredictedPoint>,
    /// First N of the list from which efficiency stays under the knee
    /// ([`KNEE_EFFICIENCY`]).
    pub knee: Option<u32>,
    /// The smallest N whose efficiency is under the knee (searched between
    /// the listed N around the knee).
    pub knee_exact: Option<u32>,
    /// X as N → ∞: the store's capacity at saturation over commands per
    /// request (None: the mode does not use the store per request).
    pub store_ceiling_rps: Option<f64>,
    /// Measured (N, X) for the same setting, where the run has them.
    pub measured: Vec<(u32, f64)>,
}

/// The whole prediction.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

fn predict_mode(run: &Run, mode: &str, cluster: &Cluster) -> Result<ModePrediction, PredictError> {
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
        mode: mode.into(),
        costs,
        points,
        knee,
        knee_exact,
        store_ceiling_rps,
        measured: Vec::new(),
    })
}

fn modes_of(run: &Run) -> Vec<String> {
    let mut modes: Vec<String> = Vec::new();
    for s in &run.steps {
        if !modes.contains(&s.mode.to_string()) {
            modes.push(s.mode.to_string());
        }
    }
    modes
}

fn measured(run: &Run, mode: &str) -> Vec<(u32, f64)> {
    run.steps
        .iter()
        .filter(|s| s.mode.as_str() == mode)
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
    let predict_all = |run: &Run| {
        modes_of(run)
            .iter()
            .map(|m| predict_mode(run, m, cluster))
            .collect::<Result<Vec<_>, PredictError>>()
    };
    let mut modes = predict_all(run)?;
    let bounds = bounds::cost_bounds(run);
    if let Some((cheap, dear)) = &bounds {
        let (high, low) = (predict_all(cheap)?, predict_all(dear)?);
        for ((m, h), l) in modes.iter_mut().zip(&high).zip(&low) {
            for ((p, hp), lp) in m.points.iter_mut().zip(&h.points).zip(&l.points) {
                let ends = [p.throughput, hp.throughput, lp.throughput];
                p.throughput_interval = Some((
                    ends.iter().copied().fold(f64::INFINITY, f64::min),
                    ends.iter().copied().fold(0.0, f64::max),
                ));
            }
        }
    }
    if same {
        for m in &mut modes {
            m.measured = measured(run, &m.mode);
        }
    }
    Ok(Prediction {
        run: run_name.into(),
        notes: notes(&run_setting, cluster, &modes),
        run_setting,
        cluster: cluster.clone(),
        modes,
        intervals: if bounds.is_some() {
            bounds::FROM_SLICES
        } else {
            bounds::NONE
        }
        .into(),
    })
}

fn notes(run: &Cluster, cluster: &Cluster, modes: &[ModePrediction]) -> Vec<String> {
    let mut notes = vec![
        format!(
            "Node CPU per request: measured per request of the mix (login, protected, logout) in CPU-µs of one core, as a function of the requests at a node (queued or in service), interpolated between the run's steps and flat beyond them; the work difference ({} − {} µs) is added per protected request. A node of {} cores serves that many requests at once, each still taking its CPU time on one core. Cores are assumed as fast as the run's.",
            cluster.work_us, run.work_us, cluster.node_cores
        ),
        "Store CPU per command: measured, as a function of the requests waiting at the store (queued or in service; a busy Redis serves several per wake-up, so the cost keeps falling past saturation, where utilization stays at 1). Each step's load level is the model's own (the run's setting solved with that step's costs); between steps the cost is interpolated linearly, beyond the measured range it is held flat at the nearest step (no trend is extrapolated); steps within 5% of one load are pooled. At each predicted N the costs are taken at the load the solution implies (a fixed point). Commands per request as measured.".into(),
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

pub use render::{
    PREDICTION_SCHEMA, VALIDATION_SCHEMA, prediction_json, prediction_markdown, prediction_svg,
    validation_json, validation_markdown,
};
