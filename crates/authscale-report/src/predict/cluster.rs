//! The cluster a prediction is for (node and store cores, shards,
//! connections, round trip, node counts), validated, and why a prediction
//! cannot be made.

use authscale_lab::Run;
use serde::Serialize;

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
        mode: String,
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
        let limit = |name: &str| step.and_then(|s| s.components.get(name).map(|c| c.limit_cores));
        let mut nodes: Vec<u32> = run.steps.iter().map(|s| s.nodes).collect();
        nodes.sort_unstable();
        nodes.dedup();
        Cluster {
            node_cores: match (limit("nodes"), step) {
                (Some(l), Some(s)) if s.nodes > 0 => l / f64::from(s.nodes),
                _ => e.node_cpu,
            },
            store_cores: limit("store").unwrap_or(e.store_cpu),
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

    pub(super) fn same_setting(&self, other: &Cluster) -> bool {
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 + 1e-6 * a.abs().max(b.abs());
        close(self.node_cores, other.node_cores)
            && close(self.store_cores, other.store_cores)
            && self.store_shards == other.store_shards
            && close(self.store_rtt_s, other.store_rtt_s)
            && close(self.work_us, other.work_us)
            && self.connections_per_node == other.connections_per_node
    }
}

pub(super) fn check_nodes(nodes: &[u32]) -> Result<(), PredictError> {
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
