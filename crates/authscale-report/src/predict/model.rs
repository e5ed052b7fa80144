//! The closed queueing model of one mode at every N (solved by `mva`),
//! its knee and bottleneck, and the prediction of a run for a cluster.

use authscale_lab::Run;
use serde::Serialize;

use super::cluster::{Cluster, PredictError};
use super::costs::{ModeCosts, costs};
use super::mva::Network;
use crate::analysis::{KNEE_EFFICIENCY, SATURATED};

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

pub(super) struct Model<'a> {
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
            "store"
        } else {
            "nodes"
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
    pub mode: String,
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

pub(super) fn knee_of(points: &[PredictedPoint]) -> Option<u32> {
    points
        .iter()
        .enumerate()
        .find(|(i, p)| p.n > 1 && points[*i..].iter().all(|q| q.efficiency < KNEE_EFFICIENCY))
        .map(|(_, p)| p.n)
}

pub(super) fn predict_mode(
    run: &Run,
    mode: &str,
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
        mode: mode.into(),
        costs,
        points,
        knee,
        knee_exact,
        store_ceiling_rps,
        measured: Vec::new(),
    })
}

pub(super) fn modes_of(run: &Run) -> Vec<String> {
    let mut modes: Vec<String> = Vec::new();
    for s in &run.steps {
        if !modes.contains(&s.mode) {
            modes.push(s.mode.clone());
        }
    }
    modes
}

pub(super) fn measured(run: &Run, mode: &str) -> Vec<(u32, f64)> {
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
            let mut p = predict_mode(run, m, cluster)?;
            if same {
                p.measured = measured(run, m);
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

pub(super) fn notes(run: &Cluster, cluster: &Cluster, modes: &[ModePrediction]) -> Vec<String> {
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
