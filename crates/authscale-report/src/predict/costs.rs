//! A mode's measured costs from a run: node CPU per request as a curve
//! over N, store commands per request and the store's CPU per command.

use authscale_lab::{Run, Step};
use serde::Serialize;

use super::cluster::PredictError;
use crate::analysis::SATURATED;

/// A mode whose measured commands per request stay under this does not
/// use the store per request (token, sticky, none: only background work).
pub(super) const STORE_USE: f64 = 0.01;

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
    pub mode: String,
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

pub(super) fn costs(run: &Run, mode: &str, work_us: f64) -> Result<ModeCosts, PredictError> {
    let steps: Vec<&Step> = run.steps.iter().filter(|s| s.mode == mode).collect();
    if steps.is_empty() {
        return Err(PredictError::NoSteps(format!(" for mode {mode}")));
    }
    let node_samples: Vec<(u32, f64, f64, f64)> = steps
        .iter()
        .filter_map(|s| {
            let c = s.components.get("nodes")?;
            Some((s.nodes, c.utilization, c.cpu_seconds, s.requests as f64))
        })
        .collect();
    let node = CostCurve::from_samples(&node_samples)
        .ok_or_else(|| PredictError::NodesNotMeasured(mode.into()))?;
    if steps.iter().all(|s| !s.components.contains_key("store")) {
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
                let c = s.components.get("store")?;
                let n = s.store_commands.values().sum::<u64>() as f64;
                Some((s.nodes, c.utilization, c.cpu_seconds, n))
            })
            .collect();
        let ratios = steps.iter().map(|s| s.store_commands_per_request);
        Some(StoreCosts {
            per_command: CostCurve::from_samples(&samples)
                .ok_or_else(|| PredictError::StoreNotMeasured(mode.into()))?,
            commands_per_request: per_request,
            commands_per_request_range: (
                ratios.clone().fold(f64::INFINITY, f64::min),
                ratios.fold(0.0, f64::max),
            ),
        })
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
