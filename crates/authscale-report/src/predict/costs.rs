//! A mode's measured costs as functions of load. A busy Redis serves
//! several waiting commands per wake-up, so its CPU per command keeps
//! falling past saturation, where utilization stays at 1 and can no longer
//! tell the steps apart; the load level is therefore the mean number of
//! requests at the station (queued or in service), which keeps growing.

use authscale_schema::Component;
use authscale_schema::{Run, Step};
use serde::{Deserialize, Serialize};

use super::mva::Network;
use super::{Cluster, PredictError};

/// A mode whose measured commands per request stay under this does not
/// use the store per request (token, sticky, none: only background work).
const STORE_USE: f64 = 0.01;

/// Steps whose loads lie within this fraction of each other are one load
/// level: pooled (total CPU over total work) rather than interpolated.
const SAME_LOAD: f64 = 0.05;

/// One measured cost at one load level.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CostPoint {
    /// Mean requests at the station in the steps behind it.
    pub load: f64,
    pub cost_us: f64,
    /// The N of those steps.
    pub steps: Vec<u32>,
}

/// A cost by load: the run's steps, those at one load level pooled.
/// Between points the cost is interpolated linearly; beyond the measured
/// range it stays flat at the nearest point (no extrapolated trend).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CostCurve {
    pub points: Vec<CostPoint>,
}

/// One step's CPU and work at one station, and the load it ran at.
#[derive(Debug, Clone, Copy)]
struct Sample {
    n: u32,
    load: f64,
    cpu_s: f64,
    work: f64,
}

impl CostCurve {
    fn from_samples(mut samples: Vec<Sample>) -> Option<CostCurve> {
        samples.retain(|s| s.work > 0.0 && s.cpu_s > 0.0 && s.load.is_finite());
        samples.sort_by(|a, b| a.load.total_cmp(&b.load));
        let mut points: Vec<CostPoint> = Vec::new();
        let mut group: Vec<Sample> = Vec::new();
        let flush = |group: &mut Vec<Sample>, points: &mut Vec<CostPoint>| {
            if group.is_empty() {
                return;
            }
            let (cpu, work) = group
                .iter()
                .fold((0.0, 0.0), |a, s| (a.0 + s.cpu_s, a.1 + s.work));
            points.push(CostPoint {
                load: group.iter().map(|s| s.load).sum::<f64>() / group.len() as f64,
                cost_us: cpu / work * 1e6,
                steps: group.iter().map(|s| s.n).collect(),
            });
            group.clear();
        };
        for s in samples {
            if group
                .first()
                .is_some_and(|g| s.load > g.load * (1.0 + SAME_LOAD) + 1e-9)
            {
                flush(&mut group, &mut points);
            }
            group.push(s);
        }
        flush(&mut group, &mut points);
        (!points.is_empty()).then_some(CostCurve { points })
    }

    /// The cost at a load level, µs.
    pub fn at(&self, load: f64) -> f64 {
        let p = &self.points;
        if load <= p[0].load {
            return p[0].cost_us;
        }
        for w in p.windows(2) {
            if load <= w[1].load {
                let t = (load - w[0].load) / (w[1].load - w[0].load);
                return w[0].cost_us + t * (w[1].cost_us - w[0].cost_us);
            }
        }
        self.saturated()
    }

    /// The cost at the highest load measured (and, flat, beyond it).
    pub fn saturated(&self) -> f64 {
        self.points[self.points.len() - 1].cost_us
    }

    /// The highest load measured.
    pub fn top_load(&self) -> f64 {
        self.points[self.points.len() - 1].load
    }
}

/// What a mode's request costs the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreCosts {
    /// CPU-µs per command (of one core), by requests at the store.
    pub per_command: CostCurve,
    /// All steps' commands over all steps' requests.
    pub commands_per_request: f64,
    /// The lowest and highest of the steps' own ratios.
    pub commands_per_request_range: (f64, f64),
}

/// A mode's measured costs, as the model uses them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModeCosts {
    pub mode: String,
    /// Node CPU-µs per request (of one core) at the run's work, by
    /// requests at a node.
    pub node: CostCurve,
    pub run_work_us: f64,
    /// Protected requests (which do the work) among all requests.
    pub protected_share: f64,
    /// Added to the node cost per request: (work − run's work) × share.
    pub work_delta_us: f64,
    /// None: the mode does not use the store per request.
    pub store: Option<StoreCosts>,
}

/// The network of `cluster` at N with these costs (µs per request at a
/// node; commands per request and µs per command at the store).
pub(super) fn network(
    cluster: &Cluster,
    n: u32,
    node_us: f64,
    store: Option<(f64, f64)>,
) -> Network {
    let c = cluster;
    let node_s = node_us * 1e-6;
    // A node of c cores serves c requests at once, but one request still
    // takes its CPU time on one core (Seidmann: a queue of demand D/c plus
    // a delay of D(c−1)/c). Under a core: one slower server.
    let mut delay_s = if c.node_cores > 1.0 {
        node_s * (c.node_cores - 1.0) / c.node_cores
    } else {
        0.0
    };
    let mut store_demand_s = 0.0;
    if let Some((cmds, per_cmd)) = store {
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

/// `mode`'s costs in `run`, for a cluster doing `work_us` per protected
/// request. Each step's load level is the model's own: the run's setting
/// at that step's N solved with that step's measured costs.
pub(super) fn costs(run: &Run, mode: &str, work_us: f64) -> Result<ModeCosts, PredictError> {
    let steps: Vec<&Step> = run
        .steps
        .iter()
        .filter(|s| s.mode.as_str() == mode)
        .collect();
    if steps.is_empty() {
        return Err(PredictError::NoSteps(format!(" for mode {mode}")));
    }
    if steps
        .iter()
        .all(|s| !s.components.contains_key(&Component::Nodes))
    {
        return Err(PredictError::NodesNotMeasured(mode.into()));
    }
    if steps
        .iter()
        .all(|s| !s.components.contains_key(&Component::Store))
    {
        return Err(PredictError::StoreNotMeasured(mode.into()));
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
    let commands: u64 = steps
        .iter()
        .map(|s| s.store_commands.values().sum::<u64>())
        .sum();
    let requests: u64 = steps.iter().map(|s| s.requests).sum();
    let per_request = commands as f64 / requests.max(1) as f64;
    let uses_store = per_request >= STORE_USE;

    let setting = Cluster::of_run(run);
    let (mut node_samples, mut store_samples) = (Vec::new(), Vec::new());
    for s in &steps {
        let Some(nodes) = s.components.get(&Component::Nodes) else {
            continue;
        };
        let requests = s.requests as f64;
        let step_commands = s.store_commands.values().sum::<u64>() as f64;
        let store_cpu = s.components.get(&Component::Store).map(|c| c.cpu_seconds);
        if requests <= 0.0 {
            continue;
        }
        let node_us = nodes.cpu_seconds / requests * 1e6;
        let store = match (uses_store, store_cpu) {
            (true, Some(cpu)) if step_commands > 0.0 => {
                Some((per_request, cpu / step_commands * 1e6))
            }
            _ => None,
        };
        let solved = network(&setting, s.nodes, node_us, store).solve();
        node_samples.push(Sample {
            n: s.nodes,
            load: solved.node_queue,
            cpu_s: nodes.cpu_seconds,
            work: requests,
        });
        if let (Some(cpu), Some(_)) = (store_cpu, store) {
            store_samples.push(Sample {
                n: s.nodes,
                load: solved.store_queue,
                cpu_s: cpu,
                work: step_commands,
            });
        }
    }
    let node = CostCurve::from_samples(node_samples)
        .ok_or_else(|| PredictError::NodesNotMeasured(mode.into()))?;
    let run_work_us = run.plan.experiment.work_us as f64;
    let work_delta_us = (work_us - run_work_us) * protected_share;
    let lowest = node
        .points
        .iter()
        .map(|p| p.cost_us)
        .fold(f64::INFINITY, f64::min);
    if lowest + work_delta_us <= 0.0 {
        return Err(PredictError::NegativeCost {
            mode: mode.into(),
            work: work_us,
            run_work: run_work_us,
            measured: lowest,
        });
    }
    let store = if uses_store {
        let ratios = steps.iter().map(|s| s.store_commands_per_request);
        Some(StoreCosts {
            per_command: CostCurve::from_samples(store_samples)
                .ok_or_else(|| PredictError::StoreNotMeasured(mode.into()))?,
            commands_per_request: per_request,
            commands_per_request_range: (
                ratios.clone().fold(f64::INFINITY, f64::min),
                ratios.fold(0.0, f64::max),
            ),
        })
    } else {
        None
    };
    Ok(ModeCosts {
        mode: mode.into(),
        node,
        run_work_us,
        protected_share,
        work_delta_us,
        store,
    })
}
